/*
 * test-store-seal.c - unit tests of store.h and seal.h on a store in a
 * temporary folder: the layout, the seal in and out of order, digests,
 * deduplication, failures that must leave nothing behind, staging leftovers;
 * the seal hook (what it is given, its refusal, its timeout, a missing one).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "digest.h"
#include "fsck.h"
#include "hashpipe.h"
#include "seal.h"
#include "store.h"
#include "tmptree.h"

#define HELLO "hello world\n"
#define SHA_HELLO \
	"sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define SHA_EMPTY \
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* "abc" followed by seven NUL bytes. */
#define SHA_ABC_ZEROS \
	"sha256:e0b934963c22c10058bb91d569aa543a36af020fec3a6c8a0c8f0a9154ea8c86"
#define SHA_OTHER \
	"sha256:d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"

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
	strcpy(f->root, "/tmp/regfs-test-store-XXXXXX");
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

/* Entries in a folder, "." and ".." aside; -1 if it cannot be read. */
static int staging_count(struct fixture *f)
{
	return count_entries(at(f, "staging"));
}

static int blob_count(struct fixture *f)
{
	return count_entries(at(f, "blobs/sha256"));
}

static char *digest_of(const void *buf, size_t len,
		       char out[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_hasher *h = NULL;

	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update(h, buf, len), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	rfs_hasher_free(&h);
	return out;
}

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
}

static struct rfs_seal *begin(struct fixture *f)
{
	struct rfs_seal *seal = NULL;
	struct rfs_error err = { 0 };
	int rc = rfs_seal_begin(f->store, &seal, &err);

	if (rc != 0)
		fail_msg("rfs_seal_begin: %d %s", rc, err.msg);
	assert_non_null(seal);
	return seal;
}

static void put(struct rfs_seal *seal, const void *buf, size_t len,
		uint64_t off)
{
	struct rfs_error err = { 0 };
	ssize_t n = rfs_seal_write(seal, buf, len, off, &err);

	if (n != (ssize_t)len)
		fail_msg("rfs_seal_write(%zu at %llu): %zd %s", len,
			 (unsigned long long)off, n, err.msg);
}

static void commit_ok(struct rfs_seal *seal, const char *repo, const char *tag,
		      const char *expected, struct rfs_tag *out)
{
	struct rfs_error err = { 0 };
	struct rfs_seal_options opts = { .expected_digest = expected };
	int rc = rfs_seal_commit(seal, repo, tag, &opts, out, &err);

	if (rc != 0)
		fail_msg("rfs_seal_commit %s:%s: %d %s", repo, tag, rc,
			 err.msg);
}

/* Seal content as repo:tag in one call. */
static void seal_bytes(struct fixture *f, const char *repo, const char *tag,
		       const void *buf, size_t len, struct rfs_tag *out)
{
	struct rfs_seal *seal = begin(f);

	if (len)
		put(seal, buf, len, 0);
	commit_ok(seal, repo, tag, NULL, out);
	rfs_seal_free(&seal);
	assert_null(seal);
}

/* The blob file holds exactly buf and is read-only. */
static void check_blob(struct fixture *f, const char *digest, const void *buf,
		       size_t len)
{
	char path[512], rel[128];
	struct stat st;

	snprintf(rel, sizeof(rel), "blobs/sha256/%s", rfs_digest_hex(digest));
	assert_int_equal(
	    rfs_store_blob_path(f->store, digest, path, sizeof(path)), 0);
	assert_string_equal(path, at(f, rel));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal((uint64_t)st.st_size, len);

	int fd = rfs_store_blob_open(f->store, digest);
	assert_true(fd >= 0);
	unsigned char *got = malloc(len + 1);
	assert_non_null(got);
	size_t done = 0;
	for (;;) {
		ssize_t n = read(fd, got + done, len + 1 - done);
		assert_true(n >= 0);
		if (n == 0)
			break;
		done += (size_t)n;
		if (done > len)
			break;
	}
	assert_int_equal(done, len);
	assert_memory_equal(got, buf, len);
	free(got);
	/* Opened read-only. */
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	close(fd);
}

