#!/bin/bash
# t0520-pull-faults: a pull-through mount when the upstream misbehaves
# (tests/tools/bad-proxy.py in front of a real Distribution registry):
# - killed mid-transfer: the reader gets EIO within the timeout, and once it
#   is back a read resumes (Range) and gives the right content;
# - corrupted bytes: EIO, a log line naming the upstream and the digest,
#   nothing stored, regctl fsck clean;
# - a transfer cut short: resumed with a Range request, content right;
# - a slow upstream: ENOENT within the timeout, nothing hangs;
# - the daemon killed while a fetched blob is being stored: nothing
#   half-stored, fsck clean, read again after a remount;
# - a stopped upstream: what was fetched is still served and listed.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012,SC2016 # ls as users use it; literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/big.bin" 1M
mkrand "$SRC/app.bin" 200K
mkrand "$SRC/cut.bin" 1M
mkrand "$SRC/other.bin" 10K
big_d=sha256:$(sha "$SRC/big.bin")
app_d=sha256:$(sha "$SRC/app.bin")
cut_d=sha256:$(sha "$SRC/cut.bin")

registry_start up
U=$REGISTRY_UP_URL
oci_push_file "$U" app big "$SRC/big.bin" >/dev/null
oci_push_file "$U" app v1 "$SRC/app.bin" >/dev/null
oci_push_file "$U" app cut "$SRC/cut.bin" >/dev/null
oci_push_file "$U" app other "$SRC/other.bin" >/dev/null

# conf FILE URL TIMEOUT: a regfs.conf with one upstream "up", few retries.
conf() {
	cat >"$1" <<EOF
[upstream up]
url = $2
plain_http = true
credentials = none
connect_timeout = 1s
timeout = $3
retries = 2
backoff = 100ms
backoff_max = 500ms
EOF
}


# in_store STORE DIGEST: the blob is in the store.
in_store() { test -e "$1/blobs/sha256/${2#sha256:}"; }

# ranges DIGEST: partial (206) blob GETs in the registry's access log.
ranges() {
	awk -v d="$1" '$6 == "\"GET" && index($7, "/blobs/" d) && $9 == 206 { n++ } END { print n + 0 }' \
		"$REGISTRY_UP_LOG"
}

# --- the upstream killed mid-transfer ---------------------------------------------

