/*
 * upstream-auth.c - authentication for the upstream client (see
 * upstream-internal.h): credentials, the token cache, WWW-Authenticate
 * challenges and the bearer-token flow.
 *
 * - Auth. A call starts anonymous, unless this upstream already asked for
 *   basic auth (then the credentials go at once) or a token for the call's
 *   scope ("repository:<repo>:pull", ":pull,push" to push, "" for /v2/) is
 *   cached. A 401 Basic challenge is answered with cfg->username and
 *   cfg->password when they are given, else rfs_credentials_lookup(
 *   host[:port]); a 401 Bearer challenge with a token from the realm (GET
 *   with service= and scope=, basic credentials when there are some). The
 *   scope asked is the call's own, plus what the challenge names that it
 *   does not cover: Distribution asks a mount for "repository:<to>:pull,
 *   push repository:<from>:pull" in no fixed order (nor of the actions),
 *   and a token is cached under the call's spelling. Cancelling a session
 *   takes the delete action, a token of its own. Tokens are cached per
 *   scope for expires_in (60 s when absent, a day at most), less a tenth
 *   of it (at most 30 s). A token refused (401 or 403) is dropped; a
 *   cached one is fetched again once, a fresh one is final. Docker's
 *   OAuth2 identity tokens are not spoken. Passwords and tokens never
 *   reach a message.
 * - The realm is the upstream's word, so it is not trusted with more than
 *   the upstream itself (issue 15): an https upstream's realm must be
 *   https (plain_http or not); the credentials go to a realm over https,
 *   or to one on the upstream's own scheme, host and port, and to a plain
 *   http realm elsewhere (another host or port) only with
 *   plain_realm_credentials. Refused, the call fails with EACCES and says
 *   so, rather than ask for a token anonymously and fail later for a
 *   reason nobody can see; without credentials the token is asked
 *   anonymously wherever the realm is. libcurl sends them to the realm's
 *   host only, never along a redirect.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "text.h"
#include "upstream-internal.h"

/* The longest a token is cached, in seconds, whatever its expires_in. */
#define TOKEN_TTL_MAX (24 * 3600)

/* ---- the token cache ---- */

static void bearer_release(struct bearer *b)
{
	free(b->realm);
	free(b->service);
	free(b->scope);
	memset(b, 0, sizeof(*b));
}

void upstream_token_free(struct token *t)
{
	if (t) {
		bearer_release(&t->b);
		upstream_free_secret(t->value);
		free(t);
	}
}

static struct token *token_dup(const struct token *t)
{
	struct token *copy = calloc(1, sizeof(*copy));

	if (!copy)
		return NULL;
	copy->b.realm = strdup(t->b.realm);
	copy->b.service = strdup(t->b.service);
	copy->b.scope = strdup(t->b.scope);
	copy->value = strdup(t->value);
	copy->expires = t->expires;
	if (!copy->b.realm || !copy->b.service || !copy->b.scope ||
	    !copy->value) {
		upstream_token_free(copy);
		return NULL;
	}
	return copy;
}

static struct token *token_find(struct rfs_upstream *up, const char *scope)
{
	struct token **pp, *copy = NULL;
	int64_t now = upstream_now_ms();

	pthread_mutex_lock(&up->lock);
	pp = &up->tokens;
	while (*pp) {
		struct token *t = *pp;

		if (t->expires <= now) {
			*pp = t->next;
			upstream_token_free(t);
			continue;
		}
		if (!strcmp(t->b.scope, scope)) {
			copy = token_dup(t);
			break;
		}
		pp = &t->next;
	}
	pthread_mutex_unlock(&up->lock);
	return copy;
}

/* Drop the cached token for scope if it is still value. */
static void token_drop(struct rfs_upstream *up, const char *scope,
		       const char *value)
{
	pthread_mutex_lock(&up->lock);
	for (struct token **pp = &up->tokens; *pp; pp = &(*pp)->next) {
		struct token *t = *pp;

		if (!strcmp(t->b.scope, scope) && !strcmp(t->value, value)) {
			*pp = t->next;
			upstream_token_free(t);
			break;
		}
	}
	pthread_mutex_unlock(&up->lock);
}

