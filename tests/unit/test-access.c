/*
 * test-access.c - unit tests of access.h on real files in a temporary
 * folder: password checks against bcrypt and SHA-crypt hashes made here
 * with crypt_r (no htpasswd tool needed), the hashes and lines refused at
 * load with FILE:LINE, Basic header parsing, push/pull rules, and the
 * password cache, counted through rfs_access_get_stats() rather than
 * timed.
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "access.h"
#include "tmptree.h"

#define HASH_MAX 256

struct fixture {
	char root[64];
	char htpasswd[128];
	char rules[128];
	struct rfs_access *a;
	struct rfs_error err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-access-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->htpasswd, sizeof(f->htpasswd), "%s/htpasswd", f->root);
	snprintf(f->rules, sizeof(f->rules), "%s/rules", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_access_free(&f->a);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

/* Write len bytes of text to path. */
static void put_bytes(const char *path, const char *text, size_t len)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void put(const char *path, const char *text)
{
	put_bytes(path, text, strlen(text));
}

/* A fresh hash of password: prefix and count as crypt_gensalt_rn takes
 * them ("$2b$" and a cost, "$6$" and rounds or 0). */
static void make_hash(char *out, size_t size, const char *prefix,
		      unsigned long count, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *hash;

	assert_non_null(cd);
	assert_non_null(
	    crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)));
	hash = crypt_r(password, setting, cd);
	assert_non_null(hash);
	assert_true(hash[0] != '*');
	assert_true(strlen(hash) < size);
	strcpy(out, hash);
	free(cd);
}

/* Append "user:hash\n" to buf (size bytes). */
static void add_user(char *buf, size_t size, const char *user,
		     const char *prefix, unsigned long count,
		     const char *password)
{
	char hash[HASH_MAX];
	size_t len = strlen(buf);

	make_hash(hash, sizeof(hash), prefix, count, password);
	snprintf(buf + len, size - len, "%s:%s\n", user, hash);
}

static struct rfs_access_stats stats(struct rfs_access *a)
{
	struct rfs_access_stats s;

	rfs_access_get_stats(a, &s);
	return s;
}

/* Loading must fail with -EINVAL and a message holding each of the
 * given strings. */
static void expect_load_error(struct fixture *f, const char *rules, int code,
			      const char *want1, const char *want2)
{
	rfs_error_clear(&f->err);
	assert_int_equal(rfs_access_load(f->htpasswd, rules, &f->a, &f->err),
			 code);
	assert_null(f->a);
	if (want1 && !strstr(f->err.msg, want1))
		fail_msg("message '%s' lacks '%s'", f->err.msg, want1);
	if (want2 && !strstr(f->err.msg, want2))
		fail_msg("message '%s' lacks '%s'", f->err.msg, want2);
}

/* "PATH:LINE:" in buf. */
static const char *at(char *buf, size_t size, const char *path,
		      unsigned int line)
{
	snprintf(buf, size, "%s:%u: ", path, line);
	return buf;
}

/* ---- passwords ------------------------------------------------------ */

static void load_alice_bob(struct fixture *f)
{
	char text[1024] = "# made by test-access\n\n";

	add_user(text, sizeof(text), "alice", "$2b$", 4, "s3cret");
	add_user(text, sizeof(text), "bob", "$2y$", 4, "hunter2");
	put(f->htpasswd, text);
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	assert_non_null(f->a);
}

static void test_password_right_and_wrong(void **state)
{
	struct fixture *f = *state;

	load_alice_bob(f);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "bob", "hunter2"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret "),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "hunter2"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "bob", "s3cret"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "alice", ""), -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "Alice", "s3cret"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, NULL, "s3cret"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "alice", NULL),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(NULL, "alice", "s3cret"),
			 -EACCES);
}

static void test_unknown_user_costs_a_crypt(void **state)
{
	struct fixture *f = *state;
	struct rfs_access_stats s;

	load_alice_bob(f);
	assert_int_equal(rfs_access_check_password(f->a, "carol", "s3cret"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "carol", "s3cret"),
			 -EACCES);
	/* The same work as a wrong password: a crypt_r run each time (the
	 * dummy hash), and nothing cached. */
	/* Whatever the dummy was made from, it never logs anyone in. */
	assert_int_equal(
	    rfs_access_check_password(f->a, "carol", "regfs-dummy"), -EACCES);
	s = stats(f->a);
	assert_int_equal(s.checks, 3);
	assert_int_equal(s.crypt_runs, 3);
	assert_int_equal(s.cache_hits, 0);
	assert_int_equal(s.failures, 3);
}

