/*
 * push.h - push a sealed local tag to a remote registry as an ORAS-shaped
 * artifact: an empty config, one layer (the content) with an
 * org.opencontainers.image.title annotation and the tag's mode and mtime
 * (io.regfs.file.mode, io.regfs.file.mtime: see manifest.h), the tag's
 * annotations and org.opencontainers.image.created on the manifest.
 *
 * The manifest is built the same way every time (sorted keys, the seal's
 * time as created, the tag's recorded mode and mtime), so pushing a tag
 * twice gives the same digest. Blobs the
 * registry has are skipped (HEAD); a blob known to be in another
 * repository of that registry is mounted from there; others are uploaded
 * in chunks that resume after a broken one. A remote tag that names
 * another digest is not overwritten unless forced.
 */
#ifndef RFS_PUSH_H
#define RFS_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "store.h"
#include "upstream.h"

#define RFS_EMPTY_CONFIG_DIGEST \
	"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define RFS_MT_EMPTY		  "application/vnd.oci.empty.v1+json"
#define RFS_MT_LAYER		  "application/vnd.oci.image.layer.v1.tar"
#define RFS_DEFAULT_ARTIFACT_TYPE "application/vnd.unknown.artifact.v1"

struct rfs_push_options {
	bool force;	     /* replace a remote tag naming another digest */
	uint64_t chunk_size; /* 0: 8 MiB */
	rfs_progress_fn progress;
	void *progress_ctx;
};

enum rfs_blob_route {
	RFS_BLOB_UPLOADED,
	RFS_BLOB_PRESENT, /* the registry had it */
	RFS_BLOB_MOUNTED, /* linked from another of its repositories */
};

struct rfs_push_result {
	char digest[RFS_DIGEST_STR_MAX + 1]; /* of the manifest */
	bool unchanged; /* the remote tag named that manifest already */
	enum rfs_blob_route layer;
};

/* Build the manifest of a local file tag (malloc()ed, free() it). */
int rfs_push_manifest(struct rfs_store *store, const struct rfs_tag *tag,
		      char **body, size_t *len, struct rfs_error *err);

/* The digest of the manifest a tag is served and pushed as: the one it
 * was pinned or pushed with, else that of rfs_push_manifest's. */
int rfs_push_served_digest(struct rfs_store *store, const struct rfs_tag *tag,
			   char out[RFS_DIGEST_STR_MAX + 1],
			   struct rfs_error *err);

/* Push tag to up as remote_repo:remote_tag; host names the registry in
 * the catalog's record of where blobs are (HOST[:PORT]). -EEXIST when the
 * remote tag names another digest and opts->force is not set. */
int rfs_push_tag(struct rfs_store *store, const struct rfs_tag *tag,
		 struct rfs_upstream *up, const char *host,
		 const char *remote_repo, const char *remote_tag,
		 const struct rfs_push_options *opts,
		 struct rfs_push_result *out, struct rfs_error *err);

/* Make sure repo of up has blob digest (size bytes), read from source:
 * present, mounted from another repository of host that the catalog knows
 * holds it, or uploaded. Records where it now is. */
int rfs_push_blob(struct rfs_store *store, struct rfs_upstream *up,
		  const char *host, const char *repo, const char *digest,
		  uint64_t size, rfs_source_fn source, void *source_ctx,
		  const struct rfs_push_options *opts,
		  enum rfs_blob_route *route, struct rfs_error *err);

/* Bring blob digest of src_repo on src into the store, verified, unless it
 * is there; more than max bytes (0: no bound) is refused with -EBADMSG.
 * *fetched tells whether it was brought now. */
int rfs_fetch_blob(struct rfs_store *store, struct rfs_upstream *src,
		   const char *src_repo, const char *digest, uint64_t max,
		   bool *fetched, struct rfs_error *err);

/* Copy src_repo:src_tag of src (on src_host) to dst_repo:dst_tag of dst
 * (on dst_host) keeping the manifest's bytes, so its digest: blobs the
 * destination has are skipped, mounted when both are on one registry, and
 * otherwise streamed through the store, verified. An image index is not
 * copied (-EOPNOTSUPP). digest is the manifest's. */
int rfs_copy_remote(struct rfs_store *store, struct rfs_upstream *src,
		    const char *src_host, const char *src_repo,
		    const char *src_tag, struct rfs_upstream *dst,
		    const char *dst_host, const char *dst_repo,
		    const char *dst_tag, const struct rfs_push_options *opts,
		    char digest[RFS_DIGEST_STR_MAX + 1], struct rfs_error *err);

#endif
