/*
 * populate.c - load a store with many tags quickly, for the benchmarks.
 *
 *   regfs-bench-populate [--plain DIR] [--semver] STORE NREPOS TAGS_PER_REPO
 *
 * Creates (or opens) STORE and adds NREPOS * TAGS_PER_REPO tags, repositories
 * r0001, r0002... each holding tags t00001, t00002... With --semver the
 * tags are versions instead, ten patches to a minor and a hundred minors to
 * a major: 0.0.0, 0.0.1, ... 0.0.9, 0.1.0, ... 0.99.9, 1.0.0, ... (10 000
 * tags end at 9.99.9), for the version range benchmark. A handful of small,
 * distinct blobs go through the real seal (rfs_seal_begin/write/commit); the
 * other tags point at those blobs and are recorded straight in the catalog in
 * large transactions, which is what makes 100 000 tags take seconds instead
 * of one fsync each. With --plain DIR the same tree is also written as plain
 * files (DIR/r0001/t00001, same content as the blob) for a side-by-side
 * comparison.
 *
 * It opens the store directly: run it while the store is not mounted.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "error.h"
#include "seal.h"
#include "store.h"

#define NBLOBS 8
#define BATCH  5000
#define PROG   "regfs-bench-populate"

struct blob {
	char data[1024];
	size_t len;
	char digest[RFS_DIGEST_STR_MAX + 1];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG
		   " [--plain DIR] [--semver] STORE NREPOS TAGS_PER_REPO\n");
}

static int parse_count(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 10000000UL)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Small, distinct contents of different sizes. */
static void blob_fill(struct blob *b, unsigned int i)
{
	size_t want = 64 + (size_t)i * 97;
	size_t n = 0;

	while (n < want) {
		int r = snprintf(b->data + n, sizeof(b->data) - n,
				 "regfs benchmark blob %u, line %zu\n", i, n);
		if (r < 0 || (size_t)r >= sizeof(b->data) - n)
			break;
		n += (size_t)r;
	}
	b->len = n;
}

static int write_plain(const char *dir, const char *repo, const char *tag,
		       const struct blob *b)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, repo);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", dir, repo, tag);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0) {
		fprintf(stderr, PROG ": cannot create '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	if (write(fd, b->data, b->len) != (ssize_t)b->len) {
		fprintf(stderr, PROG ": cannot write '%s': %s\n", path,
			strerror(errno));
		ret = -1;
	}
	if (close(fd) < 0 && !ret) {
		fprintf(stderr, PROG ": cannot write '%s': %s\n", path,
			strerror(errno));
		ret = -1;
	}
	return ret;
}

/* The first tags: real seals, so the blobs are real files in the store. */
static int seal_blob(struct rfs_store *store, struct blob *b, const char *repo,
		     const char *tag)
{
	struct rfs_error err = { 0 };
	struct rfs_seal *seal = NULL;
	struct rfs_tag out;
	ssize_t n;
	int ret;

	ret = rfs_seal_begin(store, &seal, &err);
	if (ret < 0)
		goto out;
	n = rfs_seal_write(seal, b->data, b->len, 0, &err);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	ret = rfs_seal_commit(seal, repo, tag, NULL, &out, &err);
	if (ret < 0)
		goto out;
	snprintf(b->digest, sizeof(b->digest), "%s", out.digest);
out:
	if (ret < 0)
		fprintf(stderr, PROG ": cannot seal '%s:%s': %s\n", repo, tag,
			rfs_error_message(&err, ret));
	rfs_seal_free(&seal);
	return ret;
}

/* The other tags: catalog rows naming those blobs, many per transaction. */
static int add_tag(struct rfs_catalog *cat, const char *repo, const char *tag,
		   const struct blob *b, bool *in_batch)
{
	struct rfs_error err = { 0 };
	int ret;

	if (!*in_batch) {
		ret = rfs_catalog_begin(cat);
		if (ret < 0) {
			fprintf(stderr,
				PROG ": cannot begin a transaction: %s\n",
				strerror(-ret));
			return ret;
		}
		*in_batch = true;
	}
	ret = rfs_catalog_add_tag(cat, repo, tag, b->digest, b->len,
				  rfs_now_ns(), NULL, &err);
	if (ret < 0)
		fprintf(stderr, PROG ": cannot add '%s:%s': %s\n", repo, tag,
			rfs_error_message(&err, ret));
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "plain", required_argument, NULL, 'p' },
		{ "semver", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_catalog *cat;
	struct blob *blobs = NULL;
	const char *plain = NULL;
	unsigned long nrepos, ntags, done = 0, nblobs;
	bool in_batch = false, semver = false;
	int status = 1, ret, c;

	while ((c = getopt_long(argc, argv, "p:sh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plain = optarg; break;
		case 's': semver = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 3 || parse_count(argv[optind + 1], &nrepos) < 0 ||
	    parse_count(argv[optind + 2], &ntags) < 0) {
		usage(stderr);
		return 2;
	}
	if (nrepos > 9999 || ntags > 99999) {
		fprintf(stderr,
			PROG ": at most 9999 repositories of 99999 tags\n");
		return 2;
	}
	if (plain && mkdir(plain, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create '%s': %s\n", plain,
			strerror(errno));
		return 1;
	}

	ret = rfs_store_open(argv[optind], RFS_STORE_CREATE, &store, &err);
	if (ret < 0) {
		fprintf(stderr, PROG ": cannot open store '%s': %s\n",
			argv[optind], rfs_error_message(&err, ret));
		return 1;
	}
	cat = rfs_store_catalog(store);

	nblobs = nrepos * ntags < NBLOBS ? nrepos * ntags : NBLOBS;
	blobs = calloc(nblobs, sizeof(*blobs));
	if (!blobs) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}

	for (unsigned long r = 1; r <= nrepos; r++) {
		char repo[16];

		snprintf(repo, sizeof(repo), "r%04lu", r);
		for (unsigned long t = 1; t <= ntags; t++) {
			struct blob *b = &blobs[done % nblobs];
			char tag[64];

			if (semver)
				snprintf(tag, sizeof(tag), "%lu.%lu.%lu",
					 (t - 1) / 1000, (t - 1) / 10 % 100,
					 (t - 1) % 10);
			else
				snprintf(tag, sizeof(tag), "t%05lu", t);
			if (done < nblobs) {
				blob_fill(b, (unsigned int)done);
				if (seal_blob(store, b, repo, tag) < 0)
					goto out;
			} else if (add_tag(cat, repo, tag, b, &in_batch) < 0) {
				goto out;
			}
			if (plain && write_plain(plain, repo, tag, b) < 0)
				goto out;
			done++;
			if (in_batch && done % BATCH == 0) {
				ret = rfs_catalog_commit(cat);
				in_batch = false;
				if (ret < 0) {
					fprintf(stderr,
						PROG ": cannot commit: %s\n",
						strerror(-ret));
					goto out;
				}
			}
		}
	}
	if (in_batch) {
		ret = rfs_catalog_commit(cat);
		in_batch = false;
		if (ret < 0) {
			fprintf(stderr, PROG ": cannot commit: %s\n",
				strerror(-ret));
			goto out;
		}
	}
	printf("%lu tags in %lu repositories, %lu blobs\n", done, nrepos,
	       nblobs);
	status = 0;
out:
	/* An open batch is rolled back when the catalog is closed. */
	free(blobs);
	rfs_store_close(&store);
	return status;
}
