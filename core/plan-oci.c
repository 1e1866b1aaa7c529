/*
 * plan-oci.c - a plan's registries of type oci (see plan-exec.h): a remote
 * OCI registry, spoken to with regctl's client (upstream.c) and the
 * credentials of regctl login.
 *
 * A tag is resolved to its manifest when the run pins it, and nothing is
 * stored then (a dry run asks the registry and changes nothing). When the
 * run keeps its pins, the file's one layer is fetched by digest and sealed,
 * verified, into a regfs store of the run's own, STORE/plans/pins/oci:
 * every host is then fed from that local copy, so a tag moved on the
 * registry during the run changes nothing, and a resumed run finds the
 * bytes there (or fetches them again by digest).
 *
 * A push seals the file into that store, then uploads it as the manifest
 * regctl push builds. A tag that already names a file of the same digest
 * is done, one that names anything else is -EEXIST.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "plan-exec.h"
#include "push.h"
#include "remote.h"
#include "seal.h"
#include "strv.h"

/* The store holding the fetched bytes, under a run's pin folder. */
#define OCI_STORE "oci"

int rfs_plan_parse_oci_url(const char *url, struct rfs_plan_oci_url *out)
{
	const char *rest = url, *slash;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->plain_http = strncmp(url, "http://", 7) == 0;
	if (out->plain_http)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (strstr(url, "://"))
		return -EINVAL;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(out->host))
		return -EINVAL;
	memcpy(out->host, rest, n);
	out->host[n] = '\0';
	if (!rfs_remote_valid_host(out->host))
		return -EINVAL;
	/* A path is a namespace there: https://ghcr.io/team serves
	 * ghcr.io/team/<repo>. */
	rest += n;
	while (*rest == '/')
		rest++;
	n = strlen(rest);
	while (n > 0 && rest[n - 1] == '/')
		n--;
	if (n == 0)
		return 0;
	if (n + 1 >= sizeof(out->root))
		return -EINVAL;
	memcpy(out->root, rest, n);
	out->root[n] = '\0';
	if (!rfs_name_valid_repo(out->root))
		return -EINVAL;
	out->root[n] = '/';
	out->root[n + 1] = '\0';
	return 0;
}

/* The client configuration of r: every repository, under its namespace. */
static int oci_config(const struct rfs_plan_registry *r,
		      struct rfs_upstream_config *cfg, char *host, size_t size,
		      struct rfs_error *err)
{
	struct rfs_plan_oci_url url;

