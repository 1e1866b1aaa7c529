#!/bin/bash
# t1540-hostile-text: text that a writer or an upstream chose never drives a
# terminal nor forges a log line (issue 15, item 7). Annotation keys and
# artifact types hold to their grammar (names.h) on every way in: an xattr
# on incoming/ (EINVAL), regctl publish (an error that shows the key
# escaped, nothing sealed), an upstream's manifest (left off). Annotation
# values are kept exactly (getfattr, inspect --json) and shown escaped by
# regctl inspect; --json escapes C1 controls too. An upstream's layer
# titles holding a newline or an escape sequence name no file (the layer
# shows under its digest). An upstream Content-Type holding ESC reaches the
# daemon's log escaped. A repository name of 601 characters is shown cut
# to 255 with a marker (regctl's error, regctl serve's access log). regctl
# audit shows what another writer put in its log escaped (--json:
# JSON-escaped, C1 controls too); regctl serve's access log escapes a
# request's path.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317 # literal $1 for sh -c; helpers called through wait_until
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
ESC=$'\e'
OSC=$'\e]0;pwned\a'
# has_raw TEXT: does TEXT hold a raw control byte (ESC, BEL, C1 CSI)?
has_raw() { LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' <<<"$1"; }
no_raw() { ! has_raw "$1"; }
json_get() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

regfs_mount "$STORE" "$MNT"

# --- xattrs on incoming/ -------------------------------------------------------

mkdir -p "$MNT/incoming/app"
: >"$MNT/incoming/app/.v1.tmp"
T=$MNT/incoming/app/.v1.tmp
expect_errno EINVAL setxattr "$T" "user.regfs.annotation.bad${ESC}[31mkey" v
expect_errno EINVAL setxattr "$T" $'user.regfs.annotation.two\nlines' v
expect_errno EINVAL setxattr "$T" "user.regfs.annotation.with space" v
expect_errno EINVAL setxattr "$T" user.regfs.artifact_type "application/x${ESC}[2J"
expect_errno OK setxattr "$T" user.regfs.annotation.org.example.note "title ${OSC} and"$'\n'"a second line"
expect_errno OK setxattr "$T" user.regfs.annotation.dev.sigstore.cosign/bundle "{}"
expect_errno OK setxattr "$T" user.regfs.artifact_type application/vnd.example+json
printf 'payload\n' >"$T"
expect_ok mv "$T" "$MNT/incoming/app/v1"
wait_until 5 test -f "$MNT/registry/app/v1" || fail "app:v1 was not sealed"
expect_eq "$(xattr "$MNT/registry/app/v1" user.regfs.annotation.org.example.note | od -An -c | tr -s ' ' | tr -d '\n')" \
	"$(printf '%s' "title ${OSC} and"$'\n'"a second line" | od -An -c | tr -s ' ' | tr -d '\n')" \
	"the value is kept exactly as given"

# --- regctl inspect ------------------------------------------------------------

run_cmd R inspect app:v1
check "inspect prints no raw control byte" no_raw "$OUT"
expect_match "$OUT" 'annotation: org\.example\.note=title \\x1b\]0;pwned\\x07 and\\na second line' \
	"inspect shows the value escaped, on one line"
expect_match "$OUT" 'annotation: dev\.sigstore\.cosign/bundle=\{\}' "a reverse-domain key with '/' is taken"
run_cmd R inspect --json app:v1
check "inspect --json prints no raw control byte" no_raw "$OUT"
expect_eq "$(printf '%s' "$OUT" | json_get 'd["annotations"]["org.example.note"] == "title \x1b]0;pwned\x07 and\na second line"')" \
	True "inspect --json has the value exactly"

# --- regctl publish ------------------------------------------------------------

