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

#include <pthread.h>

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
	ST_COUNT
};

struct rfs_catalog {
	sqlite3 *db;
	pthread_mutex_t lock; /* recursive: held across a bulk transaction */
	int txn_depth;
	sqlite3_stmt *stmts[ST_COUNT];
};

enum row_kind { ROW_DIR, ROW_TAG, ROW_BLOB, ROW_LAYER };

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
int catalog_get_row(struct rfs_catalog *cat, enum stmt_id id,
		    enum row_kind kind, void *out, const char *types, ...);
int catalog_get_rows(struct rfs_catalog *cat, enum stmt_id id,
		     const struct lister *l, const char *types, ...);
void catalog_copy_text(char *dst, size_t size, const unsigned char *src);

#endif
