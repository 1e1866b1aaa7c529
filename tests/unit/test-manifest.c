/*
 * test-manifest.c - unit tests of manifest.h: the ORAS single-file shape,
 * multi-layer images and the names of their files, Docker v2 manifests,
 * OCI indexes and Docker manifest lists with the platform pick for this
 * build, where the media type comes from, and every malformed input with
 * its message; the file annotations (io.regfs.file.mode and .mtime): their
 * text both ways, and a layer's, read where well formed and else ignored.
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

#include "manifest.h"

#define HEX_A "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define D_A   "sha256:" HEX_A
#define D_B \
	"sha256:b000000000000000000000000000000000000000000000000000000000000001"
#define D_C \
	"sha256:c000000000000000000000000000000000000000000000000000000000000002"
#define D_D \
	"sha256:d000000000000000000000000000000000000000000000000000000000000003"
#define D_E \
	"sha256:e000000000000000000000000000000000000000000000000000000000000004"
/* The digest of "{}", the OCI empty config. */
#define D_EMPTY \
	"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define MT_EMPTY	 "application/vnd.oci.empty.v1+json"
#define MT_LAYER	 "application/vnd.oci.image.layer.v1.tar"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER	 "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define EMPTY_CONFIG                                                       \
	"\"config\":{\"mediaType\":\"" MT_EMPTY "\",\"digest\":\"" D_EMPTY \
	"\",\"size\":2}"

/* A layer descriptor, with a title annotation when title is not NULL. */
#define LAYER(digest, size)                                    \
	"{\"mediaType\":\"" MT_LAYER "\",\"digest\":\"" digest \
	"\",\"size\":" size "}"
#define LAYER_T(digest, size, title)                           \
	"{\"mediaType\":\"" MT_LAYER "\",\"digest\":\"" digest \
	"\",\"size\":" size                                    \
	",\"annotations\":{\"org.opencontainers.image.title\":\"" title "\"}}"

/* An index entry for a platform. */
#define ENTRY(mt, digest, platform)                                         \
	"{\"mediaType\":\"" mt "\",\"digest\":\"" digest "\",\"size\":500," \
	"\"platform\":{" platform "}}"

static int parse(const char *body, const char *ct, struct rfs_manifest *m,
		 struct rfs_error *err)
{
	rfs_error_clear(err);
	return rfs_manifest_parse(body, strlen(body), ct, m, err);
}

static void parse_ok(const char *body, const char *ct, struct rfs_manifest *m)
{
	struct rfs_error err;
	int rc = parse(body, ct, m, &err);

	if (rc != 0)
		fail_msg("parse failed (%d): %s\nfor: %s", rc, err.msg, body);
}

/* Expect body (with content type ct) to be refused with a message that
 * contains msg, and the output to be left empty. */
static void expect_bad(const char *body, size_t len, const char *ct,
		       const char *msg)
{
	struct rfs_manifest m;
	struct rfs_error err;
	int rc;

	rfs_error_clear(&err);
	memset(&m, 0x5a, sizeof(m));
	rc = rfs_manifest_parse(body, len, ct, &m, &err);
	if (rc != -EINVAL || !strstr(err.msg, msg))
		fail_msg("for: %.300s\nwant %d '...%s...'\ngot  %d '%s'", body,
			 -EINVAL, msg, rc, err.msg);
	assert_int_equal(err.code, -EINVAL);
	assert_null(m.entries);
	assert_int_equal(m.n_entries, 0);
	assert_null(m.annotations_json);
	assert_null(m.config.title);
	rfs_manifest_release(&m);
}

static void expect_bad_str(const char *body, const char *msg)
{
	expect_bad(body, strlen(body), NULL, msg);
}

/* ---- images ---------------------------------------------------------- */

static void test_oras_single_file(void **state)
{
	const char *body =
	    "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_MANIFEST
	    "\",\"artifactType\":\"application/vnd.unknown.artifact.v1\","
	    "" EMPTY_CONFIG ",\"layers\":[" LAYER_T(
		D_A, "1234",
		"hello.txt") "],"
			     "\"annotations\":{\"org.opencontainers.image.created\":"
			     "\"2024-01-02T03:04:05Z\", \"note\" : \"caf\\u00e9\"}}";
	struct rfs_manifest m;
	struct rfs_layer *layers;
	size_t n;

	(void)state;
	parse_ok(body, RFS_MT_OCI_MANIFEST, &m);
	assert_int_equal(m.kind, RFS_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, RFS_MT_OCI_MANIFEST);
	assert_string_equal(m.config.media_type, MT_EMPTY);
	assert_string_equal(m.config.digest, D_EMPTY);
	assert_int_equal(m.config.size, 2);
	assert_null(m.config.title);
	assert_int_equal(m.n_entries, 1);
	assert_string_equal(m.entries[0].media_type, MT_LAYER);
	assert_string_equal(m.entries[0].digest, D_A);
	assert_int_equal(m.entries[0].size, 1234);
	assert_string_equal(m.entries[0].title, "hello.txt");
	assert_string_equal(m.entries[0].os, "");
	/* Compact, in document order, UTF-8 as it came. */
	assert_string_equal(
	    m.annotations_json,
	    "{\"org.opencontainers.image.created\":"
	    "\"2024-01-02T03:04:05Z\",\"note\":\"caf\xc3\xa9\"}");

	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(layers[0].name, "hello.txt");
	assert_string_equal(layers[0].digest, D_A);
	assert_int_equal(layers[0].size, 1234);
	assert_int_equal(layers[0].id, 0);
	assert_int_equal(layers[0].tag, 0);
	free(layers);
	rfs_manifest_release(&m);
	assert_null(m.entries);
	rfs_manifest_release(&m);
}