printf 'two\n' >"$SRC/two"
expect_fail R publish --annotation "bad${ESC}]0;x${ESC}\\key=v" "$SRC/two" app:v2
check "publish: the error shows no raw escape" no_raw "$OUT"
expect_match "$OUT" "invalid annotation key 'bad\\\\x1b\]0;x\\\\x1b" "publish: the error names the key, escaped"
expect_fail R publish --type $'app\nlication/x' "$SRC/two" app:v2
expect_match "$OUT" "invalid artifact type 'app\\\\nlication/x'" "publish: a type with a newline is refused, shown escaped"
expect_fail R inspect app:v2
expect_ok R fsck
expect_ok R publish --annotation "note=${OSC}" "$SRC/two" app:v2
run_cmd R ls
check "ls of the store prints no raw control byte" no_raw "$OUT"
run_cmd R search pwned
check "search prints no raw control byte" no_raw "$OUT"
expect_match "$OUT" "app +v2" "search finds the value"

# --- an upstream's manifest ----------------------------------------------------

registry_start up
U=$REGISTRY_UP_URL
printf 'first layer\n' >"$SRC/l1"
printf 'second layer\n' >"$SRC/l2"
printf 'third layer\n' >"$SRC/l3"
d1=$(_oci_put_blob "$U" evil "$SRC/l1")
d2=$(_oci_put_blob "$U" evil "$SRC/l2")
d3=$(_oci_put_blob "$U" evil "$SRC/l3")
cfg=$(_oci_empty_config)
_oci_put_blob "$U" evil "$cfg" >/dev/null
python3 - "$d1" "$d2" "$d3" "$OCI_EMPTY_DIGEST" >"$SRC/evil.json" <<'PY'
import json, sys
d1, d2, d3, cfg = sys.argv[1:]
def layer(d, size, title):
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": size,
            "annotations": {"org.opencontainers.image.title": title}}
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/x\x1b[31m",
     "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfg, "size": 2},
     "layers": [layer(d1, 12, "two\nlines.txt"), layer(d2, 13, "\x1b]0;pwned\x07.txt"),
                layer(d3, 12, "fine.txt")],
     "annotations": {"org.example.ok": "v\x1b[31m", "bad\x1bkey": "x", "with space": "y"}}
sys.stdout.write(json.dumps(m))
PY
_oci_put_manifest "$U" evil v1 application/vnd.oci.image.manifest.v1+json "$SRC/evil.json" >/dev/null ||
	bail_out "cannot push evil:v1"
# One file whose Content-Type holds an escape sequence: the mount asks
# through a proxy that says so.
printf 'one\n' >"$SRC/one"
oci_push_file "$U" ctype v1 "$SRC/one" >/dev/null
bad_proxy_start ct "$U" --match '^[A-Z]+ /v2/ctype/manifests/' \
	--set-header "Content-Type: application/vnd.evil${ESC}]0;pwned${ESC}\\"
regfs_umount "$MNT"
regfs_mount "$STORE" "$MNT" -o upstream="$BAD_PROXY_CT_URL"
LOG=$(daemon_log "$MNT")

run_cmd ls -1 "$MNT/registry/evil/v1"
expect_eq "$RC" 0 "the hostile manifest's folder lists"
names=$(printf '%s\n' "$OUT" | LC_ALL=C sort | tr '\n' ' ')
expect_eq "$names" "$(printf '%s\n' "$d1" "$d2" fine.txt manifest.json | LC_ALL=C sort | tr '\n' ' ')" \
	"titles with a newline or an escape name no file: those layers show under their digests"
expect_eq "$(cat "$MNT/registry/evil/v1/$d2")" "second layer" "and read by digest"
run_cmd getfattr --absolute-names -d -m - "$MNT/registry/evil/v1"
check "getfattr of the tag shows no raw control byte in a name" \
	bash -c '! getfattr --absolute-names -m - "$1" 2>/dev/null | LC_ALL=C grep -qP "[\x00-\x1f]"' _ "$MNT/registry/evil/v1"
expect_eq "$(xattr "$MNT/registry/evil/v1" user.regfs.annotation.org.example.ok | od -An -c | tr -s ' ' | tr -d '\n')" \
	"$(printf 'v\e[31m' | od -An -c | tr -s ' ' | tr -d '\n')" "a well-named upstream annotation keeps its value"
