/*
 * test-metrics.c - unit tests of metrics.h: the rendering of each family kind
 * line by line, escaping, cumulative buckets, the series cap and _other,
 * exact sums under concurrent updates, and name validation.
 *
 * promtool is not installed here, so every rendering is also run through
 * check_exposition(), a strict checker of the text format 0.0.4 as we emit
 * it: the line grammar (HELP, TYPE, samples, escapes, numbers, UTF-8) plus
 * the rules a scrape depends on (one HELP and TYPE per family, before its
 * samples; samples inside their family; no duplicate series; histogram
 * buckets in increasing le with non-decreasing counts, ending at +Inf, then
 * _sum, then a _count equal to the +Inf bucket). It is stricter than
 * Prometheus (no comments, blank lines, timestamps or trailing commas, which
 * we never emit), and test_checker_rejects() shows that it does reject.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a strict checker of the exposition format ---- */

#define CHK_NAME_MAX   256
#define CHK_LABELS_MAX 8

struct chk_label {
	char name[CHK_NAME_MAX];
	const char *raw; /* the quoted value as written, without the quotes */
	size_t raw_len;
	char value[1024]; /* unescaped */
};

enum hist_stage { H_NONE, H_BUCKETS, H_INF, H_SUM };

struct checker {
	size_t line_no;
	char err[512];
	char help_name[CHK_NAME_MAX]; /* the HELP line just read, if any */
	char family[CHK_NAME_MAX];    /* the last TYPE */
	char type[16];
	char **families; /* every TYPE so far */
	size_t n_families;
	char **series; /* every name{labels} so far */
	size_t n_series;
	/* the histogram series being read */
	enum hist_stage stage;
	char group[4096];
	double prev_le;
	unsigned long long prev_count;
};

static bool chk_fail(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool chk_fail(struct checker *c, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->err, sizeof(c->err), "line %zu: ", c->line_no);

	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static bool chk_utf8(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		unsigned c = s[i], len;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c < 0xe0)
			len = 2, cp = c & 0x1f;
		else if (c >= 0xe0 && c < 0xf0)
			len = 3, cp = c & 0x0f;
		else if (c >= 0xf0 && c < 0xf5)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (i + len > n)
			return false;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			return false;
		i += len;
	}
	return true;
}

static bool chk_name(const char **p, const char *e, char *out, bool colon)
{
	const char *s = *p;
	size_t n = 0;

	while (s < e && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			 *s == '_' || (colon && *s == ':') ||
			 (n && *s >= '0' && *s <= '9'))) {
		if (n + 1 >= CHK_NAME_MAX)
			return false;
		out[n++] = *s++;
	}
	out[n] = '\0';
	*p = s;
	return n > 0;
}

/* A number as Prometheus reads it; integer: digits only. */
static bool chk_number(const char *s, const char *e, bool integer, double *v)
{
	char buf[64];
	const char *q = s;
	size_t n = (size_t)(e - s);

	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") ||
	    !strcmp(buf, "NaN")) {
		*v = !strcmp(buf, "NaN") ? NAN
		     : buf[0] == '+'	 ? INFINITY
					 : -INFINITY;
		return !integer;
	}
	if (!integer && (*q == '-' || *q == '+'))
		q++;
	if (q == e || *q < '0' || *q > '9')
		return false;
	while (q < e && *q >= '0' && *q <= '9')
		q++;
	if (!integer && q < e && *q == '.') {
		q++;
		while (q < e && *q >= '0' && *q <= '9')
			q++;
	}
	if (!integer && q < e && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < e && (*q == '-' || *q == '+'))
			q++;
		if (q == e || *q < '0' || *q > '9')
			return false;
		while (q < e && *q >= '0' && *q <= '9')
			q++;
	}
	if (q != e)
		return false;
	*v = strtod(buf, NULL);
	return true;
}

static bool chk_seen(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(list[i], s))
			return true;
	}
	return false;
}

static void chk_push(char ***list, size_t *n, const char *s)
{
	*list = realloc(*list, (*n + 1) * sizeof(**list));
	assert_non_null(*list);
	(*list)[*n] = strdup(s);
	assert_non_null((*list)[*n]);
	(*n)++;
}

static bool chk_hist_done(struct checker *c)
{
	if (!strcmp(c->type, "histogram") && c->stage != H_NONE)
		return chk_fail(c, "histogram '%s' ends inside a series",
				c->family);
	return true;
}

static bool chk_help(struct checker *c, const char *p, const char *e)
{
	char name[CHK_NAME_MAX];

	if (!chk_name(&p, e, name, true) || p == e || *p != ' ')
		return chk_fail(c, "malformed HELP");
	for (p++; p < e; p++) {
		if (*p == '\\' && (p + 1 == e || (p[1] != '\\' && p[1] != 'n')))
			return chk_fail(c, "bad escape in HELP");
		if (*p == '\\')
			p++;
	}
	if (*c->help_name || chk_seen(c->families, c->n_families, name))
		return chk_fail(c, "HELP for '%s' out of place", name);
	snprintf(c->help_name, sizeof(c->help_name), "%s", name);
	return true;
}

static bool chk_type(struct checker *c, const char *p, const char *e)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	char name[CHK_NAME_MAX];
	size_t i;

	if (!chk_name(&p, e, name, true) || p == e || *p != ' ')
		return chk_fail(c, "malformed TYPE");
	p++;
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if ((size_t)(e - p) == strlen(types[i]) &&
		    !memcmp(p, types[i], strlen(types[i])))
			break;
	}
	if (i == ARRAY_SIZE(types))
		return chk_fail(c, "unknown type '%.*s'", (int)(e - p), p);
	if (chk_seen(c->families, c->n_families, name))
		return chk_fail(c, "second TYPE for '%s'", name);
	if (*c->help_name && strcmp(c->help_name, name))
		return chk_fail(c, "HELP of '%s' before TYPE of '%s'",
				c->help_name, name);
	if (!chk_hist_done(c))
		return false;
	c->help_name[0] = '\0';
	chk_push(&c->families, &c->n_families, name);
	snprintf(c->family, sizeof(c->family), "%s", name);
	snprintf(c->type, sizeof(c->type), "%s", types[i]);
	c->stage = H_NONE;
	return true;
}

