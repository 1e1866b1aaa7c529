/*
 * test-config.c - unit tests of config.h: regfs.conf(5) files with every
 * key, every error with its file and line, -o upstream=URL, the checks of
 * the whole, and the size and duration syntaxes with their edge cases;
 * the seal hook's keys and their check when applied to a store.
 */
#include <errno.h>
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

#include "config.h"
#include "store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct rfs_config cfg;
	struct rfs_error err;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/regfs-test-config-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/regfs.conf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_config_release(&f->cfg);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_conf(struct fixture *f, const char *text, size_t len)
{
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Load text as the whole config file. */
static int load(struct fixture *f, const char *text)
{
	write_conf(f, text, strlen(text));
	rfs_error_clear(&f->err);
	return rfs_config_load(&f->cfg, f->path, &f->err);
}

/* Expect loading text to fail with "PATH:line: msg". */
static void expect_error(struct fixture *f, const char *text, unsigned int line,
			 const char *msg)
{
	char want[RFS_ERROR_MSG_MAX];
	int rc = load(f, text);

	snprintf(want, sizeof(want), "%s:%u: %s", f->path, line, msg);
	if (rc != -EINVAL || strcmp(f->err.msg, want) != 0)
		fail_msg("for:\n%s\nwant %d '%s'\ngot  %d '%s'", text, -EINVAL,
			 want, rc, f->err.msg);
	assert_int_equal(f->err.code, -EINVAL);
	/* All or nothing: a failed load leaves the config as it was. */
	assert_int_equal(f->cfg.n_upstreams, 0);
	assert_null(f->cfg.upstreams);
	assert_int_equal(f->cfg.cache_max, 0);
}

static void test_minimal_defaults(void **state)
{
	struct fixture *f = *state;
	const struct rfs_upstream_config *u;

	assert_int_equal(load(f, "[upstream hub]\nurl = https://r.example\n"),
			 0);
	assert_int_equal(f->cfg.n_upstreams, 1);
	u = &f->cfg.upstreams[0];
	assert_string_equal(u->name, "hub");
	assert_string_equal(u->url, "https://r.example");
	assert_string_equal(u->prefix, "");
	assert_string_equal(u->remote_root, "");
	assert_string_equal(u->credentials, "auto");
	assert_null(u->ca_file);
	assert_false(u->plain_http);
	assert_true(u->tls_verify);
	assert_int_equal(u->connect_timeout_ms, 5000);
	assert_int_equal(u->total_timeout_ms, 20000);
	assert_int_equal(u->retries, 4);
	assert_int_equal(u->backoff_ms, 250);
	assert_int_equal(u->backoff_max_ms, 4000);
	assert_int_equal(u->min_rate, 16 << 10);
	assert_int_equal(u->tag_ttl_s, -1);
	assert_int_equal(u->list_ttl_s, 60);
	assert_int_equal(u->max_blob_size, 64ULL << 30);
	assert_int_equal(u->list_max, 100000);
	assert_int_equal(f->cfg.cache_max, 0);
	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), 0);
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;
	const struct rfs_upstream_config *u;
	static const char text[] =
	    "# regfs.conf\n"
	    "; another comment\n"
	    "\n"
	    "   # an indented comment\n"
	    "cache_max = 10G\n"
	    "\n"
	    "[upstream local]\n"
	    "url = http://127.0.0.1:5000\n"
	    "plain_http = yes\n"
	    "\n"
	    "  [ upstream   hub.io-2_x ]  \n"
	    "\turl\t=\thttps://registry-1.docker.io:443/\t\n"
	    "prefix = hub/\n"
	    "remote_root = \"library/\"\n"
	    "credentials = /etc/regfs/hub.json\n"
	    "ca_file = \"/etc/ssl/my ca.pem\"\n"
	    "plain_http = false\n"
	    "tls_verify = no\n"
	    "plain_realm_credentials = yes\n"
	    "connect_timeout = 1500ms\n"
	    "timeout = 2m\n"
	    "retries = 7\n"
	    "backoff = 100ms\n"
	    "backoff_max = 10s\n"
	    "min_rate = 2M\n"
	    "tag_ttl = 1h\n"
	    "list_ttl = 1500ms\n"
	    "max_blob_size = 200G\n"
	    "list_max = 500000\n";

	assert_int_equal(load(f, text), 0);
	assert_int_equal(f->cfg.cache_max, 10ULL << 30);
	assert_int_equal(f->cfg.n_upstreams, 2);
	u = &f->cfg.upstreams[0];
	assert_string_equal(u->name, "local");
	assert_string_equal(u->url, "http://127.0.0.1:5000");
	assert_true(u->plain_http);
	assert_true(u->tls_verify);
	assert_false(u->plain_realm_credentials);
	u = &f->cfg.upstreams[1];
	assert_string_equal(u->name, "hub.io-2_x");
	assert_string_equal(u->url, "https://registry-1.docker.io:443/");
	assert_string_equal(u->prefix, "hub/");
	assert_string_equal(u->remote_root, "library/");
	assert_string_equal(u->credentials, "/etc/regfs/hub.json");
	assert_string_equal(u->ca_file, "/etc/ssl/my ca.pem");
	assert_false(u->plain_http);
	assert_false(u->tls_verify);
	assert_true(u->plain_realm_credentials);
	assert_int_equal(u->connect_timeout_ms, 1500);
	assert_int_equal(u->total_timeout_ms, 120000);
	assert_int_equal(u->retries, 7);
	assert_int_equal(u->backoff_ms, 100);
	assert_int_equal(u->backoff_max_ms, 10000);
	assert_int_equal(u->min_rate, 2 << 20);
	assert_int_equal(u->tag_ttl_s, 3600);
	assert_int_equal(u->list_ttl_s, 2); /* rounded up */
	assert_int_equal(u->max_blob_size, 200ULL << 30);
	assert_int_equal(u->list_max, 500000);
	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), 0);
}

