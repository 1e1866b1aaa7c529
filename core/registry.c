/*
 * registry.c - the store as an OCI registry (see registry.h): manifests,
 * blobs, upload sessions, listings and referrers, with the rules a push
 * must keep.
 */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "digest.h"
#include "manifest.h"
#include "policy.h"
#include "push.h"
#include "registry.h"
#include "seal.h"
#include "strv.h"

#define DEFAULT_MAX_UPLOADS    64
#define DEFAULT_UPLOAD_IDLE_NS (600 * 1000000000LL)
/* Referrers listed for one subject at most: a bound on the answer. */
#define MAX_REFERRERS 1000
/* Names merged from the store and upstreams for one listing, at most. */
#define MAX_LISTED 100000

static const char empty_config[] = "{}";

struct rfs_upload {
	char id[RFS_UPLOAD_ID_LEN + 1];
	char repo[RFS_REPO_MAX + 1];
	struct rfs_seal *seal;
	int64_t used_ns;
	bool busy;   /* a request holds it */
	bool broken; /* a write failed: the seal takes no more */
	struct rfs_upload *next;
};

struct rfs_registry {
	struct rfs_store *store;
	struct rfs_registry_options opts;
	pthread_mutex_t lock; /* uploads */
	struct rfs_upload *uploads;
	unsigned n_uploads;
};

static const char *const code_names[] = {
	[RFS_OCI_BLOB_UNKNOWN] = "BLOB_UNKNOWN",
	[RFS_OCI_BLOB_UPLOAD_INVALID] = "BLOB_UPLOAD_INVALID",
	[RFS_OCI_BLOB_UPLOAD_UNKNOWN] = "BLOB_UPLOAD_UNKNOWN",
	[RFS_OCI_DIGEST_INVALID] = "DIGEST_INVALID",
	[RFS_OCI_MANIFEST_BLOB_UNKNOWN] = "MANIFEST_BLOB_UNKNOWN",
	[RFS_OCI_MANIFEST_INVALID] = "MANIFEST_INVALID",
	[RFS_OCI_MANIFEST_UNKNOWN] = "MANIFEST_UNKNOWN",
	[RFS_OCI_NAME_INVALID] = "NAME_INVALID",
	[RFS_OCI_NAME_UNKNOWN] = "NAME_UNKNOWN",
	[RFS_OCI_SIZE_INVALID] = "SIZE_INVALID",
	[RFS_OCI_UNAUTHORIZED] = "UNAUTHORIZED",
	[RFS_OCI_DENIED] = "DENIED",
	[RFS_OCI_UNSUPPORTED] = "UNSUPPORTED",
	[RFS_OCI_TOOMANYREQUESTS] = "TOOMANYREQUESTS",
};

const char *rfs_oci_code_name(enum rfs_oci_code code)
{
	return code_names[code];
}

/* Fill st and return a negative errno for a tail call. */
static int fail(struct rfs_oci_status *st, int http, enum rfs_oci_code code,
		int errnum, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct rfs_oci_status *st, int http, enum rfs_oci_code code,
		int errnum, const char *fmt, ...)
{
	va_list ap;

	st->http = http;
	st->code = code;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return errnum;
}

/* A failure of the store itself (disk, catalog): 507 when it is full;
 * and content past the store's max_tag_size (a seal's EFBIG): 413. */
static int store_failure(struct rfs_oci_status *st, int rc,
			 enum rfs_oci_code code, const struct rfs_error *err)
{
	if (rc == -ENOSPC || rc == -EDQUOT)
		return fail(st, 507, code, rc, "the store is full: %s",
			    rfs_error_message(err, rc));
	if (rc == -EFBIG)
		return fail(st, 413, RFS_OCI_SIZE_INVALID, rc, "%s",
			    rfs_error_message(err, rc));
	return fail(st, 500, code, rc, "%s", rfs_error_message(err, rc));
}

int rfs_registry_new(struct rfs_store *store,
		     const struct rfs_registry_options *opts,
		     struct rfs_registry **out, struct rfs_error *err)
{
	struct rfs_registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	reg->store = store;
	if (opts)
		reg->opts = *opts;
	if (!reg->opts.max_uploads)
		reg->opts.max_uploads = DEFAULT_MAX_UPLOADS;
	if (!reg->opts.upload_idle_ns)
		reg->opts.upload_idle_ns = DEFAULT_UPLOAD_IDLE_NS;
	if (!reg->opts.max_manifest_size)
		reg->opts.max_manifest_size = RFS_MANIFEST_MAX;
	pthread_mutex_init(&reg->lock, NULL);
	*out = reg;
	return 0;
}

static void upload_free(struct rfs_upload *u)
{
	rfs_seal_free(&u->seal);
	free(u);
}

