/*
 * credentials.c - registry credentials on disk (see credentials.h).
 *
 * Files are JSON in Docker's config.json shape, read and written with
 * jansson; "auth" values are base64 through OpenSSL. Promises:
 *  - regfs's own credentials file, and any file named as a source, is
 *    refused (-EPERM) when group or others may read it, as ssh does for
 *    keys: a secret that leaked is not used silently;
 *  - the file is replaced atomically (temporary file with mode 0600 in
 *    the same folder, fsync, rename, fsync of the folder), so a crash
 *    leaves the old file or the new one, never half of one;
 *  - no secret appears in an error message, and buffers that held one are
 *    wiped before they are freed (jansson's own copies cannot be, alas);
 *  - Docker's "credsStore" and "credHelpers" are ignored on purpose: regfs
 *    never runs helper binaries, only "auths" entries are used.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "credentials.h"
#include "files.h"

/* A credentials file larger than this is not one. */
#define CRED_FILE_MAX (1 << 20)

static void wipe_free(char *s, size_t len)
{
	if (s) {
		explicit_bzero(s, len);
		free(s);
	}
}

static void wipe_free_str(char *s)
{
	if (s)
		wipe_free(s, strlen(s));
}

int rfs_credentials_protect_process(void)
{
	return prctl(PR_SET_DUMPABLE, 0L, 0L, 0L, 0L) < 0 ? -errno : 0;
}

void rfs_credential_release(struct rfs_credential *cred)
{
	if (!cred)
		return;
	wipe_free_str(cred->username);
	wipe_free_str(cred->password);
	cred->username = NULL;
	cred->password = NULL;
}

/* ---- locations ------------------------------------------------------- */

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && home[0] == '/')
		return home;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
}

