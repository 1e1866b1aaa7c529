/*
 * tmptree.h - a unit test's temporary folder: counting what is in it and
 * removing it, shared by the unit tests (header-only: each test is its own
 * program).
 */
#ifndef REGFS_TEST_TMPTREE_H
#define REGFS_TEST_TMPTREE_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The entries of a folder, not counting . and ..; -1 when it cannot be
 * read. */
static inline int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

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
