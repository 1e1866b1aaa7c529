/*
 * test-semver.c - unit tests of semver.h: the SemVer 2.0.0 grammar and
 * precedence (semver.org's examples), every range form with its
 * boundaries, the prerelease rule, malformed ranges and which names are
 * meant as ranges.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "semver.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct rfs_semver parse(const char *s)
{
	struct rfs_semver v;

	if (rfs_semver_parse(s, &v) != 0)
		fail_msg("'%s' refused", s);
	return v;
}

static void test_parse_valid(void **state)
{
	(void)state;
	static const char *const good[] = {
		"0.0.0",
		"1.2.3",
		"10.20.30",
		"v1.2.3",
		"V1.2.3",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-0.3.7",
		"1.0.0-x.7.z.92",
		"1.0.0-x-y-z.--",
		"1.0.0-0a",
		"1.0.0-alpha+001",
		"1.0.0+20130313144700",
		"1.0.0-beta+exp.sha.5114f85",
		"1.0.0+21AF26D3----117B344092BD",
		"1.1.2-prerelease+meta",
		"1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
		"18446744073709551615.18446744073709551615.18446744073709551615",
		"1.2.3-99999999999999999999999",
	};
	for (size_t i = 0; i < N(good); i++)
		if (!rfs_semver_valid(good[i]))
			fail_msg("'%s' refused", good[i]);
}

static void test_parse_fields(void **state)
{
	(void)state;
	struct rfs_semver v = parse("v1.22.333-rc.1+build.7");

	assert_int_equal(v.major, 1);
	assert_int_equal(v.minor, 22);
	assert_int_equal(v.patch, 333);
	assert_int_equal(v.prefix, 'v');
	assert_true(rfs_semver_is_prerelease(&v));
	assert_int_equal(v.pre_len, 4);
	assert_memory_equal(v.text + v.pre_off, "rc.1", 4);
	assert_int_equal(v.build_len, 7);
	assert_memory_equal(v.text + v.build_off, "build.7", 7);
	assert_string_equal(v.text, "v1.22.333-rc.1+build.7");

	v = parse("1.2.3");
	assert_int_equal(v.prefix, '\0');
	assert_false(rfs_semver_is_prerelease(&v));
	assert_int_equal(v.build_len, 0);
	v = parse("V0.0.1+x");
	assert_int_equal(v.prefix, 'V');
	assert_int_equal(v.pre_len, 0);
	assert_int_equal(v.build_len, 1);
	v = parse("18446744073709551615.0.0");
	assert_true(v.major == UINT64_MAX);
}

static void test_parse_invalid(void **state)
{
	(void)state;
	char long_one[RFS_SEMVER_MAX + 8];
	static const char *const bad[] = {
		"",
		"1",
		"1.2",
		"1.2.3.4",
		"01.2.3",
		"1.02.3",
		"1.2.03",
		"00.0.0",
		"1.2.3-",
		"1.2.3+",
		"1.2.3-+",
		"1.2.3-01",
		"1.2.3-alpha.01",
		"1.2.3-alpha..1",
		"1.2.3-alpha.",
		"1.2.3-.alpha",
		"1.2.3+build..1",
		"1.2.3+build.",
		"1.2.3+a+b",
		"1.2.3-al$pha",
		"1.2.3-alpha_beta",
		"1.2.3+\xc3\xa9",
		"vv1.2.3",
		"v",
		"v.1.2.3",
		"v 1.2.3",
		" 1.2.3",
		"1.2.3 ",
		"-1.2.3",
		"+1.2.3",
		"1.2.-3",
		"1.-2.3",
		"a.b.c",
		"1.2.x",
		"1.*.3",
		"*",
		"latest",
		"1.2.3.",
		".1.2.3",
		"1..2.3",
		"x1.2.3",
		"18446744073709551616.0.0",
		"0.18446744073709551616.0",
		"0.0.99999999999999999999",
		"1.2.3\n",
	};
	for (size_t i = 0; i < N(bad); i++)
		if (rfs_semver_valid(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
	/* Longer than a tag: refused, whatever its grammar. */
	memset(long_one, '1', sizeof(long_one));
	memcpy(long_one, "1.2.3-", 6);
	long_one[sizeof(long_one) - 1] = '\0';
	assert_false(rfs_semver_valid(long_one));
	long_one[RFS_SEMVER_MAX] = '\0';
	assert_true(rfs_semver_valid(long_one));
	assert_int_equal(rfs_semver_parse(NULL, &(struct rfs_semver){ 0 }),
			 -EINVAL);
}

