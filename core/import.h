/*
 * import.h - bringing an existing registry into a store (regctl import):
 * how each kind of source is walked, how each item is verified, whether it
 * is new, and what became of it.
 *
 * Kinds of source:
 *   hades  a Hades filesystem registry: PATH/<name>/<tag> raw files (the
 *          layout regctl plan's filesystem registries write too)
 *   tree   a plain folder tree: <repo>/<tag> files
 *   oci    an OCI image layout (oci-layout, index.json, blobs/), such as
 *          skopeo's oci: destination writes
 *   index  a local artifact index, artifacts.json, or its legacy form
 *          components.json when artifacts.json is missing
 * hades and tree read the same layout: folders are the repository's path,
 * a file is a tag, and a checksum file <tag>.sha256 beside it (sha256sum's
 * output, as incoming/ takes it) is the digest the file must have.
 *
 * What an import promises:
 * - Every item comes in through the one seal path: a file is sealed as
 *   regctl publish seals one (seal.h), with its executable bit and mtime;
 *   an OCI image goes through the registry core (registry.h) as a push
 *   would, every blob verified against its digest and the manifest's bytes
 *   kept, so its digest too.
 * - Each item is imported, already present (its tag holds that very
 *   digest), or skipped with a reason. A skip is a failure when the item
 *   is an artifact that did not make it: content that does not match the
 *   digest the source claims, a missing or unreadable file, a broken entry,
 *   a name regfs cannot take, a tag that holds other content. Entries that
 *   are no artifacts of the layout (dot-named temporaries, symbolic links
 *   to folders, files outside any repository folder, manifests of a layout
 *   without a tag name) are skipped without failing.
 * - An import is idempotent: run again, it imports nothing.
 * - A dry run writes nothing: it takes a store opened RFS_STORE_READONLY,
 *   or NULL when there is no store yet, verifies every item as a real run
 *   would, and reports what would be imported.
 * - A failure of the store itself (no space left, a catalog error) ends
 *   the import with an error; what was imported before it stays.
 *
 * Core never prints: each item goes to the caller's callback.
 */
#ifndef RFS_IMPORT_H
#define RFS_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "names.h"
#include "store.h"

enum rfs_import_kind {
	RFS_IMPORT_HADES,
	RFS_IMPORT_TREE,
	RFS_IMPORT_OCI,
	RFS_IMPORT_INDEX,
};

/* "hades", "tree", "oci", "index": 0, or -EINVAL for another name. */
int rfs_import_kind_parse(const char *name, enum rfs_import_kind *out);
const char *rfs_import_kind_name(enum rfs_import_kind kind);

enum rfs_import_status {
	RFS_IMPORT_IMPORTED, /* in a dry run: would be imported */
	RFS_IMPORT_PRESENT,
	RFS_IMPORT_SKIPPED,
};

/* One item, as the callback sees it; the strings live for the call. */
struct rfs_import_item {
	enum rfs_import_status status;
	bool failed;	    /* skipped: an artifact that did not make it */
	const char *source; /* where in the source: "app/v1",
			       "index.json manifests[0]", "artifacts[2]" */
	const char *repo;   /* "" when not known */
	const char *tag;    /* "" when not known */
	const char *digest; /* of the file, or of the manifest; "" unknown */
	uint64_t size;	    /* of the file, or of the manifest */
	const char *artifact_type; /* "" when none is known */
	const char *reason;	   /* skipped: why; NULL otherwise */
};

/* Return 0 to go on; anything else stops the import and is returned. */
typedef int (*rfs_import_fn)(void *ctx, const struct rfs_import_item *item);

struct rfs_import_options {
	enum rfs_import_kind kind;
	const char *source; /* a folder; for index, also the index file */
	bool dry_run;
	/* oci: the repository of every image, else of those whose tag name
	 * (org.opencontainers.image.ref.name) is a bare tag; NULL: the
	 * layout folder's name. */
	const char *repo;
	rfs_import_fn fn; /* may be NULL */
	void *ctx;
};

#define RFS_IMPORT_PATH_MAX 4096

struct rfs_import_summary {
	size_t imported; /* in a dry run: would be */
	size_t present;
	size_t skipped;
	size_t failed; /* of the skipped */
	/* index: the file read, and whether it is the legacy
	 * components.json, read because artifacts.json is missing. */
	char index[RFS_IMPORT_PATH_MAX];
	bool legacy;
};

/* Import opts->source into store (NULL or read-only for a dry run). 0 when
 * the source was walked to its end, whatever became of its items (see
 * summary->failed); a negative errno when the source cannot be read as
 * its kind (not a folder, no index.json, an index that is not JSON) or the
 * store failed. */
int rfs_import(struct rfs_store *store, const struct rfs_import_options *opts,
	       struct rfs_import_summary *summary, struct rfs_error *err);

/*
 * The parsers, for tests and for whoever reads these formats.
 */

/* Split a reference as local artifact registries do: "REPO:TAG", where
 * the tag follows the last ':' that no '/' follows ("host:5000/app:v1"),
 * "REPO" alone meaning REPO:latest, and a "@sha256:..." suffix left out
 * (given in digest when not NULL, else ""). Names are not checked. -EINVAL
 * for an empty repository or tag, -ENAMETOOLONG when one does not fit. */
int rfs_import_split_ref(const char *ref, char *repo, size_t repo_size,
			 char *tag, size_t tag_size,
			 char digest[RFS_DIGEST_STR_MAX + 1]);

/* The repository and tag an image of an OCI layout is imported as, from
 * its org.opencontainers.image.ref.name: a reference ("app:v1",
 * "ghcr.io/org/app:v1") is split as above, its repository replaced by
 * repo_override when that is given; a bare tag ("v1") goes to
 * repo_override, else to default_repo. Names are not checked. */
int rfs_import_oci_ref(const char *ref_name, const char *default_repo,
		       const char *repo_override, char *repo, size_t repo_size,
		       char *tag, size_t tag_size);

/* One entry of a local artifact index. A broken entry has problem set
 * (and whatever else could be read). */
struct rfs_import_entry {
	char label[40]; /* "artifacts[2]", "components[0]" */
	char *repo;	/* "repository", else from "reference" */
	char *tag;	/* "tag", else from "reference" */
	char *type;	/* "type"; "component" for legacy entries without */
	char *digest;	/* "digest", else the reference's @digest; or NULL */
	char *cache_path;
	bool has_size; /* "size", when present and not 0 */
	uint64_t size;
	bool has_created; /* "createdAt", when it is RFC 3339 */
	int64_t created_ns;
	char *problem;
};

struct rfs_import_index {
	struct rfs_import_entry *entries;
	size_t n;
};

/* Parse artifacts.json ({"artifacts": [...]}, or an older one with
 * "components") or, with legacy, components.json ({"components": [...]},
 * whose entries have no type: they are components). -EINVAL with a
 * message when the text is not such an object; broken entries are
 * entries with a problem. Release with rfs_import_index_release. */
int rfs_import_index_parse(const char *text, size_t len, bool legacy,
			   struct rfs_import_index *out, struct rfs_error *err);
void rfs_import_index_release(struct rfs_import_index *index);

#endif
