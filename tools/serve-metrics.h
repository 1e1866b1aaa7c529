/*
 * serve-metrics.h - what regctl serve counts, for GET /metrics: pulls,
 * pushes and bytes by repository, requests and their latency, failed
 * logins. The families are declared once here (serve-metrics.c); the text
 * format is core/metrics.c's.
 */
#ifndef REGCTL_SERVE_METRICS_H
#define REGCTL_SERVE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serve_metrics;

int serve_metrics_new(struct serve_metrics **out);
void serve_metrics_free(struct serve_metrics **m);

/* A manifest or blob served from repo (bytes sent), or pushed to it. */
void serve_metrics_pull(struct serve_metrics *m, const char *repo,
			uint64_t bytes);
void serve_metrics_push(struct serve_metrics *m, const char *repo,
			uint64_t bytes);
/* A blob of a pull-through repository was served from the store (hit)
 * or fetched from its upstream first (miss); an upstream failed. */
void serve_metrics_cache(struct serve_metrics *m, const char *repo, bool hit);
void serve_metrics_upstream_error(struct serve_metrics *m, const char *repo);
/* A request ended with status after seconds. */
void serve_metrics_request(struct serve_metrics *m, const char *method,
			   int status, double seconds);
/* Credentials were wrong, or a user was not allowed. */
void serve_metrics_auth_failure(struct serve_metrics *m);

/* The Prometheus text (malloc()ed). */
int serve_metrics_render(struct serve_metrics *m, char **out, size_t *len);

#endif
