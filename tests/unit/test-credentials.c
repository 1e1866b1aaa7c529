/*
 * test-credentials.c - unit tests of credentials.h in a private HOME: the
 * default locations, lookups in regfs's and Docker's files and their
 * order, base64 padding, the refusal of files others may read, and the
 * store/erase round trip with its modes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "credentials.h"
#include "tmptree.h"

/* base64 of "alice:s3cret", "bob:hunter2", "carol:pw". */
#define AUTH_ALICE "YWxpY2U6czNjcmV0"
#define AUTH_BOB   "Ym9iOmh1bnRlcjI="
#define AUTH_CAROL "Y2Fyb2w6cHc="

struct fixture {
	char root[64];
	char home[128];
	char regfs_file[192];  /* $HOME/.config/regfs/credentials.json */
	char docker_file[192]; /* $HOME/.docker/config.json */
	struct rfs_credential cred;
	struct rfs_error err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/regfs-test-cred-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->home, sizeof(f->home), "%s/home", f->root);
	snprintf(f->regfs_file, sizeof(f->regfs_file),
		 "%s/.config/regfs/credentials.json", f->home);
	snprintf(f->docker_file, sizeof(f->docker_file),
		 "%s/.docker/config.json", f->home);
	if (mkdir(f->home, 0700) < 0)
		return -1;
	setenv("HOME", f->home, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("REGFS_CREDENTIALS");
	unsetenv("DOCKER_CONFIG");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_credential_release(&f->cred);
	tmptree_remove(f->root);
	free(f);
	return 0;
}