/* semver.org section 11: the precedence chain, every pair. */
static void test_precedence_chain(void **state)
{
	(void)state;
	static const char *const chain[] = {
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
		"1.0.0-beta",  "1.0.0-beta.2",	"1.0.0-beta.11",
		"1.0.0-rc.1",  "1.0.0",		"1.0.1-0",
		"1.0.1",       "1.9.0",		"1.10.0",
		"1.11.0",      "2.0.0",		"2.1.0",
		"2.1.1",       "10.0.0",
	};
	for (size_t i = 0; i < N(chain); i++) {
		for (size_t j = 0; j < N(chain); j++) {
			struct rfs_semver a = parse(chain[i]),
					  b = parse(chain[j]);
			int c = rfs_semver_cmp(&a, &b);
			int want = (i > j) - (i < j);

			if ((c > 0) - (c < 0) != want)
				fail_msg("cmp('%s', '%s') = %d", chain[i],
					 chain[j], c);
			c = rfs_semver_order(&a, &b);
			if ((c > 0) - (c < 0) != want)
				fail_msg("order('%s', '%s') = %d", chain[i],
					 chain[j], c);
		}
	}
}

static int pre_cmp(const char *a, const char *b)
{
	int c = rfs_semver_cmp_pre(a, strlen(a), b, strlen(b));

	return (c > 0) - (c < 0);
}

static void test_prerelease_identifiers(void **state)
{
	(void)state;
	/* Numeric below alphanumeric, numbers by value (no overflow). */
	assert_int_equal(pre_cmp("1", "a"), -1);
	assert_int_equal(pre_cmp("999", "0a"), -1);
	assert_int_equal(pre_cmp("2", "10"), -1);
	assert_int_equal(
	    pre_cmp("99999999999999999999", "100000000000000000000"), -1);
	/* Alphanumeric: ASCII order, a prefix first. */
	assert_int_equal(pre_cmp("alpha", "alpha1"), -1);
	assert_int_equal(pre_cmp("Alpha", "alpha"), -1);
	assert_int_equal(pre_cmp("-", "a"), -1);
	assert_int_equal(pre_cmp("beta", "alpha"), 1);
	/* More identifiers rank higher when all before are equal. */
	assert_int_equal(pre_cmp("a.b", "a"), 1);
	assert_int_equal(pre_cmp("a.1", "a.1.0"), -1);
	assert_int_equal(pre_cmp("rc.1", "rc.1"), 0);
	assert_int_equal(pre_cmp("rc.1.x", "rc.1.x"), 0);
}

static void test_build_ignored(void **state)
{
	(void)state;
	struct rfs_semver a = parse("1.0.0+a"), b = parse("1.0.0+b"),
			  c = parse("1.0.0"), d = parse("1.0.0-alpha+001"),
			  e = parse("1.0.0-alpha"), f = parse("v1.0.0"),
			  g = parse("V1.0.0"), h = parse("1.0.0+build.2"),
			  k = parse("1.0.0+build.10"), l = parse("1.0.0+01"),
			  m = parse("1.0.0+1");

	assert_int_equal(rfs_semver_cmp(&a, &b), 0);
	assert_int_equal(rfs_semver_cmp(&a, &c), 0);
	assert_int_equal(rfs_semver_cmp(&d, &e), 0);
	assert_int_equal(rfs_semver_cmp(&c, &f), 0);
	assert_true(rfs_semver_cmp(&e, &a) < 0);
	/* The total order separates them all, deterministically. */
	assert_true(rfs_semver_order(&c, &a) < 0);
	assert_true(rfs_semver_order(&a, &b) < 0);
	assert_true(rfs_semver_order(&h, &k) < 0);
	assert_true(rfs_semver_order(&c, &g) < 0);
	assert_true(rfs_semver_order(&g, &f) < 0);
	assert_true(rfs_semver_order(&e, &d) < 0);
	assert_true(rfs_semver_order(&l, &m) != 0);
	assert_int_equal(rfs_semver_order(&l, &l), 0);
}

