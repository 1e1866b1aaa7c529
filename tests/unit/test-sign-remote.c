/*
 * test-sign-remote.c - unit tests of sign-remote.h against a small fake
 * registry on loopback (a table of paths and answers, every request
 * logged): a signature found through the referrers API and through the
 * .sig tag when the API answers 404, one of several keys, and each refusal
 * (another digest, a truncated signature, a payload or manifest declaring
 * too much, which is never requested) kept apart from failures to read
 * (a 500 is no verdict), and no signature at all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "digest.h"
#include "manifest.h"
#include "push.h"
#include "sign-remote.h"
#include "sign.h"
#include "upstream.h"

#define D1        \
	"sha256:" \
	"2bdeb0c976c4c1e6dfe2b41767e701c47e9eaaa1cc0d23a05e0dd29bc13533e6"
#define D2        \
	"sha256:" \
	"1111111111111111111111111111111111111111111111111111111111111111"
#define ROUTES_MAX 16
#define LOG_MAX	   64

struct route {
	char path[512];
	int status;
	const char *type;
	char *body; /* owned */
	size_t len;
	size_t claim; /* Content-Length sent; len when 0 */
};

struct fake {
	int lfd, port;
	char base[64];
	pthread_t thread;
	pthread_mutex_t mu;
	bool stop;
	struct route routes[ROUTES_MAX];
	size_t nroutes;
	char log[LOG_MAX][512];
	int nlog;
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

static void answer(struct fake *f, int fd, const char *path)
{
	const struct route *r = NULL;
	char head[1024];
	size_t clen;
	int n;

	for (size_t i = 0; i < f->nroutes; i++)
		if (strcmp(f->routes[i].path, path) == 0)
			r = &f->routes[i];
	if (!r) {
		static const char nf[] =
		    "{\"errors\":[{\"code\":\"NOT_FOUND\"}]}";

		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\n"
			     "Content-Type: application/json\r\n"
			     "Connection: close\r\n\r\n",
			     sizeof(nf) - 1);
		send_all(fd, head, (size_t)n);
		send_all(fd, nf, sizeof(nf) - 1);
		return;
	}
	clen = r->claim ? r->claim : r->len;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n"
		     "Content-Type: %s\r\nConnection: close\r\n\r\n",
		     r->status, clen, r->type);
	send_all(fd, head, (size_t)n);
	send_all(fd, r->body, r->len < clen ? r->len : clen);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		char req[4096], path[512] = "";
		size_t len = 0;
		bool stop;
		int fd;

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
		sscanf(req, "%*s %511s", path);
		pthread_mutex_lock(&f->mu);
		if (f->nlog < LOG_MAX)
			snprintf(f->log[f->nlog++], sizeof(f->log[0]), "%s",
				 path);
		pthread_mutex_unlock(&f->mu);
		answer(f, fd, path);
		close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

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
	close(f->lfd);
	pthread_mutex_destroy(&f->mu);
	for (size_t i = 0; i < f->nroutes; i++)
		free(f->routes[i].body);
}

/* Answer GET path with status and a copy of body (claim: the
 * Content-Length to announce, 0 for the body's). */
static void route(struct fake *f, const char *path, int status,
		  const char *type, const void *body, size_t len, size_t claim)
{
	struct route *r;

	assert_true(f->nroutes < ROUTES_MAX);
	r = &f->routes[f->nroutes++];
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->status = status;
	r->type = type;
	r->body = malloc(len + 1);
	assert_non_null(r->body);
	memcpy(r->body, body, len);
	r->len = len;
	r->claim = claim;
}

static bool requested(struct fake *f, const char *needle)
{
	bool found = false;

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nlog; i++)
		if (strstr(f->log[i], needle))
			found = true;
	pthread_mutex_unlock(&f->mu);
	return found;
}

