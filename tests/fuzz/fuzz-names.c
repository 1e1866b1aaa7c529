/*
 * fuzz-names.c - libFuzzer harness for the name and reference grammar
 * (core/names.c, digests in core/digest.c, the file annotations' text in
 * core/manifest.c, and the times regctl audit reads in core/audit.c): the
 * only gate between names users and upstreams give and paths in the store.
 *
 * Differential where a second opinion is cheap: repository and tag names
 * against the distribution spec's regular expressions (POSIX regex), UTF-8
 * against a decoder written here from RFC 3629. Round trips for references,
 * times and modes.
 */
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "digest.h"
#include "manifest.h"
#include "names.h"

#include "fuzz.h"

/* The distribution spec's grammar, as its README spells it. */
#define COMPONENT "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
static const char repo_re[] = "^" COMPONENT "(/" COMPONENT ")*$";
static const char tag_re[] = "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$";
static const char digest_re[] = "^sha256:[a-f0-9]{64}$";

static regex_t repo_rx, tag_rx, digest_rx;

static void setup(void)
{
	static bool done;

	if (done)
		return;
	if (regcomp(&repo_rx, repo_re, REG_EXTENDED | REG_NOSUB) ||
	    regcomp(&tag_rx, tag_re, REG_EXTENDED | REG_NOSUB) ||
	    regcomp(&digest_rx, digest_re, REG_EXTENDED | REG_NOSUB))
		abort();
	done = true;
}

static bool matches(const regex_t *rx, const char *s)
{
	return regexec(rx, s, 0, NULL, 0) == 0;
}

/* RFC 3629, the other way round: the shortest form, no surrogates,
 * nothing past U+10FFFF. */
static bool utf8_reference(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len;

		if (s[i] < 0x80)
			len = 1, cp = s[i];
		else if ((s[i] & 0xe0) == 0xc0)
			len = 2, cp = s[i] & 0x1fu;
		else if ((s[i] & 0xf0) == 0xe0)
			len = 3, cp = s[i] & 0x0fu;
		else if ((s[i] & 0xf8) == 0xf0)
			len = 4, cp = s[i] & 0x07u;
		else
			return false;
		if (len > n - i)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static void check_ref(const char *s)
{
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1], again[400];

	if (rfs_ref_parse(s, repo, sizeof(repo), tag, sizeof(tag)) != 0)
		return;
	FUZZ_ASSERT(rfs_name_valid_repo(repo) && rfs_name_valid_tag(tag));
	snprintf(again, sizeof(again), "%s:%s", repo, tag);
	FUZZ_ASSERT(!strcmp(again, s));
}

static void check_time(const char *s)
{
	char buf[RFS_TIME_STR_MAX];
	int64_t ns, back;
	unsigned mode;

	if (rfs_manifest_parse_time(s, &ns) == 0) {
		FUZZ_ASSERT(rfs_manifest_format_time(ns, buf) == 0);
		FUZZ_ASSERT(rfs_manifest_parse_time(buf, &back) == 0);
		FUZZ_ASSERT(back == ns);
	}
	if (rfs_manifest_parse_mode(s, &mode) == 0)
		FUZZ_ASSERT(mode <= 07777);
	/* regctl audit --since, and the times of its log. */
	(void)rfs_audit_parse_time(s, &ns);
	(void)rfs_audit_parse_since(s, (int64_t)1765000000 * 1000000000, &ns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	char tag[RFS_TAG_MAX + 1];
	bool repo_ok, tag_ok;

	setup();
	FUZZ_ASSERT(rfs_utf8_valid((const char *)data, size) ==
		    utf8_reference(data, size));

	repo_ok = rfs_name_valid_repo(s);
	FUZZ_ASSERT(repo_ok ==
		    (strlen(s) <= RFS_REPO_MAX && matches(&repo_rx, s)));
	if (!strchr(s, '/'))
		FUZZ_ASSERT(rfs_name_valid_component(s) == repo_ok);
	tag_ok = rfs_name_valid_tag(s);
	FUZZ_ASSERT(tag_ok == matches(&tag_rx, s));
	/* What the store makes paths of. */
	if (repo_ok || tag_ok)
		FUZZ_ASSERT(strcmp(s, ".") && strcmp(s, "..") &&
			    !strstr(s, "//") && s[0] != '/');
	FUZZ_ASSERT(rfs_digest_valid(s) == matches(&digest_rx, s));

	if (rfs_name_sidecar_tag(s, tag, sizeof(tag))) {
		FUZZ_ASSERT(rfs_name_valid_tag(tag));
		FUZZ_ASSERT(strlen(s) == strlen(tag) + strlen(".sha256"));
	}
	if (rfs_name_is_temporary(s))
		FUZZ_ASSERT(s[0] == '.' && !strchr(s, '/'));
	check_ref(s);
	check_time(s);
	/* A line of the audit log (regctl audit reads it back). */
	{
		struct rfs_audit_entry e;

		(void)rfs_audit_parse((const char *)data, size, &e);
	}
	free(s);
	return 0;
}
