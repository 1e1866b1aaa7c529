/*
 * catalog.c - the SQLite catalog (see catalog.h): the schema and its
 * migrations, the statements, directories, tags, pins, layers, annotations
 * and settings. Blob rows are in catalog-blobs.c; what both share, in
 * catalog-internal.h.
 *
 * One connection per struct rfs_catalog, guarded by a recursive mutex so that
 * rfs_catalog_begin() can hold it across a bulk load. Statements are prepared
 * once and reused: lookups are on the FUSE hot path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "catalog-internal.h"
#include "digest.h"
#include "text.h"

#define SCHEMA_VERSION 8

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS dirs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  parent INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  path TEXT NOT NULL UNIQUE,"
    "  sealed INTEGER NOT NULL DEFAULT 0,"
    "  created_ns INTEGER NOT NULL,"
    "  changed_ns INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(parent, name));"
    "CREATE TABLE IF NOT EXISTS blobs("
    "  digest TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  created_ns INTEGER NOT NULL,"
    "  origin TEXT NOT NULL DEFAULT '',"
    "  present INTEGER NOT NULL DEFAULT 1,"
    "  last_access_ns INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS tags("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  dir INTEGER NOT NULL REFERENCES dirs(id),"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL REFERENCES blobs(digest),"
    "  size INTEGER NOT NULL,"
    "  created_ns INTEGER NOT NULL,"
    "  origin TEXT NOT NULL DEFAULT '',"
    "  kind INTEGER NOT NULL DEFAULT 0,"
    "  manifest TEXT NOT NULL DEFAULT '',"
    "  resolved_ns INTEGER NOT NULL DEFAULT 0,"
    "  yanked INTEGER NOT NULL DEFAULT 0,"
    "  artifact_type TEXT NOT NULL DEFAULT '',"
    "  mode INTEGER NOT NULL DEFAULT 420,"
    "  mtime_ns INTEGER,"
    "  UNIQUE(dir, name));"
    "CREATE INDEX IF NOT EXISTS tags_by_digest ON tags(digest);"
    "CREATE TABLE IF NOT EXISTS layers("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tag INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL REFERENCES blobs(digest),"
    "  size INTEGER NOT NULL,"
    "  UNIQUE(tag, name));"
    "CREATE INDEX IF NOT EXISTS layers_by_digest ON layers(digest);"
    "CREATE TABLE IF NOT EXISTS annotations("
    "  tag INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY(tag, key));"
    /* Tags a refresh replaced: an inode a reader still holds keeps its
     * attributes (the kernel asks again when it reads to the end). */
    "CREATE TABLE IF NOT EXISTS retired_tags("
    "  id INTEGER PRIMARY KEY,"
    "  repo TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created_ns INTEGER NOT NULL,"
    "  origin TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  manifest TEXT NOT NULL,"
    "  retired_ns INTEGER NOT NULL,"
    "  mode INTEGER NOT NULL DEFAULT 420,"
    "  mtime_ns INTEGER);"
    "CREATE TABLE IF NOT EXISTS remote_blobs("
    "  digest TEXT NOT NULL,"
    "  host TEXT NOT NULL,"
    "  repo TEXT NOT NULL,"
    "  PRIMARY KEY(digest, host, repo));"
    /* Release plan runs (regctl plan): one row a run, one a host and
     * step. pins and args are JSON. */
    "CREATE TABLE IF NOT EXISTS plan_runs("
    "  id TEXT PRIMARY KEY,"
    "  plan TEXT NOT NULL,"
    "  file_hash TEXT NOT NULL,"
    "  started_ns INTEGER NOT NULL,"
    "  ended_ns INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL,"
    "  exit_code INTEGER NOT NULL DEFAULT 0,"
    "  pins TEXT NOT NULL DEFAULT '{}',"
    "  args TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX IF NOT EXISTS plan_runs_by_plan ON plan_runs(plan,"
    "  started_ns);"
    "CREATE TABLE IF NOT EXISTS plan_steps("
    "  run TEXT NOT NULL REFERENCES plan_runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  step_name TEXT NOT NULL,"
    "  host TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  started_ns INTEGER NOT NULL DEFAULT 0,"
    "  ended_ns INTEGER NOT NULL DEFAULT 0,"
    "  exit_code INTEGER NOT NULL DEFAULT 0,"
    "  log TEXT NOT NULL DEFAULT '',"
    "  message TEXT NOT NULL DEFAULT '',"
    "  PRIMARY KEY(run, step, host));"
    /* What was pushed over the OCI API (regctl serve): manifests by
     * repository and digest, with the blobs each names (so gc keeps them)
     * and its subject (the referrers API); and which blobs each
     * repository holds (uploaded or mounted there, or named by a
     * manifest pushed there), which is what a repository serves. */
    "CREATE TABLE IF NOT EXISTS manifests("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  media_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  artifact_type TEXT NOT NULL DEFAULT '',"
    "  subject TEXT NOT NULL DEFAULT '',"
    "  annotations TEXT NOT NULL DEFAULT '',"
    "  created_ns INTEGER NOT NULL,"
    "  UNIQUE(repo, digest));"
    "CREATE INDEX IF NOT EXISTS manifests_by_digest ON manifests(digest);"
    "CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests(repo,"
    "  subject);"
    "CREATE TABLE IF NOT EXISTS manifest_blobs("
    "  manifest INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,"
    "  digest TEXT NOT NULL,"
    "  PRIMARY KEY(manifest, digest));"
    "CREATE INDEX IF NOT EXISTS manifest_blobs_by_digest ON"
    "  manifest_blobs(digest);"
    "CREATE TABLE IF NOT EXISTS repo_blobs("
    "  repo TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  created_ns INTEGER NOT NULL,"
    "  PRIMARY KEY(repo, digest));"
    "CREATE INDEX IF NOT EXISTS repo_blobs_by_digest ON repo_blobs(digest);"
    /* Who yanked a tag, when and why (regctl yank --reason). */
    "CREATE TABLE IF NOT EXISTS yanks("
    "  tag INTEGER PRIMARY KEY REFERENCES tags(id) ON DELETE CASCADE,"
    "  by TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  yanked_ns INTEGER NOT NULL);"
    /* The require_signature policy's verdicts (policy.h), by the digest
     * checked; refused upstream tags have no tags row, hence names. */
    "CREATE TABLE IF NOT EXISTS signature_verdicts("
    "  repo TEXT NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  ok INTEGER NOT NULL,"
    "  key TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  checked_ns INTEGER NOT NULL,"
    "  PRIMARY KEY(repo, tag, subject));"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '8');";

