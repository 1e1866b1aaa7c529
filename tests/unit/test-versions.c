/*
 * test-versions.c - unit tests of versions.h on a real catalog in a
 * temporary folder: resolution, yanked tags skipped and reported, names
 * that are not versions ignored, the 'v' prefix, the lookup order (tag,
 * range, nothing), the index reused and rebuilt after a seal, a yank or an
 * rm (also one made through another catalog handle, as regctl would),
 * the LRU bound, lists of names (pull-through), sorting, threads, and
 * 10 000 tags checked against a brute-force resolution.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "catalog.h"
#include "semver.h"
#include "tmptree.h"
#include "versions.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	char dir[64];
	char db[128];
	struct rfs_catalog *cat;
	struct rfs_versions *v;
	unsigned digests; /* a distinct digest for every tag added */
};

static int setup_with(void **state, size_t max_repos)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/regfs-test-versions-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->dir);
	if (rfs_catalog_open(f->db, false, &f->cat, &err) != 0) {
		fprintf(stderr, "rfs_catalog_open: %s\n", err.msg);
		return -1;
	}
	if (rfs_versions_new(f->cat, max_repos, &f->v) != 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

static int setup_two_repos(void **state)
{
	return setup_with(state, 2);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_versions_free(&f->v);
	assert_null(f->v);
	rfs_catalog_close(&f->cat);
	tmptree_remove(f->dir);
	free(f);
	return 0;
}

static void digest_of(unsigned n, char out[RFS_DIGEST_STR_MAX + 1])
{
	snprintf(out, RFS_DIGEST_STR_MAX + 1, "sha256:%064x", n);
}

static void add(struct fixture *f, const char *repo, const char *tag)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	int rc;

	digest_of(++f->digests, digest);
	rc = rfs_catalog_add_tag(f->cat, repo, tag, digest, 1, rfs_now_ns(),
				 NULL, &err);
	if (rc)
		fail_msg("add %s:%s: %d %s", repo, tag, rc, err.msg);
}

static void yank(struct fixture *f, const char *repo, const char *tag,
		 bool yanked)
{
	struct rfs_error err = { 0 };

	if (rfs_catalog_set_yanked(f->cat, repo, tag, yanked, &err))
		fail_msg("yank %s:%s: %s", repo, tag, err.msg);
}

/* Resolve range in repo and require tag (NULL: -ENOENT). */
static void expect(struct fixture *f, const char *repo, const char *range,
		   const char *tag, struct rfs_version_match *m)
{
	struct rfs_semver_range r;
	struct rfs_error err = { 0 };
	int rc;

	if (rfs_semver_range_parse(range, &r, &err))
		fail_msg("range '%s': %s", range, err.msg);
	rc = rfs_versions_resolve(f->v, repo, &r, m, &err);
	if (!tag) {
		if (rc != -ENOENT)
			fail_msg("'%s' in %s gave %d (%s), not -ENOENT", range,
				 repo, rc, m->name);
		return;
	}
	if (rc)
		fail_msg("'%s' in %s: %d %s", range, repo, rc, err.msg);
	if (strcmp(m->name, tag) || strcmp(m->tag.name, tag))
		fail_msg("'%s' in %s resolved to '%s', not '%s'", range, repo,
			 m->name, tag);
	assert_string_equal(m->tag.repo, repo);
	assert_false(m->tag.yanked);
	assert_true(m->tag.id > 0);
	assert_false(m->exact);
}

static uint64_t builds(struct fixture *f)
{
	struct rfs_versions_stats st;

	rfs_versions_get_stats(f->v, &st);
	return st.builds;
}

