/*
 * sign.h - cosign-compatible signatures of local tags: the "simple
 * signing" payload cosign's key-based signing uses, signed with an ECDSA
 * P-256 (SHA-256, DER signature) or Ed25519 key through OpenSSL EVP, and
 * stored in the store as cosign stores it in a registry.
 *
 * The payload is the bytes Go's encoding/json gives for cosign's
 * SimpleContainerImage with no optional claims: no spaces, fields in
 * declaration order,
 *   {"critical":{"identity":{"docker-reference":"REPO"},"image":
 *   {"docker-manifest-digest":"sha256:HEX"},"type":"cosign container
 *   image signature"},"optional":null}
 * (one line). The docker-reference is the repository, as cosign 2 writes
 * it (the repository without tag or digest; for a remote one, with its
 * registry host: "HOST[:PORT]/REPO").
 *
 * A signature of REPO:TAG is an OCI manifest in REPO: the empty config,
 * one layer (application/vnd.dev.cosign.simplesigning.v1+json, the
 * payload) annotated dev.cosignproject.cosign/signature = the base64
 * signature, and the signed manifest as its subject, so the referrers API
 * lists it. Each signature is its own manifest, stored by digest; the
 * cosign fallback tag sha256-HEX.sig names the newest. (cosign appends
 * layers to one manifest instead; verify here reads both shapes.)
 *
 * Keys: PEM, private (PKCS#8 or traditional) for signing, public
 * (SubjectPublicKeyInfo) for verifying. RSA and other curves are refused.
 * Functions return 0 or a negative errno with a message in err; a
 * signature that does not verify is -EBADMSG, never 0.
 */
#ifndef RFS_SIGN_H
#define RFS_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "names.h"
#include "registry.h"
#include "store.h"

#define RFS_MT_COSIGN_PAYLOAD	  "application/vnd.dev.cosign.simplesigning.v1+json"
#define RFS_COSIGN_SIG_ANNOTATION "dev.cosignproject.cosign/signature"
#define RFS_COSIGN_TYPE		  "cosign container image signature"
#define RFS_SIGN_PAYLOAD_MAX	  (64 << 10) /* bytes of a payload read back */
#define RFS_SIGN_SIG_MAX	  4096 /* base64 characters of a signature */
#define RFS_SIGN_FPR_LEN	  64   /* hex SHA-256 of the public key DER */

/* The payload for (docker_ref, digest), malloc()ed, not NUL-terminated
 * in meaning (a NUL follows for convenience). */
int rfs_sign_payload(const char *docker_ref, const char *digest, char **out,
		     size_t *len, struct rfs_error *err);
/* The docker-manifest-digest a payload claims (and its docker-reference,
 * may be NULL); -EBADMSG when it is not a cosign simple-signing payload. */
int rfs_sign_payload_parse(const char *payload, size_t len,
			   char digest[RFS_DIGEST_STR_MAX + 1], char *ref,
			   size_t ref_size, struct rfs_error *err);

struct rfs_sign_key;
/* Load a PEM key from memory or a file; private says which kind. */
int rfs_sign_key_load(const char *pem, size_t len, bool private,
		      struct rfs_sign_key **out, struct rfs_error *err);
int rfs_sign_key_load_file(const char *path, bool private,
			   struct rfs_sign_key **out, struct rfs_error *err);
void rfs_sign_key_free(struct rfs_sign_key **key);
/* "ecdsa-p256" or "ed25519". */
const char *rfs_sign_key_type(const struct rfs_sign_key *key);
/* Hex SHA-256 of the public key's DER (SubjectPublicKeyInfo), as
 * `openssl pkey -pubout -outform DER | sha256sum` prints it. */
void rfs_sign_key_fingerprint(const struct rfs_sign_key *key,
			      char out[RFS_SIGN_FPR_LEN + 1]);

/* Sign len bytes: the base64 signature (malloc()ed, NUL-terminated). */
int rfs_sign_buf(const struct rfs_sign_key *key, const void *buf, size_t len,
		 char **sig_b64, struct rfs_error *err);
/* 0 when sig_b64 is key's signature of buf, else -EBADMSG and why. */
int rfs_sign_verify_buf(const struct rfs_sign_key *key, const void *buf,
			size_t len, const char *sig_b64, struct rfs_error *err);

struct rfs_sign_result {
	char digest[RFS_DIGEST_STR_MAX + 1];	/* the tag's manifest */
	char signature[RFS_DIGEST_STR_MAX + 1]; /* the signature's manifest */
	char fingerprint[RFS_SIGN_FPR_LEN + 1];
	char sig_tag[RFS_TAG_MAX + 1]; /* sha256-HEX.sig */
};

