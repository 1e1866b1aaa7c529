/*
 * serve.c - regctl serve's requests: routing, authentication, the OCI
 * distribution API's answers (rules in core/registry.c), uploads streamed
 * into the seal, blobs sent from their files, the access log (see serve.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <microhttpd.h>

#include "audit.h"
#include "manifest.h"
#include "serve-browse.h"
#include "serve-metrics.h"
#include "serve.h"
#include "text.h"

/* Names per page of a tag list or the catalog, at most (and by default). */
#define PAGE_MAX 1000
#define MT_JSON	 "application/json"

enum route {
	ROUTE_NONE,
	ROUTE_BASE,	 /* /v2/ */
	ROUTE_CATALOG,	 /* /v2/_catalog */
	ROUTE_TAGS,	 /* /v2/<name>/tags/list */
	ROUTE_MANIFEST,	 /* /v2/<name>/manifests/<reference> */
	ROUTE_BLOB,	 /* /v2/<name>/blobs/<digest> */
	ROUTE_UPLOADS,	 /* /v2/<name>/blobs/uploads/ */
	ROUTE_UPLOAD,	 /* /v2/<name>/blobs/uploads/<id> */
	ROUTE_REFERRERS, /* /v2/<name>/referrers/<digest> */
	ROUTE_HEALTH,	 /* /health */
	ROUTE_METRICS,	 /* /metrics */
	ROUTE_UI,	 /* /ui/... */
	ROUTE_ROOT,	 /* / */
};

struct serve {
	struct serve_options opts;
	struct MHD_Daemon *daemon;
	struct serve_metrics *metrics;
	pthread_mutex_t log_lock;
};

/* One request, from its first call to its completion. */
struct request {
	struct serve *s;
	int64_t start_ns;
	const char *method;
	enum route route;
	char repo[RFS_REPO_MAX + 1];
	char ref[RFS_DIGEST_STR_MAX + RFS_TAG_MAX + 2];
	char path[128]; /* for the log, where there is no repository */
	char user[RFS_ACCESS_USER_MAX + 1];
	bool push;	/* a request that changes something */
	bool started;	/* the body is being taken in */
	bool long_name; /* the repository's name is too long to keep */
	/* A failure while the body came in: answered at its end. */
	bool failed;
	struct rfs_oci_status st;
	struct rfs_upload *upload;
	uint64_t chunk_end; /* where a Content-Range says the chunk ends, +1 */
	char *body;	    /* a manifest's */
	size_t body_len, body_cap;
	int status;
	uint64_t sent;
};

static int64_t now_ns(void)
{
	return rfs_now_ns();
}

/* --- routing ---------------------------------------------------------- */

static bool copy_part(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		return false;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

/* The rightmost occurrence of marker in path, or NULL. */
static const char *rightmost(const char *path, const char *marker)
{
	const char *hit = NULL, *p = path;

	while ((p = strstr(p, marker))) {
		hit = p;
		p++;
	}
	return hit;
}

/* Split /v2/<name>/<kind>/<rest> where name may hold slashes: the kind
 * marker furthest right wins (a repository may have a component named
 * "blobs"), and rest may not hold one. */
static enum route route_v2(struct request *r, const char *path)
{
	static const struct {
		const char *marker;
		enum route route;
	} kinds[] = {
		{ "/blobs/uploads/", ROUTE_UPLOAD },
		{ "/manifests/", ROUTE_MANIFEST },
		{ "/referrers/", ROUTE_REFERRERS },
		{ "/blobs/", ROUTE_BLOB },
	};
	const char *name = path + 4, *best = NULL, *rest;
	enum route route = ROUTE_NONE;
	size_t best_len = 0, n = strlen(path);

	if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0)
		return ROUTE_BASE;
	if (strcmp(path, "/v2/_catalog") == 0)
		return ROUTE_CATALOG;
	if (n > 14 && strcmp(path + n - 10, "/tags/list") == 0) {
		if (!copy_part(r->repo, sizeof(r->repo), name,
			       (size_t)(path + n - 10 - name)))
			r->long_name = true;
		return ROUTE_TAGS;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *hit = rightmost(name, kinds[i].marker);

		if (hit && (!best || hit > best)) {
			best = hit;
			best_len = strlen(kinds[i].marker);
			route = kinds[i].route;
		}
	}
	if (!best || best == name)
		return ROUTE_NONE;
	rest = best + best_len;
	if (strchr(rest, '/') ||
	    !copy_part(r->ref, sizeof(r->ref), rest, strlen(rest)))
		return ROUTE_NONE;
	if (!copy_part(r->repo, sizeof(r->repo), name, (size_t)(best - name)))
		r->long_name = true;
	if (route == ROUTE_UPLOAD && !*rest)
		return ROUTE_UPLOADS;
	if (route != ROUTE_UPLOAD && !*rest)
		return ROUTE_NONE;
	return route;
}

static enum route route_of(struct request *r, const char *path)
{
	if (strncmp(path, "/v2", 3) == 0 && (path[3] == '/' || !path[3]))
		return route_v2(r, path);
	if (strcmp(path, "/health") == 0)
		return ROUTE_HEALTH;
	if (strcmp(path, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strcmp(path, "/ui") == 0 || strncmp(path, "/ui/", 4) == 0)
		return ROUTE_UI;
	if (strcmp(path, "/") == 0)
		return ROUTE_ROOT;
	return ROUTE_NONE;
}

/* --- responses -------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_response(struct request *r,
				     struct MHD_Connection *c, int status,
				     struct MHD_Response *resp, uint64_t size)
{
	enum MHD_Result ok;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Docker-Distribution-API-Version",
				"registry/2.0");
	ok = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	r->status = status;
	r->sent = strcmp(r->method, "HEAD") == 0 ? 0 : size;
	return ok;
}

/* A response of a malloc()ed body, which it owns from here (freed also
 * when it cannot be made), of content type type. */
static struct MHD_Response *owned_response(char *body, size_t len,
					   const char *type)
{
	struct MHD_Response *resp;

	if (!body)
		return NULL;
	resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return NULL;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	return resp;
}

/* The same of a JSON document (which it takes). */
static struct MHD_Response *json_response(json_t *doc, const char *type,
					  size_t *len)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	*len = text ? strlen(text) : 0;
	return owned_response(text, *len, type ? type : MT_JSON);
}

