/*
 * catalog-backup.c - a whole catalog copied into another (see catalog.h):
 * what regctl backup and restore need of SQLite, its online backup API.
 *
 * The copy is made in one sqlite3_backup_step(-1): the source is read in
 * one read transaction, so the copy is one consistent state of it, and in
 * WAL mode the source's writers (a mount sealing) go on meanwhile. The
 * destination is written in one write transaction: its readers see all of
 * the old catalog or all of the new one, and a crash leaves the old one.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sqlite3.h>

#include "catalog-internal.h"

/* No statement of the connection may keep a read transaction open: on
 * the source it would pin the copy to an older state, on the destination
 * it would keep the backup from writing. */
static void reset_statements(struct rfs_catalog *cat)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (cat->stmts[i])
			sqlite3_reset(cat->stmts[i]);
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

static bool in_wal_mode(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	bool wal = false;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) ==
		SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(s, 0);

		wal = mode && strcmp((const char *)mode, "wal") == 0;
	}
	sqlite3_finalize(s);
	return wal;
}

int rfs_catalog_copy(struct rfs_catalog *dst, struct rfs_catalog *src,
		     struct rfs_error *err)
{
	int64_t dst_page = 0, src_page = 0;
	bool wal_off = false;
	sqlite3_backup *b;
	int rc, finish;

	if (dst == src)
		return rfs_error_set(err, -EINVAL,
				     "catalog: cannot copy a catalog onto "
				     "itself");
	catalog_lock(src);
	catalog_lock(dst);
	reset_statements(src);
	reset_statements(dst);
	/* A WAL database cannot change its page size, which a backup from
	 * a catalog of another page size would: copy in rollback mode. */
	rc = pragma_int(src->db, "PRAGMA page_size", &src_page);
	if (rc == SQLITE_OK)
		rc = pragma_int(dst->db, "PRAGMA page_size", &dst_page);
	if (rc == SQLITE_OK && src_page != dst_page && in_wal_mode(dst->db)) {
		rc = sqlite3_exec(dst->db, "PRAGMA journal_mode=DELETE", NULL,
				  NULL, NULL);
		wal_off = rc == SQLITE_OK;
	}
	if (rc != SQLITE_OK) {
		rc = rfs_error_set(err, rfs_errno_from_sqlite(rc),
				   "catalog: cannot prepare a copy: %s",
				   sqlite3_errmsg(dst->db));
		goto out;
	}
	b = sqlite3_backup_init(dst->db, "main", src->db, "main");
	if (!b) {
		rc = rfs_error_set(
		    err, rfs_errno_from_sqlite(sqlite3_errcode(dst->db)),
		    "catalog: cannot start a copy: %s",
		    sqlite3_errmsg(dst->db));
		goto out;
	}
	/* Both connections' busy handlers wait for locks (10 s). */
	rc = sqlite3_backup_step(b, -1);
	finish = sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE)
		rc = finish;
	if (rc != SQLITE_OK)
		rc = rfs_error_set(err, rfs_errno_from_sqlite(rc),
				   "catalog: copy failed: %s",
				   sqlite3_errstr(rc));
out:
	if (wal_off)
		sqlite3_exec(dst->db, "PRAGMA journal_mode=WAL", NULL, NULL,
			     NULL);
	catalog_unlock(dst);
	catalog_unlock(src);
	return rc;
}

int rfs_catalog_setting_delete(struct rfs_catalog *cat, const char *key)
{
	sqlite3_stmt *s = NULL;
	int rc;

	catalog_lock(cat);
	rc = sqlite3_prepare_v2(cat->db, "DELETE FROM meta WHERE key = ?1", -1,
				&s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
	catalog_unlock(cat);
	return rc == SQLITE_DONE ? 0 : rfs_errno_from_sqlite(rc);
}