static struct rfs_upstream *upstream_of(struct fake *f)
{
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };

	rfs_upstream_config_defaults(&cfg);
	cfg.url = strdup(f->base);
	cfg.name = strdup("test");
	free(cfg.credentials);
	cfg.credentials = strdup("none");
	cfg.plain_http = true;
	cfg.retries = 0;
	cfg.total_timeout_ms = 5000;
	if (rfs_upstream_new(&cfg, &up, &err))
		fail_msg("upstream: %s", err.msg);
	rfs_upstream_config_release(&cfg);
	return up;
}

struct keypair {
	struct rfs_sign_key *priv, *pub;
};

static struct rfs_sign_key *load(EVP_PKEY *pkey, bool private)
{
	struct rfs_sign_key *key = NULL;
	struct rfs_error err = { 0 };
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	if (private)
		PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(bio, pkey);
	n = BIO_get_mem_data(bio, &data);
	if (rfs_sign_key_load(data, (size_t)n, private, &key, &err))
		fail_msg("key: %s", err.msg);
	BIO_free(bio);
	return key;
}

static void keypair_make(struct keypair *kp, bool ec)
{
	EVP_PKEY *pkey = ec ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
			    : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(pkey);
	kp->priv = load(pkey, true);
	kp->pub = load(pkey, false);
	EVP_PKEY_free(pkey);
}

static void keypair_release(struct keypair *kp)
{
	rfs_sign_key_free(&kp->priv);
	rfs_sign_key_free(&kp->pub);
}

/* A signature manifest over payload (its blob served unless size_claim
 * says another size): routes for the payload, and the manifest's body
 * and digest in *body, md. */
static void signature(struct fake *f, const char *covers,
		      const struct rfs_sign_key *priv, bool truncate,
		      json_int_t size_claim, char **body,
		      char md[RFS_DIGEST_STR_MAX + 1])
{
	char pd[RFS_DIGEST_STR_MAX + 1], path[512];
	struct rfs_error err = { 0 };
	char *payload = NULL, *sig = NULL;
	size_t plen = 0;
	json_t *man;

	assert_int_equal(rfs_sign_payload("app", covers, &payload, &plen, &err),
			 0);
	assert_int_equal(rfs_sign_buf(priv, payload, plen, &sig, &err), 0);
	if (truncate)
		strcpy(sig + strlen(sig) / 2 / 4 * 4, "");
	assert_int_equal(rfs_digest_buf(payload, plen, pd), 0);
	snprintf(path, sizeof(path), "/v2/app/blobs/%s", pd);
	route(f, path, 200, "application/octet-stream", payload, plen, 0);
	man = json_pack(
	    "{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, s:{s:s}}], "
	    "s:{s:s, s:s, s:I}}",
	    "schemaVersion", 2, "mediaType", RFS_MT_OCI_MANIFEST,
	    "artifactType", RFS_COSIGN_ARTIFACT_TYPE, "config", "mediaType",
	    RFS_MT_EMPTY, "digest", RFS_EMPTY_CONFIG_DIGEST, "size", 2,
	    "layers", "mediaType", RFS_MT_COSIGN_PAYLOAD, "digest", pd, "size",
	    size_claim ? size_claim : (json_int_t)plen, "annotations",
	    RFS_COSIGN_SIG_ANNOTATION, sig, "subject", "mediaType",
	    RFS_MT_OCI_MANIFEST, "digest", D1, "size", 100);
	*body = json_dumps(man, JSON_COMPACT | JSON_SORT_KEYS);
	assert_int_equal(rfs_digest_buf(*body, strlen(*body), md), 0);
	json_decref(man);
	free(payload);
	free(sig);
}

static const char SIG_TAG[] =
    "/v2/app/manifests/sha256-"
    "2bdeb0c976c4c1e6dfe2b41767e701c47e9eaaa1cc0d23a05e0dd29bc13533e6.sig";

static void serve_manifest(struct fake *f, const char *ref, const char *body)
{
	char path[512];

	snprintf(path, sizeof(path), "/v2/app/manifests/%s", ref);
	route(f, path, 200, RFS_MT_OCI_MANIFEST, body, strlen(body), 0);
}

