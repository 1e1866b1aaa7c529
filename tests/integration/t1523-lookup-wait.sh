#!/bin/bash
# t1523-lookup-wait: a lookup or a listing that waits on a slow upstream can
# be interrupted, as an open waiting for a download can (t1522). A real
# Distribution registry behind tests/tools/bad-proxy.py, which holds every
# manifest and tag list request of two repositories for 4 s (the upstream's
# timeout is 20 s, and it stalls an attempt after 5 s: nothing fails of
# itself). Their lookups and listings:
# - killed with SIGKILL, or Ctrl-C's SIGINT, while they wait: they die
#   within 3 s (the daemon's upstream call for them ends at once, and the
#   kernel's interrupt is answered with EINTR) instead of sitting in D state
#   until the upstream answers;
# - a caller that catches the signal gets EINTR;
# - an interrupted call leaves nothing behind: the next lookup and listing
#   ask the upstream again and find the tags;
# - the same for an open whose signature is checked on the upstream
#   (require_signature, a tag pinned before the policy).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/a.bin" 4K
mkrand "$SRC/b.bin" 4K
registry_start up
oci_push_file "$REGISTRY_UP_URL" app v1 "$SRC/a.bin" >/dev/null
oci_push_file "$REGISTRY_UP_URL" other v1 "$SRC/b.bin" >/dev/null
arrivals=$TEST_TMP/arrivals
: >"$arrivals"
bad_proxy_start slow "$REGISTRY_UP_URL" --delay-ms 4000 --count-file "$arrivals" \
	--match '^GET /v2/(app|other)/(manifests|tags/list)'

cat >"$TEST_TMP/slow.conf" <<EOF
[upstream up]
url = $BAD_PROXY_SLOW_URL
plain_http = true
credentials = none
timeout = 20s
EOF
regfs_mount "$TEST_TMP/s" "$TEST_TMP/m" -o config="$TEST_TMP/slow.conf"
M=$TEST_TMP/m/registry
log=$(daemon_log "$TEST_TMP/m")

# asked REPO: a slow request of REPO's reached the proxy (since the last
# mark).
marks=0
asked() { grep -q "GET /v2/$1/" <<<"$(tail -n +"$((marks + 1))" "$arrivals")"; }
mark() { marks=$(wc -l <"$arrivals"); }

# interrupted SIGNAL STATUS REPO WHAT CMD...: CMD, sent SIGNAL once it waits
# on REPO's upstream, is gone within 3 s and ended with STATUS.
interrupted() {
	local sig=$1 status=$2 repo=$3 what=$4 pid t0
	shift 4
	mark
	env --default-signal=INT "$@" >/dev/null 2>&1 &
	pid=$!
	track_pid "$pid"
	check "$what: the upstream is asked" wait_until 10 asked "$repo"
	sleep 0.3 # (it waits in the kernel)
	t0=$(now_ns)
	kill -"$sig" "$pid" 2>/dev/null || :
	check "$what, sent SIG$sig while it waits, is gone within 3 s" wait_exit "$pid" 3
	diag "it ended $((($(now_ns) - t0) / 1000000)) ms after SIG$sig"
	reap "$pid"
	expect_eq "$REAP_RC" "$status" "$what died of SIG$sig"
}

# --- lookups -----------------------------------------------------------------------

interrupted KILL 137 app "stat of a tag" stat "$M/app/v1"
interrupted INT 130 app "stat of a tag" stat "$M/app/v1"
check "the log says the lookups were interrupted" \
	grep -q "lookup of 'v1' interrupted while an upstream was asked: EINTR" "$log"

# A caller that catches the signal sees the call fail with EINTR.
mark
out=$(timeout 30 python3 - "$M/app/v1" <<'EOF'
import ctypes, errno, os, signal, sys
signal.signal(signal.SIGALRM, lambda *a: None)
signal.setitimer(signal.ITIMER_REAL, 1.0)
# os.stat would retry on EINTR (PEP 475): call access(2) once, through ctypes.
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.access(sys.argv[1].encode(), os.F_OK)
print('EINTR' if rc < 0 and ctypes.get_errno() == errno.EINTR else 'rc %d errno %d' % (rc, ctypes.get_errno()))
EOF
)
expect_eq "$out" "EINTR" "a caller that catches a signal gets EINTR from access()"

# Nothing was kept of the interrupted calls: asked again, the upstream answers.
t0=$(now_ns)
expect_eq "$(cat "$M/app/v1" 2>&1 | sha256sum | cut -d' ' -f1)" "$(sha "$SRC/a.bin")" \
	"an uninterrupted read of the tag waits for the upstream and gets its content"
diag "it took $((($(now_ns) - t0) / 1000000)) ms"

# --- listings ----------------------------------------------------------------------

interrupted KILL 137 other "a listing of a repository" ls "$M/other"
interrupted INT 130 other "a listing of a repository" ls "$M/other"
check "the log says the listings were interrupted" \
	grep -q "listing interrupted while an upstream was asked: EINTR" "$log"
expect_eq "$(ls "$M/other" 2>&1)" "v1" "an uninterrupted listing waits for the upstream and lists its tag"

check "the daemon is alive" kill -0 "$(daemon_pid "$TEST_TMP/m")"
regfs_umount "$TEST_TMP/m"

# --- an open whose signature is checked upstream ------------------------------------

# app:v1 was pinned without a policy; under require_signature its open asks
# the upstream what the tag is now before it can judge it.
command -v openssl >/dev/null || bail_out "openssl is not installed"
openssl genpkey -algorithm ed25519 -out "$TEST_TMP/k.pem" || bail_out "genpkey ed25519"
openssl pkey -in "$TEST_TMP/k.pem" -pubout -out "$TEST_TMP/k.pub"
printf 'require_signature = %s\n' "$TEST_TMP/k.pub" >>"$TEST_TMP/slow.conf"
regfs_mount "$TEST_TMP/s" "$TEST_TMP/m" -o config="$TEST_TMP/slow.conf"
log=$(daemon_log "$TEST_TMP/m")
interrupted KILL 137 app "an open checking a signature" cat "$M/app/v1"
check "the log says the open was interrupted" \
	grep -q "open of 'app:v1' interrupted while its signature was checked upstream: EINTR" "$log"
expect_fail_errno "an uninterrupted open waits for the upstream, then refuses the unsigned tag" -- \
	cat "$M/app/v1" "Permission denied"
regfs_umount "$TEST_TMP/m"
done_testing
