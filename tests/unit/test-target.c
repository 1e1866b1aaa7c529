/*
 * test-target.c - unit tests of target.h: one set of cases (exit status,
 * exported env with awkward values, stdin from a file, lines from both
 * streams, long lines, timeout, cancel from another thread, a command
 * killed by a signal) run on three kinds of target:
 *
 *  - local: this machine, through /bin/sh;
 *  - fake ssh: REGCTL_SSH_COMMAND names a stand-in for ssh that takes ssh's
 *    options and runs the remote command as sshd does (the login shell's
 *    -c, in a session of its own, output through processes of the client's
 *    group), so the quoting, the marker and the remote kill are tested
 *    without a server;
 *  - real ssh: only when REGFS_TEST_SSH_HOST names a host that
 *    REGCTL_SSH_COMMAND reaches (tests/integration/t0800-plan-targets.sh
 *    starts an sshd and runs this program so).
 *
 * Plus what needs no command: describe, open's checks, and that nothing
 * is created before the first command (a dry run).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "target.h"
#include "tmptree.h"

/* A stand-in for ssh: ssh's options, the destination, "--" and one
 * command string, which it gives to a login shell's -c in a new session
 * (as sshd does), its output going through cat processes of the caller's
 * group (as it goes through the ssh client). "-O exit" succeeds. */
static const char fake_ssh[] =
    "#!/bin/bash\n"
    "dest= op=\n"
    "while [ $# -gt 0 ]; do\n"
    "  case $1 in\n"
    "  -O) op=$2; shift 2 ;;\n"
    "  -o|-p|-l|-i|-F) shift 2 ;;\n"
    "  --) shift; break ;;\n"
    "  -*) shift ;;\n"
    "  *) if [ -z \"$dest\" ]; then dest=$1; shift; else break; fi ;;\n"
    "  esac\n"
    "done\n"
    "echo \"$dest ${op:-run}\" >>\"$FAKE_SSH_LOG\"\n"
    "[ -n \"$op\" ] && exit 0\n"
    "if [ \"$dest\" = unreachable ]; then\n"
    "  echo 'ssh: connect to host unreachable port 22: Connection "
    "refused' >&2\n"
    "  exit 255\n"
    "fi\n"
    "exec 3<&0 # a background job's stdin would be /dev/null\n"
    "setsid bash -c \"$*\" <&3 3<&- > >(exec cat) 2> >(exec cat >&2) &\n"
    "wait $!\n";

enum kind { LOCAL, FAKE_SSH, REAL_SSH };

/* REGCTL_SSH_COMMAND as given (for the real ssh group): the fake groups
 * replace it. */
static char *real_ssh_command;
/* In the name of the temporary folders, so that a caller can find what
 * a run left (REGFS_TEST_TAG, short: ssh's socket paths start there). */
static const char *run_tag = "target";

struct fixture {
	enum kind kind;
	char root[64];
	char runtime[128]; /* XDG_RUNTIME_DIR: where connection folders go */
	struct rfs_target *t;
	struct rfs_error err;
};

/* What a command printed, line by line. */
#define MAX_LINES 64
struct capture {
	char *out[MAX_LINES], *err[MAX_LINES];
	size_t n_out, n_err;
	size_t pieces, bytes, longest;
};

static void capture_line(void *ctx, bool err, const char *line, size_t len)
{
	struct capture *c = ctx;

	assert_int_equal(line[len], '\0'); /* terminated, for printf */
	c->pieces++;
	c->bytes += len;
	if (len > c->longest)
		c->longest = len;
	if (err && c->n_err < MAX_LINES)
		c->err[c->n_err++] = strdup(line);
	else if (!err && c->n_out < MAX_LINES)
		c->out[c->n_out++] = strdup(line);
}

