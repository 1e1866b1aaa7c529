/*
 * regctl.c - regctl's main(): the global options, the table of commands, and
 * the helpers the commands share (see regctl.h).
 *
 * regctl reads and checks a store through core, whether or not a daemon has
 * it mounted. Exit status: 0 success, 1 failure (including damage found by
 * fsck), 2 a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "credentials.h"
#include "files.h"
#include "regctl.h"
#include "text.h"

#ifndef REGFS_VERSION
#define REGFS_VERSION "unknown"
#endif

static const struct regctl_cmd commands[] = {
	{ "ls", cmd_ls, "list tags with their digest, size and creation time" },
	{ "inspect", cmd_inspect, "show one tag and the blob that holds it" },
	{ "resolve", cmd_resolve,
	  "print the tag a name or version range stands for (app@^1.2)" },
	{ "search", cmd_search, "find tags by repository, tag or annotation" },
	{ "publish", cmd_publish, "seal a file as a tag, without a mount" },
	{ "push", cmd_push, "push a local tag to a remote registry" },
	{ "pull", cmd_pull, "fetch a remote tag into the store now" },
	{ "cp", cmd_cp, "copy or promote a tag, local or remote, same digest" },
	{ "import", cmd_import,
	  "bring a Hades registry, folder tree, OCI layout or index in" },
	{ "prefetch", cmd_prefetch,
	  "fetch the upstream tags matching patterns ahead of use" },
	{ "yank", cmd_yank, "hide a tag from listings; it stays readable" },
	{ "unyank", cmd_unyank, "list a yanked tag again" },
	{ "sign", cmd_sign,
	  "sign a local or remote tag with a key, as cosign does" },
	{ "verify", cmd_verify,
	  "check that a key signed a local or remote tag's manifest" },
	{ "rm", cmd_rm, "remove a local tag (with --force)" },
	{ "gc", cmd_gc, "remove the blobs no tag needs" },
	{ "fsck", cmd_fsck, "re-hash every blob and report damage" },
	{ "audit", cmd_audit,
	  "show who published, pushed, pulled, yanked or removed what" },
	{ "backup", cmd_backup,
	  "copy the store, consistent while in use, into another folder" },
	{ "restore", cmd_restore, "bring a backup back as the store, checked" },
	{ "refresh", cmd_refresh,
	  "resolve a tag pinned from an upstream again" },
	{ "login", cmd_login, "check and save credentials for a registry" },
	{ "logout", cmd_logout, "remove the saved credentials of a registry" },
	{ "tags", cmd_tags, "list the tags of a repository on a registry" },
	{ "plan", cmd_plan,
	  "run release plans (Hades files): canary, gate, rollout" },
	{ "serve", cmd_serve,
	  "serve the store over the OCI distribution API (a registry)" },
	{ "health", cmd_health,
	  "check that registries answer and accept our credentials" },
	{ "version", cmd_version, "print regctl's version" },
	{ "help", cmd_help, "show help for regctl or for a command" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct regctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static void print_help(FILE *f)
{
	int width = 0;

	for (size_t i = 0; i < NR_COMMANDS; i++) {
		int len = (int)strlen(commands[i].name);
		if (len > width)
			width = len;
	}
	fputs("usage: regctl [--store STORE] [--config FILE] COMMAND [ARGS]\n"
	      "\n"
	      "Read and check a regfs store, mounted or not.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-*s   %s\n", width, commands[i].name,
			commands[i].summary);
	fputs(
	    "\n"
	    "Options:\n"
	    "  --store STORE   the store folder (default: $REGFS_STORE, else\n"
	    "                  $XDG_DATA_HOME/regfs, else ~/.local/share/regfs)\n"
	    "  --config FILE   regfs.conf(5) for the commands that read one\n"
	    "                  (publish, import, pull, prefetch, refresh,\n"
	    "                  resolve, serve, health), unless they name their\n"
	    "                  own (default: /etc/regfs/regfs.conf if it exists)\n"
	    "  -h, --help      show this help\n"
	    "  -V, --version   print the version\n"
	    "\n"
	    "Run 'regctl COMMAND --help' for what a command takes.\n",
	    f);
}

/* "regctl: <message>" on stderr, escaped as the daemon's log is
 * (text.h): a message quotes names, values and an upstream's words. */
static void error_line(const char *fmt, va_list ap)
{
	char raw[2048], msg[4 * sizeof(raw) + 32];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);

	if (n < 0)
		n = 0;
	rfs_text_escape(msg, sizeof(msg), raw,
			(size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1,
			RFS_TEXT_ALL);
	fprintf(stderr, "regctl: %s\n", msg);
}

int regctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_line(fmt, ap);
	va_end(ap);
	return REGCTL_EXIT_FAILURE;
}

