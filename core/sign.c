/*
 * sign.c - cosign-compatible signatures of local tags (sign.h): the
 * simple-signing payload, PEM keys and EVP signing, and the signature
 * manifests stored through the registry core.
 *
 * Everything read back (payload, signature, manifests) is bounded before it
 * is parsed, and every failure of OpenSSL is a refusal: a verdict of 0
 * comes only from EVP_DigestVerify returning 1 and the payload naming the
 * tag's manifest digest.
 */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "digest.h"
#include "manifest.h"
#include "push.h"
#include "remote.h"

#define SIGN_KEY_FILE_MAX   (64 << 10)
#define SIGN_CANDIDATES_MAX 256
#define SIGN_ARTIFACT_TYPE  "application/vnd.dev.cosign.artifact.sig.v1+json"

struct rfs_sign_key {
	EVP_PKEY *pkey;
	bool ed25519;
	char fingerprint[RFS_SIGN_FPR_LEN + 1];
};

/* REPO, or HOST[:PORT]/REPO (remote.h's grammar, without a tag). */
static bool docker_ref_valid(const char *ref)
{
	struct rfs_remote_ref r;

	if (!rfs_remote_is_remote(ref))
		return rfs_name_valid_repo(ref);
	return rfs_remote_parse(ref, RFS_REMOTE_TAG_FORBIDDEN, &r, NULL) == 0;
}

int rfs_sign_payload(const char *docker_ref, const char *digest, char **out,
		     size_t *len, struct rfs_error *err)
{
	char *buf;
	int n;

	/* A valid repository name (with its registry host for a remote one,
	 * as cosign writes it) and digest need no JSON escaping (Go's encoder
	 * would escape only quotes, backslashes, controls, <, >, &), so these
	 * bytes are exactly encoding/json's. */
	if (!docker_ref_valid(docker_ref))
		return rfs_error_set(
		    err, -EINVAL, "invalid repository name '%s'", docker_ref);
	if (!rfs_digest_valid(digest))
		return rfs_error_set(err, -EINVAL, "invalid digest '%s'",
				     digest);
	n = asprintf(
	    &buf,
	    "{\"critical\":{\"identity\":{\"docker-reference\":\"%s\"},"
	    "\"image\":{\"docker-manifest-digest\":\"%s\"},"
	    "\"type\":\"%s\"},\"optional\":null}",
	    docker_ref, digest, RFS_COSIGN_TYPE);
	if (n < 0)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	*out = buf;
	*len = (size_t)n;
	return 0;
}

int rfs_sign_payload_parse(const char *payload, size_t len,
			   char digest[RFS_DIGEST_STR_MAX + 1], char *ref,
			   size_t ref_size, struct rfs_error *err)
{
	const char *type = NULL, *d = NULL, *r = NULL;
	json_error_t jerr;
	json_t *root;
	int ret = 0;

	if (len > RFS_SIGN_PAYLOAD_MAX)
		return rfs_error_set(err, -EBADMSG,
				     "signature payload of %zu bytes is larger "
				     "than %d",
				     len, RFS_SIGN_PAYLOAD_MAX);
	root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return rfs_error_set(err, -EBADMSG,
				     "signature payload is not JSON: %s",
				     jerr.text);
	if (json_unpack(root, "{s:{s:{s?s}, s:{s:s}, s:s}}", "critical",
			"identity", "docker-reference", &r, "image",
			"docker-manifest-digest", &d, "type", &type) != 0 ||
	    strcmp(type, RFS_COSIGN_TYPE) != 0 || !rfs_digest_valid(d)) {
		ret = rfs_error_set(err, -EBADMSG,
				    "not a cosign simple-signing payload");
		goto out;
	}
	snprintf(digest, RFS_DIGEST_STR_MAX + 1, "%s", d);
	if (ref && ref_size)
		snprintf(ref, ref_size, "%s", r ? r : "");
out:
	json_decref(root);
	return ret;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1; /* an encrypted key is refused, never prompted for */
}

