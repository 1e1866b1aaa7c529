/*
 * sign-remote.c - verifying cosign signatures held by a remote registry
 * (sign-remote.h): finding the candidate signature manifests (referrers,
 * then the sha256-HEX.sig tag), reading each bounded, and handing them to
 * sign.c's judge.
 *
 * Signing one there (rfs_sign_remote) and carrying the store's signatures
 * along with a push (rfs_push_signatures) put each signature manifest by
 * its digest (a referrer of the signed manifest) and merge its layers into
 * the sha256-HEX.sig tag, as cosign appends to it: a registry without the
 * referrers API then still shows every signature through the tag.
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
#include "push.h"
#include "registry.h"

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

/* Signatures ---------------------------------------------------------- */

#define SIG_CHUNK (1u << 20)

/* A small blob (a payload, a config) into repo unless it is there. */
static int put_small_blob(struct rfs_upstream *up, const char *repo,
			  const void *buf, size_t len, const char *digest,
			  struct rfs_error *err)
{
	struct rfs_mem_source m = { .buf = buf, .len = len };
	uint64_t size = 0;
	int r;

	r = rfs_upstream_blob_exists(up, repo, digest, &size, err);
	if (r == 0 && size == len)
		return 0;
	if (r && r != -ENOENT)
		return r;
	return rfs_upstream_blob_upload(up, repo, digest, len,
					rfs_mem_source_read, SIG_CHUNK, NULL,
					&m, err);
}

/* The manifest holding layers (an array), subject the signed one, in
 * *body (free() it). */
