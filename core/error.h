/*
 * error.h - how core reports failure.
 *
 * Every core function returns 0 (or a count) on success and a negative errno
 * on failure. When the caller wants more than an errno, it passes a
 * struct rfs_error; core fills in a one-line, lowercase message without a
 * final stop ("digest mismatch for 'app:v1': ..."). The daemon logs it, regctl
 * prints it. A NULL struct rfs_error is always accepted.
 *
 * Errors from foreign domains (SQLite today; curl and HTTP later) are mapped
 * to errno here, in one table per domain, so that no other file guesses.
 */
#ifndef RFS_ERROR_H
#define RFS_ERROR_H

#define RFS_ERROR_MSG_MAX 512

struct rfs_error {
	int code; /* negative errno, 0 when unset */
	char msg[RFS_ERROR_MSG_MAX];
};

/* Record a failure and return code (a negative errno) for tail calls. */
int rfs_error_set(struct rfs_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void rfs_error_clear(struct rfs_error *err);

/* The message if one was set, otherwise strerror of code. */
const char *rfs_error_message(const struct rfs_error *err, int code);

/* Map a SQLite result code to a negative errno. */
int rfs_errno_from_sqlite(int sqlite_rc);

#endif
