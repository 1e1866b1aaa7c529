/*
 * tag-list.c - a list of tags printed as "regctl ls" and "regctl search"
 * print it: a table like "docker images", or a JSON array.
 *
 * The whole list is read before anything is printed, so that the table's
 * columns fit and a failure midway prints no partial output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tag-list.h"

/* How a yanked tag is marked in the table. */
#define YANKED " (yanked)"

void tag_list_release(struct tag_list *rows)
{
	for (size_t i = 0; i < rows->nr; i++) {
		free(rows->v[i].repo);
		free(rows->v[i].tag);
	}
	free(rows->v);
	rows->v = NULL;
	rows->nr = rows->alloc = 0;
}

void tag_short_digest(const char *digest, char buf[TAG_SHORT_DIGEST_MAX])
{
	snprintf(buf, TAG_SHORT_DIGEST_MAX, "%.*s",
		 (int)TAG_SHORT_DIGEST_MAX - 1, digest);
}

void tag_fields_format(const struct rfs_tag *tag, struct tag_fields *out)
{
	regctl_format_time(tag->created_ns, REGCTL_TIME_RFC3339, out->created);
	rfs_manifest_format_mode(tag->mode, out->mode);
	if (rfs_manifest_format_time(tag->mtime_ns, out->mtime) < 0)
		snprintf(out->mtime, sizeof(out->mtime), "?");
}

int tag_list_add(void *ctx, const struct rfs_tag *tag)
{
	struct tag_list *rows = ctx;
	struct tag_row *row;

	if (tag->yanked && !rows->with_yanked)
		return 0;
	if (rows->type && strcmp(tag->artifact_type, rows->type) != 0)
		return 0;
	if (rows->nr == rows->alloc) {
		size_t alloc = rows->alloc ? rows->alloc * 2 : 64;
		struct tag_row *v = realloc(rows->v, alloc * sizeof(*v));

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
	row->yanked = tag->yanked;
	snprintf(row->origin, sizeof(row->origin), "%s", tag->origin);
	snprintf(row->artifact_type, sizeof(row->artifact_type), "%s",
		 tag->artifact_type);
	rows->nr++;
	return 0;
}

static void print_table(const struct tag_list *rows)
{
	char digest[TAG_SHORT_DIGEST_MAX];
	char size[REGCTL_SIZE_STR_MAX];
	char created[REGCTL_TIME_STR_MAX];
	char tag[RFS_TAG_MAX + sizeof(YANKED) + 1];
	int repo_width = (int)strlen("REPOSITORY");
	int tag_width = (int)strlen("TAG");
	int digest_width = (int)TAG_SHORT_DIGEST_MAX - 1;
	int size_width = (int)strlen("SIZE");

	for (size_t i = 0; i < rows->nr; i++) {
		int len = (int)strlen(rows->v[i].repo);

		if (len > repo_width)
			repo_width = len;
		len = (int)strlen(rows->v[i].tag) +
		      (rows->v[i].yanked ? (int)strlen(YANKED) : 0);
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
		const struct tag_row *row = &rows->v[i];

		tag_short_digest(row->digest, digest);
		regctl_format_size(row->size, size);
		regctl_format_time(row->created_ns, REGCTL_TIME_TABLE, created);
		snprintf(tag, sizeof(tag), "%s%s", row->tag,
			 row->yanked ? YANKED : "");
		printf("%-*s   %-*s   %-*s   %-*s   %s\n", repo_width,
		       row->repo, tag_width, tag, digest_width, digest,
		       size_width, size, created);
	}
}

static int print_json(const struct tag_list *rows)
{
	char created[REGCTL_TIME_STR_MAX];
	json_t *array = json_array();
	int ret = REGCTL_EXIT_FAILURE;

	if (!array)
		goto oom;
	for (size_t i = 0; i < rows->nr; i++) {
		const struct tag_row *row = &rows->v[i];
		json_t *obj;

		regctl_format_time(row->created_ns, REGCTL_TIME_RFC3339,
				   created);
		obj = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:b}",
				"repository", row->repo, "tag", row->tag,
				"digest", row->digest, "size",
				(json_int_t)row->size, "created", created,
				"origin", row->origin, "artifact_type",
				row->artifact_type, "yanked", row->yanked);
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

int tag_list_print(const struct tag_list *rows, bool json)
{
	if (json)
		return print_json(rows);
	print_table(rows);
	return REGCTL_EXIT_OK;
}
