/*
 * test-upstream.c - unit tests of upstream.h, the OCI Distribution client.
 *
 * Three groups:
 *  - offline: URL checks, prefix mapping, the errno tables;
 *  - a fake HTTP/1.1 server (a thread on 127.0.0.1) playing scripted
 *    answers a real registry cannot give on demand: 503 then 200, 429 with
 *    Retry-After, a blob cut short then resumed with Range, a server that
 *    never answers, the bearer-token flow with a token endpoint;
 *  - the real CNCF Distribution registry (docker-registry serve), started
 *    here on a free port with storage in a temp folder, filled through its
 *    HTTP API with plain libcurl, once open and once behind htpasswd.
 * Without docker-registry the first two groups run and the program exits
 * 77 (skipped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "digest.h"
#include "upstream.h"
#include "tmptree.h"

#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define FAKE_MANIFEST                                                        \
	"{\"schemaVersion\":2,\"mediaType\":\"" MANIFEST_TYPE "\","          \
	"\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","   \
	"\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e" \
	"8310c060f61caaff8a\",\"size\":2},\"layers\":[]}"
#define BLOB_LEN  1000
#define FAKE_USER "robot"
#define FAKE_PASS "s3cret-pass"

static char tmp_root[64];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void digest_of(const void *buf, size_t len,
		      char out[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_hasher *h = NULL;

	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update(h, buf, len), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	rfs_hasher_free(&h);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* A Docker-format credentials file for host; returns its path. */
static char *credentials_file(const char *name, const char *host,
			      const char *user, const char *pass)
{
	static char path[256];
	char pair[128], b64[256], json[512];

	snprintf(pair, sizeof(pair), "%s:%s", user, pass);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pair,
			(int)strlen(pair));
	snprintf(json, sizeof(json), "{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}",
		 host, b64);
	snprintf(path, sizeof(path), "%s/%s.json", tmp_root, name);
	write_file(path, json, 0600);
	return path;
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* A collecting sink. */
struct sink {
	char *buf;
	size_t len;
	int calls;
};

static int sink_collect(void *ctx, const void *buf, size_t len)
{
	struct sink *s = ctx;
	char *nb = realloc(s->buf, s->len + len + 1);

	if (!nb)
		return -ENOMEM;
	memcpy(nb + s->len, buf, len);
	s->buf = nb;
	s->len += len;
	s->calls++;
	return 0;
}

static void sink_release(struct sink *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* An upstream with quick retries; total_ms 0 keeps the default budget,
 * min_rate -1 the default floor. */
static struct rfs_upstream *new_upstream_rate(const char *url,
					      const char *credentials,
					      unsigned int total_ms,
					      int64_t min_rate)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	int rc;

	rfs_upstream_config_defaults(&cfg);
	if (min_rate >= 0)
		cfg.min_rate = (uint64_t)min_rate;
	cfg.name = strdup("test");
	cfg.url = strdup(url);
	free(cfg.credentials);
	cfg.credentials = strdup(credentials ? credentials : "none");
	cfg.backoff_ms = 20;
	cfg.backoff_max_ms = 100;
	cfg.retries = 3;
	cfg.connect_timeout_ms = 1000;
	if (total_ms)
		cfg.total_timeout_ms = total_ms;
	rc = rfs_upstream_new(&cfg, &up, &err);
	if (rc)
		fail_msg("rfs_upstream_new: %d %s", rc, err.msg);
	rfs_upstream_config_release(&cfg);
	return up;
}

static struct rfs_upstream *
new_upstream(const char *url, const char *credentials, unsigned int total_ms)
{
	return new_upstream_rate(url, credentials, total_ms, -1);
}

/* ---- offline ---- */

static int try_new(const char *url, bool plain_http, struct rfs_error *err)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	int rc;

	rfs_upstream_config_defaults(&cfg);
	cfg.url = strdup(url);
	cfg.plain_http = plain_http;
	rc = rfs_upstream_new(&cfg, &up, err);
	rfs_upstream_free(&up);
	rfs_upstream_free(&up); /* NULL is fine */
	rfs_upstream_config_release(&cfg);
	return rc;
}

static void test_new_urls(void **state)
{
	struct rfs_error err = { 0 };

	(void)state;
	assert_int_equal(try_new("https://registry.example:5000", false, &err),
			 0);
	assert_int_equal(try_new("https://registry.example/", false, &err), 0);
	/* An http:// URL is its own permission (upstream.h). */
	assert_int_equal(try_new("http://127.0.0.1:5000", false, &err), 0);
	assert_int_equal(try_new("ftp://registry.example", false, &err),
			 -EINVAL);
	assert_int_equal(
	    try_new("https://u:secret@registry.example", false, &err), -EINVAL);
	assert_null(strstr(err.msg, "secret"));
	assert_int_equal(try_new("https://registry.example/v2/x", false, &err),
			 -EINVAL);
	assert_int_equal(try_new("not a url", false, &err), -EINVAL);
}

static void test_config_defaults(void **state)
{
	struct rfs_upstream_config cfg;

	(void)state;
	rfs_upstream_config_defaults(&cfg);
	assert_int_equal(cfg.total_timeout_ms, 20000);
	assert_int_equal(cfg.connect_timeout_ms, 5000);
	assert_int_equal(cfg.retries, 4);
	assert_int_equal(cfg.backoff_ms, 250);
	assert_int_equal(cfg.backoff_max_ms, 4000);
	assert_int_equal(cfg.tag_ttl_s, -1);
	assert_int_equal(cfg.list_ttl_s, 60);
	assert_int_equal(cfg.page_size, 1000);
	assert_true(cfg.tls_verify);
	assert_string_equal(cfg.credentials, "auto");
	rfs_upstream_config_release(&cfg);
	rfs_upstream_config_release(NULL);
}

static void test_remote_repo(void **state)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	char buf[RFS_REPO_MAX + 1];

	(void)state;
	rfs_upstream_config_defaults(&cfg);
	cfg.url = strdup("https://registry-1.docker.io");
	free(cfg.prefix);
	cfg.prefix = strdup("hub/");
	free(cfg.remote_root);
	cfg.remote_root = strdup("library/");
	assert_int_equal(rfs_upstream_new(&cfg, &up, NULL), 0);
	assert_string_equal(
	    rfs_upstream_remote_repo(up, "hub/alpine", buf, sizeof(buf)),
	    "library/alpine");
	assert_null(rfs_upstream_remote_repo(up, "alpine", buf, sizeof(buf)));
	assert_null(rfs_upstream_remote_repo(up, "hub/", buf, sizeof(buf)));
	assert_null(rfs_upstream_remote_repo(up, "hubble/x", buf, 6));
	assert_null(rfs_upstream_remote_repo(up, "hub/alpine", buf, 8));
	assert_string_equal(rfs_upstream_config(up)->name, "default");
	rfs_upstream_free(&up);

	/* "hub" without its slash still serves only hub/... */
	free(cfg.prefix);
	cfg.prefix = strdup("hub");
	assert_int_equal(rfs_upstream_new(&cfg, &up, NULL), 0);
	assert_null(rfs_upstream_remote_repo(up, "hubble/x", buf, sizeof(buf)));
	assert_string_equal(
	    rfs_upstream_remote_repo(up, "hub/x", buf, sizeof(buf)),
	    "library/x");
	rfs_upstream_free(&up);

	free(cfg.prefix);
	cfg.prefix = strdup("");
	free(cfg.remote_root);
	cfg.remote_root = strdup("");
	assert_int_equal(rfs_upstream_new(&cfg, &up, NULL), 0);
	assert_string_equal(
	    rfs_upstream_remote_repo(up, "org/app", buf, sizeof(buf)),
	    "org/app");
	rfs_upstream_free(&up);
	rfs_upstream_config_release(&cfg);
}

static void test_errno_tables(void **state)
{
	(void)state;
	assert_int_equal(rfs_errno_from_http(200), 0);
	assert_int_equal(rfs_errno_from_http(206), 0);
	assert_int_equal(rfs_errno_from_http(404), -ENOENT);
	assert_int_equal(rfs_errno_from_http(401), -EACCES);
	assert_int_equal(rfs_errno_from_http(403), -EACCES);
	assert_int_equal(rfs_errno_from_http(416), -ERANGE);
	assert_int_equal(rfs_errno_from_http(429), -EAGAIN);
	assert_int_equal(rfs_errno_from_http(503), -EAGAIN);
	assert_int_equal(rfs_errno_from_http(500), -EIO);
	assert_int_equal(rfs_errno_from_http(504), -ETIMEDOUT);
	assert_int_equal(rfs_errno_from_http(418), -EPROTO);
	assert_int_equal(rfs_errno_from_curl(CURLE_OK), 0);
	assert_int_equal(rfs_errno_from_curl(CURLE_OPERATION_TIMEDOUT),
			 -ETIMEDOUT);
	assert_int_equal(rfs_errno_from_curl(CURLE_COULDNT_CONNECT),
			 -ECONNREFUSED);
	assert_int_equal(rfs_errno_from_curl(CURLE_COULDNT_RESOLVE_HOST),
			 -EHOSTUNREACH);
	assert_int_equal(rfs_errno_from_curl(CURLE_PEER_FAILED_VERIFICATION),
			 -EPROTO);
	assert_int_equal(rfs_errno_from_curl(CURLE_PARTIAL_FILE), -EIO);
}

/* ---- the fake server ---- */

struct fake;
typedef void (*fake_fn)(struct fake *f, int fd, int n, const char *req);

#define FAKE_MAX_REQ 32

struct fake {
	int lfd;
	int port;
	char base[64];
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop;
	fake_fn fn;
	int n;
	char req[FAKE_MAX_REQ][1024];
	int64_t at[FAKE_MAX_REQ]; /* when each request came (now_ms) */
	int held[8];
	int n_held;
	/* The body bytes read with the request head. */
	const char *pre;
	size_t pre_len;
	/* scenario state */
	int token_fetches;
	int expires_in;		  /* of the tokens it issues; 0: 300 s */
	const char *expires_text; /* its JSON text instead, when set */
	char valid_token[32];
	bool forbid_stale;
	const char *digest_header;
};

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* An answer whose Content-Length is clen, of which len bytes are sent. */
static void reply_cut(int fd, const char *status, const char *headers,
		      const void *body, size_t clen, size_t len)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n%s\r\n",
			 status, clen, headers ? headers : "");

	send_all(fd, head, (size_t)n);
	if (len)
		send_all(fd, body, len);
}

