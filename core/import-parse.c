/*
 * import-parse.c - what regctl import's sources say, parsed without
 * touching a store (see import.h): the kinds, references as a local
 * artifact index or an OCI layout writes them, and the entries of an
 * index (artifacts.json, or the legacy components.json).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "digest.h"
#include "import.h"
#include "manifest.h"
#include "names.h"

static const char *const kind_names[] = {
	[RFS_IMPORT_HADES] = "hades",
	[RFS_IMPORT_TREE] = "tree",
	[RFS_IMPORT_OCI] = "oci",
	[RFS_IMPORT_INDEX] = "index",
};

int rfs_import_kind_parse(const char *name, enum rfs_import_kind *out)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum rfs_import_kind)i;
			return 0;
		}
	return -EINVAL;
}

const char *rfs_import_kind_name(enum rfs_import_kind kind)
{
	return kind_names[kind];
}

/* --- references ------------------------------------------------------- */

static int copy_part(char *dst, size_t size, const char *src, size_t len)
{
	if (len == 0)
		return -EINVAL;
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int rfs_import_split_ref(const char *ref, char *repo, size_t repo_size,
			 char *tag, size_t tag_size,
			 char digest[RFS_DIGEST_STR_MAX + 1])
{
	const char *at = strrchr(ref, '@'), *colon;
	size_t len = strlen(ref);
	int rc;

	if (digest)
		digest[0] = '\0';
	/* An '@' starts a digest only when an algorithm follows: "@scope/x"
	 * is a name. */
	if (at && at > ref &&
	    (strncmp(at + 1, "sha256:", 7) == 0 ||
	     strncmp(at + 1, "sha512:", 7) == 0)) {
		if (digest && strlen(at + 1) <= RFS_DIGEST_STR_MAX)
			strcpy(digest, at + 1);
		len = (size_t)(at - ref);
	}
	colon = memrchr(ref, ':', len);
	if (colon && !memchr(colon, '/', len - (size_t)(colon - ref))) {
		rc = copy_part(repo, repo_size, ref, (size_t)(colon - ref));
		if (!rc)
			rc = copy_part(tag, tag_size, colon + 1,
				       len - (size_t)(colon - ref) - 1);
		return rc;
	}
	rc = copy_part(repo, repo_size, ref, len);
	return rc ? rc : copy_part(tag, tag_size, "latest", 6);
}

int rfs_import_oci_ref(const char *ref_name, const char *default_repo,
		       const char *repo_override, char *repo, size_t repo_size,
		       char *tag, size_t tag_size)
{
	int rc;

	if (strpbrk(ref_name, ":/@")) {
		rc = rfs_import_split_ref(ref_name, repo, repo_size, tag,
					  tag_size, NULL);
		if (!rc && repo_override)
			rc = copy_part(repo, repo_size, repo_override,
				       strlen(repo_override));
		return rc;
	}
	rc = copy_part(tag, tag_size, ref_name, strlen(ref_name));
	if (!rc) {
		const char *r = repo_override ? repo_override : default_repo;

		rc = copy_part(repo, repo_size, r, strlen(r));
	}
	return rc;
}

/* --- the local artifact index ------------------------------------------ */

static void entry_release(struct rfs_import_entry *e)
{
	free(e->repo);
	free(e->tag);
	free(e->type);
	free(e->digest);
	free(e->cache_path);
	free(e->problem);
}

void rfs_import_index_release(struct rfs_import_index *index)
{
	for (size_t i = 0; i < index->n; i++)
		entry_release(&index->entries[i]);
	free(index->entries);
	index->entries = NULL;
	index->n = 0;
}

static void entry_problem(struct rfs_import_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void entry_problem(struct rfs_import_entry *e, const char *fmt, ...)
{
	va_list ap;

	if (e->problem)
		return; /* the first one says enough */
	va_start(ap, fmt);
	if (vasprintf(&e->problem, fmt, ap) < 0)
		e->problem = NULL;
	va_end(ap);
	if (!e->problem)
		e->problem = strdup("out of memory");
}

/* A string member: its value (strdup()ed), NULL when absent, null or "";
 * another type is a problem of the entry. */
static char *entry_string(struct rfs_import_entry *e, json_t *obj,
			  const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *s;

	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		entry_problem(e, "'%s' is not a string", key);
		return NULL;
	}
	if (!json_string_length(v))
		return NULL;
	if (!rfs_utf8_valid(json_string_value(v), json_string_length(v)) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		entry_problem(e, "'%s' is not UTF-8 text", key);
		return NULL;
	}
	s = strdup(json_string_value(v));
	if (!s)
		entry_problem(e, "out of memory");
	return s;
}

static void parse_entry(struct rfs_import_entry *e, json_t *obj, bool legacy)
{
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];
	char digest[RFS_DIGEST_STR_MAX + 1];
	char *reference, *created;
	json_t *size;

	if (!json_is_object(obj)) {
		entry_problem(e, "not a JSON object");
		return;
	}
	e->repo = entry_string(e, obj, "repository");
	e->tag = entry_string(e, obj, "tag");
	reference = entry_string(e, obj, "reference");
	e->type = entry_string(e, obj, "type");
	e->digest = entry_string(e, obj, "digest");
	e->cache_path = entry_string(e, obj, "cachePath");
	created = entry_string(e, obj, "createdAt");
	digest[0] = '\0';
	/* The repository and tag fields, else the reference's parts (and its
	 * digest, when the entry has none). */
	if (reference && rfs_import_split_ref(reference, repo, sizeof(repo),
					      tag, sizeof(tag), digest) == 0) {
		if (!e->repo)
			e->repo = strdup(repo);
		if (!e->tag)
			e->tag = strdup(tag);
	}
	if (!e->digest && digest[0])
		e->digest = strdup(digest);
	if (!e->repo || !e->tag)
		entry_problem(e,
			      reference ? "cannot read reference '%s'"
					: "no repository and tag%s",
			      reference ? reference : ", and no reference");
	if (e->digest && !rfs_digest_valid(e->digest))
		entry_problem(e, "'digest' is not a sha256 digest: '%s'",
			      e->digest);
	if (!e->cache_path)
		entry_problem(e, "no cachePath: the index does not say where "
				 "its content is");
	if (e->type && strlen(e->type) > RFS_ARTIFACT_TYPE_MAX)
		entry_problem(e, "'type' is longer than %d bytes",
			      RFS_ARTIFACT_TYPE_MAX);
	/* Entries of the legacy list are components: the migration says so
	 * of every entry it moves. */
	if (legacy && !e->type)
		e->type = strdup("component");
	size = json_object_get(obj, "size");
	if (size && !json_is_null(size)) {
		if (!json_is_integer(size) || json_integer_value(size) < 0)
			entry_problem(e, "'size' is not a size in bytes");
		else if (json_integer_value(size) > 0) {
			e->has_size = true;
			e->size = (uint64_t)json_integer_value(size);
		}
	}
	/* A time that does not parse (Go's zero time, year 1) says nothing:
	 * the file's own mtime is kept then. */
	if (created && rfs_manifest_parse_time(created, &e->created_ns) == 0)
		e->has_created = true;
	free(reference);
	free(created);
}

