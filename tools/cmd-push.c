/*
 * cmd-push.c - "regctl push REPO:TAG [REMOTE]": a sealed local tag to a
 * remote registry, as an ORAS-shaped artifact (see core/push.h), with the
 * signatures the store holds for it and, with --sign, a new one
 * (core/sign-remote.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "names.h"
#include "progress.h"
#include "push.h"
#include "regctl-remote.h"
#include "regctl.h"
#include "sign-remote.h"
#include "sign.h"

static const char push_usage[] =
    "usage: regctl push [--force] [--plain-http] [--chunk-size SIZE]\n"
    "                   [--sign --key KEY] REPO:TAG HOST[:PORT]/REPO[:TAG]\n"
    "\n"
    "Push a sealed local tag to a registry as an ORAS-shaped artifact: an\n"
    "empty config, one layer with its title, the tag's annotations and\n"
    "org.opencontainers.image.created. Blobs the registry has are skipped,\n"
    "blobs in another of its repositories are mounted, others uploaded in\n"
    "chunks that resume after a broken one. The remote tag defaults to the\n"
    "local one; one that names another digest is not overwritten. The\n"
    "cosign signatures the store holds for the tag follow it (their\n"
    "manifests by digest and the sha256-<hex>.sig tag).\n"
    "\n"
    "  --force            overwrite a remote tag that names another digest\n"
    "  --chunk-size SIZE  upload in chunks of SIZE (K, M, G; default 8M)\n"
    "  --sign             sign the pushed manifest there too, as regctl\n"
    "                     sign does, with --key\n"
    "  --key KEY          the private key for --sign, a PEM file\n" REGCTL_PLAIN_HTTP_HELP
    "  -h, --help         show this help\n";

/* After the manifest: the store's signatures of it, then a new one. */
static int push_signatures(struct rfs_store *store, struct rfs_upstream *up,
			   const char *repo, const char *digest,
			   const struct rfs_remote_ref *remote,
			   const struct rfs_sign_key *sign_key)
{
	char where[RFS_HOST_MAX + RFS_REPO_MAX + 2];
	struct rfs_sign_result res;
	struct rfs_error err = { 0 };
	unsigned n = 0;
	int r;

	snprintf(where, sizeof(where), "%s/%s", remote->host, remote->repo);
	r = rfs_push_signatures(store, repo, digest, up, remote->repo, &n,
				&err);
	if (r)
		return regctl_error("pushed %s:%s, but not its signatures: %s",
				    where, remote->tag,
				    regctl_upstream_message(&err, r));
	if (n)
		printf("  %u signature%s\n", n, n == 1 ? "" : "s");
	if (!sign_key)
		return 0;
	r = rfs_sign_remote(up, remote->host, remote->repo, digest, sign_key,
			    &res, &err);
	rfs_audit(store, RFS_AUDIT_SIGN, r, &err, where, remote->tag, digest);
	if (r)
		return regctl_error("pushed %s:%s, but cannot sign it: %s",
				    where, remote->tag,
				    regctl_upstream_message(&err, r));
	printf("  signed by %s key sha256:%s\n  signature %s (%s:%s)\n",
	       rfs_sign_key_type(sign_key), res.fingerprint, res.signature,
	       where, res.sig_tag);
	return 0;
}

