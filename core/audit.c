/*
 * audit.c - the store's audit log (see audit.h): events formatted with
 * jansson, appended a whole line per write(), read back for regctl audit.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "catalog.h"
#include "names.h"

/* A warning about a log that cannot be written, at most this often. */
#define WARN_INTERVAL_NS (60 * 1000000000LL)

static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;
static char audit_prog[32] = "regctl";
static rfs_audit_warn_fn audit_warn;
static int64_t last_warn_ns;
static bool warned;
static unsigned long lost; /* lines not written since the last warning */

void rfs_audit_setup(const char *prog, rfs_audit_warn_fn warn)
{
	pthread_mutex_lock(&audit_lock);
	snprintf(audit_prog, sizeof(audit_prog), "%s", prog ? prog : "regctl");
	audit_warn = warn;
	pthread_mutex_unlock(&audit_lock);
}

const char *rfs_audit_result(int rc)
{
	switch (rc) {
	case 0: return "ok";
	case -EACCES:
	case -EPERM:
	case -EEXIST:
	case -EBADMSG:
	case -EINVAL:
	case -ENOENT:
	case -EROFS: return "refused";
	default: return "failed";
	}
}

/* Events after which the store holds something new (or lost something):
 * synced when they succeed (see audit.h). */
static bool changes_store(const char *kind)
{
	static const char *const kinds[] = {
		RFS_AUDIT_PUBLISH, RFS_AUDIT_PUSH, RFS_AUDIT_PULL,
		RFS_AUDIT_COPY,	   RFS_AUDIT_YANK, RFS_AUDIT_UNYANK,
		RFS_AUDIT_REMOVE,
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

void rfs_audit_format_time(int64_t ns, char buf[32])
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	char day[24];

	if (ns < 0)
		t = 0;
	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 32, "%s.%03dZ", day,
		 ns < 0 ? 0 : (int)(ns / 1000000 % 1000));
}

/* A JSON string of at most max bytes of s: bytes that are not UTF-8
 * become '?', and a cut never splits a character. NULL s: null. */
static json_t *bounded_string(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, out = 0;
	json_t *j;
	char *buf;

	if (!s)
		return json_null();
	n = strlen(s);
	buf = malloc((n < max ? n : max) + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = rfs_utf8_next(p + i, n - i, &cp);

		if (out + (len ? len : 1) > max)
			break;
		if (len) {
			memcpy(buf + out, p + i, len);
			out += len;
			i += len;
		} else {
			buf[out++] = '?';
			i++;
		}
	}
	j = json_stringn(buf, out);
	free(buf);
	return j;
}

static int set(json_t *o, const char *key, json_t *value)
{
	return value && json_object_set_new(o, key, value) == 0 ? 0 : -ENOMEM;
}

/* ev as a JSON object, each free-form string cut to cap bytes (the
 * reason to reason_cap). */
static json_t *event_json(const struct rfs_audit_event *ev, const char *prog,
			  pid_t pid, int64_t uid, size_t cap, size_t reason_cap)
{
	bool mismatch = ev->rc == -EBADMSG &&
			strcmp(ev->kind, RFS_AUDIT_VERIFY_FAILED) != 0;
	const char *reason = ev->reason;
	json_t *o = json_object();
	char when[32];
	int rc = 0;

	if (!o)
		return NULL;
	if (ev->rc < 0 && (!reason || !*reason))
		reason = strerror(-ev->rc);
	if (reason && !*reason)
		reason = NULL;
	rfs_audit_format_time(ev->time_ns ? ev->time_ns : rfs_now_ns(), when);
	rc |= set(o, "time", json_string(when));
	rc |= set(
	    o, "kind",
	    bounded_string(mismatch ? RFS_AUDIT_VERIFY_FAILED : ev->kind, 31));
	rc |= set(o, "result", json_string(rfs_audit_result(ev->rc)));
	rc |= set(o, "repo", bounded_string(ev->repo, cap));
	rc |= set(o, "tag", bounded_string(ev->tag, cap));
	rc |= set(o, "digest", bounded_string(ev->digest, cap));
	rc |= set(o, "uid", uid >= 0 ? json_integer(uid) : json_null());
	rc |= set(o, "pid", pid > 0 ? json_integer(pid) : json_null());
	rc |= set(o, "prog", bounded_string(prog, 31));
	if (ev->user)
		rc |= set(o, "user", bounded_string(ev->user, cap));
	if (ev->addr)
		rc |= set(o, "addr", bounded_string(ev->addr, 63));
	if (reason)
		rc |= set(o, "reason", bounded_string(reason, reason_cap));
	if (mismatch)
		rc |= set(o, "action", bounded_string(ev->kind, 31));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

ssize_t rfs_audit_format(const struct rfs_audit_event *ev, const char *prog,
			 pid_t pid, int64_t uid, char *buf, size_t size)
{
	size_t cap = 512, reason_cap = RFS_AUDIT_REASON_MAX;

	if (!ev || !ev->kind || !*ev->kind || size < 2)
		return -EINVAL;
	for (;;) {
		json_t *o = event_json(ev, prog, pid, uid, cap, reason_cap);
		size_t n;

		if (!o)
			return -ENOMEM;
		n = json_dumpb(o, buf, size - 1, JSON_COMPACT);
		json_decref(o);
		if (n > 0 && n <= size - 2 && n < RFS_AUDIT_LINE_MAX) {
			buf[n++] = '\n';
			buf[n] = '\0';
			return (ssize_t)n;
		}
		/* Escapes can make a string six times its bytes: cut the
		 * reason first, then everything, until it fits. */
		if (reason_cap > 64)
			reason_cap /= 2;
		else if (cap > 16)
			cap /= 2, reason_cap = cap;
		else
			return -E2BIG;
	}
}

/* The real uid of process pid, or -1. */
static int64_t uid_of(pid_t pid)
{
	char path[64], line[256];
	int64_t uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long long u;

		if (sscanf(line, "Uid: %lld", &u) == 1) {
			uid = u;
			break;
		}
	}
	fclose(f);
	return uid;
}

