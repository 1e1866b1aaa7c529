/*
 * store.c - the store folder: layout, blob paths, staging leftovers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "policy.h"
#include "store.h"

struct rfs_store {
	char root[PATH_MAX];
	char blobs_dir[PATH_MAX];
	char staging_dir[PATH_MAX];
	struct rfs_catalog *catalog;
	int use_lock; /* store.lock, or -1 */
	/* The seal hook (see rfs_store_set_seal_hook), "" for none. */
	char seal_hook[PATH_MAX];
	int64_t seal_hook_timeout_ms;
	struct rfs_policy *policy; /* require_signature, or NULL */
	uint64_t max_tag_size;	   /* see rfs_store_set_max_tag_size */
};

int rfs_store_default_path(char *buf, size_t size)
{
	const char *env = getenv("REGFS_STORE");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;

	if (env && *env)
		n = snprintf(buf, size, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(buf, size, "%s/regfs", xdg);
	else if (home && *home)
		n = snprintf(buf, size, "%s/.local/share/regfs", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int make_dir(const char *path, struct rfs_error *err)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	return rfs_error_set(err, -errno, "cannot create '%s': %s", path,
			     strerror(errno));
}

/* Whether a folder has anything in it (false when it cannot be read). */
static bool has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = strcmp(de->d_name, ".") != 0 &&
			strcmp(de->d_name, "..") != 0;
	closedir(d);
	return found;
}

/* Empty and remove the folder name in dir (a park folder; see
 * rfs_store_park_open). */
static void remove_park(int dir, const char *name)
{
	int fd =
	    openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	unlinkat(dir, name, AT_REMOVEDIR);
}

/* Remove staging files and park folders that no live writer holds locked:
 * what a killed daemon or regctl left behind. */
static void sweep_staging(const char *staging)
{
	DIR *d = opendir(staging);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			struct stat st;

			if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
				remove_park(dirfd(d), de->d_name);
			else
				unlinkat(dirfd(d), de->d_name, 0);
		}
		close(fd);
	}
	closedir(d);
}

/* Take store.lock (see store.h): shared, or exclusive for
 * RFS_STORE_EXCLUSIVE. A reader, or a writer that cannot open the file,
 * goes on without it: only the exclusive lock is a must. */
static int lock_use(struct rfs_store *store, unsigned int flags,
		    struct rfs_error *err)
{
	bool exclusive = flags & RFS_STORE_EXCLUSIVE;
	char path[PATH_MAX];
	int fd = -1;

	if (snprintf(path, sizeof(path), "%s/store.lock", store->root) >=
	    (int)sizeof(path))
		return rfs_error_set(err, -ENAMETOOLONG,
				     "store path too long '%s'", store->root);
	if (!(flags & RFS_STORE_READONLY))
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!exclusive)
			return 0;
		return rfs_error_set(err, -errno, "cannot lock '%s': %s", path,
				     strerror(errno));
	}
	while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(fd);
		if (e != EWOULDBLOCK)
			return exclusive ? rfs_error_set(err, -e,
							 "cannot lock '%s': %s",
							 path, strerror(e))
					 : 0;
		if (exclusive)
			return rfs_error_set(err, -EBUSY,
					     "store '%s' is in use (mounted, "
					     "served, or open in another "
					     "regctl)",
					     store->root);
		return rfs_error_set(err, -EBUSY,
				     "store '%s' is being restored or backed "
				     "up into",
				     store->root);
	}
	store->use_lock = fd;
	return 0;
}

int rfs_store_open(const char *root, unsigned int flags, struct rfs_store **out,
		   struct rfs_error *err)
{
	struct rfs_store *store = calloc(1, sizeof(*store));
	bool readonly = flags & RFS_STORE_READONLY;
	char sha_dir[PATH_MAX], db[PATH_MAX];
	struct stat st;
	int rc;

	if (!store)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	store->use_lock = -1;
	store->max_tag_size = RFS_MAX_TAG_SIZE_DEFAULT;
	if (strlen(root) + 32 >= PATH_MAX) {
		rc = rfs_error_set(err, -ENAMETOOLONG,
				   "store path too long '%s'", root);
		goto out;
	}
	snprintf(store->root, sizeof(store->root), "%s", root);
	snprintf(store->blobs_dir, sizeof(store->blobs_dir), "%s/blobs/sha256",
		 root);
	snprintf(store->staging_dir, sizeof(store->staging_dir), "%s/staging",
		 root);
	snprintf(sha_dir, sizeof(sha_dir), "%s/blobs", root);
	snprintf(db, sizeof(db), "%s/catalog.db", root);

	if (!(flags & RFS_STORE_CREATE)) {
		/* Never turn a mistyped path into a new, empty store. */
		if (stat(root, &st) < 0) {
			rc = rfs_error_set(err, -errno, "no store at '%s': %s",
					   root, strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode) ||
		    (stat(db, &st) < 0 && !has_entries(store->blobs_dir))) {
			rc = rfs_error_set(err, -EINVAL,
					   "'%s' is not a regfs store", root);
			goto out;
		}
	}
	/* A catalog made over blobs that exist would not know them: their
	 * tags are lost, and gc would take them. Its old catalog is gone
	 * (deleted by hand, or moved away), and only it can tell. */
	if (stat(db, &st) < 0 && errno == ENOENT &&
	    has_entries(store->blobs_dir)) {
		rc = rfs_error_set(
		    err, -ENOENT,
		    "store '%s' has blobs but no catalog (was catalog.db "
		    "deleted or moved?): %srestore the store from a backup "
		    "(regctl restore, into a new folder), or move blobs/ away "
		    "to start anew",
		    root,
		    flags & RFS_STORE_CREATE
			? "not starting an empty catalog over them; "
			: "");
		goto out;
	}
	rc = readonly ? 0 : make_dir(root, err);
	if (!rc)
		rc = lock_use(store, flags, err);
	if (rc)
		goto out;
	if (!readonly) {
		rc = make_dir(sha_dir, err);
		if (!rc)
			rc = make_dir(store->blobs_dir, err);
		if (!rc)
			rc = make_dir(store->staging_dir, err);
		if (rc)
			goto out;
	}
	rc = rfs_catalog_open(db, readonly, &store->catalog, err);
	if (rc)
		goto out;
	if (!readonly)
		sweep_staging(store->staging_dir);
	*out = store;
	return 0;
out:
	rfs_store_close(&store);
	return rc;
}

