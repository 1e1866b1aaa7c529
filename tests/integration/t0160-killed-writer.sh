#!/bin/bash
# t0160-killed-writer: a writer killed mid-write (SIGKILL, or SIGINT as
# Ctrl-C sends) never seals, even though the kernel closes its file as a
# normal close would; the name can then be published normally. The same
# for one killed while its seal waits for the store's lock (a gc).
#
# The writers read from a FIFO the test feeds, so "mid-write" is a state the
# test reaches and checks (the staged size), never a race with a sleep.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mkrand "$SRC/full" 4M
mkrand "$SRC/small" 10K
regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming
log=$(daemon_log "$MNT")

staged_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
staged_at_least() { test "$(staged_size "$1")" -ge "$2"; }

# killed_writer SIGNAL TAG DESC CMD...: start CMD (which reads the FIFO and
# writes incoming/app/TAG), feed it 1 MiB, check the bytes arrived, kill it
# with SIGNAL, and check that nothing was sealed and the name is free.
killed_writer() {
	local sig=$1 tag=$2 desc=$3
	shift 3
	local fifo=$TEST_TMP/fifo.$tag pid
	mkfifo "$fifo"
	# The test keeps the FIFO open for reading and writing: opening never
	# blocks, and the writer never sees EOF before it is killed.
	exec 7<>"$fifo"
	"$@" 7>&- &
	pid=$!
	track_pid "$pid"
	if ! timeout 20 head -c 1M "$SRC/full" >&7; then
		fail "$desc: the writer took its first MiB"
	fi
	if wait_until 10 staged_at_least "$I/app/$tag" 1048576; then
		ok "$desc: the first MiB is staged in incoming/app/$tag"
	else
		fail "$desc: the first MiB is staged in incoming/app/$tag (size $(staged_size "$I/app/$tag"))"
	fi
	check "$desc: nothing is sealed while it writes" test ! -e "$R/app/$tag"
	kill_wait "$sig" "$pid"
	expect_eq "$REAP_RC" "$((128 + $(kill -l "$sig")))" "$desc: the writer died of SIG$sig"
	exec 7>&-
	rm -f "$fifo"
	check "$desc: nothing is sealed" test ! -e "$R/app/$tag"
	check "$desc: the incoming entry goes away" wait_until 10 test ! -e "$I/app/$tag"
	check "$desc: staging/ empties" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'
	check "$desc: the log says a writer was killed, not sealed" _lib_not grep -q "sealed 'app:$tag'" "$log"
	expect_ok "$desc: the name can then be published" -- cp "$SRC/small" "$I/app/$tag"
	expect_eq "$(sha "$R/app/$tag" 2>&1)" "$(sha "$SRC/small")" "$desc: the new publish holds the new content"
}

# A single-process writer: the redirection happens in the forked child, which
# then becomes cat, so $! is the process that holds the file.
killed_writer KILL k1 "cat killed by SIGKILL" \
	sh -c 'exec cat "$1" > "$2"' sh "$TEST_TMP/fifo.k1" "$I/app/k1"
# Background commands of a script ignore SIGINT; env restores the default
# disposition, as a terminal's Ctrl-C would find it.
killed_writer INT i1 "cat killed by SIGINT" \
	env --default-signal=INT sh -c 'exec cat "$1" > "$2"' sh "$TEST_TMP/fifo.i1" "$I/app/i1"
killed_writer KILL k2 "cp killed by SIGKILL" \
	cp "$TEST_TMP/fifo.k2" "$I/app/k2"
killed_writer INT i2 "cp killed by SIGINT" \
	env --default-signal=INT cp "$TEST_TMP/fifo.i2" "$I/app/i2"
killed_writer TERM t1 "cp killed by SIGTERM" \
	cp "$TEST_TMP/fifo.t1" "$I/app/t1"

# The shape from the issue: a subshell writes 1 MiB then sleeps, holding the
# file through its stdout; the whole group is killed.
(
	head -c 1M "$SRC/full"
	exec sleep 60
) >"$I/app/sub" &
sub=$!
track_pid "$sub"
if wait_until 10 staged_at_least "$I/app/sub" 1048576; then
	ok "subshell writer: the first MiB is staged"
