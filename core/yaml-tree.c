/*
 * yaml-tree.c - a YAML file as a tree of positioned nodes, through
 * libyaml's event parser (see yaml-tree.h), and problem reports.
 *
 * libyaml's own document API would give a node graph too, but it keeps
 * aliases as shared references and accepts duplicate keys; walking the
 * events lets every node carry its mark, duplicates be refused where they
 * are written, and aliases become plain copies, so the tree is a tree and
 * each node is freed exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "yaml-tree.h"

/* A plan file larger than this is a mistake (a log named *.hades.yaml),
 * not a plan: refuse it rather than read it all into memory. */
#define YAML_FILE_MAX (16u << 20)
/* The tag prefix of YAML's own types (!!str, !!int, !!map, ...). */
#define YAML_CORE_TAG_PREFIX "tag:yaml.org,2002:"

/* An anchor keeps a copy of its node: the tree's node may be taken apart
 * by a merge key after the anchor is defined. */
struct anchor {
	char *name;
	struct rfs_yaml_node *node;
};

struct parser {
	yaml_parser_t yp;
	const char *name;
	struct rfs_error *err;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t n_nodes; /* made so far, copies included */
};

static int fail(struct parser *p, int code, int line, int column,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(struct parser *p, int code, int line, int column,
		const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rfs_error_set(p->err, code, "%s:%d:%d: %s", p->name, line,
			     column, msg);
}

static int fail_at(struct parser *p, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct parser *p, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(p, -EINVAL, (int)m->line + 1, (int)m->column + 1, "%s",
		    msg);
}

/* libyaml's own message: "problem (context at line:column)". */
static int fail_libyaml(struct parser *p)
{
	const yaml_parser_t *y = &p->yp;
	const yaml_mark_t *m = &y->problem_mark;
	const char *problem = y->problem ? y->problem : "cannot parse";

	if (y->error == YAML_MEMORY_ERROR)
		return rfs_error_set(p->err, -ENOMEM, "%s: out of memory",
				     p->name);
	if (y->error == YAML_READER_ERROR)
		return rfs_error_set(p->err, -EINVAL,
				     "%s: byte %zu: %s (a plan file is UTF-8)",
				     p->name, y->problem_offset, problem);
	if (y->context)
		return fail(p, -EINVAL, (int)m->line + 1, (int)m->column + 1,
			    "%s (%s at %d:%d)", problem, y->context,
			    (int)y->context_mark.line + 1,
			    (int)y->context_mark.column + 1);
	return fail(p, -EINVAL, (int)m->line + 1, (int)m->column + 1, "%s",
		    problem);
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev))
		return fail_libyaml(p);
	return 0;
}

