/*
 * test-push.c - unit tests of rfs_push_manifest (push.h): the manifest of
 * a local tag carries its mode and mtime as layer annotations, always both,
 * sorted with the title; the same tag gives the same bytes; and what it
 * writes, parsed (manifest.h) and pinned in another store as core/pull.c
 * pins, gives that store's tag the same mode and mtime. Without a
 * registry: the push itself is tested by the integration tests.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "digest.h"
#include "manifest.h"
#include "push.h"
#include "store.h"
#include "tmptree.h"

#define D_A \
	"sha256:a000000000000000000000000000000000000000000000000000000000000001"
#define D_B \
	"sha256:b000000000000000000000000000000000000000000000000000000000000002"
#define T_2001 981173106LL /* 2001-02-03T04:05:06Z */
#define NS     1000000000LL

struct fixture {
	char root[64];
	char other[64];
	struct rfs_store *store;
	struct rfs_store *elsewhere; /* another machine's store */
};

static int open_store(char *root, struct rfs_store **out)
{
	struct rfs_error err = { 0 };

	strcpy(root, "/tmp/regfs-test-push-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	if (rfs_store_open(root, RFS_STORE_CREATE, out, &err) != 0) {
		fprintf(stderr, "rfs_store_open: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || open_store(f->root, &f->store) ||
	    open_store(f->other, &f->elsewhere))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_store_close(&f->store);
	rfs_store_close(&f->elsewhere);
	tmptree_remove(f->root);
	tmptree_remove(f->other);
	free(f);
	return 0;
}

/* A local tag of the store, with attrs (NULL: none set). */
static void add_tag(struct fixture *f, const char *tag, const char *digest,
		    const struct rfs_file_attrs *attrs, struct rfs_tag *out)
{
	struct rfs_tag_meta meta = { 0 };
	struct rfs_error err = { 0 };

	if (attrs)
		meta.attrs = *attrs;
	if (rfs_catalog_add_tag_meta(rfs_store_catalog(f->store), "app", tag,
				     digest, 5, T_2001 * NS, &meta, out, &err))
		fail_msg("add_tag %s: %s", tag, err.msg);
}

static char *manifest_of(struct fixture *f, const struct rfs_tag *tag)
{
	struct rfs_error err = { 0 };
	char *body = NULL;
	size_t len = 0;

	if (rfs_push_manifest(f->store, tag, &body, &len, &err))
		fail_msg("rfs_push_manifest: %s", err.msg);
	assert_int_equal(strlen(body), len);
	return body;
}

/* The layer's annotations, as compact JSON with sorted keys. */
static char *layer_annotations(const char *body)
{
	json_t *root = json_loads(body, 0, NULL), *ann;
	char *text;

	assert_non_null(root);
	ann = json_object_get(
	    json_array_get(json_object_get(root, "layers"), 0), "annotations");
	assert_non_null(ann);
	text = json_dumps(ann, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	return text;
}

static void test_executable_tag(void **state)
{
	struct fixture *f = *state;
	struct rfs_file_attrs attrs = {
		.set_mode = true,
		.mode = 0750,
		.set_mtime = true,
		.mtime_ns = T_2001 * NS + 123456789,
	};
	struct rfs_tag tag;
	char *body, *ann;

	add_tag(f, "v1", D_A, &attrs, &tag);
	body = manifest_of(f, &tag);
	ann = layer_annotations(body);
	assert_string_equal(ann, "{\"" RFS_ANNOTATION_FILE_MODE
				 "\":\"0755\",\"" RFS_ANNOTATION_FILE_MTIME
				 "\":\"2001-02-03T04:05:06.123456789Z\","
				 "\"org.opencontainers.image.title\":\"v1\"}");
	/* In the body itself, in that order: its keys are sorted. */
	assert_non_null(strstr(body, ann));
	free(ann);
	free(body);
}

static void test_plain_tag(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag tag;
	char *body, *ann;

	/* Nothing set: 0644, and the mtime is the seal's time. */
	add_tag(f, "v2", D_A, NULL, &tag);
	assert_int_equal(tag.mode, 0644);
	assert_int_equal(tag.mtime_ns, T_2001 * NS);
	body = manifest_of(f, &tag);
	ann = layer_annotations(body);
	assert_string_equal(ann, "{\"" RFS_ANNOTATION_FILE_MODE
				 "\":\"0644\",\"" RFS_ANNOTATION_FILE_MTIME
				 "\":\"2001-02-03T04:05:06.000000000Z\","
				 "\"org.opencontainers.image.title\":\"v2\"}");
	free(ann);
	free(body);
}

static void test_deterministic(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	struct rfs_file_attrs x = { .set_mode = true, .mode = 0755 };
	struct rfs_file_attrs t = { .set_mtime = true, .mtime_ns = 7 };
	struct rfs_tag tag, again;
	char *one, *other;

	add_tag(f, "v1", D_B, &x, &tag);
	one = manifest_of(f, &tag);
	assert_int_equal(rfs_catalog_tag_get(cat, "app", "v1", &again), 0);
	other = manifest_of(f, &again);
	assert_string_equal(one, other);
	free(other);

	/* Another mtime, or another mode, is another manifest. */
	assert_int_equal(rfs_catalog_tag_set_attrs(cat, tag.id, &t, &again), 0);
	other = manifest_of(f, &again);
	assert_string_not_equal(one, other);
	assert_non_null(strstr(other, "\"1970-01-01T00:00:00.000000007Z\""));
	free(other);
	x.mode = 0644;
	t.mtime_ns = tag.mtime_ns;
	assert_int_equal(rfs_catalog_tag_set_attrs(cat, tag.id, &t, NULL), 0);
	assert_int_equal(rfs_catalog_tag_set_attrs(cat, tag.id, &x, &again), 0);
	other = manifest_of(f, &again);
	assert_string_not_equal(one, other);
	assert_non_null(strstr(other, "\"0644\""));
	free(other);
	free(one);
}

/* What pull.c does with a manifest of one layer: pin it, with the layer's
 * attrs. Returns the pinned tag of the other store. */
static void pin_elsewhere(struct fixture *f, const char *body,
			  struct rfs_tag *out)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_tag_meta meta = { 0 };
	struct rfs_error err = { 0 };
	struct rfs_hasher *h = NULL;
	struct rfs_manifest m;
	struct rfs_pin pin;

	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update(h, body, strlen(body)), 0);
	assert_int_equal(rfs_hasher_final(h, digest), 0);
	rfs_hasher_free(&h);
	if (rfs_manifest_parse(body, strlen(body), RFS_MT_OCI_MANIFEST, &m,
			       &err))
		fail_msg("parse: %s", err.msg);
	assert_int_equal(m.n_entries, 1);
	meta.attrs = m.entries[0].attrs;
	pin = (struct rfs_pin){
		.repo = "team/app",
		.tag = "v1",
		.origin = "default",
		.kind = RFS_TAG_FILE,
		.digest = m.entries[0].digest,
		.size = m.entries[0].size,
		.manifest = digest,
		.manifest_size = strlen(body),
		.meta = &meta,
	};
	if (rfs_catalog_pin_tag(rfs_store_catalog(f->elsewhere), &pin, true,
				out, &err))
		fail_msg("pin: %s", err.msg);
	rfs_manifest_release(&m);
}

