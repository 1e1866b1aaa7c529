/*
 * test-incoming.c - unit tests of incoming.h without FUSE: sha256sum
 * parsing, name kinds, and the life of staged entries (create, write,
 * flush/release, rename, unlink, checksum files) down to sealed tags.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "catalog.h"
#include "incoming.h"
#include "store.h"
#include "tmptree.h"

#define HELLO "hello world\n"
#define HEX_HELLO \
	"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447"
#define SHA_HELLO "sha256:" HEX_HELLO
#define HEX_OTHER \
	"d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"
#define SHA_OTHER "sha256:" HEX_OTHER
#define HEX_ABC \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA_ABC "sha256:" HEX_ABC

struct fixture {
	char root[64];
	char path[256];
	struct rfs_store *store;
	struct rfs_catalog *cat;
	struct rfs_incoming *inc;
	struct rfs_dir app; /* incoming/app, made with mkdir */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-incoming-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	if (rfs_store_open(f->root, RFS_STORE_CREATE, &f->store, &err) != 0) {
		fprintf(stderr, "rfs_store_open: %s\n", err.msg);
		return -1;
	}
	f->cat = rfs_store_catalog(f->store);
	if (rfs_incoming_new(f->store, NULL, &f->inc) != 0)
		return -1;
	if (rfs_incoming_mkdir(f->inc, 0, "app", &f->app, &err) != 0) {
		fprintf(stderr, "rfs_incoming_mkdir: %s\n", err.msg);
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

/* Staging files, parked ones included (in the park folder of staging/). */
static int staging_count(struct fixture *f)
{
	char sub[PATH_MAX + 256];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0;

	snprintf(f->path, sizeof(f->path), "%s/staging", f->root);
	d = opendir(f->path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", f->path, de->d_name);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_entries(sub);
		else
			n++;
	}
	closedir(d);
	return n;
}

static int blob_count(struct fixture *f)
{
	snprintf(f->path, sizeof(f->path), "%s/blobs/sha256", f->root);
	return count_entries(f->path);
}

static int64_t create(struct fixture *f, int64_t dir, const char *name)
{
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	int rc = rfs_incoming_create(f->inc, dir, name, 0644, &info, &err);

	if (rc != 0)
		fail_msg("create '%s': %d %s", name, rc, err.msg);
	assert_string_equal(info.name, name);
	assert_int_equal(info.dir, dir);
	assert_int_equal(info.size, 0);
	return info.id;
}

static void wr(struct fixture *f, int64_t id, const char *s, uint64_t off)
{
	struct rfs_error err = { 0 };
	size_t len = strlen(s);
	ssize_t n = rfs_incoming_write(f->inc, id, s, len, off, &err);

	if (n != (ssize_t)len)
		fail_msg("write %zu at %llu: %zd %s", len,
			 (unsigned long long)off, n, err.msg);
}

static int flush(struct fixture *f, int64_t id, enum rfs_closer closer,
		 struct rfs_tag *sealed)
{
	struct rfs_error err = { 0 };

	return rfs_incoming_flush(f->inc, id, true, closer, getpid(), NULL,
				  sealed, &err);
}

static int release(struct fixture *f, int64_t id)
{
	struct rfs_error err = { 0 };

	return rfs_incoming_release(f->inc, id, true, NULL, &err);
}

/* What a plain "cp": create, write, close. */
static int close_writer(struct fixture *f, int64_t id, struct rfs_tag *sealed)
{
	int rc = flush(f, id, RFS_CLOSER_DONE, sealed);

	assert_int_equal(release(f, id), 0);
	return rc;
}

static bool tag_exists(struct fixture *f, const char *repo, const char *tag,
		       struct rfs_tag *out)
{
	struct rfs_tag t;

	return rfs_catalog_tag_get(f->cat, repo, tag, out ? out : &t) == 0;
}

/* A name in incoming/ being written (not a tag just sealed). */
static bool staged(struct fixture *f, int64_t dir, const char *name)
{
	struct rfs_staged_info info;

	return rfs_incoming_lookup(f->inc, dir, name, &info) == 0 &&
	       !info.sealed;
}

/* A name in incoming/ that is a tag in its publisher's window. */
static bool just_sealed(struct fixture *f, int64_t dir, const char *name)
{
	struct rfs_staged_info info;

	return rfs_incoming_lookup(f->inc, dir, name, &info) == 0 &&
	       info.sealed;
}

/* ---- sidecar parsing ---- */

static void test_sidecar_parse(void **state)
{
	char d[RFS_DIGEST_STR_MAX + 1];
	static const char *const good[] = {
		HEX_HELLO,
		HEX_HELLO "\n",
		HEX_HELLO "  v1\n",
		HEX_HELLO "  v1",
		HEX_HELLO " *v1\n",
		HEX_HELLO "  build/out/v1\n",
		HEX_HELLO "  /abs/path/v1\n",
		HEX_HELLO "  app.bin\n", /* the only line, whatever it names */
		HEX_ABC "  other\n" HEX_HELLO "  v1\n",
		HEX_HELLO "  dist/v1\n" HEX_ABC "  dist/v2\n",
		HEX_ABC "  v10\n" HEX_HELLO "  v1\n" HEX_OTHER "  xv1\n",
		"a948904F2F0F479B8F8197694B30184B0D2ED1C1CD2A1EC0FB85D299A192A447  v1\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(d, 'X', sizeof(d));
		int rc = rfs_sidecar_parse(good[i], strlen(good[i]), "v1", d);
		if (rc != 0)
			fail_msg("case %zu: %d", i, rc);
		assert_string_equal(d, SHA_HELLO);
	}
}

static void test_sidecar_parse_invalid(void **state)
{
	char d[RFS_DIGEST_STR_MAX + 1];
	static const char *const bad[] = {
		"",
		"\n",
		"garbage",
		"garbage  v1\n",
		"not a checksum file at all, but quite long enough to look like one maybe\n",
		/* 63 and 65 hex digits */
		"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a44  v1\n",
		"a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a4471  v1\n",
		/* not hex */
		"g948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447  v1\n",
		/* several lines, none for v1 */
		HEX_ABC "  v2\n" HEX_OTHER "  v3\n",
		HEX_ABC "  v10\n" HEX_OTHER "  xv1\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = rfs_sidecar_parse(bad[i], strlen(bad[i]), "v1", d);
		if (rc != -EINVAL)
			fail_msg("case %zu: got %d, expected -EINVAL", i, rc);
	}
}

static void test_sidecar_parse_len(void **state)
{
	char d[RFS_DIGEST_STR_MAX + 1];
	char buf[200];

	(void)state;
	/* The text is len bytes, not a C string: what follows is ignored. */
	memset(buf, 'Z', sizeof(buf));
	memcpy(buf, HEX_HELLO "  v1\n", 69);
	assert_int_equal(rfs_sidecar_parse(buf, 69, "v1", d), 0);
	assert_string_equal(d, SHA_HELLO);
	memcpy(buf, HEX_HELLO, 64);
	assert_int_equal(rfs_sidecar_parse(buf, 64, "v1", d), 0);
	assert_string_equal(d, SHA_HELLO);
	/* Cut inside the digest. */
	assert_int_equal(rfs_sidecar_parse(buf, 40, "v1", d), -EINVAL);
	assert_int_equal(rfs_sidecar_parse(buf, 0, "v1", d), -EINVAL);
}

/* ---- names ---- */

static void test_classify(void **state)
{
	enum rfs_staged_kind k;
	char name[300];

	(void)state;
	assert_int_equal(rfs_incoming_classify("v1", &k), 0);
	assert_int_equal(k, RFS_STAGED_TAG);
	assert_int_equal(rfs_incoming_classify("1.0.0-rc1", &k), 0);
	assert_int_equal(k, RFS_STAGED_TAG);
	assert_int_equal(rfs_incoming_classify(".v1.XYZ", &k), 0);
	assert_int_equal(k, RFS_STAGED_TEMP);
	assert_int_equal(rfs_incoming_classify(".x", &k), 0);
	assert_int_equal(k, RFS_STAGED_TEMP);
	assert_int_equal(rfs_incoming_classify("v1.sha256", &k), 0);
	assert_int_equal(k, RFS_STAGED_SIDECAR);

	static const char *const bad[] = {
		"", ".", "..", "-v1", "a/b", "v1 x", "v1:x", "bad!", "a\nb",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rfs_incoming_classify(bad[i], &k) != -EINVAL)
			fail_msg("'%s' not refused", bad[i]);
	}
	memset(name, 'x', 129);
	name[129] = '\0';
	assert_int_equal(rfs_incoming_classify(name, &k), -EINVAL);
	memset(name, 'x', 128);
	name[128] = '\0';
	assert_int_equal(rfs_incoming_classify(name, &k), 0);
	assert_int_equal(k, RFS_STAGED_TAG);
}