static struct rfs_yaml_node *new_node(struct parser *p, enum rfs_yaml_type type,
				      const yaml_mark_t *m, int *rc)
{
	struct rfs_yaml_node *n;

	if (++p->n_nodes > RFS_YAML_MAX_NODES) {
		*rc = fail(p, -E2BIG, (int)m->line + 1, (int)m->column + 1,
			   "more than %d nodes (aliases that expand too far?)",
			   RFS_YAML_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		*rc = rfs_error_set(p->err, -ENOMEM, "%s: out of memory",
				    p->name);
		return NULL;
	}
	n->type = type;
	n->line = (int)m->line + 1;
	n->column = (int)m->column + 1;
	return n;
}

void rfs_yaml_free(struct rfs_yaml_node **node)
{
	struct rfs_yaml_node *n;

	if (!node || !*node)
		return;
	n = *node;
	free(n->text);
	for (size_t i = 0; i < n->n_items; i++)
		rfs_yaml_free(&n->items[i]);
	free(n->items);
	for (size_t i = 0; i < n->n_pairs; i++) {
		rfs_yaml_free(&n->pairs[i].key);
		rfs_yaml_free(&n->pairs[i].value);
	}
	free(n->pairs);
	free(n);
	*node = NULL;
}

/* A deep copy of n, counted against the node budget. */
static int copy_node(struct parser *p, const struct rfs_yaml_node *n,
		     struct rfs_yaml_node **out)
{
	yaml_mark_t m = { .line = (size_t)n->line - 1,
			  .column = (size_t)n->column - 1 };
	struct rfs_yaml_node *c;
	int rc = 0;

	c = new_node(p, n->type, &m, &rc);
	if (!c)
		return rc;
	c->plain = n->plain;
	c->null = n->null;
	if (n->text && !(c->text = strdup(n->text)))
		goto nomem;
	if (n->n_items) {
		c->items = calloc(n->n_items, sizeof(*c->items));
		if (!c->items)
			goto nomem;
		for (; c->n_items < n->n_items; c->n_items++) {
			rc = copy_node(p, n->items[c->n_items],
				       &c->items[c->n_items]);
			if (rc)
				goto out;
		}
	}
	if (n->n_pairs) {
		c->pairs = calloc(n->n_pairs, sizeof(*c->pairs));
		if (!c->pairs)
			goto nomem;
		for (; c->n_pairs < n->n_pairs; c->n_pairs++) {
			struct rfs_yaml_pair *d = &c->pairs[c->n_pairs];

			rc = copy_node(p, n->pairs[c->n_pairs].key, &d->key);
			if (!rc)
				rc = copy_node(p, n->pairs[c->n_pairs].value,
					       &d->value);
			if (rc) {
				c->n_pairs++; /* free the half-made pair */
				goto out;
			}
		}
	}
	*out = c;
	return 0;
nomem:
	rc = rfs_error_set(p->err, -ENOMEM, "%s: out of memory", p->name);
out:
	rfs_yaml_free(&c);
	return rc;
}

static int add_anchor(struct parser *p, const yaml_char_t *name,
		      const struct rfs_yaml_node *n)
{
	struct anchor a = { 0 };
	int rc;

	if (p->n_anchors == p->cap_anchors) {
		size_t cap = p->cap_anchors ? 2 * p->cap_anchors : 8;
		struct anchor *grown =
		    realloc(p->anchors, cap * sizeof(*grown));

		if (!grown)
			return rfs_error_set(p->err, -ENOMEM,
					     "%s: out of memory", p->name);
		p->anchors = grown;
		p->cap_anchors = cap;
	}
	a.name = strdup((const char *)name);
	if (!a.name)
		return rfs_error_set(p->err, -ENOMEM, "%s: out of memory",
				     p->name);
	rc = copy_node(p, n, &a.node);
	if (rc) {
		free(a.name);
		return rc;
	}
	p->anchors[p->n_anchors++] = a;
	return 0;
}

static int resolve_alias(struct parser *p, const yaml_event_t *ev,
			 struct rfs_yaml_node **out)
{
	const char *name = (const char *)ev->data.alias.anchor;

	/* YAML lets a later anchor of the same name replace an earlier one:
	 * search from the end. An anchor is added when its node is complete,
	 * so an alias inside its own anchor is not found: no cycles. */
	for (size_t i = p->n_anchors; i-- > 0;)
		if (strcmp(p->anchors[i].name, name) == 0)
			return copy_node(p, p->anchors[i].node, out);
	return fail_at(p, &ev->start_mark,
		       "alias *%s names no anchor defined before it", name);
}

/* Tags: none, the non-specific "!", or one of YAML's own types. A
 * custom tag would mean something this loader does not know. */
static int check_tag(struct parser *p, const yaml_char_t *tag,
		     const yaml_mark_t *m)
{
	const char *t = (const char *)tag;

	if (!t || strcmp(t, "!") == 0 ||
	    strncmp(t, YAML_CORE_TAG_PREFIX, strlen(YAML_CORE_TAG_PREFIX)) == 0)
		return 0;
	return fail_at(p, m, "tag %s is not supported", t);
}

static int parse_scalar(struct parser *p, const yaml_event_t *ev,
			struct rfs_yaml_node **out)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct rfs_yaml_node *n;
	int rc = 0;

	rc = check_tag(p, ev->data.scalar.tag, &ev->start_mark);
	if (rc)
		return rc;
	if (strlen(text) != len)
		return fail_at(p, &ev->start_mark, "%s",
			       "a NUL character in a string");
	n = new_node(p, RFS_YAML_SCALAR, &ev->start_mark, &rc);
	if (!n)
		return rc;
	n->text = strdup(text);
	if (!n->text) {
		rfs_yaml_free(&n);
		return rfs_error_set(p->err, -ENOMEM, "%s: out of memory",
				     p->name);
	}
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (tag && strcmp(tag, YAML_STR_TAG) == 0) {
		n->plain = false;
	} else if (tag && strcmp(tag, YAML_NULL_TAG) == 0) {
		n->null = true;
	} else if (n->plain && !tag) {
		n->null = len == 0 || strcmp(text, "~") == 0 ||
			  strcmp(text, "null") == 0 ||
			  strcmp(text, "Null") == 0 ||
			  strcmp(text, "NULL") == 0;
	}
	*out = n;
	return 0;
}

static int parse_node(struct parser *p, yaml_event_t *ev, int depth,
		      struct rfs_yaml_node **out);

