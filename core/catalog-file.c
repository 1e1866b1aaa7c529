/*
 * catalog-file.c - the catalog's file (see catalog.h): how it is opened,
 * what a failure to open it means to its user, whether the file is still
 * the one that was opened, and when the catalog was created.
 *
 * A store on a read-only file system, or owned by another user, must still
 * be readable: SQLite opens a WAL catalog read-only as long as its -wal
 * file exists (some writer has it open); when there is none and none can
 * be made, nobody writes the catalog, and it is opened immutable.
 *
 * A catalog deleted or replaced under a running writer would take every
 * later commit with it: each write transaction first checks that the path
 * still names the file opened, and once it does not, the catalog refuses
 * writes for good (EROFS).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "catalog-internal.h"

#define CREATED_KEY "created_ns"
/* How long a statement waits for another process's lock on the catalog. */
#define BUSY_TIMEOUT_MS 10000
/* What works on a store this process may not write. */
#define READING_COMMANDS "ls, inspect, search, resolve, fsck, verify, push"

/* The folder the catalog is in, for messages and checks. */
static void store_dir(const char *path, char dir[PATH_MAX])
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(dir, PATH_MAX, "%s", dirname(copy));
}

/* "file:PATH?immutable=1" with PATH percent-encoded where URI syntax
 * would read it otherwise. */
