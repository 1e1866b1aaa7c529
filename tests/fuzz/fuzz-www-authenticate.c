/*
 * fuzz-www-authenticate.c - libFuzzer harness for the WWW-Authenticate
 * parser of the upstream client (core/upstream-auth.c): the challenge's
 * auth-params (realm, service, scope; tokens and quoted strings with
 * escapes), and the merge of the scope it asks with the call's own.
 *
 * Those are static: the harness includes upstream-auth.c to reach them, as
 * curl's unit tests reach static internals through a test build, rather
 * than widen core's internal header for a test. Its public functions then
 * come from here, and the archive's copy of the file is never linked.
 *
 * Input: the header's value up to the first newline, then the scope the
 * call needs ("repository:app:pull,push" as the client spells it).
 */
#include "../../core/upstream-auth.c"

#include "fuzz.h"

static void check_merge(const char *ours, const char *theirs)
{
	char *merged = merge_scope(ours, theirs), *again;

	if (!merged)
		abort();
	/* Ours always leads, spelled as the token cache knows it. */
	FUZZ_ASSERT(!strncmp(merged, ours, strlen(ours)));
	/* What the merge asks covers the challenge: merging again adds
	 * nothing. */
	again = merge_scope(merged, theirs);
	if (!again)
		abort();
	FUZZ_ASSERT(!strcmp(again, merged));
	free(again);
	free(merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t vlen = nl ? (size_t)(nl - data) : size;
	char *value = fuzz_str(data, vlen);
	char *ours = nl ? fuzz_str(nl + 1, size - vlen - 1) : fuzz_str(data, 0);
	struct bearer b = { 0 };

	/* As upstream_on_denied reads a header: the scheme, then its
	 * params. */
	if (!strncasecmp(value, "Bearer ", 7)) {
		if (parse_challenge(value + 7, &b) < 0)
			abort();
		FUZZ_ASSERT(b.service && b.scope);
		FUZZ_ASSERT(!b.realm || strlen(b.realm) <= strlen(value));
		check_merge(ours, b.scope);
		bearer_release(&b);
	} else {
		if (parse_challenge(value, &b) < 0)
			abort();
		bearer_release(&b);
		check_merge(ours, value);
	}
	check_merge(ours, ours);
	free(value);
	free(ours);
	return 0;
}