static int parse_sequence(struct parser *p, int depth, struct rfs_yaml_node *n)
{
	size_t cap = 0;
	int rc = 0;

	for (;;) {
		yaml_event_t ev;

		rc = next_event(p, &ev);
		if (rc)
			return rc;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		if (n->n_items == cap) {
			size_t c = cap ? 2 * cap : 4;
			struct rfs_yaml_node **grown =
			    realloc(n->items, c * sizeof(*grown));

			if (!grown) {
				yaml_event_delete(&ev);
				return rfs_error_set(p->err, -ENOMEM,
						     "%s: out of memory",
						     p->name);
			}
			n->items = grown;
			cap = c;
		}
		n->items[n->n_items] = NULL;
		rc = parse_node(p, &ev, depth + 1, &n->items[n->n_items]);
		yaml_event_delete(&ev);
		if (rc)
			return rc;
		n->n_items++;
	}
}

static bool is_merge_key(const struct rfs_yaml_node *key)
{
	return key->plain && strcmp(key->text, "<<") == 0;
}

static const struct rfs_yaml_pair *find_pair(const struct rfs_yaml_node *map,
					     const char *key)
{
	for (size_t i = 0; i < map->n_pairs; i++)
		if (strcmp(map->pairs[i].key->text, key) == 0)
			return &map->pairs[i];
	return NULL;
}

static int append_pair(struct parser *p, struct rfs_yaml_node *map, size_t *cap,
		       struct rfs_yaml_node *key, struct rfs_yaml_node *value)
{
	if (map->n_pairs == *cap) {
		size_t c = *cap ? 2 * *cap : 4;
		struct rfs_yaml_pair *grown =
		    realloc(map->pairs, c * sizeof(*grown));

		if (!grown)
			return rfs_error_set(p->err, -ENOMEM,
					     "%s: out of memory", p->name);
		map->pairs = grown;
		*cap = c;
	}
	map->pairs[map->n_pairs].key = key;
	map->pairs[map->n_pairs].value = value;
	map->n_pairs++;
	return 0;
}

/* Merge keys: the pairs of src (a mapping, or a list of them, earlier
 * ones first) that map does not already have are moved into map. Keys
 * written in map itself win, wherever the "<<" is, as YAML's merge type
 * says. src is consumed. */
static int apply_merge(struct parser *p, struct rfs_yaml_node *map, size_t *cap,
		       struct rfs_yaml_node *src)
{
	if (src->type == RFS_YAML_SEQUENCE) {
		for (size_t i = 0; i < src->n_items; i++) {
			struct rfs_yaml_node *item = src->items[i];
			int rc = -EINVAL;

			if (item->type == RFS_YAML_MAPPING)
				rc = apply_merge(p, map, cap, item);
			else
				fail(p, rc, item->line, item->column,
				     "a merge key (<<) takes a mapping or a "
				     "list of mappings, not %s",
				     rfs_yaml_describe(item));
			if (rc)
				return rc;
		}
		return 0;
	}
	if (src->type != RFS_YAML_MAPPING)
		return fail(p, -EINVAL, src->line, src->column,
			    "a merge key (<<) takes a mapping or a list of "
			    "mappings, not %s",
			    rfs_yaml_describe(src));
	for (size_t i = 0; i < src->n_pairs; i++) {
		struct rfs_yaml_pair *sp = &src->pairs[i];
		int rc;

		if (find_pair(map, sp->key->text))
			continue;
		rc = append_pair(p, map, cap, sp->key, sp->value);
		if (rc)
			return rc;
		sp->key = sp->value = NULL;
	}
	return 0;
}

