/*
 * cmd-plan.c - "regctl plan": release plans in Hades's files.
 *
 *   regctl plan run PLAN ...   run it (cmd-plan-run.c)
 *   regctl plan validate       check plans without running anything
 *   regctl plan ls             the plans the files hold
 *   regctl plan history        the runs the store recorded
 *   regctl plan show RUN       one run: steps, hosts, digests, logs
 *
 * Loading and checking are core's (plan.h); this file finds the files the
 * user named and prints.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-plan.h"
#include "plan-run.h"

static const char plan_usage[] =
    "usage: regctl plan COMMAND [ARGS]\n"
    "\n"
    "Run release plans written as Hades files (*.hades.yaml).\n"
    "\n"
    "Commands:\n"
    "  run PLAN       run a plan: publish, canary, gate, rollout\n"
    "  validate       check plans and change nothing\n"
    "  ls             list the plans of the files\n"
    "  history        list the runs recorded in the store\n"
    "  show RUN       show a run: steps, hosts, status, digests, logs\n"
    "\n"
    "'regctl plan COMMAND --help' tells more; man regctl has every key.\n";

int plan_load_files(char **files, size_t n_files, const char *dir,
		    struct rfs_plan_set **set)
{
	struct rfs_error err = { 0 };
	char **found = NULL;
	size_t n_found = 0;
	int rc;

	if (n_files) {
		rc = rfs_plan_load((const char *const *)files, n_files, set,
				   &err);
	} else {
		rc = rfs_plan_find_files(dir ? dir : ".", &found, &n_found,
					 &err);
		if (!rc)
			rc = rfs_plan_load((const char *const *)found, n_found,
					   set, &err);
		rfs_plan_files_free(found, n_found);
	}
	if (rc) {
		fprintf(stderr, "regctl: %s\n", rfs_error_message(&err, rc));
		return REGCTL_EXIT_USAGE;
	}
	return 0;
}

int plan_add_var(struct plan_vars *v, const char *text, bool split_commas)
{
	char *copy = strdup(text), *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *part = split_commas ? strtok_r(copy, ",", &save) : copy;
	     part; part = split_commas ? strtok_r(NULL, ",", &save) : NULL) {
		struct rfs_plan_kv *items;
		char *eq = split_commas ? NULL : strchr(part, '=');

		if (!split_commas && (!eq || eq == part)) {
			free(copy);
			return -EINVAL;
		}
		items = realloc(v->items, (v->n + 1) * sizeof(*items));
		if (!items) {
			free(copy);
			return -ENOMEM;
		}
		v->items = items;
		items[v->n].key =
		    eq ? strndup(part, (size_t)(eq - part)) : strdup(part);
		items[v->n].value = eq ? strdup(eq + 1) : NULL;
		items[v->n].pos = (struct rfs_plan_pos){ "command line", 0, 0 };
		v->n++;
	}
	free(copy);
	return 0;
}

void plan_vars_release(struct plan_vars *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->items[i].key);
		free(v->items[i].value);
	}
	free(v->items);
	v->items = NULL;
	v->n = 0;
}

/* --- validate -------------------------------------------------------- */

static const char validate_usage[] =
    "usage: regctl plan validate [PLAN...] [-f FILE | -c DIR] [-e K=V]...\n"
    "                            [-t TARGET,...]\n"
    "\n"
    "Check plans as a run would before it changes anything: the schema\n"
    "(unknown keys are errors), jobs, targets, registries and artifacts,\n"
    "the env contract, limit and parallelism, modes, and that every tag\n"
    "the plan deploys exists or is pushed by an earlier step. Without\n"
    "PLAN, every plan of the files. Problems are printed as\n"
    "file:line:column (the first few and a count when there are many).\n"
    "Exit 0 when all are valid, 2 otherwise.\n"
    "\n"
    "  -f, --file FILE    a plan file (repeat for several)\n"
    "  -c, --dir DIR      the *.hades.yaml files under DIR (default .)\n"
    "  -e, --env K=V      a variable, as for plan run\n"
    "  -t, --target T,..  targets replacing every step's\n"
    "  -h, --help         show this help\n";

