/*
 * node.c - what each inode is: its attributes, its entry, and the lookup of
 * a name in a folder (see regfs.h). Inode numbers say what they stand for
 * (inode.h), so any of them, even one the kernel forgot long ago and kept
 * only in a file handle, is answered from the catalog and the staging
 * table alone. ops.c decodes the requests and answers them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "regfs.h"
#include "resolve.h"

/* Sealed content is immutable: let the kernel keep it (seconds). */
#define SEALED_TIMEOUT (365.0 * 24 * 3600)
/* Folders gain entries when tags are sealed; their attributes may lag. */
#define DIR_ATTR_TIMEOUT 1.0
/* A tag pinned from an upstream may be refreshed to a new inode. (Tags a
 * refresh or regctl rm retires in another process are dropped from the
 * kernel by regfs_watch_retired().) */
#define UPSTREAM_ENTRY_TIMEOUT 1.0
/* A version range resolves to a tag until a newer one is sealed or one is
 * yanked: the kernel asks again after this long (seconds). */
#define RANGE_ENTRY_TIMEOUT 1.0
/* A listing entry whose inode is not known until it is looked up. */

static struct timespec timespec_of(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000,
			       .tv_nsec = ns % 1000000000 };

	if (ts.tv_nsec < 0) { /* before 1970 */
		ts.tv_sec--;
		ts.tv_nsec += 1000000000;
	}
	return ts;
}

static void set_times(struct stat *st, int64_t ns)
{
	st->st_atim = st->st_mtim = st->st_ctim = timespec_of(ns);
}

static void fill_common(struct regfs *fs, struct stat *st, uint64_t ino)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = 1 << 20;
}

static void fill_dir(struct regfs *fs, struct stat *st, uint64_t ino,
		     mode_t mode, int64_t ns)
{
	fill_common(fs, st, ino);
	st->st_mode = S_IFDIR | mode;
	st->st_nlink = 2;
	set_times(st, ns);
}

static void fill_file(struct regfs *fs, struct stat *st, uint64_t ino,
		      unsigned mode, uint64_t size, int64_t ns)
{
	fill_common(fs, st, ino);
	st->st_mode = S_IFREG | mode;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	set_times(st, ns);
}

/* A tag is a file, or the folder of a multi-layer manifest. Its mode and
 * mtime are its publisher's; its ctime, when it was sealed. The mount
 * refuses change (EROFS) whatever the modes say, as squashfs does. */
static void fill_tag(struct regfs *fs, struct stat *st,
		     const struct rfs_tag *tag)
{
	uint64_t ino = rfs_ino_make(RFS_NODE_TAG, tag->id);

	if (tag->kind == RFS_TAG_LAYERS) {
		fill_dir(fs, st, ino, 0755, tag->created_ns);
		return;
	}
	fill_file(fs, st, ino, tag->mode, tag->size, tag->mtime_ns);
	st->st_ctim = timespec_of(tag->created_ns);
}

/* A version range: a symbolic link whose target is the tag's name. */
static void fill_range(struct regfs *fs, struct stat *st,
		       const struct rfs_tag *tag)
{
	fill_common(fs, st, rfs_ino_make(RFS_NODE_RANGE, tag->id));
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(tag->name);
	set_times(st, tag->created_ns);
}

static void fill_staged(struct regfs *fs, struct stat *st,
			const struct rfs_staged_info *info)
{
	fill_common(fs, st, rfs_ino_make(RFS_NODE_STAGED, info->id));
	st->st_mode = S_IFREG | info->mode;
	st->st_nlink = 1;
	st->st_size = (off_t)info->size;
	st->st_blocks = (blkcnt_t)((info->size + 511) / 512);
	set_times(st, info->mtime_ns);
}

static int64_t started_ns(struct regfs *fs)
{
	return (int64_t)fs->started.tv_sec * 1000000000 + fs->started.tv_nsec;
}