struct row {
	const char *range;
	const char *version;
	bool match;
};

static void check_rows(const struct row *rows, size_t n, bool include_pre)
{
	for (size_t i = 0; i < n; i++) {
		struct rfs_semver_range r;
		struct rfs_error err = { 0 };
		struct rfs_semver v = parse(rows[i].version);

		if (rfs_semver_range_parse(rows[i].range, &r, &err) != 0)
			fail_msg("range '%s' refused: %s", rows[i].range,
				 err.msg);
		r.include_prerelease = include_pre;
		if (rfs_semver_range_match(&r, &v) != rows[i].match)
			fail_msg("'%s' %s '%s'", rows[i].range,
				 rows[i].match ? "does not admit" : "admits",
				 rows[i].version);
	}
}

static void test_caret(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{ "^1.2.3", "1.2.3", true },
		{ "^1.2.3", "1.2.4", true },
		{ "^1.2.3", "v1.9.9", true },
		{ "^1.2.3", "1.99.0", true },
		{ "^1.2.3", "1.2.3+build", true },
		{ "^1.2.3", "1.2.2", false },
		{ "^1.2.3", "2.0.0", false },
		{ "^1.2.3", "0.9.9", false },
		{ "^1.2.3", "1.2.3-rc.1", false },
		{ "^1.2.3", "2.0.0-0", false },
		{ "^v1.2.3", "1.5.0", true },
		{ "^1.2", "1.2.0", true },
		{ "^1.2", "1.99.99", true },
		{ "^1.2", "1.1.9", false },
		{ "^1.2", "2.0.0", false },
		{ "^1", "1.0.0", true },
		{ "^1", "1.9.0", true },
		{ "^1", "0.9.9", false },
		{ "^1", "2.0.0", false },
		/* 0.x: the minor is the breaking part; 0.0.x: the patch. */
		{ "^0.2.3", "0.2.3", true },
		{ "^0.2.3", "0.2.99", true },
		{ "^0.2.3", "0.2.2", false },
		{ "^0.2.3", "0.3.0", false },
		{ "^0.2.3", "1.0.0", false },
		{ "^0.0.3", "0.0.3", true },
		{ "^0.0.3", "0.0.4", false },
		{ "^0.0.3", "0.0.2", false },
		{ "^0.0.3", "0.1.0", false },
		{ "^0.2", "0.2.0", true },
		{ "^0.2", "0.2.9", true },
		{ "^0.2", "0.3.0", false },
		{ "^0.0", "0.0.0", true },
		{ "^0.0", "0.0.9", true },
		{ "^0.0", "0.1.0", false },
		{ "^0", "0.0.0", true },
		{ "^0", "0.99.0", true },
		{ "^0", "1.0.0", false },
		{ "^0.0.0", "0.0.0", true },
		{ "^0.0.0", "0.0.1", false },
	};
	check_rows(rows, N(rows), false);
}

static void test_tilde(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{ "~1.2.3", "1.2.3", true },	{ "~1.2.3", "1.2.99", true },
		{ "~1.2.3", "1.2.2", false },	{ "~1.2.3", "1.3.0", false },
		{ "~1.2", "1.2.0", true },	{ "~1.2", "1.2.9", true },
		{ "~1.2", "1.1.9", false },	{ "~1.2", "1.3.0", false },
		{ "~1", "1.0.0", true },	{ "~1", "1.9.9", true },
		{ "~1", "2.0.0", false },	{ "~0.2.3", "0.2.5", true },
		{ "~0.2.3", "0.3.0", false },	{ "~V1.2.3", "1.2.4", true },
		{ "~1.2.3", "1.2.4-0", false },
	};
	check_rows(rows, N(rows), false);
}

