/*
 * gc.h - garbage collection: remove the blobs no tag needs.
 *
 * A blob is needed while a tag, a layer of a tag or a pinned manifest names
 * it. rfs_gc() holds the store's gc lock exclusively (see store.h), so a
 * seal or a fetch that has linked a blob but not yet recorded it is never
 * caught in between; files open on a removed blob read on, as unlinked
 * files do. It is safe while a daemon serves the store.
 */
#ifndef RFS_GC_H
#define RFS_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

struct rfs_gc_report {
	uint64_t blobs_total; /* blob files in the store */
	uint64_t blobs_removed;
	uint64_t bytes_freed;
	uint64_t rows_removed; /* catalog rows of blobs with no file */
};

/* Called for every blob removed (or, with dry_run, that would be), once
 * the store's lock is let go. */
typedef void (*rfs_gc_fn)(void *ctx, const char *digest, uint64_t size);

int rfs_gc(struct rfs_store *store, bool dry_run, rfs_gc_fn fn, void *ctx,
	   struct rfs_gc_report *report, struct rfs_error *err);

/* The same, with a limit: max_share is the percentage of the store's blob
 * files one run may remove (100: no limit). Above it, nothing is removed
 * and the answer is -EPERM with a message: so many unneeded blobs mean a
 * catalog that lost its tags more often than garbage (regctl gc's
 * --max-share, without --force). */
#define RFS_GC_MAX_SHARE_DEFAULT 50
struct rfs_gc_options {
	bool dry_run;
	unsigned max_share;
};
int rfs_gc_with(struct rfs_store *store, const struct rfs_gc_options *opts,
		rfs_gc_fn fn, void *ctx, struct rfs_gc_report *report,
		struct rfs_error *err);

#endif
