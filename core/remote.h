/*
 * remote.h - the grammar of remote references: HOST[:PORT]/REPO[:TAG], and
 * a registry host alone, HOST[:PORT].
 *
 * It lives in core beside names.h because what a name may be is core's to
 * decide: regctl's remote commands (login, health, tags, push, pull, cp)
 * and anything else that takes a remote reference parse it here, with one
 * set of rules and messages.
 *
 * The host is told from a repository the way Docker tells it: the part
 * before the first '/' is a host when it holds a '.' or a ':' or is
 * "localhost". A host is a DNS name (labels of letters, digits and inner
 * '-', joined by '.') or an IPv6 literal in brackets ("[::1]"), with an
 * optional ":PORT" (1 to 65535). It is kept as written: it is the key of
 * the credentials file, as in Docker's config.json. The repository and tag
 * follow names.h. Digest references (REPO@sha256:...) are not spoken here.
 *
 * Pure functions: no I/O, no allocation.
 */
#ifndef RFS_REMOTE_H
#define RFS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "names.h"

#define RFS_HOST_MAX 255 /* "host[:port]", as credentials.h accepts it */

struct rfs_remote_ref {
	char host[RFS_HOST_MAX + 1]; /* "host" or "host:port" */
	char repo[RFS_REPO_MAX + 1];
	char tag[RFS_TAG_MAX + 1]; /* "" when none was given */
};

enum {
	RFS_REMOTE_TAG_REQUIRED = 1 << 0,  /* REPO alone is refused */
	RFS_REMOTE_TAG_FORBIDDEN = 1 << 1, /* REPO:TAG is refused */
};

/* Does text look like a remote reference rather than a local REPO:TAG?
 * True when it has a '/' and what comes before it names a host by the rule
 * above; says nothing about whether the rest is valid. */
bool rfs_remote_is_remote(const char *text);

/* Check "HOST[:PORT]" (the host grammar and the rule above). */
bool rfs_remote_valid_host(const char *host);

/* Parse "HOST[:PORT]" into host (at least RFS_HOST_MAX + 1 bytes). Returns
 * 0 or -EINVAL with a message naming text. */
int rfs_remote_parse_host(const char *text, char *host, size_t size,
			  struct rfs_error *err);

/* Parse "HOST[:PORT]/REPO[:TAG]" into out, with RFS_REMOTE_* flags.
 * Returns 0, or (out cleared) -EINVAL with a message that says what is wrong
 * ("no tag in 'host/app' (want HOST[:PORT]/REPO:TAG)"). */
int rfs_remote_parse(const char *text, unsigned int flags,
		     struct rfs_remote_ref *out, struct rfs_error *err);

#endif
