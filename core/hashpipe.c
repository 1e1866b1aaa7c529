/*
 * hashpipe.c - append to a file in large chunks while a helper thread
 * hashes them (see hashpipe.h).
 *
 * A ring of N_CHUNKS buffers. The appending thread fills chunk number
 * `handed % N_CHUNKS`, writes it when full and hands it over (handed++);
 * the helper thread hashes chunk number `hashed % N_CHUNKS` and gives it
 * back (hashed++). The appender waits only when all chunks are with the
 * hasher, so the hash never falls more than N_CHUNKS behind.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashpipe.h"

#define CHUNK_SIZE (1u << 20)
#define N_CHUNKS   4

struct chunk {
	char *data;
	size_t len;
};

struct rfs_hashpipe {
	int fd;
	uint64_t offset; /* where the chunk being filled goes */
	struct rfs_hasher *hasher;
	struct chunk chunks[N_CHUNKS];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* either side waiting for the other */
	uint64_t handed;     /* chunks handed to the hasher */
	uint64_t hashed;     /* chunks it is done with */
	bool finishing;	     /* nothing more will be handed */
	bool finished;
	int rc; /* the first error, of either side */
};

static void *hash_chunks(void *arg)
{
	struct rfs_hashpipe *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct chunk *c;
		int rc;

		if (p->hashed == p->handed) {
			if (p->finishing)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		c = &p->chunks[p->hashed % N_CHUNKS];
		pthread_mutex_unlock(&p->lock);
		rc = rfs_hasher_update(p->hasher, c->data, c->len);
		pthread_mutex_lock(&p->lock);
		if (rc && !p->rc)
			p->rc = rc;
		p->hashed++;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
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
	p->offset = offset;
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
	rc = -pthread_create(&p->thread, NULL, hash_chunks, p);
	if (rc) {
		rfs_hashpipe_free(&p);
		return rc;
	}
	p->thread_started = true;
	*out = p;
	return 0;
}

static int write_chunk(int fd, const struct chunk *c, uint64_t offset)
{
	size_t done = 0;

	while (done < c->len) {
		ssize_t n = pwrite(fd, c->data + done, c->len - done,
				   (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

/* Write the chunk being filled and hand it to the hasher. */
static int hand_over(struct rfs_hashpipe *p)
{
	struct chunk *c = &p->chunks[p->handed % N_CHUNKS];
	int rc = write_chunk(p->fd, c, p->offset);

	pthread_mutex_lock(&p->lock);
	if (rc && !p->rc)
		p->rc = rc;
	if (!rc) {
		p->offset += c->len;
		p->handed++;
		pthread_cond_broadcast(&p->cond);
	}
	rc = p->rc;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* The chunk to fill next, once the hasher has given it back. */
static struct chunk *chunk_to_fill(struct rfs_hashpipe *p)
{
	struct chunk *c = &p->chunks[p->handed % N_CHUNKS];

	if (c->len > 0 && c->len < CHUNK_SIZE)
		return c; /* being filled */
	pthread_mutex_lock(&p->lock);
	while (p->handed - p->hashed >= N_CHUNKS && !p->rc)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
	c->len = 0;
	return c;
}

int rfs_hashpipe_append(struct rfs_hashpipe *p, const void *buf, size_t len)
{
	const char *in = buf;

	if (p->finished)
		return -EINVAL;
	while (len > 0) {
		struct chunk *c = chunk_to_fill(p);
		size_t k = CHUNK_SIZE - c->len;
		int rc;

		pthread_mutex_lock(&p->lock);
		rc = p->rc;
		pthread_mutex_unlock(&p->lock);
		if (rc)
			return rc;
		if (k > len)
			k = len;
		memcpy(c->data + c->len, in, k);
		c->len += k;
		in += k;
		len -= k;
		if (c->len == CHUNK_SIZE) {
			rc = hand_over(p);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int rfs_hashpipe_finish(struct rfs_hashpipe *p)
{
	struct chunk *c = &p->chunks[p->handed % N_CHUNKS];
	int rc;

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
	if (p->thread_started) {
		pthread_join(p->thread, NULL);
		p->thread_started = false;
	}
	rc = p->rc;
	return rc;
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