static void capture_free(struct capture *c)
{
	for (size_t i = 0; i < c->n_out; i++)
		free(c->out[i]);
	for (size_t i = 0; i < c->n_err; i++)
		free(c->err[i]);
	memset(c, 0, sizeof(*c));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The whole of a small file, NUL-terminated; NULL if missing. */
static char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* Is pid gone (or a zombie nobody reaps)? Polls for up to 5 s. */
static bool process_gone(long pid)
{
	for (int i = 0; i < 250; i++) {
		char path[64], *stat;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		stat = slurp(path);
		if (!stat)
			return true;
		stat = strrchr(stat, ')');
		if (stat && stat[1] == ' ' && stat[2] == 'Z')
			return true;
		usleep(20000);
	}
	return false;
}

static int group_setup(void **state, enum kind kind)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_plan_host host = { 0 };
	char path[192];

	if (!f)
		return -1;
	f->kind = kind;
	/* Short: ssh's sockets go in it (see CONTROL_BASE_MAX). */
	snprintf(f->root, sizeof(f->root), "/tmp/rfs-%s-XXXXXX", run_tag);
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->runtime, sizeof(f->runtime), "%s/run", f->root);
	if (mkdir(f->runtime, 0700) < 0)
		return -1;
	setenv("XDG_RUNTIME_DIR", f->runtime, 1);
	if (kind == FAKE_SSH) {
		char cmd[256];

		snprintf(path, sizeof(path), "%s/fake-ssh", f->root);
		put(path, fake_ssh, strlen(fake_ssh), 0755);
		snprintf(cmd, sizeof(cmd), "bash %s", path);
		setenv("REGCTL_SSH_COMMAND", cmd, 1);
		snprintf(path, sizeof(path), "%s/fake-ssh.log", f->root);
		setenv("FAKE_SSH_LOG", path, 1);
		host.name = "fake";
		host.addr = "fakehost";
	} else if (kind == REAL_SSH) {
		setenv("REGCTL_SSH_COMMAND", real_ssh_command, 1);
		host.name = getenv("REGFS_TEST_SSH_HOST");
	}
	if (kind != LOCAL && rfs_target_open(&host, &f->t, &f->err) < 0) {
		fprintf(stderr, "open: %s\n", f->err.msg);
		return -1;
	}
	if (kind == LOCAL && rfs_target_open(NULL, &f->t, &f->err) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup_local(void **state)
{
	return group_setup(state, LOCAL);
}

static int setup_fake(void **state)
{
	return group_setup(state, FAKE_SSH);
}

static int setup_real(void **state)
{
	return group_setup(state, REAL_SSH);
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	rfs_target_close(&f->t);
	assert_null(f->t);
	/* The connection folder goes with the target. */
	assert_int_equal(count_entries(f->runtime), 0);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

/* Run script with no env and no limit; the status. */
static int run_simple(struct fixture *f, const char *script, struct capture *c)
{
	struct rfs_target_cmd cmd = { .script = script,
				      .output = c ? capture_line : NULL,
				      .output_ctx = c };
	int status = -1, rc;

	rc = rfs_target_run(f->t, &cmd, &status, &f->err);
	if (rc < 0)
		fprintf(stderr, "run '%s': %s\n", script, f->err.msg);
	assert_int_equal(rc, 0);
	return status;
}

static void test_exit_status(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run_simple(f, "true", NULL), 0);
	assert_int_equal(run_simple(f, "exit 3", NULL), 3);
	assert_int_equal(run_simple(f, "false", NULL), 1);
	/* Through ssh too: the remote command's own 255 is a status, not
	 * "unreachable". */
	assert_int_equal(run_simple(f, "exit 255", NULL), 255);
	assert_int_equal(run_simple(f, "sh -c 'exit 42'", NULL), 42);
}

static void test_env(void **state)
{
	struct fixture *f = *state;
	static const char *const values[] = {
		"it's \"quoted\"",
		"two  words ",
		"line1\nline2\n",
		"$HOME `id` $(id) \\ \\\\ ${X}",
		"",
		"'",
		"a'b\"c'd",
		"--option",
		"tab\there; semicolon & amp | pipe > gt",
	};
	enum { N = sizeof(values) / sizeof(values[0]) };
	struct rfs_plan_kv env[N + 3];
	char keys[N][16], path[192], script[512];
	int status = -1;

	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "V%zu", i);
		env[i] = (struct rfs_plan_kv){ .key = keys[i],
					       .value = (char *)values[i] };
	}
	env[N] = (struct rfs_plan_kv){ .key = "OUTDIR", .value = f->root };
	/* A later entry wins, and a variable of ours is replaced. */
	setenv("REGFS_TEST_OVERRIDDEN", "old", 1);
	env[N + 1] = (struct rfs_plan_kv){ .key = "REGFS_TEST_OVERRIDDEN",
					   .value = "first" };
	env[N + 2] = (struct rfs_plan_kv){ .key = "REGFS_TEST_OVERRIDDEN",
					   .value = "new" };
	snprintf(script, sizeof(script),
		 "for i in $(seq 0 %d); do eval \"printf %%s \\\"\\$V$i\\\"\" "
		 ">\"$OUTDIR/v$i\"; done; "
		 "printf %%s \"$REGFS_TEST_OVERRIDDEN\" >\"$OUTDIR/over\"; "
		 "env | grep -c '^REGFS_TEST_OVERRIDDEN=' >\"$OUTDIR/count\"",
		 N - 1);
	struct rfs_target_cmd cmd = { .script = script,
				      .env = env,
				      .n_env = N + 3 };
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), 0);
	assert_int_equal(status, 0);
	for (size_t i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "%s/v%zu", f->root, i);
		assert_non_null(slurp(path));
		assert_string_equal(slurp(path), values[i]);
	}
	snprintf(path, sizeof(path), "%s/over", f->root);
	assert_string_equal(slurp(path), "new");
	snprintf(path, sizeof(path), "%s/count", f->root);
	assert_string_equal(slurp(path), "1\n");
	unsetenv("REGFS_TEST_OVERRIDDEN");
}

