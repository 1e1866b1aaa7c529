/*
 * strv.h - a growing list of strings, gathered by a callback: what the
 * listings of core (rfs_name_fn: tag lists, repository catalogs) hand
 * over one name at a time.
 */
#ifndef RFS_STRV_H
#define RFS_STRV_H

#include <stddef.h>

struct rfs_strv {
	char **v;
	size_t n, cap;
	size_t max; /* 0: no bound; past it rfs_strv_add gives -E2BIG */
};

/* Append a copy of s: an rfs_name_fn, ctx a struct rfs_strv. 0, -ENOMEM
 * or -E2BIG. */
int rfs_strv_add(void *ctx, const char *s);
/* Free the strings and the array; the list is empty again. */
void rfs_strv_free(struct rfs_strv *l);

#endif
