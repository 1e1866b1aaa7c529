#!/bin/bash
# t1205-serve-bad-input: regctl serve against hostile and broken clients,
# with curl (and a raw socket for the stalls). Every check also asks
# whether the server is still alive and answering (/health 200).
# - Malformed manifests (truncated, not JSON, wrong shapes and types,
#   trailing bytes, a NUL, bad UTF-8, a body that is not its Content-Type):
#   400 MANIFEST_INVALID, never 500. JSON bombs: 100 000 '[' (closed or
#   not) and 100 000 nested objects are 400 MANIFEST_INVALID (jansson's
#   depth limit); a 5 MiB manifest is 413 SIZE_INVALID, naming the limit
#   (the spec's answer to a manifest over the registry's limit, 4 MiB:
#   one of exactly 4 MiB is taken, one byte more is not).
# - A manifest naming a blob (layer, config, or a blob only another
#   repository has) or, for an index, a manifest that is not there: 400
#   MANIFEST_BLOB_UNKNOWN.
# - Digests of another algorithm (sha512, md5), a wrong length, upper case
#   hex, an empty or upper-case algorithm: 400 DIGEST_INVALID from every
#   route that takes one (blob GET/HEAD, manifest GET/PUT, referrers,
#   upload POST/PUT); the PUT is refused before its body, and the session
#   it named still finishes.
# - Path traversal and bad names ('..' plain and %2e%2e, %2f, upper case,
#   '.', empty components, over 255 characters, %00): 400 NAME_INVALID or
#   404 with an OCI error body; nothing outside the store is read or
#   written; %00 never cuts a tag short.
# - Uploads: content that is not its digest is 400 DIGEST_INVALID and
#   nothing is recorded (no blob file, staging empty, fsck clean); a PATCH
#   that claims a Content-Length and stalls is cut off after
#   --idle-timeout 2, and what came in stays in the session (the man
#   page: sessions keep their bytes until --upload-timeout), resumable
#   from the Range a GET reports; a body that trickles in is cut off at
#   --request-timeout; chunks out of order, sent again or overlapping get
#   416 with the session's Range and Location, and a Content-Range whose
#   length is not the Content-Length is 416 too, the session unchanged;
#   --upload-timeout 1 forgets a session (404 BLOB_UPLOAD_UNKNOWN);
#   --max-uploads 2 refuses a third (429 TOOMANYREQUESTS); refused POSTs
#   (bad digest, bad content, client gone) keep no session.
# - Tag lists: n=abc and n=-1 are 400; n is capped at 1000 a page, with a
#   Link to the next.
# - Immutability: the same manifest pushed again to a tag is 201; another
#   one is 409 DENIED naming the tag, and the tag is unchanged;
#   --mutable-tags 'dev/*' lets dev/app:latest move, and a mount and
#   regctl ls show the new content.
# - A full store (an 8 MiB tmpfs, as t0190 makes; needs root): an upload
#   that does not fit is 507 with a clear message, before a byte when
#   Content-Length says so and at ENOSPC when it does not, the session
#   then ended and its space given back; a manifest PUT at ENOSPC is 507;
#   fsck exits 0 after each; the server still serves, and pushes again
#   once there is room.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317,SC2119,SC2120 # wait_until's quotes; helpers called through check
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
require_cmd python3
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

MT_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_INDEX=application/vnd.oci.image.index.v1+json
BODY=$TEST_TMP/body
HDR=$TEST_TMP/hdr

rc() { "$REGCTL" --store "$STORE" "$@"; }

# alive [NAME]: the server (main by default) runs and answers /health.
alive() {
	local n=${1:-main}
	local pid=SERVE_${n^^}_PID url=SERVE_${n^^}_URL
	proc_alive "${!pid}" &&
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${!url}/health") == 200 ]]
}

# req METHOD PATH [CURL-ARGS...]: one request to $URL; the status in CODE,
# the body in $BODY, the headers (no CR) in $HDR. PATH is sent as it is.
req() {
	local m=$1 p=$2
	shift 2
	local how=(-X "$m")
	[[ $m == HEAD ]] && how=(-I)
	CODE=$(curl -s --path-as-is --max-time 30 -o "$BODY" -D "$HDR.raw" -w '%{http_code}' \
		"${how[@]}" "$@" "$URL$p") || CODE=000
	tr -d '\r' <"$HDR.raw" >"$HDR" 2>/dev/null || :
}

# oci_code: the first error code of the body of the last req (the
# server's compact JSON), or what the body was.
oci_code() {
	local code
	code=$(sed -n 's/^{"errors":\[{"code":"\([A-Z_]*\)","message":".*}]}$/\1/p' "$BODY")
	if [[ -n $code ]]; then
		printf '%s\n' "$code"
	else
		printf '(not an OCI error body: %s)\n' "$(head -c 120 "$BODY" | tr -c '[:print:]' '?')"
	fi
}

