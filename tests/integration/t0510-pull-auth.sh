#!/bin/bash
# t0510-pull-auth: pull-through from upstreams that want credentials, taken
# from a 0600 credentials file in Docker's config.json shape: htpasswd basic
# auth, the bearer-token flow (the registry's auth: token and the token
# service of tests/tools), and a stale token refreshed. A wrong password, or
# no credentials at all, gives the reader EACCES quickly (no hang) and a log
# line that says why and holds no secret. A credentials file readable by
# others is refused.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012,SC2016 # ls as users use it; literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/app.bin" 64K
app_d=sha256:$(sha "$SRC/app.bin")
# Where ~ is for the daemon: no credentials of the machine's are picked up.
export HOME=$TEST_TMP/home
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS XDG_CONFIG_HOME

# creds_file FILE HOST USER:PASS: a Docker-style credentials file, 0600.
creds_file() {
	local auth
	auth=$(printf '%s' "$3" | base64 -w0)
	python3 -c 'import json, sys; print(json.dumps({"auths": {sys.argv[1]: {"auth": sys.argv[2]}}}))' \
		"$2" "$auth" >"$1"
	chmod 600 "$1"
}

# conf FILE URL CREDS-FILE: a regfs.conf with one upstream "up" (whose
# token service, for --token, is plain http on another port: t1545 tests
# plain_realm_credentials).
conf() {
	cat >"$1" <<EOF
[upstream up]
url = $2
plain_http = true
plain_realm_credentials = true
credentials = $3
timeout = 3s
retries = 1
backoff = 100ms
EOF
}


# no_secret LOG SECRET...: none of the secrets (nor their base64) in LOG.
no_secret() {
	local log=$1 s
	shift
	for s in "$@"; do
		grep -qF -- "$s" "$log" && return 1
		grep -qF -- "$(printf '%s' "$s" | base64 -w0)" "$log" && return 1
	done
	return 0
}

# JWT_ERE: the header and payload of a JWT (base64url of '{"', then '.',
# then base64url of '{"'), the shape of every token a token service issues.
JWT_ERE='eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}'
# no_jwt LOG: nothing shaped like a JWT in LOG. (The token service puts a
# random jti in each token, so no token the test fetches itself can be
# looked for: the daemon's own are different.)
no_jwt() {
	if grep -Eqo -- "$JWT_ERE" "$1"; then
		diag "a JWT in ${1##*/}: $(grep -Eo -- "$JWT_ERE" "$1" | head -n 1 | cut -c1-40)..."
		return 1
	fi
	return 0
}

# --- htpasswd basic ---------------------------------------------------------

registry_start basic --htpasswd alice:open-sesame
B=$REGISTRY_BASIC_URL
d=$(oci_push_file "$B" team/app v1 "$SRC/app.bin" --user alice:open-sesame)
expect_eq "$d" "$app_d" "(pushed with basic auth)"
expect_eq "$(skopeo_manifest "$B" team/app v1 --creds alice:open-sesame |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')" "$app_d" \
	"(skopeo with --creds sees the layer)"

creds_file "$TEST_TMP/basic.json" "$REGISTRY_BASIC_HOST" alice:open-sesame
conf "$TEST_TMP/basic.conf" "$B" "$TEST_TMP/basic.json"
regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o config="$TEST_TMP/basic.conf"
M=$TEST_TMP/m1/registry
expect_eq "$(sha "$M/team/app/v1" 2>&1)" "${app_d#sha256:}" "htpasswd: cat of an upstream tag with basic credentials"
expect_eq "$(ls "$M/team/app" 2>&1)" v1 "htpasswd: ls lists the upstream tag"
expect_eq "$(xattr "$M/team/app/v1" user.regfs.origin 2>&1)" up "the origin is the upstream"
check "htpasswd: the daemon log has no secret" no_secret "$(daemon_log "$TEST_TMP/m1")" open-sesame alice:open-sesame
regfs_umount "$TEST_TMP/m1"

