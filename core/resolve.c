/*
 * resolve.c - a name in a repository: its tag, or the tag a version range
 * picks (see resolve.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "resolve.h"
#include "strv.h"

static int resolve_upstream(struct rfs_versions *v, struct rfs_pull *pull,
			    const char *repo,
			    const struct rfs_semver_range *range,
			    struct rfs_tag *out,
			    struct rfs_version_match *match,
			    struct rfs_error *err)
{
	struct rfs_strv l = { 0 };
	int rc = rfs_pull_list_tags(pull, repo, rfs_strv_add, &l, err);

	if (!rc)
		rc = rfs_versions_resolve_list(
		    v, repo, range, (const char *const *)l.v, l.n, match, err);
	if (!rc)
		rc = rfs_pull_resolve(pull, repo, match->name, out, err);
	rfs_strv_free(&l);
	return rc;
}

int rfs_resolve_range(struct rfs_versions *v, struct rfs_pull *pull,
		      const char *repo, const char *name, struct rfs_tag *out,
		      struct rfs_version_match *match, struct rfs_error *err)
{
	struct rfs_semver_range range;
	int rc;

	memset(match, 0, sizeof(*match));
	if (!rfs_semver_is_range(name))
		return rfs_error_set(err, -ENOENT, "no such tag '%s:%s'", repo,
				     name);
	rc = rfs_semver_range_parse(name, &range, err);
	if (rc)
		return rc;
	if (pull && rfs_pull_serves(pull, repo))
		return resolve_upstream(v, pull, repo, &range, out, match, err);
	rc = rfs_versions_resolve(v, repo, &range, match, err);
	if (!rc)
		*out = match->tag;
	return rc;
}

int rfs_resolve_name(struct rfs_versions *v, struct rfs_pull *pull,
		     const char *repo, const char *name, struct rfs_tag *out,
		     struct rfs_version_match *match, struct rfs_error *err)
{
	int rc = -ENOENT;

	if (rfs_name_valid_tag(name)) {
		rc = pull ? rfs_pull_resolve(pull, repo, name, out, err)
			  : rfs_catalog_tag_get(rfs_versions_catalog(v), repo,
						name, out);
		if (rc != -ENOENT)
			goto done;
	}
	rc = rfs_resolve_range(v, pull, repo, name, out, match, err);
	return rc;
done:
	memset(match, 0, sizeof(*match));
	if (!rc) {
		match->exact = true;
		match->tag = *out;
		snprintf(match->name, sizeof(match->name), "%s", name);
	}
	return rc;
}
