/*
 * tag-list.h - tags collected from the catalog and printed as a table or as
 * JSON ({repository, tag, digest, size, created, origin, artifact_type,
 * yanked}); shared by "regctl ls" and "regctl search".
 */
#ifndef REGCTL_TAG_LIST_H
#define REGCTL_TAG_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "regctl.h"

struct tag_row {
	char *repo;
	char *tag;
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
	int64_t created_ns;
	bool yanked;
	char origin[RFS_ORIGIN_MAX + 1];
	char artifact_type[RFS_ARTIFACT_TYPE_MAX + 1];
};

struct tag_list {
	struct tag_row *v;
	size_t nr, alloc;
	bool with_yanked; /* keep yanked tags (left out by default) */
};

/* An rfs_tag_fn: add a tag to the list (ctx is the struct tag_list). */
int tag_list_add(void *ctx, const struct rfs_tag *tag);
int tag_list_print(const struct tag_list *rows, bool json);
void tag_list_release(struct tag_list *rows);

#endif