/* ---- directories ---- */

static void test_dir_lookup(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir d, again;

	/* The fixture's top-level "app" was made by mkdir. */
	assert_int_equal(f->app.parent, 0);
	assert_string_equal(f->app.path, "app");
	assert_false(f->app.sealed);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "app", &d), 0);
	assert_int_equal(d.id, f->app.id);
	assert_int_equal(
	    rfs_incoming_dir_lookup(f->inc, 0, "app", &again, &err), 0);
	assert_int_equal(again.id, f->app.id);

	/* Deeper levels are not made up. */
	assert_int_equal(
	    rfs_incoming_dir_lookup(f->inc, f->app.id, "sub", &d, &err),
	    -ENOENT);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "app/sub", &d),
			 -ENOENT);
	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "sub", &d, &err),
			 0);
	assert_string_equal(d.path, "app/sub");
	assert_int_equal(
	    rfs_incoming_dir_lookup(f->inc, f->app.id, "sub", &again, &err), 0);
	assert_int_equal(again.id, d.id);

	/* A lookup makes no folder, at the top either (issue 15: 3000 stats
	 * left 3000 repositories; see pending.h). */
	assert_int_equal(rfs_incoming_dir_lookup(f->inc, 0, "new", &d, &err),
			 -ENOENT);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "new", &d), -ENOENT);
	assert_true(rfs_incoming_dir_lookup(f->inc, 0, "App", &d, &err) < 0);
	assert_true(rfs_incoming_dir_lookup(f->inc, 0, "-x", &d, &err) < 0);
	assert_true(rfs_incoming_dir_lookup(f->inc, 0, ".x", &d, &err) < 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "App", &d), -ENOENT);
}

static void test_mkdir_rmdir(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir d;
	struct rfs_tag t;

	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "Bad", &d, &err),
			 -EINVAL);
	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "..", &d, &err),
			 -EINVAL);
	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "sub", &d, &err),
			 0);
	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "sub", &d, &err),
			 -EEXIST);

	/* A staged file of that name is in the way. */
	int64_t id = create(f, f->app.id, "v1");
	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "v1", &d, &err),
			 -EEXIST);
	assert_int_equal(rfs_incoming_rmdir(f->inc, 0, "app", &err),
			 -ENOTEMPTY);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	/* And so is a sealed tag. */
	assert_int_equal(rfs_incoming_mkdir(f->inc, f->app.id, "v1", &d, &err),
			 -EEXIST);

	assert_int_equal(rfs_incoming_rmdir(f->inc, f->app.id, "sub", &err), 0);
	assert_int_equal(rfs_catalog_dir_by_path(f->cat, "app/sub", &d),
			 -ENOENT);
	assert_int_equal(rfs_incoming_rmdir(f->inc, f->app.id, "sub", &err),
			 -ENOENT);
	/* app holds a sealed tag now. */
	assert_int_equal(rfs_incoming_rmdir(f->inc, 0, "app", &err),
			 -ENOTEMPTY);

	/* An empty, unsealed folder goes. */
	assert_int_equal(rfs_incoming_mkdir(f->inc, 0, "scratch", &d, &err), 0);
	assert_int_equal(rfs_incoming_rmdir(f->inc, 0, "scratch", &err), 0);
}

/* ---- the life of a staged tag ---- */

