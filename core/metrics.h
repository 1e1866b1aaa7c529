/*
 * metrics.h - a registry of counters, gauges and histograms, rendered in the
 * Prometheus text exposition format 0.0.4 (what `regctl serve` answers on
 * GET /metrics).
 *
 * What the module promises:
 * - Thread safety. Any number of threads may add, set and observe at once,
 *   and render while they do; each family has its own lock, held for a hash
 *   lookup and an update. Registering families may also happen at any time.
 *   Only rfs_metrics_free() needs every other caller to be done.
 * - No allocation on the hot path once a series exists. A new label value
 *   allocates its series once; a series is never freed before the registry.
 * - Bounded memory under hostile label values (repository names come from
 *   HTTP clients). A labelled family holds at most RFS_METRICS_SERIES_MAX
 *   series, RFS_METRICS_OTHER included: once the others are taken, every new
 *   label value is counted under RFS_METRICS_OTHER. A label value longer than
 *   RFS_METRICS_LABEL_VALUE_MAX bytes or not valid UTF-8 (Prometheus refuses
 *   such a scrape) is counted there at once. Nothing is ever dropped, except
 *   when allocating a new series fails.
 * - Output that Prometheus parses: HELP text and label values escaped, every
 *   number printed so that it reads back exactly (counts as integers, other
 *   values as the shortest decimal that round-trips, "+Inf", "-Inf", "NaN"),
 *   whatever the process locale is. Families come in registration order,
 *   series of a family sorted by label value (byte order). A family that has
 *   no series yet shows its HELP and TYPE lines only.
 *
 * Failure handling is meant to be cheap for callers: a registration that
 * fails returns NULL (with errno set), and every update through a NULL family
 * is a no-op, so a failed registration costs a metric, never a crash. The
 * registry owns its families; family pointers are valid until
 * rfs_metrics_free().
 */
#ifndef RFS_METRICS_H
#define RFS_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many series in a labelled family, RFS_METRICS_OTHER included. */
#define RFS_METRICS_SERIES_MAX 1000
/* Longer label values (in bytes) are counted under RFS_METRICS_OTHER. */
#define RFS_METRICS_LABEL_VALUE_MAX 256
/* The most buckets a histogram may declare (+Inf not counted). */
#define RFS_METRICS_BUCKETS_MAX 64
/* The label value that collects what does not fit. */
#define RFS_METRICS_OTHER "_other"
/* The Content-Type of rfs_metrics_render()'s output. */
#define RFS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct rfs_metrics; /* a registry of metric families */
struct rfs_metric;  /* one family: a counter, a gauge or a histogram */

/* A new, empty registry. Returns 0, or -ENOMEM. */
int rfs_metrics_new(struct rfs_metrics **out);

/* Free the registry and all its families; sets *m to NULL. Accepts NULL and
 * a NULL *m. No other thread may use the registry or its families any more. */
void rfs_metrics_free(struct rfs_metrics **m);

/*
 * Register a family. name is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), help a
 * one-line description in UTF-8 (it is escaped on output), label the name of
 * the family's one label ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__") or
 * NULL for a family of one series without labels. The strings are copied.
 *
 * An unlabelled family shows its one series at 0 from the start; a labelled
 * family shows a series from the first update of its label value.
 *
 * Returns the family, or NULL with errno set: EINVAL for a NULL registry,
 * name or help, a malformed name, label name or help text; EEXIST when the
 * name, or a name a histogram renders (NAME_bucket, NAME_sum, NAME_count),
 * collides with a family already registered; ENOMEM.
 *
 * Example:
 *   rfs_metrics_counter(m, "regfs_serve_pulls_total",
 *                       "Manifests and blobs served, by repository.",
 *                       "repository");
 */
struct rfs_metric *rfs_metrics_counter(struct rfs_metrics *m, const char *name,
				       const char *help, const char *label);
struct rfs_metric *rfs_metrics_gauge(struct rfs_metrics *m, const char *name,
				     const char *help, const char *label);

/*
 * A histogram family, as above, with n_buckets upper bounds (buckets may be
 * NULL when n_buckets is 0). The bounds must be finite and strictly
 * increasing; the "+Inf" bucket is always added (a final INFINITY in buckets
 * is accepted and dropped). The label may not be "le". EINVAL otherwise, or
 * with more than RFS_METRICS_BUCKETS_MAX bounds.
 */
struct rfs_metric *rfs_metrics_histogram(struct rfs_metrics *m,
					 const char *name, const char *help,
					 const char *label,
					 const double *buckets,
					 size_t n_buckets);

/*
 * Updates. label_value names the series in a labelled family (NULL means the
 * empty value) and is ignored in an unlabelled one. Each is a no-op when f
 * is NULL or is not of the kind the function is for (add on a gauge, ...).
 */

/* Counters: add n (0 makes the series visible at 0). */
void rfs_metric_add(struct rfs_metric *f, const char *label_value, uint64_t n);

/* Gauges: set the value, or add delta (negative to decrease) to it. */
void rfs_metric_set(struct rfs_metric *f, const char *label_value, double v);
void rfs_metric_gauge_add(struct rfs_metric *f, const char *label_value,
			  double delta);

/* Histograms: count one observation of v (in the first bucket whose bound is
 * >= v) and add v to the sum. A NaN observation is ignored: it would make
 * the sum NaN for good. */
void rfs_metric_observe(struct rfs_metric *f, const char *label_value,
			double v);

/*
 * The whole registry in the text exposition format 0.0.4, in a malloc()ed,
 * NUL-terminated buffer that the caller frees; *len (when len is not NULL)
 * gets its length without the NUL. An empty registry renders as "". Each
 * family is read under its lock, so a histogram's buckets, sum and count are
 * consistent with one another. Returns 0, -EINVAL for a NULL m or out, or
 * -ENOMEM (then *out is NULL).
 */
int rfs_metrics_render(struct rfs_metrics *m, char **out, size_t *len);

#endif
