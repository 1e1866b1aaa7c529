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
#include <stdint.h>

#define RFS_REPO_MAX	       255 /* whole repository name, as the distribution spec */
#define RFS_TAG_MAX	       128
#define RFS_DIGEST_STR_MAX     71 /* "sha256:" + 64 hex */
#define RFS_MEDIA_TYPE_MAX     255
#define RFS_ANNOTATION_KEY_MAX 255
#define RFS_TITLE_MAX	       255

/* One path component of a repository name ("app" in "org/app"). */
bool rfs_name_valid_component(const char *name);
bool rfs_name_valid_repo(const char *repo);
bool rfs_name_valid_tag(const char *tag);

/* An annotation key: 1 to RFS_ANNOTATION_KEY_MAX bytes of printable ASCII
 * without spaces ('!' to '~'), the first a letter or a digit. The OCI
 * convention (reverse-domain keys such as org.opencontainers.image.title,
 * dev.sigstore.cosign/bundle) fits it; an escape sequence or a newline does
 * not. Every way a key comes in (xattrs, regctl --annotation, an upstream's
 * manifest) holds to it. */
bool rfs_annotation_key_valid(const char *key);

/* An artifact type: a media type (application/vnd.example+json) or a short
 * word (as other registries' indexes name kinds), by the same rule as an
 * annotation key, at most RFS_MEDIA_TYPE_MAX bytes. */
bool rfs_artifact_type_valid(const char *type);

/* A layer title that may name a file in a tag's folder: what a local
 * writer's name may hold, one path component of at most 255 bytes of
 * UTF-8 that shows as it is (no control characters, no bidirectional
 * controls, see text.h), not hidden (dot names are the folder's own). */
bool rfs_name_valid_title(const char *title);

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
/* The length of the strict UTF-8 sequence at s (at most n bytes, n > 0)
 * and its code point, or 0 when there is none (overlong, a surrogate, past
 * U+10FFFF, cut short). */
size_t rfs_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

#endif
