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

int64_t regctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