static void test_open_creates_layout(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(at(f, "catalog.db"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(at(f, "blobs/sha256"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(stat(at(f, "staging"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(staging_count(f), 0);
	assert_int_equal(blob_count(f), 0);

	assert_string_equal(rfs_store_root(f->store), f->root);
	assert_non_null(rfs_store_catalog(f->store));
	assert_non_null(rfs_store_blobs_dir(f->store));
	assert_non_null(rfs_store_staging_dir(f->store));
	assert_int_equal(
	    strncmp(rfs_store_staging_dir(f->store), f->root, strlen(f->root)),
	    0);
	assert_int_equal(stat(rfs_store_staging_dir(f->store), &st), 0);
	assert_int_equal(stat(rfs_store_blobs_dir(f->store), &st), 0);
}

static void test_open_missing_root(void **state)
{
	struct fixture *f = *state;
	struct rfs_store *store = NULL;
	struct rfs_error err = { 0 };
	char root[128];
	struct stat st;

	/* A store folder that does not exist yet is created. */
	snprintf(root, sizeof(root), "%s/new", f->root);
	assert_int_equal(rfs_store_open(root, RFS_STORE_CREATE, &store, &err),
			 0);
	snprintf(root, sizeof(root), "%s/new/catalog.db", f->root);
	assert_int_equal(stat(root, &st), 0);
	snprintf(root, sizeof(root), "%s/new/blobs/sha256", f->root);
	assert_int_equal(stat(root, &st), 0);
	snprintf(root, sizeof(root), "%s/new/staging", f->root);
	assert_int_equal(stat(root, &st), 0);
	rfs_store_close(&store);
	assert_null(store);
	rfs_store_close(&store);

	/* A regular file in the way is an error, not a crash. */
	snprintf(root, sizeof(root), "%s/file", f->root);
	int fd = open(root, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_true(rfs_store_open(root, RFS_STORE_CREATE, &store, &err) < 0);
	assert_null(store);
}

static void test_seal_in_order(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal *seal = begin(f);
	struct rfs_tag t, t2;
	int64_t before = rfs_now_ns();

	put(seal, "hello ", 6, 0);
	put(seal, "world\n", 6, 6);
	assert_int_equal(rfs_seal_size(seal), 12);
	commit_ok(seal, "org/app", "v1", NULL, &t);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(t.size, 12);
	assert_string_equal(t.repo, "org/app");
	assert_string_equal(t.name, "v1");
	assert_true(t.id > 0);
	assert_true(t.created_ns >= before - 1000000000LL);
	rfs_seal_free(&seal);
	assert_null(seal);

	check_blob(f, SHA_HELLO, HELLO, 12);
	assert_int_equal(blob_count(f), 1);
	assert_int_equal(staging_count(f), 0);

	assert_int_equal(rfs_catalog_tag_get(rfs_store_catalog(f->store),
					     "org/app", "v1", &t2),
			 0);
	assert_int_equal(t2.id, t.id);
	assert_string_equal(t2.digest, SHA_HELLO);
	assert_int_equal(t2.size, 12);
}

static void test_seal_empty(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t;

	seal_bytes(f, "app", "empty", "", 0, &t);
	assert_string_equal(t.digest, SHA_EMPTY);
	assert_int_equal(t.size, 0);
	check_blob(f, SHA_EMPTY, "", 0);
	assert_int_equal(staging_count(f), 0);
}

static void test_seal_read_back(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal *seal = begin(f);
	char buf[32];

	put(seal, HELLO, 12, 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rfs_seal_read(seal, buf, sizeof(buf), 0), 12);
	assert_string_equal(buf, HELLO);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rfs_seal_read(seal, buf, 5, 6), 5);
	assert_string_equal(buf, "world");
	assert_int_equal(rfs_seal_read(seal, buf, sizeof(buf), 12), 0);
	assert_int_equal(rfs_seal_read(seal, buf, sizeof(buf), 100), 0);
	rfs_seal_free(&seal);
	assert_int_equal(staging_count(f), 0);
}

static void test_seal_out_of_order(void **state)
{
	struct fixture *f = *state;
	static unsigned char data[200000];
	char want[RFS_DIGEST_STR_MAX + 1];
	struct rfs_tag t;

	fill(data, sizeof(data), 1);
	digest_of(data, sizeof(data), want);

	/* Second half first. */
	struct rfs_seal *seal = begin(f);
	put(seal, data + 100000, 100000, 100000);
	assert_int_equal(rfs_seal_size(seal), 200000);
	put(seal, data, 100000, 0);
	commit_ok(seal, "app", "ooo", NULL, &t);
	assert_string_equal(t.digest, want);
	assert_int_equal(t.size, sizeof(data));
	rfs_seal_free(&seal);
	check_blob(f, want, data, sizeof(data));

	/* Interleaved small pieces, backwards, in a fresh store entry with
	 * the expected digest given. */
	seal = begin(f);
	for (size_t off = sizeof(data); off > 0;) {
		size_t n = off >= 4099 ? 4099 : off;
		off -= n;
		put(seal, data + off, n, off);
	}
	commit_ok(seal, "app", "backwards", want, &t);
	assert_string_equal(t.digest, want);
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 1);
	assert_int_equal(staging_count(f), 0);
}

static void test_seal_overwrite(void **state)
{
	struct fixture *f = *state;
	char want[RFS_DIGEST_STR_MAX + 1];
	struct rfs_tag t;

	/* Bytes hashed in order, then rewritten: the digest is of the final
	 * content. */
	struct rfs_seal *seal = begin(f);
	put(seal, "aaaa", 4, 0);
	put(seal, "b", 1, 1);
	commit_ok(seal, "app", "rewrite", NULL, &t);
	assert_string_equal(t.digest, digest_of("abaa", 4, want));
	rfs_seal_free(&seal);
	check_blob(f, want, "abaa", 4);

	/* An overlap that runs past what was hashed. */
	seal = begin(f);
	put(seal, "aaaa", 4, 0);
	put(seal, "bbbb", 4, 2);
	commit_ok(seal, "app", "overlap", NULL, &t);
	assert_string_equal(t.digest, digest_of("aabbbb", 6, want));
	assert_int_equal(t.size, 6);
	rfs_seal_free(&seal);

	/* A hole: bytes never written read as zeros. */
	seal = begin(f);
	put(seal, "xyz", 3, 5);
	assert_int_equal(rfs_seal_size(seal), 8);
	commit_ok(seal, "app", "hole", NULL, &t);
	assert_string_equal(t.digest, digest_of("\0\0\0\0\0xyz", 8, want));
	rfs_seal_free(&seal);
}

static void test_seal_truncate(void **state)
{
	struct fixture *f = *state;
	static unsigned char data[100];
	char want[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	fill(data, sizeof(data), 7);

	/* Shrink. */
	struct rfs_seal *seal = begin(f);
	put(seal, data, sizeof(data), 0);
	assert_int_equal(rfs_seal_truncate(seal, 10, &err), 0);
	assert_int_equal(rfs_seal_size(seal), 10);
	commit_ok(seal, "app", "shrunk", NULL, &t);
	assert_string_equal(t.digest, digest_of(data, 10, want));
	assert_int_equal(t.size, 10);
	rfs_seal_free(&seal);
	check_blob(f, want, data, 10);

	/* Extend with zeros. */
	seal = begin(f);
	put(seal, "abc", 3, 0);
	assert_int_equal(rfs_seal_truncate(seal, 10, &err), 0);
	assert_int_equal(rfs_seal_size(seal), 10);
	commit_ok(seal, "app", "grown", NULL, &t);
	assert_string_equal(t.digest, SHA_ABC_ZEROS);
	assert_int_equal(t.size, 10);
	rfs_seal_free(&seal);

	/* Shrink below what was hashed in order, then write on: the digest
	 * is of the final content, not of the bytes that passed. */
	seal = begin(f);
	put(seal, data, 100, 0);
	assert_int_equal(rfs_seal_truncate(seal, 50, &err), 0);
	put(seal, "tail", 4, 50);
	unsigned char expect[54];
	memcpy(expect, data, 50);
	memcpy(expect + 50, "tail", 4);
	commit_ok(seal, "app", "retail", NULL, &t);
	assert_string_equal(t.digest, digest_of(expect, sizeof(expect), want));
	assert_int_equal(t.size, 54);
	rfs_seal_free(&seal);

	/* Shrink, then grow again: the cut-off bytes come back as zeros. */
	seal = begin(f);
	put(seal, data, 100, 0);
	assert_int_equal(rfs_seal_truncate(seal, 50, &err), 0);
	assert_int_equal(rfs_seal_truncate(seal, 100, &err), 0);
	unsigned char zeroed[100];
	memcpy(zeroed, data, 50);
	memset(zeroed + 50, 0, 50);
	commit_ok(seal, "app", "regrown", NULL, &t);
	assert_string_equal(t.digest, digest_of(zeroed, sizeof(zeroed), want));
	rfs_seal_free(&seal);

	/* Truncate to zero, like O_TRUNC on an open file. */
	seal = begin(f);
	put(seal, data, 100, 0);
	assert_int_equal(rfs_seal_truncate(seal, 0, &err), 0);
	assert_int_equal(rfs_seal_size(seal), 0);
	put(seal, HELLO, 12, 0);
	commit_ok(seal, "app", "again", NULL, &t);
	assert_string_equal(t.digest, SHA_HELLO);
	rfs_seal_free(&seal);
	assert_int_equal(staging_count(f), 0);
}

static void test_dedup(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t1, t2;
	struct rfs_blob b;

	seal_bytes(f, "app", "v1", HELLO, 12, &t1);
	seal_bytes(f, "other/app", "latest", HELLO, 12, &t2);
	assert_string_equal(t1.digest, SHA_HELLO);
	assert_string_equal(t2.digest, SHA_HELLO);
	assert_true(t1.id != t2.id);
	assert_int_equal(blob_count(f), 1);
	assert_int_equal(staging_count(f), 0);
	check_blob(f, SHA_HELLO, HELLO, 12);
	assert_int_equal(
	    rfs_catalog_blob_get(rfs_store_catalog(f->store), SHA_HELLO, &b),
	    0);
	assert_int_equal(b.refs, 2);
	assert_int_equal(b.size, 12);
}

static void test_expected_digest(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal *seal = begin(f);
	struct rfs_tag t;

	put(seal, HELLO, 12, 0);
	commit_ok(seal, "app", "v1", SHA_HELLO, &t);
	assert_string_equal(t.digest, SHA_HELLO);
	rfs_seal_free(&seal);
}

static void test_digest_mismatch(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal *seal = begin(f);
	struct rfs_seal_options opts = { .expected_digest = SHA_OTHER };
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	struct rfs_dir d;

	put(seal, HELLO, 12, 0);
	assert_int_equal(
	    rfs_seal_commit(seal, "org/app", "v1", &opts, &t, &err), -EBADMSG);
	assert_int_equal(err.code, -EBADMSG);
	assert_non_null(strstr(err.msg, "mismatch"));
	rfs_seal_free(&seal);

	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	assert_int_equal(rfs_catalog_tag_get(cat, "org/app", "v1", &t),
			 -ENOENT);
	assert_int_equal(
	    rfs_catalog_dir_by_path(cat, "org/app", &d) == 0 && d.sealed, 0);
	struct rfs_blob b;
	assert_int_equal(rfs_catalog_blob_get(cat, SHA_HELLO, &b), -ENOENT);
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
}

static void test_commit_existing_tag(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	seal_bytes(f, "app", "v1", HELLO, 12, &t);

	struct rfs_seal *seal = begin(f);
	put(seal, "other", 5, 0);
	assert_int_equal(rfs_seal_commit(seal, "app", "v1", NULL, &t, &err),
			 -EEXIST);
	rfs_seal_free(&seal);

	assert_int_equal(
	    rfs_catalog_tag_get(rfs_store_catalog(f->store), "app", "v1", &t),
	    0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(staging_count(f), 0);
	/* Nothing left behind: the refused content is not a blob. */
	assert_int_equal(blob_count(f), 1);

	/* Same content onto the existing tag: still EEXIST. */
	seal = begin(f);
	put(seal, HELLO, 12, 0);
	assert_int_equal(rfs_seal_commit(seal, "app", "v1", NULL, &t, &err),
			 -EEXIST);
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 1);
	assert_int_equal(staging_count(f), 0);
	check_blob(f, SHA_HELLO, HELLO, 12);
}

static void test_commit_bad_names(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	struct rfs_seal *seal = begin(f);
	put(seal, HELLO, 12, 0);
	assert_int_equal(rfs_seal_commit(seal, "../app", "v1", NULL, &t, &err),
			 -EINVAL);
	rfs_seal_free(&seal);

	seal = begin(f);
	put(seal, HELLO, 12, 0);
	assert_int_equal(rfs_seal_commit(seal, "app", "../v1", NULL, &t, &err),
			 -EINVAL);
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
}

static void test_free_uncommitted(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal *seal = begin(f);

	put(seal, HELLO, 12, 0);
	rfs_seal_free(&seal);
	assert_null(seal);
	rfs_seal_free(&seal);
	assert_int_equal(staging_count(f), 0);
	assert_int_equal(blob_count(f), 0);

	/* Several at once. */
	struct rfs_seal *a = begin(f), *b = begin(f), *c = begin(f);
	put(a, "a", 1, 0);
	put(b, "b", 1, 0);
	rfs_seal_free(&b);
	rfs_seal_free(&a);
	rfs_seal_free(&c);
	assert_int_equal(staging_count(f), 0);
}

static void test_leftover_removed(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };

	rfs_store_close(&f->store);
	assert_null(f->store);

	/* A writer that died left files behind (nobody holds their lock). */
	int fd = open(at(f, "staging/leftover"), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	fd = open(at(f, "staging/seal-AbC123"), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(staging_count(f), 2);

	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err), 0);
	assert_int_equal(staging_count(f), 0);
}

static void test_locked_staging_kept(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_store *other = NULL;
	struct rfs_tag t;

	/* A second process opening the store (regctl while the daemon
	 * writes) must not take a live writer's file. Two stores in one
	 * process also catch locks tied to the process, not the file. (The
	 * staging file may be an O_TMPFILE with no name at all.) */
	struct rfs_seal *seal = begin(f);
	put(seal, "hello ", 6, 0);
	int during = staging_count(f);
	assert_true(during == 0 || during == 1);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &other, &err), 0);
	assert_int_equal(staging_count(f), during);
	rfs_store_close(&other);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &other, &err), 0);
	assert_int_equal(staging_count(f), during);
	rfs_store_close(&other);

	put(seal, "world\n", 6, 6);
	commit_ok(seal, "app", "v1", NULL, &t);
	assert_string_equal(t.digest, SHA_HELLO);
	rfs_seal_free(&seal);
	check_blob(f, SHA_HELLO, HELLO, 12);

	/* And a file locked by someone else entirely. */
	int fd = open(at(f, "staging/busy"), O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &other, &err), 0);
	rfs_store_close(&other);
	assert_int_equal(access(at(f, "staging/busy"), F_OK), 0);
	close(fd);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &other, &err), 0);
	rfs_store_close(&other);
	assert_int_equal(access(at(f, "staging/busy"), F_OK), -1);
}

