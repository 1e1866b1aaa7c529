/*
 * manifest.c - OCI and Docker image manifests and indexes (see manifest.h).
 *
 * Everything JSON goes through jansson; this file only checks what it is
 * given and copies it into fixed buffers. It promises that a parsed
 * manifest is whole and bounded: every descriptor has a sha256 digest that
 * rfs_digest_valid() accepts, a non-negative size and strings that fit
 * their buffers, and there are at most MAX_ENTRIES entries. Anything else
 * is -EINVAL with a message naming where it went wrong ("layers[2]: ...").
 * Duplicate keys are refused, so no two readers can see different values.
 *
 * The kind (image or index) comes from the Content-Type, then from the
 * body's mediaType, then from its shape; when both Content-Type and body
 * name a type, they must agree on the kind.
 */
#include <errno.h>
#include <inttypes.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "digest.h"
#include "manifest.h"
#include "names.h"

/* More entries than this is not an image anyone pushed on purpose. */
#define MAX_ENTRIES 4096

#define TITLE_KEY "org.opencontainers.image.title"

struct known_type {
	const char *name;
	enum rfs_manifest_kind kind;
};

static const struct known_type known_types[] = {
	{ RFS_MT_OCI_MANIFEST, RFS_MANIFEST_IMAGE },
	{ RFS_MT_OCI_INDEX, RFS_MANIFEST_INDEX },
	{ RFS_MT_DOCKER_MANIFEST, RFS_MANIFEST_IMAGE },
	{ RFS_MT_DOCKER_LIST, RFS_MANIFEST_INDEX },
};

/* The known type named by text (len bytes, case does not matter, as for
 * any media type), or NULL. */
static const struct known_type *find_type(const char *text, size_t len)
{
	for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]);
	     i++) {
		const char *name = known_types[i].name;

		if (strlen(name) == len && strncasecmp(name, text, len) == 0)
			return &known_types[i];
	}
	return NULL;
}

/* Copy a string into a fixed buffer, or fail if it does not fit. */
static int copy_str(char *dst, size_t size, const char *src, const char *where,
		    const char *key, struct rfs_error *err)
{
	size_t len = strlen(src);

	if (len >= size)
		return rfs_error_set(err, -EINVAL,
				     "%s: '%s' is too long (%zu bytes, at most "
				     "%zu)",
				     where, key, len, size - 1);
	memcpy(dst, src, len + 1);
	return 0;
}

/* An optional string member of obj into a fixed buffer ("" when absent). */
static int get_opt_str(const json_t *obj, const char *key, char *dst,
		       size_t size, const char *where, struct rfs_error *err)
{
	const json_t *v = json_object_get(obj, key);

	dst[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v))
		return rfs_error_set(err, -EINVAL, "%s: '%s' is not a string",
				     where, key);
	return copy_str(dst, size, json_string_value(v), where, key, err);
}

/* An annotations object must map strings to strings. */
static int check_annotations(const json_t *ann, const char *where,
			     struct rfs_error *err)
{
	const char *key;
	json_t *value;

	if (!json_is_object(ann))
		return rfs_error_set(
		    err, -EINVAL, "%s: 'annotations' is not an object", where);
	json_object_foreach((json_t *)ann, key, value)
	{
		if (!json_is_string(value))
			return rfs_error_set(err, -EINVAL,
					     "%s: annotation '%s' is not a "
					     "string",
					     where, key);
	}
	return 0;
}

/* The file annotations of a layer: what is malformed is left unset, never
 * an error, so that a stray value from another tool costs only the mode
 * or the time, not the tag. */
static void read_file_attrs(const json_t *ann, struct rfs_file_attrs *a)
{
	const json_t *v = json_object_get(ann, RFS_ANNOTATION_FILE_MODE);

	if (v && rfs_manifest_parse_mode(json_string_value(v), &a->mode) == 0)
		a->set_mode = true;
	v = json_object_get(ann, RFS_ANNOTATION_FILE_MTIME);
	if (v &&
	    rfs_manifest_parse_time(json_string_value(v), &a->mtime_ns) == 0)
		a->set_mtime = true;
}

static void descriptor_release(struct rfs_descriptor *d)
{
	free(d->title);
	d->title = NULL;
}

