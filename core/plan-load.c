/*
 * plan-load.c - Hades plan files (*.hades.yaml) into the model of plan.h:
 * finding them, reading them, the schema, the set's lifetime.
 *
 * Hades decodes its files with a lenient YAML library and skips, without a
 * word, a file that does not decode: a typo in a key, a quoted mode or a
 * list where a mapping belongs makes a whole file vanish. Here every file
 * named is read or the load fails, and every problem is reported at its
 * file:line:column, all of them in one pass (the loader goes on past a
 * bad entry so that the next one is checked too; a set with any problem
 * is never returned).
 *
 * The schema is Hades's (top level registries, jobs, plans, hosts,
 * targets; version and description tolerated), strictly: an unknown key
 * is an error, a value of the wrong shape is an error. Where Hades reads a
 * string it takes any scalar's text, as its YAML library does (tag: 1 is
 * the tag "1"). regfs's additions: registry types regfs and oci, pull's
 * mode and parents, a step's exclude. Refused with a clear message rather
 * than half-done: s3 registries, gpg actions, dynamic inventories.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "plan.h"
#include "yaml-tree.h"

struct loader {
	struct rfs_plan_set *set;
	struct rfs_report rep;
	const char *file; /* being loaded; owned by set */
};

static void bad(struct loader *l, const struct rfs_yaml_node *at,
		const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void bad(struct loader *l, const struct rfs_yaml_node *at,
		const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rfs_report_add(&l->rep, l->file, at->line, at->column, "%s", msg);
}

static struct rfs_plan_pos pos_of(const struct loader *l,
				  const struct rfs_yaml_node *n)
{
	return (struct rfs_plan_pos){ .file = l->file,
				      .line = n->line,
				      .column = n->column };
}

static char *sdup(struct loader *l, const char *s)
{
	char *d = strdup(s);

	if (!d)
		l->rep.nomem = true;
	return d;
}

/* arr (of n elements of size) grown by more zeroed elements; on failure
 * arr itself, with nomem noted. The set's arrays have no capacity field:
 * each mapping's size is known before its entries are added. */
static void *reserve(struct loader *l, void *arr, size_t n, size_t more,
		     size_t size)
{
	char *grown;

	if (more == 0 || l->rep.nomem)
		return arr;
	grown = realloc(arr, (n + more) * size);
	if (!grown) {
		l->rep.nomem = true;
		return arr;
	}
	memset(grown + n * size, 0, more * size);
	return grown;
}

/* Grow an array of the model in place; false when memory ran out. */
#define RESERVE(l, arr, n, more) \
	((arr) = reserve(l, arr, n, more, sizeof(*(arr))), !(l)->rep.nomem)

static bool is_scalar(const struct rfs_yaml_node *v)
{
	return v && v->type == RFS_YAML_SCALAR && !v->null;
}

static bool is_null(const struct rfs_yaml_node *v)
{
	return !v || (v->type == RFS_YAML_SCALAR && v->null);
}

/* A mapping, or null for an empty one ("jobs:" with nothing under it). */
static bool want_map(struct loader *l, const struct rfs_yaml_node *v,
		     const char *what)
{
	if (is_null(v) || v->type == RFS_YAML_MAPPING)
		return true;
	bad(l, v, "%s must be a mapping, not %s", what, rfs_yaml_describe(v));
	return false;
}

/* A list, or null for an empty one. */
static bool want_list(struct loader *l, const struct rfs_yaml_node *v,
		      const char *what)
{
	if (is_null(v) || v->type == RFS_YAML_SEQUENCE)
		return true;
	bad(l, v, "%s must be a list, not %s", what, rfs_yaml_describe(v));
	return false;
}

static size_t n_pairs(const struct rfs_yaml_node *v)
{
	return v && v->type == RFS_YAML_MAPPING ? v->n_pairs : 0;
}

static size_t n_items(const struct rfs_yaml_node *v)
{
	return v && v->type == RFS_YAML_SEQUENCE ? v->n_items : 0;
}

/* Report every key of map not in allowed (NULL-terminated), naming what
 * is allowed, so a typo is caught where it is written. */
static void unknown_keys(struct loader *l, const struct rfs_yaml_node *map,
			 const char *where, const char *const *allowed)
{
	char expected[256];
	size_t used = 0;

	expected[0] = '\0';
	for (size_t i = 0; allowed[i]; i++)
		used += (size_t)snprintf(
		    expected + used,
		    used < sizeof(expected) ? sizeof(expected) - used : 0,
		    "%s%s", i ? ", " : "", allowed[i]);
	for (size_t i = 0; i < n_pairs(map); i++) {
		const struct rfs_yaml_node *key = map->pairs[i].key;
		size_t k = 0;

		while (allowed[k] && strcmp(allowed[k], key->text) != 0)
			k++;
		if (!allowed[k])
			bad(l, key, "unknown key \"%s\" in %s (expected %s)",
			    key->text, where, expected);
	}
}

/* A string field: the text of any scalar; *out stays NULL for null or
 * absent. A list or a mapping is reported. */
static void get_str(struct loader *l, const struct rfs_yaml_node *v,
		    const char *what, char **out)
{
	if (is_null(v))
		return;
	if (v->type != RFS_YAML_SCALAR) {
		bad(l, v, "%s must be a string, not %s", what,
		    rfs_yaml_describe(v));
		return;
	}
	*out = sdup(l, v->text);
}

/* A string field that must be there. */
static void need_str(struct loader *l, const struct rfs_yaml_node *map,
		     const char *key, const char *what, char **out)
{
	const struct rfs_yaml_node *v = rfs_yaml_get(map, key);

	if (is_null(v))
		bad(l, map, "%s needs %s:", what, key);
	else
		get_str(l, v, key, out);
}

/* YAML 1.2's booleans, and 1.1's yes/no/on/off, which Hades's library
 * also takes for a bool field. A quoted "true" is a string. */
static void get_bool(struct loader *l, const struct rfs_yaml_node *v,
		     const char *what, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes",
					   "Yes",  "YES",  "on",   "On",
					   "ON",   "y",	   "Y",	   NULL };
	static const char *const no[] = { "false", "False", "FALSE", "no",
					  "No",	   "NO",    "off",   "Off",
					  "OFF",   "n",	    "N",     NULL };

	if (is_null(v))
		return;
	if (v->type == RFS_YAML_SCALAR && v->plain) {
		for (size_t i = 0; yes[i]; i++)
			if (strcmp(v->text, yes[i]) == 0) {
				*out = true;
				return;
			}
		for (size_t i = 0; no[i]; i++)
			if (strcmp(v->text, no[i]) == 0) {
				*out = false;
				return;
			}
	}
	bad(l, v, "%s must be true or false, not %s%s%s", what,
	    is_scalar(v) ? "\"" : "",
	    is_scalar(v) ? v->text : rfs_yaml_describe(v),
	    is_scalar(v) ? "\"" : "");
}