static int key_check_type(struct rfs_sign_key *key, struct rfs_error *err)
{
	char group[64] = "";
	size_t glen = 0;

	switch (EVP_PKEY_get_base_id(key->pkey)) {
	case EVP_PKEY_ED25519: key->ed25519 = true; return 0;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(
			key->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
			sizeof(group), &glen) == 1 &&
		    strcmp(group, "prime256v1") == 0)
			return 0;
		return rfs_error_set(err, -EINVAL,
				     "EC key on curve '%s': only P-256 "
				     "(prime256v1) is supported",
				     group[0] ? group : "?");
	default:
		return rfs_error_set(
		    err, -EINVAL,
		    "unsupported key type '%s': want ECDSA "
		    "P-256 or Ed25519",
		    OBJ_nid2sn(EVP_PKEY_get_base_id(key->pkey)));
	}
}

int rfs_sign_key_load(const char *pem, size_t len, bool private,
		      struct rfs_sign_key **out, struct rfs_error *err)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	struct rfs_sign_key *key = NULL;
	unsigned int mdlen = 0;
	BIO *bio = NULL;
	int derlen, ret;

	*out = NULL;
	if (len > SIGN_KEY_FILE_MAX || len > INT32_MAX)
		return rfs_error_set(err, -EINVAL,
				     "key of %zu bytes: too large", len);
	key = calloc(1, sizeof(*key));
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!key || !bio) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	key->pkey = private
			? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)
			: PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
	if (!key->pkey) {
		unsigned long e = ERR_peek_last_error();

		ret =
		    rfs_error_set(err, -EINVAL, "not a PEM %s key%s%s",
				  private ? "private" : "public", e ? ": " : "",
				  e ? ERR_reason_error_string(e) : "");
		goto out;
	}
	ret = key_check_type(key, err);
	if (ret)
		goto out;
	derlen = i2d_PUBKEY(key->pkey, &der);
	if (derlen <= 0 || EVP_Digest(der, (size_t)derlen, md, &mdlen,
				      EVP_sha256(), NULL) != 1) {
		ret =
		    rfs_error_set(err, -EINVAL, "cannot encode the public key");
		goto out;
	}
	for (unsigned int i = 0; i < mdlen && i < RFS_SIGN_FPR_LEN / 2; i++)
		snprintf(key->fingerprint + 2 * i, 3, "%02x", md[i]);
	*out = key;
	key = NULL;
	ret = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	BIO_free(bio);
	rfs_sign_key_free(&key);
	return ret;
}

