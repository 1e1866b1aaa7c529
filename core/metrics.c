/*
 * metrics.c - counters, gauges and histograms for GET /metrics (see
 * metrics.h for what the module promises).
 *
 * Each family keeps its series in an open-addressing hash table (linear
 * probing, at most half full) keyed by label value, under its own mutex. The
 * label value is measured, checked and hashed before the lock is taken, so
 * the locked part of an update is a probe, a compare and an add. The table
 * never holds more than RFS_METRICS_SERIES_MAX series, so even label values
 * crafted to collide cost a bounded number of probes.
 *
 * Rendering copies a family's values under its lock, then sorts and prints
 * outside it: a scrape of a family of a thousand histograms does not stall
 * the threads that count into it. Numbers are printed under a "C" locale set
 * for the rendering thread only (uselocale), so a process that calls
 * setlocale() still prints "0.5", never "0,5".
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "names.h"

enum kind {
	KIND_COUNTER,
	KIND_GAUGE,
	KIND_HISTOGRAM,
};

static const char *const kind_names[] = {
	[KIND_COUNTER] = "counter",
	[KIND_GAUGE] = "gauge",
	[KIND_HISTOGRAM] = "histogram",
};

/* Room for any double printed by fmt_double(): "-1.2345678901234567e-308". */
#define NUM_MAX 32

struct series {
	uint64_t hash;
	uint64_t count;	   /* a counter's value */
	double value;	   /* a gauge's value, a histogram's sum */
	const char *label; /* NUL-terminated, in the same allocation */
	size_t label_len;
	/* A histogram's count per bucket (not cumulative), n_bounds + 1 of
	 * them, the last one for +Inf. */
	uint64_t buckets[];
};

struct rfs_metric {
	struct rfs_metric *next; /* registration order */
	enum kind kind;
	char *name;
	char *help;
	char *label; /* NULL: one series, no label */
	double *bounds;
	char (*le)[NUM_MAX]; /* the bounds as printed */
	size_t n_bounds;

	pthread_mutex_t lock; /* guards everything below */
	bool lock_ready;
	struct series *only; /* the series of an unlabelled family */
	struct series **slots;
	size_t n_slots; /* 0 or a power of two */
	size_t n_series;
};

struct rfs_metrics {
	pthread_mutex_t lock; /* guards the list of families */
	struct rfs_metric *head;
	struct rfs_metric *tail;
	locale_t c_locale;
};

/* A label value ready for lookup: measured, checked and hashed. */
struct key {
	const char *s;
	size_t len;
	uint64_t hash;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3u;
	}
	return h;
}

static void key_other(struct key *k)
{
	k->s = RFS_METRICS_OTHER;
	k->len = sizeof(RFS_METRICS_OTHER) - 1;
	k->hash = hash_bytes(k->s, k->len);
}

/* What no series may be named (too long, not UTF-8) goes to _other. */
static void key_make(struct key *k, const char *value)
{
	if (!value)
		value = "";
	k->len = strnlen(value, RFS_METRICS_LABEL_VALUE_MAX + 1);
	if (k->len > RFS_METRICS_LABEL_VALUE_MAX ||
	    !rfs_utf8_valid(value, k->len)) {
		key_other(k);
		return;
	}
	k->s = value;
	k->hash = hash_bytes(value, k->len);
}

static bool key_is_other(const struct key *k)
{
	return k->len == sizeof(RFS_METRICS_OTHER) - 1 &&
	       memcmp(k->s, RFS_METRICS_OTHER, k->len) == 0;
}

static struct series *series_alloc(const struct rfs_metric *f,
				   const struct key *k)
{
	size_t nb = f->kind == KIND_HISTOGRAM ? f->n_bounds + 1 : 0;
	struct series *s;
	char *label;

	s = calloc(1, sizeof(*s) + nb * sizeof(s->buckets[0]) + k->len + 1);
	if (!s)
		return NULL;
	label = (char *)(s->buckets + nb);
	memcpy(label, k->s, k->len);
	label[k->len] = '\0';
	s->label = label;
	s->label_len = k->len;
	s->hash = k->hash;
	return s;
}

/* Under f->lock. */
static struct series *table_lookup(const struct rfs_metric *f,
				   const struct key *k)
{
	size_t mask = f->n_slots - 1;

	if (!f->n_slots)
		return NULL;
	for (size_t i = k->hash & mask;; i = (i + 1) & mask) {
		struct series *s = f->slots[i];

		if (!s)
			return NULL;
		if (s->hash == k->hash && s->label_len == k->len &&
		    memcmp(s->label, k->s, k->len) == 0)
			return s;
	}
}

