/*
 * pull-resolve.c - the pull-through cache's tags (see pull.h and
 * pull-internal.h): a tag the catalog does not have is resolved on the
 * upstream that serves its repository and pinned; require_signature is
 * checked on the way, before anything of the tag is stored; refreshes; and
 * the upstream of -o upstream= that a store remembers for regctl.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "manifest.h"
#include "policy.h"
#include "pull-internal.h"
#include "sign-remote.h"

/* Store a manifest's bytes as a blob of the store. */
static int store_manifest(struct rfs_pull *pull,
			  const struct rfs_manifest_blob *mb, const char *what,
			  struct rfs_error *err)
{
	struct rfs_seal_options opts = { .expected_digest = mb->digest,
					 .manifest = true };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_seal *seal = NULL;
	ssize_t n;
	int rc;

	rc = rfs_seal_begin(pull->store, &seal, err);
	if (rc)
		return rc;
	n = rfs_seal_write(seal, mb->body, mb->len, 0, err);
	rc = n < 0 ? (int)n : rfs_seal_store(seal, what, &opts, digest, err);
	rfs_seal_free(&seal);
	return rc;
}

/* GET the manifest of remote:reference, following an index to this
 * platform's manifest; named is the digest reference names (the index's,
 * when it is one), which is what a signature of it covers. */
static int fetch_manifest(struct rfs_upstream *up, const char *remote,
			  const char *reference, struct rfs_manifest_blob *mb,
			  struct rfs_manifest *m,
			  char named[RFS_DIGEST_STR_MAX + 1],
			  struct rfs_error *err)
{
	const struct rfs_descriptor *d;
	char digest[RFS_DIGEST_STR_MAX + 1];
	int rc;

	rc = rfs_upstream_get_manifest(up, remote, reference, mb, err);
	if (!rc) {
		snprintf(named, RFS_DIGEST_STR_MAX + 1, "%s", mb->digest);
		rc = rfs_manifest_parse(mb->body, mb->len, mb->media_type, m,
					err);
	}
	if (rc || m->kind != RFS_MANIFEST_INDEX)
		return rc;
	d = rfs_manifest_pick_platform(m);
	if (!d)
		return rfs_error_set(err, -ENOENT,
				     "'%s:%s' has no manifest for %s", remote,
				     reference, rfs_manifest_platform());
	snprintf(digest, sizeof(digest), "%s", d->digest);
	rfs_manifest_release(m);
	rfs_manifest_blob_release(mb);
	rc = rfs_upstream_get_manifest(up, remote, digest, mb, err);
	if (!rc)
		rc = rfs_manifest_parse(mb->body, mb->len, mb->media_type, m,
					err);
	if (!rc && m->kind != RFS_MANIFEST_IMAGE)
		rc = rfs_error_set(err, -EINVAL,
				   "'%s@%s' is an index inside an index",
				   remote, digest);
	return rc;
}

/* require_signature for an upstream tag: a signature of the digest its
 * reference names (an index, usually) or of this platform's manifest,
 * found on the upstream. 0, or -EACCES with the verdict recorded; an error
 * of the upstream is no verdict and is returned as it is. */
static int check_signature(struct rfs_pull *pull, struct rfs_upstream *up,
			   const char *remote, const char *repo,
			   const char *tag, const struct rfs_manifest *m,
			   const char *named, const char *platform,
			   struct rfs_error *err)
{
	const struct rfs_policy *policy = rfs_store_policy(pull->store);
	const struct rfs_sign_key *const *keys;
	struct rfs_sign_result res = { 0 };
	struct rfs_error why = { 0 };
	size_t n = rfs_policy_keys(policy, repo, &keys);
	int rc;

