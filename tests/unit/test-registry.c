/*
 * test-registry.c - unit tests of registry.h on a store in a temporary
 * folder, without HTTP: upload sessions (in pieces, verified against
 * their digest, busy, expired, limited, cancelled), mounts from another
 * repository, manifests (the rules a push keeps, what a pushed tag
 * becomes in the tree, the bytes served back), local tags served as
 * regctl push builds them, referrers, delete and gc, listings, and
 * pushes from several threads at once.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "catalog.h"
#include "digest.h"
#include "gc.h"
#include "manifest.h"
#include "push.h"
#include "registry.h"
#include "seal.h"
#include "store.h"
#include "tmptree.h"

#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER  "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_SIG	  "application/vnd.example.signature.v1"
#define MT_SBOM	  "application/vnd.example.sbom.v1+json"
#define D_NOWHERE \
	"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
	char root[64];
	char path[PATH_MAX];
	struct rfs_store *store;
	struct rfs_registry *reg;
};

/* Content of a blob, and its digest. */
struct blob {
	char digest[RFS_DIGEST_STR_MAX + 1];
	unsigned char *data;
	size_t len;
};

static void open_reg(struct fixture *f, const struct rfs_registry_options *o)
{
	struct rfs_error err = { 0 };

	rfs_registry_free(&f->reg);
	assert_null(f->reg);
	if (rfs_registry_new(f->store, o, &f->reg, &err) != 0)
		fail_msg("rfs_registry_new: %s", err.msg);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-registry-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	if (rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err) != 0 ||
	    rfs_registry_new(f->store, NULL, &f->reg, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_registry_free(&f->reg);
	rfs_registry_free(&f->reg);
	rfs_store_close(&f->store);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

static struct rfs_catalog *cat(struct fixture *f)
{
	return rfs_store_catalog(f->store);
}

static int staging_count(struct fixture *f)
{
	return count_entries(rfs_store_staging_dir(f->store));
}

static int blob_count(struct fixture *f)
{
	snprintf(f->path, sizeof(f->path), "%s/blobs/sha256", f->root);
	return count_entries(f->path);
}

/* Staging files this process holds open. A staging file may be an
 * O_TMPFILE with no name, which no listing of staging/ shows: its
 * descriptor still links to the folder. */
static int staging_fds(struct fixture *f)
{
	char dir[PATH_MAX], link[PATH_MAX + 32], target[PATH_MAX];
	size_t n;
	int count = 0;

	assert_non_null(realpath(rfs_store_staging_dir(f->store), dir));
	n = strlen(dir);
	for (int fd = 0; fd < 4096; fd++) {
		ssize_t len;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, dir, n) == 0 && target[n] == '/')
			count++;
	}
	return count;
}

static bool blob_file_exists(struct fixture *f, const char *digest)
{
	struct stat st;

	assert_int_equal(
	    rfs_store_blob_path(f->store, digest, f->path, sizeof(f->path)), 0);
	return stat(f->path, &st) == 0;
}

static void blob_make(struct blob *b, size_t len, unsigned seed)
{
	b->data = malloc(len ? len : 1);
	assert_non_null(b->data);
	for (size_t i = 0; i < len; i++)
		b->data[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
	b->len = len;
	assert_int_equal(rfs_digest_buf(b->data, len, b->digest), 0);
}

static void blob_text(struct blob *b, const char *text)
{
	b->len = strlen(text);
	b->data = malloc(b->len + 1);
	assert_non_null(b->data);
	memcpy(b->data, text, b->len + 1);
	assert_int_equal(rfs_digest_buf(b->data, b->len, b->digest), 0);
}

static void blob_free(struct blob *b)
{
	free(b->data);
	b->data = NULL;
}

static void expect_status(int rc, const struct rfs_oci_status *st, int http,
			  enum rfs_oci_code code)
{
	if (rc >= 0 || st->http != http || st->code != code)
		fail_msg("got %d, %d %s (%s); expected %d %s", rc, st->http,
			 rfs_oci_code_name(st->code), st->message, http,
			 rfs_oci_code_name(code));
}

#define OK(call)                                                       \
	do {                                                           \
		struct rfs_oci_status st_ = { 0 };                     \
		int rc_ = (call);                                      \
		(void)st_;                                             \
		if (rc_ != 0)                                          \
			fail_msg("%s: %d %d %s", #call, rc_, st_.http, \
				 st_.message);                         \
	} while (0)

/* Upload b into repo in pieces of piece bytes, the session given back and
 * taken again by its id between pieces, as chunked PATCH requests do. */
static void upload_pieces(struct fixture *f, const char *repo,
			  const struct blob *b, size_t piece)
{
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL, *again = NULL;
	char id[RFS_UPLOAD_ID_LEN + 1];
	size_t done = 0;

	OK(rfs_registry_upload_start(f->reg, repo, &u, &st_));
	assert_non_null(u);
	assert_int_equal(strlen(rfs_upload_id(u)), RFS_UPLOAD_ID_LEN);
	snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
	while (done < b->len) {
		size_t n = b->len - done < piece ? b->len - done : piece;

		OK(rfs_upload_write(u, b->data + done, n, &st_));
		done += n;
		assert_int_equal(rfs_upload_size(u), done);
		rfs_registry_upload_release(f->reg, u);
		if (rfs_registry_upload_acquire(f->reg, repo, id, &again,
						&st) != 0)
			fail_msg("acquire %s: %s", id, st.message);
		assert_ptr_equal(again, u);
	}
	if (rfs_registry_upload_finish(f->reg, u, b->digest, &st) != 0)
		fail_msg("finish %s in '%s': %d %s", b->digest, repo, st.http,
			 st.message);
}

static void upload(struct fixture *f, const char *repo, const struct blob *b)
{
	upload_pieces(f, repo, b, 4093);
}

/* What repo serves as digest, whole; NULL with st filled on failure. */
static unsigned char *blob_read(struct fixture *f, const char *repo,
				const char *digest, size_t *len,
				struct rfs_oci_status *st)
{
	struct rfs_registry_blob b;
	unsigned char *buf;
	size_t got = 0;

	if (rfs_registry_blob_open(f->reg, repo, digest, &b, st) != 0)
		return NULL;
	buf = malloc(b.size + 1);
	assert_non_null(buf);
	if (b.fd < 0) {
		assert_non_null(b.data);
		memcpy(buf, b.data, b.size);
		got = b.size;
	}
	while (got < b.size) {
		ssize_t n = pread(b.fd, buf + got, b.size - got, (off_t)got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	*len = got;
	rfs_registry_blob_close(&b);
	assert_int_equal(b.fd, -1);
	return buf;
}

static void expect_blob(struct fixture *f, const char *repo,
			const struct blob *b)
{
	struct rfs_oci_status st = { 0 };
	size_t len = 0;
	unsigned char *got = blob_read(f, repo, b->digest, &len, &st);

	if (!got)
		fail_msg("blob %s of '%s': %d %s", b->digest, repo, st.http,
			 st.message);
	assert_int_equal(len, b->len);
	assert_memory_equal(got, b->data, b->len);
	free(got);
}

static void expect_no_blob(struct fixture *f, const char *repo,
			   const char *digest)
{
	struct rfs_oci_status st = { 0 };
	size_t len = 0;
	unsigned char *got = blob_read(f, repo, digest, &len, &st);

	assert_null(got);
	expect_status(-1, &st, 404, RFS_OCI_BLOB_UNKNOWN);
}

static json_t *descriptor(const char *media_type, const char *digest,
			  uint64_t size)
{
	json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", media_type,
			      "digest", digest, "size", (json_int_t)size);

	assert_non_null(d);
	return d;
}

/* What an image manifest may carry besides its config and layers. */
struct extras {
	const char *artifact_type;
	const char *subject; /* a manifest's digest */
	const char *note;    /* the annotation org.example.note */
	const char *config_type;
};

/* An OCI image manifest (malloc()ed, free() it). config NULL: the empty
 * config, as artifacts have. */
static char *image_json(const struct blob *config, const struct blob *layers,
			size_t n, const struct extras *x)
{
	json_t *root = json_object(), *list = json_array();
	char *text;

	assert_non_null(root);
	assert_non_null(list);
	json_object_set_new(root, "schemaVersion", json_integer(2));
	json_object_set_new(root, "mediaType",
			    json_string(RFS_MT_OCI_MANIFEST));
	if (config)
		json_object_set_new(
		    root, "config",
		    descriptor(x && x->config_type ? x->config_type : MT_CONFIG,
			       config->digest, config->len));
	else
		json_object_set_new(root, "config",
				    descriptor(x && x->config_type
						   ? x->config_type
						   : RFS_MT_EMPTY,
					       RFS_EMPTY_CONFIG_DIGEST, 2));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    list,
		    descriptor(MT_LAYER, layers[i].digest, layers[i].len));
	json_object_set_new(root, "layers", list);
	if (x && x->artifact_type)
		json_object_set_new(root, "artifactType",
				    json_string(x->artifact_type));
	if (x && x->subject)
		json_object_set_new(
		    root, "subject",
		    descriptor(RFS_MT_OCI_MANIFEST, x->subject, 1234));
	if (x && x->note)
		json_object_set_new(
		    root, "annotations",
		    json_pack("{s:s}", "org.example.note", x->note));
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	json_decref(root);
	return text;
}

static int put(struct fixture *f, const char *repo, const char *reference,
	       const char *content_type, const char *body,
	       char digest[RFS_DIGEST_STR_MAX + 1], struct rfs_oci_status *st)
{
	char subject[RFS_DIGEST_STR_MAX + 1];

	return rfs_registry_manifest_put(f->reg, repo, reference, content_type,
					 body, strlen(body), digest, subject,
					 st);
}

static void put_ok(struct fixture *f, const char *repo, const char *reference,
		   const char *body, char digest[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_oci_status st = { 0 };
	char want[RFS_DIGEST_STR_MAX + 1];

	if (put(f, repo, reference, RFS_MT_OCI_MANIFEST, body, digest, &st))
		fail_msg("put %s:%s: %d %s %s", repo, reference, st.http,
			 rfs_oci_code_name(st.code), st.message);
	assert_int_equal(rfs_digest_buf(body, strlen(body), want), 0);
	assert_string_equal(digest, want);
}

/* The manifest repo serves as reference is body, of media_type. */
static void expect_manifest(struct fixture *f, const char *repo,
			    const char *reference, const char *body, size_t len,
			    const char *media_type)
{
	struct rfs_registry_manifest m;
	struct rfs_oci_status st = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];

	if (rfs_registry_manifest_get(f->reg, repo, reference, &m, &st))
		fail_msg("get %s:%s: %d %s", repo, reference, st.http,
			 st.message);
	assert_int_equal(rfs_digest_buf(body, len, digest), 0);
	assert_string_equal(m.digest, digest);
	assert_string_equal(m.media_type, media_type);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.body, body, len);
	rfs_registry_manifest_release(&m);
	assert_null(m.body);
}

