/*
 * upstream-internal.h - what the upstream client's source files share; not
 * for other modules, which use upstream.h.
 *
 * The client is split by concern, as curl's lib/ is:
 *
 *   upstream.c         configuration, the handle (its URL, the repositories
 *                      it serves), the pool of easy handles and the share
 *   upstream-call.c    the transport: one call with its deadline, retries,
 *                      backoff and resumes, over libcurl
 *   upstream-answer.c  reading an answer: errno tables, status texts,
 *                      headers, Retry-After, the registry's error body
 *   upstream-auth.c    credentials, the token cache, WWW-Authenticate
 *                      challenges and the bearer-token flow
 *   upstream-pull.c    the calls that read: manifests, tag and repository
 *                      lists, blobs, ping
 *   upstream-push.c    the calls that write: blob exists and mount, upload
 *                      sessions, manifest PUT
 *
 * A struct call lives on its caller's stack for one API call (which may
 * make several requests); struct rfs_upstream is shared between threads,
 * and what its lock guards is said below.
 */
#ifndef RFS_UPSTREAM_INTERNAL_H
#define RFS_UPSTREAM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "credentials.h"
#include "error.h"
#include "upstream.h"

#define URL_MAX	       2048
#define HOST_MAX       512
#define POOL_MAX       8
#define TOKEN_BODY_MAX (64 << 10)
#define ERROR_BODY_MAX 2048
#define SIZE_UNKNOWN   UINT64_MAX
/* Repositories (and the whole upstream) remembered as unreachable. */
#define DOWN_MAX 32
/* Pages of one tag or repository list, whatever list_max says. */
#define LIST_PAGES_MAX 1000

/* What a bearer token is fetched with, from a WWW-Authenticate challenge. */
struct bearer {
	char *realm;
	char *service;
	char *scope; /* "" when the challenge names none */
};

/* A bearer token, cached under b.scope until expires. */
struct token {
	struct token *next;
	struct bearer b;
	char *value;
	int64_t expires; /* monotonic ms */
};

/* A scope that was found unreachable: calls for it fail at once until
 * until (ms). The scope "" is the whole upstream. */
struct down {
	char scope[RFS_REPO_MAX + 32];
	int64_t until;
	int rc;
};

/* The handle (upstream.h), shared between threads. */
struct rfs_upstream {
	struct rfs_upstream_config cfg; /* our own copy, normalised */
	char base[HOST_MAX + 16];	/* scheme://host[:port] */
	char host[HOST_MAX + 1]; /* host[:port], as credentials know it */
	bool plain_http;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t lock; /* guards what follows */
	CURL *pool[POOL_MAX];
	size_t n_pool;
	struct token *tokens;
	bool basic; /* the upstream asked for basic auth */
	/* After a call found the upstream unreachable, calls fail at once
	 * for a while: a dead upstream costs one timeout, not one per
	 * request of an "ls -l". A refused connection marks the whole
	 * upstream (scope ""); a timeout or a 429/503 only the call's scope
	 * (its repository), so one slow repository does not poison the
	 * others (upstream-call.c). */
	struct down down[DOWN_MAX];
};

/* What a request carries: nothing, basic credentials, or c->tok. */
enum auth_kind { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

/* One call: its budget, its auth state, and the attempt in flight. */
struct call {
	struct rfs_upstream *up;
	const char *what;  /* "manifest 'app:v1'", for messages */
	const char *scope; /* the token scope this call needs */
	const char *accept;
	const char *method; /* NULL for GET */
	bool follow;
	bool use_auth; /* false for the token endpoint itself */
	bool no_retry; /* a failure is final: the caller knows better */
	int64_t budget;
	int64_t deadline;
	bool moving_deadline;
	int64_t began;	 /* when the request began (ms) */
	uint64_t moved;	 /* bytes received or sent since */
	bool rate_bound; /* the deadline is min_rate's, not the budget's */
	unsigned int retries, resumes;
	unsigned int seed;

	enum auth_kind auth;
	struct rfs_credential cred;
	struct token *tok; /* our copy of the token in use */
	bool tok_fresh;	   /* fetched during this call */

	/* A buffered body (manifests, tag lists, tokens). */
	char *buf;
	size_t len, cap, max;
	/* A streamed body (blobs). */
	rfs_sink_fn sink;
	void *ctx;
	int sink_rc;
	uint64_t want; /* the next byte of the blob to deliver */
	uint64_t skip; /* bytes to drop from a 200 answer to a Range */
	uint64_t size; /* the blob's size when known */
	/* A request body (uploads, manifests), read from source at
	 * body_off + body_pos as libcurl asks for it. */
	bool has_body;
	rfs_source_fn source;
	void *src_ctx;
	uint64_t body_off, body_len, body_pos;
	int source_rc;
	bool source_short; /* it ended before body_len */
	const char *content_type;
	char content_range[64]; /* "" for none */