static void table_place(struct series **slots, size_t n_slots, struct series *s)
{
	size_t mask = n_slots - 1;
	size_t i = s->hash & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = s;
}

/* Under f->lock. Keeps the table at most half full. */
static int table_grow(struct rfs_metric *f)
{
	size_t n = f->n_slots ? f->n_slots * 2 : 16;
	struct series **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < f->n_slots; i++) {
		if (f->slots[i])
			table_place(slots, n, f->slots[i]);
	}
	free(f->slots);
	f->slots = slots;
	f->n_slots = n;
	return 0;
}

/* Under f->lock. NULL when out of memory: the update is lost. */
static struct series *table_insert(struct rfs_metric *f, const struct key *k)
{
	struct series *s;

	if ((f->n_series + 1) * 2 > f->n_slots && table_grow(f) < 0)
		return NULL;
	s = series_alloc(f, k);
	if (!s)
		return NULL;
	table_place(f->slots, f->n_slots, s);
	f->n_series++;
	return s;
}

/* Under f->lock: the series an update goes to, created if need be. One slot
 * is kept for _other, so the overflow series can always be made. */
static struct series *series_find(struct rfs_metric *f, const struct key *k)
{
	struct series *s;
	struct key other;

	if (!f->label)
		return f->only;
	s = table_lookup(f, k);
	if (s)
		return s;
	if (f->n_series + 1 < RFS_METRICS_SERIES_MAX || key_is_other(k))
		return table_insert(f, k);
	key_other(&other);
	s = table_lookup(f, &other);
	return s ? s : table_insert(f, &other);
}

void rfs_metric_add(struct rfs_metric *f, const char *label_value, uint64_t n)
{
	struct series *s;
	struct key k = { 0 };

	if (!f || f->kind != KIND_COUNTER)
		return;
	if (f->label)
		key_make(&k, label_value);
	pthread_mutex_lock(&f->lock);
	s = series_find(f, &k);
	if (s)
		s->count += n;
	pthread_mutex_unlock(&f->lock);
}

static void gauge_update(struct rfs_metric *f, const char *label_value,
			 double v, bool relative)
{
	struct series *s;
	struct key k = { 0 };

	if (!f || f->kind != KIND_GAUGE)
		return;
	if (f->label)
		key_make(&k, label_value);
	pthread_mutex_lock(&f->lock);
	s = series_find(f, &k);
	if (s)
		s->value = relative ? s->value + v : v;
	pthread_mutex_unlock(&f->lock);
}

void rfs_metric_set(struct rfs_metric *f, const char *label_value, double v)
{
	gauge_update(f, label_value, v, false);
}

void rfs_metric_gauge_add(struct rfs_metric *f, const char *label_value,
			  double delta)
{
	gauge_update(f, label_value, delta, true);
}

void rfs_metric_observe(struct rfs_metric *f, const char *label_value, double v)
{
	struct series *s;
	struct key k = { 0 };
	size_t lo = 0, hi;

	if (!f || f->kind != KIND_HISTOGRAM || isnan(v))
		return;
	/* The first bound >= v, or n_bounds for the +Inf bucket. */
	hi = f->n_bounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (f->label)
		key_make(&k, label_value);
	pthread_mutex_lock(&f->lock);
	s = series_find(f, &k);
	if (s) {
		s->buckets[lo]++;
		s->value += v;
	}
	pthread_mutex_unlock(&f->lock);
}

/* ---- registration ---- */

static bool is_alpha_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool metric_name_valid(const char *s)
{
	if (!is_alpha_(s[0]) && s[0] != ':')
		return false;
	for (s++; *s; s++) {
		if (!is_alpha_(*s) && !is_digit(*s) && *s != ':')
			return false;
	}
	return true;
}

/* Names starting with "__" are reserved for Prometheus itself. */
static bool label_name_valid(const char *s)
{
	if (!is_alpha_(s[0]) || (s[0] == '_' && s[1] == '_'))
		return false;
	for (s++; *s; s++) {
		if (!is_alpha_(*s) && !is_digit(*s))
			return false;
	}
	return true;
}