int rfs_audit_path(const struct rfs_store *store, char *buf, size_t size)
{
	int n =
	    snprintf(buf, size, "%s/audit/audit.log", rfs_store_root(store));

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void report(const char *path, int rc)
{
	rfs_audit_warn_fn warn;
	char msg[PATH_MAX + 160];
	int64_t now = rfs_now_ns();
	unsigned long n;

	pthread_mutex_lock(&audit_lock);
	lost++;
	if (warned && now - last_warn_ns < WARN_INTERVAL_NS) {
		pthread_mutex_unlock(&audit_lock);
		return;
	}
	warned = true;
	last_warn_ns = now;
	n = lost;
	lost = 0;
	warn = audit_warn;
	pthread_mutex_unlock(&audit_lock);
	snprintf(msg, sizeof(msg),
		 "cannot write the audit log '%s': %s (%lu event%s not "
		 "recorded)",
		 path, strerror(-rc), n, n == 1 ? "" : "s");
	if (warn)
		warn(msg);
	else
		fprintf(stderr, "%s: %s\n", audit_prog, msg);
}

static int append(const char *path, const char *line, size_t len, bool sync)
{
	int fd, rc = 0;
	ssize_t n;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		  0640);
	if (fd < 0 && errno == ENOENT) {
		char dir[PATH_MAX];
		char *slash;

		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		fd =
		    open(path,
			 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			 0640);
	}
	if (fd < 0)
		return -errno;
	do
		n = write(fd, line, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != len)
		rc = -EIO; /* a torn line: readers skip it */
	if (!rc && sync && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int rfs_audit_event(struct rfs_store *store, const struct rfs_audit_event *ev)
{
	char path[PATH_MAX], line[RFS_AUDIT_LINE_MAX + 1], prog[32];
	pid_t pid = ev->pid > 0 ? ev->pid : getpid();
	int64_t uid = ev->uid;
	ssize_t len;
	int rc;

	if (ev->pid <= 0)
		uid = (int64_t)getuid();
	else if (uid < 0)
		uid = uid_of(ev->pid);
	pthread_mutex_lock(&audit_lock);
	memcpy(prog, audit_prog, sizeof(prog));
	pthread_mutex_unlock(&audit_lock);
	rc = rfs_audit_path(store, path, sizeof(path));
	if (rc)
		return rc;
	len = rfs_audit_format(ev, prog, pid, uid, line, sizeof(line));
	rc = len < 0 ? (int)len
		     : append(path, line, (size_t)len,
			      ev->rc == 0 && changes_store(ev->kind));
	if (rc)
		report(path, rc);
	return rc;
}

int rfs_audit(struct rfs_store *store, const char *kind, int rc,
	      const struct rfs_error *err, const char *repo, const char *tag,
	      const char *digest)
{
	struct rfs_audit_event ev = {
		.kind = kind,
		.rc = rc,
		.reason = rc && err && err->msg[0] ? err->msg : NULL,
		.repo = repo,
		.tag = tag,
		.digest = digest && *digest ? digest : NULL,
		.uid = -1,
	};

	return rfs_audit_event(store, &ev);
}

/* --- reading ------------------------------------------------------------ */

static void get_str(json_t *o, const char *key, char *buf, size_t size)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(buf, size, "%s", s ? s : "");
}

static int64_t get_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

int rfs_audit_parse(const char *line, size_t len, struct rfs_audit_entry *out)
{
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o))
		goto out;
	get_str(o, "time", out->time, sizeof(out->time));
	get_str(o, "kind", out->kind, sizeof(out->kind));
	get_str(o, "result", out->result, sizeof(out->result));
	get_str(o, "action", out->action, sizeof(out->action));
	get_str(o, "repo", out->repo, sizeof(out->repo));
	get_str(o, "tag", out->tag, sizeof(out->tag));
	get_str(o, "digest", out->digest, sizeof(out->digest));
	get_str(o, "prog", out->prog, sizeof(out->prog));
	get_str(o, "user", out->user, sizeof(out->user));
	get_str(o, "addr", out->addr, sizeof(out->addr));
	get_str(o, "reason", out->reason, sizeof(out->reason));
	out->uid = get_int(o, "uid");
	out->pid = get_int(o, "pid");
	if (!out->kind[0] || rfs_audit_parse_time(out->time, &out->time_ns))
		goto out;
	rc = 0;