static enum MHD_Result send_json(struct request *r, struct MHD_Connection *c,
				 int status, json_t *doc, const char *type)
{
	size_t len;
	struct MHD_Response *resp = json_response(doc, type, &len);

	return resp ? send_response(r, c, status, resp, len) : MHD_NO;
}

/* An OCI error body: {"errors": [{"code", "message", "detail"}]}. */
static struct MHD_Response *error_response(const struct rfs_oci_status *st,
					   size_t *len)
{
	struct MHD_Response *resp =
	    json_response(json_pack("{s:[{s:s, s:s, s:{}}]}", "errors", "code",
				    rfs_oci_code_name(st->code), "message",
				    st->message, "detail"),
			  NULL, len);

	if (resp && st->code == RFS_OCI_UNAUTHORIZED)
		MHD_add_response_header(resp, "WWW-Authenticate",
					"Basic realm=\"regfs\"");
	return resp;
}

static enum MHD_Result send_error(struct request *r, struct MHD_Connection *c,
				  const struct rfs_oci_status *st)
{
	size_t len = 0;
	/* (len is set by error_response: not in the same call.) */
	struct MHD_Response *resp = error_response(st, &len);

	return send_response(r, c, st->http, resp, len);
}

static enum MHD_Result send_fail(struct request *r, struct MHD_Connection *c,
				 int http, enum rfs_oci_code code,
				 const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_fail(struct request *r, struct MHD_Connection *c,
				 int http, enum rfs_oci_code code,
				 const char *fmt, ...)
{
	struct rfs_oci_status st = { .http = http, .code = code };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st.message, sizeof(st.message), fmt, ap);
	va_end(ap);
	return send_error(r, c, &st);
}

static struct MHD_Response *empty_response(void)
{
	return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
}

/* An answer without a body. */
static enum MHD_Result send_status(struct request *r, struct MHD_Connection *c,
				   int status)
{
	return send_response(r, c, status, empty_response(), 0);
}

/* --- the audit log ----------------------------------------------------- */

static void client_address(struct MHD_Connection *c, char *buf, size_t size);

/* Record what request r did in the store's audit log (audit.h), with its
 * login and the client's address. The tag is the reference of a manifest
 * request; the digest is digest, else a reference that is one. */
static void audit(struct request *r, struct MHD_Connection *c, const char *kind,
		  int rc, const char *reason, const char *digest)
{
	bool by_digest = strncmp(r->ref, "sha256:", 7) == 0;
	char addr[INET6_ADDRSTRLEN];
	struct rfs_audit_event ev = {
		.kind = kind,
		.rc = rc,
		.reason = reason,
		.repo = r->repo[0] ? r->repo : NULL,
		.tag = r->route == ROUTE_MANIFEST && !by_digest ? r->ref : NULL,
		.digest = digest && *digest ? digest
			  : by_digest	    ? r->ref
					    : NULL,
		.user = r->user[0] ? r->user : NULL,
		.addr = addr,
		.uid = -1,
	};

	client_address(c, addr, sizeof(addr));
	rfs_audit_event(r->s->opts.store, &ev);
}

/* An error answer as the audit log's result: a server-side failure, a
 * digest that does not match, or a refusal. */
static int status_rc(const struct rfs_oci_status *st)
{
	if (st->http >= 500)
		return st->http == 507 ? -ENOSPC : -EIO;
	return st->code == RFS_OCI_DIGEST_INVALID ? -EBADMSG : -EACCES;
}

/* A login that failed, under the user name it claimed (never the
 * password): rc is rfs_access_authenticate's. */
static void audit_bad_login(struct request *r, struct MHD_Connection *c,
			    const char *auth, int rc)
{
	char password[RFS_ACCESS_PASSWORD_MAX + 1];

	if (rfs_access_parse_basic(auth, r->user, sizeof(r->user), password,
				   sizeof(password)) != 0)
		r->user[0] = '\0';
	explicit_bzero(password, sizeof(password));
	audit(r, c, RFS_AUDIT_LOGIN, rc == -ENOMEM ? rc : -EACCES,
	      rc == -EINVAL ? "malformed Basic credentials"
			    : "wrong user name or password",
	      NULL);
	r->user[0] = '\0';
}

/* --- authentication --------------------------------------------------- */

/* Basic credentials with an empty user and password (base64 of ":"):
 * what containers/image clients (skopeo, podman, buildah) send without a
 * login once /v2/ answered 401 with a Basic challenge. No login, not a
 * wrong one: the caller is anonymous. */
static bool empty_basic(const char *auth)
{
	if (strncasecmp(auth, "Basic", 5) != 0 ||
	    (auth[5] != ' ' && auth[5] != '\t'))
		return false;
	auth += 5;
	while (*auth == ' ' || *auth == '\t')
		auth++;
	return strcmp(auth, "Og==") == 0;
}

/* Who the request says it is, checked; 0 when it may go on, else an
 * answer was queued (401 or 403). */
static int authorize(struct request *r, struct MHD_Connection *c,
		     enum MHD_Result *answer)
{
	const struct serve_options *o = &r->s->opts;
	const char *auth = header(c, "Authorization");
	bool need;
	int rc;

