/*
 * test-backup.c - unit tests of backup.h and rfs_catalog_copy() on stores in
 * a temporary folder: a backup is a store with the same tags, linked or
 * copied; a second one brings it up to date; a blob that fails leaves the
 * destination as it was; fetched blobs not in the store are absent in the
 * copy; the generation goes; what a restore refuses; catalogs of another
 * page size.
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
#include <sqlite3.h>

#include "backup.h"
#include "catalog.h"
#include "digest.h"
#include "fsck.h"
#include "seal.h"
#include "store.h"
#include "tmptree.h"

struct fixture {
	char root[64];
	char src[96], dst[96];
	char path[256];
	struct rfs_store *store; /* the source, open read-write */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-backup-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->src, sizeof(f->src), "%s/src", f->root);
	snprintf(f->dst, sizeof(f->dst), "%s/dst", f->root);
	if (rfs_store_open(f->src, RFS_STORE_CREATE, &f->store, &err) != 0) {
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

static const char *at(struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *at(struct fixture *f, const char *fmt, ...)
{
	char rel[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(f->path, sizeof(f->path), "%s/%s", f->root, rel);
	return f->path;
}

/* Seal len bytes of content made from seed as repo:tag; its digest in
 * digest. */
static void publish(struct fixture *f, const char *repo, const char *tag,
		    size_t len, unsigned seed,
		    char digest[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_error err = { 0 };
	struct rfs_seal *seal = NULL;
	unsigned char *buf = malloc(len ? len : 1);
	struct rfs_tag t;

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
	assert_int_equal(rfs_seal_begin(f->store, &seal, &err), 0);
	assert_int_equal(rfs_seal_write(seal, buf, len, 0, &err), (ssize_t)len);
	if (rfs_seal_commit(seal, repo, tag, NULL, &t, &err))
		fail_msg("commit %s:%s: %s", repo, tag, err.msg);
	rfs_seal_free(&seal);
	free(buf);
	if (digest)
		memcpy(digest, t.digest, sizeof(t.digest));
}

struct events {
	int n[RFS_BACKUP_FAILED + 1];
	char failure[RFS_ERROR_MSG_MAX];
};

static void on_event(void *ctx, enum rfs_backup_event ev, const char *digest,
		     uint64_t size, const char *detail)
{
	struct events *e = ctx;

	(void)size;
	assert_true(rfs_digest_valid(digest));
	e->n[ev]++;
	if (ev == RFS_BACKUP_FAILED)
		snprintf(e->failure, sizeof(e->failure), "%s", detail);
}

static int backup(struct fixture *f, const char *dest, bool copy,
		  struct events *ev, struct rfs_backup_report *r,
		  struct rfs_error *err)
{
	struct rfs_backup_options o = {
		.copy = copy,
		.fn = on_event,
		.ctx = ev,
	};

	memset(ev, 0, sizeof(*ev));
	rfs_error_clear(err);
	return rfs_backup(f->store, dest, &o, r, err);
}

static void backup_ok(struct fixture *f, const char *dest, bool copy,
		      struct events *ev, struct rfs_backup_report *r)
{
	struct rfs_error err;
	int rc = backup(f, dest, copy, ev, r, &err);

	if (rc)
		fail_msg("backup into %s: %d %s", dest, rc, err.msg);
}

static struct rfs_store *open_ro(const char *path)
{
	struct rfs_store *s = NULL;
	struct rfs_error err = { 0 };

	if (rfs_store_open(path, RFS_STORE_READONLY, &s, &err))
		fail_msg("open %s: %s", path, err.msg);
	return s;
}

static void no_problem(void *ctx, enum rfs_fsck_problem p, const char *digest,
		       const char *detail)
{
	(void)ctx;
	fail_msg("fsck: problem %d on %s (%s)", (int)p, digest,
		 detail ? detail : "");
}

/* fsck finds nothing at all in the store at path, orphans included. */
static void assert_clean(const char *path)
{
	struct rfs_store *s = open_ro(path);
	struct rfs_fsck_report r;
	struct rfs_error err = { 0 };

	assert_int_equal(rfs_fsck(s, no_problem, NULL, &r, &err), 0);
	rfs_store_close(&s);
}

static void assert_tag(const char *store, const char *repo, const char *tag,
		       const char *digest)
{
	struct rfs_store *s = open_ro(store);
	struct rfs_tag t;

	assert_int_equal(
	    rfs_catalog_tag_get(rfs_store_catalog(s), repo, tag, &t), 0);
	assert_string_equal(t.digest, digest);
	rfs_store_close(&s);
}

static int tag_exists(const char *store, const char *repo, const char *tag)
{
	struct rfs_store *s = open_ro(store);
	int rc = rfs_catalog_tag_get(rfs_store_catalog(s), repo, tag, NULL);

	rfs_store_close(&s);
	return rc == 0;
}

static int setting(const char *store, const char *key, char *buf, size_t size)
{
	struct rfs_store *s = open_ro(store);
	int rc = rfs_catalog_setting_get(rfs_store_catalog(s), key, buf, size);

	rfs_store_close(&s);
	return rc;
}

static ino_t inode_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	return st.st_ino;
}

static void test_backup_links(void **state)
{
	struct fixture *f = *state;
	char a[RFS_DIGEST_STR_MAX + 1], b[RFS_DIGEST_STR_MAX + 1];
	char buf[PATH_MAX];
	struct rfs_backup_report r;
	struct events ev;
	uint32_t gen;
	int64_t mount;

	publish(f, "app", "v1", 100000, 1, a);
	publish(f, "app", "v2", 5000, 2, b);
	publish(f, "org/tool", "1.0", 100000, 1, NULL); /* a's content */
	assert_int_equal(
	    rfs_catalog_export_ids(rfs_store_catalog(f->store), &gen, &mount),
	    0);

	backup_ok(f, f->dst, false, &ev, &r);
	assert_int_equal(r.tags, 3);
	assert_int_equal(r.blobs, 2);
	assert_int_equal(r.bytes, 105000);
	assert_int_equal(r.linked, 2);
	assert_int_equal(ev.n[RFS_BACKUP_LINKED], 2);
	assert_int_equal(r.copied + r.kept + r.absent + r.removed + r.failed,
			 0);
	assert_true(r.snapshot_ns > 0);
	assert_tag(f->dst, "app", "v1", a);
	assert_tag(f->dst, "app", "v2", b);
	assert_tag(f->dst, "org/tool", "1.0", a);
	assert_clean(f->dst);
	{
		ino_t in_src =
		    inode_of(at(f, "src/blobs/sha256/%s", rfs_digest_hex(a)));

		assert_int_equal(in_src, inode_of(at(f, "dst/blobs/sha256/%s",
						     rfs_digest_hex(a))));
	}
	/* A copy is not the same catalog for NFS: no generation. */
	assert_int_equal(setting(f->dst, "generation", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(setting(f->dst, "backup.source", buf, sizeof(buf)), 0);
	assert_non_null(realpath(f->src, f->path));
	assert_string_equal(buf, f->path);
	assert_int_equal(count_entries(at(f, "dst/staging")), 0);
	/* The source keeps its own. */
	assert_int_equal(setting(f->src, "generation", buf, sizeof(buf)), 0);
}

static void test_incremental(void **state)
{
	struct fixture *f = *state;
	char a[RFS_DIGEST_STR_MAX + 1], b[RFS_DIGEST_STR_MAX + 1];
	char c[RFS_DIGEST_STR_MAX + 1];
	struct rfs_backup_report r;
	struct rfs_error err = { 0 };
	struct events ev;

	publish(f, "app", "v1", 3000, 1, a);
	publish(f, "app", "v2", 4000, 2, b);
	backup_ok(f, f->dst, true, &ev, &r);
	assert_int_equal(r.copied, 2);
	assert_int_equal(r.bytes_copied, 7000);

	/* v2 goes (its blob is garbage: not taken, removed from the copy),
	 * v3 comes. */
	assert_int_equal(rfs_catalog_remove_tag(rfs_store_catalog(f->store),
						"app", "v2", &err),
			 0);
	publish(f, "app", "v3", 6000, 3, c);
	backup_ok(f, f->dst, true, &ev, &r);
	assert_int_equal(r.tags, 2);
	assert_int_equal(r.kept, 1);
	assert_int_equal(r.copied, 1);
	assert_int_equal(r.removed, 1);
	assert_int_equal(ev.n[RFS_BACKUP_REMOVED], 1);
	assert_false(tag_exists(f->dst, "app", "v2"));
	assert_tag(f->dst, "app", "v3", c);
	assert_int_equal(count_entries(at(f, "dst/blobs/sha256")), 2);
	assert_clean(f->dst);

	/* A damaged copy in the destination (wrong size) is replaced; one
	 * of the right size is trusted, unless --verify. */
	{
		struct rfs_backup_options o = { .copy = true, .verify = true };
		char p[256];
		int fd;

		snprintf(p, sizeof(p), "%s",
			 at(f, "dst/blobs/sha256/%s", rfs_digest_hex(a)));
		chmod(p, 0644);
		fd = open(p, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, "XY", 2, 7), 2);
		close(fd);
		backup_ok(f, f->dst, true, &ev, &r);
		assert_int_equal(r.kept, 2); /* trusted by its size */
		assert_int_equal(rfs_backup(f->store, f->dst, &o, &r, &err), 0);
		assert_int_equal(r.kept, 1);
		assert_int_equal(r.copied, 1);
		assert_clean(f->dst);
	}
}

static void test_corrupt_source(void **state)
{
	struct fixture *f = *state;
	char a[RFS_DIGEST_STR_MAX + 1], b[RFS_DIGEST_STR_MAX + 1];
	struct rfs_backup_report r;
	struct rfs_error err;
	struct events ev;
	char p[256];
	int fd;

	publish(f, "app", "v1", 3000, 1, a);
	backup_ok(f, f->dst, true, &ev, &r);
	publish(f, "app", "v2", 4000, 2, b);
	snprintf(p, sizeof(p), "%s",
		 at(f, "src/blobs/sha256/%s", rfs_digest_hex(b)));
	chmod(p, 0644);
	fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XY", 2, 100), 2);
	close(fd);

	assert_int_equal(backup(f, f->dst, true, &ev, &r, &err), -EBADMSG);
	assert_int_equal(r.failed, 1);
	assert_int_equal(ev.n[RFS_BACKUP_FAILED], 1);
	assert_non_null(strstr(ev.failure, b));
	assert_non_null(strstr(err.msg, b));
	/* The destination keeps the catalog it had. */
	assert_true(tag_exists(f->dst, "app", "v1"));
	assert_false(tag_exists(f->dst, "app", "v2"));
	assert_int_equal(count_entries(at(f, "dst/staging")), 0);

	/* Hard-linked, it is found by --verify, or by its size. */
	{
		struct rfs_backup_options o = { .verify = true };
		char other[120];

		snprintf(other, sizeof(other), "%s/linked", f->root);
		assert_int_equal(rfs_backup(f->store, other, &o, &r, &err),
				 -EBADMSG);
		assert_non_null(strstr(err.msg, b));
		assert_false(tag_exists(other, "app", "v2"));
		assert_int_equal(truncate(p, 10), 0);
		snprintf(other, sizeof(other), "%s/linked2", f->root);
		assert_int_equal(backup(f, other, false, &ev, &r, &err),
				 -EBADMSG);
		assert_non_null(strstr(err.msg, b));
	}
	/* A local blob gone from the source is named too. */
	unlink(p);
	assert_int_equal(backup(f, f->dst, true, &ev, &r, &err), -ENOENT);
	assert_non_null(strstr(err.msg, b));
	assert_non_null(strstr(err.msg, "missing"));

	/* Without v2, the folder a failed backup made takes a backup, no
	 * --force needed: an empty store with garbage. */
	assert_int_equal(rfs_catalog_remove_tag(rfs_store_catalog(f->store),
						"app", "v2", &err),
			 0);
	backup_ok(f, at(f, "linked"), false, &ev, &r);
	assert_int_equal(r.tags, 1);
	assert_clean(at(f, "linked"));
}

/* Pin an upstream tag whose manifest is stored and whose one layer is
 * not (never read); give the layer's digest. */
static void pin(struct fixture *f, const char *tag, unsigned seed,
		char layer[RFS_DIGEST_STR_MAX + 1])
{
	char manifest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct rfs_seal *seal = NULL;
	char body[64], mbody[64];
	struct rfs_pin p;

	snprintf(mbody, sizeof(mbody), "{\"manifest\": %u}", seed);
	assert_int_equal(rfs_seal_begin(f->store, &seal, &err), 0);
	assert_int_equal(rfs_seal_write(seal, mbody, strlen(mbody), 0, &err),
			 (ssize_t)strlen(mbody));
	assert_int_equal(rfs_seal_store(seal, "manifest", NULL, manifest, &err),
			 0);
	rfs_seal_free(&seal);
	snprintf(body, sizeof(body), "layer %u", seed);
	assert_int_equal(rfs_digest_buf(body, strlen(body), layer), 0);
	p = (struct rfs_pin){
		.repo = "cache/app",
		.tag = tag,
		.origin = "default",
		.kind = RFS_TAG_FILE,
		.digest = layer,
		.size = strlen(body),
		.manifest = manifest,
		.manifest_size = strlen(mbody),
	};
	if (rfs_catalog_pin_tag(rfs_store_catalog(f->store), &p, false, NULL,
				&err))
		fail_msg("pin: %s", err.msg);
}

static void test_fetched_absent(void **state)
{
	struct fixture *f = *state;
	char l1[RFS_DIGEST_STR_MAX + 1], l2[RFS_DIGEST_STR_MAX + 1];
	struct rfs_backup_report r;
	struct rfs_store *s;
	struct rfs_blob blob;
	struct events ev;

	pin(f, "v1", 1, l1); /* never fetched */
	pin(f, "v2", 2, l2);
	/* Marked present, its file gone: evicted after the snapshot. */
	assert_int_equal(
	    rfs_catalog_blob_set_present(rfs_store_catalog(f->store), l2, true),
	    0);
	backup_ok(f, f->dst, false, &ev, &r);
	assert_int_equal(r.tags, 2);
	assert_int_equal(r.absent, 2);
	assert_int_equal(r.linked, 2); /* the manifests */
	s = open_ro(f->dst);
	assert_int_equal(rfs_catalog_blob_get(rfs_store_catalog(s), l2, &blob),
			 0);
	assert_false(blob.present);
	rfs_store_close(&s);
	assert_clean(f->dst);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct rfs_backup_options force = { .force = true };
	struct rfs_backup_report r;
	struct rfs_store *busy = NULL;
	struct rfs_error err = { 0 };
	char buf[PATH_MAX];
	struct events ev;
	int fd;

	publish(f, "app", "v1", 3000, 1, NULL);
	/* Into the store itself, or inside it. */
	assert_int_equal(backup(f, f->src, false, &ev, &r, &err), -EINVAL);
	assert_int_equal(backup(f, at(f, "src/blobs/x"), false, &ev, &r, &err),
			 -EINVAL);
	/* A folder with something else in it. */
	assert_int_equal(mkdir(at(f, "other"), 0755), 0);
	fd = open(at(f, "other/file"), O_CREAT | O_WRONLY, 0644);
	close(fd);
	assert_int_equal(backup(f, at(f, "other"), false, &ev, &r, &err),
			 -ENOTEMPTY);
	assert_int_equal(count_entries(at(f, "other")), 1);

	/* A store with content is not a backup: --force only. */
	backup_ok(f, f->dst, false, &ev, &r);
	assert_int_equal(rfs_restore(f->dst, at(f, "restored"), NULL, &r, &err),
			 0);
	assert_int_equal(
	    setting(at(f, "restored"), "backup.source", buf, sizeof(buf)),
	    -ENOENT);
	assert_int_equal(rfs_restore(f->dst, at(f, "restored"), NULL, &r, &err),
			 -ENOTEMPTY);
	assert_int_equal(backup(f, at(f, "restored"), false, &ev, &r, &err),
			 -EEXIST);
	assert_int_equal(
	    rfs_backup(f->store, at(f, "restored"), &force, &r, &err), 0);
	assert_int_equal(
	    rfs_restore(f->dst, at(f, "restored"), &force, &r, &err), 0);
	assert_clean(at(f, "restored"));

	/* Never into a store in use (here: open in this process). */
	assert_int_equal(
	    rfs_store_open(at(f, "restored"), RFS_STORE_READONLY, &busy, &err),
	    0);
	assert_int_equal(
	    rfs_restore(f->dst, at(f, "restored"), &force, &r, &err), -EBUSY);
	rfs_store_close(&busy);
	/* And nobody opens one being written. */
	assert_int_equal(
	    rfs_store_open(at(f, "restored"), RFS_STORE_EXCLUSIVE, &busy, &err),
	    0);
	{
		struct rfs_store *other = NULL;

		assert_int_equal(rfs_store_open(at(f, "restored"),
						RFS_STORE_READONLY, &other,
						&err),
				 -EBUSY);
		assert_null(other);
	}
	rfs_store_close(&busy);
	/* An empty store is fine without --force. */
	assert_int_equal(
	    rfs_store_open(at(f, "empty"), RFS_STORE_CREATE, &busy, &err), 0);
	rfs_store_close(&busy);
	assert_int_equal(rfs_restore(f->dst, at(f, "empty"), NULL, &r, &err),
			 0);
	assert_int_equal(r.tags, 1);
}

static int page_size(const char *path)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	int n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* rfs_catalog_copy between catalogs of different page sizes (a WAL
 * database cannot change its own). */
static void test_copy_page_size(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *big = NULL, *small = NULL;
	struct rfs_error err = { 0 };
	sqlite3 *db = NULL;
	char big_db[256], small_db[256];
	struct rfs_tag t;

	snprintf(big_db, sizeof(big_db), "%s", at(f, "big.db"));
	snprintf(small_db, sizeof(small_db), "%s", at(f, "small.db"));

	assert_int_equal(sqlite3_open(big_db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA page_size=8192; VACUUM", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rfs_catalog_open(big_db, false, &big, &err), 0);
	assert_int_equal(
	    rfs_catalog_add_tag(big, "app", "v1",
				"sha256:a948904f2f0f479b8f8197694b30184b0d2ed1"
				"c1cd2a1ec0fb85d299a192a447",
				12, 1, NULL, &err),
	    0);
	assert_int_equal(rfs_catalog_open(small_db, false, &small, &err), 0);
	assert_int_equal(rfs_catalog_tag_get(small, "app", "v1", NULL),
			 -ENOENT);
	assert_int_equal(page_size(big_db), 8192);
	assert_int_equal(page_size(small_db), 4096);
	assert_int_equal(rfs_catalog_copy(small, big, &err), 0);
	assert_int_equal(rfs_catalog_tag_get(small, "app", "v1", &t), 0);
	assert_int_equal(page_size(small_db), 8192); /* and still WAL */
	{
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open(small_db, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode",
						    -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal(sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
	assert_int_equal(t.size, 12);
	/* and back, into the WAL catalog of 8192 */
	assert_int_equal(rfs_catalog_add_tag(small, "app", "v2",
					     "sha256:a948904f2f0f479b8f8197694b"
					     "30184b0d2ed1c1cd2a1ec0fb85d299a19"
					     "2a447",
					     12, 2, NULL, &err),
			 0);
	assert_int_equal(rfs_catalog_copy(big, small, &err), 0);
	assert_int_equal(rfs_catalog_tag_get(big, "app", "v2", NULL), 0);
	assert_int_equal(rfs_catalog_copy(big, big, &err), -EINVAL);
	rfs_catalog_close(&big);
	rfs_catalog_close(&small);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_backup_links),	T(test_incremental),
		T(test_corrupt_source), T(test_fetched_absent),
		T(test_refusals),	T(test_copy_page_size),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