void rfs_store_close(struct rfs_store **storep)
{
	if (!storep || !*storep)
		return;
	rfs_catalog_close(&(*storep)->catalog);
	rfs_policy_free(&(*storep)->policy);
	if ((*storep)->use_lock >= 0)
		close((*storep)->use_lock);
	free(*storep);
	*storep = NULL;
}

const char *rfs_store_root(const struct rfs_store *store)
{
	return store->root;
}

struct rfs_catalog *rfs_store_catalog(struct rfs_store *store)
{
	return store->catalog;
}

const char *rfs_store_blobs_dir(const struct rfs_store *store)
{
	return store->blobs_dir;
}

int rfs_store_park_open(struct rfs_store *store, char *dir, size_t size,
			int *lock)
{
	for (;;) {
		struct stat st;
		int n =
		    snprintf(dir, size, "%s/park-XXXXXX", store->staging_dir);

		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		if (!mkdtemp(dir))
			return -errno;
		*lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*lock < 0)
			return -errno;
		if (flock(*lock, LOCK_EX) < 0) {
			n = -errno;
			close(*lock);
			rmdir(dir);
			return n;
		}
		/* Another process's sweep may have taken the empty folder
		 * between its creation and our lock: then make another. */
		if (fstat(*lock, &st) == 0 && st.st_nlink > 0)
			return 0;
		close(*lock);
	}
}

void rfs_store_park_close(const char *dir, int lock)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	int fd;

	if (lock < 0)
		return;
	if (slash && (size_t)(slash - dir) < sizeof(parent)) {
		memcpy(parent, dir, (size_t)(slash - dir));
		parent[slash - dir] = '\0';
		fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			remove_park(fd, slash + 1);
			close(fd);
		}
	}
	close(lock);
}

const char *rfs_store_staging_dir(const struct rfs_store *store)
{
	return store->staging_dir;
}

int rfs_store_blob_path(const struct rfs_store *store, const char *digest,
			char *buf, size_t size)
{
	int n;

	if (!rfs_digest_valid(digest))
		return -EINVAL;
	n = snprintf(buf, size, "%s/%s", store->blobs_dir,
		     rfs_digest_hex(digest));
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int rfs_store_blob_open(const struct rfs_store *store, const char *digest)
{
	char path[PATH_MAX];
	int rc = rfs_store_blob_path(store, digest, path, sizeof(path));
	int fd;

	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int rfs_store_lock(const struct rfs_store *store, bool exclusive)
{
	return rfs_store_lock_cancellable(store, exclusive, NULL);
}

int rfs_store_lock_cancellable(const struct rfs_store *store, bool exclusive,
			       const struct rfs_cancel *cancel)
{
	const struct timespec poll_interval = { 0, 50 * 1000000 };
	int op = (exclusive ? LOCK_EX : LOCK_SH) | (cancel ? LOCK_NB : 0);
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/gc.lock", store->root) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	/* flock() needs no write access: a read-only store, or one whose
	 * lock another user made (regctl backup as a backup user). */
	if (fd < 0 && (errno == EROFS || errno == EACCES))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		int rc;

		if (flock(fd, op) == 0)
			return fd;
		rc = -errno;
		if (rc == -EINTR && !cancel)
			continue; /* a signal: the wait goes on */
		if (rc == -EWOULDBLOCK && !rfs_cancelled(cancel)) {
			nanosleep(&poll_interval, NULL);
			continue;
		}
		close(fd);
		return rc == -EWOULDBLOCK ? -EINTR : rc;
	}
}

void rfs_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

int rfs_store_set_seal_hook(struct rfs_store *store, const char *program,
			    int64_t timeout_ms)
{
	if (program && strlen(program) >= sizeof(store->seal_hook))
		return -ENAMETOOLONG;
	snprintf(store->seal_hook, sizeof(store->seal_hook), "%s",
		 program ? program : "");
	store->seal_hook_timeout_ms = timeout_ms;
	return 0;
}

void rfs_store_set_policy(struct rfs_store *store, struct rfs_policy *policy)
{
	rfs_policy_free(&store->policy);
	store->policy = policy;
}

const struct rfs_policy *rfs_store_policy(const struct rfs_store *store)
{
	return store->policy;
}

const char *rfs_store_seal_hook(const struct rfs_store *store,
				int64_t *timeout_ms)
{
	if (!store->seal_hook[0])
		return NULL;
	if (timeout_ms)
		*timeout_ms = store->seal_hook_timeout_ms;
	return store->seal_hook;
}

void rfs_store_set_max_tag_size(struct rfs_store *store, uint64_t max)
{
	store->max_tag_size = max ? max : RFS_MAX_TAG_SIZE_DEFAULT;
}

uint64_t rfs_store_max_tag_size(const struct rfs_store *store)
{
	return store->max_tag_size;
}
