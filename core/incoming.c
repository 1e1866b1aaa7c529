/*
 * incoming.c - the staging tree behind incoming/ (see incoming.h).
 *
 * Index: every entry is in a hash table by id, and while linked in one by
 * (folder, name); sealed tags in their publisher's window are also queued in
 * the order their windows end. No operation walks all entries but a
 * listing, so 20 000 staged files cost a create or a remove nothing.
 *
 * Locking: inc->lock guards the tables and every entry's namespace fields
 * (dir, name, kind, linked, refs, handles, writers, closing, rename_waits,
 * sealing, killed, attrs, and the sealed tag's fields). An entry's own lock
 * serialises the writes to its seal and the seal's commit, which can take
 * long (fsync) and must not block the whole table; it also guards the
 * seal pointer and committed.
 * Never take inc->lock while holding an entry lock.
 *
 * Lifetime: an entry is referenced by the namespace while it is linked, by
 * each open handle, and by each operation in progress; it is freed when the
 * last reference goes. A sealed tag's entry stays linked for its
 * publisher's window; its seal (and the descriptor it holds) is freed as
 * soon as no handle is open, and the entry is unlinked by the first change
 * of the namespace after the window.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "digest.h"
#include "htable.h"
#include "incoming.h"

#define RFS_META_MAX	   64
#define RFS_META_VALUE_MAX 4096
#define ANNOTATION_PREFIX  "annotation."
#include "seal.h"

struct staged {
	struct staged *prev, *next;	 /* all entries */
	struct staged *wprev, *wnext;	 /* the window queue, while in it */
	bool queued;			 /* in the window queue */
	struct rfs_hnode by_id, by_name; /* by_name while linked */
	uid_t owner;			 /* who created it */
	bool counted;			 /* in its owner's staged files */
	int64_t id;
	int64_t dir;
	char name[RFS_STAGED_NAME_MAX + 1];
	enum rfs_staged_kind kind;
	int64_t mtime_ns; /* last write, or as set */
	/* What the publisher said besides the bytes: the mode (from create
	 * on) and, once set and not written after, the mtime. */
	struct rfs_file_attrs attrs;
	pid_t last_closer; /* the last process to close a writing handle */
	/* Writing handles whose closer kept no other descriptor, and whose
	 * release has not come: each release ends one (at most writers). */
	int closing;
	int rename_waits; /* renames waiting for those releases, to seal */
	int sealing;	  /* seals under way (they hold lock) */
	int refs;
	int handles;
	int writers;
	bool linked; /* reachable by name */
	bool killed; /* a writer died from a signal */
	/* A sealed tag in its publisher's window (see incoming.h). */
	bool sealed;
	int64_t tag_id;
	uint64_t size;
	pid_t publisher; /* a thread group */
	int64_t window_end;
	pthread_mutex_t lock;
	struct rfs_seal *seal; /* NULL once sealed and no handle is open */
	bool committed;	       /* the seal took its content */
	/* Metadata for the seal, from xattrs: "annotation.<key>" and
	 * "artifact_type" names with their values. */
	char *meta_names[RFS_META_MAX];
	char *meta_values[RFS_META_MAX];
	size_t n_meta;
};

struct rfs_incoming {
	struct rfs_store *store;
	pthread_mutex_t lock;
	pthread_cond_t released; /* a writing handle was released */
	struct staged *head;
	struct rfs_htable by_id, by_name;
	struct staged *window_head, *window_tail; /* oldest seal first */
	int64_t next_id;
	int64_t window_ns;
	/* Where staged files nobody holds open are parked, their
	 * descriptors closed: made when first needed; "" before, and when it
	 * could not be made (then they keep their descriptors). */
	char park_dir[PATH_MAX];
	int park_lock;
	bool park_tried;
	/* Staged files (linked, not sealed) per user, bounded by max_files
	 * each. Users are few: a plain array. */
	struct staged_count {
		uid_t uid;
		unsigned n;
	} * counts;
	size_t n_counts;
	unsigned max_files;
	bool seal_on_rename;
};

static void drop_seal_if_idle(struct rfs_incoming *inc, struct staged *e);

/* The publisher's window is measured on a clock that never jumps. */
static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int rfs_incoming_new(struct rfs_store *store,
		     const struct rfs_incoming_options *opts,
		     struct rfs_incoming **out)
{
	struct rfs_incoming *inc = calloc(1, sizeof(*inc));
	pthread_condattr_t attr;

	if (!inc)
		return -ENOMEM;
	inc->store = store;
	inc->next_id = opts && opts->first_id > 0 ? opts->first_id : 1;
	inc->seal_on_rename = opts && opts->seal_on_rename;
	inc->window_ns = (int64_t)RFS_PUBLISHER_WINDOW_MS * 1000000;
	pthread_mutex_init(&inc->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&inc->released, &attr);
	pthread_condattr_destroy(&attr);
	rfs_htable_init(&inc->by_id);
	rfs_htable_init(&inc->by_name);
	inc->park_lock = -1;
	inc->max_files = RFS_INCOMING_MAX_FILES_DEFAULT;
	*out = inc;
	return 0;
}

