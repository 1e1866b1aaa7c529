/*
 * registry.h - the store seen through the OCI distribution API: what a
 * registry server answers for manifests, blobs, uploads, tag lists and
 * referrers, and the rules it keeps. HTTP is not here: tools/serve*.c
 * turns requests into these calls and their statuses into responses.
 *
 * - Every upload goes through the one seal path (seal.h) and is verified
 *   against its digest before anything records it; a manifest is refused
 *   unless every blob it names is in its repository.
 * - A tag never changes: pushing a tag again with the same manifest is a
 *   no-op, with another one DENIED (409), unless the options name it
 *   mutable.
 * - A local tag published with cp or regctl publish is served as the
 *   ORAS-shaped manifest regctl push builds for it (push.h), so with the
 *   same digest; the config of such manifests, the empty JSON object, is
 *   served from memory.
 * - A manifest pushed with a tag becomes a tag of the tree as a pinned one
 *   does (manifest.h: a file for one layer, else a folder).
 * - Blobs belong to repositories (Distribution's model): a repository
 *   serves what was uploaded or mounted into it or what its manifests and
 *   tags name.
 * - With upstreams (config.h), a tag or blob of a repository they serve
 *   that the store lacks is fetched through the pull-through cache
 *   (pull.h): once, verified, pinned.
 *
 * Every function fills a struct rfs_oci_status on failure: the HTTP
 * status and OCI error code to answer with, and a message. All functions
 * are thread-safe.
 */
#ifndef RFS_REGISTRY_H
#define RFS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "names.h"
#include "pull.h"
#include "store.h"

/* The error codes of the distribution spec. */
enum rfs_oci_code {
	RFS_OCI_BLOB_UNKNOWN,
	RFS_OCI_BLOB_UPLOAD_INVALID,
	RFS_OCI_BLOB_UPLOAD_UNKNOWN,
	RFS_OCI_DIGEST_INVALID,
	RFS_OCI_MANIFEST_BLOB_UNKNOWN,
	RFS_OCI_MANIFEST_INVALID,
	RFS_OCI_MANIFEST_UNKNOWN,
	RFS_OCI_NAME_INVALID,
	RFS_OCI_NAME_UNKNOWN,
	RFS_OCI_SIZE_INVALID,
	RFS_OCI_UNAUTHORIZED,
	RFS_OCI_DENIED,
	RFS_OCI_UNSUPPORTED,
	RFS_OCI_TOOMANYREQUESTS,
};
const char *rfs_oci_code_name(enum rfs_oci_code code);

struct rfs_oci_status {
	int http; /* 400, 404, 409, 416, 429, 500, 507... */
	enum rfs_oci_code code;
	char message[RFS_ERROR_MSG_MAX];
};

struct rfs_registry_options {
	/* fnmatch(3) patterns on "REPOSITORY:TAG" ('*' crosses '/' and
	 * ':'): tags that a push may move to another manifest. */
	const char *const *mutable_tags;
	size_t n_mutable_tags;
	unsigned max_uploads;	    /* sessions open at once; 0: 64 */
	int64_t upload_idle_ns;	    /* a session unused this long expires;
				       0: 10 minutes */
	uint64_t max_manifest_size; /* 0: RFS_MANIFEST_MAX */
	struct rfs_pull *pull;	    /* upstreams, or NULL */
	/* Hand out a tag's manifest only as the store's require_signature
	 * policy allows (policy.h): what regctl serve does. Off for the
	 * registries that sign and verify, which must read what they
	 * check. */
	bool check_signatures;
};

struct rfs_registry;

int rfs_registry_new(struct rfs_store *store,
		     const struct rfs_registry_options *opts,
		     struct rfs_registry **out, struct rfs_error *err);
/* Aborts the uploads still open. */
void rfs_registry_free(struct rfs_registry **reg);

/* Is name a valid repository? (NAME_INVALID otherwise.) */
bool rfs_registry_valid_repo(const char *name);
/* 0 when digest is one the registry takes (sha256, well formed), else
 * DIGEST_INVALID: for a request to refuse before it takes a body. */
int rfs_registry_check_digest(const char *digest, struct rfs_oci_status *st);

/* Manifests. reference is a tag or a digest. */
struct rfs_registry_manifest {
	char digest[RFS_DIGEST_STR_MAX + 1];
	char media_type[RFS_MEDIA_TYPE_MAX + 1];
	char *body; /* malloc()ed */
	size_t len;
};
int rfs_registry_manifest_get(struct rfs_registry *reg, const char *repo,
			      const char *reference,
			      struct rfs_registry_manifest *out,
			      struct rfs_oci_status *st);
void rfs_registry_manifest_release(struct rfs_registry_manifest *m);
/* Store body as repo's manifest, under reference (a tag, or the digest it
 * must have). content_type is the request's (may be NULL). digest gets
 * the manifest's, subject its subject's or "". */
