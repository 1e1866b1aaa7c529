/*
 * access.c - htpasswd users, password checks and push/pull rules for
 * regctl serve (see access.h for the formats and the promises).
 *
 * Both files are read whole, bounded by RFS_ACCESS_FILE_MAX, and parsed by
 * hand, line by line and strictly; the parse is all or nothing. Hashes are
 * checked for shape at load (a truncated hash can never match, so it is a
 * typo to report, not a user to lock out silently) and verified per request
 * by libcrypt's crypt_r, compared with CRYPTO_memcmp. Users are sorted by
 * name for bsearch; rules keep their file order, since the first match
 * decides.
 *
 * The password cache is a fixed array scanned under a mutex: 256 keys of
 * 32 bytes are scanned in far less time than one crypt_r, and crypt_r runs
 * outside the lock, each call with its own struct crypt_data (32 KiB) on
 * the heap.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "access.h"
#include "names.h"

#define KEY_LEN	    32 /* SHA-256 */
#define METHODS_MAX 8  /* distinct hash methods counted to pick the dummy */
/* "user:password" at most, and its padded base64. */
#define BASIC_DECODED_MAX (RFS_ACCESS_USER_MAX + 1 + RFS_ACCESS_PASSWORD_MAX)
#define BASIC_ENCODED_MAX ((BASIC_DECODED_MAX + 2) / 3 * 4)
/* htpasswd -B writes $2y$ with cost 5: the dummy when there are no users. */
#define DEFAULT_METHOD "$2y$"
#define DEFAULT_COST   5

enum verb { VERB_PUSH, VERB_PULL };
enum who { WHO_LIST, WHO_ANY, WHO_NOBODY };

/* A hash method and its cost, as crypt_gensalt_rn takes them: "$2y$" and
 * the bcrypt cost, or "$6$" and the rounds (0: the default). */
struct method {
	char prefix[8];
	unsigned long count;
};

struct user {
	char *name; /* one allocation: "name\0hash\0" */
	const char *hash;
	unsigned int line;
	struct method method;
};

struct rule {
	enum verb verb;
	enum who who;
	char *pattern;
	const char **users; /* names in rfs_access.users */
	size_t n_users;
};

struct cache_entry {
	unsigned char key[KEY_LEN];
	int64_t added; /* CLOCK_MONOTONIC, ns */
	bool used;
};

struct rfs_access {
	struct user *users; /* sorted by name */
	size_t n_users;
	struct rule *rules; /* in file order */
	size_t n_rules;
	char *dummy_hash;
	unsigned char secret[KEY_LEN]; /* keys the cache, random per load */

	pthread_mutex_t lock; /* guards what follows */
	unsigned int ttl;
	struct rfs_access_stats stats;
	struct cache_entry cache[RFS_ACCESS_CACHE_SIZE];
};

/* A file being parsed: the text, where we are, and whom to tell. */
struct reader {
	const char *path;
	char *p;
	char *end;
	unsigned int line;
	struct rfs_error *err;
};

/* ---- reading -------------------------------------------------------- */

