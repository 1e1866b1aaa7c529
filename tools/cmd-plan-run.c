/*
 * cmd-plan-run.c - "regctl plan run PLAN": run a release plan, and the
 * command line regctl plan's subcommands share.
 *
 * What runs and in which order is core's (plan-run.h); this file prints its
 * events (a line each, or JSON lines with --json), answers gates on the
 * terminal, and turns Ctrl-C into "no new work" (the first) and "kill what
 * runs" (the second).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cmd-plan.h"
#include "plan-run.h"
#include "target.h"
#include "text.h"

static const char run_usage[] =
    "usage: regctl plan run PLAN [-f FILE | -c DIR] [-e K=V]...\n"
    "                       [-t TARGET,...] [--dry-run] [--yes]\n"
    "                       [--approve STEP]... [--quiet] [--json]\n"
    "                       [--resume RUN]\n"
    "\n"
    "Run PLAN of Hades files: its steps in order, each step's hosts in\n"
    "batches (limit, parallelism), every tag deployed at the digest it had\n"
    "when the run started. The run is recorded in the store (regctl plan\n"
    "history, show); host logs go under STORE/plans/logs/RUN/.\n"
    "\n"
    "  -f, --file FILE     a plan file (repeat for several)\n"
    "  -c, --dir DIR       the *.hades.yaml files under DIR (default .)\n"
    "  -e, --env K=V       a variable; wins over step, plan and job env\n"
    "  -t, --target T,...  hosts or groups replacing every step's targets\n"
    "      --dry-run       print per host and batch the commands that\n"
    "                      would run, with the pinned digests; change\n"
    "                      nothing\n"
    "      --yes           approve every gate (wait action)\n"
    "      --approve STEP  approve the gate of STEP (repeatable)\n"
    "      --quiet         command output to the log files only\n"
    "      --json          one JSON event per line\n"
    "      --resume RUN    continue RUN where it stopped, with its pins,\n"
    "                      files, -e and -t\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit status: 0 done, 1 a host failed, 2 a usage error or an invalid\n"
    "plan (nothing ran), 3 a gate declined or timed out, 4 interrupted.\n"
    "Hosts are reached with ssh, or $REGCTL_SSH_COMMAND.\n";

int plan_parse_common(int argc, char **argv, const char *usage,
		      unsigned allowed, struct plan_cli *cli)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_JSON,
		OPT_DRY_RUN,
		OPT_YES,
		OPT_APPROVE,
		OPT_QUIET,
		OPT_RESUME,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "file", required_argument, NULL, 'f' },
		{ "dir", required_argument, NULL, 'c' },
		{ "env", required_argument, NULL, 'e' },
		{ "target", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "approve", required_argument, NULL, OPT_APPROVE },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(cli, 0, sizeof(*cli));
	while ((c = getopt_long(argc, argv, ":hf:c:e:t:", options, NULL)) !=
	       -1) {
		unsigned need = c == 'f' || c == 'c'   ? PLAN_OPT_FILES
				: c == 'e' || c == 't' ? PLAN_OPT_VARS
				: c == OPT_JSON	       ? PLAN_OPT_JSON
				: c >= OPT_DRY_RUN     ? PLAN_OPT_RUN
						       : 0;
		char **list;

		if (need && !(allowed & need)) {
			plan_cli_release(cli);
			return regctl_usage_error(usage,
						  "'%s' is not an "
						  "option here",
						  argv[optind - 1]);
		}
		switch (c) {
		case 'h':
		case OPT_HELP:
			plan_cli_release(cli);
			return regctl_usage(usage, false);
		case 'f':
			list = realloc(cli->files,
				       (cli->n_files + 1) * sizeof(*list));
			if (!list)
				goto nomem;
			cli->files = list;
			list[cli->n_files++] = optarg;
			break;
		case 'c': cli->dir = optarg; break;
		case 'e':
			if (plan_add_var(&cli->env, optarg, false)) {
				plan_cli_release(cli);
				return regctl_usage_error(usage,
							  "-e wants K=V, not "
							  "'%s'",
							  optarg);
			}
			break;
		case 't':
			if (plan_add_var(&cli->targets, optarg, true))
				goto nomem;
			break;
		case OPT_JSON: cli->json = true; break;
		case OPT_DRY_RUN: cli->dry_run = true; break;
		case OPT_YES: cli->yes = true; break;
		case OPT_QUIET: cli->quiet = true; break;
		case OPT_RESUME: cli->resume = optarg; break;
		case OPT_APPROVE:
			list = realloc(cli->approve,
				       (cli->n_approve + 1) * sizeof(*list));
			if (!list)
				goto nomem;
			cli->approve = list;
			list[cli->n_approve++] = optarg;
			break;
		default:
			plan_cli_release(cli);
			return regctl_option_error(argv, c, usage);
		}
	}
	if (cli->files && cli->dir) {
		plan_cli_release(cli);
		return regctl_usage_error(usage, "give -f or -c, not both");
	}
	cli->args = argv + optind;
	cli->n_args = (size_t)(argc - optind);
	return -1;
nomem:
	plan_cli_release(cli);
	return regctl_error("out of memory");
}

void plan_cli_release(struct plan_cli *cli)
{
	free(cli->files);
	free(cli->approve);
	plan_vars_release(&cli->env);
	plan_vars_release(&cli->targets);
	memset(cli, 0, sizeof(*cli));
}

/* --- Ctrl-C ---------------------------------------------------------- */

