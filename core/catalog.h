/*
 * catalog.h - the SQLite catalog: the truth for names.
 *
 * The catalog records directories (repository path components), tags and
 * blobs. Row ids are never reused (AUTOINCREMENT), so they serve as stable
 * inode numbers across remounts (see inode.h). The catalog runs in WAL mode
 * with synchronous=FULL: a committed tag survives a crash of the process and
 * of the machine. It is safe to share one struct rfs_catalog between threads;
 * several processes (the daemon and regctl) may open the same file.
 *
 * Directory rows exist for every repository prefix: "org/app" has rows for
 * "org" and "org/app". A directory is "sealed" once a tag exists in it or
 * below it; only sealed directories appear under registry/.
 *
 * A tag is local (sealed here) or pinned from an upstream (origin names
 * it). A pinned tag is a file when its manifest has one layer (digest and
 * size are the layer's) or a folder of layers (digest and size are the
 * manifest's; the layers are rows of their own). A blob row says where the
 * content came from and whether its file is in the store: fetched content
 * may be evicted and fetched again, local content never.
 */
#ifndef RFS_CATALOG_H
#define RFS_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "names.h"

struct rfs_catalog;

struct rfs_dir {
	int64_t id;
	int64_t parent; /* 0 for a top-level repository component */
	char name[RFS_REPO_MAX + 1];
	char path[RFS_REPO_MAX + 1];
	bool sealed;
	int64_t created_ns;
	int64_t changed_ns; /* when a tag was last sealed in it or below */
};

#define RFS_ORIGIN_MAX	      63 /* an upstream's name */
#define RFS_ARTIFACT_TYPE_MAX 255

enum rfs_tag_kind {
	RFS_TAG_FILE = 0,
	RFS_TAG_LAYERS = 1, /* a manifest of several layers: a folder */
};

