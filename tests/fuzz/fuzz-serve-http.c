/*
 * fuzz-serve-http.c - libFuzzer harness for what regctl serve reads from a
 * request before any core call (tools/serve.c): the route and the names
 * in the URL path (a repository may hold "/blobs/" or "/manifests/"), the
 * Range header of a blob GET, and the Accept header of a manifest GET.
 * What core does with them is fuzz-registry's part.
 *
 * These are static: the harness includes serve.c to reach them, and is
 * linked with the rest of regctl serve's files and libmicrohttpd, none of
 * which it starts.
 *
 * Input: the path, then lines with the Range header, the blob's size and
 * the Accept header.
 */
#include "../../tools/serve.c"

#include "fuzz.h"

/* The browse pages (serve-browse.c) are not driven here, and their
 * formatting comes from regctl.c, beside main(): stand-ins that refuse,
 * never called. */
int browse_render(struct rfs_store *store, const struct browse_request *req,
		  struct browse_page *out)
{
	(void)store;
	(void)req;
	(void)out;
	return -ENOSYS;
}

int browse_render_error(int status, const char *message,
			struct browse_page *out)
{
	(void)status;
	(void)message;
	(void)out;
	return -ENOSYS;
}

void browse_page_release(struct browse_page *p)
{
	(void)p;
}

static char *next_line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	char *s = fuzz_str(*p, (size_t)((nl ? nl : end) - *p));

	*p = nl ? nl + 1 : end;
	return s;
}

static void check_route(const char *path)
{
	struct request r;
	enum route route;

	memset(&r, 0, sizeof(r));
	route = route_of(&r, path);
	FUZZ_ASSERT(strlen(r.repo) < sizeof(r.repo));
	FUZZ_ASSERT(strlen(r.ref) < sizeof(r.ref));
	switch (route) {
	case ROUTE_MANIFEST:
	case ROUTE_BLOB:
	case ROUTE_REFERRERS:
	case ROUTE_UPLOAD:
		/* The reference is one path component, never empty. */
		FUZZ_ASSERT(r.ref[0] && !strchr(r.ref, '/'));
		/* fall through */
	case ROUTE_UPLOADS:
	case ROUTE_TAGS:
		/* The repository is the path between /v2/ and the kind. */
		if (!r.long_name)
			FUZZ_ASSERT(!strncmp(path + 4, r.repo, strlen(r.repo)));
		break;
	default: break;
	}
}

static void check_range(const char *h, uint64_t size)
{
	uint64_t start = UINT64_MAX, len = UINT64_MAX;
	int rc = parse_range(h, size, &start, &len);

	/* A range served lies within the blob, and is not empty. */
	if (rc == 1)
		FUZZ_ASSERT(len >= 1 && start < size && len <= size - start);
	else
		FUZZ_ASSERT(rc == 0 || rc == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *path = next_line(&p, end);
	char *range = next_line(&p, end);
	char *blob_size = next_line(&p, end);
	char *accept = next_line(&p, end);

	check_route(path);
	check_range(*range ? range : NULL, strtoull(blob_size, NULL, 10));
	(void)accepts(*accept ? accept : NULL, RFS_MT_OCI_MANIFEST);
	free(path);
	free(range);
	free(blob_size);
	free(accept);
	return 0;
}
