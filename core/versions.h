/*
 * versions.h - version ranges resolved to tags: the highest tag of a
 * repository that is a semantic version admitted by a range (semver.h),
 * for the mount (registry/<repo>/^1.2), regctl resolve, regctl ls
 * --versions and the plan runner's pull action.
 *
 * What resolution promises:
 * - The result is the greatest non-yanked tag, in rfs_semver_order(),
 *   whose name parses as a version (with or without 'v') admitted by the
 *   range. Tags whose names are not versions ("latest", "nightly-3") are
 *   ignored, never an error. Yanked tags are skipped but reported: the
 *   match names those that would have been chosen over the result (all
 *   that match, when nothing else does), so a message can say why.
 * - A failure says what there is: -ENOENT when nothing matches, with err
 *   naming the newest version of the repository and the yanked candidates
 *   ("no tag of 'app' matches '^3': the newest version is 'v2.4.1';
 *   yanked: 'v3.0.0'"); -ENOENT "no repository 'app'"; -EINVAL for a
 *   malformed range (semver.h). The match is filled as far as known either
 *   way.
 * - Speed: a per-repository index (its tags parsed and sorted) is built on
 *   the first lookup and reused while the repository is unchanged, so a
 *   lookup is two indexed catalog reads and a binary search: 5 to 20 us
 *   with 10 000 tags, where building the index took 10 to 40 ms
 *   (tests/unit/test-versions.c prints both). An index costs about 60
 *   bytes a version tag; at most max_repos are kept, the least recently
 *   used dropped first.
 * - Freshness: an index is used only while its repository's
 *   dirs.changed_ns is what it was when the index was read. The catalog
 *   sets it in the same transaction as every change to the repository's
 *   tags: a seal, a pin or refresh, a yank or unyank, an rm, a manifest
 *   DELETE. So a lookup sees every change committed before it began, from
 *   this process or another (regctl yank while the daemon serves); nothing
 *   here expires on a timer. (A change is missed only if the clock stepped
 *   back onto the very nanosecond of the previous one.) Kernel caching of
 *   the answer is the caller's to bound.
 * - Thread safety: one struct rfs_versions serves any number of threads.
 *   Lookups of a repository whose index is current share it without
 *   waiting on each other; when it must be built, one thread builds it
 *   (outside the cache lock, reading the catalog) and the others wait for
 *   that build instead of repeating it.
 *
 * The struct rfs_versions does not own the catalog, which must outlive it.
 */
#ifndef RFS_VERSIONS_H
#define RFS_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"
#include "semver.h"

struct rfs_versions;

#define RFS_VERSIONS_REPOS_DEFAULT 64 /* repositories indexed at once */
#define RFS_VERSIONS_YANKED_MAX	   8  /* yanked candidates named */

/* max_repos 0: RFS_VERSIONS_REPOS_DEFAULT. -ENOMEM or 0. */
int rfs_versions_new(struct rfs_catalog *cat, size_t max_repos,
		     struct rfs_versions **out);
/* The catalog it reads. */
struct rfs_catalog *rfs_versions_catalog(struct rfs_versions *v);
/* Callers must be done with it. Accepts NULL; clears *v. */
void rfs_versions_free(struct rfs_versions **v);

/* What a resolution found. Strings are "" when not known. */
struct rfs_version_match {
	bool exact;		    /* rfs_versions_lookup: the name is a tag */
	char name[RFS_TAG_MAX + 1]; /* the tag chosen */
	/* Its catalog row (rfs_versions_resolve, rfs_versions_lookup); id 0
	 * from rfs_versions_resolve_list, whose names need not be pinned. */
	struct rfs_tag tag;
	/* The highest version tag of the repository, not yanked, whatever
	 * the range (prereleases included), and how many there are. */
	char newest[RFS_TAG_MAX + 1];
	size_t n_versions;
	/* Yanked tags the range admits that rank above name (all of them
	 * when nothing matched): n_yanked, the highest first in yanked[]
	 * (at most RFS_VERSIONS_YANKED_MAX). */
	size_t n_yanked;
	char yanked[RFS_VERSIONS_YANKED_MAX][RFS_TAG_MAX + 1];
};

/* Resolve range in repository repo of the catalog. 0 with match->tag and
 * match->name; else see above. match may not be NULL. */
int rfs_versions_resolve(struct rfs_versions *v, const char *repo,
			 const struct rfs_semver_range *range,
			 struct rfs_version_match *match,
			 struct rfs_error *err);

/* What a name under registry/<repo>/ (or REF in regctl resolve app@REF)
 * stands for, in the order every door must use:
 * 1. a tag of that exact name, yanked or not (yank never hides an exact
 *    name): match->exact, match->tag; newest and yanked are not computed;
 * 2. else, when rfs_semver_is_range(name), the range, resolved as
 *    rfs_versions_resolve() does ("v1.2.3" finds tag "1.2.3" and the other
 *    way round); a malformed one is -EINVAL;
 * 3. else -ENOENT ("no such tag 'app:name'").
 * A pull-through repository's tags that are not pinned yet are the
 * caller's: see rfs_versions_resolve_list(). */
int rfs_versions_lookup(struct rfs_versions *v, const char *repo,
			const char *name, struct rfs_version_match *match,
			struct rfs_error *err);

/* Resolve range over the names of n tags of repo known elsewhere: an
 * upstream's tag list, for a pull-through repository. Names the catalog
 * holds as yanked tags of repo are skipped (and reported) as above;
 * match->tag is left zero. The mount does, for a range in a pull-through
 * repository:
 *   rfs_pull_list_tags(pull, repo, collect, &names, err);  (list_ttl)
 *   rfs_versions_resolve_list(v, repo, &range, names, n, &m, err);
 *   rfs_pull_resolve(pull, repo, m.name, &tag, err);        (pins it)
 * It costs a parse of each name and a sort of the versions: cache the
 * list, not the answer. 0, -ENOENT (with err as above), -ENOMEM. */
int rfs_versions_resolve_list(struct rfs_versions *v, const char *repo,
			      const struct rfs_semver_range *range,
			      const char *const *names, size_t n,
			      struct rfs_version_match *match,
			      struct rfs_error *err);

/* Tag names in `regctl ls --versions` order: versions first, ascending in
 * rfs_semver_order() (so the newest last, as `sort -V`), then the other
 * names bytewise. rfs_versions_cmp() is that order for qsort() over rows
 * of one's own; rfs_versions_sort() sorts an array of names in place,
 * parsing each once. 0 or -ENOMEM (names untouched). */
int rfs_versions_cmp(const char *a, const char *b);
int rfs_versions_sort(const char **names, size_t n);

/* Drop the index of repo (NULL: of every repository). Never needed for
 * correctness; for callers that want the memory back. */
void rfs_versions_forget(struct rfs_versions *v, const char *repo);

/* Counters since rfs_versions_new(), for tests and metrics. */
struct rfs_versions_stats {
	uint64_t lookups;   /* resolutions that read an index */
	uint64_t builds;    /* indexes built: first use, or after a change */
	uint64_t evictions; /* indexes dropped to stay within max_repos */
	size_t cached;	    /* repositories indexed now */
};
void rfs_versions_get_stats(struct rfs_versions *v,
			    struct rfs_versions_stats *out);

#endif
