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

/* Two reasons to stop as one (either may be NULL): set up with
 * rfs_cancel_either, which returns the struct rfs_cancel to hand on. */
struct rfs_cancel_either {
	struct rfs_cancel cancel;
	const struct rfs_cancel *a, *b;
};

static inline bool rfs_cancel_either_asked(void *ctx)
{
	const struct rfs_cancel_either *e = ctx;

	return rfs_cancelled(e->a) || rfs_cancelled(e->b);
}

static inline const struct rfs_cancel *
rfs_cancel_either(struct rfs_cancel_either *e, const struct rfs_cancel *a,
		  const struct rfs_cancel *b)
{
	*e = (struct rfs_cancel_either){ { rfs_cancel_either_asked, e }, a, b };
	return &e->cancel;
}

#endif
