/*
 * cmd-health.c - "regctl health [REGISTRY]": can the configured upstreams
 * (or one registry) be reached, do they accept our credentials, and how long
 * does GET /v2/ take.
 *
 * Each registry is checked in turn, with its own time budget (upstream.h:
 * retries included), so a dead one costs at most its timeout. A line is
 * printed as soon as its check ends; --json prints the array at the end.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "regctl-remote.h"
#include "regctl.h"

static const char health_usage[] =
    "usage: regctl health [--config FILE] [--plain-http] [--timeout "
    "DURATION]\n"
    "                     [--json] [REGISTRY]\n"
    "\n"
    "Check registries: GET /v2/ answers, the credentials are accepted (basic\n"
    "or bearer token), and how long it took. Without REGISTRY, every\n"
    "upstream of regfs.conf(5) (FILE, or " RFS_CONFIG_DEFAULT_PATH " when it\n"
    "exists); with REGISTRY (HOST[:PORT]), that one: the upstream of FILE\n"
    "with that host when --config names one, else a client with the\n"
    "credentials 'regctl login' saved. One line each:\n"
    "  NAME URL ok 12 ms\n"
    "  NAME URL failed: MESSAGE\n"
    "Exit status 1 when any check failed.\n"
    "\n"
    "  --config FILE   read the upstreams from FILE\n"
    "  --timeout DURATION  the budget of each check, retries included\n"
    "                  (\"2s\", \"500ms\"; default: the upstream's timeout,\n"
    "                  20s)\n" REGCTL_PLAIN_HTTP_HELP
    "  --json          print a JSON array of {name, url, ok, reachable,\n"
    "                  auth, latency_ms, error}\n"
    "  -h, --help      show this help\n";

struct health_result {
	const char *name;
	const char *url;
	int rc;
	int64_t ms;
	char msg[RFS_ERROR_MSG_MAX];
};

/* Failures that mean no registry answered (rather than that it refused). */
static bool unreachable(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EHOSTUNREACH ||
	       rc == -ENETUNREACH || rc == -EPROTO;
}

static void health_check(const struct rfs_upstream_config *cfg,
			 struct health_result *res)
{
	struct rfs_upstream *up = NULL;
	struct rfs_error err = { 0 };
	int64_t t0;
	int r;

	res->name = cfg->name && *cfg->name ? cfg->name : "default";
	res->url = cfg->url ? cfg->url : "";
	res->msg[0] = '\0';
	r = rfs_upstream_new(cfg, &up, &err);
	t0 = regctl_now_ms();
	if (!r)
		r = rfs_upstream_ping(up, &err);
	res->ms = regctl_now_ms() - t0;
	res->rc = r;
	if (r < 0)
		snprintf(res->msg, sizeof(res->msg), "%s%s",
			 regctl_upstream_message(&err, r),
			 strncmp(res->url, "https://", 8)
			     ? ""
			     : regctl_plain_http_hint(res->url + 8,
						      cfg->plain_http, r));
	rfs_upstream_free(&up);
}

static void health_print_line(const struct health_result *res)
{
	if (res->rc == 0)
		printf("%s %s ok %lld ms\n", res->name, res->url,
		       (long long)res->ms);
	else /* the message may quote what the registry said */
		printf("%s %s failed: %s\n", res->name, res->url,
		       regctl_shown((char[RFS_TEXT_BUF(sizeof(res->msg))]){ 0 },
				    RFS_TEXT_BUF(sizeof(res->msg)), res->msg));
	fflush(stdout);
}

static json_t *health_json(const struct health_result *res)
{
	json_t *auth = res->rc == 0	    ? json_true()
		       : res->rc == -EACCES ? json_false()
					    : json_null();

	return json_pack(
	    "{s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "name", res->name, "url",
	    res->url, "ok", res->rc == 0, "reachable", !unreachable(res->rc),
	    "auth", auth, "latency_ms",
	    res->rc == 0 ? json_integer(res->ms) : json_null(), "error",
	    res->rc == 0 ? json_null() : json_string(res->msg));
}

/* Does url ("scheme://host[:port][/]") name host? */
static bool url_has_host(const char *url, const char *host)
{
	const char *p = strstr(url, "://");
	size_t len;

	p = p ? p + 3 : url;
	len = strcspn(p, "/");
	return len == strlen(host) && !strncasecmp(p, host, len);
}

