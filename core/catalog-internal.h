/*
 * catalog-internal.h - what the catalog's source files share; not for other
 * modules, which use catalog.h.
 *
 * Every statement is prepared once from stmt_sql[] (catalog.c) and kept in
 * struct rfs_catalog. Functions named catalog_*() expect the catalog's lock
 * held, except catalog_lock() and catalog_unlock() themselves.
 */
#ifndef RFS_CATALOG_INTERNAL_H
#define RFS_CATALOG_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "catalog.h"

enum stmt_id {
	ST_DIR_BY_ID,
	ST_DIR_LOOKUP,
	ST_DIR_BY_PATH,
	ST_DIR_INSERT,
	ST_DIR_SEAL,
	ST_DIR_DELETE,
	ST_DIR_HAS_CHILDREN,
	ST_DIR_LIST,
	ST_DIR_LIST_SEALED,
	ST_TAG_BY_ID,
	ST_TAG_LOOKUP,
	ST_TAG_GET,
	ST_TAG_LIST_DIR,
	ST_TAG_LIST_ALL,
	ST_TAG_LIST_REPO,
	ST_TAG_INSERT,
	ST_BLOB_INSERT,
	ST_BLOB_INSERT_REMOTE,
	ST_BLOB_GET,
	ST_BLOB_LIST,
	ST_BLOB_SET_PRESENT,
	ST_BLOB_TOUCH,
	ST_BLOB_EVICTABLE,
	ST_BLOB_CACHED_BYTES,
	ST_TAG_PIN,
	ST_TAG_DELETE,
	ST_TAG_TOUCH,
	ST_LAYER_INSERT,
	ST_LAYER_BY_ID,
	ST_LAYER_LOOKUP,
	ST_LAYER_LIST,
	ST_ANNOTATION_SET,
	ST_ANNOTATION_LIST,
	ST_TAG_SET_META,
	ST_TAG_SET_MODE,
	ST_TAG_SET_MTIME,
	ST_TAG_YANK,
	ST_YANK_SET,
	ST_YANK_CLEAR,
	ST_YANK_GET,
	ST_VERDICT_SET,
	ST_VERDICT_GET,
	ST_TAG_SEARCH,
	ST_REMOTE_BLOB_ADD,
	ST_REMOTE_BLOB_FIND,
	ST_BLOB_FORGET,
	ST_TAG_RETIRE,
	ST_DIR_TOUCH,
	ST_RETIRED_SINCE,
	ST_RETIRED_BY_ID,
	ST_SETTING_GET,
	ST_SETTING_SET,
	ST_RUN_ADD,
	ST_RUN_FINISH,
	ST_RUN_RESTART,
	ST_RUN_SET_PINS,
	ST_RUN_GET,
	ST_RUN_LIST,
	ST_RUN_LIST_PLAN,
	ST_RUN_STEP_SET,
	ST_RUN_STEP_LIST,
	/* catalog-manifests.c's */
	ST_MANIFEST_INSERT,
	ST_MANIFEST_GET,
	ST_MANIFEST_BLOB_INSERT,
	ST_MANIFEST_DELETE,
	ST_MANIFEST_REFERRERS,
	ST_MANIFEST_TAGS,
	ST_REPO_BLOB_LINK,
	ST_REPO_BLOB_UNLINK,
	ST_REPO_HAS_BLOB,
	ST_REPO_EXISTS,
	ST_REPO_LIST,
	ST_REPO_TAG_NAMES,
	ST_COUNT
};

struct rfs_catalog {
	sqlite3 *db;
	pthread_mutex_t lock; /* recursive: held across a bulk transaction */
	int txn_depth;
	sqlite3_stmt *stmts[ST_COUNT];
	/* catalog-file.c: the file opened, to tell when its path names
	 * another (or none); lost says how, once it does */
	char path[PATH_MAX];
	bool readonly;
	bool file_known;
	dev_t file_dev;
	ino_t file_ino;
	const char *lost;
};

/* ROW_NONE: a query asked only whether there is a row (out is NULL). */
enum row_kind { ROW_NONE, ROW_DIR, ROW_TAG, ROW_BLOB, ROW_LAYER };

/* A listing in progress: which rows, and whom to hand each one. */
struct lister {
	enum row_kind kind;
	union {
		rfs_dir_fn dir;
		rfs_tag_fn tag;
		rfs_blob_fn blob;
		rfs_layer_fn layer;
	} fn;
	void *ctx;
};

void catalog_lock(struct rfs_catalog *cat);
void catalog_unlock(struct rfs_catalog *cat);
/* A prepared statement, reset and ready for binding; NULL on failure. */
sqlite3_stmt *catalog_stmt(struct rfs_catalog *cat, enum stmt_id id);
/* Step a single-row query: 0, -ENOENT when there is no row, or an errno. */
int catalog_one_row(sqlite3_stmt *s);
/* Arguments: a string of types, 't' for text and 'i' for int64_t, then
 * the values in order. */
int catalog_run(struct rfs_catalog *cat, enum stmt_id id, const char *types,
		...);
/* A statement with its arguments bound, to step through by hand (reset
 * it when done); NULL on failure. */
sqlite3_stmt *catalog_query(struct rfs_catalog *cat, enum stmt_id id,
			    const char *types, ...);
int catalog_get_row(struct rfs_catalog *cat, enum stmt_id id,
		    enum row_kind kind, void *out, const char *types, ...);
int catalog_get_rows(struct rfs_catalog *cat, enum stmt_id id,
		     const struct lister *l, const char *types, ...);
void catalog_copy_text(char *dst, size_t size, const unsigned char *src);

/* Transactions, nestable: the outermost begin and end are the real ones.
 * end commits when rc is 0 and rolls back otherwise; it returns the
 * outcome. */
int catalog_txn_begin(struct rfs_catalog *cat, struct rfs_error *err);
int catalog_txn_end(struct rfs_catalog *cat, int rc, struct rfs_error *err);

/* Which existing tag of the same name a pin may replace (retired, so
 * readers holding it keep it). */
enum catalog_replace {
	CATALOG_REPLACE_NONE,
	CATALOG_REPLACE_UPSTREAM, /* a tag pinned from an upstream */
	CATALOG_REPLACE_ANY,	  /* also a local one (a mutable tag) */
};
int catalog_pin_tag_locked(struct rfs_catalog *cat, const struct rfs_pin *pin,
			   enum catalog_replace replace, struct rfs_tag *out,
			   struct rfs_error *err);

/* catalog-file.c: open the database of a catalog (read-only ones
 * immutable when no writer can exist); explain a SQLite failure to open or
 * set up a catalog in one message; refuse (-EROFS) once the file opened is
 * no longer the one at its path, checked by every write transaction; date
 * a catalog when first opened for writing (see rfs_catalog_created_ns). */
int catalog_file_open(struct rfs_catalog *cat, const char *path, bool readonly,
		      struct rfs_error *err);
int catalog_file_open_error(struct rfs_catalog *cat, int sqlite_rc,
			    struct rfs_error *err);
int catalog_file_check(struct rfs_catalog *cat, struct rfs_error *err);
int catalog_file_date(struct rfs_catalog *cat, struct rfs_error *err);

/* The SQL of the statements catalog-manifests.c owns (ST_MANIFEST_* and
 * ST_REPO_*), NULL for others. */
const char *catalog_manifest_sql(enum stmt_id id);

#endif
