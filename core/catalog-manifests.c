/*
 * catalog-manifests.c - the catalog's record of what was pushed over the
 * OCI distribution API: manifests by repository and digest, the blobs
 * each names, the blobs each repository serves (see catalog.h).
 */
#include <errno.h>
#include <string.h>

#include "catalog-internal.h"
#include "digest.h"

#define MANIFEST_COLS                                                  \
	"id, repo, digest, media_type, size, artifact_type, subject, " \
	"annotations, created_ns FROM manifests"
/* A tag names a manifest by its manifest column (a file) or, for a
 * folder, also by its digest. */
#define TAGS_OF_REPO "tags t JOIN dirs d ON d.id = t.dir WHERE d.path = ?1"

static const char *const manifest_sql[ST_COUNT] = {
	[ST_MANIFEST_INSERT] =
	    "INSERT INTO manifests(repo, digest, media_type, size,"
	    " artifact_type, subject, annotations, created_ns)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
	    " ON CONFLICT(repo, digest) DO NOTHING",
	[ST_MANIFEST_GET] =
	    "SELECT " MANIFEST_COLS " WHERE repo = ?1 AND digest = ?2",
	[ST_MANIFEST_BLOB_INSERT] = "INSERT OR IGNORE INTO manifest_blobs("
				    "manifest, digest) VALUES(?1, ?2)",
	[ST_MANIFEST_DELETE] =
	    "DELETE FROM manifests WHERE repo = ?1 AND digest = ?2",
	[ST_MANIFEST_REFERRERS] =
	    "SELECT " MANIFEST_COLS " WHERE repo = ?1 AND subject = ?2"
	    " ORDER BY digest",
	[ST_MANIFEST_TAGS] = "SELECT t.id, t.dir, t.origin FROM " TAGS_OF_REPO
			     " AND t.manifest = ?2",
	[ST_REPO_BLOB_LINK] = "INSERT OR IGNORE INTO repo_blobs(repo, digest,"
			      " created_ns) VALUES(?1, ?2, ?3)",
	[ST_REPO_BLOB_UNLINK] =
	    "DELETE FROM repo_blobs WHERE repo = ?1 AND digest = ?2",
	[ST_REPO_HAS_BLOB] =
	    "SELECT 1 WHERE EXISTS(SELECT 1 FROM repo_blobs WHERE repo = ?1"
	    " AND digest = ?2) OR EXISTS(SELECT 1 FROM manifests WHERE"
	    " repo = ?1 AND digest = ?2) OR EXISTS(SELECT 1 FROM " TAGS_OF_REPO
	    " AND (t.digest = ?2 OR t.manifest = ?2)) OR EXISTS(SELECT 1"
	    " FROM layers l JOIN tags t ON t.id = l.tag JOIN dirs d"
	    " ON d.id = t.dir WHERE d.path = ?1 AND l.digest = ?2)",
	[ST_REPO_EXISTS] =
	    "SELECT 1 WHERE EXISTS(SELECT 1 FROM " TAGS_OF_REPO ")"
	    " OR EXISTS(SELECT 1 FROM manifests WHERE repo = ?1)"
	    " OR EXISTS(SELECT 1 FROM repo_blobs WHERE repo = ?1)",
	[ST_REPO_LIST] = "SELECT path FROM (SELECT d.path AS path FROM tags t"
			 " JOIN dirs d ON d.id = t.dir UNION SELECT repo FROM"
			 " manifests) WHERE path > ?1 ORDER BY path"
			 " LIMIT ?2",
	[ST_REPO_TAG_NAMES] = "SELECT t.name FROM " TAGS_OF_REPO
			      " AND t.yanked = 0 AND t.name > ?2"
			      " ORDER BY t.name LIMIT ?3",
};

const char *catalog_manifest_sql(enum stmt_id id)
{
	return manifest_sql[id];
}

static void row_to_manifest(sqlite3_stmt *s, struct rfs_manifest_row *m)
{
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(s, 0);
	catalog_copy_text(m->repo, sizeof(m->repo), sqlite3_column_text(s, 1));
	catalog_copy_text(m->digest, sizeof(m->digest),
			  sqlite3_column_text(s, 2));
	catalog_copy_text(m->media_type, sizeof(m->media_type),
			  sqlite3_column_text(s, 3));
	m->size = (uint64_t)sqlite3_column_int64(s, 4);
	catalog_copy_text(m->artifact_type, sizeof(m->artifact_type),
			  sqlite3_column_text(s, 5));
	catalog_copy_text(m->subject, sizeof(m->subject),
			  sqlite3_column_text(s, 6));
	m->annotations = (const char *)sqlite3_column_text(s, 7);
	if (m->annotations && !m->annotations[0])
		m->annotations = NULL;
	m->created_ns = sqlite3_column_int64(s, 8);
}

