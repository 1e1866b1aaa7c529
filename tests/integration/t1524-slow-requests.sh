#!/bin/bash
# t1524-slow-requests: requests that wait long do not hold the mount.
# libfuse reads the kernel's requests with 10 threads; lookups waiting on a
# slow upstream and closes waiting for their seal (a slow seal hook) are
# served on threads of their own (fuse/offload.c), and lookups in one
# folder are sent by the kernel in parallel (regfs asks for it at INIT,
# which libfuse 3.14 does not). A real Distribution registry behind
# tests/tools/bad-proxy.py, which holds the manifest requests of n* tags
# for 4 s; a seal hook that waits for the test. With 16 of each waiting at once
# (lookups in 12 repositories, 5 of them in one):
# - all 16 are under way together (16 requests reach the upstream, 16
#   hooks run), not one per folder or 10 at a time;
# - the mount answers everyone else at once: a read, a stat and a listing
#   of a local tag, also while 16 readers of the files being sealed wait;
# - a waiting lookup sent SIGKILL dies at once: its interrupt is read;
# - the waiting requests end as they would have: the lookups of names the
#   upstream does not have fail with ENOENT, the seals succeed;
# - the daemon, sent SIGTERM while lookups wait on the upstream, exits
#   within 3 s (about 1 s), not when the upstream answers.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

N=16
mkrand "$SRC/a.bin" 4K
mkrand "$SRC/local.bin" 64K
registry_start up
oci_push_file "$REGISTRY_UP_URL" app v1 "$SRC/a.bin" >/dev/null
for r in $(seq 2 12); do
	oci_push_file "$REGISTRY_UP_URL" "r$r" v1 "$SRC/a.bin" >/dev/null
done
arrivals=$TEST_TMP/arrivals
: >"$arrivals"
bad_proxy_start slow "$REGISTRY_UP_URL" --delay-ms 4000 --count-file "$arrivals" \
	--match '^GET /v2/[a-z0-9]+/manifests/n'