else
	fail "subshell writer: the first MiB is staged (size $(staged_size "$I/app/sub"))"
fi
check "subshell writer: not sealed when head, the first of its processes, exits" test ! -e "$R/app/sub"
kill_wait KILL "$sub"
check "subshell writer killed by SIGKILL: nothing is sealed" test ! -e "$R/app/sub"
check "subshell writer: the incoming entry goes away" wait_until 10 test ! -e "$I/app/sub"
expect_ok "subshell writer: the name can then be published" -- cp "$SRC/small" "$I/app/sub"

# A large cp, killed at an arbitrary point of its copy (no FIFO: a plain
# file, as a user would interrupt it). If cp happens to finish first the
# check below is void, not failed.
mkrand "$SRC/big" 64M
env --default-signal=INT cp "$SRC/big" "$I/app/bigcp" &
pid=$!
track_pid "$pid"
if wait_until 20 staged_at_least "$I/app/bigcp" 1; then
	kill_wait INT "$pid"
	if [[ $REAP_RC -eq 130 ]]; then
		check "a large cp interrupted by SIGINT seals nothing" test ! -e "$R/app/bigcp"
		check "the interrupted cp's entry goes away" wait_until 10 test ! -e "$I/app/bigcp"
	else
		diag "cp finished (status $REAP_RC) before SIGINT reached it; nothing to check"
		check "a finished cp sealed its whole content" \
			test "$(sha "$R/app/bigcp" 2>/dev/null)" = "$(sha "$SRC/big")"
	fi
else
	reap "$pid"
	diag "cp never showed a staged file (status $REAP_RC)"
fi

# A writer that exits normally, without closing explicitly, does seal: the
# kernel's close at exit is its last close.
expect_ok "a writer that exits without closing seals" -- python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os._exit(0)' "$I/app/exit0" "$SRC/small"
expect_eq "$(sha "$R/app/exit0" 2>&1)" "$(sha "$SRC/small")" "the exiting writer's content is sealed"
# ... and so does one that exits with a failure status: a status is not a
# signal. (Whether a failed build should publish is the caller's choice.)
run_cmd python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os._exit(3)' "$I/app/exit3" "$SRC/small"
expect_eq "$RC" "3" "the writer exited with status 3"
check "a writer's exit status does not stop the seal" test -f "$R/app/exit3"

# A writer killed while its seal waits for the store's lock (a gc under
# way holds it; here a python process holds it for one) dies at once, and
# nothing is sealed; one that is not killed publishes once the lock is free.
require_cmd flock
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
time.sleep(60)' "$STORE/gc.lock" &
holder=$!
track_pid "$holder"
check "the lock is held" wait_until 5 '! flock -n -s "$STORE/gc.lock" true'
cp "$SRC/small" "$I/app/gcwait" &
pid=$!
track_pid "$pid"
in_close() { [[ $(cut -d' ' -f1 "/proc/$pid/syscall" 2>/dev/null) == 3 ]]; }
check "cp waits in close(2) for the lock" wait_until 10 in_close
check "nothing is sealed while the lock is held" test ! -e "$R/app/gcwait"
t0=$(now_ns)
kill -KILL "$pid"
check "the writer, sent SIGKILL while its seal waits for the lock, is gone within 2 s" wait_exit "$pid" 2
diag "it died $((($(now_ns) - t0) / 1000000)) ms after SIGKILL"
reap "$pid"
check "the log says the seal was interrupted" \
	grep -q "sealing 'app:gcwait' was interrupted: its writer was killed, nothing is sealed" "$log"
cp "$SRC/small" "$I/app/gcwait2" &
pid=$!
track_pid "$pid"
check "another cp waits in close(2)" wait_until 10 in_close
kill_wait TERM "$holder"
check "a writer that waited publishes once the lock is free" wait_exit "$pid" 10
reap "$pid"
expect_eq "$REAP_RC" 0 "its cp exits 0"
check "nothing was sealed of the killed one" test ! -e "$R/app/gcwait"
expect_eq "$(sha "$R/app/gcwait2" 2>&1)" "$(sha "$SRC/small")" "the waiting writer's content is sealed"

check "staging/ is empty at the end" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'
regfs_umount "$MNT"
done_testing
