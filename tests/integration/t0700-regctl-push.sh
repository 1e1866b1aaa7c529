#!/bin/bash
# t0700-regctl-push: regctl push to the real Distribution registry on
# loopback, checked with skopeo as the independent client: an ORAS-shaped
# artifact (empty config, one titled layer, the tag's annotations and
# org.opencontainers.image.created) whose digest is the one push printed;
# skopeo copy gets the bytes back, and so does regctl pull into a fresh
# store. Pushing twice changes nothing; blobs the registry has are not sent
# again, and a blob in another repository is mounted; a remote tag naming
# another digest is kept unless --force. A chunked upload; an upload
# interrupted (a chunk refused, the registry restarted mid-blob) that
# resumes on its session. The mode and mtime travel: push writes them as
# annotations of the layer (skopeo sees them), regctl pull restores them,
# and a pushed executable is still executable, and as old, under another
# store's pull-through mount (stat, rsync -a, running it). htpasswd and
# bearer-token registries after regctl login; wrong credentials; a registry
# down: retries, then a clear failure.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers called through wait_until
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

# A home of the test's own: regctl login writes there, and no credentials
# of the machine's are read.
export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
# json_get EXPR: a Python expression on the JSON read from stdin (as d).
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# access_count NAME ERE: access-log lines of registry NAME whose request
# ("METHOD URI", query included) matches ERE.
access_count() {
	local log
	log=$(registry_log "$1")
	awk -v re="$2" '$6 ~ /^"[A-Z]+$/ { r = substr($6, 2) " " $7; if (r ~ re) n++ }
		END { print n + 0 }' "$log"
}
registry_log() {
	local v="REGISTRY_${1^^}_LOG"
	printf '%s\n' "${!v}"
}
# The digest push printed: "HOST/REPO:TAG sha256:..." (and maybe a note).
printed_digest() { awk '{ print $2 }' <<<"$1"; }
# attrs_of STORE REPO:TAG: "('MODE', 'MTIME')" as regctl inspect --json says.
attrs_of() { "$REGCTL" --store "$1" inspect --json "$2" | json_get 'd["mode"], d["mtime"]'; }
# epoch_of RFC3339: "SECONDS.NANOSECONDS", as stat -c %.9Y prints an mtime.
epoch_of() {
	python3 -c 'import calendar, sys, time
s = sys.argv[1]
print("%d.%s" % (calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")), s[20:29]))' "$1"
}
login_stdin() {
	local pw=$1
	shift
	RC=0
	OUT=$(printf '%s\n' "$pw" | "$REGCTL" login --password-stdin "$@" 2>&1) || RC=$?
}

mkrand "$SRC/app" 100K
mkrand "$SRC/app2" 50K
mkrand "$SRC/big" 1M
mkrand "$SRC/big2" 1M
mkrand "$SRC/big3" 1M
A=sha256:$(sha "$SRC/app")

# --- usage -------------------------------------------------------------------

expect_status 0 R push --help
expect_match "$OUT" "^usage: regctl push" "regctl push --help prints its usage"
expect_status 2 R push app:v1
expect_status 2 R push --chunk-size 1K app:v1 127.0.0.1:5000/app
expect_match "$OUT" "invalid chunk size" "a chunk size below 4K is a usage error"
expect_status 2 R push --bogus app:v1 127.0.0.1:5000/app
expect_status 2 R push app:v1 127.0.0.1:5000/App

# --- publish, push, check with skopeo ------------------------------------------

expect_ok R publish --annotation 'org.opencontainers.image.description=The app' \
	--annotation org.opencontainers.image.authors=alice \
	--artifact-type application/vnd.example.app.v1 "$SRC/app" app:v1
expect_status 1 R push --plain-http app:nosuch 127.0.0.1:5000/team/app
expect_eq "$OUT" "regctl: no such tag 'app:nosuch'" "pushing a missing local tag: a clear message"

registry_start up
U=$REGISTRY_UP_HOST

expect_ok "push app:v1 to the registry" -- R push --plain-http app:v1 "$U/team/app:v1"
expect_match "$OUT" "^$U/team/app:v1 sha256:[0-9a-f]{64}$" "push prints 'HOST/REPO:TAG DIGEST'"
D=$(printed_digest "$OUT")
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/app v1)" "$D" \
	"skopeo sees the digest push printed"
skopeo_manifest "$REGISTRY_UP_URL" team/app v1 >"$TEST_TMP/m.json"
expect_eq "$(json_get '(d["schemaVersion"], d["mediaType"], d["artifactType"])' <"$TEST_TMP/m.json")" \
	"(2, 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.example.app.v1')" \
	"an OCI image manifest with the artifact type"
expect_eq "$(json_get '(d["config"]["mediaType"], d["config"]["digest"], d["config"]["size"])' <"$TEST_TMP/m.json")" \
	"('application/vnd.oci.empty.v1+json', '$OCI_EMPTY_DIGEST', 2)" "the empty config"
expect_eq "$(json_get '[(l["digest"], l["size"], l["annotations"]["org.opencontainers.image.title"]) for l in d["layers"]]' <"$TEST_TMP/m.json")" \
	"[('$A', 102400, 'v1')]" "one layer: the content's digest and size, a title"
expect_eq "$(json_get 'd["annotations"]["org.opencontainers.image.description"], d["annotations"]["org.opencontainers.image.authors"]' <"$TEST_TMP/m.json")" \
	"('The app', 'alice')" "the tag's annotations on the manifest"
expect_match "$(json_get 'd["annotations"]["org.opencontainers.image.created"]' <"$TEST_TMP/m.json")" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "org.opencontainers.image.created, RFC 3339"
APP_MTIME=$(R inspect --json app:v1 | json_get 'd["mtime"]')
expect_match "$APP_MTIME" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$' \
	"inspect --json: the mtime in RFC 3339, UTC, with nanoseconds"
expect_eq "$(json_get 'd["layers"][0]["annotations"]["io.regfs.file.mode"], d["layers"][0]["annotations"]["io.regfs.file.mtime"]' <"$TEST_TMP/m.json")" \
	"('0644', '$APP_MTIME')" "the layer has io.regfs.file.mode 0644 and io.regfs.file.mtime, the tag's (its seal's)"

expect_ok "skopeo copy to an OCI layout" -- skopeo copy --retry-times 0 --src-tls-verify=false \
	"docker://$U/team/app:v1" "oci:$TEST_TMP/oci:v1"
check "the layer skopeo copied is the file" cmp -s "$SRC/app" "$TEST_TMP/oci/blobs/sha256/${A#sha256:}"
expect_ok "skopeo copy to a dir" -- skopeo copy --retry-times 0 --src-tls-verify=false \
	"docker://$U/team/app:v1" "dir:$TEST_TMP/dir"
check "and there too" cmp -s "$SRC/app" "$TEST_TMP/dir/${A#sha256:}"

# Back into a fresh store.
S2=$TEST_TMP/store2
expect_ok "regctl pull into a fresh store" -- "$REGCTL" --store "$S2" pull --plain-http "$U/team/app:v1" back/app:v1
expect_match "$OUT" "back/app:v1 $A" "pull names the content's digest"
check "the pulled blob is the file" cmp -s "$SRC/app" "$S2/blobs/sha256/${A#sha256:}"
expect_eq "$("$REGCTL" --store "$S2" inspect --json back/app:v1 | json_get 'd["digest"], d["size"]')" \
	"('$A', 102400)" "the local name has the content"
expect_eq "$("$REGCTL" --store "$S2" search 'the app' --json | json_get '[(t["repository"], t["artifact_type"]) for t in d]')" \
	"[('team/app', 'application/vnd.example.app.v1')]" "the annotations and the type came back with the pull"

# --- the mode and mtime travel --------------------------------------------------------

# An executable, published by regctl publish from a 0755 file.
printf '#!/bin/sh\necho tool-ok\n' >"$SRC/tool"
chmod 0755 "$SRC/tool"
expect_ok R publish "$SRC/tool" app:tool
TOOL_MTIME=$(R inspect --json app:tool | json_get 'd["mtime"]')
expect_eq "$(attrs_of "$STORE" app:tool)" "('0755', '$TOOL_MTIME')" "inspect --json: mode 0755 for a tag published from a 0755 file"
expect_match "$(R inspect app:tool)" $'\nmode: +0755\nmtime: +'"$TOOL_MTIME"$'\n' "inspect shows them too"
expect_ok "push the executable" -- R push --plain-http app:tool "$U/team/tool:v1"
TD=$(printed_digest "$OUT")
skopeo_manifest "$REGISTRY_UP_URL" team/tool v1 >"$TEST_TMP/tool.json"
expect_eq "$(json_get 'sorted(d["layers"][0]["annotations"].items())' <"$TEST_TMP/tool.json")" \
	"[('io.regfs.file.mode', '0755'), ('io.regfs.file.mtime', '$TOOL_MTIME'), ('org.opencontainers.image.title', 'tool')]" \
	"skopeo sees the executable bit and the mtime as annotations of the layer"
check "the manifest's keys are sorted (as push builds it)" python3 -c 'import json, sys
b = open(sys.argv[1]).read()
sys.exit(b != json.dumps(json.loads(b), sort_keys=True, separators=(",", ":")))' "$TEST_TMP/tool.json"
expect_ok "pushing it again" -- R push --plain-http app:tool "$U/team/tool:v1"
expect_eq "$OUT" "$U/team/tool:v1 $TD (already there)" "gives the same digest: the mode and mtime are the tag's"

# regctl pull restores them, on the pinned tag and on a local name.
expect_ok "regctl pull of the executable" -- "$REGCTL" --store "$S2" pull --plain-http "$U/team/tool:v1" back/tool:v1
expect_eq "$(attrs_of "$S2" team/tool:v1)" "('0755', '$TOOL_MTIME')" "regctl pull restores the mode and mtime"
expect_eq "$(attrs_of "$S2" back/tool:v1)" "('0755', '$TOOL_MTIME')" "so does its local name"
expect_eq "$(attrs_of "$S2" team/app:v1)" "('0644', '$APP_MTIME')" "a 0644 tag pulled: 0644, with its mtime"

# A pull-through mount of another store.
S3=$TEST_TMP/store3 M3=$TEST_TMP/mnt3
regfs_mount "$S3" "$M3" -o upstream="$REGISTRY_UP_URL"
expect_eq "$(stat -c %s "$M3/registry/team/tool/v1" 2>&1)" "$(stat -c %s "$SRC/tool")" "the mount finds the pushed executable"
expect_eq "$(attrs_of "$S3" team/tool:v1)" "('0755', '$TOOL_MTIME')" "pinned through the mount with its mode and mtime"
# The mount shows a tag's mode and mtime (the checks from here to the end
# of this section need that part of regfs).
expect_eq "$(stat -c %a "$M3/registry/team/tool/v1" 2>&1)" 755 \
	"under registry/ of another store's mount, the pushed executable is 0755"
expect_eq "$(stat -c %a "$M3/registry/team/app/v1" 2>&1)" 644 "and a plain file 0644"
expect_eq "$(stat -c %.9Y "$M3/registry/team/tool/v1" 2>&1)" "$(epoch_of "$TOOL_MTIME")" \
	"with the mtime of the store it was pushed from, to the nanosecond"
mkdir -p "$TEST_TMP/deploy"
expect_ok "rsync -a deploys it" -- rsync -a "$M3/registry/team/tool/v1" "$TEST_TMP/deploy/tool"
expect_ok "the deployed executable runs" -- "$TEST_TMP/deploy/tool"
expect_eq "$OUT" tool-ok "(it is the tool)"
regfs_mount "$STORE" "$MNT"
expect_eq "$(stat -c '%a %.9Y' "$MNT/registry/app/tool" 2>&1)" "$(stat -c '%a %.9Y' "$M3/registry/team/tool/v1" 2>&1)" \
	"the publishing store's mount shows the same mode and mtime"
expect_eq "$(rsync -ai "$MNT/registry/app/tool" "$TEST_TMP/deploy/tool" 2>&1)" "" \
	"so rsync -a from it finds the deployed file up to date"
regfs_umount "$MNT"
regfs_umount "$M3"

# --- again, another repository, content the registry has -------------------------

puts=$(registry_requests up PUT '/v2/team/app/manifests/.*')
expect_ok "pushing again" -- R push --plain-http app:v1 "$U/team/app:v1"
expect_eq "$OUT" "$U/team/app:v1 $D (already there)" "gives the same digest, already there"
expect_eq "$(registry_requests up PUT '/v2/team/app/manifests/.*')" "$puts" "and puts no manifest"

expect_ok "push the same content to another repository" -- R push --plain-http app:v1 "$U/team/copy:v1"
expect_eq "$(printed_digest "$OUT")" "$D" "same tag, same manifest, same digest"
expect_eq "$(access_count up "^POST /v2/team/copy/blobs/uploads/[?].*mount=sha256(:|%3A)${A#sha256:}")" 1 \
	"the layer is mounted from team/app (POST ?mount=)"
expect_eq "$(access_count up "^(PATCH|PUT) /v2/team/copy/blobs/uploads/.*${A#sha256:}")" 0 \
	"and not uploaded again"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/copy v1)" "$D" "skopeo agrees"

# The same bytes under another local tag: another manifest (its title), the
# same layer, which team/app has: HEAD, and no upload session.
expect_ok R publish "$SRC/app" app:v1-again
posts=$(registry_requests up POST '/v2/team/app/blobs/uploads/')
expect_ok "push a tag whose content the registry has" -- R push --plain-http app:v1-again "$U/team/app"
expect_eq "$(registry_requests up POST '/v2/team/app/blobs/uploads/')" "$posts" \
	"no upload is opened for blobs the registry has"
expect_eq "$(registry_requests up HEAD "/v2/team/app/blobs/$A")" 2 "they were asked for (HEAD)"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/app v1-again)" "$(printed_digest "$OUT")" \
	"the other tag is there"

# --- a remote tag naming another digest ---------------------------------------------

expect_ok R publish "$SRC/app2" app:v2
expect_status 1 R push --plain-http app:v2 "$U/team/app:v1"
expect_match "$OUT" "^regctl: cannot push 'app:v2' to '$U/team/app:v1': .*is $D, not sha256:[0-9a-f]{64}: not overwriting it without --force$" \
	"overwriting a remote tag with another digest: refused, and why"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/app v1)" "$D" "the remote tag is unchanged"