oci_message() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["errors"][0]["message"])' "$BODY" 2>/dev/null || :
}

# hdr NAME: a header of the last req.
hdr() {
	awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$1")" -F': ' 'tolower($1) == h { sub(/^[^:]*: /, ""); v = $0 } END { print v }' "$HDR"
}

# answered DESC STATUS-ERE CODE-ERE [HEAD]: the last request was answered
# with a status matching STATUS-ERE and, unless CODE-ERE is empty (or the
# request a HEAD), an OCI error body whose code matches; and the server is
# still alive. One assertion.
answered() {
	local desc=$1 want=$2 want_code=$3 head=${4:-}
	local got_code='' why=''
	[[ $CODE =~ ^($want)$ ]] || why="status $CODE, not $want"
	if [[ -n $want_code && $head != HEAD ]]; then
		got_code=$(oci_code)
		[[ $got_code =~ ^($want_code)$ ]] || why+="${why:+; }code $got_code, not $want_code"
	fi
	alive || why+="${why:+; }the server does not answer any more"
	if [[ -z $why ]]; then
		ok "$desc: $CODE${got_code:+ $got_code}"
	else
		fail "$desc"
		diag "$why" "body: $(head -c 300 "$BODY" | tr -c '[:print:]' '?')"
	fi
}

# answers DESC STATUS-ERE CODE-ERE METHOD PATH [CURL-ARGS...]: req, then
# answered.
answers() {
	local desc=$1 want=$2 want_code=$3
	shift 3
	req "$@"
	answered "$desc" "$want" "$want_code" "$1"
}

# mutate PYTHON-STATEMENT: good.json (as m), changed, on stdout.
mutate() {
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
exec(sys.argv[2])
sys.stdout.write(json.dumps(m, separators=(",", ":")))' "$SRC/good.json" "$1"
}

# upload_file REPO FILE: a monolithic upload (POST ?digest=), 201.
upload_file() {
	req POST "/v2/$1/blobs/uploads/?digest=sha256:$(sha "$2")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$2"
	[[ $CODE == 201 ]] || bail_out "upload of ${2##*/} to $1: $CODE $(cat "$BODY")"
}

# open_session: POST to app; the session's path in LOC.
open_session() {
	req POST /v2/app/blobs/uploads/
	[[ $CODE == 202 ]] || bail_out "POST of an upload: $CODE $(cat "$BODY")"
	LOC=$(hdr location)
}

# manifest CONFIG-FILE LAYER-FILE... > FILE: an image manifest of them.
manifest() {
	python3 - "$@" <<'EOF'
import hashlib, json, os, sys
def desc(mt, path):
    data = open(path, "rb").read()
    return {"mediaType": mt, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}
cfg = sys.argv[1]
print(json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "artifactType": "application/vnd.example.test",
    "config": desc("application/vnd.oci.empty.v1+json", cfg),
    "layers": [dict(desc("application/vnd.oci.image.layer.v1.tar", p),
                    annotations={"org.opencontainers.image.title": os.path.basename(p)})
               for p in sys.argv[2:]],
}, separators=(",", ":")))
EOF
}

put_manifest() { # REPO REF FILE [CONTENT-TYPE]
	req PUT "/v2/$1/manifests/$2" -H "Content-Type: ${4:-$MT_MANIFEST}" --data-binary "@$3"
}

# blob_files: the blob files in the store.
blob_files() { find "$STORE/blobs" -type f | wc -l | tr -d ' '; }
staging_files() { find "$STORE/staging" -mindepth 1 2>/dev/null | wc -l | tr -d ' '; }

fsck_clean() {
	local store=${1:-$STORE}
	expect_status 0 "$REGCTL" --store "$store" fsck
	expect_match "$OUT" ' 0 missing, 0 corrupt' "fsck finds no damage"
}

# --- the server and a first image -----------------------------------------------

serve_start main --store "$STORE" --idle-timeout 2 --request-timeout 4 --mutable-tags 'dev/*'
URL=$SERVE_MAIN_URL
PORT=$SERVE_MAIN_PORT

printf '{}' >"$SRC/config"
mkrand "$SRC/layer" 64K
mkrand "$SRC/other" 3K
upload_file app "$SRC/config"
upload_file app "$SRC/layer"
manifest "$SRC/config" "$SRC/layer" >"$SRC/good.json"
put_manifest app v1 "$SRC/good.json"
expect_eq "$CODE" 201 "a good manifest is taken (app:v1)"
V1=sha256:$(sha "$SRC/good.json")
expect_eq "$(hdr docker-content-digest)" "$V1" "... with its digest"

# --- malformed manifests --------------------------------------------------------

