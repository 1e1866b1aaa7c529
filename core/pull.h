/*
 * pull.h - the pull-through cache: tags and blobs of upstream registries,
 * resolved on demand, pinned in the catalog and fetched once into the store.
 *
 * Resolution: a tag the catalog does not have is looked up on the upstream
 * whose prefix serves its repository; what it resolves to is pinned in the
 * catalog like a local tag, so its digest never changes under a reader. A
 * pinned tag is resolved again only when its upstream's tag_ttl has passed
 * or on rfs_pull_refresh(); a new digest gets a new catalog row (a new
 * inode), never new content under an open file. While an upstream cannot be
 * reached, what is pinned and fetched is still served. A file tag is pinned
 * with the mode and mtime of its layer's annotations (manifest.h), where
 * they are there and well formed; else 0644, dated by the pin.
 *
 * Fetching: however many readers ask for a missing blob at once, there is
 * one download; each reader is called back when the blob is verified and
 * stored, or when the download failed. Nobody ever gets unverified bytes.
 * A download that breaks off is resumed with a Range request, and what was
 * received is kept for the next try when the upstream stays away.
 *
 * Eviction: with a cache_max, fetched blobs are evicted least recently used
 * first once their total passes it; content published here and blobs of
 * open files never are. An evicted tag stays listed and is fetched again.
 *
 * All functions are thread-safe. Callbacks run on a download thread.
 */
#ifndef RFS_PULL_H
#define RFS_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "error.h"
#include "store.h"
#include "upstream.h"

struct rfs_pull;

int rfs_pull_new(struct rfs_store *store, const struct rfs_config *cfg,
		 struct rfs_pull **out, struct rfs_error *err);

/* The upstream of -o upstream=URL is named 'default' in the tags it pins.
 * The daemon keeps its URL in the store (remember). regctl's upstreams
 * are rfs_config_from_options's (file, upstream_url) and, given neither
 * upstream_url nor an upstream 'default' in file, the one the store
 * keeps, if any: so it refreshes and prefetches through the same upstream
 * as the mount. */
int rfs_pull_remember_default(struct rfs_store *store, const char *url,
			      struct rfs_error *err);
int rfs_pull_config_for_store(struct rfs_store *store, struct rfs_config *cfg,
			      const char *file, const char *upstream_url,
			      struct rfs_error *err);
/* Stop the downloads under way, for a shutdown: each ends within about a
 * second ("interrupted"), its waiters told it failed, and none starts
 * after (rfs_pull_fetch_untagged's too). Its bytes are not kept. Safe
 * from any thread, more than once. */
void rfs_pull_close(struct rfs_pull *pull);
/* rfs_pull_close, then waits for the downloads to end, and frees. */
void rfs_pull_free(struct rfs_pull **pull);

/* Is repository path (or a folder above one) served by an upstream? */
bool rfs_pull_serves(struct rfs_pull *pull, const char *path);

enum rfs_repo_state {
	RFS_REPO_UNKNOWN, /* no upstream serves it, or it cannot be reached */
	RFS_REPO_EXISTS,  /* the upstream lists tags for it */
	RFS_REPO_ABSENT,  /* the upstream has no repository of that name */
};
/* Does the upstream have a repository at path (its tags/list, cached)? */
enum rfs_repo_state rfs_pull_repo_state(struct rfs_pull *pull,
					const char *path);

/* Is there a folder at path upstream: a repository, or a level above one?
 * Answered from the upstream's repository catalog (/v2/_catalog, cached);
 * RFS_REPO_UNKNOWN where the upstream does not offer one. */
enum rfs_repo_state rfs_pull_folder_state(struct rfs_pull *pull,
					  const char *path);

/* repo:tag as the catalog has it, resolving it upstream when it does not
 * (or when its tag_ttl has passed). -ENOENT when nobody has it; when the
 * upstream cannot be reached and nothing is pinned, the upstream's error. */
int rfs_pull_resolve(struct rfs_pull *pull, const char *repo, const char *tag,
		     struct rfs_tag *out, struct rfs_error *err);
/* May tag's content be served under the store's require_signature policy
 * (policy.h)? 0 when no signature is required or an ok verdict stands;
 * else the signatures are checked now, a pulled tag's on its upstream
 * (the tag is resolved again) and a local one's in the store: -EACCES,
 * with the reason in err, when none verifies or the upstream cannot be
 * asked. */
