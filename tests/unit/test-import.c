/*
 * test-import.c - unit tests of import.h: splitting references as local
 * artifact registries do, the repository and tag an OCI layout's ref name
 * gives, the local artifact index (artifacts.json, an older one with
 * "components", the legacy components.json) with every kind of broken
 * entry, and a small tree imported into a store, then again, then as a
 * dry run, through the callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "import.h"
#include "store.h"
#include "tmptree.h"

#define D_A \
	"sha256:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

static void check_split(const char *ref, const char *repo, const char *tag,
			const char *digest)
{
	char r[RFS_REPO_MAX + 1], t[RFS_TAG_MAX + 1];
	char d[RFS_DIGEST_STR_MAX + 1];

	if (rfs_import_split_ref(ref, r, sizeof(r), t, sizeof(t), d) != 0)
		fail_msg("'%s' not split", ref);
	assert_string_equal(r, repo);
	assert_string_equal(t, tag);
	assert_string_equal(d, digest);
}

static void test_split_ref(void **state)
{
	(void)state;
	check_split("ghcr.io/org/app:v1.0.0", "ghcr.io/org/app", "v1.0.0", "");
	check_split("app", "app", "latest", "");
	check_split("my-dc:latest", "my-dc", "latest", "");
	/* A port is no tag: no '/' may follow the tag's ':'. */
	check_split("localhost:5000/app", "localhost:5000/app", "latest", "");
	check_split("localhost:5000/app:v2", "localhost:5000/app", "v2", "");
	check_split("app:v1@" D_A, "app", "v1", D_A);
	check_split("app@" D_A, "app", "latest", D_A);
	/* An '@' without an algorithm after it is part of the name. */
	check_split("@clerk/clerk:latest", "@clerk/clerk", "latest", "");
}

static void test_split_ref_invalid(void **state)
{
	char r[8], t[8];

	(void)state;
	assert_int_equal(
	    rfs_import_split_ref("", r, sizeof(r), t, sizeof(t), NULL),
	    -EINVAL);
	assert_int_equal(
	    rfs_import_split_ref(":v1", r, sizeof(r), t, sizeof(t), NULL),
	    -EINVAL);
	assert_int_equal(
	    rfs_import_split_ref("app:", r, sizeof(r), t, sizeof(t), NULL),
	    -EINVAL);
	assert_int_equal(rfs_import_split_ref("a-long-name:v1", r, sizeof(r), t,
					      sizeof(t), NULL),
			 -ENAMETOOLONG);
	assert_int_equal(rfs_import_split_ref("app:a-long-tag", r, sizeof(r), t,
					      sizeof(t), NULL),
			 -ENAMETOOLONG);
}

static void check_oci(const char *ref, const char *override, const char *repo,
		      const char *tag)
{
	char r[RFS_REPO_MAX + 1], t[RFS_TAG_MAX + 1];

	if (rfs_import_oci_ref(ref, "layout", override, r, sizeof(r), t,
			       sizeof(t)) != 0)
		fail_msg("'%s' not read", ref);
	assert_string_equal(r, repo);
	assert_string_equal(t, tag);
}

static void test_oci_ref(void **state)
{
	(void)state;
	check_oci("v1", NULL, "layout", "v1");
	check_oci("v1", "mirror/app", "mirror/app", "v1");
	check_oci("app:v2", NULL, "app", "v2");
	check_oci("docker.io/library/alpine:3.18", NULL,
		  "docker.io/library/alpine", "3.18");
	check_oci("docker.io/library/alpine:3.18", "alpine", "alpine", "3.18");
	check_oci("org/app", NULL, "org/app", "latest");
}

static struct rfs_import_index parse_ok(const char *text, bool legacy)
{
	struct rfs_import_index index;
	struct rfs_error err = { 0 };

	if (rfs_import_index_parse(text, strlen(text), legacy, &index, &err))
		fail_msg("not parsed: %s", err.msg);
	return index;
}