# A wrong password: EACCES, quickly, and a log line that says why.
creds_file "$TEST_TMP/wrong.json" "$REGISTRY_BASIC_HOST" alice:not-the-password
conf "$TEST_TMP/wrong.conf" "$B" "$TEST_TMP/wrong.json"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o config="$TEST_TMP/wrong.conf"
M=$TEST_TMP/m2/registry
log=$(daemon_log "$TEST_TMP/m2")
run_timed cat "$M/team/app/v1"
check "wrong password: cat fails" test "$RC" -ne 0
expect_match "$OUT" 'Permission denied' "wrong password: the reader gets EACCES (issue 15)"
check "wrong password: within the timeout (3 s; took ${ELAPSED} ms)" test "$ELAPSED" -lt 5000
run_timed ls "$M/team/app"
check "wrong password: ls does not hang (took ${ELAPSED} ms)" test "$ELAPSED" -lt 5000
check "the log says the upstream refused the credentials" wait_until 5 \
	grep -Eqi "upstream 'up'.*(401|unauthori[sz]ed|denied|credentials refused)" "$log"
check "wrong password: the log has no secret" no_secret "$log" not-the-password alice:not-the-password
expect_eq "$(registry_blob_gets basic "$app_d")" 1 "no blob GET for the wrong password (only the first mount's)"
regfs_umount "$TEST_TMP/m2"

# No credentials at all for a registry that wants them.
cat >"$TEST_TMP/anon.conf" <<EOF
[upstream up]
url = $B
plain_http = true
credentials = none
timeout = 3s
EOF
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/anon.conf"
run_timed cat "$TEST_TMP/m3/registry/team/app/v1"
expect_match "$OUT" 'Permission denied' "no credentials: EACCES"
check "no credentials: quickly (took ${ELAPSED} ms)" test "$ELAPSED" -lt 5000
regfs_umount "$TEST_TMP/m3"

# A credentials file that others may read is refused, and the log says so.
chmod 644 "$TEST_TMP/basic.json"
regfs_mount "$TEST_TMP/s4" "$TEST_TMP/m4" -o config="$TEST_TMP/basic.conf"
log=$(daemon_log "$TEST_TMP/m4")
run_timed cat "$TEST_TMP/m4/registry/team/app/v1"
check "a 0644 credentials file is not used (cat fails)" test "$RC" -ne 0
check "the log names the mode problem" wait_until 5 \
	grep -Eqi "basic\.json.*(mode|permission|readable|group|others)|(mode|permission|readable|group|others).*basic\.json" "$log"
check "and holds no secret" no_secret "$log" open-sesame
regfs_umount "$TEST_TMP/m4"
chmod 600 "$TEST_TMP/basic.json"

# "auto" finds ~/.docker/config.json (Docker's, for docker login users).
mkdir -p "$HOME/.docker"
creds_file "$HOME/.docker/config.json" "$REGISTRY_BASIC_HOST" alice:open-sesame
regfs_mount "$TEST_TMP/s5" "$TEST_TMP/m5" -o upstream="$B"
expect_eq "$(sha "$TEST_TMP/m5/registry/team/app/v1" 2>&1)" "${app_d#sha256:}" \
	"-o upstream= (credentials auto) uses ~/.docker/config.json"
regfs_umount "$TEST_TMP/m5"
rm -rf "$HOME/.docker"
registry_stop basic

# --- bearer token ---------------------------------------------------------------

registry_start tok --token bob:tok-pass
T=$REGISTRY_TOK_URL
oci_push_file "$T" team/app v1 "$SRC/app.bin" --token-auth bob:tok-pass >/dev/null
expect_eq "$(skopeo_manifest "$T" team/app v1 --creds bob:tok-pass |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')" "$app_d" \
	"(skopeo does the token flow and sees the layer)"
creds_file "$TEST_TMP/tok.json" "$REGISTRY_TOK_HOST" bob:tok-pass
conf "$TEST_TMP/tok.conf" "$T" "$TEST_TMP/tok.json"
tok_before=$(grep -c 'user=bob -> 200' "$REGISTRY_TOK_TOKEN_LOG" || :)
regfs_mount "$TEST_TMP/s6" "$TEST_TMP/m6" -o config="$TEST_TMP/tok.conf"
M=$TEST_TMP/m6/registry
log=$(daemon_log "$TEST_TMP/m6")
expect_eq "$(sha "$M/team/app/v1" 2>&1)" "${app_d#sha256:}" "token: cat of an upstream tag through the bearer flow"
expect_eq "$(ls "$M/team/app" 2>&1)" v1 "token: ls lists the upstream tag"
check "token: the token service granted bob a token" wait_until 5 \
	'test "$(grep -c "user=bob -> 200" "$REGISTRY_TOK_TOKEN_LOG")" -gt "$tok_before"'
