/*
 * upstream.c - a client of one remote OCI registry (see upstream.h), over
 * libcurl: its configuration, the upstream handle (its URL, the
 * repositories it serves, the URLs built on it) and the pool of curl
 * handles. The transport of one call is in upstream-call.c, reading an
 * answer in upstream-answer.c, auth in upstream-auth.c, the registry API
 * in upstream-pull.c and upstream-push.c; what they share is in
 * upstream-internal.h.
 *
 * What it promises, beyond the header:
 *
 * - Connections are kept alive between calls in a small pool of easy
 *   handles; DNS answers and TLS sessions are shared through one CURLSH
 *   (libcurl does not support sharing its connection cache between threads).
 * - Prefixes: a non-empty prefix or remote_root gets a final '/' if it
 *   lacks one ("hub" serves "hub/x", never "hubble/x").
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "upstream-internal.h"
#include "text.h"

void upstream_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
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
	cfg->max_blob_size = RFS_BLOB_MAX_DEFAULT;
	cfg->list_max = RFS_LIST_MAX_DEFAULT;
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
	upstream_free_secret(cfg->username);
	upstream_free_secret(cfg->password);
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
	if (!dst->max_blob_size)
		dst->max_blob_size = RFS_BLOB_MAX_DEFAULT;
	if (!dst->list_max)
		dst->list_max = RFS_LIST_MAX_DEFAULT;
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
		upstream_token_free(t);
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
CURL *upstream_handle_get(struct rfs_upstream *up)
{
	CURL *h = NULL;

	pthread_mutex_lock(&up->lock);
	if (up->n_pool)
		h = up->pool[--up->n_pool];
	pthread_mutex_unlock(&up->lock);
	return h ? h : curl_easy_init();
}

void upstream_handle_put(struct rfs_upstream *up, CURL *h)
{
	if (!h)
		return;
	/* Only handles whose last transfer went well come here
	 * (upstream-call.c drops the others). */
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

/* ---- names and urls ---- */

int upstream_make_url(char *url, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(url, URL_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= URL_MAX ? -ENAMETOOLONG : 0;
}

int upstream_check_repo(struct rfs_upstream *up, const char *repo,
			struct rfs_error *err)
{
	char shown[RFS_TEXT_NAME_BUF];

	if (rfs_name_valid_repo(repo))
		return 0;
	return rfs_error_set(
	    err, -EINVAL, "upstream '%s' (%s): invalid repository name '%s'",
	    up->cfg.name, up->base, rfs_text_name(shown, repo));
}

/* Append "&key=escaped(value)" to url. */
int upstream_add_param(CURL *h, char *url, size_t size, const char *key,
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
