/*
 * upstream-call.c - the transport of the upstream client (see
 * upstream-internal.h): one call, made of one or more requests, each run
 * to completion over libcurl within the call's deadline.
 *
 * What it promises:
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
 *   repeated POST opens one more session at worst), PATCH never
 *   (upstream-push.c asks the session instead). Bodies are read from the
 *   source as libcurl sends them, never held whole; "Expect: 100-continue"
 *   is not used.
 * - Plain http. An http:// URL is its own permission (upstream.h: it implies
 *   plain_http). plain_http on an https:// upstream lets redirects and a
 *   token realm use http too; without it only https is spoken. Only http
 *   and https are ever spoken.
 * - Redirects: only blob GETs and HEADs (and token fetches) follow them,
 *   since registries send blobs to storage elsewhere. Credentials are set
 *   through CURLOPT_HTTPAUTH, which libcurl sends to the first host only
 *   (no CURLOPT_UNRESTRICTED_AUTH).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "upstream-internal.h"

#define MAX_REDIRS 5

/* ---- small helpers ---- */

int64_t upstream_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whom this thread's calls are for (upstream.h). */
static _Thread_local const struct rfs_cancel *thread_cancel;

const struct rfs_cancel *
rfs_upstream_cancel_on_thread(const struct rfs_cancel *cancel)
{
	const struct rfs_cancel *prev = thread_cancel;

	thread_cancel = cancel;
	return prev;
}

bool upstream_cancelled(void)
{
	return rfs_cancelled(thread_cancel);
}

/* Sleeps ms, or less when the thread's caller stops waiting: in slices,
 * so that it is asked often enough. */
void upstream_sleep_ms(int64_t ms)
{
	const int64_t slice = 100;

	while (ms > 0 && !upstream_cancelled()) {
		int64_t part = ms < slice ? ms : slice;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = part * 1000000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= part;
	}
}

