#!/bin/bash
# t1510-upstream-lists: tag lists an upstream never ends or bloats (issue
# 15, tests/tools/hostile-upstream.py):
# - endless pagination (50 000 tags a page, for ever): three ls in parallel
#   end within seconds, the daemon's memory (VmRSS) grows by tens of MiB at
#   most, and the log says the list was refused (list_max, 100 000 names);
# - a 9 MiB tags/list body and one nested 100 000 levels deep: an empty
#   listing, as before, but now with a log line each.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

hostile_start h --page-tags 50000
U=$HOSTILE_H_URL
cat >"$TEST_TMP/h.conf" <<EOF
[upstream h]
url = $U
plain_http = true
credentials = none
connect_timeout = 1s
timeout = 30s
retries = 1
backoff = 100ms
EOF
regfs_mount "$STORE" "$MNT" -o config="$TEST_TMP/h.conf"
R=$MNT/registry
log=$(daemon_log "$MNT")
pid=$(daemon_pid "$MNT")
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- endless pagination ---

expect_ok "the repository with endless tag pages is a folder" -- test -d "$R/pages"
before=$(rss_kb "$pid")
t0=$(now_ns)
pids=()
for i in 1 2 3; do
	timeout 60 ls "$R/pages" >"$TEST_TMP/ls.$i" 2>&1 &
	pids+=($!)
	track_pid "$!"
done
for p in "${pids[@]}"; do
	check "ls $p of the endless list ends within 20 s" wait_exit "$p" 20
	reap "$p"
done
elapsed=$((($(now_ns) - t0) / 1000000))
after=$(rss_kb "$pid")
diag "three ls in parallel: ${elapsed} ms, VmRSS ${before} kB -> ${after} kB"
check "the daemon's memory grew by less than 150 MiB" test $((after - before)) -lt $((150 * 1024))
check "the log says the list was refused" grep -q "tags of 'pages': more than 100000 names (list_max): refused" "$log"
pages=$(grep -c "GET /v2/pages/tags/list" "$HOSTILE_H_LOG" || :)
check "at most 3 pages a list were asked for ($pages for three)" test "$pages" -le 9
# Within list_ttl the failed list is not asked again, and holds no names.
expect_eq "$(ls "$R/pages" | wc -l)" 0 "a second ls shows nothing, from the failed list"
expect_eq "$(grep -c "GET /v2/pages/tags/list" "$HOSTILE_H_LOG" || :)" "$pages" "without asking the upstream again"

# --- a body too large, and too deep ---

expect_eq "$(ls "$R/fat" | wc -l)" 0 "a 9 MiB tag list shows nothing"
check "and the log says why" grep -q "tags of 'fat': larger than 8388608 bytes" "$log"
expect_eq "$(ls "$R/deep" | wc -l)" 0 "a tag list nested 100 000 deep shows nothing"
check "and the log says why" grep -q "tags of 'deep': the tags list is not JSON" "$log"
expect_eq "$(ls "$R/ok")" v1 "a healthy repository still lists"
regfs_umount "$MNT"
done_testing
