/*
 * test-audit.c - unit tests of audit.h: an event's line (fields, results,
 * verification failures, the length bound, bytes that are not UTF-8),
 * reading lines back, times and durations, filters, and appending to a
 * store's log (rotation, concurrent writers, a log that cannot be written).
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit.h"
#include "store.h"
#include "tmptree.h"

#define T0 1796542401123000000LL /* 2026-12-06T07:33:21.123Z */
#define DIGEST \
	"sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

static ssize_t format(const struct rfs_audit_event *ev, char *buf)
{
	return rfs_audit_format(ev, "regctl", 42, 1000, buf,
				RFS_AUDIT_LINE_MAX + 1);
}

static void test_format_ok(void **state)
{
	struct rfs_audit_event ev = {
		.kind = RFS_AUDIT_PUBLISH,
		.repo = "org/app",
		.tag = "v1",
		.digest = DIGEST,
		.time_ns = T0,
	};
	char line[RFS_AUDIT_LINE_MAX + 1];
	struct rfs_audit_entry e;
	ssize_t n;

	(void)state;
	n = format(&ev, line);
	assert_true(n > 0);
	assert_int_equal(line[n - 1], '\n');
	assert_string_equal(
	    line, "{\"time\":\"2026-12-06T07:33:21.123Z\",\"kind\":\"publish\","
		  "\"result\":\"ok\",\"repo\":\"org/app\",\"tag\":\"v1\","
		  "\"digest\":\"" DIGEST "\",\"uid\":1000,\"pid\":42,"
		  "\"prog\":\"regctl\"}\n");
	assert_int_equal(rfs_audit_parse(line, (size_t)n - 1, &e), 0);
	assert_int_equal(e.time_ns, T0);
	assert_string_equal(e.kind, "publish");
	assert_string_equal(e.result, "ok");
	assert_string_equal(e.repo, "org/app");
	assert_string_equal(e.tag, "v1");
	assert_string_equal(e.digest, DIGEST);
	assert_string_equal(e.prog, "regctl");
	assert_int_equal(e.uid, 1000);
	assert_int_equal(e.pid, 42);
	assert_string_equal(e.user, "");
	assert_string_equal(e.reason, "");
}

static void test_results(void **state)
{
	(void)state;
	assert_string_equal(rfs_audit_result(0), "ok");
	assert_string_equal(rfs_audit_result(-EACCES), "refused");
	assert_string_equal(rfs_audit_result(-EEXIST), "refused");
	assert_string_equal(rfs_audit_result(-EBADMSG), "refused");
	assert_string_equal(rfs_audit_result(-EIO), "failed");
	assert_string_equal(rfs_audit_result(-ENOSPC), "failed");
}

static void test_format_refused_remote(void **state)
{
	struct rfs_audit_event ev = {
		.kind = RFS_AUDIT_LOGIN,
		.rc = -EACCES,
		.user = "ci",
		.addr = "127.0.0.1",
		.time_ns = T0,
	};
	char line[RFS_AUDIT_LINE_MAX + 1];
	struct rfs_audit_entry e;
	ssize_t n;

	(void)state;
	n = format(&ev, line);
	assert_true(n > 0);
	assert_int_equal(rfs_audit_parse(line, (size_t)n - 1, &e), 0);
	assert_string_equal(e.kind, "login");
	assert_string_equal(e.result, "refused");
	assert_string_equal(e.user, "ci");
	assert_string_equal(e.addr, "127.0.0.1");
	/* No reason given: the errno's. */
	assert_string_equal(e.reason, strerror(EACCES));
	assert_string_equal(e.repo, "");
	assert_non_null(strstr(line, "\"repo\":null"));
}

