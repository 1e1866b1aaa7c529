/*
 * policy.c - require_signature: the keys per repository, the verdicts in
 * the catalog, and the check of tags published here (see policy.h). The
 * check of upstream tags is in pull.c, which holds the upstreams.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "digest.h"
#include "manifest.h"
#include "registry.h"

/* The keys of one scope: the global ones (prefix NULL), or those of an
 * upstream section, which serve the repositories under its prefix. */
struct key_set {
	char *prefix; /* NULL: global; "" serves every repository */
	struct rfs_sign_key **keys;
	size_t n;
};

struct rfs_policy {
	struct key_set *sets; /* sets[0] is the global one */
	size_t n_sets;
};

static int set_add_key(struct key_set *set, const char *file,
		       struct rfs_error *err)
{
	struct rfs_sign_key *key = NULL, **grown;
	int rc = rfs_sign_key_load_file(file, false, &key, err);

	if (rc)
		return rc;
	grown = realloc(set->keys, (set->n + 1) * sizeof(*grown));
	if (!grown) {
		rfs_sign_key_free(&key);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	grown[set->n++] = key;
	set->keys = grown;
	return 0;
}

/* The set of upstream name (a configured one), made on first use. */
static int upstream_set(struct rfs_policy *p, const struct rfs_config *cfg,
			const char *name, struct key_set **out,
			struct rfs_error *err)
{
	const struct rfs_upstream_config *u = NULL;
	struct key_set *grown;

	for (size_t i = 0; i < cfg->n_upstreams; i++)
		if (strcmp(cfg->upstreams[i].name, name) == 0)
			u = &cfg->upstreams[i];
	if (!u)
		return rfs_error_set(err, -EINVAL,
				     "require_signature of unknown upstream "
				     "'%s'",
				     name);
	for (size_t i = 1; i < p->n_sets; i++)
		if (strcmp(p->sets[i].prefix, u->prefix ? u->prefix : "") ==
		    0) {
			*out = &p->sets[i];
			return 0;
		}
	grown = realloc(p->sets, (p->n_sets + 1) * sizeof(*grown));
	if (!grown)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	p->sets = grown;
	*out = &p->sets[p->n_sets];
	**out =
	    (struct key_set){ .prefix = strdup(u->prefix ? u->prefix : "") };
	if (!(*out)->prefix)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	p->n_sets++;
	return 0;
}

int rfs_policy_new(const struct rfs_config *cfg, struct rfs_policy **out,
		   struct rfs_error *err)
{
	struct rfs_policy *p;
	int rc = 0;