	/* A signature is pinned unsigned for regctl serve to hand to the
	 * clients that check it (policy.h); a mount still refuses it. */
	if (n == 0 || rfs_policy_is_signature(tag, m) ||
	    rfs_policy_verified(policy, pull_catalog(pull), repo, tag,
				platform))
		return 0;
	rc = rfs_verify_remote(up, remote, named, keys, n, &res, &why);
	if ((rc == -ENOENT || rc == -EBADMSG) && strcmp(named, platform)) {
		struct rfs_error why2 = { 0 };
		int rc2 = rfs_verify_remote(up, remote, platform, keys, n, &res,
					    &why2);

		/* Keep the more telling refusal: a bad signature says more
		 * than a missing one. */
		if (rc2 == 0 || rc2 == -EBADMSG || rc == -ENOENT) {
			rc = rc2;
			why = why2;
		}
	}
	if (rc != 0 && rc != -ENOENT && rc != -EBADMSG)
		return rfs_error_set(err, rc,
				     "cannot check the signature of '%s:%s': "
				     "%s",
				     repo, tag, rfs_error_message(&why, rc));
	rfs_policy_record(pull->store, repo, tag, platform, rc, res.fingerprint,
			  &why);
	if (rc == 0)
		return 0;
	return rfs_error_set(err, -EACCES,
			     "'%s:%s' (%s) is refused: it needs a signature "
			     "by a key of require_signature: %s",
			     repo, tag, named, rfs_error_message(&why, rc));
}

static int resolve_upstream(struct rfs_pull *pull, struct rfs_upstream *up,
			    const char *repo, const char *tag, bool replace,
			    struct rfs_tag *out, bool *changed,
			    struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1], what[RFS_REPO_MAX + RFS_TAG_MAX + 64];
	char named[RFS_DIGEST_STR_MAX + 1];
	struct rfs_manifest_tag mt = { 0 };
	struct rfs_manifest_blob mb = { 0 };
	struct rfs_manifest m = { 0 };
	struct rfs_tag old;
	struct rfs_pin pin;
	bool had = false, pinning = false;
	int rc, lock = -1;

	rfs_upstream_remote_repo(up, repo, remote, sizeof(remote));
	snprintf(what, sizeof(what), "manifest of '%s:%s'", repo, tag);
	rc = fetch_manifest(up, remote, tag, &mb, &m, named, err);
	if (!rc)
		rc = check_signature(pull, up, remote, repo, tag, &m, named,
				     mb.digest, err);
	if (rc)
		goto out;
	if (replace &&
	    rfs_catalog_tag_get(pull_catalog(pull), repo, tag, &old) == 0)
		had = true;
	if (had && strcmp(old.manifest, mb.digest) == 0) {
		/* Same manifest: the pin stands, checked as of now. */
		rfs_catalog_tag_touch(pull_catalog(pull), old.id, rfs_now_ns());
		*out = old;
		goto out;
	}
	pinning = true; /* from here on, a new or moved pin or why not */
	lock = rfs_store_lock(pull->store, false);
	if (lock < 0) {
		rc = rfs_error_set(err, lock, "cannot lock the store");
		goto out;
	}
	rc = store_manifest(pull, &mb, what, err);
	if (rc)
		goto out;
	rc = rfs_manifest_tag(mb.body, mb.len, mb.digest, &m, &mt, err);
	if (rc)
		goto out;
	pin = (struct rfs_pin){
		.meta = &mt.meta,
		.repo = repo,
		.tag = tag,
		.origin = rfs_upstream_config(up)->name,
		.manifest = mb.digest,
		.manifest_size = mb.len,
		.kind = mt.kind,
		.digest = mt.digest,
		.size = mt.size,
		.layers = mt.layers,
		.n_layers = mt.n_layers,
	};
	rc = rfs_catalog_pin_tag(pull_catalog(pull), &pin, replace, out, err);
	if (rc == -EEXIST && !replace) {
		/* Pinned by another reader meanwhile: theirs stands. */
		rc = rfs_catalog_tag_get(pull_catalog(pull), repo, tag, out);
	}
	if (!rc && changed)
		*changed = had;