static void test_overlong_credentials(void **state)
{
	struct fixture *f = *state;
	char big[RFS_ACCESS_PASSWORD_MAX + 2];

	load_alice_bob(f);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(rfs_access_check_password(f->a, "alice", big),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, big, "s3cret"),
			 -EACCES);
	/* Refused before any hashing. */
	assert_int_equal(stats(f->a).crypt_runs, 0);
	assert_int_equal(stats(f->a).failures, 2);
}

static void test_sha_crypt_hashes(void **state)
{
	struct fixture *f = *state;
	char text[1024] = "";

	add_user(text, sizeof(text), "six", "$6$", 0, "pw6");
	add_user(text, sizeof(text), "sixr", "$6$", 1000, "pw6r");
	add_user(text, sizeof(text), "five", "$5$", 0, "pw5");
	add_user(text, sizeof(text), "bcrypt-a", "$2a$", 4, "pwa");
	put(f->htpasswd, text);
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	assert_int_equal(rfs_access_check_password(f->a, "six", "pw6"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "sixr", "pw6r"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "five", "pw5"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "bcrypt-a", "pwa"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "six", "pw5"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "five", "pw6"),
			 -EACCES);
}

static void test_file_shapes_accepted(void **state)
{
	struct fixture *f = *state;
	char hash[HASH_MAX];
	char text[1024];

	/* Comments, blank lines, CRLF, trailing blanks, no final newline. */
	make_hash(hash, sizeof(hash), "$2y$", 4, "pw");
	snprintf(text, sizeof(text),
		 "# users\r\n\r\n   \n  # indented comment\nalice:%s \t\r\n"
		 "bob:%s",
		 hash, hash);
	put(f->htpasswd, text);
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "pw"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "bob", "pw"), 0);
	rfs_access_free(&f->a);
	assert_null(f->a);
	rfs_access_free(&f->a);
	rfs_access_free(NULL);

	/* An empty file: nobody can log in, but it is not an error. */
	put(f->htpasswd, "");
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "pw"),
			 -EACCES);
}

/* ---- refused at load ------------------------------------------------ */

/* htpasswd of a good line 1 and the given line 2: loading fails naming
 * line 2 and saying want. */
static void expect_line2_refused(struct fixture *f, const char *line2,
				 const char *want)
{
	char good[HASH_MAX];
	char text[4096];
	char where[256];

	make_hash(good, sizeof(good), "$2b$", 4, "pw");
	snprintf(text, sizeof(text), "alice:%s\n%s\n", good, line2);
	put(f->htpasswd, text);
	expect_load_error(f, NULL, -EINVAL,
			  at(where, sizeof(where), f->htpasswd, 2), want);
}

