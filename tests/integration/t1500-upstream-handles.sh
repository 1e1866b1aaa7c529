#!/bin/bash
# t1500-upstream-handles: an upstream that breaks libcurl handles or refuses
# credentials (issue 15, tests/tools/hostile-upstream.py):
# - a blob redirect to file:// fails that read (EIO, a log line), and
#   pull-through keeps working for every other tag: the handle that failed
#   is thrown away, not handed to the next request;
# - a 401 reaches the reader as EACCES (not ENOENT), with a log line naming
#   the 401; regctl pull names it, and regctl serve --upstream answers a
#   manifest GET with 403 DENIED, not 404.
# shellcheck source-path=SCRIPTDIR disable=SC2317
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"

hostile_start h
U=$HOSTILE_H_URL
cat >"$TEST_TMP/h.conf" <<EOF
[upstream h]
url = $U
plain_http = true
credentials = none
connect_timeout = 1s
timeout = 3s
retries = 1
backoff = 100ms
EOF
regfs_mount "$STORE" "$MNT" -o config="$TEST_TMP/h.conf"
R=$MNT/registry
log=$(daemon_log "$MNT")

# --- a redirect to file:// ---

expect_fail_errno "a blob redirected to file:// is not read" -- cat "$R/redir/v1" "Input/output error"
check "the log names the refused redirect" grep -Eqi "redir.*(protocol|file)" "$log"
# Each of these is a new tag: a manifest GET and a blob GET, through the
# handles the failed one went back to.
for i in 1 2 3; do
	expect_eq "$(sha "$R/ok/v1" 2>&1)" "$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(250)) * 4).hexdigest())')" \
		"after the redirect, a healthy tag reads (try $i)"
	expect_fail_errno "and the redirect fails again, alone (try $i)" -- cat "$R/redir/v1" "Input/output error"
	# A lookup of a tag not pinned yet needs the upstream.
	expect_fail_errno "an unknown tag is still ENOENT (try $i)" -- stat "$R/ok/nope$i" "No such file or directory"
done
expect_eq "$(grep -c "cannot set up the request" "$log" || :)" 0 "no request failed to be set up"

# --- a 401 ---

expect_fail_errno "a tag of a repository the upstream refuses us is EACCES" -- \
	cat "$R/locked/v1" "Permission denied"
expect_fail_errno "so is its stat" -- stat "$R/locked/v1" "Permission denied"
check "the log names the 401" grep -q "401 unauthorized" "$log"
expect_eq "$(sha "$R/ok/v1" 2>&1 | head -c 8)" "$(python3 -c 'import hashlib; print(hashlib.sha256(bytes(range(250)) * 4).hexdigest()[:8])')" \
	"a healthy tag still reads after the 401"
regfs_umount "$MNT"

expect_fail "regctl pull of a tag the upstream refuses us fails" -- \
	"$REGCTL" --store "$TEST_TMP/s2" pull --plain-http "${U#http://}/locked:v1"
expect_match "$OUT" "401 unauthorized" "regctl pull names the 401"
expect_ok "regctl pull of a healthy tag works" -- \
	"$REGCTL" --store "$TEST_TMP/s2" pull --plain-http "${U#http://}/ok:v1"

serve_start hub --store "$TEST_TMP/s3" --upstream "$U"
code=$(curl -s -o "$TEST_TMP/serve.out" -w '%{http_code}' \
	-H "Accept: application/vnd.oci.image.manifest.v1+json" "$SERVE_HUB_URL/v2/locked/manifests/v1")
expect_eq "$code" 403 "regctl serve: a tag the upstream refuses us is 403"
expect_match "$(cat "$TEST_TMP/serve.out")" '"DENIED"' "with the code DENIED"
code=$(curl -s -o /dev/null -w '%{http_code}' \
	-H "Accept: application/vnd.oci.image.manifest.v1+json" "$SERVE_HUB_URL/v2/ok/manifests/v1")
expect_eq "$code" 200 "and a healthy tag is 200"
serve_stop hub
done_testing
