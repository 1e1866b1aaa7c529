#!/bin/bash
# t0525-pull-retry: a pull-through mount whose upstream answers 503 or 429
# (tests/tools/bad-proxy.py --fail-status in front of a real Distribution
# registry, on the blob GET only). What core/upstream.c promises:
# - 503 twice, then the blob: retried after the backoff, the reader gets the
#   right bytes, and the registry sees one blob GET;
# - 429 with Retry-After: 1: the retry waits that second (not the 50-100 ms
#   backoff), well within the timeout;
# - 503 for ever: 1 + retries attempts, then the reader gets EIO within the
#   timeout, and the log names the upstream, the blob and the status;
# - a blob trickling in, slower than min_rate: EIO soon after the timeout,
#   though the deadline moves with every byte.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # a literal $(...) for wait_until
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/a.bin" 200K
mkrand "$SRC/b.bin" 200K
mkrand "$SRC/c.bin" 50K
a_d=sha256:$(sha "$SRC/a.bin")
b_d=sha256:$(sha "$SRC/b.bin")
c_d=sha256:$(sha "$SRC/c.bin")

registry_start up
U=$REGISTRY_UP_URL
oci_push_file "$U" app a "$SRC/a.bin" >/dev/null
oci_push_file "$U" app b "$SRC/b.bin" >/dev/null
oci_push_file "$U" app c "$SRC/c.bin" >/dev/null

# conf FILE URL: a regfs.conf with one upstream "up": 3 s, 3 retries.
conf() {
	cat >"$1" <<EOF
[upstream up]
url = $2
plain_http = true
credentials = none
timeout = 3s
retries = 3
backoff = 100ms
EOF
}


# gets COUNT-FILE DIGEST: the proxy's GETs of the blob.
gets() { grep -cx "GET /v2/app/blobs/$2" "$1" || :; }
# injected LOG DIGEST CODE: the answers the proxy made up for the blob.
injected() { grep -cF "GET /v2/app/blobs/$2 -> $3 (injected)" "$1" || :; }

# --- 503 twice: retried ------------------------------------------------------------

bad_proxy_start p503 "$U" --fail-status 503 --fail-times 2 \
	--match "^GET /v2/app/blobs/$a_d\$" --count-file "$TEST_TMP/p503.count"
conf "$TEST_TMP/p503.conf" "$BAD_PROXY_P503_URL"
regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o config="$TEST_TMP/p503.conf"
M=$TEST_TMP/m1/registry
expect_eq "$(stat -c %s "$M/app/a" 2>&1)" 204800 "(the lookup, through the proxy, is not failed)"
run_timed sha "$M/app/a"
expect_eq "$OUT" "${a_d#sha256:}" "503 twice on the blob GET: a cold read gives the right bytes (took $ELAPSED ms)"
expect_eq "$(injected "$BAD_PROXY_P503_LOG" "$a_d" 503)" 2 "the proxy answered 503 twice"
expect_eq "$(gets "$TEST_TMP/p503.count" "$a_d")" 3 "the daemon asked three times: two retries"
check "the registry answered the blob GET" wait_until 5 'test "$(registry_blob_gets up "$a_d")" -ge 1'
regfs_umount "$TEST_TMP/m1"
expect_eq "$(registry_blob_gets up "$a_d")" 1 "the registry saw exactly one blob GET"
bad_proxy_stop p503

# --- 429 with Retry-After: 1 --------------------------------------------------------------

bad_proxy_start p429 "$U" --fail-status 429 --retry-after 1 --fail-times 1 \
	--match "^GET /v2/app/blobs/$b_d\$" --count-file "$TEST_TMP/p429.count"