/* Write text to path with mode, creating its folders. */
static void put(const char *path, const char *text, mode_t mode)
{
	char dir[256];
	FILE *fp;

	strcpy(dir, path);
	for (char *s = dir + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(dir, 0700);
			*s = '/';
		}
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Look host up and expect user/password, or rc when user is NULL. */
static void expect(struct fixture *f, const char *host, const char *source,
		   const char *user, const char *password, int rc)
{
	int got;

	rfs_credential_release(&f->cred);
	rfs_error_clear(&f->err);
	got = rfs_credentials_lookup(host, source, &f->cred, &f->err);
	if (!user) {
		if (got != rc)
			fail_msg("'%s' in '%s': rc %d (%s), want %d", host,
				 source, got, f->err.msg, rc);
		assert_null(f->cred.username);
		assert_null(f->cred.password);
		return;
	}
	if (got != 0)
		fail_msg("'%s' in '%s': rc %d (%s)", host, source, got,
			 f->err.msg);
	assert_string_equal(f->cred.username, user);
	assert_string_equal(f->cred.password, password);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_default_path(void **state)
{
	struct fixture *f = *state;
	char buf[256];

	assert_int_equal(rfs_credentials_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, f->regfs_file);

	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	assert_int_equal(rfs_credentials_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/xdg/regfs/credentials.json");
	/* A relative XDG_CONFIG_HOME is ignored, as the spec says. */
	setenv("XDG_CONFIG_HOME", "xdg", 1);
	assert_int_equal(rfs_credentials_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, f->regfs_file);

	setenv("REGFS_CREDENTIALS", "/etc/regfs/creds.json", 1);
	assert_int_equal(rfs_credentials_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/etc/regfs/creds.json");
	setenv("REGFS_CREDENTIALS", "", 1);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	assert_int_equal(rfs_credentials_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/xdg/regfs/credentials.json");

	assert_int_equal(rfs_credentials_default_path(buf, 10), -ENAMETOOLONG);
}

static void test_regfs_file(void **state)
{
	struct fixture *f = *state;

	expect(f, "reg.example:5000", "auto", NULL, NULL, -ENOENT);
	put(f->regfs_file,
	    "{\"auths\": {\"reg.example:5000\": {\"auth\": \"" AUTH_ALICE
	    "\"}, \"other.example\": {\"auth\": \"" AUTH_BOB "\"}}}",
	    0600);
	expect(f, "reg.example:5000", "auto", "alice", "s3cret", 0);
	expect(f, "REG.example:5000", "auto", "alice", "s3cret", 0);
	expect(f, "other.example", "auto", "bob", "hunter2", 0);
	expect(f, "reg.example", "auto", NULL, NULL, -ENOENT);
	expect(f, "reg.example:5001", "auto", NULL, NULL, -ENOENT);
	expect(f, "reg.example:5000", "none", NULL, NULL, -ENOENT);
	/* The same file named as the source. */
	expect(f, "other.example", f->regfs_file, "bob", "hunter2", 0);
	expect(f, "nowhere", "/nonexistent/creds.json", NULL, NULL, -ENOENT);
	assert_string_equal(f->err.msg,
			    "credentials file '/nonexistent/creds.json' not "
			    "found");

	setenv("REGFS_CREDENTIALS", f->docker_file, 1);
	expect(f, "reg.example:5000", "auto", NULL, NULL, -ENOENT);
}

static void test_docker_file(void **state)
{
	struct fixture *f = *state;
	char dir[160];

	put(f->docker_file,
	    "{\"auths\": {"
	    "\"https://index.docker.io/v1/\": {\"auth\": \"" AUTH_ALICE "\"},"
	    "\"https://ghcr.io\": {\"username\": \"bob\", "
	    "\"password\": \"hunter2\"},"
	    "\"http://127.0.0.1:5000\": {\"auth\": \"" AUTH_CAROL "\"},"
	    "\"quay.io\": {\"identitytoken\": \"tok-123\"},"
	    "\"azurecr.example\": {\"auth\": \"" AUTH_BOB "\", "
	    "\"identitytoken\": \"refresh-456\"},"
	    "\"helper.example\": {}"
	    "},"
	    "\"credsStore\": \"desktop\","
	    "\"credHelpers\": {\"helper.example\": \"ecr-login\"}}",
	    0644); /* Docker's file is not policed */
	expect(f, "registry-1.docker.io", "auto", "alice", "s3cret", 0);
	expect(f, "docker.io", "auto", "alice", "s3cret", 0);
	expect(f, "index.docker.io", "auto", "alice", "s3cret", 0);
	expect(f, "ghcr.io", "auto", "bob", "hunter2", 0);
	expect(f, "127.0.0.1:5000", "auto", "carol", "pw", 0);
	expect(f, "quay.io", "auto", "<token>", "tok-123", 0);
	expect(f, "azurecr.example", "auto", "bob", "refresh-456", 0);
	/* An empty entry (a credential helper's) is no credential: no helper
	 * binary is ever run. */
	expect(f, "helper.example", "auto", NULL, NULL, -ENOENT);
	expect(f, "gcr.io", "auto", NULL, NULL, -ENOENT);

	/* $DOCKER_CONFIG moves it. */
	snprintf(dir, sizeof(dir), "%s/dockercfg", f->root);
	setenv("DOCKER_CONFIG", dir, 1);
	expect(f, "ghcr.io", "auto", NULL, NULL, -ENOENT);
	snprintf(dir, sizeof(dir), "%s/dockercfg/config.json", f->root);
	put(dir, "{\"auths\": {\"ghcr.io\": {\"auth\": \"" AUTH_CAROL "\"}}}",
	    0600);
	expect(f, "ghcr.io", "auto", "carol", "pw", 0);
	/* A Docker-format file named as the source; it must be private. */
	expect(f, "ghcr.io", dir, "carol", "pw", 0);
	expect(f, "ghcr.io", f->docker_file, NULL, NULL, -EPERM);
	/* A file without "auths" holds no credentials. */
	put(dir, "{\"credsStore\": \"desktop\"}", 0600);
	expect(f, "ghcr.io", "auto", NULL, NULL, -ENOENT);
}

static void test_precedence(void **state)
{
	struct fixture *f = *state;

	put(f->docker_file,
	    "{\"auths\": {\"a.example\": {\"auth\": \"" AUTH_BOB "\"},"
	    "\"b.example\": {\"auth\": \"" AUTH_BOB "\"},"
	    "\"c.example\": {\"auth\": \"" AUTH_BOB "\"}}}",
	    0600);
	put(f->regfs_file,
	    "{\"auths\": {\"a.example\": {\"auth\": \"" AUTH_ALICE "\"},"
	    "\"c.example\": {}}}",
	    0600);
	/* regfs's file first, Docker's when it has nothing usable. */
	expect(f, "a.example", "auto", "alice", "s3cret", 0);
	expect(f, "b.example", "auto", "bob", "hunter2", 0);
	expect(f, "c.example", "auto", "bob", "hunter2", 0);

	/* In one file: the exact key, then https://, then other forms,
	 * whatever their order in the file. */
	put(f->regfs_file,
	    "{\"auths\": {"
	    "\"http://d.example\": {\"auth\": \"" AUTH_CAROL "\"},"
	    "\"https://d.example/v1/\": {\"auth\": \"" AUTH_CAROL "\"},"
	    "\"https://d.example\": {\"auth\": \"" AUTH_BOB "\"},"
	    "\"d.example\": {\"auth\": \"" AUTH_ALICE "\"},"
	    "\"http://e.example\": {\"auth\": \"" AUTH_CAROL "\"},"
	    "\"https://e.example\": {\"auth\": \"" AUTH_BOB "\"},"
	    "\"https://f.example:8443/v2/\": {\"auth\": \"" AUTH_CAROL "\"}"
	    "}}",
	    0600);
	expect(f, "d.example", "auto", "alice", "s3cret", 0);
	expect(f, "e.example", "auto", "bob", "hunter2", 0);
	expect(f, "f.example:8443", "auto", "carol", "pw", 0);
	expect(f, "f.example", "auto", NULL, NULL, -ENOENT);
}

static void test_permissions(void **state)
{
	struct fixture *f = *state;
	char other[160];

	put(f->docker_file,
	    "{\"auths\": {\"a.example\": {\"auth\": \"" AUTH_BOB "\"}}}", 0600);
	put(f->regfs_file,
	    "{\"auths\": {\"a.example\": {\"auth\": \"" AUTH_ALICE "\"}}}",
	    0644);
	/* Refused, loudly, and not silently replaced by Docker's. */
	expect(f, "a.example", "auto", NULL, NULL, -EPERM);
	assert_non_null(strstr(f->err.msg, f->regfs_file));
	assert_non_null(strstr(f->err.msg, "0644"));
	assert_non_null(strstr(f->err.msg, "chmod 600"));
	chmod(f->regfs_file, 0640);
	expect(f, "a.example", "auto", NULL, NULL, -EPERM);
	chmod(f->regfs_file, 0604);
	expect(f, "a.example", "auto", NULL, NULL, -EPERM);
	chmod(f->regfs_file, 0400);
	expect(f, "a.example", "auto", "alice", "s3cret", 0);

	snprintf(other, sizeof(other), "%s/creds.json", f->root);
	put(other, "{\"auths\": {\"a.example\": {\"auth\": \"" AUTH_BOB "\"}}}",
	    0660);
	expect(f, "a.example", other, NULL, NULL, -EPERM);
	chmod(other, 0600);
	expect(f, "a.example", other, "bob", "hunter2", 0);

	/* A folder is not a credentials file. */
	expect(f, "a.example", f->root, NULL, NULL, -EINVAL);
}

static void test_bad_files(void **state)
{
	struct fixture *f = *state;

	put(f->regfs_file,
	    "{\"auths\": {\"a.example\": {\"auth\": \"c2VjcmV0\"}}, "
	    "topsecret-word",
	    0600);
	expect(f, "a.example", "auto", NULL, NULL, -EINVAL);
	assert_non_null(strstr(f->err.msg, "not valid JSON"));
	assert_null(strstr(f->err.msg, "topsecret"));

	put(f->regfs_file, "[1, 2]", 0600);
	expect(f, "a.example", "auto", NULL, NULL, -EINVAL);
	put(f->regfs_file, "{\"auths\": [1]}", 0600);
	expect(f, "a.example", "auto", NULL, NULL, -EINVAL);
	assert_non_null(strstr(f->err.msg, "'auths' in '"));
	assert_non_null(strstr(f->err.msg, "' is not an object"));
}

static void test_bad_entries(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"{\"auth\": \"not base64!\"}",
		"{\"auth\": \"YWJj\"}",	    /* "abc": no ':' */
		"{\"auth\": \"Y\"}",	    /* one character */
		"{\"auth\": \"YQ==YQ==\"}", /* padding inside */
		"{\"auth\": \"YTpiAGM=\"}", /* "a:b\0c" */
		"\"a string\"",
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"auths\": {\"a.example\": %s}}",
			 bad[i]);
		put(f->regfs_file, text, 0600);
		expect(f, "a.example", "auto", NULL, NULL, -EINVAL);
		assert_non_null(strstr(f->err.msg, "malformed entry"));
	}
	/* "username" without "password" is nothing usable. */
	put(f->regfs_file,
	    "{\"auths\": {\"a.example\": {\"username\": \"u\"}}}", 0600);
	expect(f, "a.example", "auto", NULL, NULL, -ENOENT);
}

static void test_base64_padding(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *auth;
		const char *user;
		const char *password;
	} cases[] = {
		{ "dTpw", "u", "p" },	    /* no padding */
		{ "dTpwdw==", "u", "pw" },  /* two '=' */
		{ "dTpwd3g=", "u", "pwx" }, /* one '=' */
		{ "dTpwdw", "u", "pw" },    /* '=' left out */
		{ "dTpwd3g", "u", "pwx" },
		{ "dTo=", "u", "" },		  /* empty password */
		{ "dTpwOng6eQ==", "u", "p:x:y" }, /* ':' in password */
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"auths\": {\"a.example\": {\"auth\": \"%s\"}}}",
			 cases[i].auth);
		put(f->regfs_file, text, 0600);
		expect(f, "a.example", "auto", cases[i].user, cases[i].password,
		       0);
	}
}

static void test_store_erase(void **state)
{
	struct fixture *f = *state;
	char dir[192];
	DIR *d;
	struct dirent *e;
	int n = 0;

	assert_int_equal(rfs_credentials_erase("a.example", &f->err), -ENOENT);

	/* The folders are created 0700, the file 0600. */
	assert_int_equal(
	    rfs_credentials_store("a.example", "alice", "s3:cret", &f->err), 0);
	assert_int_equal(mode_of(f->regfs_file), 0600);
	snprintf(dir, sizeof(dir), "%s/.config/regfs", f->home);
	assert_int_equal(mode_of(dir), 0700);
	expect(f, "a.example", "auto", "alice", "s3:cret", 0);

	assert_int_equal(
	    rfs_credentials_store("b.example:5000", "bob", "hunter2", &f->err),
	    0);
	assert_int_equal(
	    rfs_credentials_store("a.example", "alice2", "", &f->err), 0);
	expect(f, "a.example", "auto", "alice2", "", 0);
	expect(f, "b.example:5000", "auto", "bob", "hunter2", 0);

	assert_int_equal(rfs_credentials_erase("a.example", &f->err), 0);
	expect(f, "a.example", "auto", NULL, NULL, -ENOENT);
	expect(f, "b.example:5000", "auto", "bob", "hunter2", 0);
	assert_int_equal(rfs_credentials_erase("a.example", &f->err), -ENOENT);
	assert_string_equal(f->err.msg, "no credentials for 'a.example'");
	assert_int_equal(mode_of(f->regfs_file), 0600);

	/* No temporary file is left behind. */
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	assert_int_equal(n, 1);

	/* Refused: a ':' in the username, an empty one, a bad host. */
	assert_int_equal(
	    rfs_credentials_store("a.example", "a:b", "p", &f->err), -EINVAL);
	assert_int_equal(rfs_credentials_store("a.example", "", "p", &f->err),
			 -EINVAL);
	assert_int_equal(rfs_credentials_store("a example", "u", "p", &f->err),
			 -EINVAL);
	assert_int_equal(rfs_credentials_store("", "u", "p", &f->err), -EINVAL);
}

static void test_store_keeps_the_rest(void **state)
{
	struct fixture *f = *state;

	/* Other keys and entries in other forms survive a store; a file
	 * open to others is rewritten 0600. */
	put(f->regfs_file,
	    "{\"auths\": {\"https://a.example\": {\"auth\": \"" AUTH_BOB "\"},"
	    "\"c.example\": {\"auth\": \"" AUTH_CAROL "\"}},"
	    "\"note\": \"kept\"}",
	    0644);
	assert_int_equal(
	    rfs_credentials_store("b.example", "alice", "s3cret", &f->err), 0);
	assert_int_equal(mode_of(f->regfs_file), 0600);
	expect(f, "a.example", "auto", "bob", "hunter2", 0);
	expect(f, "b.example", "auto", "alice", "s3cret", 0);
	expect(f, "c.example", "auto", "carol", "pw", 0);
	expect(f, "a.example", f->regfs_file, "bob", "hunter2", 0);

	/* Erase removes the host in every form lookup would match. */
	assert_int_equal(rfs_credentials_erase("a.example", &f->err), 0);
	expect(f, "a.example", "auto", NULL, NULL, -ENOENT);
	expect(f, "c.example", "auto", "carol", "pw", 0);

	/* $REGFS_CREDENTIALS is where store writes, folders and all. */
	{
		char path[192];

		snprintf(path, sizeof(path), "%s/x/y/creds.json", f->root);
		setenv("REGFS_CREDENTIALS", path, 1);
		assert_int_equal(
		    rfs_credentials_store("d.example", "dan", "pw", &f->err),
		    0);
		assert_int_equal(mode_of(path), 0600);
		expect(f, "d.example", "auto", "dan", "pw", 0);
		expect(f, "d.example", path, "dan", "pw", 0);
	}
}

static void test_release(void **state)
{
	struct rfs_credential c = { strdup("u"), strdup("p") };

	(void)state;
	rfs_credential_release(&c);
	assert_null(c.username);
	assert_null(c.password);
	rfs_credential_release(&c);
	rfs_credential_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_regfs_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_docker_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_permissions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_entries, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_base64_padding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_erase, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store_keeps_the_rest,
						setup, teardown),
		cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
