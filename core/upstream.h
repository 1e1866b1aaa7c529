/*
 * upstream.h - a client of one remote OCI registry (the Distribution API),
 * over libcurl.
 *
 * It speaks just what pull-through, push and signatures need: manifests,
 * tag lists, blobs and referrers. Every call is bounded by the upstream's
 * total timeout: retries (on connection errors, 5xx and 429, with
 * exponential backoff, jitter and Retry-After) happen inside that budget,
 * and a call never hangs past it.
 * Authentication is anonymous, HTTP basic, or the bearer-token flow (a 401
 * with WWW-Authenticate: Bearer realm=,service=,scope=; the token is cached
 * until it expires and fetched again on 401 and 403). Secrets never appear
 * in error messages.
 *
 * A struct rfs_upstream may be used from several threads at once.
 *
 * A call made for someone who may stop waiting (a FUSE request the kernel
 * interrupts) can be cut short: see rfs_upstream_cancel_on_thread.
 */
#ifndef RFS_UPSTREAM_H
#define RFS_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cancel.h"
#include "error.h"
#include "names.h"

/* A manifest body larger than this is refused (the spec suggests 4 MiB). */
#define RFS_MANIFEST_MAX (4 << 20)

struct rfs_upstream_config {
	char *name; /* as in the config file; "default" for -o upstream= */
	char *url;  /* "https://host[:port]" or "http://..." */
	/* Repositories under registry/ this upstream serves: "hub/" serves
	 * registry/hub/<x>; "" serves every repository. */
	char *prefix;
	/* What the prefix maps to upstream: registry/hub/<x> is <root><x>
	 * there ("" by default; "library/" for Docker Hub style). */
	char *remote_root;
	/* Where credentials come from: "auto" (regfs's credentials file,
	 * then Docker's config.json), "none", or a file in either format. */
	char *credentials;
	/* Credentials given outright (regctl login checks them before it
	 * saves them); when username is set, credentials is not read. */
	char *username;
	char *password;
	char *ca_file;	 /* extra CA bundle, or NULL */
	bool plain_http; /* http:// allowed (an http:// url implies it) */
	bool tls_verify; /* true unless configured otherwise */
	/* Send the credentials to a token realm on another host or port over
	 * plain http (upstream-auth.c); off by default. */
	bool plain_realm_credentials;
	unsigned int connect_timeout_ms;
	unsigned int total_timeout_ms; /* the whole call, retries included */
	unsigned int retries;	       /* attempts after the first */
	unsigned int backoff_ms;       /* first retry delay; doubles */
	unsigned int backoff_max_ms;
	/* A blob transfer slower than this on average since its request
	 * began fails once it is past total_timeout_ms (upstream-call.c); 0: no
	 * floor. Bytes per second. */
	uint64_t min_rate;
	int64_t tag_ttl_s;  /* re-resolve a pinned tag after this; -1 never */
	int64_t list_ttl_s; /* keep a tags/list answer this long */
	unsigned int page_size; /* tags/list ?n=, 1000 by default */
	/* A blob larger than this is refused before it is fetched (when a
	 * manifest declares it) and as soon as more bytes arrive; 0: the
	 * default, RFS_BLOB_MAX_DEFAULT. */
	uint64_t max_blob_size;
	/* Names one tag or repository list may hold (over at most
	 * LIST_PAGES_MAX pages, upstream-internal.h); 0: the default,
	 * RFS_LIST_MAX_DEFAULT. */
	uint64_t list_max;
};

#define RFS_BLOB_MAX_DEFAULT (64ULL << 30)
#define RFS_LIST_MAX_DEFAULT 100000

/* Defaults: total 20 s, connect 5 s, 4 retries from 250 ms up to 4 s,
 * min_rate 16 KiB/s, tag_ttl never, list_ttl 60 s, tls_verify on,
 * credentials "auto", max_blob_size 64 GiB, list_max 100 000. */
void rfs_upstream_config_defaults(struct rfs_upstream_config *cfg);
void rfs_upstream_config_release(struct rfs_upstream_config *cfg);

struct rfs_upstream;

int rfs_upstream_new(const struct rfs_upstream_config *cfg,
		     struct rfs_upstream **out, struct rfs_error *err);
void rfs_upstream_free(struct rfs_upstream **up);

/*
 * Whom the calls this thread makes are for: while cancel says so, they end
 * with -EINTR ("interrupted"), within about a second (libcurl asks between
 * pieces of a transfer, and at least once a second while it waits), and a
 * retry's wait ends at once. An interrupted call says nothing of the
 * upstream: it is neither retried nor counted as the upstream's failure.
 * NULL: nobody to ask (the default). Returns the one it replaces, for the
 * caller to put back when its request is answered. Per thread, since the
 * calls of one request run on the thread that serves it, through layers
 * (pull, resolve, signatures) that need not know.
 */
const struct rfs_cancel *
rfs_upstream_cancel_on_thread(const struct rfs_cancel *cancel);
const struct rfs_upstream_config *
rfs_upstream_config(const struct rfs_upstream *up);

/* The upstream serving a local repository name, and the name there:
 * NULL when its prefix does not match. */
const char *rfs_upstream_remote_repo(const struct rfs_upstream *up,
				     const char *repo, char *buf, size_t size);

