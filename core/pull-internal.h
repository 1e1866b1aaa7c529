/*
 * pull-internal.h - what the pull-through cache's files share; not for
 * other modules, which use pull.h.
 *
 *   pull.c          the cache: tag lists, downloads and their readers,
 *                   eviction
 *   pull-resolve.c  tags resolved on an upstream and pinned, the
 *                   require_signature check of upstream tags, refreshes,
 *                   the upstream a store remembers
 *
 * Locking is pull.c's (see the head of that file): pull->lock guards the
 * tables below and is never held while talking to an upstream.
 */
#ifndef RFS_PULL_INTERNAL_H
#define RFS_PULL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pull.h"
#include "seal.h"

/* Broken downloads whose bytes are kept for a resume. */
#define MAX_PARTIALS 4

struct waiter {
	struct waiter *next;
	rfs_fetch_done_fn done;
	void *ctx;
	bool stored; /* waits for the blob to be stored, not just verified */
};

struct fetch {
	struct fetch *next;
	struct rfs_pull *pull;
	struct rfs_upstream *up;
	char digest[RFS_DIGEST_STR_MAX + 1];
	char remote[RFS_REPO_MAX + 1];
	char what[RFS_REPO_MAX + RFS_TAG_MAX + 128];
	/* The tag it is fetched for, as the seal hook is told. */
	char repo[RFS_REPO_MAX + 1];
	char tag[RFS_TAG_MAX + 1];
	uint64_t size;
	/* Bytes in its staged file (the sink's; read under the lock), and
	 * when free space and cache_max were last looked at. */
	uint64_t written;
	uint64_t checked, cache_checked;
	struct waiter *waiters;
	/* Once the bytes are verified, while they are being stored: readers
	 * joining then are served at once. */
	struct rfs_seal *verified;
};

struct partial {
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_seal *seal;
	int64_t kept_ns;
};

/* A blob readers opened in this process: how many hold it, and when it was
 * last used (kept here rather than written on every open). */
struct opened {
	char digest[RFS_DIGEST_STR_MAX + 1];
	int count;
	int64_t last_ns;
};

struct tag_list {
	struct tag_list *next;
	char repo[RFS_REPO_MAX + 1];
	int rc; /* of the last tags/list call */
	int64_t fetched_ns;
	char **names;
	size_t n, cap;
};

struct rfs_pull {
	struct rfs_store *store;
	struct rfs_upstream **ups;
	size_t n_ups;
	uint64_t cache_max;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int downloads; /* threads running */
	/* Set by rfs_pull_close; the downloads' upstream calls ask it. */
	atomic_bool closing;
	struct rfs_cancel closing_cancel;
	struct fetch *fetches;
	struct partial partials[MAX_PARTIALS];
	struct opened *opened;
	size_t n_opened, cap_opened;
	struct tag_list *lists;
	rfs_pull_log_fn log; /* errors nobody waits for */
};

static inline struct rfs_catalog *pull_catalog(struct rfs_pull *pull)
{
	return rfs_store_catalog(pull->store);
}

/* The upstream serving repo (the longest matching prefix), and repo's name
 * there in remote; NULL when none serves it. */
struct rfs_upstream *pull_serving(struct rfs_pull *pull, const char *repo,
				  char *remote, size_t size);
/* The upstream called name, or NULL. */
struct rfs_upstream *pull_by_name(struct rfs_pull *pull, const char *name);
/* Is tag surely absent upstream, going by a fresh tag list? */
bool pull_surely_absent(struct rfs_pull *pull, struct rfs_upstream *up,
			const char *repo, const char *tag);

#endif
