/*
 * fuzz-registry.c - libFuzzer harness for the HTTP side of regctl serve,
 * driven at core/registry.c (fuzz-serve-http has what serve.c reads
 * before: the route, names in the path, Range and Accept): the calls
 * tools/serve.c makes for each route (manifests put, got and deleted, blob
 * uploads, mounts and deletes, tag and repository lists with paging,
 * referrers), with what a client sends.
 *
 * Why there and not at serve.c: serve.c's handlers read their request
 * from a libmicrohttpd connection, so there is no seam without a socket;
 * they decode the route and hand method, names, headers and body to these
 * functions, which hold every rule (names, digests, manifest checks, blob
 * ownership, the seal, immutable tags). A socket costs a connection per
 * input; this runs thousands a second.
 *
 * Input: up to 8 requests separated by NUL bytes. A request is a digit
 * choosing the call (0 put a manifest, 1 get it, 2 delete it, 3 upload a
 * blob, 4 get it, 5 list tags, 6 referrers, 7 mount a blob, 8 delete it,
 * 9 list repositories), then "repo\nreference\nextra\nbody": extra is the
 * Content-Type, the artifact type, the repository to mount from, or the
 * page size, as the call needs. An upload whose reference is empty
 * finishes with its body's digest (a fuzzer cannot guess a hash), so
 * seeds that upload a blob and then name it in a manifest stay valid as
 * they mutate.
 *
 * The store is one per process, on tmpfs. Each input works in
 * repositories of its own (prefixed "fN/"), so that what an earlier input
 * left does not change what a later one does, except through blobs shared
 * by digest; the store is made anew every STORE_RUNS inputs.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "registry.h"
#include "store.h"

#include "fuzz.h"

#define STORE_RUNS   20000
#define MAX_REQUESTS 8

static char root[64];
static struct rfs_store *store;
static struct rfs_registry *reg;
static unsigned long runs;

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

static void drop_store(void)
{
	rfs_registry_free(&reg);
	rfs_store_close(&store);
	if (root[0])
		nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	root[0] = '\0';
}

static void open_store(void)
{
	struct rfs_error err = { 0 };

	if (reg && runs % STORE_RUNS)
		return;
	drop_store();
	snprintf(root, sizeof(root), "%s/regfs-fuzz-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(root) ||
	    rfs_store_open(root, RFS_STORE_CREATE, &store, &err) != 0 ||
	    rfs_registry_new(store, NULL, &reg, &err) != 0) {
		fprintf(stderr, "fuzz-registry: cannot make a store: %s\n",
			err.msg);
		abort();
	}
	atexit(drop_store);
}

struct request {
	unsigned op;
	char repo[RFS_REPO_MAX + 16];
	char *ref, *extra;
	const char *body;
	size_t len;
};

/* Cut the next line off [*p, end) as a string (at most max bytes). */
static char *line(const uint8_t **p, const uint8_t *end, size_t max)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl ? nl : end) - *p);
	char *s = fuzz_str(*p, n < max ? n : max);

	*p = nl ? nl + 1 : end;
	return s;
}

static int count(void *ctx, const char *name)
{
	FUZZ_ASSERT(name && *name);
	(*(size_t *)ctx)++;
	return 0;
}

static void check_status(int rc, const struct rfs_oci_status *st)
{
	if (rc < 0)
		FUZZ_ASSERT(st->http >= 400 && st->http <= 599 &&
			    rfs_oci_code_name(st->code));
}

static int upload(struct request *r, struct rfs_oci_status *st)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_upload *u = NULL;
	const char *want = *r->ref ? r->ref : digest;
	int rc;

	if (rfs_digest_buf(r->body, r->len, digest) < 0)
		abort();
	rc = rfs_registry_upload_start(reg, r->repo, &u, st);
	check_status(rc, st);
	if (rc < 0)
		return rc;
	rc = rfs_upload_write(u, r->body, r->len, st);
	check_status(rc, st);
	if (rc == 0)
		FUZZ_ASSERT(rfs_upload_size(u) == r->len);
	if (rc == 0 && rfs_registry_check_digest(want, st) == 0) {
		rc = rfs_registry_upload_finish(reg, u, want, st);
		check_status(rc, st);
		/* Nothing is recorded that does not hash to its name. */
		if (rc == 0)
			FUZZ_ASSERT(!strcmp(want, digest));
	} else if (rc == 0) {
		rfs_registry_upload_cancel(reg, u);
	} else {
		rfs_registry_upload_release(reg, u);
	}
	return rc;
}