static void test_env_bad_name(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_kv env[] = { { .key = "A;B", .value = "x" } };
	struct rfs_target_cmd cmd = { .script = "true",
				      .env = env,
				      .n_env = 1 };
	int status = -1;

	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, "A;B"));
}

static void test_stdin(void **state)
{
	struct fixture *f = *state;
	struct capture c = { 0 };
	char path[192];
	int status = -1;

	snprintf(path, sizeof(path), "%s/input", f->root);
	put(path, "alpha\nbeta\0gamma\n", 17, 0644);
	struct rfs_target_cmd cmd = { .script = "wc -c",
				      .stdin_path = path,
				      .output = capture_line,
				      .output_ctx = &c };
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), 0);
	assert_int_equal(status, 0);
	assert_int_equal(c.n_out, 1);
	assert_int_equal(atoi(c.out[0]), 17);
	capture_free(&c);

	/* Bytes as they are, a NUL included. */
	cmd.script = "cat";
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), 0);
	assert_int_equal(c.n_out, 2);
	assert_string_equal(c.out[0], "alpha");
	assert_string_equal(c.out[1], "beta"); /* up to the NUL */
	assert_int_equal(c.bytes, strlen("alpha") + strlen("beta") + 6);
	capture_free(&c);

	/* Without stdin_path: nothing (not regctl's terminal). */
	cmd.stdin_path = NULL;
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), 0);
	assert_int_equal(c.n_out, 0);

	snprintf(path, sizeof(path), "%s/no-such-file", f->root);
	cmd.stdin_path = path;
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), -ENOENT);
}

static void test_streams(void **state)
{
	struct fixture *f = *state;
	struct capture c = { 0 };

	assert_int_equal(run_simple(f,
				    "echo out1; echo err1 >&2; echo; "
				    "echo out2; printf 'err2' >&2; "
				    "printf 'no newline'",
				    &c),
			 0);
	assert_int_equal(c.n_out, 4);
	assert_string_equal(c.out[0], "out1");
	assert_string_equal(c.out[1], "");
	assert_string_equal(c.out[2], "out2");
	assert_string_equal(c.out[3], "no newline");
	assert_int_equal(c.n_err, 2);
	assert_string_equal(c.err[0], "err1");
	assert_string_equal(c.err[1], "err2");
	capture_free(&c);
}

