/*
 * cmd-pull.c - "regctl pull REMOTE [REPO:TAG]" and "regctl prefetch
 * PATTERN...": bring remote artifacts into the store ahead of use, through
 * the daemon's pull-through code (core/pull.c): resolved, pinned, fetched
 * once and verified.
 */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "config.h"
#include "names.h"
#include "pull.h"
#include "regctl-remote.h"
#include "regctl.h"
#include "text.h"

static const char pull_usage[] =
    "usage: regctl pull [--plain-http] HOST[:PORT]/REPO:TAG [REPO:TAG]\n"
    "\n"
    "Resolve a remote tag, pin it in the store as REPO:TAG and fetch its\n"
    "content now, verified against its digest, as a mount would on first\n"
    "read. Given a local REPO:TAG, the content is also published here under\n"
    "that name (a local tag, never evicted).\n"
    "\n" REGCTL_PLAIN_HTTP_HELP "  -h, --help      show this help\n";

static const char prefetch_usage[] =
    "usage: regctl prefetch [--config FILE] [--upstream URL] PATTERN...\n"
    "\n"
    "Resolve and fetch, from the configured upstreams, every tag matching a\n"
    "PATTERN: REPO:GLOB, where GLOB is a shell pattern on the tags the\n"
    "upstream lists (\"app:v1.*\", \"app:*\"), or REPO:TAG.\n"
    "\n"
    "  --config FILE   read the upstreams from FILE (see regfs.conf(5))\n"
    "  --upstream URL  an upstream serving every repository (by default the\n"
    "                  one of the last regfs -o upstream=URL on this store)\n"
    "  -h, --help      show this help\n";

int regctl_pull(struct regctl *rc, const struct rfs_remote_ref *remote,
		bool plain, const char *repo, const char *name)
{
	struct rfs_config cfg = { 0 };
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_pull *pull = NULL;
	struct rfs_tag_meta meta = { 0 };
	struct rfs_tag tag, local;
	bool changed;
	int r, ret;

	cfg.upstreams = calloc(1, sizeof(*cfg.upstreams));
	if (!cfg.upstreams)
		return regctl_error("out of memory");
	cfg.n_upstreams = 1;
	ret = regctl_open_store(rc, RFS_STORE_CREATE, &store);
	if (ret)
		goto out;
	r = regctl_remote_config(remote->host, plain, &cfg.upstreams[0]);
	/* What a pull stores passes the seal hook of regfs.conf(5), and its
	 * require_signature. */
	if (!r)
		r = rfs_config_policies_from_file(store, rc->config_path, &err);
	if (!r)
		r = rfs_pull_new(store, &cfg, &pull, &err);
	if (!r)
		r = rfs_pull_refresh(pull, remote->repo, remote->tag, &tag,
				     &changed, &err);
	if (!r)
		r = rfs_pull_fetch_tag(pull, &tag, &err);
	if (r) {
		ret = regctl_error(
		    "cannot pull '%s/%s:%s': %s%s", remote->host, remote->repo,
		    remote->tag, regctl_upstream_message(&err, r),
		    regctl_plain_http_hint(remote->host, plain, r));
		goto out;
	}
	printf("%s:%s %s\n", tag.repo, tag.name, tag.digest);
	ret = REGCTL_EXIT_OK;
	if (!repo ||
	    (strcmp(repo, tag.repo) == 0 && strcmp(name, tag.name) == 0))
		goto out;
	if (tag.kind != RFS_TAG_FILE) {
		ret =
		    regctl_error("'%s:%s' is a multi-layer image: it is kept "
				 "as '%s:%s' only",
				 remote->repo, remote->tag, tag.repo, tag.name);
		goto out;
	}
	/* The local name is the same file: as executable, as old. */
	meta.attrs = (struct rfs_file_attrs){
		.set_mode = true,
		.mode = tag.mode,
		.set_mtime = true,
		.mtime_ns = tag.mtime_ns,
	};
	r = rfs_catalog_add_tag_meta(rfs_store_catalog(store), repo, name,
				     tag.digest, tag.size, rfs_now_ns(), &meta,
				     &local, &err);
	rfs_audit(store, RFS_AUDIT_COPY, r, &err, repo, name, tag.digest);
	if (r) {
		ret = regctl_error("cannot name it '%s:%s': %s", repo, name,
				   rfs_error_message(&err, r));
		goto out;
	}
	printf("%s:%s %s\n", local.repo, local.name, local.digest);
out:
	rfs_pull_free(&pull);
	rfs_config_release(&cfg);
	rfs_store_close(&store);
	return ret;
}

