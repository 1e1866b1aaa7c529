/*
 * xattr.c - extended attributes, the FUSE side.
 *
 * What a node of registry/ shows: a tag's digest, repository, name, seal
 * time, origin, artifact type and annotations; a layer's or manifest's
 * digest. What a file in incoming/ takes: "user.regfs.annotation.<key>" and
 * "user.regfs.artifact_type", kept by core for its seal. Nothing else takes
 * any: registry/ refuses with EROFS, incoming/ folders with ENOTSUP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inode.h"
#include "regfs.h"

static struct rfs_incoming *incoming_of(fuse_req_t req)
{
	return ((struct regfs *)fuse_req_userdata(req))->incoming;
}

/* Extended attributes as "name\0value\0" pairs, built for one request. */
struct xattrs {
	char *buf;
	size_t len, cap;
	int rc;
};

static void xattr_add(struct xattrs *x, const char *prefix, const char *name,
		      const char *value)
{
	size_t need = strlen(prefix) + strlen(name) + strlen(value) + 2;

	if (x->rc)
		return;
	if (x->len + need > x->cap) {
		size_t cap = (x->cap ? x->cap * 2 : 1024) + need;
		char *p = realloc(x->buf, cap);

		if (!p) {
			x->rc = -ENOMEM;
			return;
		}
		x->buf = p;
		x->cap = cap;
	}
	x->len += (size_t)sprintf(x->buf + x->len, "%s%s", prefix, name) + 1;
	x->len += (size_t)sprintf(x->buf + x->len, "%s", value) + 1;
}

static int xattr_annotation(void *ctx, const char *key, const char *value)
{
	xattr_add(ctx, "user.regfs.annotation.", key, value);
	return 0;
}

static int xattr_meta(void *ctx, const char *name, const char *value)
{
	xattr_add(ctx, "user.regfs.", name, value);
	return 0;
}

/* The extended attributes of a node: what a tag of registry/ is, where it
 * came from and its annotations; the metadata set on a file in incoming/
 * for its seal. */
static int node_xattrs(fuse_req_t req, fuse_ino_t ino, struct xattrs *x)
{
	struct regfs *fs = fuse_req_userdata(req);
	struct rfs_blob_ref ref;
	struct rfs_tag tag;
	char created[32];
	time_t secs;
	struct tm tm;
	int rc;

	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_TAG:
		rc = rfs_catalog_tag_by_id(rfs_store_catalog(fs->store),
					   rfs_ino_id(ino), &tag);
		if (rc)
			return rc;
		secs = (time_t)(tag.created_ns / 1000000000);
		strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime_r(&secs, &tm));
		xattr_add(x, "user.regfs.", "digest", tag.digest);
		xattr_add(x, "user.regfs.", "repo", tag.repo);
		xattr_add(x, "user.regfs.", "tag", tag.name);
		xattr_add(x, "user.regfs.", "created", created);
		if (tag.origin[0]) {
			xattr_add(x, "user.regfs.", "origin", tag.origin);
			xattr_add(x, "user.regfs.", "manifest", tag.manifest);
		}
		if (tag.artifact_type[0])
			xattr_add(x, "user.regfs.", "artifact_type",
				  tag.artifact_type);
		if (tag.yanked)
			xattr_add(x, "user.regfs.", "yanked", "true");
		rc = rfs_catalog_list_annotations(rfs_store_catalog(fs->store),
						  tag.id, xattr_annotation, x);
		return rc ? rc : x->rc;
	case RFS_NODE_LAYER:
	case RFS_NODE_MANIFEST:
		rc = regfs_blob_of(fs, ino, &tag, &ref);
		if (!rc)
			xattr_add(x, "user.regfs.", "digest", ref.digest);
		return rc ? rc : x->rc;
	case RFS_NODE_STAGED:
		rc = rfs_incoming_list_meta(fs->incoming, rfs_ino_id(ino),
					    xattr_meta, x);
		return rc ? rc : x->rc;
	default: return 0;
	}
}

static void reply_xattr_value(fuse_req_t req, const char *value, size_t len,
			      size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

void regfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	struct xattrs x = { 0 };
	int rc = node_xattrs(req, ino, &x);

	for (size_t i = 0; rc == 0 && i < x.len;) {
		const char *n = x.buf + i, *value = n + strlen(n) + 1;

		if (strcmp(n, name) == 0) {
			reply_xattr_value(req, value, strlen(value), size);
			free(x.buf);
			return;
		}
		i = (size_t)(value + strlen(value) + 1 - x.buf);
	}
	fuse_reply_err(req, rc ? -rc : ENODATA);
	free(x.buf);
}

void regfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct xattrs x = { 0 };
	size_t len = 0;
	int rc = node_xattrs(req, ino, &x);

	/* Keep the names, drop the values, in place. */
	for (size_t i = 0; rc == 0 && i < x.len;) {
		const char *n = x.buf + i, *value = n + strlen(n) + 1;
		size_t nlen = strlen(n) + 1;

		memmove(x.buf + len, n, nlen);
		len += nlen;
		i = (size_t)(value + strlen(value) + 1 - x.buf);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_xattr_value(req, x.buf, len, size);
	free(x.buf);
}

/* Files in incoming/ take "user.regfs.annotation.<key>" and
 * "user.regfs.artifact_type" for their seal; nothing else takes any. */
static int meta_name(fuse_ino_t ino, const char *name, const char **meta)
{
	static const char prefix[] = "user.regfs.";

	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_STAGED:
		if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
			return -ENOTSUP;
		*meta = name + sizeof(prefix) - 1;
		return 0;
	case RFS_NODE_INCOMING_DIR:
	case RFS_NODE_INCOMING_PENDING:
	case RFS_NODE_INCOMING_TOP: return -ENOTSUP;
	default: return -EROFS;
	}
}

void regfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	const char *meta;
	int rc = meta_name(ino, name, &meta);

	if (rc == 0)
		rc = rfs_incoming_set_meta(incoming_of(req), rfs_ino_id(ino),
					   meta, value, size);
	fuse_reply_err(req, -rc);
}

void regfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	const char *meta;
	int rc = meta_name(ino, name, &meta);

	if (rc == 0)
		rc = rfs_incoming_remove_meta(incoming_of(req), rfs_ino_id(ino),
					      meta);
	fuse_reply_err(req, -rc);
}
