/*
 * serve-browse.c - the read-only /ui/ pages of regctl serve (see
 * serve-browse.h for the pages and the contract with the server).
 *
 * A page first reads everything it shows, then writes the HTML in one go.
 * Rows of a listing are copied out in its callback and looked into after
 * it: the catalog holds its lock while it calls back, and every other
 * thread of the server waits meanwhile. A failure while reading replaces
 * the whole page by an error page (500, or 404 for what does not exist):
 * nothing partial.
 *
 * The manifest digest shown for a tag is the one a client pulling it gets:
 * the manifest it was pinned or pushed with, else (a local file tag) that
 * of the ORAS-shaped manifest rfs_push_manifest() builds, which is what the
 * server serves and what regctl push would push.
 *
 * All markup is written by this file's own string literals; whatever came
 * from the catalog or the request goes through html_text() (HTML text and
 * attribute values alike: it escapes both kinds of quotes) or html_url()
 * (percent-encoding, whose output needs no escaping).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "digest.h"
#include "manifest.h"
#include "names.h"
#include "push.h"
#include "regctl.h"
#include "serve-browse.h"
#include "tag-list.h"

/* A listing callback's "enough": positive, so never taken for an error. */
#define WALK_STOP 1

/* What a tag page's commands name when the server's host is not known. */
#define HOST_PLACEHOLDER "REGISTRY"

/* --- the HTML being written --------------------------------------------- */

/* An allocation that fails stops the growth and is remembered: the page is
 * checked once, at the end. */
struct html {
	char *buf;
	size_t len, alloc;
	bool oom;
};

static bool html_reserve(struct html *h, size_t n)
{
	size_t alloc;
	char *buf;

	if (h->oom)
		return false;
	if (n < h->alloc - h->len)
		return true; /* room for n and a NUL */
	alloc = h->alloc ? h->alloc : 16384;
	while (alloc - h->len <= n) {
		if (alloc > SIZE_MAX / 2)
			goto oom;
		alloc *= 2;
	}
	buf = realloc(h->buf, alloc);
	if (!buf)
		goto oom;
	h->buf = buf;
	h->alloc = alloc;
	return true;
oom:
	h->oom = true;
	return false;
}

