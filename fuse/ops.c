/*
 * ops.c - the FUSE low-level operations.
 *
 * Each handler decodes the request, makes one call into core, maps the
 * result to an errno and replies exactly once. What a name may be, what may
 * be written and when a seal happens is decided in core.
 *
 * A request that may wait long (on an upstream, or a seal) is served on an
 * offload thread instead (offload.c), by the same code: its handler here
 * hands it over, and its _now function serves it. Listings are in
 * listing.c.
 *
 * Inodes carry their meaning (see inode.h), so no inode table is kept and
 * forget has nothing to do: node.c tells what any inode is. Sealed content
 * never changes: its entries, attributes and pages are cached by the kernel for
 * as long as it likes. Entries in incoming/ are not cached, because they vanish
 * when sealed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "inode.h"
#include "regfs.h"

struct handle {
	struct regfs_open open; /* first: in the table of open things */
	enum { HANDLE_BLOB, HANDLE_STAGED } kind;
	int fd;				     /* HANDLE_BLOB */
	bool passthrough;		     /* HANDLE_BLOB: the kernel reads */
	char digest[RFS_DIGEST_STR_MAX + 1]; /* HANDLE_BLOB */
	int64_t staged_id;		     /* HANDLE_STAGED */
	bool write;
	/* HANDLE_STAGED for writing: who opened it, and the last pid handed
	 * out then (rfs_proc_closer looks at the processes that may share
	 * it). */
	pid_t opener;
	pid_t since;
};

static struct rfs_catalog *catalog(fuse_req_t req)
{
	return rfs_store_catalog(regfs_data(req)->store);
}

static struct handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static void lookup_now(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct regfs *fs = regfs_data(req);
	struct fuse_entry_param e;
	struct regfs_upstream_wait wait;
	int rc;

	regfs_upstream_wait_begin(req, &wait);
	rc = regfs_lookup_in(fs, parent, name, &e);
	/* Whatever it found is answered, even when interrupted. */
	if (regfs_upstream_wait_end(req, &wait) && rc) {
		regfs_log(REGFS_LOG_INFO,
			  "lookup of '%s' interrupted while an upstream was "
			  "asked: EINTR",
			  name);
		rc = -EINTR;
	}

	/* A pending folder is kept while the kernel holds its inode: count
	 * this lookup of it (regfs_lookup_pending counts its own). */
	if (rc == 0 && rfs_ino_kind(e.ino) == RFS_NODE_INCOMING_PENDING &&
	    rfs_pending_ref(fs->pending, rfs_ino_id(e.ino)) != 0)
		rc = -ENOENT;
	if (rc == -ENOENT && parent == RFS_INO_INCOMING)
		rc = regfs_lookup_pending(fs, name, fuse_req_ctx(req)->pid, &e);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_entry(req, &e) != 0 &&
	    rfs_ino_kind(e.ino) == RFS_NODE_INCOMING_PENDING)
		rfs_pending_forget(fs->pending, rfs_ino_id(e.ino), 1);
}

static void lookup_slow(struct regfs_slow_req *s)
{
	lookup_now(s->req, s->ino, s->name);
}

static void regfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct regfs_slow_req *s;

	if (regfs_may_ask_upstream(req, parent)) {
		s = regfs_slow_new(req, lookup_slow, name, NULL);
		if (s)
			s->ino = parent;
		if (regfs_slow_start(s))
			return;
	}
	lookup_now(req, parent, name);
}

/* Inodes carry their meaning: only pending folders are kept for the
 * kernel's lookups (see pending.h). */
static void forget_one(struct regfs *fs, uint64_t ino, uint64_t nlookup)
{
	if (rfs_ino_kind(ino) == RFS_NODE_INCOMING_PENDING)
		rfs_pending_forget(fs->pending, rfs_ino_id(ino), nlookup);
}

static void regfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(regfs_data(req), ino, nlookup);
	fuse_reply_none(req);
}

static void regfs_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		forget_one(regfs_data(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void regfs_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int rc = regfs_stat_ino(regfs_data(req), ino, &st, &timeout);

	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

/* A version range is a link to the tag it resolved to: its name. */
static void regfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct regfs *fs = regfs_data(req);
	struct rfs_tag tag;
	int rc = -EINVAL;

	if (rfs_ino_kind(ino) == RFS_NODE_RANGE)
		rc = rfs_catalog_tag_by_id(rfs_store_catalog(fs->store),
					   rfs_ino_id(ino), &tag);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, tag.name);
}

