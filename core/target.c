/*
 * target.c - running a command on a plan's target: this machine through
 * /bin/sh, or a host through the system ssh client (see target.h).
 *
 * What it promises:
 *  - A command runs in a process group of its own (the ssh client, for a
 *    host), so a Ctrl-C at the terminal reaches regctl only; regctl then
 *    decides, and rfs_target_cancel() signals every group that runs.
 *  - Every wait is bounded by the command's deadline, and a cancel or a
 *    timeout ends the wait even when processes that escaped the group still
 *    hold the output pipes.
 *  - Env values reach the command as its environment: in envp for a local
 *    command, as `export K='v'` in front of the script for a host, quoted so
 *    that any byte but NUL survives the remote login shell.
 *  - On a host, a command stopped by a cancel or a timeout is also stopped
 *    there: killing the local ssh client alone would leave it running, since
 *    sshd signals nothing when a session without a terminal closes.
 *  - A dry run creates nothing: the connection folder (ControlPath) is made
 *    at the first command, not at open.
 *
 * How a host is told from its command: the remote command is one string for
 * the remote login shell, `sh -c` and one quoted word holding
 *
 *   printf '\036regctl-pid %s\n' "$$" >&2;
 *   export K='v'; sh -c 'SCRIPT'; exit $?
 *
 * (on one line; its quotes quoted again inside the word, 'it'\''s'-style).
 *
 * The first line it writes to stderr (a marker, never shown) says that the
 * command started and which process to signal there. So ssh's exit status
 * 255 means "not reached" only when the marker was not seen, and a remote
 * command may exit 255 itself. SCRIPT runs in a child shell so that a
 * script killed by a signal gives 128+N as a local one does, instead of
 * ssh's own 255. The remote login shell must be a POSIX one (sh, bash,
 * dash, ksh, zsh), as for any ssh command line.
 *
 * Output is read with poll() and cut into lines; a line longer than
 * LINE_MAX_BYTES is handed over in pieces of that size. The wait ends at
 * end of file on both pipes, as ssh's does: a command that leaves a
 * background process writing to its output is waited for.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target.h"

extern char **environ;

/* A longer line is handed to the callback in pieces of this size. */
#define LINE_MAX_BYTES (64 * 1024)
/* How often a command whose output ended is looked at, where its end
 * cannot be polled (no pidfd). */
#define EXIT_TICK_MS 10
/* How often a wait looks at the cancel flags and the clock. */
#define TICK_MS 100
/* After SIGTERM at a deadline, how long until SIGKILL; after SIGKILL, how
 * long to keep reading output held by processes outside the group. */
#define KILL_GRACE_MS 1000
/* How long a host's command to stop may take to show its marker: it may
 * have started, its marker still on the way. */
#define MARKER_GRACE_MS 2000
/* Bounds of the ssh side commands: a remote kill, ssh -O exit. */
#define REMOTE_KILL_TIMEOUT_MS	15000
#define CONTROL_EXIT_TIMEOUT_MS 5000
/* The marker line: ASCII RS, which no sane tool prints first in a line. */
#define MARKER "\036regctl-pid "
/* Process groups that can run at once, over all targets. */
#define SLOTS 1024

/* --- the table of running process groups ----------------------------------
 *
 * rfs_target_cancel() may run in a signal handler, so it may only use what
 * is async-signal-safe: lock-free atomics and kill(2). No mutex (the handler
 * could interrupt its holder and deadlock), no malloc, no stdio. So the table
 * is a fixed array of slots, each a lock-free atomic process group id:
 *
 *   0   free
 *   -1  claimed by a command that is being started (no group yet)
 *   >0  the process group of a running command
 *
 * and an atomic "cancelled with signal N" per slot. A command claims a slot
 * (compare-and-swap 0 -> -1), clears its flag, forks, publishes the group id,
 * then reads the flag. rfs_target_cancel() sets each flag, then reads each
 * group id. Both sides use sequentially consistent operations, so for a
 * command whose flag was set after it was cleared at least one side sees the
 * other's write: either the cancel sees the group id and kills it, or the
 * starting command sees the flag and kills itself. A command whose flag was
 * cleared after the cancel set it counts as started after the cancel, which
 * the header allows. The slot is freed before the group leader is reaped,
 * so its id cannot be reused by an unrelated group while it is in the table
 * (the remaining window, a cancel that read the id just before the free and
 * signals after the id went round the whole pid space, is not practical).
 * regctl's own side commands (the remote kill a cancel starts, ssh -O exit)
 * take no slot: a cancel still walking the table would stop them too.
 */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "cancel needs lock-free atomics");