static void test_format_mismatch(void **state)
{
	struct rfs_audit_event ev = {
		.kind = RFS_AUDIT_PUBLISH,
		.rc = -EBADMSG,
		.reason = "digest mismatch for 'app:v1'",
		.repo = "app",
		.tag = "v1",
		.time_ns = T0,
	};
	char line[RFS_AUDIT_LINE_MAX + 1];
	struct rfs_audit_entry e;
	ssize_t n;

	(void)state;
	n = format(&ev, line);
	assert_true(n > 0);
	assert_int_equal(rfs_audit_parse(line, (size_t)n - 1, &e), 0);
	assert_string_equal(e.kind, "verify-failed");
	assert_string_equal(e.action, "publish");
	assert_string_equal(e.result, "refused");
	assert_string_equal(e.reason, "digest mismatch for 'app:v1'");
	/* --kind publish shows it too, --kind verify-failed of course. */
	assert_true(rfs_audit_match(&e, INT64_MIN, NULL, "publish"));
	assert_true(rfs_audit_match(&e, INT64_MIN, NULL, "verify-failed"));
	assert_false(rfs_audit_match(&e, INT64_MIN, NULL, "push"));
}

/* Reasons and names of any length and any bytes make one line of at most
 * RFS_AUDIT_LINE_MAX bytes that is valid JSON. */
static void test_format_bounded(void **state)
{
	size_t big = 20000;
	char *reason = malloc(big + 1), *user = malloc(big + 1);
	char line[RFS_AUDIT_LINE_MAX + 1];
	struct rfs_audit_event ev = {
		.kind = RFS_AUDIT_LOGIN,
		.rc = -EACCES,
		.reason = reason,
		.user = user,
		.addr = "::1",
		.time_ns = T0,
	};
	ssize_t n;
	json_t *j;

	(void)state;
	assert_non_null(reason);
	assert_non_null(user);
	/* Control bytes: six bytes each once escaped. */
	memset(reason, '\x01', big);
	reason[big] = '\0';
	memset(user, '"', big);
	user[big] = '\0';
	n = format(&ev, line);
	assert_true(n > 0);
	assert_true(n <= RFS_AUDIT_LINE_MAX);
	assert_int_equal(line[n - 1], '\n');
	assert_null(memchr(line, '\n', (size_t)n - 1));
	j = json_loadb(line, (size_t)n, 0, NULL);
	assert_non_null(j);
	assert_true(strlen(json_string_value(json_object_get(j, "reason"))) >
		    0);
	json_decref(j);
	free(reason);
	free(user);
}

static void test_format_not_utf8(void **state)
{
	/* A lone continuation byte, an overlong '/', a cut sequence. */
	struct rfs_audit_event ev = {
		.kind = RFS_AUDIT_LOGIN,
		.rc = -EACCES,
		.user = "a\x80z\xc0\xaf\xc3\xa9\xe2\x82",
		.addr = "::1",
		.time_ns = T0,
	};
	char line[RFS_AUDIT_LINE_MAX + 1];
	struct rfs_audit_entry e;
	ssize_t n;

	(void)state;
	n = format(&ev, line);
	assert_true(n > 0);
	assert_int_equal(rfs_audit_parse(line, (size_t)n - 1, &e), 0);
	assert_string_equal(e.user, "a?z??\xc3\xa9??");
}

static void test_format_invalid(void **state)
{
	struct rfs_audit_event ev = { 0 };
	char line[RFS_AUDIT_LINE_MAX + 1];

	(void)state;
	assert_int_equal(format(&ev, line), -EINVAL);
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1,2]",
		"{\"kind\":\"publish\"}",
		"{\"time\":\"yesterday\",\"kind\":\"publish\"}",
		"{\"time\":\"2026-12-06T07:33:21Z\"}",
		"{\"time\":\"2026-12-06T07:33:21Z\",\"kind\":\"publish\"",
	};
	struct rfs_audit_entry e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rfs_audit_parse(bad[i], strlen(bad[i]), &e) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_time(void **state)
{
	char buf[32];
	int64_t ns;