int rfs_registry_manifest_put(struct rfs_registry *reg, const char *repo,
			      const char *reference, const char *content_type,
			      const char *body, size_t len,
			      char digest[RFS_DIGEST_STR_MAX + 1],
			      char subject[RFS_DIGEST_STR_MAX + 1],
			      struct rfs_oci_status *st);
/* A tag: remove it (as regctl rm). A digest: forget the manifest and the
 * tags naming it. Blobs stay until gc. */
int rfs_registry_manifest_delete(struct rfs_registry *reg, const char *repo,
				 const char *reference,
				 struct rfs_oci_status *st);

/* Blobs. A blob is a descriptor to read size bytes from, or, for the few
 * that are not files (the empty config), bytes in memory. */
struct rfs_registry_blob {
	int fd; /* -1 when data is set */
	const char *data;
	uint64_t size;
	bool upstream; /* the repository is served by an upstream */
	bool fetched;  /* from there just now (a cache miss) */
};
int rfs_registry_blob_open(struct rfs_registry *reg, const char *repo,
			   const char *digest, struct rfs_registry_blob *out,
			   struct rfs_oci_status *st);
void rfs_registry_blob_close(struct rfs_registry_blob *b);
/* repo stops serving digest. */
int rfs_registry_blob_delete(struct rfs_registry *reg, const char *repo,
			     const char *digest, struct rfs_oci_status *st);
/* Make digest of from_repo a blob of repo too: 0 when done, -ENOENT when
 * from_repo does not serve it (the caller then opens an upload). */
int rfs_registry_blob_mount(struct rfs_registry *reg, const char *repo,
			    const char *from_repo, const char *digest,
			    struct rfs_oci_status *st);

/* Is there room in the store for an upload of bytes (as its client
 * announces)? 0, or 507 with how much is free: refused before a byte is
 * taken rather than after the disk filled. */
int rfs_registry_check_room(struct rfs_registry *reg, uint64_t bytes,
			    struct rfs_oci_status *st);

/* Uploads: a session per blob upload, named by a random id, that one
 * request at a time holds (acquire ... release). Bytes are only ever
 * appended; a session unused for upload_idle_ns expires. */
#define RFS_UPLOAD_ID_LEN 32
struct rfs_upload;
int rfs_registry_upload_start(struct rfs_registry *reg, const char *repo,
			      struct rfs_upload **out,
			      struct rfs_oci_status *st);
/* BLOB_UPLOAD_UNKNOWN (404) for an unknown, expired or other
 * repository's session; 409-like busy when another request holds it. */
int rfs_registry_upload_acquire(struct rfs_registry *reg, const char *repo,
				const char *id, struct rfs_upload **out,
				struct rfs_oci_status *st);
const char *rfs_upload_id(const struct rfs_upload *u);
uint64_t rfs_upload_size(const struct rfs_upload *u);
int rfs_upload_write(struct rfs_upload *u, const void *buf, size_t len,
		     struct rfs_oci_status *st);
/* Give the session back for later requests; one whose write failed
 * ends instead (its staging space is given back, BLOB_UPLOAD_UNKNOWN
 * from then on). */
void rfs_registry_upload_release(struct rfs_registry *reg,
				 struct rfs_upload *u);
/* Verify against digest, seal, and make it a blob of the session's
 * repository; the session ends either way (a malformed digest too:
 * check it with rfs_registry_check_digest first to keep the session). */
int rfs_registry_upload_finish(struct rfs_registry *reg, struct rfs_upload *u,
			       const char *digest, struct rfs_oci_status *st);
/* End the session, keeping nothing. */
void rfs_registry_upload_cancel(struct rfs_registry *reg, struct rfs_upload *u);

/* Listings. fn gets each name; paging by after ("" or NULL: from the
 * start) and limit. Tags: NAME_UNKNOWN for a repository that does not
 * exist. */
typedef int (*rfs_registry_name_fn)(void *ctx, const char *name);
int rfs_registry_list_tags(struct rfs_registry *reg, const char *repo,
			   const char *after, int64_t limit,
			   rfs_registry_name_fn fn, void *ctx,
			   struct rfs_oci_status *st);
int rfs_registry_list_repos(struct rfs_registry *reg, const char *after,
			    int64_t limit, rfs_registry_name_fn fn, void *ctx,
			    struct rfs_oci_status *st);

/* The referrers of digest in repo as an OCI image index (malloc()ed),
 * only those of artifact_type when that is not NULL. */
int rfs_registry_referrers(struct rfs_registry *reg, const char *repo,
			   const char *digest, const char *artifact_type,
			   char **body, size_t *len, struct rfs_oci_status *st);

#endif