int cmd_pull(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_PLAIN };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "plain-http", no_argument, NULL, OPT_PLAIN },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	struct rfs_remote_ref remote;
	bool plain = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(pull_usage, false);
		case OPT_PLAIN: plain = true; break;
		default: return regctl_option_error(argv, c, pull_usage);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return regctl_usage_error(
		    pull_usage, "want a remote tag, and a local name");
	ret = regctl_parse_remote(pull_usage, argv[optind],
				  RFS_REMOTE_TAG_REQUIRED, &remote);
	if (ret)
		return ret;
	if (argc - optind == 2 &&
	    rfs_ref_parse(argv[optind + 1], repo, sizeof(repo), name,
			  sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(argv[optind + 1]));
	return regctl_pull(rc, &remote, plain, argc - optind == 2 ? repo : NULL,
			   name);
}

struct matches {
	const char *glob;
	char **names;
	size_t n, cap;
};

static int match_tag(void *ctx, const char *name)
{
	struct matches *m = ctx;

	if (fnmatch(m->glob, name, 0) != 0)
		return 0;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		char **p = realloc(m->names, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->names = p;
		m->cap = cap;
	}
	m->names[m->n] = strdup(name);
	return m->names[m->n++] ? 0 : -ENOMEM;
}

/* Resolve and fetch the tags of one PATTERN; counts what failed. */
static int prefetch_one(struct rfs_pull *pull, const char *pattern)
{
	char repo[RFS_REPO_MAX + 1];
	const char *colon = strrchr(pattern, ':');
	struct rfs_error err = { 0 };
	struct matches m = { 0 };
	int failed = 0, r;

	if (!colon || (size_t)(colon - pattern) >= sizeof(repo))
		return regctl_error("invalid pattern '%s' (want REPO:GLOB)",
				    pattern),
		       1;
	memcpy(repo, pattern, (size_t)(colon - pattern));
	repo[colon - pattern] = '\0';
	m.glob = colon + 1;
	if (!rfs_name_valid_repo(repo))
		return regctl_error("invalid repository name '%s'",
				    REGCTL_NAME(repo)),
		       1;
	if (rfs_name_valid_tag(m.glob))
		r = match_tag(&m, m.glob); /* a plain tag: no listing */
	else
		r = rfs_pull_list_tags(pull, repo, match_tag, &m, &err);
	if (r) {
		regctl_error("cannot list the tags of '%s': %s", repo,
			     regctl_upstream_message(&err, r));
		failed = 1;
	}
	for (size_t i = 0; i < m.n; i++) {
		struct rfs_tag tag;

		r = rfs_pull_resolve(pull, repo, m.names[i], &tag, &err);
		if (!r)
			r = rfs_pull_fetch_tag(pull, &tag, &err);
		if (r) {
			regctl_error("cannot prefetch '%s:%s': %s", repo,
				     m.names[i],
				     regctl_upstream_message(&err, r));
			failed++;
		} else {
			printf("%s:%s %s\n", repo, m.names[i], tag.digest);
		}
		free(m.names[i]);
	}
	if (!m.n && !failed)
		printf("%s: no tag matches\n", pattern);
	free(m.names);
	return failed;
}

int cmd_prefetch(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_CONFIG, OPT_UPSTREAM };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "upstream", required_argument, NULL, OPT_UPSTREAM },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = rc->config_path, *upstream = NULL;
	struct rfs_config cfg = { 0 };
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_pull *pull = NULL;
	int c, r, ret, failed = 0;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(prefetch_usage, false);
		case OPT_CONFIG: config = optarg; break;
		case OPT_UPSTREAM: upstream = optarg; break;
		default: return regctl_option_error(argv, c, prefetch_usage);
		}
	}
	if (optind == argc)
		return regctl_usage_error(prefetch_usage, "no pattern given");
	ret = regctl_open_store(rc, RFS_STORE_CREATE, &store);
	if (ret)
		goto out;
	r = rfs_pull_config_for_store(store, &cfg, config, upstream, &err);
	if (!r && cfg.n_upstreams == 0)
		r = rfs_error_set(&err, -ENOENT,
				  "no upstream is configured "
				  "(--config, --upstream)");
	if (!r)
		r = rfs_config_apply_seal_hook(&cfg, store, &err);
	if (!r)
		r = rfs_pull_new(store, &cfg, &pull, &err);
	if (r) {
		ret = regctl_error("%s", rfs_error_message(&err, r));
		goto out;
	}
	for (int i = optind; i < argc; i++)
		failed += prefetch_one(pull, argv[i]);
	ret = failed ? REGCTL_EXIT_FAILURE : REGCTL_EXIT_OK;
out:
	rfs_pull_free(&pull);
	rfs_config_release(&cfg);
	rfs_store_close(&store);
	return ret;
}