static bool chk_label_value(struct checker *c, const char **pp, const char *e,
			    struct chk_label *l)
{
	const char *p = *pp;
	size_t n = 0;

	if (p == e || *p != '"')
		return chk_fail(c, "label value not quoted");
	l->raw = ++p;
	for (; p < e && *p != '"'; p++) {
		char ch = *p;

		if (ch == '\\') {
			if (++p == e)
				return chk_fail(c, "escape at end of line");
			if (*p == 'n')
				ch = '\n';
			else if (*p == '\\' || *p == '"')
				ch = *p;
			else
				return chk_fail(c, "bad escape '\\%c'", *p);
		}
		if (n + 1 >= sizeof(l->value))
			return chk_fail(c, "label value too long");
		l->value[n++] = ch;
	}
	if (p == e)
		return chk_fail(c, "unterminated label value");
	l->value[n] = '\0';
	l->raw_len = (size_t)(p - l->raw);
	if (!chk_utf8(l->value, n))
		return chk_fail(c, "label value not UTF-8");
	*pp = p + 1;
	return true;
}

static bool chk_sample(struct checker *c, const char *p, const char *e)
{
	struct chk_label labels[CHK_LABELS_MAX];
	size_t n_labels = 0;
	const struct chk_label *le = NULL;
	char name[CHK_NAME_MAX], key[4096], suffix[16] = "";
	size_t base = strlen(c->family), klen;
	double v, le_v = 0;
	bool integer;

	if (!chk_name(&p, e, name, true))
		return chk_fail(c, "malformed metric name");
	if (p < e && *p == '{') {
		p++;
		for (;;) {
			struct chk_label *l = &labels[n_labels];

			if (n_labels == CHK_LABELS_MAX)
				return chk_fail(c, "too many labels");
			if (!chk_name(&p, e, l->name, false))
				return chk_fail(c, "malformed label name");
			if (!strncmp(l->name, "__", 2))
				return chk_fail(c, "reserved label name");
			for (size_t i = 0; i < n_labels; i++) {
				if (!strcmp(labels[i].name, l->name))
					return chk_fail(c, "label '%s' twice",
							l->name);
			}
			if (p == e || *p++ != '=')
				return chk_fail(c, "label without '='");
			if (!chk_label_value(c, &p, e, l))
				return false;
			n_labels++;
			if (p < e && *p == ',') {
				p++;
				continue;
			}
			if (p == e || *p++ != '}')
				return chk_fail(c, "labels not closed");
			break;
		}
	}
	if (p == e || *p++ != ' ')
		return chk_fail(c, "no space before the value");

	if (!c->n_families || *c->help_name)
		return chk_fail(c, "sample '%s' before its TYPE", name);
	if (strncmp(name, c->family, base) ||
	    (strcmp(c->type, "histogram") && name[base]) ||
	    strlen(name + base) >= sizeof(suffix))
		return chk_fail(c, "sample '%s' outside family '%s'", name,
				c->family);
	strcpy(suffix, name + base);
	if (*suffix && strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") &&
	    strcmp(suffix, "_count"))
		return chk_fail(c, "sample '%s' outside family '%s'", name,
				c->family);
	if (!strcmp(c->type, "histogram") && !*suffix)
		return chk_fail(c, "histogram sample without a suffix");

	/* The series key, and the histogram group (the labels but le). */
	klen = (size_t)snprintf(key, sizeof(key), "%s{", c->family);
	for (size_t i = 0; i < n_labels; i++) {
		if (!strcmp(labels[i].name, "le") &&
		    !strcmp(c->type, "histogram")) {
			le = &labels[i];
			continue;
		}
		klen += (size_t)snprintf(key + klen, sizeof(key) - klen,
					 "%s=\"%.*s\",", labels[i].name,
					 (int)labels[i].raw_len, labels[i].raw);
		if (klen >= sizeof(key))
			return chk_fail(c, "series key too long");
	}
	if (!strcmp(suffix, "_bucket") != (le != NULL))
		return chk_fail(c, "le on a sample that is not a bucket");
	if (le &&
	    !chk_number(le->value, le->value + strlen(le->value), false, &le_v))
		return chk_fail(c, "le \"%s\" is not a number", le->value);

	integer = !strcmp(c->type, "counter") || !strcmp(suffix, "_bucket") ||
		  !strcmp(suffix, "_count");
	if (!chk_number(p, e, integer, &v))
		return chk_fail(c, "bad value '%.*s'", (int)(e - p), p);

	if (!strcmp(c->type, "histogram")) {
		bool same = c->stage != H_NONE && !strcmp(c->group, key);

		if (!strcmp(suffix, "_bucket")) {
			if (c->stage == H_NONE) {
				snprintf(c->group, sizeof(c->group), "%s", key);
				c->prev_le = -INFINITY;
				c->prev_count = 0;
				c->stage = H_BUCKETS;
			} else if (c->stage != H_BUCKETS || !same) {
				return chk_fail(c, "bucket out of place");
			}
			if (!(le_v > c->prev_le))
				return chk_fail(c, "le not increasing");
			if (v < (double)c->prev_count)
				return chk_fail(c, "buckets not cumulative");
			c->prev_le = le_v;
			c->prev_count = (unsigned long long)v;
			if (isinf(le_v))
				c->stage = H_INF;
		} else if (!strcmp(suffix, "_sum")) {
			if (c->stage != H_INF || !same)
				return chk_fail(c, "_sum out of place");
			c->stage = H_SUM;
		} else {
			if (c->stage != H_SUM || !same)
				return chk_fail(c, "_count out of place");
			if ((unsigned long long)v != c->prev_count)
				return chk_fail(c, "_count is not +Inf bucket");
			c->stage = H_NONE;
		}
	}
	if (le) {
		klen += (size_t)snprintf(key + klen, sizeof(key) - klen,
					 "le=\"%s\",", le->value);
	}
	if (strlen(key) + strlen(suffix) + 2 >= sizeof(key))
		return chk_fail(c, "series key too long");
	strcat(key, "}");
	strcat(key, suffix);
	if (chk_seen(c->series, c->n_series, key))
		return chk_fail(c, "series %s twice", key);
	chk_push(&c->series, &c->n_series, key);
	return true;
}

