/*
 * upstream.c - a client of one remote OCI registry (see upstream.h), over
 * libcurl, with jansson for the JSON it reads.
 *
 * What it promises, beyond the header:
 *
 * - Time. A call gets a deadline of total_timeout_ms from its start. Each
 *   attempt runs with CURLOPT_TIMEOUT_MS set to what is left, backoff never
 *   sleeps past it, and a token fetch inside the call shares it. For a blob
 *   the deadline moves on with every byte handed to the sink (for an
 *   upload, every byte sent): the budget bounds the time spent without
 *   progress (connecting, retrying, stalled), not the length of a healthy
 *   transfer of a large blob. A stall (no byte either way for a quarter of
 *   the budget, 1 to 30 s) ends an attempt, which is then retried or
 *   resumed. Each request of an upload has a budget of its own. So that
 *   an upstream trickling a byte now and then cannot hold a reader for
 *   ever, the deadline never moves past the budget plus the time the
 *   bytes moved so far would take at cfg->min_rate, counted from the
 *   request's start: a transfer slower than that on average fails.
 * - Retries: connection errors, a timed-out attempt, 429, 500, 502, 503 and
 *   504 are retried, at most cfg->retries times, after
 *   backoff_ms * 2^n (capped at backoff_max_ms) with equal jitter, or after
 *   Retry-After (seconds or an HTTP date) when the answer carries one. A
 *   wait that would end past the deadline is not started: the call fails
 *   with the last error at once. Other 4xx answers are final. A broken blob
 *   transfer that delivered bytes is resumed at once with a Range request
 *   and does not count as a retry. PUT and POST are retried the same way
 *   (a manifest PUT and the PUT closing an upload are idempotent; a
 *   repeated POST opens one more session at worst), PATCH never: a chunk
 *   that failed is followed by a GET of the session, which says from
 *   which byte to go on (its Range, "0-LAST", where Distribution writes
 *   "0-0" for an empty session as well). A session the registry forgot
 *   (404, or 400 BLOB_UPLOAD_INVALID / BLOB_UPLOAD_UNKNOWN: Distribution
 *   2.8 cancels a session whose _state no longer matches what it holds,
 *   which is what a PATCH broken midway leaves) is started over, at most
 *   cfg->retries times. A chunk_size of 0 means one PUT whatever the
 *   size. Bodies are read from the source as libcurl sends them, never
 *   held whole; "Expect: 100-continue" is not used.
 * - Upload locations may be relative or absolute; their query (_state) is
 *   kept, digest= is added with '&' or '?'. One on another scheme, host
 *   or port than the upstream's is refused: credentials would go with it.
 * - Plain http. An http:// URL is its own permission (upstream.h: it implies
 *   plain_http). plain_http on an https:// upstream lets redirects and a
 *   token realm use http too; without it only https is spoken. Only http
 *   and https are ever spoken.
 * - Redirects: only blob GETs and HEADs (and token fetches) follow them,
 *   since registries send blobs to storage elsewhere. Credentials are set
 *   through CURLOPT_HTTPAUTH, which libcurl sends to the first host only
 *   (no CURLOPT_UNRESTRICTED_AUTH).
 * - Auth. A call starts anonymous, unless this upstream already asked for
 *   basic auth (then the credentials go at once) or a token for the call's
 *   scope ("repository:<repo>:pull", ":pull,push" to push, "" for /v2/) is
 *   cached. A 401 Basic challenge is answered with cfg->username and
 *   cfg->password when they are given, else rfs_credentials_lookup(
 *   host[:port]); a 401 Bearer challenge with a token from the realm (GET
 *   with service= and scope=, basic credentials when there are some). The
 *   scope asked is the call's own, plus what the challenge names that it
 *   does not cover: Distribution asks a mount for "repository:<to>:pull,
 *   push repository:<from>:pull" in no fixed order (nor of the actions),
 *   and a token is cached under the call's spelling. Cancelling a session
 *   takes the delete action, a token of its own. Tokens are cached per
 *   scope for expires_in (60 s when absent), less a tenth of it (at most
 *   30 s). A token refused (401 or 403) is dropped; a cached one is
 *   fetched again once, a fresh one is final. Docker's OAuth2 identity
 *   tokens are not spoken. Passwords and tokens never reach a message.
 * - errno (one table per domain, below): 404 -ENOENT, 401/403 -EACCES,
 *   429 and 503 -EAGAIN (try later), 504 -ETIMEDOUT, other 5xx -EIO,
 *   416 -ERANGE; curl: a timeout -ETIMEDOUT, refused -ECONNREFUSED, no
 *   name -EHOSTUNREACH, TLS -EPROTO, a broken transfer -EIO. A call whose
 *   budget ran out is -ETIMEDOUT.
 * - Connections are kept alive between calls in a small pool of easy
 *   handles; DNS answers and TLS sessions are shared through one CURLSH
 *   (libcurl does not support sharing its connection cache between threads).
 * - Prefixes: a non-empty prefix or remote_root gets a final '/' if it
 *   lacks one ("hub" serves "hub/x", never "hubble/x").
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "credentials.h"
#include "digest.h"
#include "upstream.h"

#define URL_MAX	       2048
#define HOST_MAX       512
#define POOL_MAX       8
#define TOKEN_BODY_MAX (64 << 10)
#define TAGS_BODY_MAX  (8 << 20)
#define ERROR_BODY_MAX 2048
#define MAX_REDIRS     5
#define SIZE_UNKNOWN   UINT64_MAX

#define ACCEPT_MANIFESTS                                         \
	"Accept: application/vnd.oci.image.manifest.v1+json, "   \
	"application/vnd.oci.image.index.v1+json, "              \
	"application/vnd.docker.distribution.manifest.v2+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json"

/* What a bearer token is fetched with, from a WWW-Authenticate challenge. */
struct bearer {
	char *realm;
	char *service;
	char *scope; /* "" when the challenge names none */
};

struct token {
	struct token *next;
	struct bearer b;
	char *value;
	int64_t expires; /* monotonic ms */
};

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
	 * until down_until (ms): a dead upstream costs one timeout, not one
	 * per request of an "ls -l". */
	int64_t down_until;
	int down_rc;
};

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

	/* The attempt in flight. */
	CURL *curl;
	bool started, body_ok, too_big, nomem, bad_range, expired, stalled;
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

/* ---- errno tables ---- */

int rfs_errno_from_http(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	switch (status) {
	case 400: return -EINVAL;
	case 401:
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 405: return -EOPNOTSUPP;
	case 408: return -ETIMEDOUT;
	case 409: return -EBUSY;
	case 413: return -EFBIG;
	case 414: return -ENAMETOOLONG;
	case 416: return -ERANGE;
	case 429: return -EAGAIN;
	case 503: return -EAGAIN;
	case 504: return -ETIMEDOUT;
	default:
		if (status >= 500 && status < 600)
			return -EIO;
		return -EPROTO; /* 1xx, unfollowed 3xx, other 4xx */
	}
}

int rfs_errno_from_curl(int curl_code)
{
	switch ((CURLcode)curl_code) {
	case CURLE_OK: return 0;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED: return -EPROTO;
	case CURLE_UNSUPPORTED_PROTOCOL: return -EPROTONOSUPPORT;
	case CURLE_URL_MALFORMAT: return -EINVAL;
	case CURLE_TOO_MANY_REDIRECTS: return -ELOOP;
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED: return -EFBIG;
	case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
	case CURLE_WEIRD_SERVER_REPLY: return -EPROTO;
	default: return -EIO; /* a broken transfer, a write error, ... */
	}
}

/* Worth another attempt: the network or the server may do better. */
static bool curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR: return true;
	default: return false;
	}
}

static bool http_retryable(long status)
{
	return status == 429 || status == 500 || status == 502 ||
	       status == 503 || status == 504;
}

static const char *http_text(long status)
{
	switch (status) {
	case 400: return "bad request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not found";
	case 405: return "method not allowed";
	case 406: return "not acceptable";
	case 408: return "request timeout";
	case 409: return "conflict";
	case 413: return "content too large";
	case 414: return "uri too long";
	case 416: return "range not satisfiable";
	case 429: return "too many requests";
	case 500: return "internal server error";
	case 501: return "not implemented";
	case 502: return "bad gateway";
	case 503: return "service unavailable";
	case 504: return "gateway timeout";
	default: return "unexpected status";
	}
}

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void bearer_release(struct bearer *b)
{
	free(b->realm);
	free(b->service);
	free(b->scope);
	memset(b, 0, sizeof(*b));
}

static void token_free(struct token *t)
{
	if (t) {
		bearer_release(&t->b);
		free_secret(t->value);
		free(t);
	}
}

static struct token *token_dup(const struct token *t)
{
	struct token *copy = calloc(1, sizeof(*copy));

	if (!copy)
		return NULL;
	copy->b.realm = strdup(t->b.realm);
	copy->b.service = strdup(t->b.service);
	copy->b.scope = strdup(t->b.scope);
	copy->value = strdup(t->value);
	copy->expires = t->expires;
	if (!copy->b.realm || !copy->b.service || !copy->b.scope ||
	    !copy->value) {
		token_free(copy);
		return NULL;
	}
	return copy;
}

/* Fill err with the call's context: upstream, URL, what was asked. */
static int fail(struct call *c, struct rfs_error *err, int code,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct call *c, struct rfs_error *err, int code,
		const char *fmt, ...)
{
	char detail[320];
	char extra[64] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (c->retries && c->resumes)
		snprintf(extra, sizeof(extra),
			 " (after %u retries and %u resumes)", c->retries,
			 c->resumes);
	else if (c->retries)
		snprintf(extra, sizeof(extra), " (after %u retr%s)", c->retries,
			 c->retries == 1 ? "y" : "ies");
	else if (c->resumes)
		snprintf(extra, sizeof(extra), " (after %u resume%s)",
			 c->resumes, c->resumes == 1 ? "" : "s");
	return rfs_error_set(err, code, "upstream '%s' (%s): %s: %s%s",
			     c->up->cfg.name, c->up->base, c->what, detail,
			     extra);
}