static int parse_mapping(struct parser *p, int depth, struct rfs_yaml_node *n)
{
	struct rfs_yaml_node **merges = NULL;
	size_t n_merges = 0, cap = 0;
	int rc = 0;

	for (;;) {
		struct rfs_yaml_node *key = NULL, *value = NULL;
		const struct rfs_yaml_pair *dup;
		yaml_event_t ev;

		rc = next_event(p, &ev);
		if (rc)
			goto out;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		rc = parse_node(p, &ev, depth + 1, &key);
		yaml_event_delete(&ev);
		if (rc)
			goto out;
		if (key->type != RFS_YAML_SCALAR) {
			rc = fail(p, -EINVAL, key->line, key->column,
				  "a key must be a string, not %s",
				  rfs_yaml_describe(key));
			rfs_yaml_free(&key);
			goto out;
		}
		rc = next_event(p, &ev);
		if (!rc) {
			rc = parse_node(p, &ev, depth + 1, &value);
			yaml_event_delete(&ev);
		}
		if (rc) {
			rfs_yaml_free(&key);
			goto out;
		}
		if (is_merge_key(key)) {
			struct rfs_yaml_node **grown =
			    realloc(merges, (n_merges + 1) * sizeof(*grown));

			rfs_yaml_free(&key);
			if (!grown) {
				rfs_yaml_free(&value);
				rc =
				    rfs_error_set(p->err, -ENOMEM,
						  "%s: out of memory", p->name);
				goto out;
			}
			merges = grown;
			merges[n_merges++] = value;
			continue;
		}
		dup = find_pair(n, key->text);
		if (dup) {
			rc = fail(p, -EINVAL, key->line, key->column,
				  "duplicate key \"%s\" (first at %d:%d)",
				  key->text, dup->key->line, dup->key->column);
			rfs_yaml_free(&key);
			rfs_yaml_free(&value);
			goto out;
		}
		rc = append_pair(p, n, &cap, key, value);
		if (rc) {
			rfs_yaml_free(&key);
			rfs_yaml_free(&value);
			goto out;
		}
	}
	for (size_t i = 0; i < n_merges && !rc; i++)
		rc = apply_merge(p, n, &cap, merges[i]);
out:
	for (size_t i = 0; i < n_merges; i++)
		rfs_yaml_free(&merges[i]);
	free(merges);
	return rc;
}

/* Build the node that starts with ev (which the caller deletes). */
static int parse_node(struct parser *p, yaml_event_t *ev, int depth,
		      struct rfs_yaml_node **out)
{
	const yaml_char_t *anchor = NULL;
	struct rfs_yaml_node *n = NULL;
	int rc = 0;

	if (depth > RFS_YAML_MAX_DEPTH)
		return fail(p, -EINVAL, (int)ev->start_mark.line + 1,
			    (int)ev->start_mark.column + 1,
			    "nested more than %d levels deep",
			    RFS_YAML_MAX_DEPTH);
	switch (ev->type) {
	case YAML_ALIAS_EVENT: return resolve_alias(p, ev, out);
	case YAML_SCALAR_EVENT:
		rc = parse_scalar(p, ev, &n);
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		rc = check_tag(p, ev->data.sequence_start.tag, &ev->start_mark);
		if (!rc)
			n = new_node(p, RFS_YAML_SEQUENCE, &ev->start_mark,
				     &rc);
		if (n)
			rc = parse_sequence(p, depth, n);
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		rc = check_tag(p, ev->data.mapping_start.tag, &ev->start_mark);
		if (!rc)
			n = new_node(p, RFS_YAML_MAPPING, &ev->start_mark, &rc);
		if (n)
			rc = parse_mapping(p, depth, n);
		break;
	default:
		return fail_at(p, &ev->start_mark, "%s",
			       "unexpected YAML event");
	}
	if (!rc && anchor)
		rc = add_anchor(p, anchor, n);
	if (rc) {
		rfs_yaml_free(&n);
		return rc;
	}
	*out = n;
	return 0;
}

int rfs_yaml_parse(const char *name, const char *buf, size_t len,
		   struct rfs_yaml_node **root, struct rfs_error *err)
{
	struct parser p = { .name = name, .err = err };
	struct rfs_yaml_node *doc = NULL;
	bool seen_document = false;
	yaml_event_t ev;
	int rc = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&p.yp))
		return rfs_error_set(err, -ENOMEM, "%s: out of memory", name);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
	for (;;) {
		rc = next_event(&p, &ev);
		if (rc)
			goto out;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			if (seen_document) {
				rc = fail_at(&p, &ev.start_mark, "%s",
					     "a second document: a plan file "
					     "holds one (no second ---)");
				yaml_event_delete(&ev);
				goto out;
			}
			seen_document = true;
		} else if (ev.type != YAML_STREAM_START_EVENT &&
			   ev.type != YAML_DOCUMENT_END_EVENT) {
			rc = parse_node(&p, &ev, 0, &doc);
		}
		yaml_event_delete(&ev);
		if (rc)
			goto out;
	}
	*root = doc;
	doc = NULL;
out:
	rfs_yaml_free(&doc);
	for (size_t i = 0; i < p.n_anchors; i++) {
		free(p.anchors[i].name);
		rfs_yaml_free(&p.anchors[i].node);
	}
	free(p.anchors);
	yaml_parser_delete(&p.yp);
	return rc;
}