static void test_wildcards(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{ "1.2.*", "1.2.0", true },   { "1.2.*", "1.2.99", true },
		{ "1.2.*", "v1.2.5", true },  { "1.2.*", "1.3.0", false },
		{ "1.2.*", "1.1.9", false },  { "1.2.*", "1.2.5-beta", false },
		{ "1.2.x", "1.2.7", true },   { "1.2.x", "1.3.0", false },
		{ "1.2.X", "1.2.7", true },   { "v1.2.x", "1.2.7", true },
		{ "1.*", "1.0.0", true },     { "1.*", "1.99.99", true },
		{ "1.*", "2.0.0", false },    { "1.*", "0.9.0", false },
		{ "1.x", "1.5.0", true },     { "1.x", "2.0.0", false },
		{ "1.*.*", "1.5.0", true },   { "1.x.x", "2.0.0", false },
		{ "*", "0.0.0", true },	      { "*", "99.0.0", true },
		{ "*", "1.0.0-rc.1", false }, { "0.*", "0.9.9", true },
		{ "0.*", "1.0.0", false },
	};
	check_rows(rows, N(rows), false);
}

static void test_exact_and_comparators(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{ "1.2.3", "1.2.3", true },
		{ "1.2.3", "v1.2.3", true },
		{ "1.2.3", "1.2.3+b", true },
		{ "1.2.3", "1.2.4", false },
		{ "1.2.3", "1.2.3-rc.1", false },
		{ "v1.2.3", "1.2.3", true },
		{ "=1.2.3", "1.2.3", true },
		{ "=1.2.3", "1.2.2", false },
		{ "=1.2.3+build", "1.2.3", true },
		{ "=1.2", "1.2.5", true },
		{ "=1.2", "1.3.0", false },
		{ "=1", "1.9.0", true },
		{ "=1", "2.0.0", false },
		{ ">1.2.3", "1.2.3", false },
		{ ">1.2.3", "1.2.4", true },
		{ ">=1.2.3", "1.2.3", true },
		{ ">=1.2.3", "1.2.2", false },
		{ ">=1.2.3", "100.0.0", true },
		{ "<1.2.3", "1.2.2", true },
		{ "<1.2.3", "1.2.3", false },
		{ "<1.2.3", "0.0.0", true },
		{ "<1.2.3", "1.2.3-rc.1", false }, /* not named: not admitted */
		{ "<=1.2.3", "1.2.3", true },
		{ "<=1.2.3", "1.2.4", false },
		{ ">1.2", "1.2.9", false },
		{ ">1.2", "1.3.0", true },
		{ ">=1.2", "1.2.0", true },
		{ ">=1.2", "1.1.9", false },
		{ "<1.2", "1.1.9", true },
		{ "<1.2", "1.2.0", false },
		{ "<=1.2", "1.2.9", true },
		{ "<=1.2", "1.3.0", false },
		{ ">1", "1.9.9", false },
		{ ">1", "2.0.0", true },
		{ "<1", "0.9.9", true },
		{ "<1", "1.0.0", false },
		{ "<=1", "1.9.9", true },
		{ "<=1", "2.0.0", false },
		{ ">=v1.0.0", "1.0.0", true },
		/* AND, with commas, spaces or both. */
		{ ">=1.0.0,<2.0.0", "1.0.0", true },
		{ ">=1.0.0,<2.0.0", "1.9.9", true },
		{ ">=1.0.0,<2.0.0", "2.0.0", false },
		{ ">=1.0.0,<2.0.0", "0.9.9", false },
		{ ">=1.0.0 <2.0.0", "1.5.0", true },
		{ ">=1.0.0 <2.0.0", "2.0.0", false },
		{ ">=1.0.0, <2.0.0", "1.5.0", true },
		{ "  >= 1.0.0 ,  < 2.0.0 ", "1.5.0", true },
		{ ">= 1.0.0, < 2.0.0", "2.0.0", false },
		{ ">1.0.0 <=1.0.1", "1.0.1", true },
		{ ">1.0.0 <=1.0.1", "1.0.0", false },
		{ "^1.2, <1.5", "1.4.9", true },
		{ "^1.2, <1.5", "1.5.0", false },
		{ "~1.2 >=1.2.5", "1.2.4", false },
		{ "~1.2 >=1.2.5", "1.2.5", true },
		{ ">=1.0.0 >=1.5.0", "1.4.0", false },
		{ "<2.0.0 <1.5.0", "1.5.0", false },
		{ ">1.0.0 >=1.0.0", "1.0.0", false },
		{ ">=1.0.0,<1.0.0", "1.0.0", false },
		{ ">2.0.0,<1.0.0", "1.5.0", false },
	};
	check_rows(rows, N(rows), false);
}

