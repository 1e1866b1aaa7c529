/*
 * pull.c - the pull-through cache (see pull.h): tag lists, downloads and
 * the readers waiting for them, eviction. Resolving and pinning tags is
 * pull-resolve.c's (pull-internal.h).
 *
 * Locking: pull->lock guards the tables below (downloads in flight, kept
 * partial downloads, open blobs, cached tag lists). It is never held while
 * talking to an upstream or waiting for the disk, with one exception:
 * eviction unlinks a blob file under it, so that no reader can open a blob
 * between the check that it is not open and its removal.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "audit.h"
#include "digest.h"
#include "policy.h"
#include "pull-internal.h"
#include "push.h"
#include "seal.h"

/* How often a download looks again at the free space (a statvfs), and at
 * cache_max (a catalog query). */
#define ROOM_CHECK_BYTES  (1ULL << 20)
#define CACHE_CHECK_BYTES (8ULL << 20)
/* A partial download not resumed within this long is dropped. */
#define PARTIAL_TTL_NS (600LL * 1000000000)

static bool pull_closing(void *ctx)
{
	struct rfs_pull *pull = ctx;

	return atomic_load(&pull->closing);
}

int rfs_pull_new(struct rfs_store *store, const struct rfs_config *cfg,
		 struct rfs_pull **out, struct rfs_error *err)
{
	struct rfs_pull *pull = calloc(1, sizeof(*pull));
	int rc = 0;

	if (!pull)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	pull->store = store;
	atomic_init(&pull->closing, false);
	pull->closing_cancel = (struct rfs_cancel){ pull_closing, pull };
	pthread_mutex_init(&pull->lock, NULL);
	pthread_cond_init(&pull->idle, NULL);
	if (cfg) {
		struct rfs_policy *policy = NULL;

		/* A key that cannot be used stops whoever pulls here and
		 * now, never a tag served unchecked later. */
		rc = rfs_policy_new(cfg, &policy, err);
		if (!rc && policy)
			rfs_store_set_policy(store, policy);
		pull->cache_max = cfg->cache_max;
		pull->ups = calloc(cfg->n_upstreams ? cfg->n_upstreams : 1,
				   sizeof(*pull->ups));
		if (!rc && !pull->ups)
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
		for (size_t i = 0; !rc && i < cfg->n_upstreams; i++) {
			rc = rfs_upstream_new(&cfg->upstreams[i], &pull->ups[i],
					      err);
			if (!rc)
				pull->n_ups++;
		}
	}
	if (rc) {
		rfs_pull_free(&pull);
		return rc;
	}
	*out = pull;
	return 0;
}

static void list_free(struct tag_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l);
}

void rfs_pull_close(struct rfs_pull *pull)
{
	if (pull)
		atomic_store(&pull->closing, true);
}

void rfs_pull_free(struct rfs_pull **pullp)
{
	struct rfs_pull *pull;

	if (!pullp || !*pullp)
		return;
	pull = *pullp;
	rfs_pull_close(pull);
	pthread_mutex_lock(&pull->lock);
	while (pull->downloads > 0)
		pthread_cond_wait(&pull->idle, &pull->lock);
	pthread_mutex_unlock(&pull->lock);
	/* Remember when blobs were last read, for the next LRU order. */
	for (size_t i = 0; i < pull->n_opened; i++)
		rfs_catalog_blob_touch(pull_catalog(pull),
				       pull->opened[i].digest,
				       pull->opened[i].last_ns);
	for (int i = 0; i < MAX_PARTIALS; i++)
		rfs_seal_free(&pull->partials[i].seal);
	while (pull->lists) {
		struct tag_list *l = pull->lists;

		pull->lists = l->next;
		list_free(l);
	}
	for (size_t i = 0; i < pull->n_ups; i++)
		rfs_upstream_free(&pull->ups[i]);
	free(pull->ups);
	free(pull->opened);
	pthread_cond_destroy(&pull->idle);
	pthread_mutex_destroy(&pull->lock);
	free(pull);
	*pullp = NULL;
}

struct rfs_upstream *pull_serving(struct rfs_pull *pull, const char *repo,
				  char *remote, size_t size)
{
	struct rfs_upstream *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < pull->n_ups; i++) {
		const char *prefix = rfs_upstream_config(pull->ups[i])->prefix;
		size_t len = prefix ? strlen(prefix) : 0;

		if ((!best || len > best_len) &&
		    rfs_upstream_remote_repo(pull->ups[i], repo, remote,
					     size)) {
			best = pull->ups[i];
			best_len = len;
		}
	}
	if (best)
		rfs_upstream_remote_repo(best, repo, remote, size);
	return best;
}

struct rfs_upstream *pull_by_name(struct rfs_pull *pull, const char *name)
{
	for (size_t i = 0; i < pull->n_ups; i++)
		if (strcmp(rfs_upstream_config(pull->ups[i])->name, name) == 0)
			return pull->ups[i];
	return NULL;
}

