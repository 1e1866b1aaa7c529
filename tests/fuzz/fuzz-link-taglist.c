/*
 * fuzz-link-taglist.c - libFuzzer harness for what the upstream client
 * reads from a registry's answers to a tag list (core/upstream-pull.c,
 * core/upstream-answer.c): each page's JSON, the names handed on, the Link
 * header that leads to the next page, whose URL must stay on the registry
 * (credentials go with it); and, on every page, the headers and error body
 * other calls read from such answers (Content-Range, Retry-After, the
 * registry's error code).
 *
 * That code is static and sits behind a transfer: the harness includes
 * both files, with libcurl's header API (curl_easy_header) and the one
 * request (upstream_call_run) served from the input instead of the
 * network. Everything in between is core's own: the call's setup and
 * release, its buffer's rules, the header lookups, the errors.
 *
 * Input: pages separated by NUL bytes; a page is HTTP-like, "Name: value"
 * header lines, an empty line, then the body. A request past the last
 * page fails as a dropped connection does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream-internal.h"

#include "fuzz.h"

#define MAX_HEADERS 16

static const uint8_t *in_next, *in_end;
static struct curl_header headers[MAX_HEADERS];
static size_t n_headers;

/* curl_easy_header, over the page's headers: the index-th of name. */
static CURLHcode fuzz_header(CURL *h, const char *name, size_t index,
			     unsigned int origin, int request,
			     struct curl_header **hout)
{
	size_t amount = 0;
	struct curl_header *hit = NULL;

	(void)h;
	(void)origin;
	(void)request;
	for (size_t i = 0; i < n_headers; i++) {
		if (strcasecmp(headers[i].name, name))
			continue;
		if (amount == index)
			hit = &headers[i];
		amount++;
	}
	if (!amount)
		return CURLHE_MISSING;
	if (!hit)
		return CURLHE_BADINDEX;
	hit->amount = amount;
	hit->index = index;
	*hout = hit;
	return CURLHE_OK;
}

static void drop_headers(void)
{
	for (size_t i = 0; i < n_headers; i++) {
		free(headers[i].name);
		free(headers[i].value);
	}
	n_headers = 0;
}

static int fuzz_call_run(struct call *c, const char *url,
			 struct rfs_error *err);

#define curl_easy_header fuzz_header
#include "../../core/upstream-answer.c"
#undef curl_easy_header
#define upstream_call_run(c, url, err) fuzz_call_run(c, url, err)
#include "../../core/upstream-pull.c"
#undef upstream_call_run

/* Take the page's header lines ("Name: value", until an empty line). */
static const uint8_t *take_headers(const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nl ? nl : end;
		const uint8_t *colon = memchr(p, ':', (size_t)(stop - p));

		if (stop == p)
			return stop + 1;
		if (colon && n_headers < MAX_HEADERS) {
			const uint8_t *v = colon + 1;

			while (v < stop && *v == ' ')
				v++;
			headers[n_headers].name =
			    fuzz_str(p, (size_t)(colon - p));
			headers[n_headers].value =
			    fuzz_str(v, (size_t)(stop - v));
			headers[n_headers].origin = CURLH_HEADER;
			n_headers++;
		}
		p = stop + 1;
	}
	return end;
}

/* What other calls read from an answer's headers and error body. */
static void read_answer(struct call *c, const char *body, size_t len)
{
	uint64_t first, total;
	int64_t ms;
	char code[200];

	(void)upstream_content_range(c->curl, &first, &total);
	ms = upstream_retry_after(c->curl);
	FUZZ_ASSERT(ms >= -1 && ms <= 86400000);
	c->errlen = len < sizeof(c->errbody) - 1 ? len : sizeof(c->errbody) - 1;
	memcpy(c->errbody, body, c->errlen);
	c->errbody[c->errlen] = '\0';
	upstream_error_code(c, true, code, sizeof(code));
	FUZZ_ASSERT(strlen(code) < sizeof(code));
	(void)upstream_error_is(c, "NAME_UNKNOWN");
	c->errlen = 0;
	c->errbody[0] = '\0';
}

/* One answer, as upstream_call_run leaves it: the body in c->buf with a
 * NUL after it (no more room than that, so ASan sees an over-read), at
 * most c->max bytes. */
static int fuzz_call_run(struct call *c, const char *url, struct rfs_error *err)
{
	size_t blen = strlen(c->up->base);
	const uint8_t *page, *end;
	char *buf;

	/* The page links that come back must not lead off the registry. */
	FUZZ_ASSERT(!strncmp(url, c->up->base, blen) && url[blen] == '/');
	drop_headers();
	if (in_next > in_end)
		return upstream_fail(c, err, -ECONNRESET, "connection reset");
	page = in_next;
	end = memchr(page, '\0', (size_t)(in_end - page));
	if (!end)
		end = in_end;
	in_next = end + 1;
	page = take_headers(page, end);
	if (page > end)
		page = end;
	read_answer(c, (const char *)page, (size_t)(end - page));
	if ((size_t)(end - page) > c->max)
		return upstream_fail(c, err, -EFBIG, "answer too large");
	c->len = (size_t)(end - page);
	buf = realloc(c->buf, c->len + 1);
	if (!buf)
		abort();
	memcpy(buf, page, c->len);
	buf[c->len] = '\0';
	c->buf = buf;
	c->cap = c->len + 1;
	return 0;
}

static int count_name(void *ctx, const char *name)
{
	FUZZ_ASSERT(name);
	(*(size_t *)ctx)++;
	return 0;
}

static struct rfs_upstream *upstream(void)
{
	static struct rfs_upstream *up;
	struct rfs_upstream_config cfg;
	struct rfs_error err = { 0 };

	if (up)
		return up;
	rfs_upstream_config_defaults(&cfg);
	free(cfg.credentials);
	cfg.name = strdup("fuzz");
	cfg.url = strdup("https://registry.example:5000");
	cfg.credentials = strdup("none");
	if (rfs_upstream_new(&cfg, &up, &err) < 0)
		abort();
	rfs_upstream_config_release(&cfg);
	return up;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfs_error err = { 0 };
	size_t names = 0;
	int rc;

	in_next = data;
	in_end = data + size;
	rc =
	    rfs_upstream_list_tags(upstream(), "app", count_name, &names, &err);
	if (rc < 0)
		FUZZ_ASSERT(err.msg[0]);
	drop_headers();
	return 0;
}
