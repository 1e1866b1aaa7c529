/*
 * cmd-sign.c - "regctl sign REF --key KEY" and "regctl verify REF --key
 * PUB": cosign-compatible signatures of local tags (core/sign.h) and of
 * manifests in a remote registry (core/sign-remote.h), REF telling which
 * (HOST[:PORT]/REPO:TAG or HOST[:PORT]/REPO@DIGEST is remote). Verify
 * exits 0 only when a signature by that key covers the manifest's digest.
 * Signatures made and verifications that fail go into the store's audit
 * log (kinds "sign" and "verify").
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "digest.h"
#include "names.h"
#include "regctl-remote.h"
#include "regctl.h"
#include "registry.h"
#include "remote.h"
#include "sign-remote.h"
#include "sign.h"

static const char sign_usage[] =
    "usage: regctl sign [--json] [--plain-http] --key KEY REF\n"
    "\n"
    "Sign REF with the private key KEY (PEM, ECDSA P-256 or Ed25519) the\n"
    "way cosign signs with a key: a simple-signing payload naming the\n"
    "manifest digest, stored beside it as a signature manifest whose\n"
    "subject is the signed manifest (listed by the referrers API) and\n"
    "tagged sha256-<hex>.sig. REF is a local tag REPO:TAG, or a manifest\n"
    "in a registry, HOST[:PORT]/REPO:TAG or HOST[:PORT]/REPO@DIGEST (the\n"
    "remote .sig tag keeps the signatures it held).\n"
    "\n"
    "  --key KEY       the private key, a PEM file\n"
    "  --json          print {repository, tag, digest, signature, sig_tag,\n"
    "                  key_type, fingerprint}\n" REGCTL_PLAIN_HTTP_HELP
    "  -h, --help      show this help\n";

static const char verify_usage[] =
    "usage: regctl verify [--json] [--plain-http] --key PUB REF\n"
    "\n"
    "Exit 0 when a signature by the public key PUB (PEM) verifies and\n"
    "covers REF's manifest digest; otherwise exit 1 and say why. REF is a\n"
    "local tag REPO:TAG, or a manifest in a registry, HOST[:PORT]/REPO:TAG\n"
    "or HOST[:PORT]/REPO@DIGEST, whose signatures are found through the\n"
    "referrers API or the sha256-<hex>.sig tag. A registry that cannot be\n"
    "read is an error, never a verdict.\n"
    "\n"
    "  --key PUB       the public key, a PEM file\n"
    "  --json          print {repository, tag, digest, verified, signature,\n"
    "                  fingerprint, key_type, reason}\n" REGCTL_PLAIN_HTTP_HELP
    "  -h, --help      show this help\n";

static int split_ref(const char *arg, char repo[RFS_REPO_MAX + 1],
		     char tag[RFS_TAG_MAX + 1])
{
	const char *colon = strrchr(arg, ':');

	if (!colon || colon == arg || strchr(colon, '/') ||
	    (size_t)(colon - arg) > RFS_REPO_MAX ||
	    strlen(colon + 1) > RFS_TAG_MAX || !colon[1])
		return -1;
	memcpy(repo, arg, (size_t)(colon - arg));
	repo[colon - arg] = '\0';
	strcpy(tag, colon + 1);
	return rfs_name_valid_repo(repo) && rfs_name_valid_tag(tag) ? 0 : -1;
}

static int print_result(bool verify, const char *repo, const char *tag,
			const struct rfs_sign_key *key,
			const struct rfs_sign_result *res, int r,
			const char *reason)
{
	json_t *obj;
	int ret;

	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "repository", repo,
			"tag", tag, "digest", res->digest, "fingerprint",
			res->fingerprint, "key_type", rfs_sign_key_type(key),
			"sig_tag", res->sig_tag);
	if (obj && res->signature[0])
		json_object_set_new(obj, "signature",
				    json_string(res->signature));
	if (obj && verify) {
		json_object_set_new(obj, "verified", json_boolean(r == 0));
		json_object_set_new(obj, "reason",
				    r ? json_string(reason) : json_null());
	}
	if (!obj)
		return regctl_error("out of memory");
	ret = regctl_print_json(obj);
	json_decref(obj);
	return ret;
}

/* A remote REF: HOST[:PORT]/REPO:TAG, or HOST[:PORT]/REPO@DIGEST (then
 * remote->tag is "" and digest holds it). */
