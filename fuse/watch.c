/*
 * watch.c - follow changes other processes make to the catalog.
 *
 * The kernel keeps a sealed tag's name for as long as it likes, which is
 * right while the tag stays. When regctl removes a tag, or refreshes a
 * pinned one to a new inode, in another process, the daemon learns it from
 * the catalog's retired rows, once a second, and tells the kernel to forget
 * the name.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "inode.h"
#include "regfs.h"

#define WATCH_PERIOD_MS 1000

static int forget_name(void *ctx, const char *repo, const char *tag,
		       int64_t retired_ns)
{
	struct regfs *fs = ctx;
	struct rfs_dir dir;

	if (retired_ns > fs->retired_seen)
		fs->retired_seen = retired_ns;
	if (rfs_catalog_dir_by_path(rfs_store_catalog(fs->store), repo, &dir) ==
	    0)
		fuse_lowlevel_notify_inval_entry(
		    fs->se, rfs_ino_make(RFS_NODE_REGISTRY_DIR, dir.id), tag,
		    strlen(tag));
	return 0;
}

static void *watch(void *arg)
{
	struct regfs *fs = arg;

	pthread_mutex_lock(&fs->watch_lock);
	while (fs->watching) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_PERIOD_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000;
		until.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&fs->watch_cond, &fs->watch_lock,
				       &until);
		if (!fs->watching)
			break;
		pthread_mutex_unlock(&fs->watch_lock);
		rfs_catalog_list_retired(rfs_store_catalog(fs->store),
					 fs->retired_seen, forget_name, fs);
		pthread_mutex_lock(&fs->watch_lock);
	}
	pthread_mutex_unlock(&fs->watch_lock);
	return NULL;
}

int regfs_watch_start(struct regfs *fs)
{
	int rc;

	pthread_mutex_init(&fs->watch_lock, NULL);
	pthread_cond_init(&fs->watch_cond, NULL);
	fs->retired_seen = rfs_now_ns();
	fs->watching = true;
	rc = pthread_create(&fs->watcher, NULL, watch, fs);
	if (rc)
		fs->watching = false;
	return -rc;
}

void regfs_watch_stop(struct regfs *fs)
{
	if (!fs->watching)
		return;
	pthread_mutex_lock(&fs->watch_lock);
	fs->watching = false;
	pthread_cond_signal(&fs->watch_cond);
	pthread_mutex_unlock(&fs->watch_lock);
	pthread_join(fs->watcher, NULL);
}
