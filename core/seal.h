/*
 * seal.h - the one way content becomes a sealed tag.
 *
 * Every way in (a file closed or renamed in incoming/, regctl publish, later
 * a pull-through fetch) streams its bytes through a struct rfs_seal:
 *
 *   rfs_seal_begin    a staging file, locked, and a running SHA-256
 *   rfs_seal_write    pwrite; bytes written in order are hashed as they pass
 *   rfs_seal_verify   hash what was not hashed in order and run the checks
 *                     (expected digest, ...): from here the bytes are known
 *                     good (done by the next three when not done before)
 *   rfs_seal_scan     run the store's seal hook on the verified bytes, if
 *                     it has one (done by the next two when not done)
 *   rfs_seal_commit   fsync, move the file into blobs/ or drop it if that
 *                     content is there already, fsync the folder, record
 *                     the tag in one transaction (rfs_seal_store: the same
 *                     without a tag, for fetched blobs)
 *
 * Nothing is visible before the catalog commit; everything committed is
 * durable. A seal that is freed without a successful commit leaves nothing
 * behind. One struct rfs_seal is used by one thread at a time (but see
 * rfs_seal_open_verified).
 */
#ifndef RFS_SEAL_H
#define RFS_SEAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cancel.h"
#include "catalog.h"
#include "error.h"
#include "store.h"

struct rfs_seal;

struct rfs_seal_options {
	/* "sha256:<hex>" the content must hash to, or NULL. */
	const char *expected_digest;
	/* An artifact type and annotations to seal the tag with, or NULL. */
	const struct rfs_tag_meta *meta;
	/* Whom the content is for, as the seal hook is told: a repository
	 * and a tag (NULL or "" when not known yet: a blob uploaded before
	 * its manifest). rfs_seal_commit sets both from its arguments. */
	const char *repo;
	const char *tag;
	/* The content only describes other blobs (a manifest): the seal
	 * hook is not run on it. */
	bool manifest;
};

int rfs_seal_begin(struct rfs_store *store, struct rfs_seal **out,
		   struct rfs_error *err);

/* Ways a seal can work; rfs_seal_begin uses none, which suits content that
 * must be durable as soon as it is complete (a publish). */
enum {
	/* The bytes come in order only (each write at the end): they are
	 * written in large chunks and hashed on a helper thread while more
	 * arrive (see hashpipe.h). Truncating and reading back fail. */
	RFS_SEAL_STREAM = 1 << 0,
	/* Start no writeback while data arrives: nobody waits for the
	 * content to be durable (a fetch serves its readers first). */
	RFS_SEAL_LAZY_WRITEBACK = 1 << 1,
	/* Not held to the store's max_tag_size (see store.h): content that
	 * is bounded where it comes from (an upstream's blob, a backup's
	 * copy of a store). */
	RFS_SEAL_ANY_SIZE = 1 << 2,
};
int rfs_seal_begin_with(struct rfs_store *store, unsigned flags,
			struct rfs_seal **out, struct rfs_error *err);
/* Ask cancel (kept by pointer: it must outlive the seal's use) while
 * hashing and before storing: when it says stop, the seal fails with
 * -EINTR and nothing is stored. For a writer that may be killed while its
 * close seals (incoming.c). */
void rfs_seal_set_cancel(struct rfs_seal *seal,
			 const struct rfs_cancel *cancel);
/* Returns len, or a negative errno (-ENOSPC, -EIO, -EFBIG past the
 * store's max_tag_size...). */
ssize_t rfs_seal_write(struct rfs_seal *seal, const void *buf, size_t len,
		       uint64_t offset, struct rfs_error *err);
/* -EFBIG past the store's max_tag_size. A failed write or truncate
 * fails the seal too: the content is not what its writer meant. */
int rfs_seal_truncate(struct rfs_seal *seal, uint64_t size,
		      struct rfs_error *err);
uint64_t rfs_seal_size(const struct rfs_seal *seal);
/* Could more bytes be appended: something was written, no write failed,
 * and it is not verified yet? (A broken download keeps such a seal to
 * resume.) */
bool rfs_seal_can_resume(const struct rfs_seal *seal);
/* Read back what was written (a staged file may be read before sealing). */
ssize_t rfs_seal_read(struct rfs_seal *seal, void *buf, size_t len,
		      uint64_t offset);
/* Copy all of fd (a regular file or a pipe) into the seal. */
int rfs_seal_write_fd(struct rfs_seal *seal, int fd, struct rfs_error *err);

/* Hash the content and run the checks, and take no more writes: from then
 * on the bytes are known good, though not yet durable nor stored. what
 * names the content in messages. rfs_seal_store and rfs_seal_commit do
 * this first when it was not done. */
int rfs_seal_verify(struct rfs_seal *seal, const char *what,
		    const struct rfs_seal_options *opts, struct rfs_error *err);
/* Verify (when not done), then run the store's seal hook on the content
 * (see seal-hook.h) unless opts says it is a manifest: 0 when there is no
 * hook or it says yes, -EACCES when it refuses, times out or cannot run;
 * a seal refused once stays refused. rfs_seal_store and rfs_seal_commit
 * call it; a fetch that hands verified bytes to readers before storing
 * them calls it before, so nobody reads what the hook has not passed. */
int rfs_seal_scan(struct rfs_seal *seal, const char *what,
		  const struct rfs_seal_options *opts, struct rfs_error *err);

/* A new read-only descriptor of verified content (-EBADF before that): a
 * fetch hands its waiting readers the bytes while it makes them durable.
 * It stays valid whatever becomes of the seal. The one call other threads
 * may make while the owner goes on to rfs_seal_store (it reads only what
 * verifying settled), given they learned of the verification through a
 * lock. */
int rfs_seal_open_verified(struct rfs_seal *seal);

/* Store the content as a blob (verify, fsync, link into blobs/, fsync
 * the folder) without naming it: what a fetch from an upstream does before
 * it marks the blob present. what names it in messages. */
int rfs_seal_store(struct rfs_seal *seal, const char *what,
		   const struct rfs_seal_options *opts,
		   char digest[RFS_DIGEST_STR_MAX + 1], struct rfs_error *err);

/* Seal as repo:tag. -EEXIST if the tag exists, -EBADMSG on a digest
 * mismatch, -EACCES when the seal hook refuses, -ENOSPC, -EIO. On failure
 * nothing is sealed and the seal can only be freed. */
int rfs_seal_commit(struct rfs_seal *seal, const char *repo, const char *tag,
		    const struct rfs_seal_options *opts, struct rfs_tag *out,
		    struct rfs_error *err);

/* Let go of the seal's descriptor until it is needed again: the staging
 * file is given a name in dir, a folder the caller keeps from sweeps (by
 * holding it locked with flock(), which rfs_store_open() respects) and
 * whose files it removes. Any later operation opens the file again (and
 * fails with what open(2) fails with). -EBUSY for a stream or a seal that
 * takes no more writes; the seal is unchanged on any error. */
int rfs_seal_park(struct rfs_seal *seal, const char *dir);

/* Free; a seal not committed is aborted and its staging file removed. */
void rfs_seal_free(struct rfs_seal **seal);

#endif
