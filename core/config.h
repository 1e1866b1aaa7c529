/*
 * config.h - the daemon's configuration: regfs.conf(5).
 *
 * An INI-style file: "[upstream NAME]" sections of "key = value" lines,
 * '#' comments, and global keys before the first section. Errors name the
 * file and line. -o upstream=URL adds an upstream serving every repository.
 */
#ifndef RFS_CONFIG_H
#define RFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "upstream.h"

#define RFS_CONFIG_DEFAULT_PATH "/etc/regfs/regfs.conf"

struct rfs_config {
	struct rfs_upstream_config *upstreams;
	size_t n_upstreams;
	uint64_t cache_max; /* bytes of fetched blobs to keep; 0 no limit */
	/* seal_hook: a program run on content before every seal (see
	 * seal-hook.h), an absolute path, or NULL; killed after
	 * seal_hook_timeout_ms (0: the default, 60 s). */
	char *seal_hook;
	int64_t seal_hook_timeout_ms;
	/* require_signature: the public keys (PEM files, absolute paths)
	 * a tag must be signed by before it is served (policy.h). Each
	 * rule is global (upstream NULL) or of an [upstream NAME]
	 * section; a key may be named more than once. */
	struct rfs_signature_rule *require_signature;
	size_t n_require_signature;
	/* incoming_max_files: staged files one user may have in incoming/
	 * at a time (see rfs_incoming_set_max_files); 0: the default. */
	unsigned incoming_max_files;
	/* max_tag_size: the largest content a seal takes (see store.h);
	 * 0: the default, RFS_MAX_TAG_SIZE_DEFAULT. */
	uint64_t max_tag_size;
	/* open_timeout: the longest an open(2) of a mount waits for a
	 * download, whatever the blob's size; 0: the default. */
	int64_t open_timeout_ms;
};

struct rfs_signature_rule {
	char *upstream; /* the section's name, or NULL for a global key */
	char *key_file;
};

#define RFS_INCOMING_MAX_FILES_LIMIT 100000000u
#define RFS_OPEN_TIMEOUT_MS_DEFAULT  (10 * 60 * 1000)

/* Read path into cfg (which may already hold upstreams). A missing file is
 * -ENOENT; a bad line is -EINVAL with "FILE:LINE: what is wrong". */
int rfs_config_load(struct rfs_config *cfg, const char *path,
		    struct rfs_error *err);
/* -o upstream=URL: an upstream named "default" serving every repository. */
int rfs_config_add_upstream_url(struct rfs_config *cfg, const char *url,
				struct rfs_error *err);
/* Check the whole: at most one upstream per prefix, URLs well formed,
 * plain http only where allowed. */
int rfs_config_validate(const struct rfs_config *cfg, struct rfs_error *err);
void rfs_config_release(struct rfs_config *cfg);

/* The configuration as the daemon and regctl both build it: file (or the
 * default file when it exists and file is NULL), then an upstream URL and a
 * cache size from the command line (each may be NULL), validated. */
int rfs_config_from_options(struct rfs_config *cfg, const char *file,
			    const char *upstream_url, const char *cache_max,
			    struct rfs_error *err);

/* Give store the policy of cfg for its seals: its max_tag_size, and its
 * seal hook (none when cfg has none), after checking that it can run: a
 * missing or non-executable program is an error, so a daemon stops at
 * start rather than refusing every publish unexplained. */
struct rfs_store;
int rfs_config_apply_seal_hook(const struct rfs_config *cfg,
			       struct rfs_store *store, struct rfs_error *err);
/* For a regctl command without other use for the file (publish, import,
 * pull of a remote ref): read file (or the default file when it exists
 * and file is NULL) and apply its policy (seal hook, max_tag_size,
 * require_signature keys: policy.h) to store. */
int rfs_config_policies_from_file(struct rfs_store *store, const char *file,
				  struct rfs_error *err);

/* "512", "10K", "64M", "2G" (powers of 1024) -> bytes. */
int rfs_parse_size(const char *text, uint64_t *out);
/* "250ms", "20s", "5m", "1h", "1d", or "never" (-1) -> milliseconds. */
int rfs_parse_duration_ms(const char *text, int64_t *out);

#endif