static void test_huge_numbers(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{ "^18446744073709551615", "18446744073709551615.5.0", true },
		{ "^18446744073709551615", "18446744073709551614.0.0", false },
		{ "~1.18446744073709551615", "1.18446744073709551615.7", true },
		{ "~1.18446744073709551615", "2.0.0", false },
		{ ">18446744073709551615", "18446744073709551615.9.9", false },
		{ ">1.18446744073709551615", "2.0.0", true },
	};
	char buf[128];
	struct rfs_semver_range r;

	check_rows(rows, N(rows), false);
	assert_int_equal(
	    rfs_semver_range_parse("~1.18446744073709551615", &r, NULL), 0);
	assert_string_equal(rfs_semver_range_describe(&r, buf, sizeof(buf)),
			    ">=1.18446744073709551615.0, <2.0.0-0");
	assert_int_equal(
	    rfs_semver_range_parse(">18446744073709551615", &r, NULL), 0);
	assert_true(r.none);
}

/* The prerelease rule of semver.h. */
static void test_prerelease_policy(void **state)
{
	(void)state;
	static const struct row rows[] = {
		/* A range without a prerelease admits none. */
		{ "^1.2", "1.3.0-beta", false },
		{ "^1.2", "1.2.0-rc.1", false },
		{ ">=1.0.0", "1.5.0-rc.1", false },
		{ "<2.0.0", "2.0.0-rc.1", false },
		{ "latest-stable", "1.0.0-rc.1", false },
		/* A named prerelease admits those of its MAJOR.MINOR.PATCH. */
		{ ">=1.2.3-beta", "1.2.3-beta", true },
		{ ">=1.2.3-beta", "1.2.3-beta.2", true },
		{ ">=1.2.3-beta", "1.2.3-rc.1", true },
		{ ">=1.2.3-beta", "1.2.3", true },
		{ ">=1.2.3-beta", "1.4.0", true },
		{ ">=1.2.3-beta", "1.2.3-alpha", false },
		{ ">=1.2.3-beta", "1.4.0-alpha", false },
		{ "^1.2.3-beta.2", "1.2.3-beta.3", true },
		{ "^1.2.3-beta.2", "1.2.3-beta.11", true },
		{ "^1.2.3-beta.2", "1.2.3-beta.1", false },
		{ "^1.2.3-beta.2", "1.3.0", true },
		{ "^1.2.3-beta.2", "1.3.0-rc.1", false },
		{ "^1.2.3-beta.2", "2.0.0-rc.1", false },
		{ "~1.2.3-rc.1", "1.2.3-rc.2", true },
		{ "~1.2.3-rc.1", "1.2.4-rc.1", false },
		{ "=1.2.3-rc.1", "1.2.3-rc.1", true },
		{ "=1.2.3-rc.1", "1.2.3-rc.2", false },
		{ "=1.2.3-rc.1", "1.2.3", false },
		{ "1.2.3-rc.1", "v1.2.3-rc.1", true },
		{ ">=1.0.0-alpha, <1.0.0", "1.0.0-beta.11", true },
		{ ">=1.0.0-alpha, <1.0.0", "1.0.0", false },
		{ ">1.0.0-rc.1", "1.0.0-rc.1", false },
		{ ">1.0.0-rc.1", "1.0.0-rc.1.1", true },
		{ "<2.0.0-rc.2", "2.0.0-rc.1", true },
		{ "<2.0.0-rc.2", "2.0.0-rc.2", false },
		{ "<2.0.0-rc.2", "1.9.0", true },
		{ "<2.0.0-rc.2", "1.9.0-rc.1", false },
	};
	/* With include_prerelease: every prerelease inside the bounds; the
	 * bounds of ^, ~ and wildcards still stop before the next version's
	 * prereleases, and latest-stable admits none. */
	static const struct row pre_rows[] = {
		{ "^1.2", "1.3.0-beta", true },
		{ "^1.2", "1.2.0-rc.1", false },
		{ "^1.2.3", "2.0.0-rc.1", false },
		{ "~1.2", "1.3.0-alpha", false },
		{ "1.2.*", "1.2.5-beta", true },
		{ "1.2.*", "1.3.0-0", false },
		{ "<2.0.0", "2.0.0-rc.1", true },
		{ ">=1.0.0", "1.5.0-rc.1", true },
		{ "latest-stable", "1.0.0-rc.1", false },
		{ "latest-stable", "1.0.0", true },
	};
	check_rows(rows, N(rows), false);
	check_rows(pre_rows, N(pre_rows), true);
}