static int signature_manifest(json_t *layers, const char *subject_type,
			      const char *subject, json_int_t subject_size,
			      char **body, struct rfs_error *err)
{
	json_t *man;

	man = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:O, s:{s:s, s:s, "
			"s:I}}",
			"schemaVersion", 2, "mediaType", RFS_MT_OCI_MANIFEST,
			"artifactType", RFS_COSIGN_ARTIFACT_TYPE, "config",
			"mediaType", RFS_MT_EMPTY, "digest",
			RFS_EMPTY_CONFIG_DIGEST, "size", 2, "layers", layers,
			"subject", "mediaType", subject_type, "digest", subject,
			"size", subject_size);
	*body = man ? json_dumps(man, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(man);
	return *body ? 0 : rfs_error_set(err, -ENOMEM, "out of memory");
}

static bool same_layer(json_t *a, json_t *b)
{
	json_t *sa = json_object_get(json_object_get(a, "annotations"),
				     RFS_COSIGN_SIG_ANNOTATION);
	json_t *sb = json_object_get(json_object_get(b, "annotations"),
				     RFS_COSIGN_SIG_ANNOTATION);

	return json_equal(json_object_get(a, "digest"),
			  json_object_get(b, "digest")) &&
	       json_equal(sa, sb);
}

/* Append layer to layers unless it is there: 1 when appended. */
static int add_layer(json_t *layers, json_t *layer)
{
	size_t i;
	json_t *l;

	json_array_foreach(layers, i, l) if (same_layer(l, layer)) return 0;
	return json_array_append(layers, layer) == 0 ? 1 : -ENOMEM;
}

/* The signature layers repo's sha256-HEX.sig tag of subject holds now
 * (*held, a new array: empty when there is no such tag, *exists false). A
 * tag holding anything but cosign signature layers is not ours to
 * replace: -EEXIST, asked before anything is pushed. */
static int sig_tag_read(struct rfs_upstream *up, const char *repo,
			const char *subject, json_t **held, bool *exists,
			struct rfs_error *err)
{
	struct rfs_manifest_blob old = { 0 };
	char tag[RFS_TAG_MAX + 1];
	json_t *root = NULL, *layers, *ol, *l;
	size_t i;
	int r;

	*held = NULL;
	*exists = false;
	snprintf(tag, sizeof(tag), "sha256-%s.sig", rfs_digest_hex(subject));
	layers = json_array();
	if (!layers)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	r = rfs_upstream_get_manifest(up, repo, tag, &old, err);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r)
		goto out;
	*exists = true;
	root = json_loadb(old.body, old.len, JSON_REJECT_DUPLICATES, NULL);
	ol = json_object_get(root, "layers");
	if (!json_is_array(ol)) {
		r = rfs_error_set(err, -EEXIST,
				  "'%s:%s' is not a signature manifest: not "
				  "replaced",
				  repo, tag);
		goto out;
	}
	json_array_foreach(ol, i, l)
	{
		json_t *mt = json_object_get(l, "mediaType");

		if (!json_is_string(mt) ||
		    strcmp(json_string_value(mt), RFS_MT_COSIGN_PAYLOAD) != 0) {
			r = rfs_error_set(err, -EEXIST,
					  "'%s:%s' holds a layer that is not a "
					  "cosign signature: not replaced",
					  repo, tag);
			goto out;
		}
		if (add_layer(layers, l) < 0) {
			r = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	json_decref(root);
	rfs_manifest_blob_release(&old);
	if (r)
		json_decref(layers);
	else
		*held = layers;
	return r;
}

/* Make the .sig tag of subject hold the layers it held (held, as
 * sig_tag_read gave them; exists: there was a tag) and those of add,
 * newest last, at most RFS_SIGN_CHECK_MAX: the oldest beyond stay
 * referrers by their own digest. */
static int sig_tag_write(struct rfs_upstream *up, const char *repo,
			 const char *subject_type, const char *subject,
			 json_int_t subject_size, json_t *held, bool exists,
			 json_t *add, struct rfs_error *err)
{
	char tag[RFS_TAG_MAX + 1];
	char *body = NULL;
	size_t i, added = 0;
	json_t *l;
	int r;

	snprintf(tag, sizeof(tag), "sha256-%s.sig", rfs_digest_hex(subject));
	json_array_foreach(add, i, l)
	{
		r = add_layer(held, l);
		if (r < 0)
			return rfs_error_set(err, -ENOMEM, "out of memory");
		added += (size_t)r;
	}
	if (!added && exists)
		return 0; /* it holds them all already */
	while (json_array_size(held) > RFS_SIGN_CHECK_MAX)
		json_array_remove(held, 0);
	r = signature_manifest(held, subject_type, subject, subject_size, &body,
			       err);
	if (!r)
		r = put_small_blob(up, repo, "{}", 2, RFS_EMPTY_CONFIG_DIGEST,
				   err);
	if (!r)
		r = rfs_upstream_put_manifest(up, repo, tag,
					      RFS_MT_OCI_MANIFEST, body,
					      strlen(body), err);
	free(body);
	return r;
}

int rfs_sign_remote(struct rfs_upstream *up, const char *host, const char *repo,
		    const char *reference, const struct rfs_sign_key *key,
		    struct rfs_sign_result *out, struct rfs_error *err)
{
	struct rfs_manifest_blob m = { 0 };
	char pdigest[RFS_DIGEST_STR_MAX + 1];
	char docker_ref[RFS_HOST_MAX + RFS_REPO_MAX + 2];
	char *payload = NULL, *sig = NULL, *body = NULL;
	json_t *layer = NULL, *layers = NULL, *held = NULL;
	bool exists = false;
	size_t plen = 0;
	int r;

	memset(out, 0, sizeof(*out));
	rfs_sign_key_fingerprint(key, out->fingerprint);
	r = rfs_upstream_get_manifest(up, repo, reference, &m, err);
	if (r)
		return r;
	r = sig_tag_read(up, repo, m.digest, &held, &exists, err);
	if (r)
		goto out;
	snprintf(out->digest, sizeof(out->digest), "%s", m.digest);
	snprintf(out->sig_tag, sizeof(out->sig_tag), "sha256-%s.sig",
		 rfs_digest_hex(m.digest));
	if (!m.media_type[0]) {
		r = rfs_error_set(err, -EPROTO,
				  "'%s:%s' has no media type to sign", repo,
				  reference);
		goto out;
	}
	/* cosign names the repository with its registry. */
	snprintf(docker_ref, sizeof(docker_ref), "%s/%s", host, repo);
	r = rfs_sign_payload(docker_ref, m.digest, &payload, &plen, err);
	if (!r)
		r = rfs_sign_buf(key, payload, plen, &sig, err);
	if (!r && rfs_digest_buf(payload, plen, pdigest))
		r = rfs_error_set(err, -EIO, "cannot hash");
	if (r)
		goto out;
	layer = json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType",
			  RFS_MT_COSIGN_PAYLOAD, "digest", pdigest, "size",
			  (json_int_t)plen, "annotations",
			  RFS_COSIGN_SIG_ANNOTATION, sig);
	layers = layer ? json_pack("[O]", layer) : NULL;
	if (!layers) {
		r = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = put_small_blob(up, repo, payload, plen, pdigest, err);
	if (!r)
		r = put_small_blob(up, repo, "{}", 2, RFS_EMPTY_CONFIG_DIGEST,
				   err);
	if (!r)
		r = signature_manifest(layers, m.media_type, m.digest,
				       (json_int_t)m.len, &body, err);
	if (!r && rfs_digest_buf(body, strlen(body), out->signature))
		r = rfs_error_set(err, -EIO, "cannot hash");
	if (r)
		goto out;
	/* By its digest first, the referrer; then into the .sig tag. */
	r = rfs_upstream_put_manifest(up, repo, out->signature,
				      RFS_MT_OCI_MANIFEST, body, strlen(body),
				      err);
	if (!r)
		r = sig_tag_write(up, repo, m.media_type, m.digest,
				  (json_int_t)m.len, held, exists, layers, err);
out:
	json_decref(held);
	json_decref(layer);
	json_decref(layers);
	free(body);
	free(sig);
	free(payload);
	rfs_manifest_blob_release(&m);
	return r;
}

/* Copy one blob a local signature manifest names (bounded: signatures
 * are small) to up's repo. */
static int copy_small_blob(struct rfs_registry *reg, const char *local_repo,
			   struct rfs_upstream *up, const char *repo,
			   json_t *desc, struct rfs_error *err)
{
	char got[RFS_DIGEST_STR_MAX + 1];
	const char *d = NULL;
	json_int_t size = -1;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (json_unpack(desc, "{s:s, s:I}", "digest", &d, "size", &size) ||
	    !rfs_digest_valid(d) || size < 0 || size > RFS_SIGN_PAYLOAD_MAX)
		return rfs_error_set(err, -EBADMSG,
				     "a signature names a blob without a "
				     "valid digest, or over %d bytes",
				     RFS_SIGN_PAYLOAD_MAX);
	r = rfs_sign_local_read(reg, local_repo, d, (uint64_t)size, &buf, &len,
				err);
	if (!r && (rfs_digest_buf(buf, len, got) || strcmp(got, d) != 0))
		r = rfs_error_set(err, -EBADMSG,
				  "the store's blob %s of a signature does not "
				  "match its digest: not pushed",
				  d);
	if (!r)
		r = put_small_blob(up, repo, buf, len, d, err);
	free(buf);
	return r;
}

/* Are layers all cosign signature layers, and some? */
static bool only_signatures(json_t *layers)
{
	size_t i;
	json_t *l;

	json_array_foreach(layers, i, l)
	{
		json_t *mt = json_object_get(l, "mediaType");

		if (!json_is_string(mt) ||
		    strcmp(json_string_value(mt), RFS_MT_COSIGN_PAYLOAD) != 0)
			return false;
	}
	return json_array_size(layers) > 0;
}

int rfs_push_signatures(struct rfs_store *store, const char *local_repo,
			const char *digest, struct rfs_upstream *up,
			const char *repo, unsigned *pushed,
			struct rfs_error *err)
{
	char(*cands)[RFS_DIGEST_STR_MAX + 1] = NULL;
	struct rfs_registry *reg = NULL;
	json_t *add = NULL, *root = NULL, *subject = NULL, *held = NULL;
	bool exists = false;
	size_t n = 0, i;
	int r;

	*pushed = 0;
	r = rfs_sign_registry(store, &reg, err);
	if (!r)
		r = rfs_sign_local_list(reg, local_repo, digest, &cands, &n,
					err);
	if (!r && n)
		r = sig_tag_read(up, repo, digest, &held, &exists, err);
	add = json_array();
	if (!r && !add)
		r = rfs_error_set(err, -ENOMEM, "out of memory");
	for (i = 0; !r && i < n; i++) {
		struct rfs_registry_manifest m = { 0 };
		struct rfs_oci_status st = { 0 };
		json_t *layers, *l, *sd;
		size_t k;

		if (rfs_registry_manifest_get(reg, local_repo, cands[i], &m,
					      &st))
			continue; /* gone since it was listed */
		json_decref(root);
		root = json_loadb(m.body, m.len, JSON_REJECT_DUPLICATES, NULL);
		layers = json_object_get(root, "layers");
		sd =
		    json_object_get(json_object_get(root, "subject"), "digest");
		/* Only signatures of this manifest; a referrer of another
		 * kind (an SBOM, say) is not carried, nor bounded as small. */
		if (!json_is_array(layers) || !json_is_string(sd) ||
		    strcmp(json_string_value(sd), digest) != 0 ||
		    !only_signatures(layers)) {
			rfs_registry_manifest_release(&m);
			continue;
		}
		r = copy_small_blob(reg, local_repo, up, repo,
				    json_object_get(root, "config"), err);
		json_array_foreach(layers, k, l)
		{
			if (r)
				break;
			r = copy_small_blob(reg, local_repo, up, repo, l, err);
			if (!r && add_layer(add, l) < 0)
				r = rfs_error_set(err, -ENOMEM,
						  "out of memory");
		}
		if (!r)
			r = rfs_upstream_put_manifest(up, repo, m.digest,
						      m.media_type, m.body,
						      m.len, err);
		if (!r) {
			(*pushed)++;
			json_decref(subject);
			subject = json_incref(json_object_get(root, "subject"));
		}
		rfs_registry_manifest_release(&m);
	}
	if (!r && json_array_size(add)) {
		const char *st = NULL;
		json_int_t ss = 0;

		if (json_unpack(subject, "{s:s, s:I}", "mediaType", &st, "size",
				&ss) != 0)
			r = rfs_error_set(err, -EBADMSG,
					  "a signature's subject has no media "
					  "type and size");
		else
			r = sig_tag_write(up, repo, st, digest, ss, held,
					  exists, add, err);
	}
	json_decref(held);
	json_decref(subject);
	json_decref(root);
	json_decref(add);
	free(cands);
	rfs_registry_free(&reg);
	return r;
}