/* Bring a catalog written by an older regfs up to SCHEMA_VERSION. */
static const char *const migrations[] = {
	/* 1 -> 2: upstream tags, layers, fetched blobs, folder changes */
	"ALTER TABLE dirs ADD COLUMN changed_ns INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE blobs ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE blobs ADD COLUMN present INTEGER NOT NULL DEFAULT 1;"
	"ALTER TABLE blobs ADD COLUMN last_access_ns INTEGER NOT NULL "
	"DEFAULT 0;"
	"ALTER TABLE tags ADD COLUMN origin TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tags ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tags ADD COLUMN manifest TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE tags ADD COLUMN resolved_ns INTEGER NOT NULL DEFAULT 0;",
	/* 2 -> 3: annotations, yanked tags, artifact types, where blobs are
	 * known to be on remote registries (the tables are made above) */
	"ALTER TABLE tags ADD COLUMN yanked INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tags ADD COLUMN artifact_type TEXT NOT NULL DEFAULT '';",
	/* 3 -> 4: a tag's mode (0644 or 0755) and the mtime its publisher
	 * set (NULL: its seal time) */
	"ALTER TABLE tags ADD COLUMN mode INTEGER NOT NULL DEFAULT 420;"
	"ALTER TABLE tags ADD COLUMN mtime_ns INTEGER;"
	"ALTER TABLE retired_tags ADD COLUMN mode INTEGER NOT NULL "
	"DEFAULT 420;"
	"ALTER TABLE retired_tags ADD COLUMN mtime_ns INTEGER;",
	/* 4 -> 5: release plan runs (the tables are made above) */
	"SELECT 1;",
	/* 5 -> 6: manifests and repository blobs of the OCI API (made
	 * above) */
	"SELECT 1;",
	/* 6 -> 7: yank records (made above) */
	"SELECT 1;",
	/* 7 -> 8: signature verdicts (made above) */
	"SELECT 1;",
};

#define DIR_COLS "id, parent, name, path, sealed, created_ns, changed_ns"
#define TAG_COLS                                                        \
	"t.id, t.dir, d.path, t.name, t.digest, t.size, t.created_ns, " \
	"t.origin, t.kind, t.manifest, t.resolved_ns, t.yanked, "       \
	"t.artifact_type, t.mode, t.mtime_ns "                          \
	"FROM tags t JOIN dirs d ON d.id = t.dir"
#define BLOB_COLS                                                         \
	"b.digest, b.size, b.created_ns, "                                \
	"(SELECT count(*) FROM tags t WHERE t.digest = b.digest) + "      \
	"(SELECT count(*) FROM tags t WHERE t.manifest = b.digest) + "    \
	"(SELECT count(*) FROM layers l WHERE l.digest = b.digest) + "    \
	"(SELECT count(*) FROM manifests m WHERE m.digest = b.digest) + " \
	"(SELECT count(*) FROM manifest_blobs mb "                        \
	"WHERE mb.digest = b.digest) + "                                  \
	"(SELECT count(*) FROM repo_blobs r WHERE r.digest = b.digest), " \
	"b.origin, b.present, b.last_access_ns FROM blobs b"
