#!/bin/bash
# t1505-upstream-sizes: what an upstream says of a blob's size is held to
# (issue 15, tests/tools/hostile-upstream.py):
# - a layer declaring 1e12 bytes is refused before a byte is fetched
#   (max_blob_size, 64 GiB by default; a smaller one from regfs.conf);
# - a layer declaring 50 bytes whose 25 served bytes match its digest is
#   corrupt: EIO, a log line, nothing stored; regctl plan refuses it too;
# - a broken download's partial counts in cache_max: over it, it is
#   released at once, not kept open;
# - a layer larger than the store's free space, or than what it leaves
#   besides the downloads under way, is refused before it is fetched, and
#   a download is stopped when the free space no longer holds its rest (a
#   small tmpfs; skipped without root).
# shellcheck source-path=SCRIPTDIR disable=SC2317
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

hostile_start h --rate 5000000
U=$HOSTILE_H_URL
# conf FILE URL [KEY=VALUE...]: upstreams "a" (prefix a/) and "b" (prefix
# b/, with the KEY=VALUEs) on one hostile upstream.
conf() {
	local f=$1 url=$2
	shift 2
	{
		for s in a b; do
			printf '[upstream %s]\nurl = %s\nprefix = %s/\nplain_http = true\n' "$s" "$url" "$s"
			printf 'credentials = none\nconnect_timeout = 1s\ntimeout = 3s\nretries = 1\nbackoff = 100ms\n'
			if [[ $s == b ]]; then printf '%s\n' "$@"; fi
		done
	} >"$f"
}
# staged_fds PID: descriptors of the daemon on staged (unlinked) files.
staged_fds() {
	local fd n=0
	for fd in "/proc/$1/fd"/*; do
		[[ $(readlink "$fd" 2>/dev/null) == */staging/*' (deleted)' ]] && n=$((n + 1))
	done
	printf '%s\n' "$n"
}
# no_staged_fds PID: the daemon holds no staged file (for wait_until).
no_staged_fds() { test "$(staged_fds "$1")" -eq 0; }
# blob_gets REPO: the hostile upstream's blob GETs of REPO.
blob_gets() { grep -c "GET /v2/$1/blobs/sha256:[0-9a-f]\{64\} " "$HOSTILE_H_LOG" || :; }

conf "$TEST_TMP/h.conf" "$U" "max_blob_size = 1M"
regfs_mount "$STORE" "$MNT" -o config="$TEST_TMP/h.conf" -o cache_max=1M
R=$MNT/registry
log=$(daemon_log "$MNT")
pid=$(daemon_pid "$MNT")

# --- declared sizes past max_blob_size ---

expect_eq "$(stat -c %s "$R/a/huge/v1" 2>&1)" 1000000000000 "a tag declaring 1e12 bytes shows its size"
t0=$(now_ns)
expect_fail_errno "reading it fails" -- timeout 10 cat "$R/a/huge/v1" "Input/output error"
check "at once (under 3 s)" test $((($(now_ns) - t0) / 1000000)) -lt 3000
check "the log says why" grep -q "huge.*1000000000000 bytes declared, more than max_blob_size" "$log"
expect_eq "$(blob_gets huge)" 0 "no byte of it was asked for"
expect_fail_errno "max_blob_size = 1M refuses a 4 MiB layer" -- timeout 10 cat "$R/b/slowblob/v1" "Input/output error"
check "the log names max_blob_size (1048576)" grep -q "4194304 bytes declared, more than max_blob_size (1048576)" "$log"
expect_eq "$(blob_gets slowblob)" 0 "nor of that one"

# --- a short blob whose digest matches ---

expect_eq "$(stat -c %s "$R/a/short/v1" 2>&1)" 50 "the short tag declares 50 bytes"
expect_fail_errno "reading a blob shorter than its manifest says fails" -- cat "$R/a/short/v1" "Input/output error"
check "the log calls it corrupt" grep -q "corrupt: the manifest says 50 bytes, the blob with that digest has 25" "$log"
short_d=$(printf '%s' 'short but with the digest' | sha256sum | cut -d' ' -f1)
check "nothing of it is stored" test ! -e "$STORE/blobs/sha256/$short_d"
expect_fail "mmap does not show it either" -- python3 -c 'import mmap, sys
with open(sys.argv[1], "rb") as f:
    mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)' "$R/a/short/v1"

# regctl plan, through the same core, refuses the short blob too.
mkdir -p "$TEST_TMP/plans"
cat >"$TEST_TMP/plans/short.hades.yaml" <<EOF
registries:
  hub: {type: oci, url: "$U"}
jobs:
  j: {local: true, actions: [{pull: {registry: hub, name: short, tag: v1, to: "$TEST_TMP/deployed"}}]}
plans:
  p: {steps: [{name: s, job: j, targets: [local]}]}
EOF
expect_fail "regctl plan of the short blob fails" -- \
	"$REGCTL" --store "$TEST_TMP/plan-store" plan run p -c "$TEST_TMP/plans"
expect_match "$OUT" "corrupt: the manifest says 50 bytes" "and says the blob is corrupt"
check "nothing was deployed" test ! -e "$TEST_TMP/deployed"

# --- a broken download over cache_max ---

expect_fail "a download cut at 2 MiB of 4 and then refused (503) fails" -- \
	timeout 20 cat "$R/a/slowblob/v1"
check "(one GET cut short, then 503s)" test "$(blob_gets slowblob)" -ge 2
check "its 2 MiB partial, over cache_max (1M), is released at once" wait_until 5 no_staged_fds "$pid"
diag "staged descriptors of the daemon: $(staged_fds "$pid")"
regfs_umount "$MNT"

# --- past the free space ---

if [[ $(id -u) -ne 0 ]]; then
	diag "skipping the free-space case: it mounts a tmpfs (root only)"
	done_testing
	exit
fi
SMALL=$TEST_TMP/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=8m,mode=0755 regfs-test-tmpfs "$SMALL" || {
	diag "cannot mount a tmpfs here: skipping the free-space case"
	done_testing
	exit
}
track_mount "$(cd "$SMALL" && pwd -P)"
hostile_start big --huge-size $((20 << 20)) --slow-size $((5 << 20)) --rate 1500000
conf "$TEST_TMP/big.conf" "$HOSTILE_BIG_URL"
regfs_mount "$SMALL/store" "$TEST_TMP/m2" -o config="$TEST_TMP/big.conf"
log2=$(daemon_log "$TEST_TMP/m2")
B=$TEST_TMP/m2/registry/a
big_gets() { grep -c "GET /v2/$1/blobs/sha256:[0-9a-f]\{64\} " "$HOSTILE_BIG_LOG" || :; }
expect_fail_errno "a 20 MiB layer into an 8 MiB store fails" -- \
	timeout 10 cat "$B/huge/v1" "Input/output error"
check "the log says there is no room" grep -q "20971520 bytes to fetch, but the store has [0-9]* bytes free" "$log2"
expect_eq "$(big_gets huge)" 0 "no byte of it was asked for"
# A 5 MiB download under way (about 3 s) leaves no room for another.
timeout 30 cat "$B/steady/v1" >"$TEST_TMP/steady.out" 2>&1 &
steady=$!
track_pid "$steady"
check "the first 5 MiB download starts" wait_until 5 grep -q "GET /v2/steady/blobs/" "$HOSTILE_BIG_LOG"
expect_fail_errno "a second 5 MiB layer meanwhile fails" -- \
	timeout 10 cat "$B/slowblob/v1" "Input/output error"
check "the log counts the bytes promised to the first" \
	grep -q "5242880 bytes to fetch, but the store has [0-9]* bytes free ([0-9]* promised to other downloads)" "$log2"
expect_eq "$(big_gets slowblob)" 0 "no byte of the second was asked for"
check "the first one reads whole" wait_exit "$steady" 20
reap "$steady"
expect_eq "$REAP_RC" 0 "(its reader exits 0)"
expect_eq "$(stat -c %s "$TEST_TMP/steady.out")" $((5 << 20)) "with its 5 MiB"
regfs_umount "$TEST_TMP/m2"

# The free space shrinking under a download stops it, and its bytes are
# given back at once.
SMALL2=$TEST_TMP/small2
mkdir -p "$SMALL2"
mount -t tmpfs -o size=16m,mode=0755 regfs-test-tmpfs "$SMALL2"
track_mount "$(cd "$SMALL2" && pwd -P)"
regfs_mount "$SMALL2/store" "$TEST_TMP/m3" -o config="$TEST_TMP/big.conf"
log3=$(daemon_log "$TEST_TMP/m3")
gets_before=$(big_gets steady)
timeout 30 cat "$TEST_TMP/m3/registry/a/steady/v1" >/dev/null 2>"$TEST_TMP/steady3.err" &
steady=$!
track_pid "$steady"
more_gets() { test "$(big_gets "$1")" -gt "$2"; }
check "a 5 MiB download starts" wait_until 5 more_gets steady "$gets_before"
expect_ok "13 MiB written beside it leave too little room for the rest" -- \
	dd if=/dev/zero of="$SMALL2/filler" bs=1M count=13 status=none
check "the reader fails" wait_exit "$steady" 10
reap "$steady"
expect_match "$(cat "$TEST_TMP/steady3.err")" "Input/output error" "with EIO"
check "the log says the rest no longer fits" grep -q "steady:v1' from upstream 'a': [0-9]* bytes to fetch, but the store has" "$log3"
check "its bytes are given back" wait_until 5 no_staged_fds "$(daemon_pid "$TEST_TMP/m3")"
rm -f "$SMALL2/filler"
regfs_umount "$TEST_TMP/m3"
done_testing