/* A whole number, optionally signed, decimal. */
static bool parse_long(const char *s, long *out)
{
	char *end;

	if (!*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && end != s;
}

/* A count (limit, port): written plain (3) or quoted ("3"), which Hades
 * would refuse by dropping the whole file; the intent is plain. */
static void get_int(struct loader *l, const struct rfs_yaml_node *v,
		    const char *what, long min, long max, int *out)
{
	long n;

	if (is_null(v))
		return;
	if (!is_scalar(v) || !parse_long(v->text, &n)) {
		bad(l, v, "%s must be a whole number, not %s%s%s", what,
		    is_scalar(v) ? "\"" : "",
		    is_scalar(v) ? v->text : rfs_yaml_describe(v),
		    is_scalar(v) ? "\"" : "");
		return;
	}
	if (n < min || n > max) {
		bad(l, v, "%s %ld is out of range (%ld to %ld)", what, n, min,
		    max);
		return;
	}
	*out = (int)n;
}

/* A mode is octal, and says so with a leading 0: 0755, "0755", 0o755.
 * Hades reads 755 as decimal (chmod 1363); here it is refused. */
static void get_mode(struct loader *l, const struct rfs_yaml_node *v, int *out)
{
	const char *t, *digits;
	long mode = 0;

	if (is_null(v))
		return;
	if (!is_scalar(v)) {
		bad(l, v, "mode must be an octal number such as 0755, not %s",
		    rfs_yaml_describe(v));
		return;
	}
	t = v->text;
	if (t[0] == '0' && (t[1] == 'o' || t[1] == 'O'))
		digits = t + 2;
	else if (t[0] == '0')
		digits = t + 1;
	else
		digits = NULL;
	if (!digits) {
		if (*t && strspn(t, "0123456789") == strlen(t))
			bad(l, v,
			    "mode %s must be octal with a leading 0 (0%s)", t,
			    t);
		else
			bad(l, v,
			    "mode \"%s\" is not an octal number such as "
			    "0755",
			    t);
		return;
	}
	if ((*digits == '\0' && digits != t + 1) ||
	    strspn(digits, "01234567") != strlen(digits)) {
		bad(l, v, "mode %s is not an octal number such as 0755", t);
		return;
	}
	for (const char *d = digits; *d; d++) {
		mode = mode * 8 + (*d - '0');
		if (mode > 07777)
			break;
	}
	if (mode > 07777) {
		bad(l, v, "mode %s is larger than 07777", t);
		return;
	}
	*out = (int)mode;
}

/* Go's duration syntax, as Hades's wait timeout takes it: a sequence of
 * numbers with units (ns, us, µs, ms, s, m, h), decimals allowed, such as
 * 90s, 5m, 1h30m, 1.5h, 500ms; or a bare 0. Rounded up to whole ms, so a
 * tiny timeout never becomes "no timeout". */
static bool parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		long double ns;
	} units[] = {
		{ "ns", 1 },	      { "us", 1e3 },   { "\xc2\xb5s", 1e3 },
		{ "\xce\xbcs", 1e3 }, { "ms", 1e6 },   { "s", 1e9 },
		{ "m", 60e9 },	      { "h", 3600e9 },
	};
	long double total = 0;

	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return true;
	}
	if (!*s)
		return false;
	while (*s) {
		long double value = 0, scale = 1;
		bool digits = false;
		size_t u, len = 0;

		for (; *s >= '0' && *s <= '9'; s++, digits = true)
			value = value * 10 + (*s - '0');
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
				value += (*s - '0') * (scale /= 10);
		if (!digits)
			return false;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			len = strlen(units[u].unit);
			/* "ms" before "m": the table lists it first */
			if (strncmp(s, units[u].unit, len) == 0)
				break;
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return false;
		total += value * units[u].ns;
		s += len;
	}
	if (total > (long double)INT64_MAX)
		return false;
	*ms = (int64_t)((total + 999999) / 1e6);
	return true;
}

