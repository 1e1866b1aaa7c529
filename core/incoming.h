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
 * A discarded entry leaves the namespace at once; the handles still open on
 * it keep it alive until they are released. A writer killed by a signal
 * never seals (nor does a file a killed writer shared: its other holders
 * get -ECANCELED from write and close). Creating a name that is a sealed
 * tag or an entry in progress fails with EEXIST, so two racing writers
 * cannot both seal.
 *
 * Modes and times are part of what a publisher says: the mode given to
 * create, and any chmod, utimens or truncate before the seal, go with the
 * bytes (rfs_incoming_setattr). Tools such as install, Python's
 * shutil.copy2 and rsync --inplace set them by name right after close(), so
 * a sealed tag's name stays in incoming/ for RFS_PUBLISHER_WINDOW_MS, not
 * listed, read-only, showing the tag: its publisher (the process that
 * sealed it: the last writer to close, or the renamer) may still set its
 * mode and mtime there and nobody else may (-EROFS).
 *
 * With seal_on_rename (for NFS, where a close says nothing: ganesha
 * closes its descriptors when it likes, and NFSv3 has no close), a close
 * never seals: every file is staged under whatever name it was created
 * with, and only a rename onto a tag name seals it, at once, even while
 * descriptors are still open (their later writes fail with EROFS). A file
 * created and never renamed is never sealed, however it was closed.
 *
 * Staged files cost the daemon a descriptor only while a handle is open
 * on them: an idle one is parked (rfs_seal_park) in a folder of staging/
 * and opened again when used. Each user may have max_files of them
 * (-EDQUOT past that). A checksum file is used by one seal of its tag,
 * whatever the outcome, and leaves the namespace with it.
 *
 * The table lives in memory: a restart forgets staged entries, and
 * rfs_store_open() removes their files. Their ids (inode ids) start at
 * first_id, which a mount makes greater than any earlier mount's. All
 * functions are thread-safe.
 */
#ifndef RFS_INCOMING_H
#define RFS_INCOMING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cancel.h"
#include "catalog.h"
#include "error.h"
#include "store.h"

#define RFS_STAGED_NAME_MAX 255
/* A checksum file larger than this is refused with EFBIG. */
#define RFS_SIDECAR_MAX 65536
/* How long after its seal a tag's publisher may still set its mode and
 * mtime through its incoming/ name. */
#define RFS_PUBLISHER_WINDOW_MS 5000

enum rfs_staged_kind {
	RFS_STAGED_TAG,
	RFS_STAGED_TEMP,
	RFS_STAGED_SIDECAR,
};

struct rfs_staged_info {
	int64_t id; /* unique in the store's mounts; the inode id */
	int64_t dir;
	char name[RFS_STAGED_NAME_MAX + 1];
	enum rfs_staged_kind kind;
	uint64_t size;
	int64_t mtime_ns;
	unsigned mode; /* permission bits: as set so far, or the tag's */
	bool sealed;   /* in its publisher's window: it is tag_id */
	int64_t tag_id;
};

/* How the process that closed a handle left it (see rfs_proc_closer()). */
enum rfs_closer {
	RFS_CLOSER_DONE,       /* closed its last descriptor of the file */
	RFS_CLOSER_STILL_OPEN, /* still holds another writable descriptor */
	RFS_CLOSER_SHARED,     /* is done, but another process still holds a
				* writable descriptor (a shared one) */
	RFS_CLOSER_KILLED,     /* is dying from a signal */
};

typedef int (*rfs_staged_fn)(void *ctx, const struct rfs_staged_info *info);

struct rfs_incoming;

struct rfs_incoming_options {
	int64_t first_id;    /* 0: 1 */
	bool seal_on_rename; /* a close never seals (see above) */
};
/* opts may be NULL: the defaults. */
int rfs_incoming_new(struct rfs_store *store,
		     const struct rfs_incoming_options *opts,
		     struct rfs_incoming **out);
void rfs_incoming_free(struct rfs_incoming **inc);

/* Which kind a name in incoming/<repo>/ is; -EINVAL if it may not be
 * created there. */