/* ---- configuration ---- */

void rfs_upstream_config_defaults(struct rfs_upstream_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->prefix = strdup("");
	cfg->remote_root = strdup("");
	cfg->credentials = strdup("auto"); /* NULL reads as "auto" too */
	cfg->tls_verify = true;
	cfg->connect_timeout_ms = 5000;
	cfg->total_timeout_ms = 20000;
	cfg->retries = 4;
	cfg->backoff_ms = 250;
	cfg->backoff_max_ms = 4000;
	cfg->min_rate = 16 << 10;
	cfg->tag_ttl_s = -1;
	cfg->list_ttl_s = 60;
	cfg->page_size = 1000;
}

void rfs_upstream_config_release(struct rfs_upstream_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->name);
	free(cfg->url);
	free(cfg->prefix);
	free(cfg->remote_root);
	free(cfg->credentials);
	free_secret(cfg->username);
	free_secret(cfg->password);
	free(cfg->ca_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* *dst = src (or def when src is NULL), with a final '/' if slash and
 * the result is not empty. */
static int copy_str(char **dst, const char *src, const char *def, bool slash)
{
	size_t n;

	if (!src)
		src = def;
	if (!src) {
		*dst = NULL;
		return 0;
	}
	n = strlen(src);
	*dst = malloc(n + 2);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, n + 1);
	if (slash && n && src[n - 1] != '/')
		memcpy(*dst + n, "/", 2);
	return 0;
}

static int copy_config(struct rfs_upstream_config *dst,
		       const struct rfs_upstream_config *src)
{
	*dst = *src;
	dst->name = dst->url = dst->prefix = dst->remote_root = NULL;
	dst->credentials = dst->ca_file = NULL;
	dst->username = dst->password = NULL;
	if (copy_str(&dst->name, src->name && *src->name ? src->name : NULL,
		     "default", false) ||
	    copy_str(&dst->url, src->url, NULL, false) ||
	    copy_str(&dst->prefix, src->prefix, "", true) ||
	    copy_str(&dst->remote_root, src->remote_root, "", true) ||
	    copy_str(&dst->credentials, src->credentials, "auto", false) ||
	    copy_str(&dst->ca_file, src->ca_file, NULL, false) ||
	    copy_str(&dst->username, src->username, NULL, false) ||
	    copy_str(&dst->password, src->username ? src->password : NULL,
		     src->username ? "" : NULL, false))
		return -ENOMEM;
	if (!dst->page_size)
		dst->page_size = 1000;
	return 0;
}