int regfs_blob_of(struct regfs *fs, uint64_t ino, struct rfs_tag *tag,
		  struct rfs_blob_ref *ref)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct rfs_layer layer;
	struct rfs_blob blob;
	int rc;

	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_TAG:
		rc = rfs_catalog_tag_by_id(cat, rfs_ino_id(ino), tag);
		if (rc)
			return rc;
		if (tag->kind == RFS_TAG_LAYERS)
			return -EISDIR;
		snprintf(ref->digest, sizeof(ref->digest), "%s", tag->digest);
		ref->size = tag->size;
		return 0;
	case RFS_NODE_LAYER:
		rc = rfs_catalog_layer_by_id(cat, rfs_ino_id(ino), &layer);
		if (!rc)
			rc = rfs_catalog_tag_by_id(cat, layer.tag, tag);
		if (rc)
			return rc;
		snprintf(ref->digest, sizeof(ref->digest), "%s", layer.digest);
		ref->size = layer.size;
		return 0;
	case RFS_NODE_MANIFEST:
		rc = rfs_catalog_tag_by_id(cat, rfs_ino_id(ino), tag);
		if (!rc)
			rc = rfs_catalog_blob_get(cat, tag->manifest, &blob);
		if (rc)
			return rc;
		snprintf(ref->digest, sizeof(ref->digest), "%s", tag->manifest);
		ref->size = blob.size;
		return 0;
	default: return -EISDIR;
	}
}

/* The attributes of any inode, and how long the kernel may keep them. */
int regfs_stat_ino(struct regfs *fs, uint64_t ino, struct stat *st,
		   double *timeout)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct rfs_staged_info info;
	struct rfs_dir dir;
	struct rfs_tag tag;
	int rc;

	*timeout = DIR_ATTR_TIMEOUT;
	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_ROOT:
	case RFS_NODE_REGISTRY_TOP:
	case RFS_NODE_INCOMING_TOP:
		fill_dir(fs, st, ino, 0755, started_ns(fs));
		return 0;
	case RFS_NODE_REGISTRY_DIR:
	case RFS_NODE_INCOMING_DIR:
		rc = rfs_catalog_dir_by_id(cat, rfs_ino_id(ino), &dir);
		if (rc)
			return rc;
		if (rfs_ino_kind(ino) == RFS_NODE_REGISTRY_DIR && !dir.sealed &&
		    !rfs_pull_serves(fs->pull, dir.path))
			return -ENOENT;
		fill_dir(fs, st, ino, 0755, dir.changed_ns);
		return 0;
	case RFS_NODE_TAG:
		rc = rfs_catalog_tag_by_id(cat, rfs_ino_id(ino), &tag);
		if (rc)
			return rc;
		fill_tag(fs, st, &tag);
		*timeout = SEALED_TIMEOUT;
		return 0;
	case RFS_NODE_RANGE:
		rc = rfs_catalog_tag_by_id(cat, rfs_ino_id(ino), &tag);
		if (rc)
			return rc;
		fill_range(fs, st, &tag); /* a link to one tag, for ever */
		*timeout = SEALED_TIMEOUT;
		return 0;
	case RFS_NODE_LAYER:
	case RFS_NODE_MANIFEST: {
		struct rfs_blob_ref ref;

		rc = regfs_blob_of(fs, ino, &tag, &ref);
		if (rc)
			return rc;
		fill_file(fs, st, ino, 0644, ref.size, tag.created_ns);
		*timeout = SEALED_TIMEOUT;
		return 0;
	}
	case RFS_NODE_STAGED:
		rc = rfs_incoming_stat(fs->incoming, rfs_ino_id(ino), &info);
		if (rc)
			return rc;
		fill_staged(fs, st, &info);
		*timeout = 0;
		return 0;
	case RFS_NODE_INCOMING_PENDING:
		rc = rfs_pending_resolve(fs->pending, rfs_ino_id(ino), false,
					 &dir, NULL);
		if (rc < 0)
			return rc;
		fill_dir(fs, st, ino, 0755,
			 rc == 0 ? dir.changed_ns : started_ns(fs));
		*timeout = 0;
		return 0;
	case RFS_NODE_NONE: break;
	}
	return -ENOENT;
}