static void log_error(const struct rfs_error *err, int rc)
{
	regfs_log(REGFS_LOG_ERROR, "%s", rfs_error_message(err, rc));
}

/* A writer over its incoming_max_files may well loop on it: say so at most
 * once every 10 seconds. */
static void log_quota(const struct rfs_error *err, int rc)
{
	static _Atomic long long last;
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec;
	if (last && now - last < 10)
		return;
	last = now;
	log_error(err, rc);
}

/* What a setattr asks of a file in incoming/. Owners and atimes are
 * accepted and not kept: a tag has no owner, and its atime is its mtime. */
static struct rfs_staged_setattr decode_setattr(const struct stat *attr,
						int to_set)
{
	struct rfs_staged_setattr set = { 0 };

	if (to_set & FUSE_SET_ATTR_SIZE) {
		set.set_size = true;
		set.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		set.attrs.set_mode = true;
		set.attrs.mode = attr->st_mode & 07777;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		set.attrs.set_mtime = true;
		set.attrs.mtime_ns =
		    (to_set & FUSE_SET_ATTR_MTIME_NOW)
			? rfs_now_ns()
			: (int64_t)attr->st_mtim.tv_sec * 1000000000 +
			      attr->st_mtim.tv_nsec;
	}
	set.set_other =
	    (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
		       FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) != 0;
	return set;
}

/* A tag's publisher set its mode or mtime after the seal: the kernel keeps
 * a tag's attributes for long, so tell it. */
static void tag_attrs_changed(struct regfs *fs, const struct rfs_tag *tag)
{
	regfs_log(REGFS_LOG_INFO,
		  "'%s:%s': its publisher set its mode or mtime (now %04o)",
		  tag->repo, tag->name, tag->mode);
	fuse_lowlevel_notify_inval_inode(
	    fs->se, rfs_ino_make(RFS_NODE_TAG, tag->id), -1, 0);
}

static void regfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	struct regfs *fs = regfs_data(req);
	struct rfs_error err = { 0 };
	struct stat st;
	double timeout;
	int rc = 0;

	struct rfs_staged_setattr set;
	struct rfs_tag changed;

	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_STAGED:
		set = decode_setattr(attr, to_set);
		rc = rfs_incoming_setattr(fs->incoming, rfs_ino_id(ino),
					  fuse_req_ctx(req)->pid, &set,
					  &changed, &err);
		if (rc == 0 && changed.id)
			tag_attrs_changed(fs, &changed);
		else if (rc && rc != -EROFS && rc != -ENOENT)
			log_error(&err, rc);
		break;
	/* Folders of incoming/ take modes, owners and times (tar, cp -a and
	 * rsync -a set them) and keep none: a folder is a repository path. */
	case RFS_NODE_INCOMING_TOP:
	case RFS_NODE_INCOMING_DIR:
	case RFS_NODE_INCOMING_PENDING: break;
	default: rc = -EROFS; break;
	}
	if (rc == 0)
		rc = regfs_stat_ino(fs, ino, &st, &timeout);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}

static void regfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	struct regfs *fs = regfs_data(req);
	struct rfs_error err = { 0 };
	struct fuse_entry_param e;
	struct rfs_dir dir;
	bool incoming;
	int64_t d;
	/* In a pending folder, the first folder made makes it too (a valid
	 * one: a refused name must not make it). */
	int rc = rfs_ino_kind(parent) == RFS_NODE_INCOMING_PENDING &&
			 !rfs_name_valid_component(name)
		     ? -EINVAL
		     : regfs_dir_of_fs(fs, parent, true, &incoming, &d);

	if (rc == 0 && !incoming)
		rc = -EROFS;
	if (rc == -EPERM)
		rc = -EROFS;
	if (rc == 0)
		rc = rfs_incoming_mkdir(fs->incoming, d, name, &dir, &err);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	regfs_entry_for_dir(fs, &e, true, &dir);
	fuse_reply_entry(req, &e);
}

/* The folder of an incoming/ change, or -EROFS for registry/ and the root.
 * A pending folder is made by a change that puts something in it (make),
 * and holds nothing to remove or rename (-ENOENT) before. */
static int incoming_dir_of(struct regfs *fs, uint64_t ino, bool make,
			   int64_t *dir)
{
	bool incoming;
	int rc = regfs_dir_of_fs(fs, ino, make, &incoming, dir);

	/* The root, registry/ and everything in it (the folder of a
	 * multi-layer tag too) are read-only. */
	if (rc == -EPERM || (rc == 0 && !incoming) ||
	    rfs_ino_kind(ino) == RFS_NODE_TAG)
		return -EROFS;
	return rc == 1 ? -ENOENT : rc;
}

