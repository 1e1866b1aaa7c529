/*
 * cmd-search.c - "regctl search QUERY": tags whose repository, name or
 * annotations (description, author, any key or value) hold QUERY, local
 * and pinned from upstreams alike.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "regctl.h"
#include "tag-list.h"

static const char search_usage[] =
    "usage: regctl search QUERY [--type TYPE] [--all] [--json]\n"
    "\n"
    "List the tags of the store, local and fetched from upstreams, whose\n"
    "repository, tag, or an annotation's key or value holds QUERY (case\n"
    "does not matter), as regctl ls does.\n"
    "\n"
    "  --type TYPE  only artifacts of this type (user.regfs.artifact_type)\n"
    "  --all        yanked tags too\n"
    "  --json       print a JSON array, as regctl ls --json\n"
    "  -h, --help   show this help\n";

int cmd_search(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_TYPE, OPT_ALL, OPT_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct tag_list rows = { .v = NULL };
	struct rfs_store *store = NULL;
	const char *type = NULL;
	bool json = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(search_usage, false);
		case OPT_TYPE: type = optarg; break;
		case OPT_ALL: rows.with_yanked = true; break;
		case OPT_JSON: json = true; break;
		default: return regctl_option_error(argv, c, search_usage);
		}
	}
	if (argc - optind != 1)
		return regctl_usage_error(search_usage, "want one QUERY");
	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		return ret;
	r = rfs_catalog_search(rfs_store_catalog(store), argv[optind], type,
			       rows.with_yanked, tag_list_add, &rows);
	if (r)
		ret = regctl_error("cannot search: %s", strerror(-r));
	else
		ret = tag_list_print(&rows, json);
	tag_list_release(&rows);
	rfs_store_close(&store);
	return ret;
}
