/*
 * cmd-import.c - "regctl import --from KIND SOURCE [--dry-run]": bring a
 * Hades registry, a folder tree, an OCI image layout or a local artifact
 * index into the store (core/import.h decides; this prints what it did).
 *
 * One line per item (imported, already present, skipped and why), then a
 * summary; or, with --json, one JSON object. Exit status 1 when an item
 * could not be imported (a digest mismatch, a broken entry, a name regfs
 * cannot take, a tag holding other content) or the import stopped.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import.h"
#include "config.h"
#include "names.h"
#include "regctl.h"
#include "text.h"

static const char import_usage[] =
    "usage: regctl import --from KIND [--dry-run] [--repo REPO] [--json]\n"
    "                     [--config FILE] SOURCE\n"
    "\n"
    "Bring an existing registry into the store. KIND is one of:\n"
    "\n"
    "  hades   a Hades filesystem registry: SOURCE/<name>/<tag> files\n"
    "  tree    a folder tree: SOURCE/<repo>/<tag> files\n"
    "  oci     an OCI image layout, as skopeo copy ... oci:SOURCE writes\n"
    "  index   a local artifact index: SOURCE/artifacts.json (or SOURCE,\n"
    "          that file), or the legacy components.json when\n"
    "          artifacts.json is missing\n"
    "\n"
    "Each item is verified and sealed as regctl publish seals a file, or\n"
    "as a push stores an image, keeping its digest; a file keeps its\n"
    "executable bit and mtime. A <tag>.sha256 file beside a tag's file and\n"
    "an index entry's digest are what the content must hash to: an item\n"
    "that does not is skipped and named. Tags already holding the item are\n"
    "left alone, so a second run imports nothing. The exit status is 1\n"
    "when an item could not be imported; the others are imported anyway.\n"
    "\n"
    "  --from KIND  the kind of SOURCE (required)\n"
    "  --dry-run    verify everything, report what would be imported, and\n"
    "               change nothing\n"
    "  --repo REPO  oci: import every image into REPO (default: an image\n"
    "               tagged by a bare tag goes to the layout folder's name)\n"
    "  --json       print the report as one JSON object\n"
    "  --config FILE  regfs.conf(5) FILE (default " RFS_CONFIG_DEFAULT_PATH "\n"
    "               when it exists): its seal_hook must say yes to each item\n"
    "  -h, --help   show this help\n";

struct report {
	bool json;
	bool dry_run;
	json_t *items; /* --json */
};

static const char *status_name(const struct rfs_import_item *item, bool dry_run)
{
	switch (item->status) {
	case RFS_IMPORT_IMPORTED: return dry_run ? "would_import" : "imported";
	case RFS_IMPORT_PRESENT: return "present";
	case RFS_IMPORT_SKIPPED: break;
	}
	return "skipped";
}

static int print_item(void *ctx, const struct rfs_import_item *item)
{
	struct report *r = ctx;
	json_t *obj;

	if (r->json) {
		obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "status",
				status_name(item, r->dry_run), "source",
				item->source, "repository", item->repo, "tag",
				item->tag, "digest", item->digest, "size",
				(json_int_t)item->size, "artifact_type",
				item->artifact_type);
		if (obj && item->reason)
			json_object_set_new(obj, "reason",
					    json_string(item->reason));
		if (obj && item->status == RFS_IMPORT_SKIPPED)
			json_object_set_new(obj, "failed",
					    json_boolean(item->failed));
		if (!obj || json_array_append_new(r->items, obj) < 0)
			return -ENOMEM;
		return 0;
	}
	switch (item->status) {
	case RFS_IMPORT_IMPORTED:
		printf("%s %s:%s %s (%s)\n",
		       r->dry_run ? "would import" : "imported", item->repo,
		       item->tag, item->digest, item->source);
		break;
	case RFS_IMPORT_PRESENT:
		printf("present %s:%s %s (%s)\n", item->repo, item->tag,
		       item->digest, item->source);
		break;
	case RFS_IMPORT_SKIPPED:
		printf("skipped %s: %s\n", item->source, item->reason);
		break;
	}
	return 0;
}

static void print_summary(const struct rfs_import_options *opts,
			  const struct rfs_import_summary *sum)
{
	printf("%s '%s'", rfs_import_kind_name(opts->kind),
	       sum->index[0] ? sum->index : opts->source);
	if (sum->legacy)
		printf(" (legacy: artifacts.json is missing)");
	if (opts->dry_run)
		printf(" (dry run, nothing changed): %zu to import",
		       sum->imported);
	else if (sum->imported)
		printf(": %zu imported", sum->imported);
	else
		printf(": nothing imported");
	printf(", %zu already present, %zu skipped", sum->present,
	       sum->skipped);
	if (sum->failed)
		printf(" (%zu failed)", sum->failed);
	putchar('\n');
}