/* ---- the upstream handle ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
		       void *p)
{
	struct rfs_upstream *up = p;

	(void)h;
	(void)access;
	pthread_mutex_lock(&up->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *p)
{
	struct rfs_upstream *up = p;

	(void)h;
	pthread_mutex_unlock(&up->share_locks[data]);
}

/* Split cfg->url into base and host, refusing what we will not speak. */
static int parse_url(struct rfs_upstream *up, struct rfs_error *err)
{
	const char *name = up->cfg.name;
	char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
	char *path = NULL, *query = NULL, *fragment = NULL;
	CURLU *u = curl_url();
	CURLUcode uc;
	int rc = 0;

	if (!u)
		return -ENOMEM;
	uc = curl_url_set(u, CURLUPART_URL, up->cfg.url, 0);
	if (uc != CURLUE_OK) {
		rc = rfs_error_set(err, -EINVAL, "upstream '%s': bad url: %s",
				   name, curl_url_strerror(uc));
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	curl_url_get(u, CURLUPART_HOST, &host, 0);
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);
	if (user) {
		rc = rfs_error_set(
		    err, -EINVAL,
		    "upstream '%s': credentials do not belong in the url",
		    name);
		goto out;
	}
	if (!scheme || !host ||
	    (strcmp(scheme, "https") && strcmp(scheme, "http"))) {
		rc = rfs_error_set(
		    err, -EINVAL,
		    "upstream '%s': url '%s' is not http(s)://host[:port]",
		    name, up->cfg.url);
		goto out;
	}
	if ((path && strcmp(path, "/") && *path) || query || fragment) {
		rc = rfs_error_set(
		    err, -EINVAL,
		    "upstream '%s': url '%s' has a path: registries live at the root",
		    name, up->cfg.url);
		goto out;
	}
	if (strlen(host) + (port ? strlen(port) + 1 : 0) > HOST_MAX) {
		rc = rfs_error_set(err, -ENAMETOOLONG,
				   "upstream '%s': host name too long", name);
		goto out;
	}
	up->plain_http = up->cfg.plain_http || !strcmp(scheme, "http");
	snprintf(up->host, sizeof(up->host), "%s%s%s", host, port ? ":" : "",
		 port ? port : "");
	snprintf(up->base, sizeof(up->base), "%.5s://%s", scheme, up->host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(path);
	curl_free(query);
	curl_free(fragment);
	curl_url_cleanup(u);
	return rc;
}

int rfs_upstream_new(const struct rfs_upstream_config *cfg,
		     struct rfs_upstream **out, struct rfs_error *err)
{
	struct rfs_upstream *up = NULL;
	const char *name = cfg->name && *cfg->name ? cfg->name : "default";
	int rc = 0;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return rfs_error_set(
		    err, -ENOMEM,
		    "upstream '%s': cannot initialise libcurl: %s", name,
		    curl_easy_strerror(global_rc));
	if (!cfg->url || !*cfg->url)
		return rfs_error_set(err, -EINVAL, "upstream '%s': no url",
				     name);
	up = calloc(1, sizeof(*up));
	if (!up)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&up->lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&up->share_locks[i], NULL);
	if (copy_config(&up->cfg, cfg) < 0) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = parse_url(up, err);
	if (rc < 0)
		goto out;
	up->share = curl_share_init();
	if (!up->share ||
	    curl_share_setopt(up->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(up->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(up->share, CURLSHOPT_USERDATA, up) ||
	    curl_share_setopt(up->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(up->share, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_SSL_SESSION)) {
		rc = rfs_error_set(err, -ENOMEM,
				   "upstream '%s': cannot set up a curl share",
				   name);
		goto out;
	}
	*out = up;
	up = NULL;
out:
	rfs_upstream_free(&up);
	return rc;
}

void rfs_upstream_free(struct rfs_upstream **upp)
{
	struct rfs_upstream *up = upp ? *upp : NULL;

	if (!up)
		return;
	for (size_t i = 0; i < up->n_pool; i++)
		curl_easy_cleanup(up->pool[i]);
	if (up->share)
		curl_share_cleanup(up->share);
	while (up->tokens) {
		struct token *t = up->tokens;

		up->tokens = t->next;
		token_free(t);
	}
	rfs_upstream_config_release(&up->cfg);
	pthread_mutex_destroy(&up->lock);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&up->share_locks[i]);
	free(up);
	*upp = NULL;
}

const struct rfs_upstream_config *
rfs_upstream_config(const struct rfs_upstream *up)
{
	return &up->cfg;
}

const char *rfs_upstream_remote_repo(const struct rfs_upstream *up,
				     const char *repo, char *buf, size_t size)
{
	size_t plen = strlen(up->cfg.prefix);
	int n;

	if (strncmp(repo, up->cfg.prefix, plen) != 0 || !repo[plen])
		return NULL;
	n = snprintf(buf, size, "%s%s", up->cfg.remote_root, repo + plen);
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return buf;
}

/* Easy handles are kept between calls so that their connections live. */
static CURL *handle_get(struct rfs_upstream *up)
{
	CURL *h = NULL;

	pthread_mutex_lock(&up->lock);
	if (up->n_pool)
		h = up->pool[--up->n_pool];
	pthread_mutex_unlock(&up->lock);
	return h ? h : curl_easy_init();
}

static void handle_put(struct rfs_upstream *up, CURL *h)
{
	if (!h)
		return;
	curl_easy_reset(h); /* forget pointers into the finished call */
	pthread_mutex_lock(&up->lock);
	if (up->n_pool < POOL_MAX) {
		up->pool[up->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&up->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- the token cache ---- */

static struct token *token_find(struct rfs_upstream *up, const char *scope)
{
	struct token **pp, *copy = NULL;
	int64_t now = now_ms();

	pthread_mutex_lock(&up->lock);
	pp = &up->tokens;
	while (*pp) {
		struct token *t = *pp;

		if (t->expires <= now) {
			*pp = t->next;
			token_free(t);
			continue;
		}
		if (!strcmp(t->b.scope, scope)) {
			copy = token_dup(t);
			break;
		}
		pp = &t->next;
	}
	pthread_mutex_unlock(&up->lock);
	return copy;
}

/* Drop the cached token for scope if it is still value. */
static void token_drop(struct rfs_upstream *up, const char *scope,
		       const char *value)
{
	pthread_mutex_lock(&up->lock);
	for (struct token **pp = &up->tokens; *pp; pp = &(*pp)->next) {
		struct token *t = *pp;

		if (!strcmp(t->b.scope, scope) && !strcmp(t->value, value)) {
			*pp = t->next;
			token_free(t);
			break;
		}
	}
	pthread_mutex_unlock(&up->lock);
}

static void token_store(struct rfs_upstream *up, const struct token *tok)
{
	struct token *copy = token_dup(tok);

	if (!copy)
		return; /* not cached: the next call fetches again */
	pthread_mutex_lock(&up->lock);
	for (struct token **pp = &up->tokens; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->b.scope, tok->b.scope)) {
			struct token *old = *pp;

			*pp = old->next;
			token_free(old);
			break;
		}
	}
	copy->next = up->tokens;
	up->tokens = copy;
	pthread_mutex_unlock(&up->lock);
}

/* The credentials for this upstream: the ones given outright, else those
 * cfg->credentials finds for our host. */
static int credentials_get(struct rfs_upstream *up, struct rfs_credential *out,
			   struct rfs_error *err)
{
	if (!up->cfg.username)
		return rfs_credentials_lookup(up->host, up->cfg.credentials,
					      out, err);
	out->username = strdup(up->cfg.username);
	out->password = strdup(up->cfg.password ? up->cfg.password : "");
	if (!out->username || !out->password) {
		rfs_credential_release(out);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- one call ---- */

/* A request starts: its budget, and min_rate's count, from now. */
static void start_clock(struct call *c)
{
	c->began = now_ms();
	c->moved = 0;
	c->rate_bound = false;
	c->deadline = c->began + c->budget;
}

static void call_init(struct call *c, struct rfs_upstream *up, const char *what,
		      const char *scope)
{
	memset(c, 0, sizeof(*c));
	c->up = up;
	c->what = what;
	c->scope = scope;
	c->use_auth = true;
	c->budget = up->cfg.total_timeout_ms ? up->cfg.total_timeout_ms : 1;
	start_clock(c);
	c->size = SIZE_UNKNOWN;
	c->seed = (unsigned int)now_ms() ^ (unsigned int)(uintptr_t)c;
}

static void call_release(struct call *c)
{
	handle_put(c->up, c->curl);
	c->curl = NULL;
	rfs_credential_release(&c->cred);
	token_free(c->tok);
	c->tok = NULL;
	free(c->buf);
	c->buf = NULL;
}

static const char *get_header_at(CURL *h, const char *name, size_t index)
{
	struct curl_header *hdr;

	if (curl_easy_header(h, name, index, CURLH_HEADER, -1, &hdr) !=
	    CURLHE_OK)
		return NULL;
	return hdr->value;
}

static const char *get_header(CURL *h, const char *name)
{
	return get_header_at(h, name, 0);
}

static size_t header_count(CURL *h, const char *name)
{
	struct curl_header *hdr;

	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
		return 0;
	return hdr->amount;
}

/* "bytes FIRST-LAST/TOTAL" or "bytes * /TOTAL"; TOTAL may be '*'. */
static bool content_range(CURL *h, uint64_t *first, uint64_t *total)
{
	const char *v = get_header(h, "Content-Range");
	char *end;

	*first = SIZE_UNKNOWN;
	*total = SIZE_UNKNOWN;
	if (!v || strncasecmp(v, "bytes ", 6))
		return false;
	v += 6;
	if (*v == '*') {
		v++;
	} else {
		*first = strtoull(v, &end, 10);
		if (end == v || *end != '-')
			return false;
		strtoull(end + 1, &end, 10);
		v = end;
	}
	if (*v != '/')
		return false;
	if (v[1] != '*') {
		*total = strtoull(v + 1, &end, 10);
		if (end == v + 1)
			*total = SIZE_UNKNOWN;
	}
	return true;
}

/* The first write of an attempt: what is this body? */
static void begin_body(struct call *c)
{
	long status = 0;

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	c->body_ok = status >= 200 && status < 300;
	if (!c->body_ok || !c->sink)
		return;
	if (status == 206) {
		uint64_t first, total;

		if (!content_range(c->curl, &first, &total) ||
		    first != c->want) {
			c->bad_range = true;
			return;
		}
		if (total != SIZE_UNKNOWN)
			c->size = total;
		c->skip = 0;
	} else {
		curl_off_t cl = -1;

		/* The whole blob again: drop what was delivered. */
		c->skip = c->want;
		if (curl_easy_getinfo(c->curl,
				      CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				      &cl) == CURLE_OK &&
		    cl >= 0)
			c->size = (uint64_t)cl;
	}
}

/* n bytes went one way or the other: a moving deadline moves on, though
 * not past what min_rate allows (the header above). */
static void progressed(struct call *c, uint64_t n)
{
	uint64_t rate = c->up->cfg.min_rate;
	int64_t deadline, at_min_rate;

	c->moved += n;
	if (!c->moving_deadline)
		return;
	deadline = now_ms() + c->budget;
	c->rate_bound = false;
	if (rate) {
		at_min_rate = c->began + c->budget +
			      (int64_t)(c->moved / rate * 1000 +
					c->moved % rate * 1000 / rate);
		if (at_min_rate < deadline) {
			deadline = at_min_rate;
			c->rate_bound = true;
		}
	}
	c->deadline = deadline;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct call *c = userdata;
	size_t n = size * nmemb;

	if (!c->started) {
		c->started = true;
		begin_body(c);
	}
	if (c->bad_range)
		return CURL_WRITEFUNC_ERROR;
	if (!c->body_ok) {
		size_t room = sizeof(c->errbody) - 1 - c->errlen;
		size_t k = n < room ? n : room;

		memcpy(c->errbody + c->errlen, p, k);
		c->errlen += k;
		c->errbody[c->errlen] = '\0';
		return n;
	}
	if (c->sink) {
		const char *q = p;
		size_t left = n;

		if (c->skip) {
			size_t k = left < c->skip ? left : (size_t)c->skip;

			q += k;
			left -= k;
			c->skip -= k;
			/* Progress too, though not a resume's worth. */
			progressed(c, k);
		}
		if (left) {
			int rc = c->sink(c->ctx, q, left);

			if (rc) {
				c->sink_rc = rc;
				return CURL_WRITEFUNC_ERROR;
			}
			c->want += left;
			c->got += left;
			progressed(c, left);
		}
		return n;
	}
	if (n > c->max - c->len) {
		c->too_big = true;
		return CURL_WRITEFUNC_ERROR;
	}
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 16384;
		char *nb;

		while (cap < c->len + n + 1)
			cap *= 2;
		nb = realloc(c->buf, cap);
		if (!nb) {
			c->nomem = true;
			return CURL_WRITEFUNC_ERROR;
		}
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

/* The request body, as libcurl asks for it. The content ending early is
 * an error: the size was promised. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct call *c = userdata;
	uint64_t left = c->body_len - c->body_pos;
	size_t want = size * nitems;
	ssize_t n;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	n = c->source(c->src_ctx, buf, want, c->body_off + c->body_pos);
	if (n <= 0 || (size_t)n > want) {
		c->source_rc = n < 0 ? (int)n : -EIO;
		c->source_short = n >= 0;
		return CURL_READFUNC_ABORT;
	}
	c->body_pos += (uint64_t)n;
	progressed(c, (size_t)n);
	return (size_t)n;
}

/* libcurl sends a body again (a rewind): start it over. */
static int on_seek(void *userdata, curl_off_t offset, int origin)
{
	struct call *c = userdata;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	c->body_pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int add_header(struct curl_slist **headers, const char *line)
{
	struct curl_slist *l = curl_slist_append(*headers, line);

	if (!l)
		return -ENOMEM;
	*headers = l;
	return 0;
}

/* How long an attempt may go without a byte going either way: a quarter
 * of the budget, 1 to 30 s. */
static int64_t stall_ms(const struct call *c)
{
	int64_t ms = c->budget / 4;

	return ms < 1000 ? 1000 : ms > 30000 ? 30000 : ms;
}

/* Called at least once a second (the low-speed check wakes libcurl up):
 * ends an attempt past the deadline, or one that stalled. libcurl's own
 * low-speed check averages over seconds of history, too slow to notice a
 * stall after a burst. */
static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct call *c = p;
	int64_t now = now_ms();

	(void)dltotal;
	(void)ultotal;
	if (now >= c->deadline) {
		c->expired = true;
		return 1;
	}
	if (dlnow + ulnow != c->last_xfer) {
		c->last_xfer = dlnow + ulnow;
		c->last_rx = now;
	} else if (now - c->last_rx >= stall_ms(c)) {
		c->stalled = true;
		return 1;
	}
	return 0;
}

/* Set up c->curl for one attempt with left ms to go. */
static int setup(struct call *c, const char *url, int64_t left,
		 struct curl_slist **headers)
{
	struct rfs_upstream *up = c->up;
	const char *protos = up->plain_http ? "http,https" : "https";
	int64_t connect = up->cfg.connect_timeout_ms;
	CURL *h = c->curl;
	char range[64];
	CURLcode cc = CURLE_OK;

	if (!connect || connect > left)
		connect = left;
	curl_easy_reset(h);
	cc |= curl_easy_setopt(h, CURLOPT_URL, url);
	cc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_USERAGENT, "regfs/" REGFS_VERSION);
	cc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
	cc |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	cc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, c->follow ? 1L : 0L);
	cc |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	cc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect);
	cc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			       c->moving_deadline ? 0L : (long)left);
	cc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
			       (long)(stall_ms(c) / 1000));
	cc |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	cc |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	cc |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	cc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	cc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	/* Blobs stream into a seal that hashes as it writes: fewer, larger
	 * pieces cost less than curl's default 16 KiB. */
	cc |= curl_easy_setopt(h, CURLOPT_BUFFERSIZE,
			       c->moving_deadline ? 512L * 1024 : 16L * 1024);
	cc |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	cc |= curl_easy_setopt(h, CURLOPT_SHARE, up->share);
	cc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER,
			       up->cfg.tls_verify ? 1L : 0L);
	cc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
			       up->cfg.tls_verify ? 2L : 0L);
	if (up->cfg.ca_file)
		cc |= curl_easy_setopt(h, CURLOPT_CAINFO, up->cfg.ca_file);
	if (c->auth == AUTH_BASIC) {
		cc |=
		    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		cc |= curl_easy_setopt(h, CURLOPT_USERNAME, c->cred.username);
		cc |= curl_easy_setopt(h, CURLOPT_PASSWORD, c->cred.password);
	} else if (c->auth == AUTH_BEARER) {
		cc |= curl_easy_setopt(h, CURLOPT_HTTPAUTH,
				       (long)CURLAUTH_BEARER);
		cc |=
		    curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, c->tok->value);
	}
	if (c->accept && add_header(headers, c->accept) < 0)
		return -ENOMEM;
	if (c->sink && c->want) {
		snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-",
			 c->want);
		if (add_header(headers, range) < 0)
			return -ENOMEM;
	}
	if (c->method && !strcmp(c->method, "HEAD")) {
		cc |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (c->has_body) {
		char line[RFS_MEDIA_TYPE_MAX + 32];

		c->body_pos = 0;
		c->source_rc = 0;
		c->source_short = false;
		cc |= curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		cc |= curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				       (curl_off_t)c->body_len);
		cc |= curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		cc |= curl_easy_setopt(h, CURLOPT_READDATA, c);
		cc |= curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		cc |= curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
		if (c->method && strcmp(c->method, "PUT"))
			cc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
					       c->method);
		snprintf(line, sizeof(line), "Content-Type: %s",
			 c->content_type ? c->content_type
					 : "application/octet-stream");
		/* No "Expect: 100-continue": the body goes at once (auth is
		 * settled before a large one is sent). */
		if (add_header(headers, line) < 0 ||
		    add_header(headers, "Expect:") < 0)
			return -ENOMEM;
		if (c->content_range[0]) {
			snprintf(line, sizeof(line), "Content-Range: %s",
				 c->content_range);
			if (add_header(headers, line) < 0)
				return -ENOMEM;
		}
	} else if (c->method && !strcmp(c->method, "POST")) {
		cc |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		cc |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (c->method && strcmp(c->method, "GET")) {
		cc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	}
	cc |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
	return cc == CURLE_OK ? 0 : -EINVAL;
}

