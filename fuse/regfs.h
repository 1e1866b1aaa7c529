/*
 * regfs.h - the daemon's state, shared by main.c and the FUSE operations.
 */
#ifndef REGFS_DAEMON_H
#define REGFS_DAEMON_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "cancel.h"
#include "incoming.h"
#include "pending.h"
#include "pull.h"
#include "store.h"

/* A handle or a listing the kernel holds (ops.c). The kernel releases each
 * before a clean unmount, but not when the daemon is stopped by a signal
 * while an NFS server holds files open: the table lets main() free what is
 * left (regfs_open_free_all). */
enum regfs_open_kind { REGFS_OPEN_HANDLE, REGFS_OPEN_LISTING };
struct regfs_open {
	struct regfs_open *prev, *next;
	enum regfs_open_kind kind;
};

/* An open waiting for a download (wait.c), listed in fs->waits. */
struct regfs_wait {
	struct regfs_wait *prev, *next;
	fuse_req_t req;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	bool listed;
	char what[RFS_REPO_MAX + RFS_TAG_MAX + RFS_DIGEST_STR_MAX + 16];
};

struct regfs {
	struct rfs_store *store;
	struct rfs_incoming *incoming;
	struct rfs_pending *pending;   /* top-level names of incoming/ */
	struct rfs_pull *pull;	       /* upstreams; serves nothing when none */
	struct rfs_versions *versions; /* version ranges in the tree */
	struct fuse_session *se;
	struct regfs_passthrough *passthrough; /* passthrough.c */
	/* watch.c: the thread that follows other processes' changes */
	pthread_t watcher;
	pthread_mutex_t watch_lock;
	bool watching;
	int watch_wake;	   /* eventfd: regfs_watch_poke() and stop */
	int watch_inotify; /* the store folder, or -1 */
	bool catalog_lost_logged;
	int64_t retired_seen;
	uint32_t generation; /* of every inode: the catalog's */
	uid_t uid;	     /* owner shown for every node */
	gid_t gid;
	struct timespec started; /* times of the fixed top folders */
	pthread_mutex_t open_lock;
	struct regfs_open *open_head;
	/* ops.c: the last listing built of a folder of registry/, shared by
	 * its later opens while the folder's changed_ns stays the same;
	 * guarded by open_lock */
	struct listing_snap *listing_cache;
	/* wait.c: opens waiting for a download, and how long they may */
	pthread_mutex_t wait_lock;
	struct regfs_wait *waits;
	int64_t open_timeout_ms;
	unsigned max_read;	       /* -o max_read, or 0: the kernel's */
	struct regfs_offload *offload; /* offload.c */
};

extern const struct fuse_lowlevel_ops regfs_ops;

