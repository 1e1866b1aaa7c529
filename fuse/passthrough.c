/*
 * passthrough.c - let the kernel read sealed blobs straight from the store.
 *
 * Since Linux 6.9 a FUSE server may answer OPEN with a "backing file": the
 * kernel then serves read, splice and mmap of that open file from the
 * backing file itself, through its page cache and read-ahead, and the
 * daemon sees no READ at all. A sealed tag is a verified blob file that
 * never changes, so this is exactly right for registry/: a read through
 * the mount costs what a read of the blob costs.
 *
 * libfuse 3.14 (Debian 12) predates the feature, but it lets us supply the
 * functions that read from and write to /dev/fuse. We use them for two
 * things only: to add capabilities to the INIT reply, and to send raw OPEN
 * replies that carry a backing id. Everything else passes through
 * unchanged (READ replies spliced from the blob files too: libfuse
 * splices only through a function of ours once we supply them).
 *
 * The INIT reply gets one more capability, with or without passthrough:
 * parallel directory operations, which libfuse 3.14 takes in its want
 * flags but never passes on. Without it the kernel sends one lookup or
 * readdir of a folder at a time: a lookup waiting on a slow upstream held
 * every other lookup in its repository, and an NFS server's threads
 * looked up the names of one folder one after another.
 *
 * Where the kernel does not offer passthrough, or refuses to register a
 * backing file (it requires CAP_SYS_ADMIN), opens are answered as before
 * and the daemon serves READ requests from the blob file.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <search.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "regfs.h"

/* From the kernel's fuse.h of protocol 7.40; Debian 12's copy is 7.38. */
#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1 << 7)
#endif
#ifndef FUSE_DEV_IOC_BACKING_OPEN
struct fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define FUSE_DEV_IOC_BACKING_OPEN \
	_IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
#define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
#endif

/* The INIT reply as protocol 7.40 lays it out: max_stack_depth takes the
 * first word that older versions leave unused. */
struct init_out_740 {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2, max_stack_depth;
	uint32_t unused[6];
};
_Static_assert(sizeof(struct init_out_740) == 64, "fuse_init_out is 64 bytes");

/* The open reply of 7.40: the backing id replaces the padding. */
struct open_out_740 {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};
_Static_assert(sizeof(struct open_out_740) == sizeof(struct fuse_open_out),
	       "fuse_open_out is 16 bytes");

/*
 * The stack depth we ask for: one more than the store's filesystem has.
 * A store on overlayfs (as a container's root often is) needs 2, and then
 * the mount cannot itself be stacked under overlayfs; a store on a plain
 * filesystem needs 1, which allows that.
 */
#ifndef OVERLAYFS_SUPER_MAGIC
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#endif
#ifndef ECRYPTFS_SUPER_MAGIC
#define ECRYPTFS_SUPER_MAGIC 0xf15f
#endif

static uint32_t stack_depth_for(const char *store)
{
	struct statfs sfs;

	if (statfs(store, &sfs) == 0 && (sfs.f_type == OVERLAYFS_SUPER_MAGIC ||
					 sfs.f_type == ECRYPTFS_SUPER_MAGIC))
		return 2;
	return 1;
}

/* One backing file per inode: the kernel refuses an open of an inode that
 * another open serves from a different backing file. */
struct backing {
	uint64_t ino;
	int id;
	unsigned opens;
};

struct regfs_passthrough {
	int dev_fd;
	atomic_bool init_done;
	uint64_t init_unique; /* the INIT request, until it is answered */
	bool offered;	      /* the kernel can do passthrough */
	bool want;	      /* and we ask for it (not -o no_passthrough) */
	bool parallel;	      /* the kernel can do parallel dirops */
	uint32_t stack_depth; /* what we ask for */
	atomic_bool enabled;  /* negotiated, and registering works */
	pthread_mutex_t lock; /* guards backings */
	void *backings;	      /* a tsearch(3) tree of struct backing */
};

#define INIT_IN_FLAGS_END \
	(offsetof(struct fuse_init_in, flags) + sizeof(uint32_t))
#define INIT_IN_FLAGS2_END \
	(offsetof(struct fuse_init_in, flags2) + sizeof(uint32_t))

static ssize_t dev_read(int fd, void *buf, size_t len, void *userdata)
{
	struct regfs_passthrough *pt = ((struct regfs *)userdata)->passthrough;
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	/* The kernel sends nothing else until INIT is answered. Kernels
	 * before 5.17 (protocol 7.36) send INIT's first 16 bytes only, up to
	 * flags; flags2 is read where it was sent. */
	if (n >= (ssize_t)(sizeof(*in) + INIT_IN_FLAGS_END) &&
	    !atomic_load(&pt->init_done) && in->opcode == FUSE_INIT) {
		const struct fuse_init_in *arg = (const void *)(in + 1);
		uint64_t flags = arg->flags;

		if ((flags & FUSE_INIT_EXT) &&
		    n >= (ssize_t)(sizeof(*in) + INIT_IN_FLAGS2_END))
			flags |= (uint64_t)arg->flags2 << 32;
		pt->init_unique = in->unique;
		pt->offered = (flags & FUSE_PASSTHROUGH) != 0;
		pt->parallel = (flags & FUSE_PARALLEL_DIROPS) != 0;
	}
	return n;
}