static void test_three_layers(void **state)
{
	const char *body =
	    "{\"schemaVersion\":2," EMPTY_CONFIG
	    ",\"layers\":[" LAYER_T(D_A, "10", "data.bin") "," LAYER(
		D_B, "20") "," LAYER_T(D_C, "30", "data.bin") "]}";
	struct rfs_manifest m;
	struct rfs_layer *layers;
	size_t n;

	(void)state;
	parse_ok(body, NULL, &m);
	assert_int_equal(m.kind, RFS_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, RFS_MT_OCI_MANIFEST);
	assert_null(m.annotations_json);
	assert_int_equal(m.n_entries, 3);
	assert_null(m.entries[1].title);

	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(layers[0].name, "data.bin");
	assert_string_equal(layers[1].name, D_B);
	assert_string_equal(layers[2].name, D_C);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(layers[i].digest, m.entries[i].digest);
		assert_int_equal(layers[i].size, 10 * (i + 1));
	}
	free(layers);
	rfs_manifest_release(&m);
}

/* Titles that are not safe file names, or taken, fall back to the digest;
 * the same blob twice gets numbered. */
static void test_layer_names(void **state)
{
	char long_title[RFS_LAYER_NAME_MAX + 2];
	char max_title[RFS_LAYER_NAME_MAX + 1];
	char body[8192];
	struct rfs_manifest m;
	struct rfs_layer *layers;
	size_t n;
	static const char *const unsafe[] = {
		"../x", "a/b", ".hidden", "manifest.json", ".", "..", "", "/",
	};

	(void)state;
	memset(long_title, 'x', sizeof(long_title) - 1);
	long_title[sizeof(long_title) - 1] = '\0';
	memset(max_title, 'y', sizeof(max_title) - 1);
	max_title[sizeof(max_title) - 1] = '\0';

	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		snprintf(body, sizeof(body),
			 "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":["
			 "{\"mediaType\":\"" MT_LAYER "\",\"digest\":\"" D_A
			 "\",\"size\":1,\"annotations\":{"
			 "\"org.opencontainers.image.title\":\"%s\"}}]}",
			 unsafe[i]);
		parse_ok(body, NULL, &m);
		assert_string_equal(m.entries[0].title, unsafe[i]);
		assert_int_equal(
		    rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
		assert_int_equal(n, 1);
		if (strcmp(layers[0].name, D_A) != 0)
			fail_msg("title '%s' gave name '%s'", unsafe[i],
				 layers[0].name);
		free(layers);
		rfs_manifest_release(&m);
	}

	/* Too long, longest allowed, the same blob three times, a title
	 * that is the digest of a later layer, and a title that is the
	 * numbered name a duplicate would take. */
	snprintf(
	    body, sizeof(body),
	    "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":["
	    "{\"mediaType\":\"" MT_LAYER "\",\"digest\":\"" D_A
	    "\",\"size\":1,\"annotations\":{"
	    "\"org.opencontainers.image.title\":\"%s\"}},"
	    "{\"mediaType\":\"" MT_LAYER "\",\"digest\":\"" D_B
	    "\",\"size\":2,\"annotations\":{"
	    "\"org.opencontainers.image.title\":\"%s\"}}," LAYER(D_C, "3") "," LAYER(D_C, "3") "," LAYER(
		D_C,
		"3") "," LAYER_T(D_D, "4",
				 D_E) "," LAYER_T(D_A, "1",
						  D_E
						  "-2") "," LAYER(D_E,
								  "5") "," LAYER(D_E,
										 "5") "]}",
	    long_title, max_title);
	parse_ok(body, NULL, &m);
	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
	assert_int_equal(n, 9);
	assert_string_equal(layers[0].name, D_A);
	assert_string_equal(layers[1].name, max_title);
	assert_string_equal(layers[2].name, D_C);
	assert_string_equal(layers[3].name, D_C "-2");
	assert_string_equal(layers[4].name, D_C "-3");
	assert_string_equal(layers[5].name, D_E);
	assert_string_equal(layers[6].name, D_E "-2");
	assert_string_equal(layers[7].name, D_E "-3");
	assert_string_equal(layers[8].name, D_E "-4");
	assert_string_equal(layers[7].digest, D_E);
	assert_int_equal(layers[7].size, 5);
	free(layers);
	rfs_manifest_release(&m);

	/* No layers: no files, and nothing to free. */
	parse_ok("{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[]}", NULL,
		 &m);
	assert_int_equal(m.n_entries, 0);
	layers = (struct rfs_layer *)&m;
	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(layers);
	rfs_manifest_release(&m);
}

static void test_docker_v2(void **state)
{
	const char *body =
	    "{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"" RFS_MT_DOCKER_MANIFEST
	    "\",\n   \"config\": {\n      \"mediaType\": \"" MT_DOCKER_CONFIG
	    "\",\n      \"size\": 1469,\n      \"digest\": \"" D_A "\"\n   },\n"
	    "   \"layers\": [\n      {\n         \"mediaType\": \"" MT_DOCKER_LAYER
	    "\",\n         \"size\": 3370706,\n         \"digest\": \"" D_B
	    "\"\n      },\n      {\n         \"mediaType\": \"" MT_DOCKER_LAYER
	    "\",\n         \"size\": 0,\n         \"digest\": \"" D_C
	    "\"\n      }\n   ]\n}";
	struct rfs_manifest m;
	struct rfs_layer *layers;
	size_t n;

	(void)state;
	parse_ok(body, NULL, &m);
	assert_int_equal(m.kind, RFS_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_MANIFEST);
	assert_string_equal(m.config.media_type, MT_DOCKER_CONFIG);
	assert_string_equal(m.config.digest, D_A);
	assert_int_equal(m.config.size, 1469);
	assert_int_equal(m.n_entries, 2);
	assert_string_equal(m.entries[0].media_type, MT_DOCKER_LAYER);
	assert_int_equal(m.entries[0].size, 3370706);
	assert_int_equal(m.entries[1].size, 0);
	assert_null(m.annotations_json);
	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(layers[0].name, D_B);
	assert_string_equal(layers[1].name, D_C);
	free(layers);
	rfs_manifest_release(&m);

	/* The same with its Content-Type. */
	parse_ok(body, RFS_MT_DOCKER_MANIFEST, &m);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_MANIFEST);
	rfs_manifest_release(&m);

	/* Large sizes survive. */
	parse_ok("{\"schemaVersion\":2," EMPTY_CONFIG
		 ",\"layers\":[" LAYER(D_A, "9223372036854775807") "]}",
		 NULL, &m);
	assert_true(m.entries[0].size == 9223372036854775807ULL);
	rfs_manifest_release(&m);
}

/* ---- indexes and platforms -------------------------------------------- */

/* The arch part of rfs_manifest_platform(), which the tests check too. */
static const char *build_arch(void)
{
	const char *p = rfs_manifest_platform();

	assert_true(strncmp(p, "linux/", 6) == 0);
	return p + 6;
}

#define PLATFORMS(mt)                                                                                                                                                                             \
	"[" ENTRY(                                                                                                                                                                                \
	    mt, D_A,                                                                                                                                                                              \
	    "\"os\":\"windows\",\"architecture\":\"amd64\","                                                                                                                                      \
	    "\"os.version\":\"10.0.17763.1\"") ","                                                                                                                                                \
					       "{\"mediaType\":\"" mt                                                                                                                             \
					       "\",\"digest\":\"" D_B                                                                                                                             \
					       "\",\"size\":7}," ENTRY(mt, D_C, "\"os\":\"linux\",\"architecture\":\"amd64\"") "," ENTRY(                                                         \
						   mt, D_D,                                                                                                                                       \
						   "\"os\":\"linux\",\"architecture\":\"arm64\","                                                                                                 \
						   "\"variant\":\"v8\"") "," ENTRY(mt,                                                                                                            \
										   D_E,                                                                                                           \
										   "\"os\":\"linux\",\"architecture\":\"arm\","                                                                   \
										   "\"variant\":\"v6\"") "," ENTRY(mt,                                                                            \
														   D_A,                                                                           \
														   "\"os\":\"linux\",\"architecture\":\"arm\","                                   \
														   "\"variant\":\"v7\"") "," ENTRY(mt,                                            \
																		   D_B,                                           \
																		   "\"os\":\"linux\",\"architecture\":\"amd64\"," \
																		   "\"variant\":\"v3\"") "]"

static void check_pick(const struct rfs_manifest *m)
{
	const struct rfs_descriptor *d = rfs_manifest_pick_platform(m);
	const char *arch = build_arch();

	assert_int_equal(m->kind, RFS_MANIFEST_INDEX);
	assert_int_equal(m->n_entries, 7);
	assert_string_equal(m->entries[0].os, "windows");
	assert_string_equal(m->entries[1].os, "");
	assert_string_equal(m->entries[1].arch, "");
	assert_string_equal(m->entries[3].variant, "v8");
	assert_int_equal(m->config.size, 0);
	if (!strcmp(arch, "amd64")) {
		assert_ptr_equal(d, &m->entries[2]); /* the first match */
	} else if (!strcmp(arch, "arm64")) {
		assert_ptr_equal(d, &m->entries[3]);
	} else if (!strcmp(arch, "arm")) {
		assert_ptr_equal(d, &m->entries[5]); /* v7 over v6 */
	} else {
		assert_null(d);
	}
}

static void test_oci_index(void **state)
{
	const char *body =
	    "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_INDEX
	    "\",\"manifests\":" PLATFORMS(
		RFS_MT_OCI_MANIFEST) ",\"annotations\":{\"a\":\"b\"}}";
	struct rfs_manifest m;
	struct rfs_layer *layers = NULL;
	size_t n = 5;
	struct rfs_error err;

	(void)state;
	parse_ok(body, RFS_MT_OCI_INDEX, &m);
	assert_string_equal(m.media_type, RFS_MT_OCI_INDEX);
	assert_string_equal(m.entries[2].media_type, RFS_MT_OCI_MANIFEST);
	assert_string_equal(m.annotations_json, "{\"a\":\"b\"}");
	check_pick(&m);
	/* An index has no files of its own. */
	rfs_error_clear(&err);
	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, &err),
			 -EINVAL);
	assert_null(layers);
	assert_int_equal(n, 0);
	assert_true(err.msg[0] != '\0');
	rfs_manifest_release(&m);
}