expect_ok "with --force it is overwritten" -- R push --force --plain-http app:v2 "$U/team/app:v1"
D2=$(printed_digest "$OUT")
expect_ne "$D2" "$D" "another digest"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/app v1)" "$D2" "skopeo sees the new one"

# --- chunks --------------------------------------------------------------------------

B=sha256:$(sha "$SRC/big")
expect_ok R publish "$SRC/big" app:big
expect_ok "a chunked push (64K chunks of 1 MiB)" -- R push --plain-http --chunk-size 64K app:big "$U/team/big:v1"
expect_match "$OUT" "^$U/team/big:v1 sha256:[0-9a-f]{64}$" "piped, push prints one line: no progress bar"
expect_eq "$(registry_requests up PATCH '/v2/team/big/blobs/uploads/.+')" 16 "16 chunks (PATCH)"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/big v1)" "$(printed_digest "$OUT")" \
	"skopeo sees the digest push printed"
oci_get_blob "$REGISTRY_UP_URL" team/big "$B" "$TEST_TMP/big.out"
check "the registry holds the file's bytes" cmp -s "$SRC/big" "$TEST_TMP/big.out"

# On a terminal, a progress bar (on stderr).
mkrand "$SRC/tty" 512K
expect_ok R publish "$SRC/tty" app:tty
RC=0
OUT=$(python3 - "$REGCTL" "$STORE" "$U/team/tty:v1" <<'EOF'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--store", sys.argv[2], "push", "--plain-http",
                           "--chunk-size", "64K", "app:tty", sys.argv[3]])
