/*
 * watch.c - follow changes other processes make to the catalog.
 *
 * The kernel keeps a sealed tag's name for as long as it likes, which is
 * right while the tag stays. When regctl removes a tag, or refreshes a
 * pinned one to a new inode, in another process, the daemon learns it from
 * the catalog's retired rows and tells the kernel to forget the name. It
 * looks when the catalog's files change (inotify on the store folder: a
 * commit writes catalog.db-wal), when an operation found a name that is
 * gone (regfs_watch_poke), and once a second in any case.
 *
 * The same look checks that catalog.db is still the file the daemon
 * opened: deleted or replaced, the catalog refuses every publish from then
 * on (see rfs_catalog_check_file), the log says so, once, and what the
 * lost file holds is copied beside it (rfs_catalog_rescue), so that no tag
 * the daemon acknowledged is lost.
 *
 * The same thread ends the opens that waited too long for a download
 * (wait.c): it runs at least once a second.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "inode.h"
#include "regfs.h"

#define WATCH_PERIOD_MS 1000
#define WATCH_AGAIN_MS	50

/* A name to forget, gathered while the catalog is locked and told to the
 * kernel once it is not: the kernel's entry invalidation waits for the
 * folder's lock, which a lookup in that folder holds while its FUSE thread
 * waits for the catalog's lock. Told under the catalog's lock, the two
 * waited for each other for ever, and the watcher thread, in D state, kept
 * even SIGKILL from ending the daemon (found by tests/soak, issue 15). */
struct forget {
	uint64_t parent;
	char tag[RFS_TAG_MAX + 1];
};

struct forget_list {
	struct regfs *fs;
	struct forget *v;
	size_t n, cap;
};

static int forget_name(void *ctx, const char *repo, const char *tag,
		       int64_t retired_ns)
{
	struct forget_list *l = ctx;
	struct regfs *fs = l->fs;
	struct rfs_dir dir;

	if (retired_ns > fs->retired_seen)
		fs->retired_seen = retired_ns;
	if (rfs_catalog_dir_by_path(rfs_store_catalog(fs->store), repo, &dir) !=
	    0)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct forget *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM; /* the rest at the next look */
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].parent = rfs_ino_make(RFS_NODE_REGISTRY_DIR, dir.id);
	snprintf(l->v[l->n].tag, sizeof(l->v[l->n].tag), "%s", tag);
	l->n++;
	return 0;
}

static void drain(int fd)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	if (fd >= 0)
		while (read(fd, buf, sizeof(buf)) > 0)
			;
}

static void look(struct regfs *fs)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct forget_list l = { .fs = fs };
	struct rfs_error err = { 0 };
	int rc;

	rc = rfs_catalog_check_file(cat, &err);
	if (rc && !fs->catalog_lost_logged) {
		struct rfs_error why = { 0 };
		char rescued[PATH_MAX];
		int r;

		fs->catalog_lost_logged = true;
		regfs_log(REGFS_LOG_ERROR, "%s", rfs_error_message(&err, rc));
		r = rfs_catalog_rescue(cat, rescued, sizeof(rescued), &why);
		if (r)
			regfs_log(REGFS_LOG_ERROR,
				  "cannot copy out what the lost catalog "
				  "holds: %s",
				  rfs_error_message(&why, r));
		else
			regfs_log(REGFS_LOG_ERROR,
				  "every tag the lost catalog holds is copied "
				  "to '%s': unmount, move it to "
				  "STORE/catalog.db, remove the lost one's "
				  "STORE/catalog.db-wal and -shm, and mount "
				  "again",
				  rescued);
	}
	rfs_catalog_list_retired(cat, fs->retired_seen, forget_name, &l);
	for (size_t i = 0; i < l.n; i++)
		fuse_lowlevel_notify_inval_entry(
		    fs->se, l.v[i].parent, l.v[i].tag, strlen(l.v[i].tag));
	free(l.v);
}

static void *watch(void *arg)
{
	struct regfs *fs = arg;
	bool again = false;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fs->watch_wake, .events = POLLIN },
			{ .fd = fs->watch_inotify, .events = POLLIN },
		};
		bool watching;

		/* A commit's last write to the -wal file comes just before
		 * it is visible (SQLite then updates the shared index, which
		 * inotify does not see): after a change, look once more
		 * shortly, meanwhile deaf to further changes, which bounds
		 * the looks of a busy store to 20 a second. */
		poll(p, !again && fs->watch_inotify >= 0 ? 2 : 1,
		     again ? WATCH_AGAIN_MS : WATCH_PERIOD_MS);
		again =
		    !again && fs->watch_inotify >= 0 && (p[1].revents & POLLIN);
		drain(fs->watch_wake);
		drain(fs->watch_inotify);
		pthread_mutex_lock(&fs->watch_lock);
		watching = fs->watching;
		pthread_mutex_unlock(&fs->watch_lock);
		if (!watching)
			break;
		regfs_wait_expire(fs);
		look(fs);
	}
	return NULL;
}

int regfs_watch_start(struct regfs *fs)
{
	int rc;

	pthread_mutex_init(&fs->watch_lock, NULL);
	fs->retired_seen = rfs_now_ns();
	fs->watch_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->watch_wake < 0)
		return -errno;
	/* Without inotify (too many watches), the period still holds. */
	fs->watch_inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fs->watch_inotify >= 0 &&
	    inotify_add_watch(fs->watch_inotify, rfs_store_root(fs->store),
			      IN_MODIFY | IN_CREATE | IN_DELETE |
				  IN_MOVED_FROM | IN_MOVED_TO) < 0) {
		regfs_log(REGFS_LOG_INFO,
			  "cannot watch '%s' (%s): changes are seen within "
			  "a second",
			  rfs_store_root(fs->store), strerror(errno));
		close(fs->watch_inotify);
		fs->watch_inotify = -1;
	}
	fs->watching = true;
	rc = pthread_create(&fs->watcher, NULL, watch, fs);
	if (rc) {
		fs->watching = false;
		close(fs->watch_wake);
		fs->watch_wake = -1;
		if (fs->watch_inotify >= 0)
			close(fs->watch_inotify);
	}
	return -rc;
}

/* Set before the session loop runs and closed after it: no operation
 * sees it change. */
void regfs_watch_poke(struct regfs *fs)
{
	uint64_t one = 1;

	if (fs->watch_wake > 0 && write(fs->watch_wake, &one, sizeof(one)) < 0)
		return; /* EAGAIN: a look is due already */
}

void regfs_watch_stop(struct regfs *fs)
{
	if (!fs->watching)
		return;
	pthread_mutex_lock(&fs->watch_lock);
	fs->watching = false;
	pthread_mutex_unlock(&fs->watch_lock);
	regfs_watch_poke(fs);
	pthread_join(fs->watcher, NULL);
	close(fs->watch_wake);
	fs->watch_wake = -1;
	if (fs->watch_inotify >= 0)
		close(fs->watch_inotify);
}