static bool chk_line(struct checker *c, const char *p, const char *e)
{
	if (!chk_utf8(p, (size_t)(e - p)))
		return chk_fail(c, "not UTF-8");
	for (const char *q = p; q < e; q++) {
		if (*q == '\r' || *q == '\0')
			return chk_fail(c, "CR or NUL in a line");
	}
	if ((size_t)(e - p) >= 7 && !memcmp(p, "# HELP ", 7))
		return chk_help(c, p + 7, e);
	if ((size_t)(e - p) >= 7 && !memcmp(p, "# TYPE ", 7))
		return chk_type(c, p + 7, e);
	if (p == e || *p == '#')
		return chk_fail(c, "blank line or comment");
	if (*c->help_name)
		return chk_fail(c, "HELP not followed by its TYPE");
	return chk_sample(c, p, e);
}

/* NULL when text is well-formed, else why not (in a static buffer). */
static const char *check_exposition(const char *text, size_t len)
{
	static char err[512];
	struct checker *c = calloc(1, sizeof(*c));
	const char *p = text, *e = text + len;
	bool ok = true;

	assert_non_null(c);
	if (len && text[len - 1] != '\n') {
		ok = chk_fail(c, "no final newline");
	}
	while (ok && p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));

		if (!nl)
			nl = e;
		c->line_no++;
		ok = chk_line(c, p, nl);
		p = nl + 1;
	}
	if (ok && *c->help_name)
		ok = chk_fail(c, "HELP without TYPE at the end");
	if (ok)
		ok = chk_hist_done(c);
	snprintf(err, sizeof(err), "%s", c->err);
	for (size_t i = 0; i < c->n_families; i++)
		free(c->families[i]);
	for (size_t i = 0; i < c->n_series; i++)
		free(c->series[i]);
	free(c->families);
	free(c->series);
	free(c);
	return ok ? NULL : err;
}

/* ---- helpers ---- */

static char *render(struct rfs_metrics *m)
{
	char *text = NULL;
	size_t len = 12345;
	const char *err;

	assert_int_equal(rfs_metrics_render(m, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	err = check_exposition(text, len);
	if (err)
		fail_msg("malformed exposition: %s\n%s", err, text);
	return text;
}

/* Render m and compare it with want, line by line. */
static void assert_render(struct rfs_metrics *m, const char *const *want,
			  size_t n_want)
{
	char *text = render(m);
	const char *p = text;
	size_t i = 0;

	for (; *p; i++) {
		const char *nl = strchr(p, '\n');
		size_t n = (size_t)(nl - p);

		assert_non_null(nl);
		if (i == n_want)
			fail_msg("line %zu: got '%.*s', want no more lines",
				 i + 1, (int)n, p);
		if (strlen(want[i]) != n || memcmp(want[i], p, n))
			fail_msg("line %zu: got '%.*s', want '%s'", i + 1,
				 (int)n, p, want[i]);
		p = nl + 1;
	}
	if (i != n_want)
		fail_msg("got %zu lines, want %zu (next: '%s')", i, n_want,
			 want[i]);
	free(text);
}

/* The value of the sample whose line starts with series + ' '. */
static double sample_value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = nl ? nl + 1 : p + strlen(p);
	}
	fail_msg("no sample %s", series);
	return NAN;
}

static size_t count_prefix(const char *text, const char *prefix)
{
	size_t count = 0, n = strlen(prefix);

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');

		if (!strncmp(p, prefix, n))
			count++;
		p = nl ? nl + 1 : p + strlen(p);
	}
	return count;
}

/* ---- the tests ---- */

static void test_checker_rejects(void **state)
{
	(void)state;
	static const char *const good[] = {
		"",
		"# HELP a_total x\n# TYPE a_total counter\na_total 1\n",
		"# HELP g g \\\\ \\n \"q\"\n# TYPE g gauge\ng{l=\"\\\"\\n\\\\\"} "
		"-1.5e-07\ng{l=\"b\"} NaN\ng{l=\"c\"} +Inf\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
		"h_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n",
	};
	static const char *const bad[] = {
		"# HELP a x\n# TYPE a counter\na 1",	 /* no final \n */
		"# HELP a x\n# TYPE a counter\n\na 1\n", /* blank line */
		"# TYPE a counter\n# HELP a x\na 1\n",	 /* HELP after TYPE */
		"# HELP a x\n# TYPE a counter\n# TYPE a counter\n",
		"# HELP a x\n# TYPE a counter\nb 1\n",	   /* outside family */
		"a 1\n",				   /* before TYPE */
		"# HELP a x\n# TYPE a counter\na 1.5\n",   /* counter float */
		"# HELP a x\n# TYPE a counter\na 1 123\n", /* timestamp */
		"# HELP a x\n# TYPE a counter\na  1\n",	   /* two spaces */
		"# HELP a x\n# TYPE a counter\na{l=\"x\"} 1\na{l=\"x\"} 2\n",
		"# HELP a x\n# TYPE a counter\na{l=\"x\",} 1\n",
		"# HELP a x\n# TYPE a counter\na{l=\"x\\t\"} 1\n",
		"# HELP a x\n# TYPE a counter\na{l=\"x} 1\n",
		"# HELP a x\n# TYPE a counter\na{l=\"\xff\"} 1\n",
		"# HELP a x\n# TYPE a counter\na{l:b=\"x\"} 1\n",
		"# HELP a x\n# TYPE a counter\na{__l=\"x\"} 1\n",
		"# HELP a x\n# TYPE a counter\na{l=\"x\",l=\"y\"} 1\n",
		"# HELP a x\\t\n# TYPE a counter\na 1\n", /* HELP escape */
		"# HELP a x\n# TYPE a summary\na 1\n",
		"# HELP g x\n# TYPE g gauge\ng 1,5\n",
		"# HELP g x\n# TYPE g gauge\ng inf\n",
		"# HELP g x\n# TYPE g gauge\ng 0x10\n",
		"# HELP 9g x\n# TYPE 9g gauge\n9g 1\n",
		/* histograms: not cumulative, no +Inf, count != +Inf, order */
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
		"h_bucket{le=\"+Inf\"} 1\nh_sum 3\nh_count 1\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
		"h_sum 3\nh_count 2\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
		"h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 3\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\n"
		"h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\n"
		"h_count 1\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\n",
		"# HELP h h\n# TYPE h histogram\nh_bucket 1\n",
		"# HELP h h\n# TYPE h histogram\nh 1\n",
	};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		const char *err = check_exposition(good[i], strlen(good[i]));

		if (err)
			fail_msg("good document %zu refused: %s", i, err);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (!check_exposition(bad[i], strlen(bad[i])))
			fail_msg("bad document %zu accepted:\n%s", i, bad[i]);
	}
}