static void expect_no_manifest(struct fixture *f, const char *repo,
			       const char *reference)
{
	struct rfs_registry_manifest m;
	struct rfs_oci_status st = { 0 };
	int rc = rfs_registry_manifest_get(f->reg, repo, reference, &m, &st);

	expect_status(rc, &st, 404, RFS_OCI_MANIFEST_UNKNOWN);
	assert_null(m.body);
}

/* Seal bytes as the local tag repo:tag, as cp into incoming/ does. */
static void seal_local(struct fixture *f, const char *repo, const char *tag,
		       const char *text, struct rfs_tag *out)
{
	struct rfs_seal_options opts = { 0 };
	struct rfs_error err = { 0 };
	struct rfs_seal *seal = NULL;
	size_t len = strlen(text);

	assert_int_equal(rfs_seal_begin(f->store, &seal, &err), 0);
	assert_int_equal(rfs_seal_write(seal, text, len, 0, &err),
			 (ssize_t)len);
	if (rfs_seal_commit(seal, repo, tag, &opts, out, &err) != 0)
		fail_msg("seal %s:%s: %s", repo, tag, err.msg);
	rfs_seal_free(&seal);
}

/* An image of a config and n layers, all uploaded into repo. */
struct image {
	struct blob config;
	struct blob layers[3];
	size_t n;
	char *json;
	char digest[RFS_DIGEST_STR_MAX + 1];
};

static void image_make(struct fixture *f, const char *repo, struct image *im,
		       size_t n, unsigned seed)
{
	char config[128];

	memset(im, 0, sizeof(*im));
	snprintf(config, sizeof(config),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":%u}",
		 seed);
	blob_text(&im->config, config);
	upload(f, repo, &im->config);
	for (size_t i = 0; i < n; i++) {
		blob_make(&im->layers[i], 1000 + 300 * i + seed, seed * 7 + i);
		upload(f, repo, &im->layers[i]);
	}
	im->n = n;
	im->json = image_json(&im->config, im->layers, n, NULL);
	assert_int_equal(rfs_digest_buf(im->json, strlen(im->json), im->digest),
			 0);
}

static void image_free(struct image *im)
{
	blob_free(&im->config);
	for (size_t i = 0; i < im->n; i++)
		blob_free(&im->layers[i]);
	free(im->json);
}

/* --- uploads ---------------------------------------------------------- */

static void test_upload_in_pieces(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL;
	struct blob b;

	blob_make(&b, 100000, 1);
	upload_pieces(f, "team/app", &b, 7777);
	assert_int_equal(blob_count(f), 1);
	assert_true(blob_file_exists(f, b.digest));
	assert_int_equal(staging_count(f), 0);
	assert_int_equal(staging_fds(f), 0);
	expect_blob(f, "team/app", &b);

	/* Blobs belong to repositories. */
	expect_no_blob(f, "team/other", b.digest);
	expect_no_blob(f, "team", b.digest);
	expect_no_blob(f, "team/app", D_NOWHERE);

	/* A digest that is not one. */
	size_t len;
	assert_null(blob_read(f, "team/app", "sha256:abc", &len, &st));
	assert_int_equal(st.http, 400);
	assert_int_equal(st.code, RFS_OCI_DIGEST_INVALID);

	/* An empty blob, uploaded in one finish. */
	struct blob empty;
	blob_text(&empty, "");
	OK(rfs_registry_upload_start(f->reg, "team/app", &u, &st_));
	OK(rfs_registry_upload_finish(f->reg, u, empty.digest, &st_));
	expect_blob(f, "team/app", &empty);
	blob_free(&empty);
	blob_free(&b);
}

static void test_upload_wrong_digest(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL, *again = NULL;
	char id[RFS_UPLOAD_ID_LEN + 1];
	struct blob b, other;
	int rc;

	blob_text(&b, "hello world\n");
	blob_text(&other, "hello world!\n");
	OK(rfs_registry_upload_start(f->reg, "app", &u, &st_));
	snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
	OK(rfs_upload_write(u, b.data, b.len, &st_));

	/* Not digests at all. (Whether the session stays for a better one
	 * is registry.h's to say; if it does, it is ended here.) */
	const char *const bad[] = {
		"sha256:1234",
		"md5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
		"abcdef",
		"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef01234567"
		"89abcdef",
	};
	for (size_t i = 0; i < 3; i++) {
		if (!u) {
			OK(rfs_registry_upload_start(f->reg, "app", &u, &st_));
			snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
			OK(rfs_upload_write(u, b.data, b.len, &st_));
		}
		rc = rfs_registry_upload_finish(f->reg, u, bad[i], &st);
		expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);
		u = NULL;
		if (rfs_registry_upload_acquire(f->reg, "app", id, &u, &st))
			u = NULL;
		assert_int_equal(blob_count(f), 0);
	}
	if (!u) {
		OK(rfs_registry_upload_start(f->reg, "app", &u, &st_));
		snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
		OK(rfs_upload_write(u, b.data, b.len, &st_));
	}
	assert_int_equal(staging_fds(f), 1);

	/* Another content's digest: refused, and nothing is kept. */
	rc = rfs_registry_upload_finish(f->reg, u, other.digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
	assert_int_equal(staging_fds(f), 0);
	expect_no_blob(f, "app", other.digest);
	expect_no_blob(f, "app", b.digest);
	struct rfs_blob row;
	assert_int_equal(rfs_catalog_blob_get(cat(f), other.digest, &row),
			 -ENOENT);
	assert_int_equal(rfs_catalog_blob_get(cat(f), b.digest, &row), -ENOENT);
	/* The session ended. */
	rc = rfs_registry_upload_acquire(f->reg, "app", id, &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);
	assert_null(again);
	blob_free(&b);
	blob_free(&other);
}