static void test_values(void **state)
{
	struct fixture *f = *state;
	const struct rfs_upstream_config *u;

	/* CRLF line ends, empty quoted prefix, '#' inside a value, every
	 * boolean spelling, "never", no final newline. */
	assert_int_equal(load(f, "[upstream a]\r\n"
				 "url = https://a.example\r\n"
				 "prefix = \"\"\r\n"
				 "credentials = /x/a#b.json\r\n"
				 "plain_http = 1\r\n"
				 "tls_verify = True\r\n"
				 "tag_ttl = never\r\n"
				 "list_ttl = 0\r\n"
				 "retries = 0\r\n"
				 "backoff = 0\r\n"
				 "min_rate = 0\r\n"
				 "backoff_max = 0"),
			 0);
	u = &f->cfg.upstreams[0];
	assert_string_equal(u->prefix, "");
	assert_string_equal(u->credentials, "/x/a#b.json");
	assert_true(u->plain_http);
	assert_true(u->tls_verify);
	assert_int_equal(u->tag_ttl_s, -1);
	assert_int_equal(u->list_ttl_s, 0);
	assert_int_equal(u->retries, 0);
	assert_int_equal(u->backoff_ms, 0);
	assert_int_equal(u->backoff_max_ms, 0);
	assert_int_equal(u->min_rate, 0);
	rfs_config_release(&f->cfg);

	assert_int_equal(load(f, "[upstream b]\n"
				 "url = https://b.example\n"
				 "plain_http = 0\n"
				 "tls_verify = off\n"
				 "credentials = none\n"
				 "tag_ttl = 90\n"
				 "retries = 100\n"),
			 0);
	u = &f->cfg.upstreams[0];
	assert_false(u->plain_http);
	assert_false(u->tls_verify);
	assert_string_equal(u->credentials, "none");
	assert_int_equal(u->tag_ttl_s, 90);
	assert_int_equal(u->retries, 100);
}

static void test_empty_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, ""), 0);
	assert_int_equal(f->cfg.n_upstreams, 0);
	assert_int_equal(load(f, "# nothing\n\ncache_max = 512\n"), 0);
	assert_int_equal(f->cfg.n_upstreams, 0);
	assert_int_equal(f->cfg.cache_max, 512);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    rfs_config_load(&f->cfg, "/nonexistent/regfs.conf", &f->err),
	    -ENOENT);
	assert_non_null(strstr(f->err.msg, "'/nonexistent/regfs.conf'"));
}

#define U "[upstream a]\nurl = https://a.example\n"

