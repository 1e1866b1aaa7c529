/*
 * catalog-runs.c - the catalog's record of release plan runs (see
 * catalog.h): a row a run with its pinned digests, a row a host and step.
 * What regctl plan history, show and --resume read back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"

static void row_to_run(sqlite3_stmt *s, struct rfs_run_record *r)
{
	memset(r, 0, sizeof(*r));
	catalog_copy_text(r->id, sizeof(r->id), sqlite3_column_text(s, 0));
	catalog_copy_text(r->plan, sizeof(r->plan), sqlite3_column_text(s, 1));
	catalog_copy_text(r->file_hash, sizeof(r->file_hash),
			  sqlite3_column_text(s, 2));
	r->started_ns = sqlite3_column_int64(s, 3);
	r->ended_ns = sqlite3_column_int64(s, 4);
	catalog_copy_text(r->status, sizeof(r->status),
			  sqlite3_column_text(s, 5));
	r->exit_code = sqlite3_column_int(s, 6);
	/* Valid until the statement moves on: callers copy what they keep. */
	r->pins = (char *)sqlite3_column_text(s, 7);
	r->args = (char *)sqlite3_column_text(s, 8);
}

int rfs_catalog_run_add(struct rfs_catalog *cat,
			const struct rfs_run_record *run)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_RUN_ADD, "tttittt", run->id, run->plan,
			 run->file_hash, run->started_ns, run->status,
			 run->pins ? run->pins : "{}",
			 run->args ? run->args : "{}");
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_run_finish(struct rfs_catalog *cat, const char *id,
			   const char *status, int exit_code, int64_t ended_ns)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_RUN_FINISH, "ttii", id, status,
			 (int64_t)exit_code, ended_ns);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_run_restart(struct rfs_catalog *cat, const char *id)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_RUN_RESTART, "t", id);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_run_set_pins(struct rfs_catalog *cat, const char *id,
			     const char *pins)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_RUN_SET_PINS, "tt", id, pins);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_run_get(struct rfs_catalog *cat, const char *id,
			struct rfs_run_record *out)
{
	sqlite3_stmt *s;
	int rc = -EIO;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_RUN_GET);
	if (s) {
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		rc = catalog_one_row(s);
		if (!rc) {
			row_to_run(s, out);
			out->pins = strdup(out->pins ? out->pins : "{}");
			out->args = strdup(out->args ? out->args : "{}");
			if (!out->pins || !out->args) {
				rfs_run_record_release(out);
				rc = -ENOMEM;
			}
		}
		sqlite3_reset(s);
	}
	catalog_unlock(cat);
	return rc;
}

void rfs_run_record_release(struct rfs_run_record *run)
{
	if (!run)
		return;
	free(run->pins);
	free(run->args);
	run->pins = run->args = NULL;
}

int rfs_catalog_list_runs(struct rfs_catalog *cat, const char *plan,
			  rfs_run_fn fn, void *ctx)
{
	int rc = 0, step = SQLITE_DONE;
	struct rfs_run_record r;
	sqlite3_stmt *s;

	catalog_lock(cat);
	s = catalog_stmt(cat, plan ? ST_RUN_LIST_PLAN : ST_RUN_LIST);
	if (!s) {
		catalog_unlock(cat);
		return -EIO;
	}
	if (plan)
		sqlite3_bind_text(s, 1, plan, -1, SQLITE_STATIC);
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
		row_to_run(s, &r);
		rc = fn(ctx, &r);
	}
	if (!rc && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_run_step_set(struct rfs_catalog *cat,
			     const struct rfs_run_step *st)
{
	int rc;

	catalog_lock(cat);
	rc = catalog_run(cat, ST_RUN_STEP_SET, "titttiiitt", st->run,
			 (int64_t)st->step, st->step_name, st->host, st->status,
			 st->started_ns, st->ended_ns, (int64_t)st->exit_code,
			 st->log, st->message);
	catalog_unlock(cat);
	return rc;
}

int rfs_catalog_list_run_steps(struct rfs_catalog *cat, const char *run,
			       rfs_run_step_fn fn, void *ctx)
{
	int rc = 0, step = SQLITE_DONE;
	struct rfs_run_step st;
	sqlite3_stmt *s;

	catalog_lock(cat);
	s = catalog_stmt(cat, ST_RUN_STEP_LIST);
	if (!s) {
		catalog_unlock(cat);
		return -EIO;
	}
	sqlite3_bind_text(s, 1, run, -1, SQLITE_STATIC);
	while (!rc && (step = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&st, 0, sizeof(st));
		catalog_copy_text(st.run, sizeof(st.run),
				  sqlite3_column_text(s, 0));
		st.step = sqlite3_column_int(s, 1);
		catalog_copy_text(st.step_name, sizeof(st.step_name),
				  sqlite3_column_text(s, 2));
		catalog_copy_text(st.host, sizeof(st.host),
				  sqlite3_column_text(s, 3));
		catalog_copy_text(st.status, sizeof(st.status),
				  sqlite3_column_text(s, 4));
		st.started_ns = sqlite3_column_int64(s, 5);
		st.ended_ns = sqlite3_column_int64(s, 6);
		st.exit_code = sqlite3_column_int(s, 7);
		catalog_copy_text(st.log, sizeof(st.log),
				  sqlite3_column_text(s, 8));
		catalog_copy_text(st.message, sizeof(st.message),
				  sqlite3_column_text(s, 9));
		rc = fn(ctx, &st);
	}
	if (!rc && step != SQLITE_DONE)
		rc = rfs_errno_from_sqlite(step);
	sqlite3_reset(s);
	catalog_unlock(cat);
	return rc;
}