static int parse_remote_ref(const char *usage, const char *arg,
			    struct rfs_remote_ref *remote,
			    char digest[RFS_DIGEST_STR_MAX + 1])
{
	const char *at = strchr(arg, '@');
	char left[RFS_HOST_MAX + RFS_REPO_MAX + 2];

	digest[0] = '\0';
	if (!at)
		return regctl_parse_remote(usage, arg, RFS_REMOTE_TAG_REQUIRED,
					   remote);
	if ((size_t)(at - arg) >= sizeof(left) || !rfs_digest_valid(at + 1))
		return regctl_usage_error(usage,
					  "'%s': want HOST[:PORT]/REPO:TAG or "
					  "HOST[:PORT]/REPO@sha256:HEX",
					  arg);
	memcpy(left, arg, (size_t)(at - arg));
	left[at - arg] = '\0';
	snprintf(digest, RFS_DIGEST_STR_MAX + 1, "%s", at + 1);
	return regctl_parse_remote(usage, left, RFS_REMOTE_TAG_FORBIDDEN,
				   remote);
}

/* The store, when there is one, for the audit log of a remote action: a
 * remote sign or verify needs no store and never fails for want of one. */
static struct rfs_store *audit_store(const struct regctl *rc)
{
	struct rfs_store *store = NULL;
	char root[PATH_MAX];

	if (rc->store_path)
		snprintf(root, sizeof(root), "%s", rc->store_path);
	else if (rfs_store_default_path(root, sizeof(root)) < 0)
		return NULL;
	if (rfs_store_open(root, 0, &store, NULL) < 0)
		return NULL;
	return store;
}

/* Print the outcome (r, why) of signing or verifying what. */
static int report(bool verify, bool json, const char *repo, const char *tag,
		  const char *what, const struct rfs_sign_key *key,
		  const struct rfs_sign_result *res, int r,
		  const struct rfs_error *err)
{
	if (json) {
		if (print_result(verify, repo, tag, key, res, r,
				 rfs_error_message(err, r)) != 0)
			return REGCTL_EXIT_FAILURE;
	} else if (r) {
		regctl_error("%s %s: not verified: %s", what, res->digest,
			     rfs_error_message(err, r));
	} else if (verify) {
		printf("%s %s: verified\n"
		       "  signed by %s key sha256:%s\n"
		       "  signature %s\n",
		       what, res->digest, rfs_sign_key_type(key),
		       res->fingerprint, res->signature);
	} else {
		printf("%s %s: signed\n"
		       "  by %s key sha256:%s\n"
		       "  signature %s (%s:%s)\n",
		       what, res->digest, rfs_sign_key_type(key),
		       res->fingerprint, res->signature, repo, res->sig_tag);
	}
	return r ? REGCTL_EXIT_FAILURE : REGCTL_EXIT_OK;
}