static void test_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, U "colour = blue\n", 3, "unknown key 'colour'");
	expect_error(f, "colour = blue\n", 1, "unknown global key 'colour'");
	expect_error(f, "# c\nurl = https://a.example\n", 2,
		     "'url' outside an [upstream NAME] section");
	expect_error(f, U "cache_max = 1G\n", 3,
		     "'cache_max' is global: put it before the first section");
	expect_error(f, "cache_max = 1G\ncache_max = 2G\n", 2,
		     "duplicate key 'cache_max'");
	expect_error(f, U "\n[upstream a]\nurl = https://b.example\n", 4,
		     "duplicate upstream 'a'");
	expect_error(f, U "prefix = a/\nprefix = b/\n", 4,
		     "duplicate key 'prefix'");
	expect_error(f, U "url = https://b.example\n", 3,
		     "duplicate key 'url'");
	expect_error(f, "\n[upstream a]\nprefix = x/\n", 2,
		     "upstream 'a' has no 'url'");
	expect_error(f, "[upstream a]\n[upstream b]\nurl = https://b\n", 1,
		     "upstream 'a' has no 'url'");
	expect_error(f, "[upstream a]\n\nurl = http://a.example\n", 3,
		     "'url' is plain http but 'plain_http' is not set");
	expect_error(f,
		     "[upstream a]\nurl = http://a.example\n"
		     "plain_http = false\n[upstream b]\nurl = https://b\n",
		     2, "'url' is plain http but 'plain_http' is not set");
	expect_error(f, U "url\n", 3, "expected 'key = value'");
	expect_error(f, U "= x\n", 3, "expected 'key = value'");
	expect_error(f, U "url : x\n", 3, "expected 'key = value'");
	expect_error(f, U "prefix = \"hub/\n", 3,
		     "unterminated quote in 'prefix'");
	expect_error(f, U "prefix = \"\n", 3, "unterminated quote in 'prefix'");
	expect_error(f, "[upstream]\n", 1,
		     "unknown section '[upstream]' (expected '[upstream "
		     "NAME]')");
	expect_error(f, "[mirror x]\n", 1,
		     "unknown section '[mirror x]' (expected '[upstream "
		     "NAME]')");
	expect_error(f, "[upstreamx y]\n", 1,
		     "unknown section '[upstreamx y]' (expected '[upstream "
		     "NAME]')");
	expect_error(f, "[upstream a b]\n", 1,
		     "invalid upstream name 'a b' (letters, digits, '_', '.', "
		     "'-')");
	expect_error(f, "[upstream a/b]\n", 1,
		     "invalid upstream name 'a/b' (letters, digits, '_', '.', "
		     "'-')");
	expect_error(f, "[upstream a\n", 1, "section header without ']'");
	expect_error(f, "[upstream a] # c\n", 1, "text after section header");
	expect_error(f, U "plain_http = maybe\n", 3,
		     "'plain_http' must be true or false: 'maybe'");
	expect_error(f, U "tls_verify = yep\n", 3,
		     "'tls_verify' must be true or false: 'yep'");
	expect_error(f, U "timeout = 0\n", 3, "'timeout' must be more than 0");
	expect_error(f, U "connect_timeout = 0s\n", 3,
		     "'connect_timeout' must be more than 0");
	expect_error(f, U "timeout = never\n", 3,
		     "'timeout' is not a duration (like 500ms, 20s, 5m): "
		     "'never'");
	expect_error(f, U "backoff = 1.5s\n", 3,
		     "'backoff' is not a duration (like 500ms, 20s, 5m): "
		     "'1.5s'");
	expect_error(f, U "backoff_max = 50d\n", 3,
		     "'backoff_max' is out of range: '50d'");
	expect_error(f, U "backoff = 2s\nbackoff_max = 1s\n", 1,
		     "upstream 'a': 'backoff_max' is less than 'backoff'");
	expect_error(f, U "min_rate = fast\n", 3,
		     "'min_rate' must be bytes per second, with an optional K, "
		     "M or G: 'fast'");
	expect_error(f, U "min_rate = 16K/s\n", 3,
		     "'min_rate' must be bytes per second, with an optional K, "
		     "M or G: '16K/s'");
	expect_error(f, U "retries = 101\n", 3,
		     "'retries' must be a number from 0 to 100: '101'");
	expect_error(f, U "retries = -1\n", 3,
		     "'retries' must be a number from 0 to 100: '-1'");
	expect_error(f, U "retries = 3x\n", 3,
		     "'retries' must be a number from 0 to 100: '3x'");
	expect_error(f, U "tag_ttl = soon\n", 3,
		     "'tag_ttl' is not a duration (like 30s, 5m, 1h, never): "
		     "'soon'");
	expect_error(f, U "tag_ttl = 99999999999999999999\n", 3,
		     "'tag_ttl' is out of range: '99999999999999999999'");
	/* Fits int64_t milliseconds, but not the nanoseconds pull.c makes
	 * of it (it overflowed; found by fuzz-config). */
	expect_error(f, U "tag_ttl = 10000000000s\n", 3,
		     "'tag_ttl' is out of range: '10000000000s'");
	expect_error(f, U "list_ttl = 36501d\n", 3,
		     "'list_ttl' is out of range: '36501d'");
	expect_error(f, U "list_ttl = never\n", 3,
		     "'list_ttl' cannot be 'never'");
	expect_error(f, U "max_blob_size = 0\n", 3,
		     "'max_blob_size' must be a size above 0 (like 512M, "
		     "20G): '0'");
	expect_error(f, U "max_blob_size = big\n", 3,
		     "'max_blob_size' must be a size above 0 (like 512M, "
		     "20G): 'big'");
	expect_error(f, U "list_max = 0\n", 3,
		     "'list_max' must be a number from 1 to 100000000: '0'");
	expect_error(f, U "list_max = 1e6\n", 3,
		     "'list_max' must be a number from 1 to 100000000: '1e6'");
	expect_error(f, U "prefix = hub\n", 3,
		     "'prefix' must be empty or a repository name followed "
		     "by '/': 'hub'");
	expect_error(f, U "prefix = Hub/\n", 3,
		     "'prefix' must be empty or a repository name followed "
		     "by '/': 'Hub/'");
	expect_error(f, U "prefix = /\n", 3,
		     "'prefix' must be empty or a repository name followed "
		     "by '/': '/'");
	expect_error(f, U "prefix = a//\n", 3,
		     "'prefix' must be empty or a repository name followed "
		     "by '/': 'a//'");
	expect_error(f, U "remote_root = ../\n", 3,
		     "'remote_root' must be empty or a repository name "
		     "followed by '/': '../'");
	expect_error(f, U "credentials = creds.json\n", 3,
		     "'credentials' must be 'auto', 'none' or an absolute "
		     "path: 'creds.json'");
	expect_error(f, U "credentials =\n", 3,
		     "'credentials' must be 'auto', 'none' or an absolute "
		     "path: ''");
	expect_error(f, U "ca_file = ca.pem\n", 3,
		     "'ca_file' must be an absolute path: 'ca.pem'");
	expect_error(f, "cache_max = lots\n", 1,
		     "'cache_max' is not a size (like 512M, 10G): 'lots'");
	expect_error(f, "cache_max = 16777216T\n", 1,
		     "'cache_max' is out of range: '16777216T'");
	expect_error(f, U "prefix = a/\tb/\n", 3,
		     "'prefix' must be empty or a repository name followed "
		     "by '/': 'a/\tb/'");
	expect_error(f, U "prefix = a/\x01\n", 3, "control character in line");
}

