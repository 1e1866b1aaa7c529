/*
 * seal.c - staging, hashing and committing content as a tag (see seal.h).
 *
 * A staging file is created with O_TMPFILE where the filesystem allows it:
 * it has no name until it is linked into blobs/ under its digest, so a crash
 * leaves nothing to clean. Elsewhere it is a named file in staging/, held
 * with flock() so that rfs_store_open() can tell a leftover from a file in
 * use. Either way the blob appears by link(), which fails with EEXIST when
 * the content is already stored: content is stored once per digest without
 * a window where a reader could see a partial blob.
 *
 * A seal nobody is writing can be parked (rfs_seal_park): its file is named
 * in a folder its owner holds locked and its descriptor is closed, to be
 * opened again by the first operation that needs it. Staged files in
 * incoming/ that nobody holds open cost the daemon no descriptor that way.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "digest.h"
#include "files.h"
#include "hashpipe.h"
#include "seal-hook.h"
#include "seal.h"

struct rfs_seal {
	struct rfs_store *store;
	int fd;
	char path[PATH_MAX]; /* named staging file, or "" for O_TMPFILE */
	bool parked;	     /* path is in a park folder (fd may be -1) */
	struct rfs_hasher *hasher;
	uint64_t hashed; /* bytes [0, hashed) went through the hasher */
	uint64_t size;
	bool rehash;   /* something below hashed changed: hash again */
	bool done;     /* no more writes: verified, stored, or failed */
	bool verified; /* hashed and checked: digest is the content's */
	bool stored;   /* rfs_seal_store ran (whatever its outcome) */
	int scanned;   /* the seal hook's answer: 0 not asked, 1 yes, or
			* the negative errno it refused with */
	char digest[RFS_DIGEST_STR_MAX + 1];
	int failed; /* a write or truncate failed: the content is not what
		     * the writer meant, so it must never be sealed */
	uint64_t flushing;	   /* writeback started for [0, flushing) */
	unsigned flags;		   /* RFS_SEAL_* */
	struct rfs_hashpipe *pipe; /* RFS_SEAL_STREAM */
	uint64_t max_size;	   /* 0: any (RFS_SEAL_ANY_SIZE) */
	const struct rfs_cancel *cancel;
};

/* Start writing back what came in every so often, so that the fsync of
 * the seal finds little left to do: the disk works while data streams in. */
#define WRITEBACK_STEP (8u << 20)

/* What the checks of a seal look at. */
struct seal_subject {
	const char *what; /* "'app:v1'", for messages */
	const char *digest;
	uint64_t size;
};

typedef int (*seal_check_fn)(const struct seal_subject *subject,
			     const struct rfs_seal_options *opts,
			     struct rfs_error *err);

static int check_expected_digest(const struct seal_subject *subject,
				 const struct rfs_seal_options *opts,
				 struct rfs_error *err)
{
	if (!opts || !opts->expected_digest ||
	    strcmp(opts->expected_digest, subject->digest) == 0)
		return 0;
	return rfs_error_set(
	    err, -EBADMSG, "digest mismatch for %s: expected %s, got %s",
	    subject->what, opts->expected_digest, subject->digest);
}

/* Every check a seal must pass, in order, after hashing and before the
 * content is stored. A signature or size policy goes here. */
static const seal_check_fn seal_checks[] = {
	check_expected_digest,
};

