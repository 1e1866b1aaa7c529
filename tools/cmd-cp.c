/*
 * cmd-cp.c - "regctl cp SRC DST": copy or promote a tag between the local
 * store and remote registries (staging to prod), keeping its digest.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "names.h"
#include "push.h"
#include "regctl-remote.h"
#include "regctl.h"

static const char cp_usage[] =
    "usage: regctl cp [--force] [--plain-http] SRC DST\n"
    "\n"
    "Copy a tag, keeping its digest. SRC and DST are each a local REPO:TAG\n"
    "or a remote HOST[:PORT]/REPO:TAG:\n"
    "  local to remote   as regctl push\n"
    "  remote to local   as regctl pull, published here under DST\n"
    "  remote to remote  the manifest as it is, its blobs skipped when DST\n"
    "                    has them, mounted when both are on one registry,\n"
    "                    else streamed through the store and verified\n"
    "  local to local    the same content under a second name, with its\n"
    "                    annotations, mode and mtime\n"
    "\n"
    "  --force       overwrite a remote DST that names another digest\n" REGCTL_PLAIN_HTTP_HELP
    "                (for both registries)\n"
    "  -h, --help    show this help\n";

struct copy_ends {
	bool remote;
	struct rfs_remote_ref ref;			   /* remote */
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1]; /* local */
};

static int parse_end(const char *text, struct copy_ends *end)
{
	end->remote = rfs_remote_is_remote(text);
	if (end->remote)
		return regctl_parse_remote(cp_usage, text,
					   RFS_REMOTE_TAG_REQUIRED, &end->ref);
	if (rfs_ref_parse(text, end->repo, sizeof(end->repo), end->tag,
			  sizeof(end->tag)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG or "
				    "HOST[:PORT]/REPO:TAG)",
				    text);
	return 0;
}

static int copy_annotation(void *ctx, const char *key, const char *value)
{
	struct rfs_tag_meta *meta = ctx;
	struct rfs_annotation *a = (struct rfs_annotation *)meta->annotations;

	if (meta->n_annotations < 64) {
		a[meta->n_annotations].key = strdup(key);
		a[meta->n_annotations++].value = strdup(value);
	}
	return 0;
}

/* The same content under a second local name, with its metadata. */
static int copy_local(struct regctl *rc, const struct copy_ends *src,
		      const struct copy_ends *dst)
{
	struct rfs_annotation annotations[64];
	struct rfs_tag_meta meta = { .annotations = annotations };
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_tag from = { 0 }, to = { 0 };
	int r, ret;

	ret = regctl_open_store(rc, 0, &store);
	if (ret)
		return ret;
	r = rfs_catalog_tag_get(rfs_store_catalog(store), src->repo, src->tag,
				&from);
	if (r == 0 && from.kind != RFS_TAG_FILE)
		r = rfs_error_set(&err, -EOPNOTSUPP,
				  "'%s:%s' is a multi-layer image", src->repo,
				  src->tag);
	if (r == 0) {
		meta.artifact_type = from.artifact_type;
		meta.attrs = (struct rfs_file_attrs){
			.set_mode = true,
			.mode = from.mode,
			.set_mtime = true,
			.mtime_ns = from.mtime_ns,
		};
		rfs_catalog_list_annotations(rfs_store_catalog(store), from.id,
					     copy_annotation, &meta);
		r = rfs_catalog_add_tag_meta(
		    rfs_store_catalog(store), dst->repo, dst->tag, from.digest,
		    from.size, rfs_now_ns(), &meta, &to, &err);
	}
	rfs_audit(store, RFS_AUDIT_COPY, r, &err, dst->repo, dst->tag,
		  r ? from.digest : to.digest);
	if (r)
		ret = regctl_error("cannot copy '%s:%s': %s", src->repo,
				   src->tag, rfs_error_message(&err, r));
	else
		printf("%s:%s %s\n", to.repo, to.name, to.digest);
	for (size_t i = 0; i < meta.n_annotations; i++) {
		free((char *)annotations[i].key);
		free((char *)annotations[i].value);
	}
	rfs_store_close(&store);
	return ret;
}

static int copy_remote(struct regctl *rc, const struct copy_ends *src,
		       const struct copy_ends *dst, bool plain,
		       const struct rfs_push_options *opts)
{
	char digest[RFS_DIGEST_STR_MAX + 1];
	struct rfs_upstream *from = NULL, *to = NULL;
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	int r, ret;

	ret = regctl_open_store(rc, RFS_STORE_CREATE, &store);
	if (!ret)
		ret = regctl_remote_upstream(src->ref.host, plain, &from);
	if (!ret)
		ret = regctl_remote_upstream(dst->ref.host, plain, &to);
	if (ret)
		goto out;
	r = rfs_copy_remote(store, from, src->ref.host, src->ref.repo,
			    src->ref.tag, to, dst->ref.host, dst->ref.repo,
			    dst->ref.tag, opts, digest, &err);
	if (r) {
		const char *hint =
		    regctl_plain_http_hint(src->ref.host, plain, r);

		if (!*hint)
			hint = regctl_plain_http_hint(dst->ref.host, plain, r);
		ret = regctl_error("cannot copy '%s/%s:%s' to '%s/%s:%s': %s%s",
				   src->ref.host, src->ref.repo, src->ref.tag,
				   dst->ref.host, dst->ref.repo, dst->ref.tag,
				   regctl_upstream_message(&err, r), hint);
		goto out;
	}
	printf("%s/%s:%s %s\n", dst->ref.host, dst->ref.repo, dst->ref.tag,
	       digest);
out:
	rfs_upstream_free(&from);
	rfs_upstream_free(&to);
	rfs_store_close(&store);
	return ret;
}

int cmd_cp(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_FORCE, OPT_PLAIN };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "plain-http", no_argument, NULL, OPT_PLAIN },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_push_options opts = { 0 };
	struct copy_ends src, dst;
	bool plain = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, ":hf", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(cp_usage, false);
		case 'f':
		case OPT_FORCE: opts.force = true; break;
		case OPT_PLAIN: plain = true; break;
		default: return regctl_option_error(argv, c, cp_usage);
		}
	}
	if (argc - optind != 2)
		return regctl_usage_error(cp_usage, "want SRC and DST");
	ret = parse_end(argv[optind], &src);
	if (!ret)
		ret = parse_end(argv[optind + 1], &dst);
	if (ret)
		return ret;
	if (!src.remote && !dst.remote)
		return copy_local(rc, &src, &dst);
	if (!src.remote)
		return regctl_push(rc, src.repo, src.tag, &dst.ref, plain,
				   &opts, NULL);
	if (!dst.remote)
		return regctl_pull(rc, &src.ref, plain, dst.repo, dst.tag);
	return copy_remote(rc, &src, &dst, plain, &opts);
}
