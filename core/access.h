/*
 * access.h - who may use the registry server: htpasswd users, their
 * passwords, and per-repository push and pull rules (regctl serve).
 *
 * rfs_access_load() reads two files, all or nothing, and refuses anything
 * it does not understand with "FILE:LINE: message", so that a typo never
 * silently locks people out or lets them in:
 *
 * The htpasswd file, Apache's format: one "user:hash" a line; blank lines
 * and lines starting with '#' are skipped. Accepted hashes are those
 * libcrypt's crypt_r verifies and that are safe to run per request:
 * bcrypt ($2y$, what `htpasswd -B` writes, $2b$, $2a$; cost 4 to 17, as
 * `htpasswd -C` allows) and SHA-crypt ($5$, $6$; at most 10000000 rounds).
 * MD5 ($apr1$, $1$), SHA-1 ({SHA}), DES crypt and plain text are refused,
 * as are truncated or malformed hashes (they could never match). A user
 * name is 1 to RFS_ACCESS_USER_MAX bytes without ':', white space or
 * control bytes, and is not "*" or "-" (which the rules file reserves).
 * A user may appear once.
 *
 * The rules file (optional) has one rule a line, as in the example after
 * this comment (in line comments, since a glob such as prod/<star> would
 * open a comment inside this one).
 */
//   # verb  repository-pattern  users...
//   push    prod/*              release
//   push    team/*              ci release
//   push    archive/*           -
//   push    *                   *
//   pull    secret/*            release
/*
 * - verb is "push" or "pull"; the two are independent: a user who pushes
 *   to a repository also needs pull there to read it back (clients check
 *   for existing blobs with HEAD, a pull, before they upload).
 * - repository-pattern is an fnmatch(3) glob over the whole repository
 *   name, without FNM_PATHNAME: a star matches any run of characters,
 *   '/' included, so team/<star> covers team/app and team/a/b, and a lone
 *   star every repository; '?' is one character, "[a-z]" and "[!x]" are
 *   sets. A pattern uses only the characters of repository names
 *   ([a-z0-9._/-]) and the glob characters (star, "?[]!"); one without a
 *   glob character must be a valid repository name.
 * - users: names from the htpasswd file (each must be there), or "*"
 *   alone for any authenticated user, or "-" alone for nobody.
 * - '#' starts a comment, at the start of a line or at the start of a
 *   token after the rule; blank lines are skipped; tokens are separated
 *   by spaces or tabs.
 *
 * For a verb, the first rule of that verb whose pattern matches the
 * repository decides. When none matches, any authenticated user may push
 * and anyone may pull (whether pulls need a login at all is the server's
 * choice, --auth-pull). An anonymous caller (user NULL) may never push
 * and may pull only repositories no pull rule matches: a pull rule, even
 * "*", means a login is needed there.
 *
 * Threads: after rfs_access_load() returns, an rfs_access is read-only
 * except for the cache of recent successful password checks, which has
 * its own mutex; every function here may be called from many threads at
 * once. To reload the files, load a new rfs_access and swap it in; the
 * old one may be freed once no thread uses it.
 *
 * Passwords: bcrypt costs tens of milliseconds a check and clients send
 * Basic credentials on every request, so a successful check is remembered
 * for RFS_ACCESS_CACHE_TTL seconds (at most RFS_ACCESS_CACHE_SIZE entries,
 * the oldest evicted first). An entry is a SHA-256 of a random per-load
 * secret, the user, the password and the user's stored hash: a changed
 * hash misses, and the password itself is never kept. An unknown user
 * costs the same crypt_r run as a wrong password, against a dummy hash of
 * the method and cost most users have.
 */
#ifndef RFS_ACCESS_H
#define RFS_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define RFS_ACCESS_USER_MAX	   128	/* bytes of a user name, NUL excluded */
#define RFS_ACCESS_PASSWORD_MAX	   512	/* bytes of a password, NUL excluded */
#define RFS_ACCESS_LINE_MAX	   1024 /* bytes of a line of either file */
#define RFS_ACCESS_USERS_MAX	   10000
#define RFS_ACCESS_RULES_MAX	   10000
#define RFS_ACCESS_FILE_MAX	   (8u << 20) /* bytes of either file */
#define RFS_ACCESS_CACHE_SIZE	   256
#define RFS_ACCESS_CACHE_TTL	   300 /* seconds */
#define RFS_ACCESS_BCRYPT_COST_MAX 17
#define RFS_ACCESS_SHA_ROUNDS_MAX  10000000

struct rfs_access; /* opaque: users, rules and the password cache */

/* Counters since load, for /metrics and for tests. */
struct rfs_access_stats {
	uint64_t checks;     /* rfs_access_check_password() calls */
	uint64_t crypt_runs; /* crypt_r runs: cache misses and unknown users */
	uint64_t cache_hits;
	uint64_t failures; /* checks answered -EACCES */
};

/* Load htpasswd_path and, unless rules_path is NULL, the rules file (see
 * above). Returns 0 and *out, or -EINVAL with "FILE:LINE: message" in err
 * for anything not understood, -ENOENT/-EACCES/... when a file cannot be
 * read, -EFBIG when one is larger than RFS_ACCESS_FILE_MAX, -ENOMEM. On
 * error *out is left as it was. */
int rfs_access_load(const char *htpasswd_path, const char *rules_path,
		    struct rfs_access **out, struct rfs_error *err);

/* Free and clear *a (wiping its cache). Accepts NULL and *a == NULL. */
void rfs_access_free(struct rfs_access **a);

/* Returns 0 when user exists and password is theirs, -EACCES otherwise
 * (unknown user, wrong password, NULL or over-long arguments), -ENOMEM
 * when the crypt_r work area cannot be allocated (not a verdict: answer
 * 500, not 401). */
int rfs_access_check_password(struct rfs_access *a, const char *user,
			      const char *password);

/* May user (authenticated, or NULL for an anonymous caller) push to, or
 * pull from, repository repo? False for a user not in the htpasswd file
 * and for an invalid repository name. */
bool rfs_access_may_push(const struct rfs_access *a, const char *user,
			 const char *repo);
bool rfs_access_may_pull(const struct rfs_access *a, const char *user,
			 const char *repo);

/* Parse an HTTP Authorization header value "Basic <base64(user:password)>"
 * (scheme case-insensitive, padded standard base64, RFC 7617) into user
 * and password, NUL-terminated. Returns 0, or -EINVAL when the header is
 * not Basic, the base64 is malformed, there is no ':', the user is empty,
 * either part holds a control byte, or a part does not fit its buffer;
 * on error both buffers hold "". Pure: no rfs_access needed. Wipe the
 * password when done. */
int rfs_access_parse_basic(const char *header, char *user, size_t user_size,
			   char *password, size_t password_size);

/* Parse header and check its credentials in one call, so the password
 * never leaves core: 0 and the user name in user (user_size bytes, at
 * least RFS_ACCESS_USER_MAX + 1 to hold any user), -EINVAL when the header
 * is malformed or not Basic, else as rfs_access_check_password(). On
 * error user holds "". */
int rfs_access_authenticate(struct rfs_access *a, const char *header,
			    char *user, size_t user_size);

/* Cache lifetime in seconds (RFS_ACCESS_CACHE_TTL after load); 0 turns
 * the cache off and forgets what it holds. */
void rfs_access_set_cache_ttl(struct rfs_access *a, unsigned int seconds);

void rfs_access_get_stats(struct rfs_access *a, struct rfs_access_stats *out);

#endif
