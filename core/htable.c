/*
 * htable.c - an intrusive chained hash table (see htable.h).
 */
#include <stdlib.h>

#include "htable.h"

#define MIN_BUCKETS 64

void rfs_htable_init(struct rfs_htable *t)
{
	t->buckets = NULL;
	t->nbuckets = 0;
	t->count = 0;
}

void rfs_htable_release(struct rfs_htable *t)
{
	if (!t)
		return;
	free(t->buckets);
	rfs_htable_init(t);
}

/* Double the buckets (best effort: on no memory the chains grow). */
static void grow(struct rfs_htable *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : MIN_BUCKETS;
	struct rfs_hnode **b = calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct rfs_hnode *node = t->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			node->next = b[node->hash & (n - 1)];
			b[node->hash & (n - 1)] = node;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

void rfs_htable_insert(struct rfs_htable *t, struct rfs_hnode *n, uint64_t hash)
{
	if (t->count >= t->nbuckets)
		grow(t);
	n->hash = hash;
	if (!t->nbuckets) { /* no memory even for the first buckets */
		n->next = NULL;
		return;
	}
	n->next = t->buckets[hash & (t->nbuckets - 1)];
	t->buckets[hash & (t->nbuckets - 1)] = n;
	t->count++;
}

void rfs_htable_remove(struct rfs_htable *t, struct rfs_hnode *n)
{
	struct rfs_hnode **pp;

	if (!t->nbuckets)
		return;
	for (pp = &t->buckets[n->hash & (t->nbuckets - 1)]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->count--;
			return;
		}
	}
}

struct rfs_hnode *rfs_htable_first(const struct rfs_htable *t, uint64_t hash)
{
	struct rfs_hnode *n;

	if (!t->nbuckets)
		return NULL;
	for (n = t->buckets[hash & (t->nbuckets - 1)]; n && n->hash != hash;
	     n = n->next)
		;
	return n;
}

struct rfs_hnode *rfs_htable_next(const struct rfs_hnode *n)
{
	struct rfs_hnode *m;

	for (m = n->next; m && m->hash != n->hash; m = m->next)
		;
	return m;
}

uint64_t rfs_hash_bytes(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ? seed : UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

uint64_t rfs_hash_u64(uint64_t v)
{
	/* splitmix64's finaliser: ids are sequential, buckets want spread. */
	v ^= v >> 30;
	v *= UINT64_C(0xbf58476d1ce4e5b9);
	v ^= v >> 27;
	v *= UINT64_C(0x94d049bb133111eb);
	v ^= v >> 31;
	return v;
}