static void regfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int64_t d;
	int rc = incoming_dir_of(regfs_data(req), parent, false, &d);

	if (rc == 0)
		rc = rfs_incoming_unlink(regfs_data(req)->incoming, d, name);
	fuse_reply_err(req, -rc);
}

static void regfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int64_t d;
	int rc = incoming_dir_of(regfs_data(req), parent, false, &d);

	if (rc == 0)
		rc = rfs_incoming_rmdir(regfs_data(req)->incoming, d, name,
					NULL);
	fuse_reply_err(req, -rc);
}

/* After a seal: log it, and drop the kernel's cached listings of the
 * tag's folder and the folders above it, which now show it. */
static void seal_done(fuse_req_t req, int rc, const struct rfs_tag *tag,
		      const struct rfs_error *err)
{
	struct regfs *fs = regfs_data(req);
	struct rfs_dir dir;

	if (rc) {
		log_error(err, rc);
		return;
	}
	if (!tag->id)
		return;
	regfs_log(REGFS_LOG_INFO, "sealed '%s:%s' %s (%" PRIu64 " bytes)",
		  tag->repo, tag->name, tag->digest, tag->size);
	for (int64_t d = tag->dir; d != 0; d = dir.parent) {
		if (rfs_catalog_dir_by_id(catalog(req), d, &dir) != 0)
			break;
		fuse_lowlevel_notify_inval_inode(
		    fs->se, rfs_ino_make(RFS_NODE_REGISTRY_DIR, d), 0, 0);
	}
}

/* A close or rename that seals can take a while (hashing gigabytes). The
 * kernel asks to interrupt it when its process gets a signal; only a
 * signal that kills the process stops the seal, so that a writer that
 * catches signals (Go programs get SIGURG all the time) still publishes.
 * After the first interrupt no other comes, so from then on the closer is
 * looked at now and then (SEAL_CHECK_NS). */
struct seal_cancel {
	atomic_bool interrupted;
	pid_t tid;
	int64_t checked_ns;
	bool dying;
};

#define SEAL_CHECK_NS (50 * 1000000LL)

static void seal_interrupted(fuse_req_t req, void *data)
{
	struct seal_cancel *c = data;

	atomic_store(&c->interrupted, true);
}

static bool seal_cancelled(void *ctx)
{
	struct seal_cancel *c = ctx;
	struct timespec ts;
	int64_t now;

	if (c->dying)
		return true;
	if (!atomic_load(&c->interrupted))
		return false;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	if (c->checked_ns && now - c->checked_ns < SEAL_CHECK_NS)
		return false;
	c->checked_ns = now;
	c->dying = rfs_proc_dying(c->tid);
	return c->dying;
}

/* Ask the kernel's interrupt of req to stop the seal it makes. */
static void seal_cancel_begin(fuse_req_t req, struct seal_cancel *c,
			      struct rfs_cancel *cancel)
{
	c->tid = fuse_req_ctx(req)->pid;
	c->checked_ns = 0;
	c->dying = false;
	atomic_init(&c->interrupted, false);
	*cancel = (struct rfs_cancel){ seal_cancelled, c };
	fuse_req_interrupt_func(req, seal_interrupted, c);
}

/* Waits for a call of seal_interrupted under way: c may go after this. */
static void seal_cancel_end(fuse_req_t req)
{
	fuse_req_interrupt_func(req, NULL, NULL);
}

static void rename_now(fuse_req_t req, fuse_ino_t parent, const char *name,
		       fuse_ino_t newparent, const char *newname,
		       unsigned int flags)
{
	struct rfs_error err = { 0 };
	struct rfs_tag tag = { 0 };
	int64_t d, newd;
	struct regfs *fs = regfs_data(req);
	struct rfs_staged_info info;
	int rc = incoming_dir_of(fs, parent, false, &d);

	/* A file renamed into a pending folder makes it. Anything else
	 * fails (a folder cannot move: EPERM) and must not leave one: it
	 * goes to core as a move to the top, refused there. */
	if (rc == 0) {
		bool file = d != 0 && rfs_incoming_lookup(fs->incoming, d, name,
							  &info) == 0;

		rc = incoming_dir_of(fs, newparent, file, &newd);
		if (rc == -ENOENT && !file &&
		    rfs_ino_kind(newparent) == RFS_NODE_INCOMING_PENDING) {
			newd = 0;
			rc = 0;
		}
	}
	if (rc == 0 && (flags & ~RENAME_NOREPLACE))
		rc = -EINVAL;
	if (rc == 0) {
		struct seal_cancel c;
		struct rfs_cancel cancel;

		seal_cancel_begin(req, &c, &cancel);
		rc = rfs_incoming_rename_with(
		    regfs_data(req)->incoming, d, name, newd, newname, flags,
		    fuse_req_ctx(req)->pid, &cancel, &tag, &err);
		seal_cancel_end(req);
		seal_done(req, rc, &tag, &err);
	}
	fuse_reply_err(req, -rc);
}