static void test_long_line(void **state)
{
	struct fixture *f = *state;
	struct capture c = { 0 };

	assert_int_equal(run_simple(f,
				    "head -c 200000 /dev/zero | tr '\\0' x; "
				    "echo; echo short",
				    &c),
			 0);
	assert_int_equal(c.bytes, 200000 + strlen("short"));
	assert_int_equal(c.longest, 64 * 1024);
	assert_true(c.pieces >= 5);
	assert_string_equal(c.out[c.n_out - 1], "short");
	capture_free(&c);
}

/* The pid the command wrote to OUTDIR/pid, of a sleep it started. */
static long read_pid(struct fixture *f)
{
	char path[192], *s;

	snprintf(path, sizeof(path), "%s/pid", f->root);
	s = slurp(path);
	assert_non_null(s);
	unlink(path);
	return atol(s);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_kv env[] = { { .key = "OUTDIR", .value = f->root } };
	/* A child in the background too: the whole group goes. */
	struct rfs_target_cmd cmd = {
		.script = "sleep 30 & echo $! >\"$OUTDIR/pid\"; wait",
		.env = env,
		.n_env = 1,
		.timeout_ms = 300,
	};
	int status = -1;
	int64_t t0 = now_ms();

	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err),
			 -ETIMEDOUT);
	assert_true(now_ms() - t0 < 5000);
	assert_non_null(strstr(f->err.msg, "300 ms"));
	assert_true(process_gone(read_pid(f)));

	/* A command that ignores SIGTERM is killed all the same. */
	cmd.script = "trap '' TERM; sleep 30 & echo $! >\"$OUTDIR/pid\"; "
		     "while :; do wait; done";
	t0 = now_ms();
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err),
			 -ETIMEDOUT);
	assert_true(now_ms() - t0 < 8000);
	assert_true(process_gone(read_pid(f)));

	/* One that closes its output and goes on is still bounded. */
	cmd.script =
	    "exec >/dev/null 2>&1; sleep 30 & echo $! >\"$OUTDIR/pid\"; "
	    "wait";
	t0 = now_ms();
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err),
			 -ETIMEDOUT);
	assert_true(now_ms() - t0 < 5000);
	assert_true(process_gone(read_pid(f)));

	/* A limit that is not reached changes nothing. */
	cmd.script = "exit 5";
	cmd.timeout_ms = 20000;
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), 0);
	assert_int_equal(status, 5);
	/* Nor does the end of the output before the end of the command. */
	cmd.script = "exec >/dev/null 2>&1; sleep 0.3; exit 6";
	t0 = now_ms();
	assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err), 0);
	assert_int_equal(status, 6);
	assert_true(now_ms() - t0 >= 300);
}

struct canceller {
	bool kill_now;
	char pidfile[192];
};

/* Cancel once the command runs (its pid file is there), as a user would:
 * a cancel before a host's command started is a race no test can win. */
static void *cancel_soon(void *arg)
{
	struct canceller *c = arg;

	for (int i = 0; i < 1000 && access(c->pidfile, F_OK) != 0; i++)
		usleep(10 * 1000);
	usleep(100 * 1000);
	rfs_target_cancel(c->kill_now);
	return NULL;
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_kv env[] = { { .key = "OUTDIR", .value = f->root } };
	struct rfs_target_cmd cmd = {
		.script = "sleep 30 & echo $! >\"$OUTDIR/pid\"; wait",
		.env = env,
		.n_env = 1,
	};
	int status = -1;

	for (int k = 0; k < 2; k++) {
		struct canceller c = { .kill_now = k == 1 };
		pthread_t th;
		int64_t t0 = now_ms();
		int rc;

		snprintf(c.pidfile, sizeof(c.pidfile), "%s/pid", f->root);
		assert_int_equal(pthread_create(&th, NULL, cancel_soon, &c), 0);
		rc = rfs_target_run(f->t, &cmd, &status, &f->err);
		/* Joined first: a late cancel would hit the next test. */
		pthread_join(th, NULL);
		assert_int_equal(rc, -ECANCELED);
		assert_true(now_ms() - t0 < 8000);
		assert_true(process_gone(read_pid(f)));
	}

	/* A cancel touches only what runs: a later command runs. */
	rfs_target_cancel(false);
	assert_int_equal(run_simple(f, "exit 0", NULL), 0);
}

