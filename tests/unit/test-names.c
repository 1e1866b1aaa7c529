/*
 * test-names.c - unit tests of names.h: the repository and tag grammar, the
 * incoming/ name shapes and REPO:TAG references.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

/* A string of n copies of c, in buf (at least n + 1 bytes). */
static char *repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

static void test_component_valid(void **state)
{
	(void)state;
	static const char *const good[] = {
		"a",	"app", "a0",   "0",	"42app",      "a.b",   "a_b",
		"a__b", "a-b", "a--b", "a---b", "a.b-c_d__e", "x1.y2",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rfs_name_valid_component(good[i]))
			fail_msg("component '%s' refused", good[i]);
	}
}

static void test_component_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",    ".",   "..",   "App",   "aB",	   "a/b",
		"/a",  "a/",  "-a",   "a-",    ".a",	   "a.",
		"_a",  "a_",  "a..b", "a___b", "a._b",	   "a-.b",
		"a b", "a:b", "a@b",  "a\tb",  "\xc3\xa9", "a\nb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rfs_name_valid_component(bad[i]))
			fail_msg("component '%s' accepted", bad[i]);
	}
}

static void test_repo_valid(void **state)
{
	(void)state;
	static const char *const good[] = {
		"app", "org/app", "org/team/app",	   "a__b",
		"a-b", "a--b",	  "my.org/my-team/my_app", "a/b/c/d/e/f",
		"0/1",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rfs_name_valid_repo(good[i]))
			fail_msg("repo '%s' refused", good[i]);
	}
}

static void test_repo_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",	"/",	      "App",	  "org/App",  "ORG/app",
		"/a",	"a/",	      "a//b",	  "/a/b",     "a/b/",
		"..",	".",	      "a/../b",	  "a/./b",    "../a",
		"a/..", "-a",	      "a-",	  "_a",	      "a_",
		".a",	"a.",	      "org/-app", "org/app-", "host:5000/app",
		"a b",	"org/app:v1", "a\\b",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rfs_name_valid_repo(bad[i]))
			fail_msg("repo '%s' accepted", bad[i]);
	}
}

static void test_repo_length(void **state)
{
	(void)state;
	char buf[512];

	/* "a/a/a/..." of exactly 255 characters is fine, 257 is not. */
	for (size_t i = 0; i < 255; i++)
		buf[i] = (i % 2) ? '/' : 'a';
	buf[255] = '\0';
	assert_true(rfs_name_valid_repo(buf));

	repeat(buf, 'a', RFS_REPO_MAX);
	assert_true(rfs_name_valid_repo(buf));
	repeat(buf, 'a', RFS_REPO_MAX + 1);
	assert_false(rfs_name_valid_repo(buf));
	repeat(buf, 'a', 400);
	assert_false(rfs_name_valid_repo(buf));
}

static void test_tag_valid(void **state)
{
	(void)state;
	char buf[256];
	static const char *const good[] = {
		"v1",	     "V1",   "latest",	"1.0.0", "_private",
		"a-b",	     "a_b",  "A.B-c_D", "0",	 "_",
		"v1.sha256", "x..y", "x--",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rfs_name_valid_tag(good[i]))
			fail_msg("tag '%s' refused", good[i]);
	}
	assert_true(rfs_name_valid_tag(repeat(buf, 'x', RFS_TAG_MAX)));
	assert_true(rfs_name_valid_tag(repeat(buf, '_', RFS_TAG_MAX)));
}

static void test_tag_invalid(void **state)
{
	(void)state;
	char buf[256];
	static const char *const bad[] = {
		"",   ".",    "..",  ".v1", "-v1", "a/b",  "/a",
		"a/", "v1:x", "a b", "a@b", "a+b", "a\nb", "\xc3\xa9t\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rfs_name_valid_tag(bad[i]))
			fail_msg("tag '%s' accepted", bad[i]);
	}
	assert_false(rfs_name_valid_tag(repeat(buf, 'x', RFS_TAG_MAX + 1)));
	assert_false(rfs_name_valid_tag(repeat(buf, 'x', 255)));
}

