/*
 * semver.c - semantic versions and version ranges (see semver.h).
 *
 * One scanner reads a version and its partial forms ("1", "1.2", "1.2.x",
 * "*"); rfs_semver_parse() accepts only what is full, ranges accept the
 * rest where their table says. Every range term becomes a lower and an
 * upper bound, and the range is their intersection: one interval, checked
 * by precedence, plus the prereleases its terms name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "semver.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-';
}

static bool is_wildcard(char c)
{
	return c == '*' || c == 'x' || c == 'X';
}

/* Dot-separated identifiers in s[0..len): non-empty, [0-9A-Za-z-]; in a
 * prerelease, numeric ones without leading zeros. */
static bool idents_ok(const char *s, size_t len, bool prerelease)
{
	size_t start = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i <= len; i++) {
		bool numeric = true;

		if (i < len && s[i] != '.')
			continue;
		if (i == start)
			return false;
		for (size_t j = start; j < i; j++) {
			if (!is_ident_char(s[j]))
				return false;
			if (!is_digit(s[j]))
				numeric = false;
		}
		if (prerelease && numeric && i - start > 1 && s[start] == '0')
			return false;
		start = i + 1;
	}
	return true;
}

/* A numeric identifier at *p: "0" or no leading zero, at most UINT64_MAX. */
static bool scan_number(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || !is_digit(*s))
		return false;
	if (*s == '0' && s + 1 < end && is_digit(s[1]))
		return false;
	for (; s < end && is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

/* A version as ranges may write it: parts numbers given (0 to 3) before
 * the first wildcard or the end; wildcard when one was written. Missing
 * numbers are 0. A prerelease or build needs all three numbers. */
struct partial {
	struct rfs_semver v;
	int parts;
	bool wildcard;
};

static bool scan_partial(const char *s, size_t len, struct partial *p)
{
	const char *c = s, *end = s + len;
	uint64_t *num[3] = { &p->v.major, &p->v.minor, &p->v.patch };

	memset(p, 0, sizeof(*p));
	if (len == 0 || len > RFS_SEMVER_MAX)
		return false;
	memcpy(p->v.text, s, len);
	p->v.text[len] = '\0';
	if (*c == 'v' || *c == 'V') {
		p->v.prefix = *c++;
		if (c == end || !is_digit(*c))
			return false;
	}
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (c == end || *c != '.')
				break;
			c++;
		}
		/* "x" alone is a word, not "any version": only '*' there. */
		if (c < end && (i > 0 ? is_wildcard(*c) : *c == '*')) {
			c++;
			p->wildcard = true;
			if (c < end && is_ident_char(*c))
				return false; /* "xyz", "1.x5" */
			continue;
		}
		if (p->wildcard) /* a number after a wildcard: "1.x.3" */
			return false;
		if (!scan_number(&c, end, num[i]))
			return false;
		p->parts = i + 1;
	}
	if (c < end && *c == '-') {
		const char *pre = ++c;

		while (c < end && *c != '+')
			c++;
		if (p->parts < 3 || p->wildcard ||
		    !idents_ok(pre, (size_t)(c - pre), true))
			return false;
		p->v.pre_off = (uint8_t)(pre - s);
		p->v.pre_len = (uint8_t)(c - pre);
	}
	if (c < end && *c == '+') {
		const char *build = ++c;

		if (p->parts < 3 || p->wildcard ||
		    !idents_ok(build, (size_t)(end - build), false))
			return false;
		p->v.build_off = (uint8_t)(build - s);
		p->v.build_len = (uint8_t)(end - build);
		c = end;
	}
	return c == end;
}

int rfs_semver_parse(const char *s, struct rfs_semver *out)
{
	struct partial p;

	if (!s || !scan_partial(s, strlen(s), &p) || p.parts != 3 || p.wildcard)
		return -EINVAL;
	*out = p.v;
	return 0;
}

bool rfs_semver_valid(const char *s)
{
	struct rfs_semver v;

	return rfs_semver_parse(s, &v) == 0;
}