static void test_index(void **state)
{
	struct rfs_import_index ix;
	struct rfs_import_entry *e;

	(void)state;
	ix = parse_ok(
	    "{\"version\":\"v2\",\"artifacts\":["
	    "{\"reference\":\"ghcr.io/org/app:v1.0.0\","
	    "\"repository\":\"ghcr.io/org/app\",\"tag\":\"v1.0.0\","
	    "\"type\":\"component\",\"digest\":\"" D_A "\",\"size\":1024,"
	    "\"createdAt\":\"2024-05-06T07:08:09.25+02:00\","
	    "\"cachePath\":\"/c/app\"},"
	    "{\"reference\":\"my-dc@" D_A "\",\"type\":\"datacenter\","
	    "\"size\":0,\"createdAt\":\"0001-01-01T00:00:00Z\","
	    "\"cachePath\":\"dc\"}]}",
	    false);
	assert_int_equal(ix.n, 2);
	e = &ix.entries[0];
	assert_null(e->problem);
	assert_string_equal(e->label, "artifacts[0]");
	assert_string_equal(e->repo, "ghcr.io/org/app");
	assert_string_equal(e->tag, "v1.0.0");
	assert_string_equal(e->type, "component");
	assert_string_equal(e->digest, D_A);
	assert_string_equal(e->cache_path, "/c/app");
	assert_true(e->has_size);
	assert_int_equal(e->size, 1024);
	assert_true(e->has_created);
	assert_int_equal(e->created_ns, 1714972089250000000LL);
	/* From the reference alone; a size of 0 and Go's zero time say
	 * nothing. */
	e = &ix.entries[1];
	assert_null(e->problem);
	assert_string_equal(e->repo, "my-dc");
	assert_string_equal(e->tag, "latest");
	assert_string_equal(e->digest, D_A);
	assert_string_equal(e->type, "datacenter");
	assert_false(e->has_size);
	assert_false(e->has_created);
	rfs_import_index_release(&ix);
}

static void test_index_legacy(void **state)
{
	static const char components[] =
	    "{\"version\":\"v1\",\"components\":[{\"reference\":\"app:v1\","
	    "\"repository\":\"app\",\"tag\":\"v1\",\"source\":\"built\","
	    "\"size\":3,\"cachePath\":\"/c/a\"}]}";
	struct rfs_import_index ix;

	(void)state;
	/* components.json: every entry is a component. */
	ix = parse_ok(components, true);
	assert_int_equal(ix.n, 1);
	assert_string_equal(ix.entries[0].label, "components[0]");
	assert_string_equal(ix.entries[0].type, "component");
	assert_null(ix.entries[0].digest);
	rfs_import_index_release(&ix);
	/* An artifacts.json of the older shape reads the same. */
	ix = parse_ok(components, false);
	assert_int_equal(ix.n, 1);
	assert_string_equal(ix.entries[0].type, "component");
	rfs_import_index_release(&ix);
	/* A Go nil slice: no entries. */
	ix = parse_ok("{\"version\":\"v2\",\"artifacts\":null}", false);
	assert_int_equal(ix.n, 0);
	rfs_import_index_release(&ix);
	/* An artifact keeps the type it has, or none. */
	ix = parse_ok("{\"artifacts\":[{\"reference\":\"a:b\","
		      "\"cachePath\":\"x\"}]}",
		      false);
	assert_null(ix.entries[0].type);
	rfs_import_index_release(&ix);
}

static void test_index_broken_entries(void **state)
{
	static const struct {
		const char *entry;
		const char *problem;
	} cases[] = {
		{ "42", "not a JSON object" },
		{ "{\"repository\":5,\"tag\":\"v1\",\"cachePath\":\"x\"}",
		  "'repository' is not a string" },
		{ "{\"cachePath\":\"x\"}",
		  "no repository and tag, and no reference" },
		{ "{\"reference\":\"app:\",\"cachePath\":\"x\"}",
		  "cannot read reference 'app:'" },
		{ "{\"reference\":\"a:b\"}", "no cachePath" },
		{ "{\"reference\":\"a:b\",\"cachePath\":\"x\","
		  "\"digest\":\"md5:abc\"}",
		  "'digest' is not a sha256 digest: 'md5:abc'" },
		{ "{\"reference\":\"a:b\",\"cachePath\":\"x\",\"size\":-1}",
		  "'size' is not a size in bytes" },
		{ "{\"reference\":\"a:b\",\"cachePath\":\"x\",\"size\":\"1\"}",
		  "'size' is not a size in bytes" },
		{ "{\"reference\":\"a:b\",\"cachePath\":7}",
		  "'cachePath' is not a string" },
	};
	char text[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rfs_import_index ix;

		snprintf(text, sizeof(text),
			 "{\"artifacts\":[%s,{\"reference\":\"ok:v1\","
			 "\"cachePath\":\"x\"}]}",
			 cases[i].entry);
		ix = parse_ok(text, false);
		assert_int_equal(ix.n, 2);
		if (!ix.entries[0].problem ||
		    !strstr(ix.entries[0].problem, cases[i].problem))
			fail_msg("'%s': problem '%s', want '%s'",
				 cases[i].entry,
				 ix.entries[0].problem ? ix.entries[0].problem
						       : "(none)",
				 cases[i].problem);
		/* The next entry is read whatever the broken one was. */
		assert_null(ix.entries[1].problem);
		rfs_import_index_release(&ix);
	}
}

