/*
 * test-incoming-limits.c - what hostile or careless writers of incoming/
 * cannot do to the daemon (issue 15): hold a descriptor per abandoned
 * staged file, make every create scan every staged file, leave checksum
 * files behind, or have two digests for one tag.
 */
#include <dirent.h>
#include <errno.h>
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

#include "catalog.h"
#include "incoming.h"
#include "pending.h"
#include "store.h"
#include "tmptree.h"

#define HELLO "hello world\n"
#define HEX_HELLO \
	"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define HEX_OTHER \
	"d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

struct fixture {
	char root[64];
	struct rfs_store *store;
	struct rfs_incoming *inc;
	struct rfs_dir app;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-limits-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	if (rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err) != 0 ||
	    rfs_incoming_new(f->store, NULL, &f->inc) != 0 ||
	    rfs_incoming_mkdir(f->inc, 0, "app", &f->app, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_incoming_free(&f->inc);
	rfs_store_close(&f->store);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

static int open_fds(void)
{
	return count_entries("/proc/self/fd");
}

static int64_t create(struct fixture *f, const char *name)
{
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	int rc =
	    rfs_incoming_create(f->inc, f->app.id, name, 0644, &info, &err);

	if (rc)
		fail_msg("create '%s': %d %s", name, rc, err.msg);
	return info.id;
}

static void wr(struct fixture *f, int64_t id, const char *s)
{
	struct rfs_error err = { 0 };

	assert_int_equal(rfs_incoming_write(f->inc, id, s, strlen(s), 0, &err),
			 (ssize_t)strlen(s));
}

/* close() of the only writer: flush, then release. */
static int close_writer(struct fixture *f, int64_t id, struct rfs_error *err)
{
	int rc = rfs_incoming_flush(f->inc, id, true, RFS_CLOSER_DONE, getpid(),
				    NULL, NULL, err);

	assert_int_equal(rfs_incoming_release(f->inc, id, true, NULL, NULL), 0);
	return rc;
}

static bool staged(struct fixture *f, const char *name)
{
	struct rfs_staged_info info;

	return rfs_incoming_lookup(f->inc, f->app.id, name, &info) == 0;
}

/* Abandoned temporaries hold no descriptor, yet keep their bytes: they can
 * be read, written again and sealed by a rename. */
static void test_idle_files_hold_no_descriptor(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag tag;
	char name[32], buf[32];
	int64_t ids[500];
	int before = open_fds();

	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), ".t%d", i);
		ids[i] = create(f, name);
		wr(f, ids[i], HELLO);
		assert_int_equal(close_writer(f, ids[i], &err), 0);
	}
	/* One more for the park folder's lock at most. */
	assert_true(open_fds() <= before + 1);

	assert_int_equal(rfs_incoming_open(f->inc, ids[7], false, &err), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rfs_incoming_read(f->inc, ids[7], buf, sizeof(buf), 0),
			 (ssize_t)strlen(HELLO));
	assert_string_equal(buf, HELLO);
	assert_int_equal(
	    rfs_incoming_release(f->inc, ids[7], false, NULL, NULL), 0);
	assert_true(open_fds() <= before + 1);

	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".t7",
					     f->app.id, "v7", 0, getpid(), &tag,
					     &err),
			 0);
	assert_string_equal(tag.digest, "sha256:" HEX_HELLO);
	assert_int_equal(tag.size, strlen(HELLO));
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), ".t%d", i);
		assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, name),
				 i == 7 ? -ENOENT : 0);
	}
	assert_true(open_fds() <= before + 1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Looking up, stating and removing staged files costs the same with
 * 20 000 of them as with 1000: the staging table is indexed, not scanned
 * (20 000 creates took 21 s). Compared with itself, so a slow machine
 * passes; a scan makes the second round 20 times the first. */
static double lookup_round(struct fixture *f, int64_t id)
{
	struct rfs_staged_info info;
	double t0 = now_s();

	for (int i = 0; i < 20000; i++) {
		assert_int_equal(
		    rfs_incoming_lookup(f->inc, f->app.id, ".missing", &info),
		    -ENOENT);
		assert_int_equal(rfs_incoming_stat(f->inc, id, &info), 0);
	}
	return now_s() - t0;
}

static void test_index_scales(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	char name[32];
	double small, big;
	int64_t first = 0;
	const int n = 20000;

	rfs_incoming_set_max_files(f->inc, n);
	for (int i = 0; i < n; i++) {
		int64_t id;

		snprintf(name, sizeof(name), ".x%d", i);
		id = create(f, name);
		assert_int_equal(close_writer(f, id, &err), 0);
		if (i == 0)
			first = id;
		if (i == 999)
			small = lookup_round(f, first);
	}
	big = lookup_round(f, first);
	if (big > 5 * small + 0.05)
		fail_msg("40 000 lookups took %.3f s among %d staged files, "
			 "%.3f s among 1000",
			 big, n, small);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), ".x%d", i);
		assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, name),
				 0);
	}
}