/* Which catalog folder a directory inode stands for: 0 for the tops. */
int regfs_dir_of(uint64_t ino, bool *incoming, int64_t *dir)
{
	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_REGISTRY_TOP:
		*incoming = false;
		*dir = 0;
		return 0;
	case RFS_NODE_INCOMING_TOP:
		*incoming = true;
		*dir = 0;
		return 0;
	case RFS_NODE_REGISTRY_DIR:
	case RFS_NODE_INCOMING_DIR:
		*incoming = rfs_ino_kind(ino) == RFS_NODE_INCOMING_DIR;
		*dir = rfs_ino_id(ino);
		return 0;
	case RFS_NODE_ROOT: return -EPERM;
	case RFS_NODE_INCOMING_PENDING: /* see regfs_dir_of_fs() */
	case RFS_NODE_TAG: /* a multi-layer tag: see lookup_layers() */
	case RFS_NODE_LAYER:
	case RFS_NODE_MANIFEST:
	case RFS_NODE_RANGE:
	case RFS_NODE_STAGED: return -ENOTDIR;
	case RFS_NODE_NONE: break;
	}
	return -ENOENT;
}

int regfs_dir_of_fs(struct regfs *fs, uint64_t ino, bool make, bool *incoming,
		    int64_t *dir)
{
	struct rfs_dir d;
	int rc;

	if (rfs_ino_kind(ino) != RFS_NODE_INCOMING_PENDING)
		return regfs_dir_of(ino, incoming, dir);
	rc = rfs_pending_resolve(fs->pending, rfs_ino_id(ino), make, &d, NULL);
	if (rc == 0) {
		*incoming = true;
		*dir = d.id;
	}
	return rc;
}

int regfs_lookup_pending(struct regfs *fs, const char *name, pid_t caller,
			 struct fuse_entry_param *e)
{
	char last[RFS_REPO_MAX + 1];
	int64_t id;
	int rc;

	/* mkdir(2) of the name itself must see that it does not exist, or
	 * the kernel answers EEXIST without asking us to make it; one of a
	 * folder inside it (os.makedirs after a stat of the name) and any
	 * other caller may be about to create something in it. */
	rc = rfs_proc_mkdir_target(caller, last, sizeof(last));
	if (rc < 0 || (rc == 1 && strcmp(last, name) == 0))
		return -ENOENT;
	rc = rfs_pending_lookup(fs->pending, name, &id);
	if (rc)
		return rc == -EINVAL ? -ENOENT : rc;
	memset(e, 0, sizeof(*e));
	e->ino = rfs_ino_make(RFS_NODE_INCOMING_PENDING, id);
	e->generation = fs->generation;
	fill_dir(fs, &e->attr, e->ino, 0755, started_ns(fs));
	/* timeouts 0: asked again at each use, so the kernel turns to the
	 * real folder as soon as there is one */
	return 0;
}

void regfs_entry_for_dir(struct regfs *fs, struct fuse_entry_param *e,
			 bool incoming, const struct rfs_dir *dir)
{
	uint64_t ino = rfs_ino_make(
	    incoming ? RFS_NODE_INCOMING_DIR : RFS_NODE_REGISTRY_DIR, dir->id);

	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = fs->generation;
	fill_dir(fs, &e->attr, ino, 0755, dir->changed_ns);
	/* A folder never goes away once sealed; incoming ones may be
	 * removed, but only through us, and the kernel drops the entry. */
	e->entry_timeout = SEALED_TIMEOUT;
	e->attr_timeout = DIR_ATTR_TIMEOUT;
}

void regfs_entry_for_tag(struct regfs *fs, struct fuse_entry_param *e,
			 const struct rfs_tag *tag)
{
	memset(e, 0, sizeof(*e));
	fill_tag(fs, &e->attr, tag);
	e->ino = e->attr.st_ino;
	e->generation = fs->generation;
	/* An inode's content never changes, but a name pinned from an
	 * upstream may be refreshed to another inode. */
	e->entry_timeout =
	    tag->origin[0] ? UPSTREAM_ENTRY_TIMEOUT : SEALED_TIMEOUT;
	e->attr_timeout = SEALED_TIMEOUT;
}