bool rfs_pull_serves(struct rfs_pull *pull, const char *path)
{
	size_t plen = strlen(path);

	for (size_t i = 0; i < pull->n_ups; i++) {
		const char *prefix = rfs_upstream_config(pull->ups[i])->prefix;
		size_t len = prefix ? strlen(prefix) : 0;

		if (len == 0 || plen == 0)
			return true;
		/* path inside the prefix ("hub/x" in "hub/"), or a folder on
		 * the way to it ("org" for "org/team/") */
		if (plen >= len ? strncmp(path, prefix, len) == 0
				: strncmp(prefix, path, plen) == 0 &&
				      prefix[plen] == '/')
			return true;
		if (plen + 1 == len && strncmp(path, prefix, plen) == 0)
			return true;
	}
	return false;
}

/* Tag lists ----------------------------------------------------------- */

static int list_add(void *ctx, const char *name)
{
	struct tag_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **names = realloc(l->names, cap * sizeof(*names));

		if (!names)
			return -ENOMEM;
		l->names = names;
		l->cap = cap;
	}
	l->names[l->n] = strdup(name);
	return l->names[l->n++] ? 0 : -ENOMEM;
}

static bool list_fresh(const struct tag_list *l, const struct rfs_upstream *up)
{
	int64_t ttl = rfs_upstream_config(up)->list_ttl_s;

	return rfs_now_ns() - l->fetched_ns < ttl * 1000000000;
}

/* The cached list under key, or NULL; lock held. */
static struct tag_list *list_find(struct rfs_pull *pull, const char *key)
{
	struct tag_list *l;

	for (l = pull->lists; l; l = l->next)
		if (strcmp(l->repo, key) == 0)
			break;
	return l;
}

/* The cached list under key, fetched again when stale: the tags of the
 * repository remote, or with remote NULL the upstream's repository catalog.
 * Lock held on return; the list stays valid while it is. */
static struct tag_list *get_list(struct rfs_pull *pull, struct rfs_upstream *up,
				 const char *repo, const char *remote,
				 struct rfs_error *err)
{
	struct rfs_error why = { 0 };
	struct tag_list *l, *fresh;

	pthread_mutex_lock(&pull->lock);
	l = list_find(pull, repo);
	if (l && list_fresh(l, up))
		return l;
	pthread_mutex_unlock(&pull->lock);

	fresh = calloc(1, sizeof(*fresh));
	if (!fresh) {
		/* What is known, if anything; l may be gone meanwhile. */
		pthread_mutex_lock(&pull->lock);
		return list_find(pull, repo);
	}
	snprintf(fresh->repo, sizeof(fresh->repo), "%s", repo);
	fresh->rc =
	    remote ? rfs_upstream_list_tags(up, remote, list_add, fresh, &why)
		   : rfs_upstream_list_repos(up, list_add, fresh, &why);
	fresh->fetched_ns = rfs_now_ns();
	if (fresh->rc) {
		/* A failed list keeps none of its names: an endless one would
		 * otherwise stay in memory for list_ttl. */
		for (size_t i = 0; i < fresh->n; i++)
			free(fresh->names[i]);
		free(fresh->names);
		fresh->names = NULL;
		fresh->n = fresh->cap = 0;
		/* Said once per list_ttl; a registry refusing its catalog
		 * (most public ones) is no news. */
		if (pull->log && fresh->rc != -ENOENT && fresh->rc != -EINTR &&
		    (remote || fresh->rc != -EACCES))
			pull->log(rfs_error_message(&why, fresh->rc));
		if (err)
			*err = why;
	}
	/* An interrupted fetch (upstream.h) says nothing of the upstream:
	 * the next caller asks again. */
	if (fresh->rc == -EINTR)
		fresh->fetched_ns = 0;

	pthread_mutex_lock(&pull->lock);
	for (struct tag_list **pp = &pull->lists; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->repo, repo) == 0) {
			struct tag_list *old = *pp;

			/* An upstream that cannot be reached leaves what we
			 * knew of it; anything it answered replaces it. */
			if (fresh->rc != 0 && fresh->rc != -ENOENT &&
			    old->rc == 0) {
				if (fresh->rc != -EINTR)
					old->fetched_ns = fresh->fetched_ns;
				list_free(fresh);
				return old;
			}
			*pp = old->next;
			list_free(old);
			break;
		}
	}
	fresh->next = pull->lists;
	pull->lists = fresh;
	return fresh;
}

enum rfs_repo_state rfs_pull_repo_state(struct rfs_pull *pull, const char *path)
{
	char remote[RFS_REPO_MAX + 1];
	struct rfs_upstream *up;
	struct tag_list *l;
	enum rfs_repo_state state = RFS_REPO_UNKNOWN;

	if (!rfs_name_valid_repo(path))
		return RFS_REPO_UNKNOWN;
	up = pull_serving(pull, path, remote, sizeof(remote));
	if (!up)
		return RFS_REPO_UNKNOWN;
	l = get_list(pull, up, path, remote, NULL);
	if (l && l->rc == 0)
		state = RFS_REPO_EXISTS;
	else if (l && l->rc == -ENOENT)
		state = RFS_REPO_ABSENT;
	pthread_mutex_unlock(&pull->lock);
	return state;
}

