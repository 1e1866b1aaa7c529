/*
 * catalog-blobs.c - the catalog's blob rows: what content the store holds,
 * where it came from, whether its file is present, when it was last read,
 * and on which remote registries it is known to be (see catalog.h).
 */
#include <errno.h>
#include <stdbool.h>

#include "catalog-internal.h"

int rfs_catalog_list_blobs(struct rfs_catalog *cat, rfs_blob_fn fn, void *ctx)
{
	struct lister l = { .kind = ROW_BLOB, .fn.blob = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = catalog_get_rows(cat, ST_BLOB_LIST, &l, "");
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_blob_get(struct rfs_catalog *cat, const char *digest,
			 struct rfs_blob *out)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_BLOB_GET, ROW_BLOB, out, "t", digest);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_blob_set_present(struct rfs_catalog *cat, const char *digest,
				 bool present)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_BLOB_SET_PRESENT, "ti", digest,
			 (int64_t)present);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_blob_touch(struct rfs_catalog *cat, const char *digest,
			   int64_t now_ns)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_BLOB_TOUCH, "ti", digest, now_ns);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_evictable(struct rfs_catalog *cat, rfs_blob_fn fn,
			       void *ctx)
{
	struct lister l = { .kind = ROW_BLOB, .fn.blob = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = catalog_get_rows(cat, ST_BLOB_EVICTABLE, &l, "");
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_cached_bytes(struct rfs_catalog *cat, uint64_t *out)
{
	sqlite3_stmt *s;
	int rc = -EIO;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_BLOB_CACHED_BYTES);
	if (s) {
		rc = catalog_one_row(s);
		if (!rc)
			*out = (uint64_t)sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
	}
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_remote_blob_add(struct rfs_catalog *cat, const char *digest,
				const char *host, const char *repo)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_REMOTE_BLOB_ADD, "ttt", digest, host, repo);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_remote_blob_find(struct rfs_catalog *cat, const char *digest,
				 const char *host, const char *not_repo,
				 char repo[RFS_REPO_MAX + 1])
{
	sqlite3_stmt *s;
	int rc = -EIO;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_REMOTE_BLOB_FIND);
	if (s) {
		sqlite3_bind_text(s, 1, digest, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, host, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, not_repo, -1, SQLITE_STATIC);
		rc = catalog_one_row(s);
		if (!rc)
			catalog_copy_text(repo, RFS_REPO_MAX + 1,
					  sqlite3_column_text(s, 0));
		sqlite3_reset(s);
	}
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_blob_forget(struct rfs_catalog *cat, const char *digest)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_BLOB_FORGET, "t", digest);
	if (!rc && sqlite3_changes(cat->db) == 0)
		rc = -EBUSY;
	catalog_unlock(cat);
	return rc;
}
