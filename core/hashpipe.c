/*
 * hashpipe.c - append to a file in large chunks while a helper thread
 * hashes them (see hashpipe.h).
 *
 * A ring of N_CHUNKS buffers. The appending thread fills chunk number
 * `handed % N_CHUNKS` and hands it over when full (handed++). Two helper
 * threads take the chunks in order: the writer writes them (written++),
 * the hasher hashes them (hashed++). A chunk is filled again once both are
 * done with it, so neither falls more than N_CHUNKS behind, and receiving,
 * writing and hashing all run at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashpipe.h"

#define CHUNK_SIZE (1u << 20)
#define N_CHUNKS   8

struct chunk {
	char *data;
	size_t len;
};

struct rfs_hashpipe {
	int fd;
	uint64_t start; /* where chunk number 0 goes */
	struct rfs_hasher *hasher;
	struct chunk chunks[N_CHUNKS];
	pthread_t writer, hasher_thread;
	int threads; /* started: 0, 1 (the writer) or 2 */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any side waiting for another */
	uint64_t handed;     /* chunks handed over by the appender */
	uint64_t written;    /* chunks the writer is done with */
	uint64_t hashed;     /* chunks the hasher is done with */
	bool finishing;	     /* nothing more will be handed over */
	bool finished;
	int rc; /* the first error, of any side */
};

int rfs_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

/* The writer and the hasher: each takes the chunks handed over, in order,
 * and counts them off in *done. */
static void consume(struct rfs_hashpipe *p, uint64_t *done, bool writing)
{
	pthread_mutex_lock(&p->lock);
	for (;;) {
		uint64_t k = *done;
		struct chunk *c;
		int rc;

		if (k == p->handed) {
			if (p->finishing || p->rc)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		c = &p->chunks[k % N_CHUNKS];
		pthread_mutex_unlock(&p->lock);
		/* Every chunk but the last is full. */
		rc = writing
			 ? rfs_pwrite_all(p->fd, c->data, c->len,
					  p->start + k * (uint64_t)CHUNK_SIZE)
			 : rfs_hasher_update(p->hasher, c->data, c->len);
		pthread_mutex_lock(&p->lock);
		if (rc && !p->rc)
			p->rc = rc;
		*done = k + 1;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
}

static void *write_chunks(void *arg)
{
	struct rfs_hashpipe *p = arg;

	consume(p, &p->written, true);
	return NULL;
}

static void *hash_chunks(void *arg)
{
	struct rfs_hashpipe *p = arg;

	consume(p, &p->hashed, false);
	return NULL;
}

int rfs_hashpipe_new(int fd, uint64_t offset, struct rfs_hasher *hasher,
		     struct rfs_hashpipe **out)
{
	struct rfs_hashpipe *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->start = offset;
	p->hasher = hasher;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (int i = 0; i < N_CHUNKS; i++) {
		p->chunks[i].data = malloc(CHUNK_SIZE);
		if (!p->chunks[i].data) {
			rfs_hashpipe_free(&p);
			return -ENOMEM;
		}
	}
	rc = -pthread_create(&p->writer, NULL, write_chunks, p);
	if (!rc) {
		p->threads = 1;
		rc = -pthread_create(&p->hasher_thread, NULL, hash_chunks, p);
	}
	if (rc) {
		rfs_hashpipe_free(&p);
		return rc;
	}
	p->threads = 2;
	*out = p;
	return 0;
}

/* Hand the chunk being filled to the writer and the hasher. */
static void hand_over(struct rfs_hashpipe *p)
{
	pthread_mutex_lock(&p->lock);
	p->handed++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* The chunk to fill next, once both sides are done with it; NULL after an
 * error. */
static struct chunk *chunk_to_fill(struct rfs_hashpipe *p, int *rc)
{
	struct chunk *c = &p->chunks[p->handed % N_CHUNKS];
	bool fresh = c->len == 0 || c->len == CHUNK_SIZE;

	pthread_mutex_lock(&p->lock);
	while (fresh && !p->rc &&
	       (p->handed - p->written >= N_CHUNKS ||
		p->handed - p->hashed >= N_CHUNKS))
		pthread_cond_wait(&p->cond, &p->lock);
	*rc = p->rc;
	pthread_mutex_unlock(&p->lock);
	if (*rc)
		return NULL;
	if (fresh)
		c->len = 0;
	return c;
}

int rfs_hashpipe_append(struct rfs_hashpipe *p, const void *buf, size_t len)
{
	const char *in = buf;
	int rc = 0;

	if (p->finished)
		return -EINVAL;
	while (len > 0) {
		struct chunk *c = chunk_to_fill(p, &rc);
		size_t k;

		if (!c)
			return rc;
		k = CHUNK_SIZE - c->len;
		if (k > len)
			k = len;
		memcpy(c->data + c->len, in, k);
		c->len += k;
		in += k;
		len -= k;
		if (c->len == CHUNK_SIZE)
			hand_over(p);
	}
	return 0;
}

int rfs_hashpipe_finish(struct rfs_hashpipe *p)
{
	struct chunk *c = &p->chunks[p->handed % N_CHUNKS];

	if (p->finished)
		return p->rc;
	p->finished = true;
	/* A partly filled chunk is the last one. */
	if (c->len > 0 && c->len < CHUNK_SIZE)
		hand_over(p);
	pthread_mutex_lock(&p->lock);
	p->finishing = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->threads > 0)
		pthread_join(p->writer, NULL);
	if (p->threads > 1)
		pthread_join(p->hasher_thread, NULL);
	p->threads = 0;
	return p->rc;
}

void rfs_hashpipe_free(struct rfs_hashpipe **pipep)
{
	struct rfs_hashpipe *p = pipep ? *pipep : NULL;

	if (!p)
		return;
	rfs_hashpipe_finish(p);
	for (int i = 0; i < N_CHUNKS; i++)
		free(p->chunks[i].data);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	*pipep = NULL;
}