static int get_manifest(struct request *r, struct rfs_oci_status *st)
{
	struct rfs_registry_manifest m = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1];
	int rc;

	rc = rfs_registry_manifest_get(reg, r->repo, r->ref, &m, st);
	check_status(rc, st);
	if (rc == 0) {
		/* What is served is what its digest says. */
		if (rfs_digest_buf(m.body, m.len, digest) < 0)
			abort();
		FUZZ_ASSERT(!strcmp(digest, m.digest));
		if (rfs_digest_valid(r->ref))
			FUZZ_ASSERT(!strcmp(r->ref, m.digest));
	}
	rfs_registry_manifest_release(&m);
	return rc;
}

static int get_blob(struct request *r, struct rfs_oci_status *st)
{
	struct rfs_registry_blob b = { .fd = -1 };
	int rc;

	rc = rfs_registry_blob_open(reg, r->repo, r->ref, &b, st);
	check_status(rc, st);
	if (rc == 0) {
		FUZZ_ASSERT(b.fd >= 0 || b.data);
		rfs_registry_blob_close(&b);
	}
	return rc;
}

static void run(struct request *r)
{
	struct rfs_oci_status st = { 0 };
	char digest[RFS_DIGEST_STR_MAX + 1], subject[RFS_DIGEST_STR_MAX + 1];
	char from[RFS_REPO_MAX + 16], *body = NULL, *out = NULL;
	size_t n = 0, olen = 0;
	int rc = 0;

	switch (r->op) {
	case 0:
		/* The body as serve.c collects it: malloc()ed, no NUL. */
		body = fuzz_dup((const uint8_t *)r->body, r->len);
		rc = rfs_registry_manifest_put(
		    reg, r->repo, r->ref, *r->extra ? r->extra : NULL, body,
		    r->len, digest, subject, &st);
		if (rc == 0)
			FUZZ_ASSERT(rfs_digest_valid(digest));
		free(body);
		break;
	case 1: rc = get_manifest(r, &st); break;
	case 2:
		rc = rfs_registry_manifest_delete(reg, r->repo, r->ref, &st);
		break;
	case 3: rc = upload(r, &st); break;
	case 4: rc = get_blob(r, &st); break;
	case 5:
		rc = rfs_registry_list_tags(reg, r->repo, r->ref,
					    strtoll(r->extra, NULL, 10), count,
					    &n, &st);
		break;
	case 6:
		rc = rfs_registry_referrers(reg, r->repo, r->ref,
					    *r->extra ? r->extra : NULL, &out,
					    &olen, &st);
		if (rc == 0)
			FUZZ_ASSERT(out);
		free(out);
		break;
	case 7:
		snprintf(from, sizeof(from), "%.*s%s",
			 (int)(strchr(r->repo, '/') - r->repo + 1), r->repo,
			 r->extra);
		rc = rfs_registry_blob_mount(reg, r->repo, from, r->ref, &st);
		if (rc == -ENOENT)
			rc = 0; /* the client then uploads */
		break;
	case 8: rc = rfs_registry_blob_delete(reg, r->repo, r->ref, &st); break;
	case 9:
		rc = rfs_registry_list_repos(
		    reg, r->ref, strtoll(r->extra, NULL, 10), count, &n, &st);
		break;
	}
	check_status(rc, &st);
	/* FUZZ_DEBUG=1: what each request got, to check that seeds do what
	 * they mean to. */
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "op %u %s '%s': %d %d %s\n", r->op, r->repo,
			r->ref, rc, st.http, st.message);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;

	open_store();
	runs++;
	for (int i = 0; i < MAX_REQUESTS && p < end; i++) {
		const uint8_t *stop = memchr(p, '\0', (size_t)(end - p));
		struct request r = { 0 };
		char *repo;

		if (!stop)
			stop = end;
		if (stop == p) {
			p++;
			continue;
		}
		r.op = (unsigned)(*p++ - '0') % 10;
		repo = line(&p, stop, RFS_REPO_MAX + 1);
		snprintf(r.repo, sizeof(r.repo), "f%lu/%s", runs, repo);
		free(repo);
		r.ref = line(&p, stop, 512);
		r.extra = line(&p, stop, 512);
		r.body = (const char *)p;
		r.len = (size_t)(stop - p);
		run(&r);
		free(r.ref);
		free(r.extra);
		p = stop + 1;
	}
	return 0;
}