static void test_write_fd_pipe(void **state)
{
	struct fixture *f = *state;
	static unsigned char data[300000];
	char want[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	int p[2];

	fill(data, sizeof(data), 3);
	digest_of(data, sizeof(data), want);
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		/* Odd-sized writes so reads come back short. */
		size_t off = 0;
		while (off < sizeof(data)) {
			size_t n = sizeof(data) - off < 3001
				       ? sizeof(data) - off
				       : 3001;
			ssize_t w = write(p[1], data + off, n);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(p[1]);

	struct rfs_seal *seal = begin(f);
	assert_int_equal(rfs_seal_write_fd(seal, p[0], &err), 0);
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(rfs_seal_size(seal), sizeof(data));
	commit_ok(seal, "app", "piped", want, &t);
	assert_string_equal(t.digest, want);
	assert_int_equal(t.size, sizeof(data));
	rfs_seal_free(&seal);
	check_blob(f, want, data, sizeof(data));
	assert_int_equal(staging_count(f), 0);
}

static void test_write_fd_file(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	int fd = open(at(f, "input"), O_CREAT | O_RDWR | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, HELLO, 12), 12);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

	struct rfs_seal *seal = begin(f);
	assert_int_equal(rfs_seal_write_fd(seal, fd, &err), 0);
	close(fd);
	commit_ok(seal, "app", "file", NULL, &t);
	assert_string_equal(t.digest, SHA_HELLO);
	rfs_seal_free(&seal);

	/* An empty pipe gives an empty blob. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	seal = begin(f);
	assert_int_equal(rfs_seal_write_fd(seal, p[0], &err), 0);
	close(p[0]);
	commit_ok(seal, "app", "nothing", SHA_EMPTY, &t);
	assert_int_equal(t.size, 0);
	rfs_seal_free(&seal);

	/* A bad descriptor is an error. */
	seal = begin(f);
	assert_true(rfs_seal_write_fd(seal, -1, &err) < 0);
	rfs_seal_free(&seal);
	assert_int_equal(staging_count(f), 0);
}

static void test_reopen_store(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t1, t2;

	seal_bytes(f, "org/app", "v1", HELLO, 12, &t1);
	rfs_store_close(&f->store);
	assert_int_equal(
	    rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err), 0);
	assert_int_equal(rfs_catalog_tag_get(rfs_store_catalog(f->store),
					     "org/app", "v1", &t2),
			 0);
	assert_int_equal(t2.id, t1.id);
	assert_string_equal(t2.digest, SHA_HELLO);
	check_blob(f, SHA_HELLO, HELLO, 12);
}

