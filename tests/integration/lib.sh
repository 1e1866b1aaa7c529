# shellcheck shell=bash
#
# lib.sh - the library every integration test sources.
#
# A test is a bash script tNNNN-name.sh that mounts a real regfs in a private
# temp folder and drives it with the tools users use. It sources this file,
# makes assertions, and ends with done_testing:
#
#   . "$(dirname "$0")/lib.sh"
#   mkrand "$SRC/app" 1M
#   regfs_mount "$STORE" "$MNT"
#   expect_ok "cp publishes" -- cp "$SRC/app" "$MNT/incoming/app/v1"
#   expect_fail_errno cp "$SRC/app" "$MNT/incoming/app/v1" "File exists"
#   expect_eq "$(sha "$MNT/registry/app/v1")" "$(sha "$SRC/app")" "sealed whole"
#   regfs_umount "$MNT"
#   done_testing
#
# Names a test gets: TEST_TMP (its private temp folder), STORE, MNT and SRC
# (folders in it), TEST_NAME; after a command run by run_cmd or an expect_*
# helper, OUT (its output) and RC (its status).
#
# Helpers, by group:
#   assertions   ok, fail, check, expect_ok, expect_fail, expect_fail_errno,
#                expect_status, expect_eq, expect_ne, expect_match,
#                expect_errno (one system call through Python), done_testing,
#                bail_out, skip_all, require_cmd, require_root
#   the daemon   regfs_mount, regfs_umount, regfs_kill9, regfs_lazy_umount,
#                daemon_pid, daemon_log
#   processes    track_pid, track_mount, kill_wait, reap, proc_alive,
#                wait_exit, wait_until (poll with a deadline; never sleep for
#                a state), pids_with_arg
#   files        sha, mkrand, xattr, count_files, is_mounted, mount_fstype
#
# Models: libfuse's test/cases/lib and git's t/test-lib.sh. Output is TAP-like
# ("ok 3 - ...", "not ok 4 - ...", "# diagnostics"), the last line
# "N passed, N failed". Exit status: 0 all passed, 1 a failure (an assertion,
# a sanitizer report in a log, a command that failed outside an assertion, a
# daemon that did not exit cleanly), 77 skipped (ctest's SKIP_RETURN_CODE).
#
# Robustness: the script runs under errexit, nounset and pipefail, so a setup
# command that fails aborts the test (reported with its line) instead of
# running on in a wrong state. Assertion helpers run the command under test
# in a condition, so a failed assertion is counted, never fatal.
#
# What the EXIT trap promises, however the test ends (done_testing, an
# aborted command, the watchdog, SIGINT/SIGTERM): every mount the test made is
# lazily unmounted, every process it started is killed by PID, the daemon logs
# are scanned for sanitizer reports (a report fails the test), and the temp
# folder is removed (kept when REGFS_TEST_KEEP=1).
#
# Environment (ctest sets the first four; run by hand, they default to the
# tree this file lives in, so `bash tests/integration/t0100-publish-cp.sh`
# works after `cmake -S . -B build && cmake --build build`):
#   REGFS, REGCTL, REGFS_BUILD_DIR, REGFS_SOURCE_DIR
#   REGFS_TEST_TIMEOUT  seconds before the watchdog aborts the test (300)
#   REGFS_TEST_KEEP     1 keeps the temp folder
#   REGFS_TEST_VERBOSE  1 echoes the daemon logs even when the test passes
#   TMPDIR              where the temp folder goes (/tmp)
#
# Helpers the tests use run in the test's main shell: regfs_mount records the
# daemon's PID for regfs_umount/regfs_kill9, so do not call it inside $(...).

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || :

# --- where things are -------------------------------------------------------

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
: "${REGFS_SOURCE_DIR:=$(cd "$_lib_dir/../.." && pwd -P)}"
: "${REGFS_BUILD_DIR:=$REGFS_SOURCE_DIR/build}"
: "${REGFS:=$REGFS_BUILD_DIR/regfs}"
: "${REGCTL:=$REGFS_BUILD_DIR/regctl}"
: "${REGFS_TEST_TIMEOUT:=300}"
: "${REGFS_TEST_KEEP:=0}"
: "${REGFS_TEST_VERBOSE:=0}"
export REGFS REGCTL REGFS_BUILD_DIR REGFS_SOURCE_DIR
# The tools' messages are matched literally ("File exists").
export LC_ALL=C
unset REGFS_STORE XDG_DATA_HOME 2>/dev/null || :