static void test_url_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *url;
		const char *msg;
	} bad[] = {
		{ "", "'url' is not a valid URL" },
		{ "a.example", "'url' is not a valid URL" },
		{ "ftp://a.example", "'url' scheme must be https or http" },
		{ "file:///etc/passwd", "'url' scheme must be https or http" },
		{ "https://", "'url' is not a valid URL" },
		{ "https://a.example:99999", "'url' is not a valid URL" },
		{ "https://a example", "'url' is not a valid URL" },
		{ "https://u:p@a.example",
		  "'url' must not hold credentials (use 'credentials')" },
		{ "https://a.example/v2/", "'url' must not have a path" },
		{ "https://a.example/?x=1",
		  "'url' must not have a query or fragment" },
		{ "https://a.example#x",
		  "'url' must not have a query or fragment" },
	};
	char text[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[upstream a]\n#\nurl = %s\n",
			 bad[i].url);
		expect_error(f, text, 3, bad[i].msg);
	}
	/* The URL with a password is never echoed. */
	load(f, "[upstream a]\nurl = https://user:hunter2@a.example\n");
	assert_null(strstr(f->err.msg, "hunter2"));
}

static void test_long_lines(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(8192);
	size_t n;

	assert_non_null(text);
	/* Exactly 4096 characters is fine, newline or not. */
	memset(text, '#', 4096);
	strcpy(text + 4096, "\n");
	assert_int_equal(load(f, text), 0);
	text[4096] = '\0';
	assert_int_equal(load(f, text), 0);
	/* 4096 then CRLF is fine too. */
	strcpy(text + 4096, "\r\n");
	assert_int_equal(load(f, text), 0);
	/* 4097 is not, on whichever line it is. */
	n = (size_t)sprintf(text, "# ok\n[upstream a]\nurl = https://a\n");
	memset(text + n, '#', 4097);
	strcpy(text + n + 4097, "\n");
	expect_error(f, text, 4, "line longer than 4096 characters");
	/* 4097 then CRLF is not either. */
	strcpy(text + n + 4097, "\r\n");
	expect_error(f, text, 4, "line longer than 4096 characters");
	free(text);

	/* A huge line without a newline is refused without reading it all. */
	text = malloc(1 << 20);
	assert_non_null(text);
	n = (size_t)sprintf(text, "#\n#\n");
	memset(text + n, 'x', (1 << 20) - n - 1);
	text[(1 << 20) - 1] = '\0';
	expect_error(f, text, 3, "line longer than 4096 characters");
	free(text);
}