/* Fill d from the descriptor object obj; where names it in messages. On
 * failure d holds nothing to release. */
static int parse_descriptor(const json_t *obj, const char *where,
			    bool want_platform, struct rfs_descriptor *d,
			    struct rfs_error *err)
{
	const json_t *v;
	const char *digest;
	const char *colon;
	int alg_len;
	json_int_t size;
	int rc;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(obj))
		return rfs_error_set(err, -EINVAL, "%s: not an object", where);

	v = json_object_get(obj, "mediaType");
	if (!v)
		return rfs_error_set(err, -EINVAL, "%s: 'mediaType' is missing",
				     where);
	if (!json_is_string(v))
		return rfs_error_set(err, -EINVAL,
				     "%s: 'mediaType' is not a string", where);
	rc = copy_str(d->media_type, sizeof(d->media_type),
		      json_string_value(v), where, "mediaType", err);
	if (rc < 0)
		return rc;

	v = json_object_get(obj, "digest");
	if (!v)
		return rfs_error_set(err, -EINVAL, "%s: 'digest' is missing",
				     where);
	if (!json_is_string(v))
		return rfs_error_set(err, -EINVAL,
				     "%s: 'digest' is not a string", where);
	digest = json_string_value(v);
	if (!rfs_digest_valid(digest)) {
		colon = strchr(digest, ':');
		alg_len = colon ? (int)(colon - digest) : 0;
		if (alg_len > 0 && alg_len <= 32 &&
		    strncmp(digest, "sha256:", 7) != 0)
			return rfs_error_set(err, -EINVAL,
					     "%s: unsupported digest algorithm "
					     "'%.*s' (only sha256)",
					     where, alg_len, digest);
		return rfs_error_set(err, -EINVAL, "%s: invalid digest '%.80s'",
				     where, digest);
	}
	memcpy(d->digest, digest, strlen(digest) + 1);

	v = json_object_get(obj, "size");
	if (!v)
		return rfs_error_set(err, -EINVAL, "%s: 'size' is missing",
				     where);
	if (!json_is_integer(v))
		return rfs_error_set(err, -EINVAL,
				     "%s: 'size' is not an integer", where);
	size = json_integer_value(v);
	if (size < 0)
		return rfs_error_set(err, -EINVAL, "%s: negative 'size' %lld",
				     where, (long long)size);
	d->size = (uint64_t)size;

	v = json_object_get(obj, "annotations");
	if (v) {
		const json_t *title;

		rc = check_annotations(v, where, err);
		if (rc < 0)
			return rc;
		read_file_attrs(v, &d->attrs);
		title = json_object_get(v, TITLE_KEY);
		if (title) {
			d->title = strdup(json_string_value(title));
			if (!d->title)
				return rfs_error_set(err, -ENOMEM,
						     "out of memory");
		}
	}

	if (want_platform) {
		v = json_object_get(obj, "platform");
		if (v) {
			if (!json_is_object(v)) {
				rc = rfs_error_set(err, -EINVAL,
						   "%s: 'platform' is not an "
						   "object",
						   where);
				goto fail;
			}
			rc = get_opt_str(v, "os", d->os, sizeof(d->os), where,
					 err);
			if (rc == 0)
				rc = get_opt_str(v, "architecture", d->arch,
						 sizeof(d->arch), where, err);
			if (rc == 0)
				rc =
				    get_opt_str(v, "variant", d->variant,
						sizeof(d->variant), where, err);
			if (rc < 0)
				goto fail;
		}
	}
	return 0;
fail:
	descriptor_release(d);
	return rc;
}

/* The known type a Content-Type names, NULL for none or a generic JSON
 * one (then the body decides), or -EINVAL for any other type. */
static int header_type(const char *content_type, const struct known_type **out,
		       struct rfs_error *err)
{
	static const char generic[] = "application/json";
	const char *s = content_type;
	size_t len;

	*out = NULL;
	if (!s)
		return 0;
	/* Parameters ("; charset=utf-8") say nothing of the kind. */
	s += strspn(s, " \t");
	len = strcspn(s, ";");
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (!len || (len == strlen(generic) && !strncasecmp(s, generic, len)))
		return 0;
	*out = find_type(s, len);
	if (!*out)
		return rfs_error_set(err, -EINVAL,
				     "unsupported manifest media type '%.*s'",
				     len > 200 ? 200 : (int)len, s);
	return 0;
}

