/*
 * import.c - regctl import's policy (see import.h): walking a Hades
 * registry, a folder tree, an OCI image layout or a local artifact index,
 * verifying each item against what the source claims, deciding what is
 * new, and reporting every item once.
 *
 * Files are sealed through seal.h with the source's bytes read here, so
 * that a failure to read the source (an item's trouble) is told apart
 * from a failure to write the store (the import's end). Images go through
 * registry.h exactly as a push does: blobs are uploaded and verified
 * against their digests, then the manifest's bytes are put under the tag.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "digest.h"
#include "files.h"
#include "import.h"
#include "incoming.h"
#include "manifest.h"
#include "push.h"
#include "registry.h"
#include "seal.h"
#include "upstream.h"

/* Bounds on what is read whole: an index of artifacts, a layout's
 * index.json. A manifest is bounded by RFS_MANIFEST_MAX. */
#define INDEX_FILE_MAX (64u << 20)
#define COPY_CHUNK     (1u << 20)
/* Folders below a tree's top, and indexes within indexes. */
#define WALK_DEPTH_MAX 32
#define OCI_DEPTH_MAX  4
#define WHY_MAX	       RFS_ERROR_MSG_MAX

#define OCI_REF_NAME "org.opencontainers.image.ref.name"

/* --- the import ---------------------------------------------------------- */

struct import {
	struct rfs_store *store;  /* NULL: a dry run without a store yet */
	struct rfs_catalog *cat;  /* NULL then too */
	bool dry;		  /* read and check, write nothing */
	struct rfs_registry *reg; /* images in a real run: made on first use */
	const struct rfs_import_options *opts;
	struct rfs_import_summary *sum;
	struct rfs_error *err; /* why the import stopped */
	char *buf;	       /* COPY_CHUNK */
};

/* What becomes of an item, besides a negative errno that ends it all. */
enum {
	ITEM_DONE = 0,
	ITEM_FAILED = 1, /* why says why */
	ITEM_EXISTS = 2, /* the tag appeared while it was being sealed */
};

static int report(struct import *imp, enum rfs_import_status status,
		  bool failed, const char *source, const char *repo,
		  const char *tag, const char *digest, uint64_t size,
		  const char *type, const char *reason)
{
	struct rfs_import_item item = {
		.status = status,
		.failed = failed,
		.source = source,
		.repo = repo ? repo : "",
		.tag = tag ? tag : "",
		.digest = digest ? digest : "",
		.size = size,
		.artifact_type = type ? type : "",
		.reason = reason,
	};

	switch (status) {
	case RFS_IMPORT_IMPORTED: imp->sum->imported++; break;
	case RFS_IMPORT_PRESENT: imp->sum->present++; break;
	case RFS_IMPORT_SKIPPED:
		imp->sum->skipped++;
		if (failed)
			imp->sum->failed++;
		break;
	}
	return imp->opts->fn ? imp->opts->fn(imp->opts->ctx, &item) : 0;
}

