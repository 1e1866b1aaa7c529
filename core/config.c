/*
 * config.c - regfs.conf(5): the daemon's configuration (see config.h).
 *
 * The format is small enough to parse by hand, line by line, and strictly:
 * anything not understood is an error that names the file and the line,
 * so a typo never silently leaves an upstream on its defaults. A file is
 * loaded all or nothing: on error, cfg is left as it was.
 *
 *   # comment                       ('#' or ';' first on a line)
 *   cache_max = 10G                  (global keys, before any section:
 *   seal_hook = /usr/local/bin/scan   cache_max, seal_hook,
 *                                     seal_hook_timeout,
 *                                     require_signature,
 *                                     incoming_max_files, max_tag_size,
 *                                     open_timeout)
 *   [upstream NAME]                  (NAME is [A-Za-z0-9_.-]+)
 *   key = value                      (value trimmed, may be "quoted")
 *
 * There are no inline comments: a '#' after a value is part of it.
 * URLs are taken apart by libcurl's URL parser, never by hand.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <curl/curl.h>

#include "config.h"
#include "names.h"
#include "policy.h"
#include "seal-hook.h"
#include "store.h"

/* Longest line accepted, newline excluded. */
#define LINE_MAX_LEN 4096
/* Upper bound for 'retries': beyond this it is a typo, not a policy. */
#define RETRIES_MAX 100

struct parser {
	const char *path;
	unsigned int line;
	struct rfs_error *err;
	const struct rfs_config *cfg; /* what is already loaded */
	/* Upstreams of this file, handed over to cfg only on success. */
	struct rfs_upstream_config *ups;
	size_t n_ups;
	/* The section being read: its header and url lines, keys seen. */
	unsigned int section_line;
	unsigned int url_line;
	unsigned long seen;
	bool have_cache_max;
	uint64_t cache_max;
	char *seal_hook;
	bool have_seal_hook_timeout;
	int64_t seal_hook_timeout_ms;
	struct rfs_signature_rule *sig_rules;
	size_t n_sig_rules;
	unsigned incoming_max_files; /* 0: not given */
	bool have_max_tag_size;
	uint64_t max_tag_size;
	bool have_open_timeout;
	int64_t open_timeout_ms;
};

static int parse_error(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int parse_error(struct parser *p, const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rfs_error_set(p->err, -EINVAL, "%s:%u: %s", p->path, p->line,
			     msg);
}

/* ---- values ---------------------------------------------------------- */

/* Multiply-add with overflow check: *acc = *acc * 10 + digit. */
static bool mul_add(uint64_t *acc, uint64_t mul, uint64_t add)
{
	if (*acc > (UINT64_MAX - add) / mul)
		return false;
	*acc = *acc * mul + add;
	return true;
}

/* Leading decimal digits of text into *out; *end after them. */
static int parse_digits(const char *text, uint64_t *out, const char **end)
{
	const char *s = text;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (!mul_add(&v, 10, (uint64_t)(*s - '0')))
			return -ERANGE;
	}
	*out = v;
	*end = s;
	return 0;
}

int rfs_parse_size(const char *text, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *s;
	const char *u;
	uint64_t v;
	int shift = 0;
	int rc;

	rc = parse_digits(text, &v, &s);
	if (rc < 0)
		return rc;
	if (*s) {
		u = strchr(units, *s >= 'a' && *s <= 'z' ? *s - 32 : *s);
		if (u) {
			shift = 10 * (int)(u - units + 1);
			s++;
			/* "K", "KB", "KiB" are all 1024 bytes. */
			if (*s == 'i')
				s++;
		}
		if (*s == 'B' || *s == 'b')
			s++;
		else if (s[-1] == 'i')
			return -EINVAL; /* "Ki" without its "B" */
		if (*s)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int rfs_parse_duration_ms(const char *text, int64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 },	{ "ms", 1 },	  { "s", 1000 },
		{ "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	const char *s;
	uint64_t v;
	int rc;

	if (strcmp(text, "never") == 0) {
		*out = -1;
		return 0;
	}
	rc = parse_digits(text, &v, &s);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].suffix) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].ms)
			return -ERANGE;
		*out = (int64_t)(v * units[i].ms);
		return 0;
	}
	return -EINVAL;
}

/* "" or a repository name followed by '/'. */
static bool prefix_valid(const char *prefix)
{
	size_t len = strlen(prefix);
	char buf[RFS_REPO_MAX + 2];

	if (len == 0)
		return true;
	if (prefix[len - 1] != '/' || len > RFS_REPO_MAX + 1)
		return false;
	memcpy(buf, prefix, len - 1);
	buf[len - 1] = '\0';
	return rfs_name_valid_repo(buf);
}