static int path_fmt(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s%s", a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int rfs_credentials_default_path(char *buf, size_t size)
{
	const char *env = getenv("REGFS_CREDENTIALS");
	const char *home;

	if (env && *env)
		return path_fmt(buf, size, env, "");
	/* The XDG spec says a relative $XDG_CONFIG_HOME is to be ignored. */
	env = getenv("XDG_CONFIG_HOME");
	if (env && env[0] == '/')
		return path_fmt(buf, size, env, "/regfs/credentials.json");
	home = home_dir();
	if (!home)
		return -ENOENT;
	return path_fmt(buf, size, home, "/.config/regfs/credentials.json");
}

static int docker_config_path(char *buf, size_t size)
{
	const char *env = getenv("DOCKER_CONFIG");
	const char *home;

	if (env && *env)
		return path_fmt(buf, size, env, "/config.json");
	home = home_dir();
	if (!home)
		return -ENOENT;
	return path_fmt(buf, size, home, "/.docker/config.json");
}

/* ---- reading --------------------------------------------------------- */

/*
 * Load path as a JSON object into *out. -ENOENT when the file is not there.
 * With private, a file group or others may read is refused (-EPERM).
 */
static int load_file(const char *path, bool private, json_t **out,
		     struct rfs_error *err)
{
	json_error_t jerr;
	struct stat st = { 0 };
	char *buf = NULL;
	size_t len = 0;
	json_t *root;
	int fd;
	int rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return rc;
		return rfs_error_set(err, rc, "cannot open '%s': %s", path,
				     strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = rfs_error_set(err, -errno, "cannot stat '%s': %s", path,
				   strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = rfs_error_set(
		    err, -EINVAL, "credentials file '%s' is not a regular file",
		    path);
		goto out;
	}
	if (private && (st.st_mode & 077)) {
		rc = rfs_error_set(err, -EPERM,
				   "credentials file '%s' is open to others "
				   "(mode %04o): refused; run chmod 600 '%s'",
				   path, (unsigned int)(st.st_mode & 07777),
				   path);
		goto out;
	}
	if (st.st_size > CRED_FILE_MAX) {
		rc = rfs_error_set(err, -EFBIG,
				   "credentials file '%s' is too large", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rfs_error_set(err, -errno, "cannot read '%s': %s",
					   path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	/* jerr.text may quote the file's content: only say where. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		rc = rfs_error_set(err, -EINVAL,
				   "credentials file '%s' is not valid JSON "
				   "(line %d, column %d)",
				   path, jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		rc = rfs_error_set(err, -EINVAL,
				   "credentials file '%s' is not a JSON object",
				   path);
		goto out;
	}
	*out = root;
	rc = 0;
out:
	wipe_free(buf, (size_t)st.st_size + 1);
	close(fd);
	return rc;
}

/*
 * base64 text -> bytes, NUL-terminated, in *out (wipe it). EVP_DecodeBlock
 * counts '=' padding as zero bytes of output: the real length is 3 bytes a
 * quantum minus one for each '='. Missing padding is added.
 */
static int b64_decode(const char *text, char **out, size_t *out_len)
{
	size_t len = strlen(text);
	size_t padded = (len + 3) / 4 * 4;
	size_t pad = 0;
	char *in;
	char *bytes;
	int n;

	if (len == 0 || len > CRED_FILE_MAX || len % 4 == 1)
		return -EINVAL;
	in = malloc(padded + 1);
	bytes = malloc(padded / 4 * 3 + 1);
	if (!in || !bytes) {
		free(in);
		free(bytes);
		return -ENOMEM;
	}
	memcpy(in, text, len);
	memset(in + len, '=', padded - len);
	in[padded] = '\0';
	while (pad < 2 && in[padded - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock((unsigned char *)bytes, (unsigned char *)in,
			    (int)padded);
	wipe_free(in, padded + 1);
	if (n < 0 || (size_t)n != padded / 4 * 3) {
		wipe_free(bytes, padded / 4 * 3 + 1);
		return -EINVAL;
	}
	*out_len = (size_t)n - pad;
	bytes[*out_len] = '\0';
	*out = bytes;
	return 0;
}

static char *b64_encode(const char *bytes, size_t len)
{
	size_t size = (len + 2) / 3 * 4 + 1;
	char *out = malloc(size);

	if (out)
		EVP_EncodeBlock((unsigned char *)out,
				(const unsigned char *)bytes, (int)len);
	return out;
}

/* "https://host:port/v1/" -> "host:port", into buf. */
static void key_host(const char *key, char *buf, size_t size)
{
	size_t len;

	if (strncasecmp(key, "https://", 8) == 0)
		key += 8;
	else if (strncasecmp(key, "http://", 7) == 0)
		key += 7;
	len = strcspn(key, "/");
	if (len >= size)
		len = 0; /* too long to be a host name: match nothing */
	memcpy(buf, key, len);
	buf[len] = '\0';
}

static bool is_docker_hub(const char *host)
{
	return strcasecmp(host, "docker.io") == 0 ||
	       strcasecmp(host, "registry-1.docker.io") == 0 ||
	       strcasecmp(host, "index.docker.io") == 0;
}

/*
 * How well an "auths" key names host: 0 not at all, 3 exactly, 2 as
 * https://host, 1 in another form (http://host, a path after the host,
 * Docker Hub's "https://index.docker.io/v1/" for its registry hosts).
 */
static int key_rank(const char *key, const char *host)
{
	char kh[256];

	if (strcasecmp(key, host) == 0)
		return 3;
	key_host(key, kh, sizeof(kh));
	if (!kh[0])
		return 0;
	if (strcasecmp(kh, host) == 0)
		return strncasecmp(key, "https://", 8) == 0 &&
			       key[8 + strlen(kh)] == '\0'
			   ? 2
			   : 1;
	if (is_docker_hub(host) && is_docker_hub(kh))
		return 1;
	return 0;
}

static int dup_pair(const char *user, size_t user_len, const char *pass,
		    struct rfs_credential *out)
{
	out->username = strndup(user, user_len);
	out->password = strdup(pass);
	if (!out->username || !out->password) {
		rfs_credential_release(out);
		return -ENOMEM;
	}
	return 0;
}

/*
 * One "auths" entry into out: 0, -ENOENT when it holds nothing usable
 * (an empty entry, as Docker writes next to a credential helper), or
 * -EINVAL. An identity token (Docker's OAuth refresh token) goes in
 * password, with the username Docker gives it, "<token>" by default.
 */
static int decode_entry(json_t *entry, struct rfs_credential *out)
{
	const char *auth = json_string_value(json_object_get(entry, "auth"));
	const char *user =
	    json_string_value(json_object_get(entry, "username"));
	const char *pass =
	    json_string_value(json_object_get(entry, "password"));
	const char *token =
	    json_string_value(json_object_get(entry, "identitytoken"));
	char *decoded = NULL;
	size_t len = 0;
	char *colon;
	int rc;

	if (!json_is_object(entry))
		return -EINVAL;
	if (auth && *auth) {
		rc = b64_decode(auth, &decoded, &len);
		if (rc < 0)
			return rc;
		colon = memchr(decoded, ':', len);
		if (!colon || strlen(decoded) != len) {
			wipe_free(decoded, len + 1);
			return -EINVAL;
		}
		*colon = '\0';
		user = decoded;
		pass = colon + 1;
	}
	if (token && *token)
		rc = dup_pair(user && *user ? user : "<token>",
			      user && *user ? strlen(user) : 7, token, out);
	else if (user && *user && pass)
		rc = dup_pair(user, strlen(user), pass, out);
	else
		rc = -ENOENT;
	if (decoded)
		wipe_free(decoded, len + 1);
	return rc;
}

/* Look host up in one file's "auths". */
static int lookup_in(const char *path, bool private, const char *host,
		     struct rfs_credential *out, struct rfs_error *err)
{
	json_t *root = NULL;
	json_t *auths;
	json_t *entry;
	const char *key;
	int rc;

	rc = load_file(path, private, &root, err);
	if (rc < 0)
		return rc;
	auths = json_object_get(root, "auths");
	if (!auths) {
		rc = -ENOENT;
		goto out;
	}
	if (!json_is_object(auths)) {
		rc = rfs_error_set(err, -EINVAL,
				   "'auths' in '%s' is not an object", path);
		goto out;
	}
	/* Best rank first; an unusable entry lets the next form answer. */
	rc = -ENOENT;
	for (int want = 3; want > 0 && rc == -ENOENT; want--) {
		json_object_foreach(auths, key, entry)
		{
			if (key_rank(key, host) != want)
				continue;
			rc = decode_entry(entry, out);
			if (rc == -EINVAL)
				rc = rfs_error_set(err, rc,
						   "malformed entry '%s' in "
						   "'%s'",
						   key, path);
			if (rc != -ENOENT)
				break;
		}
	}
out:
	json_decref(root);
	return rc;
}

int rfs_credentials_lookup(const char *host, const char *source,
			   struct rfs_credential *out, struct rfs_error *err)
{
	char path[PATH_MAX];
	int rc;

	out->username = NULL;
	out->password = NULL;
	if (!host || !*host || !source || strcmp(source, "none") == 0)
		return -ENOENT;
	if (strcmp(source, "auto") != 0) {
		rc = lookup_in(source, true, host, out, err);
		/* Still -ENOENT (anonymous access), but say why. */
		if (rc == -ENOENT && access(source, F_OK) < 0)
			rfs_error_set(
			    err, rc, "credentials file '%s' not found", source);
		return rc;
	}

	rc = rfs_credentials_default_path(path, sizeof(path));
	if (rc == 0) {
		rc = lookup_in(path, true, host, out, err);
		if (rc != -ENOENT)
			return rc;
	}
	/* Docker's file is Docker's business: its mode is not ours to
	 * police, and docker login writes it 0600 anyway. */
	rc = docker_config_path(path, sizeof(path));
	if (rc < 0)
		return -ENOENT;
	return lookup_in(path, false, host, out, err);
}

/* ---- writing --------------------------------------------------------- */

static int check_host(const char *host, struct rfs_error *err)
{
	if (!host || !*host || strlen(host) > 255)
		return rfs_error_set(err, -EINVAL, "invalid registry host");
	for (const char *s = host; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\')
			return rfs_error_set(
			    err, -EINVAL, "invalid registry host '%s'", host);
	}
	return 0;
}

/* Write root to path atomically, mode 0600. */
static int write_file(const char *path, json_t *root, struct rfs_error *err)
{
	char tmp[PATH_MAX];
	char dir[PATH_MAX];
	char *text = NULL;
	size_t len;
	size_t done = 0;
	char *slash;
	int fd = -1;
	int rc;

	if (path_fmt(tmp, sizeof(tmp), path, ".XXXXXX") < 0)
		return rfs_error_set(err, -ENAMETOOLONG, "path too long");
	rc = rfs_make_parents(path);
	if (rc)
		rc = rfs_error_set(err, rc,
				   "cannot create the folders of '%s': %s",
				   path, strerror(-rc));
	if (rc < 0)
		return rc;
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return rfs_error_set(err, -ENOMEM, "out of memory");
	len = strlen(text);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = rfs_error_set(err, -errno, "cannot create '%s': %s", tmp,
				   strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	if (fchmod(fd, 0600) < 0) {
		rc = rfs_error_set(err, -errno, "cannot chmod '%s': %s", tmp,
				   strerror(errno));
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = rfs_error_set(err, -errno, "cannot write '%s': %s",
					   tmp, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		rc = rfs_error_set(err, errno ? -errno : -EIO,
				   "cannot write '%s': %s", tmp,
				   strerror(errno ? errno : EIO));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = rfs_error_set(err, -errno, "cannot write '%s': %s", tmp,
				   strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc =
		    rfs_error_set(err, -errno, "cannot rename '%s' to '%s': %s",
				  tmp, path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	/* The rename is durable once the folder is synced. */
	memcpy(dir, path, strlen(path) + 1);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		fsync(fd);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	wipe_free(text, len);
	return rc;
}

/* The regfs file's content, or a new {} when there is none yet. Its mode
 * is not checked: the rewrite gives it 0600. */
static int load_own(const char *path, json_t **root, struct rfs_error *err)
{
	int rc = load_file(path, false, root, err);

	if (rc == -ENOENT) {
		*root = json_object();
		return *root ? 0 : rfs_error_set(err, -ENOMEM, "out of memory");
	}
	return rc;
}

int rfs_credentials_store(const char *host, const char *username,
			  const char *password, struct rfs_error *err)
{
	char path[PATH_MAX];
	json_t *root = NULL;
	json_t *auths;
	json_t *entry = NULL;
	char *pair = NULL;
	char *b64 = NULL;
	size_t pair_len = 0;
	int rc;

	rc = check_host(host, err);
	if (rc < 0)
		return rc;
	if (!username || !*username || strchr(username, ':'))
		return rfs_error_set(err, -EINVAL,
				     "a username must be non-empty and "
				     "without ':'");
	if (!password)
		return rfs_error_set(err, -EINVAL, "no password");
	rc = rfs_credentials_default_path(path, sizeof(path));
	if (rc < 0)
		return rfs_error_set(err, rc,
				     "no place for the credentials file (set "
				     "$HOME or $REGFS_CREDENTIALS)");
	rc = load_own(path, &root, err);
	if (rc < 0)
		return rc;
	auths = json_object_get(root, "auths");
	if (!auths) {
		auths = json_object();
		if (!auths || json_object_set_new(root, "auths", auths) < 0) {
			rc = rfs_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	} else if (!json_is_object(auths)) {
		rc = rfs_error_set(err, -EINVAL,
				   "'auths' in '%s' is not an object", path);
		goto out;
	}
	pair_len = strlen(username) + 1 + strlen(password);
	if (pair_len > CRED_FILE_MAX / 2) {
		rc = rfs_error_set(err, -EINVAL, "credentials too long");
		goto out;
	}
	pair = malloc(pair_len + 1);
	if (!pair) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* "user:password", built by hand: snprintf cannot be told the
	 * lengths were checked. */
	memcpy(pair, username, strlen(username));
	pair[strlen(username)] = ':';
	memcpy(pair + strlen(username) + 1, password, strlen(password) + 1);
	b64 = b64_encode(pair, pair_len);
	entry = json_object();
	if (!b64 || !entry ||
	    json_object_set_new(entry, "auth", json_string(b64)) < 0 ||
	    json_object_set(auths, host, entry) < 0) {
		rc = rfs_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = write_file(path, root, err);
out:
	json_decref(entry);
	json_decref(root);
	wipe_free(pair, pair_len + 1);
	wipe_free_str(b64);
	return rc;
}

int rfs_credentials_erase(const char *host, struct rfs_error *err)
{
	char path[PATH_MAX];
	json_t *root = NULL;
	json_t *auths;
	json_t *entry;
	const char *key;
	void *tmp;
	bool found = false;
	int rc;

	rc = check_host(host, err);
	if (rc < 0)
		return rc;
	rc = rfs_credentials_default_path(path, sizeof(path));
	if (rc < 0)
		return rfs_error_set(err, rc,
				     "no place for the credentials file (set "
				     "$HOME or $REGFS_CREDENTIALS)");
	rc = load_file(path, false, &root, err);
	if (rc == -ENOENT)
		return rfs_error_set(err, rc, "no credentials for '%s'", host);
	if (rc < 0)
		return rc;
	auths = json_object_get(root, "auths");
	if (json_is_object(auths)) {
		/* Every key that lookup would match for host goes. */
		json_object_foreach_safe(auths, tmp, key, entry)
		{
			if (key_rank(key, host) > 0) {
				json_object_del(auths, key);
				found = true;
			}
		}
	}
	if (!found) {
		rc = rfs_error_set(err, -ENOENT, "no credentials for '%s'",
				   host);
		goto out;
	}
	rc = write_file(path, root, err);
out:
	json_decref(root);
	return rc;
}
