/*
 * regctl-remote.h - what regctl's remote commands (login, logout, health,
 * tags, and those that push or pull) share: parsing a remote reference or a
 * registry host from the command line, the --plain-http option, and a
 * client of a registry given by its host.
 *
 * (Named so that it does not shadow core's remote.h, which holds the
 * grammar itself.)
 */
#ifndef REGCTL_REMOTE_H
#define REGCTL_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "remote.h"
#include "upstream.h"

/* The usage lines of --plain-http, for the commands that take it. */
#define REGCTL_PLAIN_HTTP_HELP                                                 \
	"  --plain-http    speak plain http to the registry, not https (as\n"  \
	"                  oras's --plain-http): for a registry on loopback\n" \
	"                  without TLS\n"

/* Parse a remote reference (RFS_REMOTE_* flags) or a registry host
 * (HOST[:PORT], host at least RFS_HOST_MAX + 1 bytes). Returns 0, or prints
 * why and the usage and returns REGCTL_EXIT_USAGE: a malformed reference is
 * a bad command line. */
int regctl_parse_remote(const char *usage, const char *text, unsigned int flags,
			struct rfs_remote_ref *out);
int regctl_parse_registry(const char *usage, const char *text, char *host,
			  size_t size);

/* The configuration of a client of host: named host, url "https://HOST"
 * (or "http://HOST" with plain_http), credentials "auto", defaults
 * otherwise. Release with rfs_upstream_config_release. 0 or -ENOMEM. */
int regctl_remote_config(const char *host, bool plain_http,
			 struct rfs_upstream_config *cfg);

/* rfs_upstream_new of regctl_remote_config(host, plain_http). Returns 0, or
 * prints why and returns REGCTL_EXIT_FAILURE. */
int regctl_remote_upstream(const char *host, bool plain_http,
			   struct rfs_upstream **out);

/* The message of a failed upstream call without its "upstream 'NAME'
 * (URL): " lead, for a line that names the registry already. */
const char *regctl_upstream_message(const struct rfs_error *err, int code);

struct regctl;

/* Pull remote into the store (and, when repo is not NULL, publish its
 * content locally as repo:name): regctl pull and cp share it. */
int regctl_pull(struct regctl *rc, const struct rfs_remote_ref *remote,
		bool plain, const char *repo, const char *name);

/* Push the local tag repo:name to remote (its tag set), then the
 * signatures the store holds for it, then (sign_key not NULL) a new
 * signature by sign_key: regctl push and cp share it. */
struct rfs_push_options;
struct rfs_sign_key;
int regctl_push(struct regctl *rc, const char *repo, const char *name,
		const struct rfs_remote_ref *remote, bool plain,
		struct rfs_push_options *opts,
		const struct rfs_sign_key *sign_key);

/* After a call to host failed with code: when it spoke https (not
 * plain_http) and failed in TLS (-EPROTO) to a registry that answers plain
 * http, " (the registry speaks plain HTTP; use --plain-http)", else "".
 * It asks the registry once more, over plain http, to know. */
const char *regctl_plain_http_hint(const char *host, bool plain_http, int code);

/* Milliseconds on a monotonic clock, to time a call. */
int64_t regctl_now_ms(void);

#endif