static void rename_slow(struct regfs_slow_req *s)
{
	rename_now(s->req, s->ino, s->name, s->newparent, s->newname, s->flags);
}

/* A rename in incoming/ may seal (onto a tag name). */
static void regfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	struct regfs_slow_req *s =
	    regfs_slow_new(req, rename_slow, name, newname);

	if (s) {
		s->ino = parent;
		s->newparent = newparent;
		s->flags = flags;
	}
	if (!regfs_slow_start(s))
		rename_now(req, parent, name, newparent, newname, flags);
}

/* Only regular files and folders can be published: no symlinks, hard
 * links or device nodes. */
static void refuse_node(fuse_req_t req, fuse_ino_t parent)
{
	int64_t d;
	int rc = incoming_dir_of(regfs_data(req), parent, false, &d);

	/* Refused in a pending folder too, which stays one. */
	if (rc == -ENOENT && rfs_ino_kind(parent) == RFS_NODE_INCOMING_PENDING)
		rc = 0;
	fuse_reply_err(req, rc ? -rc : EPERM);
}

static void regfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	refuse_node(req, parent);
}

static void regfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	refuse_node(req, newparent);
}

static void regfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	refuse_node(req, parent);
}

void regfs_open_add(struct regfs *fs, struct regfs_open *o,
		    enum regfs_open_kind kind)
{
	o->kind = kind;
	o->prev = NULL;
	pthread_mutex_lock(&fs->open_lock);
	o->next = fs->open_head;
	if (o->next)
		o->next->prev = o;
	fs->open_head = o;
	pthread_mutex_unlock(&fs->open_lock);
}

void regfs_open_remove(struct regfs *fs, struct regfs_open *o)
{
	pthread_mutex_lock(&fs->open_lock);
	if (o->prev)
		o->prev->next = o->next;
	else
		fs->open_head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	pthread_mutex_unlock(&fs->open_lock);
}

static struct handle *handle_new(struct regfs *fs, int kind)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->kind = kind;
		h->fd = -1;
		regfs_open_add(fs, &h->open, REGFS_OPEN_HANDLE);
	}
	return h;
}

static void handle_free(struct regfs *fs, struct handle *h)
{
	regfs_open_remove(fs, &h->open);
	free(h);
}

static void regfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct regfs *fs = regfs_data(req);
	struct rfs_error err = { 0 };
	struct rfs_staged_info info;
	struct fuse_entry_param e;
	struct handle *h;
	enum rfs_staged_kind kind;
	int64_t d;
	/* The first file created in a pending folder makes it; a name that
	 * could not be created must not make it first. */
	int rc = rfs_ino_kind(parent) == RFS_NODE_INCOMING_PENDING
		     ? rfs_incoming_classify(name, &kind)
		     : 0;

	if (rc == 0)
		rc = incoming_dir_of(fs, parent, true, &d);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	h = handle_new(fs, HANDLE_STAGED);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = rfs_incoming_create_by(fs->incoming, d, name, mode & 07777,
				    fuse_req_ctx(req)->uid, &info, &err);
	if (rc) {
		if (rc == -EDQUOT)
			log_quota(&err, rc);
		else if (rc != -EEXIST && rc != -EINVAL)
			log_error(&err, rc);
		handle_free(fs, h);
		fuse_reply_err(req, -rc);
		return;
	}
	h->staged_id = info.id;
	h->write = true;
	h->opener = rfs_proc_tgid(fuse_req_ctx(req)->pid);
	h->since = rfs_proc_last_pid();
	fi->fh = (uintptr_t)h;
	regfs_entry_for_staged(fs, &e, &info);
	if (fuse_reply_create(req, &e, fi) != 0) {
		rfs_incoming_release(fs->incoming, info.id, true, NULL, NULL);
		handle_free(fs, h);
	}
}

