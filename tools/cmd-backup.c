/*
 * cmd-backup.c - "regctl backup DEST" and "regctl --store TARGET restore
 * SRC": a consistent copy of a store in use, and a copy brought back as a
 * store, then checked. The steps and why they keep a copy whole are
 * core's (backup.h); this prints what they did.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "fsck.h"
#include "regctl.h"

static const char backup_usage[] =
    "usage: regctl backup [--copy] [--verify] [--force] [-v] [--json] DEST\n"
    "\n"
    "Copy the store into DEST, a store of its own (regctl --store DEST reads\n"
    "it), while it is mounted and publishing: the catalog as one snapshot\n"
    "(SQLite's online backup), then every blob it names, hard-linked when\n"
    "DEST is on the same file system, else copied and verified. DEST is an\n"
    "empty or new folder, or an earlier backup, which is brought up to date\n"
    "(blobs it has are kept, blobs no longer named are removed). If a blob\n"
    "fails, DEST keeps the catalog it had; exit 1.\n"
    "\n"
    "  --copy         copy every blob, never hard-link\n"
    "  --verify       also re-hash the blobs linked or already in DEST\n"
    "  --force        write into a store that is not a backup (replacing it)\n"
    "  -v, --verbose  one line per blob\n"
    "  --json         print the summary as one JSON object\n"
    "  -h, --help     show this help\n";

static const char restore_usage[] =
    "usage: regctl [--store TARGET] restore [--force] [--copy] [--verify]\n"
    "                                       [--no-fsck] [-v] [--json] SRC\n"
    "\n"
    "Bring the backup SRC back as the store TARGET (--store, or the\n"
    "default), then fsck it. TARGET must be missing, an empty folder or an\n"
    "empty store; --force replaces the content of a store. Never while\n"
    "TARGET is mounted, served or open in another regctl. NFS file handles\n"
    "given out by an earlier store there go stale.\n"
    "\n"
    "  --force        replace a store that is not empty\n"
    "  --copy         copy every blob, never hard-link\n"
    "  --verify       also re-hash the blobs linked or already in TARGET\n"
    "  --no-fsck      do not check the result (regctl fsck does)\n"
    "  -v, --verbose  one line per blob\n"
    "  --json         print the summary as one JSON object\n"
    "  -h, --help     show this help\n";

struct backup_cli {
	bool verbose;
	struct rfs_backup_options opts;
	bool json;
	bool no_fsck;
};

static const char *const event_names[] = {
	[RFS_BACKUP_LINKED] = "linked",	  [RFS_BACKUP_COPIED] = "copied",
	[RFS_BACKUP_KEPT] = "kept",	  [RFS_BACKUP_ABSENT] = "absent",
	[RFS_BACKUP_REMOVED] = "removed", [RFS_BACKUP_FAILED] = "failed",
};

static void on_blob(void *ctx, enum rfs_backup_event event, const char *digest,
		    uint64_t size, const char *detail)
{
	const struct backup_cli *cli = ctx;

	if (event == RFS_BACKUP_FAILED)
		regctl_error("%s", detail);
	else if (cli->verbose && !cli->json)
		printf("%s %s (%" PRIu64 " bytes)\n", event_names[event],
		       digest, size);
}

/* parse() found nothing that ends the command. */
#define GO_ON (-1)

/* Options both commands take: GO_ON, or an exit status (--help, a bad
 * command line). */