static void test_docker_list(void **state)
{
	const char *body =
	    "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_DOCKER_LIST
	    "\",\"manifests\":" PLATFORMS(RFS_MT_DOCKER_MANIFEST) "}";
	struct rfs_manifest m;

	(void)state;
	parse_ok(body, NULL, &m);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_LIST);
	assert_null(m.annotations_json);
	check_pick(&m);
	rfs_manifest_release(&m);
}

static void test_pick_none(void **state)
{
	const char *body = "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
	    RFS_MT_OCI_MANIFEST, D_A,
	    "\"os\":\"plan9\","
	    "\"architecture\":\"amd64\"") "," ENTRY(RFS_MT_OCI_MANIFEST, D_A,
						    "\"os\":\"plan9\","
						    "\"architecture\":\"arm64\"") "," ENTRY(RFS_MT_OCI_MANIFEST,
											    D_B,
											    "\"os\":\"linux\","
											    "\"architecture\":\"mips64le\"") ","
															     "{\"mediaType\":\"" RFS_MT_OCI_MANIFEST
															     "\",\"digest\":\"" D_C
															     "\",\"size\":7,\"platform\":{}}]}";
	struct rfs_manifest m;

	(void)state;
	parse_ok(body, NULL, &m);
	assert_null(rfs_manifest_pick_platform(&m));
	rfs_manifest_release(&m);

	/* An image is not an index. */
	parse_ok("{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[]}", NULL,
		 &m);
	assert_null(rfs_manifest_pick_platform(&m));
	rfs_manifest_release(&m);

	/* Empty index. */
	parse_ok("{\"schemaVersion\":2,\"manifests\":[]}", NULL, &m);
	assert_int_equal(m.kind, RFS_MANIFEST_INDEX);
	assert_null(rfs_manifest_pick_platform(&m));
	rfs_manifest_release(&m);
}