expect_errno ENODATA getxattr "$MNT/registry/evil/v1" "user.regfs.annotation.bad${ESC}key"
expect_errno ENODATA getxattr "$MNT/registry/evil/v1" user.regfs.artifact_type
run_cmd R inspect evil:v1
check "inspect of a pinned hostile tag prints no raw control byte" no_raw "$OUT"
expect_match "$OUT" 'org\.example\.ok=v\\x1b\[31m' "its value shown escaped"

run_cmd cat "$MNT/registry/ctype/v1"
expect_ne "$RC" 0 "a manifest whose Content-Type is not a manifest's is refused"
wait_until 5 grep -q 'vnd.evil' "$LOG" || fail "the Content-Type was not logged"
check "the daemon's log holds no raw escape" bash -c '! LC_ALL=C grep -qP "\x1b" "$1"' _ "$LOG"
expect_match "$(grep 'vnd.evil' "$LOG" | head -n 1)" 'vnd\.evil\\x1b\]0' "it is logged escaped"

# --- names over 255 characters, regctl serve and regctl audit -------------------

long=$(printf 'a%.0s' {1..300})/$(printf 'b%.0s' {1..300})
expect_fail R publish "$SRC/two" "$long:v1"
expect_match "$OUT" "invalid reference 'a{255}\\.\\.\\.\\(604 bytes\\)'" \
	"a 601-character name is shown cut at 255, with a marker that gives its length"
check "and never whole" test "${OUT/$long/}" == "$OUT"

htpasswd -Bbc "$TEST_TMP/htpasswd" alice secret 2>/dev/null
serve_start main --store "$STORE" --htpasswd "$TEST_TMP/htpasswd"
S=$SERVE_MAIN_URL
curl -s -o /dev/null -u "evil${OSC}user:wrong" "$S/v2/"
curl -s -o /dev/null -u alice:secret "$S/v2/app%1b%5b2J/tags/list"
curl -s -o /dev/null -u alice:secret "$S/v2/$long/tags/list"
wait_until 5 grep -q 'tags/list\|app' "$SERVE_MAIN_LOG" || diag "(no access-log line yet)"
serve_stop main
check "regctl serve's log holds no raw control byte" bash -c '! LC_ALL=C grep -qP "[\x00-\x08\x0b-\x1f\x7f]" "$1"' _ "$SERVE_MAIN_LOG"
expect_match "$(cat "$SERVE_MAIN_LOG")" 'app\\x1b\[2J' "the access log shows a path's escape sequence escaped"
check "the access log never holds the 601-character name whole" bash -c '! grep -qF "$2" "$1"' _ "$SERVE_MAIN_LOG" "$long"
# A login name with an escape is malformed (refused, never recorded); a
# line that another writer put in the audit log is shown escaped.
run_cmd R audit --kind login
expect_match "$OUT" 'login +refused .*malformed Basic credentials' "a login name holding an escape is refused as malformed"
python3 - "$STORE/audit/audit.log" <<'PY'
import json, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"time": "2026-12-06T09:00:00.000Z", "kind": "login", "result": "refused",
                        "user": "evil\x1b]0;pwned\x07user", "addr": "127.0.0.1",
                        "reason": "why\x9b2J\nforged line"}) + "\n")
PY
run_cmd R audit --kind login
check "regctl audit prints no raw control byte" no_raw "$OUT"
expect_match "$OUT" 'evil\\x1b\]0;pwned\\x07user@127\.0\.0\.1 .* why\\u009b2J\\nforged line' \
	"regctl audit shows another writer's user and reason escaped, on one line"
run_cmd R audit --kind login --json
check "regctl audit --json prints no raw control byte" no_raw "$OUT"
expect_match "$OUT" 'evil\\u001b\]0;pwned\\u0007user.*why\\u009b2J' "and --json has them JSON-escaped, C1 too"

# A file someone left in blobs/ with an escape in its name: fsck shows it
# escaped.
touch "$STORE/blobs/sha256/stray${OSC}"
run_cmd R fsck
check "fsck prints no raw control byte" no_raw "$OUT"
expect_match "$OUT" 'stray file .*/stray\\x1b\]0;pwned\\x07' "fsck names the stray file escaped"
rm -f "$STORE/blobs/sha256/stray${OSC}"

regfs_umount "$MNT"
done_testing
