/*
 * versions.c - version ranges resolved to tags (see versions.h).
 *
 * An index is a repository's version tags, parsed once into compact
 * entries sorted by rfs_semver_order(), with the dirs.changed_ns read
 * before its tags were: whatever it holds is at least that fresh. A range
 * is an interval in that order, so a resolution is a binary search for the
 * top of the interval and a walk down past what the range does not admit
 * (prereleases it does not name) and what is yanked, to the first tag left.
 *
 * Locking: v->lock guards the slots and the reference counts of indexes,
 * never a catalog read or an index build. An index is immutable once
 * built; readers hold a reference, so a newer build can replace it in its
 * slot (or eviction drop it) under a reader.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "versions.h"

/* Times a lookup waits for another thread's build of the same index
 * before building one of its own, uncached. */
#define WAIT_ROUNDS 8
#define ARENA_BLOCK 65536

struct ventry {
	uint64_t major, minor, patch;
	const char *name;
	int64_t id; /* the tag's row: 0 for a name from a list */
	uint8_t pre_off, pre_len;
	bool yanked;
};

/* Names of an index, in blocks that never move. */
struct arena {
	struct arena *next;
	size_t used;
	char data[ARENA_BLOCK];
};

struct vindex {
	int refs; /* the slot's and readers' (under v->lock) */
	int64_t dir;
	int64_t stamp; /* the dir's changed_ns, read before its tags */
	size_t n, cap;
	size_t n_live; /* not yanked */
	struct ventry *e;
	struct arena *names;
};

struct slot {
	bool in_use;
	bool building; /* a thread builds its index: never evicted */
	uint64_t hash;
	uint64_t used; /* for the LRU order */
	struct vindex *idx;
	char repo[RFS_REPO_MAX + 1];
};

struct rfs_versions {
	struct rfs_catalog *cat;
	pthread_mutex_t lock;
	pthread_cond_t built;
	size_t max;
	struct slot *slots;
	uint64_t tick;
	struct rfs_versions_stats stats;
};

static void index_free(struct vindex *x)
{
	if (!x)
		return;
	while (x->names) {
		struct arena *next = x->names->next;

		free(x->names);
		x->names = next;
	}
	free(x->e);
	free(x);
}

/* Keep a copy of name in x's arena. */
static const char *arena_copy(struct vindex *x, const char *name)
{
	size_t len = strlen(name) + 1;
	struct arena *a = x->names;

	if (len > ARENA_BLOCK)
		return NULL;
	if (!a || a->used + len > ARENA_BLOCK) {
		a = malloc(sizeof(*a));
		if (!a)
			return NULL;
		a->next = x->names;
		a->used = 0;
		x->names = a;
	}
	memcpy(a->data + a->used, name, len);
	a->used += len;
	return a->data + a->used - len;
}

/* Add name to x if it is a version (else nothing): copied into the arena
 * when copy, else the caller's, which must outlive x. */