static bool var_name_ok(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	      *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* A plan's or a step's env: NAME: value, any scalar as its text; null is
 * the empty string, as Hades's map of strings makes it. */
static void load_env_map(struct loader *l, const struct rfs_yaml_node *v,
			 struct rfs_plan_kv **env, size_t *n)
{
	if (!want_map(l, v, "env") || !RESERVE(l, *env, *n, n_pairs(v)))
		return;
	for (size_t i = 0; i < n_pairs(v); i++) {
		const struct rfs_yaml_node *key = v->pairs[i].key;
		const struct rfs_yaml_node *val = v->pairs[i].value;
		struct rfs_plan_kv *kv = &(*env)[(*n)++];

		kv->pos = pos_of(l, key);
		kv->key = sdup(l, key->text);
		if (!var_name_ok(key->text))
			bad(l, key,
			    "\"%s\" is not a variable name (letters, digits "
			    "and _, not first a digit)",
			    key->text);
		if (is_null(val))
			kv->value = sdup(l, "");
		else
			get_str(l, val, "an env value", &kv->value);
	}
}

/* A job's env declares variables: NAME: (null) is required; NAME:
 * {default: value} has a default, and an empty default is required too,
 * as in Hades. NAME: value, which Hades's decoder refuses (dropping the
 * file silently), is taken here as a default: that is what it says. */
static void load_job_env(struct loader *l, const struct rfs_yaml_node *v,
			 struct rfs_plan_job *job)
{
	static const char *const keys[] = { "default", NULL };

	if (!want_map(l, v, "env") || !RESERVE(l, job->env, 0, n_pairs(v)))
		return;
	for (size_t i = 0; i < n_pairs(v); i++) {
		const struct rfs_yaml_node *key = v->pairs[i].key;
		const struct rfs_yaml_node *val = v->pairs[i].value;
		struct rfs_plan_kv *kv = &job->env[job->n_env++];
		char *value = NULL;

		kv->pos = pos_of(l, key);
		kv->key = sdup(l, key->text);
		if (!var_name_ok(key->text))
			bad(l, key,
			    "\"%s\" is not a variable name (letters, digits "
			    "and _, not first a digit)",
			    key->text);
		if (val && val->type == RFS_YAML_MAPPING) {
			unknown_keys(l, val, "an env variable", keys);
			get_str(l, rfs_yaml_get(val, "default"), "default",
				&value);
		} else {
			get_str(l, val, "an env variable", &value);
		}
		if (value && !*value) {
			free(value);
			value = NULL;
		}
		kv->value = value;
	}
}

static void load_artifacts(struct loader *l, const struct rfs_yaml_node *v,
			   struct rfs_plan_job *job)
{
	static const char *const keys[] = { "path", NULL };

	if (!want_map(l, v, "artifacts") ||
	    !RESERVE(l, job->artifacts, 0, n_pairs(v)))
		return;
	for (size_t i = 0; i < n_pairs(v); i++) {
		const struct rfs_yaml_node *key = v->pairs[i].key;
		const struct rfs_yaml_node *val = v->pairs[i].value;
		struct rfs_plan_kv *kv = &job->artifacts[job->n_artifacts++];

		kv->pos = pos_of(l, key);
		kv->key = sdup(l, key->text);
		if (!val || val->type != RFS_YAML_MAPPING) {
			bad(l, val ? val : key,
			    "artifact \"%s\" must be a mapping with path:, "
			    "not %s",
			    key->text, rfs_yaml_describe(val));
			continue;
		}
		unknown_keys(l, val, "an artifact", keys);
		need_str(l, val, "path", "an artifact", &kv->value);
	}
}

static const char *const action_kinds[] = {
	"run", "copy", "template", "mkdir", "push", "pull", "wait", NULL,
};

/* The fields of one action type, from its mapping v. */
static void load_action_fields(struct loader *l, const char *kind,
			       const struct rfs_yaml_node *v,
			       struct rfs_plan_action *a)
{
	static const char *const copy_keys[] = { "src", "dst", "artifact",
						 "mode", NULL };
	static const char *const template_keys[] = { "src", "dst", NULL };
	static const char *const mkdir_keys[] = { "path", "mode", NULL };
	static const char *const push_keys[] = { "registry", "artifact", "name",
						 "tag", NULL };
	static const char *const pull_keys[] = { "registry", "name", "tag",
						 "to",	     "mode", "parents",
						 NULL };
	static const char *const wait_keys[] = { "message", "timeout", NULL };
	char what[32];

	snprintf(what, sizeof(what), "a %s action", kind);
	if (strcmp(kind, "run") == 0) {
		a->kind = RFS_ACTION_RUN;
		if (is_null(v))
			bad(l, v, "run needs a command");
		else
			get_str(l, v, "run", &a->command);
		return;
	}
	if (!is_null(v) && v->type != RFS_YAML_MAPPING) {
		bad(l, v, "%s must be a mapping, not %s", kind,
		    rfs_yaml_describe(v));
		return;
	}
	if (strcmp(kind, "copy") == 0) {
		a->kind = RFS_ACTION_COPY;
		unknown_keys(l, v, what, copy_keys);
		get_str(l, rfs_yaml_get(v, "src"), "src", &a->src);
		get_str(l, rfs_yaml_get(v, "artifact"), "artifact",
			&a->artifact);
		need_str(l, v, "dst", what, &a->dst);
		get_mode(l, rfs_yaml_get(v, "mode"), &a->mode);
		if (!a->src && !a->artifact)
			bad(l, v, "a copy action needs src: or artifact:");
		if (a->src && a->artifact)
			bad(l, v,
			    "a copy action takes src: or artifact:, "
			    "not both");
	} else if (strcmp(kind, "template") == 0) {
		a->kind = RFS_ACTION_TEMPLATE;
		unknown_keys(l, v, what, template_keys);
		need_str(l, v, "src", what, &a->src);
		need_str(l, v, "dst", what, &a->dst);
	} else if (strcmp(kind, "mkdir") == 0) {
		a->kind = RFS_ACTION_MKDIR;
		unknown_keys(l, v, what, mkdir_keys);
		need_str(l, v, "path", what, &a->path);
		get_mode(l, rfs_yaml_get(v, "mode"), &a->mode);
	} else if (strcmp(kind, "push") == 0) {
		a->kind = RFS_ACTION_PUSH;
		unknown_keys(l, v, what, push_keys);
		need_str(l, v, "registry", what, &a->registry);
		need_str(l, v, "artifact", what, &a->artifact);
		need_str(l, v, "name", what, &a->repo);
		need_str(l, v, "tag", what, &a->tag);
	} else if (strcmp(kind, "pull") == 0) {
		a->kind = RFS_ACTION_PULL;
		unknown_keys(l, v, what, pull_keys);
		need_str(l, v, "registry", what, &a->registry);
		need_str(l, v, "name", what, &a->repo);
		need_str(l, v, "tag", what, &a->tag);
		need_str(l, v, "to", what, &a->dst);
		get_mode(l, rfs_yaml_get(v, "mode"), &a->mode);
		get_bool(l, rfs_yaml_get(v, "parents"), "parents", &a->parents);
	} else {
		const struct rfs_yaml_node *t = rfs_yaml_get(v, "timeout");

		a->kind = RFS_ACTION_WAIT;
		unknown_keys(l, v, what, wait_keys);
		get_str(l, rfs_yaml_get(v, "message"), "message", &a->message);
		if (is_null(t))
			return;
		if (!is_scalar(t) || !parse_duration(t->text, &a->timeout_ms))
			bad(l, t,
			    "timeout %s%s%s is not a duration such as 90s, 5m "
			    "or 1h30m",
			    is_scalar(t) ? "\"" : "",
			    is_scalar(t) ? t->text : rfs_yaml_describe(t),
			    is_scalar(t) ? "\"" : "");
	}
}

static void load_action(struct loader *l, const struct rfs_yaml_node *v,
			struct rfs_plan_action *a)
{
	static const char *const keys[] = { "name",  "run",  "copy", "template",
					    "mkdir", "push", "pull", "wait",
					    "gpg",   NULL };
	const char *kind = NULL;

	a->pos = pos_of(l, v);
	a->mode = RFS_PLAN_NO_MODE;
	if (v->type != RFS_YAML_MAPPING) {
		bad(l, v,
		    "an action must be a mapping (such as run: CMD), not %s",
		    rfs_yaml_describe(v));
		return;
	}
	unknown_keys(l, v, "an action", keys);
	get_str(l, rfs_yaml_get(v, "name"), "name", &a->name);
	if (rfs_yaml_get(v, "gpg")) {
		bad(l, v, "gpg actions are not supported (use a run: action)");
		return;
	}
	for (size_t i = 0; action_kinds[i]; i++) {
		if (!rfs_yaml_get(v, action_kinds[i]))
			continue;
		if (kind) {
			bad(l, v,
			    "an action has both %s and %s: one type an "
			    "action",
			    kind, action_kinds[i]);
			return;
		}
		kind = action_kinds[i];
	}
	if (!kind) {
		bad(l, v,
		    "an action needs one of run, copy, template, mkdir, "
		    "push, pull or wait");
		return;
	}
	load_action_fields(l, kind, rfs_yaml_get(v, kind), a);
}

static void load_job(struct loader *l, const struct rfs_yaml_node *key,
		     const struct rfs_yaml_node *v, struct rfs_plan_job *job)
{
	static const char *const keys[] = { "local",	 "guard",   "env",
					    "artifacts", "actions", NULL };
	static const char *const guard_keys[] = { "if", NULL };
	const struct rfs_yaml_node *guard, *actions;

	if (!v || v->type != RFS_YAML_MAPPING) {
		bad(l, v ? v : key, "job \"%s\" must be a mapping, not %s",
		    key->text, rfs_yaml_describe(v));
		return;
	}
	unknown_keys(l, v, "a job", keys);
	get_bool(l, rfs_yaml_get(v, "local"), "local", &job->local);
	guard = rfs_yaml_get(v, "guard");
	if (want_map(l, guard, "guard")) {
		unknown_keys(l, guard, "a guard", guard_keys);
		get_str(l, rfs_yaml_get(guard, "if"), "if", &job->guard_if);
	}
	load_job_env(l, rfs_yaml_get(v, "env"), job);
	load_artifacts(l, rfs_yaml_get(v, "artifacts"), job);
	actions = rfs_yaml_get(v, "actions");
	if (!want_list(l, actions, "actions") ||
	    !RESERVE(l, job->actions, 0, n_items(actions)))
		return;
	for (size_t i = 0; i < n_items(actions); i++)
		load_action(l, actions->items[i],
			    &job->actions[job->n_actions++]);
}

static void get_str_list(struct loader *l, const struct rfs_yaml_node *v,
			 const char *what, char ***out, size_t *n)
{
	if (!want_list(l, v, what) || !RESERVE(l, *out, 0, n_items(v)))
		return;
	for (size_t i = 0; i < n_items(v); i++) {
		const struct rfs_yaml_node *item = v->items[i];

		if (!is_scalar(item)) {
			bad(l, item, "%s must list names, not %s", what,
			    rfs_yaml_describe(item));
			continue;
		}
		(*out)[(*n)++] = sdup(l, item->text);
	}
}

/* parallelism: 3, "3" or "25%" (whole numbers); "" is Hades's "all at
 * once". */
static void get_parallelism(struct loader *l, const struct rfs_yaml_node *v,
			    struct rfs_plan_parallelism *p)
{
	const char *t;
	size_t len;
	long n;

	if (is_null(v))
		return;
	t = is_scalar(v) ? v->text : "";
	len = strlen(t);
	if (is_scalar(v) && len == 0)
		return;
	if (is_scalar(v) && len > 1 && t[len - 1] == '%') {
		char num[32];

		if (len - 1 < sizeof(num)) {
			memcpy(num, t, len - 1);
			num[len - 1] = '\0';
			if (strspn(num, "0123456789") == len - 1 &&
			    parse_long(num, &n) && n > 0 && n <= 100) {
				p->percent = (int)n;
				return;
			}
		}
	} else if (is_scalar(v) && strspn(t, "0123456789") == len &&
		   parse_long(t, &n) && n >= 1 && n <= INT_MAX) {
		p->count = (int)n;
		return;
	}
	bad(l, v,
	    "parallelism %s%s%s must be N hosts (1 or more) or \"P%%\" "
	    "(1%% to 100%%)",
	    is_scalar(v) ? "\"" : "", is_scalar(v) ? t : rfs_yaml_describe(v),
	    is_scalar(v) ? "\"" : "");
}

static void load_step(struct loader *l, const struct rfs_yaml_node *v,
		      struct rfs_plan *plan, struct rfs_plan_step *step)
{
	static const char *const keys[] = { "name",    "job",	      "targets",
					    "limit",   "parallelism", "env",
					    "exclude", NULL };
	const struct rfs_yaml_node *name;
	size_t index = plan->n_steps - 1; /* this step's, 0-based */

	step->pos = pos_of(l, v);
	if (v->type != RFS_YAML_MAPPING) {
		bad(l, v,
		    "a step must be a mapping (job:, targets:, ...), "
		    "not %s",
		    rfs_yaml_describe(v));
		return;
	}
	unknown_keys(l, v, "a step", keys);
	name = rfs_yaml_get(v, "name");
	get_str(l, name, "name", &step->name);
	if (step->name && !*step->name)
		bad(l, name, "a step name may not be empty");
	if (!step->name && !is_scalar(name)) {
		char def[32];

		snprintf(def, sizeof(def), "step-%zu", index + 1);
		step->name = sdup(l, def);
	}
	for (size_t i = 0; step->name && i < index; i++) {
		const struct rfs_plan_step *o = &plan->steps[i];

		if (o->name && strcmp(o->name, step->name) == 0)
			bad(l, name ? name : v,
			    "step \"%s\" is already a step of this plan, at "
			    "%d:%d",
			    step->name, o->pos.line, o->pos.column);
	}
	need_str(l, v, "job", "a step", &step->job);
	get_str_list(l, rfs_yaml_get(v, "targets"), "targets", &step->targets,
		     &step->n_targets);
	get_str_list(l, rfs_yaml_get(v, "exclude"), "exclude", &step->exclude,
		     &step->n_exclude);
	get_int(l, rfs_yaml_get(v, "limit"), "limit", 0, INT_MAX, &step->limit);
	get_parallelism(l, rfs_yaml_get(v, "parallelism"), &step->parallelism);
	load_env_map(l, rfs_yaml_get(v, "env"), &step->env, &step->n_env);
}

static void load_plan(struct loader *l, const struct rfs_yaml_node *key,
		      const struct rfs_yaml_node *v, struct rfs_plan *plan)
{
	static const char *const keys[] = { "env", "steps", "description",
					    NULL };
	const struct rfs_yaml_node *steps;

	if (!v || v->type != RFS_YAML_MAPPING) {
		bad(l, v ? v : key, "plan \"%s\" must be a mapping, not %s",
		    key->text, rfs_yaml_describe(v));
		return;
	}
	unknown_keys(l, v, "a plan", keys);
	load_env_map(l, rfs_yaml_get(v, "env"), &plan->env, &plan->n_env);
	steps = rfs_yaml_get(v, "steps");
	if (!want_list(l, steps, "steps") ||
	    !RESERVE(l, plan->steps, 0, n_items(steps)))
		return;
	/* n_steps counts a step before it is filled, so that a half-loaded
	 * one is still freed with the set. */
	for (size_t i = 0; i < n_items(steps); i++)
		load_step(l, steps->items[i], plan,
			  &plan->steps[plan->n_steps++]);
}

static const char *const registry_types[] = { "regfs", "oci", "filesystem",
					      NULL };

static void load_registry(struct loader *l, const struct rfs_yaml_node *key,
			  const struct rfs_yaml_node *v,
			  struct rfs_plan_registry *r)
{
	static const char *const keys[] = { "type", "path", "url", NULL };
	const struct rfs_yaml_node *type;
	size_t t;

	if (!v || v->type != RFS_YAML_MAPPING) {
		bad(l, v ? v : key, "registry \"%s\" must be a mapping, not %s",
		    key->text, rfs_yaml_describe(v));
		return;
	}
	type = rfs_yaml_get(v, "type");
	if (!is_scalar(type)) {
		bad(l, type ? type : v,
		    "registry \"%s\" needs type: regfs, oci or filesystem",
		    key->text);
		return;
	}
	if (strcmp(type->text, "s3") == 0) {
		bad(l, type,
		    "registry \"%s\": type s3 is not supported (Hades's is a "
		    "stub too): use regfs, oci or filesystem",
		    key->text);
		return;
	}
	for (t = 0; registry_types[t]; t++)
		if (strcmp(type->text, registry_types[t]) == 0)
			break;
	if (!registry_types[t]) {
		bad(l, type,
		    "registry \"%s\": unknown type \"%s\" (expected regfs, oci "
		    "or filesystem)",
		    key->text, type->text);
		return;
	}
	r->type = t == 0   ? RFS_REGISTRY_REGFS
		  : t == 1 ? RFS_REGISTRY_OCI
			   : RFS_REGISTRY_FILESYSTEM;
	unknown_keys(l, v, "a registry", keys);
	if (r->type == RFS_REGISTRY_OCI) {
		struct rfs_plan_oci_url url;

		need_str(l, v, "url", "an oci registry", &r->url);
		if (r->url && rfs_plan_parse_oci_url(r->url, &url))
			bad(l, rfs_yaml_get(v, "url"),
			    "registry \"%s\": invalid url \"%s\" (want "
			    "[https://]HOST[:PORT][/NAMESPACE])",
			    key->text, r->url);
		if (rfs_yaml_get(v, "path"))
			bad(l, rfs_yaml_get(v, "path"),
			    "an oci registry takes url:, not path:");
	} else {
		need_str(l, v, "path",
			 r->type == RFS_REGISTRY_REGFS
			     ? "a regfs registry"
			     : "a filesystem registry",
			 &r->path);
		if (rfs_yaml_get(v, "url"))
			bad(l, rfs_yaml_get(v, "url"),
			    "a %s registry takes path:, not url: (url: "
			    "is for type oci)",
			    type->text);
	}
}

static void load_host(struct loader *l, const struct rfs_yaml_node *key,
		      const struct rfs_yaml_node *v, struct rfs_plan_host *h)
{
	static const char *const keys[] = { "addr", "user", "port",
					    "identity_file", NULL };

	if (!v || v->type != RFS_YAML_MAPPING) {
		bad(l, v ? v : key,
		    "host \"%s\" must be a mapping (addr:, user:, ...), not %s",
		    key->text, rfs_yaml_describe(v));
		return;
	}
	unknown_keys(l, v, "a host", keys);
	need_str(l, v, "addr", "a host", &h->addr);
	get_str(l, rfs_yaml_get(v, "user"), "user", &h->user);
	get_int(l, rfs_yaml_get(v, "port"), "port", 0, 65535, &h->port);
	get_str(l, rfs_yaml_get(v, "identity_file"), "identity_file",
		&h->identity_file);
}

/* The five named sections, loaded the same way: each entry's name is
 * checked against every file read so far, then its body is loaded. */
enum section {
	SEC_REGISTRIES,
	SEC_HOSTS,
	SEC_GROUPS,
	SEC_JOBS,
	SEC_PLANS,
};

static const struct {
	const char *key;  /* at the top of a file */
	const char *what; /* one entry, in messages */
} sections[] = {
	/* registries and the inventory first: jobs and plans name them */
	[SEC_REGISTRIES] = { "registries", "registry" },
	[SEC_HOSTS] = { "hosts", "host" },
	[SEC_GROUPS] = { "targets", "target group" },
	[SEC_JOBS] = { "jobs", "job" },
	[SEC_PLANS] = { "plans", "plan" },
};

/* How many entries a section has. */
static size_t section_count(const struct rfs_plan_set *set, enum section s)
{
	switch (s) {
	case SEC_REGISTRIES: return set->n_registries;
	case SEC_HOSTS: return set->n_hosts;
	case SEC_GROUPS: return set->n_groups;
	case SEC_JOBS: return set->n_jobs;
	case SEC_PLANS: return set->n_plans;
	}
	return 0;
}

/* Entry k of a section: its name and position fields. */
static void section_entry(struct rfs_plan_set *set, enum section s, size_t k,
			  char ***name, struct rfs_plan_pos **pos)
{
#define ENTRY(arr)                         \
	do {                               \
		*name = &set->arr[k].name; \
		*pos = &set->arr[k].pos;   \
	} while (0)
	switch (s) {
	case SEC_REGISTRIES: ENTRY(registries); break;
	case SEC_HOSTS: ENTRY(hosts); break;
	case SEC_GROUPS: ENTRY(groups); break;
	case SEC_JOBS: ENTRY(jobs); break;
	case SEC_PLANS: ENTRY(plans); break;
	}
#undef ENTRY
}

/* One more (zeroed, counted) entry at the end of a section: counted
 * before it is filled, so a half-loaded one is still freed with the
 * set. */
static bool section_grow(struct loader *l, enum section s)
{
	struct rfs_plan_set *set = l->set;

	switch (s) {
	case SEC_REGISTRIES:
		return RESERVE(l, set->registries, set->n_registries, 1) &&
		       ++set->n_registries;
	case SEC_HOSTS:
		return RESERVE(l, set->hosts, set->n_hosts, 1) &&
		       ++set->n_hosts;
	case SEC_GROUPS:
		return RESERVE(l, set->groups, set->n_groups, 1) &&
		       ++set->n_groups;
	case SEC_JOBS:
		return RESERVE(l, set->jobs, set->n_jobs, 1) && ++set->n_jobs;
	case SEC_PLANS:
		return RESERVE(l, set->plans, set->n_plans, 1) &&
		       ++set->n_plans;
	}
	return false;
}

static void load_entry(struct loader *l, enum section s,
		       const struct rfs_yaml_node *key,
		       const struct rfs_yaml_node *v)
{
	struct rfs_plan_set *set = l->set;

	switch (s) {
	case SEC_REGISTRIES:
		load_registry(l, key, v,
			      &set->registries[set->n_registries - 1]);
		break;
	case SEC_HOSTS:
		load_host(l, key, v, &set->hosts[set->n_hosts - 1]);
		break;
	case SEC_GROUPS: {
		struct rfs_plan_group *g = &set->groups[set->n_groups - 1];

		get_str_list(l, v, "a target group", &g->hosts, &g->n_hosts);
		break;
	}
	case SEC_JOBS: load_job(l, key, v, &set->jobs[set->n_jobs - 1]); break;
	case SEC_PLANS:
		load_plan(l, key, v, &set->plans[set->n_plans - 1]);
		break;
	}
}

static void load_section(struct loader *l, enum section s,
			 const struct rfs_yaml_node *v)
{
	if (!want_map(l, v, sections[s].key))
		return;
	for (size_t i = 0; i < n_pairs(v); i++) {
		const struct rfs_yaml_node *key = v->pairs[i].key;
		const struct rfs_plan_pos *first = NULL;
		size_t n = section_count(l->set, s);
		struct rfs_plan_pos *pos;
		char **name;

		for (size_t k = 0; k < n && !first; k++) {
			section_entry(l->set, s, k, &name, &pos);
			if (*name && strcmp(*name, key->text) == 0)
				first = pos;
		}
		if (first) {
			bad(l, key, "%s \"%s\" is already defined at %s:%d:%d",
			    sections[s].what, key->text, first->file,
			    first->line, first->column);
			continue;
		}
		if (!section_grow(l, s))
			return;
		section_entry(l->set, s, n, &name, &pos);
		*name = sdup(l, key->text);
		*pos = pos_of(l, key);
		load_entry(l, s, key, v->pairs[i].value);
	}
}

static void load_root(struct loader *l, const struct rfs_yaml_node *root)
{
	static const char *const keys[] = { "registries",  "jobs",    "plans",
					    "hosts",	   "targets", "version",
					    "description", NULL };
	const struct rfs_yaml_node *providers;

	if (is_null(root))
		return; /* an empty file, or only comments */
	if (root->type != RFS_YAML_MAPPING) {
		bad(l, root,
		    "a plan file must be a mapping (jobs:, plans:, ...), not "
		    "%s",
		    rfs_yaml_describe(root));
		return;
	}
	providers = rfs_yaml_get(root, "hosts.providers");
	if (providers) {
		bad(l, providers,
		    "dynamic inventories (hosts.providers) are "
		    "not supported: list the hosts under hosts:");
	}
	for (size_t i = 0; i < root->n_pairs; i++) {
		const struct rfs_yaml_node *key = root->pairs[i].key;
		size_t k = 0;

		if (strcmp(key->text, "hosts.providers") == 0)
			continue;
		while (keys[k] && strcmp(keys[k], key->text) != 0)
			k++;
		if (!keys[k])
			bad(l, key,
			    "unknown key \"%s\" at the top of a plan file "
			    "(expected registries, jobs, plans, hosts, "
			    "targets, version, description)",
			    key->text);
	}
	for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
		load_section(l, (enum section)s,
			     rfs_yaml_get(root, sections[s].key));
}

int rfs_plan_load(const char *const *files, size_t n_files,
		  struct rfs_plan_set **out, struct rfs_error *err)
{
	struct loader l = { 0 };
	struct rfs_hasher *hasher = NULL;
	struct rfs_plan_set *set;
	int rc;

	*out = NULL;
	rfs_report_init(&l.rep, err);
	if (n_files == 0)
		return rfs_error_set(err, -EINVAL, "no plan files to read");
	set = calloc(1, sizeof(*set));
	if (!set || !(set->files = calloc(n_files, sizeof(*set->files)))) {
		free(set);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	l.set = set;
	rc = rfs_hasher_new(&hasher);
	if (rc) {
		rfs_error_set(err, rc, "cannot hash the plan files");
		goto out;
	}
	for (size_t i = 0; i < n_files; i++) {
		struct rfs_yaml_node *root = NULL;
		struct rfs_error e = { 0 };
		char *buf;
		size_t len;

		set->files[set->n_files] = sdup(&l, files[i]);
		if (!set->files[set->n_files])
			break;
		l.file = set->files[set->n_files++];
		rc = rfs_yaml_read(l.file, &buf, &len, &e);
		if (rc == -ENOMEM)
			l.rep.nomem = true;
		if (rc) {
			rfs_report_add(&l.rep, NULL, 0, 0, "%s", e.msg);
			continue;
		}
		rc = rfs_hasher_update(hasher, buf, len);
		if (!rc)
			rc = rfs_yaml_parse(l.file, buf, len, &root, &e);
		free(buf);
		if (rc == -ENOMEM)
			l.rep.nomem = true;
		if (rc) {
			rfs_report_add(&l.rep, NULL, 0, 0, "%s", e.msg);
			continue;
		}
		load_root(&l, root);
		rfs_yaml_free(&root);
	}
	rc = rfs_report_finish(&l.rep);
	if (!rc && rfs_hasher_final(hasher, set->file_hash) != 0)
		rc = rfs_error_set(err, -EIO, "cannot hash the plan files");
out:
	rfs_hasher_free(&hasher);
	if (rc) {
		rfs_plan_set_free(&set);
		return rc;
	}
	*out = set;
	return 0;
}

static void free_kvs(struct rfs_plan_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void free_strs(char **s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

static void free_action(struct rfs_plan_action *a)
{
	free(a->name);
	free(a->command);
	free(a->src);
	free(a->artifact);
	free(a->dst);
	free(a->path);
	free(a->registry);
	free(a->repo);
	free(a->tag);
	free(a->message);
}

void rfs_plan_set_free(struct rfs_plan_set **setp)
{
	struct rfs_plan_set *set;

	if (!setp || !*setp)
		return;
	set = *setp;
	for (size_t i = 0; i < set->n_registries; i++) {
		free(set->registries[i].name);
		free(set->registries[i].path);
		free(set->registries[i].url);
	}
	free(set->registries);
	for (size_t i = 0; i < set->n_hosts; i++) {
		free(set->hosts[i].name);
		free(set->hosts[i].addr);
		free(set->hosts[i].user);
		free(set->hosts[i].identity_file);
	}
	free(set->hosts);
	for (size_t i = 0; i < set->n_groups; i++) {
		free(set->groups[i].name);
		free_strs(set->groups[i].hosts, set->groups[i].n_hosts);
	}
	free(set->groups);
	for (size_t i = 0; i < set->n_jobs; i++) {
		struct rfs_plan_job *j = &set->jobs[i];

		free(j->name);
		free(j->guard_if);
		free_kvs(j->env, j->n_env);
		free_kvs(j->artifacts, j->n_artifacts);
		for (size_t k = 0; k < j->n_actions; k++)
			free_action(&j->actions[k]);
		free(j->actions);
	}
	free(set->jobs);
	for (size_t i = 0; i < set->n_plans; i++) {
		struct rfs_plan *p = &set->plans[i];

		free(p->name);
		free_kvs(p->env, p->n_env);
		for (size_t k = 0; k < p->n_steps; k++) {
			struct rfs_plan_step *s = &p->steps[k];

			free(s->name);
			free(s->job);
			free_strs(s->targets, s->n_targets);
			free_strs(s->exclude, s->n_exclude);
			free_kvs(s->env, s->n_env);
		}
		free(p->steps);
	}
	free(set->plans);
	free_strs(set->files, set->n_files);
	free(set);
	*setp = NULL;
}

const struct rfs_plan *rfs_plan_find(const struct rfs_plan_set *set,
				     const char *name)
{
	for (size_t i = 0; set && i < set->n_plans; i++)
		if (strcmp(set->plans[i].name, name) == 0)
			return &set->plans[i];
	return NULL;
}

const struct rfs_plan_job *rfs_plan_find_job(const struct rfs_plan_set *set,
					     const char *name)
{
	for (size_t i = 0; set && i < set->n_jobs; i++)
		if (strcmp(set->jobs[i].name, name) == 0)
			return &set->jobs[i];
	return NULL;
}

const struct rfs_plan_registry *
rfs_plan_find_registry(const struct rfs_plan_set *set, const char *name)
{
	for (size_t i = 0; set && i < set->n_registries; i++)
		if (strcmp(set->registries[i].name, name) == 0)
			return &set->registries[i];
	return NULL;
}

/* File discovery, as Hades walks its config folder: recursive, each
 * folder's entries in byte order (so a/x.hades.yaml comes before
 * a.hades.yaml, as with Go's WalkDir), hidden folders included, symbolic
 * links to folders not followed (no loops), links to files taken. */

struct file_list {
	char **files;
	size_t n, cap;
};

static bool has_plan_suffix(const char *name)
{
	static const char *const suffixes[] = { ".hades.yaml", ".hades.yml",
						NULL };
	size_t len = strlen(name);

	for (size_t i = 0; suffixes[i]; i++) {
		size_t s = strlen(suffixes[i]);

		if (len > s && strcmp(name + len - s, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static int list_add(struct file_list *fl, char *path)
{
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? 2 * fl->cap : 16;
		char **grown = realloc(fl->files, cap * sizeof(*grown));

		if (!grown) {
			free(path);
			return -ENOMEM;
		}
		fl->files = grown;
		fl->cap = cap;
	}
	fl->files[fl->n++] = path;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
	size_t len = strlen(dir);
	char *p;

	if (asprintf(&p, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/",
		     name) < 0)
		return NULL;
	return p;
}

static int walk(const char *dir, struct file_list *fl, struct rfs_error *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (!d)
		return rfs_error_set(err, -errno, "%s: %s", dir,
				     strerror(errno));
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t c = cap ? 2 * cap : 32;
			char **grown = realloc(names, c * sizeof(*grown));

			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			names = grown;
			cap = c;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && !rc; i++) {
		char *path = join(dir, names[i]);
		struct stat st;

		if (!path) {
			rc = -ENOMEM;
			break;
		}
		if (lstat(path, &st) < 0) {
			rc = rfs_error_set(err, -errno, "%s: %s", path,
					   strerror(errno));
			free(path);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = walk(path, fl, err);
			free(path);
		} else if (has_plan_suffix(names[i])) {
			rc = list_add(fl, path);
		} else {
			free(path);
		}
	}
out:
	if (rc == -ENOMEM)
		rfs_error_set(err, rc, "out of memory");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int rfs_plan_find_files(const char *dir, char ***files, size_t *n,
			struct rfs_error *err)
{
	struct file_list fl = { 0 };
	struct stat st;
	int rc;

	*files = NULL;
	*n = 0;
	if (stat(dir, &st) < 0)
		return rfs_error_set(err, -errno, "%s: %s", dir,
				     strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		/* A file named on purpose is read whatever its name. */
		char *one = strdup(dir);

		if (!one || list_add(&fl, one) < 0)
			return rfs_error_set(err, -ENOMEM, "out of memory");
		*files = fl.files;
		*n = 1;
		return 0;
	}
	rc = walk(dir, &fl, err);
	if (!rc && fl.n == 0)
		rc = rfs_error_set(err, -ENOENT,
				   "%s: no *.hades.yaml or *.hades.yml files",
				   dir);
	if (rc) {
		rfs_plan_files_free(fl.files, fl.n);
		return rc;
	}
	*files = fl.files;
	*n = fl.n;
	return 0;
}

void rfs_plan_files_free(char **files, size_t n)
{
	free_strs(files, n);
}
