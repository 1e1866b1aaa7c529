/*
 * regctl-remote.c - what regctl's remote commands share (see
 * regctl-remote.h).
 *
 * A registry named on the command line gets a client with the defaults of
 * upstream.h (a call is bounded by 20 s, retries included) and the
 * credentials that "regctl login" or "docker login" saved for its host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "regctl-remote.h"
#include "regctl.h"

int regctl_parse_remote(const char *usage, const char *text, unsigned int flags,
			struct rfs_remote_ref *out)
{
	struct rfs_error err = { 0 };
	int r;

	r = rfs_remote_parse(text, flags, out, &err);
	if (r < 0)
		return regctl_usage_error(usage, "%s",
					  rfs_error_message(&err, r));
	return 0;
}

int regctl_parse_registry(const char *usage, const char *text, char *host,
			  size_t size)
{
	struct rfs_error err = { 0 };
	int r;

	r = rfs_remote_parse_host(text, host, size, &err);
	if (r < 0)
		return regctl_usage_error(usage, "%s",
					  rfs_error_message(&err, r));
	return 0;
}

int regctl_remote_config(const char *host, bool plain_http,
			 struct rfs_upstream_config *cfg)
{
	size_t len = strlen(host) + sizeof("https://");

	rfs_upstream_config_defaults(cfg);
	cfg->name = strdup(host);
	cfg->url = malloc(len);
	if (!cfg->name || !cfg->url || !cfg->prefix || !cfg->remote_root ||
	    !cfg->credentials) {
		rfs_upstream_config_release(cfg);
		return -ENOMEM;
	}
	snprintf(cfg->url, len, "%s://%s", plain_http ? "http" : "https", host);
	cfg->plain_http = plain_http;
	/* regfs.conf's plain_realm_credentials, for regctl (regctl(1)). */
	cfg->plain_realm_credentials =
	    regctl_env_true("REGCTL_PLAIN_REALM_CREDENTIALS");
	return 0;
}

int regctl_remote_upstream(const char *host, bool plain_http,
			   struct rfs_upstream **out)
{
	struct rfs_upstream_config cfg;
	struct rfs_error err = { 0 };
	int r;

	*out = NULL;
	if (regctl_remote_config(host, plain_http, &cfg) < 0)
		return regctl_error("out of memory");
	r = rfs_upstream_new(&cfg, out, &err);
	rfs_upstream_config_release(&cfg);
	if (r < 0)
		return regctl_error("%s", rfs_error_message(&err, r));
	return 0;
}

/* upstream.c's fail() writes "upstream 'NAME' (URL): WHAT: DETAIL". */
const char *regctl_upstream_message(const struct rfs_error *err, int code)
{
	const char *msg = rfs_error_message(err, code);
	const char *url, *end;

	if (strncmp(msg, "upstream '", 10) != 0)
		return msg;
	url = strstr(msg + 10, "' (");
	end = url ? strstr(url, "): ") : NULL;
	return end ? end + 3 : msg;
}

/* A TLS handshake with a server that answers in plain http fails in
 * OpenSSL's words ("wrong version number"), which do not say what to do.
 * Ask: GET /v2/ over plain http, anonymously, once, within 3 s. An HTTP
 * answer of any kind (200, 401, 404) means it speaks plain http. */
const char *regctl_plain_http_hint(const char *host, bool plain_http, int code)
{
	static const char hint[] =
	    " (the registry speaks plain HTTP; use --plain-http)";
	struct rfs_upstream_config cfg;
	struct rfs_upstream *up = NULL;
	int r = -EPROTO;

	if (plain_http || code != -EPROTO ||
	    regctl_remote_config(host, true, &cfg) < 0)
		return "";
	free(cfg.credentials);
	cfg.credentials = strdup("none");
	cfg.total_timeout_ms = 3000;
	cfg.connect_timeout_ms = 3000;
	cfg.retries = 0;
	if (cfg.credentials && rfs_upstream_new(&cfg, &up, NULL) == 0)
		r = rfs_upstream_ping(up, NULL);
	rfs_upstream_free(&up);
	rfs_upstream_config_release(&cfg);
	return r == 0 || r == -EACCES || r == -ENOENT ? hint : "";
}

int64_t regctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
