/*
 * tag-list.h - tags collected from the catalog and printed as a table or as
 * JSON ({repository, tag, digest, size, created, origin, artifact_type,
 * yanked}); shared by "regctl ls" and "regctl search". Also the text of a
 * tag's fields, the same in ls, inspect and the pages of regctl serve.
 */
#ifndef REGCTL_TAG_LIST_H
#define REGCTL_TAG_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "manifest.h"
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
	const char *type; /* only tags of this artifact type, or NULL */
};

/* "sha256:" and the first 12 hex digits, as docker shortens image ids. */
#define TAG_SHORT_HEX_LEN    12
#define TAG_SHORT_DIGEST_MAX (sizeof("sha256:") - 1 + TAG_SHORT_HEX_LEN + 1)
void tag_short_digest(const char *digest, char buf[TAG_SHORT_DIGEST_MAX]);

/* A tag's times and mode as regctl shows them: created to the second
 * (RFC 3339, UTC), the mode ("0755" or "0644"), the mtime as push writes it
 * (UTC, nanoseconds; "?" when it cannot be written). */
struct tag_fields {
	char created[REGCTL_TIME_STR_MAX];
	char mode[RFS_MODE_STR_MAX];
	char mtime[RFS_TIME_STR_MAX];
};
void tag_fields_format(const struct rfs_tag *tag, struct tag_fields *out);

/* An rfs_tag_fn: add a tag to the list (ctx is the struct tag_list). */
int tag_list_add(void *ctx, const struct rfs_tag *tag);
int tag_list_print(const struct tag_list *rows, bool json);
void tag_list_release(struct tag_list *rows);

#endif
