/*
 * names.c - repository and tag name grammar (see names.h).
 *
 * The repository grammar is the OCI distribution spec's:
 *   component  := [a-z0-9]+ (separator [a-z0-9]+)*
 *   separator  := [_.] | __ | [-]+
 *   name       := component ('/' component)*
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "names.h"
#include "text.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Check one component of length len starting at s. */
static bool component_ok(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	while (i < len) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		/* A separator: '.', '_', '__' or a run of '-'. */
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i >= len || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

bool rfs_name_valid_component(const char *name)
{
	size_t len = strlen(name);

	return len <= RFS_REPO_MAX && component_ok(name, len);
}

bool rfs_name_valid_repo(const char *repo)
{
	size_t len = strlen(repo);
	const char *start = repo;

	if (len == 0 || len > RFS_REPO_MAX)
		return false;
	for (;;) {
		const char *slash = strchr(start, '/');
		size_t clen = slash ? (size_t)(slash - start) : strlen(start);

		if (!component_ok(start, clen))
			return false;
		if (!slash)
			return true;
		start = slash + 1;
	}
}

bool rfs_name_valid_tag(const char *tag)
{
	size_t len = strlen(tag);

	if (len == 0 || len > RFS_TAG_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = tag[i];
		bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_';

		if (!word && (i == 0 || (c != '.' && c != '-')))
			return false;
	}
	return true;
}

bool rfs_name_sidecar_tag(const char *name, char *tag, size_t tag_size)
{
	static const char suffix[] = ".sha256";
	size_t len = strlen(name), slen = sizeof(suffix) - 1;

	if (len <= slen || strcmp(name + len - slen, suffix) != 0)
		return false;
	if (len - slen >= tag_size)
		return false;
	memcpy(tag, name, len - slen);
	tag[len - slen] = '\0';
	return rfs_name_valid_tag(tag);
}

bool rfs_name_is_temporary(const char *name)
{
	return name[0] == '.' && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strchr(name, '/') == NULL &&
	       strlen(name) <= 255;
}

int rfs_ref_parse(const char *ref, char *repo, size_t repo_size, char *tag,
		  size_t tag_size)
{
	const char *colon = strrchr(ref, ':');
	size_t rlen;

	if (!colon)
		return -EINVAL;
	rlen = (size_t)(colon - ref);
	if (rlen >= repo_size || strlen(colon + 1) >= tag_size)
		return -EINVAL;
	memcpy(repo, ref, rlen);
	repo[rlen] = '\0';
	strcpy(tag, colon + 1);
	if (!rfs_name_valid_repo(repo) || !rfs_name_valid_tag(tag))
		return -EINVAL;
	return 0;
}

size_t rfs_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2, c = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3, c = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

bool rfs_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;

	for (size_t i = 0, len; i < n; i += len) {
		len = rfs_utf8_next(s + i, n - i, &cp);
		if (len == 0)
			return false;
	}
	return true;
}

/* 1 to max bytes of printable ASCII without spaces, a letter or digit
 * first. */
static bool token_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len == 0 || len > max ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '!' || s[i] > '~')
			return false;
	return true;
}

bool rfs_annotation_key_valid(const char *key)
{
	return key && token_ok(key, RFS_ANNOTATION_KEY_MAX);
}

bool rfs_artifact_type_valid(const char *type)
{
	return type && token_ok(type, RFS_MEDIA_TYPE_MAX);
}

bool rfs_name_valid_title(const char *title)
{
	size_t len;

	if (!title)
		return false;
	len = strlen(title);
	return len > 0 && len <= RFS_TITLE_MAX && title[0] != '.' &&
	       !strchr(title, '/') && rfs_utf8_valid(title, len) &&
	       rfs_text_is_plain(title, len);
}
