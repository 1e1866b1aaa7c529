/*
 * htable.h - an intrusive chained hash table.
 *
 * The caller embeds a struct rfs_hnode in its own structure, computes the
 * hash of the key, and compares keys itself while walking a chain: the
 * table knows nothing of keys, so one structure can sit in several tables
 * (the staging table indexes its entries by id and by folder and name).
 * Inserting and removing never fail: the table grows when it can, and when
 * it cannot its chains only get longer. Not thread-safe; the owner locks.
 */
#ifndef RFS_HTABLE_H
#define RFS_HTABLE_H

#include <stddef.h>
#include <stdint.h>

struct rfs_hnode {
	struct rfs_hnode *next;
	uint64_t hash;
};

struct rfs_htable {
	struct rfs_hnode **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

#define rfs_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

void rfs_htable_init(struct rfs_htable *t);
/* Frees the buckets, not the nodes. */
void rfs_htable_release(struct rfs_htable *t);
void rfs_htable_insert(struct rfs_htable *t, struct rfs_hnode *n,
		       uint64_t hash);
/* n must be in t. */
void rfs_htable_remove(struct rfs_htable *t, struct rfs_hnode *n);
/* The nodes whose hash is hash (and maybe others of its chain: compare
 * the keys): the first, then rfs_htable_next until NULL. */
struct rfs_hnode *rfs_htable_first(const struct rfs_htable *t, uint64_t hash);
struct rfs_hnode *rfs_htable_next(const struct rfs_hnode *n);

/* FNV-1a over bytes, continuing from seed (0 to start). */
uint64_t rfs_hash_bytes(const void *data, size_t len, uint64_t seed);
uint64_t rfs_hash_u64(uint64_t v);

#endif
