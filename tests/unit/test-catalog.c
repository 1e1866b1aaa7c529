/*
 * test-catalog.c - unit tests of catalog.h on a catalog in a temporary
 * folder: directories, tags, blobs, listings, ids, persistence.
 */
#include <errno.h>
#include <ftw.h>
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

#include <sqlite3.h>

#include "catalog.h"
#include "tmptree.h"

#define D1 \
	"sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 \
	"sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 \
	"sha256:3333333333333333333333333333333333333333333333333333333333333333"

struct fixture {
	char dir[64];
	char db[128];
	struct rfs_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/regfs-test-catalog-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->dir);
	if (rfs_catalog_open(f->db, false, &f->cat, &err) != 0) {
		fprintf(stderr, "rfs_catalog_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_catalog_close(&f->cat);
	tmptree_remove(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	struct rfs_error err = { 0 };

	rfs_catalog_close(&f->cat);
	assert_null(f->cat);
	assert_int_equal(rfs_catalog_open(f->db, false, &f->cat, &err), 0);
}

static void add_tag(struct fixture *f, const char *repo, const char *tag,
		    const char *digest, uint64_t size, struct rfs_tag *out)
{
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	int rc = rfs_catalog_add_tag(f->cat, repo, tag, digest, size,
				     rfs_now_ns(), out ? out : &t, &err);
	if (rc != 0)
		fail_msg("add_tag %s:%s: %d %s", repo, tag, rc, err.msg);
}

/* Collectors for the listings. */
struct names {
	char items[32][RFS_REPO_MAX + RFS_TAG_MAX + 2];
	int n;
	int stop_after; /* 0: never */
};

static int collect_dir(void *ctx, const struct rfs_dir *dir)
{
	struct names *c = ctx;

	assert_true(c->n < 32);
	snprintf(c->items[c->n++], sizeof(c->items[0]), "%s", dir->name);
	return c->stop_after && c->n >= c->stop_after ? 42 : 0;
}

static int collect_tag(void *ctx, const struct rfs_tag *tag)
{
	struct names *c = ctx;

	assert_true(c->n < 32);
	snprintf(c->items[c->n++], sizeof(c->items[0]), "%s:%s", tag->repo,
		 tag->name);
	return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static int collect_blob(void *ctx, const struct rfs_blob *blob)
{
	struct names *c = ctx;

	assert_true(c->n < 32);
	snprintf(c->items[c->n++], sizeof(c->items[0]), "%s %lld", blob->digest,
		 (long long)blob->refs);
	return c->stop_after && c->n >= c->stop_after ? 9 : 0;
}

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct names c = { .n = 0 };

	assert_int_equal(stat(f->db, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(rfs_catalog_list_tags(f->cat, NULL, collect_tag, &c),
			 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(
	    rfs_catalog_list_dirs(f->cat, 0, false, collect_dir, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(rfs_catalog_list_blobs(f->cat, collect_blob, &c), 0);
	assert_int_equal(c.n, 0);

	/* Opening an existing catalog again works (schema already there). */
	reopen(f);
	assert_int_equal(rfs_catalog_list_tags(f->cat, NULL, collect_tag, &c),
			 0);
	assert_int_equal(c.n, 0);
}

/* Settings: unset, set, replaced, kept across a reopen, too long. */
static void test_settings(void **state)
{
	struct fixture *f = *state;
	char buf[32], tiny[3]; /* "two" needs 4 */

	assert_int_equal(rfs_catalog_setting_get(f->cat, "k", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(rfs_catalog_setting_set(f->cat, "k", "one"), 0);
	assert_int_equal(rfs_catalog_setting_get(f->cat, "k", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "one");
	assert_int_equal(rfs_catalog_setting_set(f->cat, "k", "two"), 0);
	reopen(f);
	assert_int_equal(rfs_catalog_setting_get(f->cat, "k", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "two");
	assert_int_equal(
	    rfs_catalog_setting_get(f->cat, "k", tiny, sizeof(tiny)),
	    -ENAMETOOLONG);
	/* The schema version lives beside them, untouched. */
	assert_int_equal(
	    rfs_catalog_setting_get(f->cat, "schema", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "8");
}

/* NFS handles: one generation for a catalog, kept; mounts counted. */
static void test_export_ids(void **state)
{
	struct fixture *f = *state;
	uint32_t g1, g2;
	int64_t m1, m2;

	assert_int_equal(rfs_catalog_export_ids(f->cat, &g1, &m1), 0);
	assert_int_not_equal(g1, 0);
	assert_int_equal(m1, 1);
	reopen(f);
	assert_int_equal(rfs_catalog_export_ids(f->cat, &g2, &m2), 0);
	assert_int_equal(g2, g1);
	assert_int_equal(m2, 2);
	/* A catalog made again (the same path, another store) is another
	 * generation, all but surely. */
	rfs_catalog_close(&f->cat);
	unlink(f->db);
	reopen(f);
	assert_int_equal(rfs_catalog_export_ids(f->cat, &g2, &m2), 0);
	assert_int_not_equal(g2, g1);
	assert_int_equal(m2, 1);
}

static void test_open_bad_path(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = NULL;
	struct rfs_error err = { 0 };
	char path[192];

	snprintf(path, sizeof(path), "%s/no/such/dir/catalog.db", f->dir);
	assert_true(rfs_catalog_open(path, false, &cat, &err) < 0);
	assert_null(cat);
	rfs_catalog_close(&cat);
}

static void test_add_tag_creates_dirs(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t, t2;
	struct rfs_dir org, team, app, d;
	int64_t before = rfs_now_ns();

	add_tag(f, "org/team/app", "v1", D1, 1234, &t);
	assert_true(t.id > 0);
	assert_string_equal(t.repo, "org/team/app");
	assert_string_equal(t.name, "v1");
	assert_string_equal(t.digest, D1);
	assert_int_equal(t.size, 1234);
	assert_true(t.created_ns >= before - 1000000000LL);
	assert_true(t.created_ns <= rfs_now_ns());

	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org", &org), 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/team", &team), 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/team/app", &app),
			 0);
	assert_int_equal(org.parent, 0);
	assert_int_equal(team.parent, org.id);
	assert_int_equal(app.parent, team.id);
	assert_string_equal(org.name, "org");
	assert_string_equal(team.name, "team");
	assert_string_equal(app.name, "app");
	assert_string_equal(org.path, "org");
	assert_string_equal(team.path, "org/team");
	assert_string_equal(app.path, "org/team/app");
	assert_true(org.sealed);
	assert_true(team.sealed);
	assert_true(app.sealed);
	assert_int_equal(t.dir, app.id);

	/* Every way of finding them agrees. */
	assert_int_equal(rfs_catalog_dir_lookup(f->cat, 0, "org", &d), 0);
	assert_int_equal(d.id, org.id);
	assert_int_equal(rfs_catalog_dir_lookup(f->cat, org.id, "team", &d), 0);
	assert_int_equal(d.id, team.id);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, app.id, &d), 0);
	assert_string_equal(d.path, "org/team/app");

	assert_int_equal(rfs_catalog_tag_get(f->cat, "org/team/app", "v1", &t2),
			 0);
	assert_int_equal(t2.id, t.id);
	assert_string_equal(t2.digest, D1);
	assert_int_equal(t2.size, 1234);
	assert_int_equal(t2.created_ns, t.created_ns);
	memset(&t2, 0, sizeof(t2));
	assert_int_equal(rfs_catalog_tag_lookup(f->cat, app.id, "v1", &t2), 0);
	assert_int_equal(t2.id, t.id);
	assert_string_equal(t2.repo, "org/team/app");
	memset(&t2, 0, sizeof(t2));
	assert_int_equal(rfs_catalog_tag_by_id(f->cat, t.id, &t2), 0);
	assert_string_equal(t2.name, "v1");
	assert_string_equal(t2.repo, "org/team/app");
	assert_int_equal(t2.dir, app.id);
}

static void test_not_found(void **state)
{
	struct fixture *f = *state;
	struct rfs_dir d;
	struct rfs_tag t;
	struct rfs_blob b;

	add_tag(f, "org/app", "v1", D1, 1, NULL);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "nope", &d), -ENOENT);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/nope", &d),
			 -ENOENT);
	assert_int_equal(rfs_catalog_dir_lookup(f->cat, 0, "app", &d), -ENOENT);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, 99999, &d), -ENOENT);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "org/app", "v2", &t),
			 -ENOENT);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "org", "v1", &t), -ENOENT);
	assert_int_equal(rfs_catalog_tag_by_id(f->cat, 99999, &t), -ENOENT);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org", &d), 0);
	assert_int_equal(rfs_catalog_tag_lookup(f->cat, d.id, "v1", &t),
			 -ENOENT);
	assert_int_equal(rfs_catalog_blob_get(f->cat, D2, &b), -ENOENT);
}

