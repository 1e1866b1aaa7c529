/*
 * offload.c - requests that may wait long, served off libfuse's threads.
 *
 * libfuse reads the kernel's requests with a few threads (10 unless -o
 * max_threads says otherwise), each serving the request it read before it
 * reads another. A request that waits on something slow, an upstream's
 * answer or a seal (hashing, fsync, the seal hook), holds its thread for
 * as long: ten of them at once, and the mount answers nobody else. Reads
 * of sealed tags wait, and so do the kernel's interrupts for the waiting
 * requests themselves, which nobody reads: a Ctrl-C does nothing until an
 * upstream answers.
 *
 * So ops.c hands such requests to the threads here and goes back to the
 * device. A thread is started for a job when no idle one can take it, up
 * to OFFLOAD_THREADS_MAX; past that, jobs queue. A thread idle for
 * OFFLOAD_IDLE_S ends. Every job is run once, queued or not, even while
 * stopping: it answers its request, which the kernel waits for.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inode.h"
#include "regfs.h"

/* Threads at once. Each serves a caller that waits on us, for an upstream
 * call or a seal, so as many are needed as callers wait: a job queued
 * behind them waits for one to end, fast or not, and sees its caller's
 * interrupt only when it starts. The limit only stops a flood of callers
 * from making threads without end; a thread costs its stack's address
 * space, most of it never touched. */
#define OFFLOAD_THREADS_MAX 1024
#define OFFLOAD_IDLE_S	    10

struct regfs_offload {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stop */
	pthread_cond_t gone; /* a thread ended */
	struct regfs_job *head, **tail;
	unsigned queued;  /* jobs in the queue */
	unsigned threads; /* running */
	unsigned idle;	  /* of those, waiting for a job */
	atomic_bool stopping;
};

static void *offload_thread(void *arg)
{
	struct regfs_offload *o = arg;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		struct regfs_job *job = o->head;
		struct timespec until;
		int rc;

		if (job) {
			o->head = job->next;
			if (!o->head)
				o->tail = &o->head;
			o->queued--;
			pthread_mutex_unlock(&o->lock);
			job->run(job);
			pthread_mutex_lock(&o->lock);
			continue;
		}
		if (atomic_load(&o->stopping))
			break;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += OFFLOAD_IDLE_S;
		o->idle++;
		rc = pthread_cond_timedwait(&o->work, &o->lock, &until);
		o->idle--;
		if (rc == ETIMEDOUT && !o->head)
			break;
	}
	o->threads--;
	pthread_cond_broadcast(&o->gone);
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* Under o->lock. Signals stay with the main thread, as with libfuse's. */
static int start_thread_locked(struct regfs_offload *o)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	int rc;

	if (pthread_attr_init(&attr) != 0)
		return -ENOMEM;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&t, &attr, offload_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -rc;
	o->threads++;
	return 0;
}

int regfs_offload_start(struct regfs *fs)
{
	struct regfs_offload *o = calloc(1, sizeof(*o));
	pthread_condattr_t attr;

	if (!o)
		return -ENOMEM;
	pthread_mutex_init(&o->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&o->work, &attr);
	pthread_condattr_destroy(&attr);
	pthread_cond_init(&o->gone, NULL);
	o->tail = &o->head;
	atomic_init(&o->stopping, false);
	fs->offload = o;
	return 0;
}

bool regfs_offload(struct regfs *fs, struct regfs_job *job)
{
	struct regfs_offload *o = fs->offload;

	if (!o)
		return false;
	pthread_mutex_lock(&o->lock);
	if (atomic_load(&o->stopping)) {
		/* The threads may be gone: the caller serves it. */
		pthread_mutex_unlock(&o->lock);
		return false;
	}
	/* More jobs queued than idle threads to take them: one more thread,
	 * so that no job waits behind another one's upstream. */
	if (o->idle <= o->queued && o->threads < OFFLOAD_THREADS_MAX &&
	    start_thread_locked(o) != 0 && o->threads == 0) {
		pthread_mutex_unlock(&o->lock);
		return false; /* nobody to run it: the caller does */
	}
	job->next = NULL;
	*o->tail = job;
	o->tail = &job->next;
	o->queued++;
	pthread_cond_signal(&o->work);
	pthread_mutex_unlock(&o->lock);
	return true;
}

