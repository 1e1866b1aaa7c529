/*
 * test-store-mistakes.c - unit tests of what core does about an operator's
 * mistakes with a store (issue 15): a catalog deleted or replaced under an
 * open store (every write refused, EROFS, a rescued copy that holds every
 * tag), no catalog made over existing blobs, a damaged catalog told in one
 * message without SQL, fsck's unrecorded blobs of a catalog made anew, gc's
 * share limit, and rfs_path_within (a store inside its mount point).
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
#include "files.h"
#include "fsck.h"
#include "gc.h"
#include "seal.h"
#include "store.h"
#include "tmptree.h"

struct fixture {
	char root[64];
	char path[256];
	struct rfs_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-mistakes-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	if (rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err) != 0) {
		fprintf(stderr, "rfs_store_open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_store_close(&f->store);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

static const char *at(struct fixture *f, const char *rel)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->root, rel);
	return f->path;
}

/* rename(2) of two paths in the store (at() has one buffer). */
static int move(struct fixture *f, const char *from, const char *to)
{
	char a[256], b[256];

	snprintf(a, sizeof(a), "%s/%s", f->root, from);
	snprintf(b, sizeof(b), "%s/%s", f->root, to);
	return rename(a, b);
}

static int publish(struct rfs_store *store, const char *tag, const char *data,
		   struct rfs_error *err)
{
	struct rfs_seal *seal = NULL;
	int rc = rfs_seal_begin(store, &seal, err);

	if (!rc && rfs_seal_write(seal, data, strlen(data), 0, err) < 0)
		rc = err->code ? err->code : -EIO;
	if (!rc)
		rc = rfs_seal_commit(seal, "app", tag, NULL, NULL, err);
	rfs_seal_free(&seal);
	return rc;
}

static void publish_ok(struct fixture *f, const char *tag, const char *data)
{
	struct rfs_error err = { 0 };

	if (publish(f->store, tag, data, &err) != 0)
		fail_msg("publish %s: %s", tag, err.msg);
}

static int count_tags(void *ctx, const struct rfs_tag *tag)
{
	(void)tag;
	(*(int *)ctx)++;
	return 0;
}

static void test_catalog_deleted(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	struct rfs_catalog *copy = NULL;
	struct rfs_error err = { 0 };
	char rescued[512];
	int n = 0;

	publish_ok(f, "v1", "one\n");
	publish_ok(f, "v2", "two\n");
	assert_int_equal(rfs_catalog_check_file(cat, NULL), 0);
	assert_int_equal(unlink(at(f, "catalog.db")), 0);

	assert_int_equal(rfs_catalog_check_file(cat, &err), -EROFS);
	assert_non_null(strstr(err.msg, "was deleted while in use"));
	/* A seal is refused from its start, and any write transaction. */
	assert_int_equal(publish(f->store, "v3", "three\n", &err), -EROFS);
	assert_int_equal(rfs_catalog_remove_tag(cat, "app", "v1", &err),
			 -EROFS);
	assert_int_equal(rfs_catalog_tag_get(cat, "app", "v1", NULL), 0);
	/* What the lost file holds, copied beside it. */
	assert_int_equal(
	    rfs_catalog_rescue(cat, rescued, sizeof(rescued), &err), 0);
	assert_int_equal(rfs_catalog_open(rescued, true, &copy, &err), 0);
	assert_int_equal(rfs_catalog_list_tags(copy, NULL, count_tags, &n), 0);
	assert_int_equal(n, 2);
	rfs_catalog_close(&copy);
}

static void test_catalog_replaced(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	struct rfs_error err = { 0 };
	int fd;

	publish_ok(f, "v1", "one\n");
	assert_int_equal(move(f, "catalog.db", "old.db"), 0);
	fd = open(at(f, "catalog.db"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(publish(f->store, "v2", "two\n", &err), -EROFS);
	assert_non_null(strstr(err.msg, "replaced by another file"));
	/* Once lost, for good: moving it back does not make it safe. */
	assert_int_equal(move(f, "old.db", "catalog.db"), 0);
	assert_int_equal(rfs_catalog_check_file(cat, NULL), -EROFS);
}

static void test_no_catalog_over_blobs(void **state)
{
	struct fixture *f = *state;
	struct rfs_store *again = NULL;
	struct rfs_error err = { 0 };

	publish_ok(f, "v1", "one\n");
	rfs_store_close(&f->store);
	assert_int_equal(unlink(at(f, "catalog.db")), 0);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &again, &err), -ENOENT);
	assert_null(again);
	assert_non_null(strstr(err.msg, "has blobs but no catalog"));
	assert_int_equal(access(at(f, "catalog.db"), F_OK), -1);
	/* Commands that make no store say the same, not "not a store". */
	for (int ro = 0; ro < 2; ro++) {
		rfs_error_clear(&err);
		assert_int_equal(rfs_store_open(f->root,
						ro ? RFS_STORE_READONLY : 0,
						&again, &err),
				 -ENOENT);
		assert_non_null(strstr(err.msg, "has blobs but no catalog"));
	}
}