/* Which kind the manifest is, and its media type: from the Content-Type,
 * then the body, then the shape. */
static int find_kind(const json_t *root, const char *content_type,
		     struct rfs_manifest *m, struct rfs_error *err)
{
	const struct known_type *from_header;
	const struct known_type *from_body = NULL;
	const json_t *v;
	int rc;

	rc = header_type(content_type, &from_header, err);
	if (rc < 0)
		return rc;

	v = json_object_get(root, "mediaType");
	if (v) {
		const char *s;

		if (!json_is_string(v))
			return rfs_error_set(err, -EINVAL,
					     "'mediaType' is not a string");
		s = json_string_value(v);
		from_body = find_type(s, strlen(s));
		if (!from_body)
			return rfs_error_set(err, -EINVAL,
					     "unsupported manifest media type "
					     "'%.200s'",
					     s);
	}

	if (from_header && from_body && from_header->kind != from_body->kind)
		return rfs_error_set(err, -EINVAL,
				     "content type '%s' does not match "
				     "'mediaType' '%s'",
				     from_header->name, from_body->name);

	if (from_header || from_body) {
		const struct known_type *t =
		    from_header ? from_header : from_body;

		m->kind = t->kind;
		strcpy(m->media_type, t->name);
		return 0;
	}
	/* Neither says: OCI made mediaType optional, Docker requires it. */
	if (json_is_array(json_object_get(root, "manifests"))) {
		m->kind = RFS_MANIFEST_INDEX;
		strcpy(m->media_type, RFS_MT_OCI_INDEX);
	} else if (json_object_get(root, "layers")) {
		m->kind = RFS_MANIFEST_IMAGE;
		strcpy(m->media_type, RFS_MT_OCI_MANIFEST);
	} else {
		return rfs_error_set(err, -EINVAL,
				     "neither an image manifest nor an index: "
				     "no 'layers' or 'manifests'");
	}
	return 0;
}

static int parse_root(const json_t *root, const char *content_type,
		      struct rfs_manifest *m, struct rfs_error *err)
{
	const char *list_key;
	const json_t *v;
	const json_t *list;
	size_t n;
	int rc;

	if (!json_is_object(root))
		return rfs_error_set(err, -EINVAL,
				     "manifest is not a JSON object");

	v = json_object_get(root, "schemaVersion");
	if (!v)
		return rfs_error_set(err, -EINVAL,
				     "'schemaVersion' is missing");
	if (!json_is_integer(v) || json_integer_value(v) != 2) {
		if (json_is_integer(v))
			return rfs_error_set(err, -EINVAL,
					     "unsupported 'schemaVersion' "
					     "%lld (only 2)",
					     (long long)json_integer_value(v));
		return rfs_error_set(err, -EINVAL,
				     "'schemaVersion' is not an integer");
	}

	rc = find_kind(root, content_type, m, err);
	if (rc < 0)
		return rc;

	if (m->kind == RFS_MANIFEST_IMAGE) {
		v = json_object_get(root, "config");
		if (!v)
			return rfs_error_set(err, -EINVAL,
					     "'config' is missing");
		rc = parse_descriptor(v, "config", false, &m->config, err);
		if (rc < 0)
			return rc;
		list_key = "layers";
	} else {
		list_key = "manifests";
	}

	list = json_object_get(root, list_key);
	if (!list)
		return rfs_error_set(err, -EINVAL, "'%s' is missing", list_key);
	if (!json_is_array(list))
		return rfs_error_set(err, -EINVAL, "'%s' is not an array",
				     list_key);
	n = json_array_size(list);
	if (n > MAX_ENTRIES)
		return rfs_error_set(err, -EINVAL,
				     "too many %s: %zu (at most %d)", list_key,
				     n, MAX_ENTRIES);
	if (n) {
		m->entries = calloc(n, sizeof(*m->entries));
		if (!m->entries)
			return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		char where[32];

		snprintf(where, sizeof(where), "%s[%zu]", list_key, i);
		rc = parse_descriptor(json_array_get(list, i), where,
				      m->kind == RFS_MANIFEST_INDEX,
				      &m->entries[i], err);
		if (rc < 0)
			return rc;
		m->n_entries = i + 1;
	}