static void test_latest_stable(void **state)
{
	(void)state;
	struct rfs_semver_range r;
	struct rfs_semver v = parse("99.0.0"), pre = parse("100.0.0-rc.1");

	assert_int_equal(rfs_semver_range_parse("latest-stable", &r, NULL), 0);
	assert_true(r.stable_only);
	assert_true(rfs_semver_range_match(&r, &v));
	assert_false(rfs_semver_range_match(&r, &pre));
	/* "latest" is a tag name, never a range. */
	assert_int_equal(rfs_semver_range_parse("latest", &r, NULL), -EINVAL);
	assert_false(rfs_semver_is_range("latest"));
}

static void test_describe(void **state)
{
	(void)state;
	static const struct {
		const char *range, *canonical;
	} rows[] = {
		{ "^1.2.3", ">=1.2.3, <2.0.0-0" },
		{ "^1.2", ">=1.2.0, <2.0.0-0" },
		{ "^0.2.3", ">=0.2.3, <0.3.0-0" },
		{ "^0.0.3", ">=0.0.3, <0.0.4-0" },
		{ "^0.0", ">=0.0.0, <0.1.0-0" },
		{ "^0", ">=0.0.0, <1.0.0-0" },
		{ "~1.2.3", ">=1.2.3, <1.3.0-0" },
		{ "~1", ">=1.0.0, <2.0.0-0" },
		{ "1.2.*", ">=1.2.0, <1.3.0-0" },
		{ "1.x", ">=1.0.0, <2.0.0-0" },
		{ "*", "*" },
		{ "v1.2.3", "=1.2.3" },
		{ "=1.2.3-rc.1+b", "=1.2.3-rc.1" },
		{ ">1.2.3", ">1.2.3" },
		{ "<=1.2", "<1.3.0-0" },
		{ ">= 1.0.0, < 2.0.0", ">=1.0.0, <2.0.0" },
		{ "^1.2.3-beta.2", ">=1.2.3-beta.2, <2.0.0-0" },
		{ ">2.0.0 <1.0.0", "(none)" },
		{ "latest-stable", "latest-stable" },
	};
	char buf[128];

	for (size_t i = 0; i < N(rows); i++) {
		struct rfs_semver_range r;

		assert_int_equal(
		    rfs_semver_range_parse(rows[i].range, &r, NULL), 0);
		if (strcmp(rfs_semver_range_describe(&r, buf, sizeof(buf)),
			   rows[i].canonical))
			fail_msg("'%s' reads as '%s', not '%s'", rows[i].range,
				 buf, rows[i].canonical);
		assert_string_equal(r.text, rows[i].range);
	}
}