static int skip(struct import *imp, bool failed, const char *source,
		const char *repo, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int skip(struct import *imp, bool failed, const char *source,
		const char *repo, const char *tag, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return report(imp, RFS_IMPORT_SKIPPED, failed, source, repo, tag, NULL,
		      0, NULL, why);
}

/* Are repo and tag names regfs takes? Reports the item skipped when not
 * (1), else 0; or the callback's stop. */
static int check_names(struct import *imp, const char *source, const char *repo,
		       const char *tag, int *stop)
{
	*stop = 0;
	if (!rfs_name_valid_repo(repo))
		*stop = skip(imp, true, source, repo, tag,
			     "invalid repository name '%s' (lowercase "
			     "components of letters and digits, '/' between)",
			     repo);
	else if (!rfs_name_valid_tag(tag))
		*stop = skip(imp, true, source, repo, tag,
			     "invalid tag '%s' (letters, digits, '_', '.', "
			     "'-', not first)",
			     tag);
	else
		return 0;
	return 1;
}

static int why_set(char *why, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int why_set(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, WHY_MAX, fmt, ap);
	va_end(ap);
	return ITEM_FAILED;
}

/* A failure of the store ends the import: keep its message. */
static int store_failed(struct import *imp, int rc, const struct rfs_error *e)
{
	if (rc >= 0)
		rc = -EIO;
	return rfs_error_set(imp->err, rc, "%s", rfs_error_message(e, rc));
}

/* --- files --------------------------------------------------------------- */

/* What the source says of a file besides its bytes. */
struct claim {
	const char *digest; /* the digest it must have, or NULL */
	const char *from;   /* who says so: "app/v1.sha256", "artifacts[2]" */
	bool has_size;
	uint64_t size;
	const char *type; /* or NULL */
	bool has_mtime;	  /* else the file's own */
	int64_t mtime_ns;
};

/* Seal what fd holds as repo:tag. ITEM_DONE, ITEM_FAILED (why: the source
 * cannot be read, the content is not what the claim says, or the seal hook
 * refused it), ITEM_EXISTS, or a store failure. */
static int seal_fd(struct import *imp, int fd, const char *repo,
		   const char *tag, const struct rfs_seal_options *so,
		   struct rfs_tag *out, char *why)
{
	struct rfs_error e = { 0 };
	struct rfs_seal *seal = NULL;
	uint64_t off = 0;
	int rc;

	rc = rfs_seal_begin(imp->store, &seal, &e);
	if (rc)
		return store_failed(imp, rc, &e);
	for (;;) {
		ssize_t n = read(fd, imp->buf, COPY_CHUNK), w;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = why_set(why, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		w = rfs_seal_write(seal, imp->buf, (size_t)n, off, &e);
		if (w < 0) {
			rc = store_failed(imp, (int)w, &e);
			goto out;
		}
		off += (uint64_t)n;
	}
	rc = rfs_seal_commit(seal, repo, tag, so, out, &e);
	if (rc == -EBADMSG || rc == -EINVAL || rc == -EACCES)
		rc = why_set(why, "%s", rfs_error_message(&e, rc));
	else if (rc == -EEXIST)
		rc = rfs_catalog_tag_get(imp->cat, repo, tag, out) == 0
			 ? ITEM_EXISTS
			 : why_set(why, "%s", rfs_error_message(&e, rc));
	else if (rc)
		rc = store_failed(imp, rc, &e);
out:
	rfs_seal_free(&seal);
	return rc;
}

static int mismatch(struct import *imp, const char *label, const char *repo,
		    const char *tag, const struct claim *c, const char *got)
{
	return skip(imp, true, label, repo, tag,
		    "digest mismatch: %s says %s, the content is %s", c->from,
		    c->digest, got);
}

/* The tag exists: the item is there when it holds the file's digest. */
static int file_present(struct import *imp, const char *label, int fd,
			const struct rfs_tag *t, const struct claim *c)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	int rc = rfs_digest_fd(fd, digest);

	if (rc)
		return skip(imp, true, label, t->repo, t->name,
			    "cannot read: %s", strerror(-rc));
	if (c->digest && strcmp(c->digest, digest) != 0)
		return mismatch(imp, label, t->repo, t->name, c, digest);
	if (t->kind == RFS_TAG_FILE && strcmp(t->digest, digest) == 0)
		return report(imp, RFS_IMPORT_PRESENT, false, label, t->repo,
			      t->name, digest, t->size, t->artifact_type, NULL);
	return skip(imp, true, label, t->repo, t->name,
		    "tag '%s:%s' exists with other content (%s), the file is "
		    "%s",
		    t->repo, t->name, t->digest, digest);
}

/* Import the file dirfd/path as repo:tag: open, check, and seal it unless
 * its tag is there. */
static int import_file(struct import *imp, const char *label, int dirfd,
		       const char *path, const char *repo, const char *tag,
		       const struct claim *c)
{
	char digest[RFS_DIGEST_STR_MAX + 1], why[WHY_MAX];
	struct rfs_tag_meta meta = { .artifact_type = c->type };
	struct rfs_seal_options so = { .expected_digest = c->digest,
				       .meta = &meta };
	struct rfs_tag t;
	struct stat st;
	int fd, rc;

	if (check_names(imp, label, repo, tag, &rc))
		return rc;
	/* O_NONBLOCK: a FIFO must not hang the import (it is refused). */
	fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return skip(imp, true, label, repo, tag,
			    "its file '%s' is missing", path);
	if (fd < 0)
		return skip(imp, true, label, repo, tag, "cannot open '%s': %s",
			    path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = skip(imp, true, label, repo, tag,
			  "'%s' is not a regular file", path);
		goto out;
	}
	if (c->has_size && c->size != (uint64_t)st.st_size) {
		rc = skip(imp, true, label, repo, tag,
			  "size mismatch: %s says %" PRIu64
			  " bytes, the file has %" PRIu64,
			  c->from, c->size, (uint64_t)st.st_size);
		goto out;
	}
	/* As regctl publish and cp -p: executable or not, and as old. */
	meta.attrs.set_mode = true;
	meta.attrs.mode = st.st_mode & 07777;
	meta.attrs.set_mtime = true;
	meta.attrs.mtime_ns =
	    c->has_mtime
		? c->mtime_ns
		: (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (imp->cat && rfs_catalog_tag_get(imp->cat, repo, tag, &t) == 0) {
		rc = file_present(imp, label, fd, &t, c);
		goto out;
	}
	if (imp->dry) {
		/* What a seal would check, without the seal. */
		rc = rfs_digest_fd(fd, digest);
		if (rc)
			rc = skip(imp, true, label, repo, tag,
				  "cannot read: %s", strerror(-rc));
		else if (c->digest && strcmp(c->digest, digest) != 0)
			rc = mismatch(imp, label, repo, tag, c, digest);
		else
			rc = report(imp, RFS_IMPORT_IMPORTED, false, label,
				    repo, tag, digest, (uint64_t)st.st_size,
				    c->type, NULL);
		goto out;
	}
	rc = seal_fd(imp, fd, repo, tag, &so, &t, why);
	if (rc == ITEM_DONE)
		rc = report(imp, RFS_IMPORT_IMPORTED, false, label, repo, tag,
			    t.digest, t.size, t.artifact_type, NULL);
	else if (rc == ITEM_EXISTS)
		rc = file_present(imp, label, fd, &t, c);
	else if (rc == ITEM_FAILED && c->digest &&
		 rfs_digest_fd(fd, digest) == 0 &&
		 strcmp(digest, c->digest) != 0)
		rc = mismatch(imp, label, repo, tag, c, digest);
	else if (rc == ITEM_FAILED)
		rc = skip(imp, true, label, repo, tag, "%s", why);
out:
	close(fd);
	return rc;
}

/* --- hades and tree: REPO/TAG files ------------------------------------- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in a folder, sorted bytewise, without "." and "..". */
static int list_names(int dirfd, char ***out, size_t *n)
{
	int fd = dup(dirfd);
	size_t cap = 0;
	char **names = NULL;
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(dir);
	while ((errno = 0, d = readdir(dir))) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			char **more;

			cap = cap ? cap * 2 : 32;
			more = realloc(names, cap * sizeof(*names));
			if (!more) {
				rc = -ENOMEM;
				break;
			}
			names = more;
		}
		names[*n] = strdup(d->d_name);
		if (!names[*n]) {
			rc = -ENOMEM;
			break;
		}
		(*n)++;
	}
	if (!rc && errno)
		rc = -errno;
	closedir(dir);
	if (rc) {
		names_free(names, *n);
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(names, *n, sizeof(*names), by_name);
	*out = names;
	return 0;
}

/* A file of a tree: REPO (the folders above it) and TAG (its name), with
 * the digest its checksum file <tag>.sha256 gives, if it has one. */
static int tree_file(struct import *imp, int dirfd, const char *rel,
		     const char *name, const char *label)
{
	char sidecar[NAME_MAX + 16], digest[RFS_DIGEST_STR_MAX + 1];
	char from[RFS_IMPORT_PATH_MAX + 8];
	struct claim c = { .from = from };
	char *text;
	size_t len;
	int rc;

	if (check_names(imp, label, rel, name, &rc))
		return rc;
	if (snprintf(sidecar, sizeof(sidecar), "%s.sha256", name) >=
		(int)sizeof(sidecar) ||
	    snprintf(from, sizeof(from), "%s.sha256", label) >=
		(int)sizeof(from))
		return skip(imp, true, label, rel, name,
			    "the name is too long");
	rc = rfs_read_small(dirfd, sidecar, RFS_SIDECAR_MAX, &text, &len);
	if (rc == 0) {
		rc = rfs_sidecar_parse(text, len, name, digest);
		free(text);
		if (rc)
			return skip(imp, true, label, rel, name,
				    "its checksum file '%s' names no sha256 "
				    "digest for '%s'",
				    from, name);
		c.digest = digest;
	} else if (rc != -ENOENT) {
		return skip(imp, true, label, rel, name,
			    "cannot read its checksum file '%s': %s", from,
			    strerror(-rc));
	}
	return import_file(imp, label, dirfd, name, rel, name, &c);
}

static int walk_tree(struct import *imp, int dirfd, const char *rel, int depth)
{
	char path[RFS_IMPORT_PATH_MAX], tag[RFS_TAG_MAX + 1];
	char **names;
	size_t n;
	int rc = list_names(dirfd, &names, &n);

	if (rc)
		return skip(imp, true, *rel ? rel : ".", rel, "",
			    "cannot list the folder: %s", strerror(-rc));
	for (size_t i = 0; i < n && !rc; i++) {
		const char *name = names[i];
		struct stat st, target;
		bool link;

		if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "",
			     name) >= (int)sizeof(path)) {
			rc = skip(imp, true, rel, rel, name,
				  "'%s': the path is too long", name);
			continue;
		}
		/* What the seal path itself treats as temporaries (rsync's,
		 * a Hades push's), and hidden folders such as .git. */
		if (rfs_name_is_temporary(name)) {
			rc = skip(imp, false, path, NULL, NULL,
				  "a hidden or temporary file (its name "
				  "starts with '.')");
			continue;
		}
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = skip(imp, true, path, NULL, NULL,
				  "cannot stat: %s", strerror(errno));
			continue;
		}
		link = S_ISLNK(st.st_mode);
		if (link) {
			if (fstatat(dirfd, name, &target, 0) < 0) {
				rc = skip(imp, true, path, rel, name,
					  "a symbolic link to nothing: %s",
					  strerror(errno));
				continue;
			}
			st = target;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (link) {
				rc = skip(imp, false, path, NULL, NULL,
					  "a symbolic link to a folder: not "
					  "followed");
				continue;
			}
			if (depth >= WALK_DEPTH_MAX) {
				rc = skip(imp, true, path, NULL, NULL,
					  "more than %d folders deep",
					  WALK_DEPTH_MAX);
				continue;
			}
			sub = openat(dirfd, name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			if (sub < 0) {
				rc = skip(imp, true, path, NULL, NULL,
					  "cannot open the folder: %s",
					  strerror(errno));
				continue;
			}
			rc = walk_tree(imp, sub, path, depth + 1);
			close(sub);
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = skip(imp, false, path, NULL, NULL,
				  "not a regular file");
			continue;
		}
		if (!*rel) {
			rc = skip(imp, false, path, NULL, NULL,
				  "not in a repository folder (the layout is "
				  "REPOSITORY/TAG)");
			continue;
		}
		/* A checksum file goes with its file; alone, its file is
		 * missing. */
		if (rfs_name_sidecar_tag(name, tag, sizeof(tag))) {
			if (fstatat(dirfd, tag, &target, 0) == 0 &&
			    S_ISREG(target.st_mode))
				continue;
			rc = skip(imp, true, path, rel, tag,
				  "a checksum file without its file '%s'", tag);
			continue;
		}
		rc = tree_file(imp, dirfd, rel, name, path);
	}
	names_free(names, n);
	return rc;
}

