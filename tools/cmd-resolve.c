/*
 * cmd-resolve.c - "regctl resolve REPO@NAME": the tag a name stands for,
 * exactly as a mount's registry/REPO/NAME resolves it (core/resolve.h):
 * the tag of that name, else the highest tag a version range admits.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "names.h"
#include "pull.h"
#include "regctl.h"
#include "resolve.h"
#include "text.h"

static const char resolve_usage[] =
    "usage: regctl resolve [--json] [--config FILE] [--upstream URL]\n"
    "                      REPO@NAME\n"
    "\n"
    "Print the tag NAME stands for in repository REPO, and its digest:\n"
    "the tag of that exact name, else the highest tag, not yanked, that\n"
    "the version range NAME admits (^1.2, ~1.2.3, >=1.0.0,<2.0.0, 1.2.*,\n"
    "=1.2.3, latest-stable: see regctl(1)), as registry/REPO/NAME of a\n"
    "mount resolves it. A repository an upstream serves is resolved over\n"
    "the upstream's tags, and the tag chosen pinned. Exits 1 when nothing\n"
    "matches, naming the newest version and the yanked candidates; 2 for a\n"
    "malformed range.\n"
    "\n"
    "  --json          print {repository, name, tag, digest, exact, newest,\n"
    "                  yanked}\n"
    "  --config FILE   read the upstreams from FILE (regfs.conf(5))\n"
    "  --upstream URL  an upstream serving every repository\n"
    "  -h, --help      show this help\n";

static int print_json(const char *repo, const char *name,
		      const struct rfs_tag *tag,
		      const struct rfs_version_match *m)
{
	json_t *yanked = json_array(), *obj;
	int ret;

	for (size_t i = 0; i < m->n_yanked && i < RFS_VERSIONS_YANKED_MAX; i++)
		json_array_append_new(yanked, json_string(m->yanked[i]));
	obj =
	    json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o}", "repository", repo,
		      "name", name, "tag", tag->name, "digest", tag->digest,
		      "exact", m->exact, "newest", m->newest, "yanked", yanked);
	if (!obj)
		return regctl_error("out of memory");
	ret = regctl_print_json(obj);
	json_decref(obj);
	return ret;
}

int cmd_resolve(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_JSON, OPT_CONFIG, OPT_UPSTREAM };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "upstream", required_argument, NULL, OPT_UPSTREAM },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = rc->config_path, *upstream = NULL, *at, *name;
	char repo[RFS_REPO_MAX + 1];
	struct rfs_version_match match;
	struct rfs_versions *versions = NULL;
	struct rfs_error err = { 0 };
	struct rfs_config cfg = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_pull *pull = NULL;
	struct rfs_tag tag;
	bool json = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(resolve_usage, false);
		case OPT_JSON: json = true; break;
		case OPT_CONFIG: config = optarg; break;
		case OPT_UPSTREAM: upstream = optarg; break;
		default: return regctl_option_error(argv, c, resolve_usage);
		}
	}
	if (argc - optind != 1)
		return regctl_usage_error(resolve_usage, "want one REPO@NAME");
	at = strchr(argv[optind], '@');
	if (!at || at == argv[optind] ||
	    (size_t)(at - argv[optind]) > RFS_REPO_MAX || !at[1])
		return regctl_usage_error(resolve_usage,
					  "'%s': want REPO@NAME (app@^1.2)",
					  argv[optind]);
	memcpy(repo, argv[optind], (size_t)(at - argv[optind]));
	repo[at - argv[optind]] = '\0';
	name = at + 1;
	if (!rfs_name_valid_repo(repo))
		return regctl_error("invalid repository name '%s'",
				    REGCTL_NAME(repo));

	/* Read-only, so that a store regctl may only read resolves too;
	 * writable only where an upstream may be asked (its lists are
	 * kept in the store). */
	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;
	ret = REGCTL_EXIT_FAILURE;
	r = rfs_pull_config_for_store(store, &cfg, config, upstream, &err);
	if (!r && cfg.n_upstreams) {
		rfs_store_close(&store);
		ret = regctl_open_store(rc, 0, &store);
		if (ret)
			goto out;
		ret = REGCTL_EXIT_FAILURE;
		r = rfs_pull_new(store, &cfg, &pull, &err);
	}
	if (!r)
		r = rfs_versions_new(rfs_store_catalog(store), 1, &versions);
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	r = rfs_resolve_name(versions, pull, repo, name, &tag, &match, &err);
	if (r == -EINVAL) {
		ret = regctl_error("%s", rfs_error_message(&err, r));
		ret = REGCTL_EXIT_USAGE;
		goto out;
	}
	if (r) {
		regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	if (json) {
		ret = print_json(repo, name, &tag, &match);
		goto out;
	}
	printf("%s:%s %s\n", repo, tag.name, tag.digest);
	ret = REGCTL_EXIT_OK;
out:
	rfs_versions_free(&versions);
	rfs_pull_free(&pull);
	rfs_config_release(&cfg);
	rfs_store_close(&store);
	return ret;
}
