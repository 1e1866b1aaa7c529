/*
 * fuse/readahead.c - how far ahead the kernel reads a file of the mount
 * that the daemon serves itself (-o no_passthrough, or a kernel without
 * passthrough), and in what pieces.
 *
 * The kernel gives a FUSE mount 128 KiB of readahead, whatever the daemon
 * answers at INIT, and asks for that much per READ. A reader that takes
 * 1 MiB at a time, as nfs-ganesha does for every NFS READ, then waits on
 * one 128 KiB round trip through the daemon after another: a cold 1 GiB
 * read over NFSv4 went at 0.67 of an ext4 export's speed (issue 11). With
 * 2 MiB of readahead in READs of 512 KiB, several READs are in flight
 * ahead of the reader. 512 KiB, not 1 MiB: a READ is answered by splicing
 * the blob file through a pipe, and READs of 1 MiB were measured to cost
 * the daemon twice the CPU of 128 KiB ones, where 512 KiB cost the same.
 *
 * Only root may raise a mount's readahead (the read_ahead_kb of its
 * backing device in sysfs); anyone else keeps the kernel's 128 KiB, and a
 * log line says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regfs.h"

/* Undo the octal escapes (\040 for a space...) of a path in mountinfo. */
static void unescape(char *s)
{
	char *out = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/*
 * The "MAJOR:MINOR" of the newest mount at MOUNTPOINT, from
 * /proc/self/mountinfo: not from stat(2), which would wait for the answer
 * to the INIT being handled. 0, or -errno (-ENOENT: no such mount).
 */
static int mount_device(const char *mountpoint, char *dev, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field[5] = { 0 };
		char *tok = strtok_r(line, " ", &save);
		int n = 0;

		for (; tok && n < 5; tok = strtok_r(NULL, " ", &save))
			field[n++] = tok;
		if (n < 5)
			continue;
		unescape(field[4]);
		if (strcmp(field[4], mountpoint) != 0)
			continue;
		/* A later line is a mount on top of an earlier one. */
		if (strlen(field[2]) < len) {
			snprintf(dev, len, "%s", field[2]);
			rc = 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

static int write_readahead_kb(const char *dev, unsigned kib)
{
	char path[128];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fprintf(f, "%u", kib) < 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

void regfs_readahead_init(struct regfs *fs, struct fuse_conn_info *conn)
{
	char dev[32];
	int rc;

	/* libfuse wants the -o max_read the mount was given (main.c adds
	 * ours unless the user gave one) said again here. */
	conn->max_read = fs->max_read;
	/* The kernel takes the smaller of this and the device's setting,
	 * which is raised first, before the answer to INIT. */
	conn->max_readahead = REGFS_READAHEAD_KIB * 1024;
	rc = mount_device(fs->mountpoint, dev, sizeof(dev));
	if (!rc)
		rc = write_readahead_kb(dev, REGFS_READAHEAD_KIB);
	if (rc)
		regfs_log(REGFS_LOG_INFO,
			  "the mount's readahead stays at the kernel's "
			  "128 KiB (raising it to %u KiB needs root: %s)",
			  REGFS_READAHEAD_KIB, strerror(-rc));
}
