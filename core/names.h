/*
 * names.h - the grammar of repository and tag names.
 *
 * A repository name follows the OCI distribution grammar: components of
 * [a-z0-9]+ joined by separators ('.', '_', '__' or runs of '-'), components
 * joined by '/'. A tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. These checks are
 * the only gate between user-supplied names and paths: anything they accept
 * is safe to use as a path component inside the store, and every way in (the
 * mount, regctl) calls them.
 */
#ifndef RFS_NAMES_H
#define RFS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define RFS_REPO_MAX	   255 /* whole repository name, as the distribution spec */
#define RFS_TAG_MAX	   128
#define RFS_DIGEST_STR_MAX 71 /* "sha256:" + 64 hex */
#define RFS_MEDIA_TYPE_MAX 255

/* One path component of a repository name ("app" in "org/app"). */
bool rfs_name_valid_component(const char *name);
bool rfs_name_valid_repo(const char *repo);
bool rfs_name_valid_tag(const char *tag);

/* In incoming/, "<tag>.sha256" names the checksum file for <tag>. Returns
 * true and writes the tag name when name has that shape. */
bool rfs_name_sidecar_tag(const char *name, char *tag, size_t tag_size);

/* In incoming/, a dot-named file is a temporary (as rsync writes): it is
 * staged but only sealed when renamed onto a tag name. */
bool rfs_name_is_temporary(const char *name);

/* Split "REPO:TAG" into its parts, validating both. Returns 0 or -EINVAL. */
int rfs_ref_parse(const char *ref, char *repo, size_t repo_size, char *tag,
		  size_t tag_size);

/* Are the n bytes at s strict UTF-8, as Go's utf8.Valid (and so JSON,
 * jansson and Prometheus) takes it: no overlong forms, no surrogates,
 * nothing past U+10FFFF? */
bool rfs_utf8_valid(const char *s, size_t n);

#endif
