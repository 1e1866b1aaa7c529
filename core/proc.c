/*
 * proc.c - how did the process that closed a file leave it?
 *
 * The kernel sends FLUSH for every close(), including the ones it does for a
 * process that is being killed, so a close alone cannot tell a finished
 * writer from an interrupted one. /proc can: while the kernel flushes the
 * files of a dying process, its stat line has PF_EXITING in the flags (field
 * 9) and the terminating signal in the low 7 bits of exit_code (field 52); a
 * normal exit shows its status shifted left by 8. And a shell that opened
 * the file, dup2()ed it to stdout and closed the original still lists the
 * file in /proc/<pid>/fdinfo: that close is not the writer's last.
 *
 * Only writable descriptors count (the access mode in fdinfo's flags): a
 * writer that also reads its file is done when it closes its writing
 * descriptor. And the closer's are not the only ones: a descriptor shared
 * with another process (fork, a double-forked daemon) is one open file
 * whose writer is done only when the last process lets go, so other
 * processes are looked at before a close is called the last: the opener,
 * and every process created since the open (pids grow: those above
 * ns_last_pid at the open), whose descriptors' paths are matched first
 * and only then their fdinfo read. Not seen: a process whose /proc entries
 * cannot be read (another user's, when the daemon is not root; another
 * PID namespace), and an older process the descriptor was passed to over
 * a socket (SCM_RIGHTS).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "incoming.h"

#define PF_EXITING 0x00000004

struct proc_stat {
	pid_t ppid;
	unsigned long flags;
	int exit_code;
};

static int read_stat(pid_t pid, struct proc_stat *st)
{
	char path[64], buf[4096], *p, *save = NULL;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses. */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	memset(st, 0, sizeof(*st));
	field = 3;
	for (char *tok = strtok_r(p + 1, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save), field++) {
		if (field == 4)
			st->ppid = (pid_t)strtol(tok, NULL, 10);
		else if (field == 9)
			st->flags = strtoul(tok, NULL, 10);
		else if (field == 52)
			st->exit_code = (int)strtol(tok, NULL, 10);
	}
	return field > 52 ? 0 : -1;
}

/* Is the fdinfo text buf of a writable descriptor of inode ino? */
static bool fdinfo_writes(const char *buf, uint64_t ino)
{
	const char *line = strstr(buf, "\nino:");
	const char *flags =
	    strncmp(buf, "flags:", 6) == 0 ? buf : strstr(buf, "\nflags:");
	unsigned long f;

	if (!line || strtoull(line + 5, NULL, 10) != ino || !flags)
		return false;
	f = strtoul(flags + (flags == buf ? 6 : 7), NULL, 8);
	return (f & O_ACCMODE) != O_RDONLY;
}

/* Does pid hold a writable descriptor of the file with inode ino? */
static bool holds_file(pid_t pid, uint64_t ino)
{
	char path[64], buf[512];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (fdinfo_writes(buf, ino))
			found = true;
	}
	closedir(d);
	return found;
}

/* Does pid hold a writable descriptor of inode ino whose path ends with
 * suffix? The paths (readlink, one call a descriptor) sift the candidates
 * cheaply; fdinfo says which of them are the file, and writable. */
static bool holds_path(pid_t pid, uint64_t ino, const char *suffix)
{
	size_t slen = strlen(suffix);
	char path[64], target[4096];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(d), de->d_name, target,
			       sizeof(target) - 1);
		if (n < (ssize_t)slen ||
		    memcmp(target + n - slen, suffix, slen) != 0)
			continue;
		found = holds_file(pid, ino);
	}
	closedir(d);
	return found;
}

/* Does any process but skip (and this one) hold a writable descriptor of
 * file? Only processes that can: its opener, and those created since it
 * was opened (a fork is how a descriptor is shared); all of them when the
 * pids wrapped around since. */
static bool anyone_holds_file(pid_t skip, const struct rfs_proc_file *file)
{
	pid_t self = getpid(), since = file->since;
	struct dirent *de;
	bool found = false;
	DIR *d;

	if (since > 0 && rfs_proc_last_pid() < since)
		since = 0; /* wrapped around */
	if (file->opener > 0 && file->opener != skip && file->opener != self &&
	    holds_file(file->opener, file->ino))
		return true;
	d = opendir("/proc");
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		pid_t pid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (pid == self || pid == skip || pid <= since)
			continue;
		found = file->suffix ? holds_path(pid, file->ino, file->suffix)
				     : holds_file(pid, file->ino);
	}
	closedir(d);
	return found;
}