static volatile sig_atomic_t stop_asked, kill_asked;

static void on_signal(int sig)
{
	static const char first[] =
	    "\nregctl: stopping: no new work starts; running actions "
	    "finish (Ctrl-C again to kill them)\n";
	static const char second[] = "\nregctl: killing running actions\n";

	if (!stop_asked && sig == SIGINT) {
		stop_asked = 1;
		(void)!write(STDERR_FILENO, first, sizeof(first) - 1);
		return;
	}
	stop_asked = kill_asked = 1;
	(void)!write(STDERR_FILENO, second, sizeof(second) - 1);
	rfs_target_cancel(true);
}

/* --- events ---------------------------------------------------------- */

struct printer {
	struct plan_cli *cli;
	pthread_mutex_t gate_lock; /* one prompt at a time */
};

static const char *kind_name(enum rfs_plan_event_kind k)
{
	static const char *const names[] = {
		[RFS_PLAN_EV_RUN] = "run",
		[RFS_PLAN_EV_PIN] = "pin",
		[RFS_PLAN_EV_STEP] = "step",
		[RFS_PLAN_EV_BATCH] = "batch",
		[RFS_PLAN_EV_HOST] = "host",
		[RFS_PLAN_EV_ACTION] = "action",
		[RFS_PLAN_EV_OUTPUT] = "output",
		[RFS_PLAN_EV_HOST_END] = "host_end",
		[RFS_PLAN_EV_NOTE] = "note",
		[RFS_PLAN_EV_END] = "end",
	};

	return names[k];
}