static void test_index_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"{not json",
		"[]",
		"{\"artifacts\":{}}",
		"{\"components\":\"x\"}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rfs_import_index ix;
		struct rfs_error err = { 0 };

		if (rfs_import_index_parse(bad[i], strlen(bad[i]), false, &ix,
					   &err) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(err.msg[0] != '\0');
		assert_null(ix.entries);
	}
}

static void test_kind(void **state)
{
	enum rfs_import_kind k;

	(void)state;
	assert_int_equal(rfs_import_kind_parse("oci", &k), 0);
	assert_int_equal(k, RFS_IMPORT_OCI);
	assert_string_equal(rfs_import_kind_name(RFS_IMPORT_HADES), "hades");
	assert_int_equal(rfs_import_kind_parse("svn", &k), -EINVAL);
}

/* --- a tree, end to end ------------------------------------------------ */

struct seen {
	int imported, present, skipped, failed;
	char last_reason[512];
};

static int count_item(void *ctx, const struct rfs_import_item *item)
{
	struct seen *s = ctx;

	switch (item->status) {
	case RFS_IMPORT_IMPORTED: s->imported++; break;
	case RFS_IMPORT_PRESENT: s->present++; break;
	case RFS_IMPORT_SKIPPED:
		s->skipped++;
		s->failed += item->failed;
		snprintf(s->last_reason, sizeof(s->last_reason), "%s",
			 item->reason);
		break;
	}
	return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_tree_import(void **state)
{
	char dir[] = "/tmp/regfs-test-import.XXXXXX";
	char src[256], store_path[256], path[512];
	struct rfs_store *store = NULL;
	struct rfs_error err = { 0 };
	struct rfs_import_summary sum;
	struct seen seen = { 0 };
	struct rfs_import_options opts = {
		.kind = RFS_IMPORT_TREE,
		.fn = count_item,
		.ctx = &seen,
	};
	struct rfs_tag tag;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(store_path, sizeof(store_path), "%s/store", dir);
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(path, sizeof(path), "%s/app", src);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/app/v1", src);
	write_file(path, "one\n", 0755);
	snprintf(path, sizeof(path), "%s/app/v2", src);
	write_file(path, "two\n", 0644);
	/* sha256("one\n") is not what v2 holds. */
	snprintf(path, sizeof(path), "%s/app/v2.sha256", src);
	write_file(path,
		   "2c8b08da5ce60398e1f19af0e5dccc744df274b826abe585eaba68c525"
		   "434806  v2\n",
		   0644);
	opts.source = src;

	/* A dry run without a store. */
	opts.dry_run = true;
	assert_int_equal(rfs_import(NULL, &opts, &sum, &err), 0);
	assert_int_equal(sum.imported, 1);
	assert_int_equal(sum.failed, 1);
	assert_non_null(strstr(seen.last_reason, "digest mismatch"));

	assert_int_equal(
	    rfs_store_open(store_path, RFS_STORE_CREATE, &store, &err), 0);
	opts.dry_run = false;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rfs_import(store, &opts, &sum, &err), 0);
	assert_int_equal(seen.imported, 1);
	assert_int_equal(seen.failed, 1);
	assert_int_equal(sum.imported, 1);
	assert_int_equal(sum.skipped, 1);
	assert_int_equal(
	    rfs_catalog_tag_get(rfs_store_catalog(store), "app", "v1", &tag),
	    0);
	assert_int_equal(tag.mode, 0755);
	assert_int_equal(
	    rfs_catalog_tag_get(rfs_store_catalog(store), "app", "v2", &tag),
	    -ENOENT);

	/* Again: nothing new. */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(rfs_import(store, &opts, &sum, &err), 0);
	assert_int_equal(sum.imported, 0);
	assert_int_equal(sum.present, 1);
	assert_int_equal(sum.failed, 1);

	/* A source that is not there is the import's failure. */
	opts.source = "/nonexistent/regfs-import";
	assert_int_equal(rfs_import(store, &opts, &sum, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cannot open"));
	rfs_store_close(&store);
	tmptree_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_ref),
		cmocka_unit_test(test_split_ref_invalid),
		cmocka_unit_test(test_oci_ref),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_index_legacy),
		cmocka_unit_test(test_index_broken_entries),
		cmocka_unit_test(test_index_invalid),
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_tree_import),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
