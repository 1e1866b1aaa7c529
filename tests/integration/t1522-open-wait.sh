#!/bin/bash
# t1522-open-wait: an open waiting for a download that trickles (issue 15,
# item 3). A real Distribution registry behind tests/tools/bad-proxy.py,
# which sends blob bodies at 40 kB/s: above min_rate (16 KiB/s), so the
# download itself goes on and on. Its readers:
# - killed with SIGKILL, or Ctrl-C's SIGINT, while they wait: they die at
#   once (the daemon answers the kernel's interrupt with EINTR) instead of
#   sitting in D state until the download ends;
# - waiting longer than open_timeout (regfs.conf): open fails with
#   ETIMEDOUT, whatever size the manifest declares;
# - the download goes on meanwhile: once it is done, the content reads
#   right, and from the store;
# - an unmount does not wait for a download under way: it stops, keeps
#   nothing, and the next mount fetches the tag again.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/slow.bin" 512K
slow_d=sha256:$(sha "$SRC/slow.bin")
registry_start up
oci_push_file "$REGISTRY_UP_URL" app slow "$SRC/slow.bin" >/dev/null
# 512 KiB at 40 kB/s: about 13 s of download.
bad_proxy_start slow "$REGISTRY_UP_URL" --rate 40000

# conf FILE [KEY = VALUE]: an upstream through the slow proxy.
conf() {
	local file=$1
	shift
	{
		[[ $# -eq 0 ]] || printf '%s\n' "$*"
		cat <<EOF
[upstream up]
url = $BAD_PROXY_SLOW_URL
plain_http = true
credentials = none
timeout = 5s
EOF
	} >"$file"
}

# started: the blob's download through the proxy has begun.
started() { grep -q "GET /v2/app/blobs/$slow_d" "$BAD_PROXY_SLOW_LOG"; }

# --- readers killed while they wait (the default open_timeout, 10 min) -----------

conf "$TEST_TMP/plain.conf"
regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o config="$TEST_TMP/plain.conf"
M=$TEST_TMP/m1/registry
log=$(daemon_log "$TEST_TMP/m1")

# in_open: the reader is in open(2) or openat(2) (x86_64 numbers), where
# it waits for the download.
in_open() { [[ " 2 257 " == *" $(cut -d' ' -f1 "/proc/$reader/syscall" 2>/dev/null) "* ]]; }
cat "$M/app/slow" >/dev/null 2>&1 &
reader=$!
track_pid "$reader"
check "the download starts" wait_until 10 started
check "the reader waits in open" wait_until 10 in_open
t0=$(now_ns)
kill -KILL "$reader"
check "a reader sent SIGKILL while it waits is gone within 2 s" wait_exit "$reader" 2
diag "it died $((($(now_ns) - t0) / 1000000)) ms after SIGKILL"
reap "$reader"
expect_eq "$REAP_RC" 137 "it died of SIGKILL"

env --default-signal=INT cat "$M/app/slow" >/dev/null 2>&1 &
reader=$!
track_pid "$reader"
# (In open, the reader is cat: env has let SIGINT through.)
check "the next reader waits in open" wait_until 10 in_open
t0=$(now_ns)
kill -INT "$reader" 2>/dev/null || :
check "a reader sent SIGINT (Ctrl-C) while it waits is gone within 2 s" wait_exit "$reader" 2
diag "it died $((($(now_ns) - t0) / 1000000)) ms after SIGINT"
reap "$reader"
expect_eq "$REAP_RC" 130 "it died of SIGINT"
check "the log says the opens were interrupted" grep -q "open of 'app:slow' .* interrupted" "$log"

# A reader that catches the signal sees open() fail with EINTR.
out=$(timeout 20 python3 - "$M/app/slow" <<'EOF'
import errno, os, signal, sys
signal.signal(signal.SIGALRM, lambda *a: None)
signal.setitimer(signal.ITIMER_REAL, 1.0)
try:
    # os.open retries on EINTR (PEP 475) unless the handler raises: call
    # open(2) once, through ctypes.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open(sys.argv[1].encode(), os.O_RDONLY)
    print('EINTR' if fd < 0 and ctypes.get_errno() == errno.EINTR else 'fd %d errno %d' % (fd, ctypes.get_errno()))
except OSError as e:
    print(errno.errorcode[e.errno])
EOF
)
expect_eq "$out" "EINTR" "a reader that catches a signal gets EINTR from open()"

# The download went on: it ends, and the content reads right.
expect_eq "$(timeout 30 sha256sum <"$M/app/slow" 2>&1 | cut -d' ' -f1)" "${slow_d#sha256:}" \
	"the download went on; once done the content reads right"
# (The reader is served once the bytes are verified; storing them ends a
# moment later.)
check "the blob is in the store" wait_until 10 test -e "$TEST_TMP/s1/blobs/sha256/${slow_d#sha256:}"
regfs_umount "$TEST_TMP/m1"

# --- open_timeout ------------------------------------------------------------------

conf "$TEST_TMP/timeout.conf" "open_timeout = 2s"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o config="$TEST_TMP/timeout.conf"
M=$TEST_TMP/m2/registry
log=$(daemon_log "$TEST_TMP/m2")
t0=$(now_ns)
expect_errno ETIMEDOUT open "$M/app/slow" r
elapsed=$((($(now_ns) - t0) / 1000000))
check "open gave up after open_timeout (2 s) and at most a second more (${elapsed} ms)" \
	test "$elapsed" -ge 1900 -a "$elapsed" -lt 4500
check "the log says why" grep -q "not fetched within open_timeout (2 s)" "$log"
expect_fail_errno "cat says so" -- cat "$M/app/slow" "Connection timed out"
# Let the download end before the unmount (which waits for it).
check "the download goes on and ends" wait_until 30 test -e "$TEST_TMP/s2/blobs/sha256/${slow_d#sha256:}"
expect_eq "$(sha "$M/app/slow" 2>&1)" "${slow_d#sha256:}" "then the content reads right"
regfs_umount "$TEST_TMP/m2"

# --- an unmount while a download is under way ------------------------------------

# It does not wait for the download (13 s here; hours for a large blob at
# min_rate): the download stops, keeps nothing, and is made again later.
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/plain.conf"
M=$TEST_TMP/m3/registry
log=$(daemon_log "$TEST_TMP/m3")
: >"$BAD_PROXY_SLOW_LOG"
cat "$M/app/slow" >/dev/null 2>&1 &
reader=$!
track_pid "$reader"
check "the download starts" wait_until 10 started
check "its reader waits in open" wait_until 10 in_open
kill -KILL "$reader"
check "the reader is gone" wait_exit "$reader" 2
reap "$reader"
t0=$(now_ns)
regfs_umount "$TEST_TMP/m3" 5
elapsed=$((($(now_ns) - t0) / 1000000))
diag "the unmount took $elapsed ms"
check "the log says the download was stopped" grep -q "download stopped: shutting down" "$log"
check "nothing of it is in the store" test ! -e "$TEST_TMP/s3/blobs/sha256/${slow_d#sha256:}"
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/plain.conf"
expect_eq "$(timeout 40 sha256sum <"$TEST_TMP/m3/registry/app/slow" 2>&1 | cut -d' ' -f1)" "${slow_d#sha256:}" \
	"mounted again, the tag is fetched again and reads right"
regfs_umount "$TEST_TMP/m3"

printf 'open_timeout = never\n' >"$TEST_TMP/never.conf"
expect_fail_errno "open_timeout = never is refused" -- \
	"$REGFS" "$TEST_TMP/s2" "$TEST_TMP/m2" -f -o config="$TEST_TMP/never.conf" \
	"'open_timeout' must be more than 0"
done_testing