static int validate_one(struct rfs_plan_set *set, const char *plan,
			struct plan_vars *env, struct plan_vars *targets,
			struct rfs_store *store)
{
	struct rfs_plan_vars t = { targets->items, targets->n };
	struct rfs_plan_run_opts opts = {
		.store = store,
		.plan = plan,
		.cli = { env->items, env->n },
		.targets = targets->n ? &t : NULL,
		.dry_run = true,
	};
	struct rfs_error err = { 0 };
	char run_id[RFS_RUN_ID_MAX + 1];
	int code = rfs_plan_run(set, &opts, run_id, &err);

	if (code == RFS_PLAN_OK) {
		printf("%s: valid\n", plan);
		return 0;
	}
	fprintf(stderr, "regctl: plan '%s' is not valid:\n%s\n", plan,
		err.code ? err.msg : "(no message)");
	return REGCTL_EXIT_USAGE;
}

static int plan_validate(int argc, char **argv, struct regctl *rc)
{
	struct plan_cli cli = { 0 };
	struct rfs_plan_set *set = NULL;
	struct rfs_store *store = NULL;
	int ret;

	ret = plan_parse_common(argc, argv, validate_usage,
				PLAN_OPT_FILES | PLAN_OPT_VARS, &cli);
	if (ret >= 0)
		return ret;
	ret = plan_load_files(cli.files, cli.n_files, cli.dir, &set);
	if (!ret)
		ret = plan_open_store(rc, false, &store);
	for (size_t i = 0; !ret && set && i < set->n_plans; i++) {
		bool named = cli.n_args == 0;

		for (size_t j = 0; j < cli.n_args; j++)
			named |= strcmp(cli.args[j], set->plans[i].name) == 0;
		if (named && validate_one(set, set->plans[i].name, &cli.env,
					  &cli.targets, store))
			ret = REGCTL_EXIT_USAGE;
	}
	for (size_t j = 0; !ret && j < cli.n_args; j++) {
		if (!rfs_plan_find(set, cli.args[j])) {
			regctl_error("no plan '%s' in the files", cli.args[j]);
			ret = REGCTL_EXIT_USAGE;
		}
	}
	rfs_store_close(&store);
	rfs_plan_set_free(&set);
	plan_cli_release(&cli);
	return ret;
}

/* --- ls ------------------------------------------------------------- */

static const char ls_usage[] =
    "usage: regctl plan ls [-f FILE | -c DIR] [--json]\n"
    "\n"
    "List the plans of the files: name, steps, where each is defined.\n"
    "\n"
    "  -f, --file FILE  a plan file (repeat for several)\n"
    "  -c, --dir DIR    the *.hades.yaml files under DIR (default .)\n"
    "      --json       print a JSON array\n"
    "  -h, --help       show this help\n";

static int plan_ls(int argc, char **argv, struct regctl *rc)
{
	struct plan_cli cli = { 0 };
	struct rfs_plan_set *set = NULL;
	json_t *arr = NULL;
	int ret;

	(void)rc;
	ret = plan_parse_common(argc, argv, ls_usage,
				PLAN_OPT_FILES | PLAN_OPT_JSON, &cli);
	if (ret >= 0)
		return ret;
	ret = plan_load_files(cli.files, cli.n_files, cli.dir, &set);
	if (ret)
		goto out;
	if (cli.json)
		arr = json_array();
	else
		printf("%-24s %5s  %s\n", "PLAN", "STEPS", "FILE");
	for (size_t i = 0; i < set->n_plans; i++) {
		const struct rfs_plan *p = &set->plans[i];

		if (arr)
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:I, s:s, s:i}", "plan", p->name,
				      "steps", (json_int_t)p->n_steps, "file",
				      p->pos.file, "line", p->pos.line));
		else
			printf("%-24s %5zu  %s:%d\n", p->name, p->n_steps,
			       p->pos.file, p->pos.line);
	}
	if (arr)
		ret = regctl_print_json(arr);