	if (!o->access)
		return 0;
	if (auth && empty_basic(auth))
		auth = NULL;
	if (auth && (rc = rfs_access_authenticate(o->access, auth, r->user,
						  sizeof(r->user))) != 0) {
		audit_bad_login(r, c, auth, rc);
		serve_metrics_auth_failure(r->s->metrics);
		*answer = send_fail(r, c, 401, RFS_OCI_UNAUTHORIZED,
				    "wrong user name or password");
		return -1;
	}
	if (!r->user[0]) {
		/* The base route asks for a login when logins exist, so
		 * that clients learn there is one (docker login, and a push
		 * that follows a ping); anonymous pulls go on, where the
		 * rules let anyone pull. */
		/* /health stays open: load balancers ask it. */
		if (r->route == ROUTE_HEALTH)
			return 0;
		need = r->push || o->auth_pull || r->route == ROUTE_BASE ||
		       (r->repo[0] &&
			!rfs_access_may_pull(o->access, NULL, r->repo));
		if (!need)
			return 0;
		*answer = send_fail(r, c, 401, RFS_OCI_UNAUTHORIZED,
				    "authentication required");
		return -1;
	}
	/* What docker login asks, and every client session first: a
	 * login, not every request that carries one. */
	if (r->route == ROUTE_BASE)
		audit(r, c, RFS_AUDIT_LOGIN, 0, NULL, NULL);
	if (!r->repo[0])
		return 0;
	if (r->push ? !rfs_access_may_push(o->access, r->user, r->repo)
		    : !rfs_access_may_pull(o->access, r->user, r->repo)) {
		audit(r, c, RFS_AUDIT_DENIED, -EACCES,
		      r->push ? "may not push" : "may not pull", NULL);
		serve_metrics_auth_failure(r->s->metrics);
		*answer = send_fail(r, c, 403, RFS_OCI_DENIED,
				    "'%s' may not %s '%s'", r->user,
				    r->push ? "push to" : "pull from", r->repo);
		return -1;
	}
	return 0;
}

/* --- manifests -------------------------------------------------------- */

/* Does the Accept header take media_type? No header, or a wildcard,
 * takes anything. */
static bool accepts(const char *accept, const char *media_type)
{
	size_t n = strlen(media_type);
	const char *p;

	if (!accept || !*accept || strstr(accept, "*/*"))
		return true;
	for (p = accept; (p = strstr(p, media_type)); p += n)
		if (p[n] == '\0' || p[n] == ',' || p[n] == ';' || p[n] == ' ')
			return true;
	return false;
}

struct accept_check {
	const char *media_type;
	bool seen; /* an Accept header */
	bool ok;   /* one that takes media_type */
};

static enum MHD_Result accept_one(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *value)
{
	struct accept_check *a = cls;

	(void)kind;
	if (strcasecmp(key, "Accept") == 0) {
		a->seen = true;
		a->ok = a->ok || accepts(value, a->media_type);
	}
	return MHD_YES;
}

/* Does the request take media_type? Go clients (skopeo, podman, docker)
 * send an Accept header a type: any of them may. */
static bool request_accepts(struct MHD_Connection *c, const char *media_type)
{
	struct accept_check a = { .media_type = media_type };

	MHD_get_connection_values(c, MHD_HEADER_KIND, accept_one, &a);
	return !a.seen || a.ok;
}

static enum MHD_Result get_manifest(struct request *r, struct MHD_Connection *c)
{
	struct rfs_registry_manifest m;
	struct rfs_oci_status st;
	struct MHD_Response *resp;
	char etag[RFS_DIGEST_STR_MAX + 3];

	if (rfs_registry_manifest_get(r->s->opts.reg, r->repo, r->ref, &m, &st))
		return send_error(r, c, &st);
	if (!request_accepts(c, m.media_type)) {
		rfs_registry_manifest_release(&m);
		return send_fail(r, c, 404, RFS_OCI_MANIFEST_UNKNOWN,
				 "the manifest is a %s, which the request "
				 "does not accept",
				 m.media_type);
	}
	/* The body is the response's from here. */
	resp = owned_response(m.body, m.len, m.media_type);
	m.body = NULL;
	if (resp) {
		snprintf(etag, sizeof(etag), "\"%s\"", m.digest);
		MHD_add_response_header(resp, "Docker-Content-Digest",
					m.digest);
		MHD_add_response_header(resp, "ETag", etag);
	}
	if (strcmp(r->method, "GET") == 0)
		serve_metrics_pull(r->s->metrics, r->repo, m.len);
	rfs_registry_manifest_release(&m);
	return send_response(r, c, 200, resp, m.len);
}

static enum MHD_Result put_manifest(struct request *r, struct MHD_Connection *c)
{
	char digest[RFS_DIGEST_STR_MAX + 1], subject[RFS_DIGEST_STR_MAX + 1];
	char location[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 32];
	struct MHD_Response *resp;
	struct rfs_oci_status st;

	if (r->failed) {
		audit(r, c, RFS_AUDIT_PUSH, status_rc(&r->st), r->st.message,
		      NULL);
		return send_error(r, c, &r->st);
	}
	if (rfs_registry_manifest_put(
		r->s->opts.reg, r->repo, r->ref, header(c, "Content-Type"),
		r->body ? r->body : "", r->body_len, digest, subject, &st)) {
		audit(r, c, RFS_AUDIT_PUSH, status_rc(&st), st.message, NULL);
		return send_error(r, c, &st);
	}
	audit(r, c, RFS_AUDIT_PUSH, 0, NULL, digest);
	serve_metrics_push(r->s->metrics, r->repo, r->body_len);
	resp = empty_response();
	if (!resp)
		return MHD_NO;
	snprintf(location, sizeof(location), "/v2/%s/manifests/%s", r->repo,
		 digest);
	MHD_add_response_header(resp, "Location", location);
	MHD_add_response_header(resp, "Docker-Content-Digest", digest);
	if (subject[0])
		MHD_add_response_header(resp, "OCI-Subject", subject);
	return send_response(r, c, 201, resp, 0);
}

/* --- blobs ------------------------------------------------------------ */

/* Parse "bytes=A-B", "bytes=A-", "bytes=-N" against size: 1 and the
 * range, 0 when there is no usable header (send it all), -1 when it
 * cannot be satisfied. */
