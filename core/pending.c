/*
 * pending.c - top-level names of incoming/ looked up but not created (see
 * pending.h). A name and an id each index the same small records, which
 * the kernel's lookups and forgets keep alive.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htable.h"
#include "names.h"
#include "pending.h"

struct pending_dir {
	struct rfs_hnode by_id, by_name;
	int64_t id;
	uint64_t lookups;
	char name[RFS_REPO_MAX + 1];
};

struct rfs_pending {
	struct rfs_store *store;
	pthread_mutex_t lock;
	struct rfs_htable by_id, by_name;
	int64_t next_id;
};

int rfs_pending_new(struct rfs_store *store, int64_t first_id,
		    struct rfs_pending **out)
{
	struct rfs_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->store = store;
	p->next_id = first_id > 0 ? first_id : 1;
	pthread_mutex_init(&p->lock, NULL);
	rfs_htable_init(&p->by_id);
	rfs_htable_init(&p->by_name);
	*out = p;
	return 0;
}

static uint64_t hash_name(const char *name)
{
	return rfs_hash_bytes(name, strlen(name), 0);
}

static uint64_t hash_id(int64_t id)
{
	return rfs_hash_u64((uint64_t)id);
}

/* Lock held. */
static struct pending_dir *by_name(struct rfs_pending *p, const char *name)
{
	struct rfs_hnode *n;

	for (n = rfs_htable_first(&p->by_name, hash_name(name)); n;
	     n = rfs_htable_next(n)) {
		struct pending_dir *d =
		    rfs_container_of(n, struct pending_dir, by_name);

		if (strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}

/* Lock held. */
static struct pending_dir *by_id(struct rfs_pending *p, int64_t id)
{
	struct rfs_hnode *n;

	for (n = rfs_htable_first(&p->by_id, hash_id(id)); n;
	     n = rfs_htable_next(n)) {
		struct pending_dir *d =
		    rfs_container_of(n, struct pending_dir, by_id);

		if (d->id == id)
			return d;
	}
	return NULL;
}

static void remove_locked(struct rfs_pending *p, struct pending_dir *d)
{
	rfs_htable_remove(&p->by_id, &d->by_id);
	rfs_htable_remove(&p->by_name, &d->by_name);
	free(d);
}

void rfs_pending_free(struct rfs_pending **pp)
{
	struct rfs_pending *p;

	if (!pp || !*pp)
		return;
	p = *pp;
	/* Every record is in by_id: take them out bucket by bucket. */
	for (size_t i = 0; i < p->by_id.nbuckets; i++)
		while (p->by_id.buckets[i])
			remove_locked(p, rfs_container_of(p->by_id.buckets[i],
							  struct pending_dir,
							  by_id));
	rfs_htable_release(&p->by_id);
	rfs_htable_release(&p->by_name);
	pthread_mutex_destroy(&p->lock);
	free(p);
	*pp = NULL;
}

int rfs_pending_lookup(struct rfs_pending *p, const char *name, int64_t *id)
{
	struct pending_dir *d;

	if (!rfs_name_valid_component(name) || strlen(name) > RFS_REPO_MAX)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	d = by_name(p, name);
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d) {
			pthread_mutex_unlock(&p->lock);
			return -ENOMEM;
		}
		d->id = p->next_id++;
		snprintf(d->name, sizeof(d->name), "%s", name);
		rfs_htable_insert(&p->by_id, &d->by_id, hash_id(d->id));
		rfs_htable_insert(&p->by_name, &d->by_name, hash_name(name));
	}
	d->lookups++;
	*id = d->id;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int rfs_pending_ref(struct rfs_pending *p, int64_t id)
{
	struct pending_dir *d;

	pthread_mutex_lock(&p->lock);
	d = by_id(p, id);
	if (d)
		d->lookups++;
	pthread_mutex_unlock(&p->lock);
	return d ? 0 : -ENOENT;
}

void rfs_pending_forget(struct rfs_pending *p, int64_t id, uint64_t n)
{
	struct pending_dir *d;

	pthread_mutex_lock(&p->lock);
	d = by_id(p, id);
	if (d) {
		d->lookups = n < d->lookups ? d->lookups - n : 0;
		if (!d->lookups)
			remove_locked(p, d);
	}
	pthread_mutex_unlock(&p->lock);
}

size_t rfs_pending_count(struct rfs_pending *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->by_id.count;
	pthread_mutex_unlock(&p->lock);
	return n;
}

int rfs_pending_resolve(struct rfs_pending *p, int64_t id, bool make,
			struct rfs_dir *out, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(p->store);
	char name[RFS_REPO_MAX + 1];
	struct pending_dir *d;
	int rc;

	pthread_mutex_lock(&p->lock);
	d = by_id(p, id);
	if (d)
		snprintf(name, sizeof(name), "%s", d->name);
	pthread_mutex_unlock(&p->lock);
	if (!d)
		return rfs_error_set(err, -ENOENT, "no such folder");
	rc = rfs_catalog_dir_lookup(cat, 0, name, out);
	if (rc != -ENOENT)
		return rc ? rfs_error_set(err, rc, "cannot look up '%s'", name)
			  : 0;
	if (!make)
		return 1;
	/* The first thing created in it makes the folder, durably. */
	return rfs_catalog_dir_ensure(cat, name, out, err);
}