static int link_locked(struct rfs_catalog *cat, const char *repo,
		       const char *digest, int64_t now)
{
	return catalog_run(cat, ST_REPO_BLOB_LINK, "tti", repo, digest, now);
}

static int manifest_put_locked(struct rfs_catalog *cat,
			       const struct rfs_manifest_put *put,
			       struct rfs_tag *tag_out, struct rfs_error *err)
{
	int64_t now = rfs_now_ns();
	struct rfs_manifest_row row;
	struct rfs_tag old;
	int rc;

	rc = catalog_run(cat, ST_BLOB_INSERT, "tii", put->digest,
			 (int64_t)put->size, now);
	if (!rc)
		rc = catalog_run(
		    cat, ST_MANIFEST_INSERT, "tttittti", put->repo, put->digest,
		    put->media_type, (int64_t)put->size,
		    put->artifact_type ? put->artifact_type : "",
		    put->subject ? put->subject : "",
		    put->annotations_json ? put->annotations_json : "", now);
	if (!rc) {
		sqlite3_stmt *s = catalog_query(cat, ST_MANIFEST_GET, "tt",
						put->repo, put->digest);

		rc = catalog_one_row(s);
		if (!rc)
			row_to_manifest(s, &row);
		if (s)
			sqlite3_reset(s);
	}
	if (rc)
		return rfs_error_set(err, rc,
				     "catalog: cannot record manifest %s of "
				     "'%s'",
				     put->digest, put->repo);
	for (size_t i = 0; !rc && i < put->n_blobs; i++) {
		rc = catalog_run(cat, ST_MANIFEST_BLOB_INSERT, "it", row.id,
				 put->blobs[i]);
		if (!rc)
			rc = link_locked(cat, put->repo, put->blobs[i], now);
	}
	if (rc)
		return rfs_error_set(err, rc,
				     "catalog: cannot record the blobs of "
				     "manifest %s",
				     put->digest);
	if (!put->tag)
		return 0;
	/* Pushed again, maybe by a client that raced with this one: the
	 * tag stands as it is. */
	if (catalog_get_row(cat, ST_TAG_GET, ROW_TAG, &old, "tt", put->repo,
			    put->tag->tag) == 0 &&
	    strcmp(old.manifest, put->digest) == 0) {
		if (tag_out)
			*tag_out = old;
		return 0;
	}
	return catalog_pin_tag_locked(cat, put->tag,
				      put->replace ? CATALOG_REPLACE_ANY
						   : CATALOG_REPLACE_NONE,
				      tag_out, err);
}

int rfs_catalog_manifest_put(struct rfs_catalog *cat,
			     const struct rfs_manifest_put *put,
			     struct rfs_tag *tag_out, struct rfs_error *err)
{
	int rc;

