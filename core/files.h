/*
 * files.h - small file helpers core and regctl share: read a small file
 * whole, make the folders above a path, fsync a folder.
 */
#ifndef RFS_FILES_H
#define RFS_FILES_H

#include <stddef.h>

/* Read the regular file dirfd/path whole (AT_FDCWD for a plain path):
 * 0 and a malloc()ed, NUL-terminated *out of *len bytes; -ENOENT, -EISDIR,
 * -EINVAL (not a regular file), -EFBIG beyond max bytes, or another
 * negative errno. */
int rfs_read_small(int dirfd, const char *path, size_t max, char **out,
		   size_t *len);

/* mkdir -p of the folders above path (not path itself), new ones 0700.
 * 0 or a negative errno. */
int rfs_make_parents(const char *path);

/* fsync a folder (after a link or rename in it): 0 or a negative errno. */
int rfs_fsync_dir(const char *path);

#endif
