/*
 * cmd-tags.c - "regctl tags HOST[:PORT]/REPO [--json]": the tags of a
 * repository on a remote registry, as it lists them (GET tags/list, page
 * after page).
 *
 * The whole list is read before anything is printed, so that a failure
 * midway prints no partial output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regctl-remote.h"
#include "regctl.h"

static const char tags_usage[] =
    "usage: regctl tags [--plain-http] [--json] HOST[:PORT]/REPO\n"
    "\n"
    "List the tags of repository REPO on the registry at HOST[:PORT], one\n"
    "a line, in the registry's order, with the credentials 'regctl login'\n"
    "(or 'docker login') saved for HOST[:PORT].\n"
    "\n" REGCTL_PLAIN_HTTP_HELP
    "  --json          print a JSON array of the tag names\n"
    "  -h, --help      show this help\n";

struct tag_list {
	char **v;
	size_t nr, alloc;
};

static void tag_list_release(struct tag_list *list)
{
	for (size_t i = 0; i < list->nr; i++)
		free(list->v[i]);
	free(list->v);
	list->v = NULL;
	list->nr = list->alloc = 0;
}

static int tag_collect(void *ctx, const char *name)
{
	struct tag_list *list = ctx;

	if (list->nr == list->alloc) {
		size_t alloc = list->alloc ? list->alloc * 2 : 64;
		char **v = realloc(list->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		list->v = v;
		list->alloc = alloc;
	}
	list->v[list->nr] = strdup(name);
	if (!list->v[list->nr])
		return -ENOMEM;
	list->nr++;
	return 0;
}

static int tags_print_json(const struct tag_list *list)
{
	json_t *array = json_array();
	int ret;

	for (size_t i = 0; array && i < list->nr; i++) {
		if (json_array_append_new(array, json_string(list->v[i])) < 0) {
			json_decref(array);
			array = NULL;
		}
	}
	if (!array)
		return regctl_error("out of memory");
	ret = regctl_print_json(array);
	json_decref(array);
	return ret;
}

int cmd_tags(int argc, char **argv, struct regctl *rc)
{
	enum { OPT_HELP = REGCTL_OPT_LONG, OPT_PLAIN_HTTP, OPT_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_remote_ref ref;
	struct rfs_upstream *up = NULL;
	struct tag_list list = { .v = NULL };
	struct rfs_error err = { 0 };
	bool plain_http = false, json = false;
	int c, r, ret;

	(void)rc;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(tags_usage, false);
		case OPT_PLAIN_HTTP: plain_http = true; break;
		case OPT_JSON: json = true; break;
		default: return regctl_option_error(argv, c, tags_usage);
		}
	}
	if (optind == argc)
		return regctl_usage_error(tags_usage, "no repository given");
	if (argc - optind > 1)
		return regctl_usage_error(
		    tags_usage, "unexpected argument '%s'", argv[optind + 1]);
	ret = regctl_parse_remote(tags_usage, argv[optind],
				  RFS_REMOTE_TAG_FORBIDDEN, &ref);
	if (ret)
		return ret;

	ret = regctl_remote_upstream(ref.host, plain_http, &up);
	if (ret)
		goto out;
	r = rfs_upstream_list_tags(up, ref.repo, tag_collect, &list, &err);
	if (r == -ENOENT) {
		ret = regctl_error("no repository '%s' at '%s'", ref.repo,
				   ref.host);
		goto out;
	}
	if (r == -ENOMEM && !err.msg[0]) {
		ret = regctl_error("out of memory");
		goto out;
	}
	if (r < 0) {
		ret = regctl_error(
		    "cannot list the tags of '%s' at '%s': %s%s", ref.repo,
		    ref.host, regctl_upstream_message(&err, r),
		    regctl_plain_http_hint(ref.host, plain_http, r));
		goto out;
	}
	if (json) {
		ret = tags_print_json(&list);
	} else {
		/* The registry's names, unchecked: shown escaped and cut
		 * (text.h); --json has them as they came. */
		for (size_t i = 0; i < list.nr; i++)
			printf("%s\n", REGCTL_NAME(list.v[i]));
		ret = REGCTL_EXIT_OK;
	}
out:
	tag_list_release(&list);
	rfs_upstream_free(&up);
	return ret;
}