enum rfs_repo_state rfs_pull_folder_state(struct rfs_pull *pull,
					  const char *path)
{
	char remote[RFS_REPO_MAX + 1], key[RFS_ORIGIN_MAX + 16];
	enum rfs_repo_state state = RFS_REPO_UNKNOWN;
	size_t plen = strlen(path), rlen;
	struct rfs_upstream *up;
	struct tag_list *l;

	/* A folder on the way to an upstream's prefix ("org" of "org/x/"). */
	for (size_t i = 0; i < pull->n_ups; i++) {
		const char *prefix = rfs_upstream_config(pull->ups[i])->prefix;

		if (prefix && strlen(prefix) > plen + 1 &&
		    strncmp(prefix, path, plen) == 0 && prefix[plen] == '/')
			return RFS_REPO_EXISTS;
	}
	up = pull_serving(pull, path, remote, sizeof(remote));
	if (!up)
		return RFS_REPO_UNKNOWN;
	/* Keys of repository lists are repository names; this one is not. */
	snprintf(key, sizeof(key), "#catalog:%s",
		 rfs_upstream_config(up)->name);
	rlen = strlen(remote);
	l = get_list(pull, up, key, NULL, NULL);
	if (l && l->rc == 0) {
		state = RFS_REPO_ABSENT;
		for (size_t i = 0; i < l->n && state == RFS_REPO_ABSENT; i++)
			if (strncmp(l->names[i], remote, rlen) == 0 &&
			    (l->names[i][rlen] == '\0' ||
			     l->names[i][rlen] == '/'))
				state = RFS_REPO_EXISTS;
	}
	pthread_mutex_unlock(&pull->lock);
	return state;
}

int rfs_pull_list_tags(struct rfs_pull *pull, const char *repo, rfs_name_fn fn,
		       void *ctx, struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1];
	struct rfs_upstream *up;
	struct tag_list *l;
	int rc;

	up = pull_serving(pull, repo, remote, sizeof(remote));
	if (!up)
		return -ENOENT;
	l = get_list(pull, up, repo, remote, err);
	rc = l ? l->rc : -ENOMEM;
	for (size_t i = 0; !rc && i < l->n; i++)
		rc = fn(ctx, l->names[i]);
	pthread_mutex_unlock(&pull->lock);
	return rc;
}

int rfs_pull_list_repos(struct rfs_pull *pull, rfs_name_fn fn, void *ctx)
{
	char key[RFS_ORIGIN_MAX + 16], local[RFS_REPO_MAX + 1];
	int rc = 0;

	for (size_t u = 0; !rc && u < pull->n_ups; u++) {
		const struct rfs_upstream_config *cfg =
		    rfs_upstream_config(pull->ups[u]);
		const char *rroot = cfg->remote_root ? cfg->remote_root : "";
		size_t root = strlen(rroot);
		struct tag_list *l;

		snprintf(key, sizeof(key), "#catalog:%s", cfg->name);
		l = get_list(pull, pull->ups[u], key, NULL, NULL);
		for (size_t i = 0; !rc && l && l->rc == 0 && i < l->n; i++) {
			/* Under the upstream's root, named with its prefix
			 * here. */
			if (strncmp(l->names[i], rroot, root) != 0 ||
			    !l->names[i][root])
				continue;
			if (snprintf(local, sizeof(local), "%s%s",
				     cfg->prefix ? cfg->prefix : "",
				     l->names[i] + root) < (int)sizeof(local) &&
			    rfs_name_valid_repo(local))
				rc = fn(ctx, local);
		}
		pthread_mutex_unlock(&pull->lock);
	}
	return rc;
}

int rfs_pull_fetch_untagged(struct rfs_pull *pull, const char *repo,
			    const char *digest, struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1];
	struct rfs_upstream *up =
	    pull_serving(pull, repo, remote, sizeof(remote));
	const struct rfs_cancel *outer;
	struct rfs_cancel_either either;
	bool fetched;
	int rc;

	if (!up)
		return rfs_error_set(err, -ENOENT, "no upstream serves '%s'",
				     repo);
	/* Made on the caller's thread: it stops when the pull closes too. */
	outer = rfs_upstream_cancel_on_thread(NULL);
	rfs_upstream_cancel_on_thread(
	    rfs_cancel_either(&either, outer, &pull->closing_cancel));
	rc = rfs_fetch_blob(pull->store, up, remote, digest,
			    RFS_PULL_UNTAGGED_MAX, &fetched, err);
	rfs_upstream_cancel_on_thread(outer);
	return rc;
}