static void test_add_tag_invalid(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	struct names c = { .n = 0 };

	assert_int_equal(rfs_catalog_add_tag(f->cat, "Org/app", "v1", D1, 1,
					     rfs_now_ns(), &t, &err),
			 -EINVAL);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "org//app", "v1", D1, 1,
					     rfs_now_ns(), &t, &err),
			 -EINVAL);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "org/app", "-v1", D1, 1,
					     rfs_now_ns(), &t, &err),
			 -EINVAL);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "org/app", "v1",
					     "sha256:xyz", 1, rfs_now_ns(), &t,
					     &err),
			 -EINVAL);
	assert_int_equal(
	    rfs_catalog_list_dirs(f->cat, 0, false, collect_dir, &c), 0);
	assert_int_equal(c.n, 0);
}

static void test_duplicate_tag(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	add_tag(f, "org/app", "v1", D1, 10, NULL);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "org/app", "v1", D2, 20,
					     rfs_now_ns(), &t, &err),
			 -EEXIST);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(rfs_catalog_tag_get(f->cat, "org/app", "v1", &t), 0);
	assert_string_equal(t.digest, D1);
	assert_int_equal(t.size, 10);
	/* The refused tag left no blob row behind. */
	struct rfs_blob b;
	assert_int_equal(rfs_catalog_blob_get(f->cat, D2, &b), -ENOENT);
}

