/*
 * digest.c - SHA-256 through OpenSSL EVP.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "digest.h"

struct rfs_hasher {
	EVP_MD_CTX *ctx;
};

/* Reading files to hash them goes in chunks this large. */
#define HASH_CHUNK (1 << 20)

int rfs_hasher_new(struct rfs_hasher **out)
{
	struct rfs_hasher *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		rfs_hasher_free(&h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

int rfs_hasher_update(struct rfs_hasher *h, const void *buf, size_t len)
{
	return EVP_DigestUpdate(h->ctx, buf, len) == 1 ? 0 : -EIO;
}

int rfs_hasher_final(struct rfs_hasher *h, char out[RFS_DIGEST_STR_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *p;

	if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32)
		return -EIO;
	p = stpcpy(out, "sha256:");
	for (unsigned int i = 0; i < len; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	*p = '\0';
	return rfs_hasher_reset(h);
}

int rfs_hasher_reset(struct rfs_hasher *h)
{
	return EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
}

void rfs_hasher_free(struct rfs_hasher **h)
{
	if (!h || !*h)
		return;
	EVP_MD_CTX_free((*h)->ctx);
	free(*h);
	*h = NULL;
}

int rfs_hasher_update_fd(struct rfs_hasher *h, int fd, uint64_t offset)
{
	char *buf = malloc(HASH_CHUNK);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = pread(fd, buf, HASH_CHUNK, (off_t)offset);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = rfs_hasher_update(h, buf, (size_t)n);
		if (rc)
			break;
		offset += (uint64_t)n;
	}
	free(buf);
	return rc;
}

/* What a hole reads as: fed to the hash instead of reading it. */
static const unsigned char zeros[HASH_CHUNK];

/* Hash len zero bytes, asking cancel every chunk. */
static int hash_zeros(struct rfs_hasher *h, uint64_t len,
		      const struct rfs_cancel *cancel)
{
	while (len > 0) {
		size_t n = len < HASH_CHUNK ? (size_t)len : HASH_CHUNK;
		int rc;

		if (rfs_cancelled(cancel))
			return -EINTR;
		rc = rfs_hasher_update(h, zeros, n);
		if (rc)
			return rc;
		len -= n;
	}
	return 0;
}

/* Hash [offset, end) read from fd, asking cancel every chunk. */
static int hash_read(struct rfs_hasher *h, int fd, uint64_t offset,
		     uint64_t end, char *buf, const struct rfs_cancel *cancel)
{
	while (offset < end) {
		size_t want = end - offset < HASH_CHUNK ? (size_t)(end - offset)
							: HASH_CHUNK;
		ssize_t n;
		int rc;

		if (rfs_cancelled(cancel))
			return -EINTR;
		n = pread(fd, buf, want, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shorter than its size */
		rc = rfs_hasher_update(h, buf, (size_t)n);
		if (rc)
			return rc;
		offset += (uint64_t)n;
	}
	return 0;
}

int rfs_hasher_update_range(struct rfs_hasher *h, int fd, uint64_t offset,
			    uint64_t end, const struct rfs_cancel *cancel)
{
	char *buf = malloc(HASH_CHUNK);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while (!rc && offset < end) {
		off_t data = lseek(fd, (off_t)offset, SEEK_DATA);
		off_t hole;

		if (data < 0 && errno == ENXIO) {
			/* Nothing but a hole up to the end of the file. */
			rc = hash_zeros(h, end - offset, cancel);
			break;
		}
		if (data < 0) {
			/* No hole knowledge here: read it all. */
			rc = hash_read(h, fd, offset, end, buf, cancel);
			break;
		}
		if ((uint64_t)data > end)
			data = (off_t)end;
		rc = hash_zeros(h, (uint64_t)data - offset, cancel);
		offset = (uint64_t)data;
		if (rc || offset >= end)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole <= data || (uint64_t)hole > end)
			hole = (off_t)end;
		rc = hash_read(h, fd, offset, (uint64_t)hole, buf, cancel);
		offset = (uint64_t)hole;
	}
	free(buf);
	return rc;
}

int rfs_digest_fd(int fd, char out[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_hasher *h = NULL;
	int rc = rfs_hasher_new(&h);

	if (rc)
		return rc;
	rc = rfs_hasher_update_fd(h, fd, 0);
	if (!rc)
		rc = rfs_hasher_final(h, out);
	rfs_hasher_free(&h);
	return rc;
}

bool rfs_digest_valid(const char *digest)
{
	if (strncmp(digest, "sha256:", 7) != 0)
		return false;
	digest += 7;
	for (int i = 0; i < RFS_SHA256_HEX_LEN; i++) {
		char c = digest[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return digest[RFS_SHA256_HEX_LEN] == '\0';
}

const char *rfs_digest_hex(const char *digest)
{
	const char *colon = strchr(digest, ':');

	return colon ? colon + 1 : digest;
}

bool rfs_digest_from_blob_name(const char *name,
			       char out[RFS_DIGEST_STR_MAX + 1])
{
	if (strlen(name) != RFS_SHA256_HEX_LEN)
		return false;
	memcpy(out, "sha256:", 7);
	memcpy(out + 7, name, RFS_SHA256_HEX_LEN + 1);
	return rfs_digest_valid(out);
}

int rfs_digest_buf(const void *buf, size_t len,
		   char out[RFS_DIGEST_STR_MAX + 1])
{
	struct rfs_hasher *h = NULL;
	int rc = rfs_hasher_new(&h);

	if (!rc)
		rc = rfs_hasher_update(h, buf, len);
	if (!rc)
		rc = rfs_hasher_final(h, out);
	rfs_hasher_free(&h);
	return rc;
}