static bool upstream_name_valid(const char *name)
{
	if (!name || !*name || strlen(name) > 64)
		return false;
	for (const char *s = name; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		      *s == '-'))
			return false;
	}
	return true;
}

/*
 * Check an upstream URL: http or https, a host, an optional port, and
 * nothing else (no path, query, fragment or user info: credentials have
 * their own file). Writes why into why on failure; never echoes the URL,
 * which may hold a password.
 */
static int check_url(const char *url, bool plain_http, char *why,
		     size_t why_size)
{
	CURLU *h = curl_url();
	char *part = NULL;
	int rc = -EINVAL;
	CURLUcode uc;

	if (!h)
		return -ENOMEM;
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME)) {
		snprintf(why, why_size, "'url' is not a valid URL");
		goto out;
	}
	if (curl_url_get(h, CURLUPART_SCHEME, &part, 0)) {
		snprintf(why, why_size, "'url' has no scheme");
		goto out;
	}
	if (strcmp(part, "https") != 0 && strcmp(part, "http") != 0) {
		snprintf(why, why_size, "'url' scheme must be https or http");
		goto out;
	}
	if (strcmp(part, "http") == 0 && !plain_http) {
		snprintf(why, why_size,
			 "'url' is plain http but 'plain_http' is not set");
		goto out;
	}
	curl_free(part);
	part = NULL;
	uc = curl_url_get(h, CURLUPART_HOST, &part, 0);
	if (uc || !part || !*part) {
		snprintf(why, why_size, "'url' has no host");
		goto out;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(h, CURLUPART_USER, &part, 0) != CURLUE_NO_USER) {
		snprintf(why, why_size,
			 "'url' must not hold credentials (use 'credentials')");
		goto out;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(h, CURLUPART_PATH, &part, 0) == CURLUE_OK &&
	    strcmp(part, "/") != 0 && strcmp(part, "") != 0) {
		snprintf(why, why_size, "'url' must not have a path");
		goto out;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(h, CURLUPART_QUERY, &part, 0) != CURLUE_NO_QUERY ||
	    curl_url_get(h, CURLUPART_FRAGMENT, &part, 0) !=
		CURLUE_NO_FRAGMENT) {
		snprintf(why, why_size,
			 "'url' must not have a query or fragment");
		goto out;
	}
	rc = 0;
out:
	curl_free(part);
	curl_url_cleanup(h);
	return rc;
}

/* ---- keys ------------------------------------------------------------ */