int rfs_sign_key_load_file(const char *path, bool private,
			   struct rfs_sign_key **out, struct rfs_error *err)
{
	struct rfs_error why = { 0 };
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", path,
				     strerror(errno));
	buf = malloc(SIGN_KEY_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	while ((n = read(fd, buf + len, SIGN_KEY_FILE_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		ret = rfs_error_set(err, -errno, "cannot read '%s': %s", path,
				    strerror(errno));
		goto out;
	}
	if (len > SIGN_KEY_FILE_MAX) {
		ret = rfs_error_set(err, -EINVAL, "'%s': larger than %d bytes",
				    path, SIGN_KEY_FILE_MAX);
		goto out;
	}
	ret = rfs_sign_key_load(buf, len, private, out, &why);
	if (ret)
		rfs_error_set(err, ret, "'%s': %s", path,
			      rfs_error_message(&why, ret));
out:
	OPENSSL_cleanse(buf, SIGN_KEY_FILE_MAX + 1);
	free(buf);
	close(fd);
	return ret;
}

void rfs_sign_key_free(struct rfs_sign_key **key)
{
	if (!key || !*key)
		return;
	EVP_PKEY_free((*key)->pkey);
	free(*key);
	*key = NULL;
}

const char *rfs_sign_key_type(const struct rfs_sign_key *key)
{
	return key->ed25519 ? "ed25519" : "ecdsa-p256";
}

void rfs_sign_key_fingerprint(const struct rfs_sign_key *key,
			      char out[RFS_SIGN_FPR_LEN + 1])
{
	memcpy(out, key->fingerprint, RFS_SIGN_FPR_LEN + 1);
}

int rfs_sign_buf(const struct rfs_sign_key *key, const void *buf, size_t len,
		 char **sig_b64, struct rfs_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	char *b64 = NULL;
	size_t siglen = 0;
	int ret;

	*sig_b64 = NULL;
	if (!ctx) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Ed25519 hashes inside the scheme; ECDSA over SHA-256 of the payload,
	 * DER-encoded: what cosign and `openssl dgst -sha256 -sign` make. */
	if (EVP_DigestSignInit(ctx, NULL, key->ed25519 ? NULL : EVP_sha256(),
			       NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, buf, len) != 1 ||
	    !(sig = OPENSSL_malloc(siglen)) ||
	    EVP_DigestSign(ctx, sig, &siglen, buf, len) != 1) {
		ret = rfs_error_set(err, -EINVAL,
				    "signing failed (is it a private key?)");
		goto out;
	}
	b64 = malloc(4 * ((siglen + 2) / 3) + 1);
	if (!b64) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	*sig_b64 = b64;
	ret = 0;
out:
	ERR_clear_error();
	OPENSSL_free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Strict base64 (standard alphabet, padded): bytes into *out. */
static int b64_decode(const char *s, unsigned char **out, size_t *outlen)
{
	size_t n = strlen(s), pad = 0;
	unsigned char *buf;
	int got;

	if (n == 0 || n % 4 != 0 || n > RFS_SIGN_SIG_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=') {
			if (i < n - 2 || (i == n - 2 && s[n - 1] != '='))
				return -EBADMSG;
			pad++;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/')) {
			return -EBADMSG;
		}
	}
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	got = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got < pad) {
		free(buf);
		return -EBADMSG;
	}
	*out = buf;
	*outlen = (size_t)got - pad;
	return 0;
}

int rfs_sign_verify_buf(const struct rfs_sign_key *key, const void *buf,
			size_t len, const char *sig_b64, struct rfs_error *err)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int ret, r;

	r = b64_decode(sig_b64, &sig, &siglen);
	if (r == -ENOMEM)
		return rfs_error_set(err, r, "out of memory");
	if (r)
		return rfs_error_set(err, -EBADMSG,
				     "signature is not base64 (or longer than "
				     "%d characters)",
				     RFS_SIGN_SIG_MAX);
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, key->ed25519 ? NULL : EVP_sha256(),
				 NULL, key->pkey) != 1) {
		ret = rfs_error_set(err, -EBADMSG, "cannot verify with key");
		goto out;
	}
	r = EVP_DigestVerify(ctx, sig, siglen, buf, len);
	if (r == 1)
		ret = 0;
	else
		ret =
		    rfs_error_set(err, -EBADMSG,
				  "signature does not verify with key %.16s "
				  "(%s)",
				  key->fingerprint,
				  r == 0 ? "wrong key or altered payload"
					 : "malformed or truncated signature");
out:
	ERR_clear_error();
	free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

int rfs_sign_registry(struct rfs_store *store, struct rfs_registry **out,
		      struct rfs_error *err)
{
	static const char *const mut[] = { "*:sha256-*.sig" };
	struct rfs_registry_options o = { .mutable_tags = mut,
					  .n_mutable_tags = 1 };

	return rfs_registry_new(store, &o, out, err);
}

static int oci_err(struct rfs_error *err, const struct rfs_oci_status *st,
		   const char *what)
{
	int code = st->http == 404 ? -ENOENT : -EIO;

	return rfs_error_set(err, code, "%s: %s", what, st->message);
}

/* The manifest repo:tag is served as, and that it is what push serves. */
static int tag_manifest(struct rfs_registry *reg, struct rfs_store *store,
			const char *repo, const char *tag,
			struct rfs_registry_manifest *m, struct rfs_error *err)
{
	struct rfs_oci_status st = { 0 };
	char served[RFS_DIGEST_STR_MAX + 1];
	struct rfs_tag t;
	int r;