static void reply(int fd, const char *status, const char *headers,
		  const char *body)
{
	size_t len = body ? strlen(body) : 0;

	reply_cut(fd, status, headers, body, len, len);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		char req[4096];
		size_t len = 0;
		bool stop;
		int fd, n;

		pthread_mutex_lock(&f->mu);
		stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* Read the request head; what came of a body is in f->pre. */
		while (len < sizeof(req) - 1) {
			struct pollfd q = { .fd = fd, .events = POLLIN };
			ssize_t k;

			if (poll(&q, 1, 2000) <= 0)
				break;
			k = recv(fd, req + len, sizeof(req) - 1 - len, 0);
			if (k <= 0)
				break;
			len += (size_t)k;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		req[len] = '\0';
		f->pre = strstr(req, "\r\n\r\n");
		f->pre = f->pre ? f->pre + 4 : req + len;
		f->pre_len = len - (size_t)(f->pre - req);
		pthread_mutex_lock(&f->mu);
		n = f->n++;
		if (n < FAKE_MAX_REQ) {
			memcpy(f->req[n], req, sizeof(f->req[n]) - 1);
			f->at[n] = now_ms();
		}
		pthread_mutex_unlock(&f->mu);
		f->fn(f, fd, n, req);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f, fake_fn fn)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->fn = fn;
	pthread_mutex_init(&f->mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	f->stop = true;
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	for (int i = 0; i < f->n_held; i++)
		close(f->held[i]);
	close(f->lfd);
	pthread_mutex_destroy(&f->mu);
}

static int fake_count(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->n;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void reply_manifest(struct fake *f, int fd)
{
	char headers[256];

	snprintf(headers, sizeof(headers),
		 "Content-Type: " MANIFEST_TYPE "\r\n%s%s%s",
		 f->digest_header ? "Docker-Content-Digest: " : "",
		 f->digest_header ? f->digest_header : "",
		 f->digest_header ? "\r\n" : "");
	reply(fd, "200 OK", headers, FAKE_MANIFEST);
}

static void fn_503_then_ok(struct fake *f, int fd, int n, const char *req)
{
	(void)req;
	if (n == 0)
		reply(fd, "503 Service Unavailable", NULL, "busy");
	else
		reply_manifest(f, fd);
}

static void fn_always_503(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)n;
	(void)req;
	reply(fd, "503 Service Unavailable", NULL, NULL);
}

static void fn_429(struct fake *f, int fd, int n, const char *req)
{
	(void)req;
	if (n == 0)
		reply(fd, "429 Too Many Requests", "Retry-After: 1\r\n", NULL);
	else
		reply_manifest(f, fd);
}

/* 429 once, with Retry-After as an HTTP date 2 s ahead. */
static void fn_429_date(struct fake *f, int fd, int n, const char *req)
{
	char line[96];
	time_t when = time(NULL) + 2;
	struct tm tm;

	(void)req;
	if (n > 0) {
		reply_manifest(f, fd);
		return;
	}
	gmtime_r(&when, &tm);
	strftime(line, sizeof(line),
		 "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	reply(fd, "429 Too Many Requests", line, NULL);
}

static void fn_404(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)n;
	(void)req;
	reply(fd, "404 Not Found", "Content-Type: application/json\r\n",
	      "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\","
	      "\"message\":\"manifest unknown\"}]}");
}

static void fn_hold(struct fake *f, int fd, int n, const char *req)
{
	(void)n;
	(void)req;
	pthread_mutex_lock(&f->mu);
	if (f->n_held < 8) {
		f->held[f->n_held++] = dup(fd); /* never answered */
	}
	pthread_mutex_unlock(&f->mu);
}

static void test_fake_retry_503(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];
	int rc;

	(void)state;
	fake_start(&f, fn_503_then_ok);
	up = new_upstream(f.base, NULL, 5000);
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 2);
	digest_of(FAKE_MANIFEST, strlen(FAKE_MANIFEST), digest);
	assert_string_equal(m.digest, digest);
	assert_string_equal(m.media_type, MANIFEST_TYPE);
	assert_int_equal(m.len, strlen(FAKE_MANIFEST));
	assert_memory_equal(m.body, FAKE_MANIFEST, m.len);
	/* The Accept header names OCI and Docker types. */
	assert_non_null(
	    strstr(f.req[1], "application/vnd.oci.image.index.v1+json"));
	assert_non_null(strstr(
	    f.req[1],
	    "application/vnd.docker.distribution.manifest.list.v2+json"));
	rfs_manifest_blob_release(&m);
	rfs_manifest_blob_release(&m);

	/* By digest: checked against the reference. */
	rc = rfs_upstream_get_manifest(up, "app", digest, &m, &err);
	if (rc)
		fail_msg("get_manifest by digest: %d %s", rc, err.msg);
	rfs_manifest_blob_release(&m);
	rc = rfs_upstream_get_manifest(
	    up, "app",
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
	    &m, &err);
	assert_int_equal(rc, -EBADMSG);
	assert_null(m.body);

	/* A wrong Docker-Content-Digest. */
	f.digest_header =
	    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	assert_int_equal(rc, -EBADMSG);
	assert_non_null(strstr(err.msg, "digest mismatch"));
	f.digest_header = NULL;
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static void test_fake_retries_exhausted(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };

	(void)state;
	fake_start(&f, fn_always_503);
	up = new_upstream(f.base, NULL, 5000);
	assert_int_equal(rfs_upstream_get_manifest(up, "app", "v1", &m, &err),
			 -EAGAIN);
	assert_int_equal(fake_count(&f), 4); /* 1 + 3 retries */
	assert_non_null(strstr(err.msg, "503 service unavailable"));
	assert_non_null(strstr(err.msg, "after 3 retries"));
	assert_non_null(strstr(err.msg, "upstream 'test' (http://127.0.0.1:"));
	assert_non_null(strstr(err.msg, "manifest 'app:v1'"));
	rfs_upstream_free(&up);
	fake_stop(&f);

	fake_start(&f, fn_404);
	up = new_upstream(f.base, NULL, 5000);
	assert_int_equal(rfs_upstream_get_manifest(up, "app", "v1", &m, &err),
			 -ENOENT);
	assert_int_equal(fake_count(&f), 1); /* final at once */
	assert_non_null(strstr(err.msg, "404 not found (MANIFEST_UNKNOWN)"));
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* The delays between attempts: backoff doubling up to backoff_max, each
 * with equal jitter (between half of it and all of it). */
static void test_fake_backoff_growth(void **state)
{
	/* backoff 200 ms, backoff_max 800 ms: 200, 400, 800, 800. */
	static const int64_t full[] = { 200, 400, 800, 800 };
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	struct fake f;

	(void)state;
	fake_start(&f, fn_always_503);
	rfs_upstream_config_defaults(&cfg);
	cfg.name = strdup("test");
	cfg.url = strdup(f.base);
	free(cfg.credentials);
	cfg.credentials = strdup("none");
	cfg.retries = 4;
	cfg.backoff_ms = 200;
	cfg.backoff_max_ms = 800;
	cfg.total_timeout_ms = 10000;
	assert_int_equal(rfs_upstream_new(&cfg, &up, &err), 0);
	rfs_upstream_config_release(&cfg);
	assert_int_equal(rfs_upstream_get_manifest(up, "app", "v1", &m, &err),
			 -EAGAIN);
	assert_int_equal(fake_count(&f), 5);
	for (int i = 0; i < 4; i++) {
		int64_t gap = f.at[i + 1] - f.at[i];

		/* The request itself takes a few ms on loopback. */
		if (gap < full[i] / 2 || gap > full[i] + 150)
			fail_msg("delay %d: %" PRId64 " ms, not %" PRId64
				 " to %" PRId64,
				 i, gap, full[i] / 2, full[i]);
	}
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* A manifest larger than RFS_MANIFEST_MAX. */
static void fn_big(struct fake *f, int fd, int n, const char *req)
{
	size_t len = RFS_MANIFEST_MAX + 4096;
	char *body = malloc(len);

	(void)f;
	(void)n;
	(void)req;
	if (!body)
		return;
	memset(body, ' ', len);
	reply_cut(fd, "200 OK", "Content-Type: " MANIFEST_TYPE "\r\n", body,
		  len, len);
	free(body);
}

static void test_fake_manifest_too_big(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };

	(void)state;
	fake_start(&f, fn_big);
	up = new_upstream(f.base, NULL, 5000);
	assert_int_equal(rfs_upstream_get_manifest(up, "app", "v1", &m, &err),
			 -EFBIG);
	assert_null(m.body);
	assert_int_equal(fake_count(&f), 1);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static void test_fake_retry_after(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	int64_t t0, dt;
	int rc;

	(void)state;
	fake_start(&f, fn_429);
	up = new_upstream(f.base, NULL, 5000);
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	dt = now_ms() - t0;
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 2);
	assert_true(dt >= 950);
	assert_true(dt < 2500);
	rfs_manifest_blob_release(&m);
	rfs_upstream_free(&up);

	/* A Retry-After past the budget: fail at once, not after it. */
	up = new_upstream(f.base, NULL, 800);
	f.n = 0;
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	dt = now_ms() - t0;
	assert_int_equal(rc, -EAGAIN);
	assert_true(dt < 500);
	assert_non_null(strstr(err.msg, "429 too many requests"));
	rfs_upstream_free(&up);
	fake_stop(&f);

	/* Retry-After as an HTTP date, 2 s ahead (1 to 2 s from now, the
	 * date having whole seconds). */
	fake_start(&f, fn_429_date);
	up = new_upstream(f.base, NULL, 5000);
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	dt = now_ms() - t0;
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 2);
	if (dt < 950 || dt >= 2500)
		fail_msg("waited %" PRId64 " ms for a date 2 s ahead", dt);
	rfs_manifest_blob_release(&m);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static char blob_data[BLOB_LEN];

static bool has_header(const char *req, const char *line)
{
	return strstr(req, line) != NULL;
}

/* A blob whose first answer breaks off after 400 bytes. */
static void fn_blob_cut(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	if (n == 0) {
		reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, 400);
		return;
	}
	if (!has_header(req, "Range: bytes=400-\r\n")) {
		reply(fd, "400 Bad Request", NULL, "no range");
		return;
	}
	reply_cut(fd, "206 Partial Content",
		  "Content-Range: bytes 400-999/1000\r\n", blob_data + 400, 600,
		  600);
}

/* The same, but the server ignores Range and sends it all again. */
static void fn_blob_cut_norange(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)req;
	reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN,
		  n == 0 ? 400 : BLOB_LEN);
}

