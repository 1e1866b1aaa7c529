/*
 * listing.c - folder listings: opendir, readdir(plus), releasedir.
 *
 * A listing is taken at the first readdir of an open folder, whole, and
 * answered from in pieces. A folder of registry/ that no upstream lists
 * tags in changes only with a seal, yank or removal in it: its listing is
 * shared by later opens and kept by the kernel (cache_readdir) until then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "regfs.h"

/* A listing entry whose inode is not known until it is looked up. */
#define UNKNOWN_INO 0xffffffffu

struct listing_entry {
	char *name;
	struct fuse_entry_param e;
};

/* A folder's entries, taken at its first readdir (not at opendir: when the
 * kernel has the listing cached, it opens the folder but reads nothing). */
struct listing {
	struct regfs_open open; /* first: in the table of open things */
	struct listing_entry *entries;
	size_t len, cap;
	uint64_t ino;
	/* The folder's changed_ns at opendir when its listing may be kept
	 * and shared (listing_stamp), else 0. */
	int64_t stamp;
	bool built;
	struct listing_snap *snap; /* entries shared with other opens */
};

/* A built listing of a folder of registry/, shared by its opens. An NFS
 * server reads a big folder in pieces, opening it again for each: ganesha
 * (FSAL VFS) once per 128 names (MDCACHE Dir_Chunk), the kernel's nfsd
 * once per READDIR call. Building the whole listing at each open made a
 * cold listing of n tags cost n * n / 128 rows. */
struct listing_snap {
	struct listing_entry *entries;
	size_t len;
	uint64_t ino;
	int64_t changed_ns; /* the folder's, when built */
	unsigned refs;	    /* under fs->open_lock */
};

static int listing_add(struct listing *l, const char *name,
		       const struct fuse_entry_param *e)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		void *p = realloc(l->entries, cap * sizeof(*l->entries));

		if (!p)
			return -ENOMEM;
		l->entries = p;
		l->cap = cap;
	}
	l->entries[l->len].name = strdup(name);
	if (!l->entries[l->len].name)
		return -ENOMEM;
	l->entries[l->len++].e = *e;
	return 0;
}

static void entries_free(struct listing_entry *entries, size_t len)
{
	for (size_t i = 0; i < len; i++)
		free(entries[i].name);
	free(entries);
}

static void snap_put(struct regfs *fs, struct listing_snap *s)
{
	bool last;

	pthread_mutex_lock(&fs->open_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&fs->open_lock);
	if (last) {
		entries_free(s->entries, s->len);
		free(s);
	}
}

static void listing_free(struct regfs *fs, struct listing *l)
{
	if (!l)
		return;
	regfs_open_remove(fs, &l->open);
	if (l->snap)
		snap_put(fs, l->snap);
	else
		entries_free(l->entries, l->len);
	free(l);
}

/* The changed_ns of a folder of registry/ whose listing may be shared (no
 * upstream lists tags in it), else 0. It moves with every seal, yank and
 * removal in the folder or below, by any process: the same stamp the
 * kernel keeps its own cached listing by (cache_readdir, see opendir). */
static int64_t listing_stamp(struct regfs *fs, uint64_t ino)
{
	struct rfs_dir dir;

	if (rfs_ino_kind(ino) != RFS_NODE_REGISTRY_DIR ||
	    rfs_catalog_dir_by_id(rfs_store_catalog(fs->store), rfs_ino_id(ino),
				  &dir) != 0 ||
	    rfs_pull_serves(fs->pull, dir.path))
		return 0;
	return dir.changed_ns;
}

/* Take the shared entries, when they are this folder's as it is now. */
static bool listing_share(struct regfs *fs, struct listing *l, int64_t stamp)
{
	struct listing_snap *s;

	pthread_mutex_lock(&fs->open_lock);
	s = fs->listing_cache;
	if (s && s->ino == l->ino && s->changed_ns == stamp) {
		s->refs++;
		l->snap = s;
		l->entries = s->entries;
		l->len = s->len;
	}
	pthread_mutex_unlock(&fs->open_lock);
	return l->snap != NULL;
}

/* Offer a freshly built listing to later opens (replacing the last one). */
static void listing_publish(struct regfs *fs, struct listing *l, int64_t stamp)
{
	struct listing_snap *s = malloc(sizeof(*s)), *old;

	if (!s)
		return; /* not shared, still served */
	*s = (struct listing_snap){ .entries = l->entries,
				    .len = l->len,
				    .ino = l->ino,
				    .changed_ns = stamp,
				    .refs = 2 /* l's and the cache's */ };
	l->snap = s;
	pthread_mutex_lock(&fs->open_lock);
	old = fs->listing_cache;
	fs->listing_cache = s;
	pthread_mutex_unlock(&fs->open_lock);
	if (old)
		snap_put(fs, old);
}

