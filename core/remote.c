/*
 * remote.c - the grammar of remote references (see remote.h).
 *
 * The host grammar is Docker's reference grammar (distribution/reference):
 *   domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
 *   domain           := (domain-component ('.' domain-component)*
 *                        | '[' ipv6 ']') (':' port)?
 * where a port is 1 to 65535. Only the first '/' splits host from
 * repository; the tag is what follows the last ':' after it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "remote.h"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9');
}

/* 1 to 65535, in decimal, len bytes at s. */
static bool port_ok(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* Labels joined by '.'; each starts and ends with a letter or digit. */
static bool dns_name_ok(const char *s, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return false;
			continue;
		}
		/* s[start..i) is one label. */
		if (i == start || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
			return false;
		start = i + 1;
	}
	return true;
}

/* "[...]": hex digits, ':' and '.' (an IPv4 tail), at least one ':'. */
static bool ipv6_ok(const char *s, size_t len)
{
	bool colon = false;

	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		if (s[i] == ':')
			colon = true;
		else if (!is_hex(s[i]) && s[i] != '.')
			return false;
	}
	return colon;
}

/* The grammar only; not the rule that tells a host from a repository. */
static bool host_grammar_ok(const char *s, size_t len)
{
	size_t name_len = len;
	const char *colon;

	if (len == 0 || len > RFS_HOST_MAX)
		return false;
	if (s[0] == '[') {
		const char *end = memchr(s, ']', len);

		if (!end)
			return false;
		name_len = (size_t)(end - s) + 1;
		if (!ipv6_ok(s, name_len))
			return false;
	} else {
		colon = memchr(s, ':', len);
		if (colon)
			name_len = (size_t)(colon - s);
		if (!dns_name_ok(s, name_len))
			return false;
	}
	if (name_len == len)
		return true;
	return s[name_len] == ':' &&
	       port_ok(s + name_len + 1, len - name_len - 1);
}

/* Docker's rule: a host has a '.' or a ':', or is "localhost". */
static bool host_rule_ok(const char *s, size_t len)
{
	return memchr(s, '.', len) || memchr(s, ':', len) ||
	       (len == 9 && !memcmp(s, "localhost", 9));
}

bool rfs_remote_is_remote(const char *text)
{
	const char *slash = text ? strchr(text, '/') : NULL;

	return slash && slash > text &&
	       host_rule_ok(text, (size_t)(slash - text));
}

bool rfs_remote_valid_host(const char *host)
{
	size_t len = host ? strlen(host) : 0;

	return host_grammar_ok(host ? host : "", len) &&
	       host_rule_ok(host ? host : "", len);
}

/* A message for a host that failed, host being len bytes at s, of text
 * (NULL when the host is the whole text). */
static int host_error(const char *s, size_t len, const char *text,
		      struct rfs_error *err)
{
	int n = len > RFS_HOST_MAX ? RFS_HOST_MAX : (int)len;
	const char *in = text ? "' in '" : "";

	if (!text)
		text = "";
	if (len && host_grammar_ok(s, len))
		return rfs_error_set(
		    err, -EINVAL,
		    "'%.*s%s%s' is not a registry host: a host has a '.' or a "
		    "':' or is 'localhost'",
		    n, s, in, text);
	return rfs_error_set(err, -EINVAL, "invalid registry host '%.*s%s%s'",
			     n, s, in, text);
}

int rfs_remote_parse_host(const char *text, char *host, size_t size,
			  struct rfs_error *err)
{
	size_t len = strlen(text);

	if (size)
		host[0] = '\0';
	if (!strncmp(text, "https://", 8) || !strncmp(text, "http://", 7))
		return rfs_error_set(err, -EINVAL,
				     "invalid registry '%s': give it as "
				     "HOST[:PORT], without a scheme",
				     text);
	if (strchr(text, '/'))
		return rfs_error_set(err, -EINVAL,
				     "invalid registry '%s': give it as "
				     "HOST[:PORT], without a repository",
				     text);
	if (!host_grammar_ok(text, len) || !host_rule_ok(text, len))
		return host_error(text, len, NULL, err);
	if (len >= size)
		return rfs_error_set(err, -ENAMETOOLONG,
				     "registry host '%s' too long", text);
	memcpy(host, text, len + 1);
	return 0;
}

static int parse_ref(const char *text, unsigned int flags,
		     struct rfs_remote_ref *out, struct rfs_error *err)
{
	const char *want =
	    flags & RFS_REMOTE_TAG_REQUIRED    ? "HOST[:PORT]/REPO:TAG"
	    : flags & RFS_REMOTE_TAG_FORBIDDEN ? "HOST[:PORT]/REPO"
					       : "HOST[:PORT]/REPO[:TAG]";
	const char *slash, *rest, *colon;
	size_t host_len, repo_len;

	memset(out, 0, sizeof(*out));
	if (!strncmp(text, "https://", 8) || !strncmp(text, "http://", 7))
		return rfs_error_set(err, -EINVAL,
				     "invalid reference '%s': no scheme "
				     "(want %s)",
				     text, want);
	slash = strchr(text, '/');
	if (!slash)
		return rfs_error_set(err, -EINVAL,
				     "no registry host in '%s' (want %s)", text,
				     want);
	host_len = (size_t)(slash - text);
	if (!host_grammar_ok(text, host_len) || !host_rule_ok(text, host_len))
		return host_error(text, host_len, text, err);
	memcpy(out->host, text, host_len);
	out->host[host_len] = '\0';

	rest = slash + 1;
	if (strchr(rest, '@'))
		return rfs_error_set(err, -EINVAL,
				     "invalid reference '%s': digests are not "
				     "taken here (want %s)",
				     text, want);
	colon = strrchr(rest, ':');
	repo_len = colon ? (size_t)(colon - rest) : strlen(rest);
	if (repo_len == 0)
		return rfs_error_set(err, -EINVAL,
				     "no repository in '%s' (want %s)", text,
				     want);
	if (repo_len > RFS_REPO_MAX)
		return rfs_error_set(err, -EINVAL,
				     "repository name too long in '%s'", text);
	memcpy(out->repo, rest, repo_len);
	out->repo[repo_len] = '\0';
	if (!rfs_name_valid_repo(out->repo))
		return rfs_error_set(err, -EINVAL,
				     "invalid repository name '%s' in '%s'",
				     out->repo, text);
	if (!colon) {
		if (flags & RFS_REMOTE_TAG_REQUIRED)
			return rfs_error_set(err, -EINVAL,
					     "no tag in '%s' (want %s)", text,
					     want);
		return 0;
	}
	if (flags & RFS_REMOTE_TAG_FORBIDDEN)
		return rfs_error_set(err, -EINVAL,
				     "unexpected tag in '%s' (want %s)", text,
				     want);
	if (!rfs_name_valid_tag(colon + 1))
		return rfs_error_set(err, -EINVAL,
				     "invalid tag name '%s' in '%s'", colon + 1,
				     text);
	snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
	return 0;
}

int rfs_remote_parse(const char *text, unsigned int flags,
		     struct rfs_remote_ref *out, struct rfs_error *err)
{
	int rc = parse_ref(text, flags, out, err);

	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}
