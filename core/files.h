/*
 * files.h - small file helpers core and regctl share: read a small file
 * whole, make the folders above a path, fsync a folder, tell whether a
 * path lies inside a folder.
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

/* Whether path is folder or lies inside it, as the file system sees it
 * (by device and inode of path and each folder above it, so symbolic
 * links and bind mounts do not hide it): 1, 0, or a negative errno when
 * either cannot be looked at. A path that does not exist yet stands where
 * its nearest existing folder is. A store inside its own mount point is one
 * (regfs refuses it: reaching the store would go through the mount it
 * serves). */
int rfs_path_within(const char *path, const char *folder);

#endif
