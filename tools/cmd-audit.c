/*
 * cmd-audit.c - "regctl audit": read the store's audit log (audit.h), as a
 * table or as its JSON lines, filtered by time, repository and kind.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "catalog.h"
#include "regctl.h"
#include "text.h"

static const char audit_usage[] =
    "usage: regctl audit [--since T] [--repo REPO] [--kind KIND[,KIND]...]\n"
    "                    [--json] [--file FILE]\n"
    "\n"
    "Show the store's audit log: publishes, pushes, pulls through upstreams,\n"
    "yanks, removals, refusals and logins, oldest first, one a line.\n"
    "\n"
    "  --since T      only events at or after T: an RFC 3339 time\n"
    "                 (2026-12-06T07:40:00Z, 2026-12-06) or a duration\n"
    "                 before now (90s, 15m, 1h, 2d, 1w, 1h30m)\n"
    "  --repo REPO    only events of REPO and the repositories under it\n"
    "  --kind KIND    only these kinds (comma-separated): publish, push,\n"
    "                 pull, fetch, copy, yank, unyank, remove,\n"
    "                 hook-refused, verify-failed, sign, verify, login,\n"
    "                 denied\n"
    "  --json         print the log's JSON lines as they are\n"
    "  --file FILE    read FILE (a rotated log) instead of\n"
    "                 STORE/audit/audit.log\n"
    "  -h, --help     show this help\n";

/* "sha256:0123456789ab" for a table. */
static void short_digest(const char *digest, char *buf, size_t size)
{
	if (!*digest)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.19s", digest);
}

static void print_row(const struct rfs_audit_entry *e)
{
	char who[320], ref[RFS_REPO_MAX + RFS_TAG_MAX + 2], digest[24];
	char when[32];
	char s_when[RFS_TEXT_BUF(32)], s_kind[RFS_TEXT_BUF(sizeof(e->kind))];
	char s_result[RFS_TEXT_BUF(sizeof(e->result))];
	char s_who[RFS_TEXT_BUF(320)], s_digest[RFS_TEXT_BUF(24)];
	char s_ref[RFS_TEXT_BUF(RFS_REPO_MAX + RFS_TAG_MAX + 2)];
	char s_reason[RFS_TEXT_BUF(sizeof(e->reason))];

	/* "2026-12-06T07:40:01.123Z" as "2026-12-06 07:40:01.123". */
	snprintf(when, sizeof(when), "%.10s %.12s", e->time, e->time + 11);
	if (e->addr[0])
		snprintf(who, sizeof(who), "%s@%s", e->user[0] ? e->user : "-",
			 e->addr);
	else if (e->uid >= 0)
		snprintf(who, sizeof(who), "uid %" PRId64 " pid %" PRId64,
			 e->uid, e->pid);
	else
		snprintf(who, sizeof(who), "pid %" PRId64, e->pid);
	if (e->repo[0] && e->tag[0])
		snprintf(ref, sizeof(ref), "%s:%s", e->repo, e->tag);
	else
		snprintf(ref, sizeof(ref), "%s", e->repo[0] ? e->repo : "-");
	short_digest(e->digest, digest, sizeof(digest));
	/* A user name over HTTP, a hook's reason, or a line someone else
	 * wrote into the log: shown escaped (text.h), --json has them as
	 * they are. */
	printf("%-23s  %-13s  %-7s  %-22s  %-24s  %-19s  %s\n",
	       regctl_shown(s_when, sizeof(s_when), when),
	       regctl_shown(s_kind, sizeof(s_kind), e->kind),
	       regctl_shown(s_result, sizeof(s_result), e->result),
	       regctl_shown(s_who, sizeof(s_who), who),
	       regctl_shown(s_ref, sizeof(s_ref), ref),
	       regctl_shown(s_digest, sizeof(s_digest), digest),
	       regctl_shown(s_reason, sizeof(s_reason), e->reason));
}

int cmd_audit(int argc, char **argv, struct regctl *rc)
{
	enum {
		OPT_HELP = REGCTL_OPT_LONG,
		OPT_SINCE,
		OPT_REPO,
		OPT_KIND,
		OPT_JSON,
		OPT_FILE
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, OPT_HELP },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "repo", required_argument, NULL, OPT_REPO },
		{ "kind", required_argument, NULL, OPT_KIND },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "file", required_argument, NULL, OPT_FILE },
		{ NULL, 0, NULL, 0 },
	};
	const char *repo = NULL, *kinds = NULL, *file = NULL;
	int64_t since = INT64_MIN;
	struct rfs_store *store = NULL;
	char path[PATH_MAX];
	unsigned long bad = 0;
	bool json = false;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f = NULL;
	int c, ret;

	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
		case OPT_HELP: return regctl_usage(audit_usage, false);
		case OPT_SINCE:
			if (rfs_audit_parse_since(optarg, rfs_now_ns(),
						  &since) < 0)
				return regctl_usage_error(
				    audit_usage,
				    "--since '%s': want an RFC 3339 time or a "
				    "duration (1h, 2d)",
				    optarg);
			break;
		case OPT_REPO: repo = optarg; break;
		case OPT_KIND: kinds = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_FILE: file = optarg; break;
		default: return regctl_option_error(argv, c, audit_usage);
		}
	}
	if (optind != argc)
		return regctl_usage_error(audit_usage, "unexpected '%s'",
					  argv[optind]);
	if (!file) {
		ret = regctl_open_store(rc, RFS_STORE_READONLY, &store);
		if (ret)
			return ret;
		if (rfs_audit_path(store, path, sizeof(path)) < 0) {
			rfs_store_close(&store);
			return regctl_error("store path too long");
		}
		rfs_store_close(&store);
		file = path;
	}
	f = fopen(file, "re");
	if (!f && !(errno == ENOENT && file == path))
		return regctl_error("cannot read '%s': %s", file,
				    strerror(errno));
	if (!json)
		printf("%-23s  %-13s  %-7s  %-22s  %-24s  %-19s  %s\n", "TIME",
		       "KIND", "RESULT", "WHO", "REPO:TAG", "DIGEST", "REASON");
	while (f && (len = getline(&line, &cap, f)) > 0) {
		struct rfs_audit_entry e;

		if (line[len - 1] != '\n' ||
		    rfs_audit_parse(line, (size_t)len - 1, &e) < 0) {
			bad++; /* torn by a crash or a full disk */
			continue;
		}
		if (!rfs_audit_match(&e, since, repo, kinds))
			continue;
		if (json)
			regctl_write_json(line, (size_t)len);
		else
			print_row(&e);
	}
	ret = REGCTL_EXIT_OK;
	if (f && ferror(f))
		ret =
		    regctl_error("cannot read '%s': %s", file, strerror(errno));
	else if (bad)
		fprintf(stderr,
			"regctl: skipped %lu malformed line%s of '%s'\n", bad,
			bad == 1 ? "" : "s", file);
	free(line);
	if (f)
		fclose(f);
	if (fflush(stdout) != 0)
		ret = regctl_error("cannot write: %s", strerror(errno));
	return ret;
}