/* Answers Range requests properly: 206, or 416 past the end. */
static void fn_blob_range(struct fake *f, int fd, int n, const char *req)
{
	const char *r = strstr(req, "Range: bytes=");
	unsigned long from;
	char headers[128];

	(void)f;
	(void)n;
	if (!r) {
		reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, BLOB_LEN);
		return;
	}
	from = strtoul(r + 13, NULL, 10);
	if (from >= BLOB_LEN) {
		reply(fd, "416 Range Not Satisfiable",
		      "Content-Range: bytes */1000\r\n", NULL);
		return;
	}
	snprintf(headers, sizeof(headers),
		 "Content-Range: bytes %lu-999/1000\r\n", from);
	reply_cut(fd, "206 Partial Content", headers, blob_data + from,
		  BLOB_LEN - from, BLOB_LEN - from);
}

/* Cut once, then only 503: the failure counts the resume. */
static void fn_blob_cut_then_503(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)req;
	if (n == 0)
		reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, 300);
	else
		reply(fd, "503 Service Unavailable", NULL, NULL);
}

#define BLOB_DIGEST \
	"sha256:1234567890123456789012345678901234567890123456789012345678901234"

static void test_fake_blob_resume(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	int rc;

	(void)state;
	for (int i = 0; i < BLOB_LEN; i++)
		blob_data[i] = (char)(i * 7 + 3);

	fake_start(&f, fn_blob_cut);
	up = new_upstream(f.base, NULL, 5000);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	if (rc)
		fail_msg("get_blob: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 2);
	assert_non_null(strstr(f.req[0], "GET /v2/app/blobs/" BLOB_DIGEST));
	assert_null(strstr(f.req[0], "Range:"));
	assert_non_null(strstr(f.req[1], "Range: bytes=400-\r\n"));
	assert_int_equal(s.len, BLOB_LEN);
	assert_memory_equal(s.buf, blob_data, BLOB_LEN);
	sink_release(&s);
	rfs_upstream_free(&up);
	fake_stop(&f);

	fake_start(&f, fn_blob_cut_norange);
	up = new_upstream(f.base, NULL, 5000);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	if (rc)
		fail_msg("get_blob: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 2);
	assert_int_equal(s.len, BLOB_LEN);
	assert_memory_equal(s.buf, blob_data, BLOB_LEN);
	sink_release(&s);
	/* From an offset, against a server that ignores Range. */
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 100, sink_collect,
				   &s, &err);
	if (rc)
		fail_msg("get_blob at 100: %d %s", rc, err.msg);
	assert_int_equal(s.len, BLOB_LEN - 100);
	assert_memory_equal(s.buf, blob_data + 100, BLOB_LEN - 100);
	sink_release(&s);
	rfs_upstream_free(&up);
	fake_stop(&f);

	fake_start(&f, fn_blob_range);
	up = new_upstream(f.base, NULL, 5000);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 100, sink_collect,
				   &s, &err);
	if (rc)
		fail_msg("get_blob at 100: %d %s", rc, err.msg);
	assert_non_null(strstr(f.req[0], "Range: bytes=100-\r\n"));
	assert_int_equal(s.len, BLOB_LEN - 100);
	assert_memory_equal(s.buf, blob_data + 100, BLOB_LEN - 100);
	sink_release(&s);
	/* At the very end: nothing to deliver, not an error. */
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, BLOB_LEN,
				   sink_collect, &s, &err);
	if (rc)
		fail_msg("get_blob at the end: %d %s", rc, err.msg);
	assert_int_equal(s.len, 0);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 5000, sink_collect,
				   &s, &err);
	assert_int_equal(rc, -ERANGE);
	assert_int_equal(s.len, 0);
	rfs_upstream_free(&up);
	fake_stop(&f);

	fake_start(&f, fn_blob_cut_then_503);
	up = new_upstream(f.base, NULL, 5000);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	assert_int_equal(rc, -EAGAIN);
	assert_int_equal(s.len, 300);
	assert_non_null(strstr(err.msg, "after 3 retries and 1 resumes"));
	assert_non_null(strstr(err.msg, "blob 'app@" BLOB_DIGEST "'"));
	sink_release(&s);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* The first answer stalls after 400 bytes and never closes. */
static void fn_blob_stall(struct fake *f, int fd, int n, const char *req)
{
	if (n == 0) {
		reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, 400);
		fn_hold(f, fd, n, req);
		return;
	}
	fn_blob_range(f, fd, n, req);
}

static void test_fake_blob_stall(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	int64_t t0, dt;
	int rc;

	(void)state;
	fake_start(&f, fn_blob_stall);
	up = new_upstream(f.base, NULL, 3000); /* a stall is 1 s then */
	t0 = now_ms();
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	dt = now_ms() - t0;
	if (rc)
		fail_msg("get_blob: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 2);
	assert_non_null(strstr(f.req[1], "Range: bytes=400-\r\n"));
	assert_int_equal(s.len, BLOB_LEN);
	assert_memory_equal(s.buf, blob_data, BLOB_LEN);
	assert_true(dt >= 900 && dt < 3000);
	sink_release(&s);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* A byte every 200 ms, for 10 s at most: never a stall, never done. */
static void fn_blob_trickle(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)n;
	(void)req;
	reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, 0);
	for (int i = 0; i < 50; i++) {
		if (send(fd, blob_data + i, 1, MSG_NOSIGNAL) != 1)
			return;
		usleep(200 * 1000);
	}
}

/* The deadline moves with every byte, but not past min_rate's: 5 bytes/s
 * against a floor of 100 fails soon after the 3 s budget. */
static void test_fake_blob_trickle(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	int64_t t0, dt;
	int rc;

	(void)state;
	fake_start(&f, fn_blob_trickle);
	up = new_upstream_rate(f.base, NULL, 3000, 100);
	t0 = now_ms();
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	dt = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "slower than min_rate (100 bytes/s)"));
	assert_true(dt >= 2900 && dt < 5000);
	assert_true(s.len > 0 && s.len < 40);
	sink_release(&s);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static struct fake storage;

/* The registry wants basic auth and sends blobs to "storage". */
static void fn_redirect(struct fake *f, int fd, int n, const char *req)
{
	char loc[256];

	(void)f;
	(void)n;
	if (!strstr(req, "Authorization: Basic ")) {
		reply(fd, "401 Unauthorized",
		      "WWW-Authenticate: Basic realm=\"fake\"\r\n", NULL);
		return;
	}
	snprintf(loc, sizeof(loc),
		 "Location: http://localhost:%d/storage/blob?sig=x\r\n",
		 storage.port);
	reply(fd, "307 Temporary Redirect", loc, NULL);
}

static void fn_storage(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)n;
	(void)req;
	reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, BLOB_LEN);
}

static void test_fake_redirect(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	char host[64];
	char *creds;
	int rc;

	(void)state;
	fake_start(&storage, fn_storage);
	fake_start(&f, fn_redirect);
	snprintf(host, sizeof(host), "127.0.0.1:%d", f.port);
	creds =
	    strdup(credentials_file("redirect", host, FAKE_USER, FAKE_PASS));
	up = new_upstream(f.base, creds, 5000);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	if (rc)
		fail_msg("get_blob: %d %s", rc, err.msg);
	assert_int_equal(s.len, BLOB_LEN);
	assert_int_equal(fake_count(&f), 2);
	assert_int_equal(fake_count(&storage), 1);
	assert_non_null(strstr(storage.req[0], "GET /storage/blob?sig=x "));
	assert_null(strstr(storage.req[0], "Authorization"));
	sink_release(&s);
	/* Manifests do not follow redirects. */
	{
		struct rfs_manifest_blob m;

		assert_int_equal(
		    rfs_upstream_get_manifest(up, "app", "v1", &m, &err),
		    -EPROTO);
		assert_non_null(strstr(err.msg, "307"));
	}
	rfs_upstream_free(&up);
	free(creds);
	fake_stop(&f);
	fake_stop(&storage);
}

/* Blob GETs of "bad" go to file://; everything else is the blob. */
static void fn_file_redirect(struct fake *f, int fd, int n, const char *req)
{
	(void)f;
	(void)n;
	if (strstr(req, "GET /v2/bad/"))
		reply(fd, "307 Temporary Redirect",
		      "Location: file:///etc/passwd\r\n", NULL);
	else
		reply_cut(fd, "200 OK", NULL, blob_data, BLOB_LEN, BLOB_LEN);
}

/* A redirect to file:// fails that call, and no later one: the handle it
 * broke is not handed to them (issue 15). */
static void test_fake_redirect_file(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };
	int rc;

	(void)state;
	fake_start(&f, fn_file_redirect);
	up = new_upstream(f.base, NULL, 3000);
	for (int i = 0; i < 3; i++) {
		struct sink s = { 0 };

		rc = rfs_upstream_get_blob(up, "bad", BLOB_DIGEST, 0,
					   sink_collect, &s, &err);
		assert_int_equal(rc, -EPROTONOSUPPORT);
		sink_release(&s);
		rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0,
					   sink_collect, &s, &err);
		if (rc)
			fail_msg("get_blob after a file:// redirect: %d %s", rc,
				 err.msg);
		assert_int_equal(s.len, BLOB_LEN);
		sink_release(&s);
	}
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* A Content-Length over max_blob_size is refused before a byte is
 * taken. */
static void test_fake_blob_max(void **state)
{
	struct fake f;
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	int rc;

	(void)state;
	fake_start(&f, fn_file_redirect);
	rfs_upstream_config_defaults(&cfg);
	cfg.name = strdup("test");
	cfg.url = strdup(f.base);
	free(cfg.credentials);
	cfg.credentials = strdup("none");
	cfg.max_blob_size = BLOB_LEN - 1;
	assert_int_equal(rfs_upstream_new(&cfg, &up, &err), 0);
	rfs_upstream_config_release(&cfg);
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(s.len, 0);
	assert_non_null(strstr(err.msg, "larger than"));
	sink_release(&s);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static int sink_refuse(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return -ENOSPC;
}

static void test_fake_sink_abort(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };

	(void)state;
	fake_start(&f, fn_blob_range);
	up = new_upstream(f.base, NULL, 5000);
	assert_int_equal(rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0,
					       sink_refuse, NULL, &err),
			 -ENOSPC);
	assert_int_equal(fake_count(&f), 1);
	assert_int_equal(rfs_upstream_get_blob(up, "app", "sha256:nothex", 0,
					       sink_refuse, NULL, &err),
			 -EINVAL);
	assert_int_equal(rfs_upstream_get_blob(up, "../etc", BLOB_DIGEST, 0,
					       sink_refuse, NULL, &err),
			 -EINVAL);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static void test_fake_never_answers(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	int64_t t0, dt;
	int rc;

	(void)state;
	fake_start(&f, fn_hold);
	up = new_upstream(f.base, NULL, 1500);
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	dt = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(dt >= 1400);
	assert_true(dt < 2500);
	assert_non_null(strstr(err.msg, "manifest 'app:v1'"));

	t0 = now_ms();
	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	dt = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(dt >= 1400);
	assert_true(dt < 3000);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* After a call found the upstream unreachable, the next metadata call
 * fails at once instead of waiting out another timeout. */
static void test_fake_hold_down(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	int64_t t0, dt;
	int rc;

	(void)state;
	fake_start(&f, fn_hold);
	up = new_upstream(f.base, NULL, 1000);
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	assert_int_equal(rc, -ETIMEDOUT);
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "app", "v2", &m, &err);
	dt = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(dt < 300);
	assert_non_null(strstr(err.msg, "unreachable a moment ago"));
	/* A timeout is the repository's: another one is still asked. */
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "other", "v1", &m, &err);
	dt = now_ms() - t0;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(dt >= 800);
	assert_null(strstr(err.msg, "unreachable a moment ago"));
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static void test_fake_refused(void **state)
{
	struct rfs_upstream *up;
	struct rfs_error err = { 0 };
	char url[64];
	int64_t t0 = now_ms();

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", free_port());
	up = new_upstream(url, NULL, 5000);
	assert_int_equal(rfs_upstream_ping(up, &err), -ECONNREFUSED);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "after 3 retries"));
	rfs_upstream_free(&up);
}

