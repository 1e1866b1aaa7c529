/*
 * audit.h - the store's audit log: who published, pushed, pulled, yanked,
 * removed what, which publishes were refused and why, who logged in.
 *
 *   STORE/audit/audit.log   one JSON object a line, appended, never
 *                           rewritten; gc and fsck leave it alone
 *
 * Writing: every event opens the file with O_APPEND, writes its whole line
 * with one write() and closes it. Lines are at most RFS_AUDIT_LINE_MAX
 * bytes (long reasons and names are cut to fit), so the daemon, regctl
 * and regctl serve may all append at once and a reader only ever sees
 * whole lines. Opening per event is also what makes rotation safe: after
 * "mv audit.log audit.log.1" the next event creates a new audit.log, and
 * no writer keeps appending to the old one (one already inside its write
 * finishes its line there).
 *
 * Durability: an event that changed the store and succeeded (publish,
 * push, pin, yank, unyank, remove) is fdatasync()ed before the call
 * returns, after the change it records is committed; other events
 * (logins, refusals, failures, fetches) are not, so that a client
 * hammering the server with bad passwords cannot make it sync per
 * request: they reach the disk with the next synced event or the
 * kernel's writeback. A crash can thus lose at most the line of a change
 * whose commit happened just before it, and unsynced refusals.
 *
 * A failure to write the log never fails what it records: the change is
 * committed by then and cannot be taken back. It is reported through the
 * process's warning function (rfs_audit_setup: the daemon's log, stderr
 * for regctl), at most once a minute, with the number of lines lost.
 *
 * An event line (fields in this order; absent ones are null or left out):
 *
 *   {"time":"2026-12-06T07:40:01.123Z","kind":"publish","result":"ok",
 *    "repo":"app","tag":"v1","digest":"sha256:...","uid":1000,"pid":4242,
 *    "prog":"regfs", "user":"ci", "addr":"192.0.2.7", "reason":"...",
 *    "action":"publish"}
 *
 * time is RFC 3339 UTC with milliseconds; result is "ok", "refused" (a
 * rule said no: a digest mismatch, an existing tag, a wrong password, a
 * hook) or "failed" (something broke: no space, an upstream that is
 * away), with reason for the last two; uid and pid are the local process
 * that acted (the writer of an incoming/ file, regctl, or the daemon or
 * server process itself); user and addr the remote login and address of
 * a regctl serve request ("user" is left out for anonymous requests).
 * A digest mismatch is recorded as kind "verify-failed" with the attempted
 * kind in "action".
 *
 * All functions are thread-safe.
 */
#ifndef RFS_AUDIT_H
#define RFS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "store.h"

/* The kinds of events. */
#define RFS_AUDIT_PUBLISH "publish" /* incoming/, regctl publish */
/* a manifest pushed to regctl serve; or by regctl push, its repository
 * named HOST/REPO */
#define RFS_AUDIT_PUSH		"push"
#define RFS_AUDIT_PULL		"pull"	/* a tag pinned from an upstream */
#define RFS_AUDIT_FETCH		"fetch" /* a blob fetched from an upstream */
#define RFS_AUDIT_COPY		"copy"	/* regctl cp or pull to a local name */
#define RFS_AUDIT_YANK		"yank"
#define RFS_AUDIT_UNYANK	"unyank"
#define RFS_AUDIT_REMOVE	"remove" /* regctl rm, a DELETE to serve */
#define RFS_AUDIT_HOOK_REFUSED	"hook-refused"
#define RFS_AUDIT_VERIFY_FAILED "verify-failed"
#define RFS_AUDIT_SIGN		"sign" /* a signature made (regctl sign, push) */
/* A signature verification that did not pass: one that does not verify is
 * written as verify-failed with action "verify"; none at all, or a
 * registry that could not be read, as "verify" refused or failed. */
#define RFS_AUDIT_VERIFY "verify"
#define RFS_AUDIT_LOGIN	 "login"  /* Basic auth on regctl serve */
#define RFS_AUDIT_DENIED "denied" /* a login without the right */

/* A line, its newline included, is at most this long: one write() of it
 * is never split (a page, and far below what a regular file write could
 * tear). */
