/*
 * test-sign.c - unit tests of sign.h: the cosign simple-signing payload
 * bytes, PEM keys (P-256 and Ed25519 made here with OpenSSL EVP; RSA,
 * another curve and garbage refused), sign and verify round trips, each
 * bad signature refused, and signatures of a local tag stored through the
 * registry core: listed as referrers, tagged sha256-<hex>.sig, and
 * refused when by another key, over another digest or oversized.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "digest.h"
#include "manifest.h"
#include "push.h"
#include "registry.h"
#include "seal.h"
#include "sign.h"
#include "store.h"
#include "tmptree.h"

#define D1        \
	"sha256:" \
	"2bdeb0c976c4c1e6dfe2b41767e701c47e9eaaa1cc0d23a05e0dd29bc13533e6"
#define D2        \
	"sha256:" \
	"0000000000000000000000000000000000000000000000000000000000000000"

/* A PEM of a key made now: private or public half. */
static char *make_pem(EVP_PKEY *pkey, bool private)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(bio);
	if (private)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL,
							  0, NULL, NULL),
				 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &data);
	out = strndup(data, (size_t)n);
	BIO_free(bio);
	return out;
}

struct keypair {
	struct rfs_sign_key *priv, *pub;
	EVP_PKEY *pkey;
};

static void keypair_make(struct keypair *kp, const char *type)
{
	struct rfs_error err = { 0 };
	char *pem;

	kp->pkey = strcmp(type, "EC") == 0
		       ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
		       : EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(kp->pkey);
	pem = make_pem(kp->pkey, true);
	if (rfs_sign_key_load(pem, strlen(pem), true, &kp->priv, &err))
		fail_msg("private %s: %s", type, err.msg);
	free(pem);
	pem = make_pem(kp->pkey, false);
	if (rfs_sign_key_load(pem, strlen(pem), false, &kp->pub, &err))
		fail_msg("public %s: %s", type, err.msg);
	free(pem);
}

static void keypair_release(struct keypair *kp)
{
	rfs_sign_key_free(&kp->priv);
	rfs_sign_key_free(&kp->pub);
	EVP_PKEY_free(kp->pkey);
}

static void test_payload_bytes(void **state)
{
	struct rfs_error err = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1], ref[64];
	char *p = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(rfs_sign_payload("team/app", D1, &p, &len, &err), 0);
	assert_string_equal(
	    p,
	    "{\"critical\":{\"identity\":{\"docker-reference\":\"team/app\"},"
	    "\"image\":{\"docker-manifest-digest\":\"" D1 "\"},"
	    "\"type\":\"cosign container image signature\"},"
	    "\"optional\":null}");
	assert_int_equal(len, strlen(p));
	assert_int_equal(
	    rfs_sign_payload_parse(p, len, digest, ref, sizeof(ref), &err), 0);
	assert_string_equal(digest, D1);
	assert_string_equal(ref, "team/app");
	free(p);

	assert_int_equal(rfs_sign_payload("Bad Repo", D1, &p, &len, &err),
			 -EINVAL);
	assert_int_equal(rfs_sign_payload("app", "sha256:12", &p, &len, &err),
			 -EINVAL);
	/* Not JSON, not cosign's type, no digest, too large. */
	assert_int_equal(rfs_sign_payload_parse("{", 1, digest, NULL, 0, &err),
			 -EBADMSG);
	p = "{\"critical\":{\"identity\":{},\"image\":{\"docker-manifest-"
	    "digest\":\"" D1 "\"},\"type\":\"other\"},\"optional\":null}";
	assert_int_equal(
	    rfs_sign_payload_parse(p, strlen(p), digest, NULL, 0, &err),
	    -EBADMSG);
	p = "{\"critical\":{\"image\":{},\"type\":"
	    "\"cosign container image signature\"}}";
	assert_int_equal(
	    rfs_sign_payload_parse(p, strlen(p), digest, NULL, 0, &err),
	    -EBADMSG);
	assert_int_equal(rfs_sign_payload_parse(p, RFS_SIGN_PAYLOAD_MAX + 1,
						digest, NULL, 0, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "larger"));
}

