/*
 * target.h - running a command on a plan's target: this machine, or a host
 * reached with the system OpenSSH client.
 *
 * A host is reached with `ssh` (so ~/.ssh/config, the agent, known_hosts
 * and ProxyJump work), in batch mode, with a connect timeout and one shared
 * connection per host (ControlMaster, in a private folder the target owns).
 * REGCTL_SSH_COMMAND replaces "ssh", as GIT_SSH_COMMAND does for git: it is
 * run through /bin/sh, so it may carry options ("ssh -F ci/ssh_config").
 *
 * A command runs through `sh -c` on the target, with its environment
 * exported before it, its standard input from a file or nothing, and its
 * output handed to a callback line by line (stdout and stderr apart). Every
 * wait is bounded and can be interrupted. Commands run in a process group
 * of their own, so a Ctrl-C at the terminal reaches regctl alone, which
 * decides: rfs_target_cancel() stops what runs, from any thread or a
 * signal handler.
 */
#ifndef RFS_TARGET_H
#define RFS_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "error.h"
#include "plan.h"

struct rfs_target;

/* host: an inventory entry (NULL or name "local" with no addr: this
 * machine). The target keeps no pointer into host. */
int rfs_target_open(const struct rfs_plan_host *host, struct rfs_target **out,
		    struct rfs_error *err);
/* Closes the shared connection (ssh -O exit) and frees. */
void rfs_target_close(struct rfs_target **target);
bool rfs_target_is_local(const struct rfs_target *target);

/* One line of output (without its newline), from stdout (err false) or
 * stderr (err true). */
typedef void (*rfs_target_output_fn)(void *ctx, bool err, const char *line,
				     size_t len);

struct rfs_target_cmd {
	const char *script;	       /* run by sh -c on the target */
	const struct rfs_plan_kv *env; /* exported before script */
	size_t n_env;
	const char *stdin_path;	     /* a local file fed to stdin, or NULL */
	int64_t timeout_ms;	     /* 0: no limit (still cancellable) */
	rfs_target_output_fn output; /* may be NULL: output dropped */
	void *output_ctx;
	/* NULL, or asked every tick of the wait: once it says so, this
	 * command alone is stopped as rfs_target_cancel(true) stops all. */
	const struct rfs_cancel *cancel;
};

/* Run cmd and wait for it. Returns 0 and the command's exit status in
 * *status (0..255; 128+N for a signal N on a local command), or a negative
 * errno: -ETIMEDOUT (timeout; the command was killed), -ECANCELED
 * (rfs_target_cancel, or cmd->cancel), -EHOSTUNREACH (ssh could not reach the
 * host, exit 255; the message has ssh's last line of stderr). */
int rfs_target_run(struct rfs_target *target, const struct rfs_target_cmd *cmd,
		   int *status, struct rfs_error *err);

/* Stop every command running on any target now: SIGTERM to its process
 * group, or SIGKILL with kill. Commands started after it are not touched.
 * Async-signal-safe, so a SIGINT handler may call it. */
void rfs_target_cancel(bool kill);

/* The ssh argument vector regctl would use for host, for --dry-run and
 * messages: "ssh -o BatchMode=yes ... host". malloc()ed. */
char *rfs_target_describe(const struct rfs_target *target);

#endif
