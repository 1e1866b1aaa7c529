/*
 * incoming.h - the write-once staging tree behind MOUNT/incoming/.
 *
 * Files written under incoming/<repo>/ are "staged": each is a struct
 * rfs_seal (a locked staging file with a running hash) known by its folder
 * and name. What a name means decides what happens to it:
 *
 *   <tag>            sealed as <repo>:<tag> when its last writer closes it
 *   .<anything>      a temporary (rsync's ".name.XXXXXX"): sealed only when
 *                    renamed onto a tag name
 *   <tag>.sha256     a checksum file in sha256sum format: the digest <tag>
 *                    must have when it is sealed
 *
 * A sealed or discarded entry leaves the namespace at once; the handles still
 * open on it keep it alive until they are released. A writer killed by a
 * signal never seals. Creating a name that is a sealed tag or an entry in
 * progress fails with EEXIST, so two racing writers cannot both seal.
 *
 * The table lives in memory: a restart forgets staged entries, and
 * rfs_store_open() removes their files. All functions are thread-safe.
 */
#ifndef RFS_INCOMING_H
#define RFS_INCOMING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "catalog.h"
#include "error.h"
#include "store.h"

#define RFS_STAGED_NAME_MAX 255
/* A checksum file larger than this is refused with EFBIG. */
#define RFS_SIDECAR_MAX 65536

enum rfs_staged_kind {
	RFS_STAGED_TAG,
	RFS_STAGED_TEMP,
	RFS_STAGED_SIDECAR,
};

struct rfs_staged_info {
	int64_t id; /* unique for this process; the inode id */
	int64_t dir;
	char name[RFS_STAGED_NAME_MAX + 1];
	enum rfs_staged_kind kind;
	uint64_t size;
	int64_t mtime_ns;
};

/* How the process that closed a handle left it (see rfs_proc_closer()). */
enum rfs_closer {
	RFS_CLOSER_DONE,       /* closed its last descriptor of the file */
	RFS_CLOSER_STILL_OPEN, /* still holds another descriptor */
	RFS_CLOSER_KILLED,     /* is dying from a signal */
};

typedef int (*rfs_staged_fn)(void *ctx, const struct rfs_staged_info *info);

struct rfs_incoming;

int rfs_incoming_new(struct rfs_store *store, struct rfs_incoming **out);
void rfs_incoming_free(struct rfs_incoming **inc);

/* Which kind a name in incoming/<repo>/ is; -EINVAL if it may not be
 * created there. */
int rfs_incoming_classify(const char *name, enum rfs_staged_kind *kind);

/* Incoming directories: an unknown top-level name is created on lookup (so
 * "cp f incoming/app/v1" needs no mkdir); deeper levels need mkdir. */
int rfs_incoming_dir_lookup(struct rfs_incoming *inc, int64_t parent,
			    const char *name, struct rfs_dir *out,
			    struct rfs_error *err);

/* mkdir and rmdir in incoming/. A folder is a repository path component:
 * -EINVAL for a bad name, -EEXIST if a tag or file of that name is there;
 * rmdir refuses with -ENOTEMPTY a folder that holds anything, sealed tags
 * included. */
int rfs_incoming_mkdir(struct rfs_incoming *inc, int64_t parent,
		       const char *name, struct rfs_dir *out,
		       struct rfs_error *err);
int rfs_incoming_rmdir(struct rfs_incoming *inc, int64_t parent,
		       const char *name, struct rfs_error *err);

int rfs_incoming_lookup(struct rfs_incoming *inc, int64_t dir, const char *name,
			struct rfs_staged_info *out);
int rfs_incoming_stat(struct rfs_incoming *inc, int64_t id,
		      struct rfs_staged_info *out);
int rfs_incoming_list(struct rfs_incoming *inc, int64_t dir, rfs_staged_fn fn,
		      void *ctx);
/* True if dir holds staged entries (rmdir must refuse). */
bool rfs_incoming_dir_busy(struct rfs_incoming *inc, int64_t dir);

/* Create name in dir and open one write handle on it. */
int rfs_incoming_create(struct rfs_incoming *inc, int64_t dir, const char *name,
			struct rfs_staged_info *out, struct rfs_error *err);
/* Open one more handle. A second writer of a tag in progress gets EEXIST. */
int rfs_incoming_open(struct rfs_incoming *inc, int64_t id, bool write,
		      struct rfs_error *err);
ssize_t rfs_incoming_write(struct rfs_incoming *inc, int64_t id,
			   const void *buf, size_t len, uint64_t offset,
			   struct rfs_error *err);
ssize_t rfs_incoming_read(struct rfs_incoming *inc, int64_t id, void *buf,
			  size_t len, uint64_t offset);
int rfs_incoming_truncate(struct rfs_incoming *inc, int64_t id, uint64_t size,
			  struct rfs_error *err);

/* A descriptor of a handle was closed. For a tag whose last writer is done
 * this seals it and returns the seal's result, which the closer sees as
 * close()'s. A killed closer discards the entry. sealed is filled when a
 * tag was sealed (may be NULL). */
int rfs_incoming_flush(struct rfs_incoming *inc, int64_t id, bool write,
		       enum rfs_closer closer, struct rfs_tag *sealed,
		       struct rfs_error *err);
/* A handle is gone. A tag still unsealed after its last writer is sealed
 * here (nobody can see the result but the log). */
int rfs_incoming_release(struct rfs_incoming *inc, int64_t id, bool write,
			 struct rfs_tag *sealed, struct rfs_error *err);

/* Metadata for the seal, set with extended attributes on an entry in
 * progress: "annotation.<key>" and "artifact_type" (without "user.regfs.").
 * -EINVAL for another name, -E2BIG past 64 annotations or 4 KiB a value;
 * get and remove give -ENODATA for a name not set. list calls fn with each
 * name and value. */
int rfs_incoming_set_meta(struct rfs_incoming *inc, int64_t id,
			  const char *name, const char *value, size_t len);
ssize_t rfs_incoming_get_meta(struct rfs_incoming *inc, int64_t id,
			      const char *name, char *buf, size_t size);
int rfs_incoming_remove_meta(struct rfs_incoming *inc, int64_t id,
			     const char *name);
int rfs_incoming_list_meta(struct rfs_incoming *inc, int64_t id,
			   rfs_annotation_fn fn, void *ctx);

/* Rename a staged entry. Onto a tag name with no writer open, this seals;
 * -EEXIST if the tag exists. flags takes RENAME_NOREPLACE. */
int rfs_incoming_rename(struct rfs_incoming *inc, int64_t dir, const char *name,
			int64_t newdir, const char *newname, unsigned int flags,
			struct rfs_tag *sealed, struct rfs_error *err);
int rfs_incoming_unlink(struct rfs_incoming *inc, int64_t dir,
			const char *name);

/* Parse sha256sum output ("<hex>  <file>" lines, or a bare hex digest) and
 * find the digest for tag: a line naming the tag (by basename), else the
 * only line. Writes "sha256:<hex>". -EINVAL if there is none. */
int rfs_sidecar_parse(const char *text, size_t len, const char *tag,
		      char digest[RFS_DIGEST_STR_MAX + 1]);

/* How the process pid left its descriptor of the file with inode ino:
 * killed by a signal, still holding another descriptor, or done. Reads
 * /proc/<pid>/stat and /proc/<pid>/fdinfo. */
enum rfs_closer rfs_proc_closer(pid_t pid, uint64_t ino);

#endif