# A slow proxy (100 KB/s: the 1 MiB blob takes 10 s), killed after a while.
bad_proxy_start slow "$U" --rate 100000
port=${BAD_PROXY_SLOW_URL##*:}
conf "$TEST_TMP/slow.conf" "$BAD_PROXY_SLOW_URL" 3s
regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o config="$TEST_TMP/slow.conf"
M=$TEST_TMP/m1/registry
log1=$(daemon_log "$TEST_TMP/m1")
t0=$(now_ns)
cat "$M/app/big" >"$TEST_TMP/killed.out" 2>"$TEST_TMP/killed.err" &
reader=$!
track_pid "$reader"
check "the blob transfer starts" wait_until 5 grep -q "GET /v2/app/blobs/$big_d" "$BAD_PROXY_SLOW_LOG"
sleep 1 # (let some 100 KB through)
kill -KILL "$BAD_PROXY_SLOW_PID"
diag "killed the upstream (bad-proxy $BAD_PROXY_SLOW_PID) mid-transfer"
check "the reader ends within the timeout (3 s) and a margin" wait_exit "$reader" 8
reap "$reader"
elapsed=$((($(now_ns) - t0) / 1000000))
check "the reader failed (status $REAP_RC)" test "$REAP_RC" -ne 0
expect_match "$(cat "$TEST_TMP/killed.err")" 'Input/output error' "killed mid-transfer: the reader gets EIO"
check "within the bound (took $elapsed ms)" test "$elapsed" -lt 9000
check "it got no unverified bytes" test ! -s "$TEST_TMP/killed.out"
check "the blob is not in the store" _lib_not in_store "$TEST_TMP/s1" "$big_d"
check "the daemon log names the upstream" grep -q "upstream 'up'" "$log1"

# The upstream comes back at the same address: the next read gets it all.
bad_proxy_start back "$U" --port "$port" --count-file "$TEST_TMP/back.count"
expect_eq "$BAD_PROXY_BACK_URL" "$BAD_PROXY_SLOW_URL" "(the upstream is back at the same address)"
expect_eq "$(sha "$M/app/big" 2>&1)" "${big_d#sha256:}" "after the upstream is back, the read gives the right content"
check "the download was resumed with a Range request (a 206 in the registry log)" \
	wait_until 5 'test "$(ranges "$big_d")" -ge 1'
# (Through the slow proxy the daemon may have resumed already, after a
# stall of a loaded machine: what comes after the upstream's return is one
# request, a resumption.)
expect_eq "$(grep -c "^GET /v2/app/blobs/$big_d" "$TEST_TMP/back.count")" 1 \
	"one blob GET once the upstream is back"
check "... a Range request (206)" grep -q "GET /v2/app/blobs/$big_d -> 206" "$BAD_PROXY_BACK_LOG"
# Readers are served once the bytes are verified, before the blob is
# stored (core/pull.c, download): the file comes a moment later.
check "the blob is in the store now" wait_until 10 in_store "$TEST_TMP/s1" "$big_d"
regfs_umount "$TEST_TMP/m1"
bad_proxy_stop back

# --- corrupted bytes ------------------------------------------------------------------

bad_proxy_start corrupt "$U" --corrupt-blobs --count-file "$TEST_TMP/corrupt.count"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o upstream="$BAD_PROXY_CORRUPT_URL"
M=$TEST_TMP/m2/registry
log2=$(daemon_log "$TEST_TMP/m2")
expect_fail_errno "corrupted bytes: cat fails with EIO" -- cat "$M/app/v1" "Input/output error"
check "the proxy served the blob (flipped)" grep -qx "GET /v2/app/blobs/$app_d" "$TEST_TMP/corrupt.count"
check "the log names the digest, the tag and the upstream" wait_until 5 \
	grep -qF "digest mismatch for blob $app_d of 'app:v1' from upstream 'default'" "$log2"
check "nothing is stored" _lib_not in_store "$TEST_TMP/s2" "$app_d"
expect_fail_errno "a second read fails too (no bad bytes cached)" -- cat "$M/app/v1" "Input/output error"
regfs_umount "$TEST_TMP/m2"
bad_proxy_stop corrupt
expect_ok "regctl fsck: the store is clean" -- "$REGCTL" --store "$TEST_TMP/s2" fsck
check "still no blob with that digest" _lib_not in_store "$TEST_TMP/s2" "$app_d"
# The same store in front of the real upstream: the right bytes.
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o upstream="$U"
expect_eq "$(sha "$TEST_TMP/m2/registry/app/v1" 2>&1)" "${app_d#sha256:}" \
	"the same store behind a good upstream reads the right content"
regfs_umount "$TEST_TMP/m2"

# --- a cut transfer resumed with Range ------------------------------------------------------

bad_proxy_start cut "$U" --cut-after 300000 --count-file "$TEST_TMP/cut.count"
conf "$TEST_TMP/cut.conf" "$BAD_PROXY_CUT_URL" 10s
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/cut.conf"
M=$TEST_TMP/m3/registry
ranges_before=$(ranges "$cut_d")
expect_eq "$(sha "$M/app/cut" 2>&1)" "${cut_d#sha256:}" "a transfer cut after 300000 bytes: the reader gets the right content"
check "the proxy cut it" grep -q "cut after 300000" "$BAD_PROXY_CUT_LOG"
expect_eq "$(grep -c "^GET /v2/app/blobs/$cut_d" "$TEST_TMP/cut.count")" 2 "two blob GETs through the proxy"
check "the registry log has both blob GETs" wait_until 5 \
	'test "$(registry_blob_gets up "$cut_d")" -eq 2'
expect_eq "$(($(ranges "$cut_d") - ranges_before))" 1 "the second one a Range request (206)"
regfs_umount "$TEST_TMP/m3"
bad_proxy_stop cut
expect_ok "regctl fsck after the resumed download" -- "$REGCTL" --store "$TEST_TMP/s3" fsck

# --- a slow upstream: ENOENT within the timeout ----------------------------------------------

bad_proxy_start sleepy "$U" --delay-ms 6000
conf "$TEST_TMP/sleepy.conf" "$BAD_PROXY_SLEEPY_URL" 2s
regfs_mount "$TEST_TMP/s4" "$TEST_TMP/m4" -o config="$TEST_TMP/sleepy.conf"
M=$TEST_TMP/m4/registry
run_timed stat "$M/app/v1"
expect_match "$OUT" 'No such file or directory' "slow upstream: the lookup gives ENOENT"
check "within the timeout (2 s) and a margin, not one timeout per request (took $ELAPSED ms)" test "$ELAPSED" -lt 4500
run_timed ls "$M/app"
check "ls of the repository does not hang (took $ELAPSED ms)" test "$ELAPSED" -lt 4500
run_timed cat "$M/app/other"
check "cat fails (status $RC)" test "$RC" -ne 0
check "cat does not hang (took $ELAPSED ms)" test "$ELAPSED" -lt 4500
check "the log says it timed out" grep -Eqi "upstream 'up'.*(no answer within|timed? ?out)" "$(daemon_log "$TEST_TMP/m4")"
regfs_umount "$TEST_TMP/m4"
bad_proxy_stop sleepy

# --- the daemon killed while a fetched blob is being stored ----------------------------------
# A reader gets the bytes once they are verified, before they are on disk;
# kill -9 right then leaves nothing half-stored: the blob is whole in the
# store or not there (and fetched again), never a catalog row without it.
mkrand "$SRC/huge.bin" 48M
huge_d=sha256:$(sha "$SRC/huge.bin")
oci_push_file "$U" app huge "$SRC/huge.bin" >/dev/null
regfs_mount "$TEST_TMP/s6" "$TEST_TMP/m6" -o upstream="$U"
expect_eq "$(head -c 4 "$TEST_TMP/m6/registry/app/huge" | od -An -tx1)" "$(head -c 4 "$SRC/huge.bin" | od -An -tx1)" \
	"a cold read of 48 MiB gets its first bytes"
regfs_kill9 "$TEST_TMP/m6"
if in_store "$TEST_TMP/s6" "$huge_d"; then
	diag "the blob was stored before the kill"
else
	diag "the kill came before the blob was stored"
fi
regfs_lazy_umount "$TEST_TMP/m6"
expect_ok "after kill -9 mid-store: regctl fsck is clean" -- "$REGCTL" --store "$TEST_TMP/s6" fsck
check "no staging file is left" test "$(count_files "$TEST_TMP/s6/staging")" -eq 0
regfs_mount "$TEST_TMP/s6" "$TEST_TMP/m6" -o upstream="$U"
expect_eq "$(sha "$TEST_TMP/m6/registry/app/huge" 2>&1)" "${huge_d#sha256:}" "after a remount the tag reads right"
check "and its blob is stored" wait_until 10 in_store "$TEST_TMP/s6" "$huge_d"
regfs_umount "$TEST_TMP/m6"
expect_ok "regctl fsck is clean at the end" -- "$REGCTL" --store "$TEST_TMP/s6" fsck

# --- offline: a stopped upstream -----------------------------------------------------------------

cat >"$TEST_TMP/off.conf" <<EOF
[upstream up]
url = $U
plain_http = true
credentials = none
connect_timeout = 1s
timeout = 2s
retries = 1
list_ttl = 1s
EOF
regfs_mount "$TEST_TMP/s5" "$TEST_TMP/m5" -o config="$TEST_TMP/off.conf"
M=$TEST_TMP/m5/registry
expect_eq "$(sha "$M/app/v1" 2>&1)" "${app_d#sha256:}" "(fetched while the upstream is up)"
expect_ok "cp publishes a local tag too" -- cp "$SRC/other.bin" "$TEST_TMP/m5/incoming/app/mine"
registry_stop up
sleep 1.2 # (past list_ttl: the next ls asks the dead upstream)
run_timed ls "$M/app"
check "offline: ls succeeds (status $RC)" test "$RC" -eq 0
check "offline: ls does not hang (took $ELAPSED ms)" test "$ELAPSED" -lt 4500
expect_match "$(tr '\n' ' ' <<<"$OUT")" '(^| )v1( |$)' "offline: ls lists the pinned tag"
expect_match "$(tr '\n' ' ' <<<"$OUT")" '(^| )mine( |$)' "offline: ls lists the local tag"
run_timed sha "$M/app/v1"
expect_eq "$OUT" "${app_d#sha256:}" "offline: the fetched tag is served"
check "offline: quickly (took $ELAPSED ms)" test "$ELAPSED" -lt 2000
expect_eq "$(xattr "$M/app/v1" user.regfs.digest 2>&1)" "$app_d" "offline: its xattrs too"
run_timed cat "$M/app/other"
check "offline: a tag never fetched fails (status $RC)" test "$RC" -ne 0
check "offline: without hanging (took $ELAPSED ms)" test "$ELAPSED" -lt 4500
regfs_umount "$TEST_TMP/m5"
# And after a restart of the daemon, still offline.
regfs_mount "$TEST_TMP/s5" "$TEST_TMP/m5" -o config="$TEST_TMP/off.conf"
run_timed sha "$M/app/v1"
expect_eq "$OUT" "${app_d#sha256:}" "offline, after a remount: the fetched tag is served"
check "quickly (took $ELAPSED ms)" test "$ELAPSED" -lt 4500
regfs_umount "$TEST_TMP/m5"

done_testing
