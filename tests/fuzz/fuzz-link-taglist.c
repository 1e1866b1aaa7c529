/*
 * fuzz-link-taglist.c - libFuzzer harness for the tag-list reader of the
 * upstream client (core/upstream-pull.c): each page's JSON, the names
 * handed on, and the Link header that leads to the next page, whose URL
 * must stay on the registry (credentials go with it).
 *
 * The code is static and sits behind a transfer: the harness includes
 * upstream-pull.c, with its one request (upstream_call_run) and its one
 * header lookup (upstream_get_header) served from the input instead of
 * libcurl. Everything else is core's own: the call's setup and release,
 * its buffer's rules, its errors.
 *
 * Input: pages separated by NUL bytes; a page is its Link header's value
 * on the first line ("" for none), then its body. A request past the last
 * page fails as a dropped connection does.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream-internal.h"

#include "fuzz.h"

static const uint8_t *in_next, *in_end;
static char *link_value;
static size_t n_requests;

static const char *fuzz_get_header(CURL *h, const char *name)
{
	(void)h;
	return strcasecmp(name, "Link") ? NULL : link_value;
}

static int fuzz_call_run(struct call *c, const char *url,
			 struct rfs_error *err);

#define upstream_get_header(h, name)   fuzz_get_header(h, name)
#define upstream_call_run(c, url, err) fuzz_call_run(c, url, err)
#include "../../core/upstream-pull.c"
#undef upstream_get_header
#undef upstream_call_run

/* One answer, as upstream_call_run leaves it: the body in c->buf with a
 * NUL after it (no more room than that, so ASan sees an over-read), at
 * most c->max bytes. */
static int fuzz_call_run(struct call *c, const char *url, struct rfs_error *err)
{
	size_t blen = strlen(c->up->base);
	const uint8_t *page, *end, *nl;
	char *buf;

	/* The page links that come back must not lead off the registry. */
	FUZZ_ASSERT(!strncmp(url, c->up->base, blen) && url[blen] == '/');
	n_requests++;
	free(link_value);
	link_value = NULL;
	if (in_next > in_end)
		return upstream_fail(c, err, -ECONNRESET, "connection reset");
	page = in_next;
	end = memchr(page, '\0', (size_t)(in_end - page));
	if (!end)
		end = in_end;
	in_next = end + 1;
	nl = memchr(page, '\n', (size_t)(end - page));
	if (nl && nl > page)
		link_value = fuzz_str(page, (size_t)(nl - page));
	page = nl ? nl + 1 : end;
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
	n_requests = 0;
	rc =
	    rfs_upstream_list_tags(upstream(), "app", count_name, &names, &err);
	FUZZ_ASSERT(n_requests >= 1);
	if (rc < 0)
		FUZZ_ASSERT(err.msg[0]);
	free(link_value);
	link_value = NULL;
	return 0;
}