static void token_store(struct rfs_upstream *up, const struct token *tok)
{
	struct token *copy = token_dup(tok);

	if (!copy)
		return; /* not cached: the next call fetches again */
	pthread_mutex_lock(&up->lock);
	for (struct token **pp = &up->tokens; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->b.scope, tok->b.scope)) {
			struct token *old = *pp;

			*pp = old->next;
			upstream_token_free(old);
			break;
		}
	}
	copy->next = up->tokens;
	up->tokens = copy;
	pthread_mutex_unlock(&up->lock);
}

/* The credentials for this upstream: the ones given outright, else those
 * cfg->credentials finds for our host. */
static int credentials_get(struct rfs_upstream *up, struct rfs_credential *out,
			   struct rfs_error *err)
{
	if (!up->cfg.username)
		return rfs_credentials_lookup(up->host, up->cfg.credentials,
					      out, err);
	out->username = strdup(up->cfg.username);
	out->password = strdup(up->cfg.password ? up->cfg.password : "");
	if (!out->username || !out->password) {
		rfs_credential_release(out);
		return rfs_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- the challenge ---- */

/* Read one auth-param value (token or quoted-string) at *p. */
static char *param_value(const char **p)
{
	const char *s = *p;
	char *out, *o;

	out = malloc(strlen(s) + 1);
	if (!out)
		return NULL;
	o = out;
	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1])
				s++;
			*o++ = *s++;
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && *s != ',' && !isspace((unsigned char)*s))
			*o++ = *s++;
	}
	*o = '\0';
	*p = s;
	return out;
}

/* realm="...",service="...",scope="..." (after "Bearer "). Returns 0 or
 * -ENOMEM; a challenge without a realm leaves b->realm NULL. */
static int parse_challenge(const char *v, struct bearer *b)
{
	const char *p = v;

	while (*p) {
		const char *key;
		size_t klen;
		char *val, **slot = NULL;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		key = p;
		while (*p && *p != '=' && *p != ',' &&
		       !isspace((unsigned char)*p))
			p++;
		klen = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=')
			continue;
		p++;
		while (isspace((unsigned char)*p))
			p++;
		val = param_value(&p);
		if (!val)
			return -ENOMEM;
		if (klen == 5 && !strncasecmp(key, "realm", 5))
			slot = &b->realm;
		else if (klen == 7 && !strncasecmp(key, "service", 7))
			slot = &b->service;
		else if (klen == 5 && !strncasecmp(key, "scope", 5))
			slot = &b->scope;
		if (slot) {
			free(*slot);
			*slot = val;
		} else {
			free(val);
		}
	}
	if (!b->service)
		b->service = strdup("");
	if (!b->scope)
		b->scope = strdup("");
	return b->service && b->scope ? 0 : -ENOMEM;
}

static int fetch_token(struct call *c, const struct bearer *b,
		       struct rfs_error *err);

/* Is action (n bytes) in the comma-separated list [p, end)? */
static bool has_action(const char *p, const char *end, const char *action,
		       size_t n)
{
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;

		if (((size_t)(stop - p) == n && !memcmp(p, action, n)) ||
		    (stop - p == 1 && *p == '*'))
			return true;
		p = stop + 1;
	}
	return false;
}

/* Does scope item a ("type:name:actions", the name may hold ':') grant
 * all that item b asks for? */
static bool scope_covers(const char *a, size_t an, const char *b, size_t bn)
{
	const char *a1 = memchr(a, ':', an), *al = memrchr(a, ':', an);
	const char *b1 = memchr(b, ':', bn), *bl = memrchr(b, ':', bn);
	const char *p, *end = b + bn;

	if (!a1 || !b1 || a1 == al || b1 == bl)
		return an == bn && !memcmp(a, b, an);
	if (al - a != bl - b || memcmp(a, b, (size_t)(al - a)))
		return false;
	for (p = bl + 1; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;

		if (stop > p &&
		    !has_action(al + 1, a + an, p, (size_t)(stop - p)))
			return false;
		p = stop + 1;
	}
	return true;
}