static void test_damaged_catalog(void **state)
{
	struct fixture *f = *state;
	struct rfs_store *again = NULL;
	struct rfs_error err = { 0 };
	int fd;

	publish_ok(f, "v1", "one\n");
	rfs_store_close(&f->store);
	fd = open(at(f, "catalog.db"), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not SQLite at all, not at all!!!", 32), 32);
	close(fd);
	for (int ro = 0; ro < 2; ro++) {
		rfs_error_clear(&err);
		assert_int_equal(rfs_store_open(f->root,
						ro ? RFS_STORE_READONLY : 0,
						&again, &err),
				 -EIO);
		assert_non_null(strstr(err.msg, "is damaged"));
		assert_non_null(strstr(err.msg, "regctl restore"));
		assert_null(strstr(err.msg, "CREATE"));
		assert_null(strstr(err.msg, "PRAGMA"));
	}
}

struct problems {
	int unrecorded, orphans;
};

static void on_problem(void *ctx, enum rfs_fsck_problem problem,
		       const char *digest, const char *detail)
{
	struct problems *p = ctx;

	(void)digest;
	(void)detail;
	if (problem == RFS_FSCK_UNRECORDED)
		p->unrecorded++;
	if (problem == RFS_FSCK_ORPHAN)
		p->orphans++;
}

static void test_fsck_unrecorded(void **state)
{
	struct fixture *f = *state;
	struct rfs_fsck_report report;
	struct rfs_error err = { 0 };
	struct problems p = { 0 };
	char fresh[128];

	publish_ok(f, "v1", "one\n");
	publish_ok(f, "v2", "two\n");
	assert_int_equal(rfs_fsck(f->store, on_problem, &p, &report, &err), 0);
	assert_int_equal(report.unrecorded, 0);
	/* A catalog made after the blobs (later than the slack fsck allows
	 * file times), in their store's place. */
	rfs_store_close(&f->store);
	usleep(150 * 1000);
	snprintf(fresh, sizeof(fresh), "%s/fresh", f->root);
	assert_int_equal(
	    rfs_store_open(fresh, RFS_STORE_CREATE, &f->store, &err), 0);
	rfs_store_close(&f->store);
	assert_int_equal(unlink(at(f, "catalog.db")), 0);
	assert_int_equal(move(f, "fresh/catalog.db", "catalog.db"), 0);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_READONLY, &f->store, &err), 0);
	assert_int_equal(rfs_fsck(f->store, on_problem, &p, &report, &err), 0);
	assert_int_equal(report.unrecorded, 2);
	assert_int_equal(p.unrecorded, 2);
	assert_int_equal(p.orphans, 0);
}

static void test_fsck_new_orphan_is_not_unrecorded(void **state)
{
	struct fixture *f = *state;
	struct rfs_fsck_report report;
	struct rfs_error err = { 0 };
	struct problems p = { 0 };
	int fd;

	publish_ok(f, "v1", "one\n");
	/* What a crash between storing a blob and its commit leaves. */
	fd = open(at(f, "blobs/sha256/"
			"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85"
			"d299a192a447"),
		  O_WRONLY | O_CREAT, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello world\n", 12), 12);
	close(fd);
	assert_int_equal(rfs_fsck(f->store, on_problem, &p, &report, &err), 0);
	assert_int_equal(report.unrecorded, 0);
	assert_int_equal(report.orphans, 1);
}

static void test_gc_share(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	struct rfs_gc_options opts = { .max_share = 50 };
	struct rfs_gc_report report;
	struct rfs_error err = { 0 };
	const char *const tags[] = { "v1", "v2", "v3", "v4" };

	for (int i = 0; i < 4; i++)
		publish_ok(f, tags[i], tags[i]);
	assert_int_equal(rfs_catalog_remove_tag(cat, "app", "v1", NULL), 0);
	assert_int_equal(rfs_catalog_remove_tag(cat, "app", "v2", NULL), 0);
	assert_int_equal(rfs_catalog_remove_tag(cat, "app", "v3", NULL), 0);
	/* 3 of 4: too many, nothing removed, also in a dry run. */
	assert_int_equal(
	    rfs_gc_with(f->store, &opts, NULL, NULL, &report, &err), -EPERM);
	assert_non_null(strstr(err.msg, "would remove 3 of the store's 4"));
	assert_int_equal(report.blobs_removed, 0);
	opts.dry_run = true;
	assert_int_equal(
	    rfs_gc_with(f->store, &opts, NULL, NULL, &report, &err), -EPERM);
	assert_int_equal(report.blobs_removed, 3);
	opts.dry_run = false;
	opts.max_share = 75;
	assert_int_equal(
	    rfs_gc_with(f->store, &opts, NULL, NULL, &report, &err), 0);
	assert_int_equal(report.blobs_removed, 3);
	assert_int_equal(report.blobs_total, 4);
}

static void test_path_within(void **state)
{
	struct fixture *f = *state;
	char mnt[128], inside[160], beside[160], link[160];

	snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
	snprintf(inside, sizeof(inside), "%s/mnt/a/b/store", f->root);
	snprintf(beside, sizeof(beside), "%s/mntx/store", f->root);
	snprintf(link, sizeof(link), "%s/link/store", f->root);
	assert_int_equal(mkdir(mnt, 0755), 0);
	assert_int_equal(rfs_path_within(mnt, mnt), 1);
	assert_int_equal(rfs_path_within(inside, mnt), 1);
	assert_int_equal(rfs_path_within(beside, mnt), 0);
	assert_int_equal(rfs_path_within(f->root, mnt), 0);
	assert_int_equal(symlink(mnt, at(f, "link")), 0);
	assert_int_equal(rfs_path_within(link, mnt), 1);
	assert_int_equal(rfs_path_within(inside, at(f, "nothing")), -ENOENT);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_catalog_deleted),
		T(test_catalog_replaced),
		T(test_no_catalog_over_blobs),
		T(test_damaged_catalog),
		T(test_fsck_unrecorded),
		T(test_fsck_new_orphan_is_not_unrecorded),
		T(test_gc_share),
		T(test_path_within),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