#define LAYER_COLS "id, tag, name, digest, size FROM layers"
#define RUN_COLS                                                               \
	"id, plan, file_hash, started_ns, ended_ns, status, exit_code, pins, " \
	"args FROM plan_runs"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_DIR_BY_ID] = "SELECT " DIR_COLS " FROM dirs WHERE id = ?1",
	[ST_DIR_LOOKUP] =
	    "SELECT " DIR_COLS " FROM dirs WHERE parent = ?1 AND name = ?2",
	[ST_DIR_BY_PATH] = "SELECT " DIR_COLS " FROM dirs WHERE path = ?1",
	[ST_DIR_INSERT] = "INSERT INTO dirs(parent, name, path, created_ns) "
			  "VALUES(?1, ?2, ?3, ?4)",
	[ST_DIR_SEAL] = "UPDATE dirs SET sealed = 1, changed_ns = ?2"
			" WHERE id = ?1",
	[ST_DIR_DELETE] = "DELETE FROM dirs WHERE id = ?1",
	[ST_DIR_HAS_CHILDREN] =
	    "SELECT EXISTS(SELECT 1 FROM dirs WHERE parent = ?1) OR "
	    "EXISTS(SELECT 1 FROM tags WHERE dir = ?1)",
	[ST_DIR_LIST] =
	    "SELECT " DIR_COLS " FROM dirs WHERE parent = ?1 ORDER BY name",
	[ST_DIR_LIST_SEALED] = "SELECT " DIR_COLS " FROM dirs WHERE parent = ?1"
			       " AND sealed = 1 ORDER BY name",
	[ST_TAG_BY_ID] = "SELECT " TAG_COLS " WHERE t.id = ?1",
	[ST_TAG_LOOKUP] =
	    "SELECT " TAG_COLS " WHERE t.dir = ?1 AND t.name = ?2",
	[ST_TAG_GET] = "SELECT " TAG_COLS " WHERE d.path = ?1 AND t.name = ?2",
	[ST_TAG_LIST_DIR] =
	    "SELECT " TAG_COLS " WHERE t.dir = ?1 ORDER BY t.name",
	[ST_TAG_LIST_ALL] = "SELECT " TAG_COLS " ORDER BY d.path, t.name",
	[ST_TAG_LIST_REPO] =
	    "SELECT " TAG_COLS " WHERE d.path = ?1 ORDER BY t.name",
	[ST_TAG_INSERT] =
	    "INSERT INTO tags(dir, name, digest, size, created_ns)"
	    " VALUES(?1, ?2, ?3, ?4, ?5)",
	/* Content sealed here is local from now on, even if it was fetched
	 * before: it must never be evicted. */
	[ST_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created_ns)"
			   " VALUES(?1, ?2, ?3) ON CONFLICT(digest) DO UPDATE"
			   " SET origin = '', present = 1",
	[ST_BLOB_INSERT_REMOTE] =
	    "INSERT OR IGNORE INTO blobs(digest, size, created_ns, origin,"
	    " present) VALUES(?1, ?2, ?3, ?4, ?5)",
	[ST_BLOB_SET_PRESENT] =
	    "UPDATE blobs SET present = ?2 WHERE digest = ?1",
	[ST_BLOB_TOUCH] =
	    "UPDATE blobs SET last_access_ns = ?2 WHERE digest = ?1",
	[ST_BLOB_EVICTABLE] = "SELECT " BLOB_COLS " WHERE b.origin != ''"
			      " AND b.present = 1 ORDER BY b.last_access_ns",
	[ST_BLOB_CACHED_BYTES] = "SELECT coalesce(sum(size), 0) FROM blobs"
				 " WHERE origin != '' AND present = 1",
	[ST_TAG_PIN] = "INSERT INTO tags(dir, name, digest, size, created_ns,"
		       " origin, kind, manifest, resolved_ns)"
		       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?5)",
	[ST_TAG_DELETE] = "DELETE FROM tags WHERE id = ?1",
	[ST_TAG_TOUCH] = "UPDATE tags SET resolved_ns = ?2 WHERE id = ?1",
	[ST_LAYER_INSERT] = "INSERT INTO layers(tag, name, digest, size)"
			    " VALUES(?1, ?2, ?3, ?4)",
	[ST_LAYER_BY_ID] = "SELECT " LAYER_COLS " WHERE id = ?1",
	[ST_LAYER_LOOKUP] =
	    "SELECT " LAYER_COLS " WHERE tag = ?1 AND name = ?2",
	[ST_LAYER_LIST] = "SELECT " LAYER_COLS " WHERE tag = ?1 ORDER BY id",
	[ST_ANNOTATION_SET] =
	    "INSERT OR REPLACE INTO annotations(tag, key, value)"
	    " VALUES(?1, ?2, ?3)",
	[ST_ANNOTATION_LIST] =
	    "SELECT key, value FROM annotations WHERE tag = ?1"
	    " ORDER BY key",
	[ST_TAG_SET_META] = "UPDATE tags SET artifact_type = ?2 WHERE id = ?1",
	[ST_TAG_SET_MODE] = "UPDATE tags SET mode = ?2 WHERE id = ?1",
	[ST_TAG_SET_MTIME] = "UPDATE tags SET mtime_ns = ?2 WHERE id = ?1",
	[ST_TAG_YANK] = "UPDATE tags SET yanked = ?2 WHERE id = ?1",
	[ST_YANK_SET] = "INSERT OR REPLACE INTO yanks(tag, by, reason,"
			" yanked_ns) VALUES(?1, ?2, ?3, ?4)",
	[ST_YANK_CLEAR] = "DELETE FROM yanks WHERE tag = ?1",
	[ST_YANK_GET] = "SELECT by, reason, yanked_ns FROM yanks WHERE"
			" tag = ?1",
	[ST_VERDICT_SET] = "INSERT OR REPLACE INTO signature_verdicts(repo,"
			   " tag, subject, ok, key, reason, checked_ns)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* ?3 a digest, or '' for the newest verdict on the tag */
	[ST_VERDICT_GET] = "SELECT subject, ok, key, reason, checked_ns FROM"
			   " signature_verdicts WHERE repo = ?1 AND tag = ?2"
			   " AND (?3 = '' OR subject = ?3)"
			   " ORDER BY checked_ns DESC LIMIT 1",
	/* A case-insensitive substring of the repository, the tag, or an
	 * annotation's key or value; ?2 an artifact type or "" for any. */
	[ST_TAG_SEARCH] =
	    "SELECT " TAG_COLS " WHERE (instr(lower(d.path), lower(?1)) OR"
	    " instr(lower(t.name), lower(?1)) OR EXISTS(SELECT 1 FROM"
	    " annotations a WHERE a.tag = t.id AND (instr(lower(a.key),"
	    " lower(?1)) OR instr(lower(a.value), lower(?1)))))"
	    " AND (?2 = '' OR t.artifact_type = ?2)"
	    " AND (?3 = 1 OR t.yanked = 0)"
	    " ORDER BY d.path, t.name",
	[ST_RETIRED_SINCE] = "SELECT repo, name, retired_ns FROM retired_tags"
			     " WHERE retired_ns > ?1 ORDER BY retired_ns",
	[ST_DIR_TOUCH] = "UPDATE dirs SET changed_ns = ?2 WHERE id = ?1",
	[ST_TAG_RETIRE] =
	    "INSERT OR REPLACE INTO retired_tags(id, repo, name, digest,"
	    " size, created_ns, origin, kind, manifest, retired_ns, mode,"
	    " mtime_ns) SELECT t.id, d.path, t.name, t.digest, t.size,"
	    " t.created_ns, t.origin, t.kind, t.manifest, ?2, t.mode,"
	    " t.mtime_ns FROM tags t JOIN dirs d"
	    " ON d.id = t.dir WHERE t.id = ?1",
	[ST_RETIRED_BY_ID] =
	    "SELECT id, 0, repo, name, digest, size, created_ns, origin,"
	    " kind, manifest, retired_ns, 0, '', mode, mtime_ns"
	    " FROM retired_tags"
	    " WHERE id = ?1",
	[ST_BLOB_FORGET] =
	    "DELETE FROM blobs WHERE digest = ?1 AND NOT EXISTS(SELECT 1"
	    " FROM tags WHERE digest = ?1 OR manifest = ?1) AND NOT"
	    " EXISTS(SELECT 1 FROM layers WHERE digest = ?1) AND NOT"
	    " EXISTS(SELECT 1 FROM manifests WHERE digest = ?1) AND NOT"
	    " EXISTS(SELECT 1 FROM manifest_blobs WHERE digest = ?1) AND NOT"
	    " EXISTS(SELECT 1 FROM repo_blobs WHERE digest = ?1)",
	[ST_REMOTE_BLOB_ADD] =
	    "INSERT OR IGNORE INTO remote_blobs(digest, host,"
	    " repo) VALUES(?1, ?2, ?3)",
	[ST_REMOTE_BLOB_FIND] =
	    "SELECT repo FROM remote_blobs WHERE digest = ?1"
	    " AND host = ?2 AND repo != ?3 LIMIT 1",
	[ST_SETTING_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_SETTING_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
			   " ON CONFLICT(key) DO UPDATE SET value = ?2",
	[ST_RUN_ADD] =
	    "INSERT INTO plan_runs(id, plan, file_hash, started_ns,"
	    " status, pins, args) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_RUN_FINISH] = "UPDATE plan_runs SET status = ?2, exit_code = ?3,"
			  " ended_ns = ?4 WHERE id = ?1",
	[ST_RUN_RESTART] = "UPDATE plan_runs SET status = 'running',"
			   " ended_ns = 0, exit_code = 0 WHERE id = ?1",
	[ST_RUN_SET_PINS] = "UPDATE plan_runs SET pins = ?2 WHERE id = ?1",
	[ST_RUN_GET] = "SELECT " RUN_COLS " WHERE id = ?1",
	[ST_RUN_LIST] = "SELECT " RUN_COLS " ORDER BY started_ns DESC, id DESC",
	[ST_RUN_LIST_PLAN] = "SELECT " RUN_COLS " WHERE plan = ?1"
			     " ORDER BY started_ns DESC, id DESC",
	[ST_RUN_STEP_SET] =
	    "INSERT INTO plan_steps(run, step, step_name, host, status,"
	    " started_ns, ended_ns, exit_code, log, message)"
	    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
	    " ON CONFLICT(run, step, host) DO UPDATE SET status = ?5,"
	    " started_ns = ?6, ended_ns = ?7, exit_code = ?8, log = ?9,"
	    " message = ?10",
	[ST_RUN_STEP_LIST] =
	    "SELECT run, step, step_name, host, status, started_ns, ended_ns,"
	    " exit_code, log, message FROM plan_steps WHERE run = ?1"
	    " ORDER BY step, rowid",
	[ST_BLOB_GET] = "SELECT " BLOB_COLS " WHERE b.digest = ?1",
	[ST_BLOB_LIST] = "SELECT " BLOB_COLS " ORDER BY b.digest",
};