static int import_tree(struct import *imp)
{
	int fd = open(imp->opts->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return rfs_error_set(imp->err, -errno, "cannot open '%s': %s",
				     imp->opts->source, strerror(errno));
	rc = walk_tree(imp, fd, "", 0);
	close(fd);
	return rc;
}

/* --- OCI image layouts ---------------------------------------------------- */

struct layout {
	int fd;
	const char *path;	 /* for messages */
	char name[NAME_MAX + 1]; /* the folder's name */
	json_t *index;		 /* index.json */
};

static void layout_close(struct layout *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	json_decref(l->index);
	l->index = NULL;
}

static int layout_json(struct layout *l, const char *file, size_t max,
		       json_t **out, struct rfs_error *err)
{
	json_error_t jerr;
	char *text;
	size_t len;
	int rc = rfs_read_small(l->fd, file, max, &text, &len);

	if (rc == -ENOENT)
		return rfs_error_set(err, rc,
				     "'%s' is not an OCI image layout: it "
				     "has no %s",
				     l->path, file);
	if (rc)
		return rfs_error_set(err, rc, "cannot read '%s/%s': %s",
				     l->path, file, strerror(-rc));
	*out = json_loadb(text, len, 0, &jerr);
	free(text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return rfs_error_set(err, -EINVAL,
				     "'%s/%s' is not a JSON object: %s",
				     l->path, file, jerr.text);
	}
	return 0;
}

/* Open the layout at dirfd/path: its oci-layout and index.json must be
 * there (anything else is for each image to find). */
static int layout_open(int dirfd, const char *path, struct layout *l,
		       struct rfs_error *err)
{
	char link[64], real[PATH_MAX];
	json_t *marker = NULL;
	const char *base;
	ssize_t n;
	int rc;

	memset(l, 0, sizeof(*l));
	l->path = path;
	l->fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", path,
				     strerror(errno));
	rc = layout_json(l, "oci-layout", 65536, &marker, err);
	if (!rc &&
	    !json_is_string(json_object_get(marker, "imageLayoutVersion")))
		rc = rfs_error_set(err, -EINVAL,
				   "'%s/oci-layout' has no imageLayoutVersion",
				   path);
	json_decref(marker);
	if (!rc)
		rc = layout_json(l, "index.json", INDEX_FILE_MAX, &l->index,
				 err);
	if (!rc && !json_is_array(json_object_get(l->index, "manifests")))
		rc = rfs_error_set(err, -EINVAL,
				   "'%s/index.json' has no \"manifests\" list",
				   path);
	if (rc) {
		layout_close(l);
		return rc;
	}
	/* The folder's own name (through "." or a symbolic link), for tags
	 * that name no repository. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", l->fd);
	n = readlink(link, real, sizeof(real) - 1);
	real[n > 0 ? n : 0] = '\0';
	base = strrchr(real, '/');
	base = base ? base + 1 : real;
	if (strlen(base) >= sizeof(l->name))
		base = "";
	memcpy(l->name, base, strlen(base) + 1);
	return 0;
}

/* A descriptor: where a manifest or blob is, and what it must be. */
struct desc {
	const char *media_type; /* "" when not given */
	const char *digest;
	uint64_t size;
	const char *ref_name; /* OCI_REF_NAME, or NULL */
};

static int parse_desc(json_t *j, struct desc *d, char *why)
{
	json_t *mt = json_object_get(j, "mediaType");
	json_t *digest = json_object_get(j, "digest");
	json_t *size = json_object_get(j, "size");
	json_t *ref =
	    json_object_get(json_object_get(j, "annotations"), OCI_REF_NAME);

	if (!json_is_object(j))
		return why_set(why, "a broken descriptor: not a JSON object");
	if (!json_is_string(digest))
		return why_set(why, "a broken descriptor: no digest");
	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return why_set(why, "a broken descriptor: no size");
	if (mt && !json_is_string(mt))
		return why_set(why, "a broken descriptor: its mediaType is not "
				    "a string");
	d->media_type = mt ? json_string_value(mt) : "";
	d->digest = json_string_value(digest);
	d->size = (uint64_t)json_integer_value(size);
	d->ref_name = json_is_string(ref) ? json_string_value(ref) : NULL;
	if (strncmp(d->digest, "sha256:", 7) != 0)
		return why_set(why,
			       "digest '%.80s': regfs keeps sha256 "
			       "content only",
			       d->digest);
	if (!rfs_digest_valid(d->digest))
		return why_set(why,
			       "a broken descriptor: invalid digest '%.80s'",
			       d->digest);
	return 0;
}

static int ensure_registry(struct import *imp)
{
	struct rfs_error e = { 0 };
	int rc;

	if (imp->reg)
		return 0;
	rc = rfs_registry_new(imp->store, NULL, &imp->reg, &e);
	return rc ? store_failed(imp, rc, &e) : 0;
}

/* A registry answer: a client error is the item's, a server error (the
 * store's: 5xx) ends the import. */
static int registry_failed(struct import *imp, int rc,
			   const struct rfs_oci_status *st, char *why)
{
	if (st->http >= 500)
		return rfs_error_set(imp->err, rc < 0 ? rc : -EIO, "%s",
				     st->message);
	return why_set(why, "%s", st->message);
}

static void blob_path(const char *digest, char path[80])
{
	snprintf(path, 80, "blobs/sha256/%s", rfs_digest_hex(digest));
}

/* Make a blob of the layout a blob of repo, uploaded and verified as a
 * push's blob is (checked only, in a dry run). */
static int oci_blob(struct import *imp, struct layout *l, const char *repo,
		    const struct rfs_descriptor *d, char *why)
{
	struct rfs_oci_status st = { 0 };
	char path[80], got[RFS_DIGEST_STR_MAX + 1];
	struct rfs_upload *u = NULL;
	struct rfs_blob b;
	struct stat sb;
	int fd, rc = 0;

	if (!rfs_digest_valid(d->digest))
		return why_set(why,
			       "blob '%.80s': regfs keeps sha256 content "
			       "only",
			       d->digest);
	if (imp->cat &&
	    rfs_catalog_repo_has_blob(imp->cat, repo, d->digest) == 0 &&
	    rfs_catalog_blob_get(imp->cat, d->digest, &b) == 0 && b.present)
		return 0;
	blob_path(d->digest, path);
	fd = openat(l->fd, path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT &&
	    strcmp(d->digest, RFS_EMPTY_CONFIG_DIGEST) == 0)
		return 0; /* "{}" is known without its file */
	if (fd < 0 && errno == ENOENT)
		return why_set(why, "blob %s is not in the layout", d->digest);
	if (fd < 0)
		return why_set(why, "cannot open blob %s of the layout: %s",
			       d->digest, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = why_set(why, "blob %s of the layout is not a file",
			     d->digest);
		goto out;
	}
	if ((uint64_t)sb.st_size != d->size) {
		rc = why_set(why,
			     "size mismatch: blob %s has %" PRIu64
			     " bytes, its manifest says %" PRIu64,
			     d->digest, (uint64_t)sb.st_size, d->size);
		goto out;
	}
	if (imp->dry) {
		rc = rfs_digest_fd(fd, got);
		if (rc)
			rc = why_set(why, "cannot read blob %s: %s", d->digest,
				     strerror(-rc));
		else if (strcmp(got, d->digest) != 0)
			rc = why_set(why,
				     "digest mismatch: blob %s of the layout "
				     "holds %s",
				     d->digest, got);
		goto out;
	}
	rc = ensure_registry(imp);
	if (!rc && rfs_registry_upload_start(imp->reg, repo, &u, &st) < 0)
		rc = registry_failed(imp, -EIO, &st, why);
	while (!rc) {
		ssize_t n = read(fd, imp->buf, COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = why_set(why, "cannot read blob %s: %s", d->digest,
				     strerror(errno));
		else if (n == 0)
			break;
		else if (rfs_upload_write(u, imp->buf, (size_t)n, &st) < 0)
			rc = registry_failed(imp, -EIO, &st, why);
	}
	if (rc && u) {
		rfs_registry_upload_cancel(imp->reg, u);
	} else if (u) {
		rc = rfs_registry_upload_finish(imp->reg, u, d->digest, &st);
		if (rc && st.code == RFS_OCI_DIGEST_INVALID)
			rc = why_set(why,
				     "digest mismatch: blob %s of the layout "
				     "holds other content",
				     d->digest);
		else if (rc)
			rc = registry_failed(imp, rc, &st, why);
	}
out:
	close(fd);
	return rc;
}

/* Bring the manifest d and all it names into repo: blobs first, then the
 * platform manifests of an index (by digest), then d itself, under tag (or
 * by digest when tag is NULL). The manifest's bytes are the layout's, so
 * is its digest. */
static int oci_manifest(struct import *imp, struct layout *l, const char *repo,
			const char *tag, const struct desc *d, int depth,
			char *why)
{
	char path[80], got[RFS_DIGEST_STR_MAX + 1];
	char subject[RFS_DIGEST_STR_MAX + 1];
	struct rfs_oci_status st = { 0 };
	struct rfs_error e = { 0 };
	struct rfs_manifest m = { 0 };
	char *body = NULL;
	size_t len;
	int rc;

	if (d->size > RFS_MANIFEST_MAX)
		return why_set(why, "manifest %s is larger than %d bytes",
			       d->digest, RFS_MANIFEST_MAX);
	blob_path(d->digest, path);
	rc = rfs_read_small(l->fd, path, RFS_MANIFEST_MAX, &body, &len);
	if (rc == -ENOENT)
		return why_set(why, "manifest %s is not in the layout",
			       d->digest);
	if (rc)
		return why_set(why, "cannot read manifest %s of the layout: %s",
			       d->digest, strerror(-rc));
	if (len != d->size) {
		rc = why_set(why,
			     "size mismatch: manifest %s has %zu bytes, "
			     "index.json says %" PRIu64,
			     d->digest, len, d->size);
		goto out;
	}
	rc = rfs_digest_buf(body, len, got);
	if (rc)
		rc = why_set(why, "cannot hash manifest %s: %s", d->digest,
			     strerror(-rc));
	else if (strcmp(got, d->digest) != 0)
		rc = why_set(why,
			     "digest mismatch: manifest %s of the layout "
			     "holds %s",
			     d->digest, got);
	if (rc)
		goto out;
	rc = rfs_manifest_parse(body, len,
				*d->media_type ? d->media_type : NULL, &m, &e);
	if (rc) {
		rc = why_set(why, "manifest %s: %s", d->digest,
			     rfs_error_message(&e, rc));
		goto out;
	}
	if (m.kind == RFS_MANIFEST_IMAGE)
		rc = oci_blob(imp, l, repo, &m.config, why);
	for (size_t i = 0; !rc && i < m.n_entries; i++) {
		const struct rfs_descriptor *c = &m.entries[i];
		struct desc child = { c->media_type, c->digest, c->size, NULL };

		if (m.kind == RFS_MANIFEST_IMAGE)
			rc = oci_blob(imp, l, repo, c, why);
		else if (depth >= OCI_DEPTH_MAX)
			rc = why_set(why, "indexes nested more than %d deep",
				     OCI_DEPTH_MAX);
		else
			rc = oci_manifest(imp, l, repo, NULL, &child, depth + 1,
					  why);
	}
	if (rc || imp->dry)
		goto out;
	rc = ensure_registry(imp);
	if (!rc &&
	    rfs_registry_manifest_put(imp->reg, repo, tag ? tag : d->digest,
				      *d->media_type ? d->media_type : NULL,
				      body, len, got, subject, &st) < 0)
		rc = registry_failed(imp, -EIO, &st, why);
out:
	rfs_manifest_release(&m);
	free(body);
	return rc;
}

/* One image of a layout as repo:tag: there already, imported, or skipped.
 */
static int oci_image(struct import *imp, struct layout *l, const char *label,
		     const char *repo, const char *tag, const struct desc *d)
{
	char served[RFS_DIGEST_STR_MAX + 1], why[WHY_MAX];
	struct rfs_tag t;
	int rc;

	if (check_names(imp, label, repo, tag, &rc))
		return rc;
	if (imp->cat && rfs_catalog_tag_get(imp->cat, repo, tag, &t) == 0) {
		if (rfs_push_served_digest(imp->store, &t, served, NULL) == 0 &&
		    strcmp(served, d->digest) == 0)
			return report(imp, RFS_IMPORT_PRESENT, false, label,
				      repo, tag, d->digest, d->size,
				      t.artifact_type, NULL);
		return skip(imp, true, label, repo, tag,
			    "tag '%s:%s' exists with other content (%s), the "
			    "layout's manifest is %s",
			    repo, tag, t.manifest[0] ? t.manifest : t.digest,
			    d->digest);
	}
	rc = oci_manifest(imp, l, repo, tag, d, 0, why);
	if (rc == ITEM_FAILED)
		return skip(imp, true, label, repo, tag, "%s", why);
	if (rc)
		return rc;
	if (imp->cat && rfs_catalog_tag_get(imp->cat, repo, tag, &t) == 0)
		return report(imp, RFS_IMPORT_IMPORTED, false, label, repo, tag,
			      d->digest, d->size, t.artifact_type, NULL);
	return report(imp, RFS_IMPORT_IMPORTED, false, label, repo, tag,
		      d->digest, d->size, NULL, NULL);
}

static int import_oci(struct import *imp)
{
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1], label[64];
	char why[WHY_MAX];
	struct layout l;
	json_t *list;
	int rc = layout_open(AT_FDCWD, imp->opts->source, &l, imp->err);

	if (rc)
		return rc;
	list = json_object_get(l.index, "manifests");
	for (size_t i = 0; !rc && i < json_array_size(list); i++) {
		struct desc d;

		snprintf(label, sizeof(label), "index.json manifests[%zu]", i);
		if (parse_desc(json_array_get(list, i), &d, why)) {
			rc = skip(imp, true, label, NULL, NULL, "%s", why);
			continue;
		}
		if (!d.ref_name) {
			rc = skip(imp, false, label, NULL, NULL,
				  "manifest %s has no %s: no tag to import it "
				  "as",
				  d.digest, OCI_REF_NAME);
			continue;
		}
		if (rfs_import_oci_ref(d.ref_name, l.name, imp->opts->repo,
				       repo, sizeof(repo), tag,
				       sizeof(tag)) < 0) {
			rc = skip(imp, true, label, NULL, NULL,
				  "cannot read %s '%s'", OCI_REF_NAME,
				  d.ref_name);
			continue;
		}
		rc = oci_image(imp, &l, label, repo, tag, &d);
	}
	layout_close(&l);
	return rc;
}

/* --- the local artifact index ------------------------------------------- */

/* Find the index: SOURCE as a file, or SOURCE/artifacts.json, or, when
 * artifacts.json is missing, components.json beside it. */
static int index_locate(struct import *imp)
{
	struct rfs_import_summary *sum = imp->sum;
	const char *src = imp->opts->source;
	char dir[RFS_IMPORT_PATH_MAX - 32];
	const char *slash, *base;
	struct stat st;

	if (strlen(src) >= sizeof(dir))
		return rfs_error_set(imp->err, -ENAMETOOLONG,
				     "the path '%.80s...' is too long", src);

	if (stat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(dir, sizeof(dir), "%s", src);
	} else {
		/* A file: read as it is, but for the two names of the index,
		 * which follow its rule: components.json only when
		 * artifacts.json is missing. */
		int missing = stat(src, &st) < 0 ? errno : 0;

		slash = strrchr(src, '/');
		base = slash ? slash + 1 : src;
		if (strcmp(base, "artifacts.json") != 0 &&
		    strcmp(base, "components.json") != 0) {
			if (missing)
				return rfs_error_set(imp->err, -missing,
						     "cannot read '%s': %s",
						     src, strerror(missing));
			snprintf(sum->index, sizeof(sum->index), "%s", src);
			return 0;
		}
		snprintf(dir, sizeof(dir), "%.*s",
			 slash ? (int)(slash - src) : 1, slash ? src : ".");
	}
	snprintf(sum->index, sizeof(sum->index), "%s/artifacts.json", dir);
	if (access(sum->index, F_OK) == 0)
		return 0;
	snprintf(sum->index, sizeof(sum->index), "%s/components.json", dir);
	if (access(sum->index, F_OK) == 0) {
		sum->legacy = true;
		return 0;
	}
	sum->index[0] = '\0';
	return rfs_error_set(imp->err, -ENOENT,
			     "no artifacts.json (nor a legacy components.json) "
			     "in '%s'",
			     dir);
}

/* Which image of the layout an entry stands for: the one with its digest,
 * else the one its tag names, else the only one. */
static int index_pick(struct layout *l, const struct rfs_import_entry *e,
		      struct desc *out, char *why)
{
	json_t *list = json_object_get(l->index, "manifests");
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];
	size_t found = 0, n = json_array_size(list);

	for (size_t i = 0; i < n; i++) {
		struct desc d;
		char ignore[WHY_MAX];

		if (parse_desc(json_array_get(list, i), &d, ignore))
			continue;
		if (e->digest
			? strcmp(d.digest, e->digest) == 0
			: n == 1 || (d.ref_name &&
				     rfs_import_oci_ref(
					 d.ref_name, e->repo, NULL, repo,
					 sizeof(repo), tag, sizeof(tag)) == 0 &&
				     strcmp(tag, e->tag) == 0)) {
			*out = d;
			found++;
		}
	}
	if (found == 1)
		return 0;
	if (e->digest && !found)
		return why_set(why,
			       "digest mismatch: %s says %s, the image layout "
			       "at its cachePath holds no such manifest",
			       e->label, e->digest);
	return why_set(why,
		       "the image layout at its cachePath holds %zu images: "
		       "none is tagged '%s' alone",
		       n, e->tag);
}