struct tags {
	char names[16][RFS_TAG_MAX + 1];
	int n;
};

static int collect_tag(void *ctx, const char *name)
{
	struct tags *t = ctx;

	if (t->n < 16)
		snprintf(t->names[t->n], sizeof(t->names[0]), "%s", name);
	t->n++;
	return 0;
}

/* Three pages: a relative Link, an absolute one after a prev, then
 * none. */
static void fn_tags(struct fake *f, int fd, int n, const char *req)
{
	char link[256];

	(void)n;
	if (strstr(req, "GET /v2/app/tags/list?n=2 ")) {
		reply(fd, "200 OK",
		      "Link: </v2/app/tags/list?last=b&n=2>; rel=\"next\"\r\n",
		      "{\"name\":\"app\",\"tags\":[\"a\",\"b\"]}");
	} else if (strstr(req, "GET /v2/app/tags/list?last=b&n=2 ")) {
		/* A previous page first, in the same header (RFC 8288):
		 * followed, it looped back to page one. */
		snprintf(link, sizeof(link),
			 "Link: </v2/app/tags/list?n=2>; rel=\"prev\", "
			 "<%s/v2/app/tags/list?last=d&n=2>; "
			 "rel=\"next\"\r\n",
			 f->base);
		reply(fd, "200 OK", link,
		      "{\"name\":\"app\",\"tags\":[\"c\",\"d\"]}");
	} else if (strstr(req, "GET /v2/app/tags/list?last=d&n=2 ")) {
		reply(fd, "200 OK", NULL,
		      "{\"name\":\"app\",\"tags\":[\"e\"]}");
	} else if (strstr(req, "GET /v2/evil/tags/list")) {
		reply(fd, "200 OK",
		      "Link: <http://elsewhere.example/v2/x?last=a>; "
		      "rel=\"next\"\r\n",
		      "{\"name\":\"evil\",\"tags\":[\"a\"]}");
	} else if (strstr(req, "GET /v2/empty/tags/list")) {
		reply(fd, "200 OK", NULL, "{\"name\":\"empty\",\"tags\":null}");
	} else {
		reply(fd, "404 Not Found", NULL, NULL);
	}
}

static void test_fake_tag_pages(void **state)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	struct tags t = { 0 };
	struct fake f;
	int rc;

	(void)state;
	fake_start(&f, fn_tags);
	rfs_upstream_config_defaults(&cfg);
	cfg.url = strdup(f.base);
	cfg.page_size = 2;
	assert_int_equal(rfs_upstream_new(&cfg, &up, &err), 0);
	rfs_upstream_config_release(&cfg);
	rc = rfs_upstream_list_tags(up, "app", collect_tag, &t, &err);
	if (rc)
		fail_msg("list_tags: %d %s", rc, err.msg);
	assert_int_equal(fake_count(&f), 3);
	assert_int_equal(t.n, 5);
	for (int i = 0; i < 5; i++) {
		char want[2] = { (char)('a' + i), 0 };

		assert_string_equal(t.names[i], want);
	}
	t.n = 0;
	assert_int_equal(
	    rfs_upstream_list_tags(up, "evil", collect_tag, &t, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "leaves the registry"));
	t.n = 0;
	assert_int_equal(
	    rfs_upstream_list_tags(up, "empty", collect_tag, &t, &err), 0);
	assert_int_equal(t.n, 0);
	assert_int_equal(
	    rfs_upstream_list_tags(up, "none", collect_tag, &t, &err), -ENOENT);
	rfs_upstream_free(&up);
	fake_stop(&f);
}

static void fn_bearer(struct fake *f, int fd, int n, const char *req)
{
	char expect[256], pair[64], b64[128], line[512];

	(void)n;
	if (!strncmp(req, "GET /token?", 11)) {
		snprintf(pair, sizeof(pair), "%s:%s", FAKE_USER, FAKE_PASS);
		EVP_EncodeBlock((unsigned char *)b64,
				(const unsigned char *)pair, (int)strlen(pair));
		snprintf(expect, sizeof(expect), "Authorization: Basic %s\r\n",
			 b64);
		if (!strstr(req, "service=fake-registry") ||
		    !strstr(req, "scope=repository%3Aapp%3Apull") ||
		    !strstr(req, expect)) {
			reply(fd, "401 Unauthorized", NULL, "{}");
			return;
		}
		f->token_fetches++;
		snprintf(f->valid_token, sizeof(f->valid_token), "tok%d",
			 f->token_fetches);
		if (f->expires_text)
			snprintf(line, sizeof(line),
				 "{\"token\":\"%s\",\"expires_in\":%s}",
				 f->valid_token, f->expires_text);
		else
			snprintf(line, sizeof(line),
				 "{\"token\":\"%s\",\"expires_in\":%d}",
				 f->valid_token,
				 f->expires_in ? f->expires_in : 300);
		reply(fd, "200 OK", "Content-Type: application/json\r\n", line);
		return;
	}
	snprintf(expect, sizeof(expect), "Authorization: Bearer %s\r\n",
		 f->valid_token);
	if (f->valid_token[0] && strstr(req, expect)) {
		reply_manifest(f, fd);
		return;
	}
	if (f->forbid_stale && strstr(req, "Authorization: Bearer ")) {
		reply(fd, "403 Forbidden", NULL, NULL);
		return;
	}
	snprintf(line, sizeof(line),
		 "WWW-Authenticate: Bearer realm=\"%s/token\","
		 "service=\"fake-registry\",scope=\"repository:app:pull\"\r\n",
		 f->base);
	reply(fd, "401 Unauthorized", line, NULL);
}

/* A GET of the manifest app:v1 that must succeed. */
static void get_manifest_ok(struct rfs_upstream *up, const char *when)
{
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	int rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);

	if (rc)
		fail_msg("get_manifest %s: %d %s", when, rc, err.msg);
	rfs_manifest_blob_release(&m);
}

/* A token is kept until it expires (less a tenth), then fetched again. */
static void test_fake_bearer_expiry(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	char host[64];
	char *creds;

	(void)state;
	fake_start(&f, fn_bearer);
	f.expires_in = 1;
	snprintf(host, sizeof(host), "127.0.0.1:%d", f.port);
	creds = strdup(credentials_file("expiry", host, FAKE_USER, FAKE_PASS));
	up = new_upstream(f.base, creds, 5000);
	get_manifest_ok(up, "first");
	get_manifest_ok(up, "second");
	assert_int_equal(f.token_fetches, 1); /* kept for the second call */
	usleep(1100 * 1000);
	get_manifest_ok(up, "after expiry");
	assert_int_equal(f.token_fetches, 2);
	assert_non_null(
	    strstr(f.req[fake_count(&f) - 1], "Authorization: Bearer tok2"));
	rfs_upstream_free(&up);
	free(creds);
	fake_stop(&f);
}

/* An expires_in past what milliseconds hold is a day, not a sum that
 * overflows (to a token expired at once, fetched for every call): found
 * by fuzz-www-authenticate (tests/fuzz/corpus/www-authenticate/
 * regress-expires-in-overflow). */
static void test_fake_bearer_expiry_huge(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	char host[64];
	char *creds;

	(void)state;
	fake_start(&f, fn_bearer);
	f.expires_text = "9223372036854775807";
	snprintf(host, sizeof(host), "127.0.0.1:%d", f.port);
	creds =
	    strdup(credentials_file("expiry-huge", host, FAKE_USER, FAKE_PASS));
	up = new_upstream(f.base, creds, 5000);
	get_manifest_ok(up, "first");
	get_manifest_ok(up, "second");
	assert_int_equal(f.token_fetches, 1);
	rfs_upstream_free(&up);
	free(creds);
	fake_stop(&f);
}

static void test_fake_bearer(void **state)
{
	struct fake f;
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	char host[64];
	char *creds;
	int rc;

	(void)state;
	fake_start(&f, fn_bearer);
	snprintf(host, sizeof(host), "127.0.0.1:%d", f.port);
	creds = strdup(credentials_file("bearer", host, FAKE_USER, FAKE_PASS));
	up = new_upstream(f.base, creds, 5000);

	/* Anonymous, 401, token, again with the token. */
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	rfs_manifest_blob_release(&m);
	assert_int_equal(fake_count(&f), 3);
	assert_int_equal(f.token_fetches, 1);
	assert_non_null(strstr(f.req[2], "Authorization: Bearer tok1"));

	/* The cached token goes at once. */
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	rfs_manifest_blob_release(&m);
	assert_int_equal(fake_count(&f), 4);
	assert_int_equal(f.token_fetches, 1);
	assert_non_null(strstr(f.req[3], "Authorization: Bearer tok1"));

	/* The token is revoked: 401, one refetch. */
	strcpy(f.valid_token, "revoked");
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	rfs_manifest_blob_release(&m);
	assert_int_equal(f.token_fetches, 2);
	assert_int_equal(fake_count(&f), 7);
	assert_non_null(strstr(f.req[6], "Authorization: Bearer tok2"));

	/* Revoked again, answered with 403: one refetch too. */
	strcpy(f.valid_token, "revoked");
	f.forbid_stale = true;
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest after 403: %d %s", rc, err.msg);
	rfs_manifest_blob_release(&m);
	assert_int_equal(f.token_fetches, 3);
	rfs_upstream_free(&up);

	/* Wrong password: -EACCES, and the password is nowhere. */
	free(creds);
	creds = strdup(
	    credentials_file("bearer-bad", host, FAKE_USER, "wrong-pass"));
	up = new_upstream(f.base, creds, 5000);
	f.forbid_stale = false;
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	assert_int_equal(rc, -EACCES);
	assert_null(strstr(err.msg, "wrong-pass"));
	assert_null(strstr(err.msg, "tok1"));
	assert_null(strstr(err.msg, "tok3"));
	assert_non_null(strstr(err.msg, "401 unauthorized"));
	assert_int_equal(f.token_fetches, 3);
	rfs_upstream_free(&up);

	/* No credentials at all. */
	up = new_upstream(f.base, "none", 5000);
	assert_int_equal(rfs_upstream_get_manifest(up, "app", "v1", &m, &err),
			 -EACCES);
	rfs_upstream_free(&up);
	free(creds);
	fake_stop(&f);
}