out = b""
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
) || RC=$?
expect_eq "$RC" 0 "a push on a terminal"
expect_match "$OUT" 'app:tty \[#+\] 100% 512\.0 KiB / 512\.0 KiB' "draws a progress bar to 100%"
expect_match "$OUT" 'app:tty \[#*\.+\] +[0-9]{1,2}% ' "that moves"

# A chunk refused on its way (503 from a proxy): the session is asked
# where it stands and the upload goes on there, in the same session.
B2=sha256:$(sha "$SRC/big2")
expect_ok R publish "$SRC/big2" app:big2
bad_proxy_start flaky "$REGISTRY_UP_URL" --fail-status 503 --fail-times 1 --match '^PATCH '
F=${BAD_PROXY_FLAKY_URL#http://}
expect_ok "a push whose first chunk fails" -- R push --plain-http --chunk-size 64K app:big2 "$F/team/big2:v1"
check "the proxy refused a chunk" grep -q 'PATCH .* -> 503 (injected)' "$BAD_PROXY_FLAKY_LOG"
expect_eq "$(registry_requests up GET '/v2/team/big2/blobs/uploads/.+')" 1 "the session was asked where it stood"
expect_eq "$(registry_requests up POST '/v2/team/big2/blobs/uploads/')" 2 \
	"one upload session for the layer (and one for the config)"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/big2 v1)" "$(printed_digest "$OUT")" "the digest is right"