static void test_nul_byte(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "[upstream a]\nurl = https://a\0x\n";

	write_conf(f, text, sizeof(text) - 1);
	assert_int_equal(rfs_config_load(&f->cfg, f->path, &f->err), -EINVAL);
	assert_non_null(strstr(f->err.msg, ":2: NUL byte in line"));
}

static void test_load_appends(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rfs_config_add_upstream_url(
			     &f->cfg, "http://127.0.0.1:5000", &f->err),
			 0);
	assert_int_equal(load(f, "[upstream hub]\nurl = https://h\n"
				 "prefix = hub/\n"),
			 0);
	assert_int_equal(f->cfg.n_upstreams, 2);
	assert_string_equal(f->cfg.upstreams[0].name, "default");
	assert_string_equal(f->cfg.upstreams[1].name, "hub");
	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), 0);
	/* A section named like one already loaded is a duplicate. */
	assert_int_equal(load(f, "#\n[upstream default]\nurl = https://x\n"),
			 -EINVAL);
	assert_non_null(strstr(f->err.msg, ":2: duplicate upstream 'default'"));
	assert_int_equal(f->cfg.n_upstreams, 2);
	/* So is a second -o upstream=. */
	assert_int_equal(
	    rfs_config_add_upstream_url(&f->cfg, "https://b", &f->err),
	    -EINVAL);
	assert_string_equal(f->err.msg,
			    "upstream 'default' is already defined");
}

static void test_add_upstream_url(void **state)
{
	struct fixture *f = *state;
	const struct rfs_upstream_config *u;

	assert_int_equal(rfs_config_add_upstream_url(
			     &f->cfg, "http://127.0.0.1:5000/", &f->err),
			 0);
	u = &f->cfg.upstreams[0];
	assert_string_equal(u->name, "default");
	assert_string_equal(u->url, "http://127.0.0.1:5000/");
	assert_string_equal(u->prefix, "");
	assert_string_equal(u->remote_root, "");
	assert_string_equal(u->credentials, "auto");
	assert_true(u->plain_http);
	assert_true(u->tls_verify);
	assert_int_equal(u->total_timeout_ms, 20000);
	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), 0);
	rfs_config_release(&f->cfg);

	assert_int_equal(
	    rfs_config_add_upstream_url(&f->cfg, "https://ghcr.io", &f->err),
	    0);
	assert_false(f->cfg.upstreams[0].plain_http);
	rfs_config_release(&f->cfg);

	assert_int_equal(
	    rfs_config_add_upstream_url(&f->cfg, "ghcr.io", &f->err), -EINVAL);
	assert_string_equal(f->err.msg, "upstream: 'url' is not a valid URL");
	assert_int_equal(
	    rfs_config_add_upstream_url(&f->cfg, "ftp://ghcr.io", &f->err),
	    -EINVAL);
	assert_int_equal(rfs_config_add_upstream_url(
			     &f->cfg, "https://a:secret@ghcr.io", &f->err),
			 -EINVAL);
	assert_null(strstr(f->err.msg, "secret"));
	assert_int_equal(f->cfg.n_upstreams, 0);
}

/* An upstream built by hand, as a caller other than the parser might. */
static void add_raw(struct rfs_config *cfg, const char *name, const char *url,
		    const char *prefix, bool plain_http)
{
	struct rfs_upstream_config *u;

	cfg->upstreams =
	    realloc(cfg->upstreams, (cfg->n_upstreams + 1) * sizeof(*u));
	assert_non_null(cfg->upstreams);
	u = &cfg->upstreams[cfg->n_upstreams++];
	memset(u, 0, sizeof(*u));
	rfs_upstream_config_defaults(u);
	free(u->name);
	free(u->url);
	free(u->prefix);
	u->name = strdup(name);
	u->url = strdup(url);
	u->prefix = strdup(prefix);
	u->plain_http = plain_http;
}