/* Fill err with the call's context: upstream, URL, what was asked. */
int upstream_fail(struct call *c, struct rfs_error *err, int code,
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

/* ---- one call ---- */

/* A request starts: its budget, and min_rate's count, from now. */
void upstream_start_clock(struct call *c)
{
	c->began = upstream_now_ms();
	c->moved = 0;
	c->rate_bound = false;
	c->deadline = c->began + c->budget;
}

void upstream_call_init(struct call *c, struct rfs_upstream *up,
			const char *what, const char *scope)
{
	memset(c, 0, sizeof(*c));
	c->up = up;
	c->what = what;
	c->scope = scope;
	c->use_auth = true;
	c->budget = up->cfg.total_timeout_ms ? up->cfg.total_timeout_ms : 1;
	upstream_start_clock(c);
	c->size = SIZE_UNKNOWN;
	c->seed = (unsigned int)upstream_now_ms() ^ (unsigned int)(uintptr_t)c;
}

void upstream_call_release(struct call *c)
{
	upstream_call_drop_handle(c);
	rfs_credential_release(&c->cred);
	upstream_token_free(c->tok);
	c->tok = NULL;
	free(c->buf);
	c->buf = NULL;
}

/* The first write of an attempt: what is this body? */
static void begin_body(struct call *c)
{
	long status = 0;

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	c->body_ok = status >= 200 && status < 300;
	if (c->body_ok && !c->sink && c->max) {
		curl_off_t cl = -1;

		/* A body announced larger than the bound is refused before a
		 * byte of it is kept. */
		if (curl_easy_getinfo(c->curl,
				      CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				      &cl) == CURLE_OK &&
		    cl > 0 && (uint64_t)cl > c->max)
			c->too_big = true;
	}
	if (!c->body_ok || !c->sink)
		return;
	if (status == 206) {
		uint64_t first, total;

		if (!upstream_content_range(c->curl, &first, &total) ||
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
	/* A blob announced past the bound is refused before its first
	 * byte is taken. */
	if (c->size != SIZE_UNKNOWN && c->size > c->max)
		c->too_big = true;
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
	deadline = upstream_now_ms() + c->budget;
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
	if (c->bad_range || c->too_big)
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
		if (left && left > c->max - c->want) {
			c->too_big = true;
			return CURL_WRITEFUNC_ERROR;
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
	int64_t now = upstream_now_ms();

	(void)dltotal;
	(void)ultotal;
	if (upstream_cancelled()) {
		c->interrupted = true;
		return 1;
	}
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

/* Drop the call's handle: it goes back to the pool only when its last
 * transfer went well. */
void upstream_call_drop_handle(struct call *c)
{
	if (c->curl && c->curl_failed)
		curl_easy_cleanup(c->curl);
	else
		upstream_handle_put(c->up, c->curl);
	c->curl = NULL;
	c->curl_failed = false;
}

/* A handle set up for one attempt: the call's own unless its last transfer
 * failed, else one from the pool, else a new one. A handle that refuses its
 * setup is thrown away, and a new one tried once: a broken handle must
 * never break every later request. */
static int setup_handle(struct call *c, const char *url, int64_t left,
			struct curl_slist **headers)
{
	int rc = -ENOMEM;

	if (c->curl && c->curl_failed)
		upstream_call_drop_handle(c);
	for (int i = 0; i < 2; i++) {
		if (!c->curl)
			c->curl = i == 0 ? upstream_handle_get(c->up)
					 : curl_easy_init();
		if (!c->curl)
			return -ENOMEM;
		curl_slist_free_all(*headers);
		*headers = NULL;
		rc = setup(c, url, left, headers);
		if (rc == 0)
			return 0;
		curl_easy_cleanup(c->curl);
		c->curl = NULL;
	}
	return rc;
}

/* ---- retries ---- */

int64_t upstream_backoff_delay(struct call *c, unsigned int n)
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

/* Run one request to completion: retries, resumes, auth. */
static int run_attempts(struct call *c, const char *url, struct rfs_error *err)
{
	unsigned int failures = 0;
	int rc;

	for (;;) {
		struct curl_slist *headers = NULL;
		int64_t left = c->deadline - upstream_now_ms();
		int64_t delay, ra = -1;
		long status = 0;
		CURLcode cc;

		if (left <= 0 && c->rate_bound)
			return upstream_fail(c, err, -ETIMEDOUT,
					     "slower than min_rate (%" PRIu64
					     " bytes/s): %" PRIu64
					     " bytes in %" PRId64 " ms",
					     c->up->cfg.min_rate, c->moved,
					     upstream_now_ms() - c->began);
		if (left <= 0) {
			if (c->last_code)
				return upstream_fail(c, err, -ETIMEDOUT,
						     "no answer within %" PRId64
						     " ms, last: %s",
						     c->budget, c->last_msg);
			return upstream_fail(c, err, -ETIMEDOUT,
					     "no answer within %" PRId64 " ms",
					     c->budget);
		}
		if (upstream_cancelled())
			return upstream_fail(c, err, -EINTR, "interrupted");
		c->started = c->body_ok = c->too_big = c->nomem = false;
		c->bad_range = c->expired = c->stalled = c->interrupted = false;
		c->last_xfer = 0;
		c->last_rx = upstream_now_ms();
		c->got = 0;
		c->skip = 0;
		c->errlen = 0;
		c->errbody[0] = '\0';
		c->errbuf[0] = '\0';
		c->len = 0;
		rc = setup_handle(c, url, left, &headers);
		if (rc < 0) {
			curl_slist_free_all(headers);
			return upstream_fail(c, err, rc,
					     "cannot set up the request");
		}
		cc = curl_easy_perform(c->curl);
		curl_slist_free_all(headers);
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		/* After a failed transfer the handle is suspect: what the
		 * loop still reads of it (headers) is read now, and the next
		 * attempt gets a fresh one. */
		if (cc != CURLE_OK)
			c->curl_failed = true;

		if (c->interrupted)
			return upstream_fail(c, err, -EINTR, "interrupted");
		if (c->sink_rc)
			return upstream_fail(c, err, c->sink_rc,
					     "cannot take the bytes: %s",
					     strerror(-c->sink_rc));
		if (c->source_rc)
			return upstream_fail(
			    c, err, c->source_rc,
			    "cannot read the content at byte %" PRIu64 ": %s",
			    c->body_off + c->body_pos,
			    c->source_short ? "it ended before its size"
					    : strerror(-c->source_rc));
		if (c->nomem)
			return upstream_fail(c, err, -ENOMEM, "out of memory");
		if (c->too_big)
			return upstream_fail(c, err, -EFBIG,
					     "larger than %zu bytes", c->max);
		if (c->bad_range)
			return upstream_fail(
			    c, err, -EPROTO,
			    "the answer to 'Range: bytes=%" PRIu64
			    "-' starts elsewhere",
			    c->want);
		/* An error answer whose body broke off (Distribution sends a
		 * 416 with the blob's Content-Length) is judged by its
		 * status. */
		if (cc != CURLE_OK && status >= 400 && !c->body_ok &&
		    !c->expired && upstream_now_ms() < c->deadline)
			cc = CURLE_OK;
		if (cc != CURLE_OK) {
			if (c->expired || upstream_now_ms() >= c->deadline) {
				/* A moving deadline just moved, or min_rate's
				 * passed: the loop's head says which. */
				if (c->got || c->rate_bound)
					continue;
				return upstream_fail(c, err, -ETIMEDOUT,
						     "no answer within %" PRId64
						     " ms",
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
				return upstream_fail(c, err, c->last_code, "%s",
						     c->last_msg);
		} else if (status >= 200 && status < 300) {
			if (c->sink && c->skip)
				return upstream_fail(
				    c, err, -ERANGE,
				    "offset %" PRIu64
				    " is past the end (%" PRIu64 " bytes)",
				    c->want, c->want - c->skip);
			if (c->sink && c->size != SIZE_UNKNOWN &&
			    c->want < c->size) {
				if (!c->got)
					return upstream_fail(
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
			rc = upstream_on_denied(c, status, err);
			if (rc < 0)
				return rc;
			continue; /* answering a challenge is not a retry */
		} else if (c->sink && status == 416) {
			uint64_t first, total;

			if (!upstream_content_range(c->curl, &first, &total))
				total = c->size;
			if (total == c->want)
				return 0; /* nothing left to deliver */
			if (total == SIZE_UNKNOWN)
				return upstream_fail(
				    c, err, -ERANGE,
				    "416 range not satisfiable at offset %" PRIu64,
				    c->want);
			return upstream_fail(c, err, -ERANGE,
					     "offset %" PRIu64
					     " is past the end (%" PRIu64
					     " bytes)",
					     c->want, total);
		} else {
			char code[200];

			upstream_error_code(c, status == 400, code,
					    sizeof(code));
			c->last_code = rfs_errno_from_http(status);
			snprintf(c->last_msg, sizeof(c->last_msg), "%ld %s%s",
				 status, upstream_http_text(status), code);
			if (!http_retryable(status))
				return upstream_fail(c, err, c->last_code, "%s",
						     c->last_msg);
			ra = upstream_retry_after(c->curl);
		}

		/* A retryable failure. */
		if (failures >= c->up->cfg.retries || c->no_retry)
			return upstream_fail(c, err, c->last_code, "%s",
					     c->last_msg);
		delay = ra >= 0 ? ra : upstream_backoff_delay(c, failures);
		if (delay >= c->deadline - upstream_now_ms())
			return upstream_fail(c, err, c->last_code,
					     "%s (no time left to retry)",
					     c->last_msg);
		upstream_sleep_ms(delay);
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

/* Does it say so of the whole upstream? A refused connection or a name
 * that does not resolve does; a timeout or a "try later" may be one slow
 * repository's, and says so only of the call's scope. */
static bool host_down(int rc)
{
	return rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ENETUNREACH;
}

/* The entry of scope in up->down, or NULL; lock held. */
static struct down *down_find(struct rfs_upstream *up, const char *scope)
{
	for (size_t i = 0; i < DOWN_MAX; i++)
		if (up->down[i].until && !strcmp(up->down[i].scope, scope))
			return &up->down[i];
	return NULL;
}

/* Until when calls for scope fail at once (0: they do not), and why;
 * lock held. */
static int64_t down_until(struct rfs_upstream *up, const char *scope,
			  int64_t now, int *rc)
{
	struct down *d = down_find(up, "");

	if (!d || d->until <= now)
		d = down_find(up, scope);
	if (!d || d->until <= now)
		return 0;
	*rc = d->rc;
	return d->until;
}

/* Remember scope as unreachable until until, in place of an entry that
 * expired or else of the one that expires first; lock held. */
static void down_set(struct rfs_upstream *up, const char *scope, int64_t until,
		     int rc)
{
	struct down *d = down_find(up, scope);

	for (size_t i = 0; !d && i < DOWN_MAX; i++)
		if (!up->down[i].until)
			d = &up->down[i];
	for (size_t i = 0; !d && i < DOWN_MAX; i++)
		if (!d || up->down[i].until < d->until)
			d = &up->down[i];
	snprintf(d->scope, sizeof(d->scope), "%s", scope);
	d->until = until;
	d->rc = rc;
}

static void down_clear(struct rfs_upstream *up, const char *scope)
{
	struct down *d = down_find(up, scope);

	if (d)
		d->until = 0;
}

/* One request with its retries, unless the upstream, or the repository
 * the call is about, was found unreachable a moment ago (for as long as one
 * call's budget, 1 to 10 s). Blob transfers, which a reader asked for and
 * which are made once however many readers wait, always try; they only
 * tell that the upstream is back. */
int upstream_call_run(struct call *c, const char *url, struct rfs_error *err)
{
	struct rfs_upstream *up = c->up;
	const char *scope = c->scope ? c->scope : "";
	bool blob = c->moving_deadline;
	int64_t now = upstream_now_ms(), until = 0, hold;
	int rc = 0;

	pthread_mutex_lock(&up->lock);
	if (!blob)
		until = down_until(up, scope, now, &rc);
	pthread_mutex_unlock(&up->lock);
	if (until)
		return upstream_fail(
		    c, err, rc,
		    "unreachable a moment ago (%s); asking again in "
		    "%" PRId64 " ms",
		    strerror(-rc), until - now);
	rc = run_attempts(c, url, err);
	hold = up->cfg.total_timeout_ms;
	hold = hold < 1000 ? 1000 : hold > 10000 ? 10000 : hold;
	if (rc == -EINTR)
		return rc; /* says nothing of the upstream */
	pthread_mutex_lock(&up->lock);
	if (rc >= 0 || !unreachable(rc)) {
		/* It answered: the host is up, and so is this scope. */
		down_clear(up, "");
		down_clear(up, scope);
	} else if (!blob) {
		down_set(up, host_down(rc) ? "" : scope,
			 upstream_now_ms() + hold, rc);
	}
	pthread_mutex_unlock(&up->lock);
	return rc;
}
