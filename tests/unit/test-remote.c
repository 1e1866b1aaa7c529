/*
 * test-remote.c - unit tests of remote.h: HOST[:PORT]/REPO[:TAG] references
 * and registry hosts, Docker's rule for telling a host from a repository.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "remote.h"

static void test_is_remote(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"registry.example.com/app:v1",
		"127.0.0.1:5000/app",
		"localhost/app",
		"localhost:5000/org/app:1.0",
		"[::1]:5000/app",
		"host:5000/x",
		"a.b/",
	};
	static const char *const no[] = {
		"app:v1",
		"org/app:v1",
		"library/alpine",
		"localhostx/app",
		"/app",
		"",
		"app",
		"my-registry/app",
		"Localhost/app",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!rfs_remote_is_remote(yes[i]))
			fail_msg("'%s' not taken as remote", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (rfs_remote_is_remote(no[i]))
			fail_msg("'%s' taken as remote", no[i]);
	}
	assert_false(rfs_remote_is_remote(NULL));
}

static void test_valid_host(void **state)
{
	(void)state;
	static const char *const good[] = {
		"localhost",	    "localhost:5000",
		"127.0.0.1",	    "127.0.0.1:65535",
		"registry.example", "Registry.Example.COM",
		"a-b.c-d:1",	    "[::1]",
		"[::1]:5000",	    "[fe80::1:2]:443",
		"[::ffff:1.2.3.4]", "x:80",
		"0.example",	    "a.b.c.d.e.f",
	};
	static const char *const bad[] = {
		"",
		"registry", /* no '.' or ':': a repository */
		"localhost:0",
		"localhost:65536",
		"localhost:123456",
		"localhost:",
		"localhost:50a",
		"-a.b",
		"a-.b",
		"a..b",
		".a.b",
		"a.b.",
		"a_b.c",
		"a b.c",
		"a.b:5000:1",
		"[::1",
		"[]",
		"[1.2.3.4]",
		"[::g]",
		"[::1]5000",
		"[::1]:",
		"host.x/app",
		"https://host.x",
		"h\xc3\xa9.x",
	};
	char buf[RFS_HOST_MAX + 10];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!rfs_remote_valid_host(good[i]))
			fail_msg("host '%s' refused", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rfs_remote_valid_host(bad[i]))
			fail_msg("host '%s' accepted", bad[i]);
	}
	assert_false(rfs_remote_valid_host(NULL));

	/* RFS_HOST_MAX bytes is the limit. */
	memset(buf, 'a', RFS_HOST_MAX);
	buf[1] = '.';
	buf[RFS_HOST_MAX] = '\0';
	assert_true(rfs_remote_valid_host(buf));
	buf[RFS_HOST_MAX] = 'a';
	buf[RFS_HOST_MAX + 1] = '\0';
	assert_false(rfs_remote_valid_host(buf));
}