static void test_tag_vs_dir_names(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	struct rfs_dir d;

	/* A directory org/app exists: a tag "app" in org is refused. */
	add_tag(f, "org/app", "v1", D1, 1, NULL);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "org", "app", D2, 1,
					     rfs_now_ns(), &t, &err),
			 -EEXIST);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "org", "app", &t),
			 -ENOENT);

	/* Unsealed directories count too. */
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "lib/util", &d, &err),
			 0);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "lib", "util", D2, 1,
					     rfs_now_ns(), &t, &err),
			 -EEXIST);

	/* And the other way: a tag "v1" stands in org/app, so org/app/v1
	 * cannot become a directory. */
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "org/app/v1", &d, &err),
			 -EEXIST);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/app/v1", &d),
			 -ENOENT);
	assert_int_equal(
	    rfs_catalog_dir_ensure(f->cat, "org/app/v1/x", &d, &err), -EEXIST);
	assert_int_equal(rfs_catalog_add_tag(f->cat, "org/app/v1", "x", D2, 1,
					     rfs_now_ns(), &t, &err),
			 -EEXIST);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/app/v1", &d),
			 -ENOENT);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "org/app/v1", "x", &t),
			 -ENOENT);
}

static void test_dir_ensure(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir a, ab, again, d;

	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "a/b", &ab, &err), 0);
	assert_string_equal(ab.path, "a/b");
	assert_string_equal(ab.name, "b");
	assert_false(ab.sealed);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "a", &a), 0);
	assert_false(a.sealed);
	assert_int_equal(a.parent, 0);
	assert_int_equal(ab.parent, a.id);

	/* Idempotent. */
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "a/b", &again, &err),
			 0);
	assert_int_equal(again.id, ab.id);

	/* Bad names. */
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "A", &d, &err),
			 -EINVAL);
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "a//c", &d, &err),
			 -EINVAL);
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "a/..", &d, &err),
			 -EINVAL);
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "", &d, &err), -EINVAL);

	/* A tag below seals the whole chain. */
	add_tag(f, "a/b", "v1", D1, 1, NULL);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, a.id, &d), 0);
	assert_true(d.sealed);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, ab.id, &d), 0);
	assert_true(d.sealed);

	/* A new subdirectory of a sealed one starts unsealed. */
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "a/b/c", &d, &err), 0);
	assert_false(d.sealed);
}

