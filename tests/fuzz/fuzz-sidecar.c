/*
 * fuzz-sidecar.c - libFuzzer harness for the sidecar parser
 * (rfs_sidecar_parse in core/incoming.c): the "<tag>.sha256" file a writer
 * puts next to a tag in incoming/, and regctl import reads too, in any of
 * sha256sum's shapes.
 *
 * Input: the tag's name up to the first NUL byte (else "v1"), then the
 * file's bytes. The text is handed over as the daemon reads it: its
 * length apart, no NUL after it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "incoming.h"
#include "names.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	char *tag, *text, digest[RFS_DIGEST_STR_MAX + 1];
	size_t off = nul ? (size_t)(nul - data) + 1 : 0;

	tag = nul ? fuzz_str(data, off) : strdup("v1");
	if (!tag)
		abort();
	text = fuzz_dup(data + off, size - off);
	memset(digest, 'x', sizeof(digest));
	if (rfs_sidecar_parse(text, size - off, tag, digest) == 0) {
		/* What the seal compares against: one well-formed digest,
		 * in lower case whatever the file's case. */
		FUZZ_ASSERT(rfs_digest_valid(digest));
	}
	free(text);
	free(tag);
	return 0;
}