static void test_blob_open_missing(void **state)
{
	struct fixture *f = *state;
	char path[512];

	assert_int_equal(rfs_store_blob_open(f->store, SHA_OTHER), -ENOENT);
	assert_true(rfs_store_blob_path(f->store, SHA_OTHER, path, 8) < 0);
	assert_true(rfs_store_blob_open(f->store, "sha256:../../etc/passwd") <
		    0);
}

static void test_default_path(void **state)
{
	char buf[256];

	(void)state;
	setenv("REGFS_STORE", "/srv/store", 1);
	setenv("XDG_DATA_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(rfs_store_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/srv/store");
	assert_int_equal(rfs_store_default_path(buf, 5), -ENAMETOOLONG);

	unsetenv("REGFS_STORE");
	assert_int_equal(rfs_store_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/xdg/regfs");

	unsetenv("XDG_DATA_HOME");
	assert_int_equal(rfs_store_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/u/.local/share/regfs");
	assert_int_equal(rfs_store_default_path(buf, 10), -ENAMETOOLONG);

	unsetenv("HOME");
	assert_int_equal(rfs_store_default_path(buf, sizeof(buf)), -ENOENT);
}

/* A stream seal: bytes in pieces of awkward sizes, across the pipe's 1 MiB
 * chunks and past its ring of four, give the same digest and file. */
static void test_stream_seal(void **state)
{
	struct fixture *f = *state;
	const size_t len = (size_t)(5.5 * (1 << 20)) + 123;
	unsigned char *buf = malloc(len);
	const size_t pieces[] = { 1, 4095, 1 << 20, 77777, (1 << 20) - 1 };
	char want[RFS_DIGEST_STR_MAX + 1];
	struct rfs_seal *seal = NULL;
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	size_t off = 0;

	assert_non_null(buf);
	fill(buf, len, 7);
	digest_of(buf, len, want);
	assert_int_equal(
	    rfs_seal_begin_with(f->store,
				RFS_SEAL_STREAM | RFS_SEAL_LAZY_WRITEBACK,
				&seal, &err),
	    0);
	for (size_t i = 0; off < len; i++) {
		size_t k = pieces[i % 5];

		if (k > len - off)
			k = len - off;
		put(seal, buf + off, k, off);
		off += k;
	}
	assert_int_equal(rfs_seal_size(seal), len);
	commit_ok(seal, "app", "stream", want, &t);
	assert_string_equal(t.digest, want);
	rfs_seal_free(&seal);
	check_blob(f, want, buf, len);
	assert_int_equal(staging_count(f), 0);
	free(buf);
}

/* A stream only appends: a write elsewhere fails the seal for good. */
static void test_stream_only_appends(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal *seal = NULL;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	assert_int_equal(
	    rfs_seal_begin_with(f->store, RFS_SEAL_STREAM, &seal, &err), 0);
	assert_false(rfs_seal_can_resume(seal)); /* nothing written */
	put(seal, "hello ", 6, 0);
	assert_true(rfs_seal_can_resume(seal));
	assert_int_equal(rfs_seal_write(seal, "x", 1, 2, &err), -EINVAL);
	assert_false(rfs_seal_can_resume(seal));
	assert_int_equal(rfs_seal_truncate(seal, 3, &err), -EINVAL);
	assert_true(rfs_seal_write(seal, "world\n", 6, 6, &err) < 0);
	assert_true(rfs_seal_commit(seal, "app", "v1", NULL, &t, &err) < 0);
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
}

static void read_all_fd(int fd, char *out, size_t cap)
{
	ssize_t n = pread(fd, out, cap - 1, 0);

	assert_true(n >= 0);
	out[n] = '\0';
}

/* Verified bytes can be read before they are stored, and the descriptor
 * stays good after the seal is stored and freed. A seal freed after
 * verifying stores nothing. */
static void test_verify_then_store(void **state)
{
	struct fixture *f = *state;
	struct rfs_seal_options opts = { .expected_digest = SHA_HELLO };
	char digest[RFS_DIGEST_STR_MAX + 1], got[64];
	struct rfs_seal *seal = NULL;
	struct rfs_error err = { 0 };
	int fd;

	assert_int_equal(
	    rfs_seal_begin_with(f->store, RFS_SEAL_STREAM, &seal, &err), 0);
	put(seal, HELLO, 12, 0);
	assert_int_equal(rfs_seal_open_verified(seal), -EBADF);
	assert_int_equal(rfs_seal_verify(seal, "hello", &opts, &err), 0);
	assert_false(rfs_seal_can_resume(seal));
	fd = rfs_seal_open_verified(seal);
	assert_true(fd >= 0);
	read_all_fd(fd, got, sizeof(got));
	assert_string_equal(got, HELLO);
	assert_int_equal(blob_count(f), 0); /* not stored yet */
	assert_true(rfs_seal_write(seal, "x", 1, 12, &err) < 0);
	assert_int_equal(rfs_seal_store(seal, "hello", &opts, digest, &err), 0);
	assert_string_equal(digest, SHA_HELLO);
	assert_int_equal(rfs_seal_store(seal, "hello", &opts, digest, &err),
			 -EBADF);
	rfs_seal_free(&seal);
	read_all_fd(fd, got, sizeof(got));
	assert_string_equal(got, HELLO);
	close(fd);
	check_blob(f, SHA_HELLO, HELLO, 12);

	/* Verified, then dropped: nothing is left. */
	assert_int_equal(rfs_seal_begin(f->store, &seal, &err), 0);
	put(seal, "other", 5, 0);
	assert_int_equal(rfs_seal_verify(seal, "other", NULL, &err), 0);
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 1);
	assert_int_equal(staging_count(f), 0);

	/* A mismatch fails the verification: nothing to open. */
	assert_int_equal(rfs_seal_begin(f->store, &seal, &err), 0);
	put(seal, "bad", 3, 0);
	assert_int_equal(rfs_seal_verify(seal, "bad", &opts, &err), -EBADMSG);
	assert_int_equal(rfs_seal_open_verified(seal), -EBADF);
	rfs_seal_free(&seal);
}

/* A write that fails in the pipe (here: a read-only descriptor) is
 * reported by a later append or by finish. */
static void test_hashpipe_write_error(void **state)
{
	struct fixture *f = *state;
	struct rfs_hasher *h = NULL;
	struct rfs_hashpipe *pipe = NULL;
	size_t len = 3u << 20;
	unsigned char *buf = malloc(len);
	int fd, rc;

	assert_non_null(buf);
	fill(buf, len, 3);
	close(open(at(f, "ro"), O_CREAT | O_WRONLY, 0600));
	fd = open(at(f, "ro"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hashpipe_new(fd, 0, h, &pipe), 0);
	/* The writer thread meets the error: this append or a later call
	 * reports it. */
	rc = rfs_hashpipe_append(pipe, buf, len);
	assert_true(rc == 0 || rc == -EBADF);
	assert_int_equal(rfs_hashpipe_finish(pipe), -EBADF);
	assert_int_equal(rfs_hashpipe_append(pipe, buf, 10), -EINVAL);
	rfs_hashpipe_free(&pipe);
	assert_null(pipe);
	rfs_hasher_free(&h);
	close(fd);
	free(buf);
}

/* A hook script in the store's folder (outside staging/ and blobs/). */
static const char *write_hook(struct fixture *f, const char *name,
			      const char *body)
{
	FILE *fp = fopen(at(f, name), "w");

	assert_non_null(fp);
	fputs(body, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(f->path, 0755), 0);
	return f->path;
}

static char *slurp(const char *path, char *buf, size_t size)
{
	FILE *fp = fopen(path, "r");
	size_t n;

	if (!fp)
		return NULL;
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

#define SCAN_HOOK                                                              \
	"#!/bin/sh\n"                                                          \
	"d=${0%/*}\n"                                                          \
	"echo \"$#|$2|$3|$4|$REGFS_REPO|$REGFS_TAG|$REGFS_DIGEST\" >$d/args\n" \
	"stat -L -c %a \"$1\" >$d/mode\n"                                      \
	"if grep -q bad \"$1\"; then\n"                                        \
	"  echo \"bad content in $2:$3\" >&2; echo more >&2; exit 1\n"         \
	"fi\n"                                                                 \
	"exit 0\n"

static void test_seal_hook(void **state)
{
	struct fixture *f = *state;
	struct rfs_catalog *cat = rfs_store_catalog(f->store);
	struct rfs_error err = { 0 };
	char buf[512], args[400], digest[RFS_DIGEST_STR_MAX + 1];
	char got[RFS_DIGEST_STR_MAX + 1];
	struct rfs_seal *seal;
	struct rfs_tag t;
	int64_t timeout = 0;

	assert_null(rfs_store_seal_hook(f->store, NULL));
	assert_int_equal(rfs_store_set_seal_hook(
			     f->store, write_hook(f, "scan", SCAN_HOOK), 10000),
			 0);
	assert_string_equal(rfs_store_seal_hook(f->store, &timeout),
			    at(f, "scan"));
	assert_int_equal(timeout, 10000);

	/* Yes: sealed, and the hook was told who and what. */
	seal_bytes(f, "org/app", "v1", HELLO, 12, &t);
	snprintf(args, sizeof(args), "4|org/app|v1|%s|org/app|v1|%s\n",
		 SHA_HELLO, SHA_HELLO);
	assert_non_null(slurp(at(f, "args"), buf, sizeof(buf)));
	assert_string_equal(buf, args);
	assert_string_equal(slurp(at(f, "mode"), buf, sizeof(buf)), "444\n");

	/* No: nothing sealed or stored, the first line of stderr told. */
	seal = begin(f);
	put(seal, "bad bytes\n", 10, 0);
	assert_int_equal(rfs_seal_commit(seal, "org/app", "v2", NULL, &t, &err),
			 -EACCES);
	assert_string_equal(err.msg, "seal hook refused 'org/app:v2' (exit 1): "
				     "bad content in org/app:v2");
	/* Refused once, refused for good. */
	assert_int_equal(rfs_seal_store(seal, "it", NULL, got, &err), -EACCES);
	rfs_seal_free(&seal);
	assert_int_equal(rfs_catalog_tag_get(cat, "org/app", "v2", &t),
			 -ENOENT);
	assert_int_equal(blob_count(f), 1);
	assert_int_equal(staging_count(f), 0);

	/* A blob with no tag yet (an upload): the repository alone. */
	seal = begin(f);
	put(seal, "bad blob\n", 9, 0);
	struct rfs_seal_options up = { .repo = "team/x" };
	assert_int_equal(rfs_seal_scan(seal, "blob", &up, &err), -EACCES);
	assert_int_equal(rfs_seal_scan(seal, "blob", &up, &err), -EACCES);
	assert_non_null(strstr(err.msg, "refused by the seal hook"));
	rfs_seal_free(&seal);
	digest_of("bad blob\n", 9, digest);
	snprintf(args, sizeof(args), "4|team/x||%s|team/x||%s\n", digest,
		 digest);
	assert_string_equal(slurp(at(f, "args"), buf, sizeof(buf)), args);

	/* A manifest is not given to it. */
	seal = begin(f);
	put(seal, "bad manifest\n", 13, 0);
	struct rfs_seal_options man = { .manifest = true };
	assert_int_equal(rfs_seal_store(seal, "manifest", &man, got, &err), 0);
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 2);

	/* Content that fails verification never reaches the hook. */
	unlink(at(f, "args"));
	seal = begin(f);
	put(seal, "bad again\n", 10, 0);
	struct rfs_seal_options wrong = { .expected_digest = SHA_OTHER };
	assert_int_equal(
	    rfs_seal_commit(seal, "org/app", "v3", &wrong, &t, &err), -EBADMSG);
	rfs_seal_free(&seal);
	assert_int_equal(access(at(f, "args"), F_OK), -1);
}

static void test_seal_hook_timeout(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct timespec t0, t1;
	struct rfs_seal *seal;
	struct rfs_tag t;
	long ms;

	assert_int_equal(
	    rfs_store_set_seal_hook(
		f->store, write_hook(f, "hang", "#!/bin/sh\nsleep 30\n"), 300),
	    0);
	seal = begin(f);
	put(seal, HELLO, 12, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rfs_seal_commit(seal, "app", "v1", NULL, &t, &err),
			 -EACCES);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 300 && ms < 5000);
	assert_non_null(strstr(err.msg, "ran over 300 ms on 'app:v1' and was "
					"killed"));
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 0);
}