/* Two lines naming the tag with different digests: which one was meant
 * cannot be known, so the tag is refused (EBADMSG) with a reason, and the
 * checksum file goes with the failed seal. The same digest twice is fine. */
static void test_sidecar_two_digests(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	char d[RFS_DIGEST_STR_MAX + 1];
	const char *why = NULL;
	int64_t id;

	assert_int_equal(rfs_sidecar_parse_why(HEX_HELLO "  v1\n" HEX_OTHER
							 "  v1\n",
					       138, "v1", d, &why),
			 -EINVAL);
	assert_non_null(strstr(why, "different digests"));
	assert_int_equal(rfs_sidecar_parse(HEX_HELLO "  v1\n" HEX_OTHER
						     "  v1\n",
					   138, "v1", d),
			 -EINVAL);
	assert_int_equal(rfs_sidecar_parse(HEX_HELLO "  v1\n" HEX_OTHER
						     "  v2\n" HEX_HELLO
						     "  ./v1\n",
					   3 * 69 + 2, "v1", d),
			 0);

	id = create(f, "v1.sha256");
	wr(f, id, HEX_OTHER "  v1\n" HEX_HELLO "  v1\n");
	assert_int_equal(close_writer(f, id, &err), 0);
	id = create(f, "v1");
	wr(f, id, HELLO);
	assert_int_equal(close_writer(f, id, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "v1.sha256"));
	assert_non_null(strstr(err.msg, "different digests"));
	assert_false(staged(f, "v1"));
	assert_false(staged(f, "v1.sha256"));
}

/* A malformed checksum file fails the tag's close with EBADMSG and says
 * why; neither file is left in incoming/. */
static void test_sidecar_malformed(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	int64_t id;

	id = create(f, "v2.sha256");
	wr(f, id, "not a digest\n");
	assert_int_equal(close_writer(f, id, &err), 0);
	id = create(f, "v2");
	wr(f, id, HELLO);
	assert_int_equal(close_writer(f, id, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "v2.sha256"));
	assert_non_null(strstr(err.msg, "64 hex digits"));
	assert_false(staged(f, "v2"));
	assert_false(staged(f, "v2.sha256"));
}

/* A checksum file for a tag sealed already could never be used: refused
 * when created, instead of staying in incoming/ for ever. */
static void test_sidecar_for_existing_tag(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	int64_t id;

	id = create(f, "v3");
	wr(f, id, HELLO);
	assert_int_equal(close_writer(f, id, &err), 0);
	assert_int_equal(rfs_incoming_create(f->inc, f->app.id, "v3.sha256",
					     0644, &info, &err),
			 -EEXIST);
	assert_non_null(strstr(err.msg, "app:v3"));
	assert_false(staged(f, "v3.sha256"));
}

static int create_as(struct fixture *f, const char *name, uid_t uid,
		     struct rfs_error *err)
{
	struct rfs_staged_info info;
	int rc = rfs_incoming_create_by(f->inc, f->app.id, name, 0644, uid,
					&info, err);

