/*
 * semver.h - semantic versions (SemVer 2.0.0) and version ranges: the
 * grammar, precedence, and which versions a range such as "^1.2" admits.
 * Pure functions on values: no catalog, no allocation, thread-safe.
 * versions.h applies them to the tags of a repository.
 *
 * Versions. rfs_semver_parse() takes semver.org's grammar strictly:
 *   [vV]? MAJOR.MINOR.PATCH ("-" PRERELEASE)? ("+" BUILD)?
 * MAJOR, MINOR, PATCH and the numeric identifiers of a prerelease have no
 * leading zeros; identifiers are non-empty [0-9A-Za-z-]+ joined by '.';
 * build identifiers may be all digits with leading zeros ("+001"). One
 * leading 'v' or 'V' is allowed (tags are often "v1.2.3") and remembered
 * in prefix; it plays no part in precedence or matching, so "v1.2.3" and
 * "1.2.3" are the same version. Numbers above UINT64_MAX and text longer
 * than RFS_SEMVER_MAX are refused. A struct rfs_semver holds its own
 * text: copy it freely. OCI tags cannot hold '+', so a tag never carries
 * build metadata, but names from elsewhere may.
 *
 * Precedence (semver.org section 11): rfs_semver_cmp() compares MAJOR,
 * MINOR, PATCH numerically; a prerelease ranks below its release; two
 * prereleases compare identifier by identifier, numeric ones numerically
 * and below alphanumeric ones, alphanumeric ones in ASCII order, and when
 * all before are equal the one with fewer identifiers ranks lower. Build
 * metadata is ignored: 1.0.0+a and 1.0.0+b have the same precedence.
 * rfs_semver_order() refines it into a total order, for sorting and for
 * choosing among versions of equal precedence: then by build metadata
 * (none first, identifiers compared as above, numbers by value), then by
 * prefix (none, 'V', 'v'), then by text. Resolution picks the greatest in
 * that order, so the choice never depends on catalog order.
 *
 * Ranges. rfs_semver_range_parse() accepts the forms below; any version in
 * them may have the 'v' prefix and, where it is full, a prerelease. A
 * range is the intersection (AND) of its terms, separated by commas
 * and/or spaces; an operator may be followed by spaces (">= 1.0.0").
 *
 *   form            admits                          note
 *   ^1.2.3          >=1.2.3, <2.0.0-0               caret: same major
 *   ^1.2 / ^1       >=1.2.0 / >=1.0.0, <2.0.0-0
 *   ^0.2.3          >=0.2.3, <0.3.0-0               0.x: same minor
 *   ^0.0.3          >=0.0.3, <0.0.4-0               0.0.x: that patch
 *   ^0.2 / ^0.0     >=0.2.0, <0.3.0-0 / <0.1.0-0
 *   ^0              >=0.0.0, <1.0.0-0
 *   ~1.2.3 / ~1.2   >=1.2.3 / >=1.2.0, <1.3.0-0     tilde: same minor
 *   ~1              >=1.0.0, <2.0.0-0
 *   1.2.* 1.2.x     >=1.2.0, <1.3.0-0               also 1.2.X
 *   1.* 1.x 1.*.*   >=1.0.0, <2.0.0-0
 *   *               any version
 *   1.2.3 =1.2.3    exactly 1.2.3 (its precedence)
 *   =1.2 / =1       as 1.2.* / 1.*
 *   >1.2.3 >=1.2.3 <1.2.3 <=1.2.3                   comparators
 *   >1.2  >=1.2     >=1.3.0 / >=1.2.0               partial comparators
 *   <1.2  <=1.2     <1.2.0-0 / <1.3.0-0             (as npm does)
 *   >=1.0.0,<2.0.0  both ("," or " ": AND)          also "^1.2, <1.5"
 *   latest-stable   the highest version without a prerelease
 *
 * "X.Y.Z-0", the lowest version of X.Y.Z, is how an upper bound excludes
 * the prereleases of the next version. "latest" is not a range: it is a
 * common tag name. Not supported, refused with a message saying so: "||"
 * (either of two ranges), hyphen ranges ("1.0 - 2.0"), a bare partial
 * version ("1.2": a tag name, or mean 1.2.x, ~1.2 or ^1.2), a wildcard
 * after an operator (">=1.x"). Anything else malformed ("^1.2.3.4", ">=x",
 * "~", "") is -EINVAL with a message naming what is wrong.
 *
 * Prereleases. A prerelease version is a candidate for a range only when
 * a term of the range names a prerelease of the same MAJOR.MINOR.PATCH
 * (npm's and cargo's rule): ">=1.2.3-beta" admits 1.2.3-beta.2,
 * 1.2.3-rc.1, 1.2.3 and 1.4.0, but not 1.4.0-alpha; "^1.2" admits no
 * prerelease at all; "=1.2.3-rc.1" and "1.2.3-rc.1" resolve to that
 * prerelease. Once admitted, a prerelease is placed by full semver 2.0.0
 * precedence, as the issue asks ("prereleases included"): ">=1.0.0-alpha"
 * picks 1.0.0-beta.11 over 1.0.0-beta.2, and 1.0.0 over both. Why not
 * admit every prerelease in the interval: a range is how a deploy follows
 * a line of releases (rsync -L registry/app/^1.2 ...), and a release
 * candidate published for testing must not become what "^1.2" deploys;
 * users of npm, cargo and composer expect exactly this. A caller that
 * wants every prerelease in the interval (a "--pre" option) sets
 * include_prerelease after parsing; the upper bounds above still keep the
 * next major's prereleases out. latest-stable never admits a prerelease.
 *
 * Names. Under registry/<repo>/ a name is a tag first: rfs_semver_is_range()
 * says whether a name that is not a tag is meant as a range, which
 * versions.h's rfs_versions_lookup() turns into the usual order: the exact
 * tag if it exists (yanked or not), else the range, else -ENOENT; and a
 * name meant as a range but malformed is -EINVAL rather than -ENOENT.
 */