int rfs_yaml_read(const char *path, char **buf, size_t *len,
		  struct rfs_error *err)
{
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	int fd, rc = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rfs_error_set(err, -errno, "%s: %s", path,
				     strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc =
		    rfs_error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = rfs_error_set(err, -EISDIR, "%s: is a folder", path);
		goto out;
	}
	if (st.st_size > (off_t)YAML_FILE_MAX) {
		rc = rfs_error_set(err, -EFBIG,
				   "%s: larger than %u MiB: not a plan file",
				   path, YAML_FILE_MAX >> 20);
		goto out;
	}
	/* st_size is a hint (a pipe or /proc file says 0): read to EOF. */
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		rc = rfs_error_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	for (size_t cap = (size_t)st.st_size + 1;;) {
		ssize_t r;

		if (got + 1 == cap) {
			char *grown;

			if (cap > YAML_FILE_MAX) {
				rc = rfs_error_set(err, -EFBIG,
						   "%s: larger than %u MiB: "
						   "not a plan file",
						   path, YAML_FILE_MAX >> 20);
				goto out;
			}
			grown = realloc(data, 2 * cap);
			if (!grown) {
				rc = rfs_error_set(err, -ENOMEM,
						   "%s: out of memory", path);
				goto out;
			}
			data = grown;
			cap *= 2;
		}
		r = read(fd, data + got, cap - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = rfs_error_set(err, -errno, "%s: %s", path,
					   strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	data[got] = '\0';
	*buf = data;
	*len = got;
	data = NULL;
out:
	free(data);
	close(fd);
	return rc;
}

int rfs_yaml_load(const char *path, struct rfs_yaml_node **root,
		  struct rfs_error *err)
{
	char *buf;
	size_t len;
	int rc;

	*root = NULL;
	rc = rfs_yaml_read(path, &buf, &len, err);
	if (rc)
		return rc;
	rc = rfs_yaml_parse(path, buf, len, root, err);
	free(buf);
	return rc;
}

const struct rfs_yaml_node *rfs_yaml_get(const struct rfs_yaml_node *map,
					 const char *key)
{
	const struct rfs_yaml_pair *pair;

	if (!map || map->type != RFS_YAML_MAPPING)
		return NULL;
	pair = find_pair(map, key);
	return pair ? pair->value : NULL;
}

const char *rfs_yaml_describe(const struct rfs_yaml_node *node)
{
	if (!node)
		return "nothing";
	switch (node->type) {
	case RFS_YAML_SCALAR: return node->null ? "null" : "a string";
	case RFS_YAML_SEQUENCE: return "a list";
	case RFS_YAML_MAPPING: return "a mapping";
	}
	return "a node";
}

/* Room kept at the end of a report's message for "\n(N more problems)". */
#define REPORT_TAIL 32

void rfs_report_init(struct rfs_report *r, struct rfs_error *err)
{
	*r = (struct rfs_report){ .err = err };
	rfs_error_clear(err);
}

void rfs_report_add(struct rfs_report *r, const char *file, int line,
		    int column, const char *fmt, ...)
{
	const size_t room = sizeof(r->err->msg) - 1 - REPORT_TAIL;
	char text[RFS_ERROR_MSG_MAX];
	size_t k = 0, len, sep;
	va_list ap;

	r->n++;
	if (!r->err)
		return;
	if (file && line > 0)
		k = (size_t)snprintf(text, sizeof(text), "%s:%d:%d: ", file,
				     line, column);
	else if (file)
		k = (size_t)snprintf(text, sizeof(text), "%s: ", file);
	if (k >= sizeof(text))
		k = sizeof(text) - 1;
	va_start(ap, fmt);
	vsnprintf(text + k, sizeof(text) - k, fmt, ap);
	va_end(ap);
	len = strlen(text);
	sep = r->shown ? 1 : 0;
	if (r->used + sep + len > room) {
		if (r->shown)
			return; /* counted, said at the end */
		/* The first problem is always shown, cut if it must be. */
		len = room - 3;
		memcpy(text + len, "...", 4);
		len += 3;
	}
	if (sep)
		r->err->msg[r->used++] = '\n';
	memcpy(r->err->msg + r->used, text, len + 1);
	r->used += len;
	r->shown++;
}

int rfs_report_finish(struct rfs_report *r)
{
	size_t more = r->n - r->shown;

	if (r->nomem)
		return rfs_error_set(r->err, -ENOMEM, "out of memory");
	if (r->n == 0)
		return 0;
	if (!r->err)
		return -EINVAL;
	if (more)
		snprintf(r->err->msg + r->used, sizeof(r->err->msg) - r->used,
			 "\n(%zu more problem%s)", more, more == 1 ? "" : "s");
	r->err->code = -EINVAL;
	return -EINVAL;
}