static void test_empty(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	char *text;
	size_t len = 1;

	assert_int_equal(rfs_metrics_new(&m), 0);
	assert_int_equal(rfs_metrics_render(m, &text, &len), 0);
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	free(text);
	/* len is optional */
	assert_int_equal(rfs_metrics_render(m, &text, NULL), 0);
	free(text);
	rfs_metrics_free(&m);
	assert_null(m);
	rfs_metrics_free(&m);
	rfs_metrics_free(NULL);
}

static void test_counter_render(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct rfs_metric *pulls, *errs, *pushes;
	static const char *const want[] = {
		"# HELP regfs_serve_pulls_total Manifests and blobs served, by repository.",
		"# TYPE regfs_serve_pulls_total counter",
		"regfs_serve_pulls_total{repository=\"\"} 1",
		"regfs_serve_pulls_total{repository=\"alpha\"} 1",
		"regfs_serve_pulls_total{repository=\"team/app\"} 5",
		"regfs_serve_pulls_total{repository=\"team/app2\"} 9007199254740993",
		"regfs_serve_pulls_total{repository=\"zeta\"} 0",
		"# HELP regfs_serve_upstream_errors_total Errors from upstreams.",
		"# TYPE regfs_serve_upstream_errors_total counter",
		"regfs_serve_upstream_errors_total 8",
		"# HELP regfs_serve_pushes_total Manifests and blobs stored, by repository.",
		"# TYPE regfs_serve_pushes_total counter",
	};

	assert_int_equal(rfs_metrics_new(&m), 0);
	pulls = rfs_metrics_counter(
	    m, "regfs_serve_pulls_total",
	    "Manifests and blobs served, by repository.", "repository");
	errs = rfs_metrics_counter(m, "regfs_serve_upstream_errors_total",
				   "Errors from upstreams.", NULL);
	pushes = rfs_metrics_counter(
	    m, "regfs_serve_pushes_total",
	    "Manifests and blobs stored, by repository.", "repository");
	assert_non_null(pulls);
	assert_non_null(errs);
	assert_non_null(pushes);

	/* An unlabelled counter shows 0 before any update. */
	{
		char *text = render(m);

		assert_non_null(
		    strstr(text, "\nregfs_serve_upstream_errors_total 0\n"));
		free(text);
	}
	rfs_metric_add(pulls, "team/app", 2);
	rfs_metric_add(pulls, "zeta", 0);
	rfs_metric_add(pulls, "alpha", 1);
	rfs_metric_add(pulls, "team/app", 3);
	rfs_metric_add(pulls, NULL, 1); /* the empty value */
	rfs_metric_add(pulls, "team/app2", (UINT64_C(1) << 53) + 1);
	rfs_metric_add(errs, NULL, 7);
	rfs_metric_add(errs, "ignored", 1);
	assert_render(m, want, ARRAY_SIZE(want));
	rfs_metrics_free(&m);
}

static void test_gauge_render(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct rfs_metric *inflight, *g;
	static const char *const want[] = {
		"# HELP regfs_serve_requests_in_flight Requests being answered.",
		"# TYPE regfs_serve_requests_in_flight gauge",
		"regfs_serve_requests_in_flight 4",
		"# HELP t_value Numbers that must read back exactly.",
		"# TYPE t_value gauge",
		"t_value{v=\"a_tenth\"} 0.1",
		"t_value{v=\"b_third\"} 0.3333333333333333",
		"t_value{v=\"c_sum\"} 0.30000000000000004",
		"t_value{v=\"d_big\"} 1e+21",
		"t_value{v=\"e_int\"} 123456789",
		"t_value{v=\"f_neg\"} -2.5",
		"t_value{v=\"g_tiny\"} 5e-324",
		"t_value{v=\"h_max\"} 1.7976931348623157e+308",
		"t_value{v=\"i_negzero\"} -0",
		"t_value{v=\"j_nan\"} NaN",
		"t_value{v=\"k_inf\"} +Inf",
		"t_value{v=\"l_ninf\"} -Inf",
		"t_value{v=\"m_reset\"} 1",
	};

	assert_int_equal(rfs_metrics_new(&m), 0);
	inflight = rfs_metrics_gauge(m, "regfs_serve_requests_in_flight",
				     "Requests being answered.", NULL);
	g = rfs_metrics_gauge(m, "t_value",
			      "Numbers that must read back exactly.", "v");
	assert_non_null(inflight);
	assert_non_null(g);

	rfs_metric_set(inflight, NULL, 3);
	rfs_metric_gauge_add(inflight, NULL, 2);
	rfs_metric_gauge_add(inflight, NULL, -1);
	rfs_metric_set(g, "a_tenth", 0.1);
	rfs_metric_set(g, "b_third", 1.0 / 3.0);
	rfs_metric_set(g, "c_sum", 0.1);
	rfs_metric_gauge_add(g, "c_sum", 0.2);
	rfs_metric_set(g, "d_big", 1e21);
	rfs_metric_set(g, "e_int", 123456789);
	rfs_metric_set(g, "f_neg", -2.5);
	rfs_metric_set(g, "g_tiny", 4.9406564584124654e-324);
	rfs_metric_set(g, "h_max", 1.7976931348623157e308);
	rfs_metric_set(g, "i_negzero", -0.0);
	rfs_metric_set(g, "j_nan", NAN);
	rfs_metric_set(g, "k_inf", INFINITY);
	rfs_metric_set(g, "l_ninf", -INFINITY);
	rfs_metric_set(g, "m_reset", 99);
	rfs_metric_set(g, "m_reset", 1);
	assert_render(m, want, ARRAY_SIZE(want));
	rfs_metrics_free(&m);
}