static void print_json_event(const struct rfs_plan_event *ev)
{
	struct timespec ts;
	json_t *o;
	char *line;

	clock_gettime(CLOCK_REALTIME, &ts);
	o = json_pack("{s:s, s:s, s:f}", "event", kind_name(ev->kind), "run",
		      ev->run_id, "time",
		      (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
	if (!o)
		return;
	if (ev->step) {
		json_object_set_new(o, "step", json_string(ev->step));
		json_object_set_new(o, "index",
				    json_integer((json_int_t)ev->step_index));
	}
	if (ev->kind == RFS_PLAN_EV_BATCH) {
		json_object_set_new(o, "batch",
				    json_integer((json_int_t)ev->batch));
		json_object_set_new(o, "batches",
				    json_integer((json_int_t)ev->n_batches));
	}
	if (ev->host)
		json_object_set_new(o, "host", json_string(ev->host));
	if (ev->status)
		json_object_set_new(o, "status", json_string(ev->status));
	if (ev->text)
		json_object_set_new(o, "text", json_string(ev->text));
	if (ev->ref)
		json_object_set_new(o, "ref", json_string(ev->ref));
	if (ev->digest)
		json_object_set_new(o, "digest", json_string(ev->digest));
	if (ev->kind == RFS_PLAN_EV_OUTPUT)
		json_object_set_new(
		    o, "stream",
		    json_string(ev->stderr_line ? "stderr" : "stdout"));
	if (ev->kind == RFS_PLAN_EV_HOST_END || ev->kind == RFS_PLAN_EV_END)
		json_object_set_new(o, "exit_code",
				    json_integer(ev->exit_code));
	line = json_dumps(o, JSON_COMPACT);
	if (line)
		regctl_write_json(line, strlen(line));
	free(line);
	json_decref(o);
	fflush(stdout);
}

static void on_event(void *ctx, const struct rfs_plan_event *ev_in)
{
	struct printer *p = ctx;
	bool dry = p->cli->dry_run;
	struct rfs_plan_event shown = *ev_in, *ev = &shown;
	char *text = NULL;

	if (p->cli->json) {
		if (ev->kind != RFS_PLAN_EV_OUTPUT || !p->cli->quiet)
			print_json_event(ev);
		return;
	}
	/* A command's output and messages are a target's words: escaped
	 * (text.h), so that they cannot drive the terminal. */
	if (ev->text) {
		text = rfs_text_escape_dup(ev->text);
		ev->text = text ? text : "(out of memory)";
	}
	switch (ev->kind) {
	case RFS_PLAN_EV_RUN:
		printf("plan %s: run %s%s\n", ev->text, ev->run_id,
		       dry ? " (dry run: nothing changes)" : "");
		break;
	case RFS_PLAN_EV_PIN:
		printf("%s %s %s\n", ev->text, ev->ref, ev->digest);
		break;
	case RFS_PLAN_EV_STEP:
		printf("==> step %zu: %s (job %s)\n", ev->step_index + 1,
		       ev->step, ev->text);
		break;
	case RFS_PLAN_EV_BATCH:
		printf("  batch %zu/%zu: %s\n", ev->batch, ev->n_batches,
		       ev->text);
		break;
	case RFS_PLAN_EV_HOST: break;
	case RFS_PLAN_EV_ACTION:
		printf("[%s] %s %s\n", ev->host, dry ? "would run:" : "$",
		       ev->text);
		break;
	case RFS_PLAN_EV_OUTPUT:
		if (!p->cli->quiet)
			printf("[%s] %s\n", ev->host, ev->text);
		break;
	case RFS_PLAN_EV_NOTE:
		printf("[%s] %s\n", ev->host ? ev->host : "-", ev->text);
		break;
	case RFS_PLAN_EV_HOST_END:
		printf("[%s] %s%s%s\n", ev->host, ev->status,
		       ev->text ? ": " : "", ev->text ? ev->text : "");
		break;
	case RFS_PLAN_EV_END:
		printf("plan %s: %s (exit %d)\n", ev->run_id, ev->status,
		       ev->exit_code);
		break;
	}
	free(text);
	fflush(stdout);
}

/* --- gates ----------------------------------------------------------- */

static enum rfs_gate_answer ask_tty(const char *step, const char *host,
				    const char *message, int64_t timeout_ms)
{
	char line[64] = "";
	struct timespec start, now;
	size_t len = 0;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return RFS_GATE_NO_TERMINAL;
	dprintf(fd, "regctl: gate '%s' on %s: %s [y/N] ", step, host, message);
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* Wait in short slices: Ctrl-C and the timeout both end the wait. */
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t waited;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000 +
			 (now.tv_nsec - start.tv_nsec) / 1000000;
		if (stop_asked || (timeout_ms && waited >= timeout_ms)) {
			dprintf(fd, "\n");
			close(fd);
			return RFS_GATE_TIMED_OUT;
		}
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(fd, line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break; /* end of input declines */
		len += (size_t)n;
		line[len] = '\0';
		if (strchr(line, '\n') || len == sizeof(line) - 1)
			break;
	}
	close(fd);
	line[strcspn(line, "\r\n")] = '\0';
	return !strcasecmp(line, "y") || !strcasecmp(line, "yes")
		   ? RFS_GATE_APPROVED
		   : RFS_GATE_DECLINED;
}

static enum rfs_gate_answer on_gate(void *ctx, const char *step,
				    const char *host, const char *message,
				    int64_t timeout_ms)
{
	struct printer *p = ctx;
	enum rfs_gate_answer a;

	if (p->cli->yes)
		return RFS_GATE_APPROVED;
	for (size_t i = 0; i < p->cli->n_approve; i++)
		if (strcmp(p->cli->approve[i], step) == 0)
			return RFS_GATE_APPROVED;
	pthread_mutex_lock(&p->gate_lock);
	a = ask_tty(step, host, message, timeout_ms);
	pthread_mutex_unlock(&p->gate_lock);
	return a;
}

/* --- what a resume needs --------------------------------------------- */

static char *args_json(const struct plan_cli *cli)
{
	json_t *o = json_object(), *files = json_array(), *env = json_array(),
	       *targets = json_array();
	char cwd[4096], *text;

	for (size_t i = 0; i < cli->n_files; i++) {
		char *abs = realpath(cli->files[i], NULL);

		json_array_append_new(files,
				      json_string(abs ? abs : cli->files[i]));
		free(abs);
	}
	for (size_t i = 0; i < cli->env.n; i++) {
		char *kv = NULL;

		if (asprintf(&kv, "%s=%s", cli->env.items[i].key,
			     cli->env.items[i].value) >= 0)
			json_array_append_new(env, json_string(kv));
		free(kv);
	}
	for (size_t i = 0; i < cli->targets.n; i++)
		json_array_append_new(targets,
				      json_string(cli->targets.items[i].key));
	json_object_set_new(o, "files", files);
	json_object_set_new(o, "dir", json_string(cli->dir ? cli->dir : "."));
	json_object_set_new(o, "cwd",
			    json_string(getcwd(cwd, sizeof(cwd)) ? cwd : "."));
	json_object_set_new(o, "env", env);
	json_object_set_new(o, "targets", targets);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* A resume without -f, -c, -e or -t takes them from the run's record. */
static int args_from_record(struct rfs_store *store, struct plan_cli *cli,
			    char ***files_out, size_t *n_files)
{
	struct rfs_run_record r;
	json_t *o, *v;
	size_t i;
	int rc = rfs_catalog_run_get(rfs_store_catalog(store), cli->resume, &r);

	if (rc)
		return regctl_error("no run '%s' in the store: %s", cli->resume,
				    strerror(-rc));
	o = json_loads(r.args, 0, NULL);
	rfs_run_record_release(&r);
	if (!o)
		return regctl_error("run '%s': its arguments are damaged",
				    cli->resume);
	if (!cli->n_files && !cli->dir) {
		json_array_foreach(json_object_get(o, "files"), i, v)
		{
			char **list =
			    realloc(*files_out, (*n_files + 1) * sizeof(*list));

			if (!list)
				break;
			*files_out = list;
			list[(*n_files)++] = strdup(json_string_value(v));
		}
		if (!*n_files) {
			const char *cwd =
			    json_string_value(json_object_get(o, "cwd"));

			if (cwd && chdir(cwd) != 0)
				fprintf(stderr, "regctl: cannot go to '%s'\n",
					cwd);
		}
	}
	if (!cli->env.n)
		json_array_foreach(json_object_get(o, "env"), i, v)
		    plan_add_var(&cli->env, json_string_value(v), false);
	if (!cli->targets.n)
		json_array_foreach(json_object_get(o, "targets"), i, v)
		    plan_add_var(&cli->targets, json_string_value(v), true);
	json_decref(o);
	return 0;
}

int plan_open_store(struct regctl *rc, bool write, struct rfs_store **out)
{
	char root[PATH_MAX], catalog[PATH_MAX + 16];

	*out = NULL;
	/* A missing store is made by a run once its plan checked out; a dry
	 * run and a check make nothing. */
	if (regctl_store_path(rc, root, sizeof(root)))
		return REGCTL_EXIT_FAILURE;
	snprintf(catalog, sizeof(catalog), "%s/catalog.db", root);
	if (access(catalog, F_OK) != 0)
		return 0;
	return regctl_open_store(rc, write ? 0 : RFS_STORE_READONLY, out);
}

int plan_run(int argc, char **argv, struct regctl *rc)
{
	struct plan_cli cli;
	struct printer printer = { .cli = &cli };
	struct rfs_plan_set *set = NULL;
	struct rfs_store *store = NULL;
	struct rfs_error err = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	char run_id[RFS_RUN_ID_MAX + 1] = "", **resumed_files = NULL;
	char store_path[PATH_MAX] = "";
	size_t n_resumed = 0;
	char *args = NULL;
	int ret;

	ret = plan_parse_common(argc, argv, run_usage,
				PLAN_OPT_FILES | PLAN_OPT_VARS | PLAN_OPT_JSON |
				    PLAN_OPT_RUN,
				&cli);
	if (ret >= 0)
		return ret;
	if (cli.n_args != 1) {
		plan_cli_release(&cli);
		return regctl_usage_error(run_usage, "want one PLAN");
	}
	pthread_mutex_init(&printer.gate_lock, NULL);
	/* The store is made by the run, once the plan checked out. */
	ret = plan_open_store(rc, !cli.dry_run, &store);
	if (!ret)
		ret = regctl_store_path(rc, store_path, sizeof(store_path));
	if (!ret && cli.resume && !store)
		ret = regctl_error("no store at '%s': no run '%s' to resume",
				   store_path, cli.resume);
	if (!ret && cli.resume)
		ret = args_from_record(store, &cli, &resumed_files, &n_resumed);
	if (!ret)
		ret = plan_load_files(n_resumed ? resumed_files : cli.files,
				      n_resumed ? n_resumed : cli.n_files,
				      cli.dir, &set);
	if (ret)
		goto out;
	args = args_json(&cli);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	{
		struct rfs_plan_vars targets = { cli.targets.items,
						 cli.targets.n };
		struct rfs_plan_run_opts opts = {
			.store = store,
			.store_path = store_path,
			.plan = cli.args[0],
			.cli = { cli.env.items, cli.env.n },
			.targets = cli.targets.n ? &targets : NULL,
			.dry_run = cli.dry_run,
			.resume = cli.resume,
			.args_json = args,
			.event = on_event,
			.event_ctx = &printer,
			.gate = on_gate,
			.gate_ctx = &printer,
			.stop = &stop_asked,
			.kill = &kill_asked,
		};

		ret = rfs_plan_run(set, &opts, run_id, &err);
	}
	if (ret != RFS_PLAN_OK && err.code)
		fprintf(stderr, "regctl: %s\n", err.msg);
	if (run_id[0] && !cli.json) {
		printf("\n%-16s %-16s %-11s %4s %7s  %s\n", "STEP", "HOST",
		       "STATUS", "EXIT", "TOOK", "MESSAGE");
		if (!store)
			plan_open_store(rc, false, &store);
		if (store)
			plan_print_steps(store, run_id, NULL);
		printf("\nregctl plan show %s   # logs: %s/plans/logs/%s/\n",
		       run_id, store_path, run_id);
	}
out:
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	for (size_t i = 0; i < n_resumed; i++)
		free(resumed_files[i]);
	free(resumed_files);
	free(args);
	rfs_plan_set_free(&set);
	rfs_store_close(&store);
	plan_cli_release(&cli);
	pthread_mutex_destroy(&printer.gate_lock);
	return ret;
}