/* ---- pushing, against the fake ---- */

/* Content to upload, read through the source callback; progress noted. */
struct content {
	const char *data;
	size_t len;
	int progress_calls;
	uint64_t last_done, last_total;
};

static ssize_t content_read(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct content *c = ctx;

	if (offset >= c->len)
		return 0;
	if (len > c->len - offset)
		len = c->len - (size_t)offset;
	memcpy(buf, c->data + offset, len);
	return (ssize_t)len;
}

static void content_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct content *c = ctx;

	c->progress_calls++;
	c->last_done = done;
	c->last_total = total;
}

/* A registry's upload sessions, as the fake plays them (one at a time). */
#define UPL_MAX (256 << 10)
static struct {
	char data[UPL_MAX];
	size_t off;  /* bytes the session holds */
	int session; /* its number: /v2/app/blobs/uploads/u<N> */
	bool dead;   /* forgotten: 404 BLOB_UPLOAD_UNKNOWN */
	int posts, patches, status_gets, puts;
	int cut_patch;	     /* this PATCH (1-based) breaks off ... */
	size_t cut_after;    /* ... after this many bytes ... */
	bool cut_kills;	     /* ... and the session with it */
	char ranges[16][64]; /* Content-Range of each PATCH */
	bool bad_query;	     /* a request lost _state or digest= */
} upl;

static size_t header_value(const char *req, const char *name, char *buf,
			   size_t size)
{
	const char *p = strstr(req, name);
	size_t n;

	buf[0] = '\0';
	if (!p)
		return 0;
	p += strlen(name);
	n = strcspn(p, "\r\n");
	if (n >= size)
		n = size - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return n;
}

/* Read up to want body bytes into dst: what came with the head first. */
static size_t read_body(struct fake *f, int fd, char *dst, size_t want)
{
	size_t got = f->pre_len < want ? f->pre_len : want;

	memcpy(dst, f->pre, got);
	f->pre += got;
	f->pre_len -= got;
	while (got < want) {
		struct pollfd q = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (poll(&q, 1, 2000) <= 0)
			break;
		k = recv(fd, dst + got, want - got, 0);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	return got;
}

static void reply_session(struct fake *f, int fd, const char *status,
			  bool absolute)
{
	char headers[512];

	snprintf(headers, sizeof(headers),
		 "Location: %s/v2/app/blobs/uploads/u%d?_state=s%zu\r\n"
		 "Range: 0-%zu\r\n",
		 absolute ? f->base : "", upl.session, upl.off,
		 upl.off ? upl.off - 1 : 0);
	reply(fd, status, headers, NULL);
}

static void fn_upload(struct fake *f, int fd, int n, const char *req)
{
	char path[64], line[128], digest[RFS_DIGEST_STR_MAX + 1];
	size_t clen, got;

	(void)n;
	if (!strncmp(req, "GET ", 4))
		upl.status_gets++;
	if (!strncmp(req, "POST /v2/app/blobs/uploads/ ", 28)) {
		upl.posts++;
		upl.session++;
		upl.off = 0;
		upl.dead = false;
		reply_session(f, fd, "202 Accepted", false);
		return;
	}
	snprintf(path, sizeof(path), " /v2/app/blobs/uploads/u%d?",
		 upl.session);
	if (!strstr(req, path) || upl.dead) {
		reply(fd, "404 Not Found", "Content-Type: application/json\r\n",
		      "{\"errors\":[{\"code\":\"BLOB_UPLOAD_UNKNOWN\","
		      "\"message\":\"blob upload unknown to registry\"}]}");
		return;
	}
	if (!strstr(req, "?_state=s"))
		upl.bad_query = true;
	header_value(req, "Content-Length: ", line, sizeof(line));
	clen = strtoul(line, NULL, 10);
	if (!strncmp(req, "GET ", 4)) {
		reply_session(f, fd, "204 No Content", false);
		return;
	}
	if (!strncmp(req, "PATCH ", 6)) {
		unsigned long first = 0, last = 0;
		int k = upl.patches++;

		header_value(req, "Content-Range: ", line, sizeof(line));
		if (k < 16)
			snprintf(upl.ranges[k], sizeof(upl.ranges[k]), "%.60s",
				 line);
		if (sscanf(line, "%lu-%lu", &first, &last) != 2 ||
		    first != upl.off || last - first + 1 != clen ||
		    !strstr(req,
			    "Content-Type: application/octet-stream\r\n") ||
		    upl.off + clen > UPL_MAX) {
			reply_session(f, fd, "416 Range Not Satisfiable",
				      false);
			return;
		}
		if (upl.patches == upl.cut_patch) {
			upl.off +=
			    read_body(f, fd, upl.data + upl.off, upl.cut_after);
			upl.dead = upl.cut_kills;
			return; /* closed with the rest unread */
		}
		got = read_body(f, fd, upl.data + upl.off, clen);
		upl.off += got;
		reply_session(f, fd, "202 Accepted", true);
		return;
	}
	if (!strncmp(req, "PUT ", 4)) {
		char want[RFS_DIGEST_STR_MAX + 1];
		const char *d = strstr(req, "&digest=sha256%3A");

		upl.puts++;
		if (!d || clen > UPL_MAX - upl.off) {
			upl.bad_query = true;
			reply(fd, "400 Bad Request", NULL, NULL);
			return;
		}
		snprintf(want, sizeof(want), "sha256:%.64s", d + 17);
		upl.off += read_body(f, fd, upl.data + upl.off, clen);
		digest_of(upl.data, upl.off, digest);
		if (strcmp(digest, want)) {
			reply(fd, "400 Bad Request",
			      "Content-Type: application/json\r\n",
			      "{\"errors\":[{\"code\":\"DIGEST_INVALID\","
			      "\"message\":\"provided digest did not match "
			      "uploaded content\"}]}");
			return;
		}
		upl.dead = true;
		reply(fd, "201 Created", NULL, NULL);
		return;
	}
	reply(fd, "405 Method Not Allowed", NULL, NULL);
}

static char push_data[200000];

static void test_fake_upload(void **state)
{
	struct content ct = { push_data, sizeof(push_data), 0, 0, 0 };
	struct rfs_error err = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_upstream *up;
	struct fake f;
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(push_data); i++)
		push_data[i] = (char)(i * 131 + (i >> 9));
	digest_of(push_data, sizeof(push_data), digest);
	fake_start(&f, fn_upload);
	up = new_upstream(f.base, NULL, 5000);

	/* The second PATCH breaks off after 1000 bytes: the session says
	 * where it stands, and the upload goes on from there. */
	memset(&upl, 0, sizeof(upl));
	upl.cut_patch = 2;
	upl.cut_after = 1000;
	rc = rfs_upstream_blob_upload(up, "app", digest, sizeof(push_data),
				      content_read, 65536, content_progress,
				      &ct, &err);
	if (rc)
		fail_msg("blob_upload: %d %s", rc, err.msg);
	assert_int_equal(upl.posts, 1);
	assert_int_equal(upl.status_gets, 1);
	assert_int_equal(upl.patches, 5);
	assert_int_equal(upl.puts, 1);
	assert_string_equal(upl.ranges[0], "0-65535");
	assert_string_equal(upl.ranges[1], "65536-131071");
	assert_string_equal(upl.ranges[2], "66536-132071");
	assert_string_equal(upl.ranges[3], "132072-197607");
	assert_string_equal(upl.ranges[4], "197608-199999");
	assert_false(upl.bad_query);
	assert_int_equal(upl.off, sizeof(push_data));
	assert_memory_equal(upl.data, push_data, sizeof(push_data));
	assert_int_equal(ct.last_done, sizeof(push_data));
	assert_int_equal(ct.last_total, sizeof(push_data));
	assert_true(ct.progress_calls >= 4);

	/* The break kills the session: it starts over, from byte 0. */
	memset(&upl, 0, sizeof(upl));
	upl.cut_patch = 2;
	upl.cut_after = 1000;
	upl.cut_kills = true;
	rc = rfs_upstream_blob_upload(up, "app", digest, sizeof(push_data),
				      content_read, 65536, content_progress,
				      &ct, &err);
	if (rc)
		fail_msg("blob_upload (session gone): %d %s", rc, err.msg);
	assert_int_equal(upl.posts, 2);
	assert_int_equal(upl.status_gets, 1);
	assert_int_equal(upl.patches, 6);
	assert_string_equal(upl.ranges[2], "0-65535");
	assert_string_equal(upl.ranges[5], "196608-199999");
	assert_int_equal(upl.off, sizeof(push_data));
	assert_memory_equal(upl.data, push_data, sizeof(push_data));

	/* Small: one PUT, after the _state query. */
	memset(&upl, 0, sizeof(upl));
	digest_of(push_data, 1000, digest);
	ct.len = 1000;
	rc = rfs_upstream_blob_upload(up, "app", digest, 1000, content_read,
				      65536, content_progress, &ct, &err);
	if (rc)
		fail_msg("blob_upload (small): %d %s", rc, err.msg);
	assert_int_equal(upl.patches, 0);
	assert_int_equal(upl.puts, 1);
	assert_false(upl.bad_query);
	assert_int_equal(ct.last_done, 1000);

	/* A digest the content does not have: final, and said. */
	memset(&upl, 0, sizeof(upl));
	rc = rfs_upstream_blob_upload(up, "app", BLOB_DIGEST, 1000,
				      content_read, 65536, NULL, &ct, &err);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(upl.puts, 1);
	assert_non_null(strstr(err.msg, "400 bad request (DIGEST_INVALID: "));
	/* Content shorter than promised. */
	memset(&upl, 0, sizeof(upl));
	rc = rfs_upstream_blob_upload(up, "app", digest, 2000, content_read,
				      65536, NULL, &ct, &err);
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(err.msg, "ended before its size"));
	rfs_upstream_free(&up);
	fake_stop(&f);
}

/* ---- the real registry ---- */

struct registry {
	pid_t pid;
	int port;
	char dir[128];
	char base[64];
	char log[256];
};