/* A command's own cancel: true once the command's pid file is there. */
static bool pidfile_there(void *ctx)
{
	return access(ctx, F_OK) == 0;
}

static void test_own_cancel(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_kv env[] = { { .key = "OUTDIR", .value = f->root } };
	char pidfile[192];
	struct rfs_cancel cancel = { pidfile_there, pidfile };
	struct rfs_target_cmd cmd = {
		.env = env,
		.n_env = 1,
		.cancel = &cancel,
	};
	int status = -1;
	int64_t t0;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", f->root);
	/* Stopped at once, whole group, whether it writes or not. */
	for (int k = 0; k < 2; k++) {
		cmd.script = k ? "exec >/dev/null 2>&1; sleep 30 & "
				 "echo $! >\"$OUTDIR/pid\"; wait"
			       : "sleep 30 & echo $! >\"$OUTDIR/pid\"; wait";
		t0 = now_ms();
		assert_int_equal(rfs_target_run(f->t, &cmd, &status, &f->err),
				 -ECANCELED);
		assert_true(now_ms() - t0 < 3000);
		assert_true(process_gone(read_pid(f)));
	}
	/* It stops its own command only: others run on. */
	assert_int_equal(run_simple(f, "exit 0", NULL), 0);
}

static void test_signal_status(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run_simple(f, "kill -9 $$", NULL), 128 + SIGKILL);
	assert_int_equal(run_simple(f, "kill -TERM $$", NULL), 128 + SIGTERM);
}

/* regctl ignores SIGPIPE (main does, as regctl would); a command starts
 * with every signal at its default, as from a shell. */
static void test_signals_reset(void **state)
{
	struct fixture *f = *state;
	struct capture c = { 0 };

	assert_int_equal(run_simple(f, "grep '^SigIgn:' /proc/$$/status", &c),
			 0);
	assert_int_equal(c.n_out, 1);
	assert_string_equal(c.out[0], "SigIgn:\t0000000000000000");
	capture_free(&c);
}

/* --- ssh only ---------------------------------------------------------------
 */

/* A loopback port nobody listens on (bound, then closed). */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_unreachable(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_host host = { .name = "gone", .addr = "unreachable" };
	struct rfs_target *t = NULL;
	struct rfs_target_cmd cmd = { .script = "echo never" };
	int status = 7;

	if (f->kind == REAL_SSH) {
		host.addr = "127.0.0.1";
		host.port = closed_port();
	}
	assert_int_equal(rfs_target_open(&host, &t, &f->err), 0);
	assert_int_equal(rfs_target_run(t, &cmd, &status, &f->err),
			 -EHOSTUNREACH);
	assert_non_null(strstr(f->err.msg, "gone"));
	assert_non_null(strstr(f->err.msg, "refused"));
	assert_int_equal(status, -1);
	rfs_target_close(&t);

	/* An ssh command that is not there: the host is not reached
	 * either (sh's 127, not a status of the command). */
	if (f->kind == FAKE_SSH) {
		setenv("REGCTL_SSH_COMMAND", "regfs-no-such-ssh", 1);
		host.addr = "h";
		assert_int_equal(rfs_target_open(&host, &t, &f->err), 0);
		assert_int_equal(rfs_target_run(t, &cmd, &status, &f->err),
				 -EHOSTUNREACH);
		assert_non_null(strstr(f->err.msg, "not found"));
		rfs_target_close(&t);
	}
}