out:
	json_decref(arr);
	rfs_plan_set_free(&set);
	plan_cli_release(&cli);
	return ret;
}

/* --- history and show ------------------------------------------------ */

static const char history_usage[] =
    "usage: regctl plan history [PLAN] [--json]\n"
    "\n"
    "List the runs the store recorded, newest first: id, plan, status,\n"
    "exit code, start and duration. A run that shows 'running' while no\n"
    "regctl runs it was killed: 'regctl plan run PLAN --resume RUN'.\n"
    "\n"
    "  --json       print a JSON array\n"
    "  -h, --help   show this help\n";

/* "pin     REF  DIGEST  MODE" a pin: {"ref": {"digest", "mode"}}, or the
 * digest alone in runs recorded before modes were. */
static void print_pins(const char *text)
{
	json_t *pins = json_loads(text ? text : "{}", 0, NULL), *v;
	const char *ref;

	json_object_foreach(pins, ref, v)
	{
		const char *digest =
		    json_is_object(v)
			? json_string_value(json_object_get(v, "digest"))
			: json_string_value(v);
		const char *mode =
		    json_string_value(json_object_get(v, "mode"));

		printf("pin     %s  %s%s%s\n", ref, digest ? digest : "?",
		       mode ? "  " : "", mode ? mode : "");
	}
	json_decref(pins);
	putchar('\n');
}

static json_t *run_json(const struct rfs_run_record *r)
{
	char started[REGCTL_TIME_STR_MAX], ended[REGCTL_TIME_STR_MAX];
	json_t *pins = json_loads(r->pins ? r->pins : "{}", 0, NULL);

	regctl_format_time(r->started_ns, REGCTL_TIME_RFC3339, started);
	regctl_format_time(r->ended_ns, REGCTL_TIME_RFC3339, ended);
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s*, s:s, s:o}", "run",
			 r->id, "plan", r->plan, "status", r->status,
			 "exit_code", r->exit_code, "started", started, "ended",
			 r->ended_ns ? ended : NULL, "plan_files", r->file_hash,
			 "pins", pins ? pins : json_object());
}

static int print_run_row(void *ctx, const struct rfs_run_record *r)
{
	char started[REGCTL_TIME_STR_MAX], took[32] = "-";

	if (ctx)
		return json_array_append_new(ctx, run_json(r)) ? -ENOMEM : 0;
	regctl_format_time(r->started_ns, REGCTL_TIME_TABLE, started);
	if (r->ended_ns)
		snprintf(took, sizeof(took), "%.1fs",
			 (double)(r->ended_ns - r->started_ns) / 1e9);
	printf("%-28s %-16s %-11s %4d  %s  %s\n", r->id, r->plan, r->status,
	       r->exit_code, started, took);
	return 0;
}

static int plan_history(int argc, char **argv, struct regctl *rc)
{
	struct plan_cli cli = { 0 };
	struct rfs_store *store = NULL;
	json_t *arr = NULL;
	int ret, r;

	ret = plan_parse_common(argc, argv, history_usage, PLAN_OPT_JSON, &cli);
	if (ret >= 0)
		return ret;
	if (cli.n_args > 1) {
		plan_cli_release(&cli);
		return regctl_usage_error(history_usage, "want one PLAN");
	}
	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;
	if (cli.json)
		arr = json_array();
	else
		printf("%-28s %-16s %-11s %4s  %-19s  %s\n", "RUN", "PLAN",
		       "STATUS", "EXIT", "STARTED", "TOOK");
	r = rfs_catalog_list_runs(rfs_store_catalog(store),
				  cli.n_args ? cli.args[0] : NULL,
				  print_run_row, arr);
	if (r)
		ret = regctl_error("cannot list runs: %s", strerror(-r));
	else if (arr)
		ret = regctl_print_json(arr);
out:
	json_decref(arr);
	rfs_store_close(&store);
	plan_cli_release(&cli);
	return ret;
}

