/*
 * cmd-publish.c - "regctl publish FILE REPO:TAG": seal a file as a tag
 * without a mount, through the same seal as incoming/.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "digest.h"
#include "names.h"
#include "regctl.h"
#include "seal.h"

#define MAX_ANNOTATIONS 64

static const char publish_usage[] =
    "usage: regctl publish [--annotation KEY=VALUE]... [--type TYPE]\n"
    "                      [--sha256 HEX] [--config FILE] [--init]\n"
    "                      FILE REPO:TAG\n"
    "\n"
    "Seal FILE (or standard input for -) as REPO:TAG: hashed while it is\n"
    "copied into the store, synced, stored once per digest and recorded,\n"
    "exactly as a file closed in incoming/. The tag must not exist. It is\n"
    "executable (0755) when FILE is, as cp keeps the mode; else 0644.\n"
    "\n"
    "  --annotation KEY=VALUE  metadata (description, author, source...),\n"
    "                          shown by getfattr as user.regfs.annotation.KEY\n"
    "  --type TYPE             the artifact's type (a media type), for ls\n"
    "                          and search --type; pushed as ORAS's\n"
    "                          artifactType (--artifact-type: the same)\n"
    "  --sha256 HEX            the digest the content must have\n"
    "  --config FILE           regfs.conf(5) FILE (default\n"
    "                          " RFS_CONFIG_DEFAULT_PATH " when it exists):\n"
    "                          its seal_hook must say yes to the content,\n"
    "                          which must fit its max_tag_size\n"
    "  --init                  create the store when its folder does not\n"
    "                          exist (without it, a mistyped --store is an\n"
    "                          error, not a new store)\n"
    "  -h, --help              show this help\n";

int cmd_publish(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_ANNOTATION,
		OPT_TYPE,
		OPT_SHA256,
		OPT_CONFIG,
		OPT_INIT
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "annotation", required_argument, NULL, OPT_ANNOTATION },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "artifact-type", required_argument, NULL, OPT_TYPE },
		{ "sha256", required_argument, NULL, OPT_SHA256 },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "init", no_argument, NULL, OPT_INIT },
		{ NULL, 0, NULL, 0 },
	};
	struct rfs_annotation annotations[MAX_ANNOTATIONS];
	struct rfs_tag_meta meta = { .annotations = annotations };
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	char expected[RFS_DIGEST_STR_MAX + 8];
	struct rfs_seal_options opts = { .meta = &meta };
	struct rfs_error err = { 0 };
	struct rfs_store *store = NULL;
	struct rfs_seal *seal = NULL;
	struct rfs_tag tag = { 0 };
	const char *file, *config = rc->config_path;
	char root[PATH_MAX];
	bool init = false;
	struct stat st;
	int c, fd = -1, r, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		char *eq;

		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(publish_usage, false);
		case OPT_ANNOTATION:
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				return regctl_usage_error(
				    publish_usage,
				    "an annotation is KEY=VALUE, not '%s'",
				    optarg);
			if (meta.n_annotations == MAX_ANNOTATIONS)
				return regctl_usage_error(
				    publish_usage, "at most %d annotations",
				    MAX_ANNOTATIONS);
			*eq = '\0';
			annotations[meta.n_annotations].key = optarg;
			annotations[meta.n_annotations++].value = eq + 1;
			break;
		case OPT_TYPE: meta.artifact_type = optarg; break;
		case OPT_SHA256:
			snprintf(expected, sizeof(expected), "sha256:%s",
				 optarg);
			if (!rfs_digest_valid(expected))
				return regctl_usage_error(publish_usage,
							  "invalid sha256 '%s'",
							  optarg);
			opts.expected_digest = expected;
			break;
		case OPT_CONFIG: config = optarg; break;
		case OPT_INIT: init = true; break;
		default: return regctl_option_error(argv, c, publish_usage);
		}
	}
	if (argc - optind != 2)
		return regctl_usage_error(publish_usage,
					  "want FILE and REPO:TAG");
	file = argv[optind];
	if (rfs_ref_parse(argv[optind + 1], repo, sizeof(repo), name,
			  sizeof(name)) < 0)
		return regctl_error("invalid reference '%s' (want REPO:TAG)",
				    REGCTL_NAME(argv[optind + 1]));
	/* A store is made on purpose: a mistyped --store or an unset
	 * REGFS_STORE must not publish into a new, empty one. */
	ret = regctl_store_path(rc, root, sizeof(root));
	if (ret)
		return ret;
	if (!init && stat(root, &st) < 0 && errno == ENOENT)
		return regctl_error("no store at '%s' (give --init to create "
				    "one there)",
				    root);
	fd = strcmp(file, "-") == 0 ? STDIN_FILENO
				    : open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return regctl_error("cannot open '%s': %s", file,
				    strerror(errno));
	/* Whether FILE is executable, as cp keeps it; its mtime is not kept
	 * (the tag is dated by its seal), as cp without -p. Standard input
	 * is whatever the shell opened: 0644. */
	if (strcmp(file, "-") != 0 && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode)) {
		meta.attrs.set_mode = true;
		meta.attrs.mode = st.st_mode & 07777;
	}

	ret = regctl_open_store(rc, RFS_STORE_CREATE, &store);
	if (ret)
		goto out;
	/* The seal hook of the configuration: a publish is refused when it
	 * cannot run, as every publish of a mount with it would be. */
	r = rfs_config_policies_from_file(store, config, &err);
	if (r) {
		ret = regctl_error("cannot publish '%s' as '%s:%s': %s", file,
				   repo, name, rfs_error_message(&err, r));
		goto out;
	}
	r = rfs_seal_begin(store, &seal, &err);
	if (!r)
		r = rfs_seal_write_fd(seal, fd, &err);
	if (!r)
		r = rfs_seal_commit(seal, repo, name, &opts, &tag, &err);
	rfs_audit(store, RFS_AUDIT_PUBLISH, r, &err, repo, name, tag.digest);
	if (r) {
		ret = regctl_error("cannot publish '%s' as '%s:%s': %s", file,
				   repo, name, rfs_error_message(&err, r));
		goto out;
	}
	printf("%s:%s %s\n", tag.repo, tag.name, tag.digest);
	ret = REGCTL_EXIT_OK;
out:
	rfs_seal_free(&seal);
	rfs_store_close(&store);
	if (fd > STDIN_FILENO)
		close(fd);
	return ret;
}