static void test_upload_busy_and_elsewhere(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL, *again = NULL;
	char id[RFS_UPLOAD_ID_LEN + 1];
	struct blob b;
	int rc;

	blob_text(&b, "some bytes");
	OK(rfs_registry_upload_start(f->reg, "a/b", &u, &st_));
	snprintf(id, sizeof(id), "%s", rfs_upload_id(u));

	/* Held by the request that started it. */
	rc = rfs_registry_upload_acquire(f->reg, "a/b", id, &again, &st);
	assert_int_equal(rc, -EBUSY);
	assert_int_equal(st.http, 409);
	assert_null(again);

	rfs_registry_upload_release(f->reg, u);
	/* Another repository's session is unknown there. */
	rc = rfs_registry_upload_acquire(f->reg, "a/c", id, &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);
	rc = rfs_registry_upload_acquire(f->reg, "a", id, &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);
	rc = rfs_registry_upload_acquire(
	    f->reg, "a/b", "00000000000000000000000000000000", &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);

	OK(rfs_registry_upload_acquire(f->reg, "a/b", id, &again, &st_));
	assert_ptr_equal(again, u);
	rc = rfs_registry_upload_acquire(f->reg, "a/b", id, &again, &st);
	assert_int_equal(rc, -EBUSY);
	OK(rfs_upload_write(u, b.data, b.len, &st_));
	OK(rfs_registry_upload_finish(f->reg, u, b.digest, &st_));
	expect_blob(f, "a/b", &b);
	expect_no_blob(f, "a/c", b.digest);
	blob_free(&b);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void test_upload_expiry(void **state)
{
	struct fixture *f = *state;
	struct rfs_registry_options o = { .upload_idle_ns = 20 * 1000000LL };
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *idle = NULL, *held = NULL, *u = NULL, *again;
	char idle_id[RFS_UPLOAD_ID_LEN + 1];
	struct blob b;
	int rc;

	open_reg(f, &o);
	blob_text(&b, "held on to");
	OK(rfs_registry_upload_start(f->reg, "app", &idle, &st_));
	snprintf(idle_id, sizeof(idle_id), "%s", rfs_upload_id(idle));
	OK(rfs_upload_write(idle, "abc", 3, &st_));
	rfs_registry_upload_release(f->reg, idle);
	OK(rfs_registry_upload_start(f->reg, "app", &held, &st_));
	assert_int_equal(staging_fds(f), 2);

	sleep_ms(60);
	/* Starting another expires the idle one, not the one in use. */
	OK(rfs_registry_upload_start(f->reg, "app", &u, &st_));
	assert_int_equal(staging_fds(f), 2);
	rc = rfs_registry_upload_acquire(f->reg, "app", idle_id, &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);

	OK(rfs_upload_write(held, b.data, b.len, &st_));
	OK(rfs_registry_upload_finish(f->reg, held, b.digest, &st_));
	expect_blob(f, "app", &b);

	/* Given back and left alone: expired by the next acquire. */
	char id[RFS_UPLOAD_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
	rfs_registry_upload_release(f->reg, u);
	sleep_ms(60);
	rc = rfs_registry_upload_acquire(f->reg, "app", id, &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(staging_fds(f), 0);
	assert_int_equal(staging_count(f), 0);
	blob_free(&b);
}

static void test_upload_limit(void **state)
{
	struct fixture *f = *state;
	struct rfs_registry_options o = { .max_uploads = 2 };
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u1 = NULL, *u2 = NULL, *u3 = NULL;
	int rc;

	open_reg(f, &o);
	OK(rfs_registry_upload_start(f->reg, "app", &u1, &st_));
	OK(rfs_registry_upload_start(f->reg, "other", &u2, &st_));
	rc = rfs_registry_upload_start(f->reg, "app", &u3, &st);
	expect_status(rc, &st, 429, RFS_OCI_TOOMANYREQUESTS);
	assert_int_equal(staging_fds(f), 2);

	rfs_registry_upload_cancel(f->reg, u1);
	OK(rfs_registry_upload_start(f->reg, "app", &u3, &st_));
	rfs_registry_upload_release(f->reg, u3);
	/* Sessions left open are aborted with the registry. */
	open_reg(f, NULL);
	assert_int_equal(staging_fds(f), 0);
	assert_int_equal(staging_count(f), 0);
	(void)u2;
}

static void test_upload_cancel(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL, *again = NULL;
	char id[RFS_UPLOAD_ID_LEN + 1];
	struct blob b;
	int rc;

	blob_make(&b, 50000, 3);
	OK(rfs_registry_upload_start(f->reg, "app", &u, &st_));
	snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
	OK(rfs_upload_write(u, b.data, b.len, &st_));
	rfs_registry_upload_release(f->reg, u);
	assert_int_equal(staging_fds(f), 1);
	OK(rfs_registry_upload_acquire(f->reg, "app", id, &again, &st_));
	rfs_registry_upload_cancel(f->reg, again);

	assert_int_equal(staging_fds(f), 0);
	assert_int_equal(staging_count(f), 0);
	assert_int_equal(blob_count(f), 0);
	rc = rfs_registry_upload_acquire(f->reg, "app", id, &again, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UPLOAD_UNKNOWN);
	expect_no_blob(f, "app", b.digest);
	blob_free(&b);
}

/* --- mounts ----------------------------------------------------------- */

static void test_mount(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	struct blob b;
	char digest[RFS_DIGEST_STR_MAX + 1];
	char *body;

	blob_make(&b, 3000, 4);
	upload(f, "src/a", &b);
	expect_no_blob(f, "dst/b", b.digest);
	OK(rfs_registry_blob_mount(f->reg, "dst/b", "src/a", b.digest, &st_));
	expect_blob(f, "dst/b", &b);
	expect_blob(f, "src/a", &b);
	/* Once stored, not twice. */
	assert_int_equal(blob_count(f), 1);

	/* Unknown sources: the caller opens an upload instead. */
	assert_int_equal(
	    rfs_registry_blob_mount(f->reg, "dst/c", "nobody", b.digest, &st),
	    -ENOENT);
	assert_int_equal(
	    rfs_registry_blob_mount(f->reg, "dst/c", NULL, b.digest, &st),
	    -ENOENT);
	assert_int_equal(
	    rfs_registry_blob_mount(f->reg, "dst/c", "../src/a", b.digest, &st),
	    -ENOENT);
	assert_int_equal(
	    rfs_registry_blob_mount(f->reg, "dst/c", "src/a", D_NOWHERE, &st),
	    -ENOENT);
	expect_no_blob(f, "dst/c", b.digest);

	/* A mounted blob is the repository's own: a manifest may name it. */
	body = image_json(NULL, &b, 1, NULL);
	put_ok(f, "dst/b", "v1", body, digest);
	free(body);
	blob_free(&b);
}

/* --- manifests -------------------------------------------------------- */

static void test_manifest_put_get(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1], subject[RFS_DIGEST_STR_MAX + 1];
	struct image one, two;

	image_make(f, "img", &one, 2, 1);
	image_make(f, "img", &two, 3, 2);

	/* By tag. */
	put_ok(f, "img", "v1", one.json, digest);
	assert_string_equal(digest, one.digest);
	expect_manifest(f, "img", "v1", one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);
	expect_manifest(f, "img", one.digest, one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);

	/* By digest, sent without a Content-Type. */
	OK(rfs_registry_manifest_put(f->reg, "img", two.digest, NULL, two.json,
				     strlen(two.json), digest, subject, &st_));
	assert_string_equal(digest, two.digest);
	assert_string_equal(subject, "");
	expect_manifest(f, "img", two.digest, two.json, strlen(two.json),
			RFS_MT_OCI_MANIFEST);
	struct rfs_tag t;
	assert_int_equal(rfs_catalog_tag_get(cat(f), "img", "v2", &t), -ENOENT);

	/* A Content-Type with parameters, or the generic JSON one, of a
	 * body that says what it is. */
	OK(rfs_registry_manifest_put(
	    f->reg, "img", "v1-params", RFS_MT_OCI_MANIFEST "; charset=utf-8",
	    one.json, strlen(one.json), digest, subject, &st_));
	OK(rfs_registry_manifest_put(f->reg, "img", "v1-json",
				     "application/json", one.json,
				     strlen(one.json), digest, subject, &st_));
	expect_manifest(f, "img", "v1-json", one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);

	/* Manifests belong to repositories too. */
	expect_no_manifest(f, "elsewhere", one.digest);
	expect_no_manifest(f, "img", "v2");
	expect_no_manifest(f, "img", D_NOWHERE);
	expect_no_manifest(f, "nobody", "v1");
	/* A blob is not a manifest. */
	expect_no_manifest(f, "img", one.layers[0].digest);
	int rc = rfs_registry_manifest_get(f->reg, "img", "sha256:zz",
					   &(struct rfs_registry_manifest){ 0 },
					   &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);

	/* The manifest blob is stored and named. */
	assert_true(blob_file_exists(f, one.digest));
	struct rfs_manifest_row row;
	assert_int_equal(
	    rfs_catalog_manifest_get(cat(f), "img", one.digest, &row), 0);
	assert_string_equal(row.media_type, RFS_MT_OCI_MANIFEST);
	assert_int_equal(row.size, strlen(one.json));
	image_free(&one);
	image_free(&two);
}

static void test_manifest_refused(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct blob missing, only_there;
	struct image im;
	char *body;
	int rc, blobs;

	image_make(f, "img", &im, 1, 3);
	blob_make(&missing, 500, 9);
	blob_make(&only_there, 600, 10);
	upload(f, "other", &only_there);
	blobs = blob_count(f);

	/* A layer the store lacks, or that another repository holds. */
	struct blob layers[2] = { im.layers[0], missing };
	body = image_json(&im.config, layers, 2, NULL);
	rc = put(f, "img", "v1", RFS_MT_OCI_MANIFEST, body, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_BLOB_UNKNOWN);
	free(body);
	layers[1] = only_there;
	body = image_json(&im.config, layers, 2, NULL);
	rc = put(f, "img", "v1", RFS_MT_OCI_MANIFEST, body, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_BLOB_UNKNOWN);
	free(body);
	/* A config the repository lacks. */
	body = image_json(&only_there, im.layers, 1, NULL);
	rc = put(f, "img", "v1", RFS_MT_OCI_MANIFEST, body, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_BLOB_UNKNOWN);
	free(body);

	/* Not JSON, not a manifest. */
	rc = put(f, "img", "v1", RFS_MT_OCI_MANIFEST, "{\"schemaVersion\": 2,",
		 digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);
	rc = put(f, "img", "v1", NULL, "[1, 2, 3]", digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);
	rc = put(f, "img", "v1", RFS_MT_OCI_MANIFEST,
		 "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_MANIFEST
		 "\",\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:"
		 "nothex\",\"size\":2},\"layers\":[]}",
		 digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);

	/* A digest reference the body does not hash to. */
	rc =
	    put(f, "img", D_NOWHERE, RFS_MT_OCI_MANIFEST, im.json, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);
	rc = put(f, "img", "sha256:0123", RFS_MT_OCI_MANIFEST, im.json, digest,
		 &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);
	/* Not a tag either. */
	rc = put(f, "img", "-bad", RFS_MT_OCI_MANIFEST, im.json, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);

	/* A Content-Type the body's mediaType contradicts. */
	rc = put(f, "img", "v1", RFS_MT_DOCKER_MANIFEST, im.json, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);
	rc = put(f, "img", "v1", RFS_MT_OCI_INDEX, im.json, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);
	rc = put(f, "img", "v1", "text/plain", im.json, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);

	/* Larger than the limit. */
	struct rfs_registry_options o = { .max_manifest_size = 64 };
	open_reg(f, &o);
	rc = put(f, "img", "v1", RFS_MT_OCI_MANIFEST, im.json, digest, &st);
	expect_status(rc, &st, 413, RFS_OCI_SIZE_INVALID);

	/* None of it left a trace. */
	struct rfs_tag t;
	assert_int_equal(rfs_catalog_tag_get(cat(f), "img", "v1", &t), -ENOENT);
	assert_int_equal(blob_count(f), blobs);
	assert_int_equal(staging_fds(f), 0);
	assert_int_equal(staging_count(f), 0);
	expect_no_manifest(f, "img", "v1");

	/* At the limit is fine. */
	o.max_manifest_size = strlen(im.json);
	open_reg(f, &o);
	put_ok(f, "img", "v1", im.json, digest);
	blob_free(&missing);
	blob_free(&only_there);
	image_free(&im);
}

static void test_tag_immutable(void **state)
{
	struct fixture *f = *state;
	struct rfs_oci_status st = { 0 };
	char d1[RFS_DIGEST_STR_MAX + 1], d2[RFS_DIGEST_STR_MAX + 1];
	struct image one, two;
	struct rfs_tag t;
	int rc;

	image_make(f, "team/app", &one, 2, 11);
	image_make(f, "team/app", &two, 2, 12);
	put_ok(f, "team/app", "v1", one.json, d1);
	assert_int_equal(rfs_catalog_tag_get(cat(f), "team/app", "v1", &t), 0);
	int64_t id = t.id;

	/* The same manifest again: nothing changes. */
	put_ok(f, "team/app", "v1", one.json, d1);
	assert_int_equal(rfs_catalog_tag_get(cat(f), "team/app", "v1", &t), 0);
	assert_int_equal(t.id, id);

	/* Another one: refused. */
	rc = put(f, "team/app", "v1", RFS_MT_OCI_MANIFEST, two.json, d2, &st);
	expect_status(rc, &st, 409, RFS_OCI_DENIED);
	expect_manifest(f, "team/app", "v1", one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);

	/* Mutable tags move; the others still do not. */
	const char *const patterns[] = { "team/*:latest", "other:*" };
	struct rfs_registry_options o = { .mutable_tags = patterns,
					  .n_mutable_tags = 2 };
	open_reg(f, &o);
	rc = put(f, "team/app", "v1", RFS_MT_OCI_MANIFEST, two.json, d2, &st);
	expect_status(rc, &st, 409, RFS_OCI_DENIED);
	put_ok(f, "team/app", "latest", one.json, d1);
	put_ok(f, "team/app", "latest", two.json, d2);
	assert_int_equal(rfs_catalog_tag_get(cat(f), "team/app", "latest", &t),
			 0);
	assert_string_equal(t.manifest, two.digest);
	assert_int_equal(t.kind, RFS_TAG_LAYERS);
	assert_string_equal(t.digest, two.digest);
	expect_manifest(f, "team/app", "latest", two.json, strlen(two.json),
			RFS_MT_OCI_MANIFEST);
	/* The replaced manifest stays, by digest. */
	expect_manifest(f, "team/app", one.digest, one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);
	/* And back. */
	put_ok(f, "team/app", "latest", one.json, d1);
	assert_int_equal(rfs_catalog_tag_get(cat(f), "team/app", "latest", &t),
			 0);
	assert_string_equal(t.manifest, one.digest);

	/* A local tag is as immutable, unless a pattern names it. */
	struct rfs_tag local;
	seal_local(f, "other", "file", "local bytes\n", &local);
	seal_local(f, "kept", "file", "local bytes\n", &local);
	struct image three;
	image_make(f, "other", &three, 1, 13);
	put_ok(f, "other", "file", three.json, d1);
	assert_int_equal(rfs_catalog_tag_get(cat(f), "other", "file", &t), 0);
	assert_string_equal(t.manifest, three.digest);
	assert_string_equal(t.digest, three.layers[0].digest);
	struct image four;
	image_make(f, "kept", &four, 1, 14);
	rc = put(f, "kept", "file", RFS_MT_OCI_MANIFEST, four.json, d2, &st);
	expect_status(rc, &st, 409, RFS_OCI_DENIED);
	image_free(&four);
	image_free(&one);
	image_free(&two);
	image_free(&three);
}

static int count_layer(void *ctx, const struct rfs_layer *l)
{
	(void)l;
	++*(int *)ctx;
	return 0;
}

static void test_pushed_tag_shapes(void **state)
{
	struct fixture *f = *state;
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct image one, three;
	struct rfs_tag t;
	int n = 0;

	image_make(f, "shapes", &one, 1, 21);
	image_make(f, "shapes", &three, 3, 22);
	put_ok(f, "shapes", "one", one.json, digest);
	put_ok(f, "shapes", "three", three.json, digest);

	/* One layer: a file, its bytes the layer's, as a mount shows. */
	assert_int_equal(rfs_catalog_tag_get(cat(f), "shapes", "one", &t), 0);
	assert_int_equal(t.kind, RFS_TAG_FILE);
	assert_string_equal(t.digest, one.layers[0].digest);
	assert_int_equal(t.size, one.layers[0].len);
	assert_string_equal(t.manifest, one.digest);
	assert_string_equal(t.origin, "");
	int fd = rfs_store_blob_open(f->store, t.digest);
	assert_true(fd >= 0);
	close(fd);

	/* Three: a folder of three layers. */
	assert_int_equal(rfs_catalog_tag_get(cat(f), "shapes", "three", &t), 0);
	assert_int_equal(t.kind, RFS_TAG_LAYERS);
	assert_string_equal(t.manifest, three.digest);
	assert_int_equal(rfs_catalog_list_layers(cat(f), t.id, count_layer, &n),
			 0);
	assert_int_equal(n, 3);

	/* Served back as pushed. */
	expect_manifest(f, "shapes", "one", one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);
	expect_manifest(f, "shapes", "three", three.json, strlen(three.json),
			RFS_MT_OCI_MANIFEST);
	expect_blob(f, "shapes", &three.layers[2]);
	image_free(&one);
	image_free(&three);
}

static void test_index_and_docker(void **state)
{
	struct fixture *f = *state;
	char digest[RFS_DIGEST_STR_MAX + 1], subject[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	struct image im;
	char index[1024], docker[1024];
	int rc;

	image_make(f, "multi", &im, 2, 31);
	put_ok(f, "multi", im.digest, im.json, digest);
	assert_true(snprintf(index, sizeof(index),
			     "{\"schemaVersion\":2,\"mediaType\":\"%s\","
			     "\"manifests\":[{\"mediaType\":\"%s\","
			     "\"digest\":\"%s\",\"size\":%zu,\"platform\":{"
			     "\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
			     RFS_MT_OCI_INDEX, RFS_MT_OCI_MANIFEST, im.digest,
			     strlen(im.json)) > 0);
	OK(rfs_registry_manifest_put(f->reg, "multi", "v1", RFS_MT_OCI_INDEX,
				     index, strlen(index), digest, subject,
				     &st_));
	expect_manifest(f, "multi", "v1", index, strlen(index),
			RFS_MT_OCI_INDEX);
	/* An index of a manifest the repository lacks. */
	assert_true(snprintf(index, sizeof(index),
			     "{\"schemaVersion\":2,\"mediaType\":\"%s\","
			     "\"manifests\":[{\"mediaType\":\"%s\","
			     "\"digest\":\"%s\",\"size\":10}]}",
			     RFS_MT_OCI_INDEX, RFS_MT_OCI_MANIFEST,
			     D_NOWHERE) > 0);
	rc = put(f, "multi", "v2", RFS_MT_OCI_INDEX, index, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_BLOB_UNKNOWN);

	/* A Docker schema 2 manifest keeps its media type. */
	assert_true(
	    snprintf(docker, sizeof(docker),
		     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{"
		     "\"mediaType\":\"application/vnd.docker.container.image."
		     "v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
		     "\"mediaType\":\"application/vnd.docker.image.rootfs."
		     "diff.tar.gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
		     RFS_MT_DOCKER_MANIFEST, im.config.digest, im.config.len,
		     im.layers[0].digest, im.layers[0].len) > 0);
	OK(rfs_registry_manifest_put(f->reg, "multi", "docker",
				     RFS_MT_DOCKER_MANIFEST, docker,
				     strlen(docker), digest, subject, &st_));
	expect_manifest(f, "multi", "docker", docker, strlen(docker),
			RFS_MT_DOCKER_MANIFEST);
	expect_manifest(f, "multi", digest, docker, strlen(docker),
			RFS_MT_DOCKER_MANIFEST);
	image_free(&im);
}

/* --- local tags ------------------------------------------------------- */

static void test_local_tag_served(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_registry_manifest m;
	char served[RFS_DIGEST_STR_MAX + 1];
	struct rfs_tag tag;
	struct blob layer;
	char *body = NULL;
	size_t len = 0;

	blob_text(&layer, "#!/bin/sh\necho hello\n");
	seal_local(f, "tools/hello", "1.0", (const char *)layer.data, &tag);
	assert_string_equal(tag.digest, layer.digest);
	assert_int_equal(rfs_push_manifest(f->store, &tag, &body, &len, &err),
			 0);
	assert_int_equal(rfs_push_served_digest(f->store, &tag, served, &err),
			 0);

	/* By tag and by digest: regctl push's bytes, so its digest. */
	expect_manifest(f, "tools/hello", "1.0", body, len,
			RFS_MT_OCI_MANIFEST);
	expect_manifest(f, "tools/hello", served, body, len,
			RFS_MT_OCI_MANIFEST);
	assert_int_equal(
	    rfs_registry_manifest_get(f->reg, "tools/hello", "1.0", &m,
				      &(struct rfs_oci_status){ 0 }),
	    0);
	assert_string_equal(m.digest, served);
	rfs_registry_manifest_release(&m);
	expect_no_manifest(f, "tools/other", served);

	/* Its config is the empty JSON object, its layer the file. */
	json_t *root = json_loadb(body, len, 0, NULL);
	assert_non_null(root);
	json_t *config = json_object_get(root, "config");
	assert_string_equal(
	    json_string_value(json_object_get(config, "digest")),
	    RFS_EMPTY_CONFIG_DIGEST);
	json_decref(root);
	struct blob empty;
	blob_text(&empty, "{}");
	assert_string_equal(empty.digest, RFS_EMPTY_CONFIG_DIGEST);
	expect_blob(f, "tools/hello", &empty);
	struct rfs_registry_blob b;
	assert_int_equal(rfs_registry_blob_open(f->reg, "tools/hello",
						RFS_EMPTY_CONFIG_DIGEST, &b,
						&(struct rfs_oci_status){ 0 }),
			 0);
	assert_int_equal(b.fd, -1);
	assert_int_equal(b.size, 2);
	rfs_registry_blob_close(&b);
	/* Not in a repository that does not exist. */
	expect_no_blob(f, "tools/nothing", RFS_EMPTY_CONFIG_DIGEST);
	expect_blob(f, "tools/hello", &layer);

	/* Pushing its own manifest to it again is a no-op. */
	char digest[RFS_DIGEST_STR_MAX + 1], subject[RFS_DIGEST_STR_MAX + 1];
	OK(rfs_registry_manifest_put(f->reg, "tools/hello", "1.0",
				     RFS_MT_OCI_MANIFEST, body, len, digest,
				     subject, &st_));
	assert_string_equal(digest, served);
	struct rfs_tag now;
	assert_int_equal(
	    rfs_catalog_tag_get(cat(f), "tools/hello", "1.0", &now), 0);
	assert_int_equal(now.id, tag.id);
	expect_manifest(f, "tools/hello", "1.0", body, len,
			RFS_MT_OCI_MANIFEST);

	/* Deleted by that digest. */
	seal_local(f, "tools/bye", "1.0", "bye\n", &tag);
	assert_int_equal(rfs_push_served_digest(f->store, &tag, served, &err),
			 0);
	OK(rfs_registry_manifest_delete(f->reg, "tools/bye", served, &st_));
	assert_int_equal(rfs_catalog_tag_get(cat(f), "tools/bye", "1.0", &now),
			 -ENOENT);
	free(body);
	blob_free(&layer);
	blob_free(&empty);
}

/* --- referrers -------------------------------------------------------- */

/* The manifests listed by a referrers answer. */
static json_t *referrers(struct fixture *f, const char *repo,
			 const char *digest, const char *artifact_type)
{
	struct rfs_oci_status st = { 0 };
	char *body = NULL;
	size_t len = 0;
	json_t *root, *list;

	if (rfs_registry_referrers(f->reg, repo, digest, artifact_type, &body,
				   &len, &st))
		fail_msg("referrers of %s: %s", digest, st.message);
	assert_int_equal(strlen(body), len);
	root = json_loadb(body, len, 0, NULL);
	free(body);
	assert_non_null(root);
	assert_int_equal(
	    json_integer_value(json_object_get(root, "schemaVersion")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(root, "mediaType")),
	    RFS_MT_OCI_INDEX);
	list = json_object_get(root, "manifests");
	assert_true(json_is_array(list));
	json_incref(list);
	json_decref(root);
	return list;
}

static json_t *find_entry(json_t *list, const char *digest)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "digest")),
			   digest) == 0)
			return e;
	}
	return NULL;
}