/* The daemon a request is for. */
static inline struct regfs *regfs_data(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Requests that may wait long (an upstream, a seal), served on threads of
 * their own so that libfuse's keep reading the kernel's (offload.c). A
 * job's run answers its request and frees the job. regfs_offload() is
 * false when the job cannot be queued (no thread, or stopping): then the
 * caller serves the request itself. regfs_offload_stop() runs the jobs
 * still queued and waits for every one; upstream calls made for them end
 * at once from then on (regfs_offload_stopping). */
struct regfs_job {
	struct regfs_job *next;
	void (*run)(struct regfs_job *job);
};
int regfs_offload_start(struct regfs *fs);
bool regfs_offload(struct regfs *fs, struct regfs_job *job);
bool regfs_offload_stopping(struct regfs *fs);
void regfs_offload_stop(struct regfs *fs);

/*
 * Requests that may wait long are served on the offload threads: lookups,
 * listings and opens in registry/ where an upstream may be asked, what may
 * seal (a close, a release, a rename in incoming/), and the reads and
 * releases of a file whose seal is under way. A slow_req holds the
 * request's arguments, copied, for the same handler (its _now).
 */
struct regfs_slow_req {
	struct regfs_job job; /* first: the job is the request */
	void (*serve)(struct regfs_slow_req *s);
	fuse_req_t req;
	fuse_ino_t ino, newparent;
	struct fuse_file_info fi;
	size_t size;
	off_t off;
	unsigned flags;
	bool plus;
	const char *name, *newname;
	char names[];
};
/* A slow request served by serve, with name and newname (or NULL)
 * copied; NULL when out of memory. */
struct regfs_slow_req *regfs_slow_new(fuse_req_t req,
				      void (*serve)(struct regfs_slow_req *s),
				      const char *name, const char *newname);
/* Hand s to an offload thread; false (s freed): the caller serves it. */
bool regfs_slow_start(struct regfs_slow_req *s);
/* May a request on ino ask an upstream: one is configured, and ino is in
 * registry/ (incoming/ is ours alone)? */
bool regfs_may_ask_upstream(fuse_req_t req, fuse_ino_t ino);

/* A request that may ask an upstream (a lookup, a listing, an open
 * checking a signature) can be interrupted: between begin and end, on the
 * thread serving it, the kernel's interrupt ends the upstream calls made
 * for it at once (upstream.h), as does the daemon's stop. end says
 * whether it was interrupted; w may go after it. */
struct regfs_upstream_wait {
	bool active; /* an upstream is configured: else nothing to stop */
	struct regfs *fs;
	atomic_bool interrupted;
	struct rfs_cancel cancel;
	const struct rfs_cancel *outer;
};
void regfs_upstream_wait_begin(fuse_req_t req, struct regfs_upstream_wait *w);
bool regfs_upstream_wait_end(fuse_req_t req, struct regfs_upstream_wait *w);

/* Folder listings (listing.c), and what main() frees after the session:
 * a listing never released, and the shared one kept. */
void regfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void regfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void regfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void regfs_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void regfs_listing_free_open(struct regfs *fs, struct regfs_open *o);
void regfs_listing_cache_drop(struct regfs *fs);

void regfs_open_add(struct regfs *fs, struct regfs_open *o,
		    enum regfs_open_kind kind);
void regfs_open_remove(struct regfs *fs, struct regfs_open *o);
/* After the session: free every handle and listing never released. */
void regfs_open_free_all(struct regfs *fs);

/* Nodes (node.c): an inode's attributes, and how long the kernel may keep
 * them; the folder of the catalog a directory inode stands for (0 for the
 * tops; -ENOTDIR, or -EPERM for the root); entries for the replies of
 * lookup, create, mkdir and readdirplus; the lookup of a name in a folder,
 * "." and ".." included (what NFS export needs). Each returns 0 or a
 * negative errno. */
int regfs_stat_ino(struct regfs *fs, uint64_t ino, struct stat *st,
		   double *timeout);
int regfs_dir_of(uint64_t ino, bool *incoming, int64_t *dir);
/* The same for any inode, a pending folder of incoming/ too (pending.h):
 * made with make, else 1 while it is still pending (nothing is in it). */
int regfs_dir_of_fs(struct regfs *fs, uint64_t ino, bool make, bool *incoming,
		    int64_t *dir);
/* A name at the top of incoming/ that is no folder: a pending folder for
 * the lookup of caller (a thread id), counted as one lookup, or -ENOENT. */
int regfs_lookup_pending(struct regfs *fs, const char *name, pid_t caller,
			 struct fuse_entry_param *e);
void regfs_entry_for_dir(struct regfs *fs, struct fuse_entry_param *e,
			 bool incoming, const struct rfs_dir *dir);
void regfs_entry_for_tag(struct regfs *fs, struct fuse_entry_param *e,
			 const struct rfs_tag *tag);
void regfs_entry_for_file(struct regfs *fs, struct fuse_entry_param *e,
			  uint64_t ino, uint64_t size, int64_t ns);
void regfs_entry_for_staged(struct regfs *fs, struct fuse_entry_param *e,
			    const struct rfs_staged_info *info);
void regfs_entry_for_top(struct regfs *fs, struct fuse_entry_param *e,
			 uint64_t ino);
int regfs_lookup_in(struct regfs *fs, uint64_t parent, const char *name,
		    struct fuse_entry_param *e);

/* The content behind a file node of registry/: a tag, a layer, or the
 * manifest.json of a multi-layer tag (ops.c). tag is the tag it belongs
 * to; -EISDIR for a folder. */
struct rfs_blob_ref {
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
};
int regfs_blob_of(struct regfs *fs, uint64_t ino, struct rfs_tag *tag,
		  struct rfs_blob_ref *ref);

/* Extended attributes (xattr.c). */
void regfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void regfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void regfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void regfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Waits for downloads (wait.c). begin lists w for req (-EINTR when req
 * was interrupted already: answer it); end takes it off the list, true
 * when the caller is the one to answer it (not the interrupt or the
 * deadline); expire answers those past open_timeout (the watcher calls
 * it every second). */
int regfs_wait_begin(struct regfs *fs, struct regfs_wait *w, fuse_req_t req);
bool regfs_wait_end(struct regfs *fs, struct regfs_wait *w);
void regfs_wait_expire(struct regfs *fs);

/* Follow the tags other processes remove or refresh (see watch.c); poke:
 * look now, for an operation that found a name gone. */
int regfs_watch_start(struct regfs *fs);
void regfs_watch_poke(struct regfs *fs);
void regfs_watch_stop(struct regfs *fs);

/* Kernel passthrough of sealed blobs when want is set, and the INIT
 * capabilities libfuse does not pass on either way (see passthrough.c).
 * Start it after the mount and before the session loop. */
int regfs_passthrough_start(struct regfs *fs, const char *store, bool want);
void regfs_passthrough_free(struct regfs *fs);
/* The backing id to open ino with (fd is its blob), or 0 to serve its
 * reads ourselves. Each id handed out is given back with _put(). */
int regfs_passthrough_get(struct regfs *fs, uint64_t ino, int fd);
void regfs_passthrough_put(struct regfs *fs, uint64_t ino);
int regfs_passthrough_reply_open(fuse_req_t req,
				 const struct fuse_file_info *fi,
				 int backing_id);

/* Logging: to a file (-o log=FILE), to stderr in the foreground, or to
 * syslog. Messages are lines without a final newline. */
enum regfs_log_level { REGFS_LOG_ERROR, REGFS_LOG_INFO, REGFS_LOG_DEBUG };

void regfs_log_open(const char *file, bool foreground, bool debug);
void regfs_log(enum regfs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void regfs_log_close(void);
/* Whether log lines go to stderr: then a message for the user at start is
 * printed once, not once more as a log line. */
bool regfs_log_is_stderr(void);

#endif