static struct {
	atomic_int pgid;
	atomic_int cancel; /* 0, or the signal of rfs_target_cancel */
} slots[SLOTS];

static int slot_claim(void)
{
	for (int i = 0; i < SLOTS; i++) {
		int expected = 0;

		if (atomic_compare_exchange_strong(&slots[i].pgid, &expected,
						   -1)) {
			atomic_store(&slots[i].cancel, 0);
			return i;
		}
	}
	return -1;
}

/* Publish the running group; it is signalled at once when a cancel came
 * between the claim and now. */
static void slot_publish(int i, pid_t pgid)
{
	int sig;

	atomic_store(&slots[i].pgid, (int)pgid);
	sig = atomic_load(&slots[i].cancel);
	if (sig)
		kill(-pgid, sig);
}

static void slot_free(int i)
{
	atomic_store(&slots[i].pgid, 0);
}

void rfs_target_cancel(bool kill_now)
{
	int saved = errno; /* a signal handler must not change errno */
	int sig = kill_now ? SIGKILL : SIGTERM;

	for (int i = 0; i < SLOTS; i++) {
		int pgid;

		atomic_store(&slots[i].cancel, sig);
		pgid = atomic_load(&slots[i].pgid);
		if (pgid > 0)
			kill(-pgid, sig);
	}
	errno = saved;
}

/* --- small helpers ----------------------------------------------------------
 */

/* A growing NULL-terminated vector of malloc()ed strings. */
struct strv {
	char **v;
	size_t n, cap;
	bool failed; /* an allocation failed: checked once, at the end */
};

static void strv_add_owned(struct strv *sv, char *s)
{
	if (!s || sv->failed) {
		free(s);
		sv->failed = true;
		return;
	}
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? 2 * sv->cap : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			sv->failed = true;
			return;
		}
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

static void strv_add(struct strv *sv, const char *s)
{
	strv_add_owned(sv, strdup(s));
}

static void strv_addf(struct strv *sv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void strv_addf(struct strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	strv_add_owned(sv, s);
}

static void strv_release(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

/* Words made only of these need no quotes in a printed command. */
static bool plain_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789-_=./:,@%+",
			*s))
			return false;
	return true;
}