	r = rfs_catalog_tag_get(rfs_store_catalog(store), repo, tag, &t);
	if (r)
		return rfs_error_set(err, r == -ENOENT ? -ENOENT : r,
				     "'%s:%s': no such tag in the store", repo,
				     tag);
	if (t.origin[0])
		return rfs_error_set(err, -EOPNOTSUPP,
				     "'%s:%s' is pinned from %s: only local "
				     "tags are signed and verified here",
				     repo, tag, t.origin);
	r = rfs_push_served_digest(store, &t, served, err);
	if (r)
		return r;
	if (rfs_registry_manifest_get(reg, repo, tag, m, &st))
		return oci_err(err, &st, "the tag's manifest");
	if (strcmp(m->digest, served) != 0) {
		rfs_registry_manifest_release(m);
		return rfs_error_set(err, -EIO,
				     "'%s:%s' is served as %s but pushed as %s",
				     repo, tag, m->digest, served);
	}
	return 0;
}

static int put_blob(struct rfs_registry *reg, const char *repo, const void *buf,
		    size_t len, char digest[], struct rfs_error *err)
{
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL;

	if (rfs_digest_buf(buf, len, digest))
		return rfs_error_set(err, -EIO, "cannot hash");
	if (rfs_registry_upload_start(reg, repo, &u, &st))
		return oci_err(err, &st, "upload");
	if (rfs_upload_write(u, buf, len, &st)) {
		rfs_registry_upload_release(reg, u);
		return oci_err(err, &st, "upload");
	}
	if (rfs_registry_upload_finish(reg, u, digest, &st))
		return oci_err(err, &st, "upload");
	return 0;
}

int rfs_sign_tag(struct rfs_registry *reg, struct rfs_store *store,
		 const char *repo, const char *tag,
		 const struct rfs_sign_key *key, struct rfs_sign_result *out,
		 struct rfs_error *err)
{
	struct rfs_registry_manifest m = { 0 };
	struct rfs_oci_status st = { 0 };
	char pdigest[RFS_DIGEST_STR_MAX + 1], cdigest[RFS_DIGEST_STR_MAX + 1];
	char subject[RFS_DIGEST_STR_MAX + 1];
	char *payload = NULL, *sig = NULL, *body = NULL;
	size_t plen = 0;
	json_t *man = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	rfs_sign_key_fingerprint(key, out->fingerprint);
	ret = tag_manifest(reg, store, repo, tag, &m, err);
	if (ret)
		return ret;
	snprintf(out->digest, sizeof(out->digest), "%s", m.digest);
	snprintf(out->sig_tag, sizeof(out->sig_tag), "sha256-%s.sig",
		 rfs_digest_hex(m.digest));
	ret = rfs_sign_payload(repo, m.digest, &payload, &plen, err);
	if (!ret)
		ret = rfs_sign_buf(key, payload, plen, &sig, err);
	if (!ret)
		ret = put_blob(reg, repo, payload, plen, pdigest, err);
	if (!ret)
		ret = put_blob(reg, repo, "{}", 2, cdigest, err);
	if (ret)
		goto out;
	man = json_pack(
	    "{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, s:{s:s}}], "
	    "s:{s:s, s:s, s:I}}",
	    "schemaVersion", 2, "mediaType", RFS_MT_OCI_MANIFEST,
	    "artifactType", SIGN_ARTIFACT_TYPE, "config", "mediaType",
	    RFS_MT_EMPTY, "digest", cdigest, "size", 2, "layers", "mediaType",
	    RFS_MT_COSIGN_PAYLOAD, "digest", pdigest, "size", (json_int_t)plen,
	    "annotations", RFS_COSIGN_SIG_ANNOTATION, sig, "subject",
	    "mediaType", m.media_type, "digest", m.digest, "size",
	    (json_int_t)m.len);
	body = man ? json_dumps(man, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!body) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (rfs_digest_buf(body, strlen(body), out->signature)) {
		ret = rfs_error_set(err, -EIO, "cannot hash");
		goto out;
	}
	/* By digest first, so that an older signature stays a referrer when
	 * the .sig tag moves to this one. */
	if (rfs_registry_manifest_put(reg, repo, out->signature,
				      RFS_MT_OCI_MANIFEST, body, strlen(body),
				      out->signature, subject, &st) ||
	    rfs_registry_manifest_put(reg, repo, out->sig_tag,
				      RFS_MT_OCI_MANIFEST, body, strlen(body),
				      out->signature, subject, &st)) {
		ret = oci_err(err, &st, "storing the signature");
		goto out;
	}
	ret = 0;
out:
	json_decref(man);
	free(body);
	free(sig);
	free(payload);
	rfs_registry_manifest_release(&m);
	return ret;
}