/* The link a version range is, to the tag it resolved to now: the name
 * is asked again after RANGE_ENTRY_TIMEOUT, the link never changes. */
static void entry_for_range(struct regfs *fs, struct fuse_entry_param *e,
			    const struct rfs_tag *tag)
{
	memset(e, 0, sizeof(*e));
	fill_range(fs, &e->attr, tag);
	e->ino = e->attr.st_ino;
	e->generation = fs->generation;
	e->entry_timeout = RANGE_ENTRY_TIMEOUT;
	e->attr_timeout = SEALED_TIMEOUT;
}

void regfs_entry_for_file(struct regfs *fs, struct fuse_entry_param *e,
			  uint64_t ino, uint64_t size, int64_t ns)
{
	memset(e, 0, sizeof(*e));
	fill_file(fs, &e->attr, ino, 0644, size, ns);
	e->ino = ino;
	e->generation = fs->generation;
	e->entry_timeout = SEALED_TIMEOUT;
	e->attr_timeout = SEALED_TIMEOUT;
}

void regfs_entry_for_staged(struct regfs *fs, struct fuse_entry_param *e,
			    const struct rfs_staged_info *info)
{
	memset(e, 0, sizeof(*e));
	fill_staged(fs, &e->attr, info);
	e->ino = e->attr.st_ino;
	e->generation = fs->generation;
	/* timeouts 0: the entry vanishes when it is sealed */
}

void regfs_entry_for_top(struct regfs *fs, struct fuse_entry_param *e,
			 uint64_t ino)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = fs->generation;
	fill_dir(fs, &e->attr, ino, 0755, started_ns(fs));
	e->entry_timeout = SEALED_TIMEOUT;
	e->attr_timeout = DIR_ATTR_TIMEOUT;
}

/* Is there a folder at path upstream? Its repository catalog says, where
 * it has one. Where it has not, a repository that lists tags is a folder,
 * and so is any name on a level the upstream says is not a repository
 * itself (the "org" of "org/app"), since it cannot be asked for those. */
static bool upstream_folder(struct regfs *fs, const char *parent,
			    const char *path)
{
	if (!rfs_pull_serves(fs->pull, path))
		return false;
	switch (rfs_pull_folder_state(fs->pull, path)) {
	case RFS_REPO_EXISTS: return true;
	case RFS_REPO_ABSENT: return false;
	case RFS_REPO_UNKNOWN: break;
	}
	if (!parent[0] ||
	    rfs_pull_repo_state(fs->pull, path) == RFS_REPO_EXISTS)
		return true;
	/* Only when the upstream said so: one that refuses us or cannot be
	 * reached makes no folders. */
	return rfs_pull_repo_state(fs->pull, parent) == RFS_REPO_ABSENT;
}

