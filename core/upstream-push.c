/*
 * upstream-push.c - the registry calls that write (see upstream.h): is a
 * blob there, mount it from another repository, upload it (one PUT, or a
 * session of PATCH chunks), put a manifest.
 *
 * What it promises, beyond the header:
 *
 * - Uploads. A PATCH is never retried: a chunk that failed is followed by
 *   a GET of the session, which says from which byte to go on (its Range,
 *   "0-LAST", where Distribution writes "0-0" for an empty session as
 *   well). A session the registry forgot (404, or 400 BLOB_UPLOAD_INVALID /
 *   BLOB_UPLOAD_UNKNOWN: Distribution 2.8 cancels a session whose _state
 *   no longer matches what it holds, which is what a PATCH broken midway
 *   leaves) is started over, at most cfg->retries times. A chunk_size of 0
 *   means one PUT whatever the size. Each request of an upload has a
 *   budget of its own.
 * - Upload locations may be relative or absolute; their query (_state) is
 *   kept, digest= is added with '&' or '?'. One on another scheme, host
 *   or port than the upstream's is refused: credentials would go with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "digest.h"
#include "upstream-internal.h"

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
	upstream_start_clock(c);
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
	       (status == 400 && (upstream_error_is(c, "BLOB_UPLOAD_UNKNOWN") ||
				  upstream_error_is(c, "BLOB_UPLOAD_INVALID")));
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
	const char *loc = upstream_get_header(c->curl, "Location");
	CURLU *u = curl_url(), *base = curl_url();
	char *full = NULL;
	int rc = 0;

	if (!u || !base) {
		rc = upstream_fail(c, err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!loc || !*loc) {
		rc = upstream_fail(c, err, -EPROTO,
				   "%ld answer without a Location",
				   last_status(c));
		goto out;
	}
	if (curl_url_set(base, CURLUPART_URL, c->up->base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, loc, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK) {
		rc = upstream_fail(c, err, -EPROTO, "bad Location '%.200s'",
				   loc);
		goto out;
	}
	if (!same_origin(u, base)) {
		rc = upstream_fail(
		    c, err, -EPROTO,
		    "the upload location leaves the registry: '%.200s'", loc);
		goto out;
	}
	if (strlen(full) >= URL_MAX) {
		rc = upstream_fail(c, err, -ENAMETOOLONG, "Location too long");
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
	const char *v = upstream_get_header(c->curl, "Range");
	uint64_t first, last;
	char *end;

	*offset = 0;
	if (!v)
		return 0;
	if (!strncasecmp(v, "bytes=", 6) || !strncasecmp(v, "bytes ", 6))
		v += 6;
	first = strtoull(v, &end, 10);
	if (end == v || *end != '-' || first != 0)
		return upstream_fail(c, err, -EPROTO,
				     "bad upload Range '%.80s'", v);
	v = end + 1;
	last = strtoull(v, &end, 10);
	if (end == v)
		return upstream_fail(c, err, -EPROTO,
				     "bad upload Range '0-%.80s'", v);
	*offset = last ? last + 1 : 0;
	if (*offset > size)
		return upstream_fail(c, err, -EPROTO,
				     "the upstream holds %" PRIu64
				     " bytes of a %" PRIu64 "-byte blob",
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
	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "blob '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	upstream_call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return upstream_fail(&c, err, -EINVAL, "invalid digest");
	upstream_make_url(url, "%s/v2/%s/blobs/%s", up->base, repo, digest);
	c.method = "HEAD";
	c.follow = true; /* to storage, as a blob GET */
	c.max = TOKEN_BODY_MAX;
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	if (rc == 0 && size &&
	    curl_easy_getinfo(c.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			      &cl) == CURLE_OK &&
	    cl >= 0)
		*size = (uint64_t)cl;
	upstream_call_release(&c);
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
	upstream_call_init(&c, up, "cancel of an upload", scope);
	c.method = "DELETE";
	c.max = TOKEN_BODY_MAX;
	c.moving_deadline = true; /* tells nothing of reachability */
	upstream_auth_start(&c);
	upstream_call_run(&c, url, NULL);
	upstream_call_release(&c);
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

	rc = upstream_check_repo(up, repo, err);
	if (rc == 0)
		rc = upstream_check_repo(up, from_repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "mount of blob '%s' from '%s' into '%s'",
		 digest, from_repo, repo);
	/* What Distribution's challenge asks for, in a fixed order. */
	snprintf(scope, sizeof(scope),
		 "repository:%s:pull,push repository:%s:pull", repo, from_repo);
	upstream_call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return upstream_fail(&c, err, -EINVAL, "invalid digest");
	rc = upstream_make_url(url, "%s/v2/%s/blobs/uploads/", up->base, repo);
	if (rc == 0)
		rc = upstream_add_param(NULL, url, sizeof(url), "mount", digest,
					strlen(digest));
	if (rc == 0)
		rc = upstream_add_param(NULL, url, sizeof(url), "from",
					from_repo, strlen(from_repo));
	if (rc < 0) {
		rc = upstream_fail(&c, err, rc, "cannot build the url");
		goto out;
	}
	c.method = "POST";
	c.max = TOKEN_BODY_MAX;
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	if (rc < 0)
		goto out;
	status = last_status(&c);
	if (status == 201)
		goto out;
	if (status != 202) {
		rc = upstream_fail(&c, err, -EPROTO, "%ld %s", status,
				   upstream_http_text(status));
		goto out;
	}
	rc = location_url(&c, url, session, err);
	if (rc == 0)
		cancel_session(up, repo, session);
	rc =
	    upstream_fail(&c, err, -ENOENT,
			  "not mounted: the upstream opened an upload instead");