static void staged_free(struct staged *e)
{
	for (size_t i = 0; i < e->n_meta; i++) {
		free(e->meta_names[i]);
		free(e->meta_values[i]);
	}
	rfs_seal_free(&e->seal);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void rfs_incoming_set_window(struct rfs_incoming *inc, int64_t ms)
{
	pthread_mutex_lock(&inc->lock);
	inc->window_ns = ms * 1000000;
	pthread_mutex_unlock(&inc->lock);
}

void rfs_incoming_free(struct rfs_incoming **incp)
{
	struct rfs_incoming *inc;

	if (!incp || !*incp)
		return;
	inc = *incp;
	while (inc->head) {
		struct staged *e = inc->head;

		inc->head = e->next;
		staged_free(e);
	}
	rfs_htable_release(&inc->by_id);
	rfs_htable_release(&inc->by_name);
	rfs_store_park_close(inc->park_dir, inc->park_lock);
	free(inc->counts);
	pthread_cond_destroy(&inc->released);
	pthread_mutex_destroy(&inc->lock);
	free(inc);
	*incp = NULL;
}

int rfs_incoming_classify(const char *name, enum rfs_staged_kind *kind)
{
	char tag[RFS_TAG_MAX + 1];

	if (strlen(name) > RFS_STAGED_NAME_MAX)
		return -ENAMETOOLONG;
	if (rfs_name_is_temporary(name))
		*kind = RFS_STAGED_TEMP;
	else if (rfs_name_sidecar_tag(name, tag, sizeof(tag)))
		*kind = RFS_STAGED_SIDECAR;
	else if (rfs_name_valid_tag(name))
		*kind = RFS_STAGED_TAG;
	else
		return -EINVAL;
	return 0;
}

static uint64_t name_hash(int64_t dir, const char *name)
{
	return rfs_hash_bytes(name, strlen(name),
			      rfs_hash_u64((uint64_t)dir) | 1);
}

/* Lock held for all the helpers below that take no lock themselves. */
static struct staged *find_linked(struct rfs_incoming *inc, int64_t dir,
				  const char *name)
{
	struct rfs_hnode *n;

	for (n = rfs_htable_first(&inc->by_name, name_hash(dir, name)); n;
	     n = rfs_htable_next(n)) {
		struct staged *e = rfs_container_of(n, struct staged, by_name);

		/* linked is checked: rename hides a target for a moment */
		if (e->linked && e->dir == dir && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static struct staged *find_id(struct rfs_incoming *inc, int64_t id)
{
	struct rfs_hnode *n;

	for (n = rfs_htable_first(&inc->by_id, rfs_hash_u64((uint64_t)id)); n;
	     n = rfs_htable_next(n)) {
		struct staged *e = rfs_container_of(n, struct staged, by_id);

		if (e->id == id)
			return e;
	}
	return NULL;
}

/* A new entry joins the tables, linked by its name. */
static void add_locked(struct rfs_incoming *inc, struct staged *e)
{
	e->prev = NULL;
	e->next = inc->head;
	if (e->next)
		e->next->prev = e;
	inc->head = e;
	rfs_htable_insert(&inc->by_id, &e->by_id,
			  rfs_hash_u64((uint64_t)e->id));
	rfs_htable_insert(&inc->by_name, &e->by_name,
			  name_hash(e->dir, e->name));
}

static void dequeue_locked(struct rfs_incoming *inc, struct staged *e)
{
	if (!e->queued)
		return;
	if (e->wprev)
		e->wprev->wnext = e->wnext;
	else
		inc->window_head = e->wnext;
	if (e->wnext)
		e->wnext->wprev = e->wprev;
	else
		inc->window_tail = e->wprev;
	e->wprev = e->wnext = NULL;
	e->queued = false;
}

/* A sealed tag starts its publisher's window. */
static void enqueue_locked(struct rfs_incoming *inc, struct staged *e)
{
	e->wnext = NULL;
	e->wprev = inc->window_tail;
	if (e->wprev)
		e->wprev->wnext = e;
	else
		inc->window_head = e;
	inc->window_tail = e;
	e->queued = true;
}

static struct staged_count *count_of(struct rfs_incoming *inc, uid_t uid,
				     bool add)
{
	struct staged_count *grown;

	for (size_t i = 0; i < inc->n_counts; i++)
		if (inc->counts[i].uid == uid)
			return &inc->counts[i];
	if (!add)
		return NULL;
	grown = realloc(inc->counts, (inc->n_counts + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	inc->counts = grown;
	grown[inc->n_counts] = (struct staged_count){ uid, 0 };
	return &grown[inc->n_counts++];
}

/* e is no longer a staged file of its owner: removed, or sealed. */
static void uncount_locked(struct rfs_incoming *inc, struct staged *e)
{
	struct staged_count *c;

	if (!e->counted)
		return;
	e->counted = false;
	c = count_of(inc, e->owner, false);
	if (c && c->n)
		c->n--;
}

static void drop_refs_locked(struct rfs_incoming *inc, struct staged *e, int n)
{
	e->refs -= n;
	if (e->refs > 0)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		inc->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	rfs_htable_remove(&inc->by_id, &e->by_id);
	dequeue_locked(inc, e);
	staged_free(e);
}

static void drop_ref_locked(struct rfs_incoming *inc, struct staged *e)
{
	drop_refs_locked(inc, e, 1);
}

static void unlink_locked(struct rfs_incoming *inc, struct staged *e)
{
	if (!e->linked)
		return;
	e->linked = false;
	rfs_htable_remove(&inc->by_name, &e->by_name);
	dequeue_locked(inc, e);
	uncount_locked(inc, e);
	drop_ref_locked(inc, e);
}

/* Sealed tags whose publisher's window is over leave the namespace. Called
 * as a namespace operation starts, so that no entry it finds goes away
 * under it. */
static void sweep_locked(struct rfs_incoming *inc)
{
	int64_t now = monotonic_ns();
	struct staged *e, *next;

	/* Only tags in their window are visited (ordered by their ends but
	 * for a window shortened by rfs_incoming_set_window, hence no early
	 * stop). */
	for (e = inc->window_head; e; e = next) {
		next = e->wnext;
		if (now >= e->window_end)
			unlink_locked(inc, e);
	}
}

static void lock_namespace(struct rfs_incoming *inc)
{
	pthread_mutex_lock(&inc->lock);
	sweep_locked(inc);
}

static struct staged *get(struct rfs_incoming *inc, int64_t id)
{
	struct staged *e;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (e)
		e->refs++;
	pthread_mutex_unlock(&inc->lock);
	return e;
}

static void put(struct rfs_incoming *inc, struct staged *e)
{
	pthread_mutex_lock(&inc->lock);
	drop_ref_locked(inc, e);
	pthread_mutex_unlock(&inc->lock);
}

static void fill_info(struct staged *e, struct rfs_staged_info *out)
{
	if (!out)
		return;
	out->id = e->id;
	out->dir = e->dir;
	snprintf(out->name, sizeof(out->name), "%s", e->name);
	out->kind = e->kind;
	/* The seal may be gone once sealed is set (under the lock held). */
	out->size = e->sealed ? e->size : rfs_seal_size(e->seal);
	out->mtime_ns = e->attrs.set_mtime ? e->attrs.mtime_ns : e->mtime_ns;
	out->mode = e->attrs.mode & 0777;
	out->sealed = e->sealed;
	out->tag_id = e->tag_id;
}

int rfs_incoming_dir_lookup(struct rfs_incoming *inc, int64_t parent,
			    const char *name, struct rfs_dir *out,
			    struct rfs_error *err)
{
	(void)inc;
	(void)err;
	/* A lookup never makes a folder: see pending.h for the top level. */
	return rfs_catalog_dir_lookup(rfs_store_catalog(inc->store), parent,
				      name, out);
}

int rfs_incoming_mkdir(struct rfs_incoming *inc, int64_t parent,
		       const char *name, struct rfs_dir *out,
		       struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(inc->store);
	char path[RFS_REPO_MAX + 2];
	struct rfs_dir d = { .id = 0, .path = "" };
	bool staged;
	int n, rc;

	if (!rfs_name_valid_component(name))
		return rfs_error_set(err, -EINVAL,
				     "invalid repository name component '%s'",
				     name);
	if (parent != 0) {
		rc = rfs_catalog_dir_by_id(cat, parent, &d);
		if (rc)
			return rfs_error_set(err, rc, "no such folder");
	}
	n = snprintf(path, sizeof(path), "%s%s%s", d.path, parent ? "/" : "",
		     name);
	if (n < 0 || (size_t)n > RFS_REPO_MAX)
		return rfs_error_set(err, -ENAMETOOLONG,
				     "repository name too long");
	if (rfs_catalog_dir_lookup(cat, parent, name, NULL) == 0)
		return rfs_error_set(err, -EEXIST, "'%s' exists", path);
	lock_namespace(inc);
	staged = find_linked(inc, parent, name) != NULL;
	pthread_mutex_unlock(&inc->lock);
	if (staged)
		return rfs_error_set(err, -EEXIST, "'%s' is a file", path);
	return rfs_catalog_dir_ensure(cat, path, out, err);
}

int rfs_incoming_rmdir(struct rfs_incoming *inc, int64_t parent,
		       const char *name, struct rfs_error *err)
{
	struct rfs_dir d;
	int rc;

	rc = rfs_catalog_dir_lookup(rfs_store_catalog(inc->store), parent, name,
				    &d);
	if (rc)
		return rfs_error_set(err, rc, "no such folder '%s'", name);
	if (rfs_incoming_dir_busy(inc, d.id))
		return rfs_error_set(err, -ENOTEMPTY, "'%s' holds files",
				     d.path);
	rc = rfs_catalog_dir_remove(rfs_store_catalog(inc->store), d.id);
	if (rc == -EBUSY || rc == -ENOTEMPTY)
		return rfs_error_set(err, -ENOTEMPTY,
				     "'%s' holds repositories or tags", d.path);
	return rc;
}

int rfs_incoming_lookup(struct rfs_incoming *inc, int64_t dir, const char *name,
			struct rfs_staged_info *out)
{
	struct staged *e;
	int rc = -ENOENT;

	lock_namespace(inc);
	e = find_linked(inc, dir, name);
	if (e) {
		fill_info(e, out);
		rc = 0;
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

int rfs_incoming_stat(struct rfs_incoming *inc, int64_t id,
		      struct rfs_staged_info *out)
{
	struct staged *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (e) {
		fill_info(e, out);
		rc = 0;
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

int rfs_incoming_list(struct rfs_incoming *inc, int64_t dir, rfs_staged_fn fn,
		      void *ctx)
{
	struct rfs_staged_info info;
	int rc = 0;

	/* Sealed tags are listed under registry/ only. */
	lock_namespace(inc);
	for (struct staged *e = inc->head; e && !rc; e = e->next) {
		if (e->linked && !e->sealed && e->dir == dir) {
			fill_info(e, &info);
			rc = fn(ctx, &info);
		}
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

bool rfs_incoming_dir_busy(struct rfs_incoming *inc, int64_t dir)
{
	bool busy = false;

	pthread_mutex_lock(&inc->lock);
	for (struct staged *e = inc->head; e && !busy; e = e->next)
		busy = e->linked && !e->sealed && e->dir == dir;
	pthread_mutex_unlock(&inc->lock);
	return busy;
}

/* May a new staged entry be called name in dir? Lock held. */
static int name_free_locked(struct rfs_incoming *inc, const struct rfs_dir *d,
			    const char *name, enum rfs_staged_kind kind,
			    struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(inc->store);
	struct staged *e = find_linked(inc, d->id, name);
	char tag[RFS_TAG_MAX + 1];

	if (e && e->sealed)
		return rfs_error_set(err, -EEXIST, "tag '%s:%s' exists",
				     d->path, name);
	if (e)
		return rfs_error_set(err, -EEXIST,
				     "'%s/%s' is being written already",
				     d->path, name);
	if (kind == RFS_STAGED_TAG &&
	    rfs_catalog_tag_lookup(cat, d->id, name, NULL) == 0)
		return rfs_error_set(err, -EEXIST, "tag '%s:%s' exists",
				     d->path, name);
	/* A checksum file for a sealed tag could never be used: it would
	 * stay in incoming/ for nothing. */
	if (kind == RFS_STAGED_SIDECAR &&
	    rfs_name_sidecar_tag(name, tag, sizeof(tag)) &&
	    rfs_catalog_tag_lookup(cat, d->id, tag, NULL) == 0)
		return rfs_error_set(err, -EEXIST,
				     "tag '%s:%s' exists: a checksum file for "
				     "it is of no use",
				     d->path, tag);
	if (rfs_catalog_dir_lookup(cat, d->id, name, NULL) == 0)
		return rfs_error_set(err, -EEXIST, "'%s/%s' is a repository",
				     d->path, name);
	return 0;
}

void rfs_incoming_set_max_files(struct rfs_incoming *inc, unsigned n)
{
	pthread_mutex_lock(&inc->lock);
	inc->max_files = n ? n : RFS_INCOMING_MAX_FILES_DEFAULT;
	pthread_mutex_unlock(&inc->lock);
}

/* May uid stage one more file? Counts it if so. Lock held. */
static int count_locked(struct rfs_incoming *inc, struct staged *e, uid_t uid,
			struct rfs_error *err)
{
	struct staged_count *c = count_of(inc, uid, true);

	if (!c)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	if (c->n >= inc->max_files)
		return rfs_error_set(err, -EDQUOT,
				     "user %u has %u files staged in incoming/ "
				     "(incoming_max_files): not creating '%s'",
				     (unsigned)uid, c->n, e->name);
	c->n++;
	e->owner = uid;
	e->counted = true;
	return 0;
}

int rfs_incoming_create(struct rfs_incoming *inc, int64_t dir, const char *name,
			unsigned mode, struct rfs_staged_info *out,
			struct rfs_error *err)
{
	return rfs_incoming_create_by(inc, dir, name, mode, (uid_t)-1, out,
				      err);
}

int rfs_incoming_create_by(struct rfs_incoming *inc, int64_t dir,
			   const char *name, unsigned mode, uid_t uid,
			   struct rfs_staged_info *out, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(inc->store);
	enum rfs_staged_kind kind;
	struct staged *e = NULL;
	struct rfs_dir d;
	int rc;

	if (dir == 0)
		return rfs_error_set(err, -EINVAL,
				     "'%s' must be inside a repository folder",
				     name);
	rc = rfs_incoming_classify(name, &kind);
	if (rc)
		return rfs_error_set(err, rc, "invalid tag name '%s'", name);
	rc = rfs_catalog_dir_by_id(cat, dir, &d);
	if (rc)
		return rfs_error_set(err, rc, "no such repository folder");

	e = calloc(1, sizeof(*e));
	if (!e)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&e->lock, NULL);
	rc = rfs_seal_begin(inc->store, &e->seal, err);
	if (rc) {
		staged_free(e);
		return rc;
	}
	e->dir = dir;
	snprintf(e->name, sizeof(e->name), "%s", name);
	/* Only a rename seals: a tag's name is a temporary's until then. */
	e->kind = inc->seal_on_rename && kind == RFS_STAGED_TAG
		      ? RFS_STAGED_TEMP
		      : kind;
	e->mtime_ns = rfs_now_ns();
	e->attrs.set_mode = true;
	e->attrs.mode = mode & 07777;
	e->refs = 2; /* the namespace and the handle */
	e->handles = 1;
	e->writers = 1;
	e->linked = true;

	lock_namespace(inc);
	rc = name_free_locked(inc, &d, name, kind, err);
	if (!rc)
		rc = count_locked(inc, e, uid, err);
	if (!rc) {
		e->id = inc->next_id++;
		add_locked(inc, e);
		fill_info(e, out);
	}
	pthread_mutex_unlock(&inc->lock);
	if (rc)
		staged_free(e);
	return rc;
}

int rfs_incoming_open(struct rfs_incoming *inc, int64_t id, bool write,
		      struct rfs_error *err)
{
	struct staged *e;
	int rc = 0;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (!e || !e->linked)
		rc = rfs_error_set(err, -ENOENT, "no such staged file");
	else if (write && e->sealed)
		rc = rfs_error_set(err, -EEXIST, "tag '%s' is sealed", e->name);
	else if (write && e->kind == RFS_STAGED_TAG && e->writers > 0)
		rc = rfs_error_set(err, -EEXIST,
				   "'%s' is being written already", e->name);
	if (!rc) {
		e->refs++;
		e->handles++;
		if (write)
			e->writers++;
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

/* What a process still holding a file that another writer of it was
 * killed with gets: its work is not sealed, and it must hear so. */
static int discarded(const struct staged *e, struct rfs_error *err)
{
	return rfs_error_set(err, -ECANCELED,
			     "'%s' was discarded: another process writing it "
			     "was killed by a signal",
			     e->name);
}

/* A checksum file is small: refuse one growing past RFS_SIDECAR_MAX; and
 * a file discarded because a writer was killed takes no more writes. */
static int check_size(struct rfs_incoming *inc, struct staged *e, uint64_t end,
		      struct rfs_error *err)
{
	bool sidecar;
	int rc = 0;

	pthread_mutex_lock(&inc->lock);
	sidecar = e->kind == RFS_STAGED_SIDECAR;
	if (e->killed)
		rc = discarded(e, err);
	pthread_mutex_unlock(&inc->lock);
	if (rc)
		return rc;
	if (sidecar && end > RFS_SIDECAR_MAX)
		return rfs_error_set(err, -EFBIG,
				     "a checksum file holds at most %d bytes",
				     RFS_SIDECAR_MAX);
	return 0;
}

/* A write or truncate after an explicit mtime moves it, as on any file
 * system: the seal then dates the tag. */
static void data_changed(struct rfs_incoming *inc, struct staged *e)
{
	pthread_mutex_lock(&inc->lock);
	e->attrs.set_mtime = false;
	pthread_mutex_unlock(&inc->lock);
}

ssize_t rfs_incoming_write(struct rfs_incoming *inc, int64_t id,
			   const void *buf, size_t len, uint64_t offset,
			   struct rfs_error *err)
{
	struct staged *e = get(inc, id);
	ssize_t n;

	if (!e)
		return rfs_error_set(err, -EBADF, "no such staged file");
	n = check_size(inc, e, offset + len, err);
	if (n) {
		put(inc, e);
		return n;
	}
	pthread_mutex_lock(&e->lock);
	/* EROFS, not EBADF: the file is now a read-only tag, and an NFS
	 * server answers EROFS (ganesha drops an NFSv3 WRITE that failed
	 * with EBADF, and its client waits for a retransmit). */
	if (e->committed)
		n = rfs_error_set(err, -EROFS, "'%s' is sealed", e->name);
	else
		n = rfs_seal_write(e->seal, buf, len, offset, err);
	if (n > 0)
		e->mtime_ns = rfs_now_ns();
	pthread_mutex_unlock(&e->lock);
	if (n > 0)
		data_changed(inc, e);
	put(inc, e);
	return n;
}

ssize_t rfs_incoming_read(struct rfs_incoming *inc, int64_t id, void *buf,
			  size_t len, uint64_t offset)
{
	struct staged *e = get(inc, id);
	ssize_t n;

	if (!e)
		return -EBADF;
	pthread_mutex_lock(&e->lock);
	n = e->seal ? rfs_seal_read(e->seal, buf, len, offset) : -EBADF;
	pthread_mutex_unlock(&e->lock);
	put(inc, e);
	return n;
}

bool rfs_incoming_sealing(struct rfs_incoming *inc, int64_t id)
{
	struct staged *e;
	bool sealing;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	sealing = e && e->sealing > 0;
	pthread_mutex_unlock(&inc->lock);
	return sealing;
}

int rfs_incoming_truncate(struct rfs_incoming *inc, int64_t id, uint64_t size,
			  struct rfs_error *err)
{
	struct staged *e = get(inc, id);
	int rc;

	if (!e)
		return rfs_error_set(err, -EBADF, "no such staged file");
	rc = check_size(inc, e, size, err);
	if (rc) {
		put(inc, e);
		return rc;
	}
	pthread_mutex_lock(&e->lock);
	if (e->committed)
		rc = rfs_error_set(err, -EROFS, "'%s' is sealed", e->name);
	else
		rc = rfs_seal_truncate(e->seal, size, err);
	if (!rc)
		e->mtime_ns = rfs_now_ns();
	pthread_mutex_unlock(&e->lock);
	if (!rc)
		data_changed(inc, e);
	put(inc, e);
	return rc;
}

/* A change to a staged file: it goes with the bytes to the seal. */
static int setattr_staged(struct rfs_incoming *inc, struct staged *e,
			  const struct rfs_staged_setattr *set,
			  struct rfs_error *err)
{
	int rc = 0;

	if (set->set_size)
		rc = rfs_incoming_truncate(inc, e->id, set->size, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&inc->lock);
	if (set->attrs.set_mode) {
		e->attrs.set_mode = true;
		e->attrs.mode = set->attrs.mode & 07777;
	}
	if (set->attrs.set_mtime) {
		e->attrs.set_mtime = true;
		e->attrs.mtime_ns = set->attrs.mtime_ns;
	}
	pthread_mutex_unlock(&inc->lock);
	return 0;
}

/* A change to a tag sealed from e: only by its publisher, in its window,
 * and never of its content. */
static int setattr_sealed(struct rfs_incoming *inc, struct staged *e, pid_t pid,
			  const struct rfs_staged_setattr *set,
			  struct rfs_tag *changed, struct rfs_error *err)
{
	pid_t caller = rfs_proc_tgid(pid);
	char name[RFS_STAGED_NAME_MAX + 1];
	bool publisher, in_window;
	uint64_t size;
	int64_t tag_id;
	int rc;

	pthread_mutex_lock(&inc->lock);
	publisher = caller > 0 && caller == e->publisher;
	in_window = monotonic_ns() < e->window_end;
	tag_id = e->tag_id;
	size = e->size;
	snprintf(name, sizeof(name), "%s", e->name);
	pthread_mutex_unlock(&inc->lock);
	if (!publisher)
		return rfs_error_set(err, -EROFS,
				     "tag '%s' is sealed: only the process "
				     "that published it may set its mode and "
				     "times, right after",
				     name);
	if (!in_window)
		return rfs_error_set(err, -EROFS,
				     "tag '%s' is sealed, and its publisher's "
				     "%d ms to set its mode and times are over",
				     name, RFS_PUBLISHER_WINDOW_MS);
	if (set->set_size && set->size != size)
		return rfs_error_set(err, -EROFS,
				     "tag '%s' is sealed: its content cannot "
				     "change",
				     name);
	if (!set->attrs.set_mode && !set->attrs.set_mtime)
		return 0;
	rc = rfs_catalog_tag_set_attrs(rfs_store_catalog(inc->store), tag_id,
				       &set->attrs, changed);
	if (rc)
		return rfs_error_set(err, rc, "cannot set the mode of tag '%s'",
				     name);
	pthread_mutex_lock(&inc->lock);
	e->attrs.mode = changed->mode;
	e->attrs.mtime_ns = changed->mtime_ns;
	pthread_mutex_unlock(&inc->lock);
	return 0;
}

int rfs_incoming_setattr(struct rfs_incoming *inc, int64_t id, pid_t pid,
			 const struct rfs_staged_setattr *set,
			 struct rfs_tag *changed, struct rfs_error *err)
{
	struct staged *e = get(inc, id);
	bool sealed;
	int rc;

	if (changed)
		memset(changed, 0, sizeof(*changed));
	if (!e)
		return rfs_error_set(err, -ENOENT, "no such staged file");
	pthread_mutex_lock(&inc->lock);
	sealed = e->sealed;
	pthread_mutex_unlock(&inc->lock);
	if (sealed) {
		struct rfs_tag tag;

		rc = setattr_sealed(inc, e, pid, set, changed ? changed : &tag,
				    err);
	} else {
		rc = setattr_staged(inc, e, set, err);
		drop_seal_if_idle(inc, e); /* a truncate by name opened it */
	}
	put(inc, e);
	return rc;
}

/* The digest the checksum file next to tag e asks for, if there is one.
 * Returns 1 when found, 0 when there is no checksum file, or an error. The
 * checksum file is handed back referenced in *sidecar. */
static int expected_digest(struct rfs_incoming *inc, struct staged *e,
			   char digest[RFS_DIGEST_STR_MAX + 1],
			   struct staged **sidecar, struct rfs_error *err)
{
	char name[RFS_STAGED_NAME_MAX + 8], *text;
	const char *why = NULL;
	struct staged *s;
	ssize_t n;
	int rc;

	snprintf(name, sizeof(name), "%s.sha256", e->name);
	pthread_mutex_lock(&inc->lock);
	s = find_linked(inc, e->dir, name);
	if (s)
		s->refs++;
	pthread_mutex_unlock(&inc->lock);
	*sidecar = s;
	if (!s)
		return 0;
	text = malloc(RFS_SIDECAR_MAX);
	if (!text)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&s->lock);
	n = s->seal ? rfs_seal_read(s->seal, text, RFS_SIDECAR_MAX, 0) : -EBADF;
	pthread_mutex_unlock(&s->lock);
	drop_seal_if_idle(inc, s);
	if (n < 0) {
		free(text);
		return rfs_error_set(err, (int)n,
				     "cannot read checksum file '%s': %s", name,
				     strerror((int)-n));
	}
	rc = rfs_sidecar_parse_why(text, (size_t)n, e->name, digest, &why);
	free(text);
	/* EBADMSG, as for a digest that does not match: what was said about
	 * the content cannot be checked, so it is not sealed. */
	if (rc)
		return rfs_error_set(
		    err, -EBADMSG,
		    "checksum file '%s' gives no sha256 digest "
		    "for '%s': %s; not sealed",
		    name, e->name, why);
	return 1;
}

/* Copy e's metadata for its seal (the copies are the caller's to free). */
static int take_meta(struct rfs_incoming *inc, struct staged *e,
		     struct rfs_tag_meta *meta,
		     struct rfs_annotation *annotations)
{
	int rc = 0;

	pthread_mutex_lock(&inc->lock);
	meta->attrs = e->attrs;
	for (size_t i = 0; !rc && i < e->n_meta; i++) {
		const char *name = e->meta_names[i];

		if (strcmp(name, "artifact_type") == 0) {
			meta->artifact_type = strdup(e->meta_values[i]);
			rc = meta->artifact_type ? 0 : -ENOMEM;
			continue;
		}
		annotations[meta->n_annotations].key =
		    strdup(name + strlen(ANNOTATION_PREFIX));
		annotations[meta->n_annotations].value =
		    strdup(e->meta_values[i]);
		if (!annotations[meta->n_annotations].key ||
		    !annotations[meta->n_annotations].value)
			rc = -ENOMEM;
		meta->n_annotations++;
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

/* Once no handle is open, an entry holds no descriptor: a sealed entry
 * needs its seal no more, so it is freed now rather than at the end of the
 * window; a staged one is parked (see rfs_seal_park) until it is opened,
 * read or sealed again, so that abandoned files cannot use up the daemon's
 * descriptors. The caller holds a reference and no lock. */
static void drop_seal_if_idle(struct rfs_incoming *inc, struct staged *e)
{
	bool idle, park;

	pthread_mutex_lock(&inc->lock);
	idle = e->sealed && e->handles == 0;
	park = !e->sealed && e->linked && e->handles == 0;
	if (park && !inc->park_tried) {
		inc->park_tried = true;
		if (rfs_store_park_open(inc->store, inc->park_dir,
					sizeof(inc->park_dir),
					&inc->park_lock) != 0)
			inc->park_dir[0] = '\0';
	}
	park = park && inc->park_dir[0];
	pthread_mutex_unlock(&inc->lock);
	if (!idle && !park)
		return;
	pthread_mutex_lock(&e->lock);
	if (idle)
		rfs_seal_free(&e->seal);
	else if (e->seal && !e->committed)
		rfs_seal_park(e->seal, inc->park_dir); /* else it keeps it */
	pthread_mutex_unlock(&e->lock);
}

/* Record the seal of e (or why it was refused) in the audit log, with the
 * publisher's pid and uid. */
static void audit_publish(struct rfs_incoming *inc, const struct rfs_dir *d,
			  const struct staged *e, pid_t publisher, int rc,
			  const struct rfs_error *err, const char *digest)
{
	struct rfs_audit_event ev = {
		.kind = RFS_AUDIT_PUBLISH,
		.rc = rc,
		.reason = rc && err ? err->msg : NULL,
		.repo = d->path,
		.tag = e->name,
		.digest = rc == 0 ? digest : NULL,
		.pid = publisher,
		.uid = -1,
	};

	rfs_audit_event(inc->store, &ev);
}

/* Seal entry e as <its folder>:<its name>, published by the process pid.
 * Discarded, the entry leaves the namespace; sealed, it stays for its
 * publisher's window. The caller holds a reference and no lock. */
static int seal_entry(struct rfs_incoming *inc, struct staged *e, pid_t pid,
		      const struct rfs_cancel *cancel, struct rfs_tag *sealed,
		      struct rfs_error *err)
{
	pid_t publisher = rfs_proc_tgid(pid);
	struct rfs_tag tag = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_seal_options opts = { 0 };
	struct rfs_annotation annotations[RFS_META_MAX];
	struct rfs_tag_meta meta = { .annotations = annotations };
	struct staged *sidecar = NULL;
	struct rfs_dir d = { 0 };
	int rc;

	rc = rfs_catalog_dir_by_id(rfs_store_catalog(inc->store), e->dir, &d);
	if (rc) {
		rfs_error_set(err, rc, "repository folder of '%s' is gone",
			      e->name);
		goto out;
	}
	rc = expected_digest(inc, e, digest, &sidecar, err);
	if (rc < 0)
		goto out;
	if (rc == 1)
		opts.expected_digest = digest;
	rc = take_meta(inc, e, &meta, annotations);
	if (rc)
		goto out;
	opts.meta = &meta;
	pthread_mutex_lock(&inc->lock);
	e->sealing++;
	pthread_mutex_unlock(&inc->lock);
	pthread_mutex_lock(&e->lock);
	rfs_seal_set_cancel(e->seal, cancel);
	rc = rfs_seal_commit(e->seal, d.path, e->name, &opts, &tag, err);
	rfs_seal_set_cancel(e->seal, NULL);
	e->committed = rc == 0;
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_lock(&inc->lock);
	e->sealing--;
	pthread_mutex_unlock(&inc->lock);
	if (rc == 0 && sealed)
		*sealed = tag;
out:
	if (d.path[0])
		audit_publish(inc, &d, e, publisher, rc, err, tag.digest);
	for (size_t i = 0; i < meta.n_annotations; i++) {
		free((char *)annotations[i].key);
		free((char *)annotations[i].value);
	}
	free((char *)meta.artifact_type);
	pthread_mutex_lock(&inc->lock);
	if (rc == 0 && e->linked && inc->window_ns > 0) {
		e->sealed = true;
		e->tag_id = tag.id;
		e->size = tag.size;
		e->attrs.mode = tag.mode;
		e->attrs.set_mtime = true;
		e->attrs.mtime_ns = tag.mtime_ns;
		e->publisher = publisher;
		e->window_end = monotonic_ns() + inc->window_ns;
		enqueue_locked(inc, e);
		uncount_locked(inc, e);
	} else {
		unlink_locked(inc, e);
	}
	if (sidecar) {
		/* Our reference, and the namespace's: a checksum file is used
		 * by one seal of its tag, whatever its outcome, so that none
		 * is left behind (after a failure, both are written again). */
		int refs = 1;

		if (sidecar->linked) {
			sidecar->linked = false;
			rfs_htable_remove(&inc->by_name, &sidecar->by_name);
			uncount_locked(inc, sidecar);
			refs++;
		}
		drop_refs_locked(inc, sidecar, refs);
	}
	pthread_mutex_unlock(&inc->lock);
	if (rc == 0)
		drop_seal_if_idle(inc, e);
	return rc;
}

/* Should e be sealed now that one of its writers is done? Lock held. */
static bool ready_to_seal(const struct staged *e)
{
	return e->kind == RFS_STAGED_TAG && e->linked && !e->sealed &&
	       !e->killed && e->writers <= 1;
}

int rfs_incoming_flush(struct rfs_incoming *inc, int64_t id, bool write,
		       enum rfs_closer closer, pid_t pid,
		       const struct rfs_cancel *cancel, struct rfs_tag *sealed,
		       struct rfs_error *err)
{
	struct staged *e;
	bool seal = false;
	int rc = 0;

	if (!write)
		return 0;
	e = get(inc, id);
	if (!e)
		return 0;
	pthread_mutex_lock(&inc->lock);
	if (closer == RFS_CLOSER_KILLED) {
		/* An interrupted writer: never seal what it left. */
		e->killed = true;
		unlink_locked(inc, e);
	} else if (e->killed) {
		/* Another holder was killed: this one's close must not say
		 * that what it wrote is sealed. */
		rc = discarded(e, err);
	} else {
		e->last_closer = pid;
		if (closer == RFS_CLOSER_DONE && e->closing < e->writers)
			e->closing++;
		seal = !inc->seal_on_rename && closer == RFS_CLOSER_DONE &&
		       ready_to_seal(e);
	}
	pthread_mutex_unlock(&inc->lock);
	if (seal)
		rc = seal_entry(inc, e, pid, cancel, sealed, err);
	put(inc, e);
	return rc;
}

int rfs_incoming_release(struct rfs_incoming *inc, int64_t id, bool write,
			 struct rfs_tag *sealed, struct rfs_error *err)
{
	struct staged *e;
	bool seal = false;
	pid_t publisher = 0;
	int rc = 0;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (e) {
		e->handles--;
		if (write) {
			e->writers--;
			if (e->closing > 0)
				e->closing--;
			if (e->closing > e->writers)
				e->closing = e->writers;
			seal = !inc->seal_on_rename && e->writers == 0 &&
			       ready_to_seal(e) && e->rename_waits == 0;
			publisher = e->last_closer;
			if (e->rename_waits)
				pthread_cond_broadcast(&inc->released);
		}
		e->refs++;		 /* keep it for what follows */
		drop_ref_locked(inc, e); /* the handle's reference */
	}
	pthread_mutex_unlock(&inc->lock);
	if (!e)
		return 0;
	if (seal)
		rc = seal_entry(inc, e, publisher, NULL, sealed, err);
	else
		drop_seal_if_idle(inc, e);
	put(inc, e);
	return rc;
}

/* A writer that closes a file and renames it at once (rsync, a program
 * writing a temporary file) has its close's RELEASE sent by the kernel on
 * its own, and served on another thread: the rename may come first, still
 * counting that writer. It waits for the releases of the writers that have
 * closed it, briefly (a forked child may still hold a closed descriptor,
 * and the kernel holds both folders while a rename runs), so that the
 * rename seals and its caller learns if the seal is refused. Lock held;
 * true: seal e now. */
#define RENAME_RELEASE_WAIT_MS 2000
#define RENAME_RELEASE_POLL_MS 50

static bool wait_for_release_locked(struct rfs_incoming *inc, struct staged *e,
				    const struct rfs_cancel *cancel)
{
	int64_t deadline =
	    monotonic_ns() + (int64_t)RENAME_RELEASE_WAIT_MS * 1000000;
	int64_t now;

	e->rename_waits++;
	while (e->closing > 0 && (now = monotonic_ns()) < deadline &&
	       !rfs_cancelled(cancel)) {
		int64_t until = now + (int64_t)RENAME_RELEASE_POLL_MS * 1000000;
		struct timespec ts = { .tv_sec = until / 1000000000,
				       .tv_nsec = until % 1000000000 };

		pthread_cond_timedwait(&inc->released, &inc->lock, &ts);
	}
	e->rename_waits--;
	return e->writers == 0 && ready_to_seal(e);
}

int rfs_incoming_rename(struct rfs_incoming *inc, int64_t dir, const char *name,
			int64_t newdir, const char *newname, unsigned int flags,
			pid_t pid, struct rfs_tag *sealed,
			struct rfs_error *err)
{
	return rfs_incoming_rename_with(inc, dir, name, newdir, newname, flags,
					pid, NULL, sealed, err);
}

int rfs_incoming_rename_with(struct rfs_incoming *inc, int64_t dir,
			     const char *name, int64_t newdir,
			     const char *newname, unsigned int flags, pid_t pid,
			     const struct rfs_cancel *cancel,
			     struct rfs_tag *sealed, struct rfs_error *err)
{
	struct rfs_catalog *cat = rfs_store_catalog(inc->store);
	enum rfs_staged_kind kind;
	struct staged *e, *target;
	struct rfs_dir d;
	bool seal = false, wait = false;
	int rc;

	/* A folder first, wherever it goes: the same EPERM at every level. */
	if (rfs_catalog_dir_lookup(cat, dir, name, &d) == 0)
		return rfs_error_set(err, -EPERM,
				     "repository folder '%s' cannot be renamed "
				     "(make the new one and move its files)",
				     d.path);
	if (newdir == 0)
		return rfs_error_set(err, -EINVAL,
				     "'%s' must be inside a repository folder",
				     newname);
	rc = rfs_incoming_classify(newname, &kind);
	if (rc)
		return rfs_error_set(err, rc, "invalid tag name '%s'", newname);
	rc = rfs_catalog_dir_by_id(cat, newdir, &d);
	if (rc)
		return rfs_error_set(err, rc, "no such repository folder");

	lock_namespace(inc);
	e = find_linked(inc, dir, name);
	target = find_linked(inc, newdir, newname);
	if (!e) {
		rc = rfs_error_set(err, -ENOENT, "no such staged file '%s'",
				   name);
	} else if (e->sealed) {
		rc = rfs_error_set(err, -EROFS, "tag '%s:%s' is sealed", d.path,
				   name);
	} else if (target == e) {
		rc = 0; /* rename onto itself */
	} else if (kind == RFS_STAGED_SIDECAR &&
		   rfs_seal_size(e->seal) > RFS_SIDECAR_MAX) {
		rc = rfs_error_set(err, -EFBIG,
				   "a checksum file holds at most %d bytes",
				   RFS_SIDECAR_MAX);
	} else if (target && ((flags & RENAME_NOREPLACE) ||
			      target->kind == RFS_STAGED_TAG)) {
		rc = rfs_error_set(err, -EEXIST, "'%s/%s' exists", d.path,
				   newname);
	} else {
		if (target)
			target->linked = false; /* checked again below */
		rc = name_free_locked(inc, &d, newname, kind, err);
		if (target)
			target->linked = true;
	}
	if (!rc && e && target != e) {
		if (target)
			unlink_locked(inc, target);
		rfs_htable_remove(&inc->by_name, &e->by_name);
		e->dir = newdir;
		snprintf(e->name, sizeof(e->name), "%s", newname);
		rfs_htable_insert(&inc->by_name, &e->by_name,
				  name_hash(e->dir, e->name));
		e->kind = kind;
		/* The renamer says it is done, whoever still holds it. */
		seal = inc->seal_on_rename
			   ? kind == RFS_STAGED_TAG && !e->killed
			   : e->writers == 0 && ready_to_seal(e);
		wait = !inc->seal_on_rename && !seal && e->closing > 0 &&
		       e->kind == RFS_STAGED_TAG;
		if (seal || wait)
			e->refs++;
	}
	if (wait) {
		seal = wait_for_release_locked(inc, e, cancel);
		if (e->killed) /* a writer was killed meanwhile */
			rc = discarded(e, err);
	}
	pthread_mutex_unlock(&inc->lock);
	if (seal)
		rc = seal_entry(inc, e, pid, cancel, sealed, err);
	if (seal || wait)
		put(inc, e);
	return rc;
}

int rfs_incoming_unlink(struct rfs_incoming *inc, int64_t dir, const char *name)
{
	struct staged *e;
	int rc = -ENOENT;

	lock_namespace(inc);
	e = find_linked(inc, dir, name);
	if (e && e->sealed) {
		rc = -EROFS; /* removing the name would not remove the tag */
	} else if (e) {
		unlink_locked(inc, e);
		rc = 0;
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

static bool meta_name_ok(const char *name)
{
	size_t plen = strlen(ANNOTATION_PREFIX);

	if (strcmp(name, "artifact_type") == 0)
		return true;
	return strncmp(name, ANNOTATION_PREFIX, plen) == 0 &&
	       rfs_annotation_key_valid(name + plen);
}

static int find_meta(const struct staged *e, const char *name)
{
	for (size_t i = 0; i < e->n_meta; i++)
		if (strcmp(e->meta_names[i], name) == 0)
			return (int)i;
	return -1;
}

int rfs_incoming_set_meta(struct rfs_incoming *inc, int64_t id,
			  const char *name, const char *value, size_t len)
{
	struct staged *e;
	char *copy;
	int i, rc = 0;

	if (!meta_name_ok(name))
		return -EINVAL;
	if (len > RFS_META_VALUE_MAX || memchr(value, '\0', len))
		return len > RFS_META_VALUE_MAX ? -E2BIG : -EINVAL;
	copy = strndup(value, len);
	if (!copy)
		return -ENOMEM;
	/* A value is kept as given (and shown escaped); a type is a name. */
	if (!strcmp(name, "artifact_type") && !rfs_artifact_type_valid(copy)) {
		free(copy);
		return -EINVAL;
	}
	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (!e || !e->linked) {
		rc = -ENOENT;
	} else if ((i = find_meta(e, name)) >= 0) {
		free(e->meta_values[i]);
		e->meta_values[i] = copy;
		copy = NULL;
	} else if (e->n_meta == RFS_META_MAX) {
		rc = -E2BIG;
	} else {
		e->meta_names[e->n_meta] = strdup(name);
		if (!e->meta_names[e->n_meta]) {
			rc = -ENOMEM;
		} else {
			e->meta_values[e->n_meta++] = copy;
			copy = NULL;
		}
	}
	pthread_mutex_unlock(&inc->lock);
	free(copy);
	return rc;
}

ssize_t rfs_incoming_get_meta(struct rfs_incoming *inc, int64_t id,
			      const char *name, char *buf, size_t size)
{
	struct staged *e;
	ssize_t n = -ENODATA;
	int i;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (e && (i = find_meta(e, name)) >= 0) {
		n = (ssize_t)strlen(e->meta_values[i]);
		if (size && (size_t)n > size)
			n = -ERANGE;
		else if (size)
			memcpy(buf, e->meta_values[i], (size_t)n);
	}
	pthread_mutex_unlock(&inc->lock);
	return n;
}

int rfs_incoming_remove_meta(struct rfs_incoming *inc, int64_t id,
			     const char *name)
{
	struct staged *e;
	int i, rc = -ENODATA;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	if (e && (i = find_meta(e, name)) >= 0) {
		free(e->meta_names[i]);
		free(e->meta_values[i]);
		e->n_meta--;
		e->meta_names[i] = e->meta_names[e->n_meta];
		e->meta_values[i] = e->meta_values[e->n_meta];
		rc = 0;
	}
	pthread_mutex_unlock(&inc->lock);
	return rc;
}

int rfs_incoming_list_meta(struct rfs_incoming *inc, int64_t id,
			   rfs_annotation_fn fn, void *ctx)
{
	struct staged *e;
	int rc = 0;

	pthread_mutex_lock(&inc->lock);
	e = find_id(inc, id);
	for (size_t i = 0; e && !rc && i < e->n_meta; i++)
		rc = fn(ctx, e->meta_names[i], e->meta_values[i]);
	pthread_mutex_unlock(&inc->lock);
	return rc;
}
