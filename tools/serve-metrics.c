/*
 * serve-metrics.c - regctl serve's metric families (see serve-metrics.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics.h"
#include "serve-metrics.h"

struct serve_metrics {
	struct rfs_metrics *reg;
	struct rfs_metric *pulls, *pull_bytes, *pushes, *push_bytes;
	struct rfs_metric *requests, *latency, *auth_failures;
	struct rfs_metric *hits, *misses, *upstream_errors;
};

int serve_metrics_new(struct serve_metrics **out)
{
	static const double buckets[] = { 0.001, 0.005, 0.01, 0.05, 0.1,
					  0.5,	 1,	5,    30,   120 };
	struct serve_metrics *m = calloc(1, sizeof(*m));

	if (!m || rfs_metrics_new(&m->reg)) {
		free(m);
		return -ENOMEM;
	}
	m->pulls = rfs_metrics_counter(
	    m->reg, "regfs_serve_pulls_total",
	    "Manifests and blobs served, by repository.", "repository");
	m->pull_bytes = rfs_metrics_counter(
	    m->reg, "regfs_serve_pull_bytes_total",
	    "Bytes of manifests and blobs served, by repository.",
	    "repository");
	m->pushes = rfs_metrics_counter(
	    m->reg, "regfs_serve_pushes_total",
	    "Manifests and blobs pushed, by repository.", "repository");
	m->push_bytes = rfs_metrics_counter(
	    m->reg, "regfs_serve_push_bytes_total",
	    "Bytes of manifests and blobs pushed, by repository.",
	    "repository");
	m->requests =
	    rfs_metrics_counter(m->reg, "regfs_serve_requests_total",
				"HTTP requests, by status code.", "code");
	m->latency = rfs_metrics_histogram(
	    m->reg, "regfs_serve_request_duration_seconds",
	    "Time from a request's first byte to its answer's last, by "
	    "method.",
	    "method", buckets, sizeof(buckets) / sizeof(buckets[0]));
	m->auth_failures = rfs_metrics_counter(
	    m->reg, "regfs_serve_auth_failures_total",
	    "Requests refused for wrong credentials or missing rights.", NULL);
	m->hits = rfs_metrics_counter(
	    m->reg, "regfs_serve_cache_hits_total",
	    "Blobs of pull-through repositories served from the store.",
	    "repository");
	m->misses = rfs_metrics_counter(
	    m->reg, "regfs_serve_cache_misses_total",
	    "Blobs of pull-through repositories fetched from their upstream "
	    "for a request (one upstream fetch each, however many waited).",
	    "repository");
	m->upstream_errors = rfs_metrics_counter(
	    m->reg, "regfs_serve_upstream_errors_total",
	    "Requests answered 502 because an upstream failed.", "repository");
	*out = m;
	return 0;
}

void serve_metrics_free(struct serve_metrics **mp)
{
	if (!*mp)
		return;
	rfs_metrics_free(&(*mp)->reg);
	free(*mp);
	*mp = NULL;
}

void serve_metrics_pull(struct serve_metrics *m, const char *repo,
			uint64_t bytes)
{
	rfs_metric_add(m->pulls, repo, 1);
	rfs_metric_add(m->pull_bytes, repo, bytes);
}

void serve_metrics_push(struct serve_metrics *m, const char *repo,
			uint64_t bytes)
{
	rfs_metric_add(m->pushes, repo, 1);
	rfs_metric_add(m->push_bytes, repo, bytes);
}

void serve_metrics_request(struct serve_metrics *m, const char *method,
			   int status, double seconds)
{
	char code[16];

	snprintf(code, sizeof(code), "%d", status);
	rfs_metric_add(m->requests, code, 1);
	rfs_metric_observe(m->latency, method, seconds);
}

void serve_metrics_cache(struct serve_metrics *m, const char *repo, bool hit)
{
	rfs_metric_add(hit ? m->hits : m->misses, repo, 1);
}

void serve_metrics_upstream_error(struct serve_metrics *m, const char *repo)
{
	rfs_metric_add(m->upstream_errors, repo, 1);
}

void serve_metrics_auth_failure(struct serve_metrics *m)
{
	rfs_metric_add(m->auth_failures, NULL, 1);
}

int serve_metrics_render(struct serve_metrics *m, char **out, size_t *len)
{
	return rfs_metrics_render(m->reg, out, len);
}