/* A shell variable name, the only kind `export` takes. */
static bool valid_name(const char *s)
{
	if (!s || !(*s == '_' || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= 'a' && *s <= 'z')))
		return false;
	for (s++; *s; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where the connection folder goes. A socket path holds 107 bytes and a
 * NUL: the base, "/regctl-ssh-XXXXXX/" (19), the 40 characters of %C and
 * the temporary suffix ssh adds while it binds (17). */
#define CONTROL_BASE_MAX (107 - 19 - 40 - 17)
static const char *control_base(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");

	if (!base || base[0] != '/' || strlen(base) > CONTROL_BASE_MAX ||
	    access(base, W_OK) != 0)
		return "/tmp";
	return base;
}

/* --- the target ------------------------------------------------------------
 */

struct rfs_target {
	bool local;
	char *name;
	char *dest; /* what ssh is given: the addr, or the name */
	char *user;
	int port;
	char *identity;
	char *ssh_command; /* REGCTL_SSH_COMMAND, when set */
	/* Made at the first command, so that a dry run creates nothing. */
	pthread_mutex_t lock;
	char *control_dir;
	char *ssh_path; /* ssh found in PATH (without REGCTL_SSH_COMMAND) */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int rfs_target_open(const struct rfs_plan_host *host, struct rfs_target **out,
		    struct rfs_error *err)
{
	struct rfs_target *t;
	const char *cmd;
	int rc = 0;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&t->lock, NULL);
	if (!host || (host->name && !strcmp(host->name, "local") &&
		      (!host->addr || !*host->addr))) {
		t->local = true;
		t->name = strdup("local");
		if (!t->name)
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* A host without addr is reached by its name, so that an alias in
	 * the ssh config (Host web-a) is enough. */
	const char *dest = host->addr && *host->addr ? host->addr : host->name;
	if (!dest || !*dest) {
		rc = rfs_error_set(err, -EINVAL,
				   "host has neither a name nor an address");
		goto out;
	}
	/* ssh would read "-oProxyCommand=..." as an option, not a host. */
	if (dest[0] == '-') {
		rc = rfs_error_set(err, -EINVAL,
				   "host '%s': address '%s' starts with '-'",
				   host->name ? host->name : dest, dest);
		goto out;
	}
	if (host->port < 0 || host->port > 65535) {
		rc = rfs_error_set(err, -EINVAL,
				   "host '%s': port %d out of range",
				   host->name ? host->name : dest, host->port);
		goto out;
	}
	t->name = strdup(host->name ? host->name : dest);
	t->dest = strdup(dest);
	t->user = dup_or_null(host->user && *host->user ? host->user : NULL);
	t->identity = dup_or_null(host->identity_file && *host->identity_file
				      ? host->identity_file
				      : NULL);
	t->port = host->port;
	cmd = getenv("REGCTL_SSH_COMMAND");
	if (cmd && *cmd)
		t->ssh_command = strdup(cmd);
	if (!t->name || !t->dest || (host->user && *host->user && !t->user) ||
	    (host->identity_file && *host->identity_file && !t->identity) ||
	    (cmd && *cmd && !t->ssh_command))
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
out:
	if (rc < 0)
		rfs_target_close(&t);
	*out = t;
	return rc;
}

bool rfs_target_is_local(const struct rfs_target *target)
{
	return target->local;
}

/* The words of an ssh invocation: the program (or the REGCTL_SSH_COMMAND
 * wrapper), the options, extra options, the destination, and "--" and the
 * remote command when there is one. control_dir NULL: a placeholder, for
 * printing. */
static void ssh_words(const struct rfs_target *t, const char *control_dir,
		      const char *const *extra, const char *remote,
		      bool printable, struct strv *sv)
{
	if (printable && t->ssh_command) {
		/* Shell text already: printed as the user wrote it. */
		strv_add(sv, t->ssh_command);
	} else if (t->ssh_command) {
		/* As git runs GIT_SSH_COMMAND: through sh, so it may carry
		 * options, with our arguments appended as "$@". */
		strv_add(sv, "/bin/sh");
		strv_add(sv, "-c");
		strv_addf(sv, "exec %s \"$@\"", t->ssh_command);
		strv_add(sv, "regctl-ssh");
	} else {
		strv_add(sv, printable || !t->ssh_path ? "ssh" : t->ssh_path);
	}
	strv_add(sv, "-o");
	strv_add(sv, "BatchMode=yes");
	strv_add(sv, "-o");
	strv_add(sv, "ConnectTimeout=10");
	strv_add(sv, "-o");
	strv_add(sv, "ControlMaster=auto");
	strv_add(sv, "-o");
	if (control_dir)
		strv_addf(sv, "ControlPath=%s/%%C", control_dir);
	else
		strv_addf(sv, "ControlPath=%s/regctl-ssh-XXXXXX/%%C",
			  control_base());
	strv_add(sv, "-o");
	strv_add(sv, "ControlPersist=60");
	strv_add(sv, "-o");
	strv_add(sv, "ServerAliveInterval=15");
	strv_add(sv, "-o");
	strv_add(sv, "ServerAliveCountMax=4");
	if (t->port > 0) {
		strv_add(sv, "-p");
		strv_addf(sv, "%d", t->port);
	}
	if (t->user) {
		strv_add(sv, "-l");
		strv_add(sv, t->user);
	}
	if (t->identity) {
		strv_add(sv, "-i");
		strv_add(sv, t->identity);
		strv_add(sv, "-o");
		strv_add(sv, "IdentitiesOnly=yes");
	}
	for (; extra && *extra; extra++)
		strv_add(sv, *extra);
	strv_add(sv, t->dest);
	if (remote) {
		strv_add(sv, "--");
		strv_add(sv, remote);
	}
}

/* Join words into one printable command line, quoting where needed. */
static char *join_words(char *const *words, size_t n, size_t first_raw)
{
	size_t len = 1;
	char **q = calloc(n ? n : 1, sizeof(*q));
	char *out = NULL, *p;

	if (!q)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		q[i] = i < first_raw || plain_word(words[i])
			   ? strdup(words[i])
			   : rfs_shell_quote(words[i]);
		if (!q[i])
			goto out;
		len += strlen(q[i]) + 1;
	}
	out = malloc(len);
	if (!out)
		goto out;
	p = out;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(q[i]);

		if (i)
			*p++ = ' ';
		memcpy(p, q[i], l);
		p += l;
	}
	*p = '\0';
out:
	for (size_t i = 0; i < n; i++)
		free(q[i]);
	free(q);
	return out;
}

