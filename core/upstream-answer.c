/*
 * upstream-answer.c - reading what an upstream answered (see
 * upstream-internal.h): what its status or libcurl's code means as an
 * errno, its headers, Retry-After, and the registry's error body.
 *
 * - errno (one table per domain, below): 404 -ENOENT, 401/403 -EACCES,
 *   429 and 503 -EAGAIN (try later), 504 -ETIMEDOUT, other 5xx -EIO,
 *   416 -ERANGE; curl: a timeout -ETIMEDOUT, refused -ECONNREFUSED, no
 *   name -EHOSTUNREACH, TLS -EPROTO, a broken transfer -EIO. A call whose
 *   budget ran out is -ETIMEDOUT.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "upstream-internal.h"

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

const char *upstream_http_text(long status)
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

/* ---- headers ---- */

const char *upstream_get_header_at(CURL *h, const char *name, size_t index)
{
	struct curl_header *hdr;

	if (curl_easy_header(h, name, index, CURLH_HEADER, -1, &hdr) !=
	    CURLHE_OK)
		return NULL;
	return hdr->value;
}

const char *upstream_get_header(CURL *h, const char *name)
{
	return upstream_get_header_at(h, name, 0);
}

size_t upstream_header_count(CURL *h, const char *name)
{
	struct curl_header *hdr;

	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
		return 0;
	return hdr->amount;
}

/* "bytes FIRST-LAST/TOTAL" or "bytes * /TOTAL"; TOTAL may be '*'. */
bool upstream_content_range(CURL *h, uint64_t *first, uint64_t *total)
{
	const char *v = upstream_get_header(h, "Content-Range");
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

/* Retry-After in ms, or -1 when absent or unreadable. */
int64_t upstream_retry_after(CURL *h)
{
	const char *v = upstream_get_header(h, "Retry-After");
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

/* ---- the registry's error body ---- */

/* The registry's error code, from a body {"errors":[{"code":...}]}, and
 * with full its message and detail too (what a 400 needs to be read:
 * "MANIFEST_BLOB_UNKNOWN: blob unknown to registry: sha256:..."). */
void upstream_error_code(const struct call *c, bool full, char *buf,
			 size_t size)
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
bool upstream_error_is(const struct call *c, const char *want)
{
	char code[96], expect[96];

	upstream_error_code(c, false, code, sizeof(code));
	snprintf(expect, sizeof(expect), " (%s)", want);
	return !strcmp(code, expect);
}