int regctl_push(struct regctl *rc, const char *repo, const char *name,
		const struct rfs_remote_ref *remote, bool plain,
		struct rfs_push_options *opts,
		const struct rfs_sign_key *sign_key)
{
	struct rfs_push_result result;
	struct rfs_error err = { 0 };
	struct rfs_upstream *up = NULL;
	struct rfs_store *store = NULL;
	struct progress bar;
	struct rfs_tag tag;
	char label[RFS_REPO_MAX + RFS_TAG_MAX + 2];
	char where[RFS_HOST_MAX + RFS_REPO_MAX + 2];
	int r, ret;

	ret = regctl_open_store_to_read(rc, &store);
	if (ret)
		goto out;
	r = rfs_catalog_tag_get(rfs_store_catalog(store), repo, name, &tag);
	if (r) {
		ret = regctl_error("no such tag '%s:%s'", repo, name);
		goto out;
	}
	ret = regctl_remote_upstream(remote->host, plain, &up);
	if (ret)
		goto out;
	snprintf(label, sizeof(label), "%s:%s", repo, name);
	progress_init(&bar, label);
	opts->progress = progress_update;
	opts->progress_ctx = &bar;
	r = rfs_push_tag(store, &tag, up, remote->host, remote->repo,
			 remote->tag, opts, &result, &err);
	progress_done(&bar);
	snprintf(where, sizeof(where), "%s/%s", remote->host, remote->repo);
	rfs_audit(store, RFS_AUDIT_PUSH, r, &err, where, remote->tag,
		  r ? NULL : result.digest);
	if (r) {
		ret = regctl_error(
		    "cannot push '%s:%s' to '%s/%s:%s': %s%s", repo, name,
		    remote->host, remote->repo, remote->tag,
		    regctl_upstream_message(&err, r),
		    regctl_plain_http_hint(remote->host, plain, r));
		goto out;
	}
	printf("%s/%s:%s %s%s\n", remote->host, remote->repo, remote->tag,
	       result.digest, result.unchanged ? " (already there)" : "");
	ret = push_signatures(store, up, repo, result.digest, remote, sign_key)
		  ? REGCTL_EXIT_FAILURE
		  : REGCTL_EXIT_OK;
out:
	rfs_upstream_free(&up);
	rfs_store_close(&store);
	return ret;
}

int cmd_push(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_FORCE,
		OPT_PLAIN,
		OPT_CHUNK,
		OPT_SIGN,
		OPT_KEY
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "plain-http", no_argument, NULL, OPT_PLAIN },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ "sign", no_argument, NULL, OPT_SIGN },
		{ "key", required_argument, NULL, OPT_KEY },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	struct rfs_push_options opts = { 0 };
	struct rfs_sign_key *key = NULL;
	struct rfs_remote_ref remote;
	struct rfs_error err = { 0 };
	const char *keyfile = NULL;
	bool plain = false, sign = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":hf", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(push_usage, false);
		case 'f':
		case OPT_FORCE: opts.force = true; break;
		case OPT_PLAIN: plain = true; break;
		case OPT_CHUNK:
			if (rfs_parse_size(optarg, &opts.chunk_size) != 0 ||
			    opts.chunk_size < 4096)
				return regctl_usage_error(
				    push_usage, "invalid chunk size '%s'",
				    optarg);
			break;
		case OPT_SIGN: sign = true; break;
		case OPT_KEY: keyfile = optarg; break;
		default: return regctl_option_error(argv, c, push_usage);
		}
	}
	if (sign != (keyfile != NULL))
		return regctl_usage_error(push_usage,
					  "--sign and --key go together");
	if (argc - optind != 2)
		return regctl_usage_error(push_usage,
					  "want REPO:TAG and a remote");
	if (rfs_ref_parse(argv[optind], repo, sizeof(repo), name,
			  sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(argv[optind]));
	ret = regctl_parse_remote(push_usage, argv[optind + 1], 0, &remote);
	if (ret)
		return ret;
	if (!remote.tag[0])
		snprintf(remote.tag, sizeof(remote.tag), "%s", name);
	/* The key is read before anything is sent: a bad one pushes
	 * nothing. */
	if (keyfile) {
		r = rfs_sign_key_load_file(keyfile, true, &key, &err);
		if (r)
			return regctl_error("%s", rfs_error_message(&err, r));
	}
	ret = regctl_push(rc, repo, name, &remote, plain, &opts, key);
	rfs_sign_key_free(&key);
	return ret;
}