	(void)state;
	rfs_audit_format_time(T0, buf);
	assert_string_equal(buf, "2026-12-06T07:33:21.123Z");
	assert_int_equal(rfs_audit_parse_time(buf, &ns), 0);
	assert_int_equal(ns, T0);
	assert_int_equal(rfs_audit_parse_time("2026-12-06T07:33:21Z", &ns), 0);
	assert_int_equal(ns, T0 - 123000000);
	assert_int_equal(
	    rfs_audit_parse_time("2026-12-06T08:33:21.123+01:00", &ns), 0);
	assert_int_equal(ns, T0);
	assert_int_equal(
	    rfs_audit_parse_time("2026-12-06t06:03:21.123-01:30", &ns), 0);
	assert_int_equal(ns, T0);
	assert_int_equal(rfs_audit_parse_time("2026-12-06", &ns), 0);
	assert_int_equal(ns, (T0 / 1000000000 - (7 * 3600 + 33 * 60 + 21)) *
				 1000000000);
	assert_int_equal(rfs_audit_parse_time("1970-01-01T00:00:00Z", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(rfs_audit_parse_time("2262-04-10", &ns), 0);
	assert_int_equal(rfs_audit_parse_time("1677-09-22", &ns), 0);
	static const char *const bad[] = {
		"",
		"2026",
		"2026-13-01",
		"2026-02-30",
		"2026-12-06T25:00:00Z",
		"2026-12-06T07:33:21",
		"2026-12-06T07:33:21.Z",
		"2026-12-06T07:33:21Zjunk",
		"2026-12-06T07:33Z",
		"2026-12-06T07:33:21+0100",
		/* Past what int64_t nanoseconds hold (they overflowed; found
		 * by fuzz-names, tests/fuzz/corpus/names/regress-audit-*). */
		"9999-12-31T23:59:59Z",
		"0000-01-01",
		"2262-04-12",
		/* An offset cut short: its minutes were read past the end
		 * (ASan; found by fuzz-names, regress-audit-offset-cut). */
		"1999-12-31t23:59:60.5+",
		"2026-12-06T07:33:21-0",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rfs_audit_parse_time(bad[i], &ns) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_since(void **state)
{
	int64_t now = T0, ns;

	(void)state;
	assert_int_equal(rfs_audit_parse_since("1h", now, &ns), 0);
	assert_int_equal(ns, now - 3600000000000LL);
	assert_int_equal(rfs_audit_parse_since("90s", now, &ns), 0);
	assert_int_equal(ns, now - 90000000000LL);
	assert_int_equal(rfs_audit_parse_since("1h30m", now, &ns), 0);
	assert_int_equal(ns, now - 5400000000000LL);
	assert_int_equal(rfs_audit_parse_since("2d", now, &ns), 0);
	assert_int_equal(ns, now - 2 * 86400000000000LL);
	assert_int_equal(rfs_audit_parse_since("1w", now, &ns), 0);
	assert_int_equal(ns, now - 7 * 86400000000000LL);
	assert_int_equal(
	    rfs_audit_parse_since("2026-12-06T07:33:21.123Z", now, &ns), 0);
	assert_int_equal(ns, T0);
	static const char *const bad[] = {
		"", "h", "1", "1x", "1h-", "-1h", "1h 2m", "99999999999d",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rfs_audit_parse_since(bad[i], now, &ns) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_match(void **state)
{
	struct rfs_audit_entry e = { .time_ns = T0 };

	(void)state;
	snprintf(e.kind, sizeof(e.kind), "yank");
	snprintf(e.repo, sizeof(e.repo), "org/app");
	assert_true(rfs_audit_match(&e, INT64_MIN, NULL, NULL));
	assert_true(rfs_audit_match(&e, T0, NULL, NULL));
	assert_false(rfs_audit_match(&e, T0 + 1, NULL, NULL));
	assert_true(rfs_audit_match(&e, INT64_MIN, "org/app", NULL));
	assert_true(rfs_audit_match(&e, INT64_MIN, "org", NULL));
	assert_true(rfs_audit_match(&e, INT64_MIN, "org/", NULL));
	assert_false(rfs_audit_match(&e, INT64_MIN, "or", NULL));
	assert_false(rfs_audit_match(&e, INT64_MIN, "org/app/x", NULL));
	assert_false(rfs_audit_match(&e, INT64_MIN, "app", NULL));
	assert_true(rfs_audit_match(&e, INT64_MIN, NULL, "yank"));
	assert_true(rfs_audit_match(&e, INT64_MIN, NULL, "publish,yank"));
	assert_false(rfs_audit_match(&e, INT64_MIN, NULL, "unyank"));
	assert_false(rfs_audit_match(&e, INT64_MIN, NULL, "yan"));
	assert_false(rfs_audit_match(&e, INT64_MIN, NULL, "yank2,publish"));
}

/* --- a store's log ------------------------------------------------------- */

struct fixture {
	char dir[64];
	char log[128];
	struct rfs_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct rfs_error err = { 0 };

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-audit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/audit/audit.log", f->dir);
	if (rfs_store_open(f->dir, RFS_STORE_CREATE, &f->store, &err))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rfs_store_close(&f->store);
	tmptree_remove(f->dir);
	free(f);
	return 0;
}

/* The lines of path, each checked to be a whole event. */
static int count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int n = 0;

	if (!fp)
		return -1;
	while ((len = getline(&line, &cap, fp)) > 0) {
		struct rfs_audit_entry e;

		if (line[len - 1] != '\n' ||
		    rfs_audit_parse(line, (size_t)len - 1, &e) != 0)
			fail_msg("torn line: %.80s", line);
		n++;
	}
	free(line);
	fclose(fp);
	return n;
}

static void test_append_and_rotate(void **state)
{
	struct fixture *f = *state;
	struct rfs_error err = { 0 };
	char rotated[160], path[256];
	struct stat st;

	assert_int_equal(rfs_audit_path(f->store, path, sizeof(path)), 0);
	assert_string_equal(path, f->log);
	assert_int_equal(count_lines(f->log), -1);
	assert_int_equal(rfs_audit(f->store, RFS_AUDIT_PUBLISH, 0, NULL, "app",
				   "v1", DIGEST),
			 0);
	rfs_error_set(&err, -EEXIST, "tag 'app:v1' exists");
	assert_int_equal(rfs_audit(f->store, RFS_AUDIT_PUBLISH, -EEXIST, &err,
				   "app", "v1", NULL),
			 0);
	assert_int_equal(count_lines(f->log), 2);
	assert_int_equal(stat(f->log, &st), 0);
	assert_int_equal(st.st_mode & 0777 & ~0027, 0640 & ~0027);

	/* mv audit.log audit.log.1: the next event starts a new file. */
	snprintf(rotated, sizeof(rotated), "%s.1", f->log);
	assert_int_equal(rename(f->log, rotated), 0);
	assert_int_equal(
	    rfs_audit(f->store, RFS_AUDIT_YANK, 0, NULL, "app", "v1", DIGEST),
	    0);
	assert_int_equal(count_lines(rotated), 2);
	assert_int_equal(count_lines(f->log), 1);
}

/* Writers in several processes at once, with lines near the bound: every
 * line whole. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	enum { WRITERS = 4, EVENTS = 300 };
	pid_t pids[WRITERS];
	char reason[3000];

	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			struct rfs_audit_event ev = {
				.kind = RFS_AUDIT_LOGIN,
				.rc = -EACCES,
				.reason = reason,
				.user = "w",
				.addr = "::1",
			};

			reason[w] = (char)('0' + w);
			for (int i = 0; i < EVENTS; i++)
				if (rfs_audit_event(f->store, &ev) != 0)
					_exit(1);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;

		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(count_lines(f->log), WRITERS * EVENTS);
}

static int warnings;
static char last_warning[512];

static void warn(const char *message)
{
	warnings++;
	snprintf(last_warning, sizeof(last_warning), "%s", message);
}

/* A log that cannot be written: the event says so, once a minute at
 * most, and the caller goes on. */
static void test_unwritable(void **state)
{
	struct fixture *f = *state;
	char dir[128];

	rfs_audit_setup("regfs", warn);
	snprintf(dir, sizeof(dir), "%s/audit", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mkdir(f->log, 0755), 0); /* a folder in its way */
	assert_true(rfs_audit(f->store, RFS_AUDIT_REMOVE, 0, NULL, "app", "v1",
			      DIGEST) < 0);
	assert_int_equal(warnings, 1);
	assert_non_null(strstr(last_warning, "cannot write the audit log"));
	assert_non_null(strstr(last_warning, "1 event not recorded"));
	assert_true(rfs_audit(f->store, RFS_AUDIT_REMOVE, 0, NULL, "app", "v2",
			      DIGEST) < 0);
	assert_int_equal(warnings, 1);
	rfs_audit_setup(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_ok),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_format_refused_remote),
		cmocka_unit_test(test_format_mismatch),
		cmocka_unit_test(test_format_bounded),
		cmocka_unit_test(test_format_not_utf8),
		cmocka_unit_test(test_format_invalid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_match),
		cmocka_unit_test_setup_teardown(test_append_and_rotate, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