out:
	rfs_store_unlock(lock);
	if (pinning)
		rfs_audit(pull->store, RFS_AUDIT_PULL, rc, err, repo, tag,
			  mb.digest);
	rfs_manifest_tag_release(&mt);
	rfs_manifest_release(&m);
	rfs_manifest_blob_release(&mb);
	return rc;
}

int rfs_pull_resolve(struct rfs_pull *pull, const char *repo, const char *tag,
		     struct rfs_tag *out, struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1];
	struct rfs_upstream *up;
	int64_t ttl;
	int rc;

	rc = rfs_catalog_tag_get(pull_catalog(pull), repo, tag, out);
	if (rc == 0) {
		if (!out->origin[0])
			return 0;
		up = pull_by_name(pull, out->origin);
		ttl = up ? rfs_upstream_config(up)->tag_ttl_s : -1;
		if (ttl >= 0 &&
		    rfs_now_ns() - out->resolved_ns >= ttl * 1000000000) {
			struct rfs_tag moved;

			/* When the upstream cannot say, the pin stands. */
			if (resolve_upstream(pull, up, repo, tag, true, &moved,
					     NULL, NULL) == 0)
				*out = moved;
		}
		return 0;
	}
	if (rc != -ENOENT)
		return rc;
	if (!rfs_name_valid_repo(repo) || !rfs_name_valid_tag(tag))
		return -ENOENT;
	up = pull_serving(pull, repo, remote, sizeof(remote));
	if (!up || pull_surely_absent(pull, up, repo, tag))
		return -ENOENT;
	return resolve_upstream(pull, up, repo, tag, false, out, NULL, err);
}

bool rfs_pull_policy_asks_upstream(struct rfs_pull *pull,
				   const struct rfs_tag *tag)
{
	const struct rfs_policy *policy = rfs_store_policy(pull->store);
	const struct rfs_sign_key *const *keys;

	return tag->origin[0] && rfs_policy_keys(policy, tag->repo, &keys) &&
	       !rfs_policy_verified(policy, pull_catalog(pull), tag->repo,
				    tag->name, rfs_policy_subject(tag));
}

int rfs_pull_check_policy(struct rfs_pull *pull, const struct rfs_tag *tag,
			  struct rfs_error *err)
{
	const struct rfs_policy *policy = rfs_store_policy(pull->store);
	const struct rfs_sign_key *const *keys;
	struct rfs_error why = { 0 };
	struct rfs_upstream *up;
	struct rfs_tag now;
	int rc;

	if (!rfs_policy_keys(policy, tag->repo, &keys) ||
	    rfs_policy_verified(policy, pull_catalog(pull), tag->repo,
				tag->name, rfs_policy_subject(tag)))
		return 0;
	if (!tag->origin[0])
		return rfs_policy_check_local(pull->store, tag, err);
	/* Pinned before the policy, or refused before: what the upstream
	 * says now is checked as a new resolution is (check_signature). */
	up = pull_by_name(pull, tag->origin);
	if (!up)
		return rfs_error_set(err, -EACCES,
				     "'%s:%s' came from upstream '%s', which "
				     "is not configured: its signature cannot "
				     "be checked",
				     tag->repo, tag->name, tag->origin);
	rc = resolve_upstream(pull, up, tag->repo, tag->name, true, &now, NULL,
			      &why);
	if (rc == -EACCES || rc == -EINTR)
		return rfs_error_set(err, rc, "%s",
				     rfs_error_message(&why, rc));
	if (rc)
		return rfs_error_set(err, -EACCES,
				     "the signature of '%s:%s' cannot be "
				     "checked: %s",
				     tag->repo, tag->name,
				     rfs_error_message(&why, rc));
	if (rfs_policy_verified(policy, pull_catalog(pull), tag->repo,
				tag->name, rfs_policy_subject(tag)))
		return 0;
	if (now.id != tag->id)
		return rfs_error_set(err, -EACCES,
				     "'%s:%s' moved upstream since it was "
				     "pinned here (%s): look it up again",
				     tag->repo, tag->name,
				     rfs_policy_subject(tag));
	/* A signature, pinned for regctl serve (policy.h). */
	return rfs_error_set(err, -EACCES,
			     "'%s:%s' is not served: it needs a signature by "
			     "a key of require_signature",
			     tag->repo, tag->name);
}