bool pull_surely_absent(struct rfs_pull *pull, struct rfs_upstream *up,
			const char *repo, const char *tag)
{
	bool absent = false;

	pthread_mutex_lock(&pull->lock);
	for (struct tag_list *l = pull->lists; l; l = l->next) {
		if (strcmp(l->repo, repo) != 0 || !list_fresh(l, up))
			continue;
		if (l->rc == -ENOENT)
			absent = true;
		else if (l->rc == 0) {
			absent = true;
			for (size_t i = 0; absent && i < l->n; i++)
				absent = strcmp(l->names[i], tag) != 0;
		}
		break;
	}
	pthread_mutex_unlock(&pull->lock);
	return absent;
}

/* Fetching ------------------------------------------------------------ */

static struct fetch *find_fetch(struct rfs_pull *pull, const char *digest)
{
	for (struct fetch *f = pull->fetches; f; f = f->next)
		if (strcmp(f->digest, digest) == 0)
			return f;
	return NULL;
}

static struct opened *find_opened(struct rfs_pull *pull, const char *digest)
{
	for (size_t i = 0; i < pull->n_opened; i++)
		if (strcmp(pull->opened[i].digest, digest) == 0)
			return &pull->opened[i];
	return NULL;
}

/* Note a use of digest now; lock held. */
static struct opened *use_locked(struct rfs_pull *pull, const char *digest)
{
	struct opened *o = find_opened(pull, digest);

	if (!o) {
		if (pull->n_opened == pull->cap_opened) {
			size_t cap =
			    pull->cap_opened ? pull->cap_opened * 2 : 32;
			void *p = realloc(pull->opened, cap * sizeof(*o));

			if (!p)
				return NULL;
			pull->opened = p;
			pull->cap_opened = cap;
		}
		o = &pull->opened[pull->n_opened++];
		memset(o, 0, sizeof(*o));
		snprintf(o->digest, sizeof(o->digest), "%s", digest);
	}
	o->last_ns = rfs_now_ns();
	return o;
}

/* Drop the partials nobody came back for within PARTIAL_TTL_NS: an
 * upstream that stays away must not hold their space until the daemon
 * exits. */
static void drop_stale_partials(struct rfs_pull *pull)
{
	struct rfs_seal *stale[MAX_PARTIALS];
	int64_t now = rfs_now_ns();
	int n = 0;

	pthread_mutex_lock(&pull->lock);
	for (int i = 0; i < MAX_PARTIALS; i++) {
		if (pull->partials[i].seal &&
		    now - pull->partials[i].kept_ns > PARTIAL_TTL_NS) {
			stale[n++] = pull->partials[i].seal;
			pull->partials[i].seal = NULL;
		}
	}
	pthread_mutex_unlock(&pull->lock);
	while (n > 0)
		rfs_seal_free(&stale[--n]);
}

static struct rfs_seal *take_partial(struct rfs_pull *pull, const char *digest)
{
	struct rfs_seal *seal = NULL;

	drop_stale_partials(pull);
	pthread_mutex_lock(&pull->lock);
	for (int i = 0; i < MAX_PARTIALS; i++) {
		if (pull->partials[i].seal &&
		    strcmp(pull->partials[i].digest, digest) == 0) {
			seal = pull->partials[i].seal;
			pull->partials[i].seal = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&pull->lock);
	return seal;
}

/* Keep the bytes of a broken download for the next try, in place of the
 * oldest kept one. */
static void keep_partial(struct rfs_pull *pull, const char *digest,
			 struct rfs_seal *seal)
{
	struct rfs_seal *dropped;