void rfs_registry_free(struct rfs_registry **regp)
{
	struct rfs_registry *reg = *regp;

	if (!reg)
		return;
	while (reg->uploads) {
		struct rfs_upload *u = reg->uploads;

		reg->uploads = u->next;
		upload_free(u);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
	*regp = NULL;
}

bool rfs_registry_valid_repo(const char *name)
{
	return rfs_name_valid_repo(name);
}

static struct rfs_catalog *catalog(struct rfs_registry *reg)
{
	return rfs_store_catalog(reg->store);
}

static bool is_digest_ref(const char *reference)
{
	return strchr(reference, ':') != NULL;
}

/* A digest from a request: DIGEST_INVALID unless sha256 and well formed
 * (the only algorithm the store keeps). */
static int check_digest(const char *digest, struct rfs_oci_status *st)
{
	if (rfs_digest_valid(digest))
		return 0;
	if (strncmp(digest, "sha256:", 7) != 0 && strchr(digest, ':'))
		return fail(st, 400, RFS_OCI_DIGEST_INVALID, -EINVAL,
			    "unsupported digest algorithm in '%.80s': this "
			    "registry keeps sha256",
			    digest);
	return fail(st, 400, RFS_OCI_DIGEST_INVALID, -EINVAL,
		    "invalid digest '%.80s'", digest);
}

int rfs_registry_check_digest(const char *digest, struct rfs_oci_status *st)
{
	return check_digest(digest, st);
}

/* --- manifests -------------------------------------------------------- */

/* Read a stored manifest blob whole. */
static int read_manifest_blob(struct rfs_registry *reg, const char *digest,
			      struct rfs_registry_manifest *out,
			      struct rfs_oci_status *st)
{
	int fd = rfs_store_blob_open(reg->store, digest);
	struct stat sb;
	ssize_t n = 0;
	size_t got = 0;

	if (fd < 0)
		return fail(st, 404, RFS_OCI_MANIFEST_UNKNOWN, fd,
			    "manifest %s is not in the store", digest);
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size > RFS_MANIFEST_MAX) {
		close(fd);
		return fail(st, 500, RFS_OCI_MANIFEST_INVALID, -EFBIG,
			    "manifest %s cannot be read", digest);
	}
	out->body = malloc((size_t)sb.st_size + 1);
	while (out->body && got < (size_t)sb.st_size &&
	       (n = read(fd, out->body + got, (size_t)sb.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (!out->body || got != (size_t)sb.st_size) {
		free(out->body);
		out->body = NULL;
		return fail(st, 500, RFS_OCI_MANIFEST_INVALID, -EIO,
			    "manifest %s cannot be read", digest);
	}
	out->len = got;
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	return 0;
}

/* The media type a stored manifest declares (or its shape says): 0, or
 * -EINVAL when it is no manifest (OCI's is set then). */
static int sniff_media_type(struct rfs_registry_manifest *out)
{
	struct rfs_manifest m = { 0 };
	int rc = rfs_manifest_parse(out->body, out->len, NULL, &m, NULL);

	if (rc == 0)
		snprintf(out->media_type, sizeof(out->media_type), "%s",
			 m.media_type);
	else
		snprintf(out->media_type, sizeof(out->media_type), "%s",
			 RFS_MT_OCI_MANIFEST);
	rfs_manifest_release(&m);
	return rc;
}

/* May the manifest m of tag be handed out under require_signature
 * (policy.h)? A signature's is, for the clients that check it. */
static int policy_allows(struct rfs_registry *reg, const struct rfs_tag *tag,
			 const struct rfs_registry_manifest *m,
			 struct rfs_oci_status *st)
{
	const struct rfs_sign_key *const *keys;
	struct rfs_error err = { 0 };
	struct rfs_manifest pm = { 0 };
	bool signature;
	int rc;

	/* Most stores require nothing: no manifest is parsed for them. */
	if (!reg->opts.check_signatures ||
	    !rfs_policy_keys(rfs_store_policy(reg->store), tag->repo, &keys))
		return 0;
	signature = rfs_manifest_parse(m->body, m->len, NULL, &pm, NULL) == 0 &&
		    rfs_policy_is_signature(tag->name, &pm);
	rfs_manifest_release(&pm);
	if (signature)
		return 0;
	if (reg->opts.pull)
		rc = rfs_pull_check_policy(reg->opts.pull, tag, &err);
	else
		rc = rfs_policy_check_local(reg->store, tag, &err);
	if (rc)
		return fail(st, 403, RFS_OCI_DENIED, rc, "%s",
			    rfs_error_message(&err, rc));
	return 0;
}

/* The manifest of a tag: the stored one of a pushed or pinned tag, the
 * ORAS-shaped one regctl push builds for a local file; refused (403) where
 * require_signature does not allow it. */
static int tag_manifest(struct rfs_registry *reg, const struct rfs_tag *tag,
			struct rfs_registry_manifest *out,
			struct rfs_oci_status *st)
{
	struct rfs_manifest_row row;
	struct rfs_error err = { 0 };
	int rc;

	if (tag->manifest[0]) {
		rc = read_manifest_blob(reg, tag->manifest, out, st);
		if (rc)
			return rc;
		if (rfs_catalog_manifest_get(catalog(reg), tag->repo,
					     tag->manifest, &row) == 0)
			snprintf(out->media_type, sizeof(out->media_type), "%s",
				 row.media_type);
		else
			sniff_media_type(out);
	} else {
		rc = rfs_push_manifest(reg->store, tag, &out->body, &out->len,
				       &err);
		if (!rc)
			rc = rfs_digest_buf(out->body, out->len, out->digest);
		if (rc)
			return fail(st, 500, RFS_OCI_MANIFEST_UNKNOWN, rc,
				    "cannot build the manifest of '%s:%s': %s",
				    tag->repo, tag->name,
				    rfs_error_message(&err, rc));
		snprintf(out->media_type, sizeof(out->media_type), "%s",
			 RFS_MT_OCI_MANIFEST);
	}
	rc = policy_allows(reg, tag, out, st);
	if (rc)
		rfs_registry_manifest_release(out);
	return rc;
}

/* A local file tag of repo whose built manifest has digest. */
struct built_search {
	struct rfs_registry *reg;
	const char *digest;
	struct rfs_tag found;
	bool hit;
};

static int match_built(void *ctx, const struct rfs_tag *tag)
{
	struct built_search *s = ctx;
	char served[RFS_DIGEST_STR_MAX + 1];

	if (tag->manifest[0] || tag->origin[0] || tag->kind != RFS_TAG_FILE)
		return 0;
	if (rfs_push_served_digest(s->reg->store, tag, served, NULL) == 0 &&
	    strcmp(served, s->digest) == 0) {
		s->found = *tag;
		s->hit = true;
	}
	return s->hit ? 1 : 0;
}

static bool find_built(struct rfs_registry *reg, const char *repo,
		       const char *digest, struct rfs_tag *out)
{
	struct built_search s = { .reg = reg, .digest = digest };

	rfs_catalog_list_tags(catalog(reg), repo, match_built, &s);
	if (s.hit)
		*out = s.found;
	return s.hit;
}

/* repo:tag as the catalog has it, or resolved through an upstream. */
static int find_tag(struct rfs_registry *reg, const char *repo, const char *tag,
		    struct rfs_tag *out)
{
	int rc = rfs_catalog_tag_get(catalog(reg), repo, tag, out);

	if (rc == -ENOENT && reg->opts.pull &&
	    rfs_pull_serves(reg->opts.pull, repo))
		rc = rfs_pull_resolve(reg->opts.pull, repo, tag, out, NULL);
	return rc;
}

int rfs_registry_manifest_get(struct rfs_registry *reg, const char *repo,
			      const char *reference,
			      struct rfs_registry_manifest *out,
			      struct rfs_oci_status *st)
{
	struct rfs_manifest_row row;
	struct rfs_tag tag;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!is_digest_ref(reference)) {
		rc = rfs_name_valid_tag(reference)
			 ? find_tag(reg, repo, reference, &tag)
			 : -ENOENT;
		/* The upstream refusing our credentials is not an absent
		 * tag (issue 15). */
		if (rc == -EACCES)
			return fail(st, 403, RFS_OCI_DENIED, rc,
				    "the upstream of '%s' refused our "
				    "credentials for '%s'",
				    repo, reference);
		if (rc != 0)
			return fail(st, 404, RFS_OCI_MANIFEST_UNKNOWN, -ENOENT,
				    "no tag '%s' in '%s'", reference, repo);
		return tag_manifest(reg, &tag, out, st);
	}
	rc = check_digest(reference, st);
	if (rc)
		return rc;
	if (rfs_catalog_manifest_get(catalog(reg), repo, reference, &row) ==
	    0) {
		rc = read_manifest_blob(reg, reference, out, st);
		if (!rc)
			snprintf(out->media_type, sizeof(out->media_type), "%s",
				 row.media_type);
		return rc;
	}
	/* A pinned tag's manifest, or a local tag's built one; not any
	 * other blob of repo (a layer, a config). */
	if (rfs_catalog_repo_has_blob(catalog(reg), repo, reference) == 0 &&
	    read_manifest_blob(reg, reference, out, st) == 0) {
		if (sniff_media_type(out) == 0)
			return 0;
		rfs_registry_manifest_release(out);
	}
	if (find_built(reg, repo, reference, &tag))
		return tag_manifest(reg, &tag, out, st);
	return fail(st, 404, RFS_OCI_MANIFEST_UNKNOWN, -ENOENT,
		    "no manifest %s in '%s'", reference, repo);
}

void rfs_registry_manifest_release(struct rfs_registry_manifest *m)
{
	free(m->body);
	m->body = NULL;
}

/* What the referrers API says a manifest's type is: its artifactType,
 * else its config's media type. */
static const char *referrer_type(json_t *root)
{
	json_t *t = json_object_get(root, "artifactType");

	if (json_is_string(t))
		return json_string_value(t);
	t = json_object_get(json_object_get(root, "config"), "mediaType");
	return json_is_string(t) ? json_string_value(t) : "";
}

/* Is every blob a manifest names a blob of repo? */
static int check_blobs(struct rfs_registry *reg, const char *repo,
		       const struct rfs_manifest *m, const char **blobs,
		       size_t *n_blobs, struct rfs_oci_status *st)
{
	struct rfs_catalog *cat = catalog(reg);
	size_t n = 0;

	if (m->kind == RFS_MANIFEST_IMAGE)
		blobs[n++] = m->config.digest;
	for (size_t i = 0; i < m->n_entries; i++)
		blobs[n++] = m->entries[i].digest;
	for (size_t i = 0; i < n; i++) {
		struct rfs_blob b;

		/* The empty config needs no upload: it is known. */
		if (strcmp(blobs[i], RFS_EMPTY_CONFIG_DIGEST) == 0)
			continue;
		if (rfs_catalog_repo_has_blob(cat, repo, blobs[i]) != 0 ||
		    rfs_catalog_blob_get(cat, blobs[i], &b) != 0 || !b.present)
			return fail(st, 400, RFS_OCI_MANIFEST_BLOB_UNKNOWN,
				    -ENOENT, "%s %s is not in '%s'",
				    m->kind == RFS_MANIFEST_IMAGE ? "blob"
								  : "manifest",
				    blobs[i], repo);
	}
	*n_blobs = n;
	return 0;
}

static bool tag_is_mutable(struct rfs_registry *reg, const char *repo,
			   const char *tag)
{
	char ref[RFS_REPO_MAX + RFS_TAG_MAX + 2];

	snprintf(ref, sizeof(ref), "%s:%s", repo, tag);
	for (size_t i = 0; i < reg->opts.n_mutable_tags; i++)
		if (fnmatch(reg->opts.mutable_tags[i], ref, 0) == 0)
			return true;
	return false;
}

/* Does tag already name the manifest digest? */
static bool tag_names(struct rfs_registry *reg, const struct rfs_tag *tag,
		      const char *digest)
{
	char served[RFS_DIGEST_STR_MAX + 1];

	return rfs_push_served_digest(reg->store, tag, served, NULL) == 0 &&
	       strcmp(served, digest) == 0;
}

/* Write a manifest's bytes into the store as a verified blob; the store
 * lock is held from here to the catalog commit (gc must not see it
 * unnamed). */
static int store_manifest(struct rfs_registry *reg, const char *body,
			  size_t len, const char *digest, int *lock,
			  struct rfs_oci_status *st)
{
	struct rfs_seal_options check = { .expected_digest = digest,
					  .manifest = true };
	char got[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct rfs_seal *seal = NULL;
	ssize_t n;
	int rc;

	rc = rfs_seal_begin(reg->store, &seal, &err);
	if (!rc) {
		n = rfs_seal_write(seal, body, len, 0, &err);
		rc = n < 0 ? (int)n : 0;
	}
	if (!rc) {
		*lock = rfs_store_lock(reg->store, false);
		rc = *lock < 0 ? *lock : 0;
	}
	if (!rc)
		rc = rfs_seal_store(seal, "manifest", &check, got, &err);
	rfs_seal_free(&seal);
	return rc ? store_failure(st, rc, RFS_OCI_MANIFEST_INVALID, &err) : 0;
}

struct put_state {
	struct rfs_manifest m;
	struct rfs_manifest_tag mt;
	json_t *root;
	const char **blobs;
	size_t n_blobs;
	/* An index's manifest for this platform, which mounts show. */
	struct rfs_registry_manifest platform_blob;
	struct rfs_manifest platform;
};

/* What a tag of the manifest shows in mounts (manifest.h): an image's
 * layers; for an index, those of this platform's image, as a pin through
 * an upstream shows them (pull.c), while the tag serves the index. An
 * index without this platform is a folder of its manifest.json. */
static int tag_shape(struct rfs_registry *reg, const char *body, size_t len,
		     const char *digest, struct put_state *ps,
		     struct rfs_oci_status *st)
{
	const struct rfs_descriptor *d = NULL;
	struct rfs_registry_manifest *pb = &ps->platform_blob;
	struct rfs_error err = { 0 };
	struct rfs_oci_status ignored;
	int rc;

	if (ps->m.kind == RFS_MANIFEST_INDEX)
		d = rfs_manifest_pick_platform(&ps->m);
	/* check_blobs found it in the repository. */
	if (d && read_manifest_blob(reg, d->digest, pb, &ignored) == 0 &&
	    rfs_manifest_parse(pb->body, pb->len, d->media_type, &ps->platform,
			       NULL) == 0 &&
	    ps->platform.kind == RFS_MANIFEST_IMAGE)
		rc = rfs_manifest_tag(pb->body, pb->len, pb->digest,
				      &ps->platform, &ps->mt, &err);
	else
		rc = rfs_manifest_tag(body, len, digest, &ps->m, &ps->mt, &err);
	if (rc)
		return fail(st, 400, RFS_OCI_MANIFEST_INVALID, rc, "%s",
			    rfs_error_message(&err, rc));
	return 0;
}

static int record_manifest(struct rfs_registry *reg, const char *repo,
			   const char *tag, bool replace, const char *body,
			   size_t len, const char *digest, const char *subject,
			   struct put_state *ps, struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	char *annotations = NULL;
	struct rfs_pin pin;
	int lock = -1, rc;

	if (tag) {
		rc = tag_shape(reg, body, len, digest, ps, st);
		if (rc)
			return rc;
		pin = (struct rfs_pin){
			.repo = repo,
			.tag = tag,
			.origin = "",
			.kind = ps->mt.kind,
			.digest = ps->mt.digest,
			.size = ps->mt.size,
			.manifest = digest,
			.manifest_size = len,
			.layers = ps->mt.layers,
			.n_layers = ps->mt.n_layers,
			.meta = &ps->mt.meta,
		};
	}
	if (json_object_get(ps->root, "annotations"))
		annotations =
		    json_dumps(json_object_get(ps->root, "annotations"),
			       JSON_COMPACT | JSON_SORT_KEYS);
	rc = store_manifest(reg, body, len, digest, &lock, st);
	if (!rc) {
		struct rfs_manifest_put put = {
			.repo = repo,
			.digest = digest,
			.size = len,
			.media_type = ps->m.media_type,
			.artifact_type = referrer_type(ps->root),
			.subject = subject,
			.annotations_json = annotations,
			.blobs = ps->blobs,
			.n_blobs = ps->n_blobs,
			.tag = tag ? &pin : NULL,
			.replace = replace,
		};

		rc = rfs_catalog_manifest_put(catalog(reg), &put, NULL, &err);
		if (rc == -EEXIST)
			rc = fail(st, 409, RFS_OCI_DENIED, rc,
				  "tag '%s:%s' was pushed meanwhile with "
				  "another manifest",
				  repo, tag);
		else if (rc)
			rc = store_failure(st, rc, RFS_OCI_MANIFEST_INVALID,
					   &err);
	}
	rfs_store_unlock(lock);
	free(annotations);
	return rc;
}

int rfs_registry_manifest_put(struct rfs_registry *reg, const char *repo,
			      const char *reference, const char *content_type,
			      const char *body, size_t len,
			      char digest[RFS_DIGEST_STR_MAX + 1],
			      char subject[RFS_DIGEST_STR_MAX + 1],
			      struct rfs_oci_status *st)
{
	struct put_state ps = { 0 };
	struct rfs_error err = { 0 };
	const char *tag = NULL;
	struct rfs_tag old;
	bool replace = false;
	json_t *sub, *mt;
	int rc;

	subject[0] = '\0';
	if (len > reg->opts.max_manifest_size)
		return fail(st, 413, RFS_OCI_SIZE_INVALID, -EFBIG,
			    "a manifest may have %llu bytes at most",
			    (unsigned long long)reg->opts.max_manifest_size);
	if (rfs_digest_buf(body, len, digest))
		return fail(st, 500, RFS_OCI_MANIFEST_INVALID, -EIO,
			    "cannot hash the manifest");
	if (is_digest_ref(reference)) {
		rc = check_digest(reference, st);
		if (rc)
			return rc;
		if (strcmp(reference, digest) != 0)
			return fail(st, 400, RFS_OCI_DIGEST_INVALID, -EBADMSG,
				    "the manifest's digest is %s, not %s",
				    digest, reference);
	} else if (!rfs_name_valid_tag(reference)) {
		return fail(st, 400, RFS_OCI_MANIFEST_INVALID, -EINVAL,
			    "invalid tag '%.130s'", reference);
	} else {
		tag = reference;
	}
	if (content_type && !*content_type)
		content_type = NULL;
	rc = rfs_manifest_parse(body, len, content_type, &ps.m, &err);
	if (rc)
		return fail(st, 400, RFS_OCI_MANIFEST_INVALID, rc, "%s",
			    rfs_error_message(&err, rc));
	ps.root = json_loadb(body, len, 0, NULL);
	/* The parser takes a Content-Type of the body's kind (Docker's for
	 * an OCI body) and its parameters; a push must say what the body
	 * declares. */
	mt = json_object_get(ps.root, "mediaType");
	if (json_is_string(mt) &&
	    strcasecmp(json_string_value(mt), ps.m.media_type) != 0) {
		rc = fail(st, 400, RFS_OCI_MANIFEST_INVALID, -EINVAL,
			  "the body is a %.200s, sent as %s",
			  json_string_value(mt), ps.m.media_type);
		goto out;
	}
	sub = json_object_get(json_object_get(ps.root, "subject"), "digest");
	if (json_is_string(sub)) {
		if (!rfs_digest_valid(json_string_value(sub))) {
			rc = fail(st, 400, RFS_OCI_MANIFEST_INVALID, -EINVAL,
				  "invalid subject digest");
			goto out;
		}
		snprintf(subject, RFS_DIGEST_STR_MAX + 1, "%s",
			 json_string_value(sub));
	}
	ps.blobs = calloc(ps.m.n_entries + 1, sizeof(*ps.blobs));
	if (!ps.blobs) {
		rc = fail(st, 500, RFS_OCI_MANIFEST_INVALID, -ENOMEM,
			  "out of memory");
		goto out;
	}
	rc = check_blobs(reg, repo, &ps.m, ps.blobs, &ps.n_blobs, st);
	if (rc)
		goto out;
	if (tag && rfs_catalog_tag_get(catalog(reg), repo, tag, &old) == 0) {
		if (tag_names(reg, &old, digest)) {
			tag = NULL; /* pushed again: the tag stands */
		} else if (tag_is_mutable(reg, repo, tag)) {
			replace = true;
		} else {
			rc = fail(st, 409, RFS_OCI_DENIED, -EEXIST,
				  "tag '%s:%s' is immutable: it names %s", repo,
				  tag,
				  old.manifest[0] ? old.manifest
						  : "a published file");
			goto out;
		}
	}
	rc = record_manifest(reg, repo, tag, replace, body, len, digest,
			     subject[0] ? subject : NULL, &ps, st);
out:
	rfs_manifest_tag_release(&ps.mt);
	rfs_manifest_release(&ps.platform);
	rfs_registry_manifest_release(&ps.platform_blob);
	rfs_manifest_release(&ps.m);
	json_decref(ps.root);
	free(ps.blobs);
	return rc;
}

int rfs_registry_manifest_delete(struct rfs_registry *reg, const char *repo,
				 const char *reference,
				 struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	struct rfs_tag tag;
	int rc;

	if (!is_digest_ref(reference)) {
		rc =
		    rfs_catalog_remove_tag(catalog(reg), repo, reference, &err);
	} else {
		rc = check_digest(reference, st);
		if (rc)
			return rc;
		rc = rfs_catalog_manifest_delete(catalog(reg), repo, reference,
						 &err);
		/* A local tag served by its built manifest. */
		while (rc == -ENOENT && find_built(reg, repo, reference, &tag))
			rc = rfs_catalog_remove_tag(catalog(reg), repo,
						    tag.name, &err);
	}
	if (rc == -ENOENT)
		return fail(st, 404, RFS_OCI_MANIFEST_UNKNOWN, rc,
			    "no manifest '%s' in '%s'", reference, repo);
	if (rc == -EPERM)
		return fail(st, 405, RFS_OCI_UNSUPPORTED, rc, "%s",
			    rfs_error_message(&err, rc));
	if (rc)
		return store_failure(st, rc, RFS_OCI_MANIFEST_UNKNOWN, &err);
	return 0;
}

/* --- blobs ------------------------------------------------------------ */

/* A pinned tag of repo: a fetch needs its upstream and repository. */
static int tag_naming(void *ctx, const struct rfs_tag *tag)
{
	struct rfs_tag *t = ctx;

	if (!tag->origin[0])
		return 0;
	*t = *tag;
	return 1;
}

/* A download of the pull-through cache, waited for until its bytes are
 * verified: the caller serves them then, as a mount's reader does,
 * without waiting for them to be durable in the store. */
struct verified_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int fd;
	struct rfs_error err;
};

static void on_verified(void *ctx, int fd, const struct rfs_error *err)
{
	struct verified_wait *w = ctx;

	pthread_mutex_lock(&w->lock);
	w->fd = fd;
	if (err)
		w->err = *err;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* 0 and *fd a descriptor of the verified bytes (or -1 when they are in
 * the store already), else a negative errno and err. */
static int fetch_verified(struct rfs_pull *pull, const struct rfs_tag *tag,
			  const char *digest, uint64_t size, int *fd,
			  struct rfs_error *err)
{
	struct verified_wait w = { .fd = -1 };
	int rc;

	*fd = -1;
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	rc = rfs_pull_fetch(pull, tag, digest, size, on_verified, &w, err);
	if (rc == 0) {
		/* Downloads have deadlines of their own (upstream.h): the
		 * callback always comes. */
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		if (w.fd < 0) {
			rc = w.fd;
			*err = w.err;
		}
		*fd = w.fd;
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc == 1 ? 0 : rc;
}

/* Under require_signature, a blob is fetched from an upstream only for a
 * tag whose signature verified: the search for one of repo's tags with
 * an ok verdict whose content, layers or config is digest. */
struct verified_search {
	struct rfs_registry *reg;
	const char *digest;
	bool hit;
};

static bool manifest_names(struct rfs_registry *reg, const char *manifest,
			   const char *digest)
{
	struct rfs_registry_manifest m = { 0 };
	struct rfs_oci_status st = { 0 };
	struct rfs_manifest pm = { 0 };
	bool hit = false;

	if (read_manifest_blob(reg, manifest, &m, &st))
		return false;
	if (rfs_manifest_parse(m.body, m.len, NULL, &pm, NULL) == 0) {
		hit = strcmp(pm.config.digest, digest) == 0;
		for (size_t i = 0; !hit && i < pm.n_entries; i++)
			hit = strcmp(pm.entries[i].digest, digest) == 0;
	}
	rfs_manifest_release(&pm);
	rfs_registry_manifest_release(&m);
	return hit;
}

static int verified_naming(void *ctx, const struct rfs_tag *tag)
{
	struct verified_search *s = ctx;

	if (!rfs_policy_verified(rfs_store_policy(s->reg->store),
				 catalog(s->reg), tag->repo, tag->name,
				 rfs_policy_subject(tag)))
		return 0;
	s->hit = strcmp(tag->digest, s->digest) == 0 ||
		 (tag->manifest[0] &&
		  manifest_names(s->reg, tag->manifest, s->digest));
	return s->hit ? 1 : 0;
}

/* May digest be fetched from an upstream for repo? */
static bool policy_allows_fetch(struct rfs_registry *reg, const char *repo,
				const char *digest)
{
	const struct rfs_sign_key *const *keys;
	struct verified_search s = { .reg = reg, .digest = digest };

	if (!reg->opts.check_signatures ||
	    !rfs_policy_keys(rfs_store_policy(reg->store), repo, &keys))
		return true;
	rfs_catalog_list_tags(catalog(reg), repo, verified_naming, &s);
	return s.hit;
}

/* A blob of a pinned tag that is not fetched yet (or was evicted):
 * through the pull-through cache, once, verified; *fd its verified bytes
 * when they are not in the store yet. */
static int fetch_blob(struct rfs_registry *reg, const char *repo,
		      const char *digest, int *fd, struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	struct rfs_tag tag = { 0 };
	struct rfs_blob b;
	int rc;

	if (!reg->opts.pull ||
	    rfs_catalog_blob_get(catalog(reg), digest, &b) != 0)
		return -ENOENT;
	if (rfs_catalog_list_tags(catalog(reg), repo, tag_naming, &tag) != 1)
		return -ENOENT;
	if (!policy_allows_fetch(reg, repo, digest))
		return fail(st, 403, RFS_OCI_DENIED, -EACCES,
			    "%s is no blob of a tag of '%s' whose signature "
			    "verified (require_signature)",
			    digest, repo);
	rc = fetch_verified(reg->opts.pull, &tag, digest, b.size, fd, &err);
	if (rc == -EACCES) /* the seal hook said no */
		return fail(st, 403, RFS_OCI_DENIED, rc, "%s",
			    rfs_error_message(&err, rc));
	if (rc)
		return fail(st, 502, RFS_OCI_BLOB_UNKNOWN, rc,
			    "cannot fetch %s from upstream '%s': %s", digest,
			    tag.origin, rfs_error_message(&err, rc));
	return 0;
}

/* A blob no tag of repo names, from the upstream serving repo (the
 * config of an image pinned from there, say): fetched, verified, and
 * recorded as a blob of repo. -ENOENT when no upstream serves repo. */
static int fetch_untagged(struct rfs_registry *reg, const char *repo,
			  const char *digest, struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	int lock, rc, fd;
	struct stat sb;

	if (!reg->opts.pull || !rfs_pull_serves(reg->opts.pull, repo))
		return -ENOENT;
	if (!policy_allows_fetch(reg, repo, digest))
		return fail(st, 403, RFS_OCI_DENIED, -EACCES,
			    "%s is no blob of a tag of '%s' whose signature "
			    "verified (require_signature)",
			    digest, repo);
	lock = rfs_store_lock(reg->store, false);
	if (lock < 0)
		return store_failure(st, lock, RFS_OCI_BLOB_UNKNOWN, NULL);
	rc = rfs_pull_fetch_untagged(reg->opts.pull, repo, digest, &err);
	if (rc == -ENOENT) {
		rc = fail(st, 404, RFS_OCI_BLOB_UNKNOWN, rc,
			  "no blob %s in '%s', here or upstream", digest, repo);
	} else if (rc == -EACCES) { /* the seal hook said no */
		rc = fail(st, 403, RFS_OCI_DENIED, rc, "%s",
			  rfs_error_message(&err, rc));
	} else if (rc) {
		rc = fail(st, 502, RFS_OCI_BLOB_UNKNOWN, rc,
			  "cannot fetch %s of '%s' from upstream: %s", digest,
			  repo, rfs_error_message(&err, rc));
	} else {
		fd = rfs_store_blob_open(reg->store, digest);
		rc = fd < 0 ? fd : fstat(fd, &sb) < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
		if (!rc)
			rc = rfs_catalog_repo_blob_link(
			    catalog(reg), repo, digest, (uint64_t)sb.st_size,
			    &err);
		if (rc)
			rc = store_failure(st, rc, RFS_OCI_BLOB_UNKNOWN, &err);
	}
	rfs_store_unlock(lock);
	return rc;
}

int rfs_registry_blob_open(struct rfs_registry *reg, const char *repo,
			   const char *digest, struct rfs_registry_blob *out,
			   struct rfs_oci_status *st)
{
	struct stat sb;
	int rc, fd;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->upstream = reg->opts.pull && rfs_pull_serves(reg->opts.pull, repo);
	rc = check_digest(digest, st);
	if (rc)
		return rc;
	if (strcmp(digest, RFS_EMPTY_CONFIG_DIGEST) == 0 &&
	    rfs_catalog_repo_exists(catalog(reg), repo) == 0) {
		out->data = empty_config;
		out->size = sizeof(empty_config) - 1;
		return 0;
	}
	if (rfs_catalog_repo_has_blob(catalog(reg), repo, digest) != 0) {
		rc = fetch_untagged(reg, repo, digest, st);
		if (rc == -ENOENT)
			return fail(st, 404, RFS_OCI_BLOB_UNKNOWN, rc,
				    "no blob %s in '%s'", digest, repo);
		if (rc)
			return rc;
		out->fetched = true;
	}
	fd = rfs_store_blob_open(reg->store, digest);
	if (fd == -ENOENT) {
		int verified = -1;

		rc = fetch_blob(reg, repo, digest, &verified, st);
		if (rc == -ENOENT)
			return fail(st, 404, RFS_OCI_BLOB_UNKNOWN, rc,
				    "blob %s of '%s' is not in the store",
				    digest, repo);
		if (rc)
			return rc;
		out->fetched = true;
		fd = verified >= 0 ? verified
				   : rfs_store_blob_open(reg->store, digest);
	}
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return fail(st, 500, RFS_OCI_BLOB_UNKNOWN, -EIO,
			    "cannot open blob %s", digest);
	}
	out->fd = fd;
	out->size = (uint64_t)sb.st_size;
	return 0;
}

void rfs_registry_blob_close(struct rfs_registry_blob *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

int rfs_registry_blob_delete(struct rfs_registry *reg, const char *repo,
			     const char *digest, struct rfs_oci_status *st)
{
	int rc = check_digest(digest, st);

	if (rc)
		return rc;
	rc = rfs_catalog_repo_blob_unlink(catalog(reg), repo, digest);
	if (rc == -ENOENT)
		return fail(st, 404, RFS_OCI_BLOB_UNKNOWN, rc,
			    "no blob %s in '%s'", digest, repo);
	if (rc)
		return fail(st, 500, RFS_OCI_BLOB_UNKNOWN, rc,
			    "cannot remove blob %s from '%s'", digest, repo);
	return 0;
}

int rfs_registry_blob_mount(struct rfs_registry *reg, const char *repo,
			    const char *from_repo, const char *digest,
			    struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	struct rfs_blob b;
	int rc = check_digest(digest, st);

	if (rc)
		return rc;
	if (!from_repo || !rfs_name_valid_repo(from_repo) ||
	    rfs_catalog_repo_has_blob(catalog(reg), from_repo, digest) != 0 ||
	    rfs_catalog_blob_get(catalog(reg), digest, &b) != 0 || !b.present)
		return -ENOENT;
	rc = rfs_catalog_repo_blob_link(catalog(reg), repo, digest, b.size,
					&err);
	return rc ? store_failure(st, rc, RFS_OCI_BLOB_UPLOAD_INVALID, &err)
		  : 0;
}

/* --- uploads ---------------------------------------------------------- */

int rfs_registry_check_room(struct rfs_registry *reg, uint64_t bytes,
			    struct rfs_oci_status *st)
{
	struct statvfs fs;
	uint64_t room;

	if (statvfs(rfs_store_root(reg->store), &fs) != 0)
		return 0; /* the writes will tell */
	room = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (bytes <= room)
		return 0;
	return fail(st, 507, RFS_OCI_BLOB_UPLOAD_INVALID, -ENOSPC,
		    "the store has %llu bytes free, the upload %llu",
		    (unsigned long long)room, (unsigned long long)bytes);
}

/* Drop sessions nobody used for upload_idle_ns. Lock held. */
static void expire_uploads(struct rfs_registry *reg, int64_t now)
{
	for (struct rfs_upload **p = &reg->uploads; *p;) {
		struct rfs_upload *u = *p;

		if (!u->busy && now - u->used_ns > reg->opts.upload_idle_ns) {
			*p = u->next;
			reg->n_uploads--;
			upload_free(u);
		} else {
			p = &u->next;
		}
	}
}

int rfs_registry_upload_start(struct rfs_registry *reg, const char *repo,
			      struct rfs_upload **out,
			      struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	unsigned char raw[RFS_UPLOAD_ID_LEN / 2];
	struct rfs_upload *u;
	int rc;

	u = calloc(1, sizeof(*u));
	if (!u || RAND_bytes(raw, sizeof(raw)) != 1) {
		free(u);
		return fail(st, 500, RFS_OCI_BLOB_UPLOAD_INVALID, -ENOMEM,
			    "cannot open an upload session");
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(u->id + 2 * i, 3, "%02x", raw[i]);
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	rc = rfs_seal_begin(reg->store, &u->seal, &err);
	if (rc) {
		free(u);
		return store_failure(st, rc, RFS_OCI_BLOB_UPLOAD_INVALID, &err);
	}
	u->used_ns = rfs_now_ns();
	u->busy = true;
	pthread_mutex_lock(&reg->lock);
	expire_uploads(reg, u->used_ns);
	if (reg->n_uploads >= reg->opts.max_uploads) {
		pthread_mutex_unlock(&reg->lock);
		upload_free(u);
		return fail(st, 429, RFS_OCI_TOOMANYREQUESTS, -EBUSY,
			    "%u uploads are open already: try again later",
			    reg->opts.max_uploads);
	}
	u->next = reg->uploads;
	reg->uploads = u;
	reg->n_uploads++;
	pthread_mutex_unlock(&reg->lock);
	*out = u;
	return 0;
}

int rfs_registry_upload_acquire(struct rfs_registry *reg, const char *repo,
				const char *id, struct rfs_upload **out,
				struct rfs_oci_status *st)
{
	struct rfs_upload *u;
	int rc = 0;

	pthread_mutex_lock(&reg->lock);
	expire_uploads(reg, rfs_now_ns());
	for (u = reg->uploads; u; u = u->next)
		if (strcmp(u->id, id) == 0 && strcmp(u->repo, repo) == 0)
			break;
	if (!u)
		rc = fail(st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN, -ENOENT,
			  "no upload '%.64s' in '%s' (it may have expired)", id,
			  repo);
	else if (u->busy)
		rc = fail(st, 409, RFS_OCI_BLOB_UPLOAD_INVALID, -EBUSY,
			  "upload '%s' is in use by another request", id);
	else
		u->busy = true;
	pthread_mutex_unlock(&reg->lock);
	*out = rc ? NULL : u;
	return rc;
}

const char *rfs_upload_id(const struct rfs_upload *u)
{
	return u->id;
}

uint64_t rfs_upload_size(const struct rfs_upload *u)
{
	return rfs_seal_size(u->seal);
}

int rfs_upload_write(struct rfs_upload *u, const void *buf, size_t len,
		     struct rfs_oci_status *st)
{
	struct rfs_error err = { 0 };
	ssize_t n =
	    rfs_seal_write(u->seal, buf, len, rfs_seal_size(u->seal), &err);

	if (n < 0) {
		u->broken = true;
		return store_failure(st, (int)n, RFS_OCI_BLOB_UPLOAD_INVALID,
				     &err);
	}
	return 0;
}

/* Take u out of the table (a request holds it). */
static void upload_remove(struct rfs_registry *reg, struct rfs_upload *u)
{
	pthread_mutex_lock(&reg->lock);
	for (struct rfs_upload **p = &reg->uploads; *p; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			reg->n_uploads--;
			break;
		}
	pthread_mutex_unlock(&reg->lock);
}

void rfs_registry_upload_release(struct rfs_registry *reg, struct rfs_upload *u)
{
	/* Kept, it would hold its staging space, on a disk that may be
	 * full, until it expires. */
	if (u->broken) {
		rfs_registry_upload_cancel(reg, u);
		return;
	}
	pthread_mutex_lock(&reg->lock);
	u->busy = false;
	u->used_ns = rfs_now_ns();
	pthread_mutex_unlock(&reg->lock);
}

void rfs_registry_upload_cancel(struct rfs_registry *reg, struct rfs_upload *u)
{
	upload_remove(reg, u);
	upload_free(u);
}

int rfs_registry_upload_finish(struct rfs_registry *reg, struct rfs_upload *u,
			       const char *digest, struct rfs_oci_status *st)
{
	/* The seal hook hears of a blob as it is uploaded, with its
	 * repository and no tag: a manifest only names blobs that are
	 * stored, so nothing becomes a tag without its yes. */
	struct rfs_seal_options check = { .expected_digest = digest,
					  .repo = u->repo };
	char got[RFS_DIGEST_STR_MAX + 1], what[RFS_DIGEST_STR_MAX + 16];
	struct rfs_error err = { 0 };
	uint64_t size = rfs_seal_size(u->seal);
	int rc, lock = -1;

	rc = check_digest(digest, st);
	if (rc) {
		rfs_registry_upload_cancel(reg, u);
		return rc;
	}
	upload_remove(reg, u);
	snprintf(what, sizeof(what), "blob %s", digest);
	/* Hashed and asked about before the lock, which gc waits for. */
	rc = rfs_seal_scan(u->seal, what, &check, &err);
	if (!rc) {
		lock = rfs_store_lock(reg->store, false);
		rc = lock < 0
			 ? lock
			 : rfs_seal_store(u->seal, what, &check, got, &err);
	}
	if (rc == -EBADMSG)
		rc = fail(st, 400, RFS_OCI_DIGEST_INVALID, rc,
			  "the upload's content does not match %s", digest);
	else if (rc == -EACCES)
		rc = fail(st, 403, RFS_OCI_DENIED, rc, "%s",
			  rfs_error_message(&err, rc));
	else if (rc)
		rc = store_failure(st, rc, RFS_OCI_BLOB_UPLOAD_INVALID, &err);
	if (!rc) {
		rc = rfs_catalog_repo_blob_link(catalog(reg), u->repo, digest,
						size, &err);
		if (rc)
			rc = store_failure(st, rc, RFS_OCI_BLOB_UPLOAD_INVALID,
					   &err);
	}
	rfs_store_unlock(lock);
	upload_free(u);
	return rc;
}

/* --- listings --------------------------------------------------------- */

/* Names from the store and from upstreams, merged: sorted, each once. */
static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hand fn the page of l after after, limit names at most. */
static int names_page(struct rfs_strv *l, const char *after, int64_t limit,
		      rfs_registry_name_fn fn, void *ctx)
{
	int rc = 0;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), by_name);
	for (size_t i = 0; !rc && i < l->n && limit > 0; i++) {
		if ((after && strcmp(l->v[i], after) <= 0) ||
		    (i && strcmp(l->v[i], l->v[i - 1]) == 0))
			continue;
		rc = fn(ctx, l->v[i]);
		limit--;
	}
	return rc;
}

int rfs_registry_list_tags(struct rfs_registry *reg, const char *repo,
			   const char *after, int64_t limit,
			   rfs_registry_name_fn fn, void *ctx,
			   struct rfs_oci_status *st)
{
	struct rfs_pull *pull = reg->opts.pull;
	bool upstream = pull && rfs_pull_serves(pull, repo);
	struct rfs_strv all = { .max = MAX_LISTED };
	int rc;

	if (rfs_catalog_repo_exists(catalog(reg), repo) != 0 &&
	    (!upstream || rfs_pull_repo_state(pull, repo) != RFS_REPO_EXISTS))
		return fail(st, 404, RFS_OCI_NAME_UNKNOWN, -ENOENT,
			    "no repository '%s'", repo);
	if (!upstream) {
		rc = rfs_catalog_list_tag_names(
		    catalog(reg), repo, after ? after : "", limit, fn, ctx);
	} else {
		rc = rfs_catalog_list_tag_names(catalog(reg), repo, "",
						MAX_LISTED, rfs_strv_add, &all);
		/* An upstream that cannot be reached lists nothing. */
		if (!rc)
			rfs_pull_list_tags(pull, repo, rfs_strv_add, &all,
					   NULL);
		if (!rc)
			rc = names_page(&all, after, limit, fn, ctx);
		rfs_strv_free(&all);
	}
	if (rc < 0)
		return fail(st, 500, RFS_OCI_NAME_UNKNOWN, rc,
			    "cannot list the tags of '%s'", repo);
	return 0;
}

int rfs_registry_list_repos(struct rfs_registry *reg, const char *after,
			    int64_t limit, rfs_registry_name_fn fn, void *ctx,
			    struct rfs_oci_status *st)
{
	struct rfs_strv all = { .max = MAX_LISTED };
	int rc;

	if (!reg->opts.pull) {
		rc = rfs_catalog_list_repos(catalog(reg), after ? after : "",
					    limit, fn, ctx);
	} else {
		rc = rfs_catalog_list_repos(catalog(reg), "", MAX_LISTED,
					    rfs_strv_add, &all);
		if (!rc)
			rfs_pull_list_repos(reg->opts.pull, rfs_strv_add, &all);
		if (!rc)
			rc = names_page(&all, after, limit, fn, ctx);
		rfs_strv_free(&all);
	}
	if (rc < 0)
		return fail(st, 500, RFS_OCI_NAME_UNKNOWN, rc,
			    "cannot list the repositories");
	return 0;
}

struct referrers {
	json_t *list;
	const char *artifact_type;
	size_t n;
};

static int add_referrer(void *ctx, const struct rfs_manifest_row *m)
{
	struct referrers *r = ctx;
	json_t *d;

	if (r->artifact_type && strcmp(r->artifact_type, m->artifact_type))
		return 0;
	if (r->n++ == MAX_REFERRERS)
		return 1;
	d = json_pack("{s:s, s:s, s:I}", "mediaType", m->media_type, "digest",
		      m->digest, "size", (json_int_t)m->size);
	if (d && m->artifact_type[0])
		json_object_set_new(d, "artifactType",
				    json_string(m->artifact_type));
	if (d && m->annotations)
		json_object_set_new(d, "annotations",
				    json_loads(m->annotations, 0, NULL));
	return d ? json_array_append_new(r->list, d) : -ENOMEM;
}

int rfs_registry_referrers(struct rfs_registry *reg, const char *repo,
			   const char *digest, const char *artifact_type,
			   char **body, size_t *len, struct rfs_oci_status *st)
{
	struct referrers r = { .artifact_type = artifact_type };
	json_t *index;
	int rc = check_digest(digest, st);

	if (rc)
		return rc;
	r.list = json_array();
	rc = r.list ? rfs_catalog_list_referrers(catalog(reg), repo, digest,
						 add_referrer, &r)
		    : -ENOMEM;
	if (rc < 0) {
		json_decref(r.list);
		return fail(st, 500, RFS_OCI_MANIFEST_UNKNOWN, rc,
			    "cannot list the referrers of %s", digest);
	}
	index = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
			  RFS_MT_OCI_INDEX, "manifests", r.list);
	*body = index ? json_dumps(index, JSON_COMPACT) : NULL;
	json_decref(index);
	if (!*body)
		return fail(st, 500, RFS_OCI_MANIFEST_UNKNOWN, -ENOMEM,
			    "out of memory");
	*len = strlen(*body);
	return 0;
}