static void test_referrers(void **state)
{
	struct fixture *f = *state;
	char digest[RFS_DIGEST_STR_MAX + 1], subject[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	struct extras sig = { .artifact_type = MT_SIG, .note = "signed by ci" };
	struct extras sbom = { .config_type = MT_SBOM };
	struct blob sig_layer, sbom_layer;
	char *sig_json, *sbom_json;
	struct image im;
	json_t *list, *e;
	int rc;

	image_make(f, "app", &im, 1, 41);
	put_ok(f, "app", "v1", im.json, digest);
	blob_text(&sig_layer, "a signature");
	blob_text(&sbom_layer, "{\"sbom\":true}");
	upload(f, "app", &sig_layer);
	upload(f, "app", &sbom_layer);
	sig.subject = sbom.subject = im.digest;
	sig_json = image_json(NULL, &sig_layer, 1, &sig);
	sbom_json = image_json(NULL, &sbom_layer, 1, &sbom);

	/* The subject need not be there first. */
	char sig_digest[RFS_DIGEST_STR_MAX + 1];
	OK(rfs_registry_manifest_put(f->reg, "app", "sha256-sig", NULL,
				     sig_json, strlen(sig_json), sig_digest,
				     subject, &st_));
	assert_string_equal(subject, im.digest);
	OK(rfs_registry_manifest_put(f->reg, "app", "sha256-sbom",
				     RFS_MT_OCI_MANIFEST, sbom_json,
				     strlen(sbom_json), digest, subject, &st_));
	assert_string_equal(subject, im.digest);
	char sbom_digest[RFS_DIGEST_STR_MAX + 1];
	strcpy(sbom_digest, digest);

	list = referrers(f, "app", im.digest, NULL);
	assert_int_equal(json_array_size(list), 2);
	e = find_entry(list, sig_digest);
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "mediaType")),
			    RFS_MT_OCI_MANIFEST);
	assert_int_equal(json_integer_value(json_object_get(e, "size")),
			 strlen(sig_json));
	assert_string_equal(
	    json_string_value(json_object_get(e, "artifactType")), MT_SIG);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(e, "annotations"),
					      "org.example.note")),
	    "signed by ci");
	e = find_entry(list, sbom_digest);
	assert_non_null(e);
	/* No artifactType: the config's media type stands for it. */
	assert_string_equal(
	    json_string_value(json_object_get(e, "artifactType")), MT_SBOM);
	assert_null(json_object_get(e, "annotations"));
	json_decref(list);

	list = referrers(f, "app", im.digest, MT_SIG);
	assert_int_equal(json_array_size(list), 1);
	assert_non_null(find_entry(list, sig_digest));
	json_decref(list);
	list = referrers(f, "app", im.digest, MT_SBOM);
	assert_int_equal(json_array_size(list), 1);
	assert_non_null(find_entry(list, sbom_digest));
	json_decref(list);
	list = referrers(f, "app", im.digest, "application/nothing");
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);

	/* Unknown subjects, other repositories: an empty index. */
	list = referrers(f, "app", D_NOWHERE, NULL);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	list = referrers(f, "nobody", im.digest, NULL);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
	char *body = NULL;
	size_t len;
	rc = rfs_registry_referrers(f->reg, "app", "sha256:1", NULL, &body,
				    &len, &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);

	/* A subject that is not a digest. */
	free(sig_json);
	sig.subject = "sha256:short";
	sig_json = image_json(NULL, &sig_layer, 1, &sig);
	rc = put(f, "app", "bad", NULL, sig_json, digest, &st);
	expect_status(rc, &st, 400, RFS_OCI_MANIFEST_INVALID);

	/* Deleting a referrer takes it out of the list. */
	OK(rfs_registry_manifest_delete(f->reg, "app", sig_digest, &st_));
	list = referrers(f, "app", im.digest, NULL);
	assert_int_equal(json_array_size(list), 1);
	assert_non_null(find_entry(list, sbom_digest));
	json_decref(list);

	free(sig_json);
	free(sbom_json);
	blob_free(&sig_layer);
	blob_free(&sbom_layer);
	image_free(&im);
}