static void test_histogram_render(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct rfs_metric *h, *fresh, *bare;
	static const double b[] = { 0.25, 0.5, 1, 2.5 };
	/* A final +Inf is accepted and not printed twice. */
	static const double defaults[] = { 0.005, 0.01, 0.1, INFINITY };
	static const char *const want[] = {
		"# HELP regfs_serve_request_seconds Request latency, by route.",
		"# TYPE regfs_serve_request_seconds histogram",
		"regfs_serve_request_seconds_bucket{route=\"blob\",le=\"0.25\"} 1",
		"regfs_serve_request_seconds_bucket{route=\"blob\",le=\"0.5\"} 2",
		"regfs_serve_request_seconds_bucket{route=\"blob\",le=\"1\"} 4",
		"regfs_serve_request_seconds_bucket{route=\"blob\",le=\"2.5\"} 4",
		"regfs_serve_request_seconds_bucket{route=\"blob\",le=\"+Inf\"} 5",
		"regfs_serve_request_seconds_sum{route=\"blob\"} 5.375",
		"regfs_serve_request_seconds_count{route=\"blob\"} 5",
		"regfs_serve_request_seconds_bucket{route=\"manifest\",le=\"0.25\"} 1",
		"regfs_serve_request_seconds_bucket{route=\"manifest\",le=\"0.5\"} 1",
		"regfs_serve_request_seconds_bucket{route=\"manifest\",le=\"1\"} 1",
		"regfs_serve_request_seconds_bucket{route=\"manifest\",le=\"2.5\"} 2",
		"regfs_serve_request_seconds_bucket{route=\"manifest\",le=\"+Inf\"} 2",
		"regfs_serve_request_seconds_sum{route=\"manifest\"} 1.25",
		"regfs_serve_request_seconds_count{route=\"manifest\"} 2",
		"# HELP t_fresh_seconds No observation yet.",
		"# TYPE t_fresh_seconds histogram",
		"t_fresh_seconds_bucket{le=\"0.005\"} 0",
		"t_fresh_seconds_bucket{le=\"0.01\"} 0",
		"t_fresh_seconds_bucket{le=\"0.1\"} 0",
		"t_fresh_seconds_bucket{le=\"+Inf\"} 0",
		"t_fresh_seconds_sum 0",
		"t_fresh_seconds_count 0",
		"# HELP t_bare No bounds but +Inf.",
		"# TYPE t_bare histogram",
		"t_bare_bucket{le=\"+Inf\"} 2",
		"t_bare_sum 7.5",
		"t_bare_count 2",
	};

	assert_int_equal(rfs_metrics_new(&m), 0);
	h = rfs_metrics_histogram(m, "regfs_serve_request_seconds",
				  "Request latency, by route.", "route", b,
				  ARRAY_SIZE(b));
	fresh =
	    rfs_metrics_histogram(m, "t_fresh_seconds", "No observation yet.",
				  NULL, defaults, ARRAY_SIZE(defaults));
	bare = rfs_metrics_histogram(m, "t_bare", "No bounds but +Inf.", NULL,
				     NULL, 0);
	assert_non_null(h);
	assert_non_null(fresh);
	assert_non_null(bare);

	rfs_metric_observe(h, "manifest", 2.5); /* on a bound: that bucket */
	rfs_metric_observe(h, "blob", 0.125);
	rfs_metric_observe(h, "blob", 0.5); /* on a bound */
	rfs_metric_observe(h, "blob", 0.75);
	rfs_metric_observe(h, "blob", 3);	  /* past all: +Inf */
	rfs_metric_observe(h, "blob", 1);	  /* on a bound */
	rfs_metric_observe(h, "blob", NAN);	  /* ignored */
	rfs_metric_observe(h, "manifest", -1.25); /* below all: the first */
	rfs_metric_observe(bare, NULL, 2.5);
	rfs_metric_observe(bare, NULL, 5);
	assert_render(m, want, ARRAY_SIZE(want));
	rfs_metrics_free(&m);
}

static void test_escaping(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct rfs_metric *c;
	static const char *const want[] = {
		"# HELP t_total Line one\\nback\\\\slash \"quoted\" tab\there.",
		"# TYPE t_total counter",
		"t_total{repository=\"a\\\\b\\\"c\\nd\"} 2",
		"t_total{repository=\"caf\xc3\xa9/\xe2\x82\xac\"} 1",
		"t_total{repository=\"trailing\\\\\"} 1",
	};

	assert_int_equal(rfs_metrics_new(&m), 0);
	c = rfs_metrics_counter(m, "t_total",
				"Line one\nback\\slash \"quoted\" tab\there.",
				"repository");
	assert_non_null(c);
	rfs_metric_add(c, "a\\b\"c\nd", 1);
	rfs_metric_add(c, "a\\b\"c\nd", 1);
	rfs_metric_add(c, "caf\xc3\xa9/\xe2\x82\xac", 1);
	rfs_metric_add(c, "trailing\\", 1);
	assert_render(m, want, ARRAY_SIZE(want));
	rfs_metrics_free(&m);
}

