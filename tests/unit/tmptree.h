/*
 * tmptree.h - removing a unit test's temporary folder, shared by the unit
 * tests (header-only: each test is its own program).
 */
#ifndef REGFS_TEST_TMPTREE_H
#define REGFS_TEST_TMPTREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static int tmptree_remove_one(const char *path, const struct stat *st, int type,
			      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0; /* go on past what cannot be removed */
}

/* Remove path and everything below it. */
static inline void tmptree_remove(const char *path)
{
	nftw(path, tmptree_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