static void test_travels(void **state)
{
	struct fixture *f = *state;
	struct rfs_file_attrs attrs = {
		.set_mode = true,
		.mode = 04711,
		.set_mtime = true,
		.mtime_ns = -1, /* before 1970, to the nanosecond */
	};
	struct rfs_tag tag, there;
	char *body;

	add_tag(f, "v1", D_A, &attrs, &tag);
	assert_int_equal(tag.mode, 0755);
	body = manifest_of(f, &tag);
	pin_elsewhere(f, body, &there);
	assert_string_equal(there.digest, D_A);
	assert_int_equal(there.mode, 0755);
	assert_int_equal(there.mtime_ns, -1);
	free(body);

	/* A manifest of another tool, without the annotations: 0644, dated
	 * by the pin. */
	body =
	    strdup("{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_MANIFEST
		   "\",\"config\":{\"mediaType\":\"" RFS_MT_EMPTY
		   "\",\"digest\":\"" RFS_EMPTY_CONFIG_DIGEST
		   "\",\"size\":2},\"layers\":[{\"mediaType\":\"" RFS_MT_LAYER
		   "\",\"digest\":\"" D_B "\",\"size\":5}]}");
	pin_elsewhere(f, body, &there);
	assert_string_equal(there.digest, D_B);
	assert_int_equal(there.mode, 0644);
	assert_int_equal(there.mtime_ns, there.created_ns);
	free(body);
}

static void test_multi_layer_refused(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag tag = { .kind = RFS_TAG_LAYERS };
	char *body = NULL;
	size_t len = 0;

	strcpy(tag.repo, "img");
	strcpy(tag.name, "1.0");
	assert_int_equal(rfs_push_manifest(f->store, &tag, &body, &len, &err),
			 -EOPNOTSUPP);
	assert_null(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_executable_tag, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_plain_tag, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_travels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_layer_refused, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