good=$(cat "$SRC/good.json")
bad() { # NAME CONTENT
	printf '%s' "$2" >"$SRC/bad-$1.json"
	answers "malformed manifest ($1)" 400 MANIFEST_INVALID \
		PUT /v2/app/manifests/bad -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/bad-$1.json"
}
bad truncated "${good:0:60}"
bad not-json 'not json at all'
bad empty ''
bad array '[]'
bad string '"manifest"'
bad empty-object '{}'
bad schema-1 '{"schemaVersion":1,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
bad layers-object "$(mutate 'm["layers"] = {"x": m["layers"]}')"
bad layers-string "$(mutate 'm["layers"] = "x"')"
bad layer-not-object "$(mutate 'm["layers"] = [1, 2]')"
bad size-string "$(mutate 'm["config"]["size"] = "2"')"
bad size-negative "$(mutate 'm["config"]["size"] = -2')"
bad size-float "$(mutate 'm["config"]["size"] = 2.5')"
bad size-huge "$(mutate 'm["config"]["size"] = 2' | sed 's/"size":2}/"size":1e400}/')"
bad no-config "$(mutate 'del m["config"]')"
bad no-digest "$(mutate 'del m["layers"][0]["digest"]')"
bad digest-number "$(mutate 'm["layers"][0]["digest"] = 5')"
bad layer-digest "$(mutate 'm["layers"][0]["digest"] = "sha256:zz"')"
bad media-type-number "$(mutate 'm["mediaType"] = 2')"
bad trailing "$good garbage"
bad two-documents "$good$good"
printf '%s' "${good%\}}" >"$SRC/bad-nul.json"
printf ',"annotations":{"a":"x\0y"}}' >>"$SRC/bad-nul.json"
answers "malformed manifest (a NUL byte)" 400 MANIFEST_INVALID \
	PUT /v2/app/manifests/bad -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/bad-nul.json"
printf '%s' "${good%\}}" >"$SRC/bad-utf8.json"
printf ',"annotations":{"a":"\xff\xfe"}}' >>"$SRC/bad-utf8.json"
answers "malformed manifest (invalid UTF-8)" 400 MANIFEST_INVALID \
	PUT /v2/app/manifests/bad -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/bad-utf8.json"
answers "a manifest sent as an index" 400 MANIFEST_INVALID \
	PUT /v2/app/manifests/bad -H "Content-Type: $MT_INDEX" --data-binary "@$SRC/good.json"
answers "a manifest PUT by a digest that is not its own" 400 DIGEST_INVALID \
	PUT "/v2/app/manifests/sha256:$(sha "$SRC/layer")" -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
answers "a manifest PUT to an invalid tag" 400 MANIFEST_INVALID \
	PUT /v2/app/manifests/.hidden -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
req GET /v2/app/tags/list
expect_eq "$(cat "$BODY")" '{"name":"app","tags":["v1"]}' "no malformed manifest made a tag"

# --- JSON bombs -----------------------------------------------------------------

python3 -c 'import sys; sys.stdout.write("[" * 100000)' >"$SRC/bomb-open"
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$SRC/bomb-closed"
python3 -c 'import sys; sys.stdout.write("{\"a\":" * 100000 + "1" + "}" * 100000)' >"$SRC/bomb-objects"
for b in open closed objects; do
	answers "a JSON bomb ($b, nested 100 000 deep)" 400 MANIFEST_INVALID \
		PUT /v2/app/manifests/bomb -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/bomb-$b"
done
expect_match "$(oci_message)" 'depth' "... the message says why"

# A manifest of exactly the limit, 4 MiB (padded with spaces), is taken;
# one byte more is 413.
python3 - "$SRC/good.json" "$SRC/max.json" 4194304 <<'EOF'
import sys
body = open(sys.argv[1], "rb").read().rstrip()
assert body.endswith(b"}")
open(sys.argv[2], "wb").write(body[:-1] + b" " * (int(sys.argv[3]) - len(body)) + b"}")
EOF
put_manifest app "sha256:$(sha "$SRC/max.json")" "$SRC/max.json"
expect_eq "$CODE" 201 "a manifest of exactly 4 MiB is taken"
{ cat "$SRC/max.json"; printf ' '; } >"$SRC/over.json"
answers "a manifest of 4 MiB + 1 byte" 413 SIZE_INVALID \
	PUT /v2/app/manifests/big -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/over.json"
head -c 5M /dev/zero | tr '\0' ' ' >"$SRC/5m.json"
answers "a 5 MiB manifest" 413 SIZE_INVALID \
	PUT /v2/app/manifests/big -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/5m.json"
expect_match "$(oci_message)" '4194304 bytes at most' "... the message names the limit"

# --- blobs the manifest names that are not there --------------------------------

mkrand "$SRC/never" 1K
manifest "$SRC/config" "$SRC/layer" "$SRC/never" >"$SRC/m-missing-layer.json"
answers "a manifest naming a layer never uploaded" 400 MANIFEST_BLOB_UNKNOWN \
	PUT /v2/app/manifests/missing -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/m-missing-layer.json"