struct rfs_tag {
	int64_t id;
	int64_t dir;
	char repo[RFS_REPO_MAX + 1];
	char name[RFS_TAG_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
	int64_t created_ns;		 /* when it was sealed or pinned */
	char origin[RFS_ORIGIN_MAX + 1]; /* "" for a local tag */
	enum rfs_tag_kind kind;
	char manifest[RFS_DIGEST_STR_MAX + 1]; /* upstream tags: its manifest */
	int64_t resolved_ns; /* upstream tags: when last resolved */
	bool yanked;	     /* hidden from listings, readable by name */
	char artifact_type[RFS_ARTIFACT_TYPE_MAX + 1]; /* "" when unknown */
	unsigned mode;	  /* 0644, or 0755 when published executable */
	int64_t mtime_ns; /* as its publisher set it, else created_ns */
};

/* What a publisher says of a file besides its bytes: its mode (of which a
 * tag keeps only whether it is executable) and its modification time. */
struct rfs_file_attrs {
	bool set_mode;
	unsigned mode;
	bool set_mtime;
	int64_t mtime_ns;
};

/* The mode a tag shows for a publisher's mode: 0755 when any execute bit
 * is set, else 0644. Set-id and sticky bits are never kept. */
unsigned rfs_tag_mode(unsigned mode);

/* Metadata a tag is sealed or pinned with: an artifact type and
 * annotations (description, author, source, any key). */
struct rfs_annotation {
	const char *key;
	const char *value;
};

struct rfs_tag_meta {
	const char *artifact_type; /* or NULL */
	const struct rfs_annotation *annotations;
	size_t n_annotations;
	struct rfs_file_attrs attrs; /* none set: 0644, dated by the seal */
};

typedef int (*rfs_annotation_fn)(void *ctx, const char *key, const char *value);

/* One layer of a RFS_TAG_LAYERS tag, shown as a file in its folder. */
#define RFS_LAYER_NAME_MAX 255
struct rfs_layer {
	int64_t id;
	int64_t tag;
	char name[RFS_LAYER_NAME_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
};

/* What an upstream tag resolved to, for rfs_catalog_pin_tag(). For a file
 * tag, digest and size are its one layer's; for a folder, the manifest's,
 * and layers lists the files. */
struct rfs_pin {
	const char *repo;
	const char *tag;
	const char *origin;
	enum rfs_tag_kind kind;
	const char *digest;
	uint64_t size;
	const char *manifest; /* digest of the manifest (stored as a blob) */
	uint64_t manifest_size;
	const struct rfs_layer *layers;
	size_t n_layers;
	const struct rfs_tag_meta *meta; /* from the manifest, or NULL */
};

struct rfs_blob {
	char digest[RFS_DIGEST_STR_MAX + 1];
	uint64_t size;
	int64_t created_ns;
	int64_t refs;			 /* tags and layers that name it */
	char origin[RFS_ORIGIN_MAX + 1]; /* "" for local content */
	bool present;			 /* its file is in the store */
	int64_t last_access_ns;
};

/* Callbacks for listings: return 0 to go on, anything else stops the walk
 * and is returned by the listing function. */
typedef int (*rfs_dir_fn)(void *ctx, const struct rfs_dir *dir);
typedef int (*rfs_tag_fn)(void *ctx, const struct rfs_tag *tag);
typedef int (*rfs_blob_fn)(void *ctx, const struct rfs_blob *blob);
typedef int (*rfs_layer_fn)(void *ctx, const struct rfs_layer *layer);

/* readonly: open an existing catalog for reading only; on a store
 * nobody can write (a read-only file system, another user's folder) with
 * no writer, it is read as immutable. A catalog that cannot be opened is
 * explained in err: which file, what is wrong (damaged, not a catalog,
 * read-only, not yours), what to do. */
int rfs_catalog_open(const char *path, bool readonly, struct rfs_catalog **out,
		     struct rfs_error *err);
void rfs_catalog_close(struct rfs_catalog **cat);

/* Close the catalog's connection and open it again, in a process made by
 * fork() after the open (the daemon going to the background): SQLite's
 * locks belong to the process that took them, so a connection that
 * crossed a fork holds none, and others would rebuild the shared WAL
 * index under it (SIGBUS, or worse). The struct stays the same. */
int rfs_catalog_reopen(struct rfs_catalog *cat, struct rfs_error *err);

/* Whether the catalog's path still names the file this catalog opened:
 * 0, or -EROFS (for good, with a message) once it was deleted or replaced,
 * after which every write transaction is refused too, instead of being
 * recorded in a file nobody will open again. Always 0 read-only. */
int rfs_catalog_check_file(struct rfs_catalog *cat, struct rfs_error *err);

/* Copy what a catalog that was deleted or replaced still holds (its
 * connection reads the lost file) into a new catalog file beside it,
 * PATH.rescued-SECONDS, named in path: what an operator moves back to
 * catalog.db to keep every tag. */
int rfs_catalog_rescue(struct rfs_catalog *cat, char *path, size_t size,
		       struct rfs_error *err);

/* When the catalog was created (recorded the first time it is opened for
 * writing; 0 when an earlier regfs made it and it already held blobs):
 * what tells a blob older than its catalog (fsck). -ENOENT when unknown. */
int rfs_catalog_created_ns(struct rfs_catalog *cat, int64_t *out);

/* Directories. parent 0 is the top of the tree. */
int rfs_catalog_dir_by_id(struct rfs_catalog *cat, int64_t id,
			  struct rfs_dir *out);
int rfs_catalog_dir_lookup(struct rfs_catalog *cat, int64_t parent,
			   const char *name, struct rfs_dir *out);
int rfs_catalog_dir_by_path(struct rfs_catalog *cat, const char *path,
			    struct rfs_dir *out);
/* Create a directory and its ancestors if missing. -EEXIST when a tag of
 * that name already stands in the parent, -EINVAL for a bad name. */
int rfs_catalog_dir_ensure(struct rfs_catalog *cat, const char *path,
			   struct rfs_dir *out, struct rfs_error *err);
/* Remove an unsealed, empty directory: -ENOTEMPTY if it has children or
 * tags, -EBUSY if it is sealed. */
int rfs_catalog_dir_remove(struct rfs_catalog *cat, int64_t id);
int rfs_catalog_list_dirs(struct rfs_catalog *cat, int64_t parent,
			  bool sealed_only, rfs_dir_fn fn, void *ctx);

/* Tags. By id, also a tag a refresh replaced (its dir is 0): a reader may
 * still hold its inode. */
int rfs_catalog_tag_by_id(struct rfs_catalog *cat, int64_t id,
			  struct rfs_tag *out);
int rfs_catalog_tag_lookup(struct rfs_catalog *cat, int64_t dir,
			   const char *name, struct rfs_tag *out);
int rfs_catalog_tag_get(struct rfs_catalog *cat, const char *repo,
			const char *tag, struct rfs_tag *out);
int rfs_catalog_list_tags_in_dir(struct rfs_catalog *cat, int64_t dir,
				 rfs_tag_fn fn, void *ctx);
/* All tags ordered by repository and tag; repo NULL for every repository,
 * otherwise that repository only. */
int rfs_catalog_list_tags(struct rfs_catalog *cat, const char *repo,
			  rfs_tag_fn fn, void *ctx);

/* Record a sealed tag in one transaction: the blob row, the directories, the
 * tag, the sealed flags. -EEXIST if the tag (or a directory of that name)
 * exists. The blob file must already be durable in the store. */
int rfs_catalog_add_tag(struct rfs_catalog *cat, const char *repo,
			const char *tag, const char *digest, uint64_t size,
			int64_t created_ns, struct rfs_tag *out,
			struct rfs_error *err);
/* The same, with an artifact type and annotations (meta may be NULL). */
int rfs_catalog_add_tag_meta(struct rfs_catalog *cat, const char *repo,
			     const char *tag, const char *digest, uint64_t size,
			     int64_t created_ns,
			     const struct rfs_tag_meta *meta,
			     struct rfs_tag *out, struct rfs_error *err);

/* Change the mode or mtime of a tag (what is set in attrs), and give the
 * tag as it is now in out (may be NULL). Who may is the caller's rule:
 * incoming.c allows a tag's publisher, right after its seal. */
int rfs_catalog_tag_set_attrs(struct rfs_catalog *cat, int64_t id,
			      const struct rfs_file_attrs *attrs,
			      struct rfs_tag *out);

/* Annotations of a tag, by key. */
int rfs_catalog_list_annotations(struct rfs_catalog *cat, int64_t tag,
				 rfs_annotation_fn fn, void *ctx);

/* Yank (hide from listings and version ranges; readable by its exact
 * name) or unyank. rfs_catalog_yank records who (by) and why (reason,
 * UTF-8), both may be NULL; unyanking forgets them. */
#define RFS_YANK_BY_MAX	    63
#define RFS_YANK_REASON_MAX 1023
struct rfs_yank {
	char by[RFS_YANK_BY_MAX + 1];
	char reason[RFS_YANK_REASON_MAX + 1];
	int64_t yanked_ns;
};
int rfs_catalog_yank(struct rfs_catalog *cat, const char *repo, const char *tag,
		     bool yanked, const char *by, const char *reason,
		     struct rfs_error *err);
int rfs_catalog_set_yanked(struct rfs_catalog *cat, const char *repo,
			   const char *tag, bool yanked, struct rfs_error *err);
/* The record of a yanked tag; -ENOENT when it is not yanked (or was
 * yanked before records were kept). */
int rfs_catalog_yank_get(struct rfs_catalog *cat, int64_t tag,
			 struct rfs_yank *out);
/* A verdict of the require_signature policy (policy.h) on repo:tag at
 * subject, the digest checked. */
#define RFS_VERDICT_KEY_MAX    64 /* hex SHA-256 of the signer's key */
#define RFS_VERDICT_REASON_MAX 1023
struct rfs_verdict {
	char subject[RFS_DIGEST_STR_MAX + 1];
	bool ok;
	char key[RFS_VERDICT_KEY_MAX + 1]; /* who signed, when ok */
	char reason[RFS_VERDICT_REASON_MAX + 1];
	int64_t checked_ns;
};
int rfs_catalog_verdict_set(struct rfs_catalog *cat, const char *repo,
			    const char *tag, const struct rfs_verdict *v);
/* The verdict on repo:tag at subject, or with subject NULL the newest
 * one; -ENOENT when there is none. */
int rfs_catalog_verdict_get(struct rfs_catalog *cat, const char *repo,
			    const char *tag, const char *subject,
			    struct rfs_verdict *out);

/* Remove a local tag: -EPERM for one pinned from an upstream. Its blob
 * stays until rfs_gc(). */
int rfs_catalog_remove_tag(struct rfs_catalog *cat, const char *repo,
			   const char *tag, struct rfs_error *err);

/* Names that stopped being tags after since_ns (removed, or refreshed to a
 * new row), oldest first: how a mount learns of changes other processes
 * made. */
typedef int (*rfs_retired_fn)(void *ctx, const char *repo, const char *tag,
			      int64_t retired_ns);
int rfs_catalog_list_retired(struct rfs_catalog *cat, int64_t since_ns,
			     rfs_retired_fn fn, void *ctx);

/* Tags whose repository, name, or an annotation's key or value holds
 * query (case-insensitively), of artifact_type when it is not NULL or "".
 * Yanked tags are left out unless with_yanked. */
int rfs_catalog_search(struct rfs_catalog *cat, const char *query,
		       const char *artifact_type, bool with_yanked,
		       rfs_tag_fn fn, void *ctx);

/* Where a blob is known to be on remote registries (pushed there, fetched
 * from there): for cross-repository mounts. find gives a repository of host
 * other than not_repo holding digest; -ENOENT when none is known. */
int rfs_catalog_remote_blob_add(struct rfs_catalog *cat, const char *digest,
				const char *host, const char *repo);
int rfs_catalog_remote_blob_find(struct rfs_catalog *cat, const char *digest,
				 const char *host, const char *not_repo,
				 char repo[RFS_REPO_MAX + 1]);

/* Settings a store keeps for the programs using it, by key, in the meta
 * table (beside the schema version): get gives -ENOENT when unset,
 * -ENAMETOOLONG when the value does not fit in size. */
int rfs_catalog_setting_set(struct rfs_catalog *cat, const char *key,
			    const char *value);
/* For a mount (catalog-ids.c): the store's generation, the same for every
 * inode and every mount of this catalog (chosen at random the first time;
 * whoever replaces a catalog by another copy must clear it), and this
 * mount's number, greater than every earlier mount's. */
int rfs_catalog_export_ids(struct rfs_catalog *cat, uint32_t *generation,
			   int64_t *mount);
int rfs_catalog_setting_get(struct rfs_catalog *cat, const char *key, char *buf,
			    size_t size);
/* Remove a setting: 0, also when it was not set (catalog-backup.c). */
int rfs_catalog_setting_delete(struct rfs_catalog *cat, const char *key);

/* Replace all of dst by a copy of src, with SQLite's online backup
 * (catalog-backup.c): src is read in one read transaction (one consistent
 * state; in WAL mode its writers go on meanwhile), dst is written in one
 * transaction (its readers see all of the old or all of the new). A copy
 * is the same catalog, generation included: see rfs_catalog_export_ids.
 * For regctl backup and restore (backup.h). */
int rfs_catalog_copy(struct rfs_catalog *dst, struct rfs_catalog *src,
		     struct rfs_error *err);

/* Pin an upstream tag: blob rows (absent until fetched, the manifest
 * present), the tag, its layers, the directories, in one transaction.
 * With replace, an existing upstream tag of that name is replaced (a
 * refresh): the new row has a new id, so a new inode. -EEXIST otherwise,
 * and always for a local tag. */
int rfs_catalog_pin_tag(struct rfs_catalog *cat, const struct rfs_pin *pin,
			bool replace, struct rfs_tag *out,
			struct rfs_error *err);
/* Note that an upstream tag was checked and still has the same digest. */
int rfs_catalog_tag_touch(struct rfs_catalog *cat, int64_t id,
			  int64_t resolved_ns);

/* Layers of a folder tag. */
int rfs_catalog_layer_by_id(struct rfs_catalog *cat, int64_t id,
			    struct rfs_layer *out);
int rfs_catalog_layer_lookup(struct rfs_catalog *cat, int64_t tag,
			     const char *name, struct rfs_layer *out);
int rfs_catalog_list_layers(struct rfs_catalog *cat, int64_t tag,
			    rfs_layer_fn fn, void *ctx);

/* Blobs, with the number of tags and layers that reference each. */
int rfs_catalog_list_blobs(struct rfs_catalog *cat, rfs_blob_fn fn, void *ctx);
int rfs_catalog_blob_get(struct rfs_catalog *cat, const char *digest,
			 struct rfs_blob *out);
/* A fetched blob is now in the store (present), or was evicted. */
int rfs_catalog_blob_set_present(struct rfs_catalog *cat, const char *digest,
				 bool present);
int rfs_catalog_blob_touch(struct rfs_catalog *cat, const char *digest,
			   int64_t now_ns);
/* Fetched blobs in the store, least recently used first, and their total
 * size. Local blobs are never listed: they are not a cache. */
int rfs_catalog_list_evictable(struct rfs_catalog *cat, rfs_blob_fn fn,
			       void *ctx);
int rfs_catalog_cached_bytes(struct rfs_catalog *cat, uint64_t *out);
/* Forget a blob no tag, layer or manifest names: -EBUSY if one does. */
int rfs_catalog_blob_forget(struct rfs_catalog *cat, const char *digest);

/* Manifests pushed over the OCI distribution API (regctl serve), kept by
 * repository and digest: pushed by digest only (a signature, an SBOM, a
 * platform image of an index) or under a tag, when the tag is a row of
 * its own as a pinned one is (origin "": a file for one layer, else a
 * folder). A manifest keeps the blobs it names from gc; its subject is
 * what the referrers API lists it under. catalog-manifests.c. */
struct rfs_manifest_row {
	int64_t id;
	char repo[RFS_REPO_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1];
	char media_type[RFS_MEDIA_TYPE_MAX + 1];
	uint64_t size;
	char artifact_type[RFS_ARTIFACT_TYPE_MAX + 1];
	char subject[RFS_DIGEST_STR_MAX + 1]; /* "" when none */
	const char *annotations; /* JSON object text or NULL; listings only,
				    valid during the callback */
	int64_t created_ns;
};
typedef int (*rfs_manifest_fn)(void *ctx, const struct rfs_manifest_row *m);

struct rfs_manifest_put {
	const char *repo;
	const char *digest;
	uint64_t size;
	const char *media_type;
	const char *artifact_type;    /* or NULL */
	const char *subject;	      /* or NULL */
	const char *annotations_json; /* or NULL */
	const char *const *blobs;     /* what it names: config, layers, or
					 an index's manifests */
	size_t n_blobs;
	/* The tag to point at it, or NULL (pushed by digest). With
	 * replace, a tag of that name naming another manifest is replaced
	 * (a mutable tag), local or not; else that is -EEXIST. */
	const struct rfs_pin *tag;
	bool replace;
};

/* Record a pushed manifest (its blob stored already), the blobs it names
 * as blobs of its repository, and its tag, in one transaction. */
int rfs_catalog_manifest_put(struct rfs_catalog *cat,
			     const struct rfs_manifest_put *put,
			     struct rfs_tag *tag_out, struct rfs_error *err);
/* -ENOENT when repo has no such manifest. */
int rfs_catalog_manifest_get(struct rfs_catalog *cat, const char *repo,
			     const char *digest, struct rfs_manifest_row *out);
/* Forget a manifest of repo and remove the local tags of repo naming it
 * (retired, as regctl rm does). -ENOENT when there was nothing to remove,
 * -EPERM when only tags pinned from an upstream name it. */
int rfs_catalog_manifest_delete(struct rfs_catalog *cat, const char *repo,
				const char *digest, struct rfs_error *err);
/* Manifests of repo whose subject is digest, by digest. */
int rfs_catalog_list_referrers(struct rfs_catalog *cat, const char *repo,
			       const char *digest, rfs_manifest_fn fn,
			       void *ctx);

/* A blob of size bytes was stored (uploaded) or mounted into repo: it is
 * content of our own from now on (never evicted), and repo serves it. */
int rfs_catalog_repo_blob_link(struct rfs_catalog *cat, const char *repo,
			       const char *digest, uint64_t size,
			       struct rfs_error *err);
/* repo no longer serves digest (a DELETE); gc reclaims what nothing else
 * names. -ENOENT when it did not. */
int rfs_catalog_repo_blob_unlink(struct rfs_catalog *cat, const char *repo,
				 const char *digest);
/* Does repo serve blob digest: linked into it, one of its manifests, or
 * named by one of its tags or their layers? 0 or -ENOENT. */
int rfs_catalog_repo_has_blob(struct rfs_catalog *cat, const char *repo,
			      const char *digest);
/* Does repo exist: a tag, a manifest or a blob of its own? 0 or -ENOENT. */
int rfs_catalog_repo_exists(struct rfs_catalog *cat, const char *repo);
/* Repositories with a tag or a manifest, sorted, after after ("" for the
 * first), at most limit of them. */
int rfs_catalog_list_repos(struct rfs_catalog *cat, const char *after,
			   int64_t limit,
			   int (*fn)(void *ctx, const char *name), void *ctx);
/* The names of repo's tags that are not yanked, sorted bytewise, after
 * after, at most limit. */
int rfs_catalog_list_tag_names(struct rfs_catalog *cat, const char *repo,
			       const char *after, int64_t limit,
			       int (*fn)(void *ctx, const char *name),
			       void *ctx);

/* Release plan runs (regctl plan): what ran, with which pinned digests,
 * and how each host fared in each step. */
#define RFS_RUN_ID_MAX 63
struct rfs_run_record {
	char id[RFS_RUN_ID_MAX + 1];
	char plan[256];
	char file_hash[72]; /* of the plan files, "sha256:<hex>" */
	int64_t started_ns;
	int64_t ended_ns; /* 0 while running, or when it was killed */
	char status[16];  /* running, done, failed, declined, interrupted */
	int exit_code;
	char *pins; /* JSON: {"registry/repo:tag": "sha256:..."} */
	char *args; /* JSON: what a resume needs (files, -e, -t) */
};
struct rfs_run_step {
	char run[RFS_RUN_ID_MAX + 1];
	int step; /* 0-based index in the plan */
	char step_name[256];
	char host[256];
	char status[16]; /* running, done, failed, skipped, cancelled */
	int64_t started_ns;
	int64_t ended_ns;
	int exit_code;
	char log[1024];	   /* the host's log file */
	char message[512]; /* why it failed or was skipped */
};
typedef int (*rfs_run_fn)(void *ctx, const struct rfs_run_record *run);
typedef int (*rfs_run_step_fn)(void *ctx, const struct rfs_run_step *step);

/* Record a new run (-EEXIST for an id taken). pins and args may be NULL. */
int rfs_catalog_run_add(struct rfs_catalog *cat,
			const struct rfs_run_record *run);
/* A run ended with status and exit_code; or is resumed (running again). */
int rfs_catalog_run_finish(struct rfs_catalog *cat, const char *id,
			   const char *status, int exit_code, int64_t ended_ns);
int rfs_catalog_run_restart(struct rfs_catalog *cat, const char *id);
/* Replace the pins of a run (a push pinned another tag). */
int rfs_catalog_run_set_pins(struct rfs_catalog *cat, const char *id,
			     const char *pins);
/* One run: its pins and args are malloc()ed, release them with
 * rfs_run_record_release(). -ENOENT for an unknown id. */
int rfs_catalog_run_get(struct rfs_catalog *cat, const char *id,
			struct rfs_run_record *out);
void rfs_run_record_release(struct rfs_run_record *run);
/* Runs, newest first, of plan (NULL for all). The record's strings are
 * valid during the callback only. */
int rfs_catalog_list_runs(struct rfs_catalog *cat, const char *plan,
			  rfs_run_fn fn, void *ctx);
/* Record how a host is doing in a step (added or replaced). */
int rfs_catalog_run_step_set(struct rfs_catalog *cat,
			     const struct rfs_run_step *step);
/* The host-steps of a run, by step, then in the order first recorded. */
int rfs_catalog_list_run_steps(struct rfs_catalog *cat, const char *run,
			       rfs_run_step_fn fn, void *ctx);

/* Group many writes in one transaction (bulk loading). Not nestable. */
int rfs_catalog_begin(struct rfs_catalog *cat);
int rfs_catalog_commit(struct rfs_catalog *cat);

int64_t rfs_now_ns(void);

#endif
