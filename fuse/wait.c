/*
 * wait.c - opens that wait for a download: bounded and interruptible.
 *
 * Opening a file whose blob is not in the store yet waits for its fetch
 * from an upstream, which may be slow, or trickle for ever just above
 * min_rate. While the daemon has not answered, the opener sits in the
 * kernel, and once it is sent SIGKILL it waits in D state, immune to
 * everything, for our answer. So every such wait ends, at the latest:
 *
 *   - when the opener gets a signal: the kernel sends FUSE_INTERRUPT and
 *     libfuse calls us (fuse_req_interrupt_func); the open fails with EINTR;
 *   - at open_timeout (regfs.conf) after it began, however large the blob
 *     says it is: the open fails with ETIMEDOUT.
 *
 * The download goes on for later readers either way. A waiting open is
 * listed in fs->waits; whoever takes it off the list (the download's
 * callback, the interrupt, the watcher thread at the deadline) answers it,
 * exactly once. Its memory is the download callback's to free, which is
 * always called once the fetch is started.
 *
 * Lock order: libfuse's request lock, then fs->wait_lock, then libfuse's
 * session lock (taken by replies).
 */
#include <errno.h>
#include <time.h>

#include "regfs.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void unlist_locked(struct regfs *fs, struct regfs_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		fs->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->listed = false;
}

/* libfuse's interrupt callback: data is fs, which outlives every request;
 * the request is alive while we are called. */
static void interrupted(fuse_req_t req, void *data)
{
	struct regfs *fs = data;
	struct regfs_wait *w;

	pthread_mutex_lock(&fs->wait_lock);
	for (w = fs->waits; w; w = w->next)
		if (w->req == req)
			break;
	if (w) {
		unlist_locked(fs, w);
		regfs_log(REGFS_LOG_INFO,
			  "open of %s interrupted while it was being fetched: "
			  "EINTR (the download goes on)",
			  w->what);
		fuse_reply_err(req, EINTR);
	}
	pthread_mutex_unlock(&fs->wait_lock);
}

int regfs_wait_begin(struct regfs *fs, struct regfs_wait *w, fuse_req_t req)
{
	int rc = 0;

	w->req = req;
	w->deadline_ns = now_ns() + fs->open_timeout_ms * 1000000;
	/* Before it is listed, nobody can answer it: the request is alive. */
	fuse_req_interrupt_func(req, interrupted, fs);
	pthread_mutex_lock(&fs->wait_lock);
	/* An interrupt that came before it was listed found nothing. */
	if (fuse_req_interrupted(req)) {
		rc = -EINTR;
	} else {
		w->prev = NULL;
		w->next = fs->waits;
		if (w->next)
			w->next->prev = w;
		fs->waits = w;
		w->listed = true;
	}
	pthread_mutex_unlock(&fs->wait_lock);
	return rc;
}

bool regfs_wait_end(struct regfs *fs, struct regfs_wait *w)
{
	bool mine;

	pthread_mutex_lock(&fs->wait_lock);
	mine = w->listed;
	if (mine)
		unlist_locked(fs, w);
	pthread_mutex_unlock(&fs->wait_lock);
	return mine;
}

void regfs_wait_expire(struct regfs *fs)
{
	int64_t now = now_ns();
	struct regfs_wait *w, *next;

	pthread_mutex_lock(&fs->wait_lock);
	for (w = fs->waits; w; w = next) {
		next = w->next;
		if (w->deadline_ns > now)
			continue;
		unlist_locked(fs, w);
		regfs_log(REGFS_LOG_ERROR,
			  "open of %s: not fetched within open_timeout "
			  "(%lld s): ETIMEDOUT (the download goes on)",
			  w->what, (long long)(fs->open_timeout_ms / 1000));
		fuse_reply_err(w->req, ETIMEDOUT);
	}
	pthread_mutex_unlock(&fs->wait_lock);
}