static int index_layout(struct import *imp, int basefd,
			const struct rfs_import_entry *e)
{
	char why[WHY_MAX];
	struct rfs_error le = { 0 };
	struct layout l;
	struct desc d;
	int rc = layout_open(basefd, e->cache_path, &l, &le);

	if (rc)
		return skip(imp, true, e->label, e->repo, e->tag, "%s",
			    rfs_error_message(&le, rc));
	if (index_pick(&l, e, &d, why))
		rc = skip(imp, true, e->label, e->repo, e->tag, "%s", why);
	else
		rc = oci_image(imp, &l, e->label, e->repo, e->tag, &d);
	layout_close(&l);
	return rc;
}

/* A cachePath folder that is no image layout: its one file is the
 * artifact. */
static int index_folder(struct import *imp, int basefd,
			const struct rfs_import_entry *e, const struct claim *c)
{
	int fd =
	    openat(basefd, e->cache_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *only = NULL;
	size_t files = 0, n = 0;
	char **names = NULL;
	int rc;

	if (fd < 0)
		return skip(imp, true, e->label, e->repo, e->tag,
			    "cannot open its cachePath '%s': %s", e->cache_path,
			    strerror(errno));
	rc = list_names(fd, &names, &n);
	for (size_t i = 0; !rc && i < n; i++) {
		struct stat st;

		if (rfs_name_is_temporary(names[i]))
			continue;
		if (fstatat(fd, names[i], &st, 0) < 0 || !S_ISREG(st.st_mode))
			files += 2; /* a folder in it: not one file */
		else if (files++ == 0)
			only = names[i];
	}
	if (rc)
		rc = skip(imp, true, e->label, e->repo, e->tag,
			  "cannot list its cachePath '%s': %s", e->cache_path,
			  strerror(-rc));
	else if (files != 1)
		rc = skip(imp, true, e->label, e->repo, e->tag,
			  "its cachePath '%s' is a folder of %s: want one "
			  "file, or an OCI image layout",
			  e->cache_path, files ? "several files" : "no file");
	else
		rc = import_file(imp, e->label, fd, only, e->repo, e->tag, c);
	names_free(names, n);
	close(fd);
	return rc;
}

static int index_entry(struct import *imp, int basefd,
		       const struct rfs_import_entry *e)
{
	struct claim c = {
		.digest = e->digest,
		.from = e->label,
		.has_size = e->has_size,
		.size = e->size,
		.type = e->type,
		.has_mtime = e->has_created,
		.mtime_ns = e->created_ns,
	};
	struct stat st;
	char marker[RFS_IMPORT_PATH_MAX];
	int rc;

	if (e->problem)
		return skip(imp, true, e->label, e->repo, e->tag,
			    "a broken entry: %s", e->problem);
	if (check_names(imp, e->label, e->repo, e->tag, &rc))
		return rc;
	if (fstatat(basefd, e->cache_path, &st, 0) < 0 && errno == ENOENT)
		return skip(imp, true, e->label, e->repo, e->tag,
			    "its content is missing: no cachePath '%s'",
			    e->cache_path);
	if (fstatat(basefd, e->cache_path, &st, 0) < 0)
		return skip(imp, true, e->label, e->repo, e->tag,
			    "cannot reach its cachePath '%s': %s",
			    e->cache_path, strerror(errno));
	if (S_ISREG(st.st_mode))
		return import_file(imp, e->label, basefd, e->cache_path,
				   e->repo, e->tag, &c);
	if (!S_ISDIR(st.st_mode))
		return skip(imp, true, e->label, e->repo, e->tag,
			    "its cachePath '%s' is neither a file nor a folder",
			    e->cache_path);
	snprintf(marker, sizeof(marker), "%s/oci-layout", e->cache_path);
	if (faccessat(basefd, marker, F_OK, 0) == 0)
		return index_layout(imp, basefd, e);
	return index_folder(imp, basefd, e, &c);
}

static int import_index(struct import *imp)
{
	struct rfs_import_index index = { 0 };
	char dir[RFS_IMPORT_PATH_MAX], *text = NULL, *slash;
	struct rfs_error pe = { 0 };
	size_t len;
	int basefd, rc;

	rc = index_locate(imp);
	if (rc)
		return rc;
	rc = rfs_read_small(AT_FDCWD, imp->sum->index, INDEX_FILE_MAX, &text,
			    &len);
	if (rc)
		return rfs_error_set(imp->err, rc, "cannot read '%s': %s",
				     imp->sum->index, strerror(-rc));
	rc = rfs_import_index_parse(text, len, imp->sum->legacy, &index, &pe);
	free(text);
	if (rc)
		return rfs_error_set(imp->err, rc, "'%s': %s", imp->sum->index,
				     rfs_error_message(&pe, rc));
	/* A relative cachePath is the index's folder's. */
	snprintf(dir, sizeof(dir), "%s", imp->sum->index);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	basefd = open(slash ? (*dir ? dir : "/") : ".",
		      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (basefd < 0)
		rc = rfs_error_set(imp->err, -errno, "cannot open '%s': %s",
				   dir, strerror(errno));
	for (size_t i = 0; !rc && i < index.n; i++)
		rc = index_entry(imp, basefd, &index.entries[i]);
	if (basefd >= 0)
		close(basefd);
	rfs_import_index_release(&index);
	return rc;
}

/* --- the entry point --------------------------------------------------- */

int rfs_import(struct rfs_store *store, const struct rfs_import_options *opts,
	       struct rfs_import_summary *summary, struct rfs_error *err)
{
	struct import imp = {
		.store = store,
		.cat = store ? rfs_store_catalog(store) : NULL,
		.dry = opts->dry_run,
		.opts = opts,
		.sum = summary,
		.err = err,
	};
	int rc;

	memset(summary, 0, sizeof(*summary));
	if (!store && !opts->dry_run)
		return rfs_error_set(err, -EINVAL, "an import needs a store");
	imp.buf = malloc(COPY_CHUNK);
	if (!imp.buf)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	switch (opts->kind) {
	case RFS_IMPORT_HADES:
	case RFS_IMPORT_TREE: rc = import_tree(&imp); break;
	case RFS_IMPORT_OCI: rc = import_oci(&imp); break;
	case RFS_IMPORT_INDEX: rc = import_index(&imp); break;
	default: rc = rfs_error_set(err, -EINVAL, "unknown kind of source");
	}
	rfs_registry_free(&imp.reg);
	free(imp.buf);
	return rc;
}