/* Hand a reader an open blob: a handle, kernel caching or passthrough, the
 * reply. */
static void finish_open(struct regfs *fs, fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi, int fd, const char *digest)
{
	struct handle *h = handle_new(fs, HANDLE_BLOB);
	int backing_id, rc;

	if (!h) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fd = fd;
	snprintf(h->digest, sizeof(h->digest), "%s", digest);
	rfs_pull_blob_opened(fs->pull, digest);
	fi->fh = (uintptr_t)h;
	fi->noflush = 1;
	/* Set before the reply: its release may come at once. */
	backing_id = regfs_passthrough_get(fs, ino, fd);
	h->passthrough = backing_id > 0;
	if (h->passthrough) {
		rc = regfs_passthrough_reply_open(req, fi, backing_id);
	} else {
		fi->keep_cache = 1;
		rc = fuse_reply_open(req, fi);
	}
	if (rc != 0) {
		/* The opener is gone (interrupted): nobody will release. */
		if (h->passthrough)
			regfs_passthrough_put(fs, ino);
		rfs_pull_blob_closed(fs->pull, digest);
		close(fd);
		handle_free(fs, h);
	}
}

/* An open waiting for a blob to be fetched from an upstream: bounded and
 * interruptible (wait.c). */
struct pending_open {
	struct regfs_wait wait;
	struct regfs *fs;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	char digest[RFS_DIGEST_STR_MAX + 1];
};

static void fetched(void *ctx, int fd, const struct rfs_error *err)
{
	struct pending_open *p = ctx;

	if (!regfs_wait_end(p->fs, &p->wait)) {
		/* Answered already (EINTR, ETIMEDOUT): nobody to give it. */
		if (fd >= 0)
			close(fd);
	} else if (fd < 0) {
		/* A reader gets only verified bytes, or EIO; or EACCES for
		 * bytes the seal hook refused. */
		regfs_log(REGFS_LOG_ERROR, "%s", rfs_error_message(err, fd));
		fuse_reply_err(p->wait.req, fd == -EACCES ? EACCES : EIO);
	} else {
		finish_open(p->fs, p->wait.req, p->ino, &p->fi, fd, p->digest);
	}
	free(p);
}

/* Serve a request on an open file (ino, fi, and a READ's size and off) on
 * an offload thread; false: it cannot be, and the caller serves it. */
static bool hand_off_file(fuse_req_t req,
			  void (*serve)(struct regfs_slow_req *s),
			  fuse_ino_t ino, const struct fuse_file_info *fi,
			  size_t size, off_t off)
{
	struct regfs_slow_req *s = regfs_slow_new(req, serve, NULL, NULL);

	if (s) {
		s->ino = ino;
		s->fi = *fi;
		s->size = size;
		s->off = off;
	}
	return regfs_slow_start(s);
}

static void open_slow(struct regfs_slow_req *s);