/* --- delete and gc ---------------------------------------------------- */

static void test_delete_manifests(void **state)
{
	struct fixture *f = *state;
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	struct image one, two;
	struct rfs_tag t;
	int rc;

	image_make(f, "del", &one, 2, 51);
	image_make(f, "del", &two, 1, 52);
	put_ok(f, "del", "v1", one.json, digest);
	put_ok(f, "del", "v1-again", one.json, digest);
	put_ok(f, "del", "v2", two.json, digest);

	/* By tag: that tag goes, the manifest stays. */
	OK(rfs_registry_manifest_delete(f->reg, "del", "v1", &st_));
	assert_int_equal(rfs_catalog_tag_get(cat(f), "del", "v1", &t), -ENOENT);
	expect_no_manifest(f, "del", "v1");
	expect_manifest(f, "del", "v1-again", one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);
	expect_manifest(f, "del", one.digest, one.json, strlen(one.json),
			RFS_MT_OCI_MANIFEST);
	rc = rfs_registry_manifest_delete(f->reg, "del", "v1", &st);
	expect_status(rc, &st, 404, RFS_OCI_MANIFEST_UNKNOWN);

	/* By digest: the manifest and every tag naming it. */
	OK(rfs_registry_manifest_delete(f->reg, "del", one.digest, &st_));
	expect_no_manifest(f, "del", one.digest);
	expect_no_manifest(f, "del", "v1-again");
	assert_int_equal(rfs_catalog_tag_get(cat(f), "del", "v1-again", &t),
			 -ENOENT);
	expect_manifest(f, "del", "v2", two.json, strlen(two.json),
			RFS_MT_OCI_MANIFEST);
	rc = rfs_registry_manifest_delete(f->reg, "del", one.digest, &st);
	expect_status(rc, &st, 404, RFS_OCI_MANIFEST_UNKNOWN);
	rc = rfs_registry_manifest_delete(f->reg, "del", "sha256:12", &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);
	/* A file tag (one layer) named by its manifest's digest. */
	OK(rfs_registry_manifest_delete(f->reg, "del", two.digest, &st_));
	assert_int_equal(rfs_catalog_tag_get(cat(f), "del", "v2", &t), -ENOENT);
	image_free(&one);
	image_free(&two);
}