# The hook waits until the test lets it go (10 s at most): however slowly a
# loaded machine starts the 16, they are all running when the test looks.
cat >"$TEST_TMP/hook" <<EOF
#!/bin/sh
i=0
while [ ! -e "$TEST_TMP/hooks-go" ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
EOF
chmod 755 "$TEST_TMP/hook"
cat >"$TEST_TMP/slow.conf" <<EOF
seal_hook = $TEST_TMP/hook
[upstream up]
url = $BAD_PROXY_SLOW_URL
plain_http = true
credentials = none
timeout = 20s
EOF
"$REGCTL" --store "$TEST_TMP/s" publish --init "$SRC/local.bin" loc:v1 >/dev/null ||
	bail_out "regctl publish of the local tag failed"
regfs_mount "$TEST_TMP/s" "$TEST_TMP/m" -o config="$TEST_TMP/slow.conf"
M=$TEST_TMP/m
local_sha=$(sha "$SRC/local.bin")

arrived() { grep -c "GET /v2/[a-z0-9]*/manifests/n" "$arrivals"; }
at_least() { (($(arrived) >= $1)); }

# answered_now WHAT CMD...: CMD ends well within 1.5 s.
answered_now() {
	local what=$1 t0 ms
	shift
	t0=$(now_ns)
	check "$what, while the others wait" timeout 10 "$@"
	ms=$((($(now_ns) - t0) / 1000000))
	diag "it took $ms ms"
	check "$what took less than 1.5 s" test "$ms" -lt 1500
}

# --- lookups waiting on the upstream -----------------------------------------------

# lookup I: of nI, in app for I < 6, else in rI
lookup() { if (($1 < 6)); then echo "$M/registry/app/n$1"; else echo "$M/registry/r$(($1 - 4))/n$1"; fi; }
declare -A pid_of
for i in $(seq "$N"); do
	stat "$(lookup "$i")" >"$TEST_TMP/stat.$i" 2>&1 &
	pid_of[$i]=$!
	track_pid "$!"
done
check "ten lookups reach the upstream" wait_until 10 at_least 10
answered_now "a read of a local tag" sh -c "sha256sum <'$M/registry/loc/v1' | grep -q '^$local_sha '"
answered_now "a stat of a local tag" stat "$M/registry/loc/v1"
answered_now "a listing of the local repository" sh -c "ls '$M/registry/loc' | grep -qx v1"
check "all $N lookups reach the upstream together" wait_until 2 at_least "$N"
diag "$(arrived) of $N arrived"

# One whose request is at the upstream, killed.
k=$(grep -m1 -o "manifests/n[0-9]*" "$arrivals" | sed 's/.*n//')
t0=$(now_ns)
kill -KILL "${pid_of[$k]}" 2>/dev/null || :
check "a waiting lookup sent SIGKILL is gone within 2 s" wait_exit "${pid_of[$k]}" 2
diag "it ended $((($(now_ns) - t0) / 1000000)) ms after SIGKILL"
reap "${pid_of[$k]}"
unset "pid_of[$k]"

wrong=0
for i in "${!pid_of[@]}"; do
	reap "${pid_of[$i]}"
	if [[ $REAP_RC -eq 0 ]] || ! grep -q "No such file or directory" "$TEST_TMP/stat.$i"; then
		wrong=$((wrong + 1))
		diag "lookup n$i: status $REAP_RC: $(cat "$TEST_TMP/stat.$i")"
	fi
done
expect_eq "$wrong" 0 "the other lookups end with ENOENT when the upstream answers (it has no such tags)"
expect_eq "$(sha "$M/registry/app/v1")" "$(sha "$SRC/a.bin")" "the upstream's tag still reads right"

# --- closes waiting for their seal ---------------------------------------------------

mkdir "$M/incoming/pub"
pids=()
for i in $(seq "$N"); do
	printf 'file %s\n' "$i" >"$SRC/f$i"
	cp "$SRC/f$i" "$M/incoming/pub/t$i" &
	pids+=($!)
done
track_pid "${pids[@]}"
hooks() { pgrep -f -c "^/bin/sh $TEST_TMP/hook" || :; }
all_hooks() { (($(hooks) >= N)); }
check "all $N seal hooks run together" wait_until 8 all_hooks
diag "$(hooks) hooks ran at once"
# Readers of the files being sealed: their reads wait for the seals.
readers=()
for i in $(seq "$N"); do
	cat "$M/incoming/pub/t$i" >"$TEST_TMP/read.$i" 2>&1 &
	readers+=($!)
done
track_pid "${readers[@]}"
in_read() { [[ $(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) == 0 ]]; }
all_reading() {
	local r
	for r in "${readers[@]}"; do in_read "$r" || return 1; done
}
check "$N readers of the files being sealed wait in read(2)" wait_until 5 all_reading
answered_now "a read of a local tag" sh -c "sha256sum <'$M/registry/loc/v1' | grep -q '^$local_sha '"
answered_now "a listing of incoming/" ls "$M/incoming/pub"
: >"$TEST_TMP/hooks-go"
failed=0
for pid in "${pids[@]}"; do
	reap "$pid"
	[[ $REAP_RC -eq 0 ]] || failed=$((failed + 1))
done
expect_eq "$failed" 0 "every cp ended well once its seal was done"
sealed=0
for i in $(seq "$N"); do
	cmp -s "$SRC/f$i" "$M/registry/pub/t$i" && sealed=$((sealed + 1))
done
expect_eq "$sealed" "$N" "all $N files are sealed tags"
wrong=0
for i in $(seq "$N"); do
	reap "${readers[i - 1]}"
	if [[ $REAP_RC -ne 0 ]] || ! cmp -s "$SRC/f$i" "$TEST_TMP/read.$i"; then
		wrong=$((wrong + 1))
		diag "reader of t$i: status $REAP_RC: $(head -c 200 "$TEST_TMP/read.$i")"
	fi
done
expect_eq "$wrong" 0 "the readers got the files' content once sealed"

# --- the daemon's stop while lookups wait ---------------------------------------------

: >"$arrivals"
pids=()
for i in 1 2 3; do
	stat "$M/registry/app/n2$i" >/dev/null 2>&1 &
	pids+=($!)
done
track_pid "${pids[@]}"
check "three lookups reach the upstream" wait_until 10 at_least 3
pid=$(daemon_pid "$M")
t0=$(now_ns)
kill -TERM "$pid"
check "the daemon, sent SIGTERM, exits within 3 s" wait_exit "$pid" 3
diag "it exited $((($(now_ns) - t0) / 1000000)) ms after SIGTERM"
for p in "${pids[@]}"; do
	check "a waiting lookup ends with the daemon" wait_exit "$p" 2
	reap "$p"
done
log=$(daemon_log "$M")
check "the log says the lookups were interrupted" \
	grep -q "lookup of 'n2.' interrupted while an upstream was asked: EINTR" "$log"
regfs_umount "$M"
done_testing