	if (rc == 0)
		assert_int_equal(
		    rfs_incoming_release(f->inc, info.id, true, NULL, NULL), 0);
	return rc;
}

/* Each user may have incoming_max_files staged files: one more is EDQUOT,
 * with a message; other users are not hindered; sealing or removing one
 * makes room. */
static void test_max_files_per_user(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };

	rfs_incoming_set_max_files(f->inc, 3);
	assert_int_equal(create_as(f, ".a", 1000, &err), 0);
	assert_int_equal(create_as(f, ".b", 1000, &err), 0);
	assert_int_equal(create_as(f, ".c", 1000, &err), 0);
	assert_int_equal(create_as(f, ".d", 1000, &err), -EDQUOT);
	assert_non_null(strstr(err.msg, "user 1000 has 3 files staged"));
	assert_non_null(strstr(err.msg, "incoming_max_files"));
	assert_false(staged(f, ".d"));
	assert_int_equal(create_as(f, ".e", 1001, &err), 0);

	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, ".a"), 0);
	assert_int_equal(create_as(f, ".d", 1000, &err), 0);
	assert_int_equal(create_as(f, ".f", 1000, &err), -EDQUOT);
	/* A seal by rename: the temporary is a tag now, not staged. */
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".b", f->app.id,
					     "v1", 0, getpid(), NULL, &err),
			 0);
	assert_int_equal(create_as(f, ".f", 1000, &err), 0);
}

/* A top-level name looked up is a pending folder: no catalog row until
 * something is made in it, kept while the kernel holds it. */
static void test_pending_folders(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	struct rfs_error err = { 0 };
	struct rfs_pending *p = NULL;
	struct rfs_dir d;
	int64_t a, a2, b;

	assert_int_equal(rfs_pending_new(f->store, 100, &p), 0);
	assert_int_equal(rfs_pending_lookup(p, "newrepo", &a), 0);
	assert_int_equal(rfs_pending_lookup(p, "newrepo", &a2), 0);
	assert_int_equal(a, a2);
	assert_true(a >= 100);
	assert_int_equal(rfs_pending_lookup(p, "other", &b), 0);
	assert_true(b != a);
	assert_int_equal(rfs_pending_lookup(p, "Bad", &b), -EINVAL);
	assert_int_equal(rfs_pending_count(p), 2);

	/* Looking makes nothing. */
	assert_int_equal(rfs_pending_resolve(p, a, false, &d, &err), 1);
	assert_int_equal(rfs_catalog_dir_by_path(cat, "newrepo", &d), -ENOENT);
	/* The first thing made in it makes it. */
	assert_int_equal(rfs_pending_resolve(p, a, true, &d, &err), 0);
	assert_string_equal(d.path, "newrepo");
	assert_int_equal(rfs_catalog_dir_by_path(cat, "newrepo", &d), 0);
	/* Made by someone else (mkdir through another name's path). */
	assert_int_equal(rfs_incoming_mkdir(f->inc, 0, "other", &d, &err), 0);
	assert_int_equal(rfs_pending_resolve(p, b, false, &d, &err), 0);
	assert_string_equal(d.path, "other");

	/* Kept while looked up: two lookups of a, one of "other". */
	rfs_pending_forget(p, a, 1);
	assert_int_equal(rfs_pending_resolve(p, a, false, &d, &err), 0);
	rfs_pending_forget(p, a, 1);
	assert_int_equal(rfs_pending_resolve(p, a, false, &d, &err), -ENOENT);
	assert_int_equal(rfs_pending_ref(p, b), 0);
	rfs_pending_forget(p, b, 2);
	assert_int_equal(rfs_pending_count(p), 0);
	assert_int_equal(rfs_pending_ref(p, b), -ENOENT);
	rfs_pending_free(&p);
	assert_null(p);
	rfs_pending_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_idle_files_hold_no_descriptor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_scales, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sidecar_two_digests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sidecar_malformed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sidecar_for_existing_tag,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_files_per_user, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_folders, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