out:
	upstream_call_release(&c);
	return rc;
}

/* POST /v2/<repo>/blobs/uploads/: a new session, at loc. */
static int open_session(struct call *c, const char *repo, char *loc,
			struct rfs_error *err)
{
	char url[URL_MAX];
	int rc;

	call_next(c, "POST");
	upstream_make_url(url, "%s/v2/%s/blobs/uploads/", c->up->base, repo);
	rc = upstream_call_run(c, url, err);
	if (rc < 0)
		return rc;
	if (last_status(c) != 202)
		return upstream_fail(c, err, -EPROTO,
				     "%ld answer to opening an upload",
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
	rc = upstream_call_run(c, url, err);
	if (rc < 0)
		return rc;
	if (!upstream_get_header(c->curl, "Location"))
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
	rc = upstream_call_run(c, url, err);
	if (rc == 0)
		rc = session_offset(c, size, offset, err);
	if (rc == 0 && upstream_get_header(c->curl, "Location"))
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
	rc = upstream_add_param(NULL, url, sizeof(url), "digest", digest,
				strlen(digest));
	if (rc < 0)
		return upstream_fail(c, err, rc, "upload url too long");
	return upstream_call_run(c, url, err);
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

	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "upload of blob '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull,push", repo);
	upstream_call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return upstream_fail(&c, err, -EINVAL, "invalid digest");
	if (!source)
		return upstream_fail(&c, err, -EINVAL, "no content");
	if (!chunk_size) /* one PUT, whatever the size */
		chunk_size = UINT64_MAX;
	c.max = TOKEN_BODY_MAX;
	upstream_auth_start(&c);
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
			upstream_sleep_ms(
			    upstream_backoff_delay(&c, failures - 1));
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
	upstream_call_release(&c);
	return rc;
}

ssize_t rfs_mem_source_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	const struct rfs_mem_source *m = ctx;

	if (offset >= m->len)
		return 0;
	if (len > m->len - offset)
		len = m->len - (size_t)offset;
	memcpy(buf, (const char *)m->buf + offset, len);
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
	struct rfs_mem_source mem = { body, len };
	struct rfs_hasher *h = NULL;
	const char *said;
	struct call c;
	int rc;

	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "manifest '%s%c%s'", repo,
		 by_digest ? '@' : ':', reference);
	snprintf(scope, sizeof(scope), "repository:%s:pull,push", repo);
	upstream_call_init(&c, up, what, scope);
	if (!by_digest && !rfs_name_valid_tag(reference))
		return upstream_fail(&c, err, -EINVAL, "invalid reference");
	if (!media_type || !*media_type ||
	    strlen(media_type) > RFS_MEDIA_TYPE_MAX)
		return upstream_fail(&c, err, -EINVAL, "invalid media type");
	for (const char *p = media_type; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return upstream_fail(&c, err, -EINVAL,
					     "invalid media type");
	if (len > RFS_MANIFEST_MAX)
		return upstream_fail(&c, err, -EFBIG, "larger than %d bytes",
				     RFS_MANIFEST_MAX);
	rc = rfs_hasher_new(&h);
	if (rc == 0)
		rc = rfs_hasher_update(h, body ? body : "", len);
	if (rc == 0)
		rc = rfs_hasher_final(h, digest);
	rfs_hasher_free(&h);
	if (rc < 0)
		return upstream_fail(&c, err, rc, "cannot hash the body");
	if (by_digest && strcmp(reference, digest))
		return upstream_fail(
		    &c, err, -EBADMSG,
		    "the body hashes to '%s', not to its reference", digest);
	upstream_make_url(url, "%s/v2/%s/manifests/%s", up->base, repo,
			  reference);
	c.method = "PUT";
	c.max = TOKEN_BODY_MAX;
	call_body(&c, rfs_mem_source_read, &mem, 0, len);
	c.moving_deadline = false; /* small: the whole budget is enough */
	c.content_type = media_type;
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	if (rc < 0)
		goto out;
	said = upstream_get_header(c.curl, "Docker-Content-Digest");
	if (said && !strncmp(said, "sha256:", 7) && strcmp(said, digest))
		rc = upstream_fail(
		    &c, err, -EBADMSG,
		    "the upstream stored '%.80s', the body hashes to '%s'",
		    said, digest);
out:
	upstream_call_release(&c);
	return rc;
}
