/*
 * pending.h - top-level names of incoming/ that were looked up but are no
 * repository folder (yet).
 *
 * "cp f MOUNT/incoming/app/v1" needs incoming/app to exist before v1 can be
 * created in it, yet a stat of any name must not leave a folder behind (3000
 * stats made 3000 permanent repositories). So a name looked up at the top
 * of incoming/ is answered with a pending folder: an empty directory that
 * lives only in memory, is never listed, and is made a real folder (a
 * catalog row, durable) by the first thing created in it (a file, a folder,
 * a rename into it). It is forgotten when the kernel forgets its inode.
 *
 * Ids are the inode ids of RFS_NODE_INCOMING_PENDING and start at first_id,
 * which a mount makes greater than any earlier mount's (as staged ids).
 * Thread-safe.
 */
#ifndef RFS_PENDING_H
#define RFS_PENDING_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "store.h"

struct rfs_pending;

int rfs_pending_new(struct rfs_store *store, int64_t first_id,
		    struct rfs_pending **out);
void rfs_pending_free(struct rfs_pending **p);

/* The pending folder name (a valid repository component, -EINVAL
 * otherwise), found or added, and one more lookup of it by the kernel. */
int rfs_pending_lookup(struct rfs_pending *p, const char *name, int64_t *id);
/* One more lookup of id (found by another way, as "." in it); -ENOENT for
 * an id not known. */
int rfs_pending_ref(struct rfs_pending *p, int64_t id);
/* The kernel forgot n lookups of id: at none left, it goes. */
void rfs_pending_forget(struct rfs_pending *p, int64_t id, uint64_t n);
/* How many are kept (tests, and the daemon's own accounting). */
size_t rfs_pending_count(struct rfs_pending *p);

/* What id stands for now: 0 and the folder in out when a folder of its
 * name exists (made through id with make, or by anyone since), 1 when it
 * is still pending (nothing is in it), -ENOENT for an id not known. */
int rfs_pending_resolve(struct rfs_pending *p, int64_t id, bool make,
			struct rfs_dir *out, struct rfs_error *err);

#endif
