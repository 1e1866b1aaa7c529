/*
 * yaml-tree.h - a YAML file as a small tree of nodes with positions, and
 * the "file:line:column: message" lists that errors about it are reported
 * in.
 *
 * libyaml's event stream is turned into three kinds of node: a scalar (its
 * text as written, whether it was plain and whether it is a YAML null), a
 * sequence and a mapping (key/value pairs in the order written). Every
 * node keeps the 1-based line and column where it starts, so that the
 * plan loader can name the exact place of every problem.
 *
 * What is refused, with the position: a syntax error, a second document,
 * a duplicate key in one mapping, a key that is not a scalar, a tag other
 * than YAML's own (!!str, !!int, ...), a NUL character in a scalar, nesting
 * deeper than RFS_YAML_MAX_DEPTH. Anchors and aliases are resolved (an
 * alias is a copy of its anchor's node, with the anchor's positions), and
 * so are merge keys ("<<: *defaults"), as the Go YAML library Hades uses
 * resolves them; an alias to an anchor that is not yet complete is an
 * error, so no tree has a cycle, and a file may not grow past
 * RFS_YAML_MAX_NODES nodes through aliases.
 *
 * The tree owns all its strings; rfs_yaml_free() releases it.
 */
#ifndef RFS_YAML_TREE_H
#define RFS_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define RFS_YAML_MAX_DEPTH 128
#define RFS_YAML_MAX_NODES 200000

enum rfs_yaml_type {
	RFS_YAML_SCALAR,
	RFS_YAML_SEQUENCE,
	RFS_YAML_MAPPING,
};

struct rfs_yaml_pair;

struct rfs_yaml_node {
	enum rfs_yaml_type type;
	int line, column; /* 1-based */
	/* scalar: the text without quotes or escapes; plain when written
	 * without quotes or block style; null for ~, null, Null, NULL, an
	 * empty plain scalar and !!null (text is then "" or as written). */
	char *text;
	bool plain;
	bool null;
	struct rfs_yaml_node **items; /* sequence */
	size_t n_items;
	struct rfs_yaml_pair *pairs; /* mapping, keys are scalars */
	size_t n_pairs;
};

struct rfs_yaml_pair {
	struct rfs_yaml_node *key;
	struct rfs_yaml_node *value;
};

/* Parse len bytes of buf, named name in messages. *root is NULL for a
 * file with no document (empty, or only comments). On error the message
 * is "name:line:column: problem" and *root is NULL. */
int rfs_yaml_parse(const char *name, const char *buf, size_t len,
		   struct rfs_yaml_node **root, struct rfs_error *err);
/* The bytes of the file at path, NUL-terminated (len excludes the NUL),
 * as rfs_yaml_load reads them; a folder or a file of more than 16 MiB is
 * refused. */
int rfs_yaml_read(const char *path, char **buf, size_t *len,
		  struct rfs_error *err);
/* Read and parse the file at path. */
int rfs_yaml_load(const char *path, struct rfs_yaml_node **root,
		  struct rfs_error *err);
void rfs_yaml_free(struct rfs_yaml_node **node);

/* The value of key in a mapping, or NULL (also when node is not one). */
const struct rfs_yaml_node *rfs_yaml_get(const struct rfs_yaml_node *map,
					 const char *key);
/* What a node is, for messages: "a string", "null", "a list", "a
 * mapping". */
const char *rfs_yaml_describe(const struct rfs_yaml_node *node);

/*
 * A report: problems collected one per line into an rfs_error's message,
 * "file:line:column: message", so that a reader fixes them all in one
 * pass. The message buffer is small (RFS_ERROR_MSG_MAX): lines that do not
 * fit are counted and the report ends "(N more problems)"; the first line
 * is cut short rather than left out. A report with no file (NULL) writes
 * the message alone, for things given on the command line.
 */
struct rfs_report {
	struct rfs_error *err; /* may be NULL: problems are only counted */
	size_t n;	       /* problems reported */
	size_t shown;	       /* of which in err's message */
	size_t used;	       /* bytes of err's message in use */
	bool nomem;	       /* an allocation failed: -ENOMEM wins */
};

void rfs_report_init(struct rfs_report *r, struct rfs_error *err);
void rfs_report_add(struct rfs_report *r, const char *file, int line,
		    int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 0 when nothing was reported, otherwise -EINVAL (or -ENOMEM) with the
 * lines, and the count of those that did not fit, in err. */
int rfs_report_finish(struct rfs_report *r);

#endif