/* --- without a command ------------------------------------------------------
 */

static void test_open_local(void **state)
{
	struct rfs_plan_host local = { .name = "local" };
	struct rfs_plan_host named = { .name = "local", .addr = "10.0.0.1" };
	struct rfs_target *t = NULL;
	struct rfs_error err = { 0 };
	char *s;

	(void)state;
	assert_int_equal(rfs_target_open(NULL, &t, &err), 0);
	assert_true(rfs_target_is_local(t));
	s = rfs_target_describe(t);
	assert_string_equal(s, "/bin/sh -c");
	free(s);
	rfs_target_close(&t);
	assert_int_equal(rfs_target_open(&local, &t, &err), 0);
	assert_true(rfs_target_is_local(t));
	rfs_target_close(&t);
	/* "local" with an addr is a host like any other. */
	assert_int_equal(rfs_target_open(&named, &t, &err), 0);
	assert_false(rfs_target_is_local(t));
	rfs_target_close(&t);
	rfs_target_close(&t); /* NULL is fine */
	rfs_target_close(NULL);
}

static void test_open_bad(void **state)
{
	struct rfs_plan_host dash = { .name = "evil",
				      .addr = "-oProxyCommand=touch /tmp/x" };
	struct rfs_plan_host port = { .name = "p", .addr = "h", .port = 70000 };
	struct rfs_target *t = NULL;
	struct rfs_error err = { 0 };

	(void)state;
	assert_int_equal(rfs_target_open(&dash, &t, &err), -EINVAL);
	assert_null(t);
	assert_non_null(strstr(err.msg, "evil"));
	assert_int_equal(rfs_target_open(&port, &t, &err), -EINVAL);
	assert_null(t);
}

static void test_describe(void **state)
{
	struct rfs_plan_host host = { .name = "web-b",
				      .addr = "10.0.0.12",
				      .user = "deploy",
				      .port = 2222,
				      .identity_file = "/keys/my key" };
	struct rfs_plan_host alias = { .name = "web-a" };
	struct rfs_target *t = NULL;
	char root[] = "/tmp/regfs-test-target-XXXXXX";
	char *s;

	(void)state;
	assert_non_null(mkdtemp(root));
	setenv("XDG_RUNTIME_DIR", root, 1);
	unsetenv("REGCTL_SSH_COMMAND");
	assert_int_equal(rfs_target_open(&host, &t, NULL), 0);
	s = rfs_target_describe(t);
	assert_non_null(s);
	assert_true(!strncmp(s,
			     "ssh -o BatchMode=yes -o ConnectTimeout=10 "
			     "-o ControlMaster=auto -o ControlPath=",
			     strlen("ssh -o BatchMode=yes -o ConnectTimeout=10 "
				    "-o ControlMaster=auto -o ControlPath=")));
	assert_non_null(strstr(s, root));
	assert_non_null(strstr(s, "-o ControlPersist=60 "
				  "-o ServerAliveInterval=15 "
				  "-o ServerAliveCountMax=4 -p 2222 -l deploy "
				  "-i '/keys/my key' -o IdentitiesOnly=yes "
				  "10.0.0.12"));
	free(s);
	/* A dry run makes no folder. */
	assert_int_equal(count_entries(root), 0);
	rfs_target_close(&t);

	setenv("REGCTL_SSH_COMMAND", "ssh -F ci/ssh_config", 1);
	assert_int_equal(rfs_target_open(&alias, &t, NULL), 0);
	s = rfs_target_describe(t);
	assert_true(!strncmp(s, "ssh -F ci/ssh_config -o BatchMode=yes ",
			     strlen("ssh -F ci/ssh_config -o BatchMode=yes ")));
	/* No addr: the name, for an alias of the ssh config. */
	assert_null(strstr(s, "IdentitiesOnly"));
	assert_int_equal(strcmp(s + strlen(s) - strlen(" web-a"), " web-a"), 0);
	free(s);
	rfs_target_close(&t);
	unsetenv("REGCTL_SSH_COMMAND");
	assert_int_equal(count_entries(root), 0);
	rmdir(root);
}