expect_match "$(oci_message)" "sha256:$(sha "$SRC/never")" "... the message names the blob"
printf '{"x":1}' >"$SRC/config2"
manifest "$SRC/config2" "$SRC/layer" >"$SRC/m-missing-config.json"
answers "a manifest naming a config never uploaded" 400 MANIFEST_BLOB_UNKNOWN \
	PUT /v2/app/manifests/missing -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/m-missing-config.json"
upload_file other "$SRC/other"
manifest "$SRC/config" "$SRC/other" >"$SRC/m-other-repo.json"
answers "a manifest naming a blob only another repository has" 400 MANIFEST_BLOB_UNKNOWN \
	PUT /v2/app/manifests/missing -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/m-other-repo.json"
python3 - "$V1" >"$SRC/index.json" <<'EOF'
import json, sys
d = sys.argv[1]
print(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d[:-4] + "0000", "size": 100}]}))
EOF
answers "an index naming a manifest that is not there" 400 MANIFEST_BLOB_UNKNOWN \
	PUT /v2/app/manifests/missing -H "Content-Type: $MT_INDEX" --data-binary "@$SRC/index.json"
answers "... and none of them made the tag" 404 MANIFEST_UNKNOWN GET /v2/app/manifests/missing

# --- digests --------------------------------------------------------------------