static int sign_or_verify_remote(struct regctl *rc, const char *usage,
				 const char *arg, bool plain, bool json,
				 bool verify, const struct rfs_sign_key *key)
{
	char digest[RFS_DIGEST_STR_MAX + 1],
	    repo[RFS_HOST_MAX + RFS_REPO_MAX + 2];
	char what[sizeof(repo) + RFS_TAG_MAX + RFS_DIGEST_STR_MAX + 2];
	struct rfs_manifest_blob m = { 0 };
	struct rfs_upstream *up = NULL;
	struct rfs_store *store = NULL;
	struct rfs_remote_ref remote;
	struct rfs_sign_result res = { 0 };
	struct rfs_error err = { 0 };
	int r, ret;

	ret = parse_remote_ref(usage, arg, &remote, digest);
	if (ret)
		return ret;
	snprintf(repo, sizeof(repo), "%s/%s", remote.host, remote.repo);
	snprintf(what, sizeof(what), "%s%c%s", repo, remote.tag[0] ? ':' : '@',
		 remote.tag[0] ? remote.tag : digest);
	ret = regctl_remote_upstream(remote.host, plain, &up);
	if (ret)
		goto out;
	ret = REGCTL_EXIT_FAILURE;
	if (!verify) {
		r = rfs_sign_remote(up, remote.host, remote.repo,
				    digest[0] ? digest : remote.tag, key, &res,
				    &err);
	} else {
		/* The tag's digest now: what is verified is that manifest. */
		if (!digest[0]) {
			r = rfs_upstream_get_manifest(up, remote.repo,
						      remote.tag, &m, &err);
			if (r) {
				regctl_error("cannot read '%s': %s", what,
					     regctl_upstream_message(&err, r));
				goto out;
			}
			snprintf(digest, sizeof(digest), "%s", m.digest);
		}
		r = rfs_verify_remote(up, remote.repo, digest, &key, 1, &res,
				      &err);
	}
	store = audit_store(rc);
	if (store && (!verify || r))
		rfs_audit(store, verify ? RFS_AUDIT_VERIFY : RFS_AUDIT_SIGN, r,
			  &err, repo, remote.tag[0] ? remote.tag : NULL,
			  res.digest[0] ? res.digest : NULL);
	/* A failure to reach the registry is no verdict: said as such. */
	if (r && (!verify || (r != -EBADMSG && r != -ENOENT))) {
		regctl_error("cannot %s '%s': %s", verify ? "verify" : "sign",
			     what, regctl_upstream_message(&err, r));
		goto out;
	}
	ret = report(verify, json, repo, remote.tag, what, key, &res, r, &err);
out:
	rfs_manifest_blob_release(&m);
	rfs_store_close(&store);
	rfs_upstream_free(&up);
	return ret;
}

static int sign_or_verify(int argc, char **argv, struct regctl *rc, bool verify)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_JSON, OPT_KEY, OPT_PLAIN };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "plain-http", no_argument, NULL, OPT_PLAIN },
		{ NULL, 0, NULL, 0 },
	};
	const char *usage = verify ? verify_usage : sign_usage;
	const char *keyfile = NULL;
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];
	char what[RFS_REPO_MAX + RFS_TAG_MAX + 2];
	struct rfs_registry *reg = NULL;
	struct rfs_sign_key *key = NULL;
	struct rfs_store *store = NULL;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	bool json = false, plain = false, remote;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(usage, false);
		case OPT_JSON: json = true; break;
		case OPT_KEY: keyfile = optarg; break;
		case OPT_PLAIN: plain = true; break;
		default: return regctl_option_error(argv, c, usage);
		}
	}
	if (!keyfile)
		return regctl_usage_error(usage, "--key is required");
	if (argc - optind != 1)
		return regctl_usage_error(usage, "want one REF");
	remote = rfs_remote_is_remote(argv[optind]);
	if (!remote && split_ref(argv[optind], repo, tag))
		return regctl_usage_error(usage,
					  "'%s': want REPO:TAG, "
					  "HOST[:PORT]/REPO:TAG or "
					  "HOST[:PORT]/REPO@DIGEST",
					  argv[optind]);

	ret = REGCTL_EXIT_FAILURE;
	r = rfs_sign_key_load_file(keyfile, !verify, &key, &err);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	if (remote) {
		ret = sign_or_verify_remote(rc, usage, argv[optind], plain,
					    json, verify, key);
		goto out;
	}
	ret = regctl_open_store(rc, verify ? RFS_STORE_READONLY : 0, &store);
	if (ret)
		goto out;
	ret = REGCTL_EXIT_FAILURE;
	r = rfs_sign_registry(store, &reg, &err);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	r = verify ? rfs_verify_tag(reg, store, repo, tag, key, &res, &err)
		   : rfs_sign_tag(reg, store, repo, tag, key, &res, &err);
	if (!verify || r)
		rfs_audit(store, verify ? RFS_AUDIT_VERIFY : RFS_AUDIT_SIGN, r,
			  &err, repo, tag, res.digest[0] ? res.digest : NULL);
	if (r && (!verify || !res.digest[0])) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	snprintf(what, sizeof(what), "%s:%s", repo, tag);
	ret = report(verify, json, repo, tag, what, key, &res, r, &err);
out:
	rfs_registry_free(&reg);
	rfs_store_close(&store);
	rfs_sign_key_free(&key);
	return ret;
}

int cmd_sign(int argc, char **argv, struct regctl *rc)
{
	return sign_or_verify(argc, argv, rc, false);
}

int cmd_verify(int argc, char **argv, struct regctl *rc)
{
	return sign_or_verify(argc, argv, rc, true);
}
