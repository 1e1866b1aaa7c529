/*
 * cancel.h - how a long operation asks whether whoever waits for it still
 * wants it.
 *
 * A seal of a large file hashes for seconds; the process that closed it
 * may be killed meanwhile, and then nothing must be sealed. The caller
 * hands in a struct rfs_cancel; the operation asks it between steps (a
 * chunk hashed, before the commit) and stops with -EINTR when it says so.
 * A NULL struct rfs_cancel, or one without a function, never cancels.
 */
#ifndef RFS_CANCEL_H
#define RFS_CANCEL_H

#include <stdbool.h>
#include <stddef.h>

struct rfs_cancel {
	/* True when the operation should stop. Called from the thread doing
	 * the work, at most every few milliseconds of it. */
	bool (*cancelled)(void *ctx);
	void *ctx;
};

static inline bool rfs_cancelled(const struct rfs_cancel *c)
{
	return c && c->cancelled && c->cancelled(c->ctx);
}

#endif