int64_t rfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int db_error(struct rfs_catalog *cat, int rc, struct rfs_error *err,
		    const char *what)
{
	return rfs_error_set(err, rfs_errno_from_sqlite(rc), "catalog: %s: %s",
			     what, sqlite3_errmsg(cat->db));
}

/* what names the step in a message: never the SQL, which means nothing to
 * whoever reads it. */
static int exec(struct rfs_catalog *cat, const char *sql, const char *what,
		struct rfs_error *err)
{
	int rc = sqlite3_exec(cat->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_error(cat, rc, err, what);
}

/* A prepared statement, reset and ready for binding. Lock held. */
sqlite3_stmt *catalog_stmt(struct rfs_catalog *cat, enum stmt_id id)
{
	sqlite3_stmt *s = cat->stmts[id];

	if (!s) {
		const char *sql =
		    stmt_sql[id] ? stmt_sql[id] : catalog_manifest_sql(id);

		if (sqlite3_prepare_v3(cat->db, sql, -1,
				       SQLITE_PREPARE_PERSISTENT, &s,
				       NULL) != SQLITE_OK)
			return NULL;
		cat->stmts[id] = s;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

void catalog_lock(struct rfs_catalog *cat)
{
	pthread_mutex_lock(&cat->lock);
}

void catalog_unlock(struct rfs_catalog *cat)
{
	pthread_mutex_unlock(&cat->lock);
}

void catalog_copy_text(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static void row_to_dir(sqlite3_stmt *s, struct rfs_dir *d)
{
	d->id = sqlite3_column_int64(s, 0);
	d->parent = sqlite3_column_int64(s, 1);
	catalog_copy_text(d->name, sizeof(d->name), sqlite3_column_text(s, 2));
	catalog_copy_text(d->path, sizeof(d->path), sqlite3_column_text(s, 3));
	d->sealed = sqlite3_column_int(s, 4) != 0;
	d->created_ns = sqlite3_column_int64(s, 5);
	d->changed_ns = sqlite3_column_int64(s, 6);
	if (d->changed_ns == 0)
		d->changed_ns = d->created_ns;
}

static void row_to_tag(sqlite3_stmt *s, struct rfs_tag *t)
{
	t->id = sqlite3_column_int64(s, 0);
	t->dir = sqlite3_column_int64(s, 1);
	catalog_copy_text(t->repo, sizeof(t->repo), sqlite3_column_text(s, 2));
	catalog_copy_text(t->name, sizeof(t->name), sqlite3_column_text(s, 3));
	catalog_copy_text(t->digest, sizeof(t->digest),
			  sqlite3_column_text(s, 4));
	t->size = (uint64_t)sqlite3_column_int64(s, 5);
	t->created_ns = sqlite3_column_int64(s, 6);
	catalog_copy_text(t->origin, sizeof(t->origin),
			  sqlite3_column_text(s, 7));
	t->kind = sqlite3_column_int(s, 8) == RFS_TAG_LAYERS ? RFS_TAG_LAYERS
							     : RFS_TAG_FILE;
	catalog_copy_text(t->manifest, sizeof(t->manifest),
			  sqlite3_column_text(s, 9));
	t->resolved_ns = sqlite3_column_int64(s, 10);
	t->yanked = sqlite3_column_int(s, 11) != 0;
	catalog_copy_text(t->artifact_type, sizeof(t->artifact_type),
			  sqlite3_column_text(s, 12));
	t->mode = rfs_tag_mode((unsigned)sqlite3_column_int(s, 13));
	t->mtime_ns = sqlite3_column_type(s, 14) == SQLITE_NULL
			  ? t->created_ns
			  : sqlite3_column_int64(s, 14);
}

static void row_to_layer(sqlite3_stmt *s, struct rfs_layer *l)
{
	l->id = sqlite3_column_int64(s, 0);
	l->tag = sqlite3_column_int64(s, 1);
	catalog_copy_text(l->name, sizeof(l->name), sqlite3_column_text(s, 2));
	catalog_copy_text(l->digest, sizeof(l->digest),
			  sqlite3_column_text(s, 3));
	l->size = (uint64_t)sqlite3_column_int64(s, 4);
}

static void row_to_blob(sqlite3_stmt *s, struct rfs_blob *b)
{
	catalog_copy_text(b->digest, sizeof(b->digest),
			  sqlite3_column_text(s, 0));
	b->size = (uint64_t)sqlite3_column_int64(s, 1);
	b->created_ns = sqlite3_column_int64(s, 2);
	b->refs = sqlite3_column_int64(s, 3);
	catalog_copy_text(b->origin, sizeof(b->origin),
			  sqlite3_column_text(s, 4));
	b->present = sqlite3_column_int(s, 5) != 0;
	b->last_access_ns = sqlite3_column_int64(s, 6);
}

static int migrate(struct rfs_catalog *cat, struct rfs_error *err)
{
	sqlite3_stmt *s = NULL;
	int version = SCHEMA_VERSION, rc;

	rc = sqlite3_prepare_v2(cat->db,
				"SELECT value FROM meta WHERE key = 'schema'",
				-1, &s, NULL);
	if (rc == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > SCHEMA_VERSION)
		return rfs_error_set(err, -EPROTO,
				     "catalog schema %d is newer than this "
				     "regfs understands (%d)",
				     version, SCHEMA_VERSION);
	for (; version < SCHEMA_VERSION; version++) {
		char bump[96];

		snprintf(bump, sizeof(bump),
			 "UPDATE meta SET value = '%d' WHERE key = 'schema'",
			 version + 1);
		rc = exec(cat, "BEGIN IMMEDIATE", "cannot upgrade the schema",
			  err);
		if (!rc)
			rc = exec(cat, migrations[version - 1],
				  "cannot upgrade the schema", err);
		if (!rc)
			rc = exec(cat, bump, "cannot upgrade the schema", err);
		if (!rc)
			rc = exec(cat, "COMMIT", "cannot upgrade the schema",
				  err);
		if (rc) {
			sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	return 0;
}

int rfs_catalog_open(const char *path, bool readonly, struct rfs_catalog **out,
		     struct rfs_error *err)
{
	struct rfs_catalog *cat = calloc(1, sizeof(*cat));
	pthread_mutexattr_t attr;
	int rc;

	if (!cat)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&cat->lock, &attr);
	pthread_mutexattr_destroy(&attr);

	rc = catalog_file_open(cat, path, readonly, err);
	if (rc || readonly)
		goto out;
	rc = sqlite3_exec(cat->db, schema_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = catalog_file_open_error(cat, rc, err);
		goto out;
	}
	rc = migrate(cat, err);
	if (!rc)
		rc = catalog_file_date(cat, err);
out:
	if (rc)
		rfs_catalog_close(&cat);
	else
		*out = cat;
	return rc;
}

void rfs_catalog_close(struct rfs_catalog **catp)
{
	struct rfs_catalog *cat;

	if (!catp || !*catp)
		return;
	cat = *catp;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(cat->stmts[i]);
	sqlite3_close(cat->db);
	pthread_mutex_destroy(&cat->lock);
	free(cat);
	*catp = NULL;
}

/* Run a single-row query; -ENOENT when there is no row. */
int catalog_one_row(sqlite3_stmt *s)
{
	int rc;

	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return rfs_errno_from_sqlite(rc);
}

/* Bind text ('t') and int64_t ('i') arguments to a statement in order. */
static void bind_args(sqlite3_stmt *s, const char *types, va_list ap)
{
	for (int i = 0; types[i]; i++) {
		if (types[i] == 't')
			sqlite3_bind_text(s, i + 1, va_arg(ap, const char *),
					  -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
	}
}

/* Run a statement that returns no rows, with arguments as bind_args().
 * Lock held. */
sqlite3_stmt *catalog_query(struct rfs_catalog *cat, enum stmt_id id,
			    const char *types, ...)
{
	sqlite3_stmt *s = catalog_stmt(cat, id);
	va_list ap;

	if (!s)
		return NULL;
	va_start(ap, types);
	bind_args(s, types, ap);
	va_end(ap);
	return s;
}

int catalog_run(struct rfs_catalog *cat, enum stmt_id id, const char *types,
		...)
{
	sqlite3_stmt *s = catalog_stmt(cat, id);
	va_list ap;
	int rc;

	if (!s)
		return -EIO;
	va_start(ap, types);
	bind_args(s, types, ap);
	va_end(ap);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : rfs_errno_from_sqlite(rc);
}

static void row_to(sqlite3_stmt *s, enum row_kind kind, void *out)
{
	switch (kind) {
	case ROW_NONE: break;
	case ROW_DIR: row_to_dir(s, out); break;
	case ROW_TAG: row_to_tag(s, out); break;
	case ROW_BLOB: row_to_blob(s, out); break;
	case ROW_LAYER: row_to_layer(s, out); break;
	}
}

/* A query of one row, converted into out (which may be NULL); -ENOENT
 * when there is none. Lock held. */
int catalog_get_row(struct rfs_catalog *cat, enum stmt_id id,
		    enum row_kind kind, void *out, const char *types, ...)
{
	sqlite3_stmt *s = catalog_stmt(cat, id);
	va_list ap;
	int rc;

	if (!s)
		return -EIO;
	va_start(ap, types);
	bind_args(s, types, ap);
	va_end(ap);
	rc = catalog_one_row(s);
	if (!rc && out)
		row_to(s, kind, out);
	sqlite3_reset(s);
	return rc;
}

static int dir_by_id_locked(struct rfs_catalog *cat, int64_t id,
			    struct rfs_dir *out)
{
	return catalog_get_row(cat, ST_DIR_BY_ID, ROW_DIR, out, "i", id);
}

int rfs_catalog_dir_by_id(struct rfs_catalog *cat, int64_t id,
			  struct rfs_dir *out)
{
	int rc;

	catalog_lock(cat);
	rc = dir_by_id_locked(cat, id, out);
	catalog_unlock(cat);
	return rc;
}

static int dir_lookup_locked(struct rfs_catalog *cat, int64_t parent,
			     const char *name, struct rfs_dir *out)
{
	return catalog_get_row(cat, ST_DIR_LOOKUP, ROW_DIR, out, "it", parent,
			       name);
}

int rfs_catalog_dir_lookup(struct rfs_catalog *cat, int64_t parent,
			   const char *name, struct rfs_dir *out)
{
	int rc;

	catalog_lock(cat);
	rc = dir_lookup_locked(cat, parent, name, out);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_dir_by_path(struct rfs_catalog *cat, const char *path,
			    struct rfs_dir *out)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_DIR_BY_PATH, ROW_DIR, out, "t", path);
	catalog_unlock(cat);
	return rc;
}

static int tag_lookup_locked(struct rfs_catalog *cat, int64_t dir,
			     const char *name, struct rfs_tag *out)
{
	return catalog_get_row(cat, ST_TAG_LOOKUP, ROW_TAG, out, "it", dir,
			       name);
}

/* Create the directories of path that are missing. Lock held; the caller
 * owns the transaction. */
static int dir_ensure_locked(struct rfs_catalog *cat, const char *path,
			     struct rfs_dir *out, struct rfs_error *err)
{
	char prefix[RFS_REPO_MAX + 1];
	struct rfs_dir dir = { .id = 0 };
	const char *start = path;
	int64_t now = rfs_now_ns();
	char shown[RFS_TEXT_NAME_BUF];

	if (!rfs_name_valid_repo(path))
		return rfs_error_set(err, -EINVAL,
				     "invalid repository name '%s'",
				     rfs_text_name(shown, path));
	for (;;) {
		const char *slash = strchr(start, '/');
		size_t plen = slash ? (size_t)(slash - path) : strlen(path);
		int64_t parent = dir.id;
		int rc;

		memcpy(prefix, path, plen);
		prefix[plen] = '\0';
		rc = dir_lookup_locked(cat, parent, prefix + (start - path),
				       &dir);
		if (rc == -ENOENT) {
			sqlite3_stmt *s;
			const char *name = prefix + (start - path);

			if (tag_lookup_locked(cat, parent, name, NULL) == 0)
				return rfs_error_set(
				    err, -EEXIST,
				    "'%s' is a tag, not a repository", prefix);
			s = catalog_stmt(cat, ST_DIR_INSERT);
			if (!s)
				return db_error(cat, SQLITE_ERROR, err,
						"insert directory");
			sqlite3_bind_int64(s, 1, parent);
			sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 3, prefix, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 4, now);
			rc = sqlite3_step(s);
			sqlite3_reset(s);
			if (rc != SQLITE_DONE)
				return db_error(cat, rc, err,
						"insert directory");
			rc = dir_lookup_locked(cat, parent, name, &dir);
		}
		if (rc)
			return db_error(cat, SQLITE_ERROR, err,
					"look up directory");
		if (!slash)
			break;
		start = slash + 1;
	}
	if (out)
		*out = dir;
	return 0;
}

int catalog_txn_begin(struct rfs_catalog *cat, struct rfs_error *err)
{
	int rc = 0;

	/* Never commit into a file nobody will open again. */
	if (cat->txn_depth == 0)
		rc = catalog_file_check(cat, err);
	if (cat->txn_depth == 0 && !rc)
		rc = exec(cat, "BEGIN IMMEDIATE", "cannot begin a change", err);
	if (!rc)
		cat->txn_depth++;
	return rc;
}

int catalog_txn_end(struct rfs_catalog *cat, int rc, struct rfs_error *err)
{
	if (--cat->txn_depth > 0)
		return rc;
	if (rc == 0)
		rc = exec(cat, "COMMIT", "cannot commit a change", err);
	if (rc)
		sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int rfs_catalog_dir_ensure(struct rfs_catalog *cat, const char *path,
			   struct rfs_dir *out, struct rfs_error *err)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc)
		rc = catalog_txn_end(
		    cat, dir_ensure_locked(cat, path, out, err), err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_dir_remove(struct rfs_catalog *cat, int64_t id)
{
	struct rfs_dir dir;
	sqlite3_stmt *s;
	int rc;

	catalog_lock(cat);
	rc = catalog_txn_begin(cat, NULL);
	if (rc)
		goto out;
	rc = dir_by_id_locked(cat, id, &dir);
	if (!rc && dir.sealed)
		rc = -EBUSY;
	if (!rc) {
		s = catalog_stmt(cat, ST_DIR_HAS_CHILDREN);
		sqlite3_bind_int64(s, 1, id);
		rc = catalog_one_row(s);
		if (!rc && sqlite3_column_int(s, 0))
			rc = -ENOTEMPTY;
		sqlite3_reset(s);
	}
	if (!rc) {
		s = catalog_stmt(cat, ST_DIR_DELETE);
		sqlite3_bind_int64(s, 1, id);
		rc = rfs_errno_from_sqlite(sqlite3_step(s));
		sqlite3_reset(s);
	}
	rc = catalog_txn_end(cat, rc, NULL);
out:
	catalog_unlock(cat);
	return rc;
}

/* Step through a listing (arguments as bind_args()), handing each row to
 * the callback. Lock held. */
int catalog_get_rows(struct rfs_catalog *cat, enum stmt_id id,
		     const struct lister *l, const char *types, ...)
{
	sqlite3_stmt *s = catalog_stmt(cat, id);
	int rc = 0, step = SQLITE_DONE;
	va_list ap;

	if (!s)
		return -EIO;
	va_start(ap, types);
	bind_args(s, types, ap);
	va_end(ap);
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
		union {
			struct rfs_dir dir;
			struct rfs_tag tag;
			struct rfs_blob blob;
			struct rfs_layer layer;
		} row;

		row_to(s, l->kind, &row);
		switch (l->kind) {
		case ROW_NONE: break;
		case ROW_DIR: rc = l->fn.dir(l->ctx, &row.dir); break;
		case ROW_TAG: rc = l->fn.tag(l->ctx, &row.tag); break;
		case ROW_BLOB: rc = l->fn.blob(l->ctx, &row.blob); break;
		case ROW_LAYER: rc = l->fn.layer(l->ctx, &row.layer); break;
		}
	}
	if (!rc && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	sqlite3_reset(s);
	return rc;
}

int rfs_catalog_list_dirs(struct rfs_catalog *cat, int64_t parent,
			  bool sealed_only, rfs_dir_fn fn, void *ctx)
{
	struct lister l = { .kind = ROW_DIR, .fn.dir = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = catalog_get_rows(cat,
			      sealed_only ? ST_DIR_LIST_SEALED : ST_DIR_LIST,
			      &l, "i", parent);
	catalog_unlock(cat);
	return rc;
}

/* A tag by id: a live one, or one a refresh retired (its folder 0). */
static int tag_by_id_locked(struct rfs_catalog *cat, int64_t id,
			    struct rfs_tag *out)
{
	int rc = catalog_get_row(cat, ST_TAG_BY_ID, ROW_TAG, out, "i", id);

	if (rc == -ENOENT)
		rc = catalog_get_row(cat, ST_RETIRED_BY_ID, ROW_TAG, out, "i",
				     id);
	return rc;
}

int rfs_catalog_tag_by_id(struct rfs_catalog *cat, int64_t id,
			  struct rfs_tag *out)
{
	int rc;

	catalog_lock(cat);
	rc = tag_by_id_locked(cat, id, out);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_tag_lookup(struct rfs_catalog *cat, int64_t dir,
			   const char *name, struct rfs_tag *out)
{
	int rc;

	catalog_lock(cat);
	rc = tag_lookup_locked(cat, dir, name, out);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_tag_get(struct rfs_catalog *cat, const char *repo,
			const char *tag, struct rfs_tag *out)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_TAG_GET, ROW_TAG, out, "tt", repo, tag);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_tags_in_dir(struct rfs_catalog *cat, int64_t dir,
				 rfs_tag_fn fn, void *ctx)
{
	struct lister l = { .kind = ROW_TAG, .fn.tag = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = catalog_get_rows(cat, ST_TAG_LIST_DIR, &l, "i", dir);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_tags(struct rfs_catalog *cat, const char *repo,
			  rfs_tag_fn fn, void *ctx)
{
	struct lister l = { .kind = ROW_TAG, .fn.tag = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = repo ? catalog_get_rows(cat, ST_TAG_LIST_REPO, &l, "t", repo)
		  : catalog_get_rows(cat, ST_TAG_LIST_ALL, &l, "");
	catalog_unlock(cat);
	return rc;
}

/* A directory and its ancestors now hold a tag, and their listings (the
 * tag's folder, and the folders that now show a sealed child) changed at
 * now. Lock held. */
static int seal_dirs_locked(struct rfs_catalog *cat, int64_t dir,
			    struct rfs_error *err)
{
	int64_t now = rfs_now_ns();

	for (int64_t d = dir; d != 0;) {
		struct rfs_dir cur;
		sqlite3_stmt *s;
		int rc;

		if (dir_by_id_locked(cat, d, &cur))
			return db_error(cat, SQLITE_ERROR, err, "seal dirs");
		s = catalog_stmt(cat, ST_DIR_SEAL);
		if (!s)
			return db_error(cat, SQLITE_ERROR, err, "seal dirs");
		sqlite3_bind_int64(s, 1, d);
		sqlite3_bind_int64(s, 2, now);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return db_error(cat, rc, err, "seal dirs");
		d = cur.parent;
	}
	return 0;
}

static int set_meta_locked(struct rfs_catalog *cat, int64_t id,
			   const struct rfs_tag_meta *meta,
			   struct rfs_error *err);

static int add_tag_locked(struct rfs_catalog *cat, const char *repo,
			  const char *tag, const char *digest, uint64_t size,
			  int64_t created_ns, const struct rfs_tag_meta *meta,
			  struct rfs_tag *out, struct rfs_error *err)
{
	struct rfs_dir dir;
	sqlite3_stmt *s;
	int64_t id;
	int rc;

	rc = dir_ensure_locked(cat, repo, &dir, err);
	if (rc)
		return rc;
	if (dir_lookup_locked(cat, dir.id, tag, NULL) == 0)
		return rfs_error_set(err, -EEXIST,
				     "'%s/%s' is a repository, not a tag", repo,
				     tag);
	s = catalog_stmt(cat, ST_BLOB_INSERT);
	if (!s)
		return db_error(cat, SQLITE_ERROR, err, "insert blob");
	sqlite3_bind_text(s, 1, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(s, 3, created_ns);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(cat, rc, err, "insert blob");

	s = catalog_stmt(cat, ST_TAG_INSERT);
	if (!s)
		return db_error(cat, SQLITE_ERROR, err, "insert tag");
	sqlite3_bind_int64(s, 1, dir.id);
	sqlite3_bind_text(s, 2, tag, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)size);
	sqlite3_bind_int64(s, 5, created_ns);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return rfs_error_set(err, -EEXIST, "tag '%s:%s' exists", repo,
				     tag);
	if (rc != SQLITE_DONE)
		return db_error(cat, rc, err, "insert tag");
	id = sqlite3_last_insert_rowid(cat->db);
	rc = set_meta_locked(cat, id, meta, err);
	if (!rc)
		rc = seal_dirs_locked(cat, dir.id, err);
	if (!rc && out)
		rc = tag_by_id_locked(cat, id, out);
	return rc;
}

int rfs_catalog_add_tag(struct rfs_catalog *cat, const char *repo,
			const char *tag, const char *digest, uint64_t size,
			int64_t created_ns, struct rfs_tag *out,
			struct rfs_error *err)
{
	return rfs_catalog_add_tag_meta(cat, repo, tag, digest, size,
					created_ns, NULL, out, err);
}

int rfs_catalog_add_tag_meta(struct rfs_catalog *cat, const char *repo,
			     const char *tag, const char *digest, uint64_t size,
			     int64_t created_ns,
			     const struct rfs_tag_meta *meta,
			     struct rfs_tag *out, struct rfs_error *err)
{
	char shown[RFS_TEXT_NAME_BUF];
	int rc;

	if (!rfs_name_valid_tag(tag))
		return rfs_error_set(err, -EINVAL, "invalid tag name '%s'",
				     rfs_text_name(shown, tag));
	if (!rfs_digest_valid(digest))
		return rfs_error_set(err, -EINVAL, "invalid digest '%s'",
				     digest);
	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc)
		rc =
		    catalog_txn_end(cat,
				    add_tag_locked(cat, repo, tag, digest, size,
						   created_ns, meta, out, err),
				    err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_begin(struct rfs_catalog *cat)
{
	int rc;

	catalog_lock(cat); /* held until rfs_catalog_commit() */
	rc = catalog_txn_begin(cat, NULL);
	if (rc)
		catalog_unlock(cat);
	return rc;
}

int rfs_catalog_commit(struct rfs_catalog *cat)
{
	int rc = catalog_txn_end(cat, 0, NULL);

	catalog_unlock(cat);
	return rc;
}

int catalog_pin_tag_locked(struct rfs_catalog *cat, const struct rfs_pin *pin,
			   enum catalog_replace replace, struct rfs_tag *out,
			   struct rfs_error *err)
{
	int64_t now = rfs_now_ns(), id;
	struct rfs_tag old;
	struct rfs_dir dir;
	int rc;

	rc = dir_ensure_locked(cat, pin->repo, &dir, err);
	if (rc)
		return rc;
	if (dir_lookup_locked(cat, dir.id, pin->tag, NULL) == 0)
		return rfs_error_set(err, -EEXIST,
				     "'%s/%s' is a repository, not a tag",
				     pin->repo, pin->tag);
	if (tag_lookup_locked(cat, dir.id, pin->tag, &old) == 0) {
		if (replace == CATALOG_REPLACE_NONE ||
		    (replace == CATALOG_REPLACE_UPSTREAM && !old.origin[0]))
			return rfs_error_set(err, -EEXIST, "tag '%s:%s' exists",
					     pin->repo, pin->tag);
		rc = catalog_run(cat, ST_TAG_RETIRE, "ii", old.id, now);
		if (!rc)
			rc = catalog_run(cat, ST_TAG_DELETE, "i", old.id);
		if (rc)
			return db_error(cat, SQLITE_ERROR, err, "retire tag");
	}
	/* The manifest is stored by now, as content of our own: it is what
	 * the pin stands on, so it is never evicted. The layers are fetched
	 * on demand. */
	rc = catalog_run(cat, ST_BLOB_INSERT, "tii", pin->manifest,
			 (int64_t)pin->manifest_size, now);
	if (!rc && pin->kind == RFS_TAG_FILE)
		rc = catalog_run(cat, ST_BLOB_INSERT_REMOTE, "tiiti",
				 pin->digest, (int64_t)pin->size, now,
				 pin->origin, (int64_t)0);
	for (size_t i = 0; !rc && i < pin->n_layers; i++)
		rc = catalog_run(
		    cat, ST_BLOB_INSERT_REMOTE, "tiiti", pin->layers[i].digest,
		    (int64_t)pin->layers[i].size, now, pin->origin, (int64_t)0);
	if (rc)
		return db_error(cat, SQLITE_ERROR, err, "insert blob");
	rc = catalog_run(cat, ST_TAG_PIN, "ittiitit", dir.id, pin->tag,
			 pin->digest, (int64_t)pin->size, now, pin->origin,
			 (int64_t)pin->kind, pin->manifest);
	if (rc)
		return db_error(cat, SQLITE_ERROR, err, "insert tag");
	id = sqlite3_last_insert_rowid(cat->db);
	rc = set_meta_locked(cat, id, pin->meta, err);
	for (size_t i = 0; !rc && i < pin->n_layers; i++)
		rc = catalog_run(cat, ST_LAYER_INSERT, "itti", id,
				 pin->layers[i].name, pin->layers[i].digest,
				 (int64_t)pin->layers[i].size);
	if (rc)
		return rfs_error_set(err, rc,
				     "cannot record the layers of '%s:%s'",
				     pin->repo, pin->tag);
	rc = seal_dirs_locked(cat, dir.id, err);
	if (!rc && out)
		rc = tag_by_id_locked(cat, id, out);
	return rc;
}

int rfs_catalog_pin_tag(struct rfs_catalog *cat, const struct rfs_pin *pin,
			bool replace, struct rfs_tag *out,
			struct rfs_error *err)
{
	char shown[RFS_TEXT_NAME_BUF];
	int rc;

	if (!rfs_name_valid_tag(pin->tag))
		return rfs_error_set(err, -EINVAL, "invalid tag name '%s'",
				     rfs_text_name(shown, pin->tag));
	if (!rfs_digest_valid(pin->digest) || !rfs_digest_valid(pin->manifest))
		return rfs_error_set(err, -EINVAL, "invalid digest for '%s:%s'",
				     pin->repo, pin->tag);
	for (size_t i = 0; i < pin->n_layers; i++)
		if (!rfs_digest_valid(pin->layers[i].digest))
			return rfs_error_set(err, -EINVAL,
					     "invalid layer digest in '%s:%s'",
					     pin->repo, pin->tag);
	catalog_lock(cat);
	rc = catalog_txn_begin(cat, err);
	if (!rc)
		rc = catalog_txn_end(
		    cat,
		    catalog_pin_tag_locked(cat, pin,
					   replace ? CATALOG_REPLACE_UPSTREAM
						   : CATALOG_REPLACE_NONE,
					   out, err),
		    err);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_tag_touch(struct rfs_catalog *cat, int64_t id,
			  int64_t resolved_ns)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_TAG_TOUCH, "ii", id, resolved_ns);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_layer_by_id(struct rfs_catalog *cat, int64_t id,
			    struct rfs_layer *out)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_LAYER_BY_ID, ROW_LAYER, out, "i", id);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_layer_lookup(struct rfs_catalog *cat, int64_t tag,
			     const char *name, struct rfs_layer *out)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_get_row(cat, ST_LAYER_LOOKUP, ROW_LAYER, out, "it", tag,
			     name);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_layers(struct rfs_catalog *cat, int64_t tag,
			    rfs_layer_fn fn, void *ctx)
{
	struct lister l = { .kind = ROW_LAYER, .fn.layer = fn, .ctx = ctx };
	int rc;

	catalog_lock(cat);
	rc = catalog_get_rows(cat, ST_LAYER_LIST, &l, "i", tag);
	catalog_unlock(cat);
	return rc;
}

unsigned rfs_tag_mode(unsigned mode)
{
	return (mode & 0111) ? 0755 : 0644;
}

static int set_attrs_locked(struct rfs_catalog *cat, int64_t id,
			    const struct rfs_file_attrs *a)
{
	int rc = 0;

	if (a->set_mode)
		rc = catalog_run(cat, ST_TAG_SET_MODE, "ii", id,
				 (int64_t)rfs_tag_mode(a->mode));
	if (!rc && a->set_mtime)
		rc = catalog_run(cat, ST_TAG_SET_MTIME, "ii", id, a->mtime_ns);
	return rc;
}

int rfs_catalog_tag_set_attrs(struct rfs_catalog *cat, int64_t id,
			      const struct rfs_file_attrs *attrs,
			      struct rfs_tag *out)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_txn_begin(cat, NULL);
	if (!rc)
		rc = catalog_txn_end(cat, set_attrs_locked(cat, id, attrs),
				     NULL);
	if (!rc && out)
		rc = tag_by_id_locked(cat, id, out);
	catalog_unlock(cat);
	return rc;
}

/* Give tag id its artifact type, annotations, mode and mtime. Lock held. */
static int set_meta_locked(struct rfs_catalog *cat, int64_t id,
			   const struct rfs_tag_meta *meta,
			   struct rfs_error *err)
{
	char shown[RFS_TEXT_NAME_BUF];
	int rc = 0;

	if (!meta)
		return 0;
	if (meta->artifact_type && meta->artifact_type[0] &&
	    !rfs_artifact_type_valid(meta->artifact_type))
		return rfs_error_set(
		    err, -EINVAL,
		    "invalid artifact type '%s' (printable ASCII without "
		    "spaces, at most %d bytes)",
		    rfs_text_name(shown, meta->artifact_type),
		    RFS_MEDIA_TYPE_MAX);
	if (meta->artifact_type && meta->artifact_type[0])
		rc = catalog_run(cat, ST_TAG_SET_META, "it", id,
				 meta->artifact_type);
	if (!rc)
		rc = set_attrs_locked(cat, id, &meta->attrs);
	for (size_t i = 0; !rc && i < meta->n_annotations; i++) {
		const struct rfs_annotation *a = &meta->annotations[i];

		if (!rfs_annotation_key_valid(a->key))
			return rfs_error_set(
			    err, -EINVAL,
			    "invalid annotation key '%s' (printable ASCII "
			    "without spaces, a letter or digit first, at most "
			    "%d bytes)",
			    rfs_text_name(shown, a->key),
			    RFS_ANNOTATION_KEY_MAX);
		/* Annotations travel in JSON manifests: UTF-8 only. */
		if (!rfs_utf8_valid(a->value, strlen(a->value)))
			return rfs_error_set(err, -EINVAL,
					     "the value of annotation '%s' is "
					     "not UTF-8",
					     a->key);
		rc = catalog_run(cat, ST_ANNOTATION_SET, "itt", id, a->key,
				 a->value);
	}
	if (rc)
		return rfs_error_set(err, rc, "cannot record annotations");
	return 0;
}