static struct registry reg_open, reg_auth;

static bool have_registry(void)
{
	return system("command -v docker-registry >/dev/null 2>&1") == 0;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * nmemb;
}

/* One plain libcurl request; Location copied out when asked. */
static long http_do(const char *method, const char *url, const char *userpwd,
		    const char *ctype, const void *body, size_t len,
		    char *location, size_t locsize)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct curl_header *loc;
	char line[256];
	long status = 0;

	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (userpwd)
		curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
		snprintf(line, sizeof(line), "Content-Type: %s",
			 ctype ? ctype : "application/octet-stream");
		hdrs = curl_slist_append(hdrs, line);
	} else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (location) {
		location[0] = '\0';
		if (curl_easy_header(h, "Location", 0, CURLH_HEADER, -1,
				     &loc) == CURLHE_OK)
			snprintf(location, locsize, "%s", loc->value);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return status;
}

static void push_blob(struct registry *r, const char *userpwd, const char *repo,
		      const void *data, size_t len,
		      char digest[RFS_DIGEST_STR_MAX + 1])
{
	char url[512], loc[1024], put[1200];
	long st;

	digest_of(data, len, digest);
	snprintf(url, sizeof(url), "%s/v2/%s/blobs/uploads/", r->base, repo);
	st = http_do("POST", url, userpwd, NULL, NULL, 0, loc, sizeof(loc));
	assert_int_equal(st, 202);
	assert_true(loc[0] != '\0');
	snprintf(put, sizeof(put), "%s%s%cdigest=%s",
		 loc[0] == '/' ? r->base : "", loc,
		 strchr(loc, '?') ? '&' : '?', digest);
	st = http_do("PUT", put, userpwd, NULL, data, len, NULL, 0);
	assert_int_equal(st, 201);
}

static char layer_data[100000];
static char manifest_text[1024];
static char manifest_digest[RFS_DIGEST_STR_MAX + 1];
static char layer_digest[RFS_DIGEST_STR_MAX + 1];

static void push_content(struct registry *r, const char *userpwd)
{
	char config_digest[RFS_DIGEST_STR_MAX + 1];
	char url[512];

	for (size_t i = 0; i < sizeof(layer_data); i++)
		layer_data[i] = (char)((i * 2654435761u) >> 13);
	push_blob(r, userpwd, "app", "{}", 2, config_digest);
	push_blob(r, userpwd, "app", layer_data, sizeof(layer_data),
		  layer_digest);
	snprintf(
	    manifest_text, sizeof(manifest_text),
	    "{\"schemaVersion\":2,\"mediaType\":\"" MANIFEST_TYPE "\","
	    "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
	    "\"digest\":\"%s\",\"size\":2},"
	    "\"layers\":[{\"mediaType\":\"application/octet-stream\","
	    "\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
	    "{\"org.opencontainers.image.title\":\"app.bin\"}}]}",
	    config_digest, layer_digest, sizeof(layer_data));
	digest_of(manifest_text, strlen(manifest_text), manifest_digest);
	for (int i = 1; i <= 5; i++) {
		snprintf(url, sizeof(url), "%s/v2/app/manifests/v%d", r->base,
			 i);
		assert_int_equal(http_do("PUT", url, userpwd, MANIFEST_TYPE,
					 manifest_text, strlen(manifest_text),
					 NULL, 0),
				 201);
	}
}

enum registry_auth { REG_OPEN, REG_HTPASSWD, REG_TOKEN };

/* For REG_TOKEN: the token service's realm and signing certificate. */
static char token_realm[128], token_cert[256];

static int registry_start(struct registry *r, enum registry_auth auth)
{
	static const char *const kinds[] = { "open", "auth", "token" };
	char config[256], text[2048], auth_text[640] = "";
	char url[128];

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s/registry-%s", tmp_root,
		 kinds[auth]);
	if (mkdir(r->dir, 0700) < 0)
		return -1;
	if (auth == REG_TOKEN)
		snprintf(auth_text, sizeof(auth_text),
			 "auth:\n  token:\n    realm: %s\n"
			 "    service: regfs-test-registry\n"
			 "    issuer: regfs-test-token-server\n"
			 "    rootcertbundle: %s\n",
			 token_realm, token_cert);
	if (auth == REG_HTPASSWD) {
		char cmd[512];

		snprintf(cmd, sizeof(cmd),
			 "htpasswd -Bbc %s/htpasswd " FAKE_USER " " FAKE_PASS
			 " 2>/dev/null",
			 r->dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "htpasswd failed\n");
			return -1;
		}
		snprintf(auth_text, sizeof(auth_text),
			 "auth:\n  htpasswd:\n    realm: regfs-test\n"
			 "    path: %s/htpasswd\n",
			 r->dir);
	}
	r->port = free_port();
	snprintf(r->base, sizeof(r->base), "http://127.0.0.1:%d", r->port);
	snprintf(r->log, sizeof(r->log), "%s/registry.log", r->dir);
	snprintf(text, sizeof(text),
		 "version: 0.1\n"
		 "log:\n  level: info\n"
		 "storage:\n  filesystem:\n    rootdirectory: %s/data\n"
		 "  delete:\n    enabled: true\n"
		 "http:\n  addr: 127.0.0.1:%d\n"
		 "%s",
		 r->dir, r->port, auth_text);
	snprintf(config, sizeof(config), "%s/config.yml", r->dir);
	write_file(config, text, 0600);
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (r->pid == 0) {
		int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("docker-registry", "docker-registry", "serve", config,
		       (char *)NULL);
		_exit(127);
	}
	snprintf(url, sizeof(url), "%s/v2/", r->base);
	for (int i = 0; i < 100; i++) {
		long st = http_do("GET", url, NULL, NULL, NULL, 0, NULL, 0);
		int status;

		if (st == 200 || st == 401)
			return 0;
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			fprintf(stderr, "docker-registry exited; see %s\n",
				r->log);
			r->pid = 0;
			return -1;
		}
		usleep(100000);
	}
	fprintf(stderr, "docker-registry did not answer in 10 s\n");
	return -1;
}

static void registry_stop(struct registry *r)
{
	int status;

	if (r->pid <= 0)
		return;
	kill(r->pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = 0;
			return;
		}
		usleep(100000);
	}
	kill(r->pid, SIGKILL);
	waitpid(r->pid, &status, 0);
	r->pid = 0;
}

static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static int group_registry_teardown(void **state)
{
	(void)state;
	registry_stop(&reg_open);
	registry_stop(&reg_auth);
	return 0;
}

static int group_registry_setup(void **state)
{
	(void)state;
	if (registry_start(&reg_open, REG_OPEN) < 0 ||
	    registry_start(&reg_auth, REG_HTPASSWD) < 0) {
		group_registry_teardown(state);
		return -1;
	}
	push_content(&reg_open, NULL);
	push_content(&reg_auth, FAKE_USER ":" FAKE_PASS);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int stop_after_one(void *ctx, const char *name)
{
	(void)name;
	(*(int *)ctx)++;
	return 42;
}

static void test_registry_manifest(void **state)
{
	struct rfs_upstream *up = new_upstream(reg_open.base, NULL, 5000);
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	int rc;

	(void)state;
	assert_int_equal(rfs_upstream_ping(up, &err), 0);
	rc = rfs_upstream_get_manifest(up, "app", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	assert_string_equal(m.digest, manifest_digest);
	assert_string_equal(m.media_type, MANIFEST_TYPE);
	assert_int_equal(m.len, strlen(manifest_text));
	assert_memory_equal(m.body, manifest_text, m.len);
	rfs_manifest_blob_release(&m);

	rc = rfs_upstream_get_manifest(up, "app", manifest_digest, &m, &err);
	if (rc)
		fail_msg("get_manifest by digest: %d %s", rc, err.msg);
	assert_string_equal(m.digest, manifest_digest);
	rfs_manifest_blob_release(&m);

	assert_int_equal(rfs_upstream_get_manifest(up, "app", "nope", &m, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "manifest 'app:nope': 404 not found"));
	assert_int_equal(rfs_upstream_get_manifest(up, "other", "v1", &m, &err),
			 -ENOENT);
	rfs_upstream_free(&up);
}

static void test_registry_tags(void **state)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	struct tags t = { 0 };
	int before, after, calls = 0, rc;

	(void)state;
	rfs_upstream_config_defaults(&cfg);
	cfg.url = strdup(reg_open.base);
	cfg.page_size = 2;
	assert_int_equal(rfs_upstream_new(&cfg, &up, &err), 0);
	rfs_upstream_config_release(&cfg);
	before = count_in_file(reg_open.log, "/v2/app/tags/list");
	rc = rfs_upstream_list_tags(up, "app", collect_tag, &t, &err);
	if (rc)
		fail_msg("list_tags: %d %s", rc, err.msg);
	after = count_in_file(reg_open.log, "/v2/app/tags/list");
	/* Distribution 2.8 ignores n= (pagination came in 3.0) and lists
	 * in no particular order: the fake server tests the pages. */
	assert_int_equal(t.n, 5);
	qsort(t.names, 5, sizeof(t.names[0]), cmp_name);
	for (int i = 0; i < 5; i++) {
		char want[8];

		snprintf(want, sizeof(want), "v%d", i + 1);
		assert_string_equal(t.names[i], want);
	}
	assert_true(after > before);

	assert_int_equal(
	    rfs_upstream_list_tags(up, "app", stop_after_one, &calls, &err),
	    42);
	assert_int_equal(calls, 1);
	assert_int_equal(
	    rfs_upstream_list_tags(up, "nothing", collect_tag, &t, &err),
	    -ENOENT);
	rfs_upstream_free(&up);
}

static void test_registry_blob(void **state)
{
	struct rfs_upstream *up = new_upstream(reg_open.base, NULL, 5000);
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	int rc;

	(void)state;
	rc = rfs_upstream_get_blob(up, "app", layer_digest, 0, sink_collect, &s,
				   &err);
	if (rc)
		fail_msg("get_blob: %d %s", rc, err.msg);
	assert_int_equal(s.len, sizeof(layer_data));
	assert_memory_equal(s.buf, layer_data, s.len);
	sink_release(&s);

	rc = rfs_upstream_get_blob(up, "app", layer_digest, 12345, sink_collect,
				   &s, &err);
	if (rc)
		fail_msg("get_blob at 12345: %d %s", rc, err.msg);
	assert_int_equal(s.len, sizeof(layer_data) - 12345);
	assert_memory_equal(s.buf, layer_data + 12345, s.len);
	sink_release(&s);

	rc = rfs_upstream_get_blob(up, "app", layer_digest, sizeof(layer_data),
				   sink_collect, &s, &err);
	if (rc)
		fail_msg("get_blob at the end: %d %s", rc, err.msg);
	assert_int_equal(s.len, 0);

	rc = rfs_upstream_get_blob(up, "app", BLOB_DIGEST, 0, sink_collect, &s,
				   &err);
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(s.len, 0);
	rfs_upstream_free(&up);
}

struct worker {
	struct rfs_upstream *up;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 5; i++) {
		struct rfs_manifest_blob m;
		struct sink s = { 0 };

		if (rfs_upstream_get_manifest(w->up, "app", "v3", &m, NULL) ||
		    strcmp(m.digest, manifest_digest))
			w->failures++;
		rfs_manifest_blob_release(&m);
		if (rfs_upstream_get_blob(w->up, "app", layer_digest, 0,
					  sink_collect, &s, NULL) ||
		    s.len != sizeof(layer_data) ||
		    memcmp(s.buf, layer_data, s.len))
			w->failures++;
		sink_release(&s);
	}
	return NULL;
}