struct listing_ctx {
	struct regfs *fs;
	struct listing *l;
	bool incoming;
	int64_t created_ns; /* of the tag whose layers are listed */
};

static int list_dir_cb(void *ctx, const struct rfs_dir *dir)
{
	struct listing_ctx *c = ctx;
	struct fuse_entry_param e;

	regfs_entry_for_dir(c->fs, &e, c->incoming, dir);
	return listing_add(c->l, dir->name, &e);
}

static int list_tag_cb(void *ctx, const struct rfs_tag *tag)
{
	struct listing_ctx *c = ctx;
	struct fuse_entry_param e;

	if (tag->yanked) /* readable by name, not listed */
		return 0;
	regfs_entry_for_tag(c->fs, &e, tag);
	return listing_add(c->l, tag->name, &e);
}

static int list_staged_cb(void *ctx, const struct rfs_staged_info *info)
{
	struct listing_ctx *c = ctx;
	struct fuse_entry_param e;

	regfs_entry_for_staged(c->fs, &e, info);
	return listing_add(c->l, info->name, &e);
}

static int list_layer_cb(void *ctx, const struct rfs_layer *layer)
{
	struct listing_ctx *c = ctx;
	struct fuse_entry_param e;

	regfs_entry_for_file(c->fs, &e, rfs_ino_make(RFS_NODE_LAYER, layer->id),
			     layer->size, c->created_ns);
	return listing_add(c->l, layer->name, &e);
}

/* The folder of a multi-layer tag: manifest.json and the layers. */
static int list_layers(struct regfs *fs, uint64_t ino, struct listing *l)
{
	struct listing_ctx c = { .fs = fs, .l = l };
	struct fuse_entry_param e;
	struct rfs_blob_ref ref;
	struct rfs_tag tag;
	uint64_t manifest = rfs_ino_make(RFS_NODE_MANIFEST, rfs_ino_id(ino));
	int rc = regfs_blob_of(fs, manifest, &tag, &ref);

	if (rc)
		return rc;
	regfs_entry_for_file(fs, &e, manifest, ref.size, tag.created_ns);
	c.created_ns = tag.created_ns;
	rc = listing_add(l, "manifest.json", &e);
	if (!rc)
		rc = rfs_catalog_list_layers(rfs_store_catalog(fs->store),
					     tag.id, list_layer_cb, &c);
	return rc;
}

struct upstream_listing {
	struct listing_ctx *c;
	int64_t dir;
};

/* A tag the upstream lists and we have not pinned: its attributes are
 * known only once it is looked up (and resolved). */
static int list_upstream_cb(void *ctx, const char *name)
{
	struct upstream_listing *u = ctx;
	struct fuse_entry_param e;

	if (!rfs_name_valid_tag(name) ||
	    rfs_catalog_tag_lookup(rfs_store_catalog(u->c->fs->store), u->dir,
				   name, NULL) == 0)
		return 0;
	memset(&e, 0, sizeof(e));
	e.attr.st_ino = UNKNOWN_INO;
	e.attr.st_mode = S_IFREG;
	return listing_add(u->c->l, name, &e);
}

/* Take a snapshot of a folder at opendir: readdir then pages through it. */
static int build_listing(struct regfs *fs, uint64_t ino, struct listing *l)
{
	struct rfs_catalog *cat = rfs_store_catalog(fs->store);
	struct listing_ctx c = { .fs = fs, .l = l };
	struct fuse_entry_param e;
	int64_t d;
	int rc;

	memset(&e, 0, sizeof(e));
	e.attr.st_mode = S_IFDIR;
	e.attr.st_ino = ino;
	rc = listing_add(l, ".", &e);
	if (!rc)
		rc = listing_add(l, "..", &e);
	if (rc)
		return rc;
	if (ino == RFS_INO_ROOT) {
		regfs_entry_for_top(fs, &e, RFS_INO_REGISTRY);
		rc = listing_add(l, "registry", &e);
		regfs_entry_for_top(fs, &e, RFS_INO_INCOMING);
		return rc ? rc : listing_add(l, "incoming", &e);
	}
	if (rfs_ino_kind(ino) == RFS_NODE_TAG)
		return list_layers(fs, ino, l);
	rc = regfs_dir_of_fs(fs, ino, false, &c.incoming, &d);
	if (rc == 1)
		return 0; /* a pending folder: empty */
	if (rc)
		return rc;
	rc = rfs_catalog_list_dirs(cat, d, !c.incoming, list_dir_cb, &c);
	if (rc || d == 0)
		return rc;
	if (c.incoming)
		return rfs_incoming_list(fs->incoming, d, list_staged_cb, &c);
	rc = rfs_catalog_list_tags_in_dir(cat, d, list_tag_cb, &c);
	if (!rc) {
		struct upstream_listing u = { .c = &c, .dir = d };
		struct rfs_dir dir;

		/* The upstream's tags too; when it cannot be reached, what
		 * is pinned here is the listing. */
		if (rfs_catalog_dir_by_id(cat, d, &dir) == 0 &&
		    rfs_pull_serves(fs->pull, dir.path))
			rfs_pull_list_tags(fs->pull, dir.path, list_upstream_cb,
					   &u, NULL);
	}
	return rc;
}

void regfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct regfs *fs = regfs_data(req);
	struct listing *l = calloc(1, sizeof(*l));
	struct stat st;
	double timeout;
	int rc = l ? regfs_stat_ino(fs, ino, &st, &timeout) : -ENOMEM;

	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc) {
		free(l);
		fuse_reply_err(req, -rc);
		return;
	}
	regfs_open_add(fs, &l->open, REGFS_OPEN_LISTING);
	l->ino = ino;
	/* A folder of registry/ changes only when a tag is sealed in it or
	 * below: the kernel may keep its listing, which seal_done() drops
	 * and which it drops itself when the folder's mtime moves (a seal by
	 * another process). Not where an upstream's tags are listed too. */
	l->stamp = listing_stamp(fs, ino);
	if (l->stamp) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fi->fh = (uintptr_t)l;
	if (fuse_reply_open(req, fi) != 0)
		listing_free(fs, l);
}

static void reply_listing(fuse_req_t req, size_t size, off_t off,
			  struct fuse_file_info *fi, bool plus)
{
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	char *buf;
	size_t used = 0;
	int rc;

	if (!l->built) {
		struct regfs *fs = regfs_data(req);

		if (!l->stamp || !listing_share(fs, l, l->stamp)) {
			struct regfs_upstream_wait wait;

			regfs_upstream_wait_begin(req, &wait);
			rc = build_listing(fs, l->ino, l);
			if (regfs_upstream_wait_end(req, &wait) && !rc) {
				regfs_log(REGFS_LOG_INFO,
					  "listing interrupted while an "
					  "upstream was asked: EINTR");
				rc = -EINTR;
			}
			if (rc) {
				/* The next call builds it again. */
				entries_free(l->entries, l->len);
				l->entries = NULL;
				l->len = l->cap = 0;
				fuse_reply_err(req, -rc);
				return;
			}
			if (l->stamp)
				listing_publish(fs, l, l->stamp);
		}
		l->built = true;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < l->len; i++) {
		struct listing_entry *le = &l->entries[i];
		size_t n;

		if (plus)
			n = fuse_add_direntry_plus(req, buf + used, size - used,
						   le->name, &le->e,
						   (off_t)(i + 1));
		else
			n = fuse_add_direntry(req, buf + used, size - used,
					      le->name, &le->e.attr,
					      (off_t)(i + 1));
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void listing_slow(struct regfs_slow_req *s)
{
	reply_listing(s->req, s->size, s->off, &s->fi, s->plus);
}

/* The first read of a listing builds it, and may ask an upstream for the
 * tags it lists in the folder (one whose listing is not shared). */
static void readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi, bool plus)
{
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	struct regfs_slow_req *s;

	if (!l->built && !l->stamp && regfs_may_ask_upstream(req, ino)) {
		s = regfs_slow_new(req, listing_slow, NULL, NULL);
		if (s) {
			s->size = size;
			s->off = off;
			s->fi = *fi;
			s->plus = plus;
		}
		if (regfs_slow_start(s))
			return;
	}
	reply_listing(req, size, off, fi, plus);
}

void regfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	readdir_any(req, ino, size, off, fi, false);
}

void regfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_any(req, ino, size, off, fi, true);
}

void regfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	listing_free(regfs_data(req), (struct listing *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* After the session (regfs_open_free_all): a listing never released. */
void regfs_listing_free_open(struct regfs *fs, struct regfs_open *o)
{
	listing_free(fs, (struct listing *)o);
}

void regfs_listing_cache_drop(struct regfs *fs)
{
	struct listing_snap *snap = fs->listing_cache;

	fs->listing_cache = NULL;
	if (snap)
		snap_put(fs, snap);
}