/* The connection folder: made at the first command, private, and gone
 * with the target, after ssh -O exit. */
static void test_control_dir(void **state)
{
	struct fixture *f = *state;
	struct rfs_plan_host host = { .name = "ctl", .addr = "ctlhost" };
	struct rfs_target *t = NULL;
	struct rfs_target_cmd cmd = { .script = "true" };
	char path[256], *log, *desc;
	struct stat st;
	int status = -1;

	assert_int_equal(rfs_target_open(&host, &t, &f->err), 0);
	assert_int_equal(count_entries(f->runtime), 0);
	assert_int_equal(rfs_target_run(t, &cmd, &status, &f->err), 0);
	assert_int_equal(count_entries(f->runtime), 1);
	desc = rfs_target_describe(t);
	assert_non_null(strstr(desc, f->runtime));
	assert_null(strstr(desc, "XXXXXX"));
	/* The folder shown is the one made, 0700. */
	snprintf(path, sizeof(path), "%s", strstr(desc, f->runtime));
	*strstr(path, "/%C") = '\0';
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	free(desc);
	/* Something in it, as a master's socket would be: -O exit runs. */
	strcat(path, "/socket");
	put(path, "", 0, 0600);
	rfs_target_close(&t);
	assert_int_equal(count_entries(f->runtime), 0);
	snprintf(path, sizeof(path), "%s/fake-ssh.log", f->root);
	log = slurp(path);
	assert_non_null(strstr(log, "ctlhost run\nctlhost exit\n"));
}

int main(void)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_open_local),
		cmocka_unit_test(test_open_bad),
		cmocka_unit_test(test_describe),
	};
	const struct CMUnitTest common[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_env_bad_name),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_own_cancel),
		cmocka_unit_test(test_signal_status),
	};
	const struct CMUnitTest local_only[] = {
		cmocka_unit_test(test_signals_reset),
	};
	const struct CMUnitTest ssh_only[] = {
		cmocka_unit_test(test_unreachable),
	};
	const struct CMUnitTest fake_only[] = {
		cmocka_unit_test(test_control_dir),
	};
	int failed = 0;

	if (getenv("REGFS_TEST_TAG") && strlen(getenv("REGFS_TEST_TAG")) <= 8)
		run_tag = getenv("REGFS_TEST_TAG");
	if (getenv("REGCTL_SSH_COMMAND"))
		real_ssh_command = strdup(getenv("REGCTL_SSH_COMMAND"));
	/* regctl ignores SIGPIPE; a command must not inherit that. */
	signal(SIGPIPE, SIG_IGN);
	failed += cmocka_run_group_tests_name("target", plain, NULL, NULL);
	failed += cmocka_run_group_tests_name("local", common, setup_local,
					      group_teardown);
	failed += cmocka_run_group_tests_name("local only", local_only,
					      setup_local, group_teardown);
	failed += cmocka_run_group_tests_name("fake ssh", common, setup_fake,
					      group_teardown);
	failed += cmocka_run_group_tests_name("fake ssh only", ssh_only,
					      setup_fake, group_teardown);
	failed += cmocka_run_group_tests_name("fake ssh control", fake_only,
					      setup_fake, group_teardown);
	if (getenv("REGFS_TEST_SSH_HOST") && real_ssh_command) {
		printf("# real ssh: against %s\n",
		       getenv("REGFS_TEST_SSH_HOST"));
		failed += cmocka_run_group_tests_name(
		    "real ssh", common, setup_real, group_teardown);
		failed += cmocka_run_group_tests_name(
		    "real ssh only", ssh_only, setup_real, group_teardown);
	} else {
		printf("# real ssh: skipped (REGFS_TEST_SSH_HOST unset; "
		       "t0800-plan-targets.sh runs it against an sshd)\n");
	}
	free(real_ssh_command);
	return failed ? 1 : 0;
}