/* One upstream, used from 8 threads at once, behind basic auth. */
static void test_registry_threads(void **state)
{
	struct worker w[8];
	pthread_t th[8];
	char host[64];
	char *creds;
	struct rfs_upstream *up;

	(void)state;
	snprintf(host, sizeof(host), "127.0.0.1:%d", reg_auth.port);
	creds = strdup(credentials_file("threads", host, FAKE_USER, FAKE_PASS));
	up = new_upstream(reg_auth.base, creds, 10000);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .up = up };
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	rfs_upstream_free(&up);
	free(creds);
}

static void test_registry_htpasswd(void **state)
{
	struct rfs_upstream *up;
	struct rfs_manifest_blob m;
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	char host[64];
	char *creds;
	int64_t t0;
	int rc;

	(void)state;
	snprintf(host, sizeof(host), "127.0.0.1:%d", reg_auth.port);
	creds =
	    strdup(credentials_file("htpasswd", host, FAKE_USER, FAKE_PASS));
	up = new_upstream(reg_auth.base, creds, 5000);
	rc = rfs_upstream_get_manifest(up, "app", "v2", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	assert_string_equal(m.digest, manifest_digest);
	rfs_manifest_blob_release(&m);
	/* Basic is now known: sent at once. */
	rc = rfs_upstream_get_blob(up, "app", layer_digest, 0, sink_collect, &s,
				   &err);
	if (rc)
		fail_msg("get_blob: %d %s", rc, err.msg);
	assert_int_equal(s.len, sizeof(layer_data));
	sink_release(&s);
	assert_int_equal(rfs_upstream_ping(up, &err), 0);
	rfs_upstream_free(&up);
	free(creds);

	creds = strdup(
	    credentials_file("htpasswd-bad", host, FAKE_USER, "not-the-pass"));
	up = new_upstream(reg_auth.base, creds, 5000);
	t0 = now_ms();
	rc = rfs_upstream_get_manifest(up, "app", "v2", &m, &err);
	assert_int_equal(rc, -EACCES);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "401 unauthorized"));
	assert_null(strstr(err.msg, "not-the-pass"));
	rfs_upstream_free(&up);
	free(creds);

	up = new_upstream(reg_auth.base, "none", 5000);
	rc = rfs_upstream_get_manifest(up, "app", "v2", &m, &err);
	assert_int_equal(rc, -EACCES);
	assert_non_null(strstr(err.msg, "no credentials for '127.0.0.1:"));
	rfs_upstream_free(&up);
}

/* ---- pushing, against the real registry ---- */

#define EMPTY_DIGEST \
	"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

static char big_data[3 * (1 << 20) + 12345];

/* Upload len bytes of data as a blob of repo. */
static void upload(struct rfs_upstream *up, const char *repo, const char *data,
		   size_t len, uint64_t chunk, struct content *ct,
		   char digest[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_error err = { 0 };
	int rc;

	digest_of(data, len, digest);
	*ct = (struct content){ .data = data, .len = len };
	rc = rfs_upstream_blob_upload(up, repo, digest, len, content_read,
				      chunk, content_progress, ct, &err);
	if (rc)
		fail_msg("blob_upload to '%s': %d %s", repo, rc, err.msg);
	assert_int_equal(ct->last_done, len);
	assert_int_equal(ct->last_total, len);
}

/* GET the blob back and compare. */
static void check_blob(struct rfs_upstream *up, const char *repo,
		       const char *digest, const char *data, size_t len)
{
	struct rfs_error err = { 0 };
	struct sink s = { 0 };
	uint64_t size = 0;
	int rc;

	rc = rfs_upstream_blob_exists(up, repo, digest, &size, &err);
	if (rc)
		fail_msg("blob_exists '%s': %d %s", repo, rc, err.msg);
	assert_int_equal(size, len);
	rc = rfs_upstream_get_blob(up, repo, digest, 0, sink_collect, &s, &err);
	if (rc)
		fail_msg("get_blob '%s': %d %s", repo, rc, err.msg);
	assert_int_equal(s.len, len);
	assert_memory_equal(s.buf, data, len);
	sink_release(&s);
}

static void test_registry_push_blob(void **state)
{
	struct rfs_upstream *up = new_upstream(reg_open.base, NULL, 5000);
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct content ct;
	uint64_t size = 1;
	int before, after;

	(void)state;
	for (size_t i = 0; i < sizeof(big_data); i++)
		big_data[i] = (char)((i * 2246822519u) >> 11);

	/* Small: absent, one PUT, present. */
	digest_of(big_data, 5000, digest);
	assert_int_equal(
	    rfs_upstream_blob_exists(up, "push/small", digest, &size, &err),
	    -ENOENT);
	assert_int_equal(size, 0);
	before = count_in_file(reg_open.log, "PATCH /v2/push/");
	upload(up, "push/small", big_data, 5000, 1 << 20, &ct, digest);
	check_blob(up, "push/small", digest, big_data, 5000);
	assert_int_equal(ct.progress_calls, 1);

	/* Large: PATCH chunks of 1 MiB, then the closing PUT. */
	upload(up, "push/big", big_data, sizeof(big_data), 1 << 20, &ct,
	       digest);
	assert_int_equal(ct.progress_calls, 4);
	after = count_in_file(reg_open.log, "PATCH /v2/push/");
	assert_int_equal(after - before, 4);
	check_blob(up, "push/big", digest, big_data, sizeof(big_data));

	/* The wrong digest: the registry says so. */
	ct = (struct content){ .data = big_data, .len = 5000 };
	assert_int_equal(rfs_upstream_blob_upload(up, "push/small", BLOB_DIGEST,
						  5000, content_read, 1 << 20,
						  NULL, &ct, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "DIGEST_INVALID"));
	rfs_upstream_free(&up);
}

static void test_registry_mount(void **state)
{
	struct rfs_upstream *up = new_upstream(reg_open.base, NULL, 5000);
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct content ct;
	int before, rc;

	(void)state;
	upload(up, "mount/a", big_data + 7, 20000, 1 << 20, &ct, digest);
	assert_int_equal(
	    rfs_upstream_blob_exists(up, "mount/b", digest, NULL, &err),
	    -ENOENT);
	rc = rfs_upstream_blob_mount(up, "mount/b", digest, "mount/a", &err);
	if (rc)
		fail_msg("blob_mount: %d %s", rc, err.msg);
	check_blob(up, "mount/b", digest, big_data + 7, 20000);

	/* Unknown there: -ENOENT, and the session it opened is cancelled. */
	before =
	    count_in_file(reg_open.log, "DELETE /v2/mount/c/blobs/uploads/");
	assert_int_equal(rfs_upstream_blob_mount(up, "mount/c", BLOB_DIGEST,
						 "mount/a", &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "not mounted"));
	assert_int_equal(
	    count_in_file(reg_open.log, "DELETE /v2/mount/c/blobs/uploads/") -
		before,
	    1);
	rfs_upstream_free(&up);
}

/* An ORAS-shaped manifest: the empty config, one titled layer. */
static void oras_manifest(char *buf, size_t size, const char *layer,
			  size_t layer_size)
{
	snprintf(
	    buf, size,
	    "{\"schemaVersion\":2,\"mediaType\":\"" MANIFEST_TYPE "\","
	    "\"artifactType\":\"application/vnd.regfs.file\","
	    "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
	    "\"digest\":\"" EMPTY_DIGEST "\",\"size\":2},"
	    "\"layers\":[{\"mediaType\":\"application/octet-stream\","
	    "\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
	    "{\"org.opencontainers.image.title\":\"tool\"}}],"
	    "\"annotations\":{\"org.opencontainers.image.created\":"
	    "\"2024-01-02T03:04:05Z\"}}",
	    layer, layer_size);
}

static void test_registry_put_manifest(void **state)
{
	struct rfs_upstream *up = new_upstream(reg_open.base, NULL, 5000);
	char layer[RFS_DIGEST_STR_MAX + 1], config[RFS_DIGEST_STR_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1], text[1024];
	struct rfs_error err = { 0 };
	struct rfs_manifest_blob m;
	struct content ct;
	int rc;

	(void)state;
	upload(up, "oras/tool", "{}", 2, 1 << 20, &ct, config);
	assert_string_equal(config, EMPTY_DIGEST);
	upload(up, "oras/tool", big_data, 3000, 1 << 20, &ct, layer);
	oras_manifest(text, sizeof(text), layer, 3000);
	digest_of(text, strlen(text), digest);
	rc = rfs_upstream_put_manifest(up, "oras/tool", "v1", MANIFEST_TYPE,
				       text, strlen(text), &err);
	if (rc)
		fail_msg("put_manifest: %d %s", rc, err.msg);
	rc = rfs_upstream_get_manifest(up, "oras/tool", "v1", &m, &err);
	if (rc)
		fail_msg("get_manifest: %d %s", rc, err.msg);
	assert_string_equal(m.digest, digest);
	assert_string_equal(m.media_type, MANIFEST_TYPE);
	assert_int_equal(m.len, strlen(text));
	assert_memory_equal(m.body, text, m.len);
	rfs_manifest_blob_release(&m);
	/* By digest too; and a reference the body does not hash to. */
	rc = rfs_upstream_put_manifest(up, "oras/tool", digest, MANIFEST_TYPE,
				       text, strlen(text), &err);
	if (rc)
		fail_msg("put_manifest by digest: %d %s", rc, err.msg);
	assert_int_equal(rfs_upstream_put_manifest(up, "oras/tool", layer,
						   MANIFEST_TYPE, text,
						   strlen(text), &err),
			 -EBADMSG);

	/* A layer the registry does not have: its message comes through. */
	oras_manifest(text, sizeof(text), BLOB_DIGEST, 3000);
	rc = rfs_upstream_put_manifest(up, "oras/tool", "v2", MANIFEST_TYPE,
				       text, strlen(text), &err);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(
	    strstr(err.msg, "400 bad request (MANIFEST_BLOB_UNKNOWN"));
	assert_non_null(strstr(err.msg, BLOB_DIGEST));
	assert_int_equal(rfs_upstream_put_manifest(up, "oras/tool", "v2",
						   "bad\r\nX-Evil: 1", text,
						   strlen(text), &err),
			 -EINVAL);
	rfs_upstream_free(&up);
}

static struct rfs_upstream *new_upstream_user(const char *url, const char *user,
					      const char *pass,
					      const char *credentials)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	int rc;

	rfs_upstream_config_defaults(&cfg);
	cfg.url = strdup(url);
	free(cfg.credentials);
	cfg.credentials = strdup(credentials);
	cfg.username = strdup(user);
	cfg.password = strdup(pass);
	cfg.backoff_ms = 20;
	cfg.backoff_max_ms = 100;
	cfg.total_timeout_ms = 5000;
	/* REG_TOKEN's token service is plain http on another port. */
	cfg.plain_realm_credentials = true;
	rc = rfs_upstream_new(&cfg, &up, &err);
	if (rc)
		fail_msg("rfs_upstream_new: %d %s", rc, err.msg);
	rfs_upstream_config_release(&cfg);
	assert_null(cfg.username);
	return up;
}