static void test_refused_hashes(void **state)
{
	struct fixture *f = *state;
	char h[HASH_MAX];
	char line[512];

	expect_line2_refused(f, "bob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/",
			     "md5 hashes ($apr1$) are refused, use bcrypt");
	expect_line2_refused(f, "bob:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
			     "md5 hashes ($1$)");
	expect_line2_refused(f, "bob:hunter2",
			     "user 'bob': plain-text or des-crypt passwords "
			     "are refused");
	expect_line2_refused(f, "bob:rqXexS6ZhobKA", "plain-text or des-crypt");
	expect_line2_refused(
	    f, "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "sha-1 hashes ({SHA})");
	expect_line2_refused(f, "bob:$y$j9T$abc$def",
			     "unsupported hash method '$y$'");
	expect_line2_refused(f, "bob:", "user 'bob': no password hash");
	expect_line2_refused(f, "bob:$2b$04$abc:x", "more than one ':'");

	/* Well-known methods, malformed: each could never match. */
	make_hash(h, sizeof(h), "$2b$", 4, "pw");
	snprintf(line, sizeof(line), "bob:%.*s", (int)strlen(h) - 1, h);
	expect_line2_refused(f, line, "malformed bcrypt hash");
	snprintf(line, sizeof(line), "bob:%s/", h);
	expect_line2_refused(f, line, "malformed bcrypt hash");
	snprintf(line, sizeof(line), "bob:$2x$%s", h + 4);
	expect_line2_refused(f, line, "unsupported bcrypt variant");
	snprintf(line, sizeof(line), "bob:$2b$31$%s", h + 7);
	expect_line2_refused(f, line, "bcrypt cost 31 is outside 4..17");
	snprintf(line, sizeof(line), "bob:$2b$03$%s", h + 7);
	expect_line2_refused(f, line, "bcrypt cost 3");

	make_hash(h, sizeof(h), "$6$", 0, "pw");
	snprintf(line, sizeof(line), "bob:%.*s", (int)strlen(h) - 1, h);
	expect_line2_refused(f, line, "malformed sha-crypt hash");
	expect_line2_refused(f, "bob:$6$rounds=500$salt$x",
			     "sha-crypt rounds 500 are outside 1000..");
	expect_line2_refused(f, "bob:$6$rounds=05000$salt$x",
			     "malformed rounds");
	expect_line2_refused(f,
			     "bob:$6$saltsaltsaltsaltX$"
			     "0123456789012345678901234567890123456789012345678"
			     "9012345678901234567890123456789012345",
			     "malformed sha-crypt hash");
}

static void test_malformed_lines(void **state)
{
	struct fixture *f = *state;
	char line[512];
	char where[256];
	char good[HASH_MAX];
	char text[4096];
	char user[RFS_ACCESS_USER_MAX + 2];

	expect_line2_refused(f, "bob", "expected 'user:hash'");
	expect_line2_refused(f, ":$2b$04$x", "empty user name");
	expect_line2_refused(f, "bob smith:$2b$04$x",
			     "white space in user name");
	expect_line2_refused(f, " bob:$2b$04$x", "white space in user name");
	expect_line2_refused(f, "b\001b:$2b$04$x", "control byte 0x01");
	expect_line2_refused(f, "*:$2b$04$x", "reserved");
	expect_line2_refused(f, "-:$2b$04$x", "reserved");
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	snprintf(line, sizeof(line), "%s:$2b$04$x", user);
	expect_line2_refused(f, line, "user name longer than 128 bytes");

	/* A duplicate names the later line and the first. */
	make_hash(good, sizeof(good), "$2b$", 4, "pw");
	snprintf(text, sizeof(text), "alice:%s\nbob:%s\nalice:%s\n", good, good,
		 good);
	put(f->htpasswd, text);
	expect_load_error(f, NULL, -EINVAL,
			  at(where, sizeof(where), f->htpasswd, 3),
			  "duplicate user 'alice' (first on line 1)");

	/* A NUL byte, which C string handling would silently cut at. */
	snprintf(text, sizeof(text), "alice:%s\nbob:%s\n", good, good);
	text[strlen(good) + 6 + 3] = '\0';
	put_bytes(f->htpasswd, text, strlen(good) * 2 + 12);
	expect_load_error(f, NULL, -EINVAL,
			  at(where, sizeof(where), f->htpasswd, 2),
			  "control byte 0x00");

	/* A line too long. */
	memset(text, 'x', RFS_ACCESS_LINE_MAX + 1);
	strcpy(text + RFS_ACCESS_LINE_MAX + 1, "\n");
	put(f->htpasswd, text);
	expect_load_error(f, NULL, -EINVAL,
			  at(where, sizeof(where), f->htpasswd, 1),
			  "line longer than 1024 bytes");
}

static void test_unreadable_files(void **state)
{
	struct fixture *f = *state;
	char *big;
	FILE *fp;

	expect_load_error(f, NULL, -ENOENT, "cannot open", f->htpasswd);
	load_alice_bob(f);
	rfs_access_free(&f->a);
	expect_load_error(f, f->rules, -ENOENT, "cannot open", f->rules);
	expect_load_error(f, f->root, -EISDIR, "cannot read", f->root);

	/* One byte over the bound. */
	big = malloc(RFS_ACCESS_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', RFS_ACCESS_FILE_MAX + 1);
	for (size_t i = 100; i < RFS_ACCESS_FILE_MAX + 1; i += 100)
		big[i] = '\n';
	fp = fopen(f->rules, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(big, 1, RFS_ACCESS_FILE_MAX + 1, fp),
			 RFS_ACCESS_FILE_MAX + 1);
	assert_int_equal(fclose(fp), 0);
	free(big);
	expect_load_error(f, f->rules, -EFBIG, "is larger than", NULL);
	assert_int_equal(rfs_access_load(NULL, NULL, &f->a, &f->err), -EINVAL);
}

/* ---- Basic headers -------------------------------------------------- */

/* "Basic " + base64 of text (len bytes) into buf. */
static const char *basic(char *buf, const char *scheme, const char *text,
			 size_t len)
{
	size_t n = (size_t)sprintf(buf, "%s ", scheme);

	EVP_EncodeBlock((unsigned char *)buf + n, (const unsigned char *)text,
			(int)len);
	return buf;
}

static void expect_basic(const char *header, const char *user,
			 const char *password)
{
	char u[RFS_ACCESS_USER_MAX + 1] = "junk";
	char p[RFS_ACCESS_PASSWORD_MAX + 1] = "junk";

	if (rfs_access_parse_basic(header, u, sizeof(u), p, sizeof(p)))
		fail_msg("'%s' refused", header);
	assert_string_equal(u, user);
	assert_string_equal(p, password);
}

static void expect_basic_refused(const char *header)
{
	char u[RFS_ACCESS_USER_MAX + 1] = "junk";
	char p[RFS_ACCESS_PASSWORD_MAX + 1] = "junk";

	if (rfs_access_parse_basic(header, u, sizeof(u), p, sizeof(p)) !=
	    -EINVAL)
		fail_msg("'%s' accepted", header ? header : "(null)");
	assert_string_equal(u, "");
	assert_string_equal(p, "");
}

static void test_basic_good(void **state)
{
	char h[2048];
	char text[1024];

	(void)state;
	expect_basic("Basic YWxpY2U6czNjcmV0", "alice", "s3cret");
	expect_basic("basic YWxpY2U6czNjcmV0", "alice", "s3cret");
	expect_basic("BASIC \t YWxpY2U6czNjcmV0  ", "alice", "s3cret");
	/* Each padding length: none ("alice:"), one '=' ("bob:hunter2"),
	 * two ("a:pw"). */
	expect_basic(basic(h, "Basic", "bob:hunter2", 11), "bob", "hunter2");
	expect_basic(basic(h, "Basic", "carol:pw", 8), "carol", "pw");
	expect_basic(basic(h, "Basic", "a:pw", 4), "a", "pw");
	expect_basic(basic(h, "Basic", "ab:pw", 5), "ab", "pw");
	/* The password may hold ':' and be empty; non-ASCII passes. */
	expect_basic(basic(h, "Basic", "a:b:c", 5), "a", "b:c");
	expect_basic(basic(h, "Basic", "alice:", 6), "alice", "");
	expect_basic(basic(h, "Basic", "j\xc3\xb6rg:p\xc3\xa4ss", 11),
		     "j\xc3\xb6rg", "p\xc3\xa4ss");
	/* The longest that fits. */
	memset(text, 'u', RFS_ACCESS_USER_MAX);
	text[RFS_ACCESS_USER_MAX] = ':';
	memset(text + RFS_ACCESS_USER_MAX + 1, 'p', RFS_ACCESS_PASSWORD_MAX);
	text[RFS_ACCESS_USER_MAX + 1 + RFS_ACCESS_PASSWORD_MAX] = '\0';
	basic(h, "Basic", text, strlen(text));
	{
		char u[RFS_ACCESS_USER_MAX + 1];
		char p[RFS_ACCESS_PASSWORD_MAX + 1];

		assert_int_equal(
		    rfs_access_parse_basic(h, u, sizeof(u), p, sizeof(p)), 0);
		assert_int_equal(strlen(u), RFS_ACCESS_USER_MAX);
		assert_int_equal(strlen(p), RFS_ACCESS_PASSWORD_MAX);
		/* ... and not in buffers one byte smaller. */
		assert_int_equal(
		    rfs_access_parse_basic(h, u, sizeof(u) - 1, p, sizeof(p)),
		    -EINVAL);
		assert_int_equal(
		    rfs_access_parse_basic(h, u, sizeof(u), p, sizeof(p) - 1),
		    -EINVAL);
	}
}

static void test_basic_bad(void **state)
{
	char h[4096];
	char text[2048];

	(void)state;
	/* Not Basic. */
	expect_basic_refused(NULL);
	expect_basic_refused("");
	expect_basic_refused("Basic");
	expect_basic_refused("Basic ");
	expect_basic_refused("Bearer YWxpY2U6czNjcmV0");
	expect_basic_refused("Digest username=\"alice\"");
	expect_basic_refused("BasicYWxpY2U6czNjcmV0");
	expect_basic_refused("Basi YWxpY2U6czNjcmV0");
	/* Bad base64. */
	expect_basic_refused("Basic YWxpY2U6czNjcmV0=");
	expect_basic_refused("Basic YWxpY2U6czNjcmV");
	expect_basic_refused("Basic !!!!");
	expect_basic_refused("Basic YWxp Y2U6czNjcmV0");
	expect_basic_refused("Basic YW=pY2U6czNjcmV0");
	expect_basic_refused("Basic YWxpY2U6czNjcmV0====");
	expect_basic_refused("Basic YQ==YWxp");
	expect_basic_refused("Basic YWxpY2U6czNjcmV0 x");
	expect_basic_refused("Basic YWxpY2U6czNjcmV0\n");
	expect_basic_refused("Basic YWxpY2U-czNjcmV0");
	/* No colon, empty user. */
	expect_basic_refused(basic(h, "Basic", "alice", 5));
	expect_basic_refused(basic(h, "Basic", ":pw", 3));
	/* Control bytes, NUL included. */
	expect_basic_refused(basic(h, "Basic", "alice:pw\n", 9));
	expect_basic_refused(basic(h, "Basic", "alice:p\0w", 9));
	expect_basic_refused(basic(h, "Basic",
				   "al\x7f"
				   "ice:pw",
				   9));
	/* Oversized: a user one byte too long, and a header far too long. */
	memset(text, 'u', RFS_ACCESS_USER_MAX + 1);
	strcpy(text + RFS_ACCESS_USER_MAX + 1, ":pw");
	expect_basic_refused(basic(h, "Basic", text, strlen(text)));
	memset(text, 'p', sizeof(text) - 1);
	text[0] = 'a';
	text[1] = ':';
	expect_basic_refused(basic(h, "Basic", text, sizeof(text) - 1));
	/* Bad buffers. */
	{
		char u[8];
		char p[8];

		assert_int_equal(
		    rfs_access_parse_basic("Basic YTpi", u, 0, p, sizeof(p)),
		    -EINVAL);
		assert_int_equal(
		    rfs_access_parse_basic("Basic YTpi", NULL, 8, p, sizeof(p)),
		    -EINVAL);
		assert_int_equal(rfs_access_parse_basic(
				     "Basic YTpi", u, sizeof(u), p, sizeof(p)),
				 0);
		assert_string_equal(u, "a");
		assert_string_equal(p, "b");
	}
}

static void test_authenticate(void **state)
{
	struct fixture *f = *state;
	char user[RFS_ACCESS_USER_MAX + 1];
	char h[256];

	load_alice_bob(f);
	assert_int_equal(
	    rfs_access_authenticate(f->a, basic(h, "Basic", "alice:s3cret", 12),
				    user, sizeof(user)),
	    0);
	assert_string_equal(user, "alice");
	assert_int_equal(
	    rfs_access_authenticate(f->a, basic(h, "Basic", "alice:s3cre7", 12),
				    user, sizeof(user)),
	    -EACCES);
	assert_string_equal(user, "");
	assert_int_equal(
	    rfs_access_authenticate(f->a, "Bearer abc", user, sizeof(user)),
	    -EINVAL);
	assert_string_equal(user, "");
}

/* ---- rules ---------------------------------------------------------- */

static const char example_rules[] =
    "# verb  repository-pattern  users...\n"
    "push    prod/*              release\n"
    "push    team/*              ci release   # the team's builds\n"
    "\n"
    "  # nobody writes the archive\n"
    "push    archive/*           -\n"
    "push    *                   *\n"
    "pull    secret/*            release\n"
    "pull\tlogin/*\t*\n";

/* Users release, ci and dev (their passwords do not matter here). */
static void put_rule_users(struct fixture *f)
{
	char text[1024] = "";

	add_user(text, sizeof(text), "release", "$5$", 1000, "r");
	add_user(text, sizeof(text), "ci", "$5$", 1000, "c");
	add_user(text, sizeof(text), "dev", "$5$", 1000, "d");
	put(f->htpasswd, text);
}

static void test_rules_example(void **state)
{
	struct fixture *f = *state;
	struct rfs_access *a;

	put_rule_users(f);
	put(f->rules, example_rules);
	assert_int_equal(rfs_access_load(f->htpasswd, f->rules, &f->a, &f->err),
			 0);
	a = f->a;

	/* ci pushes under team/, at any depth, but not to prod/. */
	assert_true(rfs_access_may_push(a, "ci", "team/x"));
	assert_true(rfs_access_may_push(a, "ci", "team/a/b"));
	assert_false(rfs_access_may_push(a, "ci", "prod/x"));
	assert_false(rfs_access_may_push(a, "ci", "prod/a/b"));
	/* release pushes to prod/ and team/. */
	assert_true(rfs_access_may_push(a, "release", "prod/x"));
	assert_true(rfs_access_may_push(a, "release", "team/x"));
	/* dev is authenticated: the '*' rule lets it push elsewhere. */
	assert_false(rfs_access_may_push(a, "dev", "team/x"));
	assert_false(rfs_access_may_push(a, "dev", "prod/x"));
	assert_true(rfs_access_may_push(a, "dev", "other/x"));
	assert_true(rfs_access_may_push(a, "ci", "other"));
	/* team/<star> covers team/..., not team itself nor teamx/. */
	assert_true(rfs_access_may_push(a, "dev", "team"));
	assert_true(rfs_access_may_push(a, "dev", "teamx/a"));
	/* '-': nobody, release included. */
	assert_false(rfs_access_may_push(a, "release", "archive/x"));
	assert_false(rfs_access_may_push(a, "dev", "archive/x"));
	/* Anonymous callers never push. */
	assert_false(rfs_access_may_push(a, NULL, "other/x"));
	assert_false(rfs_access_may_push(a, NULL, "team/x"));

	/* Pull: secret/ is release's; login/ is any user's; the rest is
	 * open, anonymous callers included. */
	assert_true(rfs_access_may_pull(a, "release", "secret/x"));
	assert_false(rfs_access_may_pull(a, "ci", "secret/x"));
	assert_false(rfs_access_may_pull(a, NULL, "secret/x"));
	assert_true(rfs_access_may_pull(a, "dev", "login/x"));
	assert_false(rfs_access_may_pull(a, NULL, "login/x"));
	assert_true(rfs_access_may_pull(a, NULL, "prod/x"));
	assert_true(rfs_access_may_pull(a, "ci", "prod/x"));
	assert_true(rfs_access_may_pull(a, "dev", "archive/x"));

	/* Not a user of the file, not a valid name: never. */
	assert_false(rfs_access_may_push(a, "mallory", "other/x"));
	assert_false(rfs_access_may_pull(a, "mallory", "prod/x"));
	assert_false(rfs_access_may_push(a, "release", "Prod/x"));
	assert_false(rfs_access_may_pull(a, NULL, "prod/../secret/x"));
	assert_false(rfs_access_may_pull(a, NULL, NULL));
	assert_false(rfs_access_may_pull(NULL, NULL, "prod/x"));
}

static void test_rules_defaults(void **state)
{
	struct fixture *f = *state;

	/* No rules file: any user pushes anywhere, anyone pulls. */
	put_rule_users(f);
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	assert_true(rfs_access_may_push(f->a, "dev", "prod/x"));
	assert_false(rfs_access_may_push(f->a, NULL, "prod/x"));
	assert_true(rfs_access_may_pull(f->a, NULL, "prod/x"));
	assert_true(rfs_access_may_pull(f->a, "ci", "prod/x"));
	rfs_access_free(&f->a);

	/* Rules of one verb leave the other on its default; only comments
	 * is no rule at all. */
	put(f->rules, "# none yet\n\npull x/* ci\n");
	assert_int_equal(rfs_access_load(f->htpasswd, f->rules, &f->a, &f->err),
			 0);
	assert_true(rfs_access_may_push(f->a, "dev", "x/y"));
	assert_false(rfs_access_may_pull(f->a, "dev", "x/y"));
	assert_true(rfs_access_may_pull(f->a, "ci", "x/y"));
}

static void test_rules_globs(void **state)
{
	struct fixture *f = *state;

	put_rule_users(f);
	put(f->rules, "push app-?          ci\n"
		      "push lib/[a-m]*     ci\n"
		      "push tool/[!x]*     ci\n"
		      "push exact/name     ci\n"
		      "push *              -\n");
	assert_int_equal(rfs_access_load(f->htpasswd, f->rules, &f->a, &f->err),
			 0);
	assert_true(rfs_access_may_push(f->a, "ci", "app-1"));
	assert_false(rfs_access_may_push(f->a, "ci", "app-12"));
	assert_true(rfs_access_may_push(f->a, "ci", "lib/core"));
	assert_false(rfs_access_may_push(f->a, "ci", "lib/zlib"));
	assert_true(rfs_access_may_push(f->a, "ci", "tool/a"));
	assert_false(rfs_access_may_push(f->a, "ci", "tool/xz"));
	assert_true(rfs_access_may_push(f->a, "ci", "exact/name"));
	assert_false(rfs_access_may_push(f->a, "ci", "exact/name/x"));
	assert_false(rfs_access_may_push(f->a, "ci", "other"));
}

/* A rules file of the given line 2 after a good line 1 fails naming line 2
 * and saying want. */
static void expect_rule_refused(struct fixture *f, const char *line2,
				const char *want)
{
	char text[2048];
	char where[256];

	snprintf(text, sizeof(text), "push team/* ci\n%s\n", line2);
	put(f->rules, text);
	expect_load_error(f, f->rules, -EINVAL,
			  at(where, sizeof(where), f->rules, 2), want);
}

static void test_rules_errors(void **state)
{
	struct fixture *f = *state;
	char line[2048];

	put_rule_users(f);
	expect_rule_refused(f, "delete team/* ci",
			    "unknown verb 'delete' (push or pull)");
	expect_rule_refused(f, "Push team/* ci", "unknown verb 'Push'");
	expect_rule_refused(f, "push team/* rlease",
			    "unknown user 'rlease' (not in '");
	expect_rule_refused(f, "push team/* ci rlease",
			    "unknown user 'rlease'");
	expect_rule_refused(f, "push team/*", "rule without users");
	expect_rule_refused(f, "push", "rule without a repository pattern");
	expect_rule_refused(f, "push team/* ci *", "'*' must stand alone");
	expect_rule_refused(f, "push team/* - ci", "'-' must stand alone");
	expect_rule_refused(f, "push Team/* ci", "pattern 'Team/*'");
	expect_rule_refused(f, "push team/[a-z ci", "'[' without ']'");
	expect_rule_refused(f, "push team/a] ci", "']' without '['");
	expect_rule_refused(f, "push team/[] ci", "empty set");
	expect_rule_refused(f, "push team/a! ci", "'!' is only for");
	expect_rule_refused(f, "push team\\/a ci", "no repository name has");
	expect_rule_refused(f, "push team/app/ ci",
			    "not a valid repository name");
	expect_rule_refused(f, "pull host:5000/app *", "no repository name");
	expect_rule_refused(f, "push team/* c\x01i", "control byte 0x01");
	memset(line, 'c', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "push x ", 7);
	expect_rule_refused(f, line, "line longer than 1024 bytes");
}

/* ---- the cache ------------------------------------------------------ */

static void test_cache_repeats_are_cheap(void **state)
{
	struct fixture *f = *state;
	struct rfs_access_stats s;

	load_alice_bob(f);
	for (int i = 0; i < 6; i++)
		assert_int_equal(
		    rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	s = stats(f->a);
	assert_int_equal(s.checks, 6);
	assert_int_equal(s.crypt_runs, 1);
	assert_int_equal(s.cache_hits, 5);
	assert_int_equal(s.failures, 0);

	/* A wrong password is never a hit, and is not remembered. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    rfs_access_check_password(f->a, "alice", "wrong"), -EACCES);
	/* Another user with alice's password: keyed by user too. */
	assert_int_equal(rfs_access_check_password(f->a, "bob", "s3cret"),
			 -EACCES);
	s = stats(f->a);
	assert_int_equal(s.crypt_runs, 4);
	assert_int_equal(s.cache_hits, 5);
	assert_int_equal(s.failures, 3);

	/* ttl 0 turns it off and forgets. */
	rfs_access_set_cache_ttl(f->a, 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	assert_int_equal(stats(f->a).crypt_runs, 6);
	assert_int_equal(stats(f->a).cache_hits, 5);
	rfs_access_set_cache_ttl(f->a, 60);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	assert_int_equal(stats(f->a).crypt_runs, 7);
	assert_int_equal(stats(f->a).cache_hits, 6);
}

static void test_cache_changed_password(void **state)
{
	struct fixture *f = *state;
	char text[1024] = "";

	load_alice_bob(f);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"), 0);
	rfs_access_free(&f->a);

	/* The new file has another hash for alice: the old password fails,
	 * the new one works, bob's (unchanged line) still works. */
	add_user(text, sizeof(text), "alice", "$2b$", 4, "n3w");
	add_user(text, sizeof(text), "bob", "$2y$", 4, "hunter2");
	put(f->htpasswd, text);
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "s3cret"),
			 -EACCES);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "n3w"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "alice", "n3w"), 0);
	assert_int_equal(rfs_access_check_password(f->a, "bob", "hunter2"), 0);
	assert_int_equal(stats(f->a).crypt_runs, 3);
}