static void test_parse_host(void **state)
{
	(void)state;
	char host[RFS_HOST_MAX + 1];
	struct rfs_error err;

	assert_int_equal(
	    rfs_remote_parse_host("127.0.0.1:5000", host, sizeof(host), &err),
	    0);
	assert_string_equal(host, "127.0.0.1:5000");

	assert_int_equal(
	    rfs_remote_parse_host("myhost", host, sizeof(host), &err), -EINVAL);
	assert_string_equal(host, "");
	assert_non_null(strstr(err.msg, "'myhost'"));
	assert_non_null(strstr(err.msg, "localhost"));

	assert_int_equal(rfs_remote_parse_host("https://r.example", host,
					       sizeof(host), &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "without a scheme"));

	assert_int_equal(
	    rfs_remote_parse_host("r.example/app", host, sizeof(host), &err),
	    -EINVAL);
	assert_non_null(strstr(err.msg, "without a repository"));

	assert_int_equal(
	    rfs_remote_parse_host("r..x", host, sizeof(host), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid registry host 'r..x'"));

	/* Too small a buffer is refused, never truncated. */
	assert_int_equal(rfs_remote_parse_host("r.example", host, 5, NULL),
			 -ENAMETOOLONG);
}

static void test_parse(void **state)
{
	(void)state;
	struct rfs_remote_ref ref;
	struct rfs_error err;

	assert_int_equal(
	    rfs_remote_parse("127.0.0.1:5000/org/app:v1.2", 0, &ref, &err), 0);
	assert_string_equal(ref.host, "127.0.0.1:5000");
	assert_string_equal(ref.repo, "org/app");
	assert_string_equal(ref.tag, "v1.2");

	assert_int_equal(rfs_remote_parse("localhost/app", 0, &ref, &err), 0);
	assert_string_equal(ref.host, "localhost");
	assert_string_equal(ref.repo, "app");
	assert_string_equal(ref.tag, "");

	assert_int_equal(rfs_remote_parse("[::1]:5000/app:latest",
					  RFS_REMOTE_TAG_REQUIRED, &ref, &err),
			 0);
	assert_string_equal(ref.host, "[::1]:5000");
	assert_string_equal(ref.repo, "app");
	assert_string_equal(ref.tag, "latest");

	assert_int_equal(rfs_remote_parse("r.example/app",
					  RFS_REMOTE_TAG_FORBIDDEN, &ref, &err),
			 0);
	assert_string_equal(ref.repo, "app");
}

static void test_parse_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		unsigned int flags;
		const char *msg; /* a part of the message */
	} cases[] = {
		{ "app:v1", 0, "no registry host in 'app:v1'" },
		{ "org/app:v1", 0,
		  "'org' in 'org/app:v1' is not a registry "
		  "host" },
		{ "r..x/app", 0, "invalid registry host 'r..x'" },
		{ "localhost:0/app", 0, "invalid registry host" },
		{ "/app", 0, "invalid registry host ''" },
		{ "r.example/", 0, "no repository in 'r.example/'" },
		{ "r.example/:v1", 0, "no repository" },
		{ "r.example/App:v1", 0, "invalid repository name 'App'" },
		{ "r.example/app/:v1", 0, "invalid repository name 'app/'" },
		{ "r.example/app:", 0, "invalid tag name ''" },
		{ "r.example/app:.v1", 0, "invalid tag name '.v1'" },
		{ "r.example/app", RFS_REMOTE_TAG_REQUIRED,
		  "no tag in 'r.example/app' (want HOST[:PORT]/REPO:TAG)" },
		{ "r.example/app:v1", RFS_REMOTE_TAG_FORBIDDEN,
		  "unexpected tag in 'r.example/app:v1' (want "
		  "HOST[:PORT]/REPO)" },
		{ "r.example/app@sha256:00", 0, "digests are not taken" },
		{ "https://r.example/app:v1", 0, "no scheme" },
	};
	struct rfs_remote_ref ref;
	struct rfs_error err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rfs_error_clear(&err);
		if (rfs_remote_parse(cases[i].text, cases[i].flags, &ref,
				     &err) != -EINVAL)
			fail_msg("'%s' accepted", cases[i].text);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].text,
				 err.msg, cases[i].msg);
		/* Nothing half-parsed is left behind. */
		assert_string_equal(ref.host, "");
		assert_string_equal(ref.repo, "");
	}
	/* A NULL error struct is accepted. */
	assert_int_equal(rfs_remote_parse("app", 0, &ref, NULL), -EINVAL);
}

static void test_parse_limits(void **state)
{
	(void)state;
	char text[RFS_HOST_MAX + RFS_REPO_MAX + RFS_TAG_MAX + 16];
	struct rfs_remote_ref ref;
	size_t n;

	/* The longest repository and tag names fit. */
	n = (size_t)snprintf(text, sizeof(text), "r.example/");
	memset(text + n, 'a', RFS_REPO_MAX);
	n += RFS_REPO_MAX;
	text[n++] = ':';
	memset(text + n, 't', RFS_TAG_MAX);
	n += RFS_TAG_MAX;
	text[n] = '\0';
	assert_int_equal(rfs_remote_parse(text, 0, &ref, NULL), 0);
	assert_int_equal(strlen(ref.repo), RFS_REPO_MAX);
	assert_int_equal(strlen(ref.tag), RFS_TAG_MAX);

	/* One more byte of either is refused. */
	text[n] = 't';
	text[n + 1] = '\0';
	assert_int_equal(rfs_remote_parse(text, 0, &ref, NULL), -EINVAL);
	n = (size_t)snprintf(text, sizeof(text), "r.example/");
	memset(text + n, 'a', RFS_REPO_MAX + 1);
	text[n + RFS_REPO_MAX + 1] = '\0';
	assert_int_equal(rfs_remote_parse(text, 0, &ref, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_remote),
		cmocka_unit_test(test_valid_host),
		cmocka_unit_test(test_parse_host),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
