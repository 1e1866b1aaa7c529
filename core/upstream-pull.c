/*
 * upstream-pull.c - the registry calls that read (see upstream.h): a
 * manifest, checked against its digest; tag and repository lists,
 * following Link pagination on the registry only; a blob, streamed and
 * resumed; the referrers of a manifest; and /v2/.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "digest.h"
#include "upstream-internal.h"

#define TAGS_BODY_MAX (8 << 20)

#define ACCEPT_MANIFESTS                                         \
	"Accept: application/vnd.oci.image.manifest.v1+json, "   \
	"application/vnd.oci.image.index.v1+json, "              \
	"application/vnd.docker.distribution.manifest.v2+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json"

static bool is_type(const char *ct, size_t n, const char *type)
{
	return n == strlen(type) && !strncasecmp(ct, type, n);
}

/* The media type from Content-Type, else from the body's mediaType. */
static void media_type(struct call *c, struct rfs_manifest_blob *out)
{
	const char *ct = upstream_get_header(c->curl, "Content-Type");
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
	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "manifest '%s%c%s'", repo,
		 by_digest ? '@' : ':', reference);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	upstream_call_init(&c, up, what, scope);
	if (!by_digest && !rfs_name_valid_tag(reference))
		return upstream_fail(&c, err, -EINVAL, "invalid reference");
	upstream_make_url(url, "%s/v2/%s/manifests/%s", up->base, repo,
			  reference);
	c.accept = ACCEPT_MANIFESTS;
	c.max = RFS_MANIFEST_MAX;
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	if (rc < 0)
		goto out;
	rc = rfs_hasher_new(&h);
	if (rc == 0)
		rc = rfs_hasher_update(h, c.buf ? c.buf : "", c.len);
	if (rc == 0)
		rc = rfs_hasher_final(h, out->digest);
	if (rc < 0) {
		rc = upstream_fail(&c, err, rc, "cannot hash the body");
		goto out;
	}
	said = upstream_get_header(c.curl, "Docker-Content-Digest");
	if (said && !strncmp(said, "sha256:", 7) && strcmp(said, out->digest)) {
		rc = upstream_fail(
		    &c, err, -EBADMSG,
		    "digest mismatch: the upstream says '%.80s', the body hashes to '%s'",
		    said, out->digest);
		goto out;
	}
	if (by_digest && strcmp(reference, out->digest)) {
		rc = upstream_fail(&c, err, -EBADMSG,
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
	upstream_call_release(&c);
	return rc;
}

void rfs_manifest_blob_release(struct rfs_manifest_blob *m)
{
	if (m) {
		free(m->body);
		memset(m, 0, sizeof(*m));
	}
}

/* Does the params text [p, end) of a link-value have rel="next"? rel's
 * value is a list of relation types (RFC 8288), quoted or a token. */
static bool rel_next(const char *p, const char *end)
{
	bool quoted = false;

	for (; p < end; p++) {
		const char *v, *stop;

		if (*p == '"')
			quoted = !quoted;
		if (quoted || *p != ';')
			continue;
		for (v = p + 1; v < end && isspace((unsigned char)*v); v++)
			;
		if (end - v < 3 || strncasecmp(v, "rel", 3))
			continue;
		for (v += 3; v < end && isspace((unsigned char)*v); v++)
			;
		if (v == end || *v != '=')
			continue;
		for (v++; v < end && isspace((unsigned char)*v); v++)
			;
		if (v < end && *v == '"') {
			v++;
			stop = memchr(v, '"', (size_t)(end - v));
		} else {
			stop = memchr(v, ';', (size_t)(end - v));
		}
		if (!stop)
			stop = end;
		while (v < stop) {
			size_t n = 0;

			while (v + n < stop && !isspace((unsigned char)v[n]))
				n++;
			if (n == 4 && !strncasecmp(v, "next", 4))
				return true;
			v += n ? n : 1;
		}
	}
	return false;
}

/* The URI of the link-value of a Link header value whose rel is "next",
 * as *uri and its length *n: a header may hold several ("<a>; rel=prev,
 * <b>; rel=next"), and the first is not always the next one. */
static bool link_next(const char *v, const char **uri, size_t *n)
{
	while ((v = strchr(v, '<'))) {
		const char *gt = strchr(v, '>'), *p;
		bool quoted = false;

		if (!gt)
			return false;
		for (p = gt + 1; *p && (quoted || *p != ','); p++)
			if (*p == '"')
				quoted = !quoted;
		if (rel_next(gt + 1, p)) {
			*uri = v + 1;
			*n = (size_t)(gt - v - 1);
			return true;
		}
		v = p;
	}
	return false;
}

/* The next page from the Link headers, or "" when there is none. */
static int next_page(struct call *c, char *url, size_t size,
		     struct rfs_error *err)
{
	size_t count = upstream_header_count(c->curl, "Link");
	const char *lt = NULL;
	size_t n = 0, blen = strlen(c->up->base);

	url[0] = '\0';
	for (size_t i = 0; i < count && !lt; i++) {
		const char *link = upstream_get_header_at(c->curl, "Link", i);

		if (link && !link_next(link, &lt, &n))
			lt = NULL;
	}
	if (!lt)
		return 0;
	if (*lt == '/') {
		if (blen + n >= size)
			return upstream_fail(c, err, -EPROTO,
					     "next page link too long");
		memcpy(url, c->up->base, blen);
		memcpy(url + blen, lt, n);
		url[blen + n] = '\0';
	} else if (n > blen && !strncmp(lt, c->up->base, blen) &&
		   lt[blen] == '/' && n < size) {
		memcpy(url, lt, n);
		url[n] = '\0';
	} else {
		return upstream_fail(c, err, -EPROTO,
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
	uint64_t names_seen = 0, names_max = up->cfg.list_max;
	unsigned int pages = 0;
	struct call c;
	int rc = 0;

	upstream_call_init(&c, up, what, scope);
	c.max = TAGS_BODY_MAX;
	c.accept = "Accept: application/json";
	upstream_auth_start(&c);
	while (url[0]) {
		json_t *root, *names, *name;
		json_error_t jerr;
		size_t i;

		if (++pages > LIST_PAGES_MAX) {
			rc = upstream_fail(&c, err, -ELOOP,
					   "more than %d pages: refused",
					   LIST_PAGES_MAX);
			break;
		}
		rc = upstream_call_run(&c, url, err);
		if (rc < 0)
			break;
		root = json_loadb(c.buf ? c.buf : "", c.len, 0, &jerr);
		names = json_object_get(root, key);
		if (!root) {
			/* jansson's text may quote the body ("near '...'"):
			 * that part is the upstream's, and not logged. */
			jerr.text[strcspn(jerr.text, "'")] = '\0';
			rc = upstream_fail(&c, err, -EPROTO,
					   "the %s list is not JSON (byte %d: "
					   "%s)",
					   key, jerr.position, jerr.text);
			break;
		}
		if (!json_is_object(root) ||
		    !(json_is_array(names) || json_is_null(names) || !names)) {
			json_decref(root);
			rc = upstream_fail(&c, err, -EPROTO,
					   "the %s list is not an object with "
					   "an array '%s'",
					   key, key);
			break;
		}
		json_array_foreach(names, i, name)
		{
			if (!json_is_string(name))
				continue;
			if (++names_seen > names_max) {
				rc = upstream_fail(&c, err, -EFBIG,
						   "more than %" PRIu64
						   " names (list_max): refused",
						   names_max);
				break;
			}
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
	upstream_call_release(&c);
	return rc;
}

int rfs_upstream_list_tags(struct rfs_upstream *up, const char *repo,
			   rfs_name_fn fn, void *ctx, struct rfs_error *err)
{
	char what[RFS_REPO_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	int rc;

	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "tags of '%s'", repo);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	upstream_make_url(url, "%s/v2/%s/tags/list?n=%u", up->base, repo,
			  up->cfg.page_size);
	return list_names(up, what, scope, url, sizeof(url), "tags", fn, ctx,
			  err);
}

int rfs_upstream_list_repos(struct rfs_upstream *up, rfs_name_fn fn, void *ctx,
			    struct rfs_error *err)
{
	char url[URL_MAX];

	upstream_make_url(url, "%s/v2/_catalog?n=%u", up->base,
			  up->cfg.page_size);
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

	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "blob '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	upstream_call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return upstream_fail(&c, err, -EINVAL, "invalid digest");
	if (offset > up->cfg.max_blob_size)
		return upstream_fail(&c, err, -EFBIG,
				     "offset %" PRIu64 " is past max_blob_size",
				     offset);
	upstream_make_url(url, "%s/v2/%s/blobs/%s", up->base, repo, digest);
	c.max = (size_t)up->cfg.max_blob_size;
	c.follow = true;
	c.moving_deadline = true;
	c.sink = sink;
	c.ctx = ctx;
	c.want = offset;
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	upstream_call_release(&c);
	return rc;
}

int rfs_upstream_referrers(struct rfs_upstream *up, const char *repo,
			   const char *digest, const char *artifact_type,
			   char **body, size_t *len, struct rfs_error *err)
{
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	char scope[RFS_REPO_MAX + 32];
	char url[URL_MAX];
	struct call c;
	int rc;

	*body = NULL;
	*len = 0;
	rc = upstream_check_repo(up, repo, err);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "referrers of '%s@%s'", repo, digest);
	snprintf(scope, sizeof(scope), "repository:%s:pull", repo);
	upstream_call_init(&c, up, what, scope);
	if (!rfs_digest_valid(digest))
		return upstream_fail(&c, err, -EINVAL, "invalid digest");
	upstream_make_url(url, "%s/v2/%s/referrers/%s", up->base, repo, digest);
	if (artifact_type) {
		rc = upstream_add_param(NULL, url, sizeof(url), "artifactType",
					artifact_type, strlen(artifact_type));
		if (rc < 0) {
			rc = upstream_fail(&c, err, rc, "URL too long");
			goto out;
		}
	}
	c.accept = "Accept: application/vnd.oci.image.index.v1+json";
	c.max = RFS_MANIFEST_MAX;
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	if (rc < 0)
		goto out;
	if (!c.buf) {
		c.buf = strdup("");
		if (!c.buf) {
			rc = upstream_fail(&c, err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	*body = c.buf;
	*len = c.len;
	c.buf = NULL;
out:
	upstream_call_release(&c);
	return rc;
}

int rfs_upstream_ping(struct rfs_upstream *up, struct rfs_error *err)
{
	char url[URL_MAX];
	struct call c;
	int rc;

	upstream_call_init(&c, up, "'/v2/'", "");
	c.max = TOKEN_BODY_MAX;
	upstream_make_url(url, "%s/v2/", up->base);
	upstream_auth_start(&c);
	rc = upstream_call_run(&c, url, err);
	upstream_call_release(&c);
	return rc;
}