static int parse(int argc, char **argv, const char *usage, bool restore,
		 struct backup_cli *cli)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_COPY,
		OPT_VERIFY,
		OPT_FORCE,
		OPT_VERBOSE,
		OPT_JSON,
		OPT_NO_FSCK,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "copy", no_argument, NULL, OPT_COPY },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "no-fsck", no_argument, NULL, OPT_NO_FSCK },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, ":hv", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(usage, false);
		case OPT_COPY: cli->opts.copy = true; break;
		case OPT_VERIFY: cli->opts.verify = true; break;
		case OPT_FORCE: cli->opts.force = true; break;
		case 'v':
		case OPT_VERBOSE: cli->verbose = true; break;
		case OPT_JSON: cli->json = true; break;
		case OPT_NO_FSCK:
			if (restore) {
				cli->no_fsck = true;
				break;
			}
			optopt = 0; /* unknown to backup */
			return regctl_option_error(argv, '?', usage);
		default: return regctl_option_error(argv, c, usage);
		}
	}
	if (argc - optind != 1)
		return regctl_usage_error(usage, "want one %s",
					  restore ? "SRC" : "DEST");
	cli->opts.fn = on_blob;
	cli->opts.ctx = cli;
	return GO_ON;
}

/* The blobs that failed were each named as they failed (on_blob). */
static const char *failures(const struct rfs_backup_report *r)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%" PRIu64 " blob%s could not be taken",
		 r->failed, r->failed == 1 ? "" : "s");
	return buf;
}

static void print_summary(const char *verb, const char *from, const char *to,
			  const struct rfs_backup_report *r)
{
	char when[REGCTL_TIME_STR_MAX], size[REGCTL_SIZE_STR_MAX];
	char copied[REGCTL_SIZE_STR_MAX];

	regctl_format_time(r->snapshot_ns, REGCTL_TIME_TABLE, when);
	regctl_format_size(r->bytes, size);
	regctl_format_size(r->bytes_copied, copied);
	printf("%s '%s' as of %s UTC into '%s': %" PRIu64 " tags, %" PRIu64
	       " blobs (%s)\n",
	       verb, from, when, to, r->tags, r->blobs, size);
	printf("blobs: %" PRIu64 " linked, %" PRIu64 " copied (%s), %" PRIu64
	       " already there, %" PRIu64 " absent (fetched, not in the "
	       "store), %" PRIu64 " removed\n",
	       r->linked, r->copied, copied, r->kept, r->absent, r->removed);
}

static json_t *summary_json(const char *from, const char *to,
			    const struct rfs_backup_report *r)
{
	char when[REGCTL_TIME_STR_MAX];

	regctl_format_time(r->snapshot_ns, REGCTL_TIME_RFC3339, when);
	return json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}",
	    "source", from, "destination", to, "snapshot", when, "tags",
	    (json_int_t)r->tags, "blobs", (json_int_t)r->blobs, "bytes",
	    (json_int_t)r->bytes, "linked", (json_int_t)r->linked, "copied",
	    (json_int_t)r->copied, "bytes_copied", (json_int_t)r->bytes_copied,
	    "kept", (json_int_t)r->kept, "absent", (json_int_t)r->absent,
	    "removed", (json_int_t)r->removed);
}

static int print_json(json_t *obj)
{
	int ret;

	if (!obj)
		return regctl_error("out of memory");
	ret = regctl_print_json(obj);
	json_decref(obj);
	return ret;
}

int cmd_backup(int argc, char **argv, struct regctl *rc)
{
	struct backup_cli cli = { .verbose = false };
	struct rfs_backup_report report;
	struct rfs_store *store = NULL;
	struct rfs_error err = { 0 };
	const char *dest;
	int ret, r;

	ret = parse(argc, argv, backup_usage, false, &cli);
	if (ret != GO_ON)
		return ret;
	dest = argv[optind];
	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		return ret;
	r = rfs_backup(store, dest, &cli.opts, &report, &err);
	if (r && report.failed) {
		ret = regctl_error("backup into '%s' failed: %s; it keeps the "
				   "catalog it had",
				   dest, failures(&report));
	} else if (r) {
		ret = regctl_error("backup into '%s' failed: %s", dest,
				   rfs_error_message(&err, r));
	} else if (cli.json) {
		ret = print_json(
		    summary_json(rfs_store_root(store), dest, &report));
	} else {
		print_summary("backed up", rfs_store_root(store), dest,
			      &report);
	}
	rfs_store_close(&store);
	return ret;
}

