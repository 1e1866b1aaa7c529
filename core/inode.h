/*
 * inode.h - stable inode numbers.
 *
 * An inode number encodes what a node is and the catalog row behind it, so
 * the same tag has the same inode after a remount (and an NFS file handle
 * stays valid): no table of inodes is kept in memory for catalog nodes.
 *
 *   1                     the mount root
 *   2, 3                  registry/ and incoming/
 *   KIND << 56 | row id   a directory under registry/ or incoming/, a tag,
 *                         a layer or manifest.json of a multi-layer tag,
 *                         a version range's link to a tag (the tag's id)
 *   STAGED << 56 | id     an in-progress file in incoming/: mount << 32 | n,
 *                         where mount is the mount's number in the store
 *                         (rfs_catalog_export_ids), so no id repeats after
 *                         a restart (until 2^24 mounts of one store)
 *   INCOMING_PENDING << 56 | id
 *                         a top-level name of incoming/ looked up but not
 *                         created (pending.h): ids as staged ones
 *
 * Catalog ids are never reused (AUTOINCREMENT), so an inode number always
 * names the same object, and any of them can be resolved to its node
 * without a table: what NFS export support needs.
 */
#ifndef RFS_INODE_H
#define RFS_INODE_H

#include <stdint.h>

enum rfs_node_kind {
	RFS_NODE_NONE = 0,
	RFS_NODE_ROOT,
	RFS_NODE_REGISTRY_TOP,
	RFS_NODE_INCOMING_TOP,
	RFS_NODE_REGISTRY_DIR,
	RFS_NODE_INCOMING_DIR,
	RFS_NODE_TAG,
	RFS_NODE_STAGED,   /* in-progress file in incoming/, not stable */
	RFS_NODE_LAYER,	   /* a layer in the folder of a multi-layer tag */
	RFS_NODE_MANIFEST, /* manifest.json in that folder (the tag's id) */
	RFS_NODE_RANGE,	   /* a version range in a repository folder: a
			      symbolic link to the tag it resolved to (the
			      tag's id) */
	RFS_NODE_INCOMING_PENDING, /* a folder of incoming/ not made yet */
};

#define RFS_INO_ROOT	   1
#define RFS_INO_REGISTRY   2
#define RFS_INO_INCOMING   3
#define RFS_INO_KIND_SHIFT 56
#define RFS_INO_ID_MASK	   ((UINT64_C(1) << RFS_INO_KIND_SHIFT) - 1)

static inline uint64_t rfs_ino_make(enum rfs_node_kind kind, int64_t id)
{
	switch (kind) {
	case RFS_NODE_ROOT: return RFS_INO_ROOT;
	case RFS_NODE_REGISTRY_TOP: return RFS_INO_REGISTRY;
	case RFS_NODE_INCOMING_TOP: return RFS_INO_INCOMING;
	default:
		return ((uint64_t)kind << RFS_INO_KIND_SHIFT) |
		       ((uint64_t)id & RFS_INO_ID_MASK);
	}
}

static inline enum rfs_node_kind rfs_ino_kind(uint64_t ino)
{
	switch (ino) {
	case RFS_INO_ROOT: return RFS_NODE_ROOT;
	case RFS_INO_REGISTRY: return RFS_NODE_REGISTRY_TOP;
	case RFS_INO_INCOMING: return RFS_NODE_INCOMING_TOP;
	}
	uint64_t kind = ino >> RFS_INO_KIND_SHIFT;
	if (kind < RFS_NODE_REGISTRY_DIR || kind > RFS_NODE_INCOMING_PENDING)
		return RFS_NODE_NONE;
	return (enum rfs_node_kind)kind;
}

static inline int64_t rfs_ino_id(uint64_t ino)
{
	return (int64_t)(ino & RFS_INO_ID_MASK);
}

/* The first staged id of mount number mount. */
static inline int64_t rfs_ino_first_staged(int64_t mount)
{
	return (int64_t)(((uint64_t)mount & 0xffffff) << 32) | 1;
}

#endif
