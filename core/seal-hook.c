/*
 * seal-hook.c - running the seal hook (see seal-hook.h).
 *
 * The program runs through core's one way of running a local command
 * (target.c): its own process group, a bounded wait that kills the group
 * at the deadline, output read line by line. It is started as
 * `sh -c 'exec PROGRAM "$REGFS_FILE" "$REGFS_REPO" ...'`, so its arguments
 * are exactly the four words whatever bytes they hold.
 *
 * Why the hook cannot change what was hashed: it is given a path to a
 * descriptor opened read-only (its own standard input, /proc/<its
 * pid>/fd/0), and the file's mode is 0444 before it starts, so opening
 * that path again for writing fails for anyone but root. A root hook could
 * still write (or chmod): the file's size, mtime and ctime are compared before
 * and after, and any change refuses the seal, as the kernel updates ctime on
 * every write and chmod.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan.h"
#include "seal-hook.h"
#include "target.h"

/* The part of the hook's first line of standard error that is kept. */
#define FIRST_LINE_MAX 256

int rfs_seal_hook_check(const char *program, struct rfs_error *err)
{
	struct stat st;

	if (!program || program[0] != '/')
		return rfs_error_set(err, -EINVAL,
				     "seal hook '%s' is not an absolute path",
				     program ? program : "");
	if (stat(program, &st) < 0)
		return rfs_error_set(err, -errno, "seal hook '%s': %s", program,
				     strerror(errno));
	if (!S_ISREG(st.st_mode))
		return rfs_error_set(err, -EACCES,
				     "seal hook '%s' is not a regular file",
				     program);
	if (access(program, X_OK) < 0)
		return rfs_error_set(err, -EACCES,
				     "seal hook '%s' is not executable: %s",
				     program, strerror(errno));
	return 0;
}

struct first_line {
	char text[FIRST_LINE_MAX + 1];
	bool seen;
};

static void keep_first_line(void *ctx, bool is_err, const char *line,
			    size_t len)
{
	struct first_line *fl = ctx;

	if (!is_err || fl->seen || len == 0)
		return;
	if (len > FIRST_LINE_MAX)
		len = FIRST_LINE_MAX;
	memcpy(fl->text, line, len);
	fl->text[len] = '\0';
	/* A log line must stay one line with printable bytes. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)fl->text[i] < 0x20 || fl->text[i] == 0x7f)
			fl->text[i] = ' ';
	fl->seen = true;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mode == b->st_mode &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int rfs_seal_hook_run(const char *program, int64_t timeout_ms, int fd,
		      const char *repo, const char *tag, const char *digest,
		      const char *what, const struct rfs_cancel *cancel,
		      struct rfs_error *err)
{
	struct rfs_target *target = NULL;
	struct first_line first = { 0 };
	struct rfs_error run_err = { 0 };
	char self[64], path[64], *quoted = NULL, *script = NULL;
	struct rfs_plan_kv env[4];
	struct stat before, after;
	int rofd = -1, status = -1, rc;

	rc = rfs_seal_hook_check(program, &run_err);
	if (rc) {
		rc = rfs_error_set(err, -EACCES, "refusing %s: %s", what,
				   rfs_error_message(&run_err, rc));
		goto out;
	}
	/* Read-only for the hook, and nobody but root may reopen it for
	 * writing through its /proc path. */
	if (fchmod(fd, 0444) < 0 || fstat(fd, &before) < 0) {
		rc = rfs_error_set(err, -EACCES,
				   "refusing %s: cannot prepare it for the "
				   "seal hook: %s",
				   what, strerror(errno));
		goto out;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	rofd = open(self, O_RDONLY | O_CLOEXEC);
	if (rofd < 0) {
		rc = rfs_error_set(err, -EACCES,
				   "refusing %s: cannot open it for the seal "
				   "hook: %s",
				   what, strerror(errno));
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), rofd);
	quoted = rfs_shell_quote(program);
	/* The hook's path is its own standard input (which is the file, from
	 * path): /proc/<daemon>/fd/ is root's only, as the daemon and regctl
	 * are not dumpable (credentials.h), and exec keeps the shell's pid. */
	if (!quoted || asprintf(&script,
				"REGFS_FILE=/proc/$$/fd/0; export REGFS_FILE; "
				"exec %s \"$REGFS_FILE\" \"$REGFS_REPO\" "
				"\"$REGFS_TAG\" \"$REGFS_DIGEST\"",
				quoted) < 0) {
		script = NULL;
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	env[0] = (struct rfs_plan_kv){ .key = "REGFS_FILE", .value = path };
	env[1] =
	    (struct rfs_plan_kv){ .key = "REGFS_REPO", .value = (char *)repo };
	env[2] = (struct rfs_plan_kv){ .key = "REGFS_TAG",
				       .value = (char *)(tag ? tag : "") };
	env[3] = (struct rfs_plan_kv){ .key = "REGFS_DIGEST",
				       .value = (char *)digest };
	rc = rfs_target_open(NULL, &target, &run_err);
	if (!rc) {
		struct rfs_target_cmd cmd = {
			.script = script,
			.env = env,
			.n_env = 4,
			.stdin_path = path,
			.timeout_ms = timeout_ms,
			.output = keep_first_line,
			.output_ctx = &first,
			.cancel = cancel,
		};

		rc = rfs_target_run(target, &cmd, &status, &run_err);
	}
	if (rc == -ECANCELED) {
		rc = rfs_error_set(err, rc,
				   "seal hook '%s' on %s was stopped: its "
				   "caller is gone",
				   program, what);
		goto out;
	}
	if (rc == -ETIMEDOUT) {
		rc = rfs_error_set(err, -EACCES,
				   "seal hook '%s' ran over %lld ms on %s and "
				   "was killed: refusing it",
				   program, (long long)timeout_ms, what);
		goto out;
	}
	if (rc) {
		rc = rfs_error_set(err, -EACCES,
				   "refusing %s: seal hook '%s' could not run: "
				   "%s",
				   what, program,
				   rfs_error_message(&run_err, rc));
		goto out;
	}
	if (status != 0) {
		rc = rfs_error_set(err, -EACCES,
				   "seal hook refused %s (exit %d)%s%s", what,
				   status, first.seen ? ": " : "",
				   first.seen ? first.text : "");
		goto out;
	}
	if (fstat(fd, &after) < 0 || !same_file_state(&before, &after)) {
		rc = rfs_error_set(err, -EACCES,
				   "refusing %s: the file changed while seal "
				   "hook '%s' ran",
				   what, program);
		goto out;
	}
out:
	rfs_target_close(&target);
	if (rofd >= 0)
		close(rofd);
	free(quoted);
	free(script);
	return rc;
}
