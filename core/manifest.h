/*
 * manifest.h - OCI and Docker image manifests and indexes, parsed with
 * jansson, and what regfs shows for them.
 *
 * A manifest with one layer is a file: its content is that layer (the shape
 * ORAS writes: an empty config, one layer with an
 * org.opencontainers.image.title annotation). A manifest with several
 * layers is a folder holding each layer under its title, or under its
 * digest where it has none (or where the title is not a safe file name or
 * is taken), plus manifest.json. An index is followed to the manifest for
 * this machine's platform (linux and the architecture regfs was built for).
 *
 * A file's mode and mtime travel as annotations of its layer, written by
 * regctl push and read wherever a tag is pinned from a manifest, so that a
 * tag pulled elsewhere is as executable, and as old, as where it was
 * published (rsync -a from two mounts then sees equal files). Their keys
 * and their text live here only.
 */
#ifndef RFS_MANIFEST_H
#define RFS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "catalog.h"
#include "error.h"
#include "names.h"

#define RFS_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define RFS_MT_OCI_INDEX    "application/vnd.oci.image.index.v1+json"
#define RFS_MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define RFS_MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"

/* "0755" or "0644" as regfs writes them; any octal mode is read. */
#define RFS_ANNOTATION_FILE_MODE "io.regfs.file.mode"
/* RFC 3339 in UTC with nanoseconds: "2001-02-03T04:05:06.123456789Z". */
#define RFS_ANNOTATION_FILE_MTIME "io.regfs.file.mtime"

#define RFS_MODE_STR_MAX 8  /* "0755" and its NUL, with room */
#define RFS_TIME_STR_MAX 40 /* "2001-02-03T04:05:06.123456789Z" and NUL */

enum rfs_manifest_kind {
	RFS_MANIFEST_IMAGE,
	RFS_MANIFEST_INDEX,
};

struct rfs_descriptor {
	char media_type[256];
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
	char *title; /* org.opencontainers.image.title, or NULL */
	/* From RFS_ANNOTATION_FILE_MODE and _MTIME: each is set only when
	 * its annotation is there and well formed (the mode as written,
	 * which the catalog normalises). */
	struct rfs_file_attrs attrs;
	char os[32]; /* index entries: platform, "" when absent */
	char arch[32];
	char variant[32];
};

struct rfs_manifest {
	enum rfs_manifest_kind kind;
	char media_type[256];
	struct rfs_descriptor config;	/* images */
	struct rfs_descriptor *entries; /* layers, or an index's manifests */
	size_t n_entries;
	char *annotations_json; /* the top-level annotations object, or NULL */
};

/* Parse a manifest or index. media_type is the Content-Type it came with
 * (NULL or "" to go by the body's mediaType field, then by its shape).
 * -EINVAL with a message for anything malformed: not JSON, a schema
 * version other than 2, a descriptor without a valid sha256 digest or
 * size, an unknown media type. */
int rfs_manifest_parse(const char *body, size_t len, const char *media_type,
		       struct rfs_manifest *out, struct rfs_error *err);
void rfs_manifest_release(struct rfs_manifest *m);

/* The entry of an index for this machine (linux, and "amd64", "arm64",
 * ... from the build), or NULL. */
const struct rfs_descriptor *
rfs_manifest_pick_platform(const struct rfs_manifest *index);
/* The platform regfs picks, as "linux/amd64". */
const char *rfs_manifest_platform(void);

/* The text of the file annotations. format_mode writes the mode a tag
 * shows for mode (rfs_tag_mode: "0755" or "0644"). parse_mode reads 1 to
 * 6 octal digits worth at most 07777. format_time writes ns since the
 * epoch in UTC, always with nine fraction digits. parse_time reads RFC
 * 3339 (a 'T' or 't', a fraction of any length, of which nanoseconds are
 * kept, 'Z', 'z' or an offset), a valid date and time of day (no leap
 * second) within what int64_t nanoseconds hold (1677 to 2262). The
 * parsers return 0 or -EINVAL and leave *out alone on failure. */
void rfs_manifest_format_mode(unsigned mode, char buf[RFS_MODE_STR_MAX]);
int rfs_manifest_parse_mode(const char *text, unsigned *out);
int rfs_manifest_format_time(int64_t ns, char buf[RFS_TIME_STR_MAX]);
int rfs_manifest_parse_time(const char *text, int64_t *out);

/* The files a multi-layer image shows in its folder: one struct rfs_layer
 * per layer (id and tag left 0), named as this header says. The array is
 * malloc()ed: free() it. */
int rfs_manifest_layer_files(const struct rfs_manifest *m,
			     struct rfs_layer **out, size_t *n,
			     struct rfs_error *err);

/* The tag a manifest (body, of digest, parsed as m) stands for, whether
 * pinned from an upstream or pushed to regctl serve: a file when it is an
 * image of one layer (digest and size are the layer's, the mode and mtime
 * its annotations'), else a folder (the manifest's digest and size) of its
 * layer files, none for an index; its artifact type and annotations.
 * Strings point into m, body's parsed copy and out's arrays: release
 * with rfs_manifest_tag_release. */
#define RFS_MANIFEST_TAG_ANNOTATIONS_MAX 64
struct rfs_manifest_tag {
	enum rfs_tag_kind kind;
	const char *digest;
	uint64_t size;
	struct rfs_layer *layers;
	size_t n_layers;
	struct rfs_tag_meta meta;
	struct rfs_annotation annotations[RFS_MANIFEST_TAG_ANNOTATIONS_MAX];
	json_t *json;
};
int rfs_manifest_tag(const char *body, size_t len, const char *digest,
		     const struct rfs_manifest *m, struct rfs_manifest_tag *out,
		     struct rfs_error *err);
void rfs_manifest_tag_release(struct rfs_manifest_tag *t);

#endif
