/*
 * test-digest.c - unit tests of digest.h: SHA-256 against known vectors,
 * streaming, file descriptors and the digest string syntax.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "digest.h"

#define SHA_EMPTY \
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC \
	"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" (FIPS 180-2) */
#define MSG_448 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define SHA_448 \
	"sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
/* One million 'a' (FIPS 180-2). */
#define SHA_MILLION_A \
	"sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static char *digest_of(const void *buf, size_t len,
		       char out[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_hasher *h = NULL;

	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_non_null(h);
	assert_int_equal(rfs_hasher_update(h, buf, len), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	rfs_hasher_free(&h);
	assert_null(h);
	return out;
}

/* An unlinked temporary file holding len bytes of buf. */
static int temp_file_with(const void *buf, size_t len)
{
	char path[] = "/tmp/regfs-test-digest-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	const char *p = buf;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		assert_true(n > 0);
		done += (size_t)n;
	}
	return fd;
}

static void test_vectors(void **state)
{
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	assert_string_equal(digest_of("", 0, out), SHA_EMPTY);
	assert_string_equal(digest_of("abc", 3, out), SHA_ABC);
	assert_string_equal(digest_of(MSG_448, strlen(MSG_448), out), SHA_448);
	assert_int_equal(strlen(out), RFS_DIGEST_STR_MAX);
}

static void test_hasher_empty_final(void **state)
{
	struct rfs_hasher *h = NULL;
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_EMPTY);
	rfs_hasher_free(&h);
}

static void test_streaming_equals_oneshot(void **state)
{
	static unsigned char buf[300000];
	char one[RFS_DIGEST_STR_MAX + 1], streamed[RFS_DIGEST_STR_MAX + 1];
	struct rfs_hasher *h = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 8));
	digest_of(buf, sizeof(buf), one);

	/* Pieces of awkward sizes, including empty ones. */
	static const size_t sizes[] = { 0, 1, 63, 64, 65, 0, 4096, 7, 100000 };
	assert_int_equal(rfs_hasher_new(&h), 0);
	size_t off = 0, k = 0;
	while (off < sizeof(buf)) {
		size_t n = sizes[k++ % (sizeof(sizes) / sizeof(sizes[0]))];
		if (n > sizeof(buf) - off)
			n = sizeof(buf) - off;
		assert_int_equal(rfs_hasher_update(h, buf + off, n), 0);
		off += n;
	}
	assert_int_equal(rfs_hasher_final(h, streamed), 0);
	assert_string_equal(streamed, one);
	rfs_hasher_free(&h);
}

static void test_million_a(void **state)
{
	static char buf[1000000];
	struct rfs_hasher *h = NULL;
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(rfs_hasher_new(&h), 0);
	for (size_t i = 0; i < 1000; i++)
		assert_int_equal(rfs_hasher_update(h, buf + i * 1000, 1000), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_MILLION_A);
	rfs_hasher_free(&h);
}

static void test_reuse_after_final_and_reset(void **state)
{
	struct rfs_hasher *h = NULL;
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update(h, "abc", 3), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_ABC);

	/* Reset after final: a fresh hash. */
	assert_int_equal(rfs_hasher_reset(h), 0);
	assert_int_equal(rfs_hasher_update(h, "abc", 3), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_ABC);

	/* Reset in the middle drops what was fed. */
	assert_int_equal(rfs_hasher_reset(h), 0);
	assert_int_equal(rfs_hasher_update(h, "garbage", 7), 0);
	assert_int_equal(rfs_hasher_reset(h), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_EMPTY);
	rfs_hasher_free(&h);
}

static void test_free_null(void **state)
{
	struct rfs_hasher *h = NULL;

	(void)state;
	rfs_hasher_free(&h);
	assert_null(h);
}

static void test_digest_fd(void **state)
{
	char out[RFS_DIGEST_STR_MAX + 1];
	int fd;

	(void)state;
	/* The file offset is at the end after writing: the whole file is
	 * hashed anyway, from offset 0. */
	fd = temp_file_with("abc", 3);
	assert_int_equal(rfs_digest_fd(fd, out), 0);
	assert_string_equal(out, SHA_ABC);
	/* And again: the result does not depend on where the offset is. */
	assert_int_equal(rfs_digest_fd(fd, out), 0);
	assert_string_equal(out, SHA_ABC);
	close(fd);

	fd = temp_file_with("", 0);
	assert_int_equal(rfs_digest_fd(fd, out), 0);
	assert_string_equal(out, SHA_EMPTY);
	close(fd);
}