static void test_ids_never_reused(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir d1, d2, d3;

	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "x", &d1, &err), 0);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, d1.id), 0);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, d1.id, &d2), -ENOENT);
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "x", &d2, &err), 0);
	assert_true(d2.id > d1.id);

	/* Also across a reopen: the highest id was the one removed. */
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "y", &d3, &err), 0);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, d3.id), 0);
	reopen(f);
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "z", &d1, &err), 0);
	assert_true(d1.id > d3.id);

	/* Tag ids grow too. */
	struct rfs_tag t1, t2;
	add_tag(f, "x", "v1", D1, 1, &t1);
	add_tag(f, "x", "v2", D1, 1, &t2);
	assert_true(t2.id > t1.id);
}

static void test_list_sorted_and_stop(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir d;
	struct names c;

	add_tag(f, "org/zeta", "b", D1, 1, NULL);
	add_tag(f, "org/zeta", "c", D1, 1, NULL);
	add_tag(f, "org/zeta", "a", D2, 1, NULL);
	add_tag(f, "org/alpha", "v2", D2, 1, NULL);
	add_tag(f, "org/alpha", "v1", D3, 1, NULL);
	add_tag(f, "mid", "x", D1, 1, NULL);
	assert_int_equal(rfs_catalog_dir_ensure(f->cat, "org/beta", &d, &err),
			 0);

	/* Directories under org, by name; sealed_only hides beta. */
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org", &d), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    rfs_catalog_list_dirs(f->cat, d.id, false, collect_dir, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.items[0], "alpha");
	assert_string_equal(c.items[1], "beta");
	assert_string_equal(c.items[2], "zeta");
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    rfs_catalog_list_dirs(f->cat, d.id, true, collect_dir, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.items[0], "alpha");
	assert_string_equal(c.items[1], "zeta");

	/* Top level. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    rfs_catalog_list_dirs(f->cat, 0, true, collect_dir, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.items[0], "mid");
	assert_string_equal(c.items[1], "org");

	/* Stop early: the callback's value comes back. */
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(
	    rfs_catalog_list_dirs(f->cat, d.id, false, collect_dir, &c), 42);
	assert_int_equal(c.n, 1);

	/* All tags, by repository then tag. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rfs_catalog_list_tags(f->cat, NULL, collect_tag, &c),
			 0);
	assert_int_equal(c.n, 6);
	assert_string_equal(c.items[0], "mid:x");
	assert_string_equal(c.items[1], "org/alpha:v1");
	assert_string_equal(c.items[2], "org/alpha:v2");
	assert_string_equal(c.items[3], "org/zeta:a");
	assert_string_equal(c.items[4], "org/zeta:b");
	assert_string_equal(c.items[5], "org/zeta:c");

	/* One repository. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    rfs_catalog_list_tags(f->cat, "org/zeta", collect_tag, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.items[0], "org/zeta:a");
	assert_string_equal(c.items[2], "org/zeta:c");
	/* "org" holds no tags itself. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rfs_catalog_list_tags(f->cat, "org", collect_tag, &c),
			 0);
	assert_int_equal(c.n, 0);

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(rfs_catalog_list_tags(f->cat, NULL, collect_tag, &c),
			 7);
	assert_int_equal(c.n, 2);

	/* Tags in one directory. */
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/zeta", &d), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(
	    rfs_catalog_list_tags_in_dir(f->cat, d.id, collect_tag, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.items[0], "org/zeta:a");
	assert_string_equal(c.items[1], "org/zeta:b");
	assert_string_equal(c.items[2], "org/zeta:c");
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(
	    rfs_catalog_list_tags_in_dir(f->cat, d.id, collect_tag, &c), 7);
	assert_int_equal(c.n, 1);
}

