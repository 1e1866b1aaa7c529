/*
 * text.h - showing text that came from elsewhere, safely: the one helper the
 * daemon's log, regctl's output and core's messages use for names, values
 * and headers that an upstream, a writer or a user chose.
 *
 * Such text may hold newlines (a forged log line), escape sequences (an OSC
 * that retitles a terminal or writes to its clipboard, a CSI that moves the
 * cursor), C1 controls, bidirectional overrides (text that reads otherwise
 * than it is) or bytes that are not UTF-8. Shown, each of those becomes a
 * visible escape and the rest of the text stays as it was:
 *
 *   \n \r \t            for those three
 *   \xNN                other C0 controls, DEL, and each byte of what is not
 *                       UTF-8
 *   \uNNNN              C1 controls (U+0080..U+009F), the bidirectional
 *                       controls (U+061C, U+200E, U+200F, U+202A..U+202E,
 *                       U+2066..U+2069) and the line and paragraph
 *                       separators (U+2028, U+2029)
 *
 * A backslash is shown as itself: the escapes are for the eye, not to be
 * parsed back (--json output gives the exact text).
 *
 * Text longer than asked is cut at a character and marked
 * "...(N bytes)" with its whole length, so a 4000-byte name costs a log
 * line 255 bytes of it, never the whole.
 */
#ifndef RFS_TEXT_H
#define RFS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The most of a name (a repository, a tag, a file) a message shows. */
#define RFS_TEXT_NAME_MAX 255
/* A buffer that holds any name as rfs_text_name shows it. */
#define RFS_TEXT_NAME_BUF (4 * RFS_TEXT_NAME_MAX + 32)
/* No limit on the bytes shown but the buffer's. */
#define RFS_TEXT_ALL ((size_t)-1)

/* Write the n bytes at s, escaped as above, into out (size bytes, always
 * NUL-terminated when size > 0): at most max bytes of s, then the marker.
 * When out is too small the text is cut there, marked the same way. Returns
 * out. */
char *rfs_text_escape(char *out, size_t size, const char *s, size_t n,
		      size_t max);

/* A NUL-terminated name (NULL shows as "(null)"), escaped and cut at
 * RFS_TEXT_NAME_MAX bytes, in out (RFS_TEXT_NAME_BUF bytes). Returns out,
 * for use as a printf argument. */
const char *rfs_text_name(char *out, const char *name);

/* The NUL-terminated s escaped whole, in memory the caller frees; NULL when
 * out of memory. */
char *rfs_text_escape_dup(const char *s);

/* A buffer that holds n bytes of text escaped whole (each byte shows as at
 * most 4, and a marker). */
#define RFS_TEXT_BUF(n) (4 * (n) + 32)

/* JSON text (n bytes, as jansson writes it) with what it leaves raw but a
 * terminal would act on escaped too: DEL, C1 controls and the bidirectional
 * controls become \u escapes. Outside strings JSON is ASCII, so the result
 * is the same JSON value. NULL when out of memory; the caller frees it. */
char *rfs_text_json_safe(const char *json, size_t n);

/* Would rfs_text_escape show the n bytes at s unchanged? */
bool rfs_text_is_plain(const char *s, size_t n);

#endif