static void test_create_write_close_seals(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	struct rfs_tag t, t2;
	char buf[32];

	int64_t id = create(f, f->app.id, "v1");
	assert_int_equal(rfs_incoming_lookup(f->inc, f->app.id, "v1", &info),
			 0);
	assert_int_equal(info.id, id);
	assert_int_equal(info.kind, RFS_STAGED_TAG);
	assert_true(rfs_incoming_dir_busy(f->inc, f->app.id));

	wr(f, id, "hello ", 0);
	wr(f, id, "world\n", 6);
	assert_int_equal(rfs_incoming_stat(f->inc, id, &info), 0);
	assert_int_equal(info.size, 12);
	assert_true(info.mtime_ns > 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rfs_incoming_read(f->inc, id, buf, sizeof(buf), 0),
			 12);
	assert_string_equal(buf, HELLO);
	assert_false(tag_exists(f, "app", "v1", NULL));

	memset(&t, 0, sizeof(t));
	assert_int_equal(rfs_incoming_flush(f->inc, id, true, RFS_CLOSER_DONE,
					    getpid(), NULL, &t, &err),
			 0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(t.size, 12);
	assert_string_equal(t.repo, "app");
	assert_string_equal(t.name, "v1");
	assert_true(tag_exists(f, "app", "v1", &t2));
	assert_int_equal(t2.id, t.id);
	assert_string_equal(t2.digest, SHA_HELLO);

	/* Sealed: no longer staged; the name stays for its publisher's
	 * window, as the tag. */
	assert_false(staged(f, f->app.id, "v1"));
	assert_true(just_sealed(f, f->app.id, "v1"));
	assert_false(rfs_incoming_dir_busy(f->inc, f->app.id));
	assert_int_equal(release(f, id), 0);
	assert_int_equal(staging_count(f), 0);
	assert_int_equal(blob_count(f), 1);

	/* The repository directory is sealed now. */
	struct rfs_dir d;
	assert_int_equal(rfs_catalog_dir_by_id(f->cat, f->app.id, &d), 0);
	assert_true(d.sealed);
}

static void test_nested_repo(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir org, team, app;
	struct rfs_tag t;

	assert_int_equal(rfs_incoming_mkdir(f->inc, 0, "org", &org, &err), 0);
	assert_int_equal(
	    rfs_incoming_mkdir(f->inc, org.id, "team", &team, &err), 0);
	assert_int_equal(rfs_incoming_mkdir(f->inc, team.id, "app", &app, &err),
			 0);
	int64_t id = create(f, app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_string_equal(t.repo, "org/team/app");
	assert_true(tag_exists(f, "org/team/app", "v1", NULL));
}

static void test_still_open_then_done(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t;

	/* A dup()ed or inherited descriptor is closed first: no seal. */
	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, "hello ", 0);
	assert_int_equal(flush(f, id, RFS_CLOSER_STILL_OPEN, &t), 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_true(staged(f, f->app.id, "v1"));

	/* The remaining descriptor writes on, then closes. */
	wr(f, id, "world\n", 6);
	memset(&t, 0, sizeof(t));
	assert_int_equal(flush(f, id, RFS_CLOSER_DONE, &t), 0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_true(tag_exists(f, "app", "v1", NULL));
	assert_int_equal(release(f, id), 0);
}

static void test_release_seals(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	/* No DONE flush came (only STILL_OPEN ones): the release seals. */
	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(flush(f, id, RFS_CLOSER_STILL_OPEN, NULL), 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	memset(&t, 0, sizeof(t));
	assert_int_equal(rfs_incoming_release(f->inc, id, true, &t, &err), 0);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_string_equal(t.digest, SHA_HELLO);
}

static void test_killed_discards(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t;

	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, "half of it", 0);
	(void)flush(f, id, RFS_CLOSER_KILLED, NULL);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_false(staged(f, f->app.id, "v1"));
	(void)release(f, id);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
	assert_false(rfs_incoming_dir_busy(f->inc, f->app.id));

	/* The name is free again: a retry seals. */
	id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_string_equal(t.digest, SHA_HELLO);
}

static void test_create_conflicts(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	int64_t id = create(f, f->app.id, "v1");
	/* Being written. */
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "v1", 0644, &info, &err),
	    -EEXIST);
	/* A second writer through open is refused too; a reader is not. */
	assert_int_equal(rfs_incoming_open(f->inc, id, true, &err), -EEXIST);
	assert_int_equal(rfs_incoming_open(f->inc, id, false, &err), 0);
	wr(f, id, HELLO, 0);
	/* The reader closes first: that does not seal. */
	assert_int_equal(rfs_incoming_flush(f->inc, id, false, RFS_CLOSER_DONE,
					    getpid(), NULL, NULL, &err),
			 0);
	assert_int_equal(rfs_incoming_release(f->inc, id, false, NULL, &err),
			 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_true(staged(f, f->app.id, "v1"));

	assert_int_equal(close_writer(f, id, &t), 0);
	assert_true(tag_exists(f, "app", "v1", NULL));

	/* Sealed. */
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "v1", 0644, &info, &err),
	    -EEXIST);
	assert_false(staged(f, f->app.id, "v1"));

	/* A folder of that name. */
	struct rfs_dir sub;
	assert_int_equal(
	    rfs_incoming_mkdir(f->inc, f->app.id, "sub", &sub, &err), 0);
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "sub", 0644, &info, &err),
	    -EEXIST);

	/* Bad names. */
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "-v2", 0644, &info, &err),
	    -EINVAL);
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "..", 0644, &info, &err),
	    -EINVAL);
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "a/b", 0644, &info, &err),
	    -EINVAL);
}

static void test_temp_rename_seals(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	/* rsync: write ".v1.XYZ", close it, rename it onto "v1". */
	int64_t id = create(f, f->app.id, ".v1.XYZ");
	assert_int_equal(
	    rfs_incoming_lookup(f->inc, f->app.id, ".v1.XYZ", &info), 0);
	assert_int_equal(info.kind, RFS_STAGED_TEMP);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_false(tag_exists(f, "app", ".v1.XYZ", NULL));
	assert_true(staged(f, f->app.id, ".v1.XYZ"));

	memset(&t, 0, sizeof(t));
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v1.XYZ",
					     f->app.id, "v1", 0, getpid(), &t,
					     &err),
			 0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_string_equal(t.name, "v1");
	assert_true(tag_exists(f, "app", "v1", NULL));
	assert_false(staged(f, f->app.id, ".v1.XYZ"));
	assert_false(staged(f, f->app.id, "v1"));
	assert_int_equal(staging_count(f), 0);
}

static void test_rename_onto_existing_tag(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, NULL), 0);

	id = create(f, f->app.id, ".v1.tmp");
	wr(f, id, "abc", 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v1.tmp",
					     f->app.id, "v1", 0, getpid(), &t,
					     &err),
			 -EEXIST);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(blob_count(f), 1);

	/* Onto another tag name it still seals. */
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v1.tmp",
					     f->app.id, "v2", 0, getpid(), &t,
					     &err),
			 0);
	assert_true(tag_exists(f, "app", "v2", &t));
	assert_string_equal(t.digest, SHA_ABC);
}

static void test_rename_while_open(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	/* Renamed onto a tag name with its writer still open: sealed when
	 * that writer closes. */
	int64_t id = create(f, f->app.id, ".part");
	wr(f, id, "hello ", 0);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".part",
					     f->app.id, "v1", 0, getpid(), NULL,
					     &err),
			 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_true(staged(f, f->app.id, "v1"));
	assert_false(staged(f, f->app.id, ".part"));
	wr(f, id, "world\n", 6);
	memset(&t, 0, sizeof(t));
	assert_int_equal(flush(f, id, RFS_CLOSER_DONE, &t), 0);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(release(f, id), 0);
}