enum rfs_closer rfs_proc_closer(pid_t pid, const struct rfs_proc_file *file)
{
	struct proc_stat st;

	if (pid <= 0 || read_stat(pid, &st) < 0)
		return RFS_CLOSER_DONE;
	if ((st.flags & PF_EXITING) && (st.exit_code & 0x7f) != 0)
		return RFS_CLOSER_KILLED;
	if (holds_file(pid, file->ino))
		return RFS_CLOSER_STILL_OPEN;
	/* A command run by a shell whose redirection still holds the file:
	 * "(cmd1; cmd2) > file". The cheap look first. */
	if (st.ppid > 1 && holds_file(st.ppid, file->ino))
		return RFS_CLOSER_STILL_OPEN;
	if (anyone_holds_file(rfs_proc_tgid(pid), file))
		return RFS_CLOSER_SHARED;
	return RFS_CLOSER_DONE;
}

pid_t rfs_proc_last_pid(void)
{
	char buf[32];
	ssize_t n;
	int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return (pid_t)strtol(buf, NULL, 10);
}

bool rfs_proc_dying(pid_t pid)
{
	char path[64], buf[2048], *line;
	unsigned long long pending = 0;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT; /* gone: not waiting for anything */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* A fatal signal is turned into SIGKILL pending on every thread of
	 * the process (complete_signal), whatever killed it. */
	line = strstr(buf, "\nSigPnd:");
	if (line)
		pending |= strtoull(line + 8, NULL, 16);
	line = strstr(buf, "\nShdPnd:");
	if (line)
		pending |= strtoull(line + 8, NULL, 16);
	return (pending & (1ULL << (SIGKILL - 1))) != 0;
}

pid_t rfs_proc_tgid(pid_t pid)
{
	char path[64], buf[1024], *line;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return pid;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pid;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return pid;
	buf[n] = '\0';
	line = strstr(buf, "\nTgid:");
	return line ? (pid_t)strtol(line + 6, NULL, 10) : pid;
}

/* The system call a thread is blocked in and its first arguments, from
 * /proc/<tid>/syscall ("NR ARG1 ... ARG6 SP PC", the arguments in hex):
 * the number, or -1 when it runs or we may not look. */
static long current_syscall(pid_t tid, unsigned long long args[2])
{
	char path[64], buf[256], *p, *end;
	ssize_t n;
	long nr;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	nr = strtol(buf, &end, 10);
	if (end == buf || *end != ' ')
		return -1;
	p = end;
	for (int i = 0; i < 2; i++) {
		args[i] = strtoull(p, &end, 16);
		if (end == p)
			return -1;
		p = end;
	}
	return nr;
}

/* The string at addr in the memory of tid (at most size - 1 bytes), read
 * a page at a time so as not to run into an unmapped one. */
static int read_string(pid_t tid, unsigned long long addr, char *out,
		       size_t size)
{
	char path[64];
	size_t got = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (got < size - 1) {
		size_t want = 4096 - (size_t)((addr + got) % 4096);
		ssize_t n;

		if (want > size - 1 - got)
			want = size - 1 - got;
		n = pread(fd, out + got, want, (off_t)(addr + got));
		if (n <= 0)
			break;
		if (memchr(out + got, '\0', (size_t)n)) {
			close(fd);
			return 0;
		}
		got += (size_t)n;
	}
	close(fd);
	return -1;
}

int rfs_proc_mkdir_target(pid_t tid, char *last, size_t size)
{
	unsigned long long args[2];
	char buf[4096], *end, *base;
	long nr = tid > 0 ? current_syscall(tid, args) : -1;
	unsigned long long addr;

	if (nr < 0)
		return 0;
#ifdef SYS_mkdir
	if (nr == SYS_mkdir)
		addr = args[0];
	else
#endif
	    if (nr == SYS_mkdirat)
		addr = args[1];
	else
		return 0;
	if (read_string(tid, addr, buf, sizeof(buf)) != 0)
		return -1;
	/* The last component, trailing slashes aside ("mkdir app/"). */
	end = buf + strlen(buf);
	while (end > buf + 1 && end[-1] == '/')
		*--end = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	snprintf(last, size, "%s", base);
	return 1;
}