TEST_NAME=$(basename "$0" .sh)

# --- state ------------------------------------------------------------------

_lib_passed=0
_lib_failed=0
_lib_n=0
_lib_done=0      # done_testing ran
_lib_skipped=0
_lib_pids=()     # every background process started, killed at exit
_lib_logs=()     # daemon logs, scanned at exit
_lib_mounts=()   # every mount point made, lazily unmounted at exit
_lib_watchdog=
declare -A _lib_daemon_pid=()  # mount point -> daemon PID
declare -A _lib_daemon_log=()  # mount point -> daemon log
_lib_mount_seq=0
_lib_main_pid=$$

# --- output and assertions --------------------------------------------------

say() { printf '%s\n' "$*"; }
diag() { printf '# %s\n' "$@"; }
# Print a file as diagnostics, at most its last N lines.
diag_file() {
	local file=$1 n=${2:-40}
	[[ -s $file ]] || return 0
	diag "--- $file (last $n lines)"
	tail -n "$n" -- "$file" | sed 's/^/#   /'
}

ok() {
	_lib_n=$((_lib_n + 1))
	_lib_passed=$((_lib_passed + 1))
	say "ok $_lib_n - $*"
}

fail() {
	_lib_n=$((_lib_n + 1))
	_lib_failed=$((_lib_failed + 1))
	say "not ok $_lib_n - $*"
	local i
	for ((i = 1; i < ${#BASH_LINENO[@]} - 1; i++)); do
		if [[ ${BASH_SOURCE[$i]} != "${BASH_SOURCE[0]}" ]]; then
			diag "at ${BASH_SOURCE[$i]##*/} line ${BASH_LINENO[$((i - 1))]}"
			break
		fi
	done
	return 0
}

# check DESC CONDITION...: ok if the condition (a command) succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# Abort the whole test: counts one failure, runs the EXIT trap.
bail_out() {
	_lib_failed=$((_lib_failed + 1))
	say "Bail out! $*"
	exit 1
}

skip_all() {
	say "1..0 # SKIP $*"
	_lib_skipped=1
	exit 77
}

expect_eq() {
	local actual=$1 expected=$2 desc=${3:-"'$1' = '$2'"}
	if [[ $actual == "$expected" ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "expected: '$expected'" "     got: '$actual'"
	fi
}

expect_ne() {
	local actual=$1 unexpected=$2 desc=${3:-"'$1' != '$2'"}
	if [[ $actual != "$unexpected" ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "got the unexpected value '$actual'"
	fi
}

# expect_match STRING REGEX [DESC]: bash [[ =~ ]] match.
expect_match() {
	local s=$1 re=$2 desc=${3:-"matches /$2/"}
	if [[ $s =~ $re ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "'$s' does not match /$re/"
	fi
}

# The output and status of the last run_cmd / expect_* command.
OUT=
RC=0
# run_cmd CMD...: run, capture stdout+stderr in OUT and the status in RC.
run_cmd() {
	RC=0
	OUT=$("$@" 2>&1) || RC=$?
	return 0
}

# run_timed CMD...: run_cmd, and the time CMD took, in ms, in ELAPSED.
# shellcheck disable=SC2034 # for the tests
ELAPSED=0
run_timed() {
	local t0
	t0=$(now_ns)
	run_cmd "$@"
	# shellcheck disable=SC2034
	ELAPSED=$((($(now_ns) - t0) / 1000000))
}

_lib_show_cmd() {
	local s='' a
	for a in "$@"; do
		a=${a//$TEST_TMP/\$T}
		if [[ $a =~ [[:space:]\'\"] || -z $a ]]; then s+=" '$a'"; else s+=" $a"; fi
	done
	printf '%s' "${s# }"
}

# expect_ok [DESC --] CMD...: the command succeeds.
expect_ok() {
	local desc=
	if [[ $# -ge 2 && $2 == -- ]]; then desc=$1; shift 2; fi
	[[ -n $desc ]] || desc="$(_lib_show_cmd "$@") succeeds"
	run_cmd "$@"
	if [[ $RC -eq 0 ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "exit status $RC, output:"
		printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
	fi
}

# expect_fail [DESC --] CMD...: the command fails (any status but 0).
expect_fail() {
	local desc=
	if [[ $# -ge 2 && $2 == -- ]]; then desc=$1; shift 2; fi
	[[ -n $desc ]] || desc="$(_lib_show_cmd "$@") fails"
	run_cmd "$@"
	if [[ $RC -ne 0 ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "it succeeded, output:"
		printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
	fi
}

# expect_fail_errno [DESC --] CMD... ERRNO-TEXT: the command fails and its
# output names the error, as strerror spells it ("File exists").
expect_fail_errno() {
	local desc=
	if [[ $# -ge 3 && $2 == -- ]]; then desc=$1; shift 2; fi
	local text=${!#}
	local cmd=("${@:1:$#-1}")
	[[ -n $desc ]] || desc="$(_lib_show_cmd "${cmd[@]}") fails with '$text'"
	run_cmd "${cmd[@]}"
	if [[ $RC -ne 0 && $OUT == *"$text"* ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "exit status $RC, output:"
		printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
	fi
}

# expect_status N CMD...: the command exits with status N.
expect_status() {
	local want=$1
	shift
	local desc
	desc="$(_lib_show_cmd "$@") exits $want"
	run_cmd "$@"
	if [[ $RC -eq $want ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "exit status $RC, output:"
		printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
	fi
}

# sys OP ARGS...: one system call, exactly, through Python; prints OK or the
# errno's symbolic name (EROFS). For checks where a tool's message would be
# ambiguous about which call failed.
#   open PATH FLAGS   FLAGS: r, w, rw, create, excl, trunc joined by '+'
#   truncate PATH SIZE | unlink PATH | rmdir PATH | mkdir PATH | chmod PATH MODE
#   rename OLD NEW | link OLD NEW | symlink TARGET PATH | utime PATH
#   setxattr PATH NAME VALUE | removexattr PATH NAME | getxattr PATH NAME
#   write PATH DATA   (open for writing, no create, write, close)
sys() {
	python3 - "$@" <<'EOF'
import errno, os, sys
op, a = sys.argv[1], sys.argv[2:]
def flags(s):
    f = 0
    for w in s.split('+'):
        f |= {'r': os.O_RDONLY, 'w': os.O_WRONLY, 'rw': os.O_RDWR,
              'create': os.O_CREAT, 'excl': os.O_EXCL, 'trunc': os.O_TRUNC,
              'append': os.O_APPEND}[w]
    return f
try:
    if op == 'open':
        os.close(os.open(a[0], flags(a[1]), 0o644))
    elif op == 'write':
        fd = os.open(a[0], os.O_WRONLY)
        try:
            os.write(fd, a[1].encode())
        finally:
            os.close(fd)
    elif op == 'truncate': os.truncate(a[0], int(a[1]))
    elif op == 'unlink': os.unlink(a[0])
    elif op == 'rmdir': os.rmdir(a[0])
    elif op == 'mkdir': os.mkdir(a[0])
    elif op == 'chmod': os.chmod(a[0], int(a[1], 8))
    elif op == 'rename': os.rename(a[0], a[1])
    elif op == 'link': os.link(a[0], a[1])
    elif op == 'symlink': os.symlink(a[0], a[1])
    elif op == 'utime': os.utime(a[0], None)
    elif op == 'setxattr': os.setxattr(a[0], a[1], a[2].encode())
    elif op == 'removexattr': os.removexattr(a[0], a[1])
    elif op == 'getxattr': os.getxattr(a[0], a[1])
    else:
        sys.exit('sys: unknown op ' + op)
    print('OK')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

# expect_errno ERRNO[|ERRNO...] OP ARGS...: the system call gives ERRNO (or
# OK); alternatives separated by '|'.
expect_errno() {
	local want=$1
	shift
	local got
	got=$(sys "$@" 2>&1) || :
	local desc
	desc="$1($(_lib_show_cmd "${@:2}")) gives $want"
	if [[ "|$want|" == *"|$got|"* ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "got: $got"
	fi
}

# --- small tools --------------------------------------------------------------

# sha FILE: the bare hex SHA-256 of a file.
sha() {
	local h
	h=$(sha256sum <"$1") || return 1
	printf '%s\n' "${h%% *}"
}

# mkrand FILE SIZE: random content (SIZE as head -c takes it: 1M = 1 MiB).
mkrand() {
	head -c "$2" /dev/urandom >"$1"
}

# flip_byte FILE OFFSET: invert the bits of one byte in place, so the file
# surely changes (writing a fixed byte into random content is a no-op one
# time in 256).
flip_byte() {
	python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2]))
    b = f.read(1)
    f.seek(int(sys.argv[2]))
    f.write(bytes([b[0] ^ 0xFF]))
PY
}

now_ns() { date +%s%N; }

# xattr FILE NAME: the value of one extended attribute, as getfattr shows it.
xattr() {
	getfattr --absolute-names --only-values -n "$2" -- "$1"
}

# wait_until SECONDS CMD...: poll CMD until it succeeds or the deadline
# passes (status 1). No sleeping for a state: poll it. A single argument is
# a shell snippet, evaluated afresh each time: give it in single quotes when
# it has a $(...) to rerun, as in wait_until 5 'test "$(count)" -eq 0'.
wait_until() {
	local secs=$1
	shift
	local deadline=$(($(now_ns) + secs * 1000000000))
	while :; do
		if (($# == 1)); then
			if eval "$1"; then return 0; fi
		elif "$@"; then
			return 0
		fi
		if (($(now_ns) >= deadline)); then return 1; fi
		sleep 0.02
	done
}

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# wait_exit PID SECONDS: wait until the process is gone; 1 if still alive.
wait_exit() {
	wait_until "$2" _lib_not proc_alive "$1"
}
_lib_not() { ! "$@"; }

# reap PID: wait for a child of this shell; its exit status in REAP_RC
# (127 if it was not our child). Runs in the main shell, never in $(...).
REAP_RC=0
reap() {
	REAP_RC=0
	wait "$1" 2>/dev/null || REAP_RC=$?
}

# track_mount DIR: lazily unmount DIR at exit (a tmpfs, a mount -t).
track_mount() { _lib_mounts+=("$1"); }

# is_mounted DIR: DIR (an absolute, canonical path) is a mount point.
is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# mount_fstype DIR: the file system type of the mount at DIR.
mount_fstype() {
	awk -v m="$1" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); break } }
		END { print t }' /proc/self/mountinfo
}

# pids_with_arg STRING: PIDs of processes with STRING as a whole argument
# (to find a daemon started by mount(8) and never a child of ours).
pids_with_arg() {
	local d pid arg
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $pid == "$$" ]] && continue
		while IFS= read -r -d '' arg; do
			if [[ $arg == "$1" ]]; then
				printf '%s\n' "$pid"
				break
			fi
		done <"$d/cmdline" 2>/dev/null || :
	done
}

# count_files DIR: regular files under DIR.
count_files() {
	find "$1" -type f 2>/dev/null | wc -l | tr -d ' '
}

# --- the daemon ---------------------------------------------------------------

# _lib_canon PATH: the canonical absolute path, as mountinfo spells it,
# without touching PATH itself (a dead FUSE mount answers ENOTCONN).
_lib_canon() {
	local dir base
	dir=$(dirname -- "$1")
	base=$(basename -- "$1")
	dir=$(cd -- "$dir" && pwd -P) || return 1
	printf '%s\n' "${dir%/}/$base"
}

# regfs_mount STORE MNT [OPTS...]: start "$REGFS" STORE MNT -f OPTS in the
# background, its output to a log in the temp folder, and wait (10 s) until
# the mount appears. Bails out if the daemon dies first. Sets REGFS_PID and
# REGFS_LOG for the mount.
regfs_mount() {
	local store=$1 mnt
	mkdir -p -- "$2" "$store"
	mnt=$(_lib_canon "$2")
	shift 2
	if is_mounted "$mnt"; then
		bail_out "regfs_mount: $mnt is already a mount point"
	fi
	_lib_mount_seq=$((_lib_mount_seq + 1))
	local log="$TEST_TMP/regfs.$_lib_mount_seq.log"
	{
		printf '### %s: %s %s %s -f' "$(date -u +%FT%TZ)" "$REGFS" "$store" "$mnt"
		printf ' %s' "$@"
		printf '\n'
	} >>"$log"
	# The daemon must not hold the test's descriptors (a FIFO's writing
	# end held by it would never let a reader see EOF).
	"$REGFS" "$store" "$mnt" -f "$@" </dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	local pid=$!
	track_pid "$pid"
	printf '%s\n' "$pid" >>"$TEST_TMP/.daemons"
	_lib_logs+=("$log")
	_lib_mounts+=("$mnt")
	_lib_daemon_pid[$mnt]=$pid
	_lib_daemon_log[$mnt]=$log
	# shellcheck disable=SC2034 # for the tests
	REGFS_PID=$pid
	# shellcheck disable=SC2034
	REGFS_LOG=$log
	local deadline=$(($(now_ns) + 10 * 1000000000))
	while ! is_mounted "$mnt"; do
		if ! proc_alive "$pid"; then
			reap "$pid"
			diag_file "$log"
			bail_out "regfs_mount: the daemon exited (status $REAP_RC) before $mnt appeared"
		fi
		if (($(now_ns) >= deadline)); then
			diag_file "$log"
			bail_out "regfs_mount: $mnt did not appear within 10 s"
		fi
		sleep 0.02
	done
	diag "mounted $mnt (daemon $pid, log ${log##*/})"
}

# daemon_pid MNT / daemon_log MNT
daemon_pid() { printf '%s\n' "${_lib_daemon_pid[$(_lib_canon "$1")]:-}"; }
daemon_log() { printf '%s\n' "${_lib_daemon_log[$(_lib_canon "$1")]:-}"; }

# regfs_umount MNT [SECONDS]: fusermount3 -u (retrying while busy), then the
# daemon must exit with status 0 within the deadline (10 s). An assertion.
regfs_umount() {
	local mnt secs=${2:-10}
	mnt=$(_lib_canon "$1")
	local pid=${_lib_daemon_pid[$mnt]:-}
	local desc
	desc="unmount $(_lib_show_cmd "$mnt"), daemon exits 0"
	local deadline=$(($(now_ns) + secs * 1000000000)) out=
	while ! out=$(fusermount3 -u "$mnt" 2>&1); do
		if ! is_mounted "$mnt"; then break; fi
		if (($(now_ns) >= deadline)); then
			fail "$desc"
			diag "fusermount3 -u: $out"
			return 1
		fi
		sleep 0.05
	done
	if [[ -z $pid ]]; then
		ok "$desc (no daemon of ours)"
		return 0
	fi
	if ! wait_exit "$pid" "$secs"; then
		fail "$desc"
		diag "daemon $pid still running ${secs}s after unmount"
		# Where it is stuck: each thread's kernel stack and state.
		local task
		for task in /proc/"$pid"/task/*; do
			diag "thread ${task##*/}: $(cat "$task/comm" 2>/dev/null) $(awk '{ print $3 }' "$task/stat" 2>/dev/null) $(tr '\n' ' ' <"$task/stack" 2>/dev/null | cut -c1-300)"
		done
		diag_file "${_lib_daemon_log[$mnt]}"
		return 1
	fi
	reap "$pid"
	local rc=$REAP_RC
	unset "_lib_daemon_pid[$mnt]"
	if [[ $rc -eq 0 ]]; then
		ok "$desc"
	else
		fail "$desc"
		diag "daemon exit status $rc"
		diag_file "${_lib_daemon_log[$mnt]}"
		return 1
	fi
}

# regfs_kill9 MNT: kill the daemon of MNT with SIGKILL and reap it. The mount
# stays, dead (ENOTCONN), until regfs_lazy_umount.
regfs_kill9() {
	local mnt
	mnt=$(_lib_canon "$1")
	local pid=${_lib_daemon_pid[$mnt]:-}
	[[ -n $pid ]] || bail_out "regfs_kill9: no daemon for $mnt"
	kill_wait KILL "$pid"
	proc_alive "$pid" && bail_out "regfs_kill9: daemon $pid survived SIGKILL"
	unset "_lib_daemon_pid[$mnt]"
	diag "killed daemon $pid of $mnt with SIGKILL"
}

# regfs_lazy_umount MNT: fusermount3 -uz, and wait until it is gone.
regfs_lazy_umount() {
	local mnt
	mnt=$(_lib_canon "$1")
	fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || :
	wait_until 10 _lib_not is_mounted "$mnt" || bail_out "regfs_lazy_umount: $mnt still mounted"
}

# --- setup and teardown -----------------------------------------------------

_lib_sanitizer_re='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|ThreadSanitizer|MemorySanitizer|: Assertion `.*'"'"' failed'

_lib_scan_logs() {
	local f found=0
	local files=("${_lib_logs[@]}")
	local extra
	for extra in "$TEST_TMP"/sanitizer.*; do
		[[ -e $extra ]] && files+=("$extra")
	done
	for f in "${files[@]}"; do
		[[ -f $f ]] || continue
		if grep -Eq "$_lib_sanitizer_re" "$f"; then
			found=1
			say "not ok - sanitizer report in ${f##*/}"
			grep -En -A 30 "$_lib_sanitizer_re" "$f" | head -n 60 | sed 's/^/#   /'
		fi
	done
	return $found
}

_lib_cleanup() {
	local rc=$?
	set +eE
	trap - ERR
	if [[ $BASHPID != "$_lib_main_pid" ]]; then
		return "$rc"
	fi
	if [[ -n $_lib_watchdog ]]; then
		{ kill -TERM "$_lib_watchdog"; wait "$_lib_watchdog"; } 2>/dev/null
	fi
	local m p
	# Lazily unmount first, so that processes blocked on a dead or hung
	# mount see ENOTCONN instead of hanging the cleanup.
	for m in "${_lib_mounts[@]}"; do
		if is_mounted "$m"; then
			fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		fi
	done
	for p in "${_lib_pids[@]}"; do
		if proc_alive "$p"; then
			pkill -KILL -P "$p" 2>/dev/null
			kill -KILL "$p" 2>/dev/null
		fi
	done
	for p in "${_lib_pids[@]}"; do
		wait_exit "$p" 5
		wait "$p" 2>/dev/null
	done
	if [[ -n ${TEST_TMP:-} ]] && ! _lib_scan_logs; then
		_lib_failed=$((_lib_failed + 1))
		[[ $rc -eq 77 || $rc -eq 0 ]] && rc=1
	fi
	if [[ $_lib_skipped -eq 1 ]]; then
		rc=77
	elif [[ $_lib_done -eq 0 ]]; then
		say "not ok - $TEST_NAME ended before done_testing (status $rc)"
		_lib_failed=$((_lib_failed + 1))
		say "$_lib_passed passed, $_lib_failed failed"
		[[ $rc -eq 0 ]] && rc=1
	fi
	if [[ -n ${TEST_TMP:-} && -d $TEST_TMP ]]; then
		if [[ $rc -ne 0 && $rc -ne 77 || $REGFS_TEST_VERBOSE == 1 ]]; then
			for m in "${_lib_logs[@]}"; do diag_file "$m" 60; done
		fi
		if [[ $REGFS_TEST_KEEP == 1 ]]; then
			diag "kept $TEST_TMP"
		else
			# Blobs are read-only; a stale mount must not be descended.
			chmod -R u+w "$TEST_TMP" 2>/dev/null
			rm -rf --one-file-system "$TEST_TMP" 2>/dev/null ||
				diag "could not remove $TEST_TMP"
		fi
	fi
	exit "$rc"
}

_lib_on_err() {
	local rc=$1 line=$2 what=$3
	say "# aborting: '$what' failed with status $rc at ${BASH_SOURCE[1]##*/} line $line"
}

# The watchdog: a test that hangs (a daemon that deadlocks, a request never
# answered, a helper that waits for ever) must not hang ctest. It sends the
# test SIGTERM, which bash only acts on once the command it waits for ends,
# then kills every process the test started, daemons first: pending FUSE
# requests fail with ENOTCONN, waits return, the TERM trap runs, and the
# EXIT trap cleans up.
_lib_start_watchdog() {
	# A fresh bash, so that none of the test's traps and options apply.
	bash -c '
		secs=$1 main=$2 tmp=$3 name=$4
		sleep "$secs" &
		sp=$!
		trap "kill \$sp 2>/dev/null; exit 0" TERM
		wait "$sp" || exit 0
		echo "# watchdog: $name ran over ${secs}s, killing what it started" >&2
		kill -TERM "$main" 2>/dev/null
		for f in "$tmp/.daemons" "$tmp/.pids"; do
			[ -f "$f" ] || continue
			while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$f"
		done
	' regfs-watchdog "$REGFS_TEST_TIMEOUT" "$$" "$TEST_TMP" "$TEST_NAME" </dev/null &
	_lib_watchdog=$!
}

# done_testing: the summary line, and the exit status.
done_testing() {
	_lib_done=1
	say "1..$_lib_n"
	say "$_lib_passed passed, $_lib_failed failed"
	if [[ $_lib_failed -eq 0 ]]; then exit 0; fi
	exit 1
}

# require_cmd CMD...: skip the test when a tool is missing.
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed"
	done
}

# require_root REASON: skip unless running as root.
require_root() {
	[[ $(id -u) -eq 0 ]] || skip_all "needs root: $*"
}

_lib_init() {
	trap _lib_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap '_lib_on_err $? $LINENO "$BASH_COMMAND"' ERR

	if [[ ! -c /dev/fuse ]]; then
		skip_all "/dev/fuse is missing"
	fi
	if [[ ! -r /dev/fuse || ! -w /dev/fuse ]]; then
		skip_all "/dev/fuse is not readable and writable by $(id -un)"
	fi
	if ! command -v fusermount3 >/dev/null 2>&1; then
		skip_all "fusermount3 is missing (Debian package fuse3)"
	fi
	if [[ ! -x $REGFS ]]; then
		bail_out "no daemon at $REGFS: build first (cmake -S . -B build && cmake --build build)"
	fi

	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/regfs-$TEST_NAME.XXXXXX")
	TEST_TMP=$(cd "$TEST_TMP" && pwd -P)
	# Sanitizer reports also go to files of ours, for daemons whose
	# stderr is not ours (mount -t); the EXIT trap scans them.
	if [[ ${ASAN_OPTIONS:-} != *log_path* ]]; then
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$TEST_TMP/sanitizer.asan"
	fi
	if [[ ${UBSAN_OPTIONS:-} != *log_path* ]]; then
		export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$TEST_TMP/sanitizer.ubsan"
	fi
	# The conventional names a test uses.
	STORE=$TEST_TMP/store
	MNT=$TEST_TMP/mnt
	SRC=$TEST_TMP/src
	mkdir -p "$STORE" "$MNT" "$SRC"
	: >"$TEST_TMP/.daemons"
	: >"$TEST_TMP/.pids"
	_lib_start_watchdog
	diag "$TEST_NAME in $TEST_TMP"
}

# kill_wait SIGNAL PID: send SIGNAL to a child of this shell, wait until it
# is gone (10 s) and reap it; its status in REAP_RC. Quietly: bash would
# report "Killed" on stderr for a job that died of a signal.
kill_wait() {
	{
		kill "-$1" "$2" 2>/dev/null || :
		wait_exit "$2" 10 || :
		reap "$2"
	} 2>/dev/null
}

# expect_start_refused DESC MESSAGE CONF: regfs given -o config=CONF stops
# at start, not mounted, with MESSAGE in what it says.
expect_start_refused() {
	local desc=$1 msg=$2 conf=$3 mnt=$TEST_TMP/badmnt
	mkdir -p "$mnt"
	run_cmd timeout 20 "$REGFS" "$TEST_TMP/badstore" "$mnt" -f -o config="$conf"
	if [[ $RC -ne 0 && $RC -ne 124 && $OUT == *"$msg"* ]] && ! is_mounted "$mnt"; then
		ok "$desc stops the daemon at start"
	else
		fail "$desc stops the daemon at start"
		diag "exit status $RC, output:" "$OUT"
		is_mounted "$mnt" && fusermount3 -u "$mnt"
	fi
}

# track_pid PID...: kill these at exit if still alive (the watchdog kills
# them too).
track_pid() {
	_lib_pids+=("$@")
	if [[ -n ${TEST_TMP:-} ]]; then printf '%s\n' "$@" >>"$TEST_TMP/.pids"; fi
}

_lib_init
