/*
 * hashpipe.h - append to a file in large chunks while a helper thread
 * hashes them.
 *
 * For content that arrives in order from the network: the thread that
 * receives copies the bytes into 1 MiB chunks; one helper thread writes
 * the full chunks, another hashes them, in order, from the same memory.
 * So receiving, writing (into the page cache, which costs as much as
 * receiving) and hashing run side by side, no byte is read back, and the
 * file is written in large, aligned writes (which the page cache keeps in
 * large folios, faster to read later).
 */
#ifndef RFS_HASHPIPE_H
#define RFS_HASHPIPE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct rfs_hashpipe;

/* Append to fd from offset on, feeding hasher (which the pipe uses until
 * it is finished or freed). */
int rfs_hashpipe_new(int fd, uint64_t offset, struct rfs_hasher *hasher,
		     struct rfs_hashpipe **out);
/* Take len bytes. Returns 0, or the first error of a write or of the hash
 * met so far (they happen on the helper threads, so an error shows in a
 * later call; once there is one, every call returns it). */
int rfs_hashpipe_append(struct rfs_hashpipe *pipe, const void *buf, size_t len);
/* Write what is buffered and wait until everything is hashed; returns the
 * first error. The pipe takes no more bytes after this. */
int rfs_hashpipe_finish(struct rfs_hashpipe *pipe);
/* Finish if needed, and free. */
void rfs_hashpipe_free(struct rfs_hashpipe **pipe);

/* Write all of buf at offset, through short writes and EINTR: 0 or a
 * negative errno. The one write loop of the pipe and of plain seals. */
int rfs_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset);

#endif
