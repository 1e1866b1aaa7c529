/*
 * cmd-plan.h - what regctl plan's two files share: the command line of its
 * subcommands, loading the plan files, printing a run's host-steps.
 */
#ifndef REGCTL_CMD_PLAN_H
#define REGCTL_CMD_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "regctl.h"

/* -e K=V or -t NAME,NAME: key (and value) pairs owned here. */
struct plan_vars {
	struct rfs_plan_kv *items;
	size_t n;
};

/* Which options a subcommand takes. */
enum {
	PLAN_OPT_FILES = 1 << 0, /* -f FILE, -c DIR */
	PLAN_OPT_VARS = 1 << 1,	 /* -e K=V, -t TARGET,... */
	PLAN_OPT_JSON = 1 << 2,	 /* --json */
	PLAN_OPT_RUN = 1 << 3,	 /* --dry-run, --yes, --approve, --quiet,
				    --resume */
};

struct plan_cli {
	char **files; /* -f, in order */
	size_t n_files;
	const char *dir; /* -c */
	struct plan_vars env;
	struct plan_vars targets;
	char **approve; /* --approve STEP */
	size_t n_approve;
	const char *resume;
	bool json, quiet, dry_run, yes;
	char **args; /* the operands */
	size_t n_args;
};

/* Parse argv (argv[0] is the subcommand). Returns -1 to go on, or an exit
 * status to return (--help, a usage error). */
int plan_parse_common(int argc, char **argv, const char *usage,
		      unsigned allowed, struct plan_cli *cli);
void plan_cli_release(struct plan_cli *cli);

/* Add "K=V" (split_commas false) or each name of "a,b" (true). -EINVAL
 * for a K=V without '=' or with an empty K. */
int plan_add_var(struct plan_vars *v, const char *text, bool split_commas);
void plan_vars_release(struct plan_vars *v);

/* Load -f FILEs, or the *.hades.yaml files under dir (or .). Prints the
 * error and returns REGCTL_EXIT_USAGE when they do not load. */
int plan_load_files(char **files, size_t n_files, const char *dir,
		    struct rfs_plan_set **set);

/* A run's host-steps: a table on stdout, or objects into arr. */
int plan_print_steps(struct rfs_store *store, const char *run_id, json_t *arr);
int plan_print_step(void *ctx, const struct rfs_run_step *st);

int plan_run(int argc, char **argv, struct regctl *rc);
/* The store, opened for writing or read-only, or NULL when there is none
 * yet (a run makes it once its plan checked out). */
int plan_open_store(struct regctl *rc, bool write, struct rfs_store **out);

#endif
