/*
 * store.h - the store on disk: one folder, the truth for bytes.
 *
 *   STORE/catalog.db          the SQLite catalog (plus -wal and -shm)
 *   STORE/blobs/sha256/<hex>  one read-only file per distinct content,
 *                             named by its SHA-256
 *   STORE/staging/            files being written. They are O_TMPFILE files
 *                             with no name where the filesystem allows it;
 *                             elsewhere named files flock()ed by their
 *                             writer, so an unlocked one is a leftover
 *   STORE/gc.lock             see rfs_store_lock()
 *   STORE/store.lock          flock()ed shared by every process that has the
 *                             store open (a mount, regctl serve, any regctl),
 *                             exclusive by one whose content is replaced
 *                             (RFS_STORE_EXCLUSIVE: regctl restore, regctl
 *                             backup into it), so neither ever happens to a
 *                             store in use
 *
 * Opening a store creates what is missing and removes staging leftovers of
 * dead writers. A struct rfs_store is shared by all threads of a process.
 */
#ifndef RFS_STORE_H
#define RFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "catalog.h"
#include "error.h"

struct rfs_store;

/* The store used when none is named: $REGFS_STORE, else
 * $XDG_DATA_HOME/regfs, else ~/.local/share/regfs. Returns 0 or -ENAMETOOLONG
 * / -ENOENT (no HOME). */
int rfs_store_default_path(char *buf, size_t size);

enum rfs_store_flags {
	/* Create the store folder and its layout if they are missing;
	 * otherwise a missing store is -ENOENT, a folder without a catalog
	 * -EINVAL. */
	RFS_STORE_CREATE = 1 << 0,
	/* Only read: the catalog is opened read-only and staging leftovers
	 * are left alone (regctl ls, inspect, fsck). */
	RFS_STORE_READONLY = 1 << 1,
	/* Be the only process with the store open, and keep others out
	 * until it is closed: -EBUSY when it is mounted, served or open in
	 * another regctl, and others' opens get -EBUSY meanwhile. For
	 * whoever replaces its content (see store.lock above). */
	RFS_STORE_EXCLUSIVE = 1 << 2,
};

int rfs_store_open(const char *root, unsigned int flags, struct rfs_store **out,
		   struct rfs_error *err);
void rfs_store_close(struct rfs_store **store);

const char *rfs_store_root(const struct rfs_store *store);
struct rfs_catalog *rfs_store_catalog(struct rfs_store *store);

/* The path of a blob file: STORE/blobs/sha256/<hex>. */
int rfs_store_blob_path(const struct rfs_store *store, const char *digest,
			char *buf, size_t size);
/* Open a blob read-only. Returns an fd or a negative errno. */
int rfs_store_blob_open(const struct rfs_store *store, const char *digest);

const char *rfs_store_blobs_dir(const struct rfs_store *store);

/* The store's gc lock (STORE/gc.lock, flock): whoever links a blob and
 * records what names it holds it shared from before the link to after the
 * commit; rfs_gc() holds it exclusive, so it never sees a blob between
 * the two. Returns a descriptor to pass to rfs_store_unlock(), or a
 * negative errno. */
int rfs_store_lock(const struct rfs_store *store, bool exclusive);
/* The same, giving up with -EINTR when cancel (may be NULL) says so while
 * it waits (a gc under way), asked every 50 ms. */
int rfs_store_lock_cancellable(const struct rfs_store *store, bool exclusive,
			       const struct rfs_cancel *cancel);
void rfs_store_unlock(int fd);
const char *rfs_store_staging_dir(const struct rfs_store *store);
/* A park folder in staging/ for files that must outlive their descriptors
 * (rfs_seal_park): created with a unique name written to dir, and held
 * locked through *lock, so that no other process's rfs_store_open() sweeps
 * it while it is in use; a killed owner's is swept like any leftover.
 * rfs_store_park_close removes it with what is left in it. */
int rfs_store_park_open(struct rfs_store *store, char *dir, size_t size,
			int *lock);
void rfs_store_park_close(const char *dir, int lock);

/* Policy: the seal hook (regfs.conf seal_hook, see seal-hook.h) every seal
 * of this store runs before storing content, killed after timeout_ms (0:
 * no limit). program NULL: none. Set once, before the store is shared
 * between threads. */
int rfs_store_set_seal_hook(struct rfs_store *store, const char *program,
			    int64_t timeout_ms);
/* The hook, or NULL for none; *timeout_ms (if not NULL) its timeout. */
const char *rfs_store_seal_hook(const struct rfs_store *store,
				int64_t *timeout_ms);

/* Policy: the signatures tags must carry (regfs.conf require_signature,
 * see policy.h). The store takes policy over (NULL: none). Set once,
 * before the store is shared between threads. */
struct rfs_policy;
void rfs_store_set_policy(struct rfs_store *store, struct rfs_policy *policy);
/* The policy, or NULL. */
const struct rfs_policy *rfs_store_policy(const struct rfs_store *store);

/* Policy: the largest content a seal of this store takes (regfs.conf
 * max_tag_size; 0 sets the default). A write or truncate of a seal past it
 * fails with -EFBIG at once, and the seal with it: nobody waits for
 * gigabytes to be hashed only to be refused, and a sparse file of a
 * terabyte is refused at its ftruncate. Every way in is held to it (a
 * publish through incoming/, regctl publish, an upload to regctl serve, an
 * import); content fetched from an upstream or copied by a backup is not
 * (RFS_SEAL_ANY_SIZE in seal.h): it is bounded where it comes from. Set
 * once, before the store is shared between threads. */
#define RFS_MAX_TAG_SIZE_DEFAULT (16ULL << 30)
void rfs_store_set_max_tag_size(struct rfs_store *store, uint64_t max);
uint64_t rfs_store_max_tag_size(const struct rfs_store *store);

#endif
