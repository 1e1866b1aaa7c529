/*
 * cmd-fsck.c - "regctl fsck [--json]": re-hash every blob of a store and
 * report what does not match the catalog.
 *
 * The checking is core's (rfs_fsck()); this prints one line per problem as it
 * is found, then a summary. A missing or corrupt blob is damage and makes
 * the exit status 1; an orphan blob (no tag references it, as after a crash
 * between storing a blob and committing its tag) or a stray file is reported
 * but is not damage, like git fsck's dangling objects.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fsck.h"
#include "regctl.h"

static const char fsck_usage[] =
    "usage: regctl fsck [--json]\n"
    "\n"
    "Re-hash every blob in the store and check it against the catalog.\n"
    "Report missing blobs (named by a tag, no file), corrupt blobs (content\n"
    "that does not hash to the name), orphan blobs (no tag references them;\n"
    "not damage), unrecorded blobs (older than the catalog and unknown to\n"
    "it: a catalog made anew or replaced, which lost their tags) and stray\n"
    "files. Exit 1 when a blob is missing, corrupt, unreadable or\n"
    "unrecorded.\n"
    "\n"
    "  --json      print one JSON object: the problems and the counts\n"
    "  -h, --help  show this help\n";

struct fsck_state {
	const char *blobs_dir; /* stray files are named relative to it */
	json_t *problems;      /* with --json, else NULL */
	bool oom;
};

static const char *const problem_names[] = {
	[RFS_FSCK_MISSING] = "missing",
	[RFS_FSCK_CORRUPT] = "corrupt",
	[RFS_FSCK_ORPHAN] = "orphan",
	[RFS_FSCK_STRAY] = "stray",
	[RFS_FSCK_UNREADABLE] = "unreadable",
	[RFS_FSCK_UNRECORDED] = "unrecorded",
};

static void fsck_print_problem(const struct fsck_state *st,
			       enum rfs_fsck_problem problem,
			       const char *digest, const char *detail)
{
	switch (problem) {
	case RFS_FSCK_MISSING: printf("missing blob %s\n", digest); break;
	case RFS_FSCK_CORRUPT:
		printf("corrupt blob %s (content hashes to %s)\n", digest,
		       detail ? detail : "?");
		break;
	case RFS_FSCK_ORPHAN:
		printf("orphan blob %s (no tag references it; not damage)\n",
		       digest);
		break;
	case RFS_FSCK_UNREADABLE:
		printf("unreadable blob %s (%s)\n", digest, detail);
		break;
	case RFS_FSCK_STRAY: /* any name someone left in blobs/ */
		printf("stray file %s/%s\n", st->blobs_dir,
		       REGCTL_NAME(digest));
		break;
	case RFS_FSCK_UNRECORDED:
		printf("unrecorded blob %s (older than the catalog, which does "
		       "not know it)\n",
		       digest);
		break;
	}
}

static json_t *fsck_problem_json(const struct fsck_state *st,
				 enum rfs_fsck_problem problem,
				 const char *digest, const char *detail)
{
	if (problem == RFS_FSCK_STRAY)
		return json_pack("{s:s, s:s++}", "problem",
				 problem_names[problem], "file", st->blobs_dir,
				 "/", digest);
	if (problem == RFS_FSCK_CORRUPT && detail)
		return json_pack("{s:s, s:s, s:s}", "problem",
				 problem_names[problem], "digest", digest,
				 "actual", detail);
	if (problem == RFS_FSCK_UNREADABLE)
		return json_pack("{s:s, s:s, s:s}", "problem",
				 problem_names[problem], "digest", digest,
				 "error", detail);
	return json_pack("{s:s, s:s}", "problem", problem_names[problem],
			 "digest", digest);
}

static void fsck_problem(void *ctx, enum rfs_fsck_problem problem,
			 const char *digest, const char *detail)
{
	struct fsck_state *st = ctx;
	json_t *obj;

	if (!digest)
		digest = "?";
	if (!st->problems) {
		fsck_print_problem(st, problem, digest, detail);
		return;
	}
	obj = fsck_problem_json(st, problem, digest, detail);
	if (!obj || json_array_append_new(st->problems, obj) < 0)
		st->oom = true;
}

static bool fsck_damaged(const struct rfs_fsck_report *report)
{
	return report->missing > 0 || report->corrupt > 0 ||
	       report->unreadable > 0 || report->unrecorded > 0;
}

static int fsck_print_json(struct fsck_state *st,
			   const struct rfs_fsck_report *report)
{
	json_t *obj;
	int ret;

	/* "O": the object takes a reference of its own to the array. */
	obj = json_pack(
	    "{s:O, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "problems",
	    st->problems, "blobs_checked", (json_int_t)report->blobs_checked,
	    "bytes_checked", (json_int_t)report->bytes_checked, "missing",
	    (json_int_t)report->missing, "corrupt", (json_int_t)report->corrupt,
	    "orphans", (json_int_t)report->orphans, "strays",
	    (json_int_t)report->strays, "unreadable",
	    (json_int_t)report->unreadable, "unrecorded",
	    (json_int_t)report->unrecorded, "damaged",
	    (int)fsck_damaged(report));
	if (!obj)
		return regctl_error("out of memory");
	ret = regctl_print_json(obj);
	json_decref(obj);
	return ret;
}

int cmd_fsck(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct fsck_state st = { .blobs_dir = NULL };
	struct rfs_fsck_report report;
	struct rfs_store *store = NULL;
	struct rfs_error err;
	bool json = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(fsck_usage, false);
		case OPT_JSON: json = true; break;
		default: return regctl_option_error(argv, c, fsck_usage);
		}
	}
	if (optind < argc)
		return regctl_usage_error(
		    fsck_usage, "unexpected argument '%s'", argv[optind]);

	if (json) {
		st.problems = json_array();
		if (!st.problems)
			return regctl_error("out of memory");
	}
	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;

	st.blobs_dir = rfs_store_blobs_dir(store);
	rfs_error_clear(&err);
	memset(&report, 0, sizeof(report));
	r = rfs_fsck(store, fsck_problem, &st, &report, &err);
	if (r < 0) {
		ret = regctl_error("fsck of '%s' stopped: %s",
				   rfs_store_root(store),
				   rfs_error_message(&err, r));
		goto out;
	}
	if (st.oom) {
		ret = regctl_error("out of memory");
		goto out;
	}

	if (json) {
		ret = fsck_print_json(&st, &report);
		if (ret)
			goto out;
	} else {
		printf("checked %" PRIu64 " blobs (%" PRIu64 " bytes): %" PRIu64
		       " missing, %" PRIu64 " corrupt, %" PRIu64 " orphans\n",
		       report.blobs_checked, report.bytes_checked,
		       report.missing, report.corrupt, report.orphans);
		if (report.unreadable)
			printf("%" PRIu64 " blobs could not be read\n",
			       report.unreadable);
		if (report.unrecorded)
			printf("%" PRIu64 " blobs are older than the catalog "
			       "and unknown to it: the catalog was made anew "
			       "or replaced and lost their tags; restore it "
			       "from a backup (regctl restore), and do not run "
			       "regctl gc\n",
			       report.unrecorded);
	}
	ret = fsck_damaged(&report) ? REGCTL_EXIT_FAILURE : REGCTL_EXIT_OK;
out:
	json_decref(st.problems);
	rfs_store_close(&store);
	return ret;
}
