/*
 * cmd-inspect.c - "regctl inspect REPO:TAG [--json]": one sealed tag, what
 * it is and which blob file in the store holds its bytes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "names.h"
#include "regctl.h"
#include "tag-list.h"
#include "text.h"

static const char inspect_usage[] =
    "usage: regctl inspect REPO:TAG [--json]\n"
    "\n"
    "Show a sealed tag: repository, tag, digest, size, when it was sealed\n"
    "(UTC), its mode (0755 or 0644) and mtime, and the path of the blob\n"
    "file that holds it.\n"
    "\n"
    "  --json      print a JSON object {repository, tag, digest, size,\n"
    "              created, mode, mtime, blob, origin, artifact_type,\n"
    "              yanked, yank {by, at, reason} when yanked,\n"
    "              signature {verdict, key, reason, subject, checked} when\n"
    "              require_signature judged it, annotations}\n"
    "\n"
    "A tag that require_signature refused to pull is not in the store;\n"
    "inspect shows that verdict and exits 1.\n"
    "  -h, --help  show this help\n";

static int add_note(void *ctx, const char *key, const char *value)
{
	return json_object_set_new(ctx, key, json_string(value)) < 0 ? -ENOMEM
								     : 0;
}

/* Values are kept as their writer gave them, and shown escaped (text.h):
 * --json has them exactly. */
static int print_note(void *ctx, const char *key, const char *value)
{
	char *k = rfs_text_escape_dup(key), *v = rfs_text_escape_dup(value);

	(void)ctx;
	if (k && v)
		printf("annotation: %s=%s\n", k, v);
	free(k);
	free(v);
	return k && v ? 0 : -ENOMEM;
}

/* The last require_signature verdict on repo:tag (policy.h), if any. */
static bool verdict_of(struct rfs_store *store, const char *repo,
		       const char *tag, struct rfs_verdict *v)
{
	return rfs_catalog_verdict_get(rfs_store_catalog(store), repo, tag,
				       NULL, v) == 0;
}

static json_t *verdict_json(const struct rfs_verdict *v)
{
	char when[REGCTL_TIME_STR_MAX];

	regctl_format_time(v->checked_ns, REGCTL_TIME_RFC3339, when);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "verdict",
			 v->ok ? "verified" : "refused", "key", v->key,
			 "reason", v->reason, "subject", v->subject, "checked",
			 when);
}

static void verdict_print(const struct rfs_verdict *v)
{
	char reason[RFS_TEXT_BUF(RFS_VERDICT_REASON_MAX)];
	char when[REGCTL_TIME_STR_MAX];

	regctl_format_time(v->checked_ns, REGCTL_TIME_RFC3339, when);
	if (v->ok)
		printf("signature:  verified, key %s, %s (%s)\n", v->key, when,
		       v->subject);
	else
		printf("signature:  refused, %s (%s): %s\n", when, v->subject,
		       rfs_text_escape(reason, sizeof(reason), v->reason,
				       strlen(v->reason), RFS_TEXT_ALL));
}

static int inspect_print_json(struct rfs_store *store,
			      const struct rfs_tag *tag,
			      const struct tag_fields *t, const char *blob)
{
	json_t *obj, *notes = json_object();
	char when[REGCTL_TIME_STR_MAX];
	struct rfs_verdict v;
	struct rfs_yank y;
	int ret;

	if (notes)
		rfs_catalog_list_annotations(rfs_store_catalog(store), tag->id,
					     add_note, notes);
	obj = json_pack(
	    "{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
	    "repository", tag->repo, "tag", tag->name, "digest", tag->digest,
	    "size", (json_int_t)tag->size, "created", t->created, "mode",
	    t->mode, "mtime", t->mtime, "blob", blob, "origin", tag->origin,
	    "artifact_type", tag->artifact_type, "yanked", tag->yanked,
	    "annotations", notes);
	if (!obj)
		return regctl_error("out of memory");
	if (tag->yanked &&
	    rfs_catalog_yank_get(rfs_store_catalog(store), tag->id, &y) == 0) {
		regctl_format_time(y.yanked_ns, REGCTL_TIME_RFC3339, when);
		json_object_set_new(obj, "yank",
				    json_pack("{s:s, s:s, s:s}", "by", y.by,
					      "at", when, "reason", y.reason));
	}
	if (verdict_of(store, tag->repo, tag->name, &v))
		json_object_set_new(obj, "signature", verdict_json(&v));
	ret = regctl_print_json(obj);
	json_decref(obj);
	return ret;
}

