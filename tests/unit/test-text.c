/*
 * test-text.c - unit tests of text.h (escaping text for terminals and logs)
 * and of the grammar of annotation keys, artifact types and layer titles
 * (names.h) that keeps such text out of names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "text.h"

static const char *esc(const char *s)
{
	static char out[1024];

	return rfs_text_escape(out, sizeof(out), s, strlen(s), RFS_TEXT_ALL);
}

static void test_escape_controls(void **state)
{
	(void)state;
	assert_string_equal(esc("plain text, ok"), "plain text, ok");
	assert_string_equal(esc("a\nb\rc\td"), "a\\nb\\rc\\td");
	/* An OSC that retitles the terminal, a CSI, BEL, DEL. */
	assert_string_equal(esc("\x1b]0;pwned\x07x"), "\\x1b]0;pwned\\x07x");
	assert_string_equal(esc("\x1b[2J\x7f"), "\\x1b[2J\\x7f");
	/* UTF-8 stays; C1 (CSI as U+009B) and bidi overrides do not. */
	assert_string_equal(esc("caf\xc3\xa9 \xe2\x9c\x93"),
			    "caf\xc3\xa9 \xe2\x9c\x93");
	assert_string_equal(esc("\xc2\x9b"
				"2J"),
			    "\\u009b2J");
	assert_string_equal(esc("abc\xe2\x80\xae"
				"fdp.exe"),
			    "abc\\u202efdp.exe");
	assert_string_equal(esc("\xe2\x80\xa8"), "\\u2028");
	/* Not UTF-8: each byte. Overlong '/', a surrogate, a cut sequence. */
	assert_string_equal(esc("\xc0\xaf"), "\\xc0\\xaf");
	assert_string_equal(esc("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	assert_string_equal(esc("x\xe2\x9c"), "x\\xe2\\x9c");
	assert_true(rfs_text_is_plain("hello \xc3\xa9", 8));
	assert_false(rfs_text_is_plain("a\nb", 3));
	assert_false(rfs_text_is_plain("\xff", 1));
}

static void test_escape_cut(void **state)
{
	char name[1001], out[RFS_TEXT_NAME_BUF], small[16];

	(void)state;
	memset(name, 'a', 1000);
	name[1000] = '\0';
	rfs_text_name(out, name);
	assert_int_equal(strlen(out),
			 RFS_TEXT_NAME_MAX + strlen("...(1000 bytes)"));
	assert_string_equal(out + RFS_TEXT_NAME_MAX, "...(1000 bytes)");
	/* A name of 255 is shown whole. */
	name[RFS_TEXT_NAME_MAX] = '\0';
	assert_string_equal(rfs_text_name(out, name), name);
	/* Cut at a character, never inside an escape or a UTF-8 sequence. */
	rfs_text_escape(out, sizeof(out), "\xc3\xa9\xc3\xa9", 4, 3);
	assert_string_equal(out, "\xc3\xa9...(4 bytes)");
	rfs_text_escape(small, sizeof(small), "\n\n\n\n\n\n\n\n\n\n\n", 11,
			RFS_TEXT_ALL);
	assert_string_equal(small, "\\n...(11 bytes)");
	rfs_text_escape(small, sizeof(small), "abcdefghijklmnopq", 17,
			RFS_TEXT_ALL);
	assert_string_equal(small, "ab...(17 bytes)");
	assert_string_equal(rfs_text_name(out, NULL), "(null)");
}

static void test_json_safe(void **state)
{
	const char json[] = "{\"k\": \"a\x7f"
			    "b\xc2\x9b\xe2\x80\xae\xc3\xa9\"}";
	char *out = rfs_text_json_safe(json, strlen(json));

	(void)state;
	assert_non_null(out);
	assert_string_equal(out,
			    "{\"k\": \"a\\u007fb\\u009b\\u202e\xc3\xa9\"}");
	free(out);
	out = rfs_text_escape_dup("x\x1b");
	assert_string_equal(out, "x\\x1b");
	free(out);
}

static void test_annotation_key(void **state)
{
	static const char *const good[] = {
		"description",
		"org.opencontainers.image.title",
		"dev.sigstore.cosign/bundle",
		"io.cncf.notary.x509chain.thumbprint#S256",
		"A",
		"0x",
	};
	static const char *const bad[] = {
		"",	 "with space",	"new\nline", "\x1b]0;x\x07", ".hidden",
		"-dash", "caf\xc3\xa9", "tab\t",     "del\x7f",
	};
	char long_key[RFS_ANNOTATION_KEY_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!rfs_annotation_key_valid(good[i]))
			fail_msg("key '%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rfs_annotation_key_valid(bad[i]))
			fail_msg("key '%s' taken", bad[i]);
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	assert_false(rfs_annotation_key_valid(long_key));
	long_key[RFS_ANNOTATION_KEY_MAX] = '\0';
	assert_true(rfs_annotation_key_valid(long_key));
	assert_false(rfs_annotation_key_valid(NULL));

	assert_true(rfs_artifact_type_valid("application/vnd.example+json"));
	assert_true(rfs_artifact_type_valid("datacenter"));
	assert_false(rfs_artifact_type_valid("application/x\x1b[31m"));
	assert_false(rfs_artifact_type_valid("a b"));
	assert_false(rfs_artifact_type_valid(""));
}

static void test_title(void **state)
{
	char t[RFS_TITLE_MAX + 2];

	(void)state;
	assert_true(rfs_name_valid_title("hello.txt"));
	assert_true(rfs_name_valid_title("my file (1).tar.gz"));
	assert_true(rfs_name_valid_title("r\xc3\xa9sum\xc3\xa9.pdf"));
	assert_false(rfs_name_valid_title("two\nlines"));
	assert_false(rfs_name_valid_title("\x1b[2Jclear"));
	assert_false(rfs_name_valid_title("a/b"));
	assert_false(rfs_name_valid_title(".hidden"));
	assert_false(rfs_name_valid_title("abc\xe2\x80\xae"
					  "txt.exe"));
	assert_false(rfs_name_valid_title("\xff"));
	assert_false(rfs_name_valid_title(""));
	memset(t, 't', sizeof(t) - 1);
	t[sizeof(t) - 1] = '\0';
	assert_false(rfs_name_valid_title(t));
	t[RFS_TITLE_MAX] = '\0';
	assert_true(rfs_name_valid_title(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_controls),
		cmocka_unit_test(test_escape_cut),
		cmocka_unit_test(test_json_safe),
		cmocka_unit_test(test_annotation_key),
		cmocka_unit_test(test_title),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