static int bad_line(struct reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad_line(struct reader *r, const char *fmt, ...)
{
	char msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rfs_error_set(r->err, -EINVAL, "%s:%u: %s", r->path, r->line,
			     msg);
}

static void wipe_free(char *buf, size_t size)
{
	if (buf) {
		OPENSSL_cleanse(buf, size);
		free(buf);
	}
}

/* The whole file, NUL-terminated, in *out and its length in *out_len
 * (wipe_free(*out, *out_len + 1) it). */
static int read_file(const char *path, char **out, size_t *out_len,
		     struct rfs_error *err)
{
	size_t cap = RFS_ACCESS_FILE_MAX + 1;
	size_t len = 0;
	char *buf;
	ssize_t n;
	int fd;
	int rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rfs_error_set(err, -errno, "cannot open '%s': %s", path,
				     strerror(errno));
	/* One bounded buffer, not a growing one: no stale copies of hashes
	 * left around the heap. Pages never read into are never touched. */
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rfs_error_set(err, -errno, "cannot read '%s': %s",
					   path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			rc = rfs_error_set(err, -EFBIG,
					   "'%s' is larger than %u bytes", path,
					   RFS_ACCESS_FILE_MAX);
			break;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (rc < 0) {
		wipe_free(buf, len + 1);
		return rc;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The next line in *line, NUL-terminated in place without its "\n" or
 * "\r\n". Returns 1, 0 at the end, or -EINVAL for a line too long or
 * holding a control byte other than a tab. */
static int next_line(struct reader *r, char **line)
{
	char *nl;
	size_t len;

	if (r->p >= r->end)
		return 0;
	r->line++;
	nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	if (!nl)
		nl = r->end; /* the last line has no newline; *end is NUL */
	*nl = '\0';
	len = (size_t)(nl - r->p);
	if (len && r->p[len - 1] == '\r')
		r->p[--len] = '\0';
	while (len && is_blank(r->p[len - 1]))
		r->p[--len] = '\0';
	if (len > RFS_ACCESS_LINE_MAX)
		return bad_line(r, "line longer than %d bytes",
				RFS_ACCESS_LINE_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)r->p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return bad_line(r, "control byte 0x%02x in line", c);
	}
	*line = r->p;
	r->p = nl + 1;
	return 1;
}

static const char *skip_blanks(const char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

/* ---- htpasswd ------------------------------------------------------- */

/* The alphabet of crypt's hashes and salts. */
static bool is_crypt64(char c)
{
	return c == '.' || c == '/' || (c >= '0' && c <= '9') ||
	       (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static size_t crypt64_span(const char *s)
{
	size_t n = 0;

	while (is_crypt64(s[n]))
		n++;
	return n;
}

/* Why name cannot be a user, or NULL when it can. */
static const char *user_problem(const char *name, size_t len)
{
	if (len == 0)
		return "empty user name";
	if (len > RFS_ACCESS_USER_MAX)
		return "user name longer than 128 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return "control byte in user name";
		if (c == ' ')
			return "white space in user name";
		if (c == ':')
			return "':' in user name";
	}
	if (len == 1 && (name[0] == '*' || name[0] == '-'))
		return "user name '*' or '-' is reserved for rules";
	return NULL;
}

/* "$2y$05$" + 22 salt + 31 hash characters. */
static bool check_bcrypt(const char *hash, struct method *m, char *why,
			 size_t why_size)
{
	unsigned long cost;

	if (hash[2] == '\0' || strchr("aby", hash[2]) == NULL ||
	    hash[3] != '$') {
		snprintf(why, why_size,
			 "unsupported bcrypt variant (use $2y$, $2b$ or $2a$)");
		return false;
	}
	if (hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' ||
	    hash[6] != '$' || strlen(hash) != 60 ||
	    crypt64_span(hash + 7) != 53) {
		snprintf(why, why_size, "malformed bcrypt hash");
		return false;
	}
	cost = (unsigned long)(hash[4] - '0') * 10 +
	       (unsigned long)(hash[5] - '0');
	if (cost < 4 || cost > RFS_ACCESS_BCRYPT_COST_MAX) {
		snprintf(why, why_size, "bcrypt cost %lu is outside 4..%d",
			 cost, RFS_ACCESS_BCRYPT_COST_MAX);
		return false;
	}
	memcpy(m->prefix, hash, 4);
	m->prefix[4] = '\0';
	m->count = cost;
	return true;
}

/* "$5$" or "$6$", then "rounds=N$" maybe, a salt of up to 16 characters,
 * '$' and 43 (SHA-256) or 86 (SHA-512) characters. crypt_r writes rounds
 * back as it used them (raised to 1000, without leading zeros) and cuts
 * the salt at 16: a stored hash that differs there can never match. */
static bool check_sha(const char *hash, struct method *m, char *why,
		      size_t why_size)
{
	size_t want = hash[1] == '5' ? 43 : 86;
	const char *p = hash + 3;
	unsigned long rounds = 0;
	size_t n;

	if (strncmp(p, "rounds=", 7) == 0) {
		p += 7;
		for (n = 0; p[n] >= '0' && p[n] <= '9' && n < 9; n++)
			rounds = rounds * 10 + (unsigned long)(p[n] - '0');
		if (n == 0 || p[n] != '$' || p[0] == '0') {
			snprintf(why, why_size, "malformed rounds in hash");
			return false;
		}
		if (rounds < 1000 || rounds > RFS_ACCESS_SHA_ROUNDS_MAX) {
			snprintf(why, why_size,
				 "sha-crypt rounds %lu are outside 1000..%d",
				 rounds, RFS_ACCESS_SHA_ROUNDS_MAX);
			return false;
		}
		p += n + 1;
	}
	n = crypt64_span(p);
	if (n > 16 || p[n] != '$' || crypt64_span(p + n + 1) != want ||
	    p[n + 1 + want] != '\0') {
		snprintf(why, why_size, "malformed sha-crypt hash");
		return false;
	}
	memcpy(m->prefix, hash, 3);
	m->prefix[3] = '\0';
	m->count = rounds;
	return true;
}

/* True when hash is one we verify, with its method in *m; else false and
 * the reason in why. */
static bool check_hash(const char *hash, struct method *m, char *why,
		       size_t why_size)
{
	static const char use[] = "use bcrypt (htpasswd -B)";
	size_t id;

	if (hash[0] == '\0') {
		snprintf(why, why_size, "no password hash");
		return false;
	}
	if (strchr(hash, ':')) {
		snprintf(why, why_size, "more than one ':'");
		return false;
	}
	if (strncmp(hash, "$2", 2) == 0)
		return check_bcrypt(hash, m, why, why_size);
	if (strncmp(hash, "$5$", 3) == 0 || strncmp(hash, "$6$", 3) == 0)
		return check_sha(hash, m, why, why_size);
	if (strncmp(hash, "$apr1$", 6) == 0 || strncmp(hash, "$1$", 3) == 0) {
		snprintf(why, why_size, "md5 hashes (%s) are refused, %s",
			 hash[1] == 'a' ? "$apr1$" : "$1$", use);
		return false;
	}
	if (strncmp(hash, "{SHA}", 5) == 0) {
		snprintf(why, why_size, "sha-1 hashes ({SHA}) are refused, %s",
			 use);
		return false;
	}
	if (hash[0] == '$') {
		for (id = 1; id < 8 && hash[id] != '$' && hash[id] != '\0' &&
			     !is_blank(hash[id]);
		     id++)
			;
		if (hash[id] == '$')
			snprintf(why, why_size,
				 "unsupported hash method '%.*s', %s",
				 (int)id + 1, hash, use);
		else
			snprintf(why, why_size, "malformed hash, %s", use);
		return false;
	}
	snprintf(why, why_size,
		 "plain-text or des-crypt passwords are refused, %s", use);
	return false;
}

static int parse_htpasswd_line(struct rfs_access *a, struct reader *r,
			       char *line, size_t *cap)
{
	char why[160];
	struct method m = { { 0 }, 0 };
	const char *problem;
	struct user *u;
	char *colon;
	size_t ulen;
	size_t hlen;

	if (*skip_blanks(line) == '\0' || *skip_blanks(line) == '#')
		return 0;
	colon = strchr(line, ':');
	if (!colon)
		return bad_line(r, "expected 'user:hash'");
	ulen = (size_t)(colon - line);
	problem = user_problem(line, ulen);
	if (problem)
		return bad_line(r, "%s", problem);
	if (!check_hash(colon + 1, &m, why, sizeof(why)))
		return bad_line(r, "user '%.*s': %s", (int)ulen, line, why);

	if (a->n_users == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct user *grown;

		if (a->n_users >= RFS_ACCESS_USERS_MAX)
			return bad_line(r, "more than %d users",
					RFS_ACCESS_USERS_MAX);
		if (ncap > RFS_ACCESS_USERS_MAX)
			ncap = RFS_ACCESS_USERS_MAX;
		grown = realloc(a->users, ncap * sizeof(*grown));
		if (!grown)
			return rfs_error_set(r->err, -ENOMEM, "out of memory");
		a->users = grown;
		*cap = ncap;
	}
	hlen = strlen(colon + 1);
	u = &a->users[a->n_users];
	u->name = malloc(ulen + 1 + hlen + 1);
	if (!u->name)
		return rfs_error_set(r->err, -ENOMEM, "out of memory");
	memcpy(u->name, line, ulen);
	u->name[ulen] = '\0';
	memcpy(u->name + ulen + 1, colon + 1, hlen + 1);
	u->hash = u->name + ulen + 1;
	u->line = r->line;
	u->method = m;
	a->n_users++;
	return 0;
}

static int user_cmp(const void *x, const void *y)
{
	const struct user *a = x;
	const struct user *b = y;

	return strcmp(a->name, b->name);
}

static int parse_htpasswd(struct rfs_access *a, const char *path, char *text,
			  size_t len, struct rfs_error *err)
{
	struct reader r = { path, text, text + len, 0, err };
	size_t cap = 0;
	char *line;
	int rc;

	while ((rc = next_line(&r, &line)) > 0) {
		rc = parse_htpasswd_line(a, &r, line, &cap);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (a->n_users)
		qsort(a->users, a->n_users, sizeof(*a->users), user_cmp);
	for (size_t i = 1; i < a->n_users; i++) {
		const struct user *x = &a->users[i - 1];
		const struct user *y = &a->users[i];

		if (strcmp(x->name, y->name) == 0)
			return rfs_error_set(
			    err, -EINVAL,
			    "%s:%u: duplicate user '%s' (first on line %u)",
			    path, x->line > y->line ? x->line : y->line,
			    x->name, x->line < y->line ? x->line : y->line);
	}
	return 0;
}

static const struct user *find_user(const struct rfs_access *a,
				    const char *name)
{
	struct user key = { .name = (char *)name };

	if (!a->n_users)
		return NULL;
	return bsearch(&key, a->users, a->n_users, sizeof(*a->users), user_cmp);
}

/* ---- rules ---------------------------------------------------------- */

static bool is_repo_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-' || c == '/';
}

/* Why p cannot be a repository pattern, or NULL when it can. */
static const char *pattern_problem(const char *p)
{
	bool glob = false;
	const char *set = NULL; /* the '[' of the set we are in */

	for (const char *s = p; *s; s++) {
		if (*s == '[') {
			if (set)
				return "'[' inside a set";
			set = s;
			glob = true;
		} else if (*s == ']') {
			if (!set)
				return "']' without '['";
			if (s == set + 1 || (s == set + 2 && set[1] == '!'))
				return "empty set";
			set = NULL;
		} else if (*s == '!') {
			if (!set || s != set + 1)
				return "'!' is only for the start of a set";
		} else if (*s == '*' || *s == '?') {
			glob = true;
		} else if (!is_repo_char(*s)) {
			return "character that no repository name has";
		}
	}
	if (set)
		return "'[' without ']'";
	if (!glob && !rfs_name_valid_repo(p))
		return "not a valid repository name";
	return NULL;
}

#define TOKENS_MAX (RFS_ACCESS_LINE_MAX / 2 + 1)

static int parse_rule_line(struct rfs_access *a, struct reader *r,
			   const char *htpasswd_path, char *line, size_t *cap)
{
	char *tok[TOKENS_MAX];
	const char *problem;
	struct rule *rule;
	size_t n = 0;
	char *s = line;

	/* Split on blanks, up to a token that starts with '#'. */
	for (;;) {
		while (is_blank(*s))
			*s++ = '\0';
		if (*s == '\0' || *s == '#')
			break;
		if (n == TOKENS_MAX)
			return bad_line(r, "too many words");
		tok[n++] = s;
		while (*s && !is_blank(*s))
			s++;
	}
	if (n == 0)
		return 0;
	if (strcmp(tok[0], "push") && strcmp(tok[0], "pull"))
		return bad_line(r, "unknown verb '%s' (push or pull)", tok[0]);
	if (n < 2)
		return bad_line(r, "rule without a repository pattern");
	problem = pattern_problem(tok[1]);
	if (problem)
		return bad_line(r, "pattern '%s': %s", tok[1], problem);
	if (n < 3)
		return bad_line(r, "rule without users (write '-' for nobody, "
				   "'*' for any user)");
	for (size_t i = 2; i < n; i++) {
		bool special = !strcmp(tok[i], "*") || !strcmp(tok[i], "-");

		if (special && n > 3)
			return bad_line(r, "'%s' must stand alone", tok[i]);
		if (!special && !find_user(a, tok[i]))
			return bad_line(r, "unknown user '%s' (not in '%s')",
					tok[i], htpasswd_path);
	}

	if (a->n_rules == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct rule *grown;

		if (a->n_rules >= RFS_ACCESS_RULES_MAX)
			return bad_line(r, "more than %d rules",
					RFS_ACCESS_RULES_MAX);
		if (ncap > RFS_ACCESS_RULES_MAX)
			ncap = RFS_ACCESS_RULES_MAX;
		grown = realloc(a->rules, ncap * sizeof(*grown));
		if (!grown)
			return rfs_error_set(r->err, -ENOMEM, "out of memory");
		a->rules = grown;
		*cap = ncap;
	}
	rule = &a->rules[a->n_rules];
	memset(rule, 0, sizeof(*rule));
	rule->verb = strcmp(tok[0], "push") == 0 ? VERB_PUSH : VERB_PULL;
	rule->who = !strcmp(tok[2], "*")   ? WHO_ANY
		    : !strcmp(tok[2], "-") ? WHO_NOBODY
					   : WHO_LIST;
	rule->pattern = strdup(tok[1]);
	if (!rule->pattern)
		return rfs_error_set(r->err, -ENOMEM, "out of memory");
	a->n_rules++; /* owned now: freed with the rest */
	if (rule->who == WHO_LIST) {
		rule->users = calloc(n - 2, sizeof(*rule->users));
		if (!rule->users)
			return rfs_error_set(r->err, -ENOMEM, "out of memory");
		for (size_t i = 2; i < n; i++)
			rule->users[rule->n_users++] =
			    find_user(a, tok[i])->name;
	}
	return 0;
}

static int parse_rules(struct rfs_access *a, const char *path,
		       const char *htpasswd_path, char *text, size_t len,
		       struct rfs_error *err)
{
	struct reader r = { path, text, text + len, 0, err };
	size_t cap = 0;
	char *line;
	int rc;

	while ((rc = next_line(&r, &line)) > 0) {
		rc = parse_rule_line(a, &r, htpasswd_path, line, &cap);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static bool may(const struct rfs_access *a, enum verb verb, const char *user,
		const char *repo)
{
	if (!a || !repo || !rfs_name_valid_repo(repo))
		return false;
	if (user && !find_user(a, user))
		return false;
	for (size_t i = 0; i < a->n_rules; i++) {
		const struct rule *rule = &a->rules[i];

		if (rule->verb != verb || fnmatch(rule->pattern, repo, 0) != 0)
			continue;
		switch (rule->who) {
		case WHO_NOBODY: return false;
		case WHO_ANY: return user != NULL;
		case WHO_LIST:
			if (!user)
				return false;
			for (size_t j = 0; j < rule->n_users; j++)
				if (strcmp(rule->users[j], user) == 0)
					return true;
			return false;
		}
	}
	return verb == VERB_PULL || user != NULL;
}

bool rfs_access_may_push(const struct rfs_access *a, const char *user,
			 const char *repo)
{
	return may(a, VERB_PUSH, user, repo);
}

bool rfs_access_may_pull(const struct rfs_access *a, const char *user,
			 const char *repo)
{
	return may(a, VERB_PULL, user, repo);
}

/* ---- load and free -------------------------------------------------- */

/* The dummy an unknown user is checked against: a fresh hash of the method
 * and cost most users have, so that its crypt_r takes as long as theirs. */
static int make_dummy(struct rfs_access *a, struct rfs_error *err)
{
	struct method seen[METHODS_MAX];
	size_t votes[METHODS_MAX] = { 0 };
	size_t n_seen = 0;
	size_t best = 0;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *hash;
	int rc = 0;

	snprintf(seen[0].prefix, sizeof(seen[0].prefix), "%s", DEFAULT_METHOD);
	seen[0].count = DEFAULT_COST;
	for (size_t i = 0; i < a->n_users; i++) {
		const struct method *m = &a->users[i].method;
		size_t j;

		for (j = 0; j < n_seen; j++)
			if (!strcmp(seen[j].prefix, m->prefix) &&
			    seen[j].count == m->count)
				break;
		if (j == n_seen && n_seen < METHODS_MAX)
			seen[n_seen++] = *m;
		if (j < n_seen && ++votes[j] > votes[best])
			best = j;
	}
	if (!crypt_gensalt_rn(seen[best].prefix, seen[best].count, NULL, 0,
			      setting, sizeof(setting)))
		return rfs_error_set(err, -errno ? -errno : -EINVAL,
				     "cannot make a '%s' salt: %s",
				     seen[best].prefix, strerror(errno));
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	hash = crypt_r("regfs-dummy", setting, cd);
	if (!hash || hash[0] == '*')
		rc = rfs_error_set(err, -EINVAL, "crypt_r refused '%s'",
				   seen[best].prefix);
	else if (!(a->dummy_hash = strdup(hash)))
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return rc;
}

int rfs_access_load(const char *htpasswd_path, const char *rules_path,
		    struct rfs_access **out, struct rfs_error *err)
{
	struct rfs_access *a;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!htpasswd_path || !out)
		return rfs_error_set(err, -EINVAL, "no htpasswd file given");
	a = calloc(1, sizeof(*a));
	if (!a)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	rc = pthread_mutex_init(&a->lock, NULL);
	if (rc) {
		free(a);
		return rfs_error_set(err, -rc, "cannot make a mutex");
	}
	a->ttl = RFS_ACCESS_CACHE_TTL;

	rc = read_file(htpasswd_path, &text, &len, err);
	if (rc < 0)
		goto out;
	rc = parse_htpasswd(a, htpasswd_path, text, len, err);
	if (rc < 0)
		goto out;
	if (rules_path) {
		wipe_free(text, len + 1);
		text = NULL;
		rc = read_file(rules_path, &text, &len, err);
		if (rc < 0)
			goto out;
		rc = parse_rules(a, rules_path, htpasswd_path, text, len, err);
		if (rc < 0)
			goto out;
	}
	rc = make_dummy(a, err);
	if (rc < 0)
		goto out;
	if (RAND_bytes(a->secret, sizeof(a->secret)) != 1) {
		rc = rfs_error_set(err, -EIO, "no random bytes from openssl");
		goto out;
	}
	*out = a;
	a = NULL;
out:
	wipe_free(text, len + 1);
	rfs_access_free(&a);
	return rc;
}

void rfs_access_free(struct rfs_access **ap)
{
	struct rfs_access *a = ap ? *ap : NULL;

	if (!a)
		return;
	for (size_t i = 0; i < a->n_users; i++)
		wipe_free(a->users[i].name, strlen(a->users[i].name) + 1 +
						strlen(a->users[i].hash) + 1);
	free(a->users);
	for (size_t i = 0; i < a->n_rules; i++) {
		free(a->rules[i].pattern);
		free(a->rules[i].users);
	}
	free(a->rules);
	free(a->dummy_hash);
	pthread_mutex_destroy(&a->lock);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
	*ap = NULL;
}

/* ---- passwords ------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int digest_field(EVP_MD_CTX *ctx, const char *s)
{
	uint64_t len = strlen(s);

	/* Length first: no two (user, password, hash) share an encoding. */
	return EVP_DigestUpdate(ctx, &len, sizeof(len)) &&
	       EVP_DigestUpdate(ctx, s, (size_t)len);
}

/* key = SHA-256(secret, user, password, hash). */
static bool cache_key(const struct rfs_access *a, const char *user,
		      const char *password, const char *hash,
		      unsigned char key[KEY_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	bool ok;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	     EVP_DigestUpdate(ctx, a->secret, sizeof(a->secret)) &&
	     digest_field(ctx, user) && digest_field(ctx, password) &&
	     digest_field(ctx, hash) && EVP_DigestFinal_ex(ctx, key, &len) &&
	     len == KEY_LEN;
	EVP_MD_CTX_free(ctx); /* cleanses its state */
	return ok;
}

static bool fresh(const struct rfs_access *a, const struct cache_entry *e,
		  int64_t now)
{
	return e->used && now - e->added < (int64_t)a->ttl * 1000000000;
}

/* Called with a->lock held. */
static bool cache_find(const struct rfs_access *a,
		       const unsigned char key[KEY_LEN], int64_t now)
{
	bool found = false;

	for (size_t i = 0; i < RFS_ACCESS_CACHE_SIZE; i++)
		if (fresh(a, &a->cache[i], now) &&
		    CRYPTO_memcmp(a->cache[i].key, key, KEY_LEN) == 0)
			found = true;
	return found;
}

/* Called with a->lock held: take a free or expired slot, else the
 * oldest. */
static void cache_insert(struct rfs_access *a, const unsigned char key[KEY_LEN],
			 int64_t now)
{
	struct cache_entry *victim = NULL;

	if (a->ttl == 0 || cache_find(a, key, now))
		return;
	for (size_t i = 0; i < RFS_ACCESS_CACHE_SIZE; i++) {
		struct cache_entry *e = &a->cache[i];

		if (!fresh(a, e, now)) {
			victim = e;
			break;
		}
		if (!victim || e->added < victim->added)
			victim = e;
	}
	memcpy(victim->key, key, KEY_LEN);
	victim->added = now;
	victim->used = true;
}

int rfs_access_check_password(struct rfs_access *a, const char *user,
			      const char *password)
{
	unsigned char key[KEY_LEN];
	const struct user *u = NULL;
	struct crypt_data *cd;
	const char *hash;
	const char *got;
	bool keyed = false;
	bool ok = false;
	size_t len;

	if (!a)
		return -EACCES;
	if (user && password &&
	    strnlen(user, RFS_ACCESS_USER_MAX + 1) <= RFS_ACCESS_USER_MAX &&
	    strnlen(password, RFS_ACCESS_PASSWORD_MAX + 1) <=
		RFS_ACCESS_PASSWORD_MAX) {
		u = find_user(a, user);
		/* An unknown user runs the same key and crypt_r as a known
		 * one, against the dummy, and fails at the end. */
		hash = u ? u->hash : a->dummy_hash;
		keyed = cache_key(a, user, password, hash, key);
	} else {
		pthread_mutex_lock(&a->lock);
		a->stats.checks++;
		a->stats.failures++;
		pthread_mutex_unlock(&a->lock);
		return -EACCES;
	}

	pthread_mutex_lock(&a->lock);
	a->stats.checks++;
	/* Scanned for unknown users too, to take the same time. */
	if (keyed && cache_find(a, key, now_ns()) && u) {
		a->stats.cache_hits++;
		pthread_mutex_unlock(&a->lock);
		OPENSSL_cleanse(key, sizeof(key));
		return 0;
	}
	a->stats.crypt_runs++;
	pthread_mutex_unlock(&a->lock);

	cd = calloc(1, sizeof(*cd));
	if (!cd) {
		OPENSSL_cleanse(key, sizeof(key));
		return -ENOMEM;
	}
	got = crypt_r(password, hash, cd);
	len = strlen(hash);
	if (got && got[0] != '*' && strlen(got) == len &&
	    CRYPTO_memcmp(got, hash, len) == 0)
		ok = u != NULL;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);

	pthread_mutex_lock(&a->lock);
	if (ok && keyed)
		cache_insert(a, key, now_ns());
	if (!ok)
		a->stats.failures++;
	pthread_mutex_unlock(&a->lock);
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -EACCES;
}

void rfs_access_set_cache_ttl(struct rfs_access *a, unsigned int seconds)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->ttl = seconds;
	if (seconds == 0)
		OPENSSL_cleanse(a->cache, sizeof(a->cache));
	pthread_mutex_unlock(&a->lock);
}

void rfs_access_get_stats(struct rfs_access *a, struct rfs_access_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	*out = a->stats;
	pthread_mutex_unlock(&a->lock);
}

/* ---- Basic credentials ---------------------------------------------- */

static bool is_base64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int rfs_access_parse_basic(const char *header, char *user, size_t user_size,
			   char *password, size_t password_size)
{
	unsigned char buf[BASIC_ENCODED_MAX / 4 * 3 + 1];
	const unsigned char *colon;
	const char *b64;
	size_t n = 0;
	size_t pad = 0;
	size_t len;
	size_t ulen;
	int rc = -EINVAL;
	int got;

	if (user && user_size)
		user[0] = '\0';
	if (password && password_size)
		password[0] = '\0';
	if (!header || !user || !password || !user_size || !password_size)
		return -EINVAL;

	header = skip_blanks(header);
	if (strncasecmp(header, "basic", 5) != 0 || !is_blank(header[5]))
		return -EINVAL;
	b64 = skip_blanks(header + 5);
	while (n <= BASIC_ENCODED_MAX && (is_base64(b64[n]) || b64[n] == '='))
		n++;
	if (n == 0 || n > BASIC_ENCODED_MAX || n % 4 != 0 ||
	    *skip_blanks(b64 + n) != '\0')
		return -EINVAL;
	/* EVP_DecodeBlock decodes '=' as zero bytes and counts them: only
	 * trailing padding, at most two, and we take it off ourselves. */
	while (pad < n && b64[n - 1 - pad] == '=')
		pad++;
	if (pad > 2 || memchr(b64, '=', n - pad))
		return -EINVAL;
	got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3)
		goto out;
	len = (size_t)got - pad;
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] == 0x7f)
			goto out;
	colon = memchr(buf, ':', len);
	if (!colon)
		goto out;
	ulen = (size_t)(colon - buf);
	if (ulen == 0 || ulen >= user_size || len - ulen - 1 >= password_size)
		goto out;
	memcpy(user, buf, ulen);
	user[ulen] = '\0';
	memcpy(password, colon + 1, len - ulen - 1);
	password[len - ulen - 1] = '\0';
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int rfs_access_authenticate(struct rfs_access *a, const char *header,
			    char *user, size_t user_size)
{
	char password[RFS_ACCESS_PASSWORD_MAX + 1];
	int rc;

	rc = rfs_access_parse_basic(header, user, user_size, password,
				    sizeof(password));
	if (rc == 0)
		rc = rfs_access_check_password(a, user, password);
	OPENSSL_cleanse(password, sizeof(password));
	if (rc < 0 && user && user_size)
		user[0] = '\0';
	return rc;
}
