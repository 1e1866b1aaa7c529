/*
 * gc.c - remove the blobs no tag needs (see gc.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

int rfs_gc(struct rfs_store *store, bool dry_run, rfs_gc_fn fn, void *ctx,
	   struct rfs_gc_report *report, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(store);
	struct blob_rows rows = { 0 };
	struct dirent *de;
	DIR *d = NULL;
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

	d = opendir(rfs_store_blobs_dir(store));
	if (!d) {
		rc = rfs_error_set(err, -errno, "cannot read '%s': %s",
				   rfs_store_blobs_dir(store), strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		struct rfs_blob key, *row;
		struct stat st;

		if (!rfs_digest_from_blob_name(de->d_name, key.digest) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !S_ISREG(st.st_mode))
			continue; /* not a blob: fsck reports it */
		row = bsearch(&key, rows.rows, rows.n, sizeof(*rows.rows),
			      by_digest);
		if (row && row->refs > 0)
			continue;
		if (fn)
			fn(ctx, key.digest, (uint64_t)st.st_size);
		report->blobs_removed++;
		report->bytes_freed += (uint64_t)st.st_size;
		if (dry_run)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			rc = rfs_error_set(err, -errno,
					   "cannot remove blob %s: %s",
					   key.digest, strerror(errno));
			goto out;
		}
		if (row)
			rfs_catalog_blob_forget(cat, key.digest);
	}
	/* Rows of unnamed blobs whose file was gone already. */
	for (size_t i = 0; !dry_run && i < rows.n; i++)
		if (rows.rows[i].refs == 0 &&
		    rfs_catalog_blob_forget(cat, rows.rows[i].digest) == 0)
			report->rows_removed++;
out:
	if (d)
		closedir(d);
	free(rows.rows);
	rfs_store_unlock(lock);
	return rc;
}