int regctl_usage(const char *usage, bool error)
{
	fputs(usage, error ? stderr : stdout);
	return error ? REGCTL_EXIT_USAGE : REGCTL_EXIT_OK;
}

int regctl_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_line(fmt, ap);
	va_end(ap);
	return regctl_usage(usage, true);
}

/* See REGCTL_OPT_LONG: optopt is 0 for an unknown long option, a long
 * option's value (>= REGCTL_OPT_LONG) when it lacks or must not have a
 * value, and the character for a short option. */
static void option_message(char **argv, int c)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	int len = (int)strcspn(arg, "=");

	if (optopt == 0)
		regctl_error("unknown option '%.*s'", len, arg);
	else if (optopt >= REGCTL_OPT_LONG && c == ':')
		regctl_error("option '%.*s' needs a value", len, arg);
	else if (optopt >= REGCTL_OPT_LONG)
		regctl_error("option '%.*s' takes no value", len, arg);
	else if (c == ':')
		regctl_error("option '-%c' needs a value", optopt);
	else
		regctl_error("unknown option '-%c'", optopt);
}

int regctl_option_error(char **argv, int c, const char *usage)
{
	option_message(argv, c);
	return regctl_usage(usage, true);
}

int regctl_store_path(const struct regctl *rc, char *buf, size_t size)
{
	int r;

	if (rc->store_path) {
		snprintf(buf, size, "%s", rc->store_path);
		return 0;
	}
	r = rfs_store_default_path(buf, size);
	if (r == -ENOENT)
		return regctl_error(
		    "no default store: set REGFS_STORE or HOME, or use --store");
	if (r < 0)
		return regctl_error("cannot name the default store: %s",
				    strerror(-r));
	return 0;
}

/* regctl_open_store, and with or_readonly, read-only where the store may
 * not be written. */
static int open_store(const struct regctl *rc, unsigned int flags,
		      bool or_readonly, struct rfs_store **out)
{
	char root[PATH_MAX];
	struct rfs_error err;
	int r;

	rfs_error_clear(&err);
	*out = NULL;
	r = regctl_store_path(rc, root, sizeof(root));
	if (r)
		return r;
	/* The default store's parents (~/.local/share) may not exist yet on
	 * a fresh account; a store named with --store has its parent. */
	if (!rc->store_path && (flags & RFS_STORE_CREATE))
		rfs_make_parents(root); /* failing, the open says why */
	r = rfs_store_open(root, flags, out, &err);
	if (or_readonly && (r == -EROFS || r == -EACCES)) {
		rfs_error_clear(&err);
		r = rfs_store_open(root, RFS_STORE_READONLY, out, &err);
	}
	if (r < 0)
		return regctl_error("%s", rfs_error_message(&err, r));
	return 0;
}

int regctl_open_store(const struct regctl *rc, unsigned int flags,
		      struct rfs_store **out)
{
	return open_store(rc, flags, false, out);
}

int regctl_open_store_to_read(const struct regctl *rc, struct rfs_store **out)
{
	return open_store(rc, 0, true, out);
}

void regctl_format_size(uint64_t bytes, char buf[REGCTL_SIZE_STR_MAX])
{
	static const char *const units[] = { "KiB", "MiB", "GiB",
					     "TiB", "PiB", "EiB" };
	double value;
	size_t i = 0;

	if (bytes < 1024) {
		snprintf(buf, REGCTL_SIZE_STR_MAX, "%" PRIu64 " B", bytes);
		return;
	}
	/* Move up a unit before "%.1f" would round to 1024.0. */
	value = (double)bytes / 1024;
	while (value >= 1023.95 && i + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		i++;
	}
	snprintf(buf, REGCTL_SIZE_STR_MAX, "%.1f %s", value, units[i]);
}

void regctl_format_time(int64_t ns, enum regctl_time_style style,
			char buf[REGCTL_TIME_STR_MAX])
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;
	size_t n;

	if (ns % 1000000000 < 0)
		sec--; /* round down before 1970 too */
	if (!gmtime_r(&sec, &tm))
		goto fail;
	/* Literal formats, so that -Wformat=2 can check them. */
	if (style == REGCTL_TIME_TABLE)
		n = strftime(buf, REGCTL_TIME_STR_MAX, "%Y-%m-%d %H:%M:%S",
			     &tm);
	else
		n = strftime(buf, REGCTL_TIME_STR_MAX, "%Y-%m-%dT%H:%M:%SZ",
			     &tm);
	if (n > 0)
		return;
fail:
	snprintf(buf, REGCTL_TIME_STR_MAX, "?");
}

int regctl_print_json(const json_t *json)
{
	char *text = json_dumps(json, JSON_INDENT(2));
	int ret;

	if (!text)
		return regctl_error("out of memory");
	ret = regctl_write_json(text, strlen(text));
	free(text);
	return ret;
}