static void add_app(struct fixture *f)
{
	static const char *const tags[] = {
		"1.0.0",      "1.2.0",	"v1.2.5",  "1.3.0-beta.1", "2.0.0",
		"2.1.0-rc.1", "latest", "nightly", "1.2",	   "v2",
		"1.2.3.4",    "0.9.0",	"0.9.1",   "0.0.3",
	};
	for (size_t i = 0; i < N(tags); i++)
		add(f, "app", tags[i]);
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;
	struct rfs_tag t;

	add_app(f);
	expect(f, "app", "^1.2", "v1.2.5", &m);
	expect(f, "app", "~1.2.0", "v1.2.5", &m);
	expect(f, "app", "1.2.*", "v1.2.5", &m);
	expect(f, "app", "^1", "v1.2.5", &m); /* not 1.3.0-beta.1 */
	expect(f, "app", "^1.0.0, <1.2.5", "1.2.0", &m);
	expect(f, "app", ">=1.3.0-beta", "2.0.0", &m);
	expect(f, "app", ">=1.3.0-beta, <1.3.0", "1.3.0-beta.1", &m);
	expect(f, "app", "^2", "2.0.0", &m); /* not 2.1.0-rc.1 */
	expect(f, "app", "^2.1.0-rc.1", "2.1.0-rc.1", &m);
	expect(f, "app", "latest-stable", "2.0.0", &m);
	expect(f, "app", "*", "2.0.0", &m);
	expect(f, "app", "^0.9", "0.9.1", &m);
	expect(f, "app", "^0.0.3", "0.0.3", &m);
	expect(f, "app", "=1.2.5", "v1.2.5", &m);
	expect(f, "app", "v1.0.0", "1.0.0", &m);
	expect(f, "app", "<1.0.0", "0.9.1", &m);
	/* A caller's --pre: every prerelease inside the bounds. */
	{
		struct rfs_semver_range r;

		assert_int_equal(rfs_semver_range_parse("^1", &r, NULL), 0);
		r.include_prerelease = true;
		assert_int_equal(
		    rfs_versions_resolve(f->v, "app", &r, &m, NULL), 0);
		assert_string_equal(m.name, "1.3.0-beta.1");
		assert_int_equal(
		    rfs_semver_range_parse("latest-stable", &r, NULL), 0);
		r.include_prerelease = true;
		assert_int_equal(
		    rfs_versions_resolve(f->v, "app", &r, &m, NULL), 0);
		assert_string_equal(m.name, "2.0.0");
	}
	/* The row is the catalog's. */
	expect(f, "app", "^1.2", "v1.2.5", &m);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "v1.2.5", &t), 0);
	assert_int_equal(m.tag.id, t.id);
	assert_string_equal(m.tag.digest, t.digest);
	/* What a message needs: the newest version, prereleases included;
	 * names that are not versions (latest, nightly, 1.2, v2, 1.2.3.4)
	 * are not counted. */
	assert_string_equal(m.newest, "2.1.0-rc.1");
	assert_int_equal(m.n_versions, 9);
	assert_int_equal(m.n_yanked, 0);
}