static void test_series_cap(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct rfs_metric *c, *len, *h;
	char value[RFS_METRICS_LABEL_VALUE_MAX + 2];
	char *text;
	const size_t extra = 500;
	static const double b[] = { 1 };

	assert_int_equal(rfs_metrics_new(&m), 0);
	c = rfs_metrics_counter(m, "t_total", "Capped.", "repository");
	assert_non_null(c);
	/* RFS_METRICS_SERIES_MAX - 1 values get their own series, the rest
	 * go to _other, every time they are seen. */
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < RFS_METRICS_SERIES_MAX - 1 + extra;
		     i++) {
			char name[32];

			snprintf(name, sizeof(name), "repo-%zu", i);
			rfs_metric_add(c, name, 1);
		}
	}
	rfs_metric_add(c, "repo-5", 10); /* an existing series still counts */
	text = render(m);
	assert_int_equal(count_prefix(text, "t_total{"),
			 RFS_METRICS_SERIES_MAX);
	assert_int_equal(sample_value(text, "t_total{repository=\"_other\"}"),
			 2 * extra);
	assert_int_equal(sample_value(text, "t_total{repository=\"repo-5\"}"),
			 12);
	assert_int_equal(sample_value(text, "t_total{repository=\"repo-998\"}"),
			 2);
	assert_null(strstr(text, "repo-999\""));
	free(text);

	/* Long or malformed values go to _other at once. */
	len = rfs_metrics_counter(m, "t_len_total", "Bounded.", "repository");
	assert_non_null(len);
	memset(value, 'x', RFS_METRICS_LABEL_VALUE_MAX);
	value[RFS_METRICS_LABEL_VALUE_MAX] = '\0';
	rfs_metric_add(len, value, 1); /* at the bound: its own series */
	value[RFS_METRICS_LABEL_VALUE_MAX] = 'x';
	value[RFS_METRICS_LABEL_VALUE_MAX + 1] = '\0';
	rfs_metric_add(len, value, 10);
	rfs_metric_add(len, "\xff", 100);	      /* not UTF-8 */
	rfs_metric_add(len, "\xc0\xaf", 100);	      /* overlong '/' */
	rfs_metric_add(len, "\xed\xa0\x80", 100);     /* a surrogate */
	rfs_metric_add(len, "a\xc3", 100);	      /* cut short */
	rfs_metric_add(len, "\xf4\x90\x80\x80", 100); /* past U+10FFFF */
	rfs_metric_add(len, RFS_METRICS_OTHER, 1000); /* its own name */
	text = render(m);
	assert_int_equal(count_prefix(text, "t_len_total{"), 2);
	assert_int_equal(
	    sample_value(text, "t_len_total{repository=\"_other\"}"), 1510);
	value[RFS_METRICS_LABEL_VALUE_MAX] = '\0';
	{
		char series[RFS_METRICS_LABEL_VALUE_MAX + 64];

		snprintf(series, sizeof(series),
			 "t_len_total{repository=\"%s\"}", value);
		assert_int_equal(sample_value(text, series), 1);
	}
	free(text);

	/* Histograms are capped the same way. */
	h = rfs_metrics_histogram(m, "t_seconds", "Capped.", "repository", b,
				  ARRAY_SIZE(b));
	assert_non_null(h);
	for (size_t i = 0; i < 2 * RFS_METRICS_SERIES_MAX; i++) {
		char name[32];

		snprintf(name, sizeof(name), "r%zu", i);
		rfs_metric_observe(h, name, 2);
	}
	text = render(m);
	assert_int_equal(count_prefix(text, "t_seconds_count{"),
			 RFS_METRICS_SERIES_MAX);
	assert_int_equal(
	    sample_value(text, "t_seconds_count{repository=\"_other\"}"),
	    RFS_METRICS_SERIES_MAX + 1);
	assert_int_equal(
	    sample_value(text,
			 "t_seconds_bucket{repository=\"_other\",le=\"+Inf\"}"),
	    RFS_METRICS_SERIES_MAX + 1);
	assert_int_equal(
	    sample_value(text, "t_seconds_sum{repository=\"_other\"}"),
	    2 * (RFS_METRICS_SERIES_MAX + 1));
	free(text);
	rfs_metrics_free(&m);
}

static void test_null_and_kind(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct rfs_metric *c, *g, *h;
	static const double b[] = { 1 };
	static const char *const want[] = {
		"# HELP c_total c",
		"# TYPE c_total counter",
		"c_total 1",
		"# HELP g g",
		"# TYPE g gauge",
		"g 2",
		"# HELP h h",
		"# TYPE h histogram",
		"h_bucket{le=\"1\"} 0",
		"h_bucket{le=\"+Inf\"} 1",
		"h_sum 3",
		"h_count 1",
	};
	char *text = (char *)"unchanged";

	/* NULL families: no-ops. */
	rfs_metric_add(NULL, "x", 1);
	rfs_metric_set(NULL, "x", 1);
	rfs_metric_gauge_add(NULL, "x", 1);
	rfs_metric_observe(NULL, "x", 1);
	assert_int_equal(rfs_metrics_render(NULL, &text, NULL), -EINVAL);
	assert_null(text);

	assert_int_equal(rfs_metrics_new(&m), 0);
	assert_int_equal(rfs_metrics_render(m, NULL, NULL), -EINVAL);
	c = rfs_metrics_counter(m, "c_total", "c", NULL);
	g = rfs_metrics_gauge(m, "g", "g", NULL);
	h = rfs_metrics_histogram(m, "h", "h", NULL, b, ARRAY_SIZE(b));
	rfs_metric_add(c, NULL, 1);
	rfs_metric_set(g, NULL, 2);
	rfs_metric_observe(h, NULL, 3);
	/* The wrong kind: no-ops. */
	rfs_metric_set(c, NULL, 100);
	rfs_metric_gauge_add(c, NULL, 100);
	rfs_metric_observe(c, NULL, 100);
	rfs_metric_add(g, NULL, 100);
	rfs_metric_observe(g, NULL, 100);
	rfs_metric_add(h, NULL, 100);
	rfs_metric_set(h, NULL, 100);
	rfs_metric_gauge_add(h, NULL, 100);
	assert_render(m, want, ARRAY_SIZE(want));
	rfs_metrics_free(&m);
}

static void expect_refused(struct rfs_metric *f, int err, const char *what)
{
	if (f)
		fail_msg("%s: registered", what);
	if (errno != err)
		fail_msg("%s: errno %d, want %d", what, errno, err);
}

