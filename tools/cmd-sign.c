/*
 * cmd-sign.c - "regctl sign REPO:TAG --key KEY" and "regctl verify REPO:TAG
 * --key PUB": cosign-compatible signatures of local tags (core/sign.h).
 * Verify exits 0 only when a signature by that key covers the tag's
 * manifest digest.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "regctl.h"
#include "registry.h"
#include "sign.h"

static const char sign_usage[] =
    "usage: regctl sign [--json] --key KEY REPO:TAG\n"
    "\n"
    "Sign the local tag REPO:TAG with the private key KEY (PEM, ECDSA\n"
    "P-256 or Ed25519) the way cosign signs with a key: a simple-signing\n"
    "payload naming the tag's manifest digest, stored in REPO as a\n"
    "signature manifest whose subject is the tag's manifest (listed by the\n"
    "referrers API) and tagged sha256-<hex>.sig.\n"
    "\n"
    "  --key KEY   the private key, a PEM file\n"
    "  --json      print {repository, tag, digest, signature, sig_tag,\n"
    "              key_type, fingerprint}\n"
    "  -h, --help  show this help\n";

static const char verify_usage[] =
    "usage: regctl verify [--json] --key PUB REPO:TAG\n"
    "\n"
    "Exit 0 when a signature by the public key PUB (PEM) stored for the\n"
    "local tag REPO:TAG verifies and covers the tag's manifest digest;\n"
    "otherwise exit 1 and say why.\n"
    "\n"
    "  --key PUB   the public key, a PEM file\n"
    "  --json      print {repository, tag, digest, verified, signature,\n"
    "              fingerprint, key_type, reason}\n"
    "  -h, --help  show this help\n";

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

static int sign_or_verify(int argc, char **argv, struct regctl *rc, bool verify)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_JSON, OPT_KEY };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "key", required_argument, NULL, OPT_KEY },
		{ NULL, 0, NULL, 0 },
	};
	const char *usage = verify ? verify_usage : sign_usage;
	const char *keyfile = NULL;
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];
	struct rfs_registry *reg = NULL;
	struct rfs_sign_key *key = NULL;
	struct rfs_store *store = NULL;
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	bool json = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(usage, false);
		case OPT_JSON: json = true; break;
		case OPT_KEY: keyfile = optarg; break;
		default: return regctl_option_error(argv, c, usage);
		}
	}
	if (!keyfile)
		return regctl_usage_error(usage, "--key is required");
	if (argc - optind != 1)
		return regctl_usage_error(usage, "want one REPO:TAG");
	if (split_ref(argv[optind], repo, tag))
		return regctl_usage_error(usage, "'%s': want REPO:TAG",
					  argv[optind]);

	ret = REGCTL_EXIT_FAILURE;
	r = rfs_sign_key_load_file(keyfile, !verify, &key, &err);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	ret = regctl_open_store(rc, 0, &store);
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
	if (r && (!verify || !res.digest[0])) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	if (json) {
		if (print_result(verify, repo, tag, key, &res, r,
				 rfs_error_message(&err, r)) != 0)
			goto out;
	} else if (r) {
		regctl_error("%s:%s %s: not verified: %s", repo, tag,
			     res.digest, rfs_error_message(&err, r));
	} else if (verify) {
		printf("%s:%s %s: verified\n"
		       "  signed by %s key sha256:%s\n"
		       "  signature %s\n",
		       repo, tag, res.digest, rfs_sign_key_type(key),
		       res.fingerprint, res.signature);
	} else {
		printf("%s:%s %s: signed\n"
		       "  by %s key sha256:%s\n"
		       "  signature %s (%s:%s)\n",
		       repo, tag, res.digest, rfs_sign_key_type(key),
		       res.fingerprint, res.signature, repo, res.sig_tag);
	}
	ret = r ? REGCTL_EXIT_FAILURE : REGCTL_EXIT_OK;
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
