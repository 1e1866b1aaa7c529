/*
 * cmd-ls.c - "regctl ls [REPO] [--json]": the sealed tags of a store, or of
 * one repository, as a table like "docker images" or as a JSON array.
 *
 * Yanked tags are left out unless --all.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "names.h"
#include "regctl.h"
#include "tag-list.h"
#include "versions.h"
#include "text.h"

static const char ls_usage[] =
    "usage: regctl ls [REPO] [--type TYPE] [--versions] [--all] [--json]\n"
    "\n"
    "List sealed tags, sorted by repository and tag: all of them, or those of\n"
    "repository REPO. Times are UTC. Yanked tags are left out.\n"
    "\n"
    "  --type TYPE  only artifacts of this type (user.regfs.artifact_type,\n"
    "               set by publish --type), as docker images filters\n"
    "  --versions   sort each repository's tags by semantic version\n"
    "               precedence (1.2.0 < 1.10.0, 2.0.0-rc.1 < 2.0.0), tags\n"
    "               that are not versions last, by name\n"
    "  --all        list yanked tags too, marked \"(yanked)\"\n"
    "  --json       print a JSON array of {repository, tag, digest, size,\n"
    "               created}: full digests, sizes in bytes, RFC 3339 times\n"
    "  -h, --help   show this help\n";

/* Repositories by name, their tags by version precedence. */
static int by_version(const void *a, const void *b)
{
	const struct tag_row *x = a, *y = b;
	int c = strcmp(x->repo, y->repo);

	return c ? c : rfs_versions_cmp(x->tag, y->tag);
}

int cmd_ls(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_JSON,
		OPT_ALL,
		OPT_TYPE,
		OPT_VERSIONS
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "versions", no_argument, NULL, OPT_VERSIONS },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_store *store = NULL;
	struct tag_list rows = { .v = NULL };
	const char *repo = NULL;
	bool json = false, versions = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(ls_usage, false);
		case OPT_JSON: json = true; break;
		case OPT_ALL: rows.with_yanked = true; break;
		case OPT_TYPE: rows.type = optarg; break;
		case OPT_VERSIONS: versions = true; break;
		default: return regctl_option_error(argv, c, ls_usage);
		}
	}
	if (argc - optind > 1)
		return regctl_usage_error(ls_usage, "unexpected argument '%s'",
					  argv[optind + 1]);
	if (optind < argc) {
		repo = argv[optind];
		if (!rfs_name_valid_repo(repo))
			return regctl_error("invalid repository name '%s'",
					    REGCTL_NAME(repo));
	}

	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;
	r = rfs_catalog_list_tags(rfs_store_catalog(store), repo, tag_list_add,
				  &rows);
	if (r < 0) {
		ret = regctl_error("cannot list tags: %s", strerror(-r));
		goto out;
	}
	if (versions && rows.nr)
		qsort(rows.v, rows.nr, sizeof(*rows.v), by_version);
	ret = tag_list_print(&rows, json);
out:
	tag_list_release(&rows);
	rfs_store_close(&store);
	return ret;
}