/* A referrers index listing md (size bytes). */
static void serve_referrers(struct fake *f, const char *md, json_int_t size)
{
	char path[512];
	json_t *idx;
	char *body;

	idx = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:s}]}", "schemaVersion",
			2, "mediaType", RFS_MT_OCI_INDEX, "manifests",
			"mediaType", RFS_MT_OCI_MANIFEST, "digest", md, "size",
			size, "artifactType", RFS_COSIGN_ARTIFACT_TYPE);
	body = json_dumps(idx, JSON_COMPACT);
	snprintf(path, sizeof(path),
		 "/v2/app/referrers/%s?artifactType=application%%2Fvnd.dev."
		 "cosign.artifact.sig.v1%%2Bjson",
		 D1);
	route(f, path, 200, RFS_MT_OCI_INDEX, body, strlen(body), 0);
	free(body);
	json_decref(idx);
}

static int verify(struct fake *f, const struct rfs_sign_key *const *keys,
		  size_t nkeys, struct rfs_sign_result *res,
		  struct rfs_error *err)
{
	struct rfs_upstream *up = upstream_of(f);
	int r;

	r = rfs_verify_remote(up, "app", D1, keys, nkeys, res, err);
	rfs_upstream_free(&up);
	return r;
}

/* Distribution 2.8: the referrers API is 404, the .sig tag holds it. */
static void test_sig_tag(void **state)
{
	struct fake f = { 0 };
	struct keypair kp, other;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	char md[RFS_DIGEST_STR_MAX + 1], fpr[RFS_SIGN_FPR_LEN + 1];
	const struct rfs_sign_key *keys[2];
	char *body;

	(void)state;
	keypair_make(&kp, true);
	keypair_make(&other, false);
	fake_start(&f);
	signature(&f, D1, kp.priv, false, 0, &body, md);
	serve_manifest(&f, SIG_TAG + strlen("/v2/app/manifests/"), body);
	keys[0] = kp.pub;
	if (verify(&f, keys, 1, &res, &err))
		fail_msg("verify: %s", err.msg);
	assert_string_equal(res.signature, md);
	assert_string_equal(res.digest, D1);
	rfs_sign_key_fingerprint(kp.pub, fpr);
	assert_string_equal(res.fingerprint, fpr);
	assert_true(requested(&f, "/referrers/"));

	/* One of two keys: the result names the one that signed. */
	keys[0] = other.pub;
	keys[1] = kp.pub;
	assert_int_equal(verify(&f, keys, 2, &res, &err), 0);
	assert_string_equal(res.fingerprint, fpr);

	/* Another key alone: signatures exist, none verifies. */
	assert_int_equal(verify(&f, keys, 1, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "does not verify"));
	free(body);
	fake_stop(&f);
	keypair_release(&kp);
	keypair_release(&other);
}

/* The referrers API lists it: the .sig tag is not asked. */
static void test_referrers(void **state)
{
	struct fake f = { 0 };
	struct keypair kp;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	char md[RFS_DIGEST_STR_MAX + 1];
	const struct rfs_sign_key *keys[1];
	char *body;

	(void)state;
	keypair_make(&kp, false);
	fake_start(&f);
	signature(&f, D1, kp.priv, false, 0, &body, md);
	serve_manifest(&f, md, body);
	serve_referrers(&f, md, (json_int_t)strlen(body));
	keys[0] = kp.pub;
	if (verify(&f, keys, 1, &res, &err))
		fail_msg("verify: %s", err.msg);
	assert_string_equal(res.signature, md);
	assert_false(requested(&f, "/manifests/sha256-"));
	free(body);
	fake_stop(&f);
	keypair_release(&kp);
}