conf "$TEST_TMP/p429.conf" "$BAD_PROXY_P429_URL"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o config="$TEST_TMP/p429.conf"
M=$TEST_TMP/m2/registry
stat "$M/app/b" >/dev/null # (the lookup first: only the blob's fetch is timed)
run_timed sha "$M/app/b"
expect_eq "$OUT" "${b_d#sha256:}" "429 with Retry-After: 1: the read gives the right bytes"
expect_eq "$(injected "$BAD_PROXY_P429_LOG" "$b_d" 429)" 1 "(the proxy answered 429 once)"
expect_eq "$(gets "$TEST_TMP/p429.count" "$b_d")" 2 "the daemon asked again once"
# The backoff alone would be 50-100 ms.
check "it waited the Retry-After second (took $ELAPSED ms)" test "$ELAPSED" -ge 1000
check "well within the timeout (3 s; took $ELAPSED ms)" test "$ELAPSED" -lt 2500
regfs_umount "$TEST_TMP/m2"
expect_eq "$(registry_blob_gets up "$b_d")" 1 "the registry saw exactly one blob GET"
bad_proxy_stop p429

# --- 503 for ever ------------------------------------------------------------------------

bad_proxy_start down "$U" --fail-status 503 --fail-times 0 \
	--match "^GET /v2/app/blobs/$c_d\$" --count-file "$TEST_TMP/down.count"
conf "$TEST_TMP/down.conf" "$BAD_PROXY_DOWN_URL"
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/down.conf"
M=$TEST_TMP/m3/registry
log=$(daemon_log "$TEST_TMP/m3")
stat "$M/app/c" >/dev/null
run_timed cat "$M/app/c"
check "503 for ever: cat fails (status $RC)" test "$RC" -ne 0
expect_match "$OUT" 'Input/output error' "the reader gets EIO"
check "within the timeout (3 s; took $ELAPSED ms)" test "$ELAPSED" -lt 3000
expect_eq "$(gets "$TEST_TMP/down.count" "$c_d")" 4 "the daemon asked 1 + retries (3) times"
# (bad-proxy logs an injected answer after sending it.)
expect_eq "$(registry_await 4 injected "$BAD_PROXY_DOWN_LOG" "$c_d" 503)" 4 "(and got 503 each time)"
check "the log names the upstream, the blob and the status, after 3 retries" wait_until 5 \
	grep -qF "upstream 'up' ($BAD_PROXY_DOWN_URL): blob 'app@$c_d': 503 service unavailable (UNAVAILABLE) (after 3 retries)" "$log"
check "nothing is stored" test ! -e "$TEST_TMP/s3/blobs/sha256/${c_d#sha256:}"
regfs_umount "$TEST_TMP/m3"
expect_eq "$(registry_blob_gets up "$c_d")" 0 "the registry saw no blob GET"
bad_proxy_stop down

# --- a trickle: min_rate ------------------------------------------------------------------

# 2000 bytes a second never stalls for long, and the deadline moves with
# every byte: 50 KiB would take 25 s. min_rate (8 KiB/s here) ends it soon
# after the 3 s timeout.
bad_proxy_start trickle "$U" --rate 2000
conf "$TEST_TMP/trickle.conf" "$BAD_PROXY_TRICKLE_URL"
printf 'min_rate = 8K\n' >>"$TEST_TMP/trickle.conf"
regfs_mount "$TEST_TMP/s4" "$TEST_TMP/m4" -o config="$TEST_TMP/trickle.conf"
M=$TEST_TMP/m4/registry
log=$(daemon_log "$TEST_TMP/m4")
stat "$M/app/c" >/dev/null
run_timed cat "$M/app/c"
check "a trickle: cat fails (status $RC)" test "$RC" -ne 0
expect_match "$OUT" 'Input/output error' "the reader gets EIO"
check "after the timeout (3 s), long before the 25 s the trickle needs (took $ELAPSED ms)" \
	test "$ELAPSED" -ge 3000 -a "$ELAPSED" -lt 8000
check "the log says the upstream was slower than min_rate" wait_until 5 \
	grep -qF "blob 'app@$c_d': slower than min_rate (8192 bytes/s)" "$log"
check "nothing is stored" test ! -e "$TEST_TMP/s4/blobs/sha256/${c_d#sha256:}"
regfs_umount "$TEST_TMP/m4"
bad_proxy_stop trickle

registry_stop up
done_testing
