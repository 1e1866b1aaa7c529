/*
 * backup.h - a store copied whole into another folder while it is in use
 * (regctl backup), and such a copy brought back as a store (regctl
 * restore).
 *
 * A backup is a store of its own: regctl --store DEST reads it, regfs can
 * mount it. It is one consistent state of the source, taken while a mount
 * seals into it:
 *
 *   1. the source's gc lock is taken shared (store.h), so that no blob is
 *      removed until 3 is done; seals and fetches go on, gc waits;
 *   2. the catalog is copied, SQLite's online backup, into a snapshot in
 *      DEST/staging/: one read transaction, so one moment of the catalog;
 *   3. every blob the snapshot names is brought over: hard-linked when
 *      DEST is on the source's file system, else copied through DEST's
 *      seal (hashed while copied: a mismatch fails the blob, named); a
 *      blob already in DEST (an earlier backup) is kept when it is the
 *      same file or has the right size. Blobs are named by their content
 *      and never change, and a tag is committed only after its blob is
 *      durable, so every blob the snapshot names is there to take; one
 *      sealed after the snapshot is simply not taken. A fetched blob that
 *      is not in the store (evicted, or never read) is marked absent in
 *      the copy and is fetched again on use; garbage (named by nothing)
 *      is left behind;
 *   4. only when all blobs are durable in DEST, the snapshot replaces
 *      DEST's catalog in one transaction, and DEST's blobs no longer
 *      named are removed (DEST's gc).
 *
 * So DEST's catalog never names a blob DEST lacks: a failure or a crash
 * before 4 leaves DEST as it was (an earlier backup stays whole), after
 * it at most leaves unnamed blobs (regctl fsck calls them orphans).
 *
 * The copy's 'generation' is cleared (rfs_catalog_export_ids): a mount of
 * the copy picks its own, so NFS handles of the source go stale on it
 * instead of naming other files. Writing into DEST (or TARGET) takes its
 * store.lock exclusively (RFS_STORE_EXCLUSIVE): never while it is
 * mounted, served or open in another regctl.
 */
#ifndef RFS_BACKUP_H
#define RFS_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

enum rfs_backup_event {
	RFS_BACKUP_LINKED,  /* hard-linked from the source */
	RFS_BACKUP_COPIED,  /* copied, and its content hashed to its name */
	RFS_BACKUP_KEPT,    /* in the destination already */
	RFS_BACKUP_ABSENT,  /* fetched content not in the store: marked
			       absent, fetched again on use */
	RFS_BACKUP_REMOVED, /* in the destination and named no more */
	RFS_BACKUP_FAILED,  /* missing, of the wrong size or corrupt in the
			       source, or not written: detail says why */
};

/* Called for every blob, as it is done; detail is the message of a
 * failure, else NULL. */
typedef void (*rfs_backup_fn)(void *ctx, enum rfs_backup_event event,
			      const char *digest, uint64_t size,
			      const char *detail);

struct rfs_backup_options {
	bool copy;   /* copy every blob, never hard-link */
	bool verify; /* also re-hash the blobs hard-linked or kept */
	/* backup: write into a store that is not a backup (it is
	 * replaced); restore: into a store that is not empty */
	bool force;
	rfs_backup_fn fn; /* or NULL */
	void *ctx;
};

struct rfs_backup_report {
	int64_t snapshot_ns; /* when the catalog was copied */
	uint64_t tags;	     /* in the copy */
	uint64_t blobs;	     /* in the copy's blobs/ */
	uint64_t bytes;	     /* their size */
	uint64_t linked, copied, kept, absent, removed, failed;
	uint64_t bytes_copied;
};

/* Back store up into dest (created if missing): an empty folder, an
 * empty store (no tags, no blob rows: blob files no catalog names are
 * garbage, which the copy's gc removes) or an earlier backup, brought up
 * to date; any store with opts->force. store may be open read-only. On
 * failure dest keeps the catalog it had; err names the first blob that
 * failed (opts->fn hears of every one). */
int rfs_backup(struct rfs_store *store, const char *dest,
	       const struct rfs_backup_options *opts,
	       struct rfs_backup_report *report, struct rfs_error *err);

/* Bring the store (a backup) at src back as the store at target: missing,
 * an empty folder or an empty store, or with opts->force any store, whose
 * content is replaced. The same steps as a backup, from src into target;
 * the result is a plain store (no longer marked a backup). Check it with
 * rfs_fsck() after. */
int rfs_restore(const char *src, const char *target,
		const struct rfs_backup_options *opts,
		struct rfs_backup_report *report, struct rfs_error *err);

#endif