	v = json_object_get(root, "annotations");
	if (v) {
		rc = check_annotations(v, "manifest", err);
		if (rc < 0)
			return rc;
		m->annotations_json = json_dumps(v, JSON_COMPACT);
		if (!m->annotations_json)
			return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

int rfs_manifest_parse(const char *body, size_t len, const char *media_type,
		       struct rfs_manifest *out, struct rfs_error *err)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return rfs_error_set(err, -EINVAL,
				     "manifest is not JSON: %s (line %d, "
				     "column %d)",
				     jerr.text, jerr.line, jerr.column);
	rc = parse_root(root, media_type, out, err);
	json_decref(root);
	if (rc < 0)
		rfs_manifest_release(out);
	return rc;
}

void rfs_manifest_release(struct rfs_manifest *m)
{
	if (!m)
		return;
	descriptor_release(&m->config);
	for (size_t i = 0; i < m->n_entries; i++)
		descriptor_release(&m->entries[i]);
	free(m->entries);
	free(m->annotations_json);
	memset(m, 0, sizeof(*m));
}

/* ---- file annotations ----------------------------------------------- */

void rfs_manifest_format_mode(unsigned mode, char buf[RFS_MODE_STR_MAX])
{
	snprintf(buf, RFS_MODE_STR_MAX, "%04o", rfs_tag_mode(mode));
}

int rfs_manifest_parse_mode(const char *text, unsigned *out)
{
	unsigned mode = 0;
	size_t len = text ? strlen(text) : 0;

	if (len == 0 || len > 6)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '7')
			return -EINVAL;
		mode = mode * 8 + (unsigned)(text[i] - '0');
	}
	if (mode > 07777)
		return -EINVAL;
	*out = mode;
	return 0;
}

#define NS_PER_S 1000000000LL

int rfs_manifest_format_time(int64_t ns, char buf[RFS_TIME_STR_MAX])
{
	/* Floor division: a time before 1970 still has a fraction in
	 * [0, 1 s), as RFC 3339 writes it. */
	int64_t secs = ns / NS_PER_S, frac = ns % NS_PER_S;
	time_t t;
	struct tm tm;
	int n;

	if (frac < 0) {
		frac += NS_PER_S;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm)) {
		buf[0] = '\0';
		return -EOVERFLOW;
	}
	n = snprintf(buf, RFS_TIME_STR_MAX,
		     "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (long long)frac);
	return n > 0 && n < RFS_TIME_STR_MAX ? 0 : -EOVERFLOW;
}

/* n decimal digits at *p into *v, moving *p past them. */
static bool digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		*v = *v * 10 + (**p - '0');
	}
	return true;
}

