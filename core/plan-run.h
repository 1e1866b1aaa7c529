/*
 * plan-run.h - running a release plan.
 *
 * A run checks the plan (rfs_plan_check), takes the plan's lock, pins every
 * tag it deploys to a digest, records itself in the store's catalog, then
 * runs the steps in order. A step's hosts run in batches, one after
 * another; the hosts of a batch run together, each its whole job. When a
 * host fails no new batch starts and the hosts still running finish their
 * job; when the caller asks to stop (Ctrl-C), no new action starts.
 *
 * Nothing is printed here: the caller gets events (progress, each line of
 * output, each command a dry run would run) and answers gates. Each host's
 * output also goes to a log file per step and host under the store.
 *
 * Exit codes (what rfs_plan_run returns): RFS_PLAN_OK, RFS_PLAN_FAILED (a
 * host failed), RFS_PLAN_INVALID (a bad plan or request: nothing ran),
 * RFS_PLAN_GATE (a gate declined or timed out), RFS_PLAN_INTERRUPTED.
 */
#ifndef RFS_PLAN_RUN_H
#define RFS_PLAN_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "plan.h"
#include "store.h"

enum {
	RFS_PLAN_OK = 0,
	RFS_PLAN_FAILED = 1,
	RFS_PLAN_INVALID = 2,
	RFS_PLAN_GATE = 3,
	RFS_PLAN_INTERRUPTED = 4,
};

enum rfs_plan_event_kind {
	RFS_PLAN_EV_RUN,    /* a run starts: run_id, text (the plan) */
	RFS_PLAN_EV_PIN,    /* ref was pinned to digest (text: how) */
	RFS_PLAN_EV_STEP,   /* a step starts: step, text (the job) */
	RFS_PLAN_EV_BATCH,  /* a batch starts: batch of n_batches, text (hosts)
			     */
	RFS_PLAN_EV_HOST,   /* a host starts the step's job */
	RFS_PLAN_EV_ACTION, /* an action starts: text says what; in a dry run,
			       exactly the command that would run */
	RFS_PLAN_EV_OUTPUT, /* a line of a command's output: text, stderr */
	RFS_PLAN_EV_HOST_END, /* status: done, skipped, failed (text: why) */
	RFS_PLAN_EV_NOTE,     /* a line for the user: text */
	RFS_PLAN_EV_END,      /* the run ended: status, exit_code */
};

struct rfs_plan_event {
	enum rfs_plan_event_kind kind;
	const char *run_id;
	const char *step; /* NULL outside a step */
	size_t step_index;
	size_t batch, n_batches; /* 1-based */
	const char *host;
	const char *status;
	const char *text;
	const char *ref;
	const char *digest;
	bool stderr_line;
	int exit_code;
};

typedef void (*rfs_plan_event_fn)(void *ctx, const struct rfs_plan_event *ev);

enum rfs_gate_answer {
	RFS_GATE_APPROVED,
	RFS_GATE_DECLINED,
	RFS_GATE_TIMED_OUT,
	RFS_GATE_NO_TERMINAL, /* no terminal to ask, and no approval given */
};
/* A wait action: approve or not. timeout_ms 0 for none. Called from the
 * host's thread; the caller serialises its prompts. */
typedef enum rfs_gate_answer (*rfs_plan_gate_fn)(void *ctx, const char *step,
						 const char *host,
						 const char *message,
						 int64_t timeout_ms);

struct rfs_plan_run_opts {
	struct rfs_store *store; /* the run record, locks, logs, or NULL */
	/* Where to make the store when store is NULL and the run gets as far
	 * as changing something (a dry run or an invalid plan makes none). */
	const char *store_path;
	const char *plan;
	struct rfs_plan_vars cli;	     /* -e K=V */
	const struct rfs_plan_vars *targets; /* -t: replaces each step's */
	bool dry_run;
	const char *resume;    /* a run id to continue, or NULL */
	const char *args_json; /* recorded for a resume: files, -e, -t */
	rfs_plan_event_fn event;
	void *event_ctx;
	rfs_plan_gate_fn gate;
	void *gate_ctx;
	/* Set (by a SIGINT handler) to stop starting new work. */
	const volatile sig_atomic_t *stop;
	/* Set (by a handler, at a second Ctrl-C or SIGTERM) to end the work
	 * under way: registry calls end within about a second (upstream.h),
	 * and those actions are interrupted. The handler kills commands
	 * (rfs_target_cancel). */
	const volatile sig_atomic_t *kill;
};

/* Run opts->plan of set. Returns an exit code above, and the run's id in
 * run_id (empty when nothing was recorded: an invalid plan, a dry run, a
 * lock held). err says why a run did not succeed. */
int rfs_plan_run(const struct rfs_plan_set *set,
		 const struct rfs_plan_run_opts *opts,
		 char run_id[RFS_RUN_ID_MAX + 1], struct rfs_error *err);

/* A new run id: UTC time to the millisecond and a random suffix,
 * "20261206-015300.123-4f9a2c", so that two runs never collide. */
void rfs_plan_new_run_id(char id[RFS_RUN_ID_MAX + 1]);

/* Where a run keeps its host logs, locks: under the store. */
int rfs_plan_log_path(struct rfs_store *store, const char *run_id,
		      const char *step, const char *host, char *buf,
		      size_t size);

#endif