static int immutable_uri(const char *path, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	n += (size_t)snprintf(buf, size, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') ||
			     (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || strchr("/-._~", *p);

		if (n + 4 >= size)
			return -ENAMETOOLONG;
		if (plain) {
			buf[n++] = (char)*p;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[*p >> 4];
			buf[n++] = hex[*p & 15];
		}
	}
	if (n + sizeof("?immutable=1") > size)
		return -ENAMETOOLONG;
	memcpy(buf + n, "?immutable=1", sizeof("?immutable=1"));
	return 0;
}

static int probe(struct rfs_catalog *cat)
{
	return sqlite3_exec(cat->db,
			    "SELECT value FROM meta WHERE key = 'schema'", NULL,
			    NULL, NULL);
}

/* One message that says which file, what is wrong and what to do, for a
 * SQLite failure to open or first read the catalog. */
int catalog_file_open_error(struct rfs_catalog *cat, int sqlite_rc,
			    struct rfs_error *err)
{
	const char *path = cat->path;
	bool readonly = cat->readonly;
	const char *what =
	    cat->db ? sqlite3_errmsg(cat->db) : sqlite3_errstr(sqlite_rc);
	char dir[PATH_MAX];
	struct statvfs vfs;
	struct stat st;

	store_dir(path, dir);
	switch (sqlite_rc & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return rfs_error_set(
		    err, -EIO,
		    "catalog '%s' is damaged (%s): restore it from a backup "
		    "(regctl restore), then check the store with regctl fsck",
		    path, what);
	case SQLITE_ERROR:
		/* A database, but not one with regfs's tables. */
		return rfs_error_set(err, -EINVAL,
				     "'%s' is not a regfs catalog (%s)", path,
				     what);
	default: break;
	}
	if (!readonly && statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		return rfs_error_set(
		    err, -EROFS,
		    "store '%s' is on a read-only file system: "
		    "only reading commands (" READING_COMMANDS ") work on it",
		    dir);
	if (stat(path, &st) == 0 &&
	    (access(path, readonly ? R_OK : R_OK | W_OK) < 0 ||
	     (!readonly && access(dir, W_OK) < 0)))
		return rfs_error_set(
		    err, -EACCES,
		    "%s catalog '%s' (owned by uid %u, mode %03o; you are "
		    "uid %u)%s",
		    readonly ? "cannot read" : "cannot write to", path,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777),
		    (unsigned)geteuid(),
		    readonly ? ""
			     : ": run as its owner, or use only reading "
			       "commands (" READING_COMMANDS ")");
	return rfs_error_set(err, rfs_errno_from_sqlite(sqlite_rc),
			     "cannot open catalog '%s': %s", path, what);
}

static void remember_file(struct rfs_catalog *cat)
{
	struct stat st;

	if (stat(cat->path, &st) == 0) {
		cat->file_dev = st.st_dev;
		cat->file_ino = st.st_ino;
		cat->file_known = true;
	}
}

int catalog_file_open(struct rfs_catalog *cat, const char *path, bool readonly,
		      struct rfs_error *err)
{
	char wal[PATH_MAX + 8], uri[3 * PATH_MAX + 32];
	int rc;

	if (strlen(path) >= sizeof(cat->path))
		return rfs_error_set(err, -ENAMETOOLONG,
				     "catalog path too long '%s'", path);
	if (path != cat->path) /* not a reopen */
		snprintf(cat->path, sizeof(cat->path), "%s", path);
	cat->readonly = readonly;
	rc = sqlite3_open_v2(
	    path, &cat->db,
	    (readonly ? SQLITE_OPEN_READONLY
		      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
		SQLITE_OPEN_NOMUTEX,
	    NULL);
	/* Before the first statement: the probe and the pragmas below meet
	 * the locks of other processes too (a daemon recovering the WAL after
	 * a kill -9, a checkpoint), and without a busy handler they failed at
	 * once with "database is locked" (found by tests/soak). */
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS);
	if (rc == SQLITE_OK && readonly)
		rc = probe(cat);
	/* No -wal file and no way to make one: no writer has the catalog
	 * open, so nothing changes under an immutable reader. */
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (readonly &&
	    ((rc & 0xff) == SQLITE_CANTOPEN ||
	     (rc & 0xff) == SQLITE_READONLY) &&
	    access(wal, F_OK) < 0 && errno == ENOENT &&
	    immutable_uri(path, uri, sizeof(uri)) == 0) {
		sqlite3_close(cat->db);
		cat->db = NULL;
		rc = sqlite3_open_v2(uri, &cat->db,
				     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
					 SQLITE_OPEN_NOMUTEX,
				     NULL);
		if (rc == SQLITE_OK) {
			sqlite3_busy_timeout(cat->db, BUSY_TIMEOUT_MS);
			rc = probe(cat);
		}
	}
	/* SQLite opens a file it cannot write read-only, quietly. */
	if (rc == SQLITE_OK && !readonly &&
	    sqlite3_db_readonly(cat->db, "main") == 1)
		rc = SQLITE_READONLY;
	/* WAL lets regctl read while the daemon writes; FULL makes every
	 * committed seal survive power loss, not only a crash. Settings of
	 * the connection, made again by every open. */
	if (rc == SQLITE_OK && !readonly)
		rc = sqlite3_exec(cat->db,
				  "PRAGMA journal_mode=WAL;"
				  "PRAGMA synchronous=FULL;"
				  "PRAGMA foreign_keys=ON;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return catalog_file_open_error(cat, rc, err);
	remember_file(cat);
	return 0;
}

int rfs_catalog_reopen(struct rfs_catalog *cat, struct rfs_error *err)
{
	int rc;

	catalog_lock(cat);
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(cat->stmts[i]);
		cat->stmts[i] = NULL;
	}
	sqlite3_close(cat->db);
	cat->db = NULL;
	rc = catalog_file_open(cat, cat->path, cat->readonly, err);
	catalog_unlock(cat);
	return rc;
}

int catalog_file_check(struct rfs_catalog *cat, struct rfs_error *err)
{
	struct stat st;
	const char *how;

	if (cat->readonly || !cat->file_known)
		return 0;
	if (!cat->lost) {
		if (stat(cat->path, &st) < 0 && errno == ENOENT)
			cat->lost = "deleted";
		else if (st.st_dev != cat->file_dev ||
			 st.st_ino != cat->file_ino)
			cat->lost = "replaced by another file";
		else
			return 0;
	}
	how = cat->lost;
	return rfs_error_set(
	    err, -EROFS,
	    "catalog '%s' was %s while in use: nothing more is "
	    "recorded in it, so publishes are refused; restore "
	    "it from a backup (regctl restore) and open the "
	    "store again",
	    cat->path, how);
}

int rfs_catalog_check_file(struct rfs_catalog *cat, struct rfs_error *err)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_file_check(cat, err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_rescue(struct rfs_catalog *cat, char *path, size_t size,
		       struct rfs_error *err)
{
	struct rfs_catalog *copy = NULL;
	char tmp[PATH_MAX + 8];
	int n, rc;

	n = snprintf(path, size, "%s.rescued-%lld", cat->path,
		     (long long)(rfs_now_ns() / 1000000000));
	if (n < 0 || (size_t)n >= size || strlen(path) + 5 > sizeof(tmp))
		return rfs_error_set(err, -ENAMETOOLONG,
				     "catalog path too long '%s'", cat->path);
	/* Named when whole (closed: its WAL folded in and removed), so
	 * that nobody moves back half a copy. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	rc = rfs_catalog_open(tmp, false, &copy, err);
	if (!rc)
		rc = rfs_catalog_copy(copy, cat, err);
	rfs_catalog_close(&copy);
	if (!rc && rename(tmp, path) < 0)
		rc = rfs_error_set(err, -errno, "cannot rename '%s': %s", tmp,
				   strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* A catalog made now is dated now; one found without a date (made by an
 * earlier regfs) that already records blobs is dated 0, "unknown", so that
 * its blobs are never taken for older than it. */
int catalog_file_date(struct rfs_catalog *cat, struct rfs_error *err)
{
	sqlite3_stmt *s = NULL;
	char value[32];
	bool has_blobs = false;
	int rc;

	if (rfs_catalog_setting_get(cat, CREATED_KEY, value, sizeof(value)) ==
	    0)
		return 0;
	if (sqlite3_prepare_v2(cat->db, "SELECT EXISTS(SELECT 1 FROM blobs)",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		has_blobs = sqlite3_column_int(s, 0) != 0;
	sqlite3_finalize(s);
	snprintf(value, sizeof(value), "%lld",
		 has_blobs ? 0LL : (long long)rfs_now_ns());
	rc = rfs_catalog_setting_set(cat, CREATED_KEY, value);
	if (rc)
		return rfs_error_set(err, rc,
				     "cannot record the catalog's date in '%s'",
				     cat->path);
	return 0;
}

int rfs_catalog_created_ns(struct rfs_catalog *cat, int64_t *out)
{
	char value[32], *end;
	long long ns;
	int rc;

	*out = 0;
	rc = rfs_catalog_setting_get(cat, CREATED_KEY, value, sizeof(value));
	if (rc)
		return rc;
	errno = 0;
	ns = strtoll(value, &end, 10);
	if (errno || *end || ns < 0)
		return -EINVAL;
	*out = ns;
	return 0;
}
