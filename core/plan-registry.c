/*
 * plan-registry.c - the registries a plan names (see plan-exec.h): a tag is
 * resolved to a digest once, at the start of a run, and read from a local
 * file afterwards; a push publishes a file and pins what it published.
 *
 *   regfs       a store: the tag's blob file; a push seals through the one
 *               seal path, as regctl publish does
 *   filesystem  Hades's layout PATH/<name>/<tag>: the file, hashed when
 *               pinned (a file changed afterwards fails the deploy's check
 *               on the target, never deploys other bytes)
 *   oci         a remote registry: its blob fetched into the run's own
 *               store when the run keeps its pins (plan-oci.c)
 *
 * Pushes are idempotent: a tag that holds the same digest is done, one
 * that holds another is -EEXIST. Names follow regfs's rules in every type,
 * so a name never reaches outside a registry's folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "digest.h"
#include "manifest.h"
#include "names.h"
#include "plan-exec.h"
#include "resolve.h"
#include "seal.h"
#include "semver.h"

void plan_pins_init(struct plan_pins *pins)
{
	memset(pins, 0, sizeof(*pins));
	pthread_mutex_init(&pins->lock, NULL);
}

void plan_pin_release(struct plan_pin *pin)
{
	free(pin->ref);
	free(pin->source);
	pin->ref = pin->source = NULL;
}

void plan_pins_release(struct plan_pins *pins)
{
	for (size_t i = 0; i < pins->n; i++)
		plan_pin_release(&pins->items[i]);
	free(pins->items);
	pthread_mutex_destroy(&pins->lock);
}

static struct plan_pin *find_locked(struct plan_pins *pins, const char *ref)
{
	for (size_t i = 0; i < pins->n; i++)
		if (strcmp(pins->items[i].ref, ref) == 0)
			return &pins->items[i];
	return NULL;
}

int plan_pins_get(struct plan_pins *pins, const char *ref, struct plan_pin *out)
{
	struct plan_pin *p;
	int rc = -ENOENT;

	pthread_mutex_lock(&pins->lock);
	p = find_locked(pins, ref);
	if (p) {
		*out = *p;
		out->ref = strdup(p->ref);
		out->source = p->source ? strdup(p->source) : NULL;
		rc = !out->ref || (p->source && !out->source) ? -ENOMEM : 0;
		if (rc)
			plan_pin_release(out);
	}
	pthread_mutex_unlock(&pins->lock);
	return rc;
}

int plan_pins_put(struct plan_pins *pins, const struct plan_pin *pin)
{
	struct plan_pin copy = *pin, *p;
	int rc = 0;

	copy.ref = strdup(pin->ref);
	copy.source = pin->source ? strdup(pin->source) : NULL;
	if (!copy.ref || (pin->source && !copy.source)) {
		plan_pin_release(&copy);
		return -ENOMEM;
	}
	pthread_mutex_lock(&pins->lock);
	p = find_locked(pins, pin->ref);
	if (p) {
		plan_pin_release(p);
		*p = copy;
	} else if (pins->n == pins->cap &&
		   !(p = realloc(pins->items,
				 (pins->cap * 2 + 8) * sizeof(*pins->items)))) {
		plan_pin_release(&copy);
		rc = -ENOMEM;
	} else {
		if (pins->n == pins->cap) {
			pins->items = p;
			pins->cap = pins->cap * 2 + 8;
		}
		pins->items[pins->n++] = copy;
	}
	pthread_mutex_unlock(&pins->lock);
	return rc;
}

char *plan_pins_json(struct plan_pins *pins)
{
	json_t *o = json_object();
	char *text = NULL;

	if (!o)
		return NULL;
	pthread_mutex_lock(&pins->lock);
	for (size_t i = 0; i < pins->n; i++) {
		const struct plan_pin *p = &pins->items[i];
		char mode[RFS_MODE_STR_MAX];

		rfs_manifest_format_mode(p->mode, mode);
		json_object_set_new(o, p->ref,
				    json_pack("{s:s, s:s, s:I}", "digest",
					      p->digest, "mode", mode, "size",
					      (json_int_t)p->size));
	}
	pthread_mutex_unlock(&pins->lock);
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

int plan_pins_from_json(struct plan_pins *pins, const char *text,
			struct rfs_error *err)
{
	json_t *o = json_loads(text, 0, NULL), *v;
	const char *ref;
	int rc = 0;

	if (!json_is_object(o)) {
		json_decref(o);
		return rfs_error_set(err, -EINVAL,
				     "the run's pins are damaged");
	}
	json_object_foreach(o, ref, v)
	{
		struct plan_pin pin = { .ref = (char *)ref, .mode = 0644 };
		/* {"digest", "mode", "size"}, or the digest alone (runs
		 * recorded before modes and sizes were). */
		json_t *digest =
		    json_is_object(v) ? json_object_get(v, "digest") : v;
		const char *mode =
		    json_string_value(json_object_get(v, "mode"));
		json_t *size = json_object_get(v, "size");
		unsigned bits;

		if (!json_is_string(digest) ||
		    !rfs_digest_valid(json_string_value(digest)))
			continue;
		snprintf(pin.digest, sizeof(pin.digest), "%s",
			 json_string_value(digest));
		if (rfs_manifest_parse_mode(mode, &bits) == 0)
			pin.mode = rfs_tag_mode(bits);
		if (json_is_integer(size) && json_integer_value(size) > 0)
			pin.size = (uint64_t)json_integer_value(size);
		rc = plan_pins_put(pins, &pin);
		if (rc)
			break;
	}
	json_decref(o);
	return rc;
}