	pthread_mutex_lock(&pull->lock);
	dropped = pull->partials[MAX_PARTIALS - 1].seal;
	memmove(&pull->partials[1], &pull->partials[0],
		(MAX_PARTIALS - 1) * sizeof(pull->partials[0]));
	pull->partials[0].seal = seal;
	pull->partials[0].kept_ns = rfs_now_ns();
	snprintf(pull->partials[0].digest, sizeof(pull->partials[0].digest),
		 "%s", digest);
	pthread_mutex_unlock(&pull->lock);
	rfs_seal_free(&dropped);
	drop_stale_partials(pull);
}

/* Bytes of fetched content not in blobs/ yet: the staged files of
 * downloads under way and the kept partials; lock held. They count
 * against cache_max and the free space as the blobs do. */
static uint64_t staged_locked(struct rfs_pull *pull)
{
	uint64_t n = 0;

	for (struct fetch *f = pull->fetches; f; f = f->next)
		n += f->written;
	for (int i = 0; i < MAX_PARTIALS; i++)
		if (pull->partials[i].seal)
			n += rfs_seal_size(pull->partials[i].seal);
	return n;
}

/* Bytes the downloads under way other than f will still write, by their
 * sizes; lock held. */
static uint64_t promised_locked(struct rfs_pull *pull, const struct fetch *f)
{
	uint64_t n = 0;

	for (struct fetch *g = pull->fetches; g; g = g->next)
		if (g != f && g->size > g->written)
			n += g->size - g->written;
	return n;
}

/* Is there room in the store's file system for the rest of f (want more
 * bytes), besides what the other downloads still need? 0 or -ENOSPC with
 * err set. */
static int check_room(struct rfs_pull *pull, const struct fetch *f,
		      const char *what, uint64_t want, struct rfs_error *err)
{
	struct statvfs fs;
	uint64_t room, others;

	if (statvfs(rfs_store_staging_dir(pull->store), &fs) != 0)
		return 0; /* the writes will tell */
	room = (uint64_t)fs.f_bavail * fs.f_frsize;
	pthread_mutex_lock(&pull->lock);
	others = promised_locked(pull, f);
	pthread_mutex_unlock(&pull->lock);
	if (want <= room && others <= room - want)
		return 0;
	return rfs_error_set(err, -ENOSPC,
			     "%s: %llu bytes to fetch, but the store has %llu "
			     "bytes free (%llu promised to other downloads)",
			     what, (unsigned long long)want,
			     (unsigned long long)room,
			     (unsigned long long)others);
}

struct sink_ctx {
	struct fetch *f;
	struct rfs_seal *seal;
	uint64_t size;
	struct rfs_error err; /* why the sink refused */
};

static int sink_to_seal(void *ctx, const void *buf, size_t len)
{
	struct sink_ctx *s = ctx;
	struct fetch *f = s->f;
	struct rfs_pull *pull = f->pull;
	uint64_t have = rfs_seal_size(s->seal);
	ssize_t n;
	int rc;

	/* An upstream sending more than the descriptor says is wrong. */
	if (have + len > s->size)
		return rfs_error_set(&s->err, -EBADMSG,
				     "%s: more bytes than its size %llu",
				     f->what, (unsigned long long)s->size);
	n = rfs_seal_write(s->seal, buf, len, have, NULL);
	if (n < 0)
		return (int)n;
	pthread_mutex_lock(&pull->lock);
	f->written = have + len;
	pthread_mutex_unlock(&pull->lock);
	if (have + len - f->checked < ROOM_CHECK_BYTES)
		return 0;
	/* Now and then: does the rest still fit, and does cache_max hold
	 * with these bytes counted? */
	f->checked = have + len;
	rc = check_room(pull, f, f->what, s->size - f->checked, &s->err);
	if (rc)
		return rc;
	if (pull->cache_max &&
	    f->checked - f->cache_checked >= CACHE_CHECK_BYTES) {
		f->cache_checked = f->checked;
		rfs_pull_evict(pull, pull->cache_max, NULL);
	}
	return 0;
}

/* Is a broken download worth keeping for a resume? Only when the transfer
 * broke off: what the upstream sent wrongly, too much of it, or what the
 * store had no room for is dropped at once. */
static bool worth_resuming(int rc)
{
	return rc == -ETIMEDOUT || rc == -EIO || rc == -ECONNREFUSED ||
	       rc == -EHOSTUNREACH || rc == -ENETUNREACH || rc == -EAGAIN ||
	       rc == -ECONNRESET;
}

/* Give a waiter fd (a descriptor of the verified bytes) or tell it why
 * there is none: err, or with err NULL, fd is the failed open's errno. */
static void hand_over(struct waiter *w, int fd, const struct rfs_error *err)
{
	struct rfs_error open_err = { 0 };

	if (fd < 0 && !err) {
		rfs_error_set(&open_err, fd, "cannot open fetched content: %s",
			      strerror(-fd));
		err = &open_err;
	}
	w->done(w->ctx, fd, err);
	free(w);
}

/* Give a waiter the outcome of its fetch: rc, or the verified bytes. */
static void notify(struct waiter *w, int rc, struct rfs_seal *seal,
		   const struct rfs_error *err)
{
	hand_over(w, rc ? rc : rfs_seal_open_verified(seal), rc ? err : NULL);
}

/* The bytes are verified: readers may have them now. */
static void serve_readers(struct fetch *f, struct rfs_seal *seal)
{
	struct rfs_pull *pull = f->pull;
	struct waiter *readers = NULL, *w, **pp = &f->waiters;

	pthread_mutex_lock(&pull->lock);
	f->verified = seal;
	while ((w = *pp)) {
		if (w->stored) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->next = readers;
		readers = w;
	}
	pthread_mutex_unlock(&pull->lock);
	while ((w = readers)) {
		readers = w->next;
		notify(w, 0, seal, NULL);
	}
}

static void *download(void *arg)
{
	struct fetch *f = arg;
	struct rfs_pull *pull = f->pull;
	struct rfs_seal_options opts = { .expected_digest = f->digest,
					 .repo = f->repo,
					 .tag = f->tag };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct sink_ctx sink = { .f = f, .size = f->size };
	struct waiter *w;
	int rc = 0;

	/* Its upstream calls end when the pull closes. */
	rfs_upstream_cancel_on_thread(&pull->closing_cancel);
	sink.seal = take_partial(pull, f->digest);
	if (!sink.seal)
		rc = rfs_seal_begin_with(pull->store,
					 RFS_SEAL_STREAM |
					     RFS_SEAL_LAZY_WRITEBACK |
					     RFS_SEAL_ANY_SIZE,
					 &sink.seal, &err);
	if (!rc) {
		pthread_mutex_lock(&pull->lock);
		f->written = f->checked = f->cache_checked =
		    rfs_seal_size(sink.seal);
		pthread_mutex_unlock(&pull->lock);
		rc = rfs_upstream_get_blob(f->up, f->remote, f->digest,
					   rfs_seal_size(sink.seal),
					   sink_to_seal, &sink, &err);
	}
	if (rc && sink.err.msg[0])
		err = sink.err; /* the sink's own words are better */
	if (rc == -EINTR) {
		rfs_error_set(&err, rc, "%s: download stopped: shutting down",
			      f->what);
		if (pull->log)
			pull->log(err.msg);
	}
	if (!rc)
		rc = rfs_seal_verify(sink.seal, f->what, &opts, &err);
	/* The digest holds; so must the size the manifest declared, which is
	 * what readers are told (st_size). A blob that hashes right but is
	 * shorter is a manifest that lies: corrupt. */
	if (!rc && rfs_seal_size(sink.seal) != f->size)
		rc =
		    rfs_error_set(&err, -EBADMSG,
				  "%s: corrupt: the manifest says %llu bytes, "
				  "the blob with that digest has %llu",
				  f->what, (unsigned long long)f->size,
				  (unsigned long long)rfs_seal_size(sink.seal));
	/* Before any reader sees a byte: what the hook refuses is neither
	 * served nor stored (and is fetched, and asked about, again). */
	if (!rc)
		rc = rfs_seal_scan(sink.seal, f->what, &opts, &err);
	if (!rc) {
		int lock;

		/* Readers need not wait for the disk: until the blob is
		 * stored, a crash just leaves it to be fetched again. */
		serve_readers(f, sink.seal);
		lock = rfs_store_lock(pull->store, false);
		rc = lock < 0 ? lock
			      : rfs_seal_store(sink.seal, f->what, &opts,
					       digest, &err);
		if (!rc)
			rc = rfs_catalog_blob_set_present(
			    rfs_store_catalog(pull->store), f->digest, true);
		rfs_store_unlock(lock);
		if (rc && pull->log)
			pull->log(rfs_error_message(&err, rc));
	} else if (sink.seal && worth_resuming(rc) &&
		   rfs_seal_can_resume(sink.seal)) {
		keep_partial(pull, f->digest, sink.seal);
		sink.seal = NULL;
	}
	/* Otherwise a failed download's bytes are given back below, once
	 * its waiters are told. */
	rfs_audit(pull->store, RFS_AUDIT_FETCH, rc, &err, f->repo, f->tag,
		  f->digest);

	pthread_mutex_lock(&pull->lock);
	for (struct fetch **pp = &pull->fetches; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->verified = NULL;
	if (!rc)
		use_locked(pull, f->digest);
	pthread_mutex_unlock(&pull->lock);

	/* The readers open the blob in their callbacks, before any
	 * eviction can look at it. */
	while ((w = f->waiters)) {
		f->waiters = w->next;
		notify(w, rc, sink.seal, &err);
	}
	rfs_seal_free(&sink.seal);
	/* A kept partial counts in cache_max as a stored blob does. */
	if (pull->cache_max)
		rfs_pull_evict(pull, pull->cache_max, NULL);
	free(f);

	pthread_mutex_lock(&pull->lock);
	if (--pull->downloads == 0)
		pthread_cond_broadcast(&pull->idle);
	pthread_mutex_unlock(&pull->lock);
	return NULL;
}

/* Is the blob in the store? A blob marked present whose file is gone is
 * fetched again (if it came from an upstream). */
static int blob_here(struct rfs_pull *pull, const char *digest,
		     struct rfs_error *err)
{
	char path[4096];
	struct rfs_blob blob;
	int rc;

	rc = rfs_catalog_blob_get(pull_catalog(pull), digest, &blob);
	if (rc)
		return rfs_error_set(err, rc, "blob %s is not in the catalog",
				     digest);
	if (blob.present &&
	    rfs_store_blob_path(pull->store, digest, path, sizeof(path)) == 0 &&
	    access(path, F_OK) == 0)
		return 1;
	if (!blob.origin[0])
		return rfs_error_set(err, -EIO,
				     "blob %s is missing from the store "
				     "(run regctl fsck)",
				     digest);
	if (blob.present)
		rfs_catalog_blob_set_present(pull_catalog(pull), digest, false);
	return 0;
}

static int start_fetch(struct rfs_pull *pull, const struct rfs_tag *tag,
		       const char *digest, uint64_t size, bool stored,
		       rfs_fetch_done_fn done, void *ctx, struct rfs_error *err)
{
	char what[sizeof(((struct fetch *)0)->what)];
	struct waiter *w = NULL;
	struct fetch *f = NULL;
	struct rfs_upstream *up;
	pthread_attr_t attr;
	pthread_t thread;
	int rc;

	rc = blob_here(pull, digest, err);
	if (rc != 0)
		return rc;
	up = pull_by_name(pull, tag->origin);
	if (!up)
		return rfs_error_set(err, -EIO,
				     "'%s:%s' came from upstream '%s', which "
				     "is not configured",
				     tag->repo, tag->name, tag->origin);
	/* Refused before a byte is fetched: what the manifest declares is
	 * all that may come, and it must be allowed and fit. */
	if (size > rfs_upstream_config(up)->max_blob_size)
		return rfs_error_set(
		    err, -EFBIG,
		    "blob %s of '%s:%s' from upstream '%s': "
		    "%llu bytes declared, more than "
		    "max_blob_size (%llu): refused",
		    digest, tag->repo, tag->name, tag->origin,
		    (unsigned long long)size,
		    (unsigned long long)rfs_upstream_config(up)->max_blob_size);
	w = calloc(1, sizeof(*w));
	if (!w)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	w->done = done;
	w->ctx = ctx;
	w->stored = stored;

	pthread_mutex_lock(&pull->lock);
	f = find_fetch(pull, digest);
	if (f && f->verified && !stored) {
		/* Verified already, being stored: no need to wait. The
		 * seal lives as long as f->verified is set, under the lock. */
		int fd = rfs_seal_open_verified(f->verified);

		pthread_mutex_unlock(&pull->lock);
		hand_over(w, fd, NULL);
		return 0;
	}
	if (f) {
		/* Join the download under way. */
		w->next = f->waiters;
		f->waiters = w;
		pthread_mutex_unlock(&pull->lock);
		return 0;
	}
	pthread_mutex_unlock(&pull->lock);
	snprintf(what, sizeof(what), "blob %s of '%s:%s' from upstream '%s'",
		 digest, tag->repo, tag->name, tag->origin);
	rc = check_room(pull, NULL, what, size, err);
	if (rc) {
		free(w);
		return rc;
	}
	pthread_mutex_lock(&pull->lock);
	f = find_fetch(pull, digest);
	if (f) {
		/* Started meanwhile: join it. */
		w->next = f->waiters;
		f->waiters = w;
		pthread_mutex_unlock(&pull->lock);
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&pull->lock);
		free(w);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	f->pull = pull;
	f->up = up;
	f->size = size;
	f->waiters = w;
	snprintf(f->digest, sizeof(f->digest), "%s", digest);
	rfs_upstream_remote_repo(up, tag->repo, f->remote, sizeof(f->remote));
	snprintf(f->what, sizeof(f->what), "%s", what);
	snprintf(f->repo, sizeof(f->repo), "%s", tag->repo);
	snprintf(f->tag, sizeof(f->tag), "%s", tag->name);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&thread, &attr, download, f);
	pthread_attr_destroy(&attr);
	if (rc) {
		pthread_mutex_unlock(&pull->lock);
		free(f);
		free(w);
		return rfs_error_set(err, rc, "cannot start a download");
	}
	f->next = pull->fetches;
	pull->fetches = f;
	pull->downloads++;
	pthread_mutex_unlock(&pull->lock);
	return 0;
}

int rfs_pull_fetch(struct rfs_pull *pull, const struct rfs_tag *tag,
		   const char *digest, uint64_t size, rfs_fetch_done_fn done,
		   void *ctx, struct rfs_error *err)
{
	return start_fetch(pull, tag, digest, size, false, done, ctx, err);
}

struct fetch_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool finished;
	int rc;
	struct rfs_error err;
};