static int sign(int c)
{
	return (c > 0) - (c < 0);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* Identifier lists by section 11. Numbers compare by value (leading zeros,
 * which only build metadata may have, skipped) and below words. */
static int cmp_idents(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *ea = a + alen, *eb = b + blen;

	for (;;) {
		const char *ia, *ib;
		size_t la, lb;
		bool na = true, nb = true;
		int c;

		if (a >= ea || b >= eb)
			return (a < ea) - (b < eb);
		for (ia = a; ia < ea && *ia != '.'; ia++)
			na = na && is_digit(*ia);
		for (ib = b; ib < eb && *ib != '.'; ib++)
			nb = nb && is_digit(*ib);
		if (na && nb) {
			while (a + 1 < ia && *a == '0')
				a++;
			while (b + 1 < ib && *b == '0')
				b++;
			la = (size_t)(ia - a);
			lb = (size_t)(ib - b);
			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(a, b, la);
			if (c)
				return sign(c);
		} else if (na != nb) {
			return na ? -1 : 1;
		} else {
			la = (size_t)(ia - a);
			lb = (size_t)(ib - b);
			c = memcmp(a, b, la < lb ? la : lb);
			if (c)
				return sign(c);
			if (la != lb)
				return la < lb ? -1 : 1;
		}
		/* Past the '.', or at the end (ia == ea): no more. */
		a = ia < ea ? ia + 1 : ea;
		b = ib < eb ? ib + 1 : eb;
	}
}

int rfs_semver_cmp_pre(const char *a, size_t alen, const char *b, size_t blen)
{
	return cmp_idents(a, alen, b, blen);
}

int rfs_semver_cmp(const struct rfs_semver *a, const struct rfs_semver *b)
{
	int c = cmp_u64(a->major, b->major);

	if (!c)
		c = cmp_u64(a->minor, b->minor);
	if (!c)
		c = cmp_u64(a->patch, b->patch);
	if (c)
		return c;
	if (!a->pre_len || !b->pre_len)
		return (a->pre_len == 0) - (b->pre_len == 0);
	return cmp_idents(a->text + a->pre_off, a->pre_len,
			  b->text + b->pre_off, b->pre_len);
}

static int prefix_rank(char p)
{
	return p == 'v' ? 2 : p == 'V' ? 1 : 0;
}

int rfs_semver_order(const struct rfs_semver *a, const struct rfs_semver *b)
{
	int c = rfs_semver_cmp(a, b);

	if (c)
		return c;
	if (!a->build_len || !b->build_len)
		c = (a->build_len != 0) - (b->build_len != 0);
	else
		c = cmp_idents(a->text + a->build_off, a->build_len,
			       b->text + b->build_off, b->build_len);
	if (!c)
		c = prefix_rank(a->prefix) - prefix_rank(b->prefix);
	if (!c)
		c = strcmp(a->text, b->text);
	return sign(c);
}

/* A bound made of numbers, with the prerelease "0" (the lowest version of
 * those numbers) when lowest. */
static void make_version(struct rfs_semver *v, uint64_t major, uint64_t minor,
			 uint64_t patch, bool lowest)
{
	int n;

	memset(v, 0, sizeof(*v));
	v->major = major;
	v->minor = minor;
	v->patch = patch;
	n = snprintf(v->text, sizeof(v->text),
		     "%" PRIu64 ".%" PRIu64 ".%" PRIu64, major, minor, patch);
	if (lowest) {
		v->pre_off = (uint8_t)(n + 1);
		v->pre_len = 1;
		snprintf(v->text + n, sizeof(v->text) - (size_t)n, "-0");
	}
}

/* The first version after every M.*.* / M.m.* / M.m.p (-0: its lowest),
 * counting with carries; false past UINT64_MAX.MAX.MAX. */
static bool next_after(const struct rfs_semver *v, int parts, bool lowest,
		       struct rfs_semver *out)
{
	uint64_t n[3] = { v->major, v->minor, v->patch };

	for (int i = parts - 1; i >= 0; i--) {
		if (n[i] != UINT64_MAX) {
			n[i]++;
			for (int j = i + 1; j < 3; j++)
				n[j] = 0;
			make_version(out, n[0], n[1], n[2], lowest);
			return true;
		}
	}
	return false;
}

static void set_lo(struct rfs_semver_range *r, const struct rfs_semver *v,
		   bool inclusive)
{
	int c = r->has_lo ? rfs_semver_cmp(v, &r->lo) : 1;

	if (c > 0) {
		r->lo = *v;
		r->lo_inclusive = inclusive;
		r->has_lo = true;
	} else if (c == 0 && !inclusive) {
		r->lo_inclusive = false;
	}
}

static void set_hi(struct rfs_semver_range *r, const struct rfs_semver *v,
		   bool inclusive)
{
	int c = r->has_hi ? rfs_semver_cmp(v, &r->hi) : -1;

	if (c < 0) {
		r->hi = *v;
		r->hi_inclusive = inclusive;
		r->has_hi = true;
	} else if (c == 0 && !inclusive) {
		r->hi_inclusive = false;
	}
}

/* The upper bound "below the next version after v's first parts": when
 * there is none (past UINT64_MAX), no upper bound. */
static void set_hi_next(struct rfs_semver_range *r, const struct rfs_semver *v,
			int parts)
{
	struct rfs_semver next;

	if (next_after(v, parts, true, &next))
		set_hi(r, &next, false);
}

enum op { OP_NONE, OP_CARET, OP_TILDE, OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE };

static const char *const op_text[] = {
	[OP_NONE] = "", [OP_CARET] = "^", [OP_TILDE] = "~", [OP_EQ] = "=",
	[OP_GT] = ">",	[OP_GE] = ">=",	  [OP_LT] = "<",    [OP_LE] = "<=",
};

static enum op scan_op(const char **p)
{
	const char *s = *p;
	enum op op = OP_NONE;

	switch (*s) {
	case '^': op = OP_CARET; break;
	case '~': op = OP_TILDE; break;
	case '=': op = OP_EQ; break;
	case '>': op = s[1] == '=' ? OP_GE : OP_GT; break;
	case '<': op = s[1] == '=' ? OP_LE : OP_LT; break;
	default: return OP_NONE;
	}
	*p = s + ((op == OP_GE || op == OP_LE) ? 2 : 1);
	return op;
}

static int bad_range(struct rfs_semver_range *r, struct rfs_error *err,
		     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* -EINVAL, with the range and why it is refused in err. */
static int bad_range(struct rfs_semver_range *r, struct rfs_error *err,
		     const char *fmt, ...)
{
	char why[RFS_ERROR_MSG_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return rfs_error_set(err, -EINVAL, "invalid version range '%s': %s",
			     r->text, why);
}

/* Apply one term (op and the version text s[0..len)) to r. */
static int add_term(struct rfs_semver_range *r, enum op op, const char *s,
		    size_t len, struct rfs_error *err)
{
	char tok[RFS_SEMVER_RANGE_MAX + 1];
	struct partial p;
	struct rfs_semver v;
	int n;

	memcpy(tok, s, len);
	tok[len] = '\0';
	if (!strcmp(tok, "-"))
		return bad_range(r, err,
				 "hyphen ranges are not supported (write "
				 ">=A, <=B)");
	if (!scan_partial(s, len, &p))
		return bad_range(r, err, "'%s' is not a version", tok);
	if (p.wildcard && op != OP_NONE)
		return bad_range(
		    r, err, "a wildcard cannot follow an operator ('%s')", tok);
	if (!p.wildcard && p.parts < 3 && op == OP_NONE)
		return bad_range(r, err,
				 "'%s' is not a full version: write it as a "
				 "wildcard (1.2.x), a tilde (~1.2) or a caret "
				 "(^1.2) range",
				 tok);
	v = p.v;
	n = p.parts;
	if (n < 3) /* a partial bound is its first release: 1.2 is 1.2.0 */
		make_version(&v, v.major, v.minor, v.patch, false);
	if (v.pre_len) {
		if (r->n_pre == RFS_SEMVER_TERMS_MAX)
			return bad_range(r, err, "more than %d terms",
					 RFS_SEMVER_TERMS_MAX);
		r->pre[r->n_pre++] =
		    (struct rfs_semver_triple){ v.major, v.minor, v.patch };
	}
	/* A lower bound of a partial version is its first release (x.y.0). */
	switch (op) {
	case OP_CARET:
		set_lo(r, &v, true);
		/* The first non-zero part stays; ^0.0 and ^0 keep theirs. */
		if (v.major > 0 || n == 1)
			set_hi_next(r, &v, 1);
		else if (v.minor > 0 || n == 2)
			set_hi_next(r, &v, 2);
		else
			set_hi_next(r, &v, 3);
		break;
	case OP_TILDE:
		set_lo(r, &v, true);
		set_hi_next(r, &v, n == 1 ? 1 : 2);
		break;
	case OP_NONE:
	case OP_EQ:
		if (n == 0)
			break; /* "*": anything */
		set_lo(r, &v, true);
		if (n == 3)
			set_hi(r, &v, true);
		else
			set_hi_next(r, &v, n);
		break;
	case OP_GT:
		if (n == 3) {
			set_lo(r, &v, false);
		} else {
			struct rfs_semver next;

			if (next_after(&v, n, false, &next))
				set_lo(r, &next, true);
			else
				r->none = true;
		}
		break;
	case OP_GE: set_lo(r, &v, true); break;
	case OP_LT:
		if (n == 3) {
			set_hi(r, &v, false);
		} else {
			struct rfs_semver lowest;

			make_version(&lowest, v.major, v.minor, 0, true);
			set_hi(r, &lowest, false);
		}
		break;
	case OP_LE:
		if (n == 3)
			set_hi(r, &v, true);
		else
			set_hi_next(r, &v, n);
		break;
	}
	return 0;
}

int rfs_semver_range_parse(const char *text, struct rfs_semver_range *out,
			   struct rfs_error *err)
{
	const char *c = text;
	bool after_comma = false;
	int terms = 0, rc;

	memset(out, 0, sizeof(*out));
	if (!text || !text[0])
		return rfs_error_set(err, -EINVAL, "empty version range");
	if (strlen(text) > RFS_SEMVER_RANGE_MAX)
		return rfs_error_set(err, -EINVAL,
				     "version range '%.40s...' is longer than "
				     "%d bytes",
				     text, RFS_SEMVER_RANGE_MAX);
	strcpy(out->text, text);
	if (!strcmp(text, "latest-stable")) {
		out->stable_only = true;
		return 0;
	}
	for (;;) {
		const char *start;
		enum op op;

		while (*c == ' ' || *c == '\t')
			c++;
		if (!*c)
			break;
		if (*c == ',') {
			if (!terms || after_comma)
				return bad_range(out, err,
						 "an empty term before ','");
			after_comma = true;
			c++;
			continue;
		}
		if (*c == '|')
			return bad_range(out, err,
					 "'||' (either of two ranges) is not "
					 "supported");
		op = scan_op(&c);
		while (op != OP_NONE && (*c == ' ' || *c == '\t'))
			c++;
		if (!*c || *c == ',' || *c == ' ' || *c == '\t') {
			return bad_range(out, err, "a version must follow '%s'",
					 op_text[op]);
		}
		start = c;
		while (*c && *c != ',' && *c != ' ' && *c != '\t' && *c != '|')
			c++;
		if (++terms > RFS_SEMVER_TERMS_MAX)
			return bad_range(out, err, "more than %d terms",
					 RFS_SEMVER_TERMS_MAX);
		rc = add_term(out, op, start, (size_t)(c - start), err);
		if (rc)
			return rc;
		after_comma = false;
	}
	if (after_comma)
		return bad_range(out, err, "an empty term after ','");
	if (!terms)
		return rfs_error_set(err, -EINVAL, "empty version range");
	/* Bounds that cross admit nothing: still a valid range. */
	if (out->has_lo && out->has_hi) {
		int c2 = rfs_semver_cmp(&out->lo, &out->hi);

		if (c2 > 0 ||
		    (c2 == 0 && !(out->lo_inclusive && out->hi_inclusive)))
			out->none = true;
	}
	return 0;
}

static bool pre_admitted(const struct rfs_semver_range *r,
			 const struct rfs_semver *v)
{
	for (size_t i = 0; i < r->n_pre; i++)
		if (r->pre[i].major == v->major &&
		    r->pre[i].minor == v->minor && r->pre[i].patch == v->patch)
			return true;
	return false;
}

bool rfs_semver_range_match(const struct rfs_semver_range *r,
			    const struct rfs_semver *v)
{
	int c;

	if (r->none)
		return false;
	if (v->pre_len) {
		if (r->stable_only)
			return false;
		if (!r->include_prerelease && !pre_admitted(r, v))
			return false;
	}
	if (r->has_lo) {
		c = rfs_semver_cmp(v, &r->lo);
		if (c < 0 || (c == 0 && !r->lo_inclusive))
			return false;
	}
	if (r->has_hi) {
		c = rfs_semver_cmp(v, &r->hi);
		if (c > 0 || (c == 0 && !r->hi_inclusive))
			return false;
	}
	return true;
}

/* A bound's text without its 'v' and build: the canonical form. */
static const char *bound_text(const struct rfs_semver *v, char *buf,
			      size_t size)
{
	int n = snprintf(buf, size, "%" PRIu64 ".%" PRIu64 ".%" PRIu64,
			 v->major, v->minor, v->patch);

	if (v->pre_len && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "-%.*s", (int)v->pre_len,
			 v->text + v->pre_off);
	return buf;
}

char *rfs_semver_range_describe(const struct rfs_semver_range *r, char *buf,
				size_t size)
{
	char lo[RFS_SEMVER_MAX + 1], hi[RFS_SEMVER_MAX + 1];

	if (!size)
		return buf;
	if (r->none)
		snprintf(buf, size, "(none)");
	else if (r->stable_only)
		snprintf(buf, size, "latest-stable");
	else if (r->has_lo && r->has_hi && r->lo_inclusive && r->hi_inclusive &&
		 !rfs_semver_cmp(&r->lo, &r->hi))
		snprintf(buf, size, "=%s", bound_text(&r->lo, lo, sizeof(lo)));
	else if (r->has_lo && r->has_hi)
		snprintf(buf, size, "%s%s, %s%s", r->lo_inclusive ? ">=" : ">",
			 bound_text(&r->lo, lo, sizeof(lo)),
			 r->hi_inclusive ? "<=" : "<",
			 bound_text(&r->hi, hi, sizeof(hi)));
	else if (r->has_lo)
		snprintf(buf, size, "%s%s", r->lo_inclusive ? ">=" : ">",
			 bound_text(&r->lo, lo, sizeof(lo)));
	else if (r->has_hi)
		snprintf(buf, size, "%s%s", r->hi_inclusive ? "<=" : "<",
			 bound_text(&r->hi, hi, sizeof(hi)));
	else
		snprintf(buf, size, "*");
	return buf;
}

bool rfs_semver_is_range(const char *name)
{
	struct rfs_semver_range r;

	if (!name || !name[0])
		return false;
	if (strpbrk(name, "^~<>=*,| \t"))
		return true;
	return rfs_semver_range_parse(name, &r, NULL) == 0;
}

long rfs_semver_pick(const struct rfs_semver_range *r, const char *const *names,
		     size_t n)
{
	struct rfs_semver best, v;
	long found = -1;

	for (size_t i = 0; i < n; i++) {
		if (rfs_semver_parse(names[i], &v) != 0 ||
		    !rfs_semver_range_match(r, &v))
			continue;
		if (found < 0 || rfs_semver_order(&v, &best) > 0) {
			best = v;
			found = (long)i;
		}
	}
	return found;
}