static void open_blob(struct regfs *fs, fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi, const struct rfs_tag *tag,
		      const struct rfs_blob_ref *ref, bool offloaded)
{
	struct rfs_error err = { 0 };
	struct regfs_upstream_wait wait;
	struct pending_open *p;
	int fd, rc;

	/* require_signature: not a byte of a tag without its signature. A
	 * pulled tag's may be checked on its upstream now: the open begins
	 * again on an offload thread, which may wait for it. */
	if (!offloaded && rfs_pull_policy_asks_upstream(fs->pull, tag) &&
	    hand_off_file(req, open_slow, ino, fi, 0, 0))
		return;
	regfs_upstream_wait_begin(req, &wait);
	rc = rfs_pull_check_policy(fs->pull, tag, &err);
	if (regfs_upstream_wait_end(req, &wait) && rc) {
		regfs_log(REGFS_LOG_INFO,
			  "open of '%s:%s' interrupted while its signature "
			  "was checked upstream: EINTR",
			  tag->repo, tag->name);
		fuse_reply_err(req, EINTR);
		return;
	}
	if (rc) {
		regfs_log(REGFS_LOG_ERROR, "%s", rfs_error_message(&err, rc));
		fuse_reply_err(req, -rc);
		return;
	}
	fd = rfs_store_blob_open(fs->store, ref->digest);
	if (fd >= 0 || fd != -ENOENT || !tag->origin[0]) {
		if (fd < 0) {
			regfs_log(REGFS_LOG_ERROR,
				  "cannot open blob %s of '%s:%s': %s",
				  ref->digest, tag->repo, tag->name,
				  strerror(-fd));
			fuse_reply_err(req, EIO);
			return;
		}
		finish_open(fs, req, ino, fi, fd, ref->digest);
		return;
	}
	/* Not fetched yet, or evicted: the reply comes when the download
	 * (ours, or the one under way) is verified and stored, or at the
	 * opener's interrupt, or at open_timeout. No thread of the session
	 * waits for it. */
	p = calloc(1, sizeof(*p));
	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*p = (struct pending_open){ .fs = fs, .ino = ino, .fi = *fi };
	snprintf(p->digest, sizeof(p->digest), "%s", ref->digest);
	snprintf(p->wait.what, sizeof(p->wait.what), "'%s:%s' (%s)", tag->repo,
		 tag->name, ref->digest);
	if (regfs_wait_begin(fs, &p->wait, req) != 0) {
		fuse_reply_err(req, EINTR);
		free(p);
		return;
	}
	rc = rfs_pull_fetch(fs->pull, tag, ref->digest, ref->size, fetched, p,
			    &err);
	if (rc == 0)
		return; /* fetched() answers, or the wait did, and frees p */
	if (!regfs_wait_end(fs, &p->wait)) {
		free(p); /* answered meanwhile */
		return;
	}
	if (rc == 1) /* it arrived meanwhile */
		rc = rfs_store_blob_open(fs->store, ref->digest);
	if (rc >= 0) {
		finish_open(fs, req, ino, fi, rc, ref->digest);
	} else {
		regfs_log(REGFS_LOG_ERROR, "%s", rfs_error_message(&err, rc));
		fuse_reply_err(req, rc == -EACCES ? EACCES : EIO);
	}
	free(p);
}

/* offloaded: on an offload thread, where the open may wait. */
static void open_now(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     bool offloaded)
{
	struct regfs *fs = regfs_data(req);
	bool write = (fi->flags & O_ACCMODE) != O_RDONLY;
	struct rfs_staged_info info;
	struct rfs_blob_ref ref;
	struct rfs_tag tag;
	struct handle *h;
	int rc;

	switch (rfs_ino_kind(ino)) {
	case RFS_NODE_TAG:
	case RFS_NODE_LAYER:
	case RFS_NODE_MANIFEST:
		rc = regfs_blob_of(fs, ino, &tag, &ref);
		/* A local tag regctl rm removed (retired: dir 0) is gone at
		 * once, though the kernel may still know its name: ESTALE
		 * makes open(2) look the name up again (LOOKUP_REVAL), which
		 * gives ENOENT, or the tag published anew under it. */
		if (rc == 0 && tag.dir == 0 && !tag.origin[0]) {
			regfs_watch_poke(fs);
			rc = -ESTALE;
		}
		if (rc == 0 && (write || (fi->flags & O_TRUNC)))
			rc = -EROFS;
		if (rc)
			fuse_reply_err(req, -rc);
		else
			open_blob(fs, req, ino, fi, &tag, &ref, offloaded);
		return;
	case RFS_NODE_STAGED:
		/* A tag just sealed reads as the tag. */
		if (!write &&
		    rfs_incoming_stat(fs->incoming, rfs_ino_id(ino), &info) ==
			0 &&
		    info.sealed) {
			rc = regfs_blob_of(
			    fs, rfs_ino_make(RFS_NODE_TAG, info.tag_id), &tag,
			    &ref);
			if (rc)
				fuse_reply_err(req, -rc);
			else
				open_blob(fs, req, ino, fi, &tag, &ref,
					  offloaded);
			return;
		}
		h = handle_new(fs, HANDLE_STAGED);
		if (!h) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		rc = rfs_incoming_open(fs->incoming, rfs_ino_id(ino), write,
				       NULL);
		if (rc) {
			handle_free(fs, h);
			fuse_reply_err(req, -rc);
			return;
		}
		h->staged_id = rfs_ino_id(ino);
		h->write = write;
		if (write) {
			h->opener = rfs_proc_tgid(fuse_req_ctx(req)->pid);
			h->since = rfs_proc_last_pid();
		}
		fi->direct_io = 1; /* the content may still change */
		fi->fh = (uintptr_t)h;
		if (fuse_reply_open(req, fi) != 0) {
			rfs_incoming_release(fs->incoming, h->staged_id,
					     h->write, NULL, NULL);
			handle_free(fs, h);
		}
		return;
	case RFS_NODE_NONE: fuse_reply_err(req, ENOENT); return;
	default: fuse_reply_err(req, EISDIR); return;
	}
}