	if (rfs_plan_parse_oci_url(r->url, &url))
		return rfs_error_set(err, -EINVAL,
				     "registry '%s': invalid url '%s' (want "
				     "https://HOST[:PORT][/NAMESPACE])",
				     r->name, r->url);
	snprintf(host, size, "%s", url.host);
	rfs_upstream_config_defaults(cfg);
	free(cfg->name);
	free(cfg->remote_root);
	cfg->name = strdup(r->name);
	cfg->remote_root = strdup(url.root);
	cfg->plain_http = url.plain_http;
	if (asprintf(&cfg->url, "%s://%s", url.plain_http ? "http" : "https",
		     url.host) < 0)
		cfg->url = NULL;
	if (!cfg->name || !cfg->remote_root || !cfg->url || !cfg->prefix ||
	    !cfg->credentials) {
		rfs_upstream_config_release(cfg);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* A client of r, and repo's name there. */
static int oci_open(const struct rfs_plan_registry *r, const char *repo,
		    struct rfs_upstream **up, char remote[RFS_REPO_MAX + 1],
		    char host[RFS_HOST_MAX + 1], struct rfs_error *err)
{
	struct rfs_upstream_config cfg;
	int rc = oci_config(r, &cfg, host, RFS_HOST_MAX + 1, err);

	if (rc)
		return rc;
	rc = rfs_upstream_new(&cfg, up, err);
	rfs_upstream_config_release(&cfg);
	if (!rc &&
	    !rfs_upstream_remote_repo(*up, repo, remote, RFS_REPO_MAX + 1))
		rc = rfs_error_set(err, -ENAMETOOLONG,
				   "registry '%s': name too long: '%s'",
				   r->name, repo);
	if (rc)
		rfs_upstream_free(up);
	return rc;
}

/* resolve on a client of r: remote is repo's name there. */
static int resolve_on(const struct rfs_plan_registry *r,
		      struct rfs_upstream *up, const char *remote,
		      const char *repo, const char *tag, struct plan_pin *out,
		      struct rfs_error *err)
{
	struct rfs_manifest_blob mb = { 0 };
	struct rfs_manifest m = { 0 };
	struct rfs_error why = { 0 };
	int rc = rfs_upstream_get_manifest(up, remote, tag, &mb, &why);

	if (!rc)
		rc = rfs_manifest_parse(mb.body, mb.len, mb.media_type, &m,
					&why);
	if (rc == -ENOENT) {
		rc = rfs_error_set(err, rc, "registry '%s' has no tag '%s:%s'",
				   r->name, repo, tag);
		goto out;
	}
	if (rc) {
		rc = rfs_error_set(err, rc, "registry '%s': %s", r->name,
				   rfs_error_message(&why, rc));
		goto out;
	}
	/* A file is a manifest of one layer, as pull-through shows it. */
	if (m.kind != RFS_MANIFEST_IMAGE || m.n_entries != 1) {
		rc = rfs_error_set(err, -EISDIR,
				   "'%s:%s' in registry '%s' is %s, not a "
				   "file",
				   repo, tag, r->name,
				   m.kind == RFS_MANIFEST_INDEX
				       ? "an index of images"
				       : "a multi-layer image");
		goto out;
	}
	snprintf(out->digest, sizeof(out->digest), "%s", m.entries[0].digest);
	out->size = m.entries[0].size;
	out->mode = m.entries[0].attrs.set_mode
			? rfs_tag_mode(m.entries[0].attrs.mode)
			: 0644;
out:
	rfs_manifest_release(&m);
	rfs_manifest_blob_release(&mb);
	return rc;
}

int plan_oci_resolve(const struct rfs_plan_registry *r, const char *repo,
		     const char *tag, struct plan_pin *out,
		     struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1], host[RFS_HOST_MAX + 1];
	struct rfs_upstream *up = NULL;
	struct rfs_strv l = { 0 };
	char name[RFS_TAG_MAX + 1];
	struct rfs_error why = { 0 };
	int rc = oci_open(r, repo, &up, remote, host, err);

	/* A version range picks among the registry's tags. */
	if (!rc && !rfs_name_valid_tag(tag)) {
		rc = rfs_upstream_list_tags(up, remote, rfs_strv_add, &l, &why);
		if (rc)
			rc =
			    rfs_error_set(err, rc, "registry '%s': %s", r->name,
					  rfs_error_message(&why, rc));
		else
			rc = plan_pick_version(r, repo, tag,
					       (const char *const *)l.v, l.n,
					       name, err);
		tag = name;
	}
	if (!rc)
		rc = resolve_on(r, up, remote, repo, tag, out, err);
	rfs_strv_free(&l);
	rfs_upstream_free(&up);
	return rc;
}

static int open_cache(const char *pin_dir, struct rfs_store **store,
		      struct rfs_error *err)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", pin_dir, OCI_STORE) >=
	    (int)sizeof(path))
		return rfs_error_set(err, -ENAMETOOLONG, "path too long");
	return rfs_store_open(path, RFS_STORE_CREATE, store, err);
}

/* Make pin's bytes present in the cache store, and the pin's source: the
 * blob is fetched by digest when absent, and sealed only if it hashes to
 * it and is no larger than pinned; it is the pin's only if it is exactly
 * the size pinned (a registry may serve a shorter blob that hashes right
 * under a manifest that lies about its size, issue 15). */
static int fetch_into(struct rfs_store *store,
		      const struct rfs_plan_registry *r, const char *repo,
		      struct plan_pin *pin, struct rfs_error *err)
{
	char host[RFS_HOST_MAX + 1], remote[RFS_REPO_MAX + 1];
	char path[PATH_MAX];
	struct rfs_upstream *up = NULL;
	struct stat st;
	bool fetched;
	int rc;

	rc = rfs_store_blob_path(store, pin->digest, path, sizeof(path));
	if (rc)
		return rfs_error_set(err, rc, "invalid digest '%s'",
				     pin->digest);
	if (access(path, R_OK) != 0) {
		rc = oci_open(r, repo, &up, remote, host, err);
		if (!rc)
			rc = rfs_fetch_blob(store, up, remote, pin->digest,
					    pin->size, &fetched, err);
		rfs_upstream_free(&up);
		if (rc)
			return rc;
	}
	if (stat(path, &st) != 0)
		return rfs_error_set(err, -errno, "blob %s: %s", pin->digest,
				     strerror(errno));
	if (pin->size && (uint64_t)st.st_size != pin->size)
		return rfs_error_set(err, -EBADMSG,
				     "'%s': corrupt: the manifest says %llu "
				     "bytes, the blob with digest %s has %llu",
				     pin->ref ? pin->ref : "",
				     (unsigned long long)pin->size, pin->digest,
				     (unsigned long long)st.st_size);
	free(pin->source);
	pin->source = strdup(path);
	return pin->source ? 0 : rfs_error_set(err, -ENOMEM, "out of memory");
}

