/*
 * sign-remote.c - verifying cosign signatures held by a remote registry
 * (sign-remote.h): finding the candidate signature manifests (referrers,
 * then the sha256-HEX.sig tag), reading each bounded, and handing them to
 * sign.c's judge.
 *
 * A failure to reach the registry is kept apart from a verdict all the way
 * through: only a signature that was read and judged makes -EBADMSG, and a
 * read that failed makes the whole answer that failure, since the
 * signature that would have passed may be the one that could not be read.
 */
#include "sign-remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "digest.h"
#include "manifest.h"

#define REMOTE_CANDIDATES_MAX 64

struct remote_read {
	struct rfs_upstream *up;
	const char *repo;
};

/* Collects a payload, refusing a byte past the size it declared. */
struct payload_sink {
	char *buf;
	size_t len, size;
};

static int payload_sink(void *ctx, const void *buf, size_t len)
{
	struct payload_sink *ps = ctx;

	if (len > ps->size - ps->len)
		return -EBADMSG;
	memcpy(ps->buf + ps->len, buf, len);
	ps->len += len;
	return 0;
}

/* rfs_sign_read_fn over the upstream: the judge has bounded size. */
static int read_remote(void *ctx, const char *digest, uint64_t size, char **out,
		       size_t *len, struct rfs_error *err)
{
	struct remote_read *rr = ctx;
	struct payload_sink ps = { .size = (size_t)size };
	struct rfs_error e = { 0 };
	int r;

	ps.buf = malloc(ps.size + 1);
	if (!ps.buf)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	r = rfs_upstream_get_blob(rr->up, rr->repo, digest, 0, payload_sink,
				  &ps, &e);
	if (r == -EBADMSG)
		r = rfs_error_set(err, -EBADMSG,
				  "signature payload %s is longer than the "
				  "%zu bytes its layer declares",
				  digest, ps.size);
	else if (r)
		rfs_error_set(err, r, "%s", rfs_error_message(&e, r));
	if (r) {
		free(ps.buf);
		return r;
	}
	ps.buf[ps.len] = '\0';
	*out = ps.buf;
	*len = ps.len;
	return 0;
}

struct candidates {
	char d[REMOTE_CANDIDATES_MAX][RFS_DIGEST_STR_MAX + 1];
	size_t n;
};

static bool seen(const struct candidates *c, const char *d)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->d[i], d) == 0)
			return true;
	return false;
}

/* Judge one signature manifest fetched by reference (a digest or the .sig
 * tag): 0 when it passes. */