static void test_cache_evicts_oldest(void **state)
{
	struct fixture *f = *state;
	const int n = RFS_ACCESS_CACHE_SIZE + 1;
	size_t size = (size_t)n * 160;
	char *text = calloc(1, size);
	char user[16];
	char pw[16];

	/* SHA-256-crypt at 1000 rounds: many users, quickly. */
	assert_non_null(text);
	for (int i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		snprintf(pw, sizeof(pw), "p%d", i);
		add_user(text, size, user, "$5$", 1000, pw);
	}
	put(f->htpasswd, text);
	free(text);
	assert_int_equal(rfs_access_load(f->htpasswd, NULL, &f->a, &f->err), 0);
	for (int i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		snprintf(pw, sizeof(pw), "p%d", i);
		assert_int_equal(rfs_access_check_password(f->a, user, pw), 0);
	}
	assert_int_equal(stats(f->a).crypt_runs, n);
	/* The last is still there; the first was evicted to make room. */
	assert_int_equal(rfs_access_check_password(f->a, "u256", "p256"), 0);
	assert_int_equal(stats(f->a).cache_hits, 1);
	assert_int_equal(rfs_access_check_password(f->a, "u0", "p0"), 0);
	assert_int_equal(stats(f->a).crypt_runs, n + 1);
	assert_int_equal(stats(f->a).cache_hits, 1);
	/* u0 came back by evicting u1, the oldest then; u2 stays. */
	assert_int_equal(rfs_access_check_password(f->a, "u2", "p2"), 0);
	assert_int_equal(stats(f->a).cache_hits, 2);
	assert_int_equal(rfs_access_check_password(f->a, "u1", "p1"), 0);
	assert_int_equal(stats(f->a).crypt_runs, n + 2);
}