static void on_problem(void *ctx, enum rfs_fsck_problem problem,
		       const char *digest, const char *detail)
{
	static const char *const names[] = {
		[RFS_FSCK_MISSING] = "missing blob",
		[RFS_FSCK_CORRUPT] = "corrupt blob",
		[RFS_FSCK_ORPHAN] = "orphan blob",
		[RFS_FSCK_STRAY] = "stray file",
		[RFS_FSCK_UNREADABLE] = "unreadable blob",
	};

	(void)ctx;
	fprintf(stderr, "regctl: fsck: %s %s%s%s%s\n", names[problem],
		digest ? REGCTL_NAME(digest) : "?", detail ? " (" : "",
		detail ? detail : "", detail ? ")" : "");
}

/* The check a restore ends with: 0 when clean, else an exit status. */
static int check_target(const char *target, bool json, json_t *summary)
{
	struct rfs_fsck_report f;
	struct rfs_store *store = NULL;
	struct rfs_error err = { 0 };
	bool damaged;
	int r;

	r = rfs_store_open(target, RFS_STORE_READONLY, &store, &err);
	if (!r)
		r = rfs_fsck(store, on_problem, NULL, &f, &err);
	rfs_store_close(&store);
	if (r)
		return regctl_error("fsck of '%s' stopped: %s", target,
				    rfs_error_message(&err, r));
	damaged = f.missing || f.corrupt || f.unreadable;
	if (json) {
		json_t *obj = json_pack(
		    "{s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "blobs_checked",
		    (json_int_t)f.blobs_checked, "bytes_checked",
		    (json_int_t)f.bytes_checked, "missing",
		    (json_int_t)f.missing, "corrupt", (json_int_t)f.corrupt,
		    "orphans", (json_int_t)f.orphans, "unreadable",
		    (json_int_t)f.unreadable, "damaged", (int)damaged);

		if (!obj || json_object_set_new(summary, "fsck", obj) < 0)
			return regctl_error("out of memory");
	} else {
		printf("fsck: checked %" PRIu64 " blobs (%" PRIu64
		       " bytes): %" PRIu64 " missing, %" PRIu64
		       " corrupt, %" PRIu64 " orphans\n",
		       f.blobs_checked, f.bytes_checked, f.missing, f.corrupt,
		       f.orphans);
	}
	if (damaged)
		return regctl_error("the restored store '%s' is damaged",
				    target);
	return REGCTL_EXIT_OK;
}

int cmd_restore(int argc, char **argv, struct regctl *rc)
{
	struct backup_cli cli = { .verbose = false };
	struct rfs_backup_report report;
	struct rfs_error err = { 0 };
	char target[PATH_MAX];
	json_t *summary = NULL;
	const char *src;
	int ret, r;

	ret = parse(argc, argv, restore_usage, true, &cli);
	if (ret != GO_ON)
		return ret;
	src = argv[optind];
	ret = regctl_store_path(rc, target, sizeof(target));
	if (ret)
		return ret;
	r = rfs_restore(src, target, &cli.opts, &report, &err);
	if (r && report.failed)
		return regctl_error("restore of '%s' failed: %s; '%s' keeps "
				    "what it had",
				    src, failures(&report), target);
	if (r)
		return regctl_error("restore of '%s' failed: %s", src,
				    rfs_error_message(&err, r));
	if (cli.json) {
		summary = summary_json(src, target, &report);
		if (!summary)
			return regctl_error("out of memory");
	} else {
		print_summary("restored", src, target, &report);
	}
	if (cli.no_fsck) {
		if (!cli.json)
			printf("not checked: run regctl --store '%s' fsck\n",
			       target);
	} else {
		ret = check_target(target, cli.json, summary);
	}
	if (summary) {
		int pr = print_json(summary);

		if (!ret)
			ret = pr;
	}
	return ret;
}