int rfs_incoming_classify(const char *name, enum rfs_staged_kind *kind);

/* Incoming directories: the folder name in parent, -ENOENT if there is
 * none. A lookup never makes one (a top-level name looked up is a pending
 * folder, made by what is first created in it: see pending.h); mkdir
 * does. */
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

/* Create name in dir, with the mode open(O_CREAT) was given, and open one
 * write handle on it. */
int rfs_incoming_create(struct rfs_incoming *inc, int64_t dir, const char *name,
			unsigned mode, struct rfs_staged_info *out,
			struct rfs_error *err);
/* The same, by the user uid, who may have at most the staging table's
 * max_files staged files (created and neither sealed nor removed) at a
 * time: -EDQUOT past that. rfs_incoming_create counts all its files under
 * one unknown user. */
int rfs_incoming_create_by(struct rfs_incoming *inc, int64_t dir,
			   const char *name, unsigned mode, uid_t uid,
			   struct rfs_staged_info *out, struct rfs_error *err);
/* Staged files one user may have (regfs.conf incoming_max_files); 0: the
 * default. Their count is what bounds staging/ and the memory of the
 * table against a writer that abandons files. */
#define RFS_INCOMING_MAX_FILES_DEFAULT 10000u
void rfs_incoming_set_max_files(struct rfs_incoming *inc, unsigned n);
/* Open one more handle. A second writer of a tag in progress gets EEXIST,
 * and so does any writer of a sealed tag in its window. */
int rfs_incoming_open(struct rfs_incoming *inc, int64_t id, bool write,
		      struct rfs_error *err);
ssize_t rfs_incoming_write(struct rfs_incoming *inc, int64_t id,
			   const void *buf, size_t len, uint64_t offset,
			   struct rfs_error *err);
ssize_t rfs_incoming_read(struct rfs_incoming *inc, int64_t id, void *buf,
			  size_t len, uint64_t offset);
/* Is a seal of the file under way (hashing, fsync, the seal hook)? Then a
 * read, write or truncate of it, and the last release of a handle (which
 * may park it), wait until the seal is done. */
bool rfs_incoming_sealing(struct rfs_incoming *inc, int64_t id);
int rfs_incoming_truncate(struct rfs_incoming *inc, int64_t id, uint64_t size,
			  struct rfs_error *err);

/* A change of attributes: a size, a mode and an mtime, and owners, which
 * are accepted and ignored (a tag has no owner). */
struct rfs_staged_setattr {
	bool set_size;
	uint64_t size;
	struct rfs_file_attrs attrs;
	bool set_other; /* owners, atime: nothing to keep */
};
/* Set attributes of a staged file for its seal, or of a tag just sealed
 * from it, by the process pid. Applied to the tag only for its publisher
 * within its window; -EROFS for anyone else, after the window, and for a
 * size other than the tag's. changed is filled when the tag changed. */
int rfs_incoming_setattr(struct rfs_incoming *inc, int64_t id, pid_t pid,
			 const struct rfs_staged_setattr *set,
			 struct rfs_tag *changed, struct rfs_error *err);
/* Tests: the publisher's window in milliseconds. */
void rfs_incoming_set_window(struct rfs_incoming *inc, int64_t ms);

/* The process pid closed a descriptor of a handle. For a tag whose last
 * writer is done (closer RFS_CLOSER_DONE: no process holds a writable
 * descriptor of it any more; readers do not count) this seals it and
 * returns the seal's result, which the closer sees as close()'s. A killed
 * closer discards the entry. The seal asks cancel (may be NULL) as it
 * goes: when it says stop (the closer is being killed), nothing is sealed,
 * the entry is discarded and -EINTR returned. sealed is filled when a tag
 * was sealed (may be NULL). */
int rfs_incoming_flush(struct rfs_incoming *inc, int64_t id, bool write,
		       enum rfs_closer closer, pid_t pid,
		       const struct rfs_cancel *cancel, struct rfs_tag *sealed,
		       struct rfs_error *err);
/* A handle is gone. A tag still unsealed after its last writer is sealed
 * here (nobody can see the result but the log); its publisher is the last
 * process that closed a writing descriptor. That happens only when no
 * close was seen as the last (a holder regfs cannot see in /proc). */