/* The scope to ask a token for: ours (what the call needs, in a stable
 * spelling the cache knows it by) and whatever the challenge asks that
 * ours does not cover. Distribution lists a mount's two repositories, and
 * each one's actions, in no fixed order. NULL when out of memory. */
static char *merge_scope(const char *ours, const char *theirs)
{
	size_t olen = strlen(ours), n = olen;
	char *out = malloc(olen + strlen(theirs) + 2);

	if (!out)
		return NULL;
	memcpy(out, ours, olen + 1);
	for (const char *t = theirs; *t;) {
		size_t tn = strcspn(t, " ");
		bool covered = false;

		for (const char *o = ours; tn && *o && !covered;) {
			size_t on = strcspn(o, " ");

			covered = on && scope_covers(o, on, t, tn);
			o += on;
			o += strspn(o, " ");
		}
		if (tn && !covered) {
			if (n)
				out[n++] = ' ';
			memcpy(out + n, t, tn);
			n += tn;
			out[n] = '\0';
		}
		t += tn;
		t += strspn(t, " ");
	}
	return out;
}

/* A 401 or 403: find what to send next time, or give up. */
int upstream_on_denied(struct call *c, long status, struct rfs_error *err)
{
	struct bearer ch = { 0 };
	bool basic = false, bearer = false;
	size_t n = upstream_header_count(c->curl, "WWW-Authenticate");
	int rc = 0;

	if (!c->use_auth) {
		char code[200];

		/* What the registry says, where it says why ("'ci' may not
		 * push to 'prod/app'"), else what we know. */
		upstream_error_code(c, true, code, sizeof(code));
		return upstream_fail(c, err, -EACCES, "%ld %s%s%s", status,
				     upstream_http_text(status),
				     c->auth == AUTH_BASIC
					 ? " (credentials refused)"
					 : " (no credentials)",
				     code);
	}
	for (size_t i = 0; i < n && !bearer; i++) {
		const char *v =
		    upstream_get_header_at(c->curl, "WWW-Authenticate", i);

		if (!v)
			continue;
		if (!strncasecmp(v, "Bearer ", 7)) {
			bearer_release(&ch);
			rc = parse_challenge(v + 7, &ch);
			if (rc < 0)
				goto out;
			bearer = ch.realm != NULL;
		} else if (!strncasecmp(v, "Basic", 5)) {
			basic = true;
		}
	}
	if (bearer && c->scope && *c->scope) {
		char *scope = merge_scope(c->scope, ch.scope);

		if (!scope) {
			rc = upstream_fail(c, err, -ENOMEM, "out of memory");
			goto out;
		}
		free(ch.scope);
		ch.scope = scope;
	}
	if (c->auth == AUTH_BEARER) {
		struct bearer again;

		token_drop(c->up, c->tok->b.scope, c->tok->value);
		if (c->tok_fresh) {
			rc = upstream_fail(c, err, -EACCES,
					   "%ld %s (token refused)", status,
					   upstream_http_text(status));
			goto out;
		}
		/* A cached token refused: fetch a fresh one, once. */
		again = bearer ? ch : c->tok->b;
		rc = fetch_token(c, &again, err);
		goto out;
	}
	if (c->auth == AUTH_BASIC || status == 403 || (!basic && !bearer)) {
		char code[200];

		/* The registry's reason too (a seal hook's refusal). */
		upstream_error_code(c, true, code, sizeof(code));
		rc = upstream_fail(
		    c, err, -EACCES, "%ld %s%s%s", status,
		    upstream_http_text(status),
		    c->auth == AUTH_BASIC ? " (credentials refused)" : "",
		    code);
		goto out;
	}
	if (bearer) {
		struct token *t = token_find(c->up, ch.scope);

		if (t) {
			upstream_token_free(c->tok);
			c->tok = t;
			c->tok_fresh = false;
			c->auth = AUTH_BEARER;
		} else {
			rc = fetch_token(c, &ch, err);
		}
		goto out;
	}
	/* Basic. */
	{
		struct rfs_error cerr = { 0 };

		rc = credentials_get(c->up, &c->cred, &cerr);
		if (rc == -ENOENT) {
			rc = upstream_fail(
			    c, err, -EACCES, "%ld %s (no credentials for '%s')",
			    status, upstream_http_text(status), c->up->host);
		} else if (rc < 0) {
			rc = upstream_fail(
			    c, err, rc, "credentials for '%s': %s", c->up->host,
			    rfs_error_message(&cerr, rc));
		} else {
			c->auth = AUTH_BASIC;
		}
	}
out:
	bearer_release(&ch);
	return rc;
}