static int lookup_registry(struct regfs *fs, int64_t d, const char *name,
			   struct fuse_entry_param *e)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct rfs_dir parent = { .id = 0, .path = "" }, dir;
	struct rfs_error err = { 0 };
	char path[RFS_REPO_MAX + 2];
	bool asked_in_vain = false;
	struct rfs_tag tag;
	int rc;

	if (d != 0) {
		rc = rfs_catalog_tag_lookup(cat, d, name, &tag);
		if (rc == 0 && !tag.origin[0]) {
			regfs_entry_for_tag(fs, e, &tag);
			return 0;
		}
		if (rfs_catalog_dir_by_id(cat, d, &parent) != 0)
			return -ENOENT;
		/* Pinned upstream tags may be due for a new resolution;
		 * unknown names may be tags upstream. */
		if (rc == 0 || rfs_pull_serves(fs->pull, parent.path)) {
			rc = rfs_pull_resolve(fs->pull, parent.path, name, &tag,
					      &err);
			if (rc == 0) {
				regfs_entry_for_tag(fs, e, &tag);
				return 0;
			}
			if (rc == -EINTR)
				return rc; /* the looker stopped waiting */
			if (rc != -ENOENT) {
				/* The upstream failed us: no more questions
				 * to it, only what the catalog knows. */
				regfs_log(REGFS_LOG_ERROR, "%s",
					  rfs_error_message(&err, rc));
				asked_in_vain = true;
			}
			/* Refused credentials, or require_signature's
			 * refusal, are not an absent tag: the reader is
			 * told (EACCES). */
			if (rc == -EACCES)
				return rc;
		}
	}
	if (d != 0 && !asked_in_vain) {
		struct rfs_version_match match;

		/* A version range: a link to the tag it picks now. */
		rc = rfs_resolve_range(fs->versions, fs->pull, parent.path,
				       name, &tag, &match, NULL);
		if (rc == 0) {
			entry_for_range(fs, e, &tag);
			return 0;
		}
		if (rc == -EINVAL || rc == -EINTR)
			return rc;
	}
	rc = rfs_catalog_dir_lookup(cat, d, name, &dir);
	if (rc == 0 && (dir.sealed || rfs_pull_serves(fs->pull, dir.path))) {
		regfs_entry_for_dir(fs, e, false, &dir);
		return 0;
	}
	if (asked_in_vain || !rfs_name_valid_component(name))
		return -ENOENT;
	rc = snprintf(path, sizeof(path), "%s%s%s", parent.path, d ? "/" : "",
		      name);
	if (rc < 0 || (size_t)rc > RFS_REPO_MAX ||
	    !upstream_folder(fs, parent.path, path))
		return -ENOENT;
	rc = rfs_catalog_dir_ensure(cat, path, &dir, NULL);
	if (rc)
		return rc == -EEXIST ? -ENOENT : rc;
	regfs_entry_for_dir(fs, e, false, &dir);
	return 0;
}

/* In the folder of a multi-layer tag: its layers and manifest.json. */
static int lookup_layers(struct regfs *fs, uint64_t parent, const char *name,
			 struct fuse_entry_param *e)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct rfs_blob_ref ref;
	struct rfs_layer layer;
	struct rfs_tag tag;
	uint64_t ino;
	int rc;

	rc = rfs_catalog_tag_by_id(cat, rfs_ino_id(parent), &tag);
	if (rc)
		return rc;
	if (tag.kind != RFS_TAG_LAYERS)
		return -ENOTDIR;
	if (strcmp(name, "manifest.json") == 0) {
		ino = rfs_ino_make(RFS_NODE_MANIFEST, tag.id);
		rc = regfs_blob_of(fs, ino, &tag, &ref);
		if (!rc)
			regfs_entry_for_file(fs, e, ino, ref.size,
					     tag.created_ns);
		return rc;
	}
	rc = rfs_catalog_layer_lookup(cat, tag.id, name, &layer);
	if (!rc)
		regfs_entry_for_file(fs, e,
				     rfs_ino_make(RFS_NODE_LAYER, layer.id),
				     layer.size, tag.created_ns);
	return rc;
}

/* Export support: an inode the kernel kept only by number (in an NFS or
 * open_by_handle_at file handle, its node long forgotten) is asked for by
 * looking up "." in it, and a folder's parent by "..". Inode numbers say
 * what they are, so both are answered from the catalog alone. */
/* A tag removed or refreshed since stays readable by the inodes the kernel
 * has (open files), but a handle of it is stale, as a deleted file's. */
static int check_live(struct regfs *fs, uint64_t ino)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct rfs_tag tag, now;
	struct rfs_layer layer;
	int64_t id = rfs_ino_id(ino);
	int rc;

	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_LAYER:
		rc = rfs_catalog_layer_by_id(cat, id, &layer);
		if (rc)
			return rc;
		id = layer.tag;
		break;
	case RFS_NODE_TAG:
	case RFS_NODE_RANGE:
	case RFS_NODE_MANIFEST: break;
	default: return 0;
	}
	rc = rfs_catalog_tag_by_id(cat, id, &tag);
	if (!rc)
		rc = rfs_catalog_tag_lookup(cat, tag.dir, tag.name, &now);
	return rc ? rc : now.id == tag.id ? 0 : -ENOENT;
}