	/* The attempt in flight. A handle whose setup or transfer failed
	 * is never used again nor pooled: libcurl may have left it in a
	 * state that refuses options (7.88 refuses CURLOPT_BUFFERSIZE once a
	 * transfer failed with its buffer allocated). */
	CURL *curl;
	bool curl_failed; /* its last transfer failed: not to be reused */
	bool started, body_ok, too_big, nomem, bad_range, expired, stalled;
	bool interrupted;     /* the thread's caller stopped waiting */
	curl_off_t last_xfer; /* bytes received and sent */
	int64_t last_rx;      /* when a byte last arrived */
	uint64_t got;	      /* bytes delivered to the sink by this attempt */
	char errbody[ERROR_BODY_MAX];
	size_t errlen;
	char errbuf[CURL_ERROR_SIZE];

	/* The last retryable failure, reported when retrying stops. */
	int last_code;
	char last_msg[256];
};

/* upstream.c --------------------------------------------------------- */

/* Wipe a secret (password, token) before freeing it; NULL is fine. */
void upstream_free_secret(char *s);
/* An easy handle from the pool (its connections alive), or a new one;
 * NULL when out of memory. */
CURL *upstream_handle_get(struct rfs_upstream *up);
/* Reset h and keep it in the pool, or clean it up when the pool is full. */
void upstream_handle_put(struct rfs_upstream *up, CURL *h);
/* Format a URL into url (URL_MAX bytes): 0 or -ENAMETOOLONG. */
int upstream_make_url(char *url, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* 0 when repo is a valid repository name, else -EINVAL in err. */
int upstream_check_repo(struct rfs_upstream *up, const char *repo,
			struct rfs_error *err);
/* Append "&key=escaped(value)" to url (h may be NULL): 0, -ENOMEM or
 * -ENAMETOOLONG. */
int upstream_add_param(CURL *h, char *url, size_t size, const char *key,
		       const char *value, size_t vlen);

/* upstream-call.c ---------------------------------------------------- */

/* Monotonic time in ms. */
int64_t upstream_now_ms(void);
/* Sleep ms, through signals; less when the caller stops waiting. */
void upstream_sleep_ms(int64_t ms);
/* Has the caller of this thread's calls stopped waiting (upstream.h)? */
bool upstream_cancelled(void);
/* Set err to code with the call's context (upstream, URL, what was asked,
 * retries and resumes); returns code. */
int upstream_fail(struct call *c, struct rfs_error *err, int code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A request starts: its budget, and min_rate's count, from now. */
void upstream_start_clock(struct call *c);
/* A call to up about what (for messages) needing scope: anonymous until
 * upstream_auth_start, with the upstream's budget from now. */
void upstream_call_init(struct call *c, struct rfs_upstream *up,
			const char *what, const char *scope);
/* Give the easy handle back to the pool; free the call's credentials,
 * token and body. */
void upstream_call_release(struct call *c);
/* Give the call's easy handle back to the pool, or clean it up when its
 * last transfer failed. */
void upstream_call_drop_handle(struct call *c);
/* The n-th retry's delay: exponential backoff with equal jitter. */
int64_t upstream_backoff_delay(struct call *c, unsigned int n);
/* One request to url with its retries, resumes and auth, within the
 * call's deadline (failing at once, but for blobs, while the upstream, or
 * the call's scope, was found unreachable a moment ago): 0, or a negative
 * errno with err set. */
int upstream_call_run(struct call *c, const char *url, struct rfs_error *err);

/* upstream-answer.c -------------------------------------------------- */

/* "not found" for 404: a status in words, for messages. */
const char *upstream_http_text(long status);
/* The index-th value of header name in the last answer, or NULL. */
const char *upstream_get_header_at(CURL *h, const char *name, size_t index);
/* The first value of header name in the last answer, or NULL. */
const char *upstream_get_header(CURL *h, const char *name);
/* How many times header name came in the last answer. */
size_t upstream_header_count(CURL *h, const char *name);
/* Content-Range's first byte and total (SIZE_UNKNOWN when absent); false
 * when there is none or it cannot be read. */
bool upstream_content_range(CURL *h, uint64_t *first, uint64_t *total);
/* Retry-After in ms (at most a day), or -1 when absent or unreadable. */
int64_t upstream_retry_after(CURL *h);
/* " (CODE)" from the answer's error body, or with full " (CODE: message:
 * detail)"; "" when the body has none. */
void upstream_error_code(const struct call *c, bool full, char *buf,
			 size_t size);
/* Is the registry's error code in the answer this one? */
bool upstream_error_is(const struct call *c, const char *want);

/* upstream-auth.c ---------------------------------------------------- */

/* Free a token, wiping its value; NULL is fine. */
void upstream_token_free(struct token *t);
/* Start the call's auth from what the upstream has taught us: a cached
 * token for its scope, or basic credentials if it asked for them. */
void upstream_auth_start(struct call *c);
/* A 401 or 403: set the call up to send what the challenge asks for next
 * time (0), or give up (a negative errno, err set). */
int upstream_on_denied(struct call *c, long status, struct rfs_error *err);

#endif