static void test_seal_hook_missing(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_seal *seal;
	struct rfs_tag t;

	assert_int_equal(rfs_store_set_seal_hook(f->store, at(f, "nosuch"), 0),
			 0);
	seal = begin(f);
	put(seal, HELLO, 12, 0);
	assert_int_equal(rfs_seal_commit(seal, "app", "v1", NULL, &t, &err),
			 -EACCES);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_non_null(strstr(err.msg, "refusing 'app:v1'"));
	rfs_seal_free(&seal);
	assert_int_equal(blob_count(f), 0);
	/* Cleared: publishes go on without a hook. */
	assert_int_equal(rfs_store_set_seal_hook(f->store, NULL, 0), 0);
	assert_null(rfs_store_seal_hook(f->store, NULL));
	seal_bytes(f, "app", "v1", HELLO, 12, &t);
}

/* What fsck's callback does on its first problem: remove every blob file,
 * as a gc (or an eviction) running beside fsck does between its readdir()
 * and its open() of the next file. */
struct vanish {
	struct fixture *f;
	int calls;
};

static int unlink_blob(const char *path, const struct stat *st, int type,
		       struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_F)
		unlink(path);
	return 0;
}

static void vanish_rest(void *ctx, enum rfs_fsck_problem p, const char *digest,
			const char *detail)
{
	struct vanish *v = ctx;

	(void)digest;
	if (p != RFS_FSCK_ORPHAN)
		fail_msg("fsck: problem %d on %s (%s)", (int)p, digest,
			 detail ? detail : "");
	if (v->calls++ == 0)
		nftw(at(v->f, "blobs/sha256"), unlink_blob, 8, FTW_PHYS);
}

