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
	uint64_t blobs_removed;
	uint64_t bytes_freed;
	uint64_t rows_removed; /* catalog rows of blobs with no file */
};

/* Called for every blob removed (or, with dry_run, that would be). */
typedef void (*rfs_gc_fn)(void *ctx, const char *digest, uint64_t size);

int rfs_gc(struct rfs_store *store, bool dry_run, rfs_gc_fn fn, void *ctx,
	   struct rfs_gc_report *report, struct rfs_error *err);

#endif