static int parse_range(const char *h, uint64_t size, uint64_t *start,
		       uint64_t *len)
{
	unsigned long long a, b;
	char *end;

	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	h += 6;
	if (*h == '-') {
		errno = 0;
		b = strtoull(h + 1, &end, 10);
		if (errno || *end || end == h + 1)
			return 0;
		if (b == 0)
			return -1;
		*len = b < size ? b : size;
		*start = size - *len;
		return size ? 1 : -1;
	}
	errno = 0;
	a = strtoull(h, &end, 10);
	if (errno || end == h || *end != '-')
		return 0;
	h = end + 1;
	if (!*h) {
		b = size ? size - 1 : 0;
	} else {
		b = strtoull(h, &end, 10);
		if (errno || *end)
			return 0;
		if (b >= size)
			b = size ? size - 1 : 0;
	}
	if (a >= size || b < a)
		return -1;
	*start = a;
	*len = b - a + 1;
	return 1;
}

static enum MHD_Result get_blob(struct request *r, struct MHD_Connection *c)
{
	struct rfs_registry_blob b;
	struct rfs_oci_status st;
	struct MHD_Response *resp;
	uint64_t start = 0, len;
	char crange[96];
	int ranged;

	if (rfs_registry_blob_open(r->s->opts.reg, r->repo, r->ref, &b, &st)) {
		if (st.http == 502)
			serve_metrics_upstream_error(r->s->metrics, r->repo);
		return send_error(r, c, &st);
	}
	if (b.upstream)
		serve_metrics_cache(r->s->metrics, r->repo, !b.fetched);
	len = b.size;
	ranged = parse_range(header(c, "Range"), b.size, &start, &len);
	if (ranged < 0) {
		rfs_registry_blob_close(&b);
		resp = empty_response();
		if (resp) {
			snprintf(crange, sizeof(crange), "bytes */%" PRIu64,
				 b.size);
			MHD_add_response_header(resp, "Content-Range", crange);
		}
		return send_response(r, c, 416, resp, 0);
	}
	if (b.data) {
		resp = MHD_create_response_from_buffer((size_t)len,
						       (void *)(b.data + start),
						       MHD_RESPMEM_PERSISTENT);
	} else {
		/* The response owns the descriptor from here. */
		resp =
		    MHD_create_response_from_fd_at_offset64(len, b.fd, start);
		if (!resp)
			rfs_registry_blob_close(&b);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type",
				"application/octet-stream");
	MHD_add_response_header(resp, "Docker-Content-Digest", r->ref);
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (ranged) {
		snprintf(crange, sizeof(crange),
			 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
			 start + len - 1, b.size);
		MHD_add_response_header(resp, "Content-Range", crange);
	}
	if (strcmp(r->method, "GET") == 0)
		serve_metrics_pull(r->s->metrics, r->repo, len);
	return send_response(r, c, ranged ? 206 : 200, resp, len);
}

/* --- uploads ---------------------------------------------------------- */

static void upload_location(const struct request *r, const char *id, char *buf,
			    size_t size)
{
	snprintf(buf, size, "/v2/%s/blobs/uploads/%s", r->repo, id);
}

/* Where the session is and what it holds. */
static void add_upload_state(const struct request *r, struct MHD_Response *resp,
			     struct rfs_upload *u)
{
	char location[RFS_REPO_MAX + 64], range[48];
	uint64_t size = rfs_upload_size(u);

	upload_location(r, rfs_upload_id(u), location, sizeof(location));
	snprintf(range, sizeof(range), "0-%" PRIu64, size ? size - 1 : 0);
	MHD_add_response_header(resp, "Location", location);
	MHD_add_response_header(resp, "Range", range);
	MHD_add_response_header(resp, "Docker-Upload-UUID", rfs_upload_id(u));
}

/* 202 or 204 with the session's state. */
static enum MHD_Result send_upload_state(struct request *r,
					 struct MHD_Connection *c, int status,
					 struct rfs_upload *u)
{
	struct MHD_Response *resp = empty_response();

	if (!resp)
		return MHD_NO;
	add_upload_state(r, resp, u);
	return send_response(r, c, status, resp, 0);
}

/* A refused chunk (416), with the session's state: the client resumes
 * from there without asking. */
static enum MHD_Result send_chunk_refused(struct request *r,
					  struct MHD_Connection *c,
					  struct rfs_upload *u)
{
	size_t len = 0;
	struct MHD_Response *resp = error_response(&r->st, &len);

	if (resp)
		add_upload_state(r, resp, u);
	return send_response(r, c, r->st.http, resp, len);
}

static enum MHD_Result send_blob_created(struct request *r,
					 struct MHD_Connection *c,
					 const char *digest)
{
	char location[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 16];
	struct MHD_Response *resp;

	snprintf(location, sizeof(location), "/v2/%s/blobs/%s", r->repo,
		 digest);
	resp = empty_response();
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", location);
	MHD_add_response_header(resp, "Docker-Content-Digest", digest);
	return send_response(r, c, 201, resp, 0);
}

/* Content-Range of a chunk: its first byte must be the next one the
 * session expects (416 otherwise: out of order, or sent again), and its
 * length the body's when Content-Length says it (416 too: the session
 * takes nothing). */
static int check_chunk(struct request *r, struct MHD_Connection *c)
{
	const char *h = header(c, "Content-Range");
	const char *cl = header(c, "Content-Length");
	unsigned long long a, b, n = 0;
	uint64_t size = rfs_upload_size(r->upload);
	char *end = NULL;

	if (!h)
		return 0;
	if (strncmp(h, "bytes ", 6) == 0)
		h += 6;
	r->st = (struct rfs_oci_status){ .http = 416,
					 .code = RFS_OCI_BLOB_UPLOAD_INVALID };
	if (sscanf(h, "%llu-%llu", &a, &b) != 2 || b < a || a != size) {
		snprintf(r->st.message, sizeof(r->st.message),
			 "the chunk starts at %.40s, the upload has %" PRIu64
			 " bytes",
			 h, size);
		return -1;
	}
	/* Its end + 1 must be a size: else chunk_end wraps to 0, which
	 * means no range, and the chunk's length goes unchecked. */
	if (b == ULLONG_MAX) {
		snprintf(r->st.message, sizeof(r->st.message),
			 "the chunk %.40s ends past any size", h);
		return -1;
	}
	if (cl) {
		errno = 0;
		n = strtoull(cl, &end, 10);
	}
	if (cl && (errno || *end || n != b - a + 1)) {
		snprintf(r->st.message, sizeof(r->st.message),
			 "the chunk %llu-%llu has %llu bytes, the body %.20s",
			 a, b, b - a + 1, cl);
		return -1;
	}
	r->chunk_end = b + 1;
	return 0;
}