/* Retry-After in ms, or -1 when absent or unreadable. */
static int64_t retry_after(CURL *h)
{
	const char *v = get_header(h, "Retry-After");
	char *end;
	long long s;
	time_t when;

	if (!v)
		return -1;
	s = strtoll(v, &end, 10);
	if (end != v && s >= 0) {
		while (isspace((unsigned char)*end))
			end++;
		if (!*end)
			return s > 86400 ? 86400000 : s * 1000;
	}
	when = curl_getdate(v, NULL);
	if (when == -1)
		return -1;
	when -= time(NULL);
	return when < 0 ? 0 : when > 86400 ? 86400000 : (int64_t)when * 1000;
}

static int64_t backoff_delay(struct call *c, unsigned int n)
{
	int64_t d = c->up->cfg.backoff_ms;
	int64_t max = c->up->cfg.backoff_max_ms;

	for (unsigned int i = 0; i < n && d < max; i++)
		d *= 2;
	if (max && d > max)
		d = max;
	/* Equal jitter: half fixed, half random. */
	return d / 2 + (d > 1 ? rand_r(&c->seed) % (d / 2 + 1) : 0);
}

/* The registry's error code, from a body {"errors":[{"code":...}]}, and
 * with full its message and detail too (what a 400 needs to be read:
 * "MANIFEST_BLOB_UNKNOWN: blob unknown to registry: sha256:..."). */
static void error_code(const struct call *c, bool full, char *buf, size_t size)
{
	json_t *root = c->errlen ? json_loads(c->errbody, 0, NULL) : NULL;
	json_t *e = json_array_get(json_object_get(root, "errors"), 0);
	json_t *code = json_object_get(e, "code");
	json_t *msg = json_object_get(e, "message");
	json_t *detail = json_object_get(e, "detail");
	char *dump = NULL;

	buf[0] = '\0';
	if (!json_is_string(code))
		goto out;
	if (!full || !json_is_string(msg)) {
		snprintf(buf, size, " (%s)", json_string_value(code));
		goto out;
	}
	if (detail && !json_is_string(detail) && !json_is_null(detail))
		dump = json_dumps(detail, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(buf, size, " (%s: %s%s%.120s)", json_string_value(code),
		 json_string_value(msg),
		 json_is_string(detail) || dump ? ": " : "",
		 json_is_string(detail) ? json_string_value(detail)
		 : dump			? dump
					: "");
out:
	free(dump);
	json_decref(root);
}

/* Is the registry's error code this one? */
static bool error_is(const struct call *c, const char *want)
{
	char code[96], expect[96];

	error_code(c, false, code, sizeof(code));
	snprintf(expect, sizeof(expect), " (%s)", want);
	return !strcmp(code, expect);
}

/* Read one auth-param value (token or quoted-string) at *p. */
static char *param_value(const char **p)
{
	const char *s = *p;
	char *out, *o;

	out = malloc(strlen(s) + 1);
	if (!out)
		return NULL;
	o = out;
	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1])
				s++;
			*o++ = *s++;
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && *s != ',' && !isspace((unsigned char)*s))
			*o++ = *s++;
	}
	*o = '\0';
	*p = s;
	return out;
}

/* realm="...",service="...",scope="..." (after "Bearer "). Returns 0 or
 * -ENOMEM; a challenge without a realm leaves b->realm NULL. */
static int parse_challenge(const char *v, struct bearer *b)
{
	const char *p = v;

	while (*p) {
		const char *key;
		size_t klen;
		char *val, **slot = NULL;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		key = p;
		while (*p && *p != '=' && *p != ',' &&
		       !isspace((unsigned char)*p))
			p++;
		klen = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=')
			continue;
		p++;
		while (isspace((unsigned char)*p))
			p++;
		val = param_value(&p);
		if (!val)
			return -ENOMEM;
		if (klen == 5 && !strncasecmp(key, "realm", 5))
			slot = &b->realm;
		else if (klen == 7 && !strncasecmp(key, "service", 7))
			slot = &b->service;
		else if (klen == 5 && !strncasecmp(key, "scope", 5))
			slot = &b->scope;
		if (slot) {
			free(*slot);
			*slot = val;
		} else {
			free(val);
		}
	}
	if (!b->service)
		b->service = strdup("");
	if (!b->scope)
		b->scope = strdup("");
	return b->service && b->scope ? 0 : -ENOMEM;
}

static int fetch_token(struct call *c, const struct bearer *b,
		       struct rfs_error *err);

/* Is action (n bytes) in the comma-separated list [p, end)? */
static bool has_action(const char *p, const char *end, const char *action,
		       size_t n)
{
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;

		if (((size_t)(stop - p) == n && !memcmp(p, action, n)) ||
		    (stop - p == 1 && *p == '*'))
			return true;
		p = stop + 1;
	}
	return false;
}

/* Does scope item a ("type:name:actions", the name may hold ':') grant
 * all that item b asks for? */
static bool scope_covers(const char *a, size_t an, const char *b, size_t bn)
{
	const char *a1 = memchr(a, ':', an), *al = memrchr(a, ':', an);
	const char *b1 = memchr(b, ':', bn), *bl = memrchr(b, ':', bn);
	const char *p, *end = b + bn;

	if (!a1 || !b1 || a1 == al || b1 == bl)
		return an == bn && !memcmp(a, b, an);
	if (al - a != bl - b || memcmp(a, b, (size_t)(al - a)))
		return false;
	for (p = bl + 1; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;

		if (stop > p &&
		    !has_action(al + 1, a + an, p, (size_t)(stop - p)))
			return false;
		p = stop + 1;
	}
	return true;
}

/* The scope to ask a token for: ours (what the call needs, in a stable
 * spelling the cache knows it by) and whatever the challenge asks that
 * ours does not cover. Distribution lists a mount's two repositories, and
 * each one's actions, in no fixed order. NULL when out of memory. */
static char *merge_scope(const char *ours, const char *theirs)
{
	size_t olen = strlen(ours), n = olen;
	char *out = malloc(olen + strlen(theirs) + 2);

	if (!out)
		return NULL;
	memcpy(out, ours, olen + 1);
	for (const char *t = theirs; *t;) {
		size_t tn = strcspn(t, " ");
		bool covered = false;

		for (const char *o = ours; tn && *o && !covered;) {
			size_t on = strcspn(o, " ");

			covered = on && scope_covers(o, on, t, tn);
			o += on;
			o += strspn(o, " ");
		}
		if (tn && !covered) {
			if (n)
				out[n++] = ' ';
			memcpy(out + n, t, tn);
			n += tn;
			out[n] = '\0';
		}
		t += tn;
		t += strspn(t, " ");
	}
	return out;
}