/* The kernel sends a close's RELEASE on its own: a rename right after the
 * close may be served first. It waits for that release and seals. */
struct late_release {
	struct fixture *f;
	int64_t id;
	bool kill_other; /* first a killed writer's close */
	int rc;
};

static void *release_later(void *arg)
{
	struct late_release *r = arg;

	usleep(100 * 1000);
	if (r->kill_other) {
		flush(r->f, r->id, RFS_CLOSER_KILLED, NULL);
		release(r->f, r->id);
	}
	r->rc = release(r->f, r->id);
	return NULL;
}

static int rename_to(struct fixture *f, const char *from, const char *to,
		     struct rfs_tag *t, struct rfs_error *err)
{
	return rfs_incoming_rename(f->inc, f->app.id, from, f->app.id, to, 0,
				   getpid(), t, err);
}

static int64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void test_rename_before_release(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct late_release r = { .f = f };
	struct rfs_tag t = { 0 };
	struct timespec t0;
	pthread_t th;

	r.id = create(f, f->app.id, ".v1.XYZ");
	wr(f, r.id, HELLO, 0);
	assert_int_equal(flush(f, r.id, RFS_CLOSER_DONE, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, release_later, &r), 0);
	assert_int_equal(rename_to(f, ".v1.XYZ", "v1", &t, &err), 0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_true(tag_exists(f, "app", "v1", NULL));
	pthread_join(th, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(staging_count(f), 0);

	/* A writer that still holds another descriptor is not waited for:
	 * its last close seals. */
	r.id = create(f, f->app.id, ".v2.XYZ");
	wr(f, r.id, HELLO, 0);
	assert_int_equal(flush(f, r.id, RFS_CLOSER_STILL_OPEN, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rename_to(f, ".v2.XYZ", "v2", NULL, &err), 0);
	assert_true(elapsed_ms(&t0) < 1000);
	assert_false(tag_exists(f, "app", "v2", NULL));
	assert_int_equal(release(f, r.id), 0);
	assert_true(tag_exists(f, "app", "v2", NULL));

	/* A writer that closed it and another that opened it since: the
	 * rename waits for the first one's release only. */
	r.id = create(f, f->app.id, ".v5.XYZ");
	wr(f, r.id, HELLO, 0);
	assert_int_equal(flush(f, r.id, RFS_CLOSER_DONE, NULL), 0);
	assert_int_equal(rfs_incoming_open(f->inc, r.id, true, &err), 0);
	r.kill_other = false;
	assert_int_equal(pthread_create(&th, NULL, release_later, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rename_to(f, ".v5.XYZ", "v5", NULL, &err), 0);
	assert_true(elapsed_ms(&t0) < 1000);
	pthread_join(th, NULL);
	assert_false(tag_exists(f, "app", "v5", NULL));
	assert_int_equal(close_writer(f, r.id, NULL), 0);
	assert_true(tag_exists(f, "app", "v5", NULL));

	/* A closed descriptor whose release does not come (a forked child
	 * holds it): the rename waits its while (2 s), then leaves the seal
	 * to that release. */
	r.id = create(f, f->app.id, ".v3.XYZ");
	wr(f, r.id, HELLO, 0);
	assert_int_equal(flush(f, r.id, RFS_CLOSER_DONE, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rename_to(f, ".v3.XYZ", "v3", NULL, &err), 0);
	assert_true(elapsed_ms(&t0) >= 1900);
	assert_false(tag_exists(f, "app", "v3", NULL));
	assert_int_equal(release(f, r.id), 0);
	assert_true(tag_exists(f, "app", "v3", NULL));

	/* Another writer killed while the rename waits: the rename fails. */
	r.id = create(f, f->app.id, ".v4.XYZ");
	assert_int_equal(rfs_incoming_open(f->inc, r.id, true, &err), 0);
	wr(f, r.id, HELLO, 0);
	assert_int_equal(flush(f, r.id, RFS_CLOSER_DONE, NULL), 0);
	r.kill_other = true;
	assert_int_equal(pthread_create(&th, NULL, release_later, &r), 0);
	assert_int_equal(rename_to(f, ".v4.XYZ", "v4", NULL, &err), -ECANCELED);
	pthread_join(th, NULL);
	assert_false(tag_exists(f, "app", "v4", NULL));
}

/* publish=rename (NFS): closes never seal, a rename does, at once. */
static void test_seal_on_rename(void **state)
{
	struct fixture *f = *state;
	struct rfs_incoming_options opts = { .first_id = (INT64_C(7) << 32) | 1,
					     .seal_on_rename = true };
	struct rfs_error err = { 0 };
	struct rfs_staged_info info;
	struct rfs_tag t;
	int64_t id, empty, part;

	rfs_incoming_free(&f->inc);
	assert_int_equal(rfs_incoming_new(f->store, &opts, &f->inc), 0);
	/* Written under a tag's name and closed: still staged, however the
	 * closer went (an NFS server closes when it likes). */
	id = create(f, f->app.id, "v1");
	assert_int_equal(id, opts.first_id);
	wr(f, id, "hello ", 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_true(staged(f, f->app.id, "v1"));
	/* Created and never written, closed: never an empty tag. */
	empty = create(f, f->app.id, "v2");
	assert_int_equal(empty, opts.first_id + 1);
	assert_int_equal(close_writer(f, empty, NULL), 0);
	assert_false(tag_exists(f, "app", "v2", NULL));
	/* More bytes later, through a new handle: still one file. */
	assert_int_equal(rfs_incoming_open(f->inc, id, true, &err), 0);
	wr(f, id, "world\n", 6);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_false(tag_exists(f, "app", "v1", NULL));
	/* The rename onto a tag name seals what is there. */
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, "v1", f->app.id,
					     "v3", 0, getpid(), NULL, &err),
			 0);
	assert_true(tag_exists(f, "app", "v3", &t));
	assert_string_equal(t.digest, SHA_HELLO);
	assert_false(tag_exists(f, "app", "v1", NULL));
	/* Renamed with a writer still open: sealed now, and that writer's
	 * later writes fail. */
	part = create(f, f->app.id, ".part");
	wr(f, part, "hello world\n", 0);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".part",
					     f->app.id, "v4", 0, getpid(), NULL,
					     &err),
			 0);
	assert_true(tag_exists(f, "app", "v4", &t));
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(rfs_incoming_write(f->inc, part, "x", 1, 12, &err),
			 -EROFS);
	assert_int_equal(close_writer(f, part, NULL), 0);
	/* A staged name may not be a tag's: a rename could never seal it. */
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "v3", 0644, &info, &err),
	    -EEXIST);
	/* An empty file renamed is meant: sealed empty. */
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, "v2", f->app.id,
					     "v5", 0, getpid(), NULL, &err),
			 0);
	assert_true(tag_exists(f, "app", "v5", &t));
	assert_int_equal(t.size, 0);
}