char *plan_ref(const char *registry, const char *repo, const char *tag)
{
	char *ref = NULL;

	if (asprintf(&ref, "%s/%s:%s", registry, repo, tag) < 0)
		return NULL;
	return ref;
}

static int check_names(const struct rfs_plan_registry *r, const char *repo,
		       const char *tag, struct rfs_error *err)
{
	if (!rfs_name_valid_repo(repo))
		return rfs_error_set(err, -EINVAL,
				     "registry '%s': invalid name '%s'",
				     r->name, repo);
	if (!rfs_name_valid_tag(tag) && !rfs_semver_is_range(tag))
		return rfs_error_set(err, -EINVAL,
				     "registry '%s': invalid tag '%s'", r->name,
				     tag);
	return 0;
}

int plan_pick_version(const struct rfs_plan_registry *r, const char *repo,
		      const char *range_text, const char *const *names,
		      size_t n, char tag[RFS_TAG_MAX + 1],
		      struct rfs_error *err)
{
	struct rfs_semver_range range;
	struct rfs_error why = { 0 };
	long i;

	if (rfs_semver_range_parse(range_text, &range, &why))
		return rfs_error_set(err, -EINVAL, "registry '%s': %s", r->name,
				     rfs_error_message(&why, -EINVAL));
	i = rfs_semver_pick(&range, names, n);
	if (i < 0)
		return rfs_error_set(err, -ENOENT,
				     "registry '%s': no tag of '%s' matches "
				     "'%s'",
				     r->name, repo, range_text);
	snprintf(tag, RFS_TAG_MAX + 1, "%s", names[i]);
	return 0;
}

/* The tag a name stands for in a filesystem registry: the file of that
 * name, else the highest version a range admits among the files of
 * PATH/<repo>/. */