static void test_none(void **state)
{
	struct fake f = { 0 };
	struct keypair kp;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	const struct rfs_sign_key *keys[1];

	(void)state;
	keypair_make(&kp, true);
	fake_start(&f);
	keys[0] = kp.pub;
	assert_int_equal(verify(&f, keys, 1, &res, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no cosign signature"));
	assert_int_equal(verify(&f, keys, 0, &res, &err), -EINVAL);
	fake_stop(&f);
	keypair_release(&kp);
}

/* Each refusal is -EBADMSG with a reason. */
static void refused(bool truncate, const char *covers, json_int_t claim,
		    const char *why)
{
	struct fake f = { 0 };
	struct keypair kp;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	char md[RFS_DIGEST_STR_MAX + 1];
	const struct rfs_sign_key *keys[1];
	char *body;

	keypair_make(&kp, true);
	fake_start(&f);
	signature(&f, covers, kp.priv, truncate, claim, &body, md);
	serve_manifest(&f, SIG_TAG + strlen("/v2/app/manifests/"), body);
	keys[0] = kp.pub;
	assert_int_equal(verify(&f, keys, 1, &res, &err), -EBADMSG);
	if (!strstr(err.msg, why))
		fail_msg("want '%s' in: %s", why, err.msg);
	if (claim > RFS_SIGN_PAYLOAD_MAX)
		assert_false(requested(&f, "/blobs/"));
	free(body);
	fake_stop(&f);
	keypair_release(&kp);
}

static void test_refusals(void **state)
{
	(void)state;
	refused(false, D2, 0, "covers " D2);
	refused(true, D1, 0, "does not verify");
	/* The signature layer of 100 MB: never downloaded. */
	refused(false, D1, 100 << 20, "refused unread");
	/* A layer claiming fewer bytes than the blob has. */
	refused(false, D1, 10, "longer than");
}

/* A manifest over the limit: listed with its size, or announced by
 * Content-Length on the .sig tag. Neither is read. */
static void test_manifest_too_big(void **state)
{
	struct fake f = { 0 };
	struct keypair kp;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	char md[RFS_DIGEST_STR_MAX + 1];
	const struct rfs_sign_key *keys[1];
	char *body;

	(void)state;
	keypair_make(&kp, true);
	fake_start(&f);
	signature(&f, D1, kp.priv, false, 0, &body, md);
	serve_referrers(&f, md, (json_int_t)RFS_MANIFEST_MAX + 1);
	route(&f, SIG_TAG, 200, RFS_MT_OCI_MANIFEST, body, strlen(body),
	      (size_t)100 << 20);
	keys[0] = kp.pub;
	assert_int_equal(verify(&f, keys, 1, &res, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "larger than"));
	assert_false(requested(&f, md));
	free(body);
	fake_stop(&f);
	keypair_release(&kp);
}

/* A 500 on the payload is no verdict: never -EBADMSG nor -ENOENT. */
static void test_transport(void **state)
{
	struct fake f = { 0 };
	struct keypair kp;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	char md[RFS_DIGEST_STR_MAX + 1], path[512];
	const struct rfs_sign_key *keys[1];
	char *body;
	int r;

	(void)state;
	keypair_make(&kp, true);
	fake_start(&f);
	signature(&f, D1, kp.priv, false, 0, &body, md);
	/* The payload's route comes first; a later one for it wins. */
	snprintf(path, sizeof(path), "%s", f.routes[0].path);
	route(&f, path, 500, "text/plain", "no", 2, 0);
	serve_manifest(&f, SIG_TAG + strlen("/v2/app/manifests/"), body);
	keys[0] = kp.pub;
	r = verify(&f, keys, 1, &res, &err);
	assert_true(r < 0 && r != -EBADMSG && r != -ENOENT);
	assert_non_null(strstr(err.msg, "cannot verify"));
	free(body);
	fake_stop(&f);
	keypair_release(&kp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sig_tag),
		cmocka_unit_test(test_referrers),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_manifest_too_big),
		cmocka_unit_test(test_transport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
