/*
 * fuzz-www-authenticate.c - libFuzzer harness for the upstream client's
 * answer to a 401 or 403 (core/upstream-auth.c): the WWW-Authenticate
 * challenges (schemes, auth-params as tokens or quoted strings with
 * escapes, several headers), the scope asked merged with the call's own,
 * the token URL built from realm, service and scopes, and the token
 * service's JSON answer.
 *
 * That code is static and sits behind transfers: the harness includes
 * upstream-auth.c and upstream-answer.c, with libcurl's header API
 * (curl_easy_header) and the token request (upstream_call_run) served
 * from the input, as curl's unit tests reach static internals through a
 * test build, rather than widen core's internal header for a test.
 *
 * Input: the scope the call needs ("repository:app:pull,push" as the
 * client spells it) on the first line, its first byte's low bit choosing
 * 403 over 401; then the answer's header lines ("Name: value") up to an
 * empty line; then the token service's body.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream-internal.h"

#include "fuzz.h"

#define MAX_HEADERS 8

static struct curl_header headers[MAX_HEADERS];
static size_t n_headers;
static const uint8_t *token_body;
static size_t token_len;
static size_t n_token_requests;

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

static int fuzz_call_run(struct call *c, const char *url,
			 struct rfs_error *err);

#define curl_easy_header fuzz_header
#include "../../core/upstream-answer.c"
#undef curl_easy_header
#define upstream_call_run(c, url, err) fuzz_call_run(c, url, err)
#include "../../core/upstream-auth.c"
#undef upstream_call_run

/* The token request: the body from the input, as upstream_call_run
 * leaves it (a NUL after it, no more room). */
static int fuzz_call_run(struct call *c, const char *url, struct rfs_error *err)
{
	char *buf;

	/* An https upstream's credentials go to https realms only. */
	FUZZ_ASSERT(!strncasecmp(url, "https://", 8));
	n_token_requests++;
	if (token_len > c->max)
		return upstream_fail(c, err, -EFBIG, "answer too large");
	buf = malloc(token_len + 1);
	if (!buf)
		abort();
	memcpy(buf, token_body, token_len);
	buf[token_len] = '\0';
	free(c->buf);
	c->buf = buf;
	c->len = token_len;
	c->cap = token_len + 1;
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
	cfg.name = strdup("fuzz");
	cfg.url = strdup("https://registry.example:5000");
	/* Given outright, so that no credentials file is read. */
	cfg.username = strdup("user");
	cfg.password = strdup("secret");
	if (rfs_upstream_new(&cfg, &up, &err) < 0)
		abort();
	rfs_upstream_config_release(&cfg);
	return up;
}

/* What one input taught the upstream handle, forgotten: each input
 * starts from a fresh one, as far as the auth state goes. */
static void forget(struct rfs_upstream *up)
{
	while (up->tokens) {
		struct token *t = up->tokens;

		up->tokens = t->next;
		upstream_token_free(t);
	}
	up->basic = false;
}

static void check_merge(const char *ours, const char *theirs)
{
	char *merged = merge_scope(ours, theirs), *again;

	if (!merged)
		abort();
	/* Ours always leads, spelled as the token cache knows it. */
	FUZZ_ASSERT(!strncmp(merged, ours, strlen(ours)));
	/* What the merge asks covers the challenge: merging again adds
	 * nothing. */
	again = merge_scope(merged, theirs);
	if (!again)
		abort();
	FUZZ_ASSERT(!strcmp(again, merged));
	free(again);
	free(merged);
}

/* The challenge parser on its own, on every header's value. */
static void check_challenge(const char *ours, const char *value)
{
	struct bearer b = { 0 };
	const char *params =
	    strncasecmp(value, "Bearer ", 7) ? value : value + 7;

	if (parse_challenge(params, &b) < 0)
		abort();
	FUZZ_ASSERT(b.service && b.scope);
	check_merge(ours, b.scope);
	bearer_release(&b);
}

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
			n_headers++;
		}
		p = stop + 1;
	}
	return end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *end = data + size, *nl = memchr(data, '\n', size);
	const uint8_t *p = nl ? nl + 1 : end;
	struct rfs_upstream *up = upstream();
	struct rfs_error err = { 0 };
	long status = size && (data[0] & 1) ? 403 : 401;
	char *ours = fuzz_str(data, nl ? (size_t)(nl - data) : size);
	struct call c;
	int rc;

	p = take_headers(p, end);
	token_body = p < end ? p : end;
	token_len = (size_t)(end - token_body);
	n_token_requests = 0;
	for (size_t i = 0; i < n_headers; i++)
		check_challenge(ours, headers[i].value);
	check_merge(ours, ours);

	upstream_call_init(&c, up, "fuzz", ours);
	rc = upstream_on_denied(&c, status, &err);
	if (rc == 0) {
		/* Something new to send: a token from the realm, or basic
		 * credentials the upstream asked for. */
		FUZZ_ASSERT(c.auth == AUTH_BEARER || c.auth == AUTH_BASIC);
		if (c.auth == AUTH_BEARER)
			FUZZ_ASSERT(c.tok && c.tok->value && *c.tok->value &&
				    c.tok->expires > upstream_now_ms());
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	FUZZ_ASSERT(n_token_requests <= 1);
	upstream_call_release(&c);
	forget(up);
	for (size_t i = 0; i < n_headers; i++) {
		free(headers[i].name);
		free(headers[i].value);
	}
	n_headers = 0;
	free(ours);
	return 0;
}