static void test_rename_missing(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };

	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".nope",
					     f->app.id, "v1", 0, getpid(), NULL,
					     &err),
			 -ENOENT);
}

static void write_sidecar(struct fixture *f, const char *name, const char *text)
{
	int64_t id = create(f, f->app.id, name);
	struct rfs_staged_info info;

	assert_int_equal(rfs_incoming_stat(f->inc, id, &info), 0);
	assert_int_equal(info.kind, RFS_STAGED_SIDECAR);
	wr(f, id, text, 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	/* A checksum file is never sealed itself. */
	assert_false(tag_exists(f, "app", name, NULL));
}

static void test_sidecar_mismatch(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	write_sidecar(f, "v1.sha256", HEX_OTHER "  v1\n");
	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(rfs_incoming_flush(f->inc, id, true, RFS_CLOSER_DONE,
					    getpid(), NULL, &t, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "mismatch"));
	(void)release(f, id);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
}

static void test_sidecar_match(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t;

	write_sidecar(f, "v1.sha256", HEX_HELLO "  dist/v1\n");
	/* A bare digest works for another tag. */
	write_sidecar(f, "v2.sha256", HEX_ABC "\n");

	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_string_equal(t.digest, SHA_HELLO);

	id = create(f, f->app.id, "v2");
	wr(f, id, "abc", 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_true(tag_exists(f, "app", "v2", &t));
	assert_string_equal(t.digest, SHA_ABC);

	/* Wrong content for a checksum file checked through a rename too. */
	write_sidecar(f, "v3.sha256", HEX_ABC "  v3\n");
	id = create(f, f->app.id, ".v3.tmp");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	struct rfs_error err = { 0 };
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v3.tmp",
					     f->app.id, "v3", 0, getpid(), &t,
					     &err),
			 -EBADMSG);
	assert_false(tag_exists(f, "app", "v3", NULL));
}

static void test_rsync_sidecar_by_rename(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_staged_info info;
	struct rfs_tag t;

	/* rsync writes every file as a temporary and renames it. */
	int64_t id = create(f, f->app.id, ".v1.sha256.AbC123");
	wr(f, id, HEX_ABC "  v1\n", 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_int_equal(rfs_incoming_rename(
			     f->inc, f->app.id, ".v1.sha256.AbC123", f->app.id,
			     "v1.sha256", 0, getpid(), NULL, &err),
			 0);
	assert_int_equal(
	    rfs_incoming_lookup(f->inc, f->app.id, "v1.sha256", &info), 0);
	assert_int_equal(info.kind, RFS_STAGED_SIDECAR);
	assert_false(tag_exists(f, "app", "v1.sha256", NULL));

	id = create(f, f->app.id, ".v1.XyZ789");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v1.XyZ789",
					     f->app.id, "v1", 0, getpid(), &t,
					     &err),
			 -EBADMSG);
	assert_false(tag_exists(f, "app", "v1", NULL));

	id = create(f, f->app.id, ".v1.QqQ000");
	wr(f, id, "abc", 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v1.QqQ000",
					     f->app.id, "v1", 0, getpid(), &t,
					     &err),
			 0);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_string_equal(t.digest, SHA_ABC);
}

static void test_unlink_in_progress(void **state)
{
	struct fixture *f = *state;
	struct rfs_tag t;

	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, "partial", 0);
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, "v1"), 0);
	assert_false(staged(f, f->app.id, "v1"));
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, "v1"), -ENOENT);

	/* The writer goes on and closes: nothing is sealed. */
	wr(f, id, " more", 7);
	(void)flush(f, id, RFS_CLOSER_DONE, NULL);
	(void)release(f, id);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_int_equal(blob_count(f), 0);
	assert_int_equal(staging_count(f), 0);
	assert_false(rfs_incoming_dir_busy(f->inc, f->app.id));

	/* The name is free again. */
	id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_string_equal(t.digest, SHA_HELLO);

	/* A closed temporary and a checksum file can be removed. */
	id = create(f, f->app.id, ".tmp");
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, ".tmp"), 0);
	write_sidecar(f, "v9.sha256", HEX_ABC);
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, "v9.sha256"),
			 0);
	assert_false(rfs_incoming_dir_busy(f->inc, f->app.id));
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, "nope"),
			 -ENOENT);
}

static void test_sealed_handle_stays_readable(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	char buf[32];

	/* A reader still open when the writer seals keeps the entry alive. */
	int64_t id = create(f, f->app.id, "v1");
	assert_int_equal(rfs_incoming_open(f->inc, id, false, &err), 0);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_true(tag_exists(f, "app", "v1", NULL));
	assert_false(staged(f, f->app.id, "v1"));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(rfs_incoming_read(f->inc, id, buf, sizeof(buf), 0),
			 12);
	assert_string_equal(buf, HELLO);
	assert_int_equal(rfs_incoming_flush(f->inc, id, false, RFS_CLOSER_DONE,
					    getpid(), NULL, NULL, &err),
			 0);
	assert_int_equal(rfs_incoming_release(f->inc, id, false, NULL, &err),
			 0);
}

static void test_retry_after_mismatch(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_tag t;

	write_sidecar(f, "v1.sha256", HEX_OTHER);
	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(flush(f, id, RFS_CLOSER_DONE, &t), -EBADMSG);
	/* The failed entry is gone: the name can be written again. */
	assert_false(staged(f, f->app.id, "v1"));
	(void)release(f, id);
	/* The checksum file went with the failed seal: none is left. */
	assert_false(staged(f, f->app.id, "v1.sha256"));
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, "v1.sha256"),
			 -ENOENT);
	assert_int_equal(staging_count(f), 0);
	id = create(f, f->app.id, "v1");
	wr(f, id, HELLO, 0);
	assert_int_equal(rfs_incoming_flush(f->inc, id, true, RFS_CLOSER_DONE,
					    getpid(), NULL, &t, &err),
			 0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(release(f, id), 0);
}

static void test_sidecar_too_big(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	static char big[RFS_SIDECAR_MAX + 1];

	memset(big, ' ', sizeof(big));
	int64_t id = create(f, f->app.id, "v1.sha256");
	assert_int_equal(
	    rfs_incoming_write(f->inc, id, big, RFS_SIDECAR_MAX, 0, &err),
	    RFS_SIDECAR_MAX);
	assert_int_equal(
	    rfs_incoming_write(f->inc, id, big, 1, RFS_SIDECAR_MAX, &err),
	    -EFBIG);
	assert_int_equal(
	    rfs_incoming_truncate(f->inc, id, RFS_SIDECAR_MAX + 1, &err),
	    -EFBIG);
	(void)close_writer(f, id, NULL);
}