static void test_sidecar_tag(void **state)
{
	(void)state;
	char tag[RFS_TAG_MAX + 1];

	memset(tag, 0, sizeof(tag));
	assert_true(rfs_name_sidecar_tag("v1.sha256", tag, sizeof(tag)));
	assert_string_equal(tag, "v1");
	assert_true(rfs_name_sidecar_tag("1.0.0.sha256", tag, sizeof(tag)));
	assert_string_equal(tag, "1.0.0");
	assert_true(rfs_name_sidecar_tag("v1.sha256.sha256", tag, sizeof(tag)));
	assert_string_equal(tag, "v1.sha256");

	assert_false(rfs_name_sidecar_tag(".sha256", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("sha256", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("v1", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("v1.sha512", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("v1.sha256x", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("v1.SHA256x", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("", tag, sizeof(tag)));
	/* The part before the suffix must itself be a tag. */
	assert_false(rfs_name_sidecar_tag("-v1.sha256", tag, sizeof(tag)));
	assert_false(rfs_name_sidecar_tag("a b.sha256", tag, sizeof(tag)));
}

static void test_sidecar_tag_small_buffer(void **state)
{
	(void)state;
	char tag[3];

	/* "v1" fits in 3 bytes; "v12" does not and must not overflow. */
	assert_true(rfs_name_sidecar_tag("v1.sha256", tag, sizeof(tag)));
	assert_string_equal(tag, "v1");
	assert_false(rfs_name_sidecar_tag("v12.sha256", tag, sizeof(tag)));
}

static void test_is_temporary(void **state)
{
	(void)state;
	assert_true(rfs_name_is_temporary(".v1.XYZ"));
	assert_true(rfs_name_is_temporary(".v1.a1B2c3"));
	assert_true(rfs_name_is_temporary(".x"));
	assert_false(rfs_name_is_temporary("."));
	assert_false(rfs_name_is_temporary(".."));
	assert_false(rfs_name_is_temporary(""));
	assert_false(rfs_name_is_temporary("v1"));
	assert_false(rfs_name_is_temporary("v1.sha256"));
	assert_false(rfs_name_is_temporary("a.b"));
}

static void test_ref_parse(void **state)
{
	(void)state;
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];

	assert_int_equal(
	    rfs_ref_parse("org/app:v1", repo, sizeof(repo), tag, sizeof(tag)),
	    0);
	assert_string_equal(repo, "org/app");
	assert_string_equal(tag, "v1");

	assert_int_equal(
	    rfs_ref_parse("app:latest", repo, sizeof(repo), tag, sizeof(tag)),
	    0);
	assert_string_equal(repo, "app");
	assert_string_equal(tag, "latest");

	assert_int_equal(rfs_ref_parse("org/team/app:1.0.0-rc_1", repo,
				       sizeof(repo), tag, sizeof(tag)),
			 0);
	assert_string_equal(repo, "org/team/app");
	assert_string_equal(tag, "1.0.0-rc_1");
}

static void test_ref_parse_invalid(void **state)
{
	(void)state;
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];
	static const char *const bad[] = {
		"org/app",	    /* no tag */
		"org/app:",	    /* empty tag */
		":v1",		    /* empty repo */
		":",		    /* nothing */
		"",		    /* nothing at all */
		"org/app:-v1",	    /* bad tag */
		"org/app:.v1",	    /* bad tag */
		"org/app:v/1",	    /* '/' in tag */
		"Org/app:v1",	    /* uppercase repo */
		"org//app:v1",	    /* empty component */
		"/org/app:v1",	    /* absolute */
		"host:5000/app:v1", /* ':' in the repository part */
		"org/app:v1:v2",    /* ':' in the repository part */
		"org/app@sha256:0", /* digests are not tags */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc =
		    rfs_ref_parse(bad[i], repo, sizeof(repo), tag, sizeof(tag));
		if (rc != -EINVAL)
			fail_msg("ref '%s': got %d, expected -EINVAL", bad[i],
				 rc);
	}
}

static void test_ref_parse_long(void **state)
{
	(void)state;
	char ref[600], repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];

	/* Longest valid repo and tag together. */
	memset(ref, 'a', RFS_REPO_MAX);
	ref[RFS_REPO_MAX] = ':';
	memset(ref + RFS_REPO_MAX + 1, 't', RFS_TAG_MAX);
	ref[RFS_REPO_MAX + 1 + RFS_TAG_MAX] = '\0';
	assert_int_equal(
	    rfs_ref_parse(ref, repo, sizeof(repo), tag, sizeof(tag)), 0);
	assert_int_equal(strlen(repo), RFS_REPO_MAX);
	assert_int_equal(strlen(tag), RFS_TAG_MAX);

	/* One more in the tag. */
	memset(ref + RFS_REPO_MAX + 1, 't', RFS_TAG_MAX + 1);
	ref[RFS_REPO_MAX + 2 + RFS_TAG_MAX] = '\0';
	assert_int_equal(
	    rfs_ref_parse(ref, repo, sizeof(repo), tag, sizeof(tag)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_component_valid),
		cmocka_unit_test(test_component_invalid),
		cmocka_unit_test(test_repo_valid),
		cmocka_unit_test(test_repo_invalid),
		cmocka_unit_test(test_repo_length),
		cmocka_unit_test(test_tag_valid),
		cmocka_unit_test(test_tag_invalid),
		cmocka_unit_test(test_sidecar_tag),
		cmocka_unit_test(test_sidecar_tag_small_buffer),
		cmocka_unit_test(test_is_temporary),
		cmocka_unit_test(test_ref_parse),
		cmocka_unit_test(test_ref_parse_invalid),
		cmocka_unit_test(test_ref_parse_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