/* A 401 or 403: find what to send next time, or give up. */
static int on_denied(struct call *c, long status, struct rfs_error *err)
{
	struct bearer ch = { 0 };
	bool basic = false, bearer = false;
	size_t n = header_count(c->curl, "WWW-Authenticate");
	int rc = 0;

	if (!c->use_auth)
		return fail(c, err, -EACCES, "%ld %s%s", status,
			    http_text(status),
			    c->auth == AUTH_BASIC ? " (credentials refused)"
						  : " (no credentials)");
	for (size_t i = 0; i < n && !bearer; i++) {
		const char *v = get_header_at(c->curl, "WWW-Authenticate", i);

		if (!v)
			continue;
		if (!strncasecmp(v, "Bearer ", 7)) {
			bearer_release(&ch);
			rc = parse_challenge(v + 7, &ch);
			if (rc < 0)
				goto out;
			bearer = ch.realm != NULL;
		} else if (!strncasecmp(v, "Basic", 5)) {
			basic = true;
		}
	}
	if (bearer && c->scope && *c->scope) {
		char *scope = merge_scope(c->scope, ch.scope);

		if (!scope) {
			rc = fail(c, err, -ENOMEM, "out of memory");
			goto out;
		}
		free(ch.scope);
		ch.scope = scope;
	}
	if (c->auth == AUTH_BEARER) {
		struct bearer again;

		token_drop(c->up, c->tok->b.scope, c->tok->value);
		if (c->tok_fresh) {
			rc = fail(c, err, -EACCES, "%ld %s (token refused)",
				  status, http_text(status));
			goto out;
		}
		/* A cached token refused: fetch a fresh one, once. */
		again = bearer ? ch : c->tok->b;
		rc = fetch_token(c, &again, err);
		goto out;
	}
	if (c->auth == AUTH_BASIC || status == 403 || (!basic && !bearer)) {
		rc =
		    fail(c, err, -EACCES, "%ld %s%s", status, http_text(status),
			 c->auth == AUTH_BASIC ? " (credentials refused)" : "");
		goto out;
	}
	if (bearer) {
		struct token *t = token_find(c->up, ch.scope);

		if (t) {
			token_free(c->tok);
			c->tok = t;
			c->tok_fresh = false;
			c->auth = AUTH_BEARER;
		} else {
			rc = fetch_token(c, &ch, err);
		}
		goto out;
	}
	/* Basic. */
	{
		struct rfs_error cerr = { 0 };

		rc = credentials_get(c->up, &c->cred, &cerr);
		if (rc == -ENOENT) {
			rc = fail(c, err, -EACCES,
				  "%ld %s (no credentials for '%s')", status,
				  http_text(status), c->up->host);
		} else if (rc < 0) {
			rc = fail(c, err, rc, "credentials for '%s': %s",
				  c->up->host, rfs_error_message(&cerr, rc));
		} else {
			c->auth = AUTH_BASIC;
		}
	}
out:
	bearer_release(&ch);
	return rc;
}

/* Run one request to completion: retries, resumes, auth. */
static int run_attempts(struct call *c, const char *url, struct rfs_error *err)
{
	unsigned int failures = 0;
	int rc;

	if (!c->curl) {
		c->curl = handle_get(c->up);
		if (!c->curl)
			return fail(c, err, -ENOMEM, "out of memory");
	}
	for (;;) {
		struct curl_slist *headers = NULL;
		int64_t left = c->deadline - now_ms();
		int64_t delay, ra = -1;
		long status = 0;
		CURLcode cc;

		if (left <= 0 && c->rate_bound)
			return fail(
			    c, err, -ETIMEDOUT,
			    "slower than min_rate (%" PRIu64
			    " bytes/s): %" PRIu64 " bytes in %" PRId64 " ms",
			    c->up->cfg.min_rate, c->moved, now_ms() - c->began);
		if (left <= 0) {
			if (c->last_code)
				return fail(c, err, -ETIMEDOUT,
					    "no answer within %" PRId64
					    " ms, last: %s",
					    c->budget, c->last_msg);
			return fail(c, err, -ETIMEDOUT,
				    "no answer within %" PRId64 " ms",
				    c->budget);
		}
		c->started = c->body_ok = c->too_big = c->nomem = false;
		c->bad_range = c->expired = c->stalled = false;
		c->last_xfer = 0;
		c->last_rx = now_ms();
		c->got = 0;
		c->skip = 0;
		c->errlen = 0;
		c->errbody[0] = '\0';
		c->errbuf[0] = '\0';
		c->len = 0;
		rc = setup(c, url, left, &headers);
		if (rc < 0) {
			curl_slist_free_all(headers);
			return fail(c, err, rc, "cannot set up the request");
		}
		cc = curl_easy_perform(c->curl);
		curl_slist_free_all(headers);
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);

		if (c->sink_rc)
			return fail(c, err, c->sink_rc,
				    "cannot take the bytes: %s",
				    strerror(-c->sink_rc));
		if (c->source_rc)
			return fail(c, err, c->source_rc,
				    "cannot read the content at byte %" PRIu64
				    ": %s",
				    c->body_off + c->body_pos,
				    c->source_short ? "it ended before its size"
						    : strerror(-c->source_rc));
		if (c->nomem)
			return fail(c, err, -ENOMEM, "out of memory");
		if (c->too_big)
			return fail(c, err, -EFBIG, "larger than %zu bytes",
				    c->max);
		if (c->bad_range)
			return fail(c, err, -EPROTO,
				    "the answer to 'Range: bytes=%" PRIu64
				    "-' starts elsewhere",
				    c->want);
		/* An error answer whose body broke off (Distribution sends a
		 * 416 with the blob's Content-Length) is judged by its
		 * status. */
		if (cc != CURLE_OK && status >= 400 && !c->body_ok &&
		    !c->expired && now_ms() < c->deadline)
			cc = CURLE_OK;
		if (cc != CURLE_OK) {
			if (c->expired || now_ms() >= c->deadline) {
				/* A moving deadline just moved, or min_rate's
				 * passed: the loop's head says which. */
				if (c->got || c->rate_bound)
					continue;
				return fail(c, err, -ETIMEDOUT,
					    "no answer within %" PRId64 " ms",
					    c->budget);
			}
			if (c->got) {
				c->resumes++;
				failures = 0;
				continue;
			}
			if (c->stalled) {
				cc = CURLE_OPERATION_TIMEDOUT;
				snprintf(c->errbuf, sizeof(c->errbuf),
					 "stalled: no byte for %" PRId64 " ms",
					 stall_ms(c));
			}
			c->last_code = rfs_errno_from_curl(cc);
			snprintf(c->last_msg, sizeof(c->last_msg), "%s",
				 c->errbuf[0] ? c->errbuf
					      : curl_easy_strerror(cc));
			if (!curl_retryable(cc))
				return fail(c, err, c->last_code, "%s",
					    c->last_msg);
		} else if (status >= 200 && status < 300) {
			if (c->sink && c->skip)
				return fail(c, err, -ERANGE,
					    "offset %" PRIu64
					    " is past the end (%" PRIu64
					    " bytes)",
					    c->want, c->want - c->skip);
			if (c->sink && c->size != SIZE_UNKNOWN &&
			    c->want < c->size) {
				if (!c->got)
					return fail(
					    c, err, -EPROTO,
					    "the transfer ended at byte %" PRIu64
					    " of %" PRIu64,
					    c->want, c->size);
				c->resumes++;
				continue;
			}
			if (c->auth == AUTH_BASIC && c->use_auth)
				__atomic_store_n(&c->up->basic, true,
						 __ATOMIC_RELAXED);
			return 0;
		} else if (status == 401 || status == 403) {
			rc = on_denied(c, status, err);
			if (rc < 0)
				return rc;
			continue; /* answering a challenge is not a retry */
		} else if (c->sink && status == 416) {
			uint64_t first, total;

			if (!content_range(c->curl, &first, &total))
				total = c->size;
			if (total == c->want)
				return 0; /* nothing left to deliver */
			if (total == SIZE_UNKNOWN)
				return fail(
				    c, err, -ERANGE,
				    "416 range not satisfiable at offset %" PRIu64,
				    c->want);
			return fail(c, err, -ERANGE,
				    "offset %" PRIu64
				    " is past the end (%" PRIu64 " bytes)",
				    c->want, total);
		} else {
			char code[200];

			error_code(c, status == 400, code, sizeof(code));
			c->last_code = rfs_errno_from_http(status);
			snprintf(c->last_msg, sizeof(c->last_msg), "%ld %s%s",
				 status, http_text(status), code);
			if (!http_retryable(status))
				return fail(c, err, c->last_code, "%s",
					    c->last_msg);
			ra = retry_after(c->curl);
		}

		/* A retryable failure. */
		if (failures >= c->up->cfg.retries || c->no_retry)
			return fail(c, err, c->last_code, "%s", c->last_msg);
		delay = ra >= 0 ? ra : backoff_delay(c, failures);
		if (delay >= c->deadline - now_ms())
			return fail(c, err, c->last_code,
				    "%s (no time left to retry)", c->last_msg);
		sleep_ms(delay);
		failures++;
		c->retries++;
	}
}

/* Did this failure say the upstream cannot be reached (rather than that
 * it refused or lacks something)? */
static bool unreachable(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EHOSTUNREACH ||
	       rc == -ENETUNREACH || rc == -EAGAIN;
}

/* One request with its retries, unless the upstream was found unreachable
 * a moment ago (for as long as one call's budget, 1 to 10 s). Blob
 * transfers, which a reader asked for and which are made once however many
 * readers wait, always try; they only tell that the upstream is back. */
static int run(struct call *c, const char *url, struct rfs_error *err)
{
	struct rfs_upstream *up = c->up;
	bool blob = c->moving_deadline;
	int64_t now = now_ms(), until, hold;
	int rc;

	pthread_mutex_lock(&up->lock);
	until = blob ? 0 : up->down_until;
	rc = up->down_rc;
	pthread_mutex_unlock(&up->lock);
	if (now < until)
		return fail(c, err, rc,
			    "unreachable a moment ago (%s); asking again in "
			    "%" PRId64 " ms",
			    strerror(-rc), until - now);
	rc = run_attempts(c, url, err);
	hold = up->cfg.total_timeout_ms;
	hold = hold < 1000 ? 1000 : hold > 10000 ? 10000 : hold;
	pthread_mutex_lock(&up->lock);
	if (rc >= 0 || !unreachable(rc)) {
		up->down_until = 0;
	} else if (!blob) {
		up->down_until = now_ms() + hold;
		up->down_rc = rc;
	}
	pthread_mutex_unlock(&up->lock);
	return rc;
}