/* The local reader of payloads (rfs_sign_read_fn): a blob of the store. */
struct local_read {
	struct rfs_registry *reg;
	const char *repo;
};

static int read_local(void *ctx, const char *digest, uint64_t size, char **out,
		      size_t *len, struct rfs_error *err)
{
	struct local_read *lr = ctx;

	return rfs_sign_local_read(lr->reg, lr->repo, digest, size, out, len,
				   err);
}

int rfs_sign_local_read(struct rfs_registry *reg, const char *repo,
			const char *digest, uint64_t size, char **out,
			size_t *len, struct rfs_error *err)
{
	struct rfs_registry_blob b = { .fd = -1 };
	struct rfs_oci_status st = { 0 };
	char *buf = NULL;
	size_t got = 0;
	int ret;

	if (rfs_registry_blob_open(reg, repo, digest, &b, &st))
		return oci_err(err, &st, "signature payload");
	if (b.size != size) {
		ret = rfs_error_set(err, -EBADMSG,
				    "signature payload %s: %llu bytes, the "
				    "manifest says %llu",
				    digest, (unsigned long long)b.size,
				    (unsigned long long)size);
		goto out;
	}
	buf = malloc(size + 1);
	if (!buf) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (b.fd < 0) {
		memcpy(buf, b.data, size);
		got = size;
	}
	while (got < size) {
		ssize_t n = pread(b.fd, buf + got, size - got, (off_t)got);

		if (n <= 0) {
			ret = rfs_error_set(
			    err, -EIO, "reading signature payload %s", digest);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	rfs_registry_blob_close(&b);
	return ret;
}

void rfs_sign_check_refuse(struct rfs_sign_check *chk, const char *fmt, ...)
{
	va_list ap;

	chk->checked++;
	if (chk->other_digest)
		return; /* that one says more */
	va_start(ap, fmt);
	vsnprintf(chk->why.msg, sizeof(chk->why.msg), fmt, ap);
	va_end(ap);
	chk->why.code = -EBADMSG;
}

void rfs_sign_check_fail(struct rfs_sign_check *chk, int code,
			 const struct rfs_error *e)
{
	if (chk->failed)
		return;
	chk->failed = code;
	rfs_error_set(&chk->failure, code, "%s", rfs_error_message(e, code));
}

/* One payload layer (size declared, sig the annotation): 0 when a key
 * verifies it and it names chk->want, -EBADMSG (why in e) when not, or the
 * read's errno when it failed without a verdict. */
static int check_layer(struct rfs_sign_check *chk, const char *sdigest,
		       const char *d, json_int_t size, const char *sig,
		       struct rfs_error *e)
{
	char claimed[RFS_DIGEST_STR_MAX + 1], got[RFS_DIGEST_STR_MAX + 1];
	char *payload = NULL;
	size_t len = 0, k;
	int r;

	if (size < 0 || !rfs_digest_valid(d))
		return rfs_error_set(e, -EBADMSG,
				     "a layer without a valid digest and size");
	if ((uint64_t)size > RFS_SIGN_PAYLOAD_MAX)
		return rfs_error_set(
		    e, -EBADMSG,
		    "signature payload of %lld bytes is larger than %d: "
		    "refused unread",
		    (long long)size, RFS_SIGN_PAYLOAD_MAX);
	r = chk->read(chk->ctx, d, (uint64_t)size, &payload, &len, e);
	if (r == -ENOENT)
		return rfs_error_set(
		    e, -EBADMSG, "its payload %s is missing: %s", d, e->msg);
	if (r)
		return r;
	if (len != (size_t)size || rfs_digest_buf(payload, len, got) ||
	    strcmp(got, d) != 0) {
		r = rfs_error_set(e, -EBADMSG,
				  "signature payload %s does not match its "
				  "digest and size",
				  d);
		goto out;
	}
	r = -EBADMSG;
	for (k = 0; k < chk->nkeys && r; k++) {
		r = rfs_sign_verify_buf(chk->keys[k], payload, len, sig, e);
		if (!r)
			chk->signer = chk->keys[k];
	}
	if (!r)
		r = rfs_sign_payload_parse(payload, len, claimed, NULL, 0, e);
	if (!r && strcmp(claimed, chk->want) != 0) {
		r = rfs_error_set(e, -EBADMSG,
				  "signature %s by key %.16s covers %s, not "
				  "%s",
				  sdigest, chk->signer->fingerprint, claimed,
				  chk->want);
		chk->other_digest = true;
		chk->why = *e;
	}
	if (r)
		chk->signer = NULL;
out:
	free(payload);
	return r;
}

int rfs_sign_check_manifest(struct rfs_sign_check *chk, const char *sdigest,
			    const char *body, size_t len)
{
	json_t *root = NULL, *layers, *l;
	unsigned seen = 0;
	size_t i;
	int ret = -EBADMSG;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	layers = json_object_get(root, "layers");
	json_array_foreach(layers, i, l)
	{
		const char *mt = NULL, *d = NULL, *sig = NULL;
		struct rfs_error e = { 0 };
		json_int_t size = -1;
		int r;

		if (json_unpack(l, "{s:s}", "mediaType", &mt) != 0 ||
		    strcmp(mt, RFS_MT_COSIGN_PAYLOAD) != 0)
			continue;
		seen++;
		if (chk->checked >= RFS_SIGN_CHECK_MAX) {
			rfs_sign_check_refuse(chk,
					      "more than %d signatures: the "
					      "rest were not judged",
					      RFS_SIGN_CHECK_MAX);
			break;
		}
		chk->checked++;
		if (json_unpack(l, "{s:s, s:I}", "digest", &d, "size", &size) !=
		    0) {
			r = rfs_error_set(&e, -EBADMSG,
					  "a layer without digest and size");
		} else if (json_unpack(l, "{s:{s:s}}", "annotations",
				       RFS_COSIGN_SIG_ANNOTATION, &sig) != 0) {
			r = rfs_error_set(&e, -EBADMSG, "a layer without %s",
					  RFS_COSIGN_SIG_ANNOTATION);
		} else {
			r = check_layer(chk, sdigest, d, size, sig, &e);
		}
		if (!r) {
			ret = 0;
			break;
		}
		if (r != -EBADMSG) {
			rfs_sign_check_fail(chk, r, &e);
			ret = ret == -EBADMSG ? r : ret;
			continue;
		}
		if (!chk->other_digest)
			rfs_error_set(&chk->why, r, "signature %s: %s", sdigest,
				      e.msg);
	}
	json_decref(root);
	if (ret && !seen)
		ret = -ENOENT;
	return ret;
}

int rfs_sign_check_verdict(const struct rfs_sign_check *chk, const char *what,
			   struct rfs_error *err)
{
	const char *fpr = chk->nkeys == 1 ? chk->keys[0]->fingerprint : NULL;

	if (chk->failed)
		return rfs_error_set(err, chk->failed, "cannot verify %s: %s",
				     what, chk->failure.msg);
	if (chk->checked == 0)
		return rfs_error_set(err, -ENOENT, "%s has no cosign signature",
				     what);
	if (fpr)
		return rfs_error_set(err, -EBADMSG,
				     "no valid signature by key %.16s on %s "
				     "(%u checked); last: %s",
				     fpr, what, chk->checked,
				     chk->why.msg[0] ? chk->why.msg : "none");
	return rfs_error_set(err, -EBADMSG,
			     "no valid signature by any of %zu keys on %s "
			     "(%u checked); last: %s",
			     chk->nkeys, what, chk->checked,
			     chk->why.msg[0] ? chk->why.msg : "none");
}

/* 0 when a layer of the local signature manifest sdigest passes. */
static int verify_manifest(struct rfs_sign_check *chk, struct rfs_registry *reg,
			   const char *repo, const char *sdigest)
{
	struct rfs_registry_manifest m = { 0 };
	struct rfs_oci_status st = { 0 };
	int ret;

	if (rfs_registry_manifest_get(reg, repo, sdigest, &m, &st))
		return -ENOENT;
	ret = rfs_sign_check_manifest(chk, sdigest, m.body, m.len);
	rfs_registry_manifest_release(&m);
	return ret;
}

static int add_candidate(char (*cands)[RFS_DIGEST_STR_MAX + 1], size_t *n,
			 const char *d)
{
	if (!d || !rfs_digest_valid(d) || *n >= SIGN_CANDIDATES_MAX)
		return 0;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(cands[i], d) == 0)
			return 0;
	snprintf(cands[(*n)++], RFS_DIGEST_STR_MAX + 1, "%s", d);
	return 1;
}

int rfs_sign_local_list(struct rfs_registry *reg, const char *repo,
			const char *digest,
			char (**out)[RFS_DIGEST_STR_MAX + 1], size_t *n,
			struct rfs_error *err)
{
	struct rfs_registry_manifest st_m = { 0 };
	struct rfs_oci_status st = { 0 };
	char(*cands)[RFS_DIGEST_STR_MAX + 1] = NULL;
	char sig_tag[RFS_TAG_MAX + 1];
	char *index = NULL;
	size_t ilen = 0, i;
	json_t *root = NULL, *mf, *e;

	*out = NULL;
	*n = 0;
	cands = calloc(SIGN_CANDIDATES_MAX, sizeof(*cands));
	if (!cands)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	/* The .sig tag first (the newest, and cosign's own), then every
	 * referrer. */
	snprintf(sig_tag, sizeof(sig_tag), "sha256-%s.sig",
		 rfs_digest_hex(digest));
	if (!rfs_registry_manifest_get(reg, repo, sig_tag, &st_m, &st))
		add_candidate(cands, n, st_m.digest);
	if (!rfs_registry_referrers(reg, repo, digest, NULL, &index, &ilen,
				    &st)) {
		root = json_loadb(index, ilen, 0, NULL);
		mf = json_object_get(root, "manifests");
		json_array_foreach(mf, i, e) add_candidate(
		    cands, n, json_string_value(json_object_get(e, "digest")));
	}
	json_decref(root);
	free(index);
	rfs_registry_manifest_release(&st_m);
	*out = cands;
	return 0;
}

int rfs_verify_tag(struct rfs_registry *reg, struct rfs_store *store,
		   const char *repo, const char *tag,
		   const struct rfs_sign_key *key, struct rfs_sign_result *out,
		   struct rfs_error *err)
{
	struct rfs_registry_manifest m = { 0 };
	char(*cands)[RFS_DIGEST_STR_MAX + 1] = NULL;
	struct local_read lr = { .reg = reg, .repo = repo };
	struct rfs_sign_check chk = { .keys = &key, .nkeys = 1 };
	char what[RFS_REPO_MAX + RFS_TAG_MAX + RFS_DIGEST_STR_MAX + 8];
	size_t n = 0, i;
	int ret;

	memset(out, 0, sizeof(*out));
	rfs_sign_key_fingerprint(key, out->fingerprint);
	ret = tag_manifest(reg, store, repo, tag, &m, err);
	if (ret)
		return ret;
	snprintf(out->digest, sizeof(out->digest), "%s", m.digest);
	snprintf(out->sig_tag, sizeof(out->sig_tag), "sha256-%s.sig",
		 rfs_digest_hex(m.digest));
	ret = rfs_sign_local_list(reg, repo, m.digest, &cands, &n, err);
	if (ret)
		goto out;
	if (n == 0) {
		ret =
		    rfs_error_set(err, -ENOENT, "'%s:%s' (%s) has no signature",
				  repo, tag, m.digest);
		goto out;
	}
	chk.want = m.digest;
	chk.read = read_local;
	chk.ctx = &lr;
	for (i = 0; i < n; i++) {
		if (verify_manifest(&chk, reg, repo, cands[i]) == 0) {
			snprintf(out->signature, sizeof(out->signature), "%s",
				 cands[i]);
			ret = 0;
			goto out;
		}
	}
	snprintf(what, sizeof(what), "'%s:%s' (%s)", repo, tag, m.digest);
	ret = rfs_sign_check_verdict(&chk, what, err);
out:
	free(cands);
	rfs_registry_manifest_release(&m);
	return ret;
}
