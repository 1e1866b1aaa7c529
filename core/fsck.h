/*
 * fsck.h - check a store: every blob re-hashed against its name, every
 * catalog blob present, every blob file referenced.
 */
#ifndef RFS_FSCK_H
#define RFS_FSCK_H

#include <stdint.h>

#include "error.h"
#include "store.h"

enum rfs_fsck_problem {
	RFS_FSCK_MISSING,    /* the catalog names a blob that has no file */
	RFS_FSCK_CORRUPT,    /* a blob file does not hash to its name */
	RFS_FSCK_ORPHAN,     /* a blob file no tag references (not damage) */
	RFS_FSCK_STRAY,	     /* something in blobs/ that is not a blob file: a
			      * bad name, a folder, a link (given by its name) */
	RFS_FSCK_UNREADABLE, /* a blob file that cannot be read (damage) */
	RFS_FSCK_UNRECORDED, /* a blob file older than the catalog that the
			      * catalog does not know: the catalog was made
			      * anew or replaced, and lost its tags (damage) */
};

struct rfs_fsck_report {
	uint64_t blobs_checked;
	uint64_t bytes_checked;
	uint64_t missing, corrupt, orphans, strays;
	uint64_t unreadable;
	uint64_t unrecorded;
};

/* Called for every problem found. digest names the blob, or for a stray the
 * file name inside blobs/sha256/. detail is the actual digest of a corrupt
 * blob, the error of an unreadable one, otherwise NULL. The check goes on
 * after every problem. */
typedef void (*rfs_fsck_fn)(void *ctx, enum rfs_fsck_problem problem,
			    const char *digest, const char *detail);

int rfs_fsck(struct rfs_store *store, rfs_fsck_fn fn, void *ctx,
	     struct rfs_fsck_report *report, struct rfs_error *err);

#endif