static void expect_invalid(struct fixture *f, const char *msg)
{
	rfs_error_clear(&f->err);
	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), -EINVAL);
	assert_string_equal(f->err.msg, msg);
	rfs_config_release(&f->cfg);
}

static void test_validate(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), 0);

	add_raw(&f->cfg, "a", "https://a", "", false);
	add_raw(&f->cfg, "b", "https://b", "hub/", false);
	add_raw(&f->cfg, "c", "http://c:5000", "org/team/", true);
	assert_int_equal(rfs_config_validate(&f->cfg, &f->err), 0);
	rfs_config_release(&f->cfg);

	add_raw(&f->cfg, "a", "https://a", "hub/", false);
	add_raw(&f->cfg, "b", "https://b", "hub/", false);
	expect_invalid(f, "upstreams 'a' and 'b' both serve prefix 'hub/'");

	add_raw(&f->cfg, "a", "https://a", "", false);
	add_raw(&f->cfg, "b", "https://b", "", false);
	expect_invalid(f, "upstreams 'a' and 'b' both serve prefix ''");

	add_raw(&f->cfg, "a", "https://a", "", false);
	add_raw(&f->cfg, "a", "https://b", "x/", false);
	expect_invalid(f, "duplicate upstream 'a'");

	add_raw(&f->cfg, "a", "http://a", "", false);
	expect_invalid(f, "upstream 'a': 'url' is plain http but "
			  "'plain_http' is not set");

	add_raw(&f->cfg, "a", "gopher://a", "", true);
	expect_invalid(f, "upstream 'a': 'url' scheme must be https or http");

	add_raw(&f->cfg, "a", "https://a", "hub", false);
	expect_invalid(f, "upstream 'a': invalid 'prefix'");

	add_raw(&f->cfg, "a b", "https://a", "", false);
	expect_invalid(f, "invalid upstream name 'a b'");
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
		{ "0", 0 },
		{ "512", 512 },
		{ "512B", 512 },
		{ "1K", 1024 },
		{ "10k", 10240 },
		{ "10KB", 10240 },
		{ "10KiB", 10240 },
		{ "64M", 64ULL << 20 },
		{ "64MiB", 64ULL << 20 },
		{ "2G", 2ULL << 30 },
		{ "3T", 3ULL << 40 },
		{ "16777215T", 16777215ULL << 40 },
		{ "18446744073709551615", UINT64_MAX },
		{ "007", 7 },
	};
	static const struct {
		const char *text;
		int rc;
	} bad[] = {
		{ "", -EINVAL },
		{ "K", -EINVAL },
		{ "-1", -EINVAL },
		{ "+1", -EINVAL },
		{ " 1", -EINVAL },
		{ "1 ", -EINVAL },
		{ "1 K", -EINVAL },
		{ "1.5G", -EINVAL },
		{ "1P", -EINVAL },
		{ "1Ki", -EINVAL },
		{ "1iB", -EINVAL },
		{ "1KBB", -EINVAL },
		{ "0x10", -EINVAL },
		{ "16777216T", -ERANGE },
		{ "17179869184G", -ERANGE },
		{ "18446744073709551616", -ERANGE },
		{ "99999999999999999999999", -ERANGE },
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 42;
		if (rfs_parse_size(good[i].text, &v) != 0 || v != good[i].want)
			fail_msg("size '%s': got %llu", good[i].text,
				 (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = rfs_parse_size(bad[i].text, &v);

		if (rc != bad[i].rc)
			fail_msg("size '%s': rc %d, want %d", bad[i].text, rc,
				 bad[i].rc);
	}
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *text;
		int64_t want;
	} good[] = {
		{ "0", 0 },
		{ "0ms", 0 },
		{ "250ms", 250 },
		{ "20", 20000 },
		{ "20s", 20000 },
		{ "5m", 300000 },
		{ "1h", 3600000 },
		{ "1d", 86400000 },
		{ "never", -1 },
		{ "9223372036854775807ms", INT64_MAX },
		{ "9223372036854775s", 9223372036854775000LL },
		{ "106751991167d", 106751991167LL * 86400000 },
	};
	static const struct {
		const char *text;
		int rc;
	} bad[] = {
		{ "", -EINVAL },
		{ "s", -EINVAL },
		{ "-1", -EINVAL },
		{ "1.5s", -EINVAL },
		{ "1 s", -EINVAL },
		{ " 1s", -EINVAL },
		{ "1S", -EINVAL },
		{ "1sec", -EINVAL },
		{ "1w", -EINVAL },
		{ "1y", -EINVAL },
		{ "1mss", -EINVAL },
		{ "Never", -EINVAL },
		{ "never ", -EINVAL },
		{ "9223372036854775808ms", -ERANGE },
		{ "9223372036854776s", -ERANGE },
		{ "106751991168d", -ERANGE },
		{ "99999999999999999999", -ERANGE },
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 42;
		if (rfs_parse_duration_ms(good[i].text, &v) != 0 ||
		    v != good[i].want)
			fail_msg("duration '%s': got %lld", good[i].text,
				 (long long)v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = rfs_parse_duration_ms(bad[i].text, &v);

		if (rc != bad[i].rc)
			fail_msg("duration '%s': rc %d, want %d", bad[i].text,
				 rc, bad[i].rc);
	}
}

static void test_seal_hook_keys(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "cache_max = 1G\n"), 0);
	assert_null(f->cfg.seal_hook);
	assert_int_equal(f->cfg.seal_hook_timeout_ms, 0);

	assert_int_equal(load(f, "seal_hook = /usr/local/bin/scan\n"
				 "seal_hook_timeout = 90s\n"
				 "[upstream a]\n"
				 "url = https://registry.example\n"),
			 0);
	assert_string_equal(f->cfg.seal_hook, "/usr/local/bin/scan");
	assert_int_equal(f->cfg.seal_hook_timeout_ms, 90000);

	/* A later file replaces what it names and keeps the rest. */
	assert_int_equal(load(f, "seal_hook = \"/opt/my scanner/scan\"\n"), 0);
	assert_string_equal(f->cfg.seal_hook, "/opt/my scanner/scan");
	assert_int_equal(f->cfg.seal_hook_timeout_ms, 90000);
	assert_int_equal(load(f, "seal_hook_timeout = 250ms\n"), 0);
	assert_string_equal(f->cfg.seal_hook, "/opt/my scanner/scan");
	assert_int_equal(f->cfg.seal_hook_timeout_ms, 250);

	/* All or nothing: a bad line later keeps the hook of before. */
	assert_int_equal(load(f, "seal_hook = /bin/other\nnonsense\n"),
			 -EINVAL);
	assert_string_equal(f->cfg.seal_hook, "/opt/my scanner/scan");

	rfs_config_release(&f->cfg);
	assert_null(f->cfg.seal_hook);
	assert_int_equal(f->cfg.seal_hook_timeout_ms, 0);
}