static void open_slow(struct regfs_slow_req *s)
{
	open_now(s->req, s->ino, &s->fi, true);
}

static void regfs_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	open_now(req, ino, fi, false);
}

/* Is h a staged file another closer is sealing? Its reads and its last
 * release wait until the seal is done (hashing, fsync, the seal hook). */
static bool staged_sealing(fuse_req_t req, const struct handle *h)
{
	return h->kind == HANDLE_STAGED &&
	       rfs_incoming_sealing(regfs_data(req)->incoming, h->staged_id);
}

static void read_now(fuse_req_t req, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	char *data;
	ssize_t n;

	if (h->kind == HANDLE_BLOB) {
		/* Straight from the blob file; spliced when the kernel can. */
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = h->fd;
		buf.buf[0].pos = off;
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	data = malloc(size ? size : 1);
	if (!data) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = rfs_incoming_read(regfs_data(req)->incoming, h->staged_id, data,
			      size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, data, (size_t)n);
	free(data);
}

static void read_slow(struct regfs_slow_req *s)
{
	read_now(s->req, s->size, s->off, &s->fi);
}

static void regfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	if (!staged_sealing(req, handle_of(fi)) ||
	    !hand_off_file(req, read_slow, ino, fi, size, off))
		read_now(req, size, off, fi);
}

static void regfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct rfs_error err = { 0 };
	ssize_t n;

	if (h->kind != HANDLE_STAGED || !h->write) {
		fuse_reply_err(req, EBADF);
		return;
	}
	n = rfs_incoming_write(regfs_data(req)->incoming, h->staged_id, buf,
			       size, (uint64_t)off, &err);
	if (n < 0) {
		if (n != -ENOSPC && n != -EBADF)
			log_error(&err, (int)n);
		fuse_reply_err(req, (int)-n);
	} else {
		fuse_reply_write(req, (size_t)n);
	}
}

/* The end of a staged file's path as processes' descriptors show it
 * ("/incoming/app/v1"): what rfs_proc_closer looks for. NULL when not
 * known (then it looks at every descriptor). */
static const char *staged_path(struct regfs *fs, const struct handle *h,
			       char *buf, size_t size)
{
	struct rfs_staged_info info;
	struct rfs_dir dir;
	int n;

	if (rfs_incoming_stat(fs->incoming, h->staged_id, &info) != 0 ||
	    rfs_catalog_dir_by_id(rfs_store_catalog(fs->store), info.dir,
				  &dir) != 0)
		return NULL;
	n = snprintf(buf, size, "/incoming/%s/%s", dir.path, info.name);
	return n > 0 && (size_t)n < size ? buf : NULL;
}

static void log_closer(struct regfs *fs, const struct handle *h,
		       enum rfs_closer closer, pid_t pid)
{
	struct rfs_staged_info info;

	if ((closer != RFS_CLOSER_KILLED && closer != RFS_CLOSER_SHARED) ||
	    rfs_incoming_stat(fs->incoming, h->staged_id, &info) != 0)
		return;
	if (closer == RFS_CLOSER_KILLED)
		regfs_log(REGFS_LOG_INFO,
			  "writer %d of '%s' was killed by a signal: "
			  "discarding what it wrote",
			  (int)pid, info.name);
	else
		regfs_log(REGFS_LOG_INFO,
			  "writer %d of '%s' closed it while another process "
			  "holds it open for writing: the last one's close "
			  "seals it",
			  (int)pid, info.name);
}

static void flush_now(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct regfs *fs = regfs_data(req);
	struct handle *h = handle_of(fi);
	struct rfs_error err = { 0 };
	struct rfs_tag tag = { 0 };
	pid_t pid = fuse_req_ctx(req)->pid;
	struct seal_cancel c;
	struct rfs_cancel cancel;
	enum rfs_closer closer;
	int rc = 0;

	if (h->kind == HANDLE_STAGED && h->write) {
		char suffix[RFS_STAGED_NAME_MAX + RFS_REPO_MAX + 16];
		struct rfs_proc_file file = {
			.ino = ino,
			.suffix = staged_path(fs, h, suffix, sizeof(suffix)),
			.opener = h->opener,
			.since = h->since,
		};

		closer = rfs_proc_closer(pid, &file);
		log_closer(fs, h, closer, pid);
		seal_cancel_begin(req, &c, &cancel);
		rc = rfs_incoming_flush(fs->incoming, h->staged_id, true,
					closer, pid, &cancel, &tag, &err);
		seal_cancel_end(req);
		seal_done(req, rc, &tag, &err);
	}
	fuse_reply_err(req, -rc);
}

