/*
 * catalog-ids.c - the numbers that make a mount's inodes last (see
 * catalog.h): NFS and open_by_handle_at keep (inode number, generation)
 * pairs across evictions and restarts, so neither may ever name another
 * object of the store.
 *
 * Catalog rows have AUTOINCREMENT ids, never reused, and inode numbers are
 * made of them (inode.h). The generation tells catalogs apart: a random
 * number chosen when a catalog is first opened by a mount, so a handle
 * kept from a catalog since replaced (restored, rebuilt) is stale rather
 * than another object's. Staged files in incoming/ live in memory only;
 * their ids start above every id an earlier mount of the store used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "catalog-internal.h"

/* One statement that returns one integer. */
static int one_int(sqlite3 *db, const char *sql, int64_t bind, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 1, bind);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -EIO;
}

int rfs_catalog_export_ids(struct rfs_catalog *cat, uint32_t *generation,
			   int64_t *mount)
{
	unsigned char r[4];
	int64_t g = 0, m = 0;
	int rc;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	catalog_lock(cat);
	/* Both are single statements: atomic between processes too. A
	 * generation of 0 is kept from being chosen: some NFS servers read
	 * it as "none". */
	rc = one_int(cat->db,
		     "INSERT INTO meta(key, value) VALUES('generation', ?1)"
		     " ON CONFLICT(key) DO UPDATE SET value = value"
		     " RETURNING CAST(value AS INTEGER)",
		     (int64_t)((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
			       (uint32_t)r[2] << 8 | r[3]) |
			 1,
		     &g);
	if (!rc)
		rc = one_int(cat->db,
			     "INSERT INTO meta(key, value) VALUES('mounts', ?1)"
			     " ON CONFLICT(key) DO UPDATE SET value ="
			     " CAST(value AS INTEGER) + 1"
			     " RETURNING CAST(value AS INTEGER)",
			     1, &m);
	catalog_unlock(cat);
	if (rc)
		return rc;
	*generation = (uint32_t)g;
	*mount = m;
	return 0;
}