/* A body the store has no room for is refused before a byte is taken
 * (507), rather than after it filled the disk. */
static int check_space(struct request *r, struct MHD_Connection *c)
{
	const char *h = header(c, "Content-Length");
	unsigned long long want;
	char *end;

	if (!h)
		return 0;
	errno = 0;
	want = strtoull(h, &end, 10);
	if (errno || *end)
		return 0;
	return rfs_registry_check_room(r->s->opts.reg, want, &r->st) ? -1 : 0;
}

/* Before the body: find or open the session the request writes to. A
 * session held when this fails is given back by upload_end. */
static int upload_begin(struct request *r, struct MHD_Connection *c)
{
	struct rfs_registry *reg = r->s->opts.reg;
	const char *mount = arg(c, "mount"), *digest = arg(c, "digest");

	/* Refused before a byte is taken, the session as it was. */
	if (digest &&
	    (r->route == ROUTE_UPLOADS || !strcmp(r->method, "PUT")) &&
	    rfs_registry_check_digest(digest, &r->st))
		return -1;
	if (check_space(r, c))
		return -1;
	if (r->route == ROUTE_UPLOADS) {
		if (mount &&
		    rfs_registry_blob_mount(reg, r->repo, arg(c, "from"), mount,
					    &r->st) == 0)
			return 1; /* mounted: answered at the end */
		return rfs_registry_upload_start(reg, r->repo, &r->upload,
						 &r->st);
	}
	if (rfs_registry_upload_acquire(reg, r->repo, r->ref, &r->upload,
					&r->st))
		return -1;
	if ((strcmp(r->method, "PATCH") == 0 ||
	     (strcmp(r->method, "PUT") == 0 && digest)) &&
	    check_chunk(r, c))
		return -1;
	return 0;
}

static enum MHD_Result upload_end(struct request *r, struct MHD_Connection *c)
{
	struct rfs_registry *reg = r->s->opts.reg;
	const char *digest = arg(c, "digest");
	struct rfs_upload *u = r->upload;
	enum MHD_Result ok;
	uint64_t size;

	r->upload = NULL;
	if (r->failed && !u)
		return send_error(r, c, &r->st);
	if (r->failed && r->route == ROUTE_UPLOADS) {
		/* Nobody knows a POST's session unless it was answered
		 * 202. */
		rfs_registry_upload_cancel(reg, u);
		return send_error(r, c, &r->st);
	}
	if (r->failed) {
		ok = r->st.http == 416 ? send_chunk_refused(r, c, u)
				       : send_error(r, c, &r->st);
		rfs_registry_upload_release(reg, u);
		return ok;
	}
	if (!u) /* mounted */
		return send_blob_created(r, c, arg(c, "mount"));
	if (r->chunk_end && rfs_upload_size(u) != r->chunk_end) {
		/* A body sent without Content-Length, not the length of its
		 * Content-Range: what it appended cannot be taken back. */
		rfs_registry_upload_cancel(reg, u);
		return send_fail(r, c, 400, RFS_OCI_SIZE_INVALID,
				 "the chunk should have ended at byte %" PRIu64
				 ": the upload is given up",
				 r->chunk_end);
	}
	/* The state is read before the session is given back: another
	 * request may take it at once. */
	if (strcmp(r->method, "GET") == 0) {
		ok = send_upload_state(r, c, 204, u);
		rfs_registry_upload_release(reg, u);
		return ok;
	}
	if (strcmp(r->method, "DELETE") == 0) {
		rfs_registry_upload_cancel(reg, u);
		return send_status(r, c, 204);
	}
	if (digest &&
	    (strcmp(r->method, "PUT") == 0 || r->route == ROUTE_UPLOADS)) {
		size = rfs_upload_size(u);
		if (rfs_registry_upload_finish(reg, u, digest, &r->st)) {
			audit(r, c, RFS_AUDIT_PUSH, status_rc(&r->st),
			      r->st.message, digest);
			return send_error(r, c, &r->st);
		}
		serve_metrics_push(r->s->metrics, r->repo, size);
		return send_blob_created(r, c, digest);
	}
	if (strcmp(r->method, "PUT") == 0) {
		rfs_registry_upload_release(reg, u);
		return send_fail(r, c, 400, RFS_OCI_DIGEST_INVALID,
				 "a PUT that ends an upload needs ?digest=");
	}
	ok = send_upload_state(r, c, 202, u);
	rfs_registry_upload_release(reg, u);
	return ok;
}

/* --- listings --------------------------------------------------------- */

struct page {
	json_t *names;
	int64_t want;
	int64_t got;
	char last[RFS_REPO_MAX + 1];
};

static int page_add(void *ctx, const char *name)
{
	struct page *p = ctx;

	/* One past the page tells that there is a next one. */
	if (p->got++ == p->want)
		return 0;
	snprintf(p->last, sizeof(p->last), "%s", name);
	return json_array_append_new(p->names, json_string(name)) ? -ENOMEM : 0;
}

/* n= of a listing: at most PAGE_MAX, which is also the default. -1 for
 * a bad value. */
static int64_t page_size(struct MHD_Connection *c)
{
	const char *n = arg(c, "n");
	char *end;
	long long v;

	if (!n)
		return PAGE_MAX;
	errno = 0;
	v = strtoll(n, &end, 10);
	if (errno || *end || end == n || v < 0)
		return -1;
	return v > PAGE_MAX ? PAGE_MAX : v;
}

