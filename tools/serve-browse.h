/*
 * serve-browse.h - the read-only pages regctl serve shows under /ui/: the
 * repositories of the store, the tags of one, everything about one tag, and
 * a search (the index of regctl search).
 *
 * Pure rendering: the server decodes a GET or HEAD request, calls
 * browse_render() and sends the page; this module only looks up and lists
 * the catalog and writes HTML. It changes nothing, keeps no state between
 * calls, and may run in several threads at once on one store.
 *
 * The pages are plain HTML5 rendered on the server: no script, no external
 * resource (one small inline <style>), real headings and tables, so that
 * w3m and lynx read them as well as a graphical browser does. Their only
 * links are GET links under /ui/ and their only form is a GET search form.
 * Every value from the catalog (names, annotation keys and values, types)
 * is escaped for HTML text and attributes, with invalid UTF-8 and control
 * characters shown as U+FFFD, and percent-encoded where it goes into a URL.
 *
 *   /ui/                         repositories: tag count (yanked ones
 *                                counted apart), when the newest tag was
 *                                sealed or pinned; the search form
 *   /ui/?q=TEXT                  tags whose repository, name, annotation key
 *                                or value holds TEXT (case-insensitively),
 *                                yanked ones marked
 *   /ui/repo/REPOSITORY          its tags: served manifest digest (short,
 *                                the full one in a title), size, created,
 *                                artifact type, mode, a yanked mark; the
 *                                repositories below it
 *   /ui/tag/REPOSITORY:TAG       the tag: manifest digest a client pulls,
 *                                content digest, size, created, mode, mtime,
 *                                origin, artifact type, kind, yanked,
 *                                annotations, layers, how to pull it
 *
 * Listings show at most BROWSE_PAGE_ROWS rows a page; the page then ends
 * with a link to the next one, which carries last=, the last row shown (a
 * repository on /ui/, a tag on a repository's page, REPOSITORY:TAG in
 * search results), as the distribution API pages tag lists. A tag's
 * annotations and layers are shown up to BROWSE_PAGE_ROWS each (a note
 * says how many more), an annotation's key or value up to
 * BROWSE_VALUE_MAX bytes.
 *
 * Links are absolute paths under /ui/: the server must serve the pages
 * there.
 */
#ifndef REGCTL_SERVE_BROWSE_H
#define REGCTL_SERVE_BROWSE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define BROWSE_PAGE_ROWS 1000
#define BROWSE_VALUE_MAX 4096
/* The longest search text (q=) a page takes; longer is a 400. */
#define BROWSE_QUERY_MAX 256

/* Headers the server should send with every page (the CSP forbids any
 * script and any resource from elsewhere; the pages need neither). */
#define BROWSE_CONTENT_TYPE "text/html; charset=utf-8"
#define BROWSE_CSP                                                        \
	"default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; " \
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

struct browse_request {
	/* The URL path after "/ui", as the server decoded it: "" or "/",
	 * "/repo/REPOSITORY", "/tag/REPOSITORY:TAG" (one trailing '/' is
	 * allowed). */
	const char *path;
	/* Query parameters, URL-decoded, or NULL (and "" is as NULL): q, the
	 * search text (used on /ui/ only); last, where the previous page of a
	 * listing ended. */
	const char *q;
	const char *last;
	/* HOST[:PORT] that clients reach the server at, for the pull commands
	 * a tag page shows (the request's Host header will do). NULL, or
	 * anything but a host name, an IPv4 or a [IPv6] address with an
	 * optional port: the commands say REGISTRY. */
	const char *host;
	/* The server speaks TLS: the commands have no --plain-http (regctl,
	 * oras) and no --src-tls-verify=false (skopeo). */
	bool tls;
};

struct browse_page {
	/* 200; 400 for a malformed path or parameter; 404 for an unknown
	 * page, repository or tag; 500 when the catalog failed (a short
	 * message on the page, nothing partial). */
	int status;
	char *body; /* malloc()ed HTML5, UTF-8; release with the function */
	size_t len;
};

/* Render the page req asks for into out, which is filled whatever the
 * status. Returns 0, or -ENOMEM (out is then empty) when the page could not
 * be built: the server answers a plain 500. */
int browse_render(struct rfs_store *store, const struct browse_request *req,
		  struct browse_page *out);

/* An error page in the same style, for the server's own answers under /ui/
 * (405 to anything but GET and HEAD, with "Allow: GET, HEAD"). message is
 * plain text. Returns 0 or -ENOMEM. */
int browse_render_error(int status, const char *message,
			struct browse_page *out);

/* Free the body and clear *p; accepts a cleared or released page. */
void browse_page_release(struct browse_page *p);

#endif