static void html_add(struct html *h, const void *s, size_t n)
{
	if (!n || !html_reserve(h, n))
		return;
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

/* Markup of this file's own: never a value from outside. */
static void html_puts(struct html *h, const char *s)
{
	html_add(h, s, strlen(s));
}

static void html_printf(struct html *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void html_printf(struct html *h, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		h->oom = true;
		return;
	}
	if (!n || !html_reserve(h, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(h->buf + h->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	h->len += (size_t)n;
}

/* Start again, for an error page in place of a half-written one. */
static void html_reset(struct html *h)
{
	h->len = 0;
	if (h->buf)
		h->buf[0] = '\0';
}

/* The length of the well-formed UTF-8 sequence of two or more bytes at s
 * (NUL-terminated), or 0: no overlong forms, no surrogates, nothing past
 * U+10FFFF. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if (s[0] == 0xe0)
			lo = 0xa0;
		if (s[0] == 0xed)
			hi = 0x9f;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3
									 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if (s[0] == 0xf0)
			lo = 0x90;
		if (s[0] == 0xf4)
			hi = 0x8f;
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
			       (s[3] & 0xc0) == 0x80
			   ? 4
			   : 0;
	}
	return 0;
}

/* Bytes that go into HTML text and quoted attribute values as they are. */
static bool html_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '&' && c != '<' && c != '>' &&
	       c != '"' && c != '\'';
}

/* A value from outside, at most max bytes of it, escaped for HTML text and
 * attribute values; invalid UTF-8 and control characters (but tab and
 * newlines) become U+FFFD. Returns whether it was cut short. */
static bool html_text_max(struct html *h, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t done = 0;

	while (*p && done < max) {
		const unsigned char *run = p;
		size_t n = 1;

		while (*p && done < max && html_plain(*p)) {
			p++;
			done++;
		}
		html_add(h, run, (size_t)(p - run));
		if (!*p || done >= max)
			break;
		switch (*p) {
		case '&': html_puts(h, "&amp;"); break;
		case '<': html_puts(h, "&lt;"); break;
		case '>': html_puts(h, "&gt;"); break;
		case '"': html_puts(h, "&quot;"); break;
		case '\'': html_puts(h, "&#39;"); break;
		case '\t':
		case '\n':
		case '\r': html_add(h, p, 1); break;
		default:
			n = *p >= 0x80 ? utf8_len(p) : 0;
			if (n && done + n > max)
				return true; /* not half a character */
			if (n) {
				html_add(h, p, n);
			} else {
				html_puts(h, "\xef\xbf\xbd");
				n = 1;
			}
		}
		p += n;
		done += n;
	}
	return *p != '\0';
}

static void html_text(struct html *h, const char *s)
{
	html_text_max(h, s, SIZE_MAX);
}

/* A value from outside percent-encoded for a URL: every byte but the
 * unreserved ones (RFC 3986) and those in keep ("/:" in a path of names,
 * "" in a query value). */
static void html_url(struct html *h, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || strchr(keep, c))
			html_add(h, p, 1);
		else
			html_add(h, esc, sizeof(esc));
	}
}

/* --- the frame of every page -------------------------------------------- */

/* Looks only: every page reads the same without it. */
static const char page_style[] =
    "body{font-family:sans-serif;margin:1em 2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #bbb;padding:.2em .6em;text-align:left;"
    "vertical-align:top}"
    "thead th{background:#eee}"
    "td.num{text-align:right}"
    "tr.yanked td{color:#777}"
    ".mark{color:#a00;font-weight:bold}"
    "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}"
    "td.value{white-space:pre-wrap;word-break:break-all}"
    "footer{margin-top:2em;color:#666;font-size:small}";

/* The head, and the header every page has: the way home and the search
 * form (q, the current search text, or NULL). */
static void page_begin(struct html *h, const char *title, const char *q)
{
	html_puts(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		     "<meta charset=\"utf-8\">\n"
		     "<meta name=\"viewport\" content=\"width=device-width, "
		     "initial-scale=1\">\n"
		     "<meta name=\"referrer\" content=\"no-referrer\">\n"
		     "<title>");
	html_text(h, title);
	html_puts(h, " - regfs registry</title>\n<style>");
	html_puts(h, page_style);
	html_puts(h, "</style>\n</head>\n<body>\n<header>\n"
		     "<form method=\"get\" action=\"/ui/\" role=\"search\">"
		     "<p><a href=\"/ui/\">regfs registry</a> | "
		     "<label for=\"q\">Search tags:</label> "
		     "<input type=\"search\" id=\"q\" name=\"q\" size=\"30\"");
	html_printf(h, " maxlength=\"%d\"", BROWSE_QUERY_MAX);
	if (q) {
		html_puts(h, " value=\"");
		html_text(h, q);
		html_puts(h, "\"");
	}
	html_puts(h, "> <button type=\"submit\">Search</button></p></form>\n"
		     "</header>\n<main>\n");
}

static void page_end(struct html *h)
{
	html_puts(h, "</main>\n<footer>\n<p>A read-only view of a regfs "
		     "store: nothing here changes it. Times are UTC.</p>\n"
		     "</footer>\n</body>\n</html>\n");
}

/* Where a page is: Repositories / org / app [/ tag], every part but the
 * last a link (each prefix of a repository is a repository page). */
static void page_nav(struct html *h, const char *repo, const char *tag)
{
	char part[RFS_REPO_MAX + 1];

	html_puts(h, "<nav aria-label=\"Breadcrumb\"><p>"
		     "<a href=\"/ui/\">Repositories</a>");
	for (const char *p = repo; p;) {
		const char *slash = strchr(p, '/');
		int n = slash ? (int)(slash - p) : (int)strlen(p);

		html_puts(h, " / ");
		if (slash || tag) {
			snprintf(part, sizeof(part), "%.*s",
				 (int)(p - repo) + n, repo);
			html_puts(h, "<a href=\"/ui/repo/");
			html_url(h, part, "/");
			html_puts(h, "\">");
		}
		snprintf(part, sizeof(part), "%.*s", n, p);
		html_text(h, part);
		if (slash || tag)
			html_puts(h, "</a>");
		p = slash ? slash + 1 : NULL;
	}
	if (tag) {
		html_puts(h, " / ");
		html_text(h, tag);
	}
	html_puts(h, "</p></nav>\n");
}

static const char *status_reason(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	default: return "Error";
	}
}

/* The page for status, in place of whatever was written: the message is
 * plain text, maybe holding a name from the request. Returns status. */