static int open_staging(struct rfs_seal *seal, struct rfs_error *err)
{
	const char *dir = rfs_store_staging_dir(seal->store);

	seal->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (seal->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		goto fail;
	for (;;) {
		struct stat st;

		snprintf(seal->path, sizeof(seal->path), "%s/seal-XXXXXX", dir);
		seal->fd = mkostemp(seal->path, O_CLOEXEC);
		if (seal->fd < 0)
			goto fail;
		if (flock(seal->fd, LOCK_EX) < 0) {
			unlink(seal->path);
			goto fail;
		}
		/* Another process's sweep may have taken the file between
		 * its creation and our lock: then make another. */
		if (fstat(seal->fd, &st) == 0 && st.st_nlink > 0)
			return 0;
		close(seal->fd);
	}
fail:
	return rfs_error_set(err, -errno,
			     "cannot create a staging file in '%s': %s", dir,
			     strerror(errno));
}

/* The descriptor of the staging file, opened again if the seal was parked. */
static int seal_fd(struct rfs_seal *seal)
{
	if (seal->fd >= 0)
		return seal->fd;
	if (!seal->parked) {
		errno = EBADF;
		return -EBADF;
	}
	seal->fd = open(seal->path, O_RDWR | O_CLOEXEC);
	return seal->fd >= 0 ? seal->fd : -errno;
}

int rfs_seal_park(struct rfs_seal *seal, const char *dir)
{
	static atomic_ullong parked;
	char path[PATH_MAX], fdpath[64];
	int n;

	if (!seal || seal->fd < 0)
		return 0;
	if (seal->pipe || seal->done)
		return -EBUSY;
	if (!seal->parked) {
		n = snprintf(path, sizeof(path), "%s/parked-%d-%llu", dir,
			     (int)getpid(), (unsigned long long)++parked);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", seal->fd);
		/* A named staging file moves (out of reach of sweeps, which
		 * only its lock kept off); an O_TMPFILE gets its first name. */
		if (seal->path[0] ? rename(seal->path, path)
				  : linkat(AT_FDCWD, fdpath, AT_FDCWD, path,
					   AT_SYMLINK_FOLLOW))
			return -errno;
		snprintf(seal->path, sizeof(seal->path), "%s", path);
		seal->parked = true;
	}
	close(seal->fd);
	seal->fd = -1;
	return 0;
}

int rfs_seal_begin_with(struct rfs_store *store, unsigned flags,
			struct rfs_seal **out, struct rfs_error *err)
{
	struct rfs_seal *seal;
	int rc;

	/* Refused at the start (a create in incoming/), not only at the
	 * commit: content for a catalog that was deleted would be lost. */
	rc = rfs_catalog_check_file(rfs_store_catalog(store), err);
	if (rc)
		return rc;
	seal = calloc(1, sizeof(*seal));
	if (!seal)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	seal->store = store;
	seal->fd = -1;
	seal->flags = flags;
	if (!(flags & RFS_SEAL_ANY_SIZE))
		seal->max_size = rfs_store_max_tag_size(store);
	rc = rfs_hasher_new(&seal->hasher);
	if (rc) {
		rfs_error_set(err, rc, "cannot start a hash");
		goto out;
	}
	rc = open_staging(seal, err);
	if (rc)
		goto out;
	if (flags & RFS_SEAL_STREAM) {
		rc = rfs_hashpipe_new(seal->fd, 0, seal->hasher, &seal->pipe);
		if (rc) {
			rfs_error_set(err, rc, "cannot start hashing: %s",
				      strerror(-rc));
			goto out;
		}
	}
	*out = seal;
	return 0;
out:
	rfs_seal_free(&seal);
	return rc;
}

int rfs_seal_begin(struct rfs_store *store, struct rfs_seal **out,
		   struct rfs_error *err)
{
	return rfs_seal_begin_with(store, 0, out, err);
}

void rfs_seal_set_cancel(struct rfs_seal *seal, const struct rfs_cancel *cancel)
{
	seal->cancel = cancel;
}

/* The store's max_tag_size: refused before a byte past it is written, and
 * the seal with it. */
static int check_max_size(struct rfs_seal *seal, uint64_t size,
			  struct rfs_error *err)
{
	if (!seal->max_size || size <= seal->max_size)
		return 0;
	seal->failed = -EFBIG;
	return rfs_error_set(err, -EFBIG,
			     "%llu bytes is larger than a tag may be "
			     "(max_tag_size, %llu bytes)",
			     (unsigned long long)size,
			     (unsigned long long)seal->max_size);
}

static int interrupted(const char *what, struct rfs_error *err)
{
	return rfs_error_set(err, -EINTR,
			     "sealing %s was interrupted: its writer was "
			     "killed, nothing is sealed",
			     what);
}

static int check_cancel(struct rfs_seal *seal, const char *what,
			struct rfs_error *err)
{
	return rfs_cancelled(seal->cancel) ? interrupted(what, err) : 0;
}

ssize_t rfs_seal_write(struct rfs_seal *seal, const void *buf, size_t len,
		       uint64_t offset, struct rfs_error *err)
{
	int rc;

	if (seal->done)
		return rfs_error_set(err, -EBADF, "the file is already sealed");
	if (seal->failed)
		return rfs_error_set(err, seal->failed,
				     "an earlier write failed: %s",
				     strerror(-seal->failed));
	if (offset + len < offset)
		return rfs_error_set(err, -EFBIG, "offset out of range");
	rc = check_max_size(seal, offset + len, err);
	if (rc)
		return rc;
	/* A stream only appends; its pipe writes and hashes. */
	if (seal->pipe)
		rc = offset == seal->size
			 ? rfs_hashpipe_append(seal->pipe, buf, len)
			 : -EINVAL;
	else if ((rc = seal_fd(seal)) < 0)
		/* Nothing was written: the content is still what it was. */
		return rfs_error_set(err, rc, "cannot open staging file: %s",
				     strerror(-rc));
	else
		rc = rfs_pwrite_all(seal->fd, buf, len, offset);
	if (rc) {
		seal->failed = rc;
		return rfs_error_set(err, rc, "cannot write staging file: %s",
				     strerror(-rc));
	}
	/* Hash bytes that arrive in order as they pass (a stream's pipe
	 * hashes its own); anything else is caught up from the file when
	 * sealing. */
	if (!seal->pipe && offset == seal->hashed && !seal->rehash) {
		rc = rfs_hasher_update(seal->hasher, buf, len);
		if (rc)
			return rfs_error_set(err, rc, "hashing failed");
		seal->hashed += len;
	} else if (offset < seal->hashed) {
		seal->rehash = true;
	}
	if (offset + len > seal->size)
		seal->size = offset + len;
	if (!(seal->flags & RFS_SEAL_LAZY_WRITEBACK) &&
	    seal->size - seal->flushing >= WRITEBACK_STEP) {
		sync_file_range(seal->fd, (off_t)seal->flushing,
				(off_t)(seal->size - seal->flushing),
				SYNC_FILE_RANGE_WRITE);
		seal->flushing = seal->size;
	}
	return (ssize_t)len;
}

int rfs_seal_truncate(struct rfs_seal *seal, uint64_t size,
		      struct rfs_error *err)
{
	if (seal->done)
		return rfs_error_set(err, -EBADF, "the file is already sealed");
	if (seal->pipe)
		return rfs_error_set(err, -EINVAL, "a stream only appends");
	if (check_max_size(seal, size, err))
		return -EFBIG;
	if (seal_fd(seal) < 0)
		return rfs_error_set(err, -errno,
				     "cannot open staging file: %s",
				     strerror(errno));
	if (ftruncate(seal->fd, (off_t)size) < 0) {
		seal->failed = -errno;
		return rfs_error_set(err, -errno, "cannot truncate: %s",
				     strerror(errno));
	}
	if (size < seal->hashed)
		seal->rehash = true;
	seal->size = size;
	return 0;
}

uint64_t rfs_seal_size(const struct rfs_seal *seal)
{
	return seal->size;
}

bool rfs_seal_can_resume(const struct rfs_seal *seal)
{
	return seal->size > 0 && !seal->failed && !seal->done;
}

ssize_t rfs_seal_read(struct rfs_seal *seal, void *buf, size_t len,
		      uint64_t offset)
{
	ssize_t n;

	if (seal->pipe)
		return -EINVAL; /* not all written yet */
	n = seal_fd(seal);
	if (n < 0)
		return n;
	do
		n = pread(seal->fd, buf, len, (off_t)offset);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

int rfs_seal_write_fd(struct rfs_seal *seal, int fd, struct rfs_error *err)
{
	size_t bufsize = 1 << 20;
	struct stat st;
	char *buf;
	int rc = 0;

	/* A file too large is refused before a byte of it is copied. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		rc = check_max_size(seal, seal->size + (uint64_t)st.st_size,
				    err);
		if (rc)
			return rc;
	}
	buf = malloc(bufsize);
	if (!buf)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf, bufsize);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rfs_error_set(err, -errno, "read failed: %s",
					   strerror(errno));
			break;
		}
		if (n == 0)
			break;
		n = rfs_seal_write(seal, buf, (size_t)n, seal->size, err);
		if (n < 0) {
			rc = (int)n;
			break;
		}
	}
	free(buf);
	return rc;
}

/* The digest of everything written, hashing what did not stream in order. */
static int final_digest(struct rfs_seal *seal, char *digest)
{
	int rc;

	if (seal->pipe) {
		rc = rfs_hashpipe_finish(seal->pipe);
		rfs_hashpipe_free(&seal->pipe);
		if (rc)
			return rc;
		seal->hashed = seal->size; /* the pipe hashed it all */
	}
	if (seal->rehash) {
		rc = rfs_hasher_reset(seal->hasher);
		if (rc)
			return rc;
		seal->hashed = 0;
	}
	/* A sparse file's holes are hashed without reading them. */
	if (seal->hashed < seal->size) {
		rc = seal_fd(seal);
		if (rc < 0)
			return rc;
		rc = rfs_hasher_update_range(seal->hasher, seal->fd,
					     seal->hashed, seal->size,
					     seal->cancel);
		if (rc)
			return rc;
	}
	return rfs_hasher_final(seal->hasher, digest);
}

/* Give the staging file its blob name; -EEXIST means that content is stored
 * already, which is success too. */
static int link_blob(struct rfs_seal *seal, const char *blob)
{
	char fdpath[64];

	if (seal_fd(seal) < 0 || fchmod(seal->fd, 0444) < 0)
		return -errno;
	if (seal->path[0]) {
		if (link(seal->path, blob) < 0)
			return -errno;
		return 0;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", seal->fd);
	if (linkat(AT_FDCWD, fdpath, AT_FDCWD, blob, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

int rfs_seal_verify(struct rfs_seal *seal, const char *what,
		    const struct rfs_seal_options *opts, struct rfs_error *err)
{
	struct seal_subject subject;
	int rc;

	if (seal->verified)
		return 0;
	if (seal->done)
		return rfs_error_set(err, -EBADF, "the file is already sealed");
	seal->done = true; /* whatever happens now, no more writes */
	if (seal->failed)
		return rfs_error_set(err, seal->failed,
				     "not sealing %s: a write failed: %s", what,
				     strerror(-seal->failed));
	rc = check_max_size(seal, seal->size, err);
	if (rc)
		return rc;
	rc = final_digest(seal, seal->digest);
	if (rc == -EINTR)
		return check_cancel(seal, what, err);
	if (rc)
		return rfs_error_set(err, rc, "cannot hash %s: %s", what,
				     strerror(-rc));
	subject = (struct seal_subject){ what, seal->digest, seal->size };
	for (size_t i = 0; i < sizeof(seal_checks) / sizeof(seal_checks[0]);
	     i++) {
		rc = seal_checks[i](&subject, opts, err);
		if (rc)
			return rc;
	}
	seal->verified = true;
	return 0;
}

int rfs_seal_scan(struct rfs_seal *seal, const char *what,
		  const struct rfs_seal_options *opts, struct rfs_error *err)
{
	const char *hook;
	int64_t timeout_ms = 0;
	int rc;

	if (seal->scanned > 0)
		return 0;
	if (seal->scanned < 0)
		return rfs_error_set(err, seal->scanned,
				     "%s was refused by the seal hook", what);
	rc = rfs_seal_verify(seal, what, opts, err);
	if (rc)
		return rc;
	hook = rfs_store_seal_hook(seal->store, &timeout_ms);
	if (hook && !(opts && opts->manifest) && (rc = seal_fd(seal)) < 0) {
		rc = rfs_error_set(err, rc, "cannot open %s again: %s", what,
				   strerror(-rc));
	} else if (hook && !(opts && opts->manifest)) {
		const char *repo = opts && opts->repo ? opts->repo : "";
		const char *tag = opts && opts->tag ? opts->tag : "";

		rc = rfs_seal_hook_run(hook, timeout_ms, seal->fd, repo, tag,
				       seal->digest, what, seal->cancel, err);
		if (rc == -ECANCELED)
			rc = interrupted(what, err);
		else if (rc)
			rfs_audit(seal->store, RFS_AUDIT_HOOK_REFUSED, rc, err,
				  *repo ? repo : NULL, *tag ? tag : NULL,
				  seal->digest);
	}
	seal->scanned = rc ? rc : 1;
	return rc;
}

int rfs_seal_open_verified(struct rfs_seal *seal)
{
	char fdpath[64];
	int fd;

	if (!seal->verified)
		return -EBADF;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", seal->fd);
	fd = open(seal->path[0] ? seal->path : fdpath, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int rfs_seal_store(struct rfs_seal *seal, const char *what,
		   const struct rfs_seal_options *opts,
		   char digest[RFS_DIGEST_STR_MAX + 1], struct rfs_error *err)
{
	char blob[PATH_MAX];
	int rc;

	if (seal->stored)
		return rfs_error_set(err, -EBADF, "the file is already sealed");
	rc = rfs_seal_scan(seal, what, opts, err);
	seal->stored = true;
	if (rc)
		return rc;
	memcpy(digest, seal->digest, sizeof(seal->digest));
	/* A killed writer does not wait for the disk either. */
	rc = check_cancel(seal, what, err);
	if (rc)
		return rc;
	if (seal_fd(seal) < 0 || fsync(seal->fd) < 0)
		return rfs_error_set(err, -errno, "cannot fsync %s: %s", what,
				     strerror(errno));
	/* The last point where a killed writer's content can be let go. */
	rc = check_cancel(seal, what, err);
	if (rc)
		return rc;
	rc = rfs_store_blob_path(seal->store, digest, blob, sizeof(blob));
	if (!rc)
		rc = link_blob(seal, blob);
	if (rc && rc != -EEXIST)
		return rfs_error_set(err, rc, "cannot store blob %s: %s",
				     digest, strerror(-rc));
	rc = rfs_fsync_dir(rfs_store_blobs_dir(seal->store));
	if (rc)
		return rfs_error_set(err, rc, "cannot fsync '%s': %s",
				     rfs_store_blobs_dir(seal->store),
				     strerror(-rc));
	return 0;
}

int rfs_seal_commit(struct rfs_seal *seal, const char *repo, const char *tag,
		    const struct rfs_seal_options *opts, struct rfs_tag *out,
		    struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(seal->store);
	struct rfs_seal_options o =
	    opts ? *opts : (struct rfs_seal_options){ 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];
	char what[RFS_REPO_MAX + RFS_TAG_MAX + 8];
	int rc, lock;

	if (!rfs_name_valid_repo(repo) || !rfs_name_valid_tag(tag)) {
		seal->done = true;
		return rfs_error_set(err, -EINVAL, "invalid %s name '%s'",
				     rfs_name_valid_repo(repo) ? "tag"
							       : "repository",
				     rfs_name_valid_repo(repo) ? tag : repo);
	}
	snprintf(what, sizeof(what), "'%s:%s'", repo, tag);
	/* Fail early, before storing a blob nobody will reference. The
	 * catalog's unique key still decides a race. */
	if (rfs_catalog_tag_get(cat, repo, tag, NULL) == 0) {
		seal->done = true;
		return rfs_error_set(err, -EEXIST, "tag %s exists", what);
	}
	/* The hook may take long: not under the lock, which gc waits for. */
	o.repo = repo;
	o.tag = tag;
	rc = rfs_seal_scan(seal, what, &o, err);
	if (rc)
		return rc;
	/* A gc under way holds it: a killed writer does not wait for it. */
	lock = rfs_store_lock_cancellable(seal->store, false, seal->cancel);
	if (lock == -EINTR)
		return interrupted(what, err);
	if (lock < 0)
		return rfs_error_set(err, lock, "cannot lock the store: %s",
				     strerror(-lock));
	rc = rfs_seal_store(seal, what, &o, digest, err);
	if (!rc)
		rc = rfs_catalog_add_tag_meta(
		    cat, repo, tag, digest, seal->size, rfs_now_ns(),
		    opts ? opts->meta : NULL, out, err);
	rfs_store_unlock(lock);
	return rc;
}

void rfs_seal_free(struct rfs_seal **sealp)
{
	struct rfs_seal *seal;

	if (!sealp || !*sealp)
		return;
	seal = *sealp;
	rfs_hashpipe_free(&seal->pipe);
	if (seal->path[0])
		unlink(seal->path);
	if (seal->fd >= 0)
		close(seal->fd);
	rfs_hasher_free(&seal->hasher);
	free(seal);
	*sealp = NULL;
}