/* Start the call's auth from what the upstream has taught us. */
static void auth_start(struct call *c)
{
	if (c->auth != AUTH_NONE)
		return;
	c->tok = token_find(c->up, c->scope);
	if (c->tok) {
		c->auth = AUTH_BEARER;
		c->tok_fresh = false;
	} else if (__atomic_load_n(&c->up->basic, __ATOMIC_RELAXED) &&
		   credentials_get(c->up, &c->cred, NULL) == 0) {
		c->auth = AUTH_BASIC;
	}
}

/* ---- bearer tokens ---- */

/* Append "&key=escaped(value)" to url. */
static int add_param(CURL *h, char *url, size_t size, const char *key,
		     const char *value, size_t vlen)
{
	char *esc = curl_easy_escape(h, value, (int)vlen);
	size_t n = strlen(url);
	int w;

	if (!esc)
		return -ENOMEM;
	w = snprintf(url + n, size - n, "%c%s=%s", strchr(url, '?') ? '&' : '?',
		     key, esc);
	curl_free(esc);
	return w < 0 || (size_t)w >= size - n ? -ENAMETOOLONG : 0;
}

static int fetch_token(struct call *c, const struct bearer *b,
		       struct rfs_error *err)
{
	struct rfs_upstream *up = c->up;
	char what[RFS_ERROR_MSG_MAX / 2];
	char url[URL_MAX];
	struct call t;
	struct token *tok = NULL;
	json_t *root = NULL, *value, *expires;
	struct rfs_error cerr = { 0 };
	int64_t ttl = 60;
	int rc;

	if (c->tok_fresh) /* a fresh token was refused: once is enough */
		return fail(c, err, -EACCES, "token refused");
	snprintf(what, sizeof(what), "%s: token from '%s'", c->what, b->realm);
	call_init(&t, up, what, "");
	t.use_auth = false;
	t.follow = true;
	t.max = TOKEN_BODY_MAX;
	t.budget = c->budget;
	t.deadline = c->deadline;
	if (strncasecmp(b->realm, "https://", 8) &&
	    !(up->plain_http && !strncasecmp(b->realm, "http://", 7))) {
		rc = fail(
		    &t, err, -EPROTO,
		    "the token realm is not https and plain http is not allowed here");
		goto out;
	}
	t.curl = handle_get(up);
	if (!t.curl) {
		rc = -ENOMEM;
		goto out;
	}
	if (snprintf(url, sizeof(url), "%s", b->realm) >= (int)sizeof(url)) {
		rc = fail(&t, err, -ENAMETOOLONG, "realm too long");
		goto out;
	}
	rc = 0;
	if (*b->service)
		rc = add_param(t.curl, url, sizeof(url), "service", b->service,
			       strlen(b->service));
	/* Several scopes are separated by spaces: one parameter each. */
	for (const char *s = b->scope; rc == 0 && *s;) {
		size_t n = strcspn(s, " ");

		if (n)
			rc = add_param(t.curl, url, sizeof(url), "scope", s, n);
		s += n;
		s += strspn(s, " ");
	}
	if (rc < 0) {
		rc = fail(&t, err, rc, "cannot build the token url");
		goto out;
	}
	rc = credentials_get(up, &t.cred, &cerr);
	if (rc == 0) {
		t.auth = AUTH_BASIC;
	} else if (rc != -ENOENT) {
		rc = fail(&t, err, rc, "credentials for '%s': %s", up->host,
			  rfs_error_message(&cerr, rc));
		goto out;
	}
	rc = run(&t, url, err);
	c->retries += t.retries;
	if (rc < 0)
		goto out;
	root = json_loadb(t.buf ? t.buf : "", t.len, 0, NULL);
	value = json_object_get(root, "token");
	if (!json_is_string(value) || !*json_string_value(value))
		value = json_object_get(root, "access_token");
	if (!json_is_string(value) || !*json_string_value(value)) {
		rc = fail(&t, err, -EPROTO, "no token in the answer");
		goto out;
	}
	expires = json_object_get(root, "expires_in");
	if (json_is_integer(expires) && json_integer_value(expires) > 0)
		ttl = json_integer_value(expires);
	tok = calloc(1, sizeof(*tok));
	if (!tok) {
		rc = -ENOMEM;
		goto out;
	}
	tok->b.realm = strdup(b->realm);
	tok->b.service = strdup(b->service);
	tok->b.scope = strdup(b->scope);
	tok->value = strdup(json_string_value(value));
	if (!tok->b.realm || !tok->b.service || !tok->b.scope || !tok->value) {
		rc = -ENOMEM;
		goto out;
	}
	/* Expire a tenth early (at most 30 s): never send a dying token. */
	ttl *= 1000;
	tok->expires = now_ms() + ttl - (ttl / 10 < 30000 ? ttl / 10 : 30000);
	token_store(up, tok);
	token_free(c->tok);
	c->tok = tok;
	tok = NULL;
	c->tok_fresh = true;
	c->auth = AUTH_BEARER;
out:
	json_decref(root);
	if (t.buf) /* the token lives in the body too */
		explicit_bzero(t.buf, t.cap);
	token_free(tok);
	call_release(&t);
	return rc;
}

/* ---- the calls ---- */