static void test_platform_string(void **state)
{
	const char *arch;

	(void)state;
	arch = build_arch();
#if defined(__x86_64__)
	assert_string_equal(arch, "amd64");
#elif defined(__aarch64__)
	assert_string_equal(arch, "arm64");
#endif
	assert_non_null(arch);
	assert_true(strlen(arch) > 0);
}

/* ---- where the media type comes from ----------------------------------- */

static void test_media_type_sources(void **state)
{
	/* A body with both shapes: only the media type decides. */
	const char *both =
	    "{\"schemaVersion\":2," EMPTY_CONFIG
	    ",\"layers\":[" LAYER(D_A, "1") "],\"manifests\":[" ENTRY(
		RFS_MT_OCI_MANIFEST, D_B,
		"\"os\":\"linux\",\"architecture\":\"amd64\"") "]}";
	const char *index_shape = "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
	    RFS_MT_OCI_MANIFEST, D_B,
	    "\"os\":\"linux\",\"architecture\":\"amd64\"") "]}";
	const char *list_body =
	    "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_DOCKER_LIST
	    "\",\"manifests\":[]}";
	struct rfs_manifest m;

	(void)state;
	/* From the Content-Type, parameters and case ignored. */
	parse_ok(both, RFS_MT_OCI_INDEX "; charset=utf-8", &m);
	assert_int_equal(m.kind, RFS_MANIFEST_INDEX);
	assert_string_equal(m.media_type, RFS_MT_OCI_INDEX);
	assert_int_equal(m.n_entries, 1);
	assert_string_equal(m.entries[0].digest, D_B);
	rfs_manifest_release(&m);

	parse_ok(
	    both,
	    " Application/VND.oci.image.manifest.v1+JSON ;charset=\"utf-8\"",
	    &m);
	assert_int_equal(m.kind, RFS_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, RFS_MT_OCI_MANIFEST);
	assert_int_equal(m.n_entries, 1);
	assert_string_equal(m.entries[0].digest, D_A);
	assert_string_equal(m.entries[0].os, "");
	rfs_manifest_release(&m);

	parse_ok(index_shape, RFS_MT_DOCKER_LIST, &m);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_LIST);
	rfs_manifest_release(&m);

	/* From the body when there is no Content-Type, an empty one, or a
	 * generic JSON one. */
	parse_ok(list_body, NULL, &m);
	assert_int_equal(m.kind, RFS_MANIFEST_INDEX);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_LIST);
	rfs_manifest_release(&m);
	parse_ok(list_body, "", &m);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_LIST);
	rfs_manifest_release(&m);
	parse_ok(list_body, "application/json; charset=utf-8", &m);
	assert_string_equal(m.media_type, RFS_MT_DOCKER_LIST);
	rfs_manifest_release(&m);

	/* The Content-Type wins over a body of the same kind. */
	parse_ok(list_body, RFS_MT_OCI_INDEX, &m);
	assert_string_equal(m.media_type, RFS_MT_OCI_INDEX);
	rfs_manifest_release(&m);

	/* From the shape. */
	parse_ok(index_shape, NULL, &m);
	assert_int_equal(m.kind, RFS_MANIFEST_INDEX);
	assert_string_equal(m.media_type, RFS_MT_OCI_INDEX);
	rfs_manifest_release(&m);
	parse_ok("{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[]}", NULL,
		 &m);
	assert_int_equal(m.kind, RFS_MANIFEST_IMAGE);
	assert_string_equal(m.media_type, RFS_MT_OCI_MANIFEST);
	rfs_manifest_release(&m);

	/* Content-Type and body that disagree on the kind. */
	expect_bad(list_body, strlen(list_body), RFS_MT_OCI_MANIFEST,
		   "does not match");
	/* Unknown types. */
	expect_bad(list_body, strlen(list_body), "text/html",
		   "unsupported manifest media type 'text/html'");
	expect_bad(list_body, strlen(list_body),
		   "application/vnd.docker.distribution.manifest.v1+prettyjws",
		   "unsupported manifest media type");
	expect_bad_str("{\"schemaVersion\":2,\"mediaType\":\"application/"
		       "vnd.oci.artifact.manifest.v1+json\",\"layers\":[]}",
		       "unsupported manifest media type "
		       "'application/vnd.oci.artifact.manifest.v1+json'");
	expect_bad_str("{\"schemaVersion\":2,\"mediaType\":7,\"layers\":[]}",
		       "'mediaType' is not a string");
	/* The Content-Type says image, the body has no layers. */
	expect_bad(index_shape, strlen(index_shape), RFS_MT_OCI_MANIFEST,
		   "'config' is missing");
}