	if (!rfs_name_valid_repo(put->repo) || !rfs_digest_valid(put->digest))
		return rfs_error_set(err, -EINVAL,
				     "invalid repository or digest");
	for (size_t i = 0; i < put->n_blobs; i++)
		if (!rfs_digest_valid(put->blobs[i]))
			return rfs_error_set(err, -EINVAL,
					     "invalid blob digest in %s",
					     put->digest);
	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc)
		rc = catalog_txn_end(
		    cat, manifest_put_locked(cat, put, tag_out, err), err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_manifest_get(struct rfs_catalog *cat, const char *repo,
			     const char *digest, struct rfs_manifest_row *out)
{
	sqlite3_stmt *s;
	int rc;

	catalog_lock(cat);
	s = catalog_query(cat, ST_MANIFEST_GET, "tt", repo, digest);
	rc = catalog_one_row(s);
	if (!rc) {
		row_to_manifest(s, out);
		out->annotations = NULL; /* gone with the statement */
	}
	if (s)
		sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}

struct doomed_tag {
	int64_t id, dir;
};

static int manifest_delete_locked(struct rfs_catalog *cat, const char *repo,
				  const char *digest, struct rfs_error *err)
{
	struct doomed_tag doomed[64];
	size_t n = 0, pinned = 0;
	int64_t now = rfs_now_ns();
	sqlite3_stmt *s;
	int rc, step, removed = 0;

	/* In batches of doomed[]: a step stopped at a row means more. */
again:
	n = 0;
	s = catalog_query(cat, ST_MANIFEST_TAGS, "tt", repo, digest);
	if (!s)
		return -EIO;
	while ((step = sqlite3_step(s)) == SQLITE_ROW && n < 64) {
		if (sqlite3_column_text(s, 2)[0]) {
			pinned++;
			continue;
		}
		doomed[n].id = sqlite3_column_int64(s, 0);
		doomed[n++].dir = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		return rfs_error_set(err, rfs_errno_from_sqlite(step),
				     "catalog: cannot list the tags of %s",
				     digest);
	for (size_t i = 0; i < n; i++) {
		/* Retired, as rm does: readers keep what they hold, and
		 * mounts learn that the name is gone. */
		rc = catalog_run(cat, ST_TAG_RETIRE, "ii", doomed[i].id, now);
		if (!rc)
			rc = catalog_run(cat, ST_TAG_DELETE, "i", doomed[i].id);
		if (!rc)
			rc = catalog_run(cat, ST_DIR_TOUCH, "ii", doomed[i].dir,
					 now);
		if (rc)
			return rfs_error_set(err, rc,
					     "catalog: cannot remove a tag "
					     "of %s",
					     digest);
		removed++;
	}
	if (step == SQLITE_ROW)
		goto again;
	if (catalog_get_row(cat, ST_MANIFEST_GET, ROW_NONE, NULL, "tt", repo,
			    digest) == 0) {
		rc = catalog_run(cat, ST_MANIFEST_DELETE, "tt", repo, digest);
		if (rc)
			return rfs_error_set(err, rc,
					     "catalog: cannot remove manifest "
					     "%s",
					     digest);
		removed++;
	}
	if (removed)
		return 0;
	if (pinned)
		return rfs_error_set(err, -EPERM,
				     "%s of '%s' is pinned from an upstream",
				     digest, repo);
	return -ENOENT;
}

int rfs_catalog_manifest_delete(struct rfs_catalog *cat, const char *repo,
				const char *digest, struct rfs_error *err)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc)
		rc = catalog_txn_end(
		    cat, manifest_delete_locked(cat, repo, digest, err), err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_referrers(struct rfs_catalog *cat, const char *repo,
			       const char *digest, rfs_manifest_fn fn,
			       void *ctx)
{
	struct rfs_manifest_row row;
	sqlite3_stmt *s;
	int rc = 0, step = SQLITE_DONE;

	catalog_lock(cat);
	s = catalog_query(cat, ST_MANIFEST_REFERRERS, "tt", repo, digest);
	if (!s)
		rc = -EIO;
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
		row_to_manifest(s, &row);
		rc = fn(ctx, &row);
	}
	if (!rc && s && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	if (s)
		sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_repo_blob_link(struct rfs_catalog *cat, const char *repo,
			       const char *digest, uint64_t size,
			       struct rfs_error *err)
{
	int64_t now = rfs_now_ns();
	int rc;

	if (!rfs_name_valid_repo(repo) || !rfs_digest_valid(digest))
		return rfs_error_set(err, -EINVAL,
				     "invalid repository or digest");
	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc) {
		rc = catalog_run(cat, ST_BLOB_INSERT, "tii", digest,
				 (int64_t)size, now);
		if (!rc)
			rc = link_locked(cat, repo, digest, now);
		if (rc)
			rfs_error_set(err, rc,
				      "catalog: cannot record blob %s of '%s'",
				      digest, repo);
		rc = catalog_txn_end(cat, rc, err);
	}
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_repo_blob_unlink(struct rfs_catalog *cat, const char *repo,
				 const char *digest)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_REPO_BLOB_UNLINK, "tt", repo, digest);
	if (!rc && sqlite3_changes(cat->db) == 0)
		rc = -ENOENT;
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_repo_has_blob(struct rfs_catalog *cat, const char *repo,
			      const char *digest)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_REPO_HAS_BLOB, ROW_NONE, NULL, "tt", repo,
			     digest);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_repo_exists(struct rfs_catalog *cat, const char *repo)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_REPO_EXISTS, ROW_NONE, NULL, "t", repo);
	catalog_unlock(cat);
	return rc;
}

/* Hand each first column of s's rows to fn. */
static int each_name(sqlite3_stmt *s, int (*fn)(void *ctx, const char *name),
		     void *ctx)
{
	int rc = 0, step = SQLITE_DONE;

	if (!s)
		return -EIO;
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW)
		rc = fn(ctx, (const char *)sqlite3_column_text(s, 0));
	if (!rc && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	sqlite3_reset(s);
	return rc;
}

int rfs_catalog_list_repos(struct rfs_catalog *cat, const char *after,
			   int64_t limit,
			   int (*fn)(void *ctx, const char *name), void *ctx)
{
	int rc;

	catalog_lock(cat);
	rc = each_name(catalog_query(cat, ST_REPO_LIST, "ti", after, limit), fn,
		       ctx);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_tag_names(struct rfs_catalog *cat, const char *repo,
			       const char *after, int64_t limit,
			       int (*fn)(void *ctx, const char *name),
			       void *ctx)
{
	int rc;

	catalog_lock(cat);
	rc = each_name(
	    catalog_query(cat, ST_REPO_TAG_NAMES, "tti", repo, after, limit),
	    fn, ctx);
	catalog_unlock(cat);
	return rc;
}
