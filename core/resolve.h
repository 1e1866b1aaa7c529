/*
 * resolve.h - what a name in a repository stands for, the same through
 * every door: a name under registry/<repo>/ of a mount, REPO@NAME of
 * regctl resolve, a plan's pull of a registry tag.
 *
 * A name is the tag of that exact name first (yanked or not: yank never
 * hides an exact name), pinned from the upstream that serves the
 * repository when the store does not have it. Else, when it is meant as a
 * version range (rfs_semver_is_range), the highest tag it admits
 * (versions.h): over the catalog's tags, or for a repository an upstream
 * serves over the upstream's tag list (cached for its list_ttl), the
 * chosen tag then pinned as any is. Else nothing.
 */
#ifndef RFS_RESOLVE_H
#define RFS_RESOLVE_H

#include "catalog.h"
#include "error.h"
#include "pull.h"
#include "versions.h"

/* Resolve name as a range only: -ENOENT when it is not meant as one or
 * nothing matches (err says what there is), -EINVAL when malformed.
 * pull may be NULL (no upstreams). match is filled as far as known. */
int rfs_resolve_range(struct rfs_versions *v, struct rfs_pull *pull,
		      const char *repo, const char *name, struct rfs_tag *out,
		      struct rfs_version_match *match, struct rfs_error *err);

/* Resolve name as a tag, then as a range. match->exact says which. */
int rfs_resolve_name(struct rfs_versions *v, struct rfs_pull *pull,
		     const char *repo, const char *name, struct rfs_tag *out,
		     struct rfs_version_match *match, struct rfs_error *err);

#endif
