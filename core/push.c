/*
 * push.c - pushing local tags to remote registries (see push.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "digest.h"
#include "manifest.h"
#include "push.h"
#include "seal.h"

#define DEFAULT_CHUNK (8u << 20)

struct manifest_build {
	json_t *notes;
	int rc;
};

static int add_annotation(void *ctx, const char *key, const char *value)
{
	struct manifest_build *b = ctx;

	if (json_object_set_new(b->notes, key, json_string(value)) < 0)
		b->rc = -ENOMEM;
	return 0;
}

int rfs_push_served_digest(struct rfs_store *store, const struct rfs_tag *tag,
			   char out[RFS_DIGEST_STR_MAX + 1],
			   struct rfs_error *err)
{
	char *body = NULL;
	size_t len;
	int rc;

	if (tag->manifest[0]) {
		snprintf(out, RFS_DIGEST_STR_MAX + 1, "%s", tag->manifest);
		return 0;
	}
	rc = rfs_push_manifest(store, tag, &body, &len, err);
	if (!rc && (rc = rfs_digest_buf(body, len, out)))
		rfs_error_set(err, rc, "cannot hash the manifest of '%s:%s'",
			      tag->repo, tag->name);
	free(body);
	return rc;
}

int rfs_push_manifest(struct rfs_store *store, const struct rfs_tag *tag,
		      char **body, size_t *len, struct rfs_error *err)
{
	struct manifest_build b = { 0 };
	char created[32], mode[RFS_MODE_STR_MAX], mtime[RFS_TIME_STR_MAX];
	time_t secs = (time_t)(tag->created_ns / 1000000000);
	json_t *root = NULL;
	struct tm tm;
	int rc;

	if (tag->kind != RFS_TAG_FILE)
		return rfs_error_set(err, -EOPNOTSUPP,
				     "'%s:%s' is a multi-layer image: copy it "
				     "from its registry with regctl cp",
				     tag->repo, tag->name);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ",
		 gmtime_r(&secs, &tm));
	/* Always both, so a pull elsewhere needs no default of its own. */
	rfs_manifest_format_mode(tag->mode, mode);
	rc = rfs_manifest_format_time(tag->mtime_ns, mtime);
	if (rc)
		return rfs_error_set(err, rc,
				     "the mtime of '%s:%s' cannot be written",
				     tag->repo, tag->name);
	b.notes = json_object();
	if (!b.notes)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	rc = rfs_catalog_list_annotations(rfs_store_catalog(store), tag->id,
					  add_annotation, &b);
	if (!rc)
		rc = b.rc;
	if (!rc &&
	    json_object_set_new(b.notes, "org.opencontainers.image.created",
				json_string(created)) < 0)
		rc = -ENOMEM;
	if (rc) {
		json_decref(b.notes);
		return rfs_error_set(err, rc, "cannot build the manifest");
	}
	root = json_pack(
	    "{s:i, s:s, s:s, s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:I, "
	    "s:{s:s, s:s, s:s}}], s:o}",
	    "schemaVersion", 2, "mediaType", RFS_MT_OCI_MANIFEST,
	    "artifactType",
	    tag->artifact_type[0] ? tag->artifact_type
				  : RFS_DEFAULT_ARTIFACT_TYPE,
	    "config", "mediaType", RFS_MT_EMPTY, "digest",
	    RFS_EMPTY_CONFIG_DIGEST, "size", 2, "layers", "mediaType",
	    RFS_MT_LAYER, "digest", tag->digest, "size", (json_int_t)tag->size,
	    "annotations", "org.opencontainers.image.title", tag->name,
	    RFS_ANNOTATION_FILE_MODE, mode, RFS_ANNOTATION_FILE_MTIME, mtime,
	    "annotations", b.notes);
	if (!root)
		return rfs_error_set(err, -ENOMEM, "cannot build the manifest");
	/* Sorted and compact: the same tag always gives the same digest. */
	*body = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (!*body)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	*len = strlen(*body);
	return 0;
}

/* The upload client has one context for the source and the progress; ours
 * come apart. */
struct upload {
	rfs_source_fn source;
	void *source_ctx;
	rfs_progress_fn progress;
	void *progress_ctx;
};

static ssize_t upload_source(void *ctx, void *buf, size_t len, uint64_t offset)
{
	struct upload *u = ctx;

	return u->source(u->source_ctx, buf, len, offset);
}

static void upload_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct upload *u = ctx;

	if (u->progress)
		u->progress(u->progress_ctx, done, total);
}