static void test_seal_hook_errors(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "seal_hook = scan\n", 1,
		     "'seal_hook' must be an absolute path: 'scan'");
	expect_error(f, "seal_hook = ./scan\n", 1,
		     "'seal_hook' must be an absolute path: './scan'");
	expect_error(f, "seal_hook =\n", 1,
		     "'seal_hook' must be an absolute path: ''");
	expect_error(f, "seal_hook = /a\nseal_hook = /b\n", 2,
		     "duplicate key 'seal_hook'");
	expect_error(f, "seal_hook_timeout = soon\n", 1,
		     "'seal_hook_timeout' is not a duration (like 30s, 5m): "
		     "'soon'");
	expect_error(f, "seal_hook_timeout = -1s\n", 1,
		     "'seal_hook_timeout' is not a duration (like 30s, 5m): "
		     "'-1s'");
	expect_error(f, "seal_hook_timeout = never\n", 1,
		     "'seal_hook_timeout' must be more than 0 (and not "
		     "'never'): 'never'");
	expect_error(f, "seal_hook_timeout = 0s\n", 1,
		     "'seal_hook_timeout' must be more than 0 (and not "
		     "'never'): '0s'");
	expect_error(f, "seal_hook_timeout = 9223372036854775807ms\n", 1,
		     "'seal_hook_timeout' is out of range: "
		     "'9223372036854775807ms'");
	expect_error(f, "seal_hook_timeout = 99999999999999999999d\n", 1,
		     "'seal_hook_timeout' is out of range: "
		     "'99999999999999999999d'");
	expect_error(f, "seal_hook_timeout = 1s\nseal_hook_timeout = 2s\n", 2,
		     "duplicate key 'seal_hook_timeout'");
	expect_error(f, U "seal_hook = /bin/true\n", 3,
		     "'seal_hook' is global: put it before the first section");
	expect_error(f, U "seal_hook_timeout = 1s\n", 3,
		     "'seal_hook_timeout' is global: put it before the first "
		     "section");
	assert_null(f->cfg.seal_hook);
}

