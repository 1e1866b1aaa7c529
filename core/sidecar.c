/*
 * sidecar.c - the checksum file published next to a tag in incoming/
 * (sha256sum's output, or a bare digest): which digest it asks of the tag.
 * incoming.c checks the tag's content against it at the seal.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "digest.h"
#include "incoming.h"

static bool is_hex(char c)
{
	return isxdigit((unsigned char)c) != 0;
}

int rfs_sidecar_parse(const char *text, size_t len, const char *tag,
		      char digest[RFS_DIGEST_STR_MAX + 1])
{
	return rfs_sidecar_parse_why(text, len, tag, digest, NULL);
}

int rfs_sidecar_parse_why(const char *text, size_t len, const char *tag,
			  char digest[RFS_DIGEST_STR_MAX + 1], const char **why)
{
	const char *p = text, *end = text + len, *only = NULL, *match = NULL;
	const char *unused;
	int lines = 0;

	if (!why)
		why = &unused;
	*why = "it is empty";

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end, *name, *base;
		size_t name_len;
		int i;

		for (i = 0; i < RFS_SHA256_HEX_LEN && p + i < line_end; i++)
			if (!is_hex(p[i]))
				break;
		if (i == 0 && line_end == p) { /* empty line */
			p = line_end + 1;
			continue;
		}
		*why = "a line is not \"<64 hex digits>  <file>\"";
		if (i != RFS_SHA256_HEX_LEN)
			return -EINVAL;
		name = p + i;
		if (name < line_end && *name != ' ' && *name != '\t' &&
		    *name != '\r')
			return -EINVAL;
		/* "<hex>  file", "<hex> *file" (binary mode), or bare hex. */
		while (name < line_end && (*name == ' ' || *name == '\t'))
			name++;
		if (name < line_end && *name == '*')
			name++;
		name_len = (size_t)(line_end - name);
		if (name_len && name[name_len - 1] == '\r')
			name_len--;
		base = name;
		for (const char *q = name; q < name + name_len; q++)
			if (*q == '/')
				base = q + 1;
		if ((size_t)(name + name_len - base) == strlen(tag) &&
		    memcmp(base, tag, strlen(tag)) == 0) {
			/* Two lines for the tag must agree (case aside): which
			 * would be meant is anybody's guess. */
			if (match &&
			    strncasecmp(match, p, RFS_SHA256_HEX_LEN)) {
				*why = "it names the tag twice, with different "
				       "digests";
				return -EINVAL;
			}
			match = p;
		}
		only = p;
		lines++;
		p = line_end + 1;
	}
	if (!match)
		match = lines == 1 ? only : NULL;
	if (!match) {
		*why = lines ? "it has several lines and none names the tag"
			     : "it is empty";
		return -EINVAL;
	}
	memcpy(digest, "sha256:", 7);
	for (int i = 0; i < RFS_SHA256_HEX_LEN; i++)
		digest[7 + i] = (char)tolower((unsigned char)match[i]);
	digest[7 + RFS_SHA256_HEX_LEN] = '\0';
	return 0;
}