char *rfs_target_describe(const struct rfs_target *target)
{
	struct strv sv = { 0 };
	char *s;

	if (!target)
		return NULL;
	if (target->local)
		return strdup("/bin/sh -c");
	/* The folder shown is the real one once a command ran; before, a
	 * template of it (a dry run makes none). The lock only guards that
	 * lazy field, so taking it on a const target is honest. */
	pthread_mutex_lock((pthread_mutex_t *)&target->lock);
	ssh_words(target, target->control_dir, NULL, NULL, true, &sv);
	pthread_mutex_unlock((pthread_mutex_t *)&target->lock);
	s = sv.failed ? NULL
		      : join_words(sv.v, sv.n, target->ssh_command ? 1 : 0);
	strv_release(&sv);
	return s;
}

/* --- running one process ---------------------------------------------------
 */

struct proc_result {
	int wstatus;
	bool timed_out;
	int cancel_sig;	 /* the signal of a cancel, 0 if none */
	bool marker;	 /* ssh: the remote command started */
	long remote_pid; /* from the marker */
	char last_err[256];
};

struct stream {
	int fd;
	bool err;
	char *buf;
	size_t len;
};

struct reader;
/* Called once when a command is to stop (a cancel or its deadline), before
 * the local process is killed; false if nothing was stopped. */
typedef bool (*stop_fn)(struct reader *r, int sig, bool timeout);

struct reader {
	rfs_target_output_fn output;
	void *ctx;
	bool want_marker;
	struct proc_result *res;
	stop_fn stop; /* NULL: killing the local group is enough */
	struct rfs_target *target;
};

static void emit(struct reader *r, bool err, char *line, size_t len)
{
	if (err && r->want_marker && !r->res->marker && len > strlen(MARKER) &&
	    !memcmp(line, MARKER, strlen(MARKER))) {
		r->res->marker = true;
		r->res->remote_pid = strtol(line + strlen(MARKER), NULL, 10);
		return;
	}
	if (err && len) {
		size_t n = len < sizeof(r->res->last_err) - 1
			       ? len
			       : sizeof(r->res->last_err) - 1;
		memcpy(r->res->last_err, line, n);
		r->res->last_err[n] = '\0';
	}
	if (r->output) {
		char saved = line[len];

		line[len] = '\0';
		r->output(r->ctx, err, line, len);
		line[len] = saved;
	}
}

/* Read what is there; hand over the complete lines (and a full buffer as a
 * piece). Returns false at end of file or on an error. */
static bool stream_read(struct reader *r, struct stream *s)
{
	ssize_t n;
	size_t start = 0;

	n = read(s->fd, s->buf + s->len, LINE_MAX_BYTES - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0) {
		if (s->len)
			emit(r, s->err, s->buf, s->len);
		s->len = 0;
		return false;
	}
	s->len += (size_t)n;
	for (size_t i = 0; i < s->len; i++) {
		if (s->buf[i] == '\n') {
			emit(r, s->err, s->buf + start, i - start);
			start = i + 1;
		}
	}
	if (start == 0 && s->len == LINE_MAX_BYTES) {
		emit(r, s->err, s->buf, s->len);
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	return true;
}

/* Everything the child needs is made before fork(): after it, in a process
 * that may have threads, only async-signal-safe calls are allowed. */
static void child(const char *path, char *const argv[], char *const envp[],
		  int in_fd, int out_fd, int err_fd)
{
	struct sigaction sa;
	sigset_t none;

	setpgid(0, 0);
	/* regctl may ignore SIGPIPE or block signals; a command must start
	 * with the defaults, as from a shell. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(127);
	/* Descriptors someone opened without O_CLOEXEC stay here. */
	close_range(3, ~0U, 0);
	execve(path, argv, envp);
	_exit(127);
}

/* Has the child pid ended? It is left to be reaped. */
static bool exited(pid_t pid)
{
	siginfo_t info = { 0 };

	return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) <
		   0 ||
	       info.si_pid == pid;
}

/* Run argv[0] (a path) with envp, stdin from in_fd, and wait as target.h
 * says; cancel, when not NULL, stops it too. Not cancellable: regctl's own
 * bounded side commands (a remote kill, ssh -O exit), which a cancel must
 * not stop, least of all the remote kill that the cancel itself starts
 * while it still walks the table. */