static void wake(void *ctx, int fd, const struct rfs_error *err)
{
	struct fetch_wait *fw = ctx;

	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&fw->lock);
	fw->rc = fd < 0 ? fd : 0;
	if (err)
		fw->err = *err;
	fw->finished = true;
	pthread_cond_signal(&fw->cond);
	pthread_mutex_unlock(&fw->lock);
}

int rfs_pull_fetch_wait(struct rfs_pull *pull, const struct rfs_tag *tag,
			const char *digest, uint64_t size,
			struct rfs_error *err)
{
	struct fetch_wait fw = { .finished = false };
	int rc;

	pthread_mutex_init(&fw.lock, NULL);
	pthread_cond_init(&fw.cond, NULL);
	rc = start_fetch(pull, tag, digest, size, true, wake, &fw, err);
	if (rc == 0) {
		pthread_mutex_lock(&fw.lock);
		while (!fw.finished)
			pthread_cond_wait(&fw.cond, &fw.lock);
		pthread_mutex_unlock(&fw.lock);
		rc = fw.rc;
		if (rc && err)
			*err = fw.err;
	}
	pthread_cond_destroy(&fw.cond);
	pthread_mutex_destroy(&fw.lock);
	return rc < 0 ? rc : 0;
}

void rfs_pull_blob_opened(struct rfs_pull *pull, const char *digest)
{
	struct opened *o;

	pthread_mutex_lock(&pull->lock);
	o = use_locked(pull, digest);
	if (o)
		o->count++;
	pthread_mutex_unlock(&pull->lock);
}

