/*
 * fhandle - the test helper for export support on a mounted file system:
 * name_to_handle_at(2) now, open_by_handle_at(2) later, as an NFS server
 * (the kernel's nfsd, nfs-ganesha's FSAL VFS) does with the handles it
 * gives its clients.
 *
 *   fhandle save PATH FILE    the handle of PATH into FILE, one line
 *                             "TYPE HEX"; prints "OK MOUNT-ID TYPE HEX"
 *   fhandle open MOUNT FILE   open the handle in FILE through a descriptor
 *                             of MOUNT (any path on the file system that
 *                             should resolve it: its root, after a remount
 *                             the new root) and read it: prints
 *                             "OK bytes=N sha256=HEX" for a file,
 *                             "OK dir" for a folder, or the errno's name
 *                             (ESTALE, ENOTCONN...) of the call that failed
 *   fhandle stat PATH         "dev=MAJOR:MINOR ino=N" of PATH (st_dev of a
 *                             FUSE mount changes with every mount)
 *
 * Exit status: 0 when the line printed is OK, 1 when it names an errno,
 * 2 on a usage error. open_by_handle_at needs CAP_DAC_READ_SEARCH (root).
 *
 * What it promises: every call is made once, exactly as named, with no
 * retry, so a test sees what the kernel answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <openssl/evp.h>

#define MAX_HANDLE_BYTES 128

static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "EUNKNOWN";
}

/* Prints the errno's name and gives the exit status for it. */
static int fail_errno(const char *what, int err)
{
	printf("%s\n", errno_name(err));
	fprintf(stderr, "fhandle: %s: %s\n", what, strerror(err));
	return 1;
}

static int cmd_save(const char *path, const char *file)
{
	struct file_handle *fh;
	int mount_id = 0;
	FILE *out;
	unsigned int i;
	int rc = 1;

	fh = calloc(1, sizeof(*fh) + MAX_HANDLE_BYTES);
	if (!fh)
		return fail_errno("calloc", ENOMEM);
	fh->handle_bytes = MAX_HANDLE_BYTES;
	if (name_to_handle_at(AT_FDCWD, path, fh, &mount_id, 0) < 0) {
		rc = fail_errno("name_to_handle_at", errno);
		goto out;
	}
	out = fopen(file, "w");
	if (!out) {
		rc = fail_errno(file, errno);
		goto out;
	}
	fprintf(out, "%d ", fh->handle_type);
	for (i = 0; i < fh->handle_bytes; i++)
		fprintf(out, "%02x", fh->f_handle[i]);
	fprintf(out, "\n");
	if (fclose(out) != 0) {
		rc = fail_errno(file, errno);
		goto out;
	}
	printf("OK %d %d ", mount_id, fh->handle_type);
	for (i = 0; i < fh->handle_bytes; i++)
		printf("%02x", fh->f_handle[i]);
	printf("\n");
	rc = 0;
out:
	free(fh);
	return rc;
}

/* Reads "TYPE HEX" from FILE into a new handle; NULL (and a message) if
 * the file is not one save wrote. */
static struct file_handle *load_handle(const char *file)
{
	char hex[2 * MAX_HANDLE_BYTES + 2];
	struct file_handle *fh;
	unsigned int i, n;
	int type;
	FILE *in;

	in = fopen(file, "r");
	if (!in) {
		fprintf(stderr, "fhandle: %s: %s\n", file, strerror(errno));
		return NULL;
	}
	if (fscanf(in, "%d %257s", &type, hex) != 2) {
		fclose(in);
		fprintf(stderr, "fhandle: %s: not a saved handle\n", file);
		return NULL;
	}
	fclose(in);
	n = strlen(hex);
	if (n % 2 || n / 2 > MAX_HANDLE_BYTES) {
		fprintf(stderr, "fhandle: %s: bad handle length\n", file);
		return NULL;
	}
	fh = calloc(1, sizeof(*fh) + MAX_HANDLE_BYTES);
	if (!fh)
		return NULL;
	fh->handle_type = type;
	fh->handle_bytes = n / 2;
	for (i = 0; i < n / 2; i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			fprintf(stderr, "fhandle: %s: bad hex\n", file);
			free(fh);
			return NULL;
		}
		fh->f_handle[i] = (unsigned char)byte;
	}
	return fh;
}

static int cmd_open(const char *mount, const char *file)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char buf[1 << 16];
	struct file_handle *fh;
	EVP_MD_CTX *ctx = NULL;
	unsigned long long total = 0;
	unsigned int mdlen = 0, i;
	int mfd = -1, fd = -1;
	struct stat st;
	ssize_t n;
	int rc = 1;

	fh = load_handle(file);
	if (!fh)
		return 2;
	mfd = open(mount, O_RDONLY | O_DIRECTORY);
	if (mfd < 0) {
		rc = fail_errno(mount, errno);
		goto out;
	}
	fd = open_by_handle_at(mfd, fh, O_RDONLY);
	if (fd < 0) {
		rc = fail_errno("open_by_handle_at", errno);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = fail_errno("fstat", errno);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		printf("OK dir\n");
		rc = 0;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		fprintf(stderr, "fhandle: EVP_DigestInit_ex failed\n");
		rc = 2;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (unsigned long long)n;
	}
	if (n < 0) {
		rc = fail_errno("read", errno);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	printf("OK bytes=%llu sha256=", total);
	for (i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	printf("\n");
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	if (mfd >= 0)
		close(mfd);
	free(fh);
	return rc;
}

static int cmd_stat(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fail_errno(path, errno);
	printf("dev=%u:%u ino=%llu\n", major(st.st_dev), minor(st.st_dev),
	       (unsigned long long)st.st_ino);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "save") == 0)
		return cmd_save(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "open") == 0)
		return cmd_open(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "stat") == 0)
		return cmd_stat(argv[2]);
	fprintf(stderr, "usage: fhandle save PATH FILE | open MOUNT FILE | "
			"stat PATH\n");
	return 2;
}