/* ---- threads -------------------------------------------------------- */

#define THREADS		8
#define CHECKS_A_THREAD 40

static void *checker(void *arg)
{
	struct rfs_access *a = arg;
	intptr_t bad = 0;

	for (int i = 0; i < CHECKS_A_THREAD; i++) {
		bool right = i % 4 != 0;
		int rc = rfs_access_check_password(
		    a, i % 2 ? "alice" : "bob",
		    right ? (i % 2 ? "s3cret" : "hunter2") : "nope");

		if (rc != (right ? 0 : -EACCES))
			bad++;
		if (!rfs_access_may_push(a, "alice", "x/y"))
			bad++;
	}
	return (void *)bad;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[THREADS];
	struct rfs_access_stats s;
	void *bad;

	load_alice_bob(f);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, checker, f->a), 0);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_int_equal((intptr_t)bad, 0);
	}
	s = stats(f->a);
	assert_int_equal(s.checks, THREADS * CHECKS_A_THREAD);
	assert_int_equal(s.failures, THREADS * CHECKS_A_THREAD / 4);
	assert_int_equal(s.crypt_runs + s.cache_hits, s.checks);
	/* Right passwords missed at most once per thread and user. */
	assert_true(s.crypt_runs <= s.failures + 2 * THREADS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_password_right_and_wrong,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_user_costs_a_crypt,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_credentials,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sha_crypt_hashes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_file_shapes_accepted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_hashes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_files, setup,
						teardown),
		cmocka_unit_test(test_basic_good),
		cmocka_unit_test(test_basic_bad),
		cmocka_unit_test_setup_teardown(test_authenticate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rules_example, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rules_defaults, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rules_globs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rules_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_repeats_are_cheap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_changed_password,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_evicts_oldest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