static void test_names(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	static const char *const good_names[] = {
		"a", "_a", ":a", "a:b_c9", "A", "regfs_serve_pulls_total",
	};
	static const char *const bad_names[] = {
		"", "9a", "a-b", "a b", "a.b", "caf\xc3\xa9", "a{", "a\n",
	};
	static const char *const good_labels[] = {
		"repository", "_x", "a9", "le", "Route",
	};
	static const char *const bad_labels[] = {
		"", "9a", "a:b", "__name__", "__x", "a-b", "a b", ":a",
	};
	static const double ok[] = { 1, 2 };
	static const double dec[] = { 2, 1 };
	static const double eq[] = { 1, 1 };
	static const double nan_b[] = { 1, NAN };
	static const double ninf[] = { -INFINITY, 1 };
	static const double inf_mid[] = { 1, INFINITY, 2 };
	static const double inf_only[] = { INFINITY };
	double many[RFS_METRICS_BUCKETS_MAX + 1];
	char name[64];
	char *text;

	assert_int_equal(rfs_metrics_new(&m), 0);
	for (size_t i = 0; i < ARRAY_SIZE(good_names); i++) {
		if (!rfs_metrics_gauge(m, good_names[i], "h", NULL))
			fail_msg("name '%s' refused", good_names[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		errno = 0;
		expect_refused(rfs_metrics_counter(m, bad_names[i], "h", NULL),
			       EINVAL, bad_names[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good_labels); i++) {
		snprintf(name, sizeof(name), "t_label_%zu", i);
		if (!rfs_metrics_counter(m, name, "h", good_labels[i]))
			fail_msg("label '%s' refused", good_labels[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_labels); i++) {
		snprintf(name, sizeof(name), "t_bad_label_%zu", i);
		errno = 0;
		expect_refused(rfs_metrics_counter(m, name, "h", bad_labels[i]),
			       EINVAL, bad_labels[i]);
	}
	/* "le" is a histogram's own label. */
	expect_refused(rfs_metrics_histogram(m, "t_h_le", "h", "le", ok, 2),
		       EINVAL, "histogram label le");
	expect_refused(rfs_metrics_counter(NULL, "t_x", "h", NULL), EINVAL,
		       "NULL registry");
	expect_refused(rfs_metrics_counter(m, NULL, "h", NULL), EINVAL,
		       "NULL name");
	expect_refused(rfs_metrics_counter(m, "t_x", NULL, NULL), EINVAL,
		       "NULL help");
	expect_refused(rfs_metrics_counter(m, "t_x", "bad \xff", NULL), EINVAL,
		       "help not UTF-8");

	/* Names taken, including those a histogram renders. */
	expect_refused(rfs_metrics_gauge(m, "a", "again", NULL), EEXIST,
		       "same name");
	expect_refused(rfs_metrics_counter(m, "a", "again", "x"), EEXIST,
		       "same name, other kind");
	assert_non_null(rfs_metrics_histogram(m, "t_h", "h", NULL, ok, 2));
	expect_refused(rfs_metrics_counter(m, "t_h_count", "h", NULL), EEXIST,
		       "counter on a histogram's _count");
	expect_refused(rfs_metrics_gauge(m, "t_h_bucket", "h", NULL), EEXIST,
		       "gauge on a histogram's _bucket");
	expect_refused(rfs_metrics_histogram(m, "t_h_sum", "h", NULL, ok, 2),
		       EEXIST, "histogram on a histogram's _sum");
	assert_non_null(rfs_metrics_counter(m, "t_y_sum", "h", NULL));
	expect_refused(rfs_metrics_histogram(m, "t_y", "h", NULL, ok, 2),
		       EEXIST, "histogram whose _sum is taken");
	assert_non_null(rfs_metrics_counter(m, "t_h_countx", "h", NULL));

	/* Buckets. */
	expect_refused(rfs_metrics_histogram(m, "t_b1", "h", NULL, dec, 2),
		       EINVAL, "decreasing bounds");
	expect_refused(rfs_metrics_histogram(m, "t_b2", "h", NULL, eq, 2),
		       EINVAL, "equal bounds");
	expect_refused(rfs_metrics_histogram(m, "t_b3", "h", NULL, nan_b, 2),
		       EINVAL, "NaN bound");
	expect_refused(rfs_metrics_histogram(m, "t_b4", "h", NULL, ninf, 2),
		       EINVAL, "-Inf bound");
	expect_refused(rfs_metrics_histogram(m, "t_b5", "h", NULL, inf_mid, 3),
		       EINVAL, "+Inf not last");
	expect_refused(rfs_metrics_histogram(m, "t_b6", "h", NULL, NULL, 1),
		       EINVAL, "NULL bounds");
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (double)i;
	expect_refused(
	    rfs_metrics_histogram(m, "t_b7", "h", NULL, many, ARRAY_SIZE(many)),
	    EINVAL, "too many bounds");
	assert_non_null(rfs_metrics_histogram(m, "t_b8", "h", NULL, many,
					      RFS_METRICS_BUCKETS_MAX));
	assert_non_null(
	    rfs_metrics_histogram(m, "t_b9", "h", NULL, inf_only, 1));

	/* What was refused left no trace. */
	text = render(m);
	assert_null(strstr(text, "t_b1"));
	assert_null(strstr(text, "t_x"));
	assert_null(strstr(text, "t_bad_label"));
	assert_int_equal(count_prefix(text, "# TYPE t_b9 histogram"), 1);
	assert_int_equal(count_prefix(text, "t_b9_bucket{le=\"+Inf\"} 0"), 1);
	assert_int_equal(count_prefix(text, "t_b8_bucket{"),
			 RFS_METRICS_BUCKETS_MAX + 1);
	assert_int_equal(count_prefix(text, "# TYPE a gauge"), 1);
	free(text);
	rfs_metrics_free(&m);
}

/* ---- concurrency ---- */

#define THREADS	   8
#define ITERATIONS 20000

static const char *const repos[] = { "r0", "team/r1", "r2", "r3" };

struct worker {
	pthread_t thread;
	int id;
	struct rfs_metric *pulls, *bytes, *errs, *inflight, *latency;
	struct rfs_metrics *m;
	bool render;
	size_t renders;
	const char *failure;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	if (w->render) {
		/* Scrape while the others count: every scrape parses. */
		for (size_t i = 0; i < 40; i++) {
			char *text;
			size_t len;

			if (rfs_metrics_render(w->m, &text, &len) < 0) {
				w->failure = "render failed";
				return NULL;
			}
			if (check_exposition(text, len))
				w->failure = "malformed render";
			free(text);
			w->renders++;
		}
		return NULL;
	}
	for (int i = 0; i < ITERATIONS; i++) {
		char own[32];

		/* Each thread also makes new series while others look up. */
		snprintf(own, sizeof(own), "t%d-%d", w->id, i % 50);
		rfs_metric_gauge_add(w->inflight, NULL, 1);
		rfs_metric_add(w->pulls, repos[i % 4], 1);
		rfs_metric_add(w->bytes, own, (uint64_t)i);
		rfs_metric_add(w->errs, NULL, 1);
		rfs_metric_observe(w->latency, repos[i % 4], (i % 3) * 0.5);
		rfs_metric_gauge_add(w->inflight, NULL, -1);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	struct rfs_metrics *m = NULL;
	struct worker w[THREADS + 1];
	static const double b[] = { 0.25, 0.75 };
	char series[128];
	char *text;

	assert_int_equal(rfs_metrics_new(&m), 0);
	memset(w, 0, sizeof(w));
	for (int t = 0; t <= THREADS; t++) {
		w[t].id = t;
		w[t].m = m;
		w[t].render = t == THREADS;
		if (t == 0) {
			w[t].pulls = rfs_metrics_counter(m, "t_pulls_total",
							 "p", "repository");
			w[t].bytes = rfs_metrics_counter(m, "t_bytes_total",
							 "b", "repository");
			w[t].errs =
			    rfs_metrics_counter(m, "t_errors_total", "e", NULL);
			w[t].inflight =
			    rfs_metrics_gauge(m, "t_in_flight", "i", NULL);
			w[t].latency = rfs_metrics_histogram(m, "t_seconds",
							     "l", "repository",
							     b, ARRAY_SIZE(b));
			assert_non_null(w[t].pulls);
			assert_non_null(w[t].bytes);
			assert_non_null(w[t].errs);
			assert_non_null(w[t].inflight);
			assert_non_null(w[t].latency);
		} else {
			w[t].pulls = w[0].pulls;
			w[t].bytes = w[0].bytes;
			w[t].errs = w[0].errs;
			w[t].inflight = w[0].inflight;
			w[t].latency = w[0].latency;
		}
	}
	for (int t = 0; t <= THREADS; t++)
		assert_int_equal(
		    pthread_create(&w[t].thread, NULL, worker_run, &w[t]), 0);
	for (int t = 0; t <= THREADS; t++) {
		assert_int_equal(pthread_join(w[t].thread, NULL), 0);
		if (w[t].failure)
			fail_msg("thread %d: %s", t, w[t].failure);
	}
	assert_int_equal(w[THREADS].renders, 40);

	text = render(m);
	for (size_t r = 0; r < ARRAY_SIZE(repos); r++) {
		/* Per thread, repos[r] gets ITERATIONS / 4 pulls and
		 * observations; of i = r, r + 4, ... the values (i % 3) * 0.5
		 * cycle through 0, 0.5 and 1. */
		uint64_t n[3] = { 0 };
		double sum = 0;

		for (int i = (int)r; i < ITERATIONS; i += 4) {
			n[i % 3]++;
			sum += (i % 3) * 0.5;
		}
		snprintf(series, sizeof(series),
			 "t_pulls_total{repository=\"%s\"}", repos[r]);
		assert_int_equal(sample_value(text, series),
				 THREADS * ITERATIONS / 4);
		snprintf(series, sizeof(series),
			 "t_seconds_bucket{repository=\"%s\",le=\"0.25\"}",
			 repos[r]);
		assert_int_equal(sample_value(text, series), THREADS * n[0]);
		snprintf(series, sizeof(series),
			 "t_seconds_bucket{repository=\"%s\",le=\"0.75\"}",
			 repos[r]);
		assert_int_equal(sample_value(text, series),
				 THREADS * (n[0] + n[1]));
		snprintf(series, sizeof(series),
			 "t_seconds_count{repository=\"%s\"}", repos[r]);
		assert_int_equal(sample_value(text, series),
				 THREADS * ITERATIONS / 4);
		snprintf(series, sizeof(series),
			 "t_seconds_sum{repository=\"%s\"}", repos[r]);
		/* Sums of halves are exact in binary. */
		assert_true(sample_value(text, series) == THREADS * sum);
	}
	assert_int_equal(sample_value(text, "t_errors_total"),
			 THREADS * ITERATIONS);
	assert_true(sample_value(text, "t_in_flight") == 0);
	assert_int_equal(count_prefix(text, "t_bytes_total{"), THREADS * 50);
	for (int t = 0; t < THREADS; t++) {
		uint64_t want = 0;

		for (int i = 7; i < ITERATIONS; i += 50)
			want += (uint64_t)i;
		snprintf(series, sizeof(series),
			 "t_bytes_total{repository=\"t%d-7\"}", t);
		assert_int_equal(sample_value(text, series), want);
	}
	free(text);
	rfs_metrics_free(&m);
}

/* A process locale with a decimal comma must not leak into the output. */
static void test_locale(void **state)
{
	(void)state;
	static const char *const comma[] = { "de_DE.UTF-8", "de_DE.utf8",
					     "fr_FR.UTF-8", "fr_FR.utf8" };
	struct rfs_metrics *m = NULL;
	struct rfs_metric *g, *h;
	static const double b[] = { 0.5 };
	char *old = strdup(setlocale(LC_ALL, NULL)), *text, buf[16];
	const char *set = NULL;

	assert_non_null(old);
	for (size_t i = 0; i < ARRAY_SIZE(comma) && !set; i++)
		set = setlocale(LC_ALL, comma[i]);
	if (!set) {
		free(old);
		skip(); /* no such locale installed here */
	}
	snprintf(buf, sizeof(buf), "%g", 0.5);
	assert_string_equal(buf, "0,5"); /* the locale is in effect */

	assert_int_equal(rfs_metrics_new(&m), 0);
	g = rfs_metrics_gauge(m, "t_g", "g", NULL);
	h = rfs_metrics_histogram(m, "t_h", "h", NULL, b, ARRAY_SIZE(b));
	rfs_metric_set(g, NULL, 1.5);
	rfs_metric_observe(h, NULL, 0.25);
	text = render(m);
	assert_non_null(strstr(text, "\nt_g 1.5\n"));
	assert_non_null(strstr(text, "\nt_h_bucket{le=\"0.5\"} 1\n"));
	assert_non_null(strstr(text, "\nt_h_sum 0.25\n"));
	free(text);
	rfs_metrics_free(&m);

	/* The caller's locale is left as it was. */
	snprintf(buf, sizeof(buf), "%g", 0.5);
	assert_string_equal(buf, "0,5");
	setlocale(LC_ALL, old);
	free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker_rejects),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_counter_render),
		cmocka_unit_test(test_gauge_render),
		cmocka_unit_test(test_histogram_render),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_series_cap),
		cmocka_unit_test(test_null_and_kind),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_locale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