/* In the calls below, repo is the name upstream, as
 * rfs_upstream_remote_repo gives it.
 *
 * GET /v2/<repo>/manifests/<reference> with an Accept header naming the
 * OCI and Docker manifest and index types. The body is checked against
 * its sha256 (and against reference when it is a digest) and handed over
 * in *body (free() it). -ENOENT when the upstream has no such manifest,
 * -EACCES when credentials are refused, -ETIMEDOUT / -EHOSTUNREACH /
 * -ECONNREFUSED / -EIO when it cannot be reached in time, -EBADMSG on a
 * digest mismatch. */
struct rfs_manifest_blob {
	char *body;
	size_t len;
	char media_type[RFS_MEDIA_TYPE_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1];
};
int rfs_upstream_get_manifest(struct rfs_upstream *up, const char *repo,
			      const char *reference,
			      struct rfs_manifest_blob *out,
			      struct rfs_error *err);
void rfs_manifest_blob_release(struct rfs_manifest_blob *m);

/* GET /v2/<repo>/tags/list, following Link pagination; fn is called with
 * each tag. Same errors as above, and -EFBIG past list_max names or a body
 * over 8 MiB, -ELOOP past LIST_PAGES_MAX pages, -EPROTO for a body that is
 * not the JSON expected (too deeply nested, say). */
typedef int (*rfs_name_fn)(void *ctx, const char *name);
int rfs_upstream_list_tags(struct rfs_upstream *up, const char *repo,
			   rfs_name_fn fn, void *ctx, struct rfs_error *err);

/* GET /v2/_catalog, following Link pagination: every repository name the
 * upstream has. Many registries refuse it (-EACCES, -ENOENT). */
int rfs_upstream_list_repos(struct rfs_upstream *up, rfs_name_fn fn, void *ctx,
			    struct rfs_error *err);

/* GET /v2/<repo>/blobs/<digest>, streaming the bytes from offset on to
 * sink in order. When a transfer breaks off, it is resumed with a Range
 * request from the first byte not yet delivered (a server that ignores
 * Range is handled by skipping what was delivered). It does not verify
 * the digest: the caller hashes what it receives. A sink returning
 * non-zero aborts with that value. A blob whose Content-Length, or whose
 * bytes, go past max_blob_size fail with -EFBIG. */
typedef int (*rfs_sink_fn)(void *ctx, const void *buf, size_t len);
int rfs_upstream_get_blob(struct rfs_upstream *up, const char *repo,
			  const char *digest, uint64_t offset, rfs_sink_fn sink,
			  void *ctx, struct rfs_error *err);

/* GET /v2/<repo>/referrers/<digest>[?artifactType=T]: the image index of
 * the manifests whose subject is digest (*body, free() it; at most
 * RFS_MANIFEST_MAX bytes). A registry may ignore the filter: the caller
 * checks each entry's artifactType. -ENOENT when the registry answers 404
 * (it does not speak the referrers API, as Distribution 2.8); other errors
 * as above. */
int rfs_upstream_referrers(struct rfs_upstream *up, const char *repo,
			   const char *digest, const char *artifact_type,
			   char **body, size_t *len, struct rfs_error *err);

/* GET /v2/: reachable, credentials accepted. */
int rfs_upstream_ping(struct rfs_upstream *up, struct rfs_error *err);

/* Pushing ------------------------------------------------------------ */

/* HEAD /v2/<repo>/blobs/<digest>: 0 and its size when the upstream has it,
 * -ENOENT when not. */
int rfs_upstream_blob_exists(struct rfs_upstream *up, const char *repo,
			     const char *digest, uint64_t *size,
			     struct rfs_error *err);

/* POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from_repo>: 0 when
 * the upstream linked the blob from another of its repositories, -ENOENT
 * when it could not (any upload session it opened instead is cancelled). */
int rfs_upstream_blob_mount(struct rfs_upstream *up, const char *repo,
			    const char *digest, const char *from_repo,
			    struct rfs_error *err);

/* Reads len bytes of the content at offset into buf: the number read, 0
 * at the end, or a negative errno. */
typedef ssize_t (*rfs_source_fn)(void *ctx, void *buf, size_t len,
				 uint64_t offset);
/* The source of bytes held in memory: ctx is a struct rfs_mem_source. */
struct rfs_mem_source {
	const void *buf;
	size_t len;
};
ssize_t rfs_mem_source_read(void *ctx, void *buf, size_t len, uint64_t offset);
/* Told how far an upload has come. */
typedef void (*rfs_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Upload size bytes read from source as blob digest of repo: one PUT for a
 * blob of at most chunk_size bytes, else a session of PATCH chunks of
 * chunk_size (Content-Range) and a closing PUT ?digest=. When a chunk
 * fails, the session's offset is asked (GET of the upload URL, its Range
 * header) and the upload goes on from there; only when the session itself
 * is gone does it start over. The budget is per request. */
int rfs_upstream_blob_upload(struct rfs_upstream *up, const char *repo,
			     const char *digest, uint64_t size,
			     rfs_source_fn source, uint64_t chunk_size,
			     rfs_progress_fn progress, void *ctx,
			     struct rfs_error *err);

/* PUT /v2/<repo>/manifests/<reference> with Content-Type media_type. */
int rfs_upstream_put_manifest(struct rfs_upstream *up, const char *repo,
			      const char *reference, const char *media_type,
			      const char *body, size_t len,
			      struct rfs_error *err);

/* Map an HTTP status to a negative errno (upstream-answer.c). */
int rfs_errno_from_http(long status);
/* Map a libcurl CURLcode to a negative errno (upstream-answer.c). */
int rfs_errno_from_curl(int curl_code);

#endif