static void test_bad_keys(void **state)
{
	struct rfs_sign_key *key = NULL;
	struct rfs_error err = { 0 };
	EVP_PKEY *pkey;
	char *pem;

	(void)state;
	/* Garbage, a truncated PEM, an empty one. */
	assert_int_equal(rfs_sign_key_load("hello", 5, true, &key, &err),
			 -EINVAL);
	assert_null(key);
	assert_int_equal(rfs_sign_key_load("", 0, false, &key, &err), -EINVAL);

	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	pem = make_pem(pkey, true);
	assert_int_equal(
	    rfs_sign_key_load(pem, strlen(pem) / 2, true, &key, &err), -EINVAL);
	assert_null(key);
	/* A private key where a public one is wanted, and back. */
	assert_int_equal(rfs_sign_key_load(pem, strlen(pem), false, &key, &err),
			 -EINVAL);
	free(pem);
	pem = make_pem(pkey, false);
	assert_int_equal(rfs_sign_key_load(pem, strlen(pem), true, &key, &err),
			 -EINVAL);
	free(pem);
	EVP_PKEY_free(pkey);

	/* RSA and P-384: refused by type. */
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	pem = make_pem(pkey, true);
	assert_int_equal(rfs_sign_key_load(pem, strlen(pem), true, &key, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "unsupported key type"));
	free(pem);
	pem = make_pem(pkey, false);
	assert_int_equal(rfs_sign_key_load(pem, strlen(pem), false, &key, &err),
			 -EINVAL);
	free(pem);
	EVP_PKEY_free(pkey);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	pem = make_pem(pkey, true);
	assert_int_equal(rfs_sign_key_load(pem, strlen(pem), true, &key, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "P-256"));
	free(pem);
	EVP_PKEY_free(pkey);
	assert_null(key);
	assert_int_equal(
	    rfs_sign_key_load_file("/nonexistent/key.pem", true, &key, &err),
	    -ENOENT);
}

static void round_trip(const char *type)
{
	struct keypair kp = { 0 }, other = { 0 };
	char fpr[RFS_SIGN_FPR_LEN + 1], fpr2[RFS_SIGN_FPR_LEN + 1], hex[65];
	unsigned char *der = NULL, md[32];
	struct rfs_error err = { 0 };
	char *p = NULL, *sig = NULL, *bad;
	unsigned int mdlen = 0;
	size_t len = 0, n;
	int derlen;

	keypair_make(&kp, type);
	keypair_make(&other, type);
	assert_string_equal(rfs_sign_key_type(kp.priv),
			    strcmp(type, "EC") == 0 ? "ecdsa-p256" : "ed25519");

	/* The fingerprint: SHA-256 of the SubjectPublicKeyInfo DER, the same
	 * from either half. */
	derlen = i2d_PUBKEY(kp.pkey, &der);
	assert_true(derlen > 0);
	EVP_Digest(der, (size_t)derlen, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
	rfs_sign_key_fingerprint(kp.priv, fpr);
	rfs_sign_key_fingerprint(kp.pub, fpr2);
	assert_string_equal(fpr, hex);
	assert_string_equal(fpr2, hex);

	assert_int_equal(rfs_sign_payload("app", D1, &p, &len, &err), 0);
	assert_int_equal(rfs_sign_buf(kp.priv, p, len, &sig, &err), 0);
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, sig, &err), 0);
	/* Another key, an altered payload. */
	assert_int_equal(rfs_sign_verify_buf(other.pub, p, len, sig, &err),
			 -EBADMSG);
	p[len - 2] = 'X';
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, sig, &err),
			 -EBADMSG);
	p[len - 2] = 'l';
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, sig, &err), 0);
	/* Truncated (whole base64 quads cut off), garbled, empty, huge. */
	n = strlen(sig);
	bad = strdup(sig);
	bad[(n / 2) & ~(size_t)3] = '\0';
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, bad, &err),
			 -EBADMSG);
	strcpy(bad, sig);
	bad[5] = '!';
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, bad, &err),
			 -EBADMSG);
	strcpy(bad, sig);
	bad[5] = bad[5] == 'A' ? 'B' : 'A';
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, bad, &err),
			 -EBADMSG);
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, "", &err),
			 -EBADMSG);
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, "AAA=", &err),
			 -EBADMSG);
	free(bad);
	bad = malloc(RFS_SIGN_SIG_MAX + 5);
	memset(bad, 'A', RFS_SIGN_SIG_MAX + 4);
	bad[RFS_SIGN_SIG_MAX + 4] = '\0';
	assert_int_equal(rfs_sign_verify_buf(kp.pub, p, len, bad, &err),
			 -EBADMSG);
	free(bad);
	free(sig);
	free(p);
	keypair_release(&kp);
	keypair_release(&other);
}