static void test_rename_across_and_noreplace(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	struct rfs_dir other;
	struct rfs_tag t;

	assert_int_equal(rfs_incoming_mkdir(f->inc, 0, "other", &other, &err),
			 0);
	int64_t a = create(f, f->app.id, ".a");
	wr(f, a, HELLO, 0);
	assert_int_equal(close_writer(f, a, NULL), 0);
	int64_t b = create(f, f->app.id, ".b");
	assert_int_equal(close_writer(f, b, NULL), 0);

	/* RENAME_NOREPLACE onto a staged name. */
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".a", f->app.id,
					     ".b", RENAME_NOREPLACE, getpid(),
					     NULL, &err),
			 -EEXIST);
	assert_true(staged(f, f->app.id, ".a"));

	/* Into another repository's folder. */
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".a", other.id,
					     "v1", 0, getpid(), &t, &err),
			 0);
	assert_true(tag_exists(f, "other", "v1", &t));
	assert_string_equal(t.digest, SHA_HELLO);
	assert_false(tag_exists(f, "app", "v1", NULL));
	assert_false(staged(f, f->app.id, ".a"));
}

struct race {
	struct fixture *f;
	const char *name;
	const char *content;
	int rc_create;
	int rc_seal;
	pthread_barrier_t *barrier;
};

static void *race_create(void *arg)
{
	struct race *r = arg;
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };

	pthread_barrier_wait(r->barrier);
	r->rc_create = rfs_incoming_create(r->f->inc, r->f->app.id, r->name,
					   0644, &info, &err);
	if (r->rc_create == 0) {
		size_t len = strlen(r->content);
		if (rfs_incoming_write(r->f->inc, info.id, r->content, len, 0,
				       &err) != (ssize_t)len)
			r->rc_seal = -EIO;
		else
			r->rc_seal = rfs_incoming_flush(
			    r->f->inc, info.id, true, RFS_CLOSER_DONE, getpid(),
			    NULL, NULL, &err);
		rfs_incoming_release(r->f->inc, info.id, true, NULL, &err);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	enum { N = 8 };
	pthread_t th[N];
	struct race r[N];
	pthread_barrier_t barrier;
	static const char *const names[N] = { "t0", "t1", "t2", "t3",
					      "t4", "t5", "t6", "t7" };

	/* Racing creators of one name: exactly one wins, and seals. */
	pthread_barrier_init(&barrier, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] = (struct race){ .f = f,
				      .name = "race",
				      .content = HELLO,
				      .barrier = &barrier };
		assert_int_equal(
		    pthread_create(&th[i], NULL, race_create, &r[i]), 0);
	}
	int winners = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		if (r[i].rc_create == 0) {
			winners++;
			assert_int_equal(r[i].rc_seal, 0);
		} else {
			assert_int_equal(r[i].rc_create, -EEXIST);
		}
	}
	pthread_barrier_destroy(&barrier);
	assert_int_equal(winners, 1);
	assert_true(tag_exists(f, "app", "race", NULL));

	/* Different names, same content, all at once: all seal, one blob. */
	pthread_barrier_init(&barrier, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] = (struct race){ .f = f,
				      .name = names[i],
				      .content = "same bytes everywhere",
				      .barrier = &barrier };
		assert_int_equal(
		    pthread_create(&th[i], NULL, race_create, &r[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc_create, 0);
		assert_int_equal(r[i].rc_seal, 0);
		assert_true(tag_exists(f, "app", names[i], NULL));
	}
	pthread_barrier_destroy(&barrier);
	assert_int_equal(blob_count(f), 2);
	assert_int_equal(staging_count(f), 0);
	struct rfs_tag t;
	assert_true(tag_exists(f, "app", "t3", &t));
	struct rfs_blob b;
	assert_int_equal(rfs_catalog_blob_get(f->cat, t.digest, &b), 0);
	assert_int_equal(b.refs, N);
}

struct kinds {
	int n, tags, temps, sidecars;
	int stop_after;
};

static int count_kind(void *ctx, const struct rfs_staged_info *info)
{
	struct kinds *k = ctx;

	k->n++;
	switch (info->kind) {
	case RFS_STAGED_TAG: k->tags++; break;
	case RFS_STAGED_TEMP: k->temps++; break;
	case RFS_STAGED_SIDECAR: k->sidecars++; break;
	}
	return k->stop_after && k->n >= k->stop_after ? 5 : 0;
}

static void test_truncate_and_list(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	struct kinds k = { 0 };

	int64_t id = create(f, f->app.id, "v1");
	wr(f, id, "hello world\nand a lot more after it", 0);
	assert_int_equal(rfs_incoming_truncate(f->inc, id, 12, &err), 0);
	assert_int_equal(rfs_incoming_stat(f->inc, id, &info), 0);
	assert_int_equal(info.size, 12);

	int64_t tmp = create(f, f->app.id, ".t");
	write_sidecar(f, "v2.sha256", HEX_ABC);

	assert_int_equal(rfs_incoming_list(f->inc, f->app.id, count_kind, &k),
			 0);
	assert_int_equal(k.n, 3);
	assert_int_equal(k.tags, 1);
	assert_int_equal(k.temps, 1);
	assert_int_equal(k.sidecars, 1);
	memset(&k, 0, sizeof(k));
	k.stop_after = 1;
	assert_int_equal(rfs_incoming_list(f->inc, f->app.id, count_kind, &k),
			 5);
	assert_int_equal(k.n, 1);

	/* Other folders see nothing. */
	struct rfs_dir other;
	assert_int_equal(rfs_incoming_mkdir(f->inc, 0, "other", &other, &err),
			 0);
	memset(&k, 0, sizeof(k));
	assert_int_equal(rfs_incoming_list(f->inc, other.id, count_kind, &k),
			 0);
	assert_int_equal(k.n, 0);
	assert_false(staged(f, other.id, "v1"));

	assert_int_equal(close_writer(f, id, &t), 0);
	assert_string_equal(t.digest, SHA_HELLO);
	assert_int_equal(close_writer(f, tmp, NULL), 0);
	memset(&k, 0, sizeof(k));
	assert_int_equal(rfs_incoming_list(f->inc, f->app.id, count_kind, &k),
			 0);
	assert_int_equal(k.tags, 0);
	assert_int_equal(k.temps, 1);
}

/* ---- who closed the file ---- */