/* A blob file that gc or an eviction removes while fsck runs is no damage
 * (the soak found "unreadable ... No such file or directory" from an fsck
 * beside a gc, issue 15). */
static void test_fsck_blob_gone_meanwhile(void **state)
{
	struct fixture *f = *state;
	char d[RFS_DIGEST_STR_MAX + 1], path[512];
	struct rfs_fsck_report r;
	struct rfs_error err = { 0 };
	struct vanish v = { .f = f };
	unsigned char buf[100];

	/* Orphans: blob files no catalog row names, as rm leaves them. */
	for (unsigned i = 0; i < 4; i++) {
		fill(buf, sizeof(buf), 7);
		buf[0] = (unsigned char)i;
		digest_of(buf, sizeof(buf), d);
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->root,
			 d + strlen("sha256:"));
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0444);

		if (fd < 0)
			fail_msg("open %s: %s", path, strerror(errno));
		assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
		close(fd);
	}
	assert_int_equal(blob_count(f), 4);
	assert_int_equal(rfs_fsck(f->store, vanish_rest, &v, &r, &err), 0);
	assert_int_equal(v.calls, 1);
	assert_int_equal(r.orphans, 1);
	assert_int_equal(r.unreadable, 0);
	assert_int_equal(r.missing, 0);
	assert_int_equal(blob_count(f), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_layout),
		T(test_open_missing_root),
		T(test_seal_in_order),
		T(test_seal_empty),
		T(test_seal_read_back),
		T(test_seal_out_of_order),
		T(test_seal_overwrite),
		T(test_seal_truncate),
		T(test_dedup),
		T(test_expected_digest),
		T(test_digest_mismatch),
		T(test_commit_existing_tag),
		T(test_commit_bad_names),
		T(test_free_uncommitted),
		T(test_leftover_removed),
		T(test_locked_staging_kept),
		T(test_write_fd_pipe),
		T(test_write_fd_file),
		T(test_reopen_store),
		T(test_blob_open_missing),
		T(test_stream_seal),
		T(test_stream_only_appends),
		T(test_verify_then_store),
		T(test_hashpipe_write_error),
		T(test_seal_hook),
		T(test_seal_hook_timeout),
		T(test_seal_hook_missing),
		T(test_fsck_blob_gone_meanwhile),
		cmocka_unit_test(test_default_path),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
