#!/bin/bash
# t1515-upstream-slow-repo: one slow repository does not poison the others
# (issue 15). A real Distribution registry holds app:v1 and slow:v1; in
# front of it, tests/tools/bad-proxy.py delays every request about slow/
# past the upstream's timeout.
# - a lookup in slow/ fails (timeout) and the next one fails at once
#   ("unreachable a moment ago"), as before;
# - meanwhile app:v1, never pinned, resolves and reads: the failure
#   accounting is per repository;
# - once the upstream is stopped (connection refused), the whole upstream
#   is marked: a new repository fails at once, without waiting a timeout.
# shellcheck source-path=SCRIPTDIR disable=SC2317
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/app.bin" 100K
mkrand "$SRC/other.bin" 10K
registry_start up
oci_push_file "$REGISTRY_UP_URL" app v1 "$SRC/app.bin" >/dev/null
oci_push_file "$REGISTRY_UP_URL" other v1 "$SRC/other.bin" >/dev/null
oci_push_file "$REGISTRY_UP_URL" slow v1 "$SRC/other.bin" >/dev/null
bad_proxy_start slow "$REGISTRY_UP_URL" --match '^GET /v2/slow/' --delay-ms 6000
cat >"$TEST_TMP/up.conf" <<EOF
[upstream up]
url = $BAD_PROXY_SLOW_URL
plain_http = true
credentials = none
connect_timeout = 1s
timeout = 2s
retries = 0
EOF
regfs_mount "$STORE" "$MNT" -o config="$TEST_TMP/up.conf"
R=$MNT/registry
log=$(daemon_log "$MNT")

t0=$(now_ns)
expect_fail "a tag of the slow repository does not resolve" -- stat "$R/slow/v1"
diag "it took $((($(now_ns) - t0) / 1000000)) ms"
expect_fail "nor again, at once" -- stat "$R/slow/v1"
check "the log says the slow repository was unreachable a moment ago" \
	grep -q "manifest 'slow:v1': unreachable a moment ago" "$log"
t0=$(now_ns)
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/app.bin")" "meanwhile a tag of another repository resolves and reads"
check "at once (under 2 s)" test $((($(now_ns) - t0) / 1000000)) -lt 2000
expect_eq "$(grep -c "manifest 'app:v1': unreachable" "$log" || :)" 0 "app was never said to be unreachable"

# A refused connection is the whole upstream's.
bad_proxy_stop slow
expect_fail "with the upstream gone, a tag of a third repository fails" -- stat "$R/other/v1"
t0=$(now_ns)
expect_fail "and so does app:v2, at once" -- stat "$R/app/v2"
check "(under 1 s)" test $((($(now_ns) - t0) / 1000000)) -lt 1000
check "the log says the upstream was unreachable a moment ago" \
	grep -q "unreachable a moment ago (Connection refused)" "$log"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/app.bin")" "what was fetched still reads"
regfs_umount "$MNT"
registry_stop up
done_testing
