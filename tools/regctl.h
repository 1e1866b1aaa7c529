/*
 * regctl.h - what regctl's commands share: the command table type, the
 * global options, and helpers to open the store, report errors and format
 * sizes and times.
 *
 * Each command lives in tools/cmd-<name>.c as cmd_<name>(). It parses its own
 * arguments with getopt_long (argv[0] is the command name; main() resets
 * getopt before the call) and returns the process exit status. Commands
 * print results to stdout and errors to stderr as "regctl: <message>"; what a
 * name may be, what a store holds and what counts as damage is core's to
 * decide, not theirs.
 */
#ifndef REGCTL_H
#define REGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"
#include "text.h"

enum {
	REGCTL_EXIT_OK = 0,
	REGCTL_EXIT_FAILURE = 1, /* an error, or fsck found damage */
	REGCTL_EXIT_USAGE = 2,	 /* bad command line */
};

/* The global options, given before the command. */
struct regctl {
	const char *store_path; /* --store, or NULL for the default */
	/* --config: regfs.conf(5) for every command that reads one, unless
	 * it names its own; NULL: the default file, if it exists. */
	const char *config_path;
};

struct regctl_cmd {
	const char *name;
	int (*fn)(int argc, char **argv, struct regctl *rc);
	const char *summary; /* one line for "regctl --help" */
};

int cmd_audit(int argc, char **argv, struct regctl *rc);
int cmd_backup(int argc, char **argv, struct regctl *rc);
int cmd_cp(int argc, char **argv, struct regctl *rc);
int cmd_fsck(int argc, char **argv, struct regctl *rc);
int cmd_health(int argc, char **argv, struct regctl *rc);
int cmd_help(int argc, char **argv, struct regctl *rc);
int cmd_import(int argc, char **argv, struct regctl *rc);
int cmd_inspect(int argc, char **argv, struct regctl *rc);
int cmd_login(int argc, char **argv, struct regctl *rc);
int cmd_logout(int argc, char **argv, struct regctl *rc);
int cmd_gc(int argc, char **argv, struct regctl *rc);
int cmd_ls(int argc, char **argv, struct regctl *rc);
int cmd_plan(int argc, char **argv, struct regctl *rc);
int cmd_prefetch(int argc, char **argv, struct regctl *rc);
int cmd_publish(int argc, char **argv, struct regctl *rc);
int cmd_pull(int argc, char **argv, struct regctl *rc);
int cmd_push(int argc, char **argv, struct regctl *rc);
int cmd_rm(int argc, char **argv, struct regctl *rc);
int cmd_resolve(int argc, char **argv, struct regctl *rc);
int cmd_search(int argc, char **argv, struct regctl *rc);
int cmd_serve(int argc, char **argv, struct regctl *rc);
int cmd_sign(int argc, char **argv, struct regctl *rc);
int cmd_unyank(int argc, char **argv, struct regctl *rc);
int cmd_yank(int argc, char **argv, struct regctl *rc);
int cmd_refresh(int argc, char **argv, struct regctl *rc);
int cmd_restore(int argc, char **argv, struct regctl *rc);
int cmd_tags(int argc, char **argv, struct regctl *rc);
int cmd_verify(int argc, char **argv, struct regctl *rc);
int cmd_version(int argc, char **argv, struct regctl *rc);

/* Print "regctl: <message>" to stderr. Returns REGCTL_EXIT_FAILURE. */
int regctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a command's usage text: to stdout for --help (returns
 * REGCTL_EXIT_OK) or to stderr after a usage error (returns
 * REGCTL_EXIT_USAGE). */
int regctl_usage(const char *usage, bool error);

/* A usage error: "regctl: <message>", then the usage, both to stderr.
 * Returns REGCTL_EXIT_USAGE. */
int regctl_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Long options get values from REGCTL_OPT_LONG up (the short alias, if
 * any, is a separate case label), so that an error can tell a long option
 * from a short one: getopt_long reports the value of a long option in
 * optopt. */
#define REGCTL_OPT_LONG 256

/* Report an option getopt_long refused (it returned '?' or ':'; main() turns
 * opterr off and option strings start with ':'), then the usage, to stderr.
 * Returns REGCTL_EXIT_USAGE. */
int regctl_option_error(char **argv, int c, const char *usage);

/* Open the store named by --store, or the default one, with flags as for
 * rfs_store_open(). Returns 0, or prints why and returns
 * REGCTL_EXIT_FAILURE. Close with rfs_store_close(). */
int regctl_open_store(const struct regctl *rc, unsigned int flags,
		      struct rfs_store **out);
/* The same for a command that reads the store and writes it only to note
 * what it did (push: the audit log, which blobs a registry has): writable
 * where it may be, else read-only (a read-only file system, another
 * user's store), and then those notes are not kept. Never creates it. */
int regctl_open_store_to_read(const struct regctl *rc, struct rfs_store **out);
/* The store's folder: --store, or the default. Returns 0, or prints why
 * and returns REGCTL_EXIT_FAILURE. */
int regctl_store_path(const struct regctl *rc, char *buf, size_t size);

/* "512 B", "1.5 KiB", "12.0 MiB". */
#define REGCTL_SIZE_STR_MAX 16
void regctl_format_size(uint64_t bytes, char buf[REGCTL_SIZE_STR_MAX]);

enum regctl_time_style {
	REGCTL_TIME_TABLE,   /* "2026-11-22 10:04:05", UTC */
	REGCTL_TIME_RFC3339, /* "2026-11-22T10:04:05Z" */
};
#define REGCTL_TIME_STR_MAX 32
void regctl_format_time(int64_t ns, enum regctl_time_style style,
			char buf[REGCTL_TIME_STR_MAX]);

/* Print a JSON value, indented, and a newline to stdout. Returns an exit
 * status. What jansson leaves raw but a terminal acts on (DEL, C1 and
 * bidirectional controls) goes out as \u escapes (text.h). */
int regctl_print_json(const json_t *json);
/* The same for JSON text already made (len bytes; a newline added when it
 * has none). */
int regctl_write_json(const char *text, size_t len);

/* A name as a message shows it: escaped, and cut at 255 bytes with a
 * marker (rfs_text_name), in a buffer of the enclosing expression. */
#define REGCTL_NAME(name) rfs_text_name((char[RFS_TEXT_NAME_BUF]){ 0 }, (name))

/* Is the environment variable name set to 1, true, yes or on? */
bool regctl_env_true(const char *name);

/* Untrusted text (a value, a reason, what an upstream said) for a line of
 * output: escaped (text.h) into buf of size bytes. Returns buf. */
const char *regctl_shown(char *buf, size_t size, const char *s);

#endif