static void test_no_match_messages(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;
	struct rfs_semver_range r;
	struct rfs_error err = { 0 };

	add_app(f);
	assert_int_equal(rfs_semver_range_parse("^3", &r, NULL), 0);
	assert_int_equal(rfs_versions_resolve(f->v, "app", &r, &m, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "no tag of 'app' matches '^3': the newest "
				     "version is '2.1.0-rc.1'");
	assert_string_equal(m.newest, "2.1.0-rc.1");
	assert_string_equal(m.name, "");
	assert_int_equal(m.tag.id, 0);

	assert_int_equal(rfs_versions_resolve(f->v, "nosuch", &r, &m, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "no repository 'nosuch'");

	/* Tags that are not versions are ignored, not an error. */
	add(f, "plain", "latest");
	add(f, "plain", "stable");
	add(f, "plain", "build-42");
	assert_int_equal(rfs_versions_resolve(f->v, "plain", &r, &m, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "no tag of 'plain' matches '^3': it has "
				     "no version tags");
	assert_int_equal(m.n_versions, 0);
	assert_string_equal(m.newest, "");
}

static void test_yanked(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;
	struct rfs_semver_range r;
	struct rfs_error err = { 0 };

	add(f, "lib", "1.0.0");
	add(f, "lib", "1.1.0");
	add(f, "lib", "v1.2.0");
	add(f, "lib", "1.3.0");
	add(f, "lib", "2.0.0");
	yank(f, "lib", "1.3.0", true);
	yank(f, "lib", "v1.2.0", true);
	expect(f, "lib", "^1", "1.1.0", &m);
	/* Reported, highest first: what would have been chosen. */
	assert_int_equal(m.n_yanked, 2);
	assert_string_equal(m.yanked[0], "1.3.0");
	assert_string_equal(m.yanked[1], "v1.2.0");
	assert_string_equal(m.newest, "2.0.0");
	assert_int_equal(m.n_versions, 3);
	/* Yanked below the result are not candidates. */
	yank(f, "lib", "1.0.0", true);
	expect(f, "lib", "^1", "1.1.0", &m);
	assert_int_equal(m.n_yanked, 2);
	/* Nothing left: every yanked candidate is named. */
	yank(f, "lib", "1.1.0", true);
	assert_int_equal(rfs_semver_range_parse("^1", &r, NULL), 0);
	assert_int_equal(rfs_versions_resolve(f->v, "lib", &r, &m, &err),
			 -ENOENT);
	assert_int_equal(m.n_yanked, 4);
	assert_string_equal(err.msg,
			    "no tag of 'lib' matches '^1': the newest version "
			    "is '2.0.0'; yanked: '1.3.0', 'v1.2.0', '1.1.0', "
			    "'1.0.0'");
	/* The newest skips yanked ones too. */
	yank(f, "lib", "2.0.0", true);
	assert_int_equal(rfs_versions_resolve(f->v, "lib", &r, &m, &err),
			 -ENOENT);
	assert_string_equal(m.newest, "");
	assert_non_null(strstr(err.msg, "it has no version tags but yanked "
					"ones; yanked: '1.3.0'"));
	/* An unyank brings it back. */
	yank(f, "lib", "v1.2.0", false);
	expect(f, "lib", "^1", "v1.2.0", &m);
	assert_int_equal(m.n_yanked, 1);
	assert_string_equal(m.yanked[0], "1.3.0");
}

static void test_many_yanked_named(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;
	struct rfs_semver_range r;
	struct rfs_error err = { 0 };
	char tag[32];

	for (int i = 0; i < 12; i++) {
		snprintf(tag, sizeof(tag), "1.%d.0", i);
		add(f, "y", tag);
		yank(f, "y", tag, true);
	}
	assert_int_equal(rfs_semver_range_parse("^1", &r, NULL), 0);
	assert_int_equal(rfs_versions_resolve(f->v, "y", &r, &m, &err),
			 -ENOENT);
	assert_int_equal(m.n_yanked, 12);
	assert_string_equal(m.yanked[0], "1.11.0");
	assert_string_equal(m.yanked[RFS_VERSIONS_YANKED_MAX - 1], "1.4.0");
	assert_non_null(strstr(err.msg, "'1.4.0' and 4 more"));
}

static void test_lookup_order(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;
	struct rfs_error err = { 0 };

	add_app(f);
	/* An exact tag first, whatever it looks like. */
	assert_int_equal(rfs_versions_lookup(f->v, "app", "latest", &m, &err),
			 0);
	assert_true(m.exact);
	assert_string_equal(m.tag.name, "latest");
	assert_int_equal(rfs_versions_lookup(f->v, "app", "1.2", &m, &err), 0);
	assert_true(m.exact);
	assert_int_equal(rfs_versions_lookup(f->v, "app", "1.2.0", &m, &err),
			 0);
	assert_true(m.exact);
	assert_string_equal(m.name, "1.2.0");
	/* A version with or without 'v' finds the other spelling. */
	assert_int_equal(rfs_versions_lookup(f->v, "app", "1.2.5", &m, &err),
			 0);
	assert_false(m.exact);
	assert_string_equal(m.tag.name, "v1.2.5");
	assert_int_equal(rfs_versions_lookup(f->v, "app", "v1.0.0", &m, &err),
			 0);
	assert_false(m.exact);
	assert_string_equal(m.tag.name, "1.0.0");
	assert_int_equal(rfs_versions_lookup(f->v, "app", "^1.2", &m, &err), 0);
	assert_string_equal(m.tag.name, "v1.2.5");
	/* A yanked tag stays readable by its exact name. */
	yank(f, "app", "2.0.0", true);
	assert_int_equal(rfs_versions_lookup(f->v, "app", "2.0.0", &m, &err),
			 0);
	assert_true(m.exact);
	assert_true(m.tag.yanked);
	assert_int_equal(rfs_versions_lookup(f->v, "app", "^2", &m, &err),
			 -ENOENT);
	assert_string_equal(m.yanked[0], "2.0.0");
	/* Not a tag, not a range: -ENOENT; a malformed range: -EINVAL. */
	assert_int_equal(rfs_versions_lookup(f->v, "app", "nope", &m, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "no such tag 'app:nope'");
	assert_int_equal(rfs_versions_lookup(f->v, "app", "1.9", &m, &err),
			 -ENOENT);
	assert_int_equal(rfs_versions_lookup(f->v, "app", "1.2.3.5", &m, &err),
			 -ENOENT);
	assert_int_equal(rfs_versions_lookup(f->v, "app", "^1.2.3.4", &m, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "invalid version range '^1.2.3.4'"));
	assert_int_equal(rfs_versions_lookup(f->v, "app", "~", &m, &err),
			 -EINVAL);
	assert_int_equal(rfs_versions_lookup(f->v, "app", ">=x", &m, &err),
			 -EINVAL);
	assert_int_equal(rfs_versions_lookup(f->v, "nosuch", "^1", &m, &err),
			 -ENOENT);
	assert_int_equal(rfs_versions_lookup(f->v, "nosuch", "v1", &m, &err),
			 -ENOENT);
}

static void test_same_precedence(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;

	/* Two spellings of one version: the choice is the total order's
	 * greatest, not the catalog's order. */
	add(f, "dup", "v1.2.3");
	add(f, "dup", "1.2.3");
	add(f, "dup", "V1.2.3");
	expect(f, "dup", "=1.2.3", "v1.2.3", &m);
	expect(f, "dup", "^1", "v1.2.3", &m);
	yank(f, "dup", "v1.2.3", true);
	expect(f, "dup", "^1", "V1.2.3", &m);
	assert_int_equal(m.n_yanked, 1);
}

static void test_index_reused_and_invalidated(void **state)
{
	struct fixture *f = *state;
	struct rfs_version_match m;
	struct rfs_versions_stats st;
	struct rfs_catalog *other;
	struct rfs_error err = { 0 };

	add(f, "app", "1.0.0");
	add(f, "app", "1.2.0");
	add(f, "lib", "1.0.0");
	assert_int_equal(builds(f), 0);
	expect(f, "app", "^1", "1.2.0", &m);
	assert_int_equal(builds(f), 1);
	for (int i = 0; i < 10; i++)
		expect(f, "app", "^1", "1.2.0", &m);
	expect(f, "app", "~1.0", "1.0.0", &m);
	assert_int_equal(builds(f), 1); /* reused, whatever the range */
	rfs_versions_get_stats(f->v, &st);
	assert_int_equal(st.lookups, 12);
	assert_int_equal(st.cached, 1);

	/* A change elsewhere leaves this index alone. */
	expect(f, "lib", "^1", "1.0.0", &m);
	assert_int_equal(builds(f), 2);
	add(f, "lib", "1.1.0");
	expect(f, "app", "^1", "1.2.0", &m);
	assert_int_equal(builds(f), 2);

	/* A new tag. */
	add(f, "app", "1.5.0");
	expect(f, "app", "^1", "1.5.0", &m);
	assert_int_equal(builds(f), 3);
	expect(f, "app", "^1", "1.5.0", &m);
	assert_int_equal(builds(f), 3);
	/* A yank, an unyank. */
	yank(f, "app", "1.5.0", true);
	expect(f, "app", "^1", "1.2.0", &m);
	assert_int_equal(builds(f), 4);
	yank(f, "app", "1.5.0", false);
	expect(f, "app", "^1", "1.5.0", &m);
	assert_int_equal(builds(f), 5);
	/* An rm. */
	assert_int_equal(rfs_catalog_remove_tag(f->cat, "app", "1.5.0", &err),
			 0);
	expect(f, "app", "^1", "1.2.0", &m);
	assert_int_equal(builds(f), 6);

	/* A change through another handle, as regctl makes while the daemon
	 * serves. */
	assert_int_equal(rfs_catalog_open(f->db, false, &other, &err), 0);
	assert_int_equal(
	    rfs_catalog_set_yanked(other, "app", "1.2.0", true, &err), 0);
	expect(f, "app", "^1", "1.0.0", &m);
	assert_int_equal(builds(f), 7);
	assert_int_equal(rfs_catalog_add_tag(other, "app", "1.9.0",
					     "sha256:"
					     "99999999999999999999999999999999"
					     "99999999999999999999999999999999",
					     1, rfs_now_ns(), NULL, &err),
			 0);
	expect(f, "app", "^1", "1.9.0", &m);
	assert_int_equal(builds(f), 8);
	rfs_catalog_close(&other);

	/* forget drops it; the next lookup builds it again. */
	rfs_versions_forget(f->v, "app");
	rfs_versions_get_stats(f->v, &st);
	assert_int_equal(st.cached, 1); /* lib */
	expect(f, "app", "^1", "1.9.0", &m);
	assert_int_equal(builds(f), 9);
	rfs_versions_forget(f->v, NULL);
	rfs_versions_get_stats(f->v, &st);
	assert_int_equal(st.cached, 0);
}

static void test_lru(void **state)
{
	struct fixture *f = *state; /* two repositories at most */
	struct rfs_version_match m;
	struct rfs_versions_stats st;

	add(f, "r1", "1.0.0");
	add(f, "r2", "2.0.0");
	add(f, "r3", "3.0.0");
	expect(f, "r1", "*", "1.0.0", &m);
	expect(f, "r2", "*", "2.0.0", &m);
	expect(f, "r1", "*", "1.0.0", &m); /* r1 is now the most recent */
	assert_int_equal(builds(f), 2);
	expect(f, "r3", "*", "3.0.0", &m); /* evicts r2 */
	rfs_versions_get_stats(f->v, &st);
	assert_int_equal(st.builds, 3);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.cached, 2);
	expect(f, "r1", "*", "1.0.0", &m);
	assert_int_equal(builds(f), 3);
	expect(f, "r2", "*", "2.0.0", &m); /* evicts r3 */
	assert_int_equal(builds(f), 4);
	expect(f, "r1", "*", "1.0.0", &m);
	assert_int_equal(builds(f), 4);
	rfs_versions_get_stats(f->v, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.cached, 2);
}

static void test_resolve_list(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {
		"1.0.0", "v1.4.0", "1.5.0-rc.1", "latest",
		"2.0.0", "1.3.9",  "v1.2",	 "1.4.0-beta",
	};
	struct rfs_version_match m;
	struct rfs_semver_range r;
	struct rfs_error err = { 0 };

	/* A repository the catalog does not know: no yank information. */
	assert_int_equal(rfs_semver_range_parse("^1", &r, NULL), 0);
	assert_int_equal(rfs_versions_resolve_list(f->v, "mirror/app", &r,
						   names, N(names), &m, &err),
			 0);
	assert_string_equal(m.name, "v1.4.0");
	assert_int_equal(m.tag.id, 0);
	assert_string_equal(m.newest, "2.0.0");
	assert_int_equal(m.n_versions, 6);

	/* One the catalog knows with no version tag: its index is empty
	 * (found by t1320: a range looked up in a pull-through repository
	 * before any of its tags was pinned). */
	add(f, "mirror/other", "latest");
	assert_int_equal(rfs_versions_resolve_list(f->v, "mirror/other", &r,
						   names, N(names), &m, &err),
			 0);
	assert_string_equal(m.name, "v1.4.0");
	assert_int_equal(m.n_yanked, 0);

	/* The catalog holds v1.4.0 of that repository as yanked. */
	add(f, "mirror/app", "v1.4.0");
	yank(f, "mirror/app", "v1.4.0", true);
	assert_int_equal(rfs_versions_resolve_list(f->v, "mirror/app", &r,
						   names, N(names), &m, &err),
			 0);
	assert_string_equal(m.name, "1.3.9");
	assert_int_equal(m.n_yanked, 1);
	assert_string_equal(m.yanked[0], "v1.4.0");
	assert_int_equal(m.n_versions, 5);

	assert_int_equal(rfs_semver_range_parse(">=1.5.0-rc.1, <2", &r, NULL),
			 0);
	assert_int_equal(rfs_versions_resolve_list(f->v, "mirror/app", &r,
						   names, N(names), &m, &err),
			 0);
	assert_string_equal(m.name, "1.5.0-rc.1");

	assert_int_equal(rfs_semver_range_parse("^3", &r, NULL), 0);
	assert_int_equal(rfs_versions_resolve_list(f->v, "mirror/app", &r,
						   names, N(names), &m, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "no tag of 'mirror/app' matches '^3': "
				     "the newest version is '2.0.0'");
	assert_int_equal(rfs_versions_resolve_list(f->v, "mirror/app", &r, NULL,
						   0, &m, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "no version tags"));
}

static void test_sort(void **state)
{
	(void)state;
	const char *names[] = {
		"latest",	 "1.10.0", "v1.2.0",	   "1.2.0",
		"1.2.0-rc.1",	 "1.9.0",  "alpha",	   "2.0.0",
		"1.2.0-beta.11", "Zeta",   "1.2.0-beta.2", "1.2.3.4",
	};
	static const char *const want[] = {
		"1.2.0-beta.2", "1.2.0-beta.11", "1.2.0-rc.1", "1.2.0",
		"v1.2.0",	"1.9.0",	 "1.10.0",     "2.0.0",
		"1.2.3.4",	"Zeta",		 "alpha",      "latest",
	};
	const char *copy[N(names)];

	memcpy(copy, names, sizeof(names));
	assert_int_equal(rfs_versions_sort(names, N(names)), 0);
	for (size_t i = 0; i < N(want); i++)
		if (strcmp(names[i], want[i]))
			fail_msg("position %zu: '%s', not '%s'", i, names[i],
				 want[i]);
	/* rfs_versions_cmp is the same order. */
	for (size_t i = 0; i < N(want); i++)
		for (size_t j = 0; j < N(want); j++) {
			int c = rfs_versions_cmp(want[i], want[j]);

			if ((c > 0) - (c < 0) != (i > j) - (i < j))
				fail_msg("cmp('%s', '%s') = %d", want[i],
					 want[j], c);
		}
	assert_int_equal(rfs_versions_sort(copy, 0), 0);
}

/* Readers resolving while a writer seals: every answer admitted by the
 * range, none torn; the index shared, not rebuilt per reader. */
struct race {
	struct fixture *f;
	int failures;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;
	struct rfs_semver_range range;

	rfs_semver_range_parse("^1.2", &range, NULL);
	for (int i = 0; i < 2000; i++) {
		struct rfs_version_match m;
		struct rfs_semver sv;
		int rc = rfs_versions_resolve(r->f->v, "app", &range, &m, NULL);

		if (rc || rfs_semver_parse(m.tag.name, &sv) ||
		    !rfs_semver_range_match(&range, &sv) || m.tag.yanked)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct race r = { f, 0 };
	struct rfs_version_match m;
	pthread_t readers[4];
	char tag[32];

	add(f, "app", "1.2.0");
	for (size_t i = 0; i < N(readers); i++)
		assert_int_equal(
		    pthread_create(&readers[i], NULL, race_reader, &r), 0);
	for (int i = 1; i <= 40; i++) {
		snprintf(tag, sizeof(tag), "1.%d.0", i + 2);
		add(f, "app", tag);
		if (i % 5 == 0)
			yank(f, "app", tag, true);
	}
	for (size_t i = 0; i < N(readers); i++)
		pthread_join(readers[i], NULL);
	assert_int_equal(r.failures, 0);
	expect(f, "app", "^1.2", "1.41.0", &m);
	assert_int_equal(m.n_yanked, 1);
	assert_string_equal(m.yanked[0], "1.42.0");
	/* At most one build per change and reader, far fewer than lookups. */
	assert_true(builds(f) <= 1 + 48 * N(readers));
}

/* 10 000 tags: versions with and without 'v', prereleases, yanked ones,
 * names that are not versions. Every answer is checked against a brute
 * force walk of all the names. */
#define BIG 10000

struct big {
	char name[BIG][32];
	bool yanked[BIG];
	struct rfs_semver sv[BIG];
	bool is_version[BIG];
};

static void big_name(unsigned i, char out[32])
{
	unsigned major = i / 1000, minor = (i / 10) % 100, patch = i % 10;

	if (i % 101 == 0)
		snprintf(out, 32, "build-%u", i);
	else if (i % 13 == 0)
		snprintf(out, 32, "%u.%u.%u-rc.%u", major, minor, patch, i % 3);
	else
		snprintf(out, 32, "%s%u.%u.%u", i % 3 ? "" : "v", major, minor,
			 patch);
}

/* The expected answer: the greatest admitted, non-yanked version. */
static int brute(const struct big *b, const struct rfs_semver_range *r,
		 size_t *n_yanked_above)
{
	int best = -1;

	for (int i = 0; i < BIG; i++) {
		if (!b->is_version[i] || b->yanked[i] ||
		    !rfs_semver_range_match(r, &b->sv[i]))
			continue;
		if (best < 0 || rfs_semver_order(&b->sv[i], &b->sv[best]) > 0)
			best = i;
	}
	*n_yanked_above = 0;
	for (int i = 0; i < BIG; i++)
		if (b->is_version[i] && b->yanked[i] &&
		    rfs_semver_range_match(r, &b->sv[i]) &&
		    (best < 0 || rfs_semver_order(&b->sv[i], &b->sv[best]) > 0))
			(*n_yanked_above)++;
	return best;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_ten_thousand(void **state)
{
	struct fixture *f = *state;
	struct big *b = calloc(1, sizeof(*b));
	struct rfs_semver_range ranges[64];
	size_t n_ranges = 0;
	static const char *const fixed[] = {
		"^0",
		"^1",
		"^5.5",
		"^9.99.9",
		"~3.42",
		"~3.42.5",
		"7.7.*",
		"2.*",
		"*",
		"latest-stable",
		">=3.50.0, <7.2.0",
		"=5.55.5",
		"5.55.5",
		">=4.0.0-rc.1",
		"^6.15.6-rc.0",
		"<0.0.5",
		">9.99.8",
		"^10",
		">=1.0.0 <1.0.1",
		"^0.0.1",
		"~0.5",
		">2.50",
		"<=4.4",
	};
	struct rfs_version_match m;
	struct rfs_error err = { 0 };
	double t0, t1;
	unsigned seed = 42;
	int lookups = 0;

	assert_non_null(b);
	assert_int_equal(rfs_catalog_begin(f->cat), 0);
	for (unsigned i = 0; i < BIG; i++) {
		char digest[RFS_DIGEST_STR_MAX + 1];

		big_name(i, b->name[i]);
		b->is_version[i] = rfs_semver_parse(b->name[i], &b->sv[i]) == 0;
		digest_of(i + 1, digest);
		if (rfs_catalog_add_tag(f->cat, "big", b->name[i], digest, 1,
					rfs_now_ns(), NULL, &err))
			fail_msg("add %s: %s", b->name[i], err.msg);
	}
	assert_int_equal(rfs_catalog_commit(f->cat), 0);
	for (unsigned i = 0; i < BIG; i += 97) {
		b->yanked[i] = true;
		yank(f, "big", b->name[i], true);
	}
	for (size_t i = 0; i < N(fixed); i++)
		assert_int_equal(
		    rfs_semver_range_parse(fixed[i], &ranges[n_ranges++], NULL),
		    0);
	/* And random ones of every operator. */
	while (n_ranges < N(ranges)) {
		static const char *const ops[] = { "^",	 "~", "=",  ">",
						   ">=", "<", "<=", "" };
		char text[64];
		unsigned r = (unsigned)rand_r(&seed);

		snprintf(text, sizeof(text), "%s%u.%u.%u%s", ops[r % 8],
			 (r >> 3) % 11, (r >> 7) % 100, (r >> 14) % 10,
			 (r >> 18) % 4 ? "" : "-rc.1");
		assert_int_equal(
		    rfs_semver_range_parse(text, &ranges[n_ranges++], NULL), 0);
	}

	/* Correctness, against brute force. */
	for (size_t i = 0; i < n_ranges; i++) {
		size_t n_yanked;
		int want = brute(b, &ranges[i], &n_yanked);
		int rc =
		    rfs_versions_resolve(f->v, "big", &ranges[i], &m, &err);

		if (want < 0 && rc != -ENOENT)
			fail_msg("'%s': %d '%s', want nothing", ranges[i].text,
				 rc, m.name);
		if (want >= 0 && (rc || strcmp(m.name, b->name[want])))
			fail_msg("'%s': %d '%s', want '%s' (%s)",
				 ranges[i].text, rc, m.name, b->name[want],
				 err.msg);
		if (m.n_yanked != n_yanked)
			fail_msg("'%s': %zu yanked above, want %zu",
				 ranges[i].text, m.n_yanked, n_yanked);
	}
	assert_int_equal(builds(f), 1);

	/* Timing, after the warm-up above: printed, never asserted. */
	t0 = now_s();
	for (int round = 0; round < 50; round++)
		for (size_t i = 0; i < n_ranges; i++, lookups++)
			rfs_versions_resolve(f->v, "big", &ranges[i], &m, NULL);
	t1 = now_s();
	print_message("[ diag     ] %d tags: %.1f us per range lookup (%d "
		      "lookups, %zu ranges)\n",
		      BIG, (t1 - t0) * 1e6 / lookups, lookups, n_ranges);
	assert_int_equal(builds(f), 1);

	/* And a lookup that builds the index, for scale. */
	rfs_versions_forget(f->v, NULL);
	t0 = now_s();
	assert_int_equal(
	    rfs_versions_resolve(f->v, "big", &ranges[1], &m, &err), 0);
	t1 = now_s();
	assert_string_equal(m.name, "1.99.9");
	assert_int_equal(builds(f), 2);
	print_message("[ diag     ] %d tags: a lookup that builds the index: "
		      "%.1f ms\n",
		      BIG, (t1 - t0) * 1e3);
	free(b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_resolve),
		T(test_no_match_messages),
		T(test_yanked),
		T(test_many_yanked_named),
		T(test_lookup_order),
		T(test_same_precedence),
		T(test_index_reused_and_invalidated),
		cmocka_unit_test_setup_teardown(test_lru, setup_two_repos,
						teardown),
		T(test_resolve_list),
		cmocka_unit_test(test_sort),
		T(test_threads),
		T(test_ten_thousand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