oci_get_blob "$REGISTRY_UP_URL" team/big2 "$B2" "$TEST_TMP/big2.out"
check "the bytes are right" cmp -s "$SRC/big2" "$TEST_TMP/big2.out"
bad_proxy_stop flaky

# The registry restarted mid-blob (chunks slowed by a proxy): the upload
# resumes where the registry's session stands.
B3=sha256:$(sha "$SRC/big3")
expect_ok R publish "$SRC/big3" app:big3
bad_proxy_start slow "$REGISTRY_UP_URL" --delay-ms 150 --match '^PATCH '
S=${BAD_PROXY_SLOW_URL#http://}
R push --plain-http --chunk-size 64K app:big3 "$S/team/big3:v1" >"$TEST_TMP/push3.out" 2>&1 &
push_pid=$!
track_pid "$push_pid"
patches_past() { (($(registry_requests up PATCH '/v2/team/big3/blobs/uploads/.+') >= $1)); }
wait_until 20 patches_past 4 || bail_out "the slow push did not get going"
registry_stop up
# Up again once a chunk has met the registry down (the proxy answers 502).
wait_until 10 grep -q '^bad-proxy: PATCH .* -> 502' "$BAD_PROXY_SLOW_LOG" ||
	bail_out "no chunk met the registry down"
registry_restart up
wait_exit "$push_pid" 40 || :
reap "$push_pid"
expect_eq "$REAP_RC" 0 "a push through a registry restart succeeds"
diag_file "$TEST_TMP/push3.out" 5
expect_eq "$(registry_requests up POST '/v2/team/big3/blobs/uploads/')" 2 \
	"on the session it had (no new upload)"
expect_eq "$(registry_requests up GET '/v2/team/big3/blobs/uploads/.+' | awk '$1 >= 1 { print "asked" }')" asked \
	"after asking the session where it stood"
n=$(registry_requests up PATCH '/v2/team/big3/blobs/uploads/.+')
check "it went on from there, not from the start ($n PATCHes for 16 chunks)" test "$n" -lt 24
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/big3 v1)" "$(printed_digest "$(cat "$TEST_TMP/push3.out")")" \
	"the digest is right"
