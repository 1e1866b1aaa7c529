/*
 * cmd-gc.c - "regctl gc [--dry-run] [--max-share PCT] [--force]": remove the
 * blobs no tag needs. Safe while the store is mounted and publishing (see
 * core/gc.h); refuses to take most of a store unless told to.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc.h"
#include "regctl.h"

static const char gc_usage[] =
    "usage: regctl gc [--dry-run] [--max-share PCT] [--force]\n"
    "\n"
    "Remove from the store the blobs no tag, layer or manifest names (left\n"
    "by regctl rm, or by a crash between storing a blob and recording its\n"
    "tag). It is safe while the store is mounted and publishing: no blob an\n"
    "unfinished seal or fetch needs is removed, and open files read on.\n"
    "A gc that would remove more than PCT percent of the store's blobs\n"
    "removes nothing and fails: that many unneeded blobs usually mean a\n"
    "catalog that lost its tags (deleted, replaced, an old copy put back;\n"
    "see regctl fsck), not garbage.\n"
    "\n"
    "  -n, --dry-run      only say what would be removed\n"
    "  --max-share PCT    the most of the store's blobs, in percent, one gc\n"
    "                     may remove (default 50)\n"
    "  -f, --force        remove every unneeded blob, however many\n"
    "  -h, --help         show this help\n";

static void removed(void *ctx, const char *digest, uint64_t size)
{
	const bool *dry_run = ctx;

	printf("%s %s (%" PRIu64 " bytes)\n",
	       *dry_run ? "would remove" : "removed", digest, size);
}

int cmd_gc(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_DRY_RUN,
		OPT_MAX_SHARE,
		OPT_FORCE
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "max-share", required_argument, NULL, OPT_MAX_SHARE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_gc_options opts = { .max_share = RFS_GC_MAX_SHARE_DEFAULT };
	bool force = false;
	char *end;
	long pct;
	struct rfs_gc_report report;
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	bool dry_run = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":hnf", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(gc_usage, false);
		case 'n':
		case OPT_DRY_RUN: dry_run = true; break;
		case 'f':
		case OPT_FORCE: force = true; break;
		case OPT_MAX_SHARE:
			pct = strtol(optarg, &end, 10);
			if (end == optarg || (*end && strcmp(end, "%") != 0) ||
			    pct < 0 || pct > 100)
				return regctl_usage_error(
				    gc_usage,
				    "--max-share takes a percentage from 0 "
				    "to 100, not '%s'",
				    optarg);
			opts.max_share = (unsigned)pct;
			break;
		default: return regctl_option_error(argv, c, gc_usage);
		}
	}
	if (optind != argc)
		return regctl_usage_error(gc_usage, "unexpected argument '%s'",
					  argv[optind]);
	ret = regctl_open_store(rc, 0, &store);
	if (ret)
		return ret;
	opts.dry_run = dry_run;
	if (force)
		opts.max_share = 100;
	r = rfs_gc_with(store, &opts, removed, &dry_run, &report, &err);
	if (r) {
		ret =
		    regctl_error("gc stopped: %s", rfs_error_message(&err, r));
	} else {
		printf("%s %" PRIu64 " blobs, %" PRIu64 " bytes\n",
		       dry_run ? "would free" : "freed", report.blobs_removed,
		       report.bytes_freed);
		ret = REGCTL_EXIT_OK;
	}
	rfs_store_close(&store);
	return ret;
}