static int filesystem_tag(const struct rfs_plan_registry *r, const char *repo,
			  const char *name, char tag[RFS_TAG_MAX + 1],
			  struct rfs_error *err)
{
	char dir[PATH_MAX];
	const char **names = NULL;
	struct dirent *de;
	struct stat st;
	size_t n = 0;
	DIR *d;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s/%s", r->path, repo, name);
	if (rfs_name_valid_tag(name) &&
	    (stat(dir, &st) == 0 || !rfs_semver_is_range(name))) {
		snprintf(tag, RFS_TAG_MAX + 1, "%s", name);
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s/%s", r->path, repo);
	d = opendir(dir);
	if (!d)
		return rfs_error_set(err, -errno,
				     "registry '%s': cannot read "
				     "'%s': %s",
				     r->name, dir, strerror(errno));
	while ((de = readdir(d))) {
		const char **more;

		if (!rfs_name_valid_tag(de->d_name))
			continue;
		more = realloc(names, (n + 1) * sizeof(*names));
		if (!more || !(more[n] = strdup(de->d_name))) {
			names = more ? more : names;
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		names = more;
		n++;
	}
	rc = plan_pick_version(r, repo, name, names, n, tag, err);
out:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free((char *)names[i]);
	free(names);
	return rc;
}

/* The store behind a regfs registry: own when it is the run's own. */
static int open_store(const struct rfs_plan_registry *r, struct rfs_store *own,
		      unsigned flags, struct rfs_store **out,
		      struct rfs_error *err)
{
	char a[PATH_MAX], b[PATH_MAX];

	struct rfs_error why = { 0 };
	int rc;

	if (own && realpath(r->path, a) && realpath(rfs_store_root(own), b) &&
	    strcmp(a, b) == 0) {
		*out = own;
		return 0;
	}
	rc = rfs_store_open(r->path, flags, out, &why);
	return rc ? rfs_error_set(err, rc, "registry '%s': %s", r->name,
				  rfs_error_message(&why, rc))
		  : 0;
}

static void close_store(struct rfs_store **store, struct rfs_store *own)
{
	if (*store != own)
		rfs_store_close(store);
	*store = NULL;
}

static int fill_from_tag(struct rfs_store *store, const struct rfs_tag *tag,
			 struct plan_pin *out, struct rfs_error *err)
{
	char path[PATH_MAX];
	int rc;

	if (tag->kind != RFS_TAG_FILE)
		return rfs_error_set(err, -EISDIR,
				     "'%s:%s' is a multi-layer image, not a "
				     "file",
				     tag->repo, tag->name);
	rc = rfs_store_blob_path(store, tag->digest, path, sizeof(path));
	if (!rc && access(path, R_OK) != 0)
		rc = -errno;
	if (rc)
		return rfs_error_set(err, rc,
				     "the content of '%s:%s' is not in store "
				     "'%s' (pinned from an upstream and not "
				     "fetched? run regctl pull)",
				     tag->repo, tag->name,
				     rfs_store_root(store));
	snprintf(out->digest, sizeof(out->digest), "%s", tag->digest);
	out->mode = tag->mode;
	out->size = tag->size;
	out->source = strdup(path);
	return out->source ? 0 : rfs_error_set(err, -ENOMEM, "out of memory");
}

int plan_file_digest(const char *path, char digest[RFS_DIGEST_STR_MAX + 1],
		     unsigned *mode, uint64_t *size, struct rfs_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", path,
				     strerror(errno));
	rc = fstat(fd, &st) ? -errno : 0;
	if (!rc && !S_ISREG(st.st_mode))
		rc = -EISDIR;
	if (!rc)
		rc = rfs_digest_fd(fd, digest);
	close(fd);
	if (rc)
		return rfs_error_set(err, rc, "cannot hash '%s': %s", path,
				     strerror(-rc));
	if (mode)
		*mode = rfs_tag_mode(st.st_mode & 07777);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

int plan_registry_resolve(const struct rfs_plan_registry *r,
			  struct rfs_store *own, const char *repo,
			  const char *tag, struct plan_pin *out,
			  struct rfs_error *err)
{
	struct rfs_version_match match;
	struct rfs_versions *versions = NULL;
	struct rfs_store *store = NULL;
	struct rfs_error why = { 0 };
	char path[PATH_MAX], name[RFS_TAG_MAX + 1];
	struct rfs_tag t;
	int rc = check_names(r, repo, tag, err);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	out->ref = plan_ref(r->name, repo, tag);
	if (!out->ref)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	if (r->type == RFS_REGISTRY_OCI)
		return plan_oci_resolve(r, repo, tag, out, err);
	if (r->type == RFS_REGISTRY_FILESYSTEM) {
		rc = filesystem_tag(r, repo, tag, name, err);
		if (rc)
			return rc;
		snprintf(path, sizeof(path), "%s/%s/%s", r->path, repo, name);
		rc = plan_file_digest(path, out->digest, &out->mode, &out->size,
				      err);
		if (rc == -ENOENT)
			rc = rfs_error_set(err, rc,
					   "registry '%s' has no '%s:%s' (no "
					   "file '%s')",
					   r->name, repo, tag, path);
		if (!rc && !(out->source = strdup(path)))
			rc = -ENOMEM;
		return rc;
	}
	rc = open_store(r, own, RFS_STORE_READONLY, &store, err);
	if (rc)
		return rc;
	/* The tag of that name, else the version a range picks. */
	rc = rfs_versions_new(rfs_store_catalog(store), 1, &versions);
	if (!rc)
		rc = rfs_resolve_name(versions, NULL, repo, tag, &t, &match,
				      &why);
	if (rc == -ENOENT && rfs_semver_is_range(tag))
		rfs_error_set(err, rc, "registry '%s': %s", r->name,
			      rfs_error_message(&why, rc));
	else if (rc == -ENOENT)
		rfs_error_set(err, rc, "registry '%s' has no tag '%s:%s'",
			      r->name, repo, tag);
	else if (rc)
		rfs_error_set(err, rc,
			      "registry '%s': cannot look up '%s:%s': %s",
			      r->name, repo, tag, rfs_error_message(&why, rc));
	else
		rc = fill_from_tag(store, &t, out, err);
	rfs_versions_free(&versions);
	close_store(&store, own);
	return rc;
}

/* Hades's layout: PATH/<name>/<tag>, written whole or not at all. */
static int push_filesystem(const struct rfs_plan_registry *r, const char *repo,
			   const char *tag, const char *file,
			   struct rfs_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX];
	int in = -1, fd = -1, rc = 0;
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s/%s", r->path, repo) >=
		(int)sizeof(dir) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, tag) >=
		(int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, tag) >=
		(int)sizeof(tmp))
		return rfs_error_set(err, -ENAMETOOLONG,
				     "registry '%s': path too long", r->name);
	/* mkdir -p: a registry's folder is made on first push, as Hades does.
	 */
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			rc = -errno;
		*p = '/';
	}
	if (!rc && mkdir(dir, 0755) && errno != EEXIST)
		rc = -errno;
	if (rc)
		return rfs_error_set(err, rc, "cannot make '%s': %s", dir,
				     strerror(-rc));
	in = open(file, O_RDONLY | O_CLOEXEC);
	fd = in < 0 ? -1 : mkstemp(tmp);
	if (in < 0 || fd < 0) {
		rc = rfs_error_set(err, -errno, "cannot write '%s': %s", path,
				   strerror(errno));
		goto out;
	}
	for (;;) {
		char buf[65536];
		ssize_t n = read(in, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0 || write(fd, buf, (size_t)n) != n) {
			rc = -(errno ? errno : EIO);
			break;
		}
	}
	/* The file's mode is the tag's: executable when the artifact is. */
	if (!rc && (fstat(in, &st) || fchmod(fd, rfs_tag_mode(st.st_mode)) ||
		    fsync(fd)))
		rc = -errno;
	/* Never replace: a tag that appeared meanwhile wins. */
	if (!rc && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE))
		rc = -errno;
	if (rc) {
		unlink(tmp);
		rfs_error_set(err, rc, "cannot write '%s': %s", path,
			      strerror(-rc));
	}