static const char show_usage[] =
    "usage: regctl plan show RUN [--json]\n"
    "\n"
    "Show one run: its plan, status, pinned digests, and per step and host\n"
    "the status, exit code, times, the reason of a failure and the log.\n"
    "\n"
    "  --json       print JSON\n"
    "  -h, --help   show this help\n";

int plan_print_steps(struct rfs_store *store, const char *run_id, json_t *arr)
{
	return rfs_catalog_list_run_steps(rfs_store_catalog(store), run_id,
					  plan_print_step, arr);
}

int plan_print_step(void *ctx, const struct rfs_run_step *st)
{
	char started[REGCTL_TIME_STR_MAX], took[32] = "-";

	regctl_format_time(st->started_ns, REGCTL_TIME_TABLE, started);
	if (st->ended_ns)
		snprintf(took, sizeof(took), "%.1fs",
			 (double)(st->ended_ns - st->started_ns) / 1e9);
	if (ctx)
		return json_array_append_new(
			   ctx,
			   json_pack("{s:i, s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
				     "index", st->step, "step", st->step_name,
				     "host", st->host, "status", st->status,
				     "exit_code", st->exit_code, "took", took,
				     "message", st->message, "log", st->log))
			   ? -ENOMEM
			   : 0;
	printf("%-16s %-16s %-11s %4d %7s  %s\n", st->step_name, st->host,
	       st->status, st->exit_code, took, st->message);
	return 0;
}

static int plan_show(int argc, char **argv, struct regctl *rc)
{
	struct plan_cli cli = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_run_record r = { 0 };
	json_t *out = NULL, *steps = NULL;
	int ret, e;

	ret = plan_parse_common(argc, argv, show_usage, PLAN_OPT_JSON, &cli);
	if (ret >= 0)
		return ret;
	if (cli.n_args != 1) {
		plan_cli_release(&cli);
		return regctl_usage_error(show_usage, "want one RUN");
	}
	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;
	e = rfs_catalog_run_get(rfs_store_catalog(store), cli.args[0], &r);
	if (e) {
		ret =
		    regctl_error("no run '%s': %s", cli.args[0], strerror(-e));
		goto out;
	}
	if (cli.json) {
		out = run_json(&r);
		steps = json_array();
		plan_print_steps(store, r.id, steps);
		json_object_set_new(out, "hosts", steps);
		ret = regctl_print_json(out);
		goto out;
	}
	printf("run     %s\nplan    %s\nstatus  %s (exit %d)\nfiles   %s\n",
	       r.id, r.plan, r.status, r.exit_code, r.file_hash);
	print_pins(r.pins);
	printf("%-16s %-16s %-11s %4s %7s  %s\n", "STEP", "HOST", "STATUS",
	       "EXIT", "TOOK", "MESSAGE");
	plan_print_steps(store, r.id, NULL);
	printf("\nlogs    %s/plans/logs/%s/\n", rfs_store_root(store), r.id);
out:
	json_decref(out);
	rfs_run_record_release(&r);
	rfs_store_close(&store);
	plan_cli_release(&cli);
	return ret;
}

int cmd_plan(int argc, char **argv, struct regctl *rc)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv, struct regctl *rc);
	} subs[] = {
		{ "run", plan_run },   { "validate", plan_validate },
		{ "ls", plan_ls },     { "history", plan_history },
		{ "show", plan_show },
	};

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return regctl_usage(plan_usage, argc < 2);
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			optind = 0;
			return subs[i].fn(argc - 1, argv + 1, rc);
		}
	}
	return regctl_usage_error(plan_usage, "unknown plan command '%s'",
				  argv[1]);
}