static void test_blobs(void **state)
{
	struct fixture *f = *state;
	struct rfs_blob b;
	struct names c;

	add_tag(f, "app", "v1", D2, 200, NULL);
	add_tag(f, "app", "v2", D1, 100, NULL);
	add_tag(f, "other", "v1", D1, 100, NULL);

	assert_int_equal(rfs_catalog_blob_get(f->cat, D1, &b), 0);
	assert_string_equal(b.digest, D1);
	assert_int_equal(b.size, 100);
	assert_int_equal(b.refs, 2);
	assert_true(b.created_ns > 0);
	assert_int_equal(rfs_catalog_blob_get(f->cat, D2, &b), 0);
	assert_int_equal(b.size, 200);
	assert_int_equal(b.refs, 1);

	memset(&c, 0, sizeof(c));
	assert_int_equal(rfs_catalog_list_blobs(f->cat, collect_blob, &c), 0);
	assert_int_equal(c.n, 2);
	/* Ordered by digest. */
	assert_string_equal(c.items[0], D1 " 2");
	assert_string_equal(c.items[1], D2 " 1");

	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(rfs_catalog_list_blobs(f->cat, collect_blob, &c), 9);
	assert_int_equal(c.n, 1);
}

static void test_reopen_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t1, t;
	struct rfs_dir d, unsealed, d2;
	struct rfs_blob b;

	add_tag(f, "org/app", "v1", D1, 42, &t1);
	assert_int_equal(
	    rfs_catalog_dir_ensure(f->cat, "org/wip", &unsealed, &err), 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/app", &d), 0);

	reopen(f);

	assert_int_equal(rfs_catalog_tag_get(f->cat, "org/app", "v1", &t), 0);
	assert_int_equal(t.id, t1.id);
	assert_int_equal(t.dir, t1.dir);
	assert_string_equal(t.digest, D1);
	assert_int_equal(t.size, 42);
	assert_int_equal(t.created_ns, t1.created_ns);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/app", &d2), 0);
	assert_int_equal(d2.id, d.id);
	assert_true(d2.sealed);
	assert_int_equal(d2.created_ns, d.created_ns);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/wip", &d2), 0);
	assert_int_equal(d2.id, unsealed.id);
	assert_false(d2.sealed);
	assert_int_equal(rfs_catalog_blob_get(f->cat, D1, &b), 0);
	assert_int_equal(b.refs, 1);
	assert_int_equal(b.size, 42);
}

static void test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *other = NULL;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	/* The daemon and regctl may open the same file. */
	assert_int_equal(rfs_catalog_open(f->db, false, &other, &err), 0);
	add_tag(f, "app", "v1", D1, 1, NULL);
	assert_int_equal(rfs_catalog_tag_get(other, "app", "v1", &t), 0);
	assert_int_equal(rfs_catalog_add_tag(other, "app", "v1", D2, 1,
					     rfs_now_ns(), &t, &err),
			 -EEXIST);
	assert_int_equal(rfs_catalog_add_tag(other, "app", "v2", D2, 1,
					     rfs_now_ns(), &t, &err),
			 0);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "v2", &t), 0);
	rfs_catalog_close(&other);
	assert_null(other);
}

static void test_dir_remove(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir sealed, parent, child, d;

	add_tag(f, "org/app", "v1", D1, 1, NULL);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "org/app", &sealed),
			 0);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, sealed.id), -EBUSY);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, sealed.id, &d), 0);

	assert_int_equal(
	    rfs_catalog_dir_ensure(f->cat, "wip/sub", &child, &err), 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "wip", &parent), 0);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, parent.id), -ENOTEMPTY);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, parent.id, &d), 0);

	assert_int_equal(rfs_catalog_dir_remove(f->cat, child.id), 0);
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, child.id, &d), -ENOENT);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, parent.id), 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "wip", &d), -ENOENT);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, parent.id), -ENOENT);

	/* An unsealed directory below a sealed one can go. */
	assert_int_equal(
	    rfs_catalog_dir_ensure(f->cat, "org/app/sub", &child, &err), 0);
	assert_int_equal(rfs_catalog_dir_remove(f->cat, child.id), 0);
}

static void test_transaction(void **state)
{
	struct fixture *f = *state;
	struct names c;
	char tag[16];

	assert_int_equal(rfs_catalog_begin(f->cat), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(tag, sizeof(tag), "t%02d", i);
		add_tag(f, "bulk", tag, D1, 5, NULL);
	}
	assert_int_equal(rfs_catalog_commit(f->cat), 0);

	reopen(f);
	memset(&c, 0, sizeof(c));
	assert_int_equal(rfs_catalog_list_tags(f->cat, "bulk", collect_tag, &c),
			 0);
	assert_int_equal(c.n, 20);
	assert_string_equal(c.items[0], "bulk:t00");
	assert_string_equal(c.items[19], "bulk:t19");
	struct rfs_blob b;
	assert_int_equal(rfs_catalog_blob_get(f->cat, D1, &b), 0);
	assert_int_equal(b.refs, 20);
}