/*
 * The shortest decimal that reads back as v: "0.1", not "0.10000000000000001".
 * For a normal double, if some k <= 15 digits round-trip, %.15g prints those
 * (its 15-digit rounding is that decimal padded with zeros, which %g strips),
 * so 15, 16 and 17 are the only precisions to try. A subnormal has fewer
 * significant bits (5e-324 is one), so it tries them all. Under a "C" locale.
 */
static void fmt_double(char buf[NUM_MAX], double v)
{
	if (isnan(v)) {
		snprintf(buf, NUM_MAX, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, NUM_MAX, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = isnormal(v) || v == 0 ? 15 : 1; prec <= 17; prec++) {
		snprintf(buf, NUM_MAX, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* Whether a1 a2 (concatenated) spells the same as b1 b2. */
static bool cat_eq(const char *a1, const char *a2, const char *b1,
		   const char *b2)
{
	for (;;) {
		if (!*a1 && a2) {
			a1 = a2;
			a2 = NULL;
			continue;
		}
		if (!*b1 && b2) {
			b1 = b2;
			b2 = NULL;
			continue;
		}
		if (*a1 != *b1)
			return false;
		if (!*a1)
			return true;
		a1++;
		b1++;
	}
}

/* The names a family takes in the output: its own (HELP, TYPE and the
 * samples of a counter or gauge) and a histogram's three sample names. */
static const char *const hist_suffixes[] = { "", "_bucket", "_sum", "_count" };

static bool families_collide(const struct rfs_metric *a,
			     const struct rfs_metric *b)
{
	size_t na = a->kind == KIND_HISTOGRAM ? 4 : 1;
	size_t nb = b->kind == KIND_HISTOGRAM ? 4 : 1;

	for (size_t i = 0; i < na; i++) {
		for (size_t j = 0; j < nb; j++) {
			if (cat_eq(a->name, hist_suffixes[i], b->name,
				   hist_suffixes[j]))
				return true;
		}
	}
	return false;
}

static void family_free(struct rfs_metric *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_slots; i++)
		free(f->slots[i]);
	free(f->slots);
	free(f->only);
	if (f->lock_ready)
		pthread_mutex_destroy(&f->lock);
	free(f->name);
	free(f->help);
	free(f->label);
	free(f->bounds);
	free(f->le);
	free(f);
}

/* Bounds as given, less a final +Inf; 0 or -EINVAL. */
static int bounds_check(const double *b, size_t *n)
{
	if (*n && !b)
		return -EINVAL;
	if (*n && isinf(b[*n - 1]) && b[*n - 1] > 0)
		(*n)--;
	if (*n > RFS_METRICS_BUCKETS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < *n; i++) {
		if (!isfinite(b[i]) || (i && !(b[i] > b[i - 1])))
			return -EINVAL;
	}
	return 0;
}

static int family_fill(struct rfs_metrics *m, struct rfs_metric *f,
		       const char *name, const char *help, const char *label,
		       const double *b, size_t n)
{
	f->name = strdup(name);
	f->help = strdup(help);
	f->label = label ? strdup(label) : NULL;
	if (!f->name || !f->help || (label && !f->label))
		return -ENOMEM;
	if (n) {
		locale_t old;

		f->bounds = malloc(n * sizeof(*f->bounds));
		f->le = malloc(n * sizeof(*f->le));
		if (!f->bounds || !f->le)
			return -ENOMEM;
		memcpy(f->bounds, b, n * sizeof(*f->bounds));
		old = uselocale(m->c_locale);
		for (size_t i = 0; i < n; i++)
			fmt_double(f->le[i], b[i]);
		uselocale(old);
	}
	f->n_bounds = n;
	if (!label) {
		struct key k = { .s = "", .len = 0, .hash = 0 };

		f->only = series_alloc(f, &k);
		if (!f->only)
			return -ENOMEM;
	}
	if (pthread_mutex_init(&f->lock, NULL) != 0)
		return -ENOMEM;
	f->lock_ready = true;
	return 0;
}

static struct rfs_metric *family_add(struct rfs_metrics *m, enum kind kind,
				     const char *name, const char *help,
				     const char *label, const double *b,
				     size_t n)
{
	struct rfs_metric *f = NULL;
	int rc = -EINVAL;

	if (!m || !name || !help || !metric_name_valid(name) ||
	    !rfs_utf8_valid(help, strlen(help)))
		goto fail;
	if (label && (!label_name_valid(label) ||
		      (kind == KIND_HISTOGRAM && strcmp(label, "le") == 0)))
		goto fail;
	if (kind == KIND_HISTOGRAM && bounds_check(b, &n) < 0)
		goto fail;

	rc = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto fail;
	f->kind = kind;
	rc = family_fill(m, f, name, help, label, b, n);
	if (rc < 0)
		goto fail;

	pthread_mutex_lock(&m->lock);
	for (struct rfs_metric *e = m->head; e; e = e->next) {
		if (families_collide(e, f)) {
			pthread_mutex_unlock(&m->lock);
			rc = -EEXIST;
			goto fail;
		}
	}
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	pthread_mutex_unlock(&m->lock);
	return f;

fail:
	family_free(f);
	errno = -rc;
	return NULL;
}

struct rfs_metric *rfs_metrics_counter(struct rfs_metrics *m, const char *name,
				       const char *help, const char *label)
{
	return family_add(m, KIND_COUNTER, name, help, label, NULL, 0);
}

struct rfs_metric *rfs_metrics_gauge(struct rfs_metrics *m, const char *name,
				     const char *help, const char *label)
{
	return family_add(m, KIND_GAUGE, name, help, label, NULL, 0);
}

struct rfs_metric *rfs_metrics_histogram(struct rfs_metrics *m,
					 const char *name, const char *help,
					 const char *label,
					 const double *buckets,
					 size_t n_buckets)
{
	return family_add(m, KIND_HISTOGRAM, name, help, label, buckets,
			  n_buckets);
}

int rfs_metrics_new(struct rfs_metrics **out)
{
	struct rfs_metrics *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (m->c_locale == (locale_t)0) {
		free(m);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		freelocale(m->c_locale);
		free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void rfs_metrics_free(struct rfs_metrics **mp)
{
	struct rfs_metrics *m;

	if (!mp || !*mp)
		return;
	m = *mp;
	for (struct rfs_metric *f = m->head, *next; f; f = next) {
		next = f->next;
		family_free(f);
	}
	pthread_mutex_destroy(&m->lock);
	freelocale(m->c_locale);
	free(m);
	*mp = NULL;
}

/* ---- rendering ---- */

/* A growing output buffer; a failed allocation sticks and is reported once
 * at the end. */
struct obuf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

static bool ob_reserve(struct obuf *ob, size_t extra)
{
	size_t cap;
	char *p;

	if (ob->failed)
		return false;
	if (ob->cap - ob->len > extra)
		return true;
	cap = ob->cap ? ob->cap : 4096;
	while (cap - ob->len <= extra)
		cap *= 2;
	p = realloc(ob->p, cap);
	if (!p) {
		ob->failed = true;
		return false;
	}
	ob->p = p;
	ob->cap = cap;
	return true;
}

static void ob_putn(struct obuf *ob, const char *s, size_t n)
{
	if (!ob_reserve(ob, n))
		return;
	memcpy(ob->p + ob->len, s, n);
	ob->len += n;
}

static void ob_puts(struct obuf *ob, const char *s)
{
	ob_putn(ob, s, strlen(s));
}

/* Backslash and newline become \\ and \n; so does a double quote (\") in a
 * label value, which is quoted. HELP text is not, and keeps its quotes. */
static void ob_escaped(struct obuf *ob, const char *s, bool quoted)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quoted)
			esc = "\\\"";
		if (!esc)
			continue;
		ob_putn(ob, run, (size_t)(s - run));
		ob_putn(ob, esc, 2);
		run = s + 1;
	}
	ob_putn(ob, run, (size_t)(s - run));
}

/* A family's series as read under its lock. */
struct snap {
	const char *label; /* immutable once the series exists */
	uint64_t count;
	double value;
	size_t at; /* a histogram's first bucket in the copied counts */
};

static int snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct snap *)a)->label,
		      ((const struct snap *)b)->label);
}

