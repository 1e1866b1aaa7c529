/*
 * files.c - small file helpers (see files.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

int rfs_read_small(int dirfd, const char *path, size_t max, char **out,
		   size_t *len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	size_t got = 0, cap;
	struct stat st;
	char *buf;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (rc) {
		close(fd);
		return rc;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	while (buf && !rc) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else if (n == 0)
			break;
		else if ((got += (size_t)n) == cap)
			rc = -EFBIG; /* it grew: read it next time */
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	if (rc) {
		free(buf);
		return rc;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int rfs_make_parents(const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, len + 1);
	for (char *s = dir + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

int rfs_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int rfs_path_within(const char *path, const char *folder)
{
	char want[PATH_MAX], real[PATH_MAX], *slash;
	struct stat top, st;

	if (stat(folder, &top) < 0)
		return -errno;
	if (strlen(path) >= sizeof(want))
		return -ENAMETOOLONG;
	strcpy(want, path);
	/* A path still to be made (a new store) is where its nearest
	 * existing folder is. */
	while (!realpath(want, real)) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(want, '/');
		if (!slash || slash == want)
			return -ENOENT;
		*slash = '\0';
	}
	for (;;) {
		if (stat(real, &st) < 0)
			return -errno;
		if (st.st_dev == top.st_dev && st.st_ino == top.st_ino)
			return 1;
		slash = strrchr(real, '/');
		if (!slash || real[1] == '\0')
			return 0;
		/* "/a" goes up to "/", "/a/b" to "/a" */
		slash[slash == real ? 1 : 0] = '\0';
	}
}