bool regctl_env_true(const char *name)
{
	const char *v = getenv(name);

	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") ||
		     !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

const char *regctl_shown(char *buf, size_t size, const char *s)
{
	return rfs_text_escape(buf, size, s, strlen(s), RFS_TEXT_ALL);
}

int regctl_write_json(const char *text, size_t len)
{
	char *safe = rfs_text_json_safe(text, len);

	if (!safe)
		return regctl_error("out of memory");
	if (fputs(safe, stdout) == EOF ||
	    (len && text[len - 1] != '\n' && fputc('\n', stdout) == EOF)) {
		free(safe);
		return regctl_error("cannot write output: %s", strerror(errno));
	}
	free(safe);
	return REGCTL_EXIT_OK;
}

static const char version_usage[] = "usage: regctl version\n"
				    "\n"
				    "Print regctl's version.\n";

static int print_version(void)
{
	printf("regctl %s\n", REGFS_VERSION);
	return REGCTL_EXIT_OK;
}

int cmd_version(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	(void)rc;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(version_usage, false);
		default: return regctl_option_error(argv, c, version_usage);
		}
	}
	if (optind < argc)
		return regctl_usage_error(
		    version_usage, "unexpected argument '%s'", argv[optind]);
	return print_version();
}

static const char help_usage[] =
    "usage: regctl help [COMMAND]\n"
    "\n"
    "Show regctl's commands, or what COMMAND takes.\n";

int cmd_help(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static char help_option[] = "--help";
	const struct regctl_cmd *cmd;
	char *sub_argv[3];
	int c;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(help_usage, false);
		default: return regctl_option_error(argv, c, help_usage);
		}
	}
	if (optind == argc) {
		print_help(stdout);
		return REGCTL_EXIT_OK;
	}
	if (argc - optind > 1)
		return regctl_usage_error(
		    help_usage, "unexpected argument '%s'", argv[optind + 1]);
	cmd = find_command(argv[optind]);
	if (!cmd)
		return regctl_usage_error(help_usage, "unknown command '%s'",
					  argv[optind]);

	sub_argv[0] = (char *)cmd->name;
	sub_argv[1] = help_option;
	sub_argv[2] = NULL;
	optind = 0;
	return cmd->fn(2, sub_argv, rc);
}

/* A failed write to stdout (a full disk, a closed pipe) is a failure. */
static int close_stdout(int ret)
{
	int failed = ferror(stdout);

	errno = 0;
	if (fclose(stdout) != 0 || failed) {
		if (errno)
			regctl_error("cannot write output: %s",
				     strerror(errno));
		else
			regctl_error("cannot write output");
		return ret ? ret : REGCTL_EXIT_FAILURE;
	}
	return ret;
}

int main(int argc, char **argv)
{
	enum {
		OPT_STORE = REGCTL_OPT_LONG,
		OPT_CONFIG,
		OPT_HELP,
		OPT_VERSION,
	};
	static const struct option options[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct regctl rc = { .store_path = NULL };
	const struct regctl_cmd *cmd;
	int c, ret;

	/* Before any credential is read: no core dump holds one (regctl(1)
	 * ENVIRONMENT). */
	if (!regctl_env_true("REGCTL_DUMPABLE") &&
	    rfs_credentials_protect_process() < 0)
		regctl_error("cannot turn core dumps off: %s", strerror(errno));
	opterr = 0;
	/* '+': the first operand is the command; what follows is its own. */
	while ((c = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
		switch (c) {
		case OPT_STORE:
		case OPT_CONFIG:
			if (!*optarg) {
				regctl_error("option '--%s' needs a value",
					     c == OPT_STORE ? "store"
							    : "config");
				print_help(stderr);
				ret = REGCTL_EXIT_USAGE;
				goto out;
			}
			if (c == OPT_STORE)
				rc.store_path = optarg;
			else
				rc.config_path = optarg;
			break;
		case 'h':
		case OPT_HELP:
			print_help(stdout);
			ret = REGCTL_EXIT_OK;
			goto out;
		case 'V':
		case OPT_VERSION: ret = print_version(); goto out;
		default:
			option_message(argv, c);
			print_help(stderr);
			ret = REGCTL_EXIT_USAGE;
			goto out;
		}
	}
	if (optind == argc) {
		regctl_error("no command given");
		print_help(stderr);
		ret = REGCTL_EXIT_USAGE;
		goto out;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		regctl_error("unknown command '%s'", argv[optind]);
		print_help(stderr);
		ret = REGCTL_EXIT_USAGE;
		goto out;
	}

	argc -= optind;
	argv += optind;
	optind = 0; /* a fresh getopt for the command's arguments */
	ret = cmd->fn(argc, argv, &rc);
out:
	return close_stdout(ret);
}