int rfs_import_index_parse(const char *text, size_t len, bool legacy,
			   struct rfs_import_index *out, struct rfs_error *err)
{
	const char *key = legacy ? "components" : "artifacts";
	json_error_t jerr;
	json_t *root, *list;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	root = json_loadb(text, len, 0, &jerr);
	if (!root)
		return rfs_error_set(err, -EINVAL, "not JSON: %s (line %d)",
				     jerr.text, jerr.line);
	list = json_object_get(root, key);
	/* An older artifacts.json kept the list under "components", and a
	 * Go nil slice is written as null. */
	if (!legacy && (!list || json_is_null(list))) {
		json_t *old = json_object_get(root, "components");

		if (old && !json_is_null(old)) {
			key = "components";
			list = old;
			legacy = true;
		}
	}
	if (!json_is_object(root) ||
	    (list && !json_is_null(list) && !json_is_array(list))) {
		rc = rfs_error_set(err, -EINVAL,
				   "not an index: want an "
				   "object with an \"%s\" list",
				   key);
		goto out;
	}
	if (!list || json_is_null(list))
		goto out; /* no entries */
	out->entries = calloc(json_array_size(list) + 1, sizeof(*out->entries));
	if (!out->entries) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < json_array_size(list); i++) {
		struct rfs_import_entry *e = &out->entries[i];

		snprintf(e->label, sizeof(e->label), "%s[%zu]", key, i);
		parse_entry(e, json_array_get(list, i), legacy);
		out->n++;
	}
out:
	json_decref(root);
	if (rc)
		rfs_import_index_release(out);
	return rc;
}