static void test_case_and_created(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	struct names c;

	/* Tags are case-sensitive: V1 and v1 are two tags. */
	add_tag(f, "app", "v1", D1, 1, NULL);
	add_tag(f, "app", "V1", D2, 2, NULL);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "V1", &t), 0);
	assert_string_equal(t.digest, D2);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "v1", &t), 0);
	assert_string_equal(t.digest, D1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(rfs_catalog_list_tags(f->cat, "app", collect_tag, &c),
			 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.items[0], "app:V1");
	assert_string_equal(c.items[1], "app:v1");

	/* The seal time is the one given. */
	assert_int_equal(rfs_catalog_add_tag(f->cat, "app", "old", D3, 3,
					     INT64_C(1000000000123), &t, &err),
			 0);
	assert_int_equal(t.created_ns, INT64_C(1000000000123));
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "old", &t), 0);
	assert_int_equal(t.created_ns, INT64_C(1000000000123));
}

static void test_now_ns(void **state)
{
	(void)state;
	int64_t a = rfs_now_ns();
	int64_t b = rfs_now_ns();
	/* Wall-clock nanoseconds since the epoch (after 2020). */
	assert_true(a > 1577836800LL * 1000000000LL);
	assert_true(b >= a);
}
/* A tag keeps the executable bit and the mtime its publisher set; only
 * 0644 and 0755 are shown, and set-id bits never stored. */
static void test_tag_attrs(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag_meta meta = { .attrs = { .set_mode = true,
						.mode = 04750,
						.set_mtime = true,
						.mtime_ns =
						    981173106123456789 } };
	struct rfs_file_attrs late = { .set_mode = true, .mode = 0600 };
	struct rfs_tag t;

	assert_int_equal(rfs_tag_mode(0), 0644);
	assert_int_equal(rfs_tag_mode(0600), 0644);
	assert_int_equal(rfs_tag_mode(06644), 0644);
	assert_int_equal(rfs_tag_mode(0100), 0755);
	assert_int_equal(rfs_tag_mode(04711), 0755);

	add_tag(f, "app", "plain", D1, 10, &t);
	assert_int_equal(t.mode, 0644);
	assert_true(t.mtime_ns == t.created_ns);

	assert_int_equal(rfs_catalog_add_tag_meta(f->cat, "app", "exe", D2, 20,
						  1000, &meta, &t, &err),
			 0);
	assert_int_equal(t.mode, 0755);
	assert_true(t.mtime_ns == 981173106123456789);
	assert_true(t.created_ns == 1000);

	/* A later change: only what is set moves. */
	assert_int_equal(rfs_catalog_tag_set_attrs(f->cat, t.id, &late, &t), 0);
	assert_int_equal(t.mode, 0644);
	assert_true(t.mtime_ns == 981173106123456789);
	reopen(f);
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "exe", &t), 0);
	assert_int_equal(t.mode, 0644);
	assert_true(t.mtime_ns == 981173106123456789);
}

/* A catalog of schema 3 (before modes) opens as the newest schema: its tags are
 * 0644, dated by their seal. */
