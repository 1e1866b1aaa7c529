#!/bin/bash
# t1230-serve-browse: the read-only pages of regctl serve under /ui/, loaded
# in headless Chromium (a screenshot of a repository's tags; --dump-dom
# checked for a tag and the manifest digest the registry API serves for it),
# and with curl: a yanked tag marked, an annotation holding <script> shown
# as text, search, 404 and 400 for unknown and malformed names, and 405 for
# POST, PUT and DELETE, which change nothing.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317 # wait_until's quotes; helpers called through check
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
require_cmd curl chromium skopeo
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

rc() { "$REGCTL" --store "$STORE" "$@"; }

# http_code METHOD URL: the status of one request, 000 when nothing answers.
http_code() {
	curl -s -o /dev/null -w '%{http_code}' -X "$1" --max-time 10 "$2" || :
}

# served_digest REPO TAG: the Docker-Content-Digest the registry API gives
# for a manifest.
served_digest() {
	curl -sfI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"$URL/v2/$1/manifests/$2" | tr -d '\r' |
		awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

# lacks TEXT STRING: STRING does not hold TEXT.
lacks() { [[ $2 != *"$1"* ]]; }

# chrome ARGS... URL: headless Chromium, a profile of the test's own, a
# deadline. Its own messages (D-Bus, GPU) go to a log.
chrome() {
	timeout 60 chromium --headless --no-sandbox --disable-gpu \
		--disable-dev-shm-usage --no-first-run --disable-crash-reporter \
		--user-data-dir="$TEST_TMP/chromium" "$@" 2>>"$TEST_TMP/chromium.log"
}

# --- a store with a few tags ---

mkrand "$SRC/a" 100K
mkrand "$SRC/b" 3000
printf '#!/bin/sh\necho tool\n' >"$SRC/tool"
chmod +x "$SRC/tool"
evil='<script>alert("pwned")</script> & "co"'
rc publish "$SRC/a" app:v1 >/dev/null
rc publish --annotation "org.opencontainers.image.description=$evil" \
	--annotation author=ann --artifact-type application/vnd.example.note \
	"$SRC/b" app:v2 >/dev/null
rc publish "$SRC/tool" app:tool >/dev/null
rc publish "$SRC/b" app:old >/dev/null
rc yank app:old >/dev/null
rc publish "$SRC/a" org/tools:1.0 >/dev/null
before=$(rc ls --all --json)

# --- the server ---

serve_start main --store "$STORE"
URL=$SERVE_MAIN_URL
HOSTPORT=$SERVE_MAIN_HOST

# The digest the registry API serves for app:v2, two ways: the header, and
# the hash of the manifest skopeo fetches.
head_digest=$(served_digest app v2)
expect_match "$head_digest" '^sha256:[0-9a-f]{64}$' "the registry serves app:v2 with a digest"
raw_digest=sha256:$(skopeo inspect --raw --tls-verify=false "docker://$HOSTPORT/app:v2" | sha256sum | cut -d' ' -f1)
expect_eq "$raw_digest" "$head_digest" "skopeo's manifest of app:v2 hashes to that digest"
v1_digest=$(served_digest app v1)

# --- the pages in Chromium ---

expect_ok "chromium dumps /ui/" -- chrome --dump-dom "$URL/ui/"
index=$OUT
expect_match "$index" '<a href="/ui/repo/app">app</a>' "/ui/ links repository app"
expect_match "$index" '<a href="/ui/repo/org/tools">org/tools</a>' "/ui/ links repository org/tools"
expect_match "$index" '<form method="get" action="/ui/"' "/ui/ has a GET search form"

run_cmd chrome --screenshot="$TEST_TMP/repo.png" --window-size=1200,800 "$URL/ui/repo/app"
png_size=$(stat -c %s "$TEST_TMP/repo.png" 2>/dev/null || echo 0)
# A blank page of that size is about 5 KB.
check "chromium takes a screenshot of app's tags" test "$png_size" -gt 20000
expect_eq "$(head -c 8 "$TEST_TMP/repo.png" | od -An -tx1 | tr -d ' \n')" \
	"89504e470d0a1a0a" "the screenshot is a PNG"

expect_ok "chromium dumps app's page" -- chrome --dump-dom "$URL/ui/repo/app"
repo=$OUT
expect_match "$repo" '<a href="/ui/tag/app:v1">v1</a>' "app's page lists v1, linked to its page"
expect_match "$repo" "<code title=\"$v1_digest\">${v1_digest:0:19}</code>" \
	"app's page shows v1's manifest digest, short, the full one in a title"
expect_match "$repo" '<tr class="yanked"><td><a href="/ui/tag/app:old">old</a>' "app's page lists the yanked tag, marked"
expect_match "$repo" '<strong class="mark">yanked</strong>' "app's page says yanked"
expect_match "$repo" '<a href="/ui/tag/app:tool">tool</a>.*0755 \(executable\)' "app's page marks the executable tag"

expect_ok "chromium dumps app:v2's page" -- chrome --dump-dom "$URL/ui/tag/app:v2"
tag=$OUT
expect_match "$tag" '<h1>app:v2</h1>' "the tag page names app:v2"
expect_match "$tag" "<code>$head_digest</code>" "the tag page shows the manifest digest the registry serves"
expect_match "$tag" "<code>sha256:$(sha "$SRC/b")</code>" "the tag page shows the content digest"
expect_match "$tag" '&lt;script&gt;alert\("pwned"\)&lt;/script&gt; &amp; "co"' "the annotation with <script> is text"
check "the page has no script element" lacks '<script' "$tag"
expect_match "$tag" "regctl pull --plain-http $HOSTPORT/app:v2" "the tag page tells how to pull it"

# --- the same over plain HTTP ---

run_cmd curl -s -D "$TEST_TMP/headers" "$URL/ui/tag/app:old"
expect_match "$OUT" 'Yanked</th><td><strong class="mark">yes</strong>' "a yanked tag's page says so"
headers=$(tr -d '\r' <"$TEST_TMP/headers")
check "pages are served as HTML in UTF-8" grep -qix 'content-type: text/html; charset=utf-8' <<<"$headers"
check "pages forbid scripts (CSP)" grep -qi "^content-security-policy: default-src 'none'" <<<"$headers"
expect_eq "$(http_code HEAD "$URL/ui/repo/app")" 200 "HEAD /ui/repo/app is 200"
run_cmd curl -s "$URL/ui/?q=script"
expect_match "$OUT" '<a href="/ui/tag/app:v2">v2</a>' "a search finds the tag by its annotation"
check "... and only it" lacks '/ui/tag/app:v1"' "$OUT"
run_cmd curl -s -G --data-urlencode 'q=<b>"x"' "$URL/ui/"
expect_match "$OUT" 'value="&lt;b&gt;&quot;x&quot;"' "the search text is escaped in the form"

expect_eq "$(http_code GET "$URL/ui/tag/nosuch:tag")" 404 "GET /ui/tag/nosuch:tag is 404"
expect_eq "$(http_code GET "$URL/ui/repo/nosuch")" 404 "GET /ui/repo/nosuch is 404"
expect_eq "$(http_code GET "$URL/ui/tag/app")" 400 "GET /ui/tag/app (no tag) is 400"
expect_eq "$(http_code GET "$URL/ui/repo/Bad..Name")" 400 "GET /ui/repo/Bad..Name is 400"

for m in POST PUT DELETE; do
	for p in /ui/ /ui/repo/app /ui/tag/app:v1; do
		expect_eq "$(http_code "$m" "$URL$p")" 405 "$m $p is 405"
	done
done
expect_eq "$(rc ls --all --json)" "$before" "the store is as it was"
expect_eq "$(http_code GET "$URL/ui/tag/app:v1")" 200 "app:v1 is still there"

# A tag pushed over the API is shown with the manifest it was pushed with.
expect_ok "regctl push to the server" -- rc push --plain-http app:v2 "$HOSTPORT/pushed:v2"
run_cmd curl -s "$URL/ui/tag/pushed:v2"
expect_match "$OUT" "<code>$head_digest</code>" "app:v2 pushed as pushed:v2 shows app:v2's manifest digest"
expect_ok "skopeo copies an OCI artifact to the server" -- \
	skopeo copy --src-tls-verify=false --dest-tls-verify=false \
	"docker://$HOSTPORT/app:v1" "docker://$HOSTPORT/copied:v1"
copied_digest=$(served_digest copied v1)
run_cmd curl -s "$URL/ui/tag/copied:v1"
expect_match "$OUT" "<code>$copied_digest</code>" "a pushed tag's page shows the digest it is served with"
expect_match "$OUT" 'local: pushed to this registry' "... and says it was pushed"

serve_stop main
expect_eq "$SERVE_RC" 0 "regctl serve stops cleanly on SIGTERM"
done_testing