static int lookup_self(struct regfs *fs, uint64_t ino,
		       struct fuse_entry_param *e)
{
	double timeout;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = check_live(fs, ino);
	if (!rc)
		rc = regfs_stat_ino(fs, ino, &e->attr, &timeout);
	if (rc)
		return rc; /* -ENOENT: the kernel answers ESTALE */
	e->ino = ino;
	e->generation = fs->generation;
	e->attr_timeout = timeout;
	return 0;
}

static int lookup_parent(struct regfs *fs, uint64_t ino,
			 struct fuse_entry_param *e)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	enum rfs_node_kind kind = rfs_ino_kind(ino);
	struct rfs_dir dir;
	struct rfs_tag tag;
	int rc;

	switch (kind) {
	case RFS_NODE_ROOT:
	case RFS_NODE_REGISTRY_TOP:
	case RFS_NODE_INCOMING_TOP: return lookup_self(fs, RFS_INO_ROOT, e);
	case RFS_NODE_INCOMING_PENDING:
		return lookup_self(fs, RFS_INO_INCOMING, e);
	case RFS_NODE_REGISTRY_DIR:
	case RFS_NODE_INCOMING_DIR:
		rc = rfs_catalog_dir_by_id(cat, rfs_ino_id(ino), &dir);
		if (rc)
			return rc;
		if (dir.parent)
			return lookup_self(fs, rfs_ino_make(kind, dir.parent),
					   e);
		return lookup_self(fs,
				   kind == RFS_NODE_REGISTRY_DIR
				       ? RFS_INO_REGISTRY
				       : RFS_INO_INCOMING,
				   e);
	case RFS_NODE_TAG: /* the folder of a multi-layer tag */
		rc = rfs_catalog_tag_by_id(cat, rfs_ino_id(ino), &tag);
		if (rc)
			return rc;
		if (tag.kind != RFS_TAG_LAYERS)
			return -ENOTDIR;
		return lookup_self(
		    fs, rfs_ino_make(RFS_NODE_REGISTRY_DIR, tag.dir), e);
	case RFS_NODE_LAYER:
	case RFS_NODE_MANIFEST:
	case RFS_NODE_RANGE:
	case RFS_NODE_STAGED: return -ENOTDIR;
	case RFS_NODE_NONE: break;
	}
	return -ENOENT;
}

int regfs_lookup_in(struct regfs *fs, uint64_t parent, const char *name,
		    struct fuse_entry_param *e)
{
	struct rfs_staged_info info;
	struct rfs_dir dir;
	bool incoming;
	int64_t d;
	int rc;

	if (strcmp(name, ".") == 0)
		return lookup_self(fs, parent, e);
	if (strcmp(name, "..") == 0)
		return lookup_parent(fs, parent, e);
	if (rfs_ino_kind(parent) == RFS_NODE_TAG)
		return lookup_layers(fs, parent, name, e);
	if (parent == RFS_INO_ROOT) {
		if (strcmp(name, "registry") == 0)
			regfs_entry_for_top(fs, e, RFS_INO_REGISTRY);
		else if (strcmp(name, "incoming") == 0)
			regfs_entry_for_top(fs, e, RFS_INO_INCOMING);
		else
			return -ENOENT;
		return 0;
	}
	rc = regfs_dir_of_fs(fs, parent, false, &incoming, &d);
	if (rc)
		return rc == -EPERM || rc == 1 ? -ENOENT : rc;
	if (incoming) {
		if (d != 0 &&
		    rfs_incoming_lookup(fs->incoming, d, name, &info) == 0) {
			regfs_entry_for_staged(fs, e, &info);
			return 0;
		}
		rc = rfs_incoming_dir_lookup(fs->incoming, d, name, &dir, NULL);
		if (rc == 0)
			regfs_entry_for_dir(fs, e, true, &dir);
		return rc == -EINVAL ? -ENOENT : rc;
	}
	return lookup_registry(fs, d, name, e);
}