static void test_digest_fd_large(void **state)
{
	static char buf[1000000];
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	int fd = temp_file_with(buf, sizeof(buf));
	assert_int_equal(lseek(fd, 12345, SEEK_SET), 12345);
	assert_int_equal(rfs_digest_fd(fd, out), 0);
	assert_string_equal(out, SHA_MILLION_A);
	close(fd);
}

static void test_digest_fd_bad(void **state)
{
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	assert_true(rfs_digest_fd(-1, out) < 0);
}

static void test_update_fd_offset(void **state)
{
	struct rfs_hasher *h = NULL;
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	int fd = temp_file_with("XXXXXabc", 8);
	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update_fd(h, fd, 5), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_ABC);

	/* Prefix fed by hand, rest from the fd. */
	assert_int_equal(rfs_hasher_reset(h), 0);
	assert_int_equal(rfs_hasher_update(h, "a", 1), 0);
	close(fd);
	fd = temp_file_with("XXbc", 4);
	assert_int_equal(rfs_hasher_update_fd(h, fd, 2), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_ABC);

	/* From the end (or beyond): nothing is added. */
	assert_int_equal(rfs_hasher_reset(h), 0);
	assert_int_equal(rfs_hasher_update_fd(h, fd, 4), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_EMPTY);
	close(fd);
	rfs_hasher_free(&h);
}

static void test_update_fd_large_offset(void **state)
{
	static char buf[1000000 + 777];
	struct rfs_hasher *h = NULL;
	char out[RFS_DIGEST_STR_MAX + 1];

	(void)state;
	memset(buf, 'z', 777);
	memset(buf + 777, 'a', 1000000);
	int fd = temp_file_with(buf, sizeof(buf));
	assert_int_equal(rfs_hasher_new(&h), 0);
	assert_int_equal(rfs_hasher_update_fd(h, fd, 777), 0);
	assert_int_equal(rfs_hasher_final(h, out), 0);
	assert_string_equal(out, SHA_MILLION_A);
	close(fd);
	rfs_hasher_free(&h);
}

static void test_digest_valid(void **state)
{
	char buf[160];

	(void)state;
	assert_true(rfs_digest_valid(SHA_EMPTY));
	assert_true(rfs_digest_valid(SHA_ABC));
	assert_true(rfs_digest_valid(
	    "sha256:0000000000000000000000000000000000000000000000000000000000000000"));

	/* Uppercase hex. */
	assert_false(rfs_digest_valid(
	    "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(rfs_digest_valid(
	    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aD"));
	/* Wrong lengths. */
	assert_false(rfs_digest_valid(
	    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"));
	assert_false(rfs_digest_valid(
	    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
	assert_false(rfs_digest_valid("sha256:"));
	assert_false(rfs_digest_valid(""));
	/* Not hex. */
	assert_false(rfs_digest_valid(
	    "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(rfs_digest_valid(
	    "sha256: a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	/* Other algorithms, missing or odd prefixes. */
	assert_false(rfs_digest_valid(
	    "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(rfs_digest_valid(
	    "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(rfs_digest_valid(
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(rfs_digest_valid(
	    "md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(rfs_digest_valid(
	    "sha256ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	snprintf(buf, sizeof(buf), "sha512:%0128d", 0);
	assert_false(rfs_digest_valid(buf));
}

static void test_digest_hex(void **state)
{
	(void)state;
	assert_string_equal(
	    rfs_digest_hex(SHA_ABC),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(strlen(rfs_digest_hex(SHA_EMPTY)), RFS_SHA256_HEX_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_hasher_empty_final),
		cmocka_unit_test(test_streaming_equals_oneshot),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_reuse_after_final_and_reset),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_digest_fd),
		cmocka_unit_test(test_digest_fd_large),
		cmocka_unit_test(test_digest_fd_bad),
		cmocka_unit_test(test_update_fd_offset),
		cmocka_unit_test(test_update_fd_large_offset),
		cmocka_unit_test(test_digest_valid),
		cmocka_unit_test(test_digest_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
