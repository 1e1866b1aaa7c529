/*
 * fsck.c - re-hash every blob and cross-check blobs/ with the catalog.
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
#include "fsck.h"

/* File times come from the kernel's coarse clock, which may lag the one
 * that dated the catalog by a tick (up to 10 ms): a blob stored right after
 * its catalog was made must not look older than it. */
#define CLOCK_SLACK_NS (100 * 1000000LL)

struct digest_list {
	char (*items)[RFS_DIGEST_STR_MAX + 1];
	size_t len, cap;
};

static int collect_referenced(void *ctx, const struct rfs_blob *blob)
{
	struct digest_list *list = ctx;

	/* A fetched blob that was evicted (or not fetched yet) is absent by
	 * design: it comes back on its next read. */
	if (blob->refs == 0 || !blob->present)
		return 0;
	if (list->len == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		void *items = realloc(list->items, cap * sizeof(*list->items));

		if (!items)
			return -ENOMEM;
		list->items = items;
		list->cap = cap;
	}
	memcpy(list->items[list->len++], blob->digest, sizeof(*list->items));
	return 0;
}

/* Does the catalog still say that digest's file must be in the store? A
 * file found gone while fsck runs was, when not, removed by something that
 * may remove it: gc (an unnamed blob) or an eviction (a fetched blob, which
 * comes back on its next read). */
static bool still_expected(struct rfs_store *store, const char *digest)
{
	struct rfs_blob blob;

	return rfs_catalog_blob_get(rfs_store_catalog(store), digest, &blob) ==
		   0 &&
	       blob.refs > 0 && blob.present;
}

/* Re-hash one blob file and tell whether anything references it. */
static int check_blob(struct rfs_store *store, int dirfd, const char *name,
		      const char *digest, int64_t created_ns, rfs_fsck_fn fn,
		      void *ctx, struct rfs_fsck_report *r)
{
	char actual[RFS_DIGEST_STR_MAX + 1];
	struct rfs_blob blob;
	struct stat st;
	int fd, rc;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISREG(st.st_mode)) {
		r->strays++;
		fn(ctx, RFS_FSCK_STRAY, name, NULL);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	rc = fd < 0		  ? -errno
	     : fstat(fd, &st) < 0 ? -errno
				  : rfs_digest_fd(fd, actual);
	if (fd >= 0)
		close(fd);
	if (rc == -ENOENT && fd < 0) {
		/* Listed a moment ago, gone now: gc or an eviction ran
		 * meanwhile, unless the catalog still needs the file. */
		if (still_expected(store, digest)) {
			r->missing++;
			fn(ctx, RFS_FSCK_MISSING, digest, NULL);
		}
		return 0;
	}
	if (rc) {
		r->unreadable++;
		fn(ctx, RFS_FSCK_UNREADABLE, digest, strerror(-rc));
		return 0;
	}
	r->blobs_checked++;
	r->bytes_checked += (uint64_t)st.st_size;
	if (strcmp(actual, digest) != 0) {
		r->corrupt++;
		fn(ctx, RFS_FSCK_CORRUPT, digest, actual);
	}
	rc = rfs_catalog_blob_get(rfs_store_catalog(store), digest, &blob);
	/* No row at all is what a crash between storing a blob and its
	 * commit leaves, always after the catalog was made; before it, the
	 * catalog was made anew over the store's blobs. */
	if (rc == -ENOENT && created_ns > 0 &&
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec <
		created_ns - CLOCK_SLACK_NS) {
		r->unrecorded++;
		fn(ctx, RFS_FSCK_UNRECORDED, digest, NULL);
		return 0;
	}
	if (rc == -ENOENT || (rc == 0 && blob.refs == 0)) {
		r->orphans++;
		fn(ctx, RFS_FSCK_ORPHAN, digest, NULL);
		rc = 0;
	}
	return rc;
}

int rfs_fsck(struct rfs_store *store, rfs_fsck_fn fn, void *ctx,
	     struct rfs_fsck_report *report, struct rfs_error *err)
{
	const char *blobs = rfs_store_blobs_dir(store);
	struct digest_list referenced = { 0 };
	struct dirent *de;
	int64_t created_ns = 0;
	DIR *d = NULL;
	int rc;

	memset(report, 0, sizeof(*report));
	/* Unknown (0) for a catalog made before catalogs were dated. */
	rfs_catalog_created_ns(rfs_store_catalog(store), &created_ns);
	rc = rfs_catalog_list_blobs(rfs_store_catalog(store),
				    collect_referenced, &referenced);
	if (rc) {
		rfs_error_set(err, rc, "cannot list blobs in the catalog");
		goto out;
	}
	for (size_t i = 0; i < referenced.len; i++) {
		char path[4096];
		struct stat st;

		rc = rfs_store_blob_path(store, referenced.items[i], path,
					 sizeof(path));
		/* Evicted since it was listed: not damage. */
		if (rc == 0 && stat(path, &st) < 0 && errno == ENOENT &&
		    still_expected(store, referenced.items[i])) {
			report->missing++;
			fn(ctx, RFS_FSCK_MISSING, referenced.items[i], NULL);
		}
	}

	d = opendir(blobs);
	if (!d) {
		rc = rfs_error_set(err, -errno, "cannot read '%s': %s", blobs,
				   strerror(errno));
		goto out;
	}
	rc = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		char digest[RFS_DIGEST_STR_MAX + 1];

		if (!rfs_digest_from_blob_name(de->d_name, digest)) {
			report->strays++;
			fn(ctx, RFS_FSCK_STRAY, de->d_name, NULL);
			continue;
		}
		rc = check_blob(store, dirfd(d), de->d_name, digest, created_ns,
				fn, ctx, report);
		if (rc) {
			rfs_error_set(err, rc, "cannot check blob %s: %s",
				      de->d_name, strerror(-rc));
			goto out;
		}
	}
out:
	if (d)
		closedir(d);
	free(referenced.items);
	return rc;
}