/* ---- malformed ------------------------------------------------------- */

static void test_malformed(void **state)
{
	static const struct {
		const char *body;
		const char *msg;
	} cases[] = {
		{ "", "manifest is not JSON" },
		{ "not json", "manifest is not JSON" },
		{ "{\"schemaVersion\":2,", "manifest is not JSON" },
		{ "[]", "manifest is not a JSON object" },
		{ "\"x\"", "manifest is not JSON" },
		{ "{}", "'schemaVersion' is missing" },
		{ "{\"schemaVersion\":1,\"layers\":[]}",
		  "unsupported 'schemaVersion' 1 (only 2)" },
		{ "{\"schemaVersion\":3,\"layers\":[]}",
		  "unsupported 'schemaVersion' 3" },
		{ "{\"schemaVersion\":\"2\",\"layers\":[]}",
		  "'schemaVersion' is not an integer" },
		{ "{\"schemaVersion\":2.0,\"layers\":[]}",
		  "'schemaVersion' is not an integer" },
		{ "{\"schemaVersion\":2}", "no 'layers' or 'manifests'" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG "}",
		  "no 'layers' or 'manifests'" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_MANIFEST
		  "\"," EMPTY_CONFIG "}",
		  "'layers' is missing" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_INDEX
		  "\"}",
		  "'manifests' is missing" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":{}}",
		  "'layers' is not an array" },
		{ "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_INDEX
		  "\",\"manifests\":{}}",
		  "'manifests' is not an array" },
		{ "{\"schemaVersion\":2,\"layers\":[]}",
		  "'config' is missing" },
		{ "{\"schemaVersion\":2,\"config\":[],\"layers\":[]}",
		  "config: not an object" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[7]}",
		  "layers[0]: not an object" },
		/* Digests. */
		{ "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[" LAYER(
		      D_A, "1") "," LAYER("sha256:ABCDEF", "1") "]}",
		  "layers[1]: invalid digest 'sha256:ABCDEF'" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER("sha256:" HEX_A "00", "1") "]}",
		  "layers[0]: invalid digest" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[" LAYER(
		      "sha256:A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F607"
		      "18293A4B5C6D7E8F90",
		      "1") "]}",
		  "layers[0]: invalid digest" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER(HEX_A, "1") "]}",
		  "layers[0]: invalid digest" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER("", "1") "]}",
		  "layers[0]: invalid digest ''" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER("sha512:" HEX_A HEX_A, "1") "]}",
		  "layers[0]: unsupported digest algorithm 'sha512' (only "
		  "sha256)" },
		{ "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_EMPTY
		  "\",\"digest\":\"sha384:abc\",\"size\":2},\"layers\":[]}",
		  "config: unsupported digest algorithm 'sha384'" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"mediaType\":\"" MT_LAYER "\",\"size\":1}]}",
		  "layers[0]: 'digest' is missing" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"mediaType\":\"" MT_LAYER
		  "\",\"digest\":5,\"size\":1}]}",
		  "layers[0]: 'digest' is not a string" },
		/* Sizes. */
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER(D_A, "-1") "]}",
		  "layers[0]: negative 'size' -1" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER(D_A, "1.5") "]}",
		  "layers[0]: 'size' is not an integer" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER(D_A, "\"1\"") "]}",
		  "layers[0]: 'size' is not an integer" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER(D_A, "99999999999999999999") "]}",
		  "manifest is not JSON" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"mediaType\":\"" MT_LAYER
		  "\",\"digest\":\"" D_A "\"}]}",
		  "layers[0]: 'size' is missing" },
		/* Media types of descriptors. */
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"digest\":\"" D_A "\",\"size\":1}]}",
		  "layers[0]: 'mediaType' is missing" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"mediaType\":null,\"digest\":\"" D_A
		  "\",\"size\":1}]}",
		  "layers[0]: 'mediaType' is not a string" },
		/* Annotations and platforms. */
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"mediaType\":\"" MT_LAYER
		  "\",\"digest\":\"" D_A "\",\"size\":1,\"annotations\":[]}]}",
		  "layers[0]: 'annotations' is not an object" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[{\"mediaType\":\"" MT_LAYER
		  "\",\"digest\":\"" D_A "\",\"size\":1,\"annotations\":{"
		  "\"org.opencontainers.image.title\":1}}]}",
		  "layers[0]: annotation 'org.opencontainers.image.title' is "
		  "not a string" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[],\"annotations\":{\"a\":{}}}",
		  "manifest: annotation 'a' is not a string" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[],\"annotations\":\"x\"}",
		  "manifest: 'annotations' is not an object" },
		{ "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" RFS_MT_OCI_MANIFEST
		  "\",\"digest\":\"" D_A
		  "\",\"size\":1,\"platform\":\"linux\"}]}",
		  "manifests[0]: 'platform' is not an object" },
		{ "{\"schemaVersion\":2,\"manifests\":[" ENTRY(
		      RFS_MT_OCI_MANIFEST, D_A,
		      "\"os\":\"linux\",\"architecture\":64") "]}",
		  "manifests[0]: 'architecture' is not a string" },
		/* Ambiguous or hidden content. */
		{ "{\"schemaVersion\":2,\"schemaVersion\":2,\"layers\":[]}",
		  "manifest is not JSON: duplicate object key" },
		{ "{\"schemaVersion\":2," EMPTY_CONFIG
		  ",\"layers\":[" LAYER_T(D_A, "1", "a\\u0000b") "]}",
		  "manifest is not JSON" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_bad_str(cases[i].body, cases[i].msg);

	/* A NUL byte inside the body, and a body cut short by len. */
	expect_bad("{\"schemaVersion\":2}\0garbage", 27, NULL,
		   "manifest is not JSON");
	expect_bad("{\"schemaVersion\":2,\"layers\":[]}", 10, NULL,
		   "manifest is not JSON");
}

/* Strings that do not fit the fixed buffers. */
static void test_too_long(void **state)
{
	char mt[300];
	char body[2048];
	char val[40];

	(void)state;
	/* mediaType: 255 bytes fit, 256 do not. */
	memset(mt, 'm', 255);
	mt[255] = '\0';
	snprintf(body, sizeof(body),
		 "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[{"
		 "\"mediaType\":\"%s\",\"digest\":\"" D_A "\",\"size\":1}]}",
		 mt);
	{
		struct rfs_manifest m;

		parse_ok(body, NULL, &m);
		assert_string_equal(m.entries[0].media_type, mt);
		rfs_manifest_release(&m);
	}
	strcat(mt, "m");
	snprintf(body, sizeof(body),
		 "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[{"
		 "\"mediaType\":\"%s\",\"digest\":\"" D_A "\",\"size\":1}]}",
		 mt);
	expect_bad_str(body,
		       "layers[0]: 'mediaType' is too long (256 bytes, at "
		       "most 255)");

	/* os, architecture, variant: 31 bytes fit, 32 do not. */
	static const char *const keys[] = { "os", "architecture", "variant" };
	for (size_t k = 0; k < 3; k++) {
		struct rfs_manifest m;
		char want[128];

		memset(val, 'v', 31);
		val[31] = '\0';
		snprintf(body, sizeof(body),
			 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			 "\"" RFS_MT_OCI_MANIFEST "\",\"digest\":\"" D_A
			 "\",\"size\":1,\"platform\":{\"%s\":\"%s\"}}]}",
			 keys[k], val);
		parse_ok(body, NULL, &m);
		rfs_manifest_release(&m);
		strcat(val, "v");
		snprintf(body, sizeof(body),
			 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
			 "\"" RFS_MT_OCI_MANIFEST "\",\"digest\":\"" D_A
			 "\",\"size\":1,\"platform\":{\"%s\":\"%s\"}}]}",
			 keys[k], val);
		snprintf(
		    want, sizeof(want),
		    "manifests[0]: '%s' is too long (32 bytes, at most 31)",
		    keys[k]);
		expect_bad_str(body, want);
	}
}

/* At most 4096 entries. */
static char *many_layers(size_t n)
{
	static const char head[] =
	    "{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[";
	static const char layer[] = LAYER(D_A, "1");
	size_t size = sizeof(head) + n * sizeof(layer) + 8;
	char *body = malloc(size);
	char *p = body;

	assert_non_null(body);
	p += sprintf(p, "%s", head);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", layer);
	sprintf(p, "]}");
	return body;
}

static void test_entry_limit(void **state)
{
	struct rfs_manifest m;
	struct rfs_layer *layers;
	size_t n;
	char *body;

	(void)state;
	body = many_layers(4096);
	parse_ok(body, NULL, &m);
	assert_int_equal(m.n_entries, 4096);
	/* The same blob 4096 times: every name distinct. */
	assert_int_equal(rfs_manifest_layer_files(&m, &layers, &n, NULL), 0);
	assert_int_equal(n, 4096);
	assert_string_equal(layers[0].name, D_A);
	assert_string_equal(layers[4095].name, D_A "-4096");
	free(layers);
	rfs_manifest_release(&m);
	free(body);

	body = many_layers(4097);
	expect_bad_str(body, "too many layers: 4097 (at most 4096)");
	free(body);
}

/* ---- file annotations ------------------------------------------------ */

static void expect_mode_text(unsigned mode, const char *want)
{
	char buf[RFS_MODE_STR_MAX];

	rfs_manifest_format_mode(mode, buf);
	assert_string_equal(buf, want);
}

static void expect_mode(const char *text, int rc, unsigned want)
{
	unsigned mode = 0123;

	if (rfs_manifest_parse_mode(text, &mode) != rc)
		fail_msg("parse_mode('%s'): want %d", text ? text : "(null)",
			 rc);
	/* Left alone on failure. */
	assert_int_equal(mode, rc ? 0123 : want);
}

static void test_mode_text(void **state)
{
	(void)state;
	expect_mode_text(0755, "0755");
	expect_mode_text(0644, "0644");
	expect_mode_text(0700, "0755"); /* any x bit: executable */
	expect_mode_text(0100, "0755");
	expect_mode_text(04755, "0755"); /* set-id never shown */
	expect_mode_text(0600, "0644");
	expect_mode_text(0, "0644");
	expect_mode_text(07666, "0644");

	expect_mode("0755", 0, 0755);
	expect_mode("755", 0, 0755);
	expect_mode("0644", 0, 0644);
	expect_mode("0", 0, 0);
	expect_mode("07777", 0, 07777);
	expect_mode("000755", 0, 0755);
	expect_mode("", -EINVAL, 0);
	expect_mode(NULL, -EINVAL, 0);
	expect_mode("0x1ed", -EINVAL, 0);
	expect_mode("0o755", -EINVAL, 0);
	expect_mode("rwxr-xr-x", -EINVAL, 0);
	expect_mode(" 755", -EINVAL, 0);
	expect_mode("755 ", -EINVAL, 0);
	expect_mode("-755", -EINVAL, 0);
	expect_mode("+755", -EINVAL, 0);
	expect_mode("0789", -EINVAL, 0);
	expect_mode("10000", -EINVAL, 0);   /* above 07777 */
	expect_mode("100755", -EINVAL, 0);  /* a file type: not a mode */
	expect_mode("0000755", -EINVAL, 0); /* seven digits */
}

static void expect_time_text(int64_t ns, const char *want)
{
	char buf[RFS_TIME_STR_MAX];
	int64_t back = 0;

	assert_int_equal(rfs_manifest_format_time(ns, buf), 0);
	assert_string_equal(buf, want);
	assert_int_equal(rfs_manifest_parse_time(buf, &back), 0);
	assert_int_equal(back, ns);
}

static void expect_time(const char *text, int rc, int64_t want)
{
	int64_t ns = 42;

	if (rfs_manifest_parse_time(text, &ns) != rc)
		fail_msg("parse_time('%s'): want %d", text ? text : "(null)",
			 rc);
	if (rc == 0 && ns != want)
		fail_msg("parse_time('%s'): %lld, want %lld", text,
			 (long long)ns, (long long)want);
	if (rc != 0)
		assert_int_equal(ns, 42);
}

#define T_2001 981173106LL /* 2001-02-03T04:05:06Z */
#define NS     1000000000LL

static void test_time_text(void **state)
{
	(void)state;
	expect_time_text(0, "1970-01-01T00:00:00.000000000Z");
	expect_time_text(T_2001 * NS + 123456789,
			 "2001-02-03T04:05:06.123456789Z");
	expect_time_text(T_2001 * NS, "2001-02-03T04:05:06.000000000Z");
	expect_time_text(-1, "1969-12-31T23:59:59.999999999Z");
	expect_time_text(-NS, "1969-12-31T23:59:59.000000000Z");
	expect_time_text(951782400LL * NS, "2000-02-29T00:00:00.000000000Z");
	expect_time_text(9223372035LL * NS + 999999999,
			 "2262-04-11T23:47:15.999999999Z");
	expect_time_text(-9223372035LL * NS, "1677-09-21T00:12:45.000000000Z");

	/* What other tools write. */
	expect_time("2001-02-03T04:05:06Z", 0, T_2001 * NS);
	expect_time("2001-02-03t04:05:06z", 0, T_2001 * NS);
	expect_time("2001-02-03T04:05:06.5Z", 0, T_2001 * NS + 500000000);
	expect_time("2001-02-03T04:05:06.000001Z", 0, T_2001 * NS + 1000);
	expect_time("2001-02-03T04:05:06.1234567891234Z", 0,
		    T_2001 * NS + 123456789);
	expect_time("2001-02-03T05:05:06+01:00", 0, T_2001 * NS);
	expect_time("2001-02-03T03:35:06.25-00:30", 0, T_2001 * NS + 250000000);
	expect_time("2001-02-03T04:05:06+00:00", 0, T_2001 * NS);
	expect_time("2024-02-29T00:00:00Z", 0, 1709164800LL * NS);

	expect_time("", -EINVAL, 0);
	expect_time(NULL, -EINVAL, 0);
	expect_time("2001-02-03T04:05:06", -EINVAL, 0);	     /* no zone */
	expect_time("2001-02-03 04:05:06Z", -EINVAL, 0);     /* a space */
	expect_time("2001-02-03T04:05:06.Z", -EINVAL, 0);    /* no digit */
	expect_time("2001-02-03T04:05:06Zjunk", -EINVAL, 0); /* trailing */
	expect_time("2001-2-03T04:05:06Z", -EINVAL, 0);
	expect_time("2001-02-03T4:05:06Z", -EINVAL, 0);
	expect_time("2001-02-30T00:00:00Z", -EINVAL, 0);
	expect_time("1900-02-29T00:00:00Z", -EINVAL, 0);
	expect_time("2001-00-01T00:00:00Z", -EINVAL, 0);
	expect_time("2001-13-01T00:00:00Z", -EINVAL, 0);
	expect_time("2001-01-00T00:00:00Z", -EINVAL, 0);
	expect_time("2001-01-01T24:00:00Z", -EINVAL, 0);
	expect_time("2001-01-01T00:60:00Z", -EINVAL, 0);
	expect_time("2016-12-31T23:59:60Z", -EINVAL, 0); /* a leap second */
	expect_time("2001-02-03T04:05:06+1:00", -EINVAL, 0);
	expect_time("2001-02-03T04:05:06+01", -EINVAL, 0);
	expect_time("2001-02-03T04:05:06+24:00", -EINVAL, 0);
	expect_time("yesterday", -EINVAL, 0);
	expect_time("981173106", -EINVAL, 0);
	/* Beyond what int64_t nanoseconds hold. */
	expect_time("2262-04-11T23:47:16Z", -EINVAL, 0);
	expect_time("9999-12-31T23:59:59Z", -EINVAL, 0);
	expect_time("1600-01-01T00:00:00Z", -EINVAL, 0);
}

/* A single-layer manifest whose layer has these extra annotations. */
static void parse_layer_attrs(const char *extra, struct rfs_manifest *m)
{
	char body[2048];

	snprintf(body, sizeof(body),
		 "{\"schemaVersion\":2,\"mediaType\":\"" RFS_MT_OCI_MANIFEST
		 "\"," EMPTY_CONFIG ",\"layers\":[{\"mediaType\":\"" MT_LAYER
		 "\",\"digest\":\"" D_A "\",\"size\":5,\"annotations\":"
		 "{\"org.opencontainers.image.title\":\"app\"%s}}]}",
		 extra);
	parse_ok(body, NULL, m);
	assert_string_equal(m->entries[0].title, "app");
}

static void test_layer_file_attrs(void **state)
{
	struct rfs_manifest m;

	(void)state;
	parse_layer_attrs(",\"" RFS_ANNOTATION_FILE_MODE
			  "\":\"0755\",\"" RFS_ANNOTATION_FILE_MTIME
			  "\":\"2001-02-03T04:05:06.123456789Z\"",
			  &m);
	assert_true(m.entries[0].attrs.set_mode);
	assert_int_equal(m.entries[0].attrs.mode, 0755);
	assert_true(m.entries[0].attrs.set_mtime);
	assert_int_equal(m.entries[0].attrs.mtime_ns, T_2001 * NS + 123456789);
	assert_false(m.config.attrs.set_mode);
	rfs_manifest_release(&m);

	/* As written, for the catalog to normalise. */
	parse_layer_attrs(",\"" RFS_ANNOTATION_FILE_MODE "\":\"4750\"", &m);
	assert_true(m.entries[0].attrs.set_mode);
	assert_int_equal(m.entries[0].attrs.mode, 04750);
	assert_false(m.entries[0].attrs.set_mtime);
	rfs_manifest_release(&m);

	/* Malformed: ignored, and the manifest is still good. */
	parse_layer_attrs(",\"" RFS_ANNOTATION_FILE_MODE
			  "\":\"rwxr-xr-x\",\"" RFS_ANNOTATION_FILE_MTIME
			  "\":\"yesterday\"",
			  &m);
	assert_false(m.entries[0].attrs.set_mode);
	assert_false(m.entries[0].attrs.set_mtime);
	rfs_manifest_release(&m);

	parse_layer_attrs(",\"" RFS_ANNOTATION_FILE_MODE
			  "\":\"\",\"" RFS_ANNOTATION_FILE_MTIME
			  "\":\"2001-02-03T04:05:06.5+01:00\"",
			  &m);
	assert_false(m.entries[0].attrs.set_mode);
	assert_true(m.entries[0].attrs.set_mtime);
	assert_int_equal(m.entries[0].attrs.mtime_ns,
			 (T_2001 - 3600) * NS + 500000000);
	rfs_manifest_release(&m);

	/* Absent: nothing set. */
	parse_layer_attrs("", &m);
	assert_false(m.entries[0].attrs.set_mode);
	assert_false(m.entries[0].attrs.set_mtime);
	rfs_manifest_release(&m);

	/* On the manifest rather than the layer: not the file's. */
	parse_ok("{\"schemaVersion\":2," EMPTY_CONFIG ",\"layers\":[" LAYER(
		     D_A, "5") "],\"annotations\":{\"" RFS_ANNOTATION_FILE_MODE
			       "\":\"0755\"}}",
		 NULL, &m);
	assert_false(m.entries[0].attrs.set_mode);
	rfs_manifest_release(&m);

	/* Not a string: the manifest is malformed, as for any annotation. */
	expect_bad_str("{\"schemaVersion\":2," EMPTY_CONFIG
		       ",\"layers\":[{\"mediaType\":\"" MT_LAYER
		       "\",\"digest\":\"" D_A "\",\"size\":5,\"annotations\":"
		       "{\"" RFS_ANNOTATION_FILE_MODE "\":493}}]}",
		       "layers[0]: annotation 'io.regfs.file.mode' is not a "
		       "string");
}

static void test_release_zeroed(void **state)
{
	struct rfs_manifest m;

	(void)state;
	memset(&m, 0, sizeof(m));
	rfs_manifest_release(&m);
	rfs_manifest_release(&m);
	rfs_manifest_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oras_single_file),
		cmocka_unit_test(test_three_layers),
		cmocka_unit_test(test_layer_names),
		cmocka_unit_test(test_docker_v2),
		cmocka_unit_test(test_oci_index),
		cmocka_unit_test(test_docker_list),
		cmocka_unit_test(test_pick_none),
		cmocka_unit_test(test_platform_string),
		cmocka_unit_test(test_media_type_sources),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_entry_limit),
		cmocka_unit_test(test_release_zeroed),
		cmocka_unit_test(test_mode_text),
		cmocka_unit_test(test_time_text),
		cmocka_unit_test(test_layer_file_attrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