static void test_malformed_ranges(void **state)
{
	(void)state;
	static const struct {
		const char *range, *says;
	} rows[] = {
		{ "", "empty version range" },
		{ "   ", "empty version range" },
		{ "^1.2.3.4", "'1.2.3.4' is not a version" },
		{ ">=x", "'x' is not a version" },
		{ "~", "a version must follow '~'" },
		{ "^", "a version must follow '^'" },
		{ ">=", "a version must follow '>='" },
		{ ">= ,1.0.0", "a version must follow '>='" },
		{ ",", "an empty term" },
		{ ",1.0.0", "an empty term" },
		{ "1.0.0,", "an empty term" },
		{ "1.0.0,,2.0.0", "an empty term" },
		{ "1.2", "'1.2' is not a full version" },
		{ "v1", "'v1' is not a full version" },
		{ ">=1.0.0 || <0.5.0", "'||'" },
		{ "1.0.0||2.0.0", "'||'" },
		{ "1.0.0 - 2.0.0", "hyphen ranges are not supported" },
		{ ">=1.x", "a wildcard cannot follow an operator" },
		{ "^*", "a wildcard cannot follow an operator" },
		{ "~1.2.x", "a wildcard cannot follow an operator" },
		{ "latest", "'latest' is not a version" },
		{ "latest-stable,<2.0.0", "'latest-stable' is not a version" },
		{ "01.2.3", "'01.2.3' is not a version" },
		{ "^01.2", "'01.2' is not a version" },
		{ "1.2.3-01", "'1.2.3-01' is not a version" },
		{ "1.2-beta", "'1.2-beta' is not a version" },
		{ "1.x.3", "'1.x.3' is not a version" },
		{ "x", "'x' is not a version" },
		{ "!1.2.3", "'!1.2.3' is not a version" },
		{ "=>1.2.3", "'>1.2.3' is not a version" },
		{ "^1.2.3^", "'1.2.3^' is not a version" },
		{ "1.0.0 2.0.0 3.0.0 4.0.0 5.0.0 6.0.0 7.0.0 8.0.0 9.0.0 "
		  "1.0.0 2.0.0 3.0.0 4.0.0 5.0.0 6.0.0 7.0.0 8.0.0",
		  "more than 16 terms" },
	};
	char too_long[RFS_SEMVER_RANGE_MAX + 2];

	for (size_t i = 0; i < N(rows); i++) {
		struct rfs_semver_range r;
		struct rfs_error err = { 0 };
		int rc = rfs_semver_range_parse(rows[i].range, &r, &err);

		if (rc != -EINVAL)
			fail_msg("'%s' gave %d, not -EINVAL", rows[i].range,
				 rc);
		if (!strstr(err.msg, rows[i].says))
			fail_msg("'%s': message '%s' lacks '%s'", rows[i].range,
				 err.msg, rows[i].says);
		assert_int_equal(err.code, -EINVAL);
	}
	memset(too_long, ' ', sizeof(too_long));
	memcpy(too_long, "^1.2.3", 6);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_int_equal(rfs_semver_range_parse(
			     too_long, &(struct rfs_semver_range){ 0 }, NULL),
			 -EINVAL);
	too_long[RFS_SEMVER_RANGE_MAX] = '\0';
	assert_int_equal(rfs_semver_range_parse(
			     too_long, &(struct rfs_semver_range){ 0 }, NULL),
			 0);
	assert_int_equal(
	    rfs_semver_range_parse(NULL, &(struct rfs_semver_range){ 0 }, NULL),
	    -EINVAL);
	/* The message quotes the whole range. */
	{
		struct rfs_semver_range r;
		struct rfs_error err = { 0 };

		rfs_semver_range_parse("^1.2.3.4", &r, &err);
		assert_string_equal(err.msg,
				    "invalid version range '^1.2.3.4': "
				    "'1.2.3.4' is not a version");
	}
}

static void test_is_range(void **state)
{
	(void)state;
	static const char *const ranges[] = {
		"^1.2",
		"^1.2.3.4",
		">=x",
		"~",
		"1.2.3",
		"v1.2.3",
		"V1.2.3-rc.1",
		"1.2.x",
		"1.x",
		"1.2.*",
		"*",
		"latest-stable",
		">=1.0.0,<2.0.0",
		">=1 <2",
		"=1.2.3",
		"1.0.0 || 2.0.0",
	};
	static const char *const tags[] = {
		"v1.2",		 "latest",    "1.2.3.4",
		"app-1.2.3",	 "",	      "x",
		"1.2",		 "stable",    "1.2.3_build",
		"1.2.3-01",	 "v",	      "release",
		"1.x.3",	 "nightly-3", "latest-v1",
		"LATEST-stable",
	};
	for (size_t i = 0; i < N(ranges); i++)
		if (!rfs_semver_is_range(ranges[i]))
			fail_msg("'%s' is not taken as a range", ranges[i]);
	for (size_t i = 0; i < N(tags); i++)
		if (rfs_semver_is_range(tags[i]))
			fail_msg("'%s' is taken as a range", tags[i]);
	assert_false(rfs_semver_is_range(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_precedence_chain),
		cmocka_unit_test(test_prerelease_identifiers),
		cmocka_unit_test(test_build_ignored),
		cmocka_unit_test(test_caret),
		cmocka_unit_test(test_tilde),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_exact_and_comparators),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_prerelease_policy),
		cmocka_unit_test(test_latest_stable),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_malformed_ranges),
		cmocka_unit_test(test_is_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
