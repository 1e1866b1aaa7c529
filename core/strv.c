/*
 * strv.c - a growing list of strings (see strv.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

int rfs_strv_add(void *ctx, const char *s)
{
	struct rfs_strv *l = ctx;

	if (l->max && l->n == l->max)
		return -E2BIG;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	/* A name that could not be copied is not counted: no NULL in v. */
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void rfs_strv_free(struct rfs_strv *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
