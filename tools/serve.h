/*
 * serve.h - regctl serve's HTTP side: the OCI distribution API (registry.h
 * answers), the browse pages (serve-browse.h), /health and /metrics, with
 * authentication and an access log, over libmicrohttpd.
 *
 * Requests run one thread per connection: a request may wait for a
 * pull-through fetch, and a slow client never holds up the others. Blob
 * bodies go out straight from the store's files (sendfile on plain HTTP).
 * A connection idle for idle_timeout_s is closed, whatever it was doing;
 * one whose body is not in after request_timeout_s too (a trickle).
 */
#ifndef REGCTL_SERVE_H
#define REGCTL_SERVE_H

#include <stdbool.h>
#include <stdio.h>

#include "access.h"
#include "config.h"
#include "error.h"
#include "metrics.h"
#include "pull.h"
#include "registry.h"
#include "store.h"

struct serve_options {
	const char *listen; /* ADDR:PORT, [ADDR6]:PORT */
	struct rfs_store *store;
	struct rfs_registry *reg;
	struct rfs_access *access; /* NULL: nobody needs a login */
	bool auth_pull;		   /* pulls need a login too */
	bool allow_delete;
	const struct rfs_config *upstreams; /* for /health, or NULL */
	FILE *access_log;		    /* or NULL */
	char *tls_cert;			    /* PEM text, or NULL */
	char *tls_key;
	unsigned idle_timeout_s;
	unsigned request_timeout_s; /* a request's body must be in by then */
	unsigned max_connections;
};

struct serve;

/* Listen and serve on threads of its own until serve_stop(). The port
 * actually bound (when listen says port 0) is in *port. */
int serve_start(const struct serve_options *opts, struct serve **out,
		unsigned *port, struct rfs_error *err);
void serve_stop(struct serve **s);

#endif