static enum MHD_Result send_page(struct request *r, struct MHD_Connection *c,
				 struct page *p, const char *key,
				 const char *base)
{
	json_t *doc = json_object();
	struct MHD_Response *resp;
	char *link = NULL;
	size_t len;

	if (!doc)
		return MHD_NO;
	if (r->route == ROUTE_TAGS)
		json_object_set_new(doc, "name", json_string(r->repo));
	json_object_set_new(doc, key, p->names);
	resp = json_response(doc, NULL, &len);
	if (!resp)
		return MHD_NO;
	if (p->got > p->want && p->want > 0 &&
	    asprintf(&link, "<%s?n=%" PRId64 "&last=%s>; rel=\"next\"", base,
		     p->want, p->last) > 0)
		MHD_add_response_header(resp, "Link", link);
	free(link);
	return send_response(r, c, 200, resp, len);
}

static enum MHD_Result list(struct request *r, struct MHD_Connection *c)
{
	struct page p = { .names = json_array() };
	struct rfs_oci_status st;
	char base[RFS_REPO_MAX + 32];
	int rc;

	p.want = page_size(c);
	if (p.want < 0) {
		json_decref(p.names);
		return send_fail(r, c, 400, RFS_OCI_UNSUPPORTED,
				 "n must be a number from 0");
	}
	if (r->route == ROUTE_TAGS) {
		snprintf(base, sizeof(base), "/v2/%s/tags/list", r->repo);
		rc = rfs_registry_list_tags(r->s->opts.reg, r->repo,
					    arg(c, "last"), p.want + 1,
					    page_add, &p, &st);
	} else {
		snprintf(base, sizeof(base), "/v2/_catalog");
		rc = rfs_registry_list_repos(r->s->opts.reg, arg(c, "last"),
					     p.want + 1, page_add, &p, &st);
	}
	if (rc) {
		json_decref(p.names);
		return send_error(r, c, &st);
	}
	return send_page(
	    r, c, &p, r->route == ROUTE_TAGS ? "tags" : "repositories", base);
}

static enum MHD_Result referrers(struct request *r, struct MHD_Connection *c)
{
	const char *type = arg(c, "artifactType");
	struct rfs_oci_status st;
	struct MHD_Response *resp;
	char *body;
	size_t len;

	if (rfs_registry_referrers(r->s->opts.reg, r->repo, r->ref, type, &body,
				   &len, &st))
		return send_error(r, c, &st);
	resp = owned_response(body, len, RFS_MT_OCI_INDEX);
	if (!resp)
		return MHD_NO;
	if (type)
		MHD_add_response_header(resp, "OCI-Filters-Applied",
					"artifactType");
	return send_response(r, c, 200, resp, len);
}

/* --- operations ------------------------------------------------------- */

static enum MHD_Result health(struct request *r, struct MHD_Connection *c)
{
	const struct serve_options *o = &r->s->opts;
	json_t *doc, *ups = json_array();
	struct statvfs fs;
	bool catalog_ok;
	int64_t n = 0;

	catalog_ok = rfs_catalog_cached_bytes(rfs_store_catalog(o->store),
					      (uint64_t *)&n) == 0;
	for (size_t i = 0; o->upstreams && i < o->upstreams->n_upstreams; i++)
		json_array_append_new(
		    ups, json_pack("{s:s, s:s}", "name",
				   o->upstreams->upstreams[i].name, "url",
				   o->upstreams->upstreams[i].url));
	doc = json_pack("{s:s, s:s, s:s, s:o}", "status",
			catalog_ok ? "ok" : "failing", "store",
			rfs_store_root(o->store), "catalog",
			catalog_ok ? "ok" : "cannot be read", "upstreams", ups);
	if (doc && statvfs(rfs_store_root(o->store), &fs) == 0)
		json_object_set_new(
		    doc, "free_bytes",
		    json_integer((json_int_t)(fs.f_bavail * fs.f_frsize)));
	if (doc)
		json_object_set_new(doc, "cached_bytes", json_integer(n));
	return send_json(r, c, catalog_ok ? 200 : 503, doc, NULL);
}

static enum MHD_Result metrics(struct request *r, struct MHD_Connection *c)
{
	struct MHD_Response *resp;
	char *text;
	size_t len;

	if (serve_metrics_render(r->s->metrics, &text, &len))
		return MHD_NO;
	resp = owned_response(text, len, RFS_METRICS_CONTENT_TYPE);
	return resp ? send_response(r, c, 200, resp, len) : MHD_NO;
}

static enum MHD_Result browse(struct request *r, struct MHD_Connection *c,
			      const char *url)
{
	struct browse_request req = {
		.path = url + 3,
		.q = arg(c, "q"),
		.last = arg(c, "last"),
		.host = header(c, "Host"),
		.tls = r->s->opts.tls_cert != NULL,
	};
	struct browse_page page = { 0 };
	struct MHD_Response *resp;
	size_t len;

	if (browse_render(r->s->opts.store, &req, &page))
		return send_fail(r, c, 500, RFS_OCI_UNSUPPORTED,
				 "cannot render the page");
	len = page.len;
	resp = owned_response(page.body, len, BROWSE_CONTENT_TYPE);
	page.body = NULL;
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Security-Policy", BROWSE_CSP);
	return send_response(r, c, page.status, resp, len);
}

/* Anything but GET and HEAD under /ui/: the page says so. */
static enum MHD_Result browse_not_allowed(struct request *r,
					  struct MHD_Connection *c)
{
	struct browse_page page = { 0 };
	struct MHD_Response *resp;
	size_t len;