h=$(sha "$SRC/layer")
bad_digests=(
	"sha512:$(sha512sum <"$SRC/layer" | cut -d' ' -f1)"
	"md5:$(md5sum <"$SRC/layer" | cut -d' ' -f1)"
	"sha256:${h:0:63}"
	"sha256:${h}0"
	"sha256:${h^^}"
	"SHA256:$h"
	"sha256:"
	":$h"
	"sha256:${h:0:63}g"
)
# check_route STATUS METHOD PATH [CURL-ARGS...]: a request refused with
# DIGEST_INVALID; else a line in wrong.
check_route() {
	local want=$1
	shift
	req "$@"
	local code=
	[[ $1 == HEAD ]] || code=$(oci_code)
	if [[ $CODE != "$want" || ($1 != HEAD && $code != DIGEST_INVALID) ]]; then
		wrong+=("$1 ${2%%\?*}: $CODE $code")
	fi
}
open_session
keep=$LOC
for d in "${bad_digests[@]}"; do
	wrong=()
	check_route 400 GET "/v2/app/blobs/$d"
	check_route 400 HEAD "/v2/app/blobs/$d"
	check_route 400 GET "/v2/app/manifests/$d"
	check_route 400 HEAD "/v2/app/manifests/$d"
	check_route 400 PUT "/v2/app/manifests/$d" -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
	check_route 400 GET "/v2/app/referrers/$d"
	check_route 400 POST "/v2/app/blobs/uploads/?digest=$d" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$SRC/layer"
	check_route 400 PUT "$keep?digest=$d" -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/other"
	if ((${#wrong[@]} == 0)) && alive; then
		ok "digest '${d:0:24}...' is 400 DIGEST_INVALID on every route"
	else
		fail "digest '${d:0:24}...' is 400 DIGEST_INVALID on every route"
		diag "${wrong[@]}"
	fi
done
req GET "$keep"
expect_eq "$CODE $(hdr range)" "204 0-0" "the session those PUTs named took none of their bodies"
req PUT "$keep?digest=sha256:$(sha "$SRC/other")" -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/other"
expect_eq "$CODE" 201 "... and finishes with the right digest"

# --- names and paths ------------------------------------------------------------

touch "$TEST_TMP/marker"
sleep 0.01
long=$(printf 'a%.0s' {1..256})
name_paths=(
	'/v2/../etc/manifests/x'
	'/v2/../../../../etc/passwd/blobs/sha256:'"$h"
	'/v2/a/../b/tags/list'
	'/v2/%2e%2e/etc/manifests/x'
	'/v2/a/%2e%2e/%2e%2e/etc/tags/list'
	'/v2/a%2f..%2f..%2fetc/tags/list'
	'/v2/app/manifests/..%2f..%2f..%2fcatalog.db'
	'/v2/app/blobs/..%2f..%2fcatalog.db'
	'/v2/App/tags/list'
	'/v2/APP/manifests/v1'
	'/v2/a/./b/tags/list'
	'/v2/./tags/list'
	'/v2/a//b/tags/list'
	'/v2//tags/list'
	'/v2/-a/tags/list'
	'/v2/a%20b/tags/list'
	'/v2/app%00x/tags/list'
	"/v2/$long/tags/list"
	"/v2/$long/manifests/v1"
	"/v2/$long/blobs/sha256:$h"
)
for p in "${name_paths[@]}"; do
	answers "GET ${p:0:60}" '400|404' 'NAME_INVALID|NAME_UNKNOWN|MANIFEST_UNKNOWN|BLOB_UNKNOWN' GET "$p"
	check "... which shows no file of the system" _lib_not grep -q 'root:' "$BODY"
done
answers "a name of 256 characters" 400 NAME_INVALID GET "/v2/$long/tags/list"
answers "an upper-case name" 400 NAME_INVALID GET /v2/App/tags/list
answers "a name of 255 characters is valid" 404 NAME_UNKNOWN GET "/v2/${long:1}/tags/list"
for p in /v2/../x/manifests/v1 /v2/%2e%2e/%2e%2e/x/manifests/v1 /v2/a/../../x/manifests/v1 "/v2/$long/manifests/v1"; do
	answers "PUT ${p:0:40}" 400 NAME_INVALID PUT "$p" -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
done
for p in /v2/../x/blobs/uploads/ /v2/%2e%2e/x/blobs/uploads/ "/v2/$long/blobs/uploads/"; do
	answers "POST ${p:0:40}" 400 NAME_INVALID POST "$p?digest=sha256:$h" --data-binary "@$SRC/layer"
done
answers "GET of a tag with %00" 404 MANIFEST_UNKNOWN GET /v2/app/manifests/v1%00x
answers "PUT of a tag with %00" 400 MANIFEST_INVALID \
	PUT /v2/app/manifests/v2%00x -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
answers "... which did not make the tag it would cut to" 404 MANIFEST_UNKNOWN GET /v2/app/manifests/v2
written=$(find "$TEST_TMP" -newer "$TEST_TMP/marker" -type f ! -path "$STORE/*" ! -name '*.log' \
	! -path "$TEST_TMP/body" ! -path "$TEST_TMP/hdr*" | sed "s|$TEST_TMP/||")
expect_eq "$written" "" "nothing was written outside the store"

# --- uploads: content that is not its digest ------------------------------------

before=$(blob_files)
mkrand "$SRC/liar" 100K
claimed=sha256:$(sha "$SRC/other" | tr '0-9a-f' '1-9a-f0')
answers "a monolithic upload whose content is not its digest" 400 DIGEST_INVALID \
	POST "/v2/app/blobs/uploads/?digest=$claimed" -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/liar"
open_session
req PATCH "$LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/liar"
answers "a chunked upload whose content is not its digest" 400 DIGEST_INVALID PUT "$LOC?digest=$claimed"
answers "... ends its session" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
expect_eq "$(blob_files)" "$before" "no blob file was added"
check "no blob has the content's digest" test ! -e "$STORE/blobs/sha256/$(sha "$SRC/liar")"
check "staging is empty" wait_until 5 'test "$(staging_files)" -eq 0'
answers "the claimed blob is unknown" 404 BLOB_UNKNOWN GET "/v2/app/blobs/$claimed"
fsck_clean

# --- uploads: a stall and a trickle ---------------------------------------------

# stall PATH CONTENT-LENGTH BYTES SECONDS: send a PATCH's headers and BYTES
# bytes of its body, then nothing; prints what came back and after how long
# the server closed the connection ("closed N.N" or "open" after SECONDS).
stall() {
	python3 - "$PORT" "$@" <<'EOF'
import socket, sys, time
port, path, length, nbytes, secs = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: %s\r\n\r\n" % (path, length)).encode() + b"s" * nbytes)
t = time.time()
s.settimeout(secs)
try:
    data = s.recv(4096)
    print("closed %.1f %d" % (time.time() - t, len(data)))
except socket.timeout:
    print("open")
EOF
}

open_session
run_cmd stall "$LOC" 1000 10 15
expect_match "$OUT" '^closed [1-5]\.[0-9] 0$' "a PATCH that stalls after 10 of 1000 bytes is cut off after --idle-timeout 2, unanswered"
check "... and the server is alive" alive
req GET "$LOC"
expect_eq "$CODE $(hdr range)" "204 0-9" "the 10 bytes that came in are in the session"
head -c 10 /dev/zero | tr '\0' s >"$SRC/stalled"
mkrand "$SRC/rest" 20K
cat "$SRC/stalled" "$SRC/rest" >"$SRC/whole"
req PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H "Content-Range: 10-$((10 + 20480 - 1))" --data-binary "@$SRC/rest"
expect_eq "$CODE $(hdr range)" "202 0-20489" "the upload resumes from the Range the server reported"
req PUT "$LOC?digest=sha256:$(sha "$SRC/whole")"
expect_eq "$CODE" 201 "... and finishes"
check "the access log says it was cut off" grep -q 'PATCH app [0-9a-f]* .*(cut off)$' "$SERVE_MAIN_LOG"

# A body that trickles in, a byte a second (each within the idle
# timeout), is cut off at --request-timeout 4.
trickle() {
	python3 - "$PORT" "$1" <<'EOF'
import socket, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: 1000\r\n\r\n" % path).encode())
t = time.time()
try:
    while time.time() - t < 20:
        time.sleep(1)
        s.sendall(b"t")
    print("open")
except OSError:
    print("closed %d" % (time.time() - t))
EOF
}
open_session
run_cmd trickle "$LOC"
expect_match "$OUT" '^closed [3-9]$' "a PATCH trickling a byte a second is cut off at --request-timeout 4 ($OUT)"
check "... and the server is alive" alive

# --- uploads: chunks ------------------------------------------------------------

printf 'AAAAA' >"$SRC/c1"
printf 'BBBBB' >"$SRC/c2"
printf 'CCCCC' >"$SRC/c3"
cat "$SRC/c1" "$SRC/c2" "$SRC/c3" >"$SRC/chunked"
patch() { # PATH RANGE FILE [CURL-ARGS]
	local p=$1 r=$2 f=$3
	shift 3
	req PATCH "$p" -H 'Content-Type: application/octet-stream' -H "Content-Range: $r" --data-binary "@$f" "$@"
}
open_session
patch "$LOC" 0-4 "$SRC/c1"
expect_eq "$CODE $(hdr range)" "202 0-4" "the first chunk is taken"
refused() { # DESC: 416, BLOB_UPLOAD_INVALID, and the session's Range 0-4 and Location
	local why=
	[[ $CODE == 416 ]] || why="status $CODE"
	[[ $(oci_code) == BLOB_UPLOAD_INVALID ]] || why+=" code $(oci_code)"
	[[ $(hdr range) == 0-4 ]] || why+=" Range '$(hdr range)'"
	[[ $(hdr location) == "$LOC" ]] || why+=" Location '$(hdr location)'"
	alive || why+=" the server does not answer"
	if [[ -z $why ]]; then ok "$1: 416 with Range 0-4 and the Location"; else
		fail "$1"
		diag "$why" "$(cat "$BODY")"
	fi
}
patch "$LOC" 0-4 "$SRC/c1"
refused "the same chunk sent again"
patch "$LOC" 10-14 "$SRC/c3"
refused "a chunk out of order (10-14 after 0-4)"
patch "$LOC" 3-7 "$SRC/c2"
refused "an overlapping chunk (3-7)"
patch "$LOC" 5-14 "$SRC/c2"
refused "a chunk whose Content-Range (10 bytes) is not its Content-Length (5)"
patch "$LOC" 5-6 "$SRC/c2"
refused "a chunk whose Content-Range (2 bytes) is not its Content-Length (5)"
patch "$LOC" abc "$SRC/c2"
refused "a Content-Range that is not one"
req GET "$LOC"
expect_eq "$CODE $(hdr range)" "204 0-4" "the session took none of them"
patch "$LOC" 5-9 "$SRC/c2"
expect_eq "$CODE $(hdr range)" "202 0-9" "the next chunk is taken"
req PUT "$LOC?digest=sha256:$(sha "$SRC/chunked")" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 10-14' --data-binary "@$SRC/c3"
expect_eq "$CODE" 201 "the last chunk comes with the PUT"
req GET "/v2/app/blobs/sha256:$(sha "$SRC/chunked")"
expect_eq "$(cat "$BODY")" AAAAABBBBBCCCCC "the blob is the chunks in order"
# Without Content-Length (chunked transfer encoding) the length is only
# known at the end: a body that is not its Content-Range ends the session.
open_session
patch "$LOC" 0-9 "$SRC/c1" -H 'Transfer-Encoding: chunked'
answered "a chunk without Content-Length that is shorter than its Content-Range" 400 SIZE_INVALID
answers "... ends its session" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
open_session
answers "a session of another repository is unknown here" 404 BLOB_UPLOAD_UNKNOWN GET "${LOC/\/app\//\/other\/}"
answers "DELETE of a session" 204 '' DELETE "$LOC"
answers "... which is then unknown" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
answers "a PATCH to it" 404 BLOB_UPLOAD_UNKNOWN PATCH "$LOC" --data-binary "@$SRC/c1"

# --- sessions: expiry and limits ------------------------------------------------

serve_start brief --store "$STORE" --upload-timeout 1
URL=$SERVE_BRIEF_URL
open_session
# Time must pass with nobody using the session (a GET is a use).
sleep 2
answers "a session unused for --upload-timeout 1 is forgotten: GET of it" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
expect_match "$(oci_message)" 'expired' "... the message says it may have expired"
answers "a PUT to finish it" 404 BLOB_UPLOAD_UNKNOWN PUT "$LOC?digest=sha256:$h" --data-binary "@$SRC/layer"
check "brief is alive" alive brief
serve_stop brief

serve_start few --store "$STORE" --max-uploads 2
URL=$SERVE_FEW_URL
# Refused POSTs keep no session (nobody could name it again): bad digests,
# content that is not its digest, a client that goes away mid-body.
for i in 1 2 3; do
	req POST "/v2/app/blobs/uploads/?digest=md5:$(md5sum <"$SRC/layer" | cut -d' ' -f1)" --data-binary "@$SRC/layer"
	req POST "/v2/app/blobs/uploads/?digest=$claimed" --data-binary "@$SRC/liar"
	python3 - "$SERVE_FEW_PORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST /v2/app/blobs/uploads/?digest=sha256:" + b"0" * 64 +
          b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
s.close()
EOF
done
check "the gone clients' requests end" wait_until 10 \
	'[[ $(grep -c "POST app 0 0 .*(cut off)$" "$SERVE_FEW_LOG") -ge 3 ]]'
req POST /v2/app/blobs/uploads/
s1=$(hdr location)
answers "after 9 refused POSTs, --max-uploads 2 still has room: the first" 202 '' POST /v2/app/blobs/uploads/
answers "a third session at once" 429 TOOMANYREQUESTS POST /v2/app/blobs/uploads/
answers "... a monolithic upload too" 429 TOOMANYREQUESTS \
	POST "/v2/app/blobs/uploads/?digest=sha256:$h" --data-binary "@$SRC/layer"
[[ -z $s1 ]] || req DELETE "$s1"
answers "once one is given up, another may start" 202 '' POST /v2/app/blobs/uploads/
check "few is alive" alive few
serve_stop few
URL=$SERVE_MAIN_URL

# --- tag lists ------------------------------------------------------------------

answers "tags list n=abc" 400 '' GET '/v2/app/tags/list?n=abc'
answers "tags list n=-1" 400 '' GET '/v2/app/tags/list?n=-1'
answers "catalog n=abc" 400 '' GET '/v2/_catalog?n=abc'
# 1001 tags: a page holds 1000 at most, whatever n asks.
{
	for i in $(seq -w 0 1000); do
		[[ $i == 0000 ]] || printf 'next\n'
		printf 'url = "%s/v2/many/manifests/t%s"\nrequest = PUT\nheader = "Content-Type: %s"\n' "$URL" "$i" "$MT_MANIFEST"
		printf 'data-binary = "@%s"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\n' "$SRC/many.json"
	done
} >"$TEST_TMP/many.curl"
upload_file many "$SRC/config"
upload_file many "$SRC/other"
manifest "$SRC/config" "$SRC/other" >"$SRC/many.json"
codes=$(curl -s --max-time 300 -K "$TEST_TMP/many.curl" | sort | uniq -c | tr -s ' ')
expect_eq "$codes" " 1001 201" "1001 tags pushed"
req GET '/v2/many/tags/list?n=5000'
n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tags"]))' "$BODY")
expect_eq "$n" 1000 "n=5000 gives 1000 tags, the most a page has"
expect_match "$(hdr link)" '^</v2/many/tags/list\?n=1000&last=t0999>; rel="next"$' "... and a Link to the next page"
req GET '/v2/many/tags/list?n=1000&last=t0999'
expect_eq "$(cat "$BODY")" '{"name":"many","tags":["t1000"]}' "the next page has the last tag"
expect_eq "$(hdr link)" "" "... and no Link"

# --- immutability ---------------------------------------------------------------

answers "the same manifest pushed again to app:v1" 201 '' \
	PUT /v2/app/manifests/v1 -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
manifest "$SRC/config" "$SRC/layer" "$SRC/layer" >"$SRC/two.json"
answers "another manifest pushed to app:v1" 409 DENIED \
	PUT /v2/app/manifests/v1 -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/two.json"
expect_match "$(oci_message)" "'app:v1' is immutable" "... the message names the tag"
req HEAD /v2/app/manifests/v1 -H "Accept: $MT_MANIFEST"
expect_eq "$(hdr docker-content-digest)" "$V1" "app:v1 still names its manifest"
rc publish "$SRC/other" app:published >/dev/null
answers "a manifest pushed over a published file's tag" 409 DENIED \
	PUT /v2/app/manifests/published -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/good.json"
expect_match "$(oci_message)" 'published file' "... the message says so"

mkrand "$SRC/dev1" 2K
mkrand "$SRC/dev2" 3K
for f in config dev1 dev2; do upload_file dev/app "$SRC/$f"; done
manifest "$SRC/config" "$SRC/dev1" >"$SRC/dev1.json"
manifest "$SRC/config" "$SRC/dev2" >"$SRC/dev2.json"
regfs_mount "$STORE" "$MNT"
answers "dev/app:latest pushed" 201 '' \
	PUT /v2/dev/app/manifests/latest -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/dev1.json"
expect_eq "$(sha "$MNT/registry/dev/app/latest" 2>&1)" "$(sha "$SRC/dev1")" "the mount shows dev/app:latest"
answers "dev/app:latest pushed with another manifest (--mutable-tags 'dev/*')" 201 '' \
	PUT /v2/dev/app/manifests/latest -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/dev2.json"
req HEAD /v2/dev/app/manifests/latest -H "Accept: $MT_MANIFEST"
expect_eq "$(hdr docker-content-digest)" "sha256:$(sha "$SRC/dev2.json")" "dev/app:latest names the new manifest"
check "the mount shows the new content" \
	wait_until 10 '[[ $(sha "$MNT/registry/dev/app/latest" 2>/dev/null) == $(sha "$SRC/dev2") ]]'
run_cmd rc ls --json dev/app
expect_match "$OUT" "\"digest\": \"sha256:$(sha "$SRC/dev2")\"" "regctl ls shows the new one"
upload_file prod/app "$SRC/config"
upload_file prod/app "$SRC/dev1"
upload_file prod/app "$SRC/dev2"
put_manifest prod/app latest "$SRC/dev1.json"
answers "prod/app:latest, not matched by 'dev/*', stays" 409 DENIED \
	PUT /v2/prod/app/manifests/latest -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/dev2.json"
regfs_umount "$MNT"

# --- a full store ---------------------------------------------------------------

if [[ $(id -u) -ne 0 ]]; then
	diag "not root: the full store (a tmpfs) is not tried"
elif ! mkdir -p "$TEST_TMP/small" || ! mount -t tmpfs -o size=8m,mode=0755 regfs-test-tmpfs "$TEST_TMP/small"; then
	diag "cannot mount a tmpfs here: the full store is not tried"
else
	SMALL=$TEST_TMP/small
	track_mount "$SMALL"
	FULL=$SMALL/store
	serve_start full --store "$FULL"
	URL=$SERVE_FULL_URL
	mkrand "$SRC/big" 16M
	mkrand "$SRC/fits" 1M
	mkrand "$SRC/after" 1M
	upload_file app "$SRC/config"
	upload_file app "$SRC/fits"
	used() { df -k --output=used "$SMALL" | tail -n 1 | tr -d ' '; }
	diag "the small store uses $(used) KiB"
	big=sha256:$(sha "$SRC/big")
	answers "16 MiB into an 8 MiB store (Content-Length)" 507 BLOB_UPLOAD_INVALID \
		POST "/v2/app/blobs/uploads/?digest=$big" -H 'Content-Type: application/octet-stream' --data-binary "@$SRC/big"
	expect_match "$(oci_message)" 'free' "... refused before a byte, saying how much is free: $(oci_message)"
	answers "16 MiB chunked (no Content-Length)" 507 BLOB_UPLOAD_INVALID \
		POST "/v2/app/blobs/uploads/?digest=$big" -H 'Content-Type: application/octet-stream' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$SRC/big"
	expect_match "$(oci_message)" 'store is full' "... the message says the store is full: $(oci_message)"
	check "the space is given back" wait_until 10 'test "$(used)" -lt 4096'
	open_session
	answers "a PATCH of 16 MiB chunked into a session" 507 BLOB_UPLOAD_INVALID \
		PATCH "$LOC" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' --data-binary "@$SRC/big"
	answers "... ends the session" 404 BLOB_UPLOAD_UNKNOWN GET "$LOC"
	check "... and gives its space back" wait_until 10 'test "$(used)" -lt 4096'
	fsck_clean "$FULL"
	check "no staging file is left" test -z "$(find "$FULL/staging" -mindepth 1 2>/dev/null)"

	# A manifest when the disk is full.
	upload_file app "$SRC/after"
	manifest "$SRC/config" "$SRC/after" >"$SRC/after.json"
	dd if=/dev/zero of="$SMALL/filler" bs=64K status=none 2>/dev/null || :
	answers "a manifest PUT on a full disk" 507 '[A-Z_]+' \
		PUT /v2/app/manifests/after -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/after.json"
	expect_match "$(oci_message)" 'full' "... a clear message: $(oci_message)"
	rm -f "$SMALL/filler"
	answers "no tag was made" 404 MANIFEST_UNKNOWN GET /v2/app/manifests/after
	fsck_clean "$FULL"

	answers "the server still serves a blob" 200 '' GET "/v2/app/blobs/sha256:$(sha "$SRC/fits")"
	expect_eq "$(sha "$BODY")" "$(sha "$SRC/fits")" "... whole"
	answers "and takes the manifest once there is room" 201 '' \
		PUT /v2/app/manifests/after -H "Content-Type: $MT_MANIFEST" --data-binary "@$SRC/after.json"
	serve_stop full
	expect_eq "$SERVE_RC" 0 "the full store's server stops cleanly"
	fsck_clean "$FULL"
fi

# --- the end --------------------------------------------------------------------

URL=$SERVE_MAIN_URL
check "the main server is alive after all that" alive
fsck_clean
serve_stop main
expect_eq "$SERVE_RC" 0 "regctl serve stops cleanly on SIGTERM"
done_testing
