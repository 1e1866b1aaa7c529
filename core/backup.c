/*
 * backup.c - regctl backup and restore (see backup.h for the steps and why
 * they keep a copy whole).
 *
 * Both are one job: a source store (open read-only), a destination store
 * open exclusively, a snapshot of the source's catalog in the
 * destination's staging/, and the blobs it names brought over one by one.
 * Blobs are linked, or copied through the destination's seal (rfs_seal:
 * hashed while written, checked against the name, fsynced, linked into
 * blobs/); nothing else writes a blob here. Pruning is the destination's
 * own gc, run once its new catalog is in place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "digest.h"
#include "files.h"
#include "gc.h"
#include "seal.h"

/* The snapshot of the source's catalog, in the destination's staging/
 * (a leftover of a killed backup goes with the next open's sweep). */
#define SNAPSHOT_NAME "backup-catalog.db"
/* Settings of a backup's catalog: where it was taken from and when. A
 * restore removes them. */
#define KEY_SOURCE "backup.source"
#define KEY_TIME   "backup.snapshot_ns"
/* The 'generation' setting of catalog-ids.c. */
#define KEY_GENERATION "generation"

enum mode { MODE_BACKUP, MODE_RESTORE };

/* How each way of bringing a blob over ends, besides a negative errno
 * that stops the job: done with it (brought over, or failed and
 * reported), or over to the next way. */
enum { NEXT = 0, DONE = 1 };

struct job {
	enum mode mode;
	struct rfs_store *src, *dst;
	struct rfs_catalog *snap;
	const struct rfs_backup_options *opts;
	struct rfs_backup_report *r;
	char src_root[PATH_MAX]; /* canonical, for messages and KEY_SOURCE */
	char snap_path[PATH_MAX];
	int src_blobs, dst_blobs; /* the blobs/sha256/ folders */
	bool cross;		  /* a link gave EXDEV: copy from then on */
	bool linked;		  /* dst_blobs needs an fsync */
	int first_rc;		  /* the first blob that failed */
	char first[RFS_ERROR_MSG_MAX];
};

struct blob_list {
	struct rfs_blob *rows;
	size_t n, cap;
};

static int collect_blob(void *ctx, const struct rfs_blob *blob)
{
	struct blob_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		void *p = realloc(l->rows, cap * sizeof(*l->rows));

		if (!p)
			return -ENOMEM;
		l->rows = p;
		l->cap = cap;
	}
	l->rows[l->n++] = *blob;
	return 0;
}

static int count_tag(void *ctx, const struct rfs_tag *tag)
{
	(void)tag;
	++*(uint64_t *)ctx;
	return 0;
}

static int stop_at_first(void *ctx, const void *row)
{
	(void)row;
	*(bool *)ctx = true;
	return 1;
}

static int any_tag(void *ctx, const struct rfs_tag *tag)
{
	return stop_at_first(ctx, tag);
}

static int any_blob(void *ctx, const struct rfs_blob *blob)
{
	return stop_at_first(ctx, blob);
}

static void emit(struct job *j, enum rfs_backup_event ev,
		 const struct rfs_blob *b, const char *detail)
{
	if (j->opts->fn)
		j->opts->fn(j->opts->ctx, ev, b->digest, b->size, detail);
}

/* A blob that could not be brought over: heard of, counted, and DONE:
 * the job goes on so that one run names them all, unless the destination
 * cannot take more (a negative errno). */
__attribute__((format(printf, 4, 5))) static int
failed(struct job *j, const struct rfs_blob *b, int rc, const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!j->first_rc) {
		j->first_rc = rc;
		snprintf(j->first, sizeof(j->first), "%s", msg);
	}
	j->r->failed++;
	emit(j, RFS_BACKUP_FAILED, b, msg);
	if (rc == -ENOSPC || rc == -EDQUOT || rc == -EROFS || rc == -ENOMEM)
		return rc;
	return DONE;
}