/* incoming_max_files: a count of at least 1, global, once. */
static void test_incoming_max_files(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(load(f, "\n"), 0);
	assert_int_equal(f->cfg.incoming_max_files, 0);
	assert_int_equal(load(f, "incoming_max_files = 500\n"), 0);
	assert_int_equal(f->cfg.incoming_max_files, 500);
	expect_error(f, "incoming_max_files = 0\n", 1,
		     "'incoming_max_files' is not a number from 1 to "
		     "100000000: '0'");
	expect_error(f, "incoming_max_files = 10k\n", 1,
		     "'incoming_max_files' is not a number from 1 to "
		     "100000000: '10k'");
	expect_error(f, "incoming_max_files = -3\n", 1,
		     "'incoming_max_files' is not a number from 1 to "
		     "100000000: '-3'");
	expect_error(f, "incoming_max_files = 5\nincoming_max_files = 6\n", 2,
		     "duplicate key 'incoming_max_files'");
	expect_error(f, U "incoming_max_files = 5\n", 3,
		     "'incoming_max_files' is global: put it before the first "
		     "section");
}

/* rfs_config_apply_seal_hook: the program must be able to run. */
static void test_apply_seal_hook(void **state)
{
	struct fixture *f = *state;
	struct rfs_store *store = NULL;
	char root[160], prog[160], cmd[200];
	int64_t timeout = -1;
	FILE *fp;

	snprintf(root, sizeof(root), "%s/store", f->dir);
	assert_int_equal(rfs_store_open(root, RFS_STORE_CREATE, &store, NULL),
			 0);

	/* None configured: none applied. */
	assert_int_equal(rfs_config_apply_seal_hook(&f->cfg, store, &f->err),
			 0);
	assert_null(rfs_store_seal_hook(store, &timeout));

	f->cfg.seal_hook = strdup("/nonexistent/scan");
	assert_int_equal(rfs_config_apply_seal_hook(&f->cfg, store, &f->err),
			 -ENOENT);
	assert_string_equal(f->err.msg, "seal hook '/nonexistent/scan': No "
					"such file or directory");
	assert_null(rfs_store_seal_hook(store, NULL));

	snprintf(prog, sizeof(prog), "%s/scan", f->dir);
	fp = fopen(prog, "w");
	assert_non_null(fp);
	fputs("#!/bin/sh\nexit 0\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(prog, 0644), 0);
	free(f->cfg.seal_hook);
	f->cfg.seal_hook = strdup(prog);
	assert_int_equal(rfs_config_apply_seal_hook(&f->cfg, store, &f->err),
			 -EACCES);
	assert_non_null(strstr(f->err.msg, "is not executable"));

	free(f->cfg.seal_hook);
	f->cfg.seal_hook = strdup(f->dir);
	assert_int_equal(rfs_config_apply_seal_hook(&f->cfg, store, &f->err),
			 -EACCES);
	assert_non_null(strstr(f->err.msg, "is not a regular file"));

	/* Executable: applied, with the default timeout or the one set. */
	assert_int_equal(chmod(prog, 0755), 0);
	free(f->cfg.seal_hook);
	f->cfg.seal_hook = strdup(prog);
	assert_int_equal(rfs_config_apply_seal_hook(&f->cfg, store, &f->err),
			 0);
	assert_string_equal(rfs_store_seal_hook(store, &timeout), prog);
	assert_int_equal(timeout, 60000);
	f->cfg.seal_hook_timeout_ms = 1500;
	assert_int_equal(rfs_config_apply_seal_hook(&f->cfg, store, &f->err),
			 0);
	assert_non_null(rfs_store_seal_hook(store, &timeout));
	assert_int_equal(timeout, 1500);

	rfs_store_close(&store);
	unlink(prog);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void test_release_null(void **state)
{
	struct rfs_config empty = { 0 };

	(void)state;
	rfs_config_release(NULL);
	rfs_config_release(&empty);
	rfs_config_release(&empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_minimal_defaults, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_appends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add_upstream_url, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test_setup_teardown(test_seal_hook_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_incoming_max_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_seal_hook_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_apply_seal_hook, setup,
						teardown),
		cmocka_unit_test(test_release_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