bool regfs_offload_stopping(struct regfs *fs)
{
	return fs->offload && atomic_load(&fs->offload->stopping);
}

void regfs_offload_stop(struct regfs *fs)
{
	struct regfs_offload *o = fs->offload;

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	atomic_store(&o->stopping, true);
	pthread_cond_broadcast(&o->work);
	while (o->threads > 0)
		pthread_cond_wait(&o->gone, &o->lock);
	pthread_mutex_unlock(&o->lock);
	pthread_cond_destroy(&o->work);
	pthread_cond_destroy(&o->gone);
	pthread_mutex_destroy(&o->lock);
	free(o);
	fs->offload = NULL;
}

/* Slow requests (regfs.h) */

static void slow_run(struct regfs_job *job)
{
	struct regfs_slow_req *s = (struct regfs_slow_req *)job;

	s->serve(s);
	free(s);
}

struct regfs_slow_req *regfs_slow_new(fuse_req_t req,
				      void (*serve)(struct regfs_slow_req *s),
				      const char *name, const char *newname)
{
	size_t n = name ? strlen(name) + 1 : 0;
	size_t m = newname ? strlen(newname) + 1 : 0;
	struct regfs_slow_req *s = calloc(1, sizeof(*s) + n + m);

	if (!s)
		return NULL;
	s->job.run = slow_run;
	s->serve = serve;
	s->req = req;
	if (name)
		s->name = memcpy(s->names, name, n);
	if (newname)
		s->newname = memcpy(s->names + n, newname, m);
	return s;
}

bool regfs_slow_start(struct regfs_slow_req *s)
{
	if (s && regfs_offload(regfs_data(s->req), &s->job))
		return true;
	free(s);
	return false;
}

bool regfs_may_ask_upstream(fuse_req_t req, fuse_ino_t ino)
{
	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_NONE:
	case RFS_NODE_ROOT:
	case RFS_NODE_INCOMING_TOP:
	case RFS_NODE_INCOMING_DIR:
	case RFS_NODE_STAGED:
	case RFS_NODE_INCOMING_PENDING: return false;
	default: return rfs_pull_serves(regfs_data(req)->pull, "");
	}
}

/* Upstream waits (regfs.h) */

static void upstream_wait_interrupted(fuse_req_t req, void *data)
{
	struct regfs_upstream_wait *w = data;

	atomic_store(&w->interrupted, true);
}

static bool upstream_wait_cancelled(void *ctx)
{
	struct regfs_upstream_wait *w = ctx;

	/* or the daemon is stopping (regfs_offload_stop) */
	return atomic_load(&w->interrupted) || regfs_offload_stopping(w->fs);
}

void regfs_upstream_wait_begin(fuse_req_t req, struct regfs_upstream_wait *w)
{
	/* A store without upstreams asks nobody: its lookups, the hot path,
	 * pay for none of this. */
	w->fs = regfs_data(req);
	w->active = rfs_pull_serves(w->fs->pull, ""); /* the root */
	atomic_init(&w->interrupted, false);
	if (!w->active)
		return;
	w->cancel = (struct rfs_cancel){ upstream_wait_cancelled, w };
	/* Called at once when the interrupt came already. */
	fuse_req_interrupt_func(req, upstream_wait_interrupted, w);
	w->outer = rfs_upstream_cancel_on_thread(&w->cancel);
}

bool regfs_upstream_wait_end(fuse_req_t req, struct regfs_upstream_wait *w)
{
	if (!w->active)
		return false;
	rfs_upstream_cancel_on_thread(w->outer);
	/* Waits for a call of upstream_wait_interrupted under way. */
	fuse_req_interrupt_func(req, NULL, NULL);
	return atomic_load(&w->interrupted) || regfs_offload_stopping(w->fs);
}
