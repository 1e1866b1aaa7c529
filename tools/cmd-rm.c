/*
 * cmd-rm.c - "regctl rm --force REPO:TAG": remove a local tag. Tags are
 * immutable and never deleted silently, so it takes --force; a tag pinned
 * from an upstream is not ours to remove. The blob stays until regctl gc.
 */
#include <getopt.h>
#include <stdio.h>

#include "audit.h"
#include "names.h"
#include "regctl.h"

static const char rm_usage[] =
    "usage: regctl rm --force REPO:TAG\n"
    "\n"
    "Remove a tag published here. Its content stays in the store until\n"
    "regctl gc finds nothing else needs it. Files open on it read on, but a\n"
    "mount stops showing it. Without --force nothing is removed: consider\n"
    "regctl yank, which hides a tag but keeps it readable.\n"
    "\n"
    "  --force     really remove it\n"
    "  -h, --help  show this help\n";

int cmd_rm(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_FORCE };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_tag tag = { 0 };
	bool force = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":hf", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(rm_usage, false);
		case 'f':
		case OPT_FORCE: force = true; break;
		default: return regctl_option_error(argv, c, rm_usage);
		}
	}
	if (argc - optind != 1)
		return regctl_usage_error(rm_usage, "want one REPO:TAG");
	if (rfs_ref_parse(argv[optind], repo, sizeof(repo), name,
			  sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(argv[optind]));
	if (!force)
		return regctl_error(
		    "not removing '%s:%s' without --force "
		    "(tags are immutable; regctl yank hides one)",
		    repo, name);
	ret = regctl_open_store(rc, 0, &store);
	if (ret)
		return ret;
	rfs_catalog_tag_get(rfs_store_catalog(store), repo, name, &tag);
	r = rfs_catalog_remove_tag(rfs_store_catalog(store), repo, name, &err);
	rfs_audit(store, RFS_AUDIT_REMOVE, r, &err, repo, name, tag.digest);
	if (r)
		ret = regctl_error("%s", rfs_error_message(&err, r));
	else
		printf("removed '%s:%s'\n", repo, name);
	rfs_store_close(&store);
	return ret;
}
