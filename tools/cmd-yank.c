/*
 * cmd-yank.c - "regctl yank REPO:TAG" and "regctl unyank REPO:TAG": hide a
 * tag from listings and searches, or show it again. A yanked tag is still
 * read by its exact name: nothing that depends on it breaks.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "audit.h"
#include "names.h"
#include "regctl.h"

static const char yank_usage[] =
    "usage: regctl yank [--reason TEXT] REPO:TAG\n"
    "       regctl unyank REPO:TAG\n"
    "\n"
    "yank hides a tag from listings (ls, the registry/ folders), from\n"
    "searches and from version ranges; it can still be read by its exact\n"
    "name. Who yanked it (the user running regctl), when and why are\n"
    "kept, and shown by regctl inspect. unyank shows it again and forgets\n"
    "them. Tags are never deleted silently: see regctl rm.\n"
    "\n"
    "  --reason TEXT  why it was yanked\n"
    "  -h, --help     show this help\n";

static int set_yanked(int argc, char **argv, struct regctl *rc, bool yanked)
{
	enum { OPT_REASON = REGCTL_OPT_LONG };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	const char *reason = NULL;
	struct rfs_tag tag = { 0 };
	struct passwd *pw;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (c == 'h')
			return regctl_usage(yank_usage, false);
		if (c == OPT_REASON && !yanked)
			return regctl_usage_error(yank_usage,
						  "unyank takes no --reason");
		if (c == OPT_REASON) {
			reason = optarg;
			continue;
		}
		return regctl_option_error(argv, c, yank_usage);
	}
	if (argc - optind != 1)
		return regctl_usage_error(yank_usage, "want one REPO:TAG");
	if (rfs_ref_parse(argv[optind], repo, sizeof(repo), name,
			  sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(argv[optind]));
	ret = regctl_open_store(rc, 0, &store);
	if (ret)
		return ret;
	pw = getpwuid(getuid());
	rfs_catalog_tag_get(rfs_store_catalog(store), repo, name, &tag);
	r = rfs_catalog_yank(rfs_store_catalog(store), repo, name, yanked,
			     pw ? pw->pw_name : NULL, reason, &err);
	rfs_audit(store, yanked ? RFS_AUDIT_YANK : RFS_AUDIT_UNYANK, r, &err,
		  repo, name, tag.digest);
	if (r)
		ret = regctl_error("%s", rfs_error_message(&err, r));
	else
		printf("%s '%s:%s'\n", yanked ? "yanked" : "unyanked", repo,
		       name);
	rfs_store_close(&store);
	return ret;
}

int cmd_yank(int argc, char **argv, struct regctl *rc)
{
	return set_yanked(argc, argv, rc, true);
}

int cmd_unyank(int argc, char **argv, struct regctl *rc)
{
	return set_yanked(argc, argv, rc, false);
}