int cmd_health(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_CONFIG,
		OPT_PLAIN_HTTP,
		OPT_TIMEOUT,
		OPT_JSON,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	char host[RFS_HOST_MAX + 1];
	const char *config = rc->config_path, *timeout = NULL;
	struct rfs_config cfg = { 0 };
	struct rfs_upstream_config one = { 0 };
	struct rfs_upstream_config **targets = NULL;
	struct health_result *results = NULL;
	struct rfs_error err = { 0 };
	bool plain_http = false, json = false, failed = false;
	int64_t timeout_ms = 0;
	size_t n = 0;
	int c, r, ret;

	(void)rc;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(health_usage, false);
		case OPT_CONFIG: config = optarg; break;
		case OPT_PLAIN_HTTP: plain_http = true; break;
		case OPT_TIMEOUT: timeout = optarg; break;
		case OPT_JSON: json = true; break;
		default: return regctl_option_error(argv, c, health_usage);
		}
	}
	if (argc - optind > 1)
		return regctl_usage_error(
		    health_usage, "unexpected argument '%s'", argv[optind + 1]);
	if (optind < argc) {
		ret = regctl_parse_registry(health_usage, argv[optind], host,
					    sizeof(host));
		if (ret)
			return ret;
	}
	if (timeout && (rfs_parse_duration_ms(timeout, &timeout_ms) < 0 ||
			timeout_ms <= 0 || timeout_ms > 24 * 3600 * 1000))
		return regctl_usage_error(health_usage,
					  "invalid duration '%s' for "
					  "'--timeout'",
					  timeout);

	/* With a registry, the configuration is read only when asked for. */
	if (optind == argc || config) {
		r = rfs_config_from_options(&cfg, config, NULL, NULL, &err);
		if (r < 0) {
			ret = regctl_error("%s", rfs_error_message(&err, r));
			goto out;
		}
	}
	targets = calloc(cfg.n_upstreams + 1, sizeof(*targets));
	if (!targets) {
		ret = regctl_error("out of memory");
		goto out;
	}
	if (optind < argc) {
		for (size_t i = 0; i < cfg.n_upstreams; i++)
			if (cfg.upstreams[i].url &&
			    url_has_host(cfg.upstreams[i].url, host))
				targets[n++] = &cfg.upstreams[i];
		if (!n) {
			if (regctl_remote_config(host, plain_http, &one) < 0) {
				ret = regctl_error("out of memory");
				goto out;
			}
			targets[n++] = &one;
		}
	} else {
		for (size_t i = 0; i < cfg.n_upstreams; i++)
			targets[n++] = &cfg.upstreams[i];
		if (!n) {
			ret = regctl_error(
			    "no upstreams configured (%s): name a registry, or "
			    "give --config",
			    config ? config : RFS_CONFIG_DEFAULT_PATH);
			goto out;
		}
	}
	if (timeout_ms > 0) {
		for (size_t i = 0; i < n; i++) {
			struct rfs_upstream_config *t = targets[i];

			t->total_timeout_ms = (unsigned int)timeout_ms;
			if (t->connect_timeout_ms > t->total_timeout_ms)
				t->connect_timeout_ms = t->total_timeout_ms;
		}
	}

	results = calloc(n, sizeof(*results));
	if (!results) {
		ret = regctl_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		health_check(targets[i], &results[i]);
		failed |= results[i].rc != 0;
		if (!json)
			health_print_line(&results[i]);
	}
	if (json) {
		json_t *array = json_array();

		for (size_t i = 0; array && i < n; i++) {
			json_t *obj = health_json(&results[i]);

			if (!obj || json_array_append_new(array, obj) < 0) {
				json_decref(array);
				array = NULL;
			}
		}
		if (!array) {
			ret = regctl_error("out of memory");
			goto out;
		}
		ret = regctl_print_json(array);
		json_decref(array);
		if (ret)
			goto out;
	}
	ret = failed ? REGCTL_EXIT_FAILURE : REGCTL_EXIT_OK;
out:
	free(results);
	free(targets);
	rfs_upstream_config_release(&one);
	rfs_config_release(&cfg);
	return ret;
}