static bool expect_char(const char **p, const char *any)
{
	if (!**p || !strchr(any, **p))
		return false;
	(*p)++;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int rfs_manifest_parse_time(const char *text, int64_t *out)
{
	const char *p = text;
	int year, mon, day, hour, min, sec, off_h = 0, off_m = 0, sign = 0;
	int64_t frac = 0, secs;
	struct tm tm = { 0 };
	time_t t;

	if (!p)
		return -EINVAL;
	if (!digits(&p, 4, &year) || !expect_char(&p, "-") ||
	    !digits(&p, 2, &mon) || !expect_char(&p, "-") ||
	    !digits(&p, 2, &day) || !expect_char(&p, "Tt") ||
	    !digits(&p, 2, &hour) || !expect_char(&p, ":") ||
	    !digits(&p, 2, &min) || !expect_char(&p, ":") ||
	    !digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, n++)
			if (n < 9)
				frac = frac * 10 + (*p - '0');
		if (n == 0)
			return -EINVAL;
		for (; n < 9; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!digits(&p, 2, &off_h) || !expect_char(&p, ":") ||
		    !digits(&p, 2, &off_m) || off_h > 23 || off_m > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 59)
		return -EINVAL;
	/* Checked above, so timegm has nothing to normalise. */
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	secs = (int64_t)t - (int64_t)sign * (off_h * 3600 + off_m * 60);
	if (secs > INT64_MAX / NS_PER_S - 1 || secs < INT64_MIN / NS_PER_S + 1)
		return -EINVAL;
	*out = secs * NS_PER_S + frac;
	return 0;
}

/* ---- platform ------------------------------------------------------- */

#if defined(__x86_64__)
#define BUILD_ARCH "amd64"
#elif defined(__aarch64__)
#define BUILD_ARCH "arm64"
#elif defined(__arm__)
#define BUILD_ARCH    "arm"
#define BUILD_VARIANT "v7"
#elif defined(__i386__)
#define BUILD_ARCH "386"
#elif defined(__powerpc64__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BUILD_ARCH "ppc64le"
#elif defined(__s390x__)
#define BUILD_ARCH "s390x"
#elif defined(__riscv) && defined(__riscv_xlen) && __riscv_xlen == 64
#define BUILD_ARCH "riscv64"
#endif

#define BUILD_OS "linux"

const char *rfs_manifest_platform(void)
{
#ifdef BUILD_ARCH
	return BUILD_OS "/" BUILD_ARCH;
#else
	return BUILD_OS "/unknown";
#endif
}

const struct rfs_descriptor *
rfs_manifest_pick_platform(const struct rfs_manifest *index)
{
#ifdef BUILD_ARCH
	const struct rfs_descriptor *first = NULL;

	if (!index || index->kind != RFS_MANIFEST_INDEX)
		return NULL;
	for (size_t i = 0; i < index->n_entries; i++) {
		const struct rfs_descriptor *d = &index->entries[i];

		if (strcmp(d->os, BUILD_OS) || strcmp(d->arch, BUILD_ARCH))
			continue;
#ifdef BUILD_VARIANT
		/* The variant this build runs on best, if the index has it. */
		if (!strcmp(d->variant, BUILD_VARIANT))
			return d;
		if (!first)
			first = d;
#else
		return d;
#endif
	}
	return first;
#else
	(void)index;
	return NULL;
#endif
}

/* ---- the files of a folder ------------------------------------------ */

/* A title safe to show as a file in the folder: what a local name may be
 * (names.h: one path component, not hidden, no control characters: a
 * title with a newline or an escape sequence would print as a forged line
 * in ls or find), not manifest.json. The parser refuses NUL inside
 * strings, so a title never hides one. */
static bool title_usable(const char *title)
{
	return rfs_name_valid_title(title) &&
	       strlen(title) <= RFS_LAYER_NAME_MAX &&
	       strcmp(title, "manifest.json") != 0;
}

/* The entry for name in the table of names given so far, or NULL. */
static ENTRY *name_find(struct hsearch_data *names, const char *name)
{
	ENTRY e = { .key = (char *)name, .data = NULL };
	ENTRY *hit = NULL;

	if (!hsearch_r(e, FIND, &hit, names))
		return NULL;
	return hit;
}

/* Name layer l after descriptor d, given the names already taken. */
static void name_layer(struct hsearch_data *names,
		       const struct rfs_descriptor *d, struct rfs_layer *l)
{
	ENTRY *base;
	uintptr_t k;

	/* "." and ".." start with '.': title_usable refuses them. */
	if (title_usable(d->title) && !name_find(names, d->title)) {
		strcpy(l->name, d->title);
		return;
	}
	base = name_find(names, d->digest);
	if (!base) {
		strcpy(l->name, d->digest);
		return;
	}
	/* The same blob again, or a title took its digest: number it. The
	 * digest's entry remembers the next number to try, so a blob
	 * repeated n times costs n look-ups, not n squared. */
	k = base->data ? (uintptr_t)base->data : 2;
	for (;; k++) {
		snprintf(l->name, sizeof(l->name), "%s-%" PRIuPTR, d->digest,
			 k);
		if (!name_find(names, l->name))
			break;
	}
	base->data = (void *)(k + 1);
}

int rfs_manifest_layer_files(const struct rfs_manifest *m,
			     struct rfs_layer **out, size_t *n,
			     struct rfs_error *err)
{
	struct hsearch_data names;
	struct rfs_layer *layers = NULL;
	bool have_names = false;
	int rc = 0;

	*out = NULL;
	*n = 0;
	memset(&names, 0, sizeof(names));
	if (m->kind != RFS_MANIFEST_IMAGE)
		return rfs_error_set(err, -EINVAL,
				     "an index has no layers of its own");
	if (!m->n_entries)
		return 0;
	layers = calloc(m->n_entries, sizeof(*layers));
	/* Twice as many slots as names keeps the table fast. */
	if (!layers || !hcreate_r(2 * m->n_entries + 1, &names)) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	have_names = true;
	for (size_t i = 0; i < m->n_entries; i++) {
		struct rfs_layer *l = &layers[i];
		ENTRY e;
		ENTRY *hit;

		name_layer(&names, &m->entries[i], l);
		strcpy(l->digest, m->entries[i].digest);
		l->size = m->entries[i].size;
		/* The key lives in layers[], which outlives the table. */
		e.key = l->name;
		e.data = NULL;
		if (!hsearch_r(e, ENTER, &hit, &names)) {
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = layers;
	*n = m->n_entries;
	layers = NULL;
out:
	if (have_names)
		hdestroy_r(&names);
	free(layers);
	return rc;
}

/* What a manifest says of its artifact: its type (artifactType, or the
 * config's media type when that is not a plain image's or the empty one)
 * and its annotations. Strings live in t->json until it is released. */
static void manifest_meta(const char *body, size_t len,
			  const struct rfs_manifest *m,
			  struct rfs_manifest_tag *t)
{
	const char *key;
	json_t *json, *value, *type, *notes;

	json = json_loadb(body, len, 0, NULL);
	t->json = json;
	type = json_object_get(json, "artifactType");
	if (json_is_string(type))
		t->meta.artifact_type = json_string_value(type);
	else if (m->kind == RFS_MANIFEST_IMAGE &&
		 strcmp(m->config.media_type,
			"application/vnd.oci.image.config.v1+json") != 0 &&
		 strcmp(m->config.media_type,
			"application/vnd.oci.empty.v1+json") != 0 &&
		 strcmp(m->config.media_type,
			"application/vnd.docker.container.image.v1+json") != 0)
		t->meta.artifact_type = m->config.media_type;
	/* What no local writer could give a tag is left off (names.h), so
	 * that an upstream cannot put escape sequences in a type or a key. */
	if (!rfs_artifact_type_valid(t->meta.artifact_type))
		t->meta.artifact_type = NULL;
	notes = json_object_get(json, "annotations");
	t->meta.annotations = t->annotations;
	json_object_foreach(notes, key, value)
	{
		if (!json_is_string(value) || !rfs_annotation_key_valid(key) ||
		    t->meta.n_annotations == RFS_MANIFEST_TAG_ANNOTATIONS_MAX)
			continue;
		t->annotations[t->meta.n_annotations].key = key;
		t->annotations[t->meta.n_annotations++].value =
		    json_string_value(value);
	}
}

int rfs_manifest_tag(const char *body, size_t len, const char *digest,
		     const struct rfs_manifest *m, struct rfs_manifest_tag *out,
		     struct rfs_error *err)
{
	memset(out, 0, sizeof(*out));
	manifest_meta(body, len, m, out);
	if (m->kind == RFS_MANIFEST_IMAGE && m->n_entries == 1) {
		out->kind = RFS_TAG_FILE;
		out->digest = m->entries[0].digest;
		out->size = m->entries[0].size;
		/* The mode and mtime its publisher gave it, where regctl push
		 * wrote them; without them, 0644 and the pin's time. */
		out->meta.attrs = m->entries[0].attrs;
		return 0;
	}
	out->kind = RFS_TAG_LAYERS;
	out->digest = digest;
	out->size = len;
	if (m->kind != RFS_MANIFEST_IMAGE)
		return 0; /* an index: a folder with its manifest.json */
	return rfs_manifest_layer_files(m, &out->layers, &out->n_layers, err);
}

void rfs_manifest_tag_release(struct rfs_manifest_tag *t)
{
	json_decref(t->json);
	free(t->layers);
	memset(t, 0, sizeof(*t));
}