out:
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int push_regfs(struct rfs_store *store, const char *repo,
		      const char *tag, const char *file, unsigned mode,
		      struct rfs_error *err)
{
	struct rfs_tag_meta meta = { .attrs = { .set_mode = true,
						.mode = mode } };
	struct rfs_seal_options opts = { .meta = &meta };
	struct rfs_seal *seal = NULL;
	struct rfs_tag t;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", file,
				     strerror(errno));
	rc = rfs_seal_begin(store, &seal, err);
	if (!rc)
		rc = rfs_seal_write_fd(seal, fd, err);
	if (!rc)
		rc = rfs_seal_commit(seal, repo, tag, &opts, &t, err);
	rfs_seal_free(&seal);
	close(fd);
	return rc;
}

int plan_registry_push(const struct rfs_plan_registry *r, struct rfs_store *own,
		       const char *pin_dir, const char *repo, const char *tag,
		       const char *file, struct plan_pin *out,
		       struct rfs_error *err)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_store *store = NULL;
	struct rfs_error ignored = { 0 };
	unsigned mode;
	int rc = check_names(r, repo, tag, err);

	if (rc)
		return rc;
	if (r->type == RFS_REGISTRY_OCI) {
		out->ref = plan_ref(r->name, repo, tag);
		if (!out->ref)
			return rfs_error_set(err, -ENOMEM, "out of memory");
		return plan_oci_push(r, pin_dir, repo, tag, file, out, err);
	}
	rc = plan_file_digest(file, digest, &mode, NULL, err);
	if (rc)
		return rc;
	if (r->type == RFS_REGISTRY_REGFS) {
		rc = open_store(r, own, RFS_STORE_CREATE, &store, err);
		if (rc)
			return rc;
		rc = push_regfs(store, repo, tag, file, mode, err);
		close_store(&store, own);
	} else {
		rc = push_filesystem(r, repo, tag, file, err);
	}
	/* A tag that exists is done if it holds the same bytes. */
	if (rc && rc != -EEXIST)
		return rc;
	rc = plan_registry_resolve(r, own, repo, tag, out, &ignored);
	if (rc)
		return rfs_error_set(err, rc, "pushed '%s:%s' to '%s', but %s",
				     repo, tag, r->name,
				     rfs_error_message(&ignored, rc));
	if (strcmp(out->digest, digest) != 0) {
		rc = rfs_error_set(err, -EEXIST,
				   "'%s:%s' exists in registry '%s' with "
				   "another digest (%s, not %s): tags are "
				   "immutable",
				   repo, tag, r->name, out->digest, digest);
		plan_pin_release(out);
		return rc;
	}
	out->pushed = true;
	return 0;
}