static int run_process(char *const argv[], char *const envp[], int in_fd,
		       int64_t timeout_ms, bool cancellable,
		       const struct rfs_cancel *cancel, struct reader *r,
		       struct rfs_error *err)
{
	struct proc_result *res = r->res;
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
	struct stream streams[2] = { { -1, false, NULL, 0 },
				     { -1, true, NULL, 0 } };
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	int64_t kill_at = 0, give_up_at = 0, stop_until = 0;
	enum { STOP_NONE, STOP_WANTED, STOP_DONE } stop = STOP_NONE;
	int slot = -1, rc = 0, stop_sig = 0, pidfd = -1;
	pid_t pid = -1;

	if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
		rc = rfs_error_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		streams[i].buf = malloc(LINE_MAX_BYTES + 1);
		if (!streams[i].buf) {
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	/* slot stays -1 for a command a cancel does not reach. */
	if (cancellable && (slot = slot_claim()) < 0) {
		rc = rfs_error_set(err, -EAGAIN,
				   "more than %d commands running at once",
				   SLOTS);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		rc = rfs_error_set(err, -errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		child(argv[0], argv, envp, in_fd, out_pipe[1], err_pipe[1]);
	/* -1 on kernels before 5.3: then its end is looked for each tick. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	/* Both sides set the group, so that it exists before anyone may
	 * signal it, whichever runs first (EACCES: the child did, and
	 * exec'd). */
	setpgid(pid, pid);
	if (slot >= 0)
		slot_publish(slot, pid);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	streams[0].fd = out_pipe[0];
	streams[1].fd = err_pipe[0];

	/* Until the output ends and the command is gone: one that closes its
	 * output and goes on is still bounded and cancellable. */
	while (streams[0].fd >= 0 || streams[1].fd >= 0 || !exited(pid)) {
		struct pollfd pfd[2];
		struct stream *which[2];
		int64_t now = now_ms(), wait = TICK_MS;
		int nfds = 0;
		int sig = slot >= 0 ? atomic_load(&slots[slot].cancel) : 0;

		/* The caller's own cancel: as rfs_target_cancel(true) would,
		 * for this command only. */
		if (!sig && !res->cancel_sig && !res->timed_out &&
		    rfs_cancelled(cancel)) {
			sig = SIGKILL;
			if (!r->stop)
				kill(-pid, SIGKILL);
		}
		if (sig && !res->cancel_sig && !res->timed_out) {
			res->cancel_sig = sig;
			if (r->stop) {
				/* The cancel signalled the ssh client, which
				 * does not stop the remote command. */
				stop = STOP_WANTED;
				stop_sig = sig;
				stop_until = now + MARKER_GRACE_MS;
			} else if (sig == SIGKILL) {
				/* Nothing in the group can still write. */
				give_up_at = now + KILL_GRACE_MS;
			}
		}
		if (deadline && !res->timed_out && !res->cancel_sig &&
		    now >= deadline) {
			res->timed_out = true;
			if (r->stop) {
				stop = STOP_WANTED;
				stop_sig = SIGTERM;
				stop_until = now + MARKER_GRACE_MS;
			} else {
				kill(-pid, SIGTERM);
				kill_at = now + KILL_GRACE_MS;
			}
		}
		if (stop == STOP_WANTED && (res->marker || now >= stop_until)) {
			/* Stopped there first, its session's end ends the
			 * client; without a marker (not started, or not
			 * seen within the grace) the client goes at once. */
			stop = STOP_DONE;
			kill_at = r->stop(r, stop_sig, res->timed_out)
				      ? now_ms() + KILL_GRACE_MS
				      : now;
		}
		if (kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
			give_up_at = now + KILL_GRACE_MS;
		}
		if (give_up_at && now >= give_up_at)
			break; /* escaped processes hold the pipes */
		if (deadline && !res->timed_out && deadline - now < wait)
			wait = deadline - now;
		for (int i = 0; i < 2; i++) {
			if (streams[i].fd < 0)
				continue;
			pfd[nfds].fd = streams[i].fd;
			pfd[nfds].events = POLLIN;
			which[nfds++] = &streams[i];
		}
		/* Output ended, command still there: woken by its end. */
		if (!nfds && pidfd >= 0) {
			pfd[0].fd = pidfd;
			pfd[0].events = POLLIN;
			which[0] = NULL;
			nfds = 1;
		} else if (!nfds && wait > EXIT_TICK_MS) {
			wait = EXIT_TICK_MS;
		}
		if (poll(pfd, (nfds_t)nfds, (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			rc = rfs_error_set(err, -errno, "poll: %s",
					   strerror(errno));
			kill(-pid, SIGKILL);
			break;
		}
		for (int i = 0; i < nfds; i++) {
			if (!which[i] ||
			    !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!stream_read(r, which[i])) {
				close(which[i]->fd);
				which[i]->fd = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (streams[i].fd >= 0 && streams[i].len)
			emit(r, streams[i].err, streams[i].buf, streams[i].len);
	}
	/* A cancel that came while the last bytes were read still counts;
	 * and one whose signal ended the local side at once (the client
	 * died, the output ended) still has a remote side to stop. */
	if (!res->cancel_sig && !res->timed_out && slot >= 0) {
		res->cancel_sig = atomic_load(&slots[slot].cancel);
		if (res->cancel_sig && r->stop) {
			stop = STOP_WANTED;
			stop_sig = res->cancel_sig;
		}
	}
	if (stop == STOP_WANTED)
		r->stop(r, stop_sig, res->timed_out);
	/* Free the slot before reaping: see the table's comment. */
	if (slot >= 0)
		slot_free(slot);
	slot = -1;
	while (waitpid(pid, &res->wstatus, 0) < 0) {
		if (errno != EINTR) {
			rc = rfs_error_set(err, -errno, "waitpid: %s",
					   strerror(errno));
			break;
		}
	}
out:
	if (slot >= 0)
		slot_free(slot);
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		if (streams[i].fd >= 0)
			close(streams[i].fd);
		free(streams[i].buf);
	}
	if (pid < 0) {
		for (int i = 0; i < 2; i++) {
			if (out_pipe[i] >= 0)
				close(out_pipe[i]);
			if (err_pipe[i] >= 0)
				close(err_pipe[i]);
		}
	}
	return rc;
}

/* The environment of a local command: ours, with env's variables added or
 * replacing ours (the later of two equal names wins). */
static int make_envp(const struct rfs_target_cmd *cmd, struct strv *sv,
		     struct rfs_error *err)
{
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t klen = eq ? (size_t)(eq - *e) : strlen(*e);
		bool replaced = false;

		for (size_t i = 0; i < cmd->n_env && !replaced; i++)
			replaced = strlen(cmd->env[i].key) == klen &&
				   !strncmp(cmd->env[i].key, *e, klen);
		if (!replaced)
			strv_add(sv, *e);
	}
	for (size_t i = 0; i < cmd->n_env; i++) {
		bool later = false;

		for (size_t j = i + 1; j < cmd->n_env && !later; j++)
			later = !strcmp(cmd->env[i].key, cmd->env[j].key);
		if (!later)
			strv_addf(sv, "%s=%s", cmd->env[i].key,
				  cmd->env[i].value ? cmd->env[i].value : "");
	}
	if (sv->failed)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* The one string the remote login shell is given (see the top comment). */
static char *remote_command(const struct rfs_target_cmd *cmd)
{
	char *script = rfs_shell_quote(cmd->script), *inner = NULL, *out = NULL;
	size_t len, cap;

	if (!script)
		return NULL;
	cap = strlen(script) + 128;
	for (size_t i = 0; i < cmd->n_env; i++) {
		const char *v = cmd->env[i].value ? cmd->env[i].value : "";

		cap += strlen(cmd->env[i].key) + 4 * strlen(v) + 16;
	}
	inner = malloc(cap);
	if (!inner)
		goto out;
	/* printf's format: the marker's \036 is written as an escape, so
	 * the command line carries no control character. */
	len = (size_t)snprintf(inner, cap,
			       "printf '\\036regctl-pid %%s\\n' \"$$\" >&2; ");
	for (size_t i = 0; i < cmd->n_env; i++) {
		char *q =
		    rfs_shell_quote(cmd->env[i].value ? cmd->env[i].value : "");

		if (!q)
			goto out;
		len += (size_t)snprintf(inner + len, cap - len,
					"export %s=%s; ", cmd->env[i].key, q);
		free(q);
	}
	snprintf(inner + len, cap - len, "sh -c %s; exit $?", script);
	out = rfs_shell_quote(inner);
	if (out) {
		char *full = malloc(strlen(out) + 8);

		if (full)
			sprintf(full, "sh -c %s", out);
		free(out);
		out = full;
	}
out:
	free(script);
	free(inner);
	return out;
}

/* Find ssh in PATH, before any fork (execvp is not async-signal-safe). */
static char *find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL, *found = NULL;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	copy = strdup(path);
	if (!copy)
		return NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found;
	     dir = strtok_r(NULL, ":", &save)) {
		char *cand = NULL;

		if (asprintf(&cand, "%s/%s", *dir ? dir : ".", prog) < 0)
			break;
		if (access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
	}
	free(copy);
	return found;
}

/* What a host needs before its first command: the connection folder, and
 * ssh's path. */
static int ssh_prepare(struct rfs_target *t, struct rfs_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (!t->ssh_command && !t->ssh_path) {
		t->ssh_path = find_in_path("ssh");
		if (!t->ssh_path) {
			rc = rfs_error_set(
			    err, -ENOENT,
			    "host '%s': no ssh in PATH (install openssh-client, or set REGCTL_SSH_COMMAND)",
			    t->name);
			goto out;
		}
	}
	if (!t->control_dir) {
		const char *base = control_base();
		char *dir = NULL;

		if (asprintf(&dir, "%s/regctl-ssh-XXXXXX", base) < 0) {
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		/* mkdtemp makes it 0700: only we may use the connection. */
		if (!mkdtemp(dir)) {
			rc = rfs_error_set(
			    err, -errno,
			    "cannot create a folder for ssh connections in '%s': %s",
			    base, strerror(errno));
			free(dir);
			goto out;
		}
		t->control_dir = dir;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* Run a side command on a host (a remote kill, ssh -O exit), its output
 * dropped; the status, or a negative errno. */
static int ssh_side(struct rfs_target *t, const char *const *extra,
		    const char *remote, int64_t timeout_ms)
{
	struct proc_result res = { 0 };
	struct reader r = { NULL, NULL, false, &res, NULL, NULL };
	struct strv argv = { 0 };
	int in_fd, rc;

	ssh_words(t, t->control_dir, extra, remote, false, &argv);
	if (argv.failed) {
		strv_release(&argv);
		return -ENOMEM;
	}
	in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in_fd < 0) {
		strv_release(&argv);
		return -errno;
	}
	rc = run_process(argv.v, environ, in_fd, timeout_ms, false, NULL, &r,
			 NULL);
	close(in_fd);
	strv_release(&argv);
	if (rc < 0)
		return rc;
	return WIFEXITED(res.wstatus) ? WEXITSTATUS(res.wstatus) : -EINTR;
}

/* Stop a remote command that the local side stopped: its process group
 * when it leads one (as sshd makes it) or its parent, the login shell,
 * does; else the process alone. The group is checked so that a server
 * that makes no session of its own is never hit as a whole. */
static void ssh_remote_kill(struct rfs_target *t, long pid, int sig,
			    bool escalate)
{
	/* After a timeout: TERM, up to a second to go, then KILL. */
	static const char then_kill[] =
	    "; i=0; while kill -0 -- \"$t\" 2>/dev/null && [ $i -lt 10 ]; "
	    "do sleep 0.1; i=$((i+1)); done; kill -KILL -- \"$t\" 2>/dev/null";
	char script[768];

	snprintf(script, sizeof(script),
		 "p=%ld; g=$(ps -o pgid= -p $p 2>/dev/null | tr -d ' '); "
		 "q=$(ps -o ppid= -p $p 2>/dev/null | tr -d ' '); "
		 "if [ -n \"$g\" ] && "
		 "{ [ \"$g\" = \"$p\" ] || [ \"$g\" = \"$q\" ]; }; "
		 "then t=\"-$g\"; else t=$p; fi; "
		 "kill -%s -- \"$t\" 2>/dev/null%s; exit 0",
		 pid, sig == SIGKILL ? "KILL" : "TERM",
		 escalate ? then_kill : "");
	ssh_side(t, NULL, script, REMOTE_KILL_TIMEOUT_MS);
}

/* The stop of a command on a host (a stop_fn). Through a shared
 * connection, the ssh client ignores SIGTERM while it waits (its handler
 * restarts the read) and the master holds the output pipes until the
 * session ends: so the remote command is stopped first, and its session
 * ending ends the client. Before the marker there is nothing to stop
 * there, and the client is killed at once. */
static bool ssh_stop(struct reader *r, int sig, bool timeout)
{
	if (!r->res->marker || r->res->remote_pid <= 1)
		return false;
	ssh_remote_kill(r->target, r->res->remote_pid, sig, timeout);
	return true;
}

int rfs_target_run(struct rfs_target *target, const struct rfs_target_cmd *cmd,
		   int *status, struct rfs_error *err)
{
	struct proc_result res = { 0 };
	struct reader r = { cmd->output,
			    cmd->output_ctx,
			    !target->local,
			    &res,
			    target->local ? NULL : ssh_stop,
			    target };
	struct strv argv = { 0 }, envp = { 0 };
	char *remote = NULL;
	int in_fd = -1, rc = 0;

	*status = -1;
	if (!cmd->script) {
		rc = rfs_error_set(err, -EINVAL, "no command to run");
		goto out;
	}
	for (size_t i = 0; i < cmd->n_env; i++) {
		if (!valid_name(cmd->env[i].key)) {
			rc = rfs_error_set(
			    err, -EINVAL,
			    "'%s' is not a valid environment variable name",
			    cmd->env[i].key ? cmd->env[i].key : "");
			goto out;
		}
	}
	in_fd = open(cmd->stdin_path ? cmd->stdin_path : "/dev/null",
		     O_RDONLY | O_CLOEXEC);
	if (in_fd < 0) {
		rc = rfs_error_set(err, -errno, "cannot open '%s': %s",
				   cmd->stdin_path ? cmd->stdin_path
						   : "/dev/null",
				   strerror(errno));
		goto out;
	}
	if (target->local) {
		strv_add(&argv, "/bin/sh");
		strv_add(&argv, "-c");
		strv_add(&argv, cmd->script);
		rc = make_envp(cmd, &envp, err);
		if (rc < 0)
			goto out;
	} else {
		rc = ssh_prepare(target, err);
		if (rc < 0)
			goto out;
		remote = remote_command(cmd);
		if (remote)
			ssh_words(target, target->control_dir, NULL, remote,
				  false, &argv);
	}
	if (argv.failed || (!target->local && !remote)) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = run_process(argv.v, target->local ? envp.v : environ, in_fd,
			 cmd->timeout_ms, true, cmd->cancel, &r, err);
	if (rc < 0)
		goto out;

	if (res.timed_out || res.cancel_sig) {
		if (res.timed_out)
			rc = rfs_error_set(
			    err, -ETIMEDOUT,
			    "%s: the command ran over %lld ms and was killed",
			    target->name, (long long)cmd->timeout_ms);
		else
			rc = rfs_error_set(err, -ECANCELED,
					   "%s: the command was cancelled",
					   target->name);
		goto out;
	}
	if (WIFSIGNALED(res.wstatus)) {
		if (target->local) {
			*status = 128 + WTERMSIG(res.wstatus);
			goto out;
		}
		rc = rfs_error_set(err, -EHOSTUNREACH,
				   "%s: ssh was killed by signal %d",
				   target->name, WTERMSIG(res.wstatus));
		goto out;
	}
	*status = WEXITSTATUS(res.wstatus);
	/* Without the marker the command never ran there: whatever the
	 * status (ssh's 255, 127 for a REGCTL_SSH_COMMAND that is not
	 * found), the host was not reached. */
	if (!target->local && !res.marker) {
		char why[32];

		snprintf(why, sizeof(why), "exit status %d", *status);
		*status = -1;
		rc = rfs_error_set(err, -EHOSTUNREACH, "%s: ssh failed: %s",
				   target->name,
				   res.last_err[0] ? res.last_err : why);
	}
out:
	if (in_fd >= 0)
		close(in_fd);
	free(remote);
	strv_release(&argv);
	strv_release(&envp);
	return rc;
}

/* Remove the connection folder and whatever ssh left in it. */
static void remove_control_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			unlinkat(dirfd(d), e->d_name, 0);
		}
		closedir(d);
	}
	rmdir(dir);
}

static bool dir_has_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool any = false;

	if (!d)
		return false;
	while (!any && (e = readdir(d)))
		any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return any;
}

void rfs_target_close(struct rfs_target **target)
{
	struct rfs_target *t = target ? *target : NULL;

	if (!t)
		return;
	if (t->control_dir) {
		/* A master is running when its socket is there. */
		if (dir_has_entries(t->control_dir)) {
			const char *extra[] = { "-O", "exit", NULL };

			ssh_side(t, extra, NULL, CONTROL_EXIT_TIMEOUT_MS);
		}
		remove_control_dir(t->control_dir);
	}
	pthread_mutex_destroy(&t->lock);
	free(t->control_dir);
	free(t->ssh_path);
	free(t->ssh_command);
	free(t->identity);
	free(t->user);
	free(t->dest);
	free(t->name);
	free(t);
	*target = NULL;
}