#ifndef RFS_SEMVER_H
#define RFS_SEMVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "names.h"

#define RFS_SEMVER_MAX	     RFS_TAG_MAX /* a version's text, prefix included */
#define RFS_SEMVER_RANGE_MAX 255	 /* a range's text: a file name */
#define RFS_SEMVER_TERMS_MAX 16		 /* terms in one range */

struct rfs_semver {
	uint64_t major, minor, patch;
	char prefix;	   /* 'v' or 'V' as written, else '\0' */
	uint8_t pre_off;   /* in text: the prerelease, after its '-' */
	uint8_t pre_len;   /* 0: a release */
	uint8_t build_off; /* in text: the build metadata, after its '+' */
	uint8_t build_len; /* 0: none */
	char text[RFS_SEMVER_MAX + 1]; /* as written */
};

/* Parse s as a whole. 0, or -EINVAL (out is then undefined). */
int rfs_semver_parse(const char *s, struct rfs_semver *out);
bool rfs_semver_valid(const char *s);

static inline bool rfs_semver_is_prerelease(const struct rfs_semver *v)
{
	return v->pre_len != 0;
}

/* Precedence (build metadata ignored): <0, 0 or >0. */
int rfs_semver_cmp(const struct rfs_semver *a, const struct rfs_semver *b);
/* The total order: precedence, then build, prefix and text. 0 only for
 * the same text. */
int rfs_semver_order(const struct rfs_semver *a, const struct rfs_semver *b);
/* Two prereleases ("alpha.1", without the '-') by section 11: <0, 0, >0.
 * For whoever keeps versions in a form of their own (versions.c). */
int rfs_semver_cmp_pre(const char *a, size_t alen, const char *b, size_t blen);

/* A parsed range: the intersection of its terms, as one interval plus the
 * prerelease rule. Fields are read-only, except include_prerelease. */
struct rfs_semver_triple {
	uint64_t major, minor, patch;
};

struct rfs_semver_range {
	char text[RFS_SEMVER_RANGE_MAX + 1]; /* as given */
	bool stable_only;		     /* latest-stable */
	bool none; /* admits nothing (">18446744073709551615") */
	bool has_lo, lo_inclusive;
	bool has_hi, hi_inclusive;
	struct rfs_semver lo, hi; /* when has_lo, has_hi */
	/* The MAJOR.MINOR.PATCH of the prereleases the terms name: the
	 * prereleases admitted. */
	size_t n_pre;
	struct rfs_semver_triple pre[RFS_SEMVER_TERMS_MAX];
	/* Admit every prerelease inside the bounds (npm's
	 * includePrerelease). False after parsing; the caller may set it. */
	bool include_prerelease;
};

/* Parse a range; -EINVAL with a message in err for a malformed one. */
int rfs_semver_range_parse(const char *text, struct rfs_semver_range *out,
			   struct rfs_error *err);
/* Does the range admit v (bounds by precedence, prerelease rule)? */
bool rfs_semver_range_match(const struct rfs_semver_range *r,
			    const struct rfs_semver *v);
/* The bounds as comparators, for messages and --json: ">=1.2.0, <2.0.0-0",
 * "=1.2.3", "*", "latest-stable"; "(none)" when nothing can match.
 * Truncated to size; returns buf. */
char *rfs_semver_range_describe(const struct rfs_semver_range *r, char *buf,
				size_t size);

/* Is name meant as a range? True when it holds a character no tag may
 * hold and ranges use (^ ~ < > = * , | space), or when it parses as a
 * range as it stands ("1.2.3", "v1.2.3", "1.2.x", "latest-stable"). So
 * "^1.2" and "^1.2.3.4" (malformed: -EINVAL) are ranges; "v1.2", "latest",
 * "1.2.3.4" and "app-1.2.3" are only tag names (missing: -ENOENT). A name
 * that is also a valid tag is looked up as a tag first. */
bool rfs_semver_is_range(const char *name);

/* The index of the name, of n, that is the greatest version (by
 * rfs_semver_order) the range admits; -1 when none does. Names that are
 * not versions are passed over. (No yank here: for registries without a
 * catalog, such as a plan's filesystem and OCI registries.) */
long rfs_semver_pick(const struct rfs_semver_range *r, const char *const *names,
		     size_t n);

#endif