/* One sample line: NAME SUFFIX{LABEL="value",le="bound"} NUMBER */
static void put_sample(struct obuf *ob, const struct rfs_metric *f,
		       const char *suffix, const struct snap *s, const char *le,
		       const char *num)
{
	ob_puts(ob, f->name);
	ob_puts(ob, suffix);
	if (f->label || le) {
		ob_putn(ob, "{", 1);
		if (f->label) {
			ob_puts(ob, f->label);
			ob_putn(ob, "=\"", 2);
			ob_escaped(ob, s->label, true);
			ob_putn(ob, le ? "\"," : "\"", le ? 2 : 1);
		}
		if (le) {
			ob_putn(ob, "le=\"", 4);
			ob_puts(ob, le);
			ob_putn(ob, "\"", 1);
		}
		ob_putn(ob, "}", 1);
	}
	ob_putn(ob, " ", 1);
	ob_puts(ob, num);
	ob_putn(ob, "\n", 1);
}

static void put_series(struct obuf *ob, const struct rfs_metric *f,
		       const struct snap *s, const uint64_t *counts)
{
	char num[NUM_MAX];
	uint64_t cum = 0;

	switch (f->kind) {
	case KIND_COUNTER:
		snprintf(num, sizeof(num), "%" PRIu64, s->count);
		put_sample(ob, f, "", s, NULL, num);
		break;
	case KIND_GAUGE:
		fmt_double(num, s->value);
		put_sample(ob, f, "", s, NULL, num);
		break;
	case KIND_HISTOGRAM:
		for (size_t i = 0; i <= f->n_bounds; i++) {
			cum += counts[s->at + i];
			snprintf(num, sizeof(num), "%" PRIu64, cum);
			put_sample(ob, f, "_bucket", s,
				   i < f->n_bounds ? f->le[i] : "+Inf", num);
		}
		fmt_double(num, s->value);
		put_sample(ob, f, "_sum", s, NULL, num);
		/* The +Inf bucket, by construction. */
		snprintf(num, sizeof(num), "%" PRIu64, cum);
		put_sample(ob, f, "_count", s, NULL, num);
		break;
	}
}