int plan_pin_keep(const struct rfs_plan_registry *r, const char *pin_dir,
		  const char *repo, struct plan_pin *pin, struct rfs_error *err)
{
	char tmp[PATH_MAX], path[PATH_MAX], digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_hasher *h = NULL;
	int in = -1, fd = -1, rc;

	if (r->type == RFS_REGISTRY_OCI)
		return plan_oci_keep(r, pin_dir, repo, pin, err);
	if (r->type != RFS_REGISTRY_FILESYSTEM)
		return 0;
	if (mkdir(pin_dir, 0700) && errno != EEXIST)
		return rfs_error_set(err, -errno, "cannot make '%s': %s",
				     pin_dir, strerror(errno));
	snprintf(tmp, sizeof(tmp), "%s/.pin.XXXXXX", pin_dir);
	rc = rfs_hasher_new(&h);
	if (rc)
		return rfs_error_set(err, rc, "cannot start a hash");
	in = open(pin->source, O_RDONLY | O_CLOEXEC);
	fd = in < 0 ? -1 : mkstemp(tmp);
	if (in < 0 || fd < 0) {
		rc = rfs_error_set(err, -errno, "cannot keep '%s': %s",
				   pin->source, strerror(errno));
		goto out;
	}
	for (;;) {
		char buf[1 << 16];
		ssize_t n = read(in, buf, sizeof(buf));

		if (n == 0)
			break;
		if (n < 0 || write(fd, buf, (size_t)n) != n) {
			rc = -(errno ? errno : EIO);
			break;
		}
		rfs_hasher_update(h, buf, (size_t)n);
	}
	if (!rc)
		rc = rfs_hasher_final(h, digest);
	if (!rc && fchmod(fd, 0444))
		rc = -errno;
	if (!rc) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir,
			 rfs_digest_hex(digest));
		rc = rename(tmp, path) ? -errno : 0;
	}
	if (rc) {
		unlink(tmp);
		rfs_error_set(err, rc, "cannot keep '%s': %s", pin->source,
			      strerror(-rc));
		goto out;
	}
	/* What was copied is what the run deploys, even if the file moved
	 * between its hash and the copy. */
	snprintf(pin->digest, sizeof(pin->digest), "%s", digest);
	free(pin->source);
	pin->source = strdup(path);
	if (!pin->source)
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
out:
	rfs_hasher_free(&h);
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	return rc;
}

int plan_registry_pinned(const struct rfs_plan_registry *r,
			 struct rfs_store *own, const char *pin_dir,
			 const char *repo, const struct plan_pin *old,
			 struct plan_pin *out, struct rfs_error *err)
{
	struct rfs_store *store = NULL;
	char path[PATH_MAX];
	struct stat st;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (r->type == RFS_REGISTRY_OCI)
		return plan_oci_pinned(r, pin_dir, repo, old, out, err);
	if (r->type == RFS_REGISTRY_FILESYSTEM) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir,
			 rfs_digest_hex(old->digest));
	} else {
		rc = open_store(r, own, RFS_STORE_READONLY, &store, err);
		if (rc)
			return rc;
		rc =
		    rfs_store_blob_path(store, old->digest, path, sizeof(path));
		close_store(&store, own);
	}
	if (!rc && (access(path, R_OK) != 0 || stat(path, &st) != 0))
		rc = -errno;
	if (rc)
		return rfs_error_set(err, rc,
				     "%s moved since the run pinned it at %s, "
				     "and those bytes are gone",
				     old->ref, old->digest);
	out->ref = strdup(old->ref);
	out->source = strdup(path);
	snprintf(out->digest, sizeof(out->digest), "%s", old->digest);
	out->mode = old->mode;
	out->size = (uint64_t)st.st_size;
	if (!out->ref || !out->source) {
		plan_pin_release(out);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}