int plan_oci_keep(const struct rfs_plan_registry *r, const char *pin_dir,
		  const char *repo, struct plan_pin *pin, struct rfs_error *err)
{
	struct rfs_store *store = NULL;
	struct rfs_error why = { 0 };
	int rc = open_cache(pin_dir, &store, &why);

	if (!rc)
		rc = fetch_into(store, r, repo, pin, &why);
	rfs_store_close(&store);
	if (rc)
		rfs_error_set(err, rc, "cannot fetch %s (%s): %s", pin->ref,
			      pin->digest, rfs_error_message(&why, rc));
	return rc;
}

/* Seal file into the cache store (its blob only: no tag names it). */
static int seal_file(struct rfs_store *store, const char *file,
		     char digest[RFS_DIGEST_STR_MAX + 1], struct rfs_error *err)
{
	struct rfs_seal *seal = NULL;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", file,
				     strerror(errno));
	rc = rfs_seal_begin(store, &seal, err);
	if (!rc)
		rc = rfs_seal_write_fd(seal, fd, err);
	if (!rc)
		rc = rfs_seal_store(seal, file, NULL, digest, err);
	rfs_seal_free(&seal);
	close(fd);
	return rc;
}

int plan_oci_push(const struct rfs_plan_registry *r, const char *pin_dir,
		  const char *repo, const char *tag, const char *file,
		  struct plan_pin *out, struct rfs_error *err)
{
	char host[RFS_HOST_MAX + 1], remote[RFS_REPO_MAX + 1];
	struct rfs_push_result result;
	struct rfs_push_options opts = { 0 };
	struct rfs_upstream *up = NULL;
	struct rfs_store *store = NULL;
	struct rfs_error why = { 0 };
	struct rfs_tag t = { .kind = RFS_TAG_FILE };
	struct plan_pin there = { 0 };
	struct stat st;
	int rc;

	if (stat(file, &st) != 0)
		return rfs_error_set(err, -errno, "cannot read '%s': %s", file,
				     strerror(errno));
	rc = open_cache(pin_dir, &store, err);
	if (!rc)
		rc = seal_file(store, file, out->digest, err);
	if (rc)
		goto out;
	out->mode = rfs_tag_mode(st.st_mode & 07777);
	out->size = (uint64_t)st.st_size;
	rc = oci_open(r, repo, &up, remote, host, err);
	if (rc)
		goto out;
	/* A tag there already: done when it is this file. */
	rc = resolve_on(r, up, remote, repo, tag, &there, &why);
	if (rc == 0 && strcmp(there.digest, out->digest) != 0) {
		rc = rfs_error_set(err, -EEXIST,
				   "'%s:%s' exists in registry '%s' with "
				   "another digest (%s, not %s): tags are "
				   "immutable",
				   repo, tag, r->name, there.digest,
				   out->digest);
		goto out;
	}
	if (rc && rc != -ENOENT) {
		rfs_error_set(err, rc, "%s", rfs_error_message(&why, rc));
		goto out;
	}
	if (rc == -ENOENT) {
		/* The file as regctl push would send its tag. */
		snprintf(t.repo, sizeof(t.repo), "%s", repo);
		snprintf(t.name, sizeof(t.name), "%s", tag);
		snprintf(t.digest, sizeof(t.digest), "%s", out->digest);
		t.size = out->size;
		t.mode = out->mode;
		t.created_ns = rfs_now_ns();
		t.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			     st.st_mtim.tv_nsec;
		rc = rfs_push_tag(store, &t, up, host, remote, tag, &opts,
				  &result, &why);
		if (rc) {
			rfs_error_set(err, rc, "registry '%s': %s", r->name,
				      rfs_error_message(&why, rc));
			goto out;
		}
	}
	rc = fetch_into(store, r, repo, out, err);
	out->pushed = rc == 0;
out:
	plan_pin_release(&there);
	rfs_upstream_free(&up);
	rfs_store_close(&store);
	return rc;
}

int plan_oci_pinned(const struct rfs_plan_registry *r, const char *pin_dir,
		    const char *repo, const struct plan_pin *old,
		    struct plan_pin *out, struct rfs_error *err)
{
	char remote[RFS_REPO_MAX + 1], host[RFS_HOST_MAX + 1];
	struct rfs_upstream *up = NULL;
	int rc;

	*out = (struct plan_pin){ .mode = old->mode, .size = old->size };
	snprintf(out->digest, sizeof(out->digest), "%s", old->digest);
	out->ref = strdup(old->ref);
	if (!out->ref)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	/* Pins recorded before sizes were: the registry has the blob's. */
	if (!out->size) {
		rc = oci_open(r, repo, &up, remote, host, err);
		if (!rc)
			rc = rfs_upstream_blob_exists(up, remote, old->digest,
						      &out->size, err);
		rfs_upstream_free(&up);
		if (rc)
			return rc;
	}
	return plan_oci_keep(r, pin_dir, repo, out, err);
}