/* Sign local tag repo:tag with a private key and store the signature
 * through reg, which must let sha256-*.sig tags move (rfs_sign_registry
 * makes such a registry). */
int rfs_sign_tag(struct rfs_registry *reg, struct rfs_store *store,
		 const char *repo, const char *tag,
		 const struct rfs_sign_key *key, struct rfs_sign_result *out,
		 struct rfs_error *err);
/* 0 when a signature by key (public) stored for repo:tag verifies and
 * covers its manifest digest; -EBADMSG (why in err) when none does,
 * -ENOENT when the tag has no signature at all. out is filled as far as
 * known. */
int rfs_verify_tag(struct rfs_registry *reg, struct rfs_store *store,
		   const char *repo, const char *tag,
		   const struct rfs_sign_key *key, struct rfs_sign_result *out,
		   struct rfs_error *err);
/* Judging signature manifests, shared by local (rfs_verify_tag) and
 * remote (sign-remote.h) verification: whoever finds the candidate
 * manifests hands each body to rfs_sign_check_manifest, which reads each
 * cosign layer's payload through read (bounded: a declared size over
 * RFS_SIGN_PAYLOAD_MAX is refused before read is called), hashes it
 * against the layer's digest and size, verifies the annotation's signature
 * with each key and requires the payload to name want. */

/* Read payload blob digest, declared size bytes, into *out (malloc()ed,
 * one NUL after it; *len the bytes read, which the judge compares with
 * size). A return of -ENOENT or -EBADMSG is a verdict on that signature
 * (its payload is missing or bad); any other -errno is a failure to read
 * that gives no verdict. */
typedef int (*rfs_sign_read_fn)(void *ctx, const char *digest, uint64_t size,
				char **out, size_t *len, struct rfs_error *err);

#define RFS_SIGN_CHECK_MAX 64 /* signature layers judged in one verify */

struct rfs_sign_check {
	/* Set by the caller. */
	const char *want; /* the signed manifest's digest */
	const struct rfs_sign_key *const *keys;
	size_t nkeys;
	rfs_sign_read_fn read;
	void *ctx;
	/* Kept by the judge. */
	unsigned checked;		   /* signature layers looked at */
	bool other_digest;		   /* a valid one covers another */
	const struct rfs_sign_key *signer; /* the key that verified */
	struct rfs_error why;		   /* the most telling refusal */
	int failed;			   /* first read failure, no verdict */
	struct rfs_error failure;
};

/* 0 when a layer of the signature manifest body (sdigest names it in
 * messages) is a valid signature of chk->want by one of chk->keys
 * (chk->signer says which); -EBADMSG when none is (why in chk->why);
 * -ENOENT when the manifest has no cosign layer; the read's errno when it
 * failed without a verdict (kept in chk->failed). */
int rfs_sign_check_manifest(struct rfs_sign_check *chk, const char *sdigest,
			    const char *body, size_t len);
/* Count a signature refused before its layers could be judged (too large,
 * not JSON): it exists and does not verify. */
void rfs_sign_check_refuse(struct rfs_sign_check *chk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Record a failure to read that gives no verdict. */
void rfs_sign_check_fail(struct rfs_sign_check *chk, int code,
			 const struct rfs_error *e);
/* The verdict once every candidate was judged and none passed: a read
 * failure's errno when there was one (never a verdict), -ENOENT when no
 * signature layer was found, else -EBADMSG. what names the subject
 * ("'app:v1' (sha256:...)"). */
int rfs_sign_check_verdict(const struct rfs_sign_check *chk, const char *what,
			   struct rfs_error *err);

/* The signature manifests stored in repo for manifest digest: the
 * sha256-HEX.sig tag's first, then every referrer (*out, free() it; *n of
 * them, at most 256). */
int rfs_sign_local_list(struct rfs_registry *reg, const char *repo,
			const char *digest,
			char (**out)[RFS_DIGEST_STR_MAX + 1], size_t *n,
			struct rfs_error *err);
/* A blob of repo known to be size bytes (the caller bounds it), read
 * whole into *out (malloc()ed, NUL after it). */
int rfs_sign_local_read(struct rfs_registry *reg, const char *repo,
			const char *digest, uint64_t size, char **out,
			size_t *len, struct rfs_error *err);

/* A registry over store whose sha256-*.sig tags may move. */
int rfs_sign_registry(struct rfs_store *store, struct rfs_registry **out,
		      struct rfs_error *err);

#endif