static void test_round_trip_p256(void **state)
{
	(void)state;
	round_trip("EC");
}

static void test_round_trip_ed25519(void **state)
{
	(void)state;
	round_trip("ED25519");
}

/* The store: a local tag signed through the registry core. */
struct fixture {
	char root[64];
	struct rfs_store *store;
	struct rfs_registry *reg;
};

static void seal_local(struct fixture *f, const char *repo, const char *tag,
		       const char *text)
{
	struct rfs_seal_options opts = { 0 };
	struct rfs_error err = { 0 };
	struct rfs_seal *seal = NULL;
	struct rfs_tag out;
	size_t len = strlen(text);

	assert_int_equal(rfs_seal_begin(f->store, &seal, &err), 0);
	assert_int_equal(rfs_seal_write(seal, text, len, 0, &err),
			 (ssize_t)len);
	if (rfs_seal_commit(seal, repo, tag, &opts, &out, &err) != 0)
		fail_msg("seal %s:%s: %s", repo, tag, err.msg);
	rfs_seal_free(&seal);
}

static void put_blob(struct fixture *f, const char *repo, const void *buf,
		     size_t len, char digest[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL;

	assert_int_equal(rfs_digest_buf(buf, len, digest), 0);
	assert_int_equal(rfs_registry_upload_start(f->reg, repo, &u, &st), 0);
	assert_int_equal(rfs_upload_write(u, buf, len, &st), 0);
	if (rfs_registry_upload_finish(f->reg, u, digest, &st))
		fail_msg("upload: %s", st.message);
}

/* A signature manifest of subject (repo's tag manifest m) whose layer is
 * payload, annotated sig, stored by digest only. */
static void put_signature(struct fixture *f, const char *repo,
			  const struct rfs_registry_manifest *m,
			  const char *payload, size_t plen, const char *sig)
{
	char pd[RFS_DIGEST_STR_MAX + 1], cd[RFS_DIGEST_STR_MAX + 1];
	char md[RFS_DIGEST_STR_MAX + 1], subj[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	json_t *man;
	char *body;

	put_blob(f, repo, payload, plen, pd);
	put_blob(f, repo, "{}", 2, cd);
	man = json_pack("{s:i, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, "
			"s:{s:s}}], s:{s:s, s:s, s:I}}",
			"schemaVersion", 2, "mediaType", RFS_MT_OCI_MANIFEST,
			"config", "mediaType", RFS_MT_EMPTY, "digest", cd,
			"size", 2, "layers", "mediaType", RFS_MT_COSIGN_PAYLOAD,
			"digest", pd, "size", (json_int_t)plen, "annotations",
			RFS_COSIGN_SIG_ANNOTATION, sig, "subject", "mediaType",
			m->media_type, "digest", m->digest, "size",
			(json_int_t)m->len);
	body = json_dumps(man, JSON_COMPACT);
	assert_int_equal(rfs_digest_buf(body, strlen(body), md), 0);
	if (rfs_registry_manifest_put(f->reg, repo, md, RFS_MT_OCI_MANIFEST,
				      body, strlen(body), md, subj, &st))
		fail_msg("put: %s", st.message);
	free(body);
	json_decref(man);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-sign-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	if (rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err) != 0 ||
	    rfs_sign_registry(f->store, &f->reg, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_registry_free(&f->reg);
	rfs_store_close(&f->store);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

static void test_sign_tag(void **state)
{
	struct fixture *f = *state;
	struct keypair kp = { 0 }, other = { 0 }, ed = { 0 };
	struct rfs_registry_manifest m = { 0 }, s = { 0 };
	struct rfs_sign_result res, vres;
	struct rfs_oci_status st = { 0 };
	struct rfs_error err = { 0 };
	char *index = NULL, *p = NULL, *sig = NULL, *big;
	size_t ilen = 0, plen = 0;

	keypair_make(&kp, "EC");
	keypair_make(&other, "EC");
	keypair_make(&ed, "ED25519");
	seal_local(f, "team/app", "v1", "hello\n");
	seal_local(f, "team/app", "v2", "other\n");
	seal_local(f, "team/app", "v3", "third\n");
	assert_int_equal(
	    rfs_registry_manifest_get(f->reg, "team/app", "v1", &m, &st), 0);

	/* Unsigned: -ENOENT. A missing tag: -ENOENT too. */
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v1",
					kp.pub, &vres, &err),
			 -ENOENT);
	assert_int_equal(rfs_sign_tag(f->reg, f->store, "team/app", "nope",
				      kp.priv, &res, &err),
			 -ENOENT);

	if (rfs_sign_tag(f->reg, f->store, "team/app", "v1", kp.priv, &res,
			 &err))
		fail_msg("sign: %s", err.msg);
	assert_string_equal(res.digest, m.digest);
	if (rfs_verify_tag(f->reg, f->store, "team/app", "v1", kp.pub, &vres,
			   &err))
		fail_msg("verify: %s", err.msg);
	assert_string_equal(vres.signature, res.signature);
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v1",
					other.pub, &vres, &err),
			 -EBADMSG);
	/* The referrers API lists it, the .sig tag names it. */
	assert_int_equal(rfs_registry_referrers(f->reg, "team/app", m.digest,
						NULL, &index, &ilen, &st),
			 0);
	assert_non_null(strstr(index, res.signature));
	free(index);
	assert_int_equal(
	    rfs_registry_manifest_get(f->reg, "team/app", res.sig_tag, &s, &st),
	    0);
	assert_string_equal(s.digest, res.signature);
	rfs_registry_manifest_release(&s);

	/* A second key: the .sig tag moves, both verify. */
	assert_int_equal(rfs_sign_tag(f->reg, f->store, "team/app", "v1",
				      ed.priv, &res, &err),
			 0);
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v1",
					ed.pub, &vres, &err),
			 0);
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v1",
					kp.pub, &vres, &err),
			 0);
	rfs_registry_manifest_release(&m);

	/* v2: a valid signature by kp, but over another digest. */
	assert_int_equal(
	    rfs_registry_manifest_get(f->reg, "team/app", "v2", &m, &st), 0);
	assert_int_equal(rfs_sign_payload("team/app", D2, &p, &plen, &err), 0);
	assert_int_equal(rfs_sign_buf(kp.priv, p, plen, &sig, &err), 0);
	put_signature(f, "team/app", &m, p, plen, sig);
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v2",
					kp.pub, &vres, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "covers " D2));
	/* A garbled signature on the right payload. */
	free(p);
	free(sig);
	assert_int_equal(
	    rfs_sign_payload("team/app", m.digest, &p, &plen, &err), 0);
	put_signature(f, "team/app", &m, p, plen, "bm90IGEgc2lnbmF0dXJl");
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v2",
					kp.pub, &vres, &err),
			 -EBADMSG);
	free(p);
	rfs_registry_manifest_release(&m);

	/* v3: a payload layer over the bound is refused unread. */
	assert_int_equal(
	    rfs_registry_manifest_get(f->reg, "team/app", "v3", &m, &st), 0);
	big = calloc(1, RFS_SIGN_PAYLOAD_MAX + 2);
	memset(big, ' ', RFS_SIGN_PAYLOAD_MAX + 1);
	put_signature(f, "team/app", &m, big, RFS_SIGN_PAYLOAD_MAX + 1, "AAAA");
	assert_int_equal(rfs_verify_tag(f->reg, f->store, "team/app", "v3",
					kp.pub, &vres, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "larger than"));
	free(big);
	rfs_registry_manifest_release(&m);

	keypair_release(&kp);
	keypair_release(&other);
	keypair_release(&ed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload_bytes),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_round_trip_p256),
		cmocka_unit_test(test_round_trip_ed25519),
		cmocka_unit_test_setup_teardown(test_sign_tag, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