	*out = NULL;
	if (cfg->n_require_signature == 0)
		return 0;
	p = calloc(1, sizeof(*p));
	if (p)
		p->sets = calloc(1, sizeof(*p->sets));
	if (!p || !p->sets) {
		free(p);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	p->n_sets = 1;
	for (size_t i = 0; !rc && i < cfg->n_require_signature; i++) {
		const struct rfs_signature_rule *r = &cfg->require_signature[i];
		struct key_set *set = &p->sets[0];
		struct rfs_error why = { 0 };

		if (r->upstream)
			rc = upstream_set(p, cfg, r->upstream, &set, &why);
		if (!rc)
			rc = set_add_key(set, r->key_file, &why);
		if (rc)
			rc = rfs_error_set(
			    err, rc, "require_signature = %s: %s", r->key_file,
			    rfs_error_message(&why, rc));
	}
	if (rc) {
		rfs_policy_free(&p);
		return rc;
	}
	*out = p;
	return 0;
}

void rfs_policy_free(struct rfs_policy **policy)
{
	struct rfs_policy *p = policy ? *policy : NULL;

	if (!p)
		return;
	for (size_t i = 0; i < p->n_sets; i++) {
		for (size_t k = 0; k < p->sets[i].n; k++)
			rfs_sign_key_free(&p->sets[i].keys[k]);
		free(p->sets[i].keys);
		free(p->sets[i].prefix);
	}
	free(p->sets);
	free(p);
	*policy = NULL;
}

/* Does prefix (an upstream's: "" or ending in '/') serve repo? */
static bool serves(const char *prefix, const char *repo)
{
	return strncmp(repo, prefix, strlen(prefix)) == 0;
}

size_t rfs_policy_keys(const struct rfs_policy *policy, const char *repo,
		       const struct rfs_sign_key *const **keys)
{
	const struct key_set *best = NULL;

	if (!policy)
		return 0;
	for (size_t i = 1; i < policy->n_sets; i++) {
		const struct key_set *s = &policy->sets[i];

		if (serves(s->prefix, repo) &&
		    (!best || strlen(s->prefix) > strlen(best->prefix)))
			best = s;
	}
	if (!best)
		best = &policy->sets[0];
	*keys = (const struct rfs_sign_key *const *)best->keys;
	return best->n;
}

bool rfs_policy_is_signature(const char *tag, const struct rfs_manifest *m)
{
	size_t len = strlen(tag);

	if (len != 7 + 64 + 4 || strncmp(tag, "sha256-", 7) != 0 ||
	    strcmp(tag + len - 4, ".sig") != 0 ||
	    strspn(tag + 7, "0123456789abcdef") != 64 ||
	    m->kind != RFS_MANIFEST_IMAGE || m->n_entries == 0)
		return false;
	for (size_t i = 0; i < m->n_entries; i++)
		if (strcmp(m->entries[i].media_type, RFS_MT_COSIGN_PAYLOAD) ||
		    m->entries[i].size > RFS_SIGN_PAYLOAD_MAX)
			return false;
	return true;
}

const char *rfs_policy_subject(const struct rfs_tag *tag)
{
	return tag->manifest[0] ? tag->manifest : tag->digest;
}

bool rfs_policy_verified(const struct rfs_policy *policy,
			 struct rfs_catalog *cat, const char *repo,
			 const char *tag, const char *subject)
{
	const struct rfs_sign_key *const *keys;
	size_t n = rfs_policy_keys(policy, repo, &keys);
	char fpr[RFS_SIGN_FPR_LEN + 1];
	struct rfs_verdict v;

	if (rfs_catalog_verdict_get(cat, repo, tag, subject, &v) || !v.ok)
		return false;
	for (size_t i = 0; i < n; i++) {
		rfs_sign_key_fingerprint(keys[i], fpr);
		if (strcmp(fpr, v.key) == 0)
			return true;
	}
	return false; /* signed by a key no longer allowed */
}

void rfs_policy_record(struct rfs_store *store, const char *repo,
		       const char *tag, const char *subject, int rc,
		       const char *fpr, const struct rfs_error *err)
{
	struct rfs_verdict v = { .ok = rc == 0, .checked_ns = rfs_now_ns() };

	snprintf(v.subject, sizeof(v.subject), "%s", subject);
	if (rc == 0)
		snprintf(v.key, sizeof(v.key), "%s", fpr ? fpr : "");
	else
		snprintf(v.reason, sizeof(v.reason), "%s",
			 rfs_error_message(err, rc));
	/* A verdict that cannot be kept is checked again next time. */
	rfs_catalog_verdict_set(rfs_store_catalog(store), repo, tag, &v);
	if (rc)
		rfs_audit(store, RFS_AUDIT_VERIFY_FAILED, -EACCES, err, repo,
			  tag, subject);
}

int rfs_policy_check_local(struct rfs_store *store, const struct rfs_tag *tag,
			   struct rfs_error *err)
{
	const struct rfs_policy *policy = rfs_store_policy(store);
	const struct rfs_sign_key *const *keys;
	const char *subject = rfs_policy_subject(tag);
	struct rfs_sign_result res;
	struct rfs_registry *reg = NULL;
	struct rfs_error why = { 0 };
	size_t n = rfs_policy_keys(policy, tag->repo, &keys);
	int rc = -ENOENT;

	if (n == 0 || rfs_policy_verified(policy, rfs_store_catalog(store),
					  tag->repo, tag->name, subject))
		return 0;
	rc = rfs_sign_registry(store, &reg, &why);
	if (rc)
		return rfs_error_set(err, -EACCES,
				     "cannot check the signature of '%s:%s': "
				     "%s",
				     tag->repo, tag->name,
				     rfs_error_message(&why, rc));
	for (size_t i = 0; i < n; i++) {
		rc = rfs_verify_tag(reg, store, tag->repo, tag->name, keys[i],
				    &res, &why);
		if (rc == 0 || (rc != -ENOENT && rc != -EBADMSG))
			break;
	}
	rfs_registry_free(&reg);
	if (rc == 0 || rc == -ENOENT || rc == -EBADMSG)
		rfs_policy_record(store, tag->repo, tag->name, subject, rc,
				  res.fingerprint, &why);
	if (rc == 0)
		return 0;
	return rfs_error_set(err, -EACCES,
			     "'%s:%s' is not served: it needs a signature by "
			     "a key of require_signature: %s",
			     tag->repo, tag->name, rfs_error_message(&why, rc));
}