static void test_migrate_to_modes(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t;
	char buf[8];
	sqlite3 *db;

	add_tag(f, "app", "old", D1, 10, NULL);
	rfs_catalog_close(&f->cat);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
			 "ALTER TABLE tags DROP COLUMN mode;"
			 "ALTER TABLE tags DROP COLUMN mtime_ns;"
			 "ALTER TABLE retired_tags DROP COLUMN mode;"
			 "ALTER TABLE retired_tags DROP COLUMN mtime_ns;"
			 "UPDATE meta SET value = '3' WHERE key = 'schema';",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	reopen(f);
	assert_int_equal(
	    rfs_catalog_setting_get(f->cat, "schema", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "8"); /* the newest */
	assert_int_equal(rfs_catalog_tag_get(f->cat, "app", "old", &t), 0);
	assert_int_equal(t.mode, 0644);
	assert_true(t.mtime_ns == t.created_ns);
}

/* Plan runs: a run, its host-steps (added, then replaced), newest first. */
static int count_run(void *ctx, const struct rfs_run_record *r)
{
	char *seen = ctx;

	strcat(seen, r->id);
	strcat(seen, " ");
	return 0;
}

static int count_step(void *ctx, const struct rfs_run_step *st)
{
	char *seen = ctx;
	char one[600];

	snprintf(one, sizeof(one), "%d:%s:%s ", st->step, st->host, st->status);
	strcat(seen, one);
	return 0;
}

static void test_plan_runs(void **state)
{
	struct fixture *f = *state;
	struct rfs_run_record r = { .id = "run-1",
				    .plan = "release",
				    .file_hash = D1,
				    .started_ns = 100,
				    .status = "running",
				    .pins = "{\"prod/app:v1\": \"" D2 "\"}" };
	struct rfs_run_step st = { .run = "run-1",
				   .step = 0,
				   .step_name = "canary",
				   .host = "web-a",
				   .status = "running" };
	struct rfs_run_record got;
	char seen[256] = "";

	assert_int_equal(rfs_catalog_run_add(f->cat, &r), 0);
	assert_int_equal(rfs_catalog_run_add(f->cat, &r), -EEXIST);
	strcpy(r.id, "run-2");
	r.started_ns = 200;
	assert_int_equal(rfs_catalog_run_add(f->cat, &r), 0);
	assert_int_equal(
	    rfs_catalog_list_runs(f->cat, "release", count_run, seen), 0);
	assert_string_equal(seen, "run-2 run-1 ");
	seen[0] = '\0';
	assert_int_equal(
	    rfs_catalog_list_runs(f->cat, "other", count_run, seen), 0);
	assert_string_equal(seen, "");

	assert_int_equal(rfs_catalog_run_step_set(f->cat, &st), 0);
	strcpy(st.host, "web-b");
	assert_int_equal(rfs_catalog_run_step_set(f->cat, &st), 0);
	strcpy(st.host, "web-a");
	strcpy(st.status, "done");
	st.exit_code = 0;
	assert_int_equal(rfs_catalog_run_step_set(f->cat, &st), 0);
	assert_int_equal(
	    rfs_catalog_list_run_steps(f->cat, "run-1", count_step, seen), 0);
	assert_string_equal(seen, "0:web-a:done 0:web-b:running ");

	assert_int_equal(
	    rfs_catalog_run_finish(f->cat, "run-1", "failed", 1, 300), 0);
	reopen(f);
	assert_int_equal(rfs_catalog_run_get(f->cat, "run-1", &got), 0);
	assert_string_equal(got.status, "failed");
	assert_int_equal(got.exit_code, 1);
	assert_true(got.ended_ns == 300);
	assert_string_equal(got.pins, "{\"prod/app:v1\": \"" D2 "\"}");
	assert_string_equal(got.args, "{}");
	rfs_run_record_release(&got);
	assert_int_equal(rfs_catalog_run_restart(f->cat, "run-1"), 0);
	assert_int_equal(rfs_catalog_run_get(f->cat, "run-1", &got), 0);
	assert_string_equal(got.status, "running");
	rfs_run_record_release(&got);
	assert_int_equal(rfs_catalog_run_get(f->cat, "nope", &got), -ENOENT);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_schema),
		T(test_settings),
		T(test_export_ids),
		T(test_open_bad_path),
		T(test_add_tag_creates_dirs),
		T(test_not_found),
		T(test_add_tag_invalid),
		T(test_duplicate_tag),
		T(test_tag_vs_dir_names),
		T(test_dir_ensure),
		T(test_ids_never_reused),
		T(test_list_sorted_and_stop),
		T(test_blobs),
		T(test_reopen_keeps_everything),
		T(test_two_handles),
		T(test_dir_remove),
		T(test_transaction),
		T(test_case_and_created),
		T(test_tag_attrs),
		T(test_migrate_to_modes),
		T(test_plan_runs),
		cmocka_unit_test(test_now_ns),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