static int error_page(struct html *h, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int error_page(struct html *h, int status, const char *fmt, ...)
{
	char title[64], msg[RFS_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(title, sizeof(title), "%d %s", status, status_reason(status));
	html_reset(h);
	page_begin(h, title, NULL);
	html_puts(h, "<h1>");
	html_text(h, title);
	html_puts(h, "</h1>\n<p>");
	html_text(h, msg);
	html_puts(h, "</p>\n<p><a href=\"/ui/\">All repositories</a></p>\n");
	page_end(h);
	return status;
}

/* A link to the next page of a listing: of repo's tags, or (repo NULL) of
 * /ui/ with the search text q (or NULL); last is the last row shown. */
static void next_link(struct html *h, const char *repo, const char *q,
		      const char *last)
{
	html_puts(h, "<p><a rel=\"next\" href=\"/ui/");
	if (repo) {
		html_puts(h, "repo/");
		html_url(h, repo, "/");
	}
	html_puts(h, "?");
	if (q) {
		html_puts(h, "q=");
		html_url(h, q, "");
		html_puts(h, "&amp;");
	}
	html_puts(h, "last=");
	html_url(h, last, "");
	html_puts(h, "\">Next page</a></p>\n");
}

static void time_cell(struct html *h, int64_t ns)
{
	char t[REGCTL_TIME_STR_MAX];

	regctl_format_time(ns, REGCTL_TIME_RFC3339, t);
	html_puts(h, "<td><time datetime=\"");
	html_text(h, t);
	html_puts(h, "\">");
	html_text(h, t);
	html_puts(h, "</time></td>");
}

static void repo_link(struct html *h, const char *repo)
{
	html_puts(h, "<a href=\"/ui/repo/");
	html_url(h, repo, "/");
	html_puts(h, "\">");
	html_text(h, repo);
	html_puts(h, "</a>");
}

static void tag_href(struct html *h, const char *repo, const char *tag)
{
	html_puts(h, "/ui/tag/");
	html_url(h, repo, "/");
	html_puts(h, ":");
	html_url(h, tag, "");
}

/* --- tags, as the repository page and the search list them -------------- */

struct tag_item {
	struct rfs_tag tag;
	char served[RFS_DIGEST_STR_MAX + 1]; /* "" when it cannot be built */
	char why[160];			     /* then why not */
	uint64_t size;			     /* the file's, or all layers' */
	size_t n_layers;		     /* 0 for a file */
};

/* A page of tags: those after (after_repo, after_tag) if after_repo is
 * set, at most BROWSE_PAGE_ROWS; total counts them all. */
struct tag_items {
	struct tag_item *v;
	size_t nr, alloc;
	const char *after_repo, *after_tag;
	size_t total, yanked;
	bool more;
};

static int tag_items_add(void *ctx, const struct rfs_tag *tag)
{
	struct tag_items *l = ctx;

	l->total++;
	l->yanked += tag->yanked;
	if (l->after_repo) {
		int cmp = strcmp(tag->repo, l->after_repo);

		if (cmp < 0 ||
		    (cmp == 0 && strcmp(tag->name, l->after_tag) <= 0))
			return 0;
	}
	if (l->nr == BROWSE_PAGE_ROWS) {
		l->more = true;
		return 0; /* counted, not kept */
	}
	if (l->nr == l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 64;
		struct tag_item *v = realloc(l->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->alloc = alloc;
	}
	memset(&l->v[l->nr], 0, sizeof(l->v[l->nr]));
	l->v[l->nr++].tag = *tag;
	return 0;
}

static void tag_items_release(struct tag_items *l)
{
	free(l->v);
	l->v = NULL;
	l->nr = l->alloc = 0;
}

/* The digest of the manifest a client pulls for tag (see the top). */
static int served_digest(struct rfs_store *store, const struct rfs_tag *tag,
			 char out[RFS_DIGEST_STR_MAX + 1],
			 struct rfs_error *err)
{
	int rc = rfs_push_served_digest(store, tag, out, err);

	if (rc)
		out[0] = '\0';
	return rc;
}

struct layer_sum {
	uint64_t size;
	size_t n;
};

static int layer_sum_add(void *ctx, const struct rfs_layer *layer)
{
	struct layer_sum *s = ctx;

	s->size += layer->size;
	s->n++;
	return 0;
}

/* What the listing did not give: the served digest (shown as unavailable
 * when it cannot be built: one odd tag must not hide the others) and the
 * size of a folder's layers. Returns 0 or the catalog's error. */
static int tag_items_complete(struct rfs_store *store, struct tag_items *l)
{
	struct rfs_catalog *cat = rfs_store_catalog(store);

	for (size_t i = 0; i < l->nr; i++) {
		struct tag_item *it = &l->v[i];
		struct rfs_error err = { 0 };
		struct layer_sum sum = { 0 };
		int rc;

		if (served_digest(store, &it->tag, it->served, &err))
			snprintf(it->why, sizeof(it->why), "%s",
				 rfs_error_message(&err, err.code));
		it->size = it->tag.size;
		if (it->tag.kind != RFS_TAG_LAYERS)
			continue;
		rc = rfs_catalog_list_layers(cat, it->tag.id, layer_sum_add,
					     &sum);
		if (rc < 0)
			return rc;
		it->size = sum.size;
		it->n_layers = sum.n;
	}
	return 0;
}

static void mode_text(struct html *h, unsigned mode)
{
	char text[RFS_MODE_STR_MAX];

	rfs_manifest_format_mode(mode, text);
	html_text(h, text);
	if (rfs_tag_mode(mode) & 0111)
		html_puts(h, " (executable)");
}

static void digest_short(struct html *h, const char *digest)
{
	char s[TAG_SHORT_DIGEST_MAX];

	tag_short_digest(digest, s);
	html_puts(h, "<code title=\"");
	html_text(h, digest);
	html_puts(h, "\">");
	html_text(h, s);
	html_puts(h, "</code>");
}

static void size_text(struct html *h, uint64_t size)
{
	char s[REGCTL_SIZE_STR_MAX];

	regctl_format_size(size, s);
	html_text(h, s);
}

/* "4 tags, 1 yanked." */
static void tag_count(struct html *h, size_t total, size_t yanked)
{
	html_printf(h, "%zu tag%s", total, total == 1 ? "" : "s");
	if (yanked)
		html_printf(h, ", %zu yanked", yanked);
	html_puts(h, ".");
}

/* On a page after the first: where it starts, and the way to the first
 * page (of repo's tags, or of /ui/ with the search text q or none). */
static void after_note(struct html *h, const char *last, size_t nr,
		       const char *repo, const char *q)
{
	html_puts(h, nr ? "<p>After " : "<p>Nothing after ");
	html_text(h, last);
	html_puts(h, " (<a href=\"/ui/");
	if (repo) {
		html_puts(h, "repo/");
		html_url(h, repo, "/");
	}
	if (q) {
		html_puts(h, "?q=");
		html_url(h, q, "");
	}
	html_puts(h, "\">from the first</a>).</p>\n");
}

static void tag_table(struct html *h, const struct tag_items *l, bool with_repo)
{
	html_puts(h, "<table>\n<thead><tr>");
	if (with_repo)
		html_puts(h, "<th scope=\"col\">Repository</th>");
	html_puts(h, "<th scope=\"col\">Tag</th>"
		     "<th scope=\"col\">Manifest digest</th>"
		     "<th scope=\"col\">Size</th>"
		     "<th scope=\"col\">Created (UTC)</th>"
		     "<th scope=\"col\">Artifact type</th>"
		     "<th scope=\"col\">Mode</th>"
		     "<th scope=\"col\">Yanked</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < l->nr; i++) {
		const struct tag_item *it = &l->v[i];
		const struct rfs_tag *t = &it->tag;

		html_puts(h, t->yanked ? "<tr class=\"yanked\">" : "<tr>");
		if (with_repo) {
			html_puts(h, "<td>");
			repo_link(h, t->repo);
			html_puts(h, "</td>");
		}
		html_puts(h, "<td><a href=\"");
		tag_href(h, t->repo, t->name);
		html_puts(h, "\">");
		html_text(h, t->name);
		html_puts(h, "</a></td><td>");
		if (it->served[0]) {
			digest_short(h, it->served);
		} else {
			html_puts(h, "<span title=\"");
			html_text(h, it->why);
			html_puts(h, "\">unavailable</span>");
		}
		html_printf(
		    h, "</td><td class=\"num\" title=\"%" PRIu64 " bytes\">",
		    it->size);
		size_text(h, it->size);
		if (t->kind == RFS_TAG_LAYERS)
			html_printf(h, " (%zu layers)", it->n_layers);
		html_puts(h, "</td>");
		time_cell(h, t->created_ns);
		html_puts(h, "<td>");
		html_text(h, t->artifact_type);
		html_puts(h, "</td><td>");
		mode_text(h, t->mode);
		html_puts(h, "</td><td>");
		if (t->yanked)
			html_puts(h, "<strong class=\"mark\">yanked</strong>");
		html_puts(h, "</td></tr>\n");
	}
	html_puts(h, "</tbody>\n</table>\n");
}

/* --- /ui/: the repositories, or a search --------------------------------- */

struct repo_row {
	char *name;
	size_t tags, yanked;
	int64_t newest_ns;
};

/* Repositories after after (or from the first), at most
 * BROWSE_PAGE_ROWS, from a walk of all tags by repository. */
struct repo_list {
	struct repo_row *v;
	size_t nr, alloc;
	const char *after;
	bool more;
};

static int repo_list_add(void *ctx, const struct rfs_tag *tag)
{
	struct repo_list *l = ctx;
	struct repo_row *row = l->nr ? &l->v[l->nr - 1] : NULL;

	if (l->after && strcmp(tag->repo, l->after) <= 0)
		return 0;
	if (!row || strcmp(row->name, tag->repo) != 0) {
		if (l->nr == BROWSE_PAGE_ROWS) {
			l->more = true;
			return WALK_STOP;
		}
		if (l->nr == l->alloc) {
			size_t alloc = l->alloc ? l->alloc * 2 : 64;
			struct repo_row *v = realloc(l->v, alloc * sizeof(*v));

			if (!v)
				return -ENOMEM;
			l->v = v;
			l->alloc = alloc;
		}
		row = &l->v[l->nr];
		row->name = strdup(tag->repo);
		if (!row->name)
			return -ENOMEM;
		row->tags = row->yanked = 0;
		row->newest_ns = tag->created_ns;
		l->nr++;
	}
	row->tags++;
	row->yanked += tag->yanked;
	if (tag->created_ns > row->newest_ns)
		row->newest_ns = tag->created_ns;
	return 0;
}

static void repo_list_release(struct repo_list *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->nr = l->alloc = 0;
}

static int index_page(struct rfs_store *store, const char *last, struct html *h)
{
	struct repo_list l = { .after = last };
	int rc;

	if (last && !rfs_name_valid_repo(last))
		return error_page(h, 400, "invalid repository name '%s'", last);
	rc = rfs_catalog_list_tags(rfs_store_catalog(store), NULL,
				   repo_list_add, &l);
	if (rc < 0) {
		repo_list_release(&l);
		return error_page(h, 500, "cannot list the repositories: %s",
				  strerror(-rc));
	}

	page_begin(h, "Repositories", NULL);
	html_puts(h, "<h1>Repositories</h1>\n");
	if (!l.nr && !last)
		html_puts(h, "<p>The store has no tags yet.</p>\n");
	if (last)
		after_note(h, last, l.nr, NULL, NULL);
	if (l.nr) {
		html_puts(h, "<table>\n<thead><tr>"
			     "<th scope=\"col\">Repository</th>"
			     "<th scope=\"col\">Tags</th>"
			     "<th scope=\"col\">Last change (UTC)</th>"
			     "</tr></thead>\n<tbody>\n");
		for (size_t i = 0; i < l.nr; i++) {
			const struct repo_row *r = &l.v[i];

			html_puts(h, "<tr><td>");
			repo_link(h, r->name);
			html_printf(h, "</td><td class=\"num\">%zu", r->tags);
			if (r->yanked)
				html_printf(h, ", %zu yanked", r->yanked);
			html_puts(h, "</td>");
			time_cell(h, r->newest_ns);
			html_puts(h, "</tr>\n");
		}
		html_puts(h, "</tbody>\n</table>\n");
	}
	if (l.more) {
		html_printf(h,
			    "<p>Only %d repositories are shown a page.</p>\n",
			    BROWSE_PAGE_ROWS);
		next_link(h, NULL, NULL, l.v[l.nr - 1].name);
	}
	page_end(h);
	repo_list_release(&l);
	return 200;
}

static int search_page(struct rfs_store *store, const char *q, const char *last,
		       struct html *h)
{
	char repo[RFS_REPO_MAX + 1], tag[RFS_TAG_MAX + 1];
	char title[BROWSE_QUERY_MAX + 16];
	struct tag_items l = { .v = NULL };
	int rc;

	if (strlen(q) > BROWSE_QUERY_MAX)
		return error_page(h, 400,
				  "the search text is longer than %d bytes",
				  BROWSE_QUERY_MAX);
	if (last) {
		if (rfs_ref_parse(last, repo, sizeof(repo), tag, sizeof(tag)))
			return error_page(h, 400,
					  "invalid reference '%s' (want "
					  "REPOSITORY:TAG)",
					  last);
		l.after_repo = repo;
		l.after_tag = tag;
	}
	/* Yanked tags too, marked, as on a repository's page. */
	rc = rfs_catalog_search(rfs_store_catalog(store), q, NULL, true,
				tag_items_add, &l);
	if (!rc)
		rc = tag_items_complete(store, &l);
	if (rc < 0) {
		tag_items_release(&l);
		return error_page(h, 500, "cannot search: %s", strerror(-rc));
	}

	snprintf(title, sizeof(title), "Search: %s", q);
	page_begin(h, title, q);
	html_puts(h, "<h1>Tags matching &ldquo;");
	html_text(h, q);
	html_puts(h, "&rdquo;</h1>\n<p>");
	if (l.total == 0)
		html_puts(h, "No tag's repository, name or annotations hold "
			     "this text.");
	else
		tag_count(h, l.total, l.yanked);
	html_puts(h, " <a href=\"/ui/\">All repositories</a>.</p>\n");
	if (last)
		after_note(h, last, l.nr, NULL, q);
	if (l.nr)
		tag_table(h, &l, true);
	if (l.more) {
		char next[RFS_REPO_MAX + RFS_TAG_MAX + 2];

		snprintf(next, sizeof(next), "%s:%s", l.v[l.nr - 1].tag.repo,
			 l.v[l.nr - 1].tag.name);
		html_printf(h, "<p>Only %d tags are shown a page.</p>\n",
			    BROWSE_PAGE_ROWS);
		next_link(h, NULL, q, next);
	}
	page_end(h);
	tag_items_release(&l);
	return 200;
}

/* --- /ui/repo/REPOSITORY ------------------------------------------------- */

struct child_list {
	char (*v)[RFS_REPO_MAX + 1];
	size_t nr, alloc;
	bool more;
};

static int child_list_add(void *ctx, const struct rfs_dir *dir)
{
	struct child_list *l = ctx;

	if (l->nr == BROWSE_PAGE_ROWS) {
		l->more = true;
		return WALK_STOP;
	}
	if (l->nr == l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 16;
		char(*v)[RFS_REPO_MAX + 1] = realloc(l->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->alloc = alloc;
	}
	snprintf(l->v[l->nr++], sizeof(l->v[0]), "%s", dir->path);
	return 0;
}

static int repo_page(struct rfs_store *store, const char *repo,
		     const char *last, struct html *h)
{
	struct rfs_catalog *cat = rfs_store_catalog(store);
	struct tag_items l = { .v = NULL };
	struct child_list children = { .v = NULL };
	struct rfs_dir dir;
	int rc;

	if (!rfs_name_valid_repo(repo))
		return error_page(h, 400, "invalid repository name '%s'", repo);
	if (last && !rfs_name_valid_tag(last))
		return error_page(h, 400, "invalid tag '%s'", last);
	rc = rfs_catalog_dir_by_path(cat, repo, &dir);
	if (rc == -ENOENT || (!rc && !dir.sealed))
		return error_page(h, 404, "no such repository '%s'", repo);
	if (rc < 0)
		return error_page(h, 500, "cannot look up '%s': %s", repo,
				  strerror(-rc));
	l.after_repo = last ? repo : NULL;
	l.after_tag = last;
	rc = rfs_catalog_list_tags(cat, repo, tag_items_add, &l);
	if (!rc)
		rc = tag_items_complete(store, &l);
	if (!rc) {
		rc = rfs_catalog_list_dirs(cat, dir.id, true, child_list_add,
					   &children);
		if (rc == WALK_STOP)
			rc = 0;
	}
	if (rc < 0) {
		tag_items_release(&l);
		free(children.v);
		return error_page(h, 500, "cannot list the tags of '%s': %s",
				  repo, strerror(-rc));
	}

	page_begin(h, repo, NULL);
	page_nav(h, repo, NULL);
	html_puts(h, "<h1>");
	html_text(h, repo);
	html_puts(h, "</h1>\n<p>");
	if (l.total) {
		tag_count(h, l.total, l.yanked);
		html_puts(h, " The manifest digest is what a client pulling a "
			     "tag gets; each tag's page shows it in full.");
	} else {
		html_puts(h, "No tags of its own.");
	}
	html_puts(h, "</p>\n");
	if (last)
		after_note(h, last, l.nr, repo, NULL);
	if (l.nr) {
		html_puts(h, "<h2>Tags</h2>\n");
		tag_table(h, &l, false);
	}
	if (l.more) {
		html_printf(h, "<p>Only %d tags are shown a page.</p>\n",
			    BROWSE_PAGE_ROWS);
		next_link(h, repo, NULL, l.v[l.nr - 1].tag.name);
	}
	if (children.nr) {
		html_puts(h, "<h2>Repositories under ");
		html_text(h, repo);
		html_puts(h, "</h2>\n<ul>\n");
		for (size_t i = 0; i < children.nr; i++) {
			html_puts(h, "<li>");
			repo_link(h, children.v[i]);
			html_puts(h, "</li>\n");
		}
		html_puts(h, "</ul>\n");
		if (children.more)
			html_printf(h, "<p>Only the first %d are shown.</p>\n",
				    BROWSE_PAGE_ROWS);
	}
	page_end(h);
	tag_items_release(&l);
	free(children.v);
	return 200;
}

/* --- /ui/tag/REPOSITORY:TAG ---------------------------------------------- */

struct note {
	char *key;
	char *value; /* its first BROWSE_VALUE_MAX + 1 bytes at most */
	size_t key_len, value_len;
};

struct note_list {
	struct note *v;
	size_t nr, alloc, total;
};

static int note_list_add(void *ctx, const char *key, const char *value)
{
	struct note_list *l = ctx;
	struct note *n;

	if (l->total++ >= BROWSE_PAGE_ROWS)
		return 0;
	if (l->nr == l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 16;
		struct note *v = realloc(l->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->alloc = alloc;
	}
	n = &l->v[l->nr];
	n->key_len = strlen(key);
	n->value_len = strlen(value);
	n->key = strndup(key, BROWSE_VALUE_MAX + 1);
	n->value = strndup(value, BROWSE_VALUE_MAX + 1);
	if (!n->key || !n->value) {
		free(n->key);
		free(n->value);
		return -ENOMEM;
	}
	l->nr++;
	return 0;
}

static void note_list_release(struct note_list *l)
{
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->nr = l->alloc = 0;
}

struct layer_list {
	struct rfs_layer *v;
	size_t nr, alloc, total;
	uint64_t size;
};

static int layer_list_add(void *ctx, const struct rfs_layer *layer)
{
	struct layer_list *l = ctx;

	l->size += layer->size;
	if (l->total++ >= BROWSE_PAGE_ROWS)
		return 0;
	if (l->nr == l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 16;
		struct rfs_layer *v = realloc(l->v, alloc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->alloc = alloc;
	}
	l->v[l->nr++] = *layer;
	return 0;
}

/* An annotation's key or value, cut at BROWSE_VALUE_MAX with a note. */
static void long_text(struct html *h, const char *s, size_t len)
{
	if (html_text_max(h, s, BROWSE_VALUE_MAX))
		html_printf(h, " <em>[cut: %zu bytes in all]</em>", len);
}

static void field(struct html *h, const char *name)
{
	html_puts(h, "<tr><th scope=\"row\">");
	html_puts(h, name);
	html_puts(h, "</th><td>");
}

/* Whether host may be named in a command: a DNS name or IPv4 address, or a
 * [IPv6] address, and an optional port. */
static bool host_valid(const char *host)
{
	size_t i = 0, start, n = strlen(host);

	if (n == 0 || n > 255)
		return false;
	if (host[0] == '[') {
		for (i = 1;
		     host[i] && (strchr("0123456789abcdefABCDEF:.", host[i]));
		     i++)
			;
		if (i == 1 || host[i] != ']')
			return false;
		i++;
	} else {
		for (; host[i] && (strchr("abcdefghijklmnopqrstuvwxyz"
					  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					  "0123456789-.",
					  host[i]));
		     i++)
			;
		if (i == 0)
			return false;
	}
	if (host[i] == ':') {
		start = ++i;
		while (host[i] >= '0' && host[i] <= '9')
			i++;
		if (i == start || i - start > 5)
			return false;
	}
	return host[i] == '\0';
}

/* How to fetch the tag with the tools users have. */
static void pull_commands(struct html *h, const struct rfs_tag *t,
			  const char *served, const struct browse_request *req)
{
	bool known = req->host && host_valid(req->host);
	const char *host = known ? req->host : HOST_PLACEHOLDER;
	const char *plain = req->tls ? "" : " --plain-http";
	const char *verify = req->tls ? "" : " --src-tls-verify=false";
	/* HOST/REPOSITORY:TAG; the host is one of at most 255 bytes. */
	char ref[256 + RFS_REPO_MAX + RFS_TAG_MAX + 3];

	snprintf(ref, sizeof(ref), "%s/%s:%s", host, t->repo, t->name);
	html_puts(h, "<h2>Pull</h2>\n");
	if (!known)
		html_puts(h, "<p>" HOST_PLACEHOLDER " stands for this "
			     "server's HOST:PORT.</p>\n");
	html_puts(h, "<pre><code>");
	html_printf(h, "regctl pull%s ", plain);
	html_text(h, ref);
	html_printf(h, "\noras pull%s ", plain);
	html_text(h, ref);
	html_printf(h, "\nskopeo copy%s docker://", verify);
	html_text(h, ref);
	html_puts(h, " dir:");
	html_text(h, t->name);
	html_puts(h, "</code></pre>\n");
	if (served[0]) {
		html_puts(h, "<p>By digest, the same content for ever: "
			     "<code>");
		html_text(h, host);
		html_puts(h, "/");
		html_text(h, t->repo);
		html_puts(h, "@");
		html_text(h, served);
		html_puts(h, "</code></p>\n");
	}
}

static void tag_fields_table(struct html *h, const struct rfs_tag *t,
			     const char *served, const char *why,
			     const struct layer_list *layers)
{
	struct tag_fields f;
	uint64_t size = t->kind == RFS_TAG_LAYERS ? layers->size : t->size;

	tag_fields_format(t, &f);
	html_puts(h, "<table>\n<tbody>\n");
	field(h, "Repository");
	repo_link(h, t->repo);
	html_puts(h, "</td></tr>\n");
	field(h, "Tag");
	html_text(h, t->name);
	html_puts(h, "</td></tr>\n");
	field(h, "Manifest digest");
	if (served[0]) {
		html_puts(h, "<code>");
		html_text(h, served);
		html_puts(h, "</code> (what a client pulling the tag gets)");
	} else {
		html_puts(h, "unavailable: ");
		html_text(h, why);
	}
	html_puts(h, "</td></tr>\n");
	field(h, "Content digest");
	if (t->kind == RFS_TAG_LAYERS) {
		html_printf(h, "one per layer: %zu layers, listed below",
			    layers->total);
	} else {
		html_puts(h, "<code>");
		html_text(h, t->digest);
		html_puts(h, "</code> (the file's bytes: its one layer)");
	}
	html_puts(h, "</td></tr>\n");
	field(h, "Size");
	size_text(h, size);
	html_printf(h, " (%" PRIu64 " bytes%s)</td></tr>\n", size,
		    t->kind == RFS_TAG_LAYERS ? ", all layers" : "");
	field(h, "Created");
	html_puts(h, "<time datetime=\"");
	html_text(h, f.created);
	html_puts(h, "\">");
	html_text(h, f.created);
	html_puts(h, "</time> (sealed or pinned)</td></tr>\n");
	field(h, "Mode");
	mode_text(h, t->mode);
	html_puts(h, "</td></tr>\n");
	field(h, "Mtime");
	html_text(h, f.mtime);
	html_puts(h, "</td></tr>\n");
	field(h, "Origin");
	if (t->origin[0]) {
		char resolved[REGCTL_TIME_STR_MAX];

		html_puts(h, "upstream <strong>");
		html_text(h, t->origin);
		html_puts(h, "</strong>");
		if (t->resolved_ns) {
			regctl_format_time(t->resolved_ns, REGCTL_TIME_RFC3339,
					   resolved);
			html_puts(h, ", last resolved ");
			html_text(h, resolved);
		}
	} else if (t->manifest[0]) {
		html_puts(h, "local: pushed to this registry, served with the "
			     "manifest it was pushed with");
	} else {
		html_puts(h, "local: published into this store, served as the "
			     "manifest regctl push builds for it");
	}
	html_puts(h, "</td></tr>\n");
	field(h, "Artifact type");
	if (t->artifact_type[0])
		html_text(h, t->artifact_type);
	else
		html_puts(h, "none recorded");
	html_puts(h, "</td></tr>\n");
	field(h, "Kind");
	if (t->kind == RFS_TAG_LAYERS)
		html_puts(h, "an image of several layers (a folder in a "
			     "mount)");
	else
		html_puts(h, "a file");
	html_puts(h, "</td></tr>\n");
	field(h, "Yanked");
	if (t->yanked)
		html_puts(h, "<strong class=\"mark\">yes</strong>: left out "
			     "of listings and searches, still pulled by its "
			     "exact name");
	else
		html_puts(h, "no");
	html_puts(h, "</td></tr>\n</tbody>\n</table>\n");
}

static void notes_section(struct html *h, const struct note_list *notes)
{
	html_puts(h, "<h2>Annotations</h2>\n");
	if (!notes->total) {
		html_puts(h, "<p>None.</p>\n");
		return;
	}
	html_puts(h, "<table>\n<thead><tr><th scope=\"col\">Key</th>"
		     "<th scope=\"col\">Value</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < notes->nr; i++) {
		html_puts(h, "<tr><td><code>");
		long_text(h, notes->v[i].key, notes->v[i].key_len);
		html_puts(h, "</code></td><td class=\"value\">");
		long_text(h, notes->v[i].value, notes->v[i].value_len);
		html_puts(h, "</td></tr>\n");
	}
	html_puts(h, "</tbody>\n</table>\n");
	if (notes->total > notes->nr)
		html_printf(h, "<p>%zu more not shown.</p>\n",
			    notes->total - notes->nr);
}

static void layers_section(struct html *h, const struct layer_list *layers)
{
	html_puts(h, "<h2>Layers</h2>\n<table>\n<thead><tr>"
		     "<th scope=\"col\">#</th><th scope=\"col\">File</th>"
		     "<th scope=\"col\">Digest</th><th scope=\"col\">Size</th>"
		     "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < layers->nr; i++) {
		const struct rfs_layer *y = &layers->v[i];

		html_printf(h, "<tr><td class=\"num\">%zu</td><td>", i + 1);
		html_text(h, y->name);
		html_puts(h, "</td><td><code>");
		html_text(h, y->digest);
		html_printf(h,
			    "</code></td><td class=\"num\" title=\"%" PRIu64
			    " bytes\">",
			    y->size);
		size_text(h, y->size);
		html_puts(h, "</td></tr>\n");
	}
	html_puts(h, "</tbody>\n</table>\n");
	if (layers->total > layers->nr)
		html_printf(h, "<p>%zu more not shown.</p>\n",
			    layers->total - layers->nr);
}

static int tag_page(struct rfs_store *store, const char *ref,
		    const struct browse_request *req, struct html *h)
{
	struct rfs_catalog *cat = rfs_store_catalog(store);
	char repo[RFS_REPO_MAX + 1], name[RFS_TAG_MAX + 1];
	char served[RFS_DIGEST_STR_MAX + 1];
	char title[RFS_REPO_MAX + RFS_TAG_MAX + 2];
	struct note_list notes = { .v = NULL };
	struct layer_list layers = { .v = NULL };
	struct rfs_error err = { 0 };
	struct rfs_tag t;
	int rc;

	if (rfs_ref_parse(ref, repo, sizeof(repo), name, sizeof(name)))
		return error_page(h, 400,
				  "invalid reference '%s' (want "
				  "REPOSITORY:TAG)",
				  ref);
	rc = rfs_catalog_tag_get(cat, repo, name, &t);
	if (rc == -ENOENT)
		return error_page(h, 404, "no such tag '%s:%s'", repo, name);
	if (rc < 0)
		return error_page(h, 500, "cannot look up '%s:%s': %s", repo,
				  name, strerror(-rc));
	rc = rfs_catalog_list_annotations(cat, t.id, note_list_add, &notes);
	if (!rc && t.kind == RFS_TAG_LAYERS)
		rc =
		    rfs_catalog_list_layers(cat, t.id, layer_list_add, &layers);
	if (rc < 0) {
		rc = error_page(h, 500, "cannot read '%s:%s': %s", repo, name,
				strerror(-rc));
		goto out;
	}
	served_digest(store, &t, served, &err);

	snprintf(title, sizeof(title), "%s:%s", repo, name);
	page_begin(h, title, NULL);
	page_nav(h, repo, name);
	html_puts(h, "<h1>");
	html_text(h, title);
	if (t.yanked)
		html_puts(h, " <strong class=\"mark\">(yanked)</strong>");
	html_puts(h, "</h1>\n");
	tag_fields_table(h, &t, served, rfs_error_message(&err, err.code),
			 &layers);
	notes_section(h, &notes);
	if (t.kind == RFS_TAG_LAYERS)
		layers_section(h, &layers);
	pull_commands(h, &t, served, req);
	page_end(h);
	rc = 200;
out:
	note_list_release(&notes);
	free(layers.v);
	return rc;
}

/* --- the way in ----------------------------------------------------------- */

/* The rest of path after prefix, without one trailing '/', into buf
 * (size bytes): 1, or 0 when path does not start with prefix, -1 when the
 * rest does not fit (longer than any name). */
static int path_rest(const char *path, const char *prefix, char *buf,
		     size_t size)
{
	size_t n = strlen(prefix), len;

	if (strncmp(path, prefix, n) != 0)
		return 0;
	path += n;
	len = strlen(path);
	if (len && path[len - 1] == '/')
		len--;
	if (len >= size)
		return -1;
	memcpy(buf, path, len);
	buf[len] = '\0';
	return 1;
}

static int route(struct rfs_store *store, const struct browse_request *req,
		 struct html *h)
{
	const char *path = req->path ? req->path : "";
	const char *last = req->last && req->last[0] ? req->last : NULL;
	/* A repository, ':' and a tag, and a NUL. */
	char name[RFS_REPO_MAX + RFS_TAG_MAX + 2];
	int r;

	if (!strcmp(path, "") || !strcmp(path, "/")) {
		if (req->q && req->q[0])
			return search_page(store, req->q, last, h);
		return index_page(store, last, h);
	}
	r = path_rest(path, "/repo/", name, sizeof(name));
	if (r > 0)
		return repo_page(store, name, last, h);
	if (r == 0) {
		r = path_rest(path, "/tag/", name, sizeof(name));
		if (r > 0)
			return tag_page(store, name, req, h);
	}
	if (r < 0)
		return error_page(h, 400, "the name in the path is too long");
	if (!strcmp(path, "/repo") || !strcmp(path, "/tag"))
		return error_page(h, 400, "a name is missing after '/ui%s/'",
				  path);
	return error_page(h, 404, "no such page");
}

static int finish(struct html *h, int status, struct browse_page *out)
{
	if (h->oom || !h->buf) {
		free(h->buf);
		return -ENOMEM;
	}
	out->status = status;
	out->body = h->buf;
	out->len = h->len;
	return 0;
}

int browse_render(struct rfs_store *store, const struct browse_request *req,
		  struct browse_page *out)
{
	struct html h = { .buf = NULL };
	int status;

	*out = (struct browse_page){ 0 };
	status = route(store, req, &h);
	return finish(&h, status, out);
}

int browse_render_error(int status, const char *message,
			struct browse_page *out)
{
	struct html h = { .buf = NULL };

	*out = (struct browse_page){ 0 };
	return finish(&h, error_page(&h, status, "%s", message), out);
}

void browse_page_release(struct browse_page *p)
{
	if (!p)
		return;
	free(p->body);
	*p = (struct browse_page){ 0 };
}