/* Start the call's auth from what the upstream has taught us. */
void upstream_auth_start(struct call *c)
{
	if (c->auth != AUTH_NONE)
		return;
	c->tok = token_find(c->up, c->scope);
	if (c->tok) {
		c->auth = AUTH_BEARER;
		c->tok_fresh = false;
	} else if (__atomic_load_n(&c->up->basic, __ATOMIC_RELAXED) &&
		   credentials_get(c->up, &c->cred, NULL) == 0) {
		c->auth = AUTH_BASIC;
	}
}

/* ---- bearer tokens ---- */

/* The scheme, host and port (the scheme's default when none is given) of
 * url into origin ("https://host:443"), lowercase. 0, or -EINVAL when url
 * is not a URL libcurl reads. */
static int url_origin(const char *url, char *origin, size_t size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
		CURLUE_OK &&
	    snprintf(origin, size, "%s://%s:%s", scheme, host, port) <
		(int)size) {
		for (char *o = origin; *o; o++)
			*o = (char)tolower((unsigned char)*o);
		rc = 0;
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

/* May a token be asked of realm, and may the credentials go with it
 * (*creds_ok)? See the head of this file. 0, or a negative errno with err
 * set (through t, the token call). */
static int realm_check(struct rfs_upstream *up, const char *realm,
		       bool *creds_ok, struct call *t, struct rfs_error *err)
{
	char ours[HOST_MAX + 32], theirs[URL_MAX + 32];
	char shown[RFS_TEXT_NAME_BUF];
	bool https = !strncasecmp(realm, "https://", 8);
	bool http = !strncasecmp(realm, "http://", 7);

	*creds_ok = false;
	if (!https && !(http && up->plain_http))
		return upstream_fail(t, err, -EPROTO,
				     "the token realm '%s' is not https and "
				     "plain http is not allowed here",
				     rfs_text_name(shown, realm));
	if (http && strncasecmp(up->base, "http://", 7))
		return upstream_fail(t, err, -EPROTO,
				     "the token realm '%s' is plain http for "
				     "an https upstream: refused",
				     rfs_text_name(shown, realm));
	if (url_origin(realm, theirs, sizeof(theirs)) < 0 ||
	    url_origin(up->base, ours, sizeof(ours)) < 0)
		return upstream_fail(t, err, -EPROTO,
				     "the token realm '%s' is not a URL",
				     rfs_text_name(shown, realm));
	*creds_ok =
	    https || !strcmp(ours, theirs) || up->cfg.plain_realm_credentials;
	return 0;
}

static int fetch_token(struct call *c, const struct bearer *b,
		       struct rfs_error *err)
{
	struct rfs_upstream *up = c->up;
	char what[RFS_ERROR_MSG_MAX / 2];
	char url[URL_MAX];
	struct call t;
	struct token *tok = NULL;
	json_t *root = NULL, *value, *expires;
	struct rfs_error cerr = { 0 };
	bool creds_ok = false;
	int64_t ttl = 60;
	int rc;

	if (c->tok_fresh) /* a fresh token was refused: once is enough */
		return upstream_fail(c, err, -EACCES, "token refused");
	snprintf(what, sizeof(what), "%s: token from '%s'", c->what, b->realm);
	upstream_call_init(&t, up, what, "");
	t.use_auth = false;
	t.follow = true;
	t.max = TOKEN_BODY_MAX;
	t.budget = c->budget;
	t.deadline = c->deadline;
	rc = realm_check(up, b->realm, &creds_ok, &t, err);
	if (rc < 0)
		goto out;
	t.curl = upstream_handle_get(up);
	if (!t.curl) {
		rc = -ENOMEM;
		goto out;
	}
	if (snprintf(url, sizeof(url), "%s", b->realm) >= (int)sizeof(url)) {
		rc = upstream_fail(&t, err, -ENAMETOOLONG, "realm too long");
		goto out;
	}
	rc = 0;
	if (*b->service)
		rc = upstream_add_param(t.curl, url, sizeof(url), "service",
					b->service, strlen(b->service));
	/* Several scopes are separated by spaces: one parameter each. */
	for (const char *s = b->scope; rc == 0 && *s;) {
		size_t n = strcspn(s, " ");

		if (n)
			rc = upstream_add_param(t.curl, url, sizeof(url),
						"scope", s, n);
		s += n;
		s += strspn(s, " ");
	}
	if (rc < 0) {
		rc = upstream_fail(&t, err, rc, "cannot build the token url");
		goto out;
	}
	rc = credentials_get(up, &t.cred, &cerr);
	if (rc == 0 && !creds_ok) {
		char shown[RFS_TEXT_NAME_BUF];

		rc = upstream_fail(
		    &t, err, -EACCES,
		    "the token realm '%s' is plain http on another host or "
		    "port: the credentials for '%s' are not sent there (set "
		    "plain_realm_credentials to allow it)",
		    rfs_text_name(shown, b->realm), up->host);
		goto out;
	} else if (rc == 0) {
		t.auth = AUTH_BASIC;
	} else if (rc != -ENOENT) {
		rc = upstream_fail(&t, err, rc, "credentials for '%s': %s",
				   up->host, rfs_error_message(&cerr, rc));
		goto out;
	}
	rc = upstream_call_run(&t, url, err);
	c->retries += t.retries;
	if (rc < 0)
		goto out;
	root = json_loadb(t.buf ? t.buf : "", t.len, 0, NULL);
	value = json_object_get(root, "token");
	if (!json_is_string(value) || !*json_string_value(value))
		value = json_object_get(root, "access_token");
	if (!json_is_string(value) || !*json_string_value(value)) {
		rc = upstream_fail(&t, err, -EPROTO, "no token in the answer");
		goto out;
	}
	expires = json_object_get(root, "expires_in");
	if (json_is_integer(expires) && json_integer_value(expires) > 0)
		ttl = json_integer_value(expires);
	/* A token service may say anything: a day is plenty, and keeps the
	 * sums below in range. */
	if (ttl > TOKEN_TTL_MAX)
		ttl = TOKEN_TTL_MAX;
	tok = calloc(1, sizeof(*tok));
	if (!tok) {
		rc = -ENOMEM;
		goto out;
	}
	tok->b.realm = strdup(b->realm);
	tok->b.service = strdup(b->service);
	tok->b.scope = strdup(b->scope);
	tok->value = strdup(json_string_value(value));
	if (!tok->b.realm || !tok->b.service || !tok->b.scope || !tok->value) {
		rc = -ENOMEM;
		goto out;
	}
	/* Expire a tenth early (at most 30 s): never send a dying token. */
	ttl *= 1000;
	tok->expires =
	    upstream_now_ms() + ttl - (ttl / 10 < 30000 ? ttl / 10 : 30000);
	token_store(up, tok);
	upstream_token_free(c->tok);
	c->tok = tok;
	tok = NULL;
	c->tok_fresh = true;
	c->auth = AUTH_BEARER;
out:
	json_decref(root);
	if (t.buf) /* the token lives in the body too */
		explicit_bzero(t.buf, t.cap);
	upstream_token_free(tok);
	upstream_call_release(&t);
	return rc;
}