static void test_delete_many_tags(void **state)
{
	struct fixture *f = *state;
	char digest[RFS_DIGEST_STR_MAX + 1], tag[16];
	struct image im;
	struct rfs_tag t;

	/* More tags than one batch of the delete. */
	image_make(f, "many", &im, 1, 61);
	for (int i = 0; i < 70; i++) {
		snprintf(tag, sizeof(tag), "t%02d", i);
		put_ok(f, "many", tag, im.json, digest);
	}
	OK(rfs_registry_manifest_delete(f->reg, "many", im.digest, &st_));
	for (int i = 0; i < 70; i++) {
		snprintf(tag, sizeof(tag), "t%02d", i);
		if (rfs_catalog_tag_get(cat(f), "many", tag, &t) != -ENOENT)
			fail_msg("tag %s survived the delete of %s", tag,
				 im.digest);
	}
	image_free(&im);
}

static void gc_ok(struct fixture *f, struct rfs_gc_report *report)
{
	struct rfs_error err = { 0 };

	if (rfs_gc(f->store, false, NULL, NULL, report, &err) != 0)
		fail_msg("gc: %s", err.msg);
}

static void test_delete_blobs_and_gc(void **state)
{
	struct fixture *f = *state;
	char digest[RFS_DIGEST_STR_MAX + 1], mx[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	struct rfs_gc_report report;
	struct blob unnamed;
	struct image a;
	char *x_json;
	int rc;

	/* a: an image of a config and three layers, and a blob no
	 * manifest names yet. */
	image_make(f, "a", &a, 3, 71);
	put_ok(f, "a", "v1", a.json, digest);
	blob_make(&unnamed, 777, 72);
	upload(f, "a", &unnamed);
	/* b holds layer 1 by a mount. */
	OK(rfs_registry_blob_mount(f->reg, "b", "a", a.layers[1].digest, &st_));
	/* x has a manifest naming the config and layer 2, and then lets go
	 * of the blobs themselves. */
	OK(rfs_registry_blob_mount(f->reg, "x", "a", a.config.digest, &st_));
	OK(rfs_registry_blob_mount(f->reg, "x", "a", a.layers[2].digest, &st_));
	x_json = image_json(&a.config, &a.layers[2], 1, NULL);
	assert_int_equal(rfs_digest_buf(x_json, strlen(x_json), mx), 0);
	put_ok(f, "x", mx, x_json, digest);
	OK(rfs_registry_blob_delete(f->reg, "x", a.config.digest, &st_));
	OK(rfs_registry_blob_delete(f->reg, "x", a.layers[2].digest, &st_));

	/* Nothing is named nowhere yet. */
	gc_ok(f, &report);
	assert_int_equal(report.blobs_removed, 0);

	/* a forgets its image and its blobs, but for the unnamed one. */
	OK(rfs_registry_manifest_delete(f->reg, "a", a.digest, &st_));
	OK(rfs_registry_blob_delete(f->reg, "a", a.config.digest, &st_));
	for (size_t i = 0; i < 3; i++)
		OK(rfs_registry_blob_delete(f->reg, "a", a.layers[i].digest,
					    &st_));
	expect_no_blob(f, "a", a.layers[0].digest);
	rc = rfs_registry_blob_delete(f->reg, "a", a.layers[0].digest, &st);
	expect_status(rc, &st, 404, RFS_OCI_BLOB_UNKNOWN);
	rc = rfs_registry_blob_delete(f->reg, "a", "sha256:xyz", &st);
	expect_status(rc, &st, 400, RFS_OCI_DIGEST_INVALID);
	/* Before gc the files are still there. */
	assert_true(blob_file_exists(f, a.layers[0].digest));
	assert_true(blob_file_exists(f, a.digest));

	gc_ok(f, &report);
	/* Gone: a's manifest and layer 0, which nothing names now. */
	assert_int_equal(report.blobs_removed, 2);
	assert_false(blob_file_exists(f, a.digest));
	assert_false(blob_file_exists(f, a.layers[0].digest));
	struct rfs_blob row;
	assert_int_equal(rfs_catalog_blob_get(cat(f), a.layers[0].digest, &row),
			 -ENOENT);
	/* Kept: layer 1 (b's), the config and layer 2 (x's manifest), the
	 * unnamed upload (a's link), x's manifest. */
	assert_true(blob_file_exists(f, a.layers[1].digest));
	assert_true(blob_file_exists(f, a.layers[2].digest));
	assert_true(blob_file_exists(f, a.config.digest));
	assert_true(blob_file_exists(f, unnamed.digest));
	assert_true(blob_file_exists(f, mx));
	expect_blob(f, "b", &a.layers[1]);
	expect_blob(f, "a", &unnamed);
	expect_manifest(f, "x", mx, x_json, strlen(x_json),
			RFS_MT_OCI_MANIFEST);
	expect_no_blob(f, "a", a.layers[1].digest);

	/* Then x's manifest goes too, and with it what it named. */
	OK(rfs_registry_manifest_delete(f->reg, "x", mx, &st_));
	gc_ok(f, &report);
	assert_int_equal(report.blobs_removed, 3);
	assert_false(blob_file_exists(f, a.config.digest));
	assert_false(blob_file_exists(f, a.layers[2].digest));
	assert_false(blob_file_exists(f, mx));
	assert_true(blob_file_exists(f, a.layers[1].digest));
	assert_true(blob_file_exists(f, unnamed.digest));
	assert_int_equal(blob_count(f), 2);

	free(x_json);
	blob_free(&unnamed);
	image_free(&a);
}

static void test_gc_keeps_uploads(void **state)
{
	struct fixture *f = *state;
	struct rfs_gc_report report;
	struct blob b;

	/* Uploaded, not yet named by a manifest: the client is about to
	 * push it. */
	blob_make(&b, 4096, 81);
	upload(f, "up", &b);
	gc_ok(f, &report);
	assert_int_equal(report.blobs_removed, 0);
	assert_true(blob_file_exists(f, b.digest));
	expect_blob(f, "up", &b);
	blob_free(&b);
}

/* --- listings --------------------------------------------------------- */

struct names {
	char v[32][RFS_REPO_MAX + 1];
	int n;
};

static int add_name(void *ctx, const char *name)
{
	struct names *l = ctx;

	assert_true(l->n < 32);
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

static void expect_names(const struct names *l, const char *const *want, int n)
{
	if (l->n != n)
		fail_msg("%d names listed, %d expected", l->n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(l->v[i], want[i]);
}

static void list_tags(struct fixture *f, const char *repo, const char *after,
		      int64_t limit, struct names *out)
{
	memset(out, 0, sizeof(*out));
	OK(rfs_registry_list_tags(f->reg, repo, after, limit, add_name, out,
				  &st_));
}

static void list_repos(struct fixture *f, const char *after, int64_t limit,
		       struct names *out)
{
	memset(out, 0, sizeof(*out));
	OK(rfs_registry_list_repos(f->reg, after, limit, add_name, out, &st_));
}

static void test_list_tags(void **state)
{
	struct fixture *f = *state;
	const char *const order[] = { "B", "Z", "_x", "a", "a-1", "a.b", "b" };
	const char *const sealed[] = { "b", "a.b", "Z", "a", "_x", "B" };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	struct rfs_error err = { 0 };
	struct names l;
	struct image im;
	struct rfs_tag t;
	int rc;

	for (size_t i = 0; i < 6; i++)
		seal_local(f, "list/app", sealed[i], sealed[i], &t);
	seal_local(f, "list/app", "yanked", "y", &t);
	assert_int_equal(
	    rfs_catalog_set_yanked(cat(f), "list/app", "yanked", true, &err),
	    0);
	image_make(f, "list/app", &im, 1, 91);
	put_ok(f, "list/app", "a-1", im.json, digest);

	list_tags(f, "list/app", NULL, 100, &l);
	expect_names(&l, order, 7);
	list_tags(f, "list/app", "", 100, &l);
	expect_names(&l, order, 7);
	list_tags(f, "list/app", NULL, 3, &l);
	expect_names(&l, order, 3);
	list_tags(f, "list/app", "_x", 3, &l);
	expect_names(&l, order + 3, 3);
	list_tags(f, "list/app", "a.b", 3, &l);
	expect_names(&l, order + 6, 1);
	list_tags(f, "list/app", "b", 3, &l);
	expect_names(&l, order, 0);
	list_tags(f, "list/app", "a", 0, &l);
	expect_names(&l, order, 0);
	/* After a name that is not a tag. */
	list_tags(f, "list/app", "a,", 10, &l);
	expect_names(&l, order + 4, 3);
	/* A yanked tag is still there by name. */
	expect_manifest(f, "list/app", "a-1", im.json, strlen(im.json),
			RFS_MT_OCI_MANIFEST);
	struct rfs_registry_manifest m;
	OK(rfs_registry_manifest_get(f->reg, "list/app", "yanked", &m, &st_));
	rfs_registry_manifest_release(&m);

	/* No such repository; a folder above one is none either. */
	memset(&l, 0, sizeof(l));
	rc = rfs_registry_list_tags(f->reg, "list/none", NULL, 10, add_name, &l,
				    &st);
	expect_status(rc, &st, 404, RFS_OCI_NAME_UNKNOWN);
	rc =
	    rfs_registry_list_tags(f->reg, "list", NULL, 10, add_name, &l, &st);
	expect_status(rc, &st, 404, RFS_OCI_NAME_UNKNOWN);
	assert_int_equal(l.n, 0);
	/* A repository with an upload only exists, with no tags. */
	struct blob b;
	blob_text(&b, "x");
	upload(f, "list/uploads", &b);
	list_tags(f, "list/uploads", NULL, 10, &l);
	assert_int_equal(l.n, 0);
	blob_free(&b);
	image_free(&im);
}

static void test_list_repos(void **state)
{
	struct fixture *f = *state;
	const char *const order[] = { "9lives", "m/only", "r/a", "r/a/deeper",
				      "r/b" };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct names l;
	struct image im;
	struct rfs_tag t;

	seal_local(f, "r/b", "1", "rb", &t);
	seal_local(f, "r/a", "1", "ra", &t);
	seal_local(f, "r/a/deeper", "1", "rad", &t);
	seal_local(f, "9lives", "1", "9", &t);
	seal_local(f, "r/a", "2", "ra2", &t);
	image_make(f, "m/only", &im, 2, 95);
	put_ok(f, "m/only", im.digest, im.json, digest);

	list_repos(f, NULL, 100, &l);
	expect_names(&l, order, 5);
	list_repos(f, "", 2, &l);
	expect_names(&l, order, 2);
	list_repos(f, "m/only", 2, &l);
	expect_names(&l, order + 2, 2);
	list_repos(f, "r/a/deeper", 2, &l);
	expect_names(&l, order + 4, 1);
	list_repos(f, "r/b", 2, &l);
	expect_names(&l, order, 0);
	list_repos(f, "a", 100, &l);
	expect_names(&l, order + 1, 4);
	image_free(&im);
}

/* --- concurrency ------------------------------------------------------ */

#define N_THREADS 8

struct pusher {
	struct fixture *f;
	int i;
	struct blob shared; /* every thread uploads it */
	struct blob config, layer;
	char *json;
	char digest[RFS_DIGEST_STR_MAX + 1];
	char failure[1024];
};

static int push_blob(struct pusher *p, const char *repo, const struct blob *b)
{
	struct rfs_oci_status st = { 0 };
	struct rfs_upload *u = NULL, *again = NULL;
	char id[RFS_UPLOAD_ID_LEN + 1];
	size_t done = 0;

	if (rfs_registry_upload_start(p->f->reg, repo, &u, &st))
		goto fail;
	snprintf(id, sizeof(id), "%s", rfs_upload_id(u));
	while (done < b->len) {
		size_t n = b->len - done < 1000 ? b->len - done : 1000;

		if (rfs_upload_write(u, b->data + done, n, &st))
			goto fail;
		done += n;
		rfs_registry_upload_release(p->f->reg, u);
		if (rfs_registry_upload_acquire(p->f->reg, repo, id, &again,
						&st))
			goto fail;
	}
	if (rfs_registry_upload_finish(p->f->reg, u, b->digest, &st))
		goto fail;
	return 0;
fail:
	snprintf(p->failure, sizeof(p->failure), "upload %s: %d %s", b->digest,
		 st.http, st.message);
	return -1;
}

static void *push_thread(void *arg)
{
	struct pusher *p = arg;
	struct rfs_oci_status st = { 0 };
	char subject[RFS_DIGEST_STR_MAX + 1], got[RFS_DIGEST_STR_MAX + 1];
	char tag[32];
	struct blob layers[2];

	if (push_blob(p, "conc/app", &p->shared) ||
	    push_blob(p, "conc/app", &p->config) ||
	    push_blob(p, "conc/app", &p->layer))
		return NULL;
	layers[0] = p->shared;
	layers[1] = p->layer;
	snprintf(tag, sizeof(tag), "t%d", p->i);
	if (rfs_registry_manifest_put(p->f->reg, "conc/app", tag,
				      RFS_MT_OCI_MANIFEST, p->json,
				      strlen(p->json), got, subject, &st) ||
	    strcmp(got, p->digest) != 0) {
		snprintf(p->failure, sizeof(p->failure), "put %s: %d %s", tag,
			 st.http, st.message);
		return NULL;
	}
	/* All at once, the same manifest under the same tag: each push
	 * succeeds, as a push of a tag again with the same digest does. */
	if (rfs_registry_manifest_put(p->f->reg, "conc/app", "same",
				      RFS_MT_OCI_MANIFEST, p->f->path,
				      strlen(p->f->path), got, subject, &st))
		snprintf(p->failure, sizeof(p->failure), "put same: %d %s %s",
			 st.http, rfs_oci_code_name(st.code), st.message);
	(void)layers;
	return NULL;
}

static void test_concurrent_pushes(void **state)
{
	struct fixture *f = *state;
	struct pusher p[N_THREADS];
	pthread_t threads[N_THREADS];
	struct blob shared;
	struct names l;

	blob_make(&shared, 20000, 100);
	for (int i = 0; i < N_THREADS; i++) {
		struct blob layers[2];
		char config[64];

		memset(&p[i], 0, sizeof(p[i]));
		p[i].f = f;
		p[i].i = i;
		p[i].shared = shared;
		snprintf(config, sizeof(config), "{\"thread\":%d}", i);
		blob_text(&p[i].config, config);
		blob_make(&p[i].layer, 5000 + (size_t)i, 200 + (unsigned)i);
		layers[0] = shared;
		layers[1] = p[i].layer;
		p[i].json = image_json(&p[i].config, layers, 2, NULL);
		assert_int_equal(
		    rfs_digest_buf(p[i].json, strlen(p[i].json), p[i].digest),
		    0);
	}
	/* The manifest every thread pushes as "same": thread 0's. */
	snprintf(f->path, sizeof(f->path), "%s", p[0].json);
	/* Thread 0's blobs must be there before any thread pushes it. */
	assert_int_equal(push_blob(&p[0], "conc/app", &p[0].config), 0);
	assert_int_equal(push_blob(&p[0], "conc/app", &p[0].layer), 0);

	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(
		    pthread_create(&threads[i], NULL, push_thread, &p[i]), 0);
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	for (int i = 0; i < N_THREADS; i++)
		if (p[i].failure[0])
			fail_msg("thread %d: %s", i, p[i].failure);

	/* The catalog holds what each pushed. */
	list_tags(f, "conc/app", NULL, 100, &l);
	assert_int_equal(l.n, N_THREADS + 1);
	for (int i = 0; i < N_THREADS; i++) {
		char tag[32];
		struct rfs_tag t;

		snprintf(tag, sizeof(tag), "t%d", i);
		assert_int_equal(
		    rfs_catalog_tag_get(cat(f), "conc/app", tag, &t), 0);
		assert_int_equal(t.kind, RFS_TAG_LAYERS);
		assert_string_equal(t.manifest, p[i].digest);
		expect_manifest(f, "conc/app", tag, p[i].json,
				strlen(p[i].json), RFS_MT_OCI_MANIFEST);
		expect_blob(f, "conc/app", &p[i].layer);
	}
	expect_manifest(f, "conc/app", "same", p[0].json, strlen(p[0].json),
			RFS_MT_OCI_MANIFEST);
	expect_blob(f, "conc/app", &shared);
	/* Blobs: shared, and a config, a layer and a manifest a thread. */
	assert_int_equal(blob_count(f), 1 + 3 * N_THREADS);
	assert_int_equal(staging_fds(f), 0);
	assert_int_equal(staging_count(f), 0);

	struct rfs_gc_report report;
	gc_ok(f, &report);
	assert_int_equal(report.blobs_removed, 0);
	for (int i = 0; i < N_THREADS; i++) {
		blob_free(&p[i].config);
		blob_free(&p[i].layer);
		free(p[i].json);
	}
	blob_free(&shared);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_upload_in_pieces),
		T(test_upload_wrong_digest),
		T(test_upload_busy_and_elsewhere),
		T(test_upload_expiry),
		T(test_upload_limit),
		T(test_upload_cancel),
		T(test_mount),
		T(test_manifest_put_get),
		T(test_manifest_refused),
		T(test_tag_immutable),
		T(test_pushed_tag_shapes),
		T(test_index_and_docker),
		T(test_local_tag_served),
		T(test_referrers),
		T(test_delete_manifests),
		T(test_delete_many_tags),
		T(test_delete_blobs_and_gc),
		T(test_gc_keeps_uploads),
		T(test_list_tags),
		T(test_list_repos),
		T(test_concurrent_pushes),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