static int print_json(const struct rfs_import_options *opts,
		      const struct rfs_import_summary *sum, json_t *items,
		      const char *error)
{
	json_t *obj = json_pack(
	    "{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:O}", "kind",
	    rfs_import_kind_name(opts->kind), "source", opts->source, "dry_run",
	    opts->dry_run, "imported", (json_int_t)sum->imported, "present",
	    (json_int_t)sum->present, "skipped", (json_int_t)sum->skipped,
	    "failed", (json_int_t)sum->failed, "items", items);
	int ret;

	if (!obj)
		return regctl_error("out of memory");
	if (opts->kind == RFS_IMPORT_INDEX) {
		json_object_set_new(obj, "index",
				    sum->index[0] ? json_string(sum->index)
						  : json_null());
		json_object_set_new(obj, "legacy", json_boolean(sum->legacy));
	}
	if (error)
		json_object_set_new(obj, "error", json_string(error));
	ret = regctl_print_json(obj);
	json_decref(obj);
	return ret;
}

/* A dry run never creates a store, nor opens one for writing: without a
 * store yet, every item is new. */
static int open_store(struct regctl *rc, bool dry_run, struct rfs_store **out)
{
	char root[PATH_MAX], db[PATH_MAX + 16];
	int ret;

	*out = NULL;
	if (!dry_run)
		return regctl_open_store(rc, RFS_STORE_CREATE, out);
	ret = regctl_store_path(rc, root, sizeof(root));
	if (ret)
		return ret;
	snprintf(db, sizeof(db), "%s/catalog.db", root);
	if (access(db, F_OK) != 0 && errno == ENOENT)
		return 0;
	return regctl_open_store(rc, RFS_STORE_READONLY, out);
}

int cmd_import(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_FROM,
		OPT_DRY_RUN,
		OPT_REPO,
		OPT_JSON,
		OPT_CONFIG
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "repo", required_argument, NULL, OPT_REPO },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ NULL, 0, NULL, 0 },
	};
	struct report rep = { .json = false };
	struct rfs_import_options opts = { .fn = print_item, .ctx = &rep };
	struct rfs_import_summary sum;
	struct rfs_store *store = NULL;
	struct rfs_error err = { 0 };
	const char *from = NULL, *config = rc->config_path;
	int c, r, ret = REGCTL_EXIT_OK;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(import_usage, false);
		case OPT_FROM: from = optarg; break;
		case OPT_DRY_RUN: opts.dry_run = true; break;
		case OPT_REPO: opts.repo = optarg; break;
		case OPT_JSON: rep.json = true; break;
		case OPT_CONFIG: config = optarg; break;
		default: return regctl_option_error(argv, c, import_usage);
		}
	}
	if (!from)
		return regctl_usage_error(import_usage,
					  "--from KIND is required (hades, "
					  "tree, oci or index)");
	if (rfs_import_kind_parse(from, &opts.kind) < 0)
		return regctl_usage_error(import_usage,
					  "unknown kind '%s' (want hades, "
					  "tree, oci or index)",
					  from);
	if (opts.repo && opts.kind != RFS_IMPORT_OCI)
		return regctl_usage_error(import_usage,
					  "--repo is for --from oci");
	if (opts.repo && !rfs_name_valid_repo(opts.repo))
		return regctl_error("invalid repository name '%s'",
				    REGCTL_NAME(opts.repo));
	if (argc - optind != 1)
		return regctl_usage_error(
		    import_usage, argc == optind ? "want the SOURCE to import"
						 : "want one SOURCE");
	opts.source = argv[optind];
	rep.dry_run = opts.dry_run;
	if (rep.json && !(rep.items = json_array()))
		return regctl_error("out of memory");

	ret = open_store(rc, opts.dry_run, &store);
	if (ret)
		goto out;
	/* Each item passes the seal hook, as a publish does. */
	if (store && !opts.dry_run) {
		r = rfs_config_policies_from_file(store, config, &err);
		if (r) {
			ret = regctl_error("cannot import from %s '%s': %s",
					   rfs_import_kind_name(opts.kind),
					   opts.source,
					   rfs_error_message(&err, r));
			goto out;
		}
	}
	r = rfs_import(store, &opts, &sum, &err);
	if (rep.json) {
		ret = print_json(&opts, &sum, rep.items,
				 r ? rfs_error_message(&err, r) : NULL);
	} else if (r == 0 || sum.imported || sum.present || sum.skipped) {
		print_summary(&opts, &sum);
		ret = REGCTL_EXIT_OK;
	}
	if (r)
		ret = regctl_error("cannot import from %s '%s': %s",
				   rfs_import_kind_name(opts.kind), opts.source,
				   rfs_error_message(&err, r));
	else if (sum.failed)
		ret = regctl_error("%zu item%s could not be imported: see "
				   "above",
				   sum.failed, sum.failed == 1 ? "" : "s");
out:
	json_decref(rep.items);
	rfs_store_close(&store);
	return ret;
}