oci_get_blob "$REGISTRY_UP_URL" team/big3 "$B3" "$TEST_TMP/big3.out"
check "the bytes are right" cmp -s "$SRC/big3" "$TEST_TMP/big3.out"
bad_proxy_stop slow

# --- htpasswd -------------------------------------------------------------------------

registry_start basic --htpasswd alice:open-sesame
H=$REGISTRY_BASIC_HOST
expect_status 1 R push --plain-http app:v1 "$H/team/app:v1"
expect_match "$OUT" "^regctl: cannot push 'app:v1' to '$H/team/app:v1': .*401" "push before login: refused, and says so"
login_stdin wrong-password --plain-http -u alice "$H"
expect_eq "$RC" 1 "login with a wrong password exits 1"
expect_match "$OUT" "^regctl: login to '$H' failed: " "with a clear message"
check "and does not print it" _lib_not grep -q wrong-password <<<"$OUT"
login_stdin open-sesame --plain-http -u alice "$H"
expect_eq "$RC" 0 "login with the right password"
expect_ok "push after login" -- R push --plain-http app:v1 "$H/team/app:v1"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_BASIC_URL" team/app v1 --creds alice:open-sesame)" \
	"$(printed_digest "$OUT")" "skopeo (with the credentials) sees it"
expect_ok "logout" -- "$REGCTL" logout "$H"

# Wrong credentials saved (Docker's config.json): a clear failure.
mkdir -p "$HOME/.docker"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$H" "$(printf alice:stale | base64 -w0)" >"$HOME/.docker/config.json"
expect_status 1 R push --plain-http app:v2 "$H/team/app:v2"
expect_match "$OUT" "^regctl: cannot push 'app:v2' to '$H/team/app:v2': .*401" \
	"push with a wrong password: exit 1, and says it was refused"
check "the password is not printed" _lib_not grep -q -e stale -e "$(printf alice:stale | base64 -w0)" <<<"$OUT"
rm -f "$HOME/.docker/config.json"

# --- bearer token ------------------------------------------------------------------------

registry_start tok --token bob:tok-pass
T=$REGISTRY_TOK_HOST
# Its token service is plain http on another port (t1545).
export REGCTL_PLAIN_REALM_CREDENTIALS=1
expect_status 1 R push --plain-http app:v1 "$T/team/app:v1"
login_stdin tok-pass --plain-http -u bob "$T"
expect_eq "$RC" 0 "login to the token registry"
expect_ok "push with a bearer token" -- R push --plain-http app:v1 "$T/team/app:v1"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_TOK_URL" team/app v1 --creds bob:tok-pass)" \
	"$(printed_digest "$OUT")" "skopeo sees it"
check "the token service granted push" grep -q 'user=bob -> 200' "$REGISTRY_TOK_TOKEN_LOG"

# --- the registry down ---------------------------------------------------------------------

registry_stop up
run_timed R push --plain-http app:big "$U/team/down:v1"
expect_eq "$RC" 1 "push to a registry down exits 1"
expect_match "$OUT" "^regctl: cannot push 'app:big' to '$U/team/down:v1': .*(connect|refused).*\(after [0-9]+ retr" \
	"after retries, with a clear message"
check "within the client's time budget (20 s; took $ELAPSED ms)" test "$ELAPSED" -lt 20000

done_testing
