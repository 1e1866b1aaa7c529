/*
 * credentials.h - registry credentials on disk.
 *
 * regfs keeps credentials in a JSON file in Docker's config.json shape,
 * {"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}, mode 0600:
 * $REGFS_CREDENTIALS, else $XDG_CONFIG_HOME/regfs/credentials.json, else
 * ~/.config/regfs/credentials.json. regctl login writes it; the daemon and
 * regctl read it, then Docker's ($DOCKER_CONFIG/config.json or
 * ~/.docker/config.json, "auths" only), so that docker login users need
 * nothing more.
 */
#ifndef RFS_CREDENTIALS_H
#define RFS_CREDENTIALS_H

#include <stddef.h>

#include "error.h"

struct rfs_credential {
	char *username;
	char *password; /* or an identity token */
};

void rfs_credential_release(struct rfs_credential *cred); /* wipes */

/* Keep this process's secrets out of core dumps and away from other
 * processes of its user: PR_SET_DUMPABLE 0, so that no core is written
 * (the password, tokens and Authorization headers that libcurl keeps in
 * its own buffers included, which no wipe reaches), and ptrace and
 * /proc/PID/mem, environ and fd are root's only. Children get their own
 * setting back at execve. The daemon and regctl call it first thing,
 * unless told to stay dumpable for debugging (-o dumpable,
 * REGCTL_DUMPABLE=1). 0 or -errno. */
int rfs_credentials_protect_process(void);

int rfs_credentials_default_path(char *buf, size_t size);

/* Find credentials for host ("host" or "host:port", as in a reference).
 * source is "auto", "none", or a path to a file in the format above.
 * Returns 0, -ENOENT when there are none, or another error (a file that is
 * not valid JSON, a credentials file readable by others: -EPERM). */
int rfs_credentials_lookup(const char *host, const char *source,
			   struct rfs_credential *out, struct rfs_error *err);

/* Add or replace host in the regfs credentials file, written atomically
 * with mode 0600. */
int rfs_credentials_store(const char *host, const char *username,
			  const char *password, struct rfs_error *err);
/* Remove host: -ENOENT if it was not there. */
int rfs_credentials_erase(const char *host, struct rfs_error *err);

#endif