static void test_proc_closer_self(void **state)
{
	char path[] = "/tmp/regfs-test-closer-XXXXXX";
	struct stat st;

	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);

	/* We hold a descriptor of that inode: still open. */
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino }),
	    RFS_CLOSER_STILL_OPEN);
	close(fd);
	unlink(path);
	/* Now we hold none. */
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino }),
	    RFS_CLOSER_DONE);
	assert_int_equal(rfs_proc_closer(getpid(),
					 &(struct rfs_proc_file){
					     .ino = UINT64_C(0x7ffffffffff1) }),
			 RFS_CLOSER_DONE);
}

/* Only writable descriptors count, and those of every process: a file
 * opened for writing and then shared with a child is not done with when
 * we close our copy. */
static void test_proc_closer_shared(void **state)
{
	char path[] = "/tmp/regfs-test-shared-XXXXXX";
	const char *base;
	int fd, ro, go[2];
	struct stat st;
	pid_t child, since;
	char c = 0;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	base = strrchr(path, '/');
	ro = open(path, O_RDONLY);
	assert_true(ro >= 0);
	assert_int_equal(pipe(go), 0);
	since = rfs_proc_last_pid();
	assert_true(since > 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* Holds fd (writable) until told to go. */
		close(ro);
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(go[0]);
	close(fd);
	/* A read-only descriptor of our own does not count; the child's
	 * writable one does, found with or without a path to look for. */
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino }),
	    RFS_CLOSER_SHARED);
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino,
						     .suffix = base,
						     .since = since }),
	    RFS_CLOSER_SHARED);
	/* A path that is not the file's: not looked at. */
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino,
						     .suffix = "/no/such" }),
	    RFS_CLOSER_DONE);
	/* Not looked at: a process older than the open (the opener is,
	 * when it is named). */
	assert_int_equal(
	    rfs_proc_closer(
		getpid(),
		&(struct rfs_proc_file){ .ino = st.st_ino, .since = child }),
	    RFS_CLOSER_DONE);
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino,
						     .since = child,
						     .opener = child }),
	    RFS_CLOSER_SHARED);
	assert_int_equal(write(go[1], &c, 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(
	    rfs_proc_closer(getpid(),
			    &(struct rfs_proc_file){ .ino = st.st_ino,
						     .suffix = base,
						     .since = since }),
	    RFS_CLOSER_DONE);
	close(ro);
	unlink(path);
	assert_false(rfs_proc_dying(getpid()));
	assert_true(rfs_proc_dying(child)); /* gone */
}

/* A child that ends as told and stays a zombie, so /proc/<pid> remains. */
static pid_t zombie(int how)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (how > 0)
			_exit(how);
		for (;;)
			pause();
	}
	if (how <= 0)
		kill(pid, -how);
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_proc_closer_children(void **state)
{
	(void)state;
	pid_t pid = zombie(-SIGKILL);
	assert_int_equal(
	    rfs_proc_closer(pid, &(struct rfs_proc_file){ .ino = 12345 }),
	    RFS_CLOSER_KILLED);
	reap(pid);

	pid = zombie(-SIGINT);
	assert_int_equal(
	    rfs_proc_closer(pid, &(struct rfs_proc_file){ .ino = 12345 }),
	    RFS_CLOSER_KILLED);
	reap(pid);

	/* A normal exit, even with a status that looks like a signal
	 * number, is not a kill. */
	pid = zombie(9);
	assert_int_equal(
	    rfs_proc_closer(pid, &(struct rfs_proc_file){ .ino = 12345 }),
	    RFS_CLOSER_DONE);
	reap(pid);
	pid = zombie(3);
	assert_int_equal(
	    rfs_proc_closer(pid, &(struct rfs_proc_file){ .ino = 12345 }),
	    RFS_CLOSER_DONE);
	reap(pid);
}

/* ---- modes and times: before close, and in the publisher's window ---- */

static int create_mode(struct fixture *f, const char *name, unsigned mode)
{
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };

	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, name, mode, &info, &err), 0);
	assert_int_equal(info.mode, mode & 0777);
	return (int)info.id;
}

static int set_attrs(struct fixture *f, int64_t id, pid_t pid,
		     const struct rfs_staged_setattr *set, struct rfs_tag *out)
{
	struct rfs_error err = { 0 };

	return rfs_incoming_setattr(f->inc, id, pid, set, out, &err);
}

static void test_mode_and_times_before_close(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_setattr chmod_exe = { .attrs = { .set_mode = true,
							   .mode = 0700 } };
	struct rfs_staged_setattr touch = {
		.attrs = { .set_mtime = true, .mtime_ns = 981173106000000007 }
	};
	struct rfs_staged_info info;
	struct rfs_tag t;
	int64_t id;

	/* The mode open(O_CREAT) was given, as cp passes the source's. */
	id = create_mode(f, "exe", 0755);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_int_equal(t.mode, 0755);
	assert_true(t.mtime_ns == t.created_ns);

	/* Set-id and sticky bits are not stored. */
	id = create_mode(f, "suid", 06755);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_int_equal(t.mode, 0755);

	/* fchmod and futimens before close, as cp -p and tar -x do. */
	id = create_mode(f, "chmodded", 0600);
	wr(f, id, HELLO, 0);
	assert_int_equal(set_attrs(f, id, getpid(), &chmod_exe, NULL), 0);
	assert_int_equal(set_attrs(f, id, getpid(), &touch, NULL), 0);
	assert_int_equal(rfs_incoming_stat(f->inc, id, &info), 0);
	assert_int_equal(info.mode, 0700);
	assert_true(info.mtime_ns == 981173106000000007);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_int_equal(t.mode, 0755);
	assert_true(t.mtime_ns == 981173106000000007);

	/* A write after the mtime was set moves it: the seal dates it. */
	id = create_mode(f, "rewritten", 0644);
	assert_int_equal(set_attrs(f, id, getpid(), &touch, NULL), 0);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_int_equal(t.mode, 0644);
	assert_true(t.mtime_ns == t.created_ns);
}

struct thread_setattr {
	struct fixture *f;
	int64_t id;
	const struct rfs_staged_setattr *set;
	int rc;
};

static void *setattr_from_thread(void *arg)
{
	struct thread_setattr *ts = arg;
	struct rfs_tag t;

	ts->rc = set_attrs(ts->f, ts->id, gettid(), ts->set, &t);
	return NULL;
}