	if (browse_render_error(405,
				"These pages only show; they change "
				"nothing.",
				&page))
		return MHD_NO;
	len = page.len;
	resp = owned_response(page.body, len, BROWSE_CONTENT_TYPE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Allow", "GET, HEAD");
	return send_response(r, c, 405, resp, len);
}

static enum MHD_Result redirect(struct request *r, struct MHD_Connection *c,
				const char *to)
{
	struct MHD_Response *resp;

	resp = empty_response();
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Location", to);
	return send_response(r, c, 302, resp, 0);
}

/* --- dispatch --------------------------------------------------------- */

static bool is(const struct request *r, const char *method)
{
	return strcmp(r->method, method) == 0;
}

static enum MHD_Result not_allowed(struct request *r, struct MHD_Connection *c)
{
	return send_fail(r, c, 405, RFS_OCI_UNSUPPORTED,
			 "%s is not supported here", r->method);
}

/* Does the route take a body into an upload or a buffer? */
static bool takes_body(const struct request *r)
{
	if (r->route == ROUTE_MANIFEST)
		return is(r, "PUT");
	if (r->route == ROUTE_UPLOADS)
		return is(r, "POST");
	if (r->route == ROUTE_UPLOAD)
		return is(r, "PATCH") || is(r, "PUT");
	return false;
}

static bool changes(const struct request *r)
{
	return !is(r, "GET") && !is(r, "HEAD");
}

/* DELETE of a manifest or a blob (--allow-delete), recorded. */
static enum MHD_Result delete (struct request *r, struct MHD_Connection *c,
			       int (*remove)(struct rfs_registry *,
					     const char *, const char *,
					     struct rfs_oci_status *)) {
	struct rfs_oci_status st;

