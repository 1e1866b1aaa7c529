/*
 * cmd-push.c - "regctl push REPO:TAG [REMOTE]": a sealed local tag to a
 * remote registry, as an ORAS-shaped artifact (see core/push.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "names.h"
#include "progress.h"
#include "push.h"
#include "regctl-remote.h"
#include "regctl.h"

static const char push_usage[] =
    "usage: regctl push [--force] [--plain-http] [--chunk-size SIZE]\n"
    "                   REPO:TAG HOST[:PORT]/REPO[:TAG]\n"
    "\n"
    "Push a sealed local tag to a registry as an ORAS-shaped artifact: an\n"
    "empty config, one layer with its title, the tag's annotations and\n"
    "org.opencontainers.image.created. Blobs the registry has are skipped,\n"
    "blobs in another of its repositories are mounted, others uploaded in\n"
    "chunks that resume after a broken one. The remote tag defaults to the\n"
    "local one; one that names another digest is not overwritten.\n"
    "\n"
    "  --force            overwrite a remote tag that names another digest\n"
    "  --chunk-size SIZE  upload in chunks of SIZE (K, M, G; default 8M)\n" REGCTL_PLAIN_HTTP_HELP
    "  -h, --help         show this help\n";

int regctl_push(struct regctl *rc, const char *repo, const char *name,
		const struct rfs_remote_ref *remote, bool plain,
		struct rfs_push_options *opts)
{
	struct rfs_push_result result;
	struct rfs_error err = { 0 };
	struct rfs_upstream *up = NULL;
	struct rfs_store *store = NULL;
	struct progress bar;
	struct rfs_tag tag;
	char label[RFS_REPO_MAX + RFS_TAG_MAX + 2];
	int r, ret;

	ret = regctl_open_store(rc, 0, &store);
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
	if (r) {
		ret =
		    regctl_error("cannot push '%s:%s' to '%s/%s:%s': %s", repo,
				 name, remote->host, remote->repo, remote->tag,
				 regctl_upstream_message(&err, r));
		goto out;
	}
	printf("%s/%s:%s %s%s\n", remote->host, remote->repo, remote->tag,
	       result.digest, result.unchanged ? " (already there)" : "");
	ret = REGCTL_EXIT_OK;
out:
	rfs_upstream_free(&up);
	rfs_store_close(&store);
	return ret;
}

int cmd_push(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_FORCE, OPT_PLAIN, OPT_CHUNK };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "plain-http", no_argument, NULL, OPT_PLAIN },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	struct rfs_push_options opts = { 0 };
	struct rfs_remote_ref remote;
	bool plain = false;
	int c, ret;

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
		default: return regctl_option_error(argv, c, push_usage);
		}
	}
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
	return regctl_push(rc, repo, name, &remote, plain, &opts);
}