int rfs_push_blob(struct rfs_store *store, struct rfs_upstream *up,
		  const char *host, const char *repo, const char *digest,
		  uint64_t size, rfs_source_fn source, void *source_ctx,
		  const struct rfs_push_options *opts,
		  enum rfs_blob_route *route, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(store);
	char from[RFS_REPO_MAX + 1];
	struct upload u;
	uint64_t have;
	int rc;

	rc = rfs_upstream_blob_exists(up, repo, digest, &have, err);
	if (rc == 0) {
		*route = RFS_BLOB_PRESENT;
		goto out;
	}
	if (rc != -ENOENT)
		return rc;
	if (rfs_catalog_remote_blob_find(cat, digest, host, repo, from) == 0 &&
	    rfs_upstream_blob_mount(up, repo, digest, from, NULL) == 0) {
		*route = RFS_BLOB_MOUNTED;
		goto out;
	}
	u = (struct upload){
		.source = source,
		.source_ctx = source_ctx,
		.progress = opts ? opts->progress : NULL,
		.progress_ctx = opts ? opts->progress_ctx : NULL,
	};
	rc = rfs_upstream_blob_upload(
	    up, repo, digest, size, upload_source,
	    opts && opts->chunk_size ? opts->chunk_size : DEFAULT_CHUNK,
	    upload_progress, &u, err);
	if (rc)
		return rc;
	*route = RFS_BLOB_UPLOADED;
out:
	rfs_catalog_remote_blob_add(cat, digest, host, repo);
	return 0;
}

static ssize_t read_fd(void *ctx, void *buf, size_t len, uint64_t offset)
{
	ssize_t n = pread(*(const int *)ctx, buf, len, (off_t)offset);

	return n < 0 ? -errno : n;
}

int rfs_push_tag(struct rfs_store *store, const struct rfs_tag *tag,
		 struct rfs_upstream *up, const char *host,
		 const char *remote_repo, const char *remote_tag,
		 const struct rfs_push_options *opts,
		 struct rfs_push_result *out, struct rfs_error *err)
{
	struct rfs_manifest_blob remote = { 0 };
	struct rfs_mem_source empty_config = { "{}", 2 };
	enum rfs_blob_route config_route;
	size_t len = 0;
	char *body = NULL;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	rc = rfs_push_manifest(store, tag, &body, &len, err);
	if (rc)
		return rc;
	rc = rfs_digest_buf(body, len, out->digest);
	if (rc)
		goto out;

	/* An existing remote tag: the same artifact is done; another one is
	 * replaced only when forced. */
	rc = rfs_upstream_get_manifest(up, remote_repo, remote_tag, &remote,
				       err);
	if (rc == 0 && strcmp(remote.digest, out->digest) == 0) {
		out->unchanged = true;
		goto out;
	}
	if (rc == 0 && !(opts && opts->force)) {
		rc = rfs_error_set(err, -EEXIST,
				   "'%s:%s' on '%s' is %s, not %s: not "
				   "overwriting it without --force",
				   remote_repo, remote_tag, host, remote.digest,
				   out->digest);
		goto out;
	}
	if (rc != 0 && rc != -ENOENT)
		goto out;

	rc = rfs_push_blob(store, up, host, remote_repo,
			   RFS_EMPTY_CONFIG_DIGEST, 2, rfs_mem_source_read,
			   &empty_config, NULL, &config_route, err);
	if (rc)
		goto out;
	fd = rfs_store_blob_open(store, tag->digest);
	if (fd < 0) {
		rc = rfs_error_set(err, fd,
				   "the content of '%s:%s' is not in the "
				   "store: %s",
				   tag->repo, tag->name, strerror(-fd));
		goto out;
	}
	rc = rfs_push_blob(store, up, host, remote_repo, tag->digest, tag->size,
			   read_fd, &fd, opts, &out->layer, err);
	if (!rc)
		rc = rfs_upstream_put_manifest(up, remote_repo, remote_tag,
					       RFS_MT_OCI_MANIFEST, body, len,
					       err);
out:
	if (fd >= 0)
		close(fd);
	rfs_manifest_blob_release(&remote);
	free(body);
	return rc;
}

/* A blob on its way into a seal, never past max bytes (0: no bound). */
struct blob_sink {
	struct rfs_seal *seal;
	uint64_t max;
	struct rfs_error *err;
};

static int to_seal(void *ctx, const void *buf, size_t len)
{
	struct blob_sink *s = ctx;
	uint64_t size = rfs_seal_size(s->seal);
	ssize_t n;

	if (s->max && len > s->max - size)
		return rfs_error_set(s->err, -EBADMSG,
				     "the registry sent more than the %llu "
				     "bytes expected",
				     (unsigned long long)s->max);
	n = rfs_seal_write(s->seal, buf, len, size, NULL);
	return n < 0 ? (int)n : 0;
}

