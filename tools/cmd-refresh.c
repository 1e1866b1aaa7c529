/*
 * cmd-refresh.c - "regctl refresh REPO:TAG": resolve a tag pinned from an
 * upstream again, now. When it moved, the new digest is pinned under a new
 * inode; files open on the old one keep reading the old content.
 */
#include <getopt.h>
#include <stdio.h>

#include "config.h"
#include "names.h"
#include "pull.h"
#include "regctl.h"

static const char refresh_usage[] =
    "usage: regctl refresh [--config FILE] [--upstream URL] REPO:TAG\n"
    "\n"
    "Ask the upstream a tag came from what it names now, and pin that. The\n"
    "upstreams are those of regfs.conf(5) (FILE, or " RFS_CONFIG_DEFAULT_PATH
    "\n"
    "when it exists) and URL, as for the daemon; without URL, the one of\n"
    "the last regfs -o upstream=URL on this store.\n"
    "\n"
    "  --config FILE   read the upstreams from FILE\n"
    "  --upstream URL  an upstream serving every repository\n"
    "  -h, --help      show this help\n";

int cmd_refresh(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_CONFIG, OPT_UPSTREAM };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "upstream", required_argument, NULL, OPT_UPSTREAM },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	const char *config = rc->config_path, *upstream = NULL;
	struct rfs_error err = { 0 };
	struct rfs_config cfg = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_pull *pull = NULL;
	struct rfs_tag before = { 0 }, after;
	bool changed, had;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(refresh_usage, false);
		case OPT_CONFIG: config = optarg; break;
		case OPT_UPSTREAM: upstream = optarg; break;
		default: return regctl_option_error(argv, c, refresh_usage);
		}
	}
	if (argc - optind != 1)
		return regctl_usage_error(refresh_usage,
					  optind == argc ? "no tag given"
							 : "one tag at a time");
	if (rfs_ref_parse(argv[optind], repo, sizeof(repo), name,
			  sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(argv[optind]));

	ret = regctl_open_store(rc, 0, &store);
	if (ret)
		goto out;
	r = rfs_pull_config_for_store(store, &cfg, config, upstream, &err);
	if (!r)
		r = rfs_pull_new(store, &cfg, &pull, &err);
	if (r) {
		ret = regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	had = rfs_catalog_tag_get(rfs_store_catalog(store), repo, name,
				  &before) == 0;
	r = rfs_pull_refresh(pull, repo, name, &after, &changed, &err);
	if (r) {
		ret = regctl_error("cannot refresh '%s:%s': %s", repo, name,
				   rfs_error_message(&err, r));
		goto out;
	}
	if (changed)
		printf("'%s:%s' moved: %s -> %s\n", repo, name, before.digest,
		       after.digest);
	else if (had)
		printf("'%s:%s' is up to date: %s\n", repo, name, after.digest);
	else
		printf("'%s:%s' pinned: %s\n", repo, name, after.digest);
	ret = REGCTL_EXIT_OK;
out:
	rfs_pull_free(&pull);
	rfs_config_release(&cfg);
	rfs_store_close(&store);
	return ret;
}