int rfs_pull_check_policy(struct rfs_pull *pull, const struct rfs_tag *tag,
			  struct rfs_error *err);
/* May rfs_pull_check_policy(tag) ask an upstream (a pulled tag in a
 * repository the policy covers, not yet verified with one of its keys)?
 * Then it may take as long as the upstream does; else it answers from the
 * store at once. */
bool rfs_pull_policy_asks_upstream(struct rfs_pull *pull,
				   const struct rfs_tag *tag);
/* Resolve an upstream tag again now; *changed tells whether it moved. */
int rfs_pull_refresh(struct rfs_pull *pull, const char *repo, const char *tag,
		     struct rfs_tag *out, bool *changed, struct rfs_error *err);

/* The tags the upstream lists for repo (cached for its list_ttl). */
int rfs_pull_list_tags(struct rfs_pull *pull, const char *repo, rfs_name_fn fn,
		       void *ctx, struct rfs_error *err);

/* The repositories the upstreams list in their catalogs (cached for
 * their list_ttl), named as here (with the upstream's prefix). An
 * upstream without a catalog, or that cannot be reached, adds none. */
int rfs_pull_list_repos(struct rfs_pull *pull, rfs_name_fn fn, void *ctx);

/* Where to report errors that no caller waits for (a fetched blob that
 * could not be stored after its readers had it). */
typedef void (*rfs_pull_log_fn)(const char *message);
void rfs_pull_set_log(struct rfs_pull *pull, rfs_pull_log_fn log);

/* Called once per caller of rfs_pull_fetch: fd >= 0 is a read-only
 * descriptor of the verified content, the callee's to close; else a
 * negative errno (-EBADMSG when the upstream sent bytes that do not
 * match). */
typedef void (*rfs_fetch_done_fn)(void *ctx, int fd,
				  const struct rfs_error *err);
/* Fetch the blob digest (of size bytes, of tag) for a reader. Returns 1
 * when it is in the store already; 0 when a download was started or
 * joined and done will be called (maybe before this returns), as soon as
 * the bytes are verified: the reader does not wait for them to be made
 * durable, and a crash before that leaves nothing in the store. A negative
 * errno when it cannot be fetched (a local blob that is gone, a tag whose
 * upstream is not configured). */
int rfs_pull_fetch(struct rfs_pull *pull, const struct rfs_tag *tag,
		   const char *digest, uint64_t size, rfs_fetch_done_fn done,
		   void *ctx, struct rfs_error *err);
/* Make the blob present in the store, waiting until it is stored. */
int rfs_pull_fetch_wait(struct rfs_pull *pull, const struct rfs_tag *tag,
			const char *digest, uint64_t size,
			struct rfs_error *err);

/* Fetch blob digest of repository repo from the upstream that serves
 * it, verified, without a tag that names it (an image's config, a blob a
 * client asks for by digest): no more than RFS_PULL_UNTAGGED_MAX bytes,
 * and no joining of concurrent downloads. Nothing records it: the caller
 * names it in the catalog, holding the store's gc lock (rfs_store_lock)
 * from before this call. 0 when it is in the store. */
#define RFS_PULL_UNTAGGED_MAX (64ULL << 20)
int rfs_pull_fetch_untagged(struct rfs_pull *pull, const char *repo,
			    const char *digest, struct rfs_error *err);

/* Fetch all the content of a pinned tag (its blob, or every layer of a
 * multi-layer tag), waiting: what regctl pull and prefetch do. */
int rfs_pull_fetch_tag(struct rfs_pull *pull, const struct rfs_tag *tag,
		       struct rfs_error *err);

/* A blob was opened or closed by a reader: open blobs are never evicted,
 * and opening one counts as a use for the LRU order. */
void rfs_pull_blob_opened(struct rfs_pull *pull, const char *digest);
void rfs_pull_blob_closed(struct rfs_pull *pull, const char *digest);

/* Evict fetched blobs, least recently used first, until they fit max
 * bytes (0: no limit). Returns how many bytes were freed or an error. */
int64_t rfs_pull_evict(struct rfs_pull *pull, uint64_t max,
		       struct rfs_error *err);

#endif