static void inspect_print_text(struct rfs_store *store,
			       const struct rfs_tag *tag,
			       const struct tag_fields *t, const char *blob)
{
	char size[REGCTL_SIZE_STR_MAX], when[REGCTL_TIME_STR_MAX];
	char type[RFS_TEXT_BUF(RFS_ARTIFACT_TYPE_MAX)];
	char by[RFS_TEXT_BUF(RFS_YANK_BY_MAX)];
	char reason[RFS_TEXT_BUF(RFS_YANK_REASON_MAX)];
	struct rfs_verdict v;
	struct rfs_yank y;

	regctl_format_size(tag->size, size);
	printf("repository: %s\n", tag->repo);
	printf("tag:        %s\n", tag->name);
	printf("digest:     %s\n", tag->digest);
	printf("size:       %" PRIu64 " (%s)\n", tag->size, size);
	printf("created:    %s\n", t->created);
	printf("mode:       %s\n", t->mode);
	printf("mtime:      %s\n", t->mtime);
	printf("blob:       %s\n", blob);
	if (tag->origin[0])
		printf("origin:     %s (manifest %s)\n", tag->origin,
		       tag->manifest);
	if (tag->artifact_type[0])
		printf("type:       %s\n",
		       regctl_shown(type, sizeof(type), tag->artifact_type));
	if (tag->yanked &&
	    rfs_catalog_yank_get(rfs_store_catalog(store), tag->id, &y) == 0) {
		regctl_format_time(y.yanked_ns, REGCTL_TIME_RFC3339, when);
		printf("yanked:     yes, by %s at %s%s%s\n",
		       y.by[0] ? regctl_shown(by, sizeof(by), y.by)
			       : "(unknown)",
		       when, y.reason[0] ? ": " : "",
		       regctl_shown(reason, sizeof(reason), y.reason));
	} else if (tag->yanked) {
		printf("yanked:     yes\n");
	}
	if (verdict_of(store, tag->repo, tag->name, &v))
		verdict_print(&v);
	rfs_catalog_list_annotations(rfs_store_catalog(store), tag->id,
				     print_note, NULL);
}

int cmd_inspect(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	struct tag_fields fields;
	char blob[PATH_MAX];
	struct rfs_store *store = NULL;
	struct rfs_tag tag;
	const char *ref;
	bool json = false;
	int c, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(inspect_usage, false);
		case OPT_JSON: json = true; break;
		default: return regctl_option_error(argv, c, inspect_usage);
		}
	}
	if (optind == argc)
		return regctl_usage_error(inspect_usage, "no tag given");
	if (argc - optind > 1)
		return regctl_usage_error(inspect_usage,
					  "unexpected argument '%s'",
					  argv[optind + 1]);
	ref = argv[optind];
	if (rfs_ref_parse(ref, repo, sizeof(repo), name, sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(ref));

	ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
	if (ret)
		goto out;
	r = rfs_catalog_tag_get(rfs_store_catalog(store), repo, name, &tag);
	if (r == -ENOENT) {
		struct rfs_verdict v;

		/* Never pinned: require_signature may have refused it. */
		if (verdict_of(store, repo, name, &v) && !v.ok) {
			json_t *obj = verdict_json(&v);

			if (json) {
				json_t *all = json_pack(
				    "{s:s, s:s, s:o}", "repository", repo,
				    "tag", name, "signature", obj);

				if (all)
					regctl_print_json(all);
				json_decref(all);
			} else {
				json_decref(obj);
				printf("repository: %s\ntag:        %s\n", repo,
				       name);
				verdict_print(&v);
			}
			ret = regctl_error("'%s:%s' is not in the store: "
					   "require_signature refused it",
					   repo, name);
			goto out;
		}
		ret = regctl_error("no such tag '%s:%s'", repo, name);
		goto out;
	}
	if (r < 0) {
		ret = regctl_error("cannot look up '%s:%s': %s", repo, name,
				   strerror(-r));
		goto out;
	}
	r = rfs_store_blob_path(store, tag.digest, blob, sizeof(blob));
	if (r < 0) {
		ret = regctl_error("cannot name the blob of '%s:%s': %s", repo,
				   name, strerror(-r));
		goto out;
	}
	tag_fields_format(&tag, &fields);

	if (json) {
		ret = inspect_print_json(store, &tag, &fields, blob);
	} else {
		inspect_print_text(store, &tag, &fields, blob);
		ret = REGCTL_EXIT_OK;
	}
out:
	rfs_store_close(&store);
	return ret;
}
