/*
 * catalog-tags.c - what happens to a tag after its seal, and what is read
 * of tags besides the tree: annotations, yank and unyank with their
 * record, signature verdicts, removal (the row kept as retired, so mounts learn
 * the name is gone), search, the retired names, and the store's settings (see
 * catalog.h).
 */
#include <errno.h>
#include <string.h>

#include "catalog-internal.h"

int rfs_catalog_list_annotations(struct rfs_catalog *cat, int64_t tag,
				 rfs_annotation_fn fn, void *ctx)
{
	sqlite3_stmt *s;
	int rc = 0, step = SQLITE_DONE;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_ANNOTATION_LIST);
	if (!s) {
		catalog_unlock(cat);
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, tag);
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW)
		rc = fn(ctx, (const char *)sqlite3_column_text(s, 0),
			(const char *)sqlite3_column_text(s, 1));
	if (!rc && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}

/* The tag repo:tag, for a change to it; lock held. */
static int tag_for_change(struct rfs_catalog *cat, const char *repo,
			  const char *tag, struct rfs_tag *out,
			  struct rfs_error *err)
{
	int rc =
	    catalog_get_row(cat, ST_TAG_GET, ROW_TAG, out, "tt", repo, tag);

	if (rc == -ENOENT)
		return rfs_error_set(err, rc, "no such tag '%s:%s'", repo, tag);
	return rc;
}

static int set_yanked_locked(struct rfs_catalog *cat, const char *repo,
			     const char *tag, bool yanked, const char *by,
			     const char *reason, struct rfs_error *err)
{
	int64_t now = rfs_now_ns();
	struct rfs_tag t;
	int rc;

	rc = tag_for_change(cat, repo, tag, &t, err);
	if (!rc)
		rc = catalog_run(cat, ST_TAG_YANK, "ii", t.id, (int64_t)yanked);
	if (!rc && yanked)
		rc = catalog_run(cat, ST_YANK_SET, "itti", t.id, by ? by : "",
				 reason ? reason : "", now);
	else if (!rc)
		rc = catalog_run(cat, ST_YANK_CLEAR, "i", t.id);
	/* The folder's listing changed: a mount drops its cached one. */
	if (!rc)
		rc = catalog_run(cat, ST_DIR_TOUCH, "ii", t.dir, now);
	return rc;
}

int rfs_catalog_yank(struct rfs_catalog *cat, const char *repo, const char *tag,
		     bool yanked, const char *by, const char *reason,
		     struct rfs_error *err)
{
	int rc;

	if ((by && strlen(by) > RFS_YANK_BY_MAX) ||
	    (reason && (strlen(reason) > RFS_YANK_REASON_MAX ||
			!rfs_utf8_valid(reason, strlen(reason)))))
		return rfs_error_set(err, -EINVAL,
				     "a yank's reason is UTF-8 text of %d "
				     "bytes at most",
				     RFS_YANK_REASON_MAX);
	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc)
		rc = catalog_txn_end(
		    cat,
		    set_yanked_locked(cat, repo, tag, yanked, by, reason, err),
		    err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_set_yanked(struct rfs_catalog *cat, const char *repo,
			   const char *tag, bool yanked, struct rfs_error *err)
{
	return rfs_catalog_yank(cat, repo, tag, yanked, NULL, NULL, err);
}

int rfs_catalog_verdict_set(struct rfs_catalog *cat, const char *repo,
			    const char *tag, const struct rfs_verdict *v)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_VERDICT_SET, "tttitti", repo, tag, v->subject,
			 (int64_t)v->ok, v->key, v->reason, v->checked_ns);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_verdict_get(struct rfs_catalog *cat, const char *repo,
			    const char *tag, const char *subject,
			    struct rfs_verdict *out)
{
	sqlite3_stmt *s;
	int rc;

	catalog_lock(cat);
	s = catalog_query(cat, ST_VERDICT_GET, "ttt", repo, tag,
			  subject ? subject : "");
	rc = catalog_one_row(s);
	if (!rc) {
		catalog_copy_text(out->subject, sizeof(out->subject),
				  sqlite3_column_text(s, 0));
		out->ok = sqlite3_column_int(s, 1) != 0;
		catalog_copy_text(out->key, sizeof(out->key),
				  sqlite3_column_text(s, 2));
		catalog_copy_text(out->reason, sizeof(out->reason),
				  sqlite3_column_text(s, 3));
		out->checked_ns = sqlite3_column_int64(s, 4);
	}
	if (s)
		sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_yank_get(struct rfs_catalog *cat, int64_t tag,
			 struct rfs_yank *out)
{
	sqlite3_stmt *s;
	int rc;

	catalog_lock(cat);
	s = catalog_query(cat, ST_YANK_GET, "i", tag);
	rc = catalog_one_row(s);
	if (!rc) {
		catalog_copy_text(out->by, sizeof(out->by),
				  sqlite3_column_text(s, 0));
		catalog_copy_text(out->reason, sizeof(out->reason),
				  sqlite3_column_text(s, 1));
		out->yanked_ns = sqlite3_column_int64(s, 2);
	}
	if (s)
		sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_remove_tag(struct rfs_catalog *cat, const char *repo,
			   const char *tag, struct rfs_error *err)
{
	struct rfs_tag t;
	int rc;

	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc) {
		rc = tag_for_change(cat, repo, tag, &t, err);
		if (!rc && t.origin[0])
			rc = rfs_error_set(err, -EPERM,
					   "'%s:%s' is pinned from upstream "
					   "'%s', not a local tag",
					   repo, tag, t.origin);
		/* Kept as retired: a reader may hold its inode, and mounts
		 * learn from the row that the name is gone. */
		if (!rc)
			rc = catalog_run(cat, ST_TAG_RETIRE, "ii", t.id,
					 rfs_now_ns());
		if (!rc)
			rc = catalog_run(cat, ST_TAG_DELETE, "i", t.id);
		if (!rc)
			rc = catalog_run(cat, ST_DIR_TOUCH, "ii", t.dir,
					 rfs_now_ns());
		rc = catalog_txn_end(cat, rc, err);
	}
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_search(struct rfs_catalog *cat, const char *query,
		       const char *artifact_type, bool with_yanked,
		       rfs_tag_fn fn, void *ctx)
{
	struct lister l = { .kind = ROW_TAG, .fn.tag = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = catalog_get_rows(cat, ST_TAG_SEARCH, &l, "tti", query,
			      artifact_type ? artifact_type : "",
			      (int64_t)with_yanked);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_setting_set(struct rfs_catalog *cat, const char *key,
			    const char *value)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_SETTING_SET, "tt", key, value);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_setting_get(struct rfs_catalog *cat, const char *key, char *buf,
			    size_t size)
{
	sqlite3_stmt *s;
	int rc = -EIO;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_SETTING_GET);
	if (s) {
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		rc = catalog_one_row(s);
		if (!rc && (size_t)sqlite3_column_bytes(s, 0) >= size)
			rc = -ENAMETOOLONG;
		if (!rc)
			catalog_copy_text(buf, size, sqlite3_column_text(s, 0));
		sqlite3_reset(s);
	}
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_retired(struct rfs_catalog *cat, int64_t since_ns,
			     rfs_retired_fn fn, void *ctx)
{
	sqlite3_stmt *s;
	int rc = 0, step = SQLITE_DONE;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_RETIRED_SINCE);
	if (!s) {
		catalog_unlock(cat);
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, since_ns);
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW)
		rc = fn(ctx, (const char *)sqlite3_column_text(s, 0),
			(const char *)sqlite3_column_text(s, 1),
			sqlite3_column_int64(s, 2));
	if (!rc && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}
