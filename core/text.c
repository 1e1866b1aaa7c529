/*
 * text.c - escaping text for terminals and logs (see text.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "text.h"

/* Code points shown as \uNNNN: C1 controls, and what changes the
 * direction or the lines of what follows. */
static bool cp_hidden(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x61c || c == 0x200e ||
	       c == 0x200f || (c >= 0x2028 && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* How the unit at s shows (into unit, at least 8 bytes); its length in s
 * goes to *used. Returns the shown length. */
static size_t show_unit(const unsigned char *s, size_t n, char *unit,
			size_t *used)
{
	uint32_t cp;
	size_t len = rfs_utf8_next(s, n, &cp);

	if (len == 0) {
		*used = 1;
		return (size_t)snprintf(unit, 8, "\\x%02x", s[0]);
	}
	*used = len;
	if (cp == '\n' || cp == '\r' || cp == '\t') {
		unit[0] = '\\';
		unit[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't';
		return 2;
	}
	if (cp < 0x20 || cp == 0x7f)
		return (size_t)snprintf(unit, 8, "\\x%02x", (unsigned)cp);
	if (cp_hidden(cp))
		return (size_t)snprintf(unit, 8, "\\u%04x", (unsigned)cp);
	memcpy(unit, s, len);
	return len;
}

/* Write what fits in limit bytes (no NUL) of at most max bytes of s;
 * returns the bytes written, and the bytes of s shown in *done. */
static size_t emit(char *out, size_t limit, const unsigned char *s, size_t n,
		   size_t max, size_t *done)
{
	size_t o = 0, i = 0;

	while (i < n) {
		char unit[8];
		size_t used, ulen = show_unit(s + i, n - i, unit, &used);

		if (i + used > max || o + ulen > limit)
			break;
		memcpy(out + o, unit, ulen);
		o += ulen;
		i += used;
	}
	*done = i;
	return o;
}

char *rfs_text_escape(char *out, size_t size, const char *s, size_t n,
		      size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	char marker[40];
	size_t o, done, mlen;

	if (size == 0)
		return out;
	o = emit(out, size - 1, u, n, max, &done);
	if (done < n) {
		mlen = (size_t)snprintf(marker, sizeof(marker),
					"...(%zu bytes)", n);
		if (mlen < size) {
			o = emit(out, size - 1 - mlen, u, n, max, &done);
			memcpy(out + o, marker, mlen);
			o += mlen;
		}
	}
	out[o] = '\0';
	return out;
}

char *rfs_text_escape_dup(const char *s)
{
	size_t n = strlen(s), size = 4 * n + 1;
	char *out = malloc(size);

	return out ? rfs_text_escape(out, size, s, n, RFS_TEXT_ALL) : NULL;
}

const char *rfs_text_name(char *out, const char *name)
{
	if (!name)
		name = "(null)";
	return rfs_text_escape(out, RFS_TEXT_NAME_BUF, name, strlen(name),
			       RFS_TEXT_NAME_MAX);
}

bool rfs_text_is_plain(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		char unit[8];
		size_t used, ulen = show_unit(u + i, n - i, unit, &used);

		if (ulen != used || memcmp(unit, u + i, used))
			return false;
		i += used;
	}
	return true;
}

char *rfs_text_json_safe(const char *json, size_t n)
{
	const unsigned char *u = (const unsigned char *)json;
	char *out = malloc(6 * n + 1), *o = out;

	/* DEL, one byte, shows as six bytes. */
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = rfs_utf8_next(u + i, n - i, &cp);

		if (len && (cp == 0x7f || cp_hidden(cp))) {
			o += sprintf(o, "\\u%04x", (unsigned)cp);
		} else {
			len = len ? len : 1;
			memcpy(o, u + i, len);
			o += len;
		}
		i += len;
	}
	*o = '\0';
	return out;
}