static int make_url(char *url, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int make_url(char *url, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(url, URL_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= URL_MAX ? -ENAMETOOLONG : 0;
}

static int check_repo(struct rfs_upstream *up, const char *repo,
		      struct rfs_error *err)
{
	if (rfs_name_valid_repo(repo))
		return 0;
	return rfs_error_set(err, -EINVAL,
			     "upstream '%s' (%s): invalid repository name '%s'",
			     up->cfg.name, up->base, repo);
}

static bool is_type(const char *ct, size_t n, const char *type)
{
	return n == strlen(type) && !strncasecmp(ct, type, n);
}

/* The media type from Content-Type, else from the body's mediaType. */
static void media_type(struct call *c, struct rfs_manifest_blob *out)
{
	const char *ct = get_header(c->curl, "Content-Type");
	size_t n = ct ? strcspn(ct, "; \t") : 0;

	out->media_type[0] = '\0';
	if (n > RFS_MEDIA_TYPE_MAX)
		n = RFS_MEDIA_TYPE_MAX;
	if (n && !is_type(ct, n, "application/json") &&
	    !is_type(ct, n, "text/plain")) {
		memcpy(out->media_type, ct, n);
		out->media_type[n] = '\0';
	} else {
		json_t *root = json_loadb(c->buf, c->len, 0, NULL);
		json_t *mt = json_object_get(root, "mediaType");

		if (json_is_string(mt))
			snprintf(out->media_type, sizeof(out->media_type), "%s",
				 json_string_value(mt));
		json_decref(root);
	}
}

int rfs_upstream_get_manifest(struct rfs_upstream *up, const char *repo,
			      const char *reference,
			      struct rfs_manifest_blob *out,
			      struct rfs_error *err)
{
	bool by_digest = rfs_digest_valid(reference);
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	struct rfs_hasher *h = NULL;
	const char *said;
	struct call c;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "manifest '%s%c%s'", repo,
		 by_digest ? '@' : ':', reference);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	call_init(&c, up, what, scope);
	if (!by_digest && !rfs_name_valid_tag(reference))
		return fail(&c, err, -EINVAL, "invalid reference");
	make_url(url, "%s/v2/%s/manifests/%s", up->base, repo, reference);
	c.accept = ACCEPT_MANIFESTS;
	c.max = RFS_MANIFEST_MAX;
	auth_start(&c);
	rc = run(&c, url, err);
	if (rc < 0)
		goto out;
	rc = rfs_hasher_new(&h);
	if (rc == 0)
		rc = rfs_hasher_update(h, c.buf ? c.buf : "", c.len);
	if (rc == 0)
		rc = rfs_hasher_final(h, out->digest);
	if (rc < 0) {
		rc = fail(&c, err, rc, "cannot hash the body");
		goto out;
	}
	said = get_header(c.curl, "Docker-Content-Digest");
	if (said && !strncmp(said, "sha256:", 7) && strcmp(said, out->digest)) {
		rc = fail(
		    &c, err, -EBADMSG,
		    "digest mismatch: the upstream says '%.80s', the body hashes to '%s'",
		    said, out->digest);
		goto out;
	}
	if (by_digest && strcmp(reference, out->digest)) {
		rc = fail(&c, err, -EBADMSG,
			  "digest mismatch: the body hashes to '%s'",
			  out->digest);
		goto out;
	}
	media_type(&c, out);
	if (!c.buf) {
		c.buf = strdup("");
		if (!c.buf) {
			rc = -ENOMEM;
			goto out;
		}
	}
	out->body = c.buf;
	out->len = c.len;
	c.buf = NULL;
out:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	rfs_hasher_free(&h);
	call_release(&c);
	return rc;
}

void rfs_manifest_blob_release(struct rfs_manifest_blob *m)
{
	if (m) {
		free(m->body);
		memset(m, 0, sizeof(*m));
	}
}

/* The next page from a Link header, or "" when there is none. */
static int next_page(struct call *c, char *url, size_t size,
		     struct rfs_error *err)
{
	const char *link = get_header(c->curl, "Link");
	const char *lt, *gt;
	size_t n, blen = strlen(c->up->base);

	url[0] = '\0';
	if (!link)
		return 0;
	lt = strchr(link, '<');
	gt = lt ? strchr(lt, '>') : NULL;
	if (!gt || !strstr(gt, "next"))
		return 0;
	lt++;
	n = (size_t)(gt - lt);
	if (*lt == '/') {
		if (blen + n >= size)
			return fail(c, err, -EPROTO, "next page link too long");
		memcpy(url, c->up->base, blen);
		memcpy(url + blen, lt, n);
		url[blen + n] = '\0';
	} else if (n > blen && !strncmp(lt, c->up->base, blen) &&
		   lt[blen] == '/' && n < size) {
		memcpy(url, lt, n);
		url[n] = '\0';
	} else {
		return fail(c, err, -EPROTO,
			    "the next page link leaves the registry");
	}
	return 0;
}

/* GET a paginated list of names (tags/list, _catalog): the strings of the
 * array under key, page after page. */
static int list_names(struct rfs_upstream *up, const char *what,
		      const char *scope, char *url, size_t url_size,
		      const char *key, rfs_name_fn fn, void *ctx,
		      struct rfs_error *err)
{
	unsigned int pages = 0;
	struct call c;
	int rc = 0;

	call_init(&c, up, what, scope);
	c.max = TAGS_BODY_MAX;
	c.accept = "Accept: application/json";
	auth_start(&c);
	while (url[0]) {
		json_t *root, *names, *name;
		size_t i;

		if (++pages > 100000) {
			rc = fail(&c, err, -ELOOP, "too many pages");
			break;
		}
		rc = run(&c, url, err);
		if (rc < 0)
			break;
		root = json_loadb(c.buf ? c.buf : "", c.len, 0, NULL);
		names = json_object_get(root, key);
		if (!json_is_object(root) ||
		    !(json_is_array(names) || json_is_null(names) || !names)) {
			json_decref(root);
			rc = fail(&c, err, -EPROTO, "the %s list is not JSON",
				  key);
			break;
		}
		json_array_foreach(names, i, name)
		{
			if (!json_is_string(name))
				continue;
			rc = fn(ctx, json_string_value(name));
			if (rc)
				break;
		}
		json_decref(root);
		if (rc)
			break;
		rc = next_page(&c, url, url_size, err);
		if (rc < 0)
			break;
	}
	call_release(&c);
	return rc;
}

int rfs_upstream_list_tags(struct rfs_upstream *up, const char *repo,
			   rfs_name_fn fn, void *ctx, struct rfs_error *err)
{
	char what[RFS_REPO_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	int rc;

	rc = check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "tags of '%s'", repo);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	make_url(url, "%s/v2/%s/tags/list?n=%u", up->base, repo,
		 up->cfg.page_size);
	return list_names(up, what, scope, url, sizeof(url), "tags", fn, ctx,
			  err);
}

int rfs_upstream_list_repos(struct rfs_upstream *up, rfs_name_fn fn, void *ctx,
			    struct rfs_error *err)
{
	char url[URL_MAX];

	make_url(url, "%s/v2/_catalog?n=%u", up->base, up->cfg.page_size);
	return list_names(up, "repository catalog", "registry:catalog:*", url,
			  sizeof(url), "repositories", fn, ctx, err);
}

int rfs_upstream_get_blob(struct rfs_upstream *up, const char *repo,
			  const char *digest, uint64_t offset, rfs_sink_fn sink,
			  void *ctx, struct rfs_error *err)
{
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	struct call c;
	int rc;

	rc = check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "blob '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return fail(&c, err, -EINVAL, "invalid digest");
	make_url(url, "%s/v2/%s/blobs/%s", up->base, repo, digest);
	c.follow = true;
	c.moving_deadline = true;
	c.sink = sink;
	c.ctx = ctx;
	c.want = offset;
	auth_start(&c);
	rc = run(&c, url, err);
	call_release(&c);
	return rc;
}

int rfs_upstream_ping(struct rfs_upstream *up, struct rfs_error *err)
{
	char url[URL_MAX];
	struct call c;
	int rc;

	call_init(&c, up, "'/v2/'", "");
	c.max = TOKEN_BODY_MAX;
	make_url(url, "%s/v2/", up->base);
	auth_start(&c);
	rc = run(&c, url, err);
	call_release(&c);
	return rc;
}

/* ---- pushing ---- */

/* Ready the call for its next request: a budget of its own, no body. */
static void call_next(struct call *c, const char *method)
{
	c->method = method;
	c->has_body = false;
	c->source = NULL;
	c->src_ctx = NULL;
	c->body_off = c->body_len = c->body_pos = 0;
	c->content_type = NULL;
	c->content_range[0] = '\0';
	c->no_retry = false;
	c->moving_deadline = false;
	c->follow = false;
	start_clock(c);
	c->last_code = 0;
	c->last_msg[0] = '\0';
}

/* A body of len bytes read from source at off; bytes sent move the
 * deadline, as bytes received do for a blob GET. */
static void call_body(struct call *c, rfs_source_fn source, void *ctx,
		      uint64_t off, uint64_t len)
{
	c->has_body = true;
	c->source = source;
	c->src_ctx = ctx;
	c->body_off = off;
	c->body_len = len;
	c->moving_deadline = true;
}

static long last_status(struct call *c)
{
	long status = 0;

	if (c->curl)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* Did the registry forget the upload session (expired, cancelled, or
 * Distribution's _state no longer matching what it holds)? */
static bool session_gone(struct call *c)
{
	long status = last_status(c);

	return status == 404 ||
	       (status == 400 && (error_is(c, "BLOB_UPLOAD_UNKNOWN") ||
				  error_is(c, "BLOB_UPLOAD_INVALID")));
}

static bool same_origin(CURLU *a, CURLU *b)
{
	static const CURLUPart parts[] = { CURLUPART_SCHEME, CURLUPART_HOST,
					   CURLUPART_PORT };
	bool same = true;

	for (size_t i = 0; same && i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *x = NULL, *y = NULL;

		curl_url_get(a, parts[i], &x, CURLU_DEFAULT_PORT);
		curl_url_get(b, parts[i], &y, CURLU_DEFAULT_PORT);
		same = x && y && !strcasecmp(x, y);
		curl_free(x);
		curl_free(y);
	}
	return same;
}

/* The URL the last answer's Location names, resolved against url (it may
 * be relative or absolute; its query, Distribution's _state, is kept). It
 * must stay on the registry: credentials go with it. */
static int location_url(struct call *c, const char *url, char *out,
			struct rfs_error *err)
{
	const char *loc = get_header(c->curl, "Location");
	CURLU *u = curl_url(), *base = curl_url();
	char *full = NULL;
	int rc = 0;

	if (!u || !base) {
		rc = fail(c, err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!loc || !*loc) {
		rc = fail(c, err, -EPROTO, "%ld answer without a Location",
			  last_status(c));
		goto out;
	}
	if (curl_url_set(base, CURLUPART_URL, c->up->base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, loc, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		rc = fail(c, err, -EPROTO, "bad Location '%.200s'", loc);
		goto out;
	}
	if (!same_origin(u, base)) {
		rc = fail(c, err, -EPROTO,
			  "the upload location leaves the registry: '%.200s'",
			  loc);
		goto out;
	}
	if (strlen(full) >= URL_MAX) {
		rc = fail(c, err, -ENAMETOOLONG, "Location too long");
		goto out;
	}
	strcpy(out, full);
out:
	curl_free(full);
	curl_url_cleanup(u);
	curl_url_cleanup(base);
	return rc;
}

/* An upload session's progress, from its Range header "0-LAST": the next
 * byte it wants. Distribution says "0-0" for an empty session too, so
 * that is read as nothing received. */
static int session_offset(struct call *c, uint64_t size, uint64_t *offset,
			  struct rfs_error *err)
{
	const char *v = get_header(c->curl, "Range");
	uint64_t first, last;
	char *end;

	*offset = 0;
	if (!v)
		return 0;
	if (!strncasecmp(v, "bytes=", 6) || !strncasecmp(v, "bytes ", 6))
		v += 6;
	first = strtoull(v, &end, 10);
	if (end == v || *end != '-' || first != 0)
		return fail(c, err, -EPROTO, "bad upload Range '%.80s'", v);
	v = end + 1;
	last = strtoull(v, &end, 10);
	if (end == v)
		return fail(c, err, -EPROTO, "bad upload Range '0-%.80s'", v);
	*offset = last ? last + 1 : 0;
	if (*offset > size)
		return fail(c, err, -EPROTO,
			    "the upstream holds %" PRIu64 " bytes of a %" PRIu64
			    "-byte blob",
			    *offset, size);
	return 0;
}

int rfs_upstream_blob_exists(struct rfs_upstream *up, const char *repo,
			     const char *digest, uint64_t *size,
			     struct rfs_error *err)
{
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	curl_off_t cl = -1;
	struct call c;
	int rc;

	if (size)
		*size = 0;
	rc = check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "blob '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return fail(&c, err, -EINVAL, "invalid digest");
	make_url(url, "%s/v2/%s/blobs/%s", up->base, repo, digest);
	c.method = "HEAD";
	c.follow = true; /* to storage, as a blob GET */
	c.max = TOKEN_BODY_MAX;
	auth_start(&c);
	rc = run(&c, url, err);
	if (rc == 0 && size &&
	    curl_easy_getinfo(c.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			      &cl) == CURLE_OK &&
	    cl >= 0)
		*size = (uint64_t)cl;
	call_release(&c);
	return rc;
}

/* Cancel an upload session, best effort: Distribution wants the delete
 * action for it, which a token for pushing does not carry, so this is a
 * call of its own. */
static void cancel_session(struct rfs_upstream *up, const char *repo,
			   const char *url)
{
	char scope[RFS_REPO_MAX + 32];
	struct call c;

	snprintf(scope, sizeof(scope), "repository:%s:delete", repo);
	call_init(&c, up, "cancel of an upload", scope);
	c.method = "DELETE";
	c.max = TOKEN_BODY_MAX;
	c.moving_deadline = true; /* tells nothing of reachability */
	auth_start(&c);
	run(&c, url, NULL);
	call_release(&c);
}

int rfs_upstream_blob_mount(struct rfs_upstream *up, const char *repo,
			    const char *digest, const char *from_repo,
			    struct rfs_error *err)
{
	char what[2 * RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 48];
	char scope[2 * RFS_REPO_MAX + 64];
	char url[URL_MAX], session[URL_MAX];
	struct call c;
	long status;
	int rc;

	rc = check_repo(up, repo, err);
	if (rc == 0)
		rc = check_repo(up, from_repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "mount of blob '%s' from '%s' into '%s'",
		 digest, from_repo, repo);
	/* What Distribution's challenge asks for, in a fixed order. */
	snprintf(scope, sizeof(scope),
		 "repository:%s:pull,push repository:%s:pull", repo, from_repo);
	call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return fail(&c, err, -EINVAL, "invalid digest");
	rc = make_url(url, "%s/v2/%s/blobs/uploads/", up->base, repo);
	if (rc == 0)
		rc = add_param(NULL, url, sizeof(url), "mount", digest,
			       strlen(digest));
	if (rc == 0)
		rc = add_param(NULL, url, sizeof(url), "from", from_repo,
			       strlen(from_repo));
	if (rc < 0) {
		rc = fail(&c, err, rc, "cannot build the url");
		goto out;
	}
	c.method = "POST";
	c.max = TOKEN_BODY_MAX;
	auth_start(&c);
	rc = run(&c, url, err);
	if (rc < 0)
		goto out;
	status = last_status(&c);
	if (status == 201)
		goto out;
	if (status != 202) {
		rc =
		    fail(&c, err, -EPROTO, "%ld %s", status, http_text(status));
		goto out;
	}
	rc = location_url(&c, url, session, err);
	if (rc == 0)
		cancel_session(up, repo, session);
	rc = fail(&c, err, -ENOENT,
		  "not mounted: the upstream opened an upload instead");
out:
	call_release(&c);
	return rc;
}

/* POST /v2/<repo>/blobs/uploads/: a new session, at loc. */
static int open_session(struct call *c, const char *repo, char *loc,
			struct rfs_error *err)
{
	char url[URL_MAX];
	int rc;

	call_next(c, "POST");
	make_url(url, "%s/v2/%s/blobs/uploads/", c->up->base, repo);
	rc = run(c, url, err);
	if (rc < 0)
		return rc;
	if (last_status(c) != 202)
		return fail(c, err, -EPROTO, "%ld answer to opening an upload",
			    last_status(c));
	return location_url(c, url, loc, err);
}

/* PATCH one chunk; on success loc is where the session goes on. Not
 * retried: the caller asks the session where it stands. */
static int send_chunk(struct call *c, char *loc, rfs_source_fn source,
		      void *ctx, uint64_t offset, uint64_t n,
		      struct rfs_error *err)
{
	char url[URL_MAX];
	int rc;

	call_next(c, "PATCH");
	call_body(c, source, ctx, offset, n);
	c->no_retry = true;
	snprintf(c->content_range, sizeof(c->content_range),
		 "%" PRIu64 "-%" PRIu64, offset, offset + n - 1);
	strcpy(url, loc);
	rc = run(c, url, err);
	if (rc < 0)
		return rc;
	if (!get_header(c->curl, "Location"))
		return 0; /* the spec wants one; go on where we were */
	return location_url(c, url, loc, err);
}

/* GET the session: where it stands (its Range), and where it goes on. */
static int ask_session(struct call *c, char *loc, uint64_t size,
		       uint64_t *offset, struct rfs_error *err)
{
	char url[URL_MAX];
	int rc;

	call_next(c, "GET");
	c->moving_deadline = true; /* a transfer's part: never held down */
	strcpy(url, loc);
	rc = run(c, url, err);
	if (rc == 0)
		rc = session_offset(c, size, offset, err);
	if (rc == 0 && get_header(c->curl, "Location"))
		rc = location_url(c, url, loc, err);
	return rc;
}

/* PUT <loc>&digest=: closes the session, with the last len bytes. */
static int close_session(struct call *c, const char *loc, const char *digest,
			 rfs_source_fn source, void *ctx, uint64_t offset,
			 uint64_t len, struct rfs_error *err)
{
	char url[URL_MAX];
	int rc;

	call_next(c, "PUT");
	call_body(c, source, ctx, offset, len);
	strcpy(url, loc);
	rc =
	    add_param(NULL, url, sizeof(url), "digest", digest, strlen(digest));
	if (rc < 0)
		return fail(c, err, rc, "upload url too long");
	return run(c, url, err);
}

int rfs_upstream_blob_upload(struct rfs_upstream *up, const char *repo,
			     const char *digest, uint64_t size,
			     rfs_source_fn source, uint64_t chunk_size,
			     rfs_progress_fn progress, void *ctx,
			     struct rfs_error *err)
{
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char loc[URL_MAX];
	unsigned int restarts = 0, failures = 0;
	uint64_t offset;
	struct call c;
	int rc;

	rc = check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "upload of blob '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull,push", repo);
	call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return fail(&c, err, -EINVAL, "invalid digest");
	if (!source)
		return fail(&c, err, -EINVAL, "no content");
	if (!chunk_size) /* one PUT, whatever the size */
		chunk_size = UINT64_MAX;
	c.max = TOKEN_BODY_MAX;
	auth_start(&c);
restart:
	offset = 0;
	rc = open_session(&c, repo, loc, err);
	if (rc < 0)
		goto out;
	if (size <= chunk_size) {
		rc = close_session(&c, loc, digest, source, ctx, 0, size, err);
		goto closed;
	}
	while (offset < size) {
		uint64_t n =
		    size - offset < chunk_size ? size - offset : chunk_size;
		long status;

		rc = send_chunk(&c, loc, source, ctx, offset, n, err);
		if (rc == 0) {
			offset += n;
			failures = 0;
			if (progress)
				progress(ctx, offset, size);
			continue;
		}
		status = last_status(&c);
		if (c.source_rc || rc == -ENOMEM || status == 401 ||
		    status == 403)
			goto out;
		if (failures >= up->cfg.retries)
			goto out;
		if (failures)
			sleep_ms(backoff_delay(&c, failures - 1));
		failures++;
		c.resumes++;
		rc = ask_session(&c, loc, size, &offset, err);
		if (rc < 0) {
			if (session_gone(&c))
				goto gone;
			goto out;
		}
		if (progress)
			progress(ctx, offset, size);
	}
	rc = close_session(&c, loc, digest, source, ctx, size, 0, err);
closed:
	if (rc == 0) {
		if (progress && size <= chunk_size)
			progress(ctx, size, size);
		goto out;
	}
	if (!session_gone(&c))
		goto out;
gone:
	if (restarts++ >= up->cfg.retries)
		goto out;
	c.resumes++;
	if (progress)
		progress(ctx, 0, size);
	goto restart;
out:
	call_release(&c);
	return rc;
}

struct mem_source {
	const char *buf;
	size_t len;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct mem_source *m = ctx;

	if (offset >= m->len)
		return 0;
	if (len > m->len - offset)
		len = m->len - (size_t)offset;
	memcpy(buf, m->buf + offset, len);
	return (ssize_t)len;
}

int rfs_upstream_put_manifest(struct rfs_upstream *up, const char *repo,
			      const char *reference, const char *media_type,
			      const char *body, size_t len,
			      struct rfs_error *err)
{
	bool by_digest = rfs_digest_valid(reference);
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct mem_source mem = { body, len };
	struct rfs_hasher *h = NULL;
	const char *said;
	struct call c;
	int rc;

	rc = check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "manifest '%s%c%s'", repo,
		 by_digest ? '@' : ':', reference);
	snprintf(scope, sizeof(scope), "repository:%s:pull,push", repo);
	call_init(&c, up, what, scope);
	if (!by_digest && !rfs_name_valid_tag(reference))
		return fail(&c, err, -EINVAL, "invalid reference");
	if (!media_type || !*media_type ||
	    strlen(media_type) > RFS_MEDIA_TYPE_MAX)
		return fail(&c, err, -EINVAL, "invalid media type");
	for (const char *p = media_type; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(&c, err, -EINVAL, "invalid media type");
	if (len > RFS_MANIFEST_MAX)
		return fail(&c, err, -EFBIG, "larger than %d bytes",
			    RFS_MANIFEST_MAX);
	rc = rfs_hasher_new(&h);
	if (rc == 0)
		rc = rfs_hasher_update(h, body ? body : "", len);
	if (rc == 0)
		rc = rfs_hasher_final(h, digest);
	rfs_hasher_free(&h);
	if (rc < 0)
		return fail(&c, err, rc, "cannot hash the body");
	if (by_digest && strcmp(reference, digest))
		return fail(&c, err, -EBADMSG,
			    "the body hashes to '%s', not to its reference",
			    digest);
	make_url(url, "%s/v2/%s/manifests/%s", up->base, repo, reference);
	c.method = "PUT";
	c.max = TOKEN_BODY_MAX;
	call_body(&c, mem_read, &mem, 0, len);
	c.moving_deadline = false; /* small: the whole budget is enough */
	c.content_type = media_type;
	auth_start(&c);
	rc = run(&c, url, err);
	if (rc < 0)
		goto out;
	said = get_header(c.curl, "Docker-Content-Digest");
	if (said && !strncmp(said, "sha256:", 7) && strcmp(said, digest))
		rc =
		    fail(&c, err, -EBADMSG,
			 "the upstream stored '%.80s', the body hashes to '%s'",
			 said, digest);
out:
	call_release(&c);
	return rc;
}