static ssize_t dev_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct regfs_passthrough *pt = ((struct regfs *)userdata)->passthrough;
	const struct fuse_out_header *out = iov[0].iov_base;

	if (!atomic_load(&pt->init_done) && pt->init_unique != 0 &&
	    out->unique == pt->init_unique) {
		struct init_out_740 *arg =
		    count == 2 && out->error == 0 &&
			    iov[1].iov_len >= sizeof(*arg)
			? iov[1].iov_base
			: NULL;

		if (arg && pt->parallel)
			arg->flags |= FUSE_PARALLEL_DIROPS;
		/* Passthrough and the writeback cache exclude each other;
		 * regfs never asks for the latter. */
		if (arg && pt->want && pt->offered &&
		    !(arg->flags & FUSE_WRITEBACK_CACHE)) {
			arg->flags |= FUSE_INIT_EXT;
			arg->flags2 |= (uint32_t)(FUSE_PASSTHROUGH >> 32);
			arg->max_stack_depth = pt->stack_depth;
			atomic_store(&pt->enabled, true);
			regfs_log(REGFS_LOG_INFO, "reading sealed tags by "
						  "kernel passthrough");
		}
		atomic_store(&pt->init_done, true);
	}
	return writev(fd, iov, count);
}

/* Replies spliced from a blob file: libfuse splices only through our
 * functions once it uses them (else every READ is copied twice). */
static ssize_t dev_splice_send(int fdin, off_t *offin, int fdout, off_t *offout,
			       size_t len, unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int regfs_passthrough_start(struct regfs *fs, const char *store, bool want)
{
	static const struct fuse_custom_io io = {
		.read = dev_read,
		.writev = dev_writev,
		.splice_send = dev_splice_send,
	};
	struct regfs_passthrough *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return -ENOMEM;
	pthread_mutex_init(&pt->lock, NULL);
	pt->dev_fd = fuse_session_fd(fs->se);
	pt->stack_depth = stack_depth_for(store);
	pt->want = want;
	fs->passthrough = pt;
	/* Same descriptor: libfuse only starts to use our functions on it. */
	if (fuse_session_custom_io(fs->se, &io, pt->dev_fd) != 0) {
		regfs_passthrough_free(fs);
		return -EIO;
	}
	return 0;
}

void regfs_passthrough_free(struct regfs *fs)
{
	struct regfs_passthrough *pt = fs->passthrough;

	if (!pt)
		return;
	pthread_mutex_destroy(&pt->lock);
	tdestroy(pt->backings, free);
	free(pt);
	fs->passthrough = NULL;
}

static int by_ino(const void *a, const void *b)
{
	const struct backing *x = a, *y = b;

	return (x->ino > y->ino) - (x->ino < y->ino);
}

static struct backing *find_backing(struct regfs_passthrough *pt, uint64_t ino)
{
	struct backing key = { .ino = ino };
	void *node = tfind(&key, &pt->backings, by_ino);

	return node ? *(struct backing **)node : NULL;
}

/* Register fd as the backing file of ino, or count one more open of the
 * file registered. Returns the backing id, or 0 to serve reads ourselves. */
int regfs_passthrough_get(struct regfs *fs, uint64_t ino, int fd)
{
	struct regfs_passthrough *pt = fs->passthrough;
	struct fuse_backing_map map = { .fd = fd };
	struct backing *b;
	int id = 0;

	if (!pt || !atomic_load(&pt->enabled))
		return 0;
	pthread_mutex_lock(&pt->lock);
	b = find_backing(pt, ino);
	if (b) {
		b->opens++;
		id = b->id;
		goto out;
	}
	b = malloc(sizeof(*b));
	if (!b)
		goto out;
	id = ioctl(pt->dev_fd, FUSE_DEV_IOC_BACKING_OPEN, &map);
	if (id <= 0) {
		int e = errno;

		/* These never get better: stop trying. Others (out of
		 * memory or descriptors) leave just this open to the daemon;
		 * were the inode open by passthrough at the same time, the
		 * kernel would refuse it, as it refuses any open when memory
		 * runs out. */
		id = 0;
		if (e == EPERM || e == ENOTTY || e == EINVAL ||
		    e == EOPNOTSUPP || e == ELOOP) {
			atomic_store(&pt->enabled, false);
			regfs_log(REGFS_LOG_INFO,
				  "kernel passthrough refused (%s): the "
				  "daemon serves reads",
				  strerror(e));
		}
		free(b);
		goto out;
	}
	*b = (struct backing){ ino, id, 1 };
	if (!tsearch(b, &pt->backings, by_ino)) {
		uint32_t unused = (uint32_t)id;

		ioctl(pt->dev_fd, FUSE_DEV_IOC_BACKING_CLOSE, &unused);
		free(b);
		id = 0;
	}
out:
	pthread_mutex_unlock(&pt->lock);
	return id;
}

void regfs_passthrough_put(struct regfs *fs, uint64_t ino)
{
	struct regfs_passthrough *pt = fs->passthrough;
	struct backing *b;

	pthread_mutex_lock(&pt->lock);
	b = find_backing(pt, ino);
	if (b && --b->opens == 0) {
		uint32_t id = (uint32_t)b->id;

		/* Open files keep their own reference to the backing file. */
		ioctl(pt->dev_fd, FUSE_DEV_IOC_BACKING_CLOSE, &id);
		tdelete(b, &pt->backings, by_ino);
		free(b);
	}
	pthread_mutex_unlock(&pt->lock);
}

int regfs_passthrough_reply_open(fuse_req_t req,
				 const struct fuse_file_info *fi,
				 int backing_id)
{
	struct open_out_740 arg = { 0 };
	struct iovec iov = { &arg, sizeof(arg) };

	arg.fh = fi->fh;
	arg.open_flags = FOPEN_PASSTHROUGH | (fi->noflush ? FOPEN_NOFLUSH : 0);
	arg.backing_id = backing_id;
	return fuse_reply_iov(req, &iov, 1);
}