/* Credentials given outright win over any file, which is never read. */
static void test_registry_push_htpasswd(void **state)
{
	char digest[RFS_DIGEST_STR_MAX + 1], text[1024], path[256];
	struct rfs_error err = { 0 };
	struct rfs_upstream *up;
	struct content ct;
	int64_t t0;
	int rc;

	(void)state;
	/* Readable by others: reading it would be -EPERM. */
	snprintf(path, sizeof(path), "%s/world-readable.json", tmp_root);
	write_file(path, "{\"auths\":{}}", 0644);
	up = new_upstream_user(reg_auth.base, FAKE_USER, FAKE_PASS, path);
	rc = rfs_upstream_ping(up, &err);
	if (rc)
		fail_msg("ping: %d %s", rc, err.msg);
	upload(up, "auth/tool", "{}", 2, 1 << 20, &ct, digest);
	upload(up, "auth/tool", big_data, 300000, 100000, &ct, digest);
	assert_int_equal(ct.progress_calls, 3);
	check_blob(up, "auth/tool", digest, big_data, 300000);
	assert_int_equal(
	    rfs_upstream_blob_mount(up, "auth/copy", digest, "auth/tool", &err),
	    0);
	oras_manifest(text, sizeof(text), digest, 300000);
	rc = rfs_upstream_put_manifest(up, "auth/tool", "v1", MANIFEST_TYPE,
				       text, strlen(text), &err);
	if (rc)
		fail_msg("put_manifest: %d %s", rc, err.msg);
	rfs_upstream_free(&up);

	up = new_upstream_user(reg_auth.base, FAKE_USER, "wrong-pass", path);
	t0 = now_ms();
	rc = rfs_upstream_blob_exists(up, "auth/tool", digest, NULL, &err);
	assert_int_equal(rc, -EACCES);
	ct = (struct content){ .data = big_data, .len = 5000 };
	digest_of(big_data, 5000, digest);
	rc = rfs_upstream_blob_upload(up, "auth/tool", digest, 5000,
				      content_read, 1 << 20, NULL, &ct, &err);
	assert_int_equal(rc, -EACCES);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(err.msg, "401 unauthorized"));
	assert_null(strstr(err.msg, "wrong-pass"));
	rfs_upstream_free(&up);
}

static struct registry reg_token, token_srv;

/* tests/tools/token-server.py, from this file's place in the tree. */
static bool token_server_path(char *buf, size_t size)
{
	const char *file = __FILE__;
	const char *slash = strrchr(file, '/');

	if (!slash)
		return false;
	snprintf(buf, size, "%.*s/../tools/token-server.py",
		 (int)(slash - file), file);
	return access(buf, R_OK) == 0 &&
	       system("command -v python3 openssl >/dev/null 2>&1") == 0;
}

/* Start the token service; its port is the first line it prints. */
static int token_server_start(struct registry *t, const char *script)
{
	char line[32] = "";
	size_t len = 0;
	int pfd[2];

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s/token", tmp_root);
	snprintf(t->log, sizeof(t->log), "%s/token.log", tmp_root);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		int fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(pfd[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		execlp("python3", "python3", script, "--dir", t->dir, "--user",
		       FAKE_USER ":" FAKE_PASS, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while (len < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, 15000) <= 0)
			break;
		k = read(pfd[0], line + len, sizeof(line) - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
		line[len] = '\0';
	}
	close(pfd[0]);
	t->port = atoi(line);
	if (t->port <= 0) {
		fprintf(stderr, "token-server did not start; see %s\n", t->log);
		return -1;
	}
	snprintf(token_realm, sizeof(token_realm), "http://127.0.0.1:%d/token",
		 t->port);
	snprintf(token_cert, sizeof(token_cert), "%s/token-cert.pem", t->dir);
	return 0;
}

static int token_teardown(void **state)
{
	(void)state;
	registry_stop(&reg_token);
	registry_stop(&token_srv);
	return 0;
}

/* Bearer tokens, as Distribution asks for them: pull,push for an upload;
 * for a mount, push on the target and pull on the source, in one token. */
static void test_registry_token(void **state)
{
	char digest[RFS_DIGEST_STR_MAX + 1], text[1024], script[512];
	struct rfs_error err = { 0 };
	struct rfs_upstream *up;
	struct content ct;
	int fetches, rc;

	(void)state;
	if (!token_server_path(script, sizeof(script)))
		skip();
	if (token_server_start(&token_srv, script) < 0 ||
	    registry_start(&reg_token, REG_TOKEN) < 0)
		fail_msg("cannot start the token registry");
	up = new_upstream_user(reg_token.base, FAKE_USER, FAKE_PASS, "none");
	upload(up, "tok/a", big_data, 300000, 100000, &ct, digest);
	rc = rfs_upstream_blob_mount(up, "tok/b", digest, "tok/a", &err);
	if (rc)
		fail_msg("blob_mount: %d %s", rc, err.msg);
	assert_true(count_in_file(token_srv.log,
				  "scopes=['repository:tok/b:pull,push', "
				  "'repository:tok/a:pull']") >= 1);
	/* The token is cached under the call's own spelling of its scope,
	 * whatever order the challenge listed them in. */
	fetches = count_in_file(token_srv.log, "-> 200");
	assert_int_equal(
	    rfs_upstream_blob_mount(up, "tok/b", digest, "tok/a", &err), 0);
	assert_int_equal(count_in_file(token_srv.log, "-> 200"), fetches);
	check_blob(up, "tok/b", digest, big_data, 300000);
	assert_int_equal(
	    rfs_upstream_blob_mount(up, "tok/c", BLOB_DIGEST, "tok/a", &err),
	    -ENOENT);
	assert_true(count_in_file(token_srv.log,
				  "scopes=['repository:tok/c:delete']") >= 1);
	upload(up, "tok/b", "{}", 2, 1 << 20, &ct, text);
	oras_manifest(text, sizeof(text), digest, 300000);
	rc = rfs_upstream_put_manifest(up, "tok/b", "v1", MANIFEST_TYPE, text,
				       strlen(text), &err);
	if (rc)
		fail_msg("put_manifest: %d %s", rc, err.msg);
	rfs_upstream_free(&up);

	up = new_upstream_user(reg_token.base, FAKE_USER, "wrong-pass", "none");
	ct = (struct content){ .data = big_data, .len = 300000 };
	rc = rfs_upstream_blob_upload(up, "tok/a", digest, 300000, content_read,
				      100000, NULL, &ct, &err);
	assert_int_equal(rc, -EACCES);
	assert_null(strstr(err.msg, "wrong-pass"));
	rfs_upstream_free(&up);
}

int main(void)
{
	const struct CMUnitTest offline[] = {
		cmocka_unit_test(test_new_urls),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_remote_repo),
		cmocka_unit_test(test_errno_tables),
	};
	const struct CMUnitTest fake[] = {
		cmocka_unit_test(test_fake_retry_503),
		cmocka_unit_test(test_fake_retries_exhausted),
		cmocka_unit_test(test_fake_backoff_growth),
		cmocka_unit_test(test_fake_manifest_too_big),
		cmocka_unit_test(test_fake_retry_after),
		cmocka_unit_test(test_fake_blob_resume),
		cmocka_unit_test(test_fake_blob_stall),
		cmocka_unit_test(test_fake_blob_trickle),
		cmocka_unit_test(test_fake_redirect),
		cmocka_unit_test(test_fake_redirect_file),
		cmocka_unit_test(test_fake_blob_max),
		cmocka_unit_test(test_fake_sink_abort),
		cmocka_unit_test(test_fake_never_answers),
		cmocka_unit_test(test_fake_hold_down),
		cmocka_unit_test(test_fake_refused),
		cmocka_unit_test(test_fake_bearer),
		cmocka_unit_test(test_fake_bearer_expiry),
		cmocka_unit_test(test_fake_bearer_expiry_huge),
		cmocka_unit_test(test_fake_tag_pages),
		cmocka_unit_test(test_fake_upload),
	};
	const struct CMUnitTest registry[] = {
		cmocka_unit_test(test_registry_manifest),
		cmocka_unit_test(test_registry_tags),
		cmocka_unit_test(test_registry_blob),
		cmocka_unit_test(test_registry_htpasswd),
		cmocka_unit_test(test_registry_threads),
		cmocka_unit_test(test_registry_push_blob),
		cmocka_unit_test(test_registry_mount),
		cmocka_unit_test(test_registry_put_manifest),
		cmocka_unit_test(test_registry_push_htpasswd),
		cmocka_unit_test_teardown(test_registry_token, token_teardown),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	strcpy(tmp_root, "/tmp/regfs-test-upstream-XXXXXX");
	if (!mkdtemp(tmp_root))
		return 1;
	rc = cmocka_run_group_tests_name("offline", offline, NULL, NULL);
	rc += cmocka_run_group_tests_name("fake", fake, NULL, NULL);
	if (have_registry()) {
		rc += cmocka_run_group_tests_name("registry", registry,
						  group_registry_setup,
						  group_registry_teardown);
	} else if (rc == 0) {
		printf("docker-registry is not installed: the tests against "
		       "the real registry are skipped\n");
		rc = 77;
	}
	tmptree_remove(tmp_root);
	curl_global_cleanup();
	return rc;
}