/* The catalog setting that keeps the URL of -o upstream=. */
#define DEFAULT_UPSTREAM_SETTING "upstream.default.url"
#define DEFAULT_UPSTREAM_URL_MAX 2048

int rfs_pull_remember_default(struct rfs_store *store, const char *url,
			      struct rfs_error *err)
{
	int rc = rfs_catalog_setting_set(rfs_store_catalog(store),
					 DEFAULT_UPSTREAM_SETTING, url);

	if (rc)
		return rfs_error_set(err, rc,
				     "cannot keep the upstream URL in the "
				     "catalog: %s",
				     strerror(-rc));
	return 0;
}

/* Add the upstream the store keeps to cfg, unless it has a 'default'. */
static int recall_default(struct rfs_store *store, struct rfs_config *cfg,
			  struct rfs_error *err)
{
	char url[DEFAULT_UPSTREAM_URL_MAX];
	int rc;

	for (size_t i = 0; i < cfg->n_upstreams; i++)
		if (cfg->upstreams[i].name &&
		    strcmp(cfg->upstreams[i].name, "default") == 0)
			return 0;
	rc =
	    rfs_catalog_setting_get(rfs_store_catalog(store),
				    DEFAULT_UPSTREAM_SETTING, url, sizeof(url));
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rfs_error_set(err, rc,
				     "cannot read the upstream URL the "
				     "store keeps: %s",
				     strerror(-rc));
	rc = rfs_config_add_upstream_url(cfg, url, err);
	if (!rc)
		rc = rfs_config_validate(cfg, err);
	return rc;
}

int rfs_pull_config_for_store(struct rfs_store *store, struct rfs_config *cfg,
			      const char *file, const char *upstream_url,
			      struct rfs_error *err)
{
	int rc = rfs_config_from_options(cfg, file, upstream_url, NULL, err);

	if (!rc && !upstream_url)
		rc = recall_default(store, cfg, err);
	return rc;
}

int rfs_pull_refresh(struct rfs_pull *pull, const char *repo, const char *tag,
		     struct rfs_tag *out, bool *changed, struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1];
	struct rfs_upstream *up;
	struct rfs_tag cur;
	int rc;

	*changed = false;
	rc = rfs_catalog_tag_get(pull_catalog(pull), repo, tag, &cur);
	if (rc == 0 && !cur.origin[0])
		return rfs_error_set(err, -EINVAL,
				     "'%s:%s' was published here: there is "
				     "nothing to refresh",
				     repo, tag);
	if (rc == 0) {
		up = pull_by_name(pull, cur.origin);
		/* 'default' is the name of -o upstream=URL; a store that
		 * was never mounted with it does not know its URL. */
		if (!up && strcmp(cur.origin, "default") == 0)
			return rfs_error_set(
			    err, -ENOENT,
			    "'%s:%s' came from the upstream of "
			    "-o upstream=URL: name it again "
			    "with --upstream URL",
			    repo, tag);
		if (!up)
			return rfs_error_set(err, -ENOENT,
					     "'%s:%s' came from upstream '%s', "
					     "which is not configured",
					     repo, tag, cur.origin);
	} else {
		up = pull_serving(pull, repo, remote, sizeof(remote));
		if (!up)
			return rfs_error_set(err, -ENOENT,
					     "no upstream serves '%s'", repo);
	}
	return resolve_upstream(pull, up, repo, tag, true, out, changed, err);
}

void rfs_pull_set_log(struct rfs_pull *pull, rfs_pull_log_fn log)
{
	pull->log = log;
}