int rfs_incoming_release(struct rfs_incoming *inc, int64_t id, bool write,
			 struct rfs_tag *sealed, struct rfs_error *err);

/* Metadata for the seal, set with extended attributes on an entry in
 * progress: "annotation.<key>" and "artifact_type" (without "user.regfs.").
 * -EINVAL for another name, a key or a type outside their grammar
 * (names.h), -E2BIG past 64 annotations or 4 KiB a value (kept as given);
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

/* Rename a staged entry, by the process pid. Onto a tag name with no
 * writer open, this seals; -EEXIST if the tag exists. flags takes
 * RENAME_NOREPLACE. A sealed tag's name cannot be renamed (-EROFS). */
int rfs_incoming_rename(struct rfs_incoming *inc, int64_t dir, const char *name,
			int64_t newdir, const char *newname, unsigned int flags,
			pid_t pid, struct rfs_tag *sealed,
			struct rfs_error *err);
/* The same, with a seal that asks cancel as rfs_incoming_flush's does
 * (-EINTR, nothing sealed, the entry discarded, when it says stop). */
int rfs_incoming_rename_with(struct rfs_incoming *inc, int64_t dir,
			     const char *name, int64_t newdir,
			     const char *newname, unsigned int flags, pid_t pid,
			     const struct rfs_cancel *cancel,
			     struct rfs_tag *sealed, struct rfs_error *err);
/* Remove a staged entry; a sealed tag's name cannot be removed (-EROFS). */
int rfs_incoming_unlink(struct rfs_incoming *inc, int64_t dir,
			const char *name);

/* Parse sha256sum output ("<hex>  <file>" lines, or a bare hex digest) and
 * find the digest for tag: a line naming the tag (by basename), else the
 * only line. Writes "sha256:<hex>". -EINVAL if there is none, or if lines
 * naming the tag disagree. */
int rfs_sidecar_parse(const char *text, size_t len, const char *tag,
		      char digest[RFS_DIGEST_STR_MAX + 1]);
/* The same, and on -EINVAL why (a static string for messages): also when
 * two lines name the tag with different digests. */
int rfs_sidecar_parse_why(const char *text, size_t len, const char *tag,
			  char digest[RFS_DIGEST_STR_MAX + 1],
			  const char **why);

/* Is the thread tid making a folder (in mkdir(2) or mkdirat(2))? 1 and
 * the last component of the path it makes in last, 0 when it is not (or
 * we may not look), -1 when it is but its path cannot be read. Reads
 * /proc/<tid>/syscall and the path from /proc/<tid>/mem, which need the
 * right to trace tid. */
int rfs_proc_mkdir_target(pid_t tid, char *last, size_t size);

/* A file a process closed, as rfs_proc_closer looks for it. */
struct rfs_proc_file {
	uint64_t ino;	    /* its inode number */
	const char *suffix; /* the end of its path ("/incoming/app/v1"), or
			     * NULL: every descriptor's fdinfo is read */
	pid_t opener;	    /* the process that opened it, or 0 */
	pid_t since;	    /* rfs_proc_last_pid() at its open, or 0: any
			     * process may have it */
};
/* How the process pid left its descriptor of file: killed by a signal,
 * still holding another writable descriptor, done while another process
 * holds one, or done. Read-only descriptors do not count. Reads
 * /proc/<pid>/stat and the descriptors of the opener and of every process
 * created since the open (see proc.c for what it cannot see). */
enum rfs_closer rfs_proc_closer(pid_t pid, const struct rfs_proc_file *file);
/* The last pid the kernel handed out (0 when it cannot tell). */
pid_t rfs_proc_last_pid(void);
/* Is the thread pid being killed (SIGKILL pending, as every fatal signal
 * becomes), or gone? */
bool rfs_proc_dying(pid_t pid);
/* The process (thread group) the thread pid belongs to: FUSE names the
 * calling thread. pid itself when /proc cannot tell. */
pid_t rfs_proc_tgid(pid_t pid);

#endif