static int judge(struct rfs_sign_check *chk, struct rfs_upstream *up,
		 const char *repo, const char *ref, struct candidates *done,
		 char sig[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_manifest_blob m = { 0 };
	struct rfs_error e = { 0 };
	int r;

	r = rfs_upstream_get_manifest(up, repo, ref, &m, &e);
	if (r == -ENOENT)
		return r; /* listed but gone, or no .sig tag */
	if (r == -EFBIG || r == -EBADMSG) {
		rfs_sign_check_refuse(chk, "signature %s: %s", ref,
				      rfs_error_message(&e, r));
		return -EBADMSG;
	}
	if (r) {
		rfs_sign_check_fail(chk, r, &e);
		return r;
	}
	if (seen(done, m.digest)) {
		rfs_manifest_blob_release(&m);
		return -EEXIST;
	}
	if (done->n < REMOTE_CANDIDATES_MAX)
		snprintf(done->d[done->n++], RFS_DIGEST_STR_MAX + 1, "%s",
			 m.digest);
	r = rfs_sign_check_manifest(chk, m.digest, m.body, m.len);
	if (!r)
		snprintf(sig, RFS_DIGEST_STR_MAX + 1, "%s", m.digest);
	rfs_manifest_blob_release(&m);
	return r;
}

/* The referrers that are cosign signatures, judged in turn: 0 when one
 * passes; -ENOENT when the registry has no referrers API or lists none. */
static int judge_referrers(struct rfs_sign_check *chk, struct rfs_upstream *up,
			   const char *repo, const char *digest,
			   struct candidates *done,
			   char sig[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_error e = { 0 };
	json_t *root = NULL, *mf, *ent;
	char *body = NULL;
	size_t len = 0, i, listed = 0;
	int r, ret = -ENOENT;

	r = rfs_upstream_referrers(up, repo, digest, RFS_COSIGN_ARTIFACT_TYPE,
				   &body, &len, &e);
	/* 404 is the spec's "no referrers API"; 400 and 405 are how some
	 * registries older than it say the same. */
	if (r == -ENOENT || r == -EINVAL || r == -EOPNOTSUPP)
		return -ENOENT;
	if (r) {
		rfs_sign_check_fail(chk, r, &e);
		return r;
	}
	root = json_loadb(body, len, 0, NULL);
	mf = json_object_get(root, "manifests");
	if (!json_is_array(mf)) {
		/* Not an index: as good as no referrers API at all. */
		goto out;
	}
	json_array_foreach(mf, i, ent)
	{
		const char *d = NULL, *at = NULL;
		json_int_t size = -1;

		if (json_unpack(ent, "{s:s, s:I, s?s}", "digest", &d, "size",
				&size, "artifactType", &at) != 0 ||
		    !rfs_digest_valid(d))
			continue;
		/* The filter may have been ignored (no OCI-Filters-Applied). */
		if (!at || strcmp(at, RFS_COSIGN_ARTIFACT_TYPE) != 0)
			continue;
		if (++listed > REMOTE_CANDIDATES_MAX)
			break;
		if (size < 0 || size > RFS_MANIFEST_MAX) {
			rfs_sign_check_refuse(chk,
					      "signature %s declares %lld "
					      "bytes, over the manifest limit "
					      "of %d: refused unread",
					      d, (long long)size,
					      RFS_MANIFEST_MAX);
			ret = -EBADMSG;
			continue;
		}
		r = judge(chk, up, repo, d, done, sig);
		if (r == 0) {
			ret = 0;
			break;
		}
		if (r != -ENOENT && r != -EEXIST)
			ret = -EBADMSG;
	}
out:
	json_decref(root);
	free(body);
	return ret;
}

int rfs_verify_remote(struct rfs_upstream *up, const char *repo,
		      const char *digest,
		      const struct rfs_sign_key *const *keys, size_t nkeys,
		      struct rfs_sign_result *out, struct rfs_error *err)
{
	struct remote_read rr = { .up = up, .repo = repo };
	struct rfs_sign_check chk = { .want = digest,
				      .keys = keys,
				      .nkeys = nkeys,
				      .read = read_remote,
				      .ctx = &rr };
	struct rfs_sign_result res = { 0 };
	struct candidates *done = NULL;
	char what[RFS_REPO_MAX + RFS_DIGEST_STR_MAX + 8];
	int r, ret;

	if (!rfs_digest_valid(digest))
		return rfs_error_set(err, -EINVAL, "invalid digest '%s'",
				     digest);
	if (nkeys == 0)
		return rfs_error_set(err, -EINVAL, "no key to verify with");
	snprintf(res.digest, sizeof(res.digest), "%s", digest);
	snprintf(res.sig_tag, sizeof(res.sig_tag), "sha256-%s.sig",
		 rfs_digest_hex(digest));
	if (nkeys == 1)
		rfs_sign_key_fingerprint(keys[0], res.fingerprint);
	done = calloc(1, sizeof(*done));
	if (!done) {
		ret = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* Referrers first (every signature, cosign's OCI 1.1 way and ours);
	 * the .sig tag when they give none that passes (a registry without
	 * the API, or a signature cosign made the classic way). */
	r = judge_referrers(&chk, up, repo, digest, done, res.signature);
	if (r != 0)
		r = judge(&chk, up, repo, res.sig_tag, done, res.signature);
	if (r == 0) {
		rfs_sign_key_fingerprint(chk.signer, res.fingerprint);
		ret = 0;
		goto out;
	}
	snprintf(what, sizeof(what), "'%s@%s'", repo, digest);
	ret = rfs_sign_check_verdict(&chk, what, err);
out:
	if (out)
		*out = res;
	free(done);
	return ret;
}
