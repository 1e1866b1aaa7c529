/*
 * digest.h - SHA-256 content digests, through OpenSSL's EVP interface.
 *
 * A digest string is "sha256:" followed by 64 lowercase hex characters; the
 * bare hex is a blob's file name in the store.
 */
#ifndef RFS_DIGEST_H
#define RFS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "names.h"

#define RFS_SHA256_HEX_LEN 64

struct rfs_hasher; /* opaque streaming hash */

int rfs_hasher_new(struct rfs_hasher **out);
int rfs_hasher_update(struct rfs_hasher *h, const void *buf, size_t len);
/* Finish and write "sha256:<hex>" into out (RFS_DIGEST_STR_MAX + 1 bytes).
 * The hasher may be reset and reused afterwards. */
int rfs_hasher_final(struct rfs_hasher *h, char out[RFS_DIGEST_STR_MAX + 1]);
int rfs_hasher_reset(struct rfs_hasher *h);
void rfs_hasher_free(struct rfs_hasher **h);

/* Hash everything readable from fd starting at offset into h. */
int rfs_hasher_update_fd(struct rfs_hasher *h, int fd, uint64_t offset);
/* Hash bytes [offset, end) of the regular file fd into h. Holes (as
 * SEEK_DATA and SEEK_HOLE tell them) are hashed as the zeros they read as,
 * without reading them; cancel is asked between chunks (-EINTR when it
 * says stop). -EIO if the file ends before end. */
int rfs_hasher_update_range(struct rfs_hasher *h, int fd, uint64_t offset,
			    uint64_t end, const struct rfs_cancel *cancel);

/* Hash len bytes of memory. */
int rfs_digest_buf(const void *buf, size_t len,
		   char out[RFS_DIGEST_STR_MAX + 1]);

/* Hash a whole file descriptor from offset 0. */
int rfs_digest_fd(int fd, char out[RFS_DIGEST_STR_MAX + 1]);

bool rfs_digest_valid(const char *digest); /* "sha256:<64 hex>" */
/* The digest a file of blobs/sha256/ is named for: true and out filled
 * when name is 64 lowercase hex digits. */
bool rfs_digest_from_blob_name(const char *name,
			       char out[RFS_DIGEST_STR_MAX + 1]);
const char *rfs_digest_hex(const char *digest); /* the part after ':' */

#endif