/* Does fd hold the content named digest? 0, -EBADMSG (actual filled in)
 * or a negative errno. */
static int check_content(int fd, const char *digest,
			 char actual[RFS_DIGEST_STR_MAX + 1])
{
	int rc = rfs_digest_fd(fd, actual);

	if (rc)
		return rc;
	return strcmp(actual, digest) == 0 ? 0 : -EBADMSG;
}

static int corrupt(struct job *j, const struct rfs_blob *b, int rc,
		   const char *where, const char *actual)
{
	if (rc == -EBADMSG)
		return failed(j, b, rc,
			      "blob %s in '%s' is corrupt: its content hashes "
			      "to %s",
			      b->digest, where, actual);
	return failed(j, b, rc, "cannot read blob %s in '%s': %s", b->digest,
		      where, strerror(-rc));
}

/* Is the blob in the destination already (an earlier backup)? DONE when
 * it is kept, NEXT when it is not there (a wrong file is removed), or
 * what failed() says. */
static int keep(struct job *j, const struct rfs_blob *b, int fd,
		const struct stat *st)
{
	const char *hex = rfs_digest_hex(b->digest);
	char actual[RFS_DIGEST_STR_MAX + 1];
	struct stat d;
	int rc = 0;

	if (fstatat(j->dst_blobs, hex, &d, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return NEXT;
		return failed(j, b, -errno, "cannot stat blob %s in '%s': %s",
			      b->digest, rfs_store_root(j->dst),
			      strerror(errno));
	}
	if (S_ISREG(d.st_mode) && d.st_dev == st->st_dev &&
	    d.st_ino == st->st_ino) {
		/* The source's own file, linked by an earlier backup. */
		if (j->opts->verify)
			rc = check_content(fd, b->digest, actual);
		if (rc)
			return corrupt(j, b, rc, j->src_root, actual);
		goto kept;
	}
	if (S_ISREG(d.st_mode) && (uint64_t)d.st_size == b->size) {
		int dfd;

		if (!j->opts->verify)
			goto kept;
		dfd = openat(j->dst_blobs, hex,
			     O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		rc = dfd < 0 ? -errno : check_content(dfd, b->digest, actual);
		if (dfd >= 0)
			close(dfd);
		if (rc == 0)
			goto kept;
		/* A damaged copy: replaced below from the source. */
	}
	if (unlinkat(j->dst_blobs, hex, 0) < 0 && errno != ENOENT)
		return failed(j, b, -errno,
			      "cannot replace blob %s in '%s': %s", b->digest,
			      rfs_store_root(j->dst), strerror(errno));
	return NEXT;
kept:
	j->r->kept++;
	emit(j, RFS_BACKUP_KEPT, b, NULL);
	return DONE;
}

/* Hard-link the source's file: DONE when linked, NEXT when it must be
 * copied instead (another file system, or links refused), or what
 * failed() says. */
static int link_blob(struct job *j, const struct rfs_blob *b, int fd)
{
	const char *hex = rfs_digest_hex(b->digest);
	char actual[RFS_DIGEST_STR_MAX + 1];
	int rc;

	if (linkat(j->src_blobs, hex, j->dst_blobs, hex, 0) < 0) {
		switch (errno) {
		case EXDEV: j->cross = true; return NEXT;
		/* protected_hardlinks, a file system without links, a full
		 * link count: a copy does it */
		case EPERM:
		case EACCES:
		case EMLINK:
		case EOPNOTSUPP: return NEXT;
		default:
			return failed(
			    j, b, -errno, "cannot link blob %s into '%s': %s",
			    b->digest, rfs_store_root(j->dst), strerror(errno));
		}
	}
	j->linked = true;
	if (j->opts->verify) {
		rc = check_content(fd, b->digest, actual);
		if (rc) {
			unlinkat(j->dst_blobs, hex, 0);
			return corrupt(j, b, rc, j->src_root, actual);
		}
	}
	j->r->linked++;
	emit(j, RFS_BACKUP_LINKED, b, NULL);
	return DONE;
}

/* Copy through the destination's seal, which hashes what it writes and
 * refuses content that does not hash to the name. */
static int copy_blob(struct job *j, const struct rfs_blob *b, int fd)
{
	struct rfs_seal_options so = { .expected_digest = b->digest };
	char what[RFS_DIGEST_STR_MAX + PATH_MAX + 16];
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_error e = { 0 };
	struct rfs_seal *seal = NULL;
	int rc;

	snprintf(what, sizeof(what), "blob %s in '%s'", b->digest, j->src_root);
	rc = rfs_seal_begin_with(j->dst, RFS_SEAL_STREAM | RFS_SEAL_ANY_SIZE,
				 &seal, &e);
	if (!rc)
		rc = rfs_seal_write_fd(seal, fd, &e);
	if (!rc)
		rc = rfs_seal_store(seal, what, &so, digest, &e);
	rfs_seal_free(&seal);
	if (rc == -EBADMSG) /* the seal's message names the blob */
		return failed(j, b, rc, "%s", rfs_error_message(&e, rc));
	if (rc)
		return failed(j, b, rc, "cannot copy %s: %s", what,
			      rfs_error_message(&e, rc));
	j->r->copied++;
	j->r->bytes_copied += b->size;
	emit(j, RFS_BACKUP_COPIED, b, NULL);
	return DONE;
}

/* Bring one blob the snapshot names over: 0 (done, or failed and
 * reported) or a negative errno that stops the job. */
static int bring(struct job *j, const struct rfs_blob *b)
{
	const char *hex = rfs_digest_hex(b->digest);
	struct stat st;
	int fd, rc;

	fd = openat(j->src_blobs, hex, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && b->origin[0]) {
		/* Fetched content evicted since the snapshot: it is fetched
		 * again on use, from the copy as from the source. */
		rc = rfs_catalog_blob_set_present(j->snap, b->digest, false);
		if (rc) {
			rc = failed(j, b, rc, "cannot mark blob %s absent: %s",
				    b->digest, strerror(-rc));
			goto out;
		}
		j->r->absent++;
		emit(j, RFS_BACKUP_ABSENT, b, NULL);
		rc = 0;
		goto out;
	}
	if (fd < 0 && errno == ENOENT)
		rc = failed(j, b, -ENOENT,
			    "blob %s is missing from '%s' (run regctl fsck)",
			    b->digest, j->src_root);
	else if (fd < 0 || fstat(fd, &st) < 0)
		rc = failed(j, b, -errno, "cannot open blob %s in '%s': %s",
			    b->digest, j->src_root, strerror(errno));
	/* Cheap, and it catches a truncated blob that a link would take. */
	else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != b->size)
		rc = failed(j, b, -EBADMSG,
			    "blob %s in '%s' is corrupt: %jd bytes where the "
			    "catalog says %" PRIu64 " (run regctl fsck)",
			    b->digest, j->src_root, (intmax_t)st.st_size,
			    b->size);
	else
		rc = keep(j, b, fd, &st);
	if (rc == NEXT && !j->opts->copy && !j->cross)
		rc = link_blob(j, b, fd);
	if (rc == NEXT)
		rc = copy_blob(j, b, fd);
out:
	if (fd >= 0)
		close(fd);
	return rc < 0 ? rc : 0;
}

/* The canonical path of a folder that may not exist yet (then its parent
 * must). */
static int canonical(const char *path, char out[PATH_MAX])
{
	char a[PATH_MAX], b[PATH_MAX], parent[PATH_MAX];
	int n;

	if (realpath(path, out))
		return 0;
	if (errno != ENOENT)
		return -errno;
	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	if (!realpath(dirname(a), parent))
		return -errno;
	n = snprintf(out, PATH_MAX, "%s/%s", strcmp(parent, "/") ? parent : "",
		     basename(b));
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Is a the folder b, or inside it? */
static bool within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* A folder with nothing in it (a file system's lost+found aside). */
static int folder_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 1;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "lost+found")) {
			rc = 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Open the destination exclusively, refusing what may not be written
 * into: a folder that is neither empty nor a store, a store in use, and
 * without --force a store with content that is not a backup (backup) or
 * any store with content (restore). */
static int open_destination(struct job *j, const char *dest,
			    struct rfs_error *err)
{
	const char *what = j->mode == MODE_BACKUP ? "back up" : "restore";
	char db[PATH_MAX], canon[PATH_MAX], marker[8];
	bool was_store = false, has_content = false;
	struct stat st;
	int rc;

	rc = canonical(dest, canon);
	if (rc)
		return rfs_error_set(err, rc, "cannot %s into '%s': %s", what,
				     dest, strerror(-rc));
	if (within(canon, j->src_root) || within(j->src_root, canon))
		return rfs_error_set(err, -EINVAL,
				     "cannot %s '%s' into '%s': one is inside "
				     "the other",
				     what, j->src_root, dest);
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return rfs_error_set(err, -ENOTDIR,
					     "cannot %s into '%s': not a "
					     "folder",
					     what, dest);
		snprintf(db, sizeof(db), "%s/catalog.db", dest);
		was_store = access(db, F_OK) == 0;
		if (!was_store) {
			rc = folder_empty(dest);
			if (rc < 0)
				return rfs_error_set(err, rc,
						     "cannot read '%s': %s",
						     dest, strerror(-rc));
			if (rc == 0)
				return rfs_error_set(
				    err, -ENOTEMPTY,
				    "cannot %s into '%s': it is not empty and "
				    "not a regfs store",
				    what, dest);
		}
	} else if (errno != ENOENT) {
		return rfs_error_set(err, -errno, "cannot %s into '%s': %s",
				     what, dest, strerror(errno));
	}
	rc = rfs_store_open(dest, RFS_STORE_CREATE | RFS_STORE_EXCLUSIVE,
			    &j->dst, err);
	if (rc)
		return rc;
	if (!was_store)
		return 0;
	rc = rfs_catalog_list_tags(rfs_store_catalog(j->dst), NULL, any_tag,
				   &has_content);
	if (rc >= 0 && !has_content)
		rc = rfs_catalog_list_blobs(rfs_store_catalog(j->dst), any_blob,
					    &has_content);
	if (rc < 0)
		return rfs_error_set(err, rc, "cannot read the catalog of '%s'",
				     dest);
	/* Blob files that its catalog does not name are garbage (as a
	 * failed backup or restore into a new folder leaves): the new
	 * catalog's gc removes them. */
	if (!has_content || j->opts->force)
		return 0;
	if (j->mode == MODE_RESTORE)
		return rfs_error_set(err, -ENOTEMPTY,
				     "cannot restore into '%s': the store is "
				     "not empty (--force replaces its content)",
				     dest);
	rc = rfs_catalog_setting_get(rfs_store_catalog(j->dst), KEY_SOURCE,
				     marker, sizeof(marker));
	if (rc == 0 || rc == -ENAMETOOLONG)
		return 0; /* an earlier backup */
	return rfs_error_set(err, -EEXIST,
			     "cannot back up into '%s': it is a store with "
			     "content, not a backup (--force replaces it)",
			     dest);
}

static void remove_snapshot(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm",
						"-journal" };
	char p[PATH_MAX + 16];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

/* Step 2 of backup.h: the source's catalog, copied into a new catalog
 * in the destination's staging/, then opened again so that one of an
 * older schema is brought up to this one. */
static int take_snapshot(struct job *j, struct rfs_error *err)
{
	struct rfs_catalog *fresh = NULL;
	int rc;

	snprintf(j->snap_path, sizeof(j->snap_path), "%s/%s",
		 rfs_store_staging_dir(j->dst), SNAPSHOT_NAME);
	remove_snapshot(j->snap_path);
	rc = rfs_catalog_open(j->snap_path, false, &fresh, err);
	if (rc)
		return rc;
	j->r->snapshot_ns = rfs_now_ns();
	rc = rfs_catalog_copy(fresh, rfs_store_catalog(j->src), err);
	rfs_catalog_close(&fresh);
	if (!rc)
		rc = rfs_catalog_open(j->snap_path, false, &j->snap, err);
	return rc;
}

/* Step 3: every blob the snapshot names. Garbage (named by nothing) is
 * not taken; the destination's gc forgets its rows. */
static int bring_all(struct job *j, struct rfs_error *err)
{
	struct blob_list blobs = { 0 };
	int rc;

	rc = rfs_catalog_list_blobs(j->snap, collect_blob, &blobs);
	if (!rc)
		rc = rfs_catalog_list_tags(j->snap, NULL, count_tag,
					   &j->r->tags);
	if (rc) {
		free(blobs.rows);
		return rfs_error_set(err, rc, "cannot read the snapshot: %s",
				     strerror(-rc));
	}
	for (size_t i = 0; i < blobs.n && !rc; i++) {
		const struct rfs_blob *b = &blobs.rows[i];

		if (b->refs == 0)
			continue;
		if (!b->present) {
			j->r->absent++;
			emit(j, RFS_BACKUP_ABSENT, b, NULL);
			continue;
		}
		rc = bring(j, b);
	}
	free(blobs.rows);
	if (rc)
		return rfs_error_set(err, rc, "%s", j->first);
	if (j->r->failed)
		return rfs_error_set(err, j->first_rc ? j->first_rc : -EIO,
				     "%" PRIu64 " blob%s could not be brought "
				     "over, the first: %s",
				     j->r->failed, j->r->failed > 1 ? "s" : "",
				     j->first);
	return 0;
}

/* What a copy's catalog says of itself: no generation (a mount of it
 * picks a new one), and whether it is a backup, of what, taken when. */
static int mark_snapshot(struct job *j, struct rfs_error *err)
{
	char when[32];
	int rc;

	rc = rfs_catalog_setting_delete(j->snap, KEY_GENERATION);
	if (!rc && j->mode == MODE_BACKUP) {
		snprintf(when, sizeof(when), "%" PRId64, j->r->snapshot_ns);
		rc = rfs_catalog_setting_set(j->snap, KEY_SOURCE, j->src_root);
		if (!rc)
			rc = rfs_catalog_setting_set(j->snap, KEY_TIME, when);
	} else if (!rc) {
		rc = rfs_catalog_setting_delete(j->snap, KEY_SOURCE);
		if (!rc)
			rc = rfs_catalog_setting_delete(j->snap, KEY_TIME);
	}
	if (rc)
		return rfs_error_set(err, rc, "cannot update the snapshot: %s",
				     strerror(-rc));
	return 0;
}

static void gc_removed(void *ctx, const char *digest, uint64_t size)
{
	struct job *j = ctx;
	struct rfs_blob b = { .size = size };

	snprintf(b.digest, sizeof(b.digest), "%s", digest);
	emit(j, RFS_BACKUP_REMOVED, &b, NULL);
}

static int count_present(void *ctx, const struct rfs_blob *b)
{
	struct rfs_backup_report *r = ctx;

	if (b->present && b->refs > 0) {
		r->blobs++;
		r->bytes += b->size;
	}
	return 0;
}

/* Step 4: the blobs are durable in the destination; now its catalog. */
static int install(struct job *j, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(j->dst);
	struct rfs_gc_report gc;
	int rc = 0;

	if (j->linked)
		rc = rfs_fsync_dir(rfs_store_blobs_dir(j->dst));
	if (rc)
		return rfs_error_set(err, rc, "cannot fsync '%s': %s",
				     rfs_store_blobs_dir(j->dst),
				     strerror(-rc));
	rc = rfs_catalog_copy(cat, j->snap, err);
	if (rc)
		return rc;
	rc = rfs_gc(j->dst, false, gc_removed, j, &gc, err);
	if (rc)
		return rc;
	j->r->removed = gc.blobs_removed;
	return rfs_catalog_list_blobs(cat, count_present, j->r);
}

static int run(struct job *j, const char *dest, struct rfs_error *err)
{
	int lock = -1, rc;

	j->src_blobs = j->dst_blobs = -1;
	rc = open_destination(j, dest, err);
	if (rc)
		goto out;
	j->src_blobs = open(rfs_store_blobs_dir(j->src),
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->src_blobs < 0) {
		rc =
		    rfs_error_set(err, -errno, "cannot open '%s': %s",
				  rfs_store_blobs_dir(j->src), strerror(errno));
		goto out;
	}
	j->dst_blobs = open(rfs_store_blobs_dir(j->dst),
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dst_blobs < 0) {
		rc =
		    rfs_error_set(err, -errno, "cannot open '%s': %s",
				  rfs_store_blobs_dir(j->dst), strerror(errno));
		goto out;
	}
	/* Step 1. No gc.lock that can be made: a read-only source, which no
	 * gc changes either. */
	lock = rfs_store_lock(j->src, false);
	if (lock < 0 && lock != -ENOENT) {
		rc = rfs_error_set(err, lock, "cannot lock '%s': %s",
				   j->src_root, strerror(-lock));
		goto out;
	}
	rc = take_snapshot(j, err);
	if (!rc)
		rc = bring_all(j, err);
	rfs_store_unlock(lock);
	if (!rc)
		rc = mark_snapshot(j, err);
	if (!rc)
		rc = install(j, err);
out:
	rfs_catalog_close(&j->snap);
	if (j->snap_path[0])
		remove_snapshot(j->snap_path);
	if (j->src_blobs >= 0)
		close(j->src_blobs);
	if (j->dst_blobs >= 0)
		close(j->dst_blobs);
	if (j->dst && !rc)
		rc = rfs_fsync_dir(rfs_store_root(j->dst));
	rfs_store_close(&j->dst);
	return rc;
}

static int start(struct job *j, enum mode mode, struct rfs_store *src,
		 const struct rfs_backup_options *opts,
		 struct rfs_backup_report *report, struct rfs_error *err)
{
	static const struct rfs_backup_options none = { .copy = false };

	memset(report, 0, sizeof(*report));
	memset(j, 0, sizeof(*j));
	j->mode = mode;
	j->src = src;
	j->opts = opts ? opts : &none;
	j->r = report;
	if (!realpath(rfs_store_root(src), j->src_root))
		return rfs_error_set(err, -errno, "cannot resolve '%s': %s",
				     rfs_store_root(src), strerror(errno));
	return 0;
}

int rfs_backup(struct rfs_store *store, const char *dest,
	       const struct rfs_backup_options *opts,
	       struct rfs_backup_report *report, struct rfs_error *err)
{
	struct job j;
	int rc = start(&j, MODE_BACKUP, store, opts, report, err);

	return rc ? rc : run(&j, dest, err);
}

int rfs_restore(const char *src, const char *target,
		const struct rfs_backup_options *opts,
		struct rfs_backup_report *report, struct rfs_error *err)
{
	struct rfs_store *store = NULL;
	struct job j;
	int rc;

	memset(report, 0, sizeof(*report));
	rc = rfs_store_open(src, RFS_STORE_READONLY, &store, err);
	if (!rc)
		rc = start(&j, MODE_RESTORE, store, opts, report, err);
	if (!rc)
		rc = run(&j, target, err);
	rfs_store_close(&store);
	return rc;
}