static void release_now(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct rfs_error err = { 0 };
	struct rfs_tag tag = { 0 };
	int rc;

	if (h->kind == HANDLE_STAGED) {
		rc = rfs_incoming_release(regfs_data(req)->incoming,
					  h->staged_id, h->write, &tag, &err);
		seal_done(req, rc, &tag, &err);
	} else {
		if (h->passthrough)
			regfs_passthrough_put(regfs_data(req), ino);
		rfs_pull_blob_closed(regfs_data(req)->pull, h->digest);
		close(h->fd);
	}
	handle_free(regfs_data(req), h);
	fuse_reply_err(req, 0);
}

static void flush_slow(struct regfs_slow_req *s)
{
	flush_now(s->req, s->ino, &s->fi);
}

static void release_slow(struct regfs_slow_req *s)
{
	release_now(s->req, s->ino, &s->fi);
}

/* The close or release of a file written in incoming/ may seal it; the
 * release of any handle of a file being sealed waits for that seal. */
static bool may_seal(fuse_req_t req, void (*serve)(struct regfs_slow_req *s),
		     fuse_ino_t ino, const struct fuse_file_info *fi)
{
	const struct handle *h = handle_of(fi);

	if (h->kind != HANDLE_STAGED || (!h->write && !staged_sealing(req, h)))
		return false;
	return hand_off_file(req, serve, ino, fi, 0, 0);
}

static void regfs_flush(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	if (!may_seal(req, flush_slow, ino, fi))
		flush_now(req, ino, fi);
}

static void regfs_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	if (!may_seal(req, release_slow, ino, fi))
		release_now(req, ino, fi);
}

static void regfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	/* Sealed content is durable; staged content is made durable by its
	 * seal, and before that there is nothing a crash should keep. */
	fuse_reply_err(req, 0);
}

static void regfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (statvfs(rfs_store_root(regfs_data(req)->store), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	sv.f_namemax = RFS_STAGED_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

static void regfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct regfs *fs = userdata;

	/* WRITEs of up to 1 MiB, READs of up to max_read (512 KiB unless
	 * -o max_read says otherwise, main.c), which libfuse wants said
	 * again here. */
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	conn->max_read = fs->max_read;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* File handles (NFS, open_by_handle_at) that outlive the kernel's
	 * inodes and the daemon: see node.c. */
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/* Sealed content never changes: no need for the kernel to check a
	 * file's attributes on every read to invalidate its pages. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

void regfs_open_free_all(struct regfs *fs)
{
	struct regfs_open *o;

	regfs_listing_cache_drop(fs);
	while ((o = fs->open_head)) {
		if (o->kind == REGFS_OPEN_LISTING) {
			regfs_listing_free_open(fs, o);
		} else {
			struct handle *h = (struct handle *)o;

			if (h->kind == HANDLE_BLOB && h->fd >= 0)
				close(h->fd);
			handle_free(fs, h);
		}
	}
}

const struct fuse_lowlevel_ops regfs_ops = {
	.init = regfs_init,
	.lookup = regfs_lookup,
	.forget = regfs_forget,
	.forget_multi = regfs_forget_multi,
	.getattr = regfs_getattr,
	.readlink = regfs_readlink,
	.setattr = regfs_setattr,
	.mkdir = regfs_mkdir,
	.unlink = regfs_unlink,
	.rmdir = regfs_rmdir,
	.rename = regfs_rename,
	.symlink = regfs_symlink,
	.link = regfs_link,
	.mknod = regfs_mknod,
	.create = regfs_create,
	.open = regfs_open,
	.read = regfs_read,
	.write = regfs_write,
	.flush = regfs_flush,
	.release = regfs_release,
	.fsync = regfs_fsync,
	.opendir = regfs_opendir,
	.readdir = regfs_readdir,
	.readdirplus = regfs_readdirplus,
	.releasedir = regfs_releasedir,
	.statfs = regfs_statfs,
	.getxattr = regfs_getxattr,
	.listxattr = regfs_listxattr,
	.setxattr = regfs_setxattr,
	.removexattr = regfs_removexattr,
};