	if (remove(r->s->opts.reg, r->repo, r->ref, &st)){
	    audit(r, c, RFS_AUDIT_REMOVE, status_rc(&st), st.message, NULL);
	    return send_error(r, c, &st); }
audit(r, c, RFS_AUDIT_REMOVE, 0, NULL, NULL);
return send_status(r, c, 202);
}

/* The answer once the whole request is in. */
static enum MHD_Result answer(struct request *r, struct MHD_Connection *c,
			      const char *url)
{
	bool read = is(r, "GET") || is(r, "HEAD");
	bool del = is(r, "DELETE");

	switch (r->route) {
	case ROUTE_NONE: break;
	case ROUTE_ROOT:
		return read ? redirect(r, c, "/ui/") : not_allowed(r, c);
	case ROUTE_UI:
		return read ? browse(r, c, url) : browse_not_allowed(r, c);
	case ROUTE_HEALTH: return read ? health(r, c) : not_allowed(r, c);
	case ROUTE_METRICS: return read ? metrics(r, c) : not_allowed(r, c);
	case ROUTE_BASE:
		return read ? send_json(r, c, 200, json_object(), NULL)
			    : not_allowed(r, c);
	case ROUTE_CATALOG:
	case ROUTE_TAGS: return read ? list(r, c) : not_allowed(r, c);
	case ROUTE_REFERRERS: return read ? referrers(r, c) : not_allowed(r, c);
	case ROUTE_MANIFEST:
		if (read)
			return get_manifest(r, c);
		if (is(r, "PUT"))
			return put_manifest(r, c);
		if (del && r->s->opts.allow_delete)
			return delete (r, c, rfs_registry_manifest_delete);
		if (del)
			break;
		return not_allowed(r, c);
	case ROUTE_BLOB:
		if (read)
			return get_blob(r, c);
		if (del && r->s->opts.allow_delete)
			return delete (r, c, rfs_registry_blob_delete);
		if (del)
			break;
		return not_allowed(r, c);
	case ROUTE_UPLOADS:
		return is(r, "POST") ? upload_end(r, c) : not_allowed(r, c);
	case ROUTE_UPLOAD:
		if (is(r, "PATCH") || is(r, "PUT") || is(r, "GET") || del)
			return upload_end(r, c);
		return not_allowed(r, c);
	}
	if (r->route != ROUTE_NONE && del)
		return send_fail(r, c, 405, RFS_OCI_UNSUPPORTED,
				 "this registry keeps what it holds: start "
				 "regctl serve with --allow-delete to delete");
	return send_fail(r, c, 404, RFS_OCI_NAME_UNKNOWN,
			 "no route for '%.200s'", url);
}

/* Take in a piece of the body: into the upload, or into the manifest
 * buffer (bounded). A failure is kept for the answer; the rest of the
 * body is read and dropped. */
static void take_body(struct request *r, const char *data, size_t len)
{
	size_t max = RFS_MANIFEST_MAX;

	if (r->failed)
		return;
	if (r->upload) {
		if (rfs_upload_write(r->upload, data, len, &r->st))
			r->failed = true;
		return;
	}
	if (r->route != ROUTE_MANIFEST)
		return;
	if (r->body_len + len > max) {
		r->failed = true;
		r->st = (struct rfs_oci_status){ .http = 413,
						 .code = RFS_OCI_SIZE_INVALID };
		snprintf(r->st.message, sizeof(r->st.message),
			 "a manifest may have %zu bytes at most", max);
		return;
	}
	if (r->body_len + len > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 16384;
		char *p;

		while (cap < r->body_len + len)
			cap *= 2;
		p = realloc(r->body, cap);
		if (!p) {
			r->failed = true;
			r->st = (struct rfs_oci_status){
				.http = 500, .code = RFS_OCI_MANIFEST_INVALID
			};
			snprintf(r->st.message, sizeof(r->st.message),
				 "out of memory");
			return;
		}
		r->body = p;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct serve *s = cls;
	struct request *r = *con_cls;
	enum MHD_Result ok = MHD_YES;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		r->s = s;
		r->start_ns = now_ns();
		r->method = method;
		r->route = route_of(r, url);
		snprintf(r->path, sizeof(r->path), "%s", url);
		r->push = changes(r) && r->route != ROUTE_UI &&
			  r->route != ROUTE_ROOT;
		if (r->long_name)
			return send_fail(r, c, 400, RFS_OCI_NAME_INVALID,
					 "a repository name has %d characters "
					 "at most",
					 RFS_REPO_MAX);
		if (r->repo[0] && !rfs_registry_valid_repo(r->repo))
			return send_fail(r, c, 400, RFS_OCI_NAME_INVALID,
					 "invalid repository name '%.255s'",
					 r->repo);
		if (authorize(r, c, &ok))
			return ok;
		return MHD_YES;
	}
	if (r->status) {
		/* Answered already (refused before its body): the rest of
		 * the body is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!r->started && takes_body(r)) {
		int rc;

		r->started = true;
		if (r->route != ROUTE_MANIFEST) {
			rc = upload_begin(r, c);
			if (rc < 0)
				r->failed = true;
		}
	}
	if (*upload_data_size) {
		/* A body that trickles in, a little before each idle timeout,
		 * is cut off at the request's deadline. */
		if (now_ns() - r->start_ns >
		    (int64_t)s->opts.request_timeout_s * 1000000000)
			return MHD_NO;
		take_body(r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->route == ROUTE_UPLOAD && !takes_body(r) &&
	    (is(r, "GET") || is(r, "DELETE")) && !r->upload) {
		if (rfs_registry_upload_acquire(s->opts.reg, r->repo, r->ref,
						&r->upload, &r->st))
			return send_error(r, c, &r->st);
	}
	return answer(r, c, url);
}

/* --- the access log and the end of a request --------------------------- */

static void client_address(struct MHD_Connection *c, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;

	snprintf(buf, size, "-");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(
		    AF_INET,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    buf, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(
		    AF_INET6,
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    buf, (socklen_t)size);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct serve *s = cls;
	struct request *r = *con_cls;
	char addr[INET6_ADDRSTRLEN], when[32];
	char user[RFS_TEXT_NAME_BUF], method[RFS_TEXT_NAME_BUF];
	char path[RFS_TEXT_NAME_BUF], ref[RFS_TEXT_NAME_BUF];
	double seconds;
	struct tm tm;
	time_t t;

	if (!r)
		return;
	/* The client went away mid-request. Nobody knows a POST's session
	 * (it was not answered 202). */
	if (r->upload && r->route == ROUTE_UPLOADS)
		rfs_registry_upload_cancel(s->opts.reg, r->upload);
	else if (r->upload)
		rfs_registry_upload_release(s->opts.reg, r->upload);
	seconds = (double)(now_ns() - r->start_ns) / 1e9;
	serve_metrics_request(s->metrics, r->method, r->status, seconds);
	if (s->opts.access_log) {
		client_address(c, addr, sizeof(addr));
		t = (time_t)(r->start_ns / 1000000000);
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		/* The user, the method and the path are the client's words:
		 * escaped and cut (text.h), one line a request whatever they
		 * hold. */
		pthread_mutex_lock(&s->log_lock);
		fprintf(s->opts.access_log,
			"%s %s %s %s %s%s%s %d %" PRIu64 " %.3f%s\n", when,
			addr, r->user[0] ? rfs_text_name(user, r->user) : "-",
			rfs_text_name(method, r->method),
			rfs_text_name(path, r->repo[0] ? r->repo : r->path),
			r->ref[0] ? " " : "", rfs_text_name(ref, r->ref),
			r->status, r->sent, seconds,
			why == MHD_REQUEST_TERMINATED_COMPLETED_OK
			    ? ""
			    : " (cut off)");
		fflush(s->opts.access_log);
		pthread_mutex_unlock(&s->log_lock);
	}
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* --- starting and stopping -------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss,
			socklen_t *len, struct rfs_error *err)
{
	char host[256], *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	int rc;

	if (snprintf(host, sizeof(host), "%s", listen) >= (int)sizeof(host))
		return rfs_error_set(err, -EINVAL, "--listen: too long");
	port = strrchr(host, ':');
	if (!port)
		return rfs_error_set(err, -EINVAL,
				     "--listen '%s': want ADDR:PORT", listen);
	*port++ = '\0';
	if (host[0] == '[' && port - host >= 3 && port[-2] == ']') {
		port[-2] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc)
		return rfs_error_set(err, -EINVAL, "--listen '%s': %s", listen,
				     gai_strerror(rc));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Percent-decoding of paths and arguments, as libmicrohttpd's own but
 * for %00, which stays as it is: decoded, it would end the string and
 * cut a name or tag short ("v1%00x" taken for "v1"); kept, the name is
 * invalid. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *w = s, hex[3] = { 0 };

	(void)cls;
	(void)c;
	for (const char *p = s; *p;) {
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2]) &&
		    (p[1] != '0' || p[2] != '0')) {
			hex[0] = p[1];
			hex[1] = p[2];
			*w++ = (char)strtoul(hex, NULL, 16);
			p += 3;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char raw[1024], msg[RFS_TEXT_BUF(sizeof(raw))];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);

	(void)cls;
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(raw))
		n = (int)sizeof(raw) - 1;
	/* libmicrohttpd's lines end in a newline and may quote a client. */
	if (n > 0 && raw[n - 1] == '\n')
		n--;
	fprintf(
	    stderr, "regctl serve: %s\n",
	    rfs_text_escape(msg, sizeof(msg), raw, (size_t)n, RFS_TEXT_ALL));
}

int serve_start(const struct serve_options *opts, struct serve **out,
		unsigned *port, struct rfs_error *err)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	struct serve *s;
	socklen_t len;
	int rc;

	rc = parse_listen(opts->listen, &ss, &len, err);
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	s->opts = *opts;
	pthread_mutex_init(&s->log_lock, NULL);
	rc = serve_metrics_new(&s->metrics);
	if (rc) {
		free(s);
		return rfs_error_set(err, rc, "cannot set up the metrics");
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (opts->tls_cert)
		flags |= MHD_USE_TLS;
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
	    log_mhd, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, opts->max_connections,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
	    opts->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
	    opts->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, opts->tls_key,
	    MHD_OPTION_END);
	if (!s->daemon) {
		serve_metrics_free(&s->metrics);
		free(s);
		return rfs_error_set(err, -EADDRINUSE,
				     "cannot listen on %s (in use, not an "
				     "address of this machine, or a bad TLS "
				     "certificate or key)",
				     opts->listen);
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : 0;
	*out = s;
	return 0;
}

void serve_stop(struct serve **sp)
{
	struct serve *s = *sp;

	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	serve_metrics_free(&s->metrics);
	pthread_mutex_destroy(&s->log_lock);
	free(s);
	*sp = NULL;
}