void rfs_pull_blob_closed(struct rfs_pull *pull, const char *digest)
{
	struct opened *o;

	pthread_mutex_lock(&pull->lock);
	o = find_opened(pull, digest);
	if (o && o->count > 0)
		o->count--;
	pthread_mutex_unlock(&pull->lock);
}

/* Eviction ------------------------------------------------------------ */

struct candidates {
	struct rfs_blob *blobs;
	size_t n, cap;
};

static int add_candidate(void *ctx, const struct rfs_blob *blob)
{
	struct candidates *c = ctx;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *p = realloc(c->blobs, cap * sizeof(*c->blobs));

		if (!p)
			return -ENOMEM;
		c->blobs = p;
		c->cap = cap;
	}
	c->blobs[c->n++] = *blob;
	return 0;
}

static int by_last_access(const void *a, const void *b)
{
	const struct rfs_blob *x = a, *y = b;

	return (x->last_access_ns > y->last_access_ns) -
	       (x->last_access_ns < y->last_access_ns);
}

int64_t rfs_pull_evict(struct rfs_pull *pull, uint64_t max,
		       struct rfs_error *err)
{
	struct rfs_catalog *cat = pull_catalog(pull);
	struct rfs_seal *dropped[MAX_PARTIALS];
	struct candidates c = { 0 };
	int n_dropped = 0;
	uint64_t total;
	int64_t freed = 0;
	int rc;