static int set_string(struct parser *p, char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return rfs_error_set(p->err, -ENOMEM, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

static int parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "true", "yes", "1", "on" };
	static const char *const no[] = { "false", "no", "0", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* A duration in milliseconds that fits an unsigned int; > 0 if positive. */
static int parse_ms(struct parser *p, const char *key, const char *value,
		    bool positive, unsigned int *out)
{
	int64_t ms;
	int rc = rfs_parse_duration_ms(value, &ms);

	if (rc == -ERANGE || (rc == 0 && ms > (int64_t)UINT_MAX))
		return parse_error(p, "'%s' is out of range: '%s'", key, value);
	if (rc < 0 || ms < 0)
		return parse_error(p,
				   "'%s' is not a duration (like 500ms, 20s, "
				   "5m): '%s'",
				   key, value);
	if (positive && ms == 0)
		return parse_error(p, "'%s' must be more than 0", key);
	*out = (unsigned int)ms;
	return 0;
}

/* The longest ttl or hook timeout, in ms: they become nanoseconds (pull.c
 * compares ttl * 1e9) and deadlines (now + timeout), which an int64_t must
 * hold. A century is out of anyone's way. */
#define DURATION_MAX_MS (100LL * 365 * 86400 * 1000)

/* A duration in seconds, rounded up; "never" is -1 where allowed. */
static int parse_ttl(struct parser *p, const char *key, const char *value,
		     bool never_ok, int64_t *out)
{
	int64_t ms;
	int rc = rfs_parse_duration_ms(value, &ms);

	if (rc == -ERANGE || (rc == 0 && ms > DURATION_MAX_MS))
		return parse_error(p, "'%s' is out of range: '%s'", key, value);
	if (rc < 0)
		return parse_error(p,
				   "'%s' is not a duration (like 30s, 5m, 1h%s)"
				   ": '%s'",
				   key, never_ok ? ", never" : "", value);
	if (ms < 0) {
		if (!never_ok)
			return parse_error(p, "'%s' cannot be 'never'", key);
		*out = -1;
		return 0;
	}
	*out = ms / 1000 + (ms % 1000 != 0);
	return 0;
}

static int key_url(struct parser *p, struct rfs_upstream_config *u,
		   const char *value)
{
	char why[128];
	int rc = check_url(value, true, why, sizeof(why));

	if (rc == -ENOMEM)
		return rfs_error_set(p->err, rc, "out of memory");
	if (rc < 0)
		return parse_error(p, "%s", why);
	p->url_line = p->line;
	return set_string(p, &u->url, value);
}

static int key_prefix(struct parser *p, struct rfs_upstream_config *u,
		      const char *value)
{
	if (!prefix_valid(value))
		return parse_error(p,
				   "'prefix' must be empty or a repository "
				   "name followed by '/': '%s'",
				   value);
	return set_string(p, &u->prefix, value);
}

static int key_remote_root(struct parser *p, struct rfs_upstream_config *u,
			   const char *value)
{
	if (!prefix_valid(value))
		return parse_error(p,
				   "'remote_root' must be empty or a "
				   "repository name followed by '/': '%s'",
				   value);
	return set_string(p, &u->remote_root, value);
}

static int key_credentials(struct parser *p, struct rfs_upstream_config *u,
			   const char *value)
{
	if (strcmp(value, "auto") != 0 && strcmp(value, "none") != 0 &&
	    value[0] != '/')
		return parse_error(p,
				   "'credentials' must be 'auto', 'none' or an "
				   "absolute path: '%s'",
				   value);
	return set_string(p, &u->credentials, value);
}

static int key_ca_file(struct parser *p, struct rfs_upstream_config *u,
		       const char *value)
{
	if (value[0] != '/')
		return parse_error(
		    p, "'ca_file' must be an absolute path: '%s'", value);
	return set_string(p, &u->ca_file, value);
}

static int key_plain_http(struct parser *p, struct rfs_upstream_config *u,
			  const char *value)
{
	if (parse_bool(value, &u->plain_http) < 0)
		return parse_error(
		    p, "'plain_http' must be true or false: '%s'", value);
	return 0;
}

static int key_plain_realm_credentials(struct parser *p,
				       struct rfs_upstream_config *u,
				       const char *value)
{
	if (parse_bool(value, &u->plain_realm_credentials) < 0)
		return parse_error(p,
				   "'plain_realm_credentials' must be true or "
				   "false: '%s'",
				   value);
	return 0;
}

static int key_tls_verify(struct parser *p, struct rfs_upstream_config *u,
			  const char *value)
{
	if (parse_bool(value, &u->tls_verify) < 0)
		return parse_error(
		    p, "'tls_verify' must be true or false: '%s'", value);
	return 0;
}

static int key_connect_timeout(struct parser *p, struct rfs_upstream_config *u,
			       const char *value)
{
	return parse_ms(p, "connect_timeout", value, true,
			&u->connect_timeout_ms);
}

static int key_timeout(struct parser *p, struct rfs_upstream_config *u,
		       const char *value)
{
	return parse_ms(p, "timeout", value, true, &u->total_timeout_ms);
}

static int key_backoff(struct parser *p, struct rfs_upstream_config *u,
		       const char *value)
{
	return parse_ms(p, "backoff", value, false, &u->backoff_ms);
}

static int key_backoff_max(struct parser *p, struct rfs_upstream_config *u,
			   const char *value)
{
	return parse_ms(p, "backoff_max", value, false, &u->backoff_max_ms);
}

static int key_retries(struct parser *p, struct rfs_upstream_config *u,
		       const char *value)
{
	const char *end;
	uint64_t v;

	if (parse_digits(value, &v, &end) < 0 || *end || v > RETRIES_MAX)
		return parse_error(p,
				   "'retries' must be a number from 0 to %d: "
				   "'%s'",
				   RETRIES_MAX, value);
	u->retries = (unsigned int)v;
	return 0;
}

static int key_min_rate(struct parser *p, struct rfs_upstream_config *u,
			const char *value)
{
	if (rfs_parse_size(value, &u->min_rate) != 0)
		return parse_error(p,
				   "'min_rate' must be bytes per second, with "
				   "an optional K, M or G: '%s'",
				   value);
	return 0;
}

static int key_max_blob_size(struct parser *p, struct rfs_upstream_config *u,
			     const char *value)
{
	int rc = rfs_parse_size(value, &u->max_blob_size);

	if (rc == -ERANGE)
		return parse_error(p, "'max_blob_size' is out of range: '%s'",
				   value);
	if (rc < 0 || !u->max_blob_size)
		return parse_error(p,
				   "'max_blob_size' must be a size above 0 "
				   "(like 512M, 20G): '%s'",
				   value);
	return 0;
}

static int key_list_max(struct parser *p, struct rfs_upstream_config *u,
			const char *value)
{
	const char *end;
	uint64_t v;

	if (parse_digits(value, &v, &end) < 0 || *end || v == 0 ||
	    v > 100000000)
		return parse_error(p,
				   "'list_max' must be a number from 1 to "
				   "100000000: '%s'",
				   value);
	u->list_max = v;
	return 0;
}

static int key_tag_ttl(struct parser *p, struct rfs_upstream_config *u,
		       const char *value)
{
	return parse_ttl(p, "tag_ttl", value, true, &u->tag_ttl_s);
}

static int key_list_ttl(struct parser *p, struct rfs_upstream_config *u,
			const char *value)
{
	return parse_ttl(p, "list_ttl", value, false, &u->list_ttl_s);
}

static const struct {
	const char *name;
	int (*set)(struct parser *p, struct rfs_upstream_config *u,
		   const char *value);
} upstream_keys[] = {
	{ "url", key_url },
	{ "prefix", key_prefix },
	{ "remote_root", key_remote_root },
	{ "credentials", key_credentials },
	{ "ca_file", key_ca_file },
	{ "plain_http", key_plain_http },
	{ "tls_verify", key_tls_verify },
	{ "plain_realm_credentials", key_plain_realm_credentials },
	{ "connect_timeout", key_connect_timeout },
	{ "timeout", key_timeout },
	{ "retries", key_retries },
	{ "backoff", key_backoff },
	{ "backoff_max", key_backoff_max },
	{ "min_rate", key_min_rate },
	{ "tag_ttl", key_tag_ttl },
	{ "list_ttl", key_list_ttl },
	{ "max_blob_size", key_max_blob_size },
	{ "list_max", key_list_max },
};

#define N_UPSTREAM_KEYS (sizeof(upstream_keys) / sizeof(upstream_keys[0]))

/* ---- sections -------------------------------------------------------- */

static bool name_taken(const struct rfs_upstream_config *ups, size_t n,
		       const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (ups[i].name && strcmp(ups[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Fill what defaults may leave unset, so that every string is there. */
static int complete(struct rfs_upstream_config *u)
{
	if (!u->prefix && !(u->prefix = strdup("")))
		return -ENOMEM;
	if (!u->remote_root && !(u->remote_root = strdup("")))
		return -ENOMEM;
	if (!u->credentials && !(u->credentials = strdup("auto")))
		return -ENOMEM;
	return 0;
}

/* The checks of a finished section, reported at its header line. */
static int end_section(struct parser *p)
{
	struct rfs_upstream_config *u;
	unsigned int line = p->line;
	char why[128];
	int rc;

	if (p->n_ups == 0)
		return 0;
	u = &p->ups[p->n_ups - 1];
	p->line = p->section_line;
	if (!u->url) {
		rc = parse_error(p, "upstream '%s' has no 'url'", u->name);
		goto out;
	}
	rc = complete(u);
	if (rc < 0) {
		rfs_error_set(p->err, rc, "out of memory");
		goto out;
	}
	if (u->backoff_max_ms < u->backoff_ms) {
		rc = parse_error(p,
				 "upstream '%s': 'backoff_max' is less than "
				 "'backoff'",
				 u->name);
		goto out;
	}
	p->line = p->url_line;
	rc = check_url(u->url, u->plain_http, why, sizeof(why));
	if (rc == -EINVAL)
		rc = parse_error(p, "%s", why);
out:
	p->line = line;
	return rc;
}

static int begin_section(struct parser *p, char *s)
{
	struct rfs_upstream_config *grown;
	struct rfs_upstream_config *u;
	char *name;
	char *end;
	int rc;

	/* The section before is complete: check it first, in line order. */
	rc = end_section(p);
	if (rc < 0)
		return rc;
	/* s is the line after '['; whitespace inside the brackets is fine. */
	end = strchr(s, ']');
	if (!end)
		return parse_error(p, "section header without ']'");
	for (char *t = end + 1; *t; t++) {
		if (*t != ' ' && *t != '\t')
			return parse_error(p, "text after section header");
	}
	*end = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (strncmp(s, "upstream", 8) != 0 || (s[8] != ' ' && s[8] != '\t'))
		return parse_error(p,
				   "unknown section '[%s]' (expected "
				   "'[upstream NAME]')",
				   s);
	name = s + 8;
	while (*name == ' ' || *name == '\t')
		name++;
	if (!upstream_name_valid(name))
		return parse_error(p,
				   "invalid upstream name '%s' (letters, "
				   "digits, '_', '.', '-')",
				   name);
	if (name_taken(p->ups, p->n_ups, name) ||
	    name_taken(p->cfg->upstreams, p->cfg->n_upstreams, name))
		return parse_error(p, "duplicate upstream '%s'", name);

	grown = realloc(p->ups, (p->n_ups + 1) * sizeof(*grown));
	if (!grown)
		return rfs_error_set(p->err, -ENOMEM, "out of memory");
	p->ups = grown;
	u = &p->ups[p->n_ups];
	memset(u, 0, sizeof(*u));
	rfs_upstream_config_defaults(u);
	p->n_ups++;
	p->section_line = p->line;
	p->url_line = p->line;
	p->seen = 0;
	return set_string(p, &u->name, name);
}

/* max_tag_size = SIZE: more than 0; a size as cache_max takes. */
static int key_max_tag_size(struct parser *p, const char *value)
{
	int rc;

	if (p->have_max_tag_size)
		return parse_error(p, "duplicate key 'max_tag_size'");
	rc = rfs_parse_size(value, &p->max_tag_size);
	if (rc == -ERANGE)
		return parse_error(p, "'max_tag_size' is out of range: '%s'",
				   value);
	if (rc < 0)
		return parse_error(p,
				   "'max_tag_size' is not a size (like 512M, "
				   "16G): '%s'",
				   value);
	if (p->max_tag_size == 0)
		return parse_error(p, "'max_tag_size' must be more than 0");
	p->have_max_tag_size = true;
	return 0;
}

/* seal_hook = PROGRAM: an absolute path, so that it means the same to a
 * daemon (whose folder is /) and to regctl. Whether it can run is checked
 * when it is applied to a store (rfs_config_apply_seal_hook). */
static int key_seal_hook(struct parser *p, const char *value)
{
	if (p->seal_hook)
		return parse_error(p, "duplicate key 'seal_hook'");
	if (value[0] != '/')
		return parse_error(
		    p, "'seal_hook' must be an absolute path: '%s'", value);
	return set_string(p, &p->seal_hook, value);
}

/* A duration of more than 0, and never "never": what bounds a wait. */
static int bounded_duration(struct parser *p, const char *key,
			    const char *value, int64_t *ms)
{
	int rc = rfs_parse_duration_ms(value, ms);

	if (rc == -ERANGE || (rc == 0 && *ms > DURATION_MAX_MS))
		return parse_error(p, "'%s' is out of range: '%s'", key, value);
	if (rc < 0)
		return parse_error(p,
				   "'%s' is not a duration (like 30s, 5m): "
				   "'%s'",
				   key, value);
	if (*ms <= 0)
		return parse_error(p,
				   "'%s' must be more than 0 (and not "
				   "'never'): '%s'",
				   key, value);
	return 0;
}

/* seal_hook_timeout = DURATION: a hook that hangs must not hold a publish
 * forever. */
static int key_seal_hook_timeout(struct parser *p, const char *value)
{
	int rc;

	if (p->have_seal_hook_timeout)
		return parse_error(p, "duplicate key 'seal_hook_timeout'");
	rc = bounded_duration(p, "seal_hook_timeout", value,
			      &p->seal_hook_timeout_ms);
	if (!rc)
		p->have_seal_hook_timeout = true;
	return rc;
}

/* open_timeout = DURATION: how long an open waits for a download; a
 * download that trickles must not hold a reader forever. */
static int key_open_timeout(struct parser *p, const char *value)
{
	int rc;

	if (p->have_open_timeout)
		return parse_error(p, "duplicate key 'open_timeout'");
	rc = bounded_duration(p, "open_timeout", value, &p->open_timeout_ms);
	if (!rc)
		p->have_open_timeout = true;
	return rc;
}

/* require_signature = FILE: a PEM public key, by absolute path like
 * seal_hook; repeatable (any of the keys will do), global or in a
 * section. The key is loaded when the policy is (policy.h), so a daemon
 * stops at start on a key it cannot use. */
static int key_require_signature(struct parser *p, const char *value)
{
	struct rfs_signature_rule *grown, *r;

	if (value[0] != '/')
		return parse_error(
		    p, "'require_signature' must be an absolute path: '%s'",
		    value);
	grown = realloc(p->sig_rules, (p->n_sig_rules + 1) * sizeof(*grown));
	if (!grown)
		return parse_error(p, "out of memory");
	p->sig_rules = grown;
	r = &grown[p->n_sig_rules];
	*r = (struct rfs_signature_rule){ 0 };
	r->key_file = strdup(value);
	if (p->n_ups)
		r->upstream = strdup(p->ups[p->n_ups - 1].name);
	if (!r->key_file || (p->n_ups && !r->upstream)) {
		free(r->key_file);
		free(r->upstream);
		return parse_error(p, "out of memory");
	}
	p->n_sig_rules++;
	return 0;
}

static void signature_rules_free(struct rfs_signature_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rules[i].upstream);
		free(rules[i].key_file);
	}
	free(rules);
}

/* incoming_max_files = N: staged files a user may have in incoming/. */
static int key_incoming_max_files(struct parser *p, const char *value)
{
	char *end;
	unsigned long long n;

	if (p->incoming_max_files)
		return parse_error(p, "duplicate key 'incoming_max_files'");
	errno = 0;
	n = strtoull(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || *end || errno || n == 0 ||
	    n > RFS_INCOMING_MAX_FILES_LIMIT)
		return parse_error(p,
				   "'incoming_max_files' is not a number "
				   "from 1 to %u: '%s'",
				   RFS_INCOMING_MAX_FILES_LIMIT, value);
	p->incoming_max_files = (unsigned)n;
	return 0;
}

static int set_key(struct parser *p, const char *key, const char *value)
{
	if (strcmp(key, "require_signature") == 0)
		return key_require_signature(p, value);
	if (p->n_ups == 0) {
		if (strcmp(key, "cache_max") == 0) {
			int rc;

			if (p->have_cache_max)
				return parse_error(p, "duplicate key '%s'",
						   key);
			rc = rfs_parse_size(value, &p->cache_max);
			if (rc == -ERANGE)
				return parse_error(
				    p, "'cache_max' is out of range: '%s'",
				    value);
			if (rc < 0)
				return parse_error(p,
						   "'cache_max' is not a size "
						   "(like 512M, 10G): '%s'",
						   value);
			p->have_cache_max = true;
			return 0;
		}
		if (strcmp(key, "seal_hook") == 0)
			return key_seal_hook(p, value);
		if (strcmp(key, "seal_hook_timeout") == 0)
			return key_seal_hook_timeout(p, value);
		if (strcmp(key, "incoming_max_files") == 0)
			return key_incoming_max_files(p, value);
		if (strcmp(key, "max_tag_size") == 0)
			return key_max_tag_size(p, value);
		if (strcmp(key, "open_timeout") == 0)
			return key_open_timeout(p, value);
		for (size_t i = 0; i < N_UPSTREAM_KEYS; i++) {
			if (strcmp(key, upstream_keys[i].name) == 0)
				return parse_error(p,
						   "'%s' outside an [upstream "
						   "NAME] section",
						   key);
		}
		return parse_error(p, "unknown global key '%s'", key);
	}
	for (size_t i = 0; i < N_UPSTREAM_KEYS; i++) {
		if (strcmp(key, upstream_keys[i].name) != 0)
			continue;
		if (p->seen & (1UL << i))
			return parse_error(p, "duplicate key '%s'", key);
		p->seen |= 1UL << i;
		return upstream_keys[i].set(p, &p->ups[p->n_ups - 1], value);
	}
	if (strcmp(key, "cache_max") == 0 || strcmp(key, "seal_hook") == 0 ||
	    strcmp(key, "seal_hook_timeout") == 0 ||
	    strcmp(key, "incoming_max_files") == 0 ||

	    strcmp(key, "max_tag_size") == 0 ||
	    strcmp(key, "open_timeout") == 0)
		return parse_error(p,
				   "'%s' is global: put it before the first "
				   "section",
				   key);
	return parse_error(p, "unknown key '%s'", key);
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/*
 * One line, newline included, into buf: 1, or 0 at the end of the file, or
 * -E2BIG when it does not fit. Memory stays bounded whatever the file
 * holds, and a NUL byte shows as a length longer than strlen().
 */
static int read_line(FILE *f, char *buf, size_t size, size_t *len)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF) {
		if (n + 1 >= size)
			return -E2BIG;
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	*len = n;
	return n > 0;
}

static int parse_line(struct parser *p, char *line, size_t len)
{
	char *key;
	char *value;
	char *end;

	if (strlen(line) != len)
		return parse_error(p, "NUL byte in line");
	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len > LINE_MAX_LEN)
		return parse_error(p, "line longer than %d characters",
				   LINE_MAX_LEN);
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			return parse_error(p, "control character in line");
	}
	while (*line == ' ' || *line == '\t')
		line++;
	end = line + strlen(line);
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (!*line || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return begin_section(p, line + 1);

	key = line;
	while (is_key_char(*line))
		line++;
	value = line;
	while (*value == ' ' || *value == '\t')
		value++;
	if (line == key || *value != '=')
		return parse_error(p, "expected 'key = value'");
	*line = '\0';
	value++;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value == '"') {
		size_t vlen = strlen(value);

		if (vlen < 2 || value[vlen - 1] != '"')
			return parse_error(p, "unterminated quote in '%s'",
					   key);
		value[vlen - 1] = '\0';
		value++;
	}
	return set_key(p, key, value);
}

int rfs_config_load(struct rfs_config *cfg, const char *path,
		    struct rfs_error *err)
{
	struct parser p = { .path = path, .err = err, .cfg = cfg };
	struct rfs_upstream_config *grown;
	char line[LINE_MAX_LEN + 3]; /* room for "\r\n" and the NUL */
	size_t len;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (!f)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", path,
				     strerror(errno));
	while ((rc = read_line(f, line, sizeof(line), &len)) > 0) {
		p.line++;
		rc = parse_line(&p, line, len);
		if (rc < 0)
			goto out;
	}
	if (rc < 0) {
		p.line++;
		rc = parse_error(&p, "line longer than %d characters",
				 LINE_MAX_LEN);
		goto out;
	}
	if (ferror(f)) {
		rc = rfs_error_set(err, -EIO, "cannot read '%s'", path);
		goto out;
	}
	rc = end_section(&p);
	if (rc < 0)
		goto out;

	if (p.n_ups) {
		grown = realloc(cfg->upstreams,
				(cfg->n_upstreams + p.n_ups) * sizeof(*grown));
		if (!grown) {
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(grown + cfg->n_upstreams, p.ups,
		       p.n_ups * sizeof(*grown));
		cfg->upstreams = grown;
		cfg->n_upstreams += p.n_ups;
		p.n_ups = 0;
	}
	if (p.have_cache_max)
		cfg->cache_max = p.cache_max;
	if (p.seal_hook) {
		free(cfg->seal_hook);
		cfg->seal_hook = p.seal_hook;
		p.seal_hook = NULL;
	}
	if (p.have_seal_hook_timeout)
		cfg->seal_hook_timeout_ms = p.seal_hook_timeout_ms;
	if (p.n_sig_rules) {
		struct rfs_signature_rule *all = realloc(
		    cfg->require_signature,
		    (cfg->n_require_signature + p.n_sig_rules) * sizeof(*all));

		if (!all) {
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		memcpy(all + cfg->n_require_signature, p.sig_rules,
		       p.n_sig_rules * sizeof(*all));
		cfg->require_signature = all;
		cfg->n_require_signature += p.n_sig_rules;
		free(p.sig_rules);
		p.sig_rules = NULL;
		p.n_sig_rules = 0;
	}
	if (p.incoming_max_files)
		cfg->incoming_max_files = p.incoming_max_files;
	if (p.have_max_tag_size)
		cfg->max_tag_size = p.max_tag_size;
	if (p.have_open_timeout)
		cfg->open_timeout_ms = p.open_timeout_ms;
out:
	signature_rules_free(p.sig_rules, p.n_sig_rules);
	free(p.seal_hook);
	for (size_t i = 0; i < p.n_ups; i++)
		rfs_upstream_config_release(&p.ups[i]);
	free(p.ups);
	fclose(f);
	return rc;
}

int rfs_config_add_upstream_url(struct rfs_config *cfg, const char *url,
				struct rfs_error *err)
{
	struct rfs_upstream_config u;
	struct rfs_upstream_config *grown;
	char why[128];
	int rc;

	if (name_taken(cfg->upstreams, cfg->n_upstreams, "default"))
		return rfs_error_set(err, -EINVAL,
				     "upstream 'default' is already defined");
	memset(&u, 0, sizeof(u));
	rfs_upstream_config_defaults(&u);
	/* An http:// URL given on the command line is the permission. */
	u.plain_http = strncasecmp(url, "http://", 7) == 0;
	rc = check_url(url, u.plain_http, why, sizeof(why));
	if (rc < 0) {
		rfs_error_set(err, rc, "upstream: %s",
			      rc == -ENOMEM ? "out of memory" : why);
		goto out;
	}
	free(u.name);
	free(u.url);
	free(u.prefix);
	u.name = strdup("default");
	u.url = strdup(url);
	u.prefix = strdup("");
	if (!u.name || !u.url || !u.prefix || complete(&u) < 0) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	grown =
	    realloc(cfg->upstreams, (cfg->n_upstreams + 1) * sizeof(*grown));
	if (!grown) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	cfg->upstreams = grown;
	cfg->upstreams[cfg->n_upstreams++] = u;
	return 0;
out:
	rfs_upstream_config_release(&u);
	return rc;
}

int rfs_config_validate(const struct rfs_config *cfg, struct rfs_error *err)
{
	char why[128];

	for (size_t i = 0; i < cfg->n_upstreams; i++) {
		const struct rfs_upstream_config *u = &cfg->upstreams[i];
		const char *name = u->name ? u->name : "";
		int rc;

		if (!upstream_name_valid(u->name))
			return rfs_error_set(
			    err, -EINVAL, "invalid upstream name '%s'", name);
		if (name_taken(cfg->upstreams, i, name))
			return rfs_error_set(err, -EINVAL,
					     "duplicate upstream '%s'", name);
		if (!u->url)
			return rfs_error_set(
			    err, -EINVAL, "upstream '%s' has no 'url'", name);
		rc = check_url(u->url, u->plain_http, why, sizeof(why));
		if (rc < 0)
			return rfs_error_set(err, rc, "upstream '%s': %s", name,
					     rc == -ENOMEM ? "out of memory"
							   : why);
		if (!u->prefix || !prefix_valid(u->prefix))
			return rfs_error_set(err, -EINVAL,
					     "upstream '%s': invalid 'prefix'",
					     name);
		if (u->remote_root && !prefix_valid(u->remote_root))
			return rfs_error_set(
			    err, -EINVAL,
			    "upstream '%s': invalid 'remote_root'", name);
		for (size_t j = 0; j < i; j++) {
			const struct rfs_upstream_config *o =
			    &cfg->upstreams[j];

			if (o->prefix && strcmp(o->prefix, u->prefix) == 0)
				return rfs_error_set(
				    err, -EINVAL,
				    "upstreams '%s' and '%s' both serve "
				    "prefix '%s'",
				    o->name, name, u->prefix);
		}
	}
	return 0;
}

void rfs_config_release(struct rfs_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_upstreams; i++)
		rfs_upstream_config_release(&cfg->upstreams[i]);
	free(cfg->upstreams);
	cfg->upstreams = NULL;
	cfg->n_upstreams = 0;
	cfg->cache_max = 0;
	free(cfg->seal_hook);
	cfg->seal_hook = NULL;
	cfg->seal_hook_timeout_ms = 0;
	signature_rules_free(cfg->require_signature, cfg->n_require_signature);
	cfg->require_signature = NULL;
	cfg->n_require_signature = 0;
	cfg->max_tag_size = 0;
	cfg->open_timeout_ms = 0;
}

int rfs_config_apply_seal_hook(const struct rfs_config *cfg,
			       struct rfs_store *store, struct rfs_error *err)
{
	int64_t timeout_ms = cfg->seal_hook_timeout_ms
				 ? cfg->seal_hook_timeout_ms
				 : RFS_SEAL_HOOK_TIMEOUT_MS_DEFAULT;
	int rc;

	rfs_store_set_max_tag_size(store, cfg->max_tag_size);
	if (!cfg->seal_hook)
		return rfs_store_set_seal_hook(store, NULL, 0);
	rc = rfs_seal_hook_check(cfg->seal_hook, err);
	if (rc)
		return rc;
	rc = rfs_store_set_seal_hook(store, cfg->seal_hook, timeout_ms);
	if (rc)
		return rfs_error_set(err, rc, "seal hook '%s': %s",
				     cfg->seal_hook, strerror(-rc));
	return 0;
}

int rfs_config_policies_from_file(struct rfs_store *store, const char *file,
				  struct rfs_error *err)
{
	struct rfs_config cfg = { 0 };
	struct rfs_policy *policy = NULL;
	int rc = rfs_config_from_options(&cfg, file, NULL, NULL, err);

	if (!rc)
		rc = rfs_config_apply_seal_hook(&cfg, store, err);
	if (!rc)
		rc = rfs_policy_new(&cfg, &policy, err);
	if (!rc && policy)
		rfs_store_set_policy(store, policy);
	rfs_config_release(&cfg);
	return rc;
}

int rfs_config_from_options(struct rfs_config *cfg, const char *file,
			    const char *upstream_url, const char *cache_max,
			    struct rfs_error *err)
{
	int rc = 0;

	if (!file && access(RFS_CONFIG_DEFAULT_PATH, F_OK) == 0)
		file = RFS_CONFIG_DEFAULT_PATH;
	if (file)
		rc = rfs_config_load(cfg, file, err);
	if (!rc && upstream_url)
		rc = rfs_config_add_upstream_url(cfg, upstream_url, err);
	if (!rc && cache_max && rfs_parse_size(cache_max, &cfg->cache_max) != 0)
		rc = rfs_error_set(err, -EINVAL, "invalid cache_max '%s'",
				   cache_max);
	if (!rc)
		rc = rfs_config_validate(cfg, err);
	return rc;
}