int rfs_fetch_blob(struct rfs_store *store, struct rfs_upstream *src,
		   const char *src_repo, const char *digest, uint64_t max,
		   bool *fetched, struct rfs_error *err)
{
	struct rfs_seal_options check = { .expected_digest = digest };
	char got[RFS_DIGEST_STR_MAX + 1], what[RFS_DIGEST_STR_MAX + 16];
	struct blob_sink sink = { .max = max, .err = err };
	int fd = rfs_store_blob_open(store, digest), rc;

	*fetched = false;
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	snprintf(what, sizeof(what), "blob %s", digest);
	/* Fetched from a registry: bounded by max, not max_tag_size. */
	rc = rfs_seal_begin_with(store, RFS_SEAL_ANY_SIZE, &sink.seal, err);
	if (!rc)
		rc = rfs_upstream_get_blob(src, src_repo, digest, 0, to_seal,
					   &sink, err);
	if (!rc)
		rc = rfs_seal_store(sink.seal, what, &check, got, err);
	rfs_seal_free(&sink.seal);
	*fetched = rc == 0;
	return rc;
}

int rfs_copy_remote(struct rfs_store *store, struct rfs_upstream *src,
		    const char *src_host, const char *src_repo,
		    const char *src_tag, struct rfs_upstream *dst,
		    const char *dst_host, const char *dst_repo,
		    const char *dst_tag, const struct rfs_push_options *opts,
		    char digest[RFS_DIGEST_STR_MAX + 1], struct rfs_error *err)
{
	struct rfs_manifest_blob mb = { 0 }, remote = { 0 };
	struct rfs_catalog *cat = rfs_store_catalog(store);
	struct rfs_manifest m = { 0 };
	int rc;

	rc = rfs_upstream_get_manifest(src, src_repo, src_tag, &mb, err);
	if (!rc)
		rc =
		    rfs_manifest_parse(mb.body, mb.len, mb.media_type, &m, err);
	if (rc)
		goto out;
	snprintf(digest, RFS_DIGEST_STR_MAX + 1, "%s", mb.digest);
	if (m.kind != RFS_MANIFEST_IMAGE) {
		rc = rfs_error_set(err, -EOPNOTSUPP,
				   "'%s:%s' is an image index: copy one of its "
				   "platform manifests",
				   src_repo, src_tag);
		goto out;
	}
	rc = rfs_upstream_get_manifest(dst, dst_repo, dst_tag, &remote, err);
	if (rc == 0 && strcmp(remote.digest, mb.digest) == 0)
		goto out; /* there already */
	if (rc == 0 && !(opts && opts->force)) {
		rc = rfs_error_set(err, -EEXIST,
				   "'%s:%s' on '%s' is %s, not %s: not "
				   "overwriting it without --force",
				   dst_repo, dst_tag, dst_host, remote.digest,
				   mb.digest);
		goto out;
	}
	if (rc != 0 && rc != -ENOENT)
		goto out;

	rc = 0;
	for (size_t i = 0; i <= m.n_entries && !rc; i++) {
		const struct rfs_descriptor *d =
		    i == 0 ? &m.config : &m.entries[i - 1];
		enum rfs_blob_route route;
		bool fetched = false;
		uint64_t have;
		int fd;

		if (rfs_upstream_blob_exists(dst, dst_repo, d->digest, &have,
					     NULL) == 0)
			continue;
		if (strcmp(src_host, dst_host) == 0 &&
		    rfs_upstream_blob_mount(dst, dst_repo, d->digest, src_repo,
					    NULL) == 0) {
			rfs_catalog_remote_blob_add(cat, d->digest, dst_host,
						    dst_repo);
			continue;
		}
		/* No more than the manifest declares (issue 15). */
		rc = rfs_fetch_blob(store, src, src_repo, d->digest, d->size,
				    &fetched, err);
		if (rc)
			break;
		fd = rfs_store_blob_open(store, d->digest);
		rc = fd < 0
			 ? rfs_error_set(err, fd, "blob %s vanished", d->digest)
			 : rfs_push_blob(store, dst, dst_host, dst_repo,
					 d->digest, d->size, read_fd, &fd, opts,
					 &route, err);
		if (fd >= 0)
			close(fd);
		/* A blob brought only to be passed on is not kept, unless a
		 * tag of the store came to need it meanwhile. */
		if (fetched &&
		    rfs_catalog_blob_get(cat, d->digest, NULL) == -ENOENT) {
			char path[4096];

			if (rfs_store_blob_path(store, d->digest, path,
						sizeof(path)) == 0)
				unlink(path);
		}
	}
	if (!rc)
		rc = rfs_upstream_put_manifest(dst, dst_repo, dst_tag,
					       mb.media_type, mb.body, mb.len,
					       err);
out:
	rfs_manifest_release(&m);
	rfs_manifest_blob_release(&remote);
	rfs_manifest_blob_release(&mb);
	return rc;
}
