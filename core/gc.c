/*
 * gc.c - remove the blobs no tag needs (see gc.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "gc.h"

struct blob_rows {
	struct rfs_blob *rows;
	size_t n, cap;
};

static int collect(void *ctx, const struct rfs_blob *blob)
{
	struct blob_rows *b = ctx;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		void *p = realloc(b->rows, cap * sizeof(*b->rows));

		if (!p)
			return -ENOMEM;
		b->rows = p;
		b->cap = cap;
	}
	b->rows[b->n++] = *blob;
	return 0;
}

static int by_digest(const void *a, const void *b)
{
	return strcmp(((const struct rfs_blob *)a)->digest,
		      ((const struct rfs_blob *)b)->digest);
}

/* A blob file no row names, or whose row no tag needs. */
struct candidate {
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
	bool has_row;
};

struct candidates {
	struct candidate *items;
	size_t n, cap;
	uint64_t files; /* every blob file seen */
};

static int add_candidate(struct candidates *c, const char *digest,
			 uint64_t size, bool has_row)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *p = realloc(c->items, cap * sizeof(*c->items));

		if (!p)
			return -ENOMEM;
		c->items = p;
		c->cap = cap;
	}
	snprintf(c->items[c->n].digest, sizeof(c->items[c->n].digest), "%s",
		 digest);
	c->items[c->n].size = size;
	c->items[c->n++].has_row = has_row;
	return 0;
}

/* The blob files no tag needs, and how many blob files there are. */
static int find_candidates(struct rfs_store *store, struct blob_rows *rows,
			   struct candidates *c, struct rfs_error *err)
{
	DIR *d = opendir(rfs_store_blobs_dir(store));
	struct dirent *de;
	int rc = 0;

	if (!d)
		return rfs_error_set(err, -errno, "cannot read '%s': %s",
				     rfs_store_blobs_dir(store),
				     strerror(errno));
	while (!rc && (de = readdir(d))) {
		struct rfs_blob key, *row;
		struct stat st;

		if (!rfs_digest_from_blob_name(de->d_name, key.digest) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !S_ISREG(st.st_mode))
			continue; /* not a blob: fsck reports it */
		c->files++;
		row = bsearch(&key, rows->rows, rows->n, sizeof(*rows->rows),
			      by_digest);
		if (row && row->refs > 0)
			continue;
		rc = add_candidate(c, key.digest, (uint64_t)st.st_size,
				   row != NULL);
		if (rc)
			rfs_error_set(err, rc, "out of memory");
	}
	closedir(d);
	return rc;
}

int rfs_gc_with(struct rfs_store *store, const struct rfs_gc_options *opts,
		rfs_gc_fn fn, void *ctx, struct rfs_gc_report *report,
		struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(store);
	struct blob_rows rows = { 0 };
	struct candidates c = { 0 };
	bool dry_run = opts && opts->dry_run;
	unsigned max_share = opts ? opts->max_share : 100;
	size_t done = 0;
	bool over;
	int lock, rc;

	memset(report, 0, sizeof(*report));
	lock = rfs_store_lock(store, true);
	if (lock < 0)
		return rfs_error_set(err, lock, "cannot lock the store: %s",
				     strerror(-lock));
	rc = rfs_catalog_list_blobs(cat, collect, &rows);
	if (rc) {
		rfs_error_set(err, rc, "cannot list the catalog's blobs");
		goto out;
	}
	qsort(rows.rows, rows.n, sizeof(*rows.rows), by_digest);
	rc = find_candidates(store, &rows, &c, err);
	if (rc)
		goto out;
	report->blobs_total = c.files;
	/* A catalog that lost its tags (deleted and made anew, an old copy
	 * put back) makes every blob look unneeded: a gc that would take
	 * most of the store is much likelier that than real garbage. */
	over = max_share < 100 && c.n * 100 > c.files * max_share;
	if (over) {
		rc = rfs_error_set(
		    err, -EPERM,
		    "would remove %zu of the store's %" PRIu64
		    " blobs, more than %u%%: if the catalog was deleted, "
		    "replaced or restored from an old copy, those blobs are "
		    "tags it lost (run regctl fsck; restore the catalog from a "
		    "backup); if they are garbage, give --force",
		    c.n, c.files, max_share);
		if (!dry_run) /* a dry run shows them, and fails as well */
			goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		struct candidate *k = &c.items[i];
		char path[PATH_MAX];

		done = i + 1; /* reported, removed or not */
		report->blobs_removed++;
		report->bytes_freed += k->size;
		if (dry_run)
			continue;
		rc = rfs_store_blob_path(store, k->digest, path, sizeof(path));
		if (!rc && unlink(path) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc) {
			rfs_error_set(err, rc, "cannot remove blob %s: %s",
				      k->digest, strerror(-rc));
			goto out;
		}
		if (k->has_row)
			rfs_catalog_blob_forget(cat, k->digest);
	}
	/* Rows of unnamed blobs whose file was gone already. */
	for (size_t i = 0; !dry_run && i < rows.n; i++)
		if (rows.rows[i].refs == 0 &&
		    rfs_catalog_blob_forget(cat, rows.rows[i].digest) == 0)
			report->rows_removed++;
	if (over)
		rc = -EPERM;
out:
	/* Told after the lock is let go: whoever reads it (a pager) may take
	 * its time, and every publish waits for the lock meanwhile. */
	rfs_store_unlock(lock);
	for (size_t i = 0; fn && i < done; i++)
		fn(ctx, c.items[i].digest, c.items[i].size);
	free(c.items);
	free(rows.rows);
	return rc;
}

int rfs_gc(struct rfs_store *store, bool dry_run, rfs_gc_fn fn, void *ctx,
	   struct rfs_gc_report *report, struct rfs_error *err)
{
	struct rfs_gc_options opts = { .dry_run = dry_run, .max_share = 100 };

	return rfs_gc_with(store, &opts, fn, ctx, report, err);
}