out:
	json_decref(o);
	return rc;
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int rfs_audit_parse_time(const char *s, int64_t *ns)
{
	int year = digits(s, 4), mon, day, h = 0, m = 0, sec = 0;
	int64_t frac = 0, offset = 0, t;
	struct tm tm = { 0 };

	if (year < 0 || s[4] != '-' || (mon = digits(s + 5, 2)) < 1 ||
	    mon > 12 || s[7] != '-' || (day = digits(s + 8, 2)) < 1 || day > 31)
		return -EINVAL;
	s += 10;
	if (*s) {
		if (*s != 'T' && *s != 't' && *s != ' ')
			return -EINVAL;
		h = digits(s + 1, 2);
		if (h < 0 || h > 23 || s[3] != ':' ||
		    (m = digits(s + 4, 2)) < 0 || m > 59 || s[6] != ':' ||
		    (sec = digits(s + 7, 2)) < 0 || sec > 60)
			return -EINVAL;
		s += 9;
		if (*s == '.') {
			int64_t scale = 100000000;

			if (!isdigit((unsigned char)s[1]))
				return -EINVAL;
			for (s++; isdigit((unsigned char)*s); s++) {
				frac += (*s - '0') * scale;
				scale /= 10;
			}
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			int oh = digits(s + 1, 2), om;

			/* The minutes only once the hours and ':' are there:
			 * s + 4 may be past the string's end. */
			if (oh < 0 || oh > 23 || s[3] != ':' ||
			    (om = digits(s + 4, 2)) < 0 || om > 59)
				return -EINVAL;
			offset = (oh * 3600 + om * 60) * (*s == '+' ? 1 : -1);
			s += 6;
		} else {
			return -EINVAL;
		}
		if (*s)
			return -EINVAL;
	}
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	if (tm.tm_mday != day) /* Feb 30 */
		return -EINVAL;
	t -= offset;
	/* Nanoseconds in an int64_t span 1677 to 2262: a year outside is
	 * refused, not overflowed. */
	if (t > INT64_MAX / 1000000000 - 1 || t < INT64_MIN / 1000000000 + 1)
		return -EINVAL;
	*ns = t * 1000000000 + frac;
	return 0;
}

int rfs_audit_parse_since(const char *s, int64_t now_ns, int64_t *ns)
{
	int64_t total = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (*p) {
		char *end;
		unsigned long long v;
		int64_t unit;

		if (!isdigit((unsigned char)*p))
			return rfs_audit_parse_time(s, ns);
		errno = 0;
		v = strtoull(p, &end, 10);
		if (end == p || errno || v > 1000000000ULL)
			return rfs_audit_parse_time(s, ns);
		switch (*end) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return rfs_audit_parse_time(s, ns);
		}
		total += (int64_t)v * unit;
		if (total > 100LL * 365 * 86400)
			return -EINVAL;
		p = end + 1;
	}
	*ns = now_ns - total * 1000000000;
	return 0;
}

static bool kind_listed(const char *kinds, const char *kind)
{
	size_t n = strlen(kind);

	if (!*kind)
		return false;
	for (const char *p = kinds; *p;) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, kind, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

bool rfs_audit_match(const struct rfs_audit_entry *e, int64_t since_ns,
		     const char *repo, const char *kinds)
{
	if (e->time_ns < since_ns)
		return false;
	if (repo && *repo) {
		size_t n = strlen(repo);

		while (n > 1 && repo[n - 1] == '/')
			n--;
		if (strncmp(e->repo, repo, n) != 0 ||
		    (e->repo[n] != '\0' && e->repo[n] != '/'))
			return false;
	}
	if (kinds && *kinds && !kind_listed(kinds, e->kind) &&
	    !kind_listed(kinds, e->action))
		return false;
	return true;
}
