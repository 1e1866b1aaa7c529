/*
 * cmd-ls.c - "regctl ls [REPO] [--json]": the sealed tags of a store, or of
 * one repository, as a table like "docker images" or as a JSON array.
 *
 * The whole listing is read before anything is printed, so that the table's
 * columns fit and a failure midway prints no partial output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "names.h"
#include "regctl.h"

/* "sha256:" and the first 12 hex digits, as docker shortens image ids. */
#define SHORT_HEX_LEN 12

static const char ls_usage[] =
    "usage: regctl ls [REPO] [--json]\n"
    "\n"
    "List sealed tags, sorted by repository and tag: all of them, or those of\n"
    "repository REPO. Times are UTC.\n"
    "\n"
    "  --json      print a JSON array of {repository, tag, digest, size,\n"
    "              created}: full digests, sizes in bytes, RFC 3339 times\n"
    "  -h, --help  show this help\n";

struct ls_row {
	char *repo;
	char *tag;
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
	int64_t created_ns;
};

struct ls_rows {
	struct ls_row *v;
	size_t nr, alloc;
};

static void ls_rows_release(struct ls_rows *rows)
{
	for (size_t i = 0; i < rows->nr; i++) {
		free(rows->v[i].repo);
		free(rows->v[i].tag);
	}
	free(rows->v);
	rows->v = NULL;
	rows->nr = rows->alloc = 0;
}

static int ls_collect(void *ctx, const struct rfs_tag *tag)
{
	struct ls_rows *rows = ctx;
	struct ls_row *row;

	if (rows->nr == rows->alloc) {
		size_t alloc = rows->alloc ? rows->alloc * 2 : 64;
		struct ls_row *v = realloc(rows->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rows->v = v;
		rows->alloc = alloc;
	}
	row = &rows->v[rows->nr];
	row->repo = strdup(tag->repo);
	row->tag = strdup(tag->name);
	if (!row->repo || !row->tag) {
		free(row->repo);
		free(row->tag);
		return -ENOMEM;
	}
	snprintf(row->digest, sizeof(row->digest), "%s", tag->digest);
	row->size = tag->size;
	row->created_ns = tag->created_ns;
	rows->nr++;
	return 0;
}

static void ls_print_table(const struct ls_rows *rows)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	char size[REGCTL_SIZE_STR_MAX];
	char created[REGCTL_TIME_STR_MAX];
	int repo_width = (int)strlen("REPOSITORY");
	int tag_width = (int)strlen("TAG");
	int digest_width = (int)strlen("sha256:") + SHORT_HEX_LEN;
	int size_width = (int)strlen("SIZE");

	for (size_t i = 0; i < rows->nr; i++) {
		int len = (int)strlen(rows->v[i].repo);

		if (len > repo_width)
			repo_width = len;
		len = (int)strlen(rows->v[i].tag);
		if (len > tag_width)
			tag_width = len;
		regctl_format_size(rows->v[i].size, size);
		len = (int)strlen(size);
		if (len > size_width)
			size_width = len;
	}

	printf("%-*s   %-*s   %-*s   %-*s   %s\n", repo_width, "REPOSITORY",
	       tag_width, "TAG", digest_width, "DIGEST", size_width, "SIZE",
	       "CREATED");
	for (size_t i = 0; i < rows->nr; i++) {
		const struct ls_row *row = &rows->v[i];

		snprintf(digest, sizeof(digest), "%.*s", digest_width,
			 row->digest);
		regctl_format_size(row->size, size);
		regctl_format_time(row->created_ns, REGCTL_TIME_TABLE, created);
		printf("%-*s   %-*s   %-*s   %-*s   %s\n", repo_width,
		       row->repo, tag_width, row->tag, digest_width, digest,
		       size_width, size, created);
	}
}

static int ls_print_json(const struct ls_rows *rows)
{
	char created[REGCTL_TIME_STR_MAX];
	json_t *array = json_array();
	int ret = REGCTL_EXIT_FAILURE;

	if (!array)
		goto oom;
	for (size_t i = 0; i < rows->nr; i++) {
		const struct ls_row *row = &rows->v[i];
		json_t *obj;

		regctl_format_time(row->created_ns, REGCTL_TIME_RFC3339,
				   created);
		obj = json_pack("{s:s, s:s, s:s, s:I, s:s}", "repository",
				row->repo, "tag", row->tag, "digest",
				row->digest, "size", (json_int_t)row->size,
				"created", created);
		if (!obj || json_array_append_new(array, obj) < 0)
			goto oom;
	}
	ret = regctl_print_json(array);
	goto out;
oom:
	regctl_error("out of memory");
out:
	json_decref(array);
	return ret;
}

int cmd_ls(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_store *store = NULL;
	struct ls_rows rows = { .v = NULL };
	const char *repo = NULL;
	bool json = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(ls_usage, false);
		case OPT_JSON: json = true; break;
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
					    repo);
	}

	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;
	r = rfs_catalog_list_tags(rfs_store_catalog(store), repo, ls_collect,
				  &rows);
	if (r < 0) {
		ret = regctl_error("cannot list tags: %s", strerror(-r));
		goto out;
	}
	if (json) {
		ret = ls_print_json(&rows);
	} else {
		ls_print_table(&rows);
		ret = REGCTL_EXIT_OK;
	}
out:
	ls_rows_release(&rows);
	rfs_store_close(&store);
	return ret;
}