static void snap_take(const struct rfs_metric *f, const struct series *src,
		      struct snap *s, uint64_t *counts, size_t at)
{
	size_t nb = f->n_bounds + 1;

	s->label = src->label;
	s->count = src->count;
	s->value = src->value;
	s->at = at * nb;
	if (f->kind == KIND_HISTOGRAM)
		memcpy(counts + s->at, src->buckets, nb * sizeof(*counts));
}

static void put_family(struct obuf *ob, struct rfs_metric *f)
{
	struct snap *snaps = NULL;
	uint64_t *counts = NULL;
	size_t n, nb = f->n_bounds + 1;

	ob_puts(ob, "# HELP ");
	ob_puts(ob, f->name);
	ob_putn(ob, " ", 1);
	ob_escaped(ob, f->help, false);
	ob_puts(ob, "\n# TYPE ");
	ob_puts(ob, f->name);
	ob_putn(ob, " ", 1);
	ob_puts(ob, kind_names[f->kind]);
	ob_putn(ob, "\n", 1);

	pthread_mutex_lock(&f->lock);
	n = f->label ? f->n_series : 1;
	if (!n)
		goto unlock;
	snaps = calloc(n, sizeof(*snaps));
	if (f->kind == KIND_HISTOGRAM)
		counts = calloc(n * nb, sizeof(*counts));
	if (!snaps || (f->kind == KIND_HISTOGRAM && !counts)) {
		ob->failed = true;
		goto unlock;
	}
	if (!f->label) {
		snap_take(f, f->only, &snaps[0], counts, 0);
	} else {
		size_t j = 0;

		for (size_t i = 0; i < f->n_slots; i++) {
			if (!f->slots[i])
				continue;
			snap_take(f, f->slots[i], &snaps[j], counts, j);
			j++;
		}
	}
unlock:
	pthread_mutex_unlock(&f->lock);

	if (snaps && !ob->failed) {
		qsort(snaps, n, sizeof(*snaps), snap_cmp);
		for (size_t i = 0; i < n; i++)
			put_series(ob, f, &snaps[i], counts);
	}
	free(snaps);
	free(counts);
}

int rfs_metrics_render(struct rfs_metrics *m, char **out, size_t *len)
{
	struct obuf ob = { 0 };
	locale_t old;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (len)
		*len = 0;
	if (!m)
		return -EINVAL;

	old = uselocale(m->c_locale);
	pthread_mutex_lock(&m->lock);
	for (struct rfs_metric *f = m->head; f && !ob.failed; f = f->next)
		put_family(&ob, f);
	pthread_mutex_unlock(&m->lock);
	uselocale(old);

	if (!ob_reserve(&ob, 1)) {
		free(ob.p);
		return -ENOMEM;
	}
	ob.p[ob.len] = '\0';
	*out = ob.p;
	if (len)
		*len = ob.len;
	return 0;
}
