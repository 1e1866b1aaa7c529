/*
 * fuzz-serve-http.c - libFuzzer harness for what regctl serve reads from a
 * request before any core call (tools/serve.c): the route and the names
 * in the URL path (a repository may hold "/blobs/" or "/manifests/"), the
 * Range of a blob GET, the Accept headers of a manifest GET, the
 * Content-Range and Content-Length of an upload chunk, the page size of a
 * list, and the Basic credentials of the Authorization header
 * (rfs_access_parse_basic in core/access.c). What core does with them is
 * fuzz-registry's part.
 *
 * These are static and read a libmicrohttpd connection: the harness
 * includes serve.c with the two functions it reads a request through
 * (MHD_lookup_connection_value, MHD_get_connection_values) and the upload
 * size served from the input, and links libmicrohttpd and the metrics,
 * none of which it starts.
 *
 * Input: the path; the upload's (and the blob's) size; then header lines
 * "Name: value", and "?key=value" lines for the query, to the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

struct fuzz_field {
	int kind; /* MHD_HEADER_KIND or MHD_GET_ARGUMENT_KIND */
	char *key, *value;
};

#define MAX_FIELDS 16
static struct fuzz_field fields[MAX_FIELDS];
static size_t n_fields;
static uint64_t upload_size;

#define MHD_lookup_connection_value fuzz_lookup_value
#define MHD_get_connection_values   fuzz_get_values
#define rfs_upload_size		    fuzz_upload_size
#include "../../tools/serve.c"
#undef MHD_lookup_connection_value
#undef MHD_get_connection_values
#undef rfs_upload_size

#include "fuzz.h"

const char *fuzz_lookup_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
			      const char *key)
{
	(void)c;
	for (size_t i = 0; i < n_fields; i++)
		if ((fields[i].kind & (int)kind) &&
		    !strcasecmp(fields[i].key, key))
			return fields[i].value;
	return NULL;
}

int fuzz_get_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
		    MHD_KeyValueIterator it, void *cls)
{
	int n = 0;

	(void)c;
	for (size_t i = 0; i < n_fields; i++) {
		if (!(fields[i].kind & (int)kind))
			continue;
		n++;
		if (it && it(cls, (enum MHD_ValueKind)fields[i].kind,
			     fields[i].key, fields[i].value) != MHD_YES)
			break;
	}
	return n;
}

uint64_t fuzz_upload_size(const struct rfs_upload *u)
{
	(void)u;
	return upload_size;
}

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

static void take_fields(const uint8_t *p, const uint8_t *end)
{
	while (p < end && n_fields < MAX_FIELDS) {
		char *line = next_line(&p, end), *sep;
		bool query = line[0] == '?';

		sep = strchr(line, query ? '=' : ':');
		if (sep) {
			char *v = sep + 1;

			*sep = '\0';
			while (!query && *v == ' ')
				v++;
			fields[n_fields].kind =
			    query ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND;
			fields[n_fields].key = strdup(line + (query ? 1 : 0));
			fields[n_fields].value = strdup(v);
			if (!fields[n_fields].key || !fields[n_fields].value)
				abort();
			n_fields++;
		}
		free(line);
	}
}

static void check_route(const char *path)
{
	struct request r;
	enum route route;

	memset(&r, 0, sizeof(r));
	route = route_of(&r, path);
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

static void check_range(uint64_t size)
{
	const char *h = fuzz_lookup_value(NULL, MHD_HEADER_KIND, "Range");
	uint64_t start = UINT64_MAX, len = UINT64_MAX;
	int rc = parse_range(h, size, &start, &len);

	/* A range served lies within the blob, and is not empty. */
	if (rc == 1)
		FUZZ_ASSERT(len >= 1 && start < size && len <= size - start);
	else
		FUZZ_ASSERT(rc == 0 || rc == -1);
}

static void check_chunk_headers(void)
{
	struct request r;

	memset(&r, 0, sizeof(r));
	if (check_chunk(&r, NULL) == 0) {
		/* A chunk the session takes starts where the upload ends and
		 * says where it ends. */
		if (fuzz_lookup_value(NULL, MHD_HEADER_KIND, "Content-Range"))
			FUZZ_ASSERT(r.chunk_end > upload_size);
	} else {
		FUZZ_ASSERT(r.st.http == 416 && r.st.message[0]);
	}
}

/* Basic credentials: what parses encodes back to the same. */
static void check_basic(void)
{
	const char *h =
	    fuzz_lookup_value(NULL, MHD_HEADER_KIND, "Authorization");
	char user[RFS_ACCESS_USER_MAX + 1], pass[256], pair[600];
	char user2[RFS_ACCESS_USER_MAX + 1], pass2[256];
	unsigned char b64[820];
	char again[830];

	if (!h || rfs_access_parse_basic(h, user, sizeof(user), pass,
					 sizeof(pass)) != 0)
		return;
	FUZZ_ASSERT(user[0] && !strchr(user, ':'));
	snprintf(pair, sizeof(pair), "%s:%s", user, pass);
	EVP_EncodeBlock(b64, (const unsigned char *)pair, (int)strlen(pair));
	snprintf(again, sizeof(again), "Basic %s", b64);
	FUZZ_ASSERT(rfs_access_parse_basic(again, user2, sizeof(user2), pass2,
					   sizeof(pass2)) == 0);
	FUZZ_ASSERT(!strcmp(user, user2) && !strcmp(pass, pass2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *path = next_line(&p, end);
	char *num = next_line(&p, end);
	int64_t n;

	upload_size = strtoull(num, NULL, 10);
	take_fields(p, end);
	check_route(path);
	check_range(upload_size);
	check_chunk_headers();
	(void)request_accepts(NULL, RFS_MT_OCI_MANIFEST);
	n = page_size(NULL);
	FUZZ_ASSERT(n >= -1 && n <= PAGE_MAX);
	check_basic();
	(void)empty_basic(path);
	for (size_t i = 0; i < n_fields; i++) {
		free(fields[i].key);
		free(fields[i].value);
	}
	n_fields = 0;
	free(path);
	free(num);
	return 0;
}