	if (max == 0)
		return 0;
	rc = rfs_catalog_cached_bytes(cat, &total);
	if (rc)
		return rc;
	/* Bytes being fetched, and kept for a resume, count too; kept ones
	 * go first when the cache is over. */
	pthread_mutex_lock(&pull->lock);
	total += staged_locked(pull);
	for (int i = MAX_PARTIALS - 1; i >= 0 && total > max; i--) {
		struct rfs_seal *seal = pull->partials[i].seal;

		if (!seal)
			continue;
		pull->partials[i].seal = NULL;
		total -= rfs_seal_size(seal);
		freed += (int64_t)rfs_seal_size(seal);
		dropped[n_dropped++] = seal;
	}
	pthread_mutex_unlock(&pull->lock);
	while (n_dropped > 0)
		rfs_seal_free(&dropped[--n_dropped]);
	if (total <= max)
		return freed;
	rc = rfs_catalog_list_evictable(cat, add_candidate, &c);
	if (rc) {
		free(c.blobs);
		return rfs_error_set(err, rc, "cannot list cached blobs");
	}
	pthread_mutex_lock(&pull->lock);
	/* Uses seen by this process are newer than what the catalog has. */
	for (size_t i = 0; i < c.n; i++) {
		struct opened *o = find_opened(pull, c.blobs[i].digest);

		if (o && o->last_ns > c.blobs[i].last_access_ns)
			c.blobs[i].last_access_ns = o->last_ns;
	}
	qsort(c.blobs, c.n, sizeof(*c.blobs), by_last_access);
	for (size_t i = 0; i < c.n && total > max; i++) {
		struct opened *o = find_opened(pull, c.blobs[i].digest);
		char path[4096];

		if ((o && o->count > 0) || find_fetch(pull, c.blobs[i].digest))
			continue;
		if (rfs_store_blob_path(pull->store, c.blobs[i].digest, path,
					sizeof(path)) != 0)
			continue;
		/* The catalog first: a kill between the two leaves a file the
		 * catalog calls absent (fetched again on its next read, the
		 * file replaced), never a blob it calls present with no file,
		 * which fsck would report missing. */
		if (rfs_catalog_blob_set_present(cat, c.blobs[i].digest,
						 false) != 0)
			continue;
		if (unlink(path) < 0 && errno != ENOENT) {
			rfs_catalog_blob_set_present(cat, c.blobs[i].digest,
						     true);
			continue;
		}
		total -= c.blobs[i].size;
		freed += (int64_t)c.blobs[i].size;
	}
	pthread_mutex_unlock(&pull->lock);
	free(c.blobs);
	return freed;
}

/* The layers of a folder tag, all listed before the first is fetched:
 * the listing holds the catalog's lock, which a download takes to record
 * its blob. */
struct layer_list {
	struct rfs_layer *v;
	size_t n, cap;
};

static int add_layer(void *ctx, const struct rfs_layer *layer)
{
	struct layer_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct rfs_layer *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *layer;
	return 0;
}

int rfs_pull_fetch_tag(struct rfs_pull *pull, const struct rfs_tag *tag,
		       struct rfs_error *err)
{
	struct layer_list l = { 0 };
	int rc;

	if (tag->kind == RFS_TAG_FILE)
		return rfs_pull_fetch_wait(pull, tag, tag->digest, tag->size,
					   err);
	rc =
	    rfs_catalog_list_layers(pull_catalog(pull), tag->id, add_layer, &l);
	if (rc < 0)
		rc = rfs_error_set(err, rc, "cannot list the layers of '%s:%s'",
				   tag->repo, tag->name);
	for (size_t i = 0; !rc && i < l.n; i++)
		rc = rfs_pull_fetch_wait(pull, tag, l.v[i].digest, l.v[i].size,
					 err);
	free(l.v);
	return rc;
}
