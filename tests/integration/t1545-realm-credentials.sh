#!/bin/bash
# t1545-realm-credentials: the token realm a registry names gets no more
# trust than the registry itself (issue 15, item 8). A registry over plain
# http whose token service is on another port: the mount does not send the
# credentials there (the read fails with EACCES at once, the log says why
# and names plain_realm_credentials, the token service sees no request with
# credentials), and does with plain_realm_credentials = true in
# regfs.conf(5). regctl the same, with REGCTL_PLAIN_REALM_CREDENTIALS=1.
# An https registry whose realm is plain http: refused even with
# plain_http and plain_realm_credentials; the token service is never asked.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

export HOME=$TEST_TMP/home
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS XDG_CONFIG_HOME REGCTL_PLAIN_REALM_CREDENTIALS

# creds_file FILE HOST USER:PASS: a Docker-style credentials file, 0600.
creds_file() {
	python3 -c 'import base64, json, sys
print(json.dumps({"auths": {sys.argv[1]: {"auth": base64.b64encode(sys.argv[2].encode()).decode()}}}))' \
		"$2" "$3" >"$1"
	chmod 600 "$1"
}
# conf FILE URL CREDS-FILE [KEY = VALUE...]: a regfs.conf, one upstream.
conf() {
	local f=$1 url=$2 creds=$3
	shift 3
	printf '[upstream up]\nurl = %s\nplain_http = true\ncredentials = %s\ntimeout = 3s\nretries = 1\nbackoff = 100ms\n' \
		"$url" "$creds" >"$f"
	local kv
	for kv in "$@"; do printf '%s\n' "$kv" >>"$f"; done
}
# granted LOG USER: how many tokens the service gave USER.
granted() { grep -c "user=$2 -> 200" "$1" || :; }

mkrand "$SRC/app.bin" 20K
app_d=sha256:$(sha "$SRC/app.bin")

# --- plain http, the token service on another port -----------------------------

registry_start tok --token bob:tok-pass
T=$REGISTRY_TOK_URL
TL=$REGISTRY_TOK_TOKEN_LOG
oci_push_file "$T" team/app v1 "$SRC/app.bin" --token-auth bob:tok-pass >/dev/null
creds_file "$TEST_TMP/tok.json" "$REGISTRY_TOK_HOST" bob:tok-pass
conf "$TEST_TMP/no.conf" "$T" "$TEST_TMP/tok.json"
before=$(granted "$TL" bob)
regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o config="$TEST_TMP/no.conf"
log=$(daemon_log "$TEST_TMP/m1")
run_timed cat "$TEST_TMP/m1/registry/team/app/v1"
expect_match "$OUT" 'Permission denied' "a realm on another port over plain http: the read fails (EACCES)"
check "at once (took ${ELAPSED} ms)" test "$ELAPSED" -lt 5000
check "the log says the credentials are not sent, and how to allow it" wait_until 5 \
	grep -q "token realm 'http://127.0.0.1:[0-9]*/token' is plain http on another host or port: the credentials for '$REGISTRY_TOK_HOST' are not sent there (set plain_realm_credentials" "$log"
expect_eq "$(granted "$TL" bob)" "$before" "the token service got no credentials"
check "nor bad ones" _lib_not grep -q 'user=(bad credentials)' "$TL"
regfs_umount "$TEST_TMP/m1"

conf "$TEST_TMP/yes.conf" "$T" "$TEST_TMP/tok.json" "plain_realm_credentials = true"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o config="$TEST_TMP/yes.conf"
expect_eq "$(sha "$TEST_TMP/m2/registry/team/app/v1" 2>&1)" "${app_d#sha256:}" \
	"with plain_realm_credentials = true, the token flow reads the tag"
check "and the token service granted bob a token" test "$(granted "$TL" bob)" -gt "$before"
regfs_umount "$TEST_TMP/m2"

# regctl, with the credentials saved for the host.
mkdir -p "$HOME/.docker"
creds_file "$HOME/.docker/config.json" "$REGISTRY_TOK_HOST" bob:tok-pass
before=$(granted "$TL" bob)
expect_fail "$REGCTL" tags --plain-http "$REGISTRY_TOK_HOST/team/app"
expect_match "$OUT" "are not sent there \(set plain_realm_credentials" "regctl tags refuses the same way, and says so"
expect_eq "$(granted "$TL" bob)" "$before" "(no token for regctl)"
REGCTL_PLAIN_REALM_CREDENTIALS=1 expect_ok "$REGCTL" tags --plain-http "$REGISTRY_TOK_HOST/team/app"
expect_eq "$OUT" v1 "with REGCTL_PLAIN_REALM_CREDENTIALS=1 it lists the tags"
rm -rf "$HOME/.docker"
registry_stop tok

# --- https, a plain http realm ---------------------------------------------------

registry_start tlstok --tls --token bob:tok-pass
T=$REGISTRY_TLSTOK_URL
TL=$REGISTRY_TLSTOK_TOKEN_LOG
oci_push_file "$T" team/app v1 "$SRC/app.bin" --token-auth bob:tok-pass >/dev/null
creds_file "$TEST_TMP/tls.json" "$REGISTRY_TLSTOK_HOST" bob:tok-pass
conf "$TEST_TMP/tls.conf" "$T" "$TEST_TMP/tls.json" "ca_file = $REGISTRY_TLSTOK_CA" "plain_realm_credentials = true"
before=$(grep -c -- '-> ' "$TL" || :)
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/tls.conf"
log=$(daemon_log "$TEST_TMP/m3")
run_timed cat "$TEST_TMP/m3/registry/team/app/v1"
expect_match "$OUT" 'No such file or directory' "an https upstream naming a plain http realm: refused (ENOENT; the log says why)"
check "the log says why" wait_until 5 \
	grep -q "token realm 'http://127.0.0.1:[0-9]*/token' is plain http for an https upstream: refused" "$log"
expect_eq "$(grep -c -- '-> ' "$TL" || :)" "$before" "the token service was never asked, even with plain_http and plain_realm_credentials"
regfs_umount "$TEST_TMP/m3"

done_testing
