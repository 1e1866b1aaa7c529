/*
 * sign-remote.h - cosign-compatible signatures held by a remote registry:
 * verifying them through the upstream client (upstream.h), and pushing
 * one made here.
 *
 * The signatures are what sign.h describes: OCI manifests whose cosign
 * simple-signing layer is annotated with the signature, found through the
 * referrers API (their subject is the signed manifest) or, where a
 * registry does not speak it (Distribution 2.8 answers 404), through the
 * cosign tag sha256-HEX.sig. Each is judged by the one judge sign.c keeps
 * (rfs_sign_check_manifest), so a remote signature passes exactly when the
 * same manifest and payload would pass in the store.
 *
 * Nothing is parsed before it is bounded: a signature manifest larger than
 * RFS_MANIFEST_MAX (by its descriptor or its Content-Length) and a payload
 * layer declaring more than RFS_SIGN_PAYLOAD_MAX are refused unread.
 */
#ifndef RFS_SIGN_REMOTE_H
#define RFS_SIGN_REMOTE_H

#include <stddef.h>

#include "error.h"
#include "remote.h"
#include "sign.h"
#include "store.h"
#include "upstream.h"

/* The artifactType of a cosign signature manifest in the referrers API. */
#define RFS_COSIGN_ARTIFACT_TYPE \
	"application/vnd.dev.cosign.artifact.sig.v1+json"

/* 0 when a signature in up's repository repo, found through the referrers
 * API (GET /v2/<repo>/referrers/<digest>, artifactType filter) or, when
 * that gives 404 or nothing, the cosign tag sha256-HEX.sig, is a valid
 * signature by one of keys[0..nkeys) of manifest digest; -EBADMSG (why in
 * err) when signatures exist but none verifies; -ENOENT when there is
 * none; another -errno for transport failures (a caller must never take
 * those as a verdict). out (may be NULL) names the signature and the key
 * that signed. Every read is bounded before it is parsed: a signature
 * manifest over the manifest limit, or a payload layer whose declared
 * size is over RFS_SIGN_PAYLOAD_MAX, is refused without downloading it. */
int rfs_verify_remote(struct rfs_upstream *up, const char *repo,
		      const char *digest,
		      const struct rfs_sign_key *const *keys, size_t nkeys,
		      struct rfs_sign_result *out, struct rfs_error *err);

/* Sign the manifest reference (a tag or a digest) of up's repository
 * repo with key (private), as cosign signs: the payload names
 * "HOST/REPO" (host as the registry is reached) and the manifest's
 * digest; the payload and empty config blobs, the signature manifest by
 * its digest (subject: the signed manifest) and the sha256-HEX.sig tag,
 * which keeps the signature layers it held (a tag holding anything else is
 * not replaced: -EEXIST). out names the manifest, the signature and the
 * key. */
int rfs_sign_remote(struct rfs_upstream *up, const char *host, const char *repo,
		    const char *reference, const struct rfs_sign_key *key,
		    struct rfs_sign_result *out, struct rfs_error *err);

/* Carry the signatures store holds for manifest digest of local_repo (the
 * .sig tag's and every referrer whose subject is digest) to up's repo,
 * after the manifest itself was pushed there: their blobs, each manifest
 * by its digest, then their layers merged into the .sig tag. *pushed
 * counts the signature manifests. */
int rfs_push_signatures(struct rfs_store *store, const char *local_repo,
			const char *digest, struct rfs_upstream *up,
			const char *repo, unsigned *pushed,
			struct rfs_error *err);

#endif