#define RFS_AUDIT_LINE_MAX 4096
/* What a reason is cut to before a line is assembled. */
#define RFS_AUDIT_REASON_MAX 1024

struct rfs_audit_event {
	const char *kind; /* RFS_AUDIT_* */
	/* 0: ok. A negative errno: refused (-EACCES, -EPERM, -EEXIST,
	 * -EBADMSG, -EINVAL, -ENOENT, -EROFS) or failed (anything else). */
	int rc;
	const char *reason;		 /* NULL: strerror(-rc) when rc < 0 */
	const char *repo, *tag, *digest; /* or NULL */
	/* The local process that acted; 0: this one. Its uid is read from
	 * /proc when uid is -1 (unknown if it is gone). */
	pid_t pid;
	int64_t uid;
	const char *user; /* a remote login, or NULL */
	const char *addr; /* a remote address, or NULL */
	int64_t time_ns;  /* 0: now */
};

/* Who this process is, for the "prog" field ("regfs", "regctl", "regctl
 * serve"), and where to report that the log cannot be written (NULL:
 * stderr). Call once, before any event; a process that never calls it
 * is "regctl" reporting to stderr. */
typedef void (*rfs_audit_warn_fn)(const char *message);
void rfs_audit_setup(const char *prog, rfs_audit_warn_fn warn);

/* Append ev to store's audit log. Returns 0 or a negative errno, already
 * reported through the warning function: callers may ignore it. */
int rfs_audit_event(struct rfs_store *store, const struct rfs_audit_event *ev);

/* The one-line form for this process's own actions: kind on repo:tag
 * (digest), with rc and err's message as result and reason. */
int rfs_audit(struct rfs_store *store, const char *kind, int rc,
	      const struct rfs_error *err, const char *repo, const char *tag,
	      const char *digest);

/* The file: STORE/audit/audit.log. */
int rfs_audit_path(const struct rfs_store *store, char *buf, size_t size);

/* --- formatting and reading (regctl audit, tests) --- */

/* "ok", "refused" or "failed" for rc. */
const char *rfs_audit_result(int rc);

/* Format ev as its line, newline included, into buf (at least
 * RFS_AUDIT_LINE_MAX bytes), with prog, the pid and uid given (ev's are
 * not looked up here). Returns the length, or a negative errno. */
ssize_t rfs_audit_format(const struct rfs_audit_event *ev, const char *prog,
			 pid_t pid, int64_t uid, char *buf, size_t size);

/* A line read back. Strings are "" when absent; uid and pid -1. */
struct rfs_audit_entry {
	int64_t time_ns;
	char time[32];
	char kind[32];
	char result[16];
	char action[32];
	char repo[RFS_REPO_MAX + 1];
	char tag[RFS_TAG_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1];
	char prog[32];
	char user[256];
	char addr[64];
	char reason[RFS_AUDIT_REASON_MAX + 1];
	int64_t uid, pid;
};
/* Parse one line (without its newline). -EINVAL when it is not an event
 * (not JSON, no valid time or kind). */
int rfs_audit_parse(const char *line, size_t len, struct rfs_audit_entry *out);

/* RFC 3339 ("2026-12-06T07:40:01Z", "...01.123Z", "...01+02:00", a date
 * alone) to nanoseconds since the epoch; -EINVAL for a time outside what
 * they hold (1677 to 2262). */
int rfs_audit_parse_time(const char *s, int64_t *ns);
/* What --since takes: an RFC 3339 time, or a duration before now_ns
 * ("90s", "15m", "1h", "2d", "1w", or several: "1h30m"). */
int rfs_audit_parse_since(const char *s, int64_t now_ns, int64_t *ns);
/* RFC 3339 UTC with milliseconds: "2026-12-06T07:40:01.123Z". */
void rfs_audit_format_time(int64_t ns, char buf[32]);

/* Does entry e pass the filters (NULL: no filter)? repo matches itself
 * and the repositories under it ("org" matches "org/app"); kinds is a
 * comma-separated list, and a kind also matches an entry whose action
 * it is (--kind publish shows verify failures of publishes). */
bool rfs_audit_match(const struct rfs_audit_entry *e, int64_t since_ns,
		     const char *repo, const char *kinds);

#endif