expect_eq "$(registry_await 1 registry_blob_gets tok "$app_d")" 1 "token: the blob was fetched once"
check "token: the daemon log has no password" no_secret "$log" tok-pass bob:tok-pass
# The daemon did speak with bearer tokens: Distribution (auth: token) logs
# "authorized request" only for a request with a valid token.
check "token: the registry authorized the daemon's blob GET with a token" \
	grep -q "msg=\"authorized request\".*http.request.method=GET .*uri=\"/v2/team/app/blobs/$app_d\" http.request.useragent=regfs/" \
	"$REGISTRY_TOK_LOG"
check "token: the daemon log has nothing shaped like a JWT" no_jwt "$log"
# (The check can fail: the same log with one of the service's tokens in it.)
tok=$(oci_token "$T" team/app bob:tok-pass pull)
{
	cat "$log"
	printf 'regfs: upstream said: Authorization: Bearer %s\n' "$tok"
} >"$TEST_TMP/jwt-control.log"
check "(no_jwt sees a token the service issued)" _lib_not no_jwt "$TEST_TMP/jwt-control.log"
rm -f "$TEST_TMP/jwt-control.log"
regfs_umount "$TEST_TMP/m6"

# A wrong password on the token service.
creds_file "$TEST_TMP/tokwrong.json" "$REGISTRY_TOK_HOST" bob:nope-nope
conf "$TEST_TMP/tokwrong.conf" "$T" "$TEST_TMP/tokwrong.json"
regfs_mount "$TEST_TMP/s7" "$TEST_TMP/m7" -o config="$TEST_TMP/tokwrong.conf"
log=$(daemon_log "$TEST_TMP/m7")
run_timed cat "$TEST_TMP/m7/registry/team/app/v1"
expect_match "$OUT" 'Permission denied' "token, wrong password: EACCES"
check "token, wrong password: quickly (took ${ELAPSED} ms)" test "$ELAPSED" -lt 5000
check "token, wrong password: the log says the token was refused" wait_until 5 \
	grep -Eqi "upstream 'up'.*token.*(401|unauthori[sz]ed|denied|credentials refused)" "$log"
check "token, wrong password: no secret in the log" no_secret "$log" nope-nope bob:nope-nope
regfs_umount "$TEST_TMP/m7"
registry_stop tok

# A token service whose first token is already stale: the daemon gets it
# first, the registry answers 401, and the daemon must get a fresh one.
registry_start stale --token carol:pw-carol --token-stale 1
S=$REGISTRY_STALE_URL
creds_file "$TEST_TMP/stale.json" "$REGISTRY_STALE_HOST" carol:pw-carol
conf "$TEST_TMP/stale.conf" "$S" "$TEST_TMP/stale.json"
printf 'list_ttl = 1s\n' >>"$TEST_TMP/stale.conf"
regfs_mount "$TEST_TMP/s8" "$TEST_TMP/m8" -o config="$TEST_TMP/stale.conf"
M=$TEST_TMP/m8/registry
# Its first request (tags/list, for ls) gets the stale token; the
# repository is still empty.
run_cmd ls "$M/app"
check "the daemon took the stale token" grep -q 'user=carol -> 200 .*stale' "$REGISTRY_STALE_TOKEN_LOG"
# Pushed now, with a token of its own (the stale one is spent).
oci_push_file "$S" app v1 "$SRC/app.bin" --token-auth carol:pw-carol >/dev/null
check "after a stale token, ls lists the new tag (list_ttl 1s)" \
	wait_until 8 bash -c 'ls "$1" 2>/dev/null | grep -qx v1' _ "$M/app"
expect_ok "and cat reads it" -- cmp "$SRC/app.bin" "$M/app/v1"
check "it asked the token service again" \
	test "$(grep -c 'user=carol -> 200' "$REGISTRY_STALE_TOKEN_LOG")" -ge 3
check "stale token: no secret in the log" no_secret "$(daemon_log "$TEST_TMP/m8")" pw-carol
check "stale token: nothing shaped like a JWT in the log" no_jwt "$(daemon_log "$TEST_TMP/m8")"
regfs_umount "$TEST_TMP/m8"
registry_stop stale

done_testing