static int index_add(struct vindex *x, const char *name, int64_t id,
		     bool yanked, bool copy)
{
	struct rfs_semver sv;
	struct ventry *e;

	if (rfs_semver_parse(name, &sv))
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct ventry *grown = realloc(x->e, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		x->e = grown;
		x->cap = cap;
	}
	e = &x->e[x->n];
	e->name = copy ? arena_copy(x, name) : name;
	if (!e->name)
		return -ENOMEM;
	e->major = sv.major;
	e->minor = sv.minor;
	e->patch = sv.patch;
	e->pre_off = sv.pre_off;
	e->pre_len = sv.pre_len;
	e->id = id;
	e->yanked = yanked;
	x->n++;
	if (!yanked)
		x->n_live++;
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* Precedence of an entry against numbers and a prerelease. */
static int prec(const struct ventry *a, uint64_t major, uint64_t minor,
		uint64_t patch, const char *pre, size_t pre_len)
{
	int c = cmp_u64(a->major, major);

	if (!c)
		c = cmp_u64(a->minor, minor);
	if (!c)
		c = cmp_u64(a->patch, patch);
	if (c)
		return c;
	if (!a->pre_len || !pre_len)
		return (a->pre_len == 0) - (pre_len == 0);
	return rfs_semver_cmp_pre(a->name + a->pre_off, a->pre_len, pre,
				  pre_len);
}

static int prec_semver(const struct ventry *a, const struct rfs_semver *b)
{
	return prec(a, b->major, b->minor, b->patch, b->text + b->pre_off,
		    b->pre_len);
}

/* rfs_semver_order() of two entries; only ties of precedence (a build,
 * a 'v') parse the names again. */
static int ventry_order(const void *pa, const void *pb)
{
	const struct ventry *a = pa, *b = pb;
	struct rfs_semver sa, sb;
	int c = prec(a, b->major, b->minor, b->patch, b->name + b->pre_off,
		     b->pre_len);

	if (c || !strcmp(a->name, b->name))
		return c;
	if (rfs_semver_parse(a->name, &sa) || rfs_semver_parse(b->name, &sb))
		return strcmp(a->name, b->name); /* cannot be: both parsed */
	return rfs_semver_order(&sa, &sb);
}

static void index_sort(struct vindex *x)
{
	if (x->n > 1)
		qsort(x->e, x->n, sizeof(x->e[0]), ventry_order);
}

struct builder {
	struct vindex *x;
};

static int build_one(void *ctx, const struct rfs_tag *tag)
{
	struct builder *b = ctx;

	return index_add(b->x, tag->name, tag->id, tag->yanked, true);
}

/* The index of dir, read after dir (so that its stamp is never newer than
 * what it holds). */
static int index_build(struct rfs_catalog *cat, const struct rfs_dir *dir,
		       struct vindex **out)
{
	struct vindex *x = calloc(1, sizeof(*x));
	struct builder b = { x };
	int rc;

	if (!x)
		return -ENOMEM;
	x->dir = dir->id;
	x->stamp = dir->changed_ns;
	rc = rfs_catalog_list_tags_in_dir(cat, dir->id, build_one, &b);
	if (rc) {
		index_free(x);
		return rc < 0 ? rc : -EIO;
	}
	index_sort(x);
	*out = x;
	return 0;
}

/* Index of the first entry above the range's upper bound (all of them
 * when it has none). */
static size_t upper_end(const struct vindex *x,
			const struct rfs_semver_range *r)
{
	size_t lo = 0, hi = x->n;

	if (!r->has_hi)
		return x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = prec_semver(&x->e[mid], &r->hi);

		if (c < 0 || (c == 0 && r->hi_inclusive))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A prerelease the range's prerelease rule refuses, without parsing: what
 * rfs_semver_range_match() would say, decided from the entry alone. */
static bool pre_refused(const struct rfs_semver_range *r,
			const struct ventry *e)
{
	if (!e->pre_len)
		return false;
	if (r->stable_only)
		return true;
	if (r->include_prerelease)
		return false;
	for (size_t i = 0; i < r->n_pre; i++)
		if (r->pre[i].major == e->major &&
		    r->pre[i].minor == e->minor && r->pre[i].patch == e->patch)
			return false;
	return true;
}

static void copy_name(char dst[RFS_TAG_MAX + 1], const char *src)
{
	snprintf(dst, RFS_TAG_MAX + 1, "%s", src);
}

/* The greatest entry of x the range admits that is not yanked, or NULL;
 * fills in what m says of the rest. */
static const struct ventry *index_search(const struct vindex *x,
					 const struct rfs_semver_range *r,
					 struct rfs_version_match *m)
{
	for (size_t i = x->n; i-- > 0;) {
		if (!x->e[i].yanked) {
			copy_name(m->newest, x->e[i].name);
			break;
		}
	}
	m->n_versions = x->n_live;
	if (r->none)
		return NULL;
	for (size_t i = upper_end(x, r); i-- > 0;) {
		const struct ventry *e = &x->e[i];
		struct rfs_semver sv;

		if (r->has_lo) {
			int c = prec_semver(e, &r->lo);

			if (c < 0 || (c == 0 && !r->lo_inclusive))
				break;
		}
		if (pre_refused(r, e))
			continue;
		/* The one rule, for whatever the shortcuts above missed. */
		if (rfs_semver_parse(e->name, &sv) ||
		    !rfs_semver_range_match(r, &sv))
			continue;
		if (!e->yanked)
			return e;
		if (m->n_yanked < RFS_VERSIONS_YANKED_MAX)
			copy_name(m->yanked[m->n_yanked], e->name);
		m->n_yanked++;
	}
	return NULL;
}

/* -ENOENT, saying what there is instead. */
static int no_match(const char *repo, const struct rfs_semver_range *r,
		    const struct rfs_version_match *m, struct rfs_error *err)
{
	char yanked[RFS_ERROR_MSG_MAX] = "";
	size_t len = 0, shown = m->n_yanked < RFS_VERSIONS_YANKED_MAX
				    ? m->n_yanked
				    : RFS_VERSIONS_YANKED_MAX;

	for (size_t i = 0; i < shown && len < sizeof(yanked); i++) {
		int k = snprintf(yanked + len, sizeof(yanked) - len, "%s'%s'",
				 i ? ", " : "; yanked: ", m->yanked[i]);

		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (m->n_yanked > shown && len < sizeof(yanked))
		snprintf(yanked + len, sizeof(yanked) - len, " and %zu more",
			 m->n_yanked - shown);
	if (m->newest[0])
		return rfs_error_set(err, -ENOENT,
				     "no tag of '%s' matches '%s': the newest "
				     "version is '%s'%s",
				     repo, r->text, m->newest, yanked);
	return rfs_error_set(err, -ENOENT,
			     "no tag of '%s' matches '%s': it has no version "
			     "tags%s%s",
			     repo, r->text,
			     m->n_yanked ? " but yanked ones" : "", yanked);
}

/* FNV-1a: slots are found by hash, then by name. */
static uint64_t repo_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Lock held for all the slot functions. */
static struct slot *slot_find(struct rfs_versions *v, const char *repo,
			      uint64_t hash)
{
	for (size_t i = 0; i < v->max; i++) {
		struct slot *s = &v->slots[i];

		if (s->in_use && s->hash == hash && !strcmp(s->repo, repo))
			return s;
	}
	return NULL;
}

static void index_unref(struct vindex *x)
{
	if (x && --x->refs == 0)
		index_free(x);
}

static void slot_clear(struct slot *s)
{
	index_unref(s->idx);
	s->idx = NULL;
	s->in_use = false;
}

/* A slot for repo: a free one, else the least recently used one that is
 * not being built (its index dropped). NULL when every slot is building. */
static struct slot *slot_take(struct rfs_versions *v, const char *repo,
			      uint64_t hash)
{
	struct slot *victim = NULL;

	for (size_t i = 0; i < v->max; i++) {
		struct slot *s = &v->slots[i];

		if (!s->in_use) {
			victim = s;
			break;
		}
		if (!s->building && (!victim || s->used < victim->used))
			victim = s;
	}
	if (!victim)
		return NULL;
	if (victim->in_use) {
		slot_clear(victim);
		v->stats.evictions++;
	}
	victim->in_use = true;
	victim->hash = hash;
	snprintf(victim->repo, sizeof(victim->repo), "%s", repo);
	return victim;
}

/* A reference to the current index of repo, built if need be. */
static int acquire(struct rfs_versions *v, const char *repo,
		   struct vindex **out, struct rfs_error *err)
{
	uint64_t hash = repo_hash(repo);

	for (int round = 0;; round++) {
		struct vindex *x = NULL;
		struct rfs_dir dir;
		struct slot *s;
		int rc = rfs_catalog_dir_by_path(v->cat, repo, &dir);

		if (rc == -ENOENT)
			return rfs_error_set(err, rc, "no repository '%s'",
					     repo);
		if (rc)
			return rfs_error_set(err, rc,
					     "cannot read repository '%s' "
					     "from the catalog",
					     repo);
		pthread_mutex_lock(&v->lock);
		s = slot_find(v, repo, hash);
		if (s && s->idx && s->idx->dir == dir.id &&
		    s->idx->stamp == dir.changed_ns) {
			x = s->idx;
			x->refs++;
			s->used = ++v->tick;
			v->stats.lookups++;
			pthread_mutex_unlock(&v->lock);
			*out = x;
			return 0;
		}
		if (s && s->building && round < WAIT_ROUNDS) {
			/* Then look again: the repository may have changed
			 * since that build read it. */
			pthread_cond_wait(&v->built, &v->lock);
			pthread_mutex_unlock(&v->lock);
			continue;
		}
		if (s && s->building)
			s = NULL; /* build one of our own, uncached */
		else if (!s)
			s = slot_take(v, repo, hash);
		if (s)
			s->building = true;
		pthread_mutex_unlock(&v->lock);

		rc = index_build(v->cat, &dir, &x);

		pthread_mutex_lock(&v->lock);
		v->stats.builds++;
		if (s) {
			s->building = false;
			if (!rc) {
				index_unref(s->idx);
				s->idx = x;
				x->refs++;
				s->used = ++v->tick;
			} else if (!s->idx) {
				s->in_use = false;
			}
			pthread_cond_broadcast(&v->built);
		}
		if (!rc) {
			x->refs++;
			v->stats.lookups++;
		}
		pthread_mutex_unlock(&v->lock);
		if (rc)
			return rfs_error_set(
			    err, rc, "cannot index the tags of '%s'", repo);
		*out = x;
		return 0;
	}
}

static void release(struct rfs_versions *v, struct vindex *x)
{
	pthread_mutex_lock(&v->lock);
	index_unref(x);
	pthread_mutex_unlock(&v->lock);
}

struct rfs_catalog *rfs_versions_catalog(struct rfs_versions *v)
{
	return v->cat;
}

int rfs_versions_new(struct rfs_catalog *cat, size_t max_repos,
		     struct rfs_versions **out)
{
	struct rfs_versions *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->cat = cat;
	v->max = max_repos ? max_repos : RFS_VERSIONS_REPOS_DEFAULT;
	v->slots = calloc(v->max, sizeof(v->slots[0]));
	if (!v->slots) {
		free(v);
		return -ENOMEM;
	}
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->built, NULL);
	*out = v;
	return 0;
}

void rfs_versions_free(struct rfs_versions **pv)
{
	struct rfs_versions *v = pv ? *pv : NULL;

	if (!v)
		return;
	for (size_t i = 0; i < v->max; i++)
		slot_clear(&v->slots[i]);
	pthread_cond_destroy(&v->built);
	pthread_mutex_destroy(&v->lock);
	free(v->slots);
	free(v);
	*pv = NULL;
}

void rfs_versions_forget(struct rfs_versions *v, const char *repo)
{
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < v->max; i++) {
		struct slot *s = &v->slots[i];

		/* A slot being built is its builder's until it is done. */
		if (s->in_use && !s->building &&
		    (!repo || !strcmp(s->repo, repo)))
			slot_clear(s);
	}
	pthread_mutex_unlock(&v->lock);
}

void rfs_versions_get_stats(struct rfs_versions *v,
			    struct rfs_versions_stats *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->stats;
	out->cached = 0;
	for (size_t i = 0; i < v->max; i++)
		if (v->slots[i].in_use && v->slots[i].idx)
			out->cached++;
	pthread_mutex_unlock(&v->lock);
}

/* Tries before giving up on a repository that changes under every
 * resolution. */
#define RESOLVE_TRIES 4

int rfs_versions_resolve(struct rfs_versions *v, const char *repo,
			 const struct rfs_semver_range *range,
			 struct rfs_version_match *m, struct rfs_error *err)
{
	for (int i = 0; i < RESOLVE_TRIES; i++) {
		const struct ventry *e;
		struct vindex *x;
		int64_t id, dir;
		int rc;

		memset(m, 0, sizeof(*m));
		rc = acquire(v, repo, &x, err);
		if (rc)
			return rc;
		e = index_search(x, range, m);
		if (!e) {
			release(v, x);
			return no_match(repo, range, m, err);
		}
		id = e->id;
		dir = x->dir;
		copy_name(m->name, e->name);
		release(v, x);
		/* The row as it is now: a change since the index was read
		 * (a yank, an rm, a refresh) also moved changed_ns, so the
		 * next try sees it. */
		rc = rfs_catalog_tag_by_id(v->cat, id, &m->tag);
		if (rc && rc != -ENOENT)
			return rfs_error_set(err, rc,
					     "cannot read tag '%s:%s' from the "
					     "catalog",
					     repo, m->name);
		if (!rc && m->tag.dir == dir && !m->tag.yanked &&
		    !strcmp(m->tag.name, m->name))
			return 0;
	}
	memset(&m->tag, 0, sizeof(m->tag));
	return rfs_error_set(err, -EAGAIN,
			     "the tags of '%s' changed during every try to "
			     "resolve '%s'",
			     repo, range->text);
}

int rfs_versions_lookup(struct rfs_versions *v, const char *repo,
			const char *name, struct rfs_version_match *m,
			struct rfs_error *err)
{
	struct rfs_semver_range range;
	int rc;

	memset(m, 0, sizeof(*m));
	if (rfs_name_valid_tag(name)) {
		rc = rfs_catalog_tag_get(v->cat, repo, name, &m->tag);
		if (!rc) {
			m->exact = true;
			copy_name(m->name, name);
			return 0;
		}
		if (rc != -ENOENT)
			return rfs_error_set(err, rc,
					     "cannot read tag '%s:%s' from the "
					     "catalog",
					     repo, name);
	}
	if (!rfs_semver_is_range(name))
		return rfs_error_set(err, -ENOENT, "no such tag '%s:%s'", repo,
				     name);
	rc = rfs_semver_range_parse(name, &range, err);
	if (rc)
		return rc;
	return rfs_versions_resolve(v, repo, &range, m, err);
}

/* Is name a yanked tag in x? */
static bool index_yanked(const struct vindex *x, const struct ventry *key)
{
	const struct ventry *e;

	/* An index with no version (e is NULL then): bsearch() must not be
	 * given a null array, even of no elements. */
	if (!x || !x->n)
		return false;
	e = bsearch(key, x->e, x->n, sizeof(x->e[0]), ventry_order);
	return e && e->yanked;
}

int rfs_versions_resolve_list(struct rfs_versions *v, const char *repo,
			      const struct rfs_semver_range *range,
			      const char *const *names, size_t n,
			      struct rfs_version_match *m,
			      struct rfs_error *err)
{
	struct vindex list = { 0 }, *known = NULL;
	const struct ventry *e;
	int rc;

	memset(m, 0, sizeof(*m));
	/* What the catalog says of these names: which are yanked here. */
	rc = acquire(v, repo, &known, err);
	if (rc && rc != -ENOENT)
		return rc;
	rfs_error_clear(err);
	rc = 0;
	for (size_t i = 0; i < n; i++) {
		size_t before = list.n;

		rc = index_add(&list, names[i], 0, false, false);
		if (rc)
			goto out;
		if (list.n > before &&
		    index_yanked(known, &list.e[list.n - 1])) {
			list.e[list.n - 1].yanked = true;
			list.n_live--;
		}
	}
	index_sort(&list);
	e = index_search(&list, range, m);
	if (e)
		copy_name(m->name, e->name);
	else
		rc = no_match(repo, range, m, err);
out:
	if (rc == -ENOMEM)
		rfs_error_set(err, rc, "out of memory resolving '%s' in '%s'",
			      range->text, repo);
	free(list.e);
	if (known)
		release(v, known);
	return rc;
}

int rfs_versions_cmp(const char *a, const char *b)
{
	struct rfs_semver sa, sb;
	bool va = rfs_semver_parse(a, &sa) == 0;
	bool vb = rfs_semver_parse(b, &sb) == 0;
	int c;

	if (va && vb)
		return rfs_semver_order(&sa, &sb);
	if (va != vb)
		return va ? -1 : 1;
	c = strcmp(a, b);
	return (c > 0) - (c < 0);
}

static int cmp_name_ptr(const void *pa, const void *pb)
{
	const char *const *a = pa, *const *b = pb;

	return strcmp(*a, *b);
}

int rfs_versions_sort(const char **names, size_t n)
{
	struct vindex x = { 0 };
	const char **others = malloc((n ? n : 1) * sizeof(*others));
	size_t n_others = 0;

	if (!others)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t before = x.n;

		if (index_add(&x, names[i], 0, false, false)) {
			free(x.e);
			free(others);
			return -ENOMEM;
		}
		if (x.n == before)
			others[n_others++] = names[i];
	}
	index_sort(&x);
	qsort(others, n_others, sizeof(*others), cmp_name_ptr);
	for (size_t i = 0; i < x.n; i++)
		names[i] = x.e[i].name;
	memcpy(names + x.n, others, n_others * sizeof(*others));
	free(x.e);
	free(others);
	return 0;
}