static void test_publisher_window(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_setattr chmod_exe = { .attrs = { .set_mode = true,
							   .mode = 0755 } };
	struct rfs_staged_setattr touch = {
		.attrs = { .set_mtime = true, .mtime_ns = 1000000000 }
	};
	struct rfs_staged_setattr chown = { .set_other = true };
	struct rfs_staged_setattr shrink = { .set_size = true, .size = 1 };
	struct rfs_staged_setattr same_size = { .set_size = true, .size = 12 };
	struct thread_setattr ts = { .f = f, .set = &touch };
	struct rfs_staged_info info;
	struct rfs_error err = { 0 };
	struct rfs_tag t, changed;
	pthread_t thread;
	int64_t id;
	pid_t other;

	/* install: create 0600, write, close, then chmod by name. */
	id = create_mode(f, "v1", 0600);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_int_equal(t.mode, 0644);
	assert_int_equal(rfs_incoming_lookup(f->inc, f->app.id, "v1", &info),
			 0);
	assert_true(info.sealed);
	assert_true(info.tag_id == t.id);
	assert_int_equal(info.size, 12);

	/* Another process may change nothing, not even owners. */
	other = fork();
	assert_true(other >= 0);
	if (other == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(set_attrs(f, id, other, &chmod_exe, &changed), -EROFS);
	assert_int_equal(set_attrs(f, id, other, &chown, &changed), -EROFS);
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_int_equal(t.mode, 0644);

	/* The publisher may, and the tag changes. */
	assert_int_equal(set_attrs(f, id, getpid(), &chmod_exe, &changed), 0);
	assert_true(changed.id == t.id);
	assert_int_equal(changed.mode, 0755);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_int_equal(t.mode, 0755);
	assert_int_equal(rfs_incoming_stat(f->inc, id, &info), 0);
	assert_int_equal(info.mode, 0755);
	/* ... from any of its threads (utime from a worker thread). */
	ts.id = id;
	assert_int_equal(
	    pthread_create(&thread, NULL, setattr_from_thread, &ts), 0);
	pthread_join(thread, NULL);
	assert_int_equal(ts.rc, 0);
	assert_true(tag_exists(f, "app", "v1", &t));
	assert_true(t.mtime_ns == 1000000000);
	/* Owners are taken and not kept; the content never changes. */
	assert_int_equal(set_attrs(f, id, getpid(), &chown, &changed), 0);
	assert_int_equal(set_attrs(f, id, getpid(), &same_size, &changed), 0);
	assert_int_equal(set_attrs(f, id, getpid(), &shrink, &changed), -EROFS);

	/* The name is read-only, and not listed. */
	assert_int_equal(rfs_incoming_open(f->inc, id, true, &err), -EEXIST);
	assert_int_equal(
	    rfs_incoming_create(f->inc, f->app.id, "v1", 0644, &info, &err),
	    -EEXIST);
	assert_int_equal(rfs_incoming_unlink(f->inc, f->app.id, "v1"), -EROFS);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, "v1", f->app.id,
					     "v2", 0, getpid(), NULL, &err),
			 -EROFS);
	assert_false(rfs_incoming_dir_busy(f->inc, f->app.id));

	/* After the window, not even the publisher. */
	rfs_incoming_set_window(f->inc, 50);
	id = create_mode(f, "v3", 0644);
	assert_int_equal(close_writer(f, id, &t), 0);
	assert_true(just_sealed(f, f->app.id, "v3"));
	usleep(80 * 1000);
	assert_int_equal(set_attrs(f, id, getpid(), &chmod_exe, &changed),
			 -EROFS);
	assert_true(tag_exists(f, "app", "v3", &t));
	assert_int_equal(t.mode, 0644);
	assert_false(just_sealed(f, f->app.id, "v3"));
	assert_int_equal(staging_count(f), 0);
}

/* A tag sealed by renaming a temporary onto its name (rsync) is the
 * renamer's; a tag sealed at release, its last closer's. */
static void test_publisher_of_rename_and_release(void **state)
{
	struct fixture *f = *state;
	struct rfs_staged_setattr chmod_exe = { .attrs = { .set_mode = true,
							   .mode = 0755 } };
	struct rfs_error err = { 0 };
	struct rfs_tag t, changed;
	int64_t id;

	id = create_mode(f, ".v1.XyZ", 0600);
	wr(f, id, HELLO, 0);
	assert_int_equal(close_writer(f, id, NULL), 0);
	assert_int_equal(rfs_incoming_rename(f->inc, f->app.id, ".v1.XyZ",
					     f->app.id, "v1", 0, getpid(), &t,
					     &err),
			 0);
	assert_int_equal(set_attrs(f, id, getpid(), &chmod_exe, &changed), 0);
	assert_int_equal(changed.mode, 0755);

	id = create_mode(f, "v2", 0644);
	wr(f, id, HELLO, 0);
	assert_int_equal(flush(f, id, RFS_CLOSER_STILL_OPEN, NULL), 0);
	assert_int_equal(rfs_incoming_release(f->inc, id, true, &t, &err), 0);
	assert_true(tag_exists(f, "app", "v2", NULL));
	assert_int_equal(set_attrs(f, id, getpid(), &chmod_exe, &changed), 0);
	assert_int_equal(changed.mode, 0755);
}

static void test_proc_tgid(void **state)
{
	(void)state;
	assert_int_equal(rfs_proc_tgid(getpid()), getpid());
	assert_int_equal(rfs_proc_tgid(gettid()), getpid());
	assert_int_equal(rfs_proc_tgid(0), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sidecar_parse),
		cmocka_unit_test(test_sidecar_parse_invalid),
		cmocka_unit_test(test_sidecar_parse_len),
		cmocka_unit_test(test_classify),
		T(test_dir_lookup),
		T(test_mkdir_rmdir),
		T(test_create_write_close_seals),
		T(test_nested_repo),
		T(test_still_open_then_done),
		T(test_release_seals),
		T(test_killed_discards),
		T(test_create_conflicts),
		T(test_temp_rename_seals),
		T(test_rename_onto_existing_tag),
		T(test_rename_while_open),
		T(test_rename_before_release),
		T(test_seal_on_rename),
		T(test_rename_missing),
		T(test_sidecar_mismatch),
		T(test_sidecar_match),
		T(test_rsync_sidecar_by_rename),
		T(test_unlink_in_progress),
		T(test_truncate_and_list),
		T(test_sealed_handle_stays_readable),
		T(test_retry_after_mismatch),
		T(test_sidecar_too_big),
		T(test_rename_across_and_noreplace),
		T(test_threads),
		T(test_mode_and_times_before_close),
		T(test_publisher_window),
		T(test_publisher_of_rename_and_release),
		cmocka_unit_test(test_proc_tgid),
		cmocka_unit_test(test_proc_closer_self),
		cmocka_unit_test(test_proc_closer_children),
		cmocka_unit_test(test_proc_closer_shared),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
