#!/bin/bash
# t0170-daemon-kill: kill -9 of the daemon, after publishing and in the middle
# of a write, then a lazy unmount and a remount: every acknowledged tag is
# intact, with the same inode numbers; nothing partial appears; staging/ is
# cleaned. Inode numbers are also stable over a clean unmount and remount.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

R=$MNT/registry
I=$MNT/incoming
declare -A want_sha=() want_ino=()

# publish REF FILE: cp into incoming/; on success the tag is acknowledged.
publish() {
	local repo=${1%:*} tag=${1##*:}
	mkdir -p "$I/$repo"
	if cp "$2" "$I/$repo/$tag"; then
		want_sha[$repo/$tag]=$(sha "$2")
		return 0
	fi
	return 1
}

record_inodes() {
	local p
	for p in "${!want_sha[@]}"; do
		want_ino[$p]=$(stat -c %i "$R/$p")
	done
	for p in app org org/team org/team/app; do
		want_ino[$p/]=$(stat -c %i "$R/$p")
	done
}

# check_all WHEN: every acknowledged tag is there, whole, with its inode.
check_all() {
	local when=$1 p bad=0 ino
	for p in "${!want_sha[@]}"; do
		if [[ $(sha "$R/$p" 2>/dev/null) != "${want_sha[$p]}" ]]; then
			fail "$when: $p is intact"
			bad=1
		fi
	done
	[[ $bad -eq 0 ]] && ok "$when: all ${#want_sha[@]} acknowledged tags are intact (sha256)"
	bad=0
	for p in "${!want_ino[@]}"; do
		ino=$(stat -c %i "$R/$p" 2>/dev/null || echo none)
		if [[ $ino != "${want_ino[$p]}" ]]; then
			fail "$when: $p keeps inode ${want_ino[$p]} (now $ino)"
			bad=1
		fi
	done
	[[ $bad -eq 0 ]] && ok "$when: all ${#want_ino[@]} inode numbers are unchanged"
	return 0
}

staging_empty() { test "$(count_files "$STORE/staging")" -eq 0; }
staged_at_least() { test "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2"; }
staged_or_done() { staged_at_least "$1" "$2" || ! proc_alive "$3"; }

for i in 1 2 3 4 5; do mkrand "$SRC/f$i" "$((i * 300))K"; done
mkrand "$SRC/big" 4M

# --- a clean unmount and remount ---

regfs_mount "$STORE" "$MNT"
publish app:v1 "$SRC/f1"
publish app:v2 "$SRC/f2"
publish app:latest "$SRC/f2"
mkdir -p "$I/org/team/app"
publish org/team/app:v1 "$SRC/f3"
publish org/team/app:v2 "$SRC/f4"
expect_eq "${#want_sha[@]}" "5" "five tags publish"
record_inodes
regfs_umount "$MNT"
regfs_mount "$STORE" "$MNT"
check_all "after a clean remount"
regfs_umount "$MNT"

# --- kill -9 right after the writers were answered ---

regfs_mount "$STORE" "$MNT"
check "publish app:v3" publish app:v3 "$SRC/f5"
check "publish org/team/app:v3" publish org/team/app:v3 "$SRC/big"
record_inodes
regfs_kill9 "$MNT"
expect_fail_errno "the dead mount answers ENOTCONN" -- ls "$R" "Transport endpoint is not connected"
regfs_lazy_umount "$MNT"
check "the mount is gone after the lazy unmount" _lib_not is_mounted "$MNT"
regfs_mount "$STORE" "$MNT"
check_all "after kill -9 and a remount"
check "staging/ is empty after the remount" staging_empty
regfs_umount "$MNT"

# --- kill -9 in the middle of a write ---

regfs_mount "$STORE" "$MNT"
mkfifo "$TEST_TMP/feed"
exec 7<>"$TEST_TMP/feed"
sh -c 'exec cat "$1" > "$2"' sh "$TEST_TMP/feed" "$I/app/partial" 7>&- &
writer=$!
track_pid "$writer"
timeout 20 head -c 2M "$SRC/big" >&7 || fail "the writer took its first 2 MiB"
check "the first 2 MiB are staged" wait_until 10 staged_at_least "$I/app/partial" 2097152
diag "staging/ holds $(count_files "$STORE/staging") named files while the write is in progress"
# And a second writer caught between writes, and a temporary as rsync leaves.
cp "$SRC/f1" "$I/app/.partial2.tmp"
regfs_kill9 "$MNT"
kill_wait KILL "$writer"
exec 7>&-
regfs_lazy_umount "$MNT"
diag "staging/ holds $(count_files "$STORE/staging") named files after kill -9"
regfs_mount "$STORE" "$MNT"
check "nothing partial is sealed" test ! -e "$R/app/partial"
check "the write in progress is forgotten" test ! -e "$I/app/partial"
check "the temporary is forgotten" test ! -e "$I/app/.partial2.tmp"
check "staging/ is cleaned by the remount" staging_empty
check_all "after kill -9 mid-write and a remount"
check "the interrupted name publishes normally" publish app:partial "$SRC/f3"
record_inodes
regfs_umount "$MNT"

# Where the file system has no O_TMPFILE, staging files have names; a killed
# daemon leaves them unlocked, and the next mount removes them. Planted here,
# as such a daemon would leave them.
head -c 100K /dev/urandom >"$STORE/staging/leftover.1"
: >"$STORE/staging/leftover.2"
regfs_mount "$STORE" "$MNT"
check "a mount removes named staging leftovers" staging_empty
check_all "after a mount that swept staging/"
regfs_umount "$MNT"

# --- kill -9 at arbitrary points of a publish ---
# cp's close() returns only after the seal's commit: a cp that succeeded is
# acknowledged and must survive; one that failed may or may not have been
# sealed, but a tag that is there is whole.

rounds=${KILL_ROUNDS:-6}
for r in $(seq "$rounds"); do
	regfs_mount "$STORE" "$MNT"
	cp "$SRC/big" "$I/app/k$r" 2>/dev/null &
	pid=$!
	track_pid "$pid"
	# Kill at a different point each round: while data streams in, at the
	# close, after it.
	case $((r % 3)) in
	0) wait_until 10 staged_or_done "$I/app/k$r" 1 "$pid" || : ;;
	1) wait_until 10 staged_or_done "$I/app/k$r" 3145728 "$pid" || : ;;
	2) wait_exit "$pid" 10 || : ;;
	esac
	regfs_kill9 "$MNT"
	reap "$pid"
	cp_rc=$REAP_RC
	regfs_lazy_umount "$MNT"
	regfs_mount "$STORE" "$MNT"
	if [[ $cp_rc -eq 0 ]]; then
		want_sha[app/k$r]=$(sha "$SRC/big")
		expect_eq "$(sha "$R/app/k$r" 2>&1)" "$(sha "$SRC/big")" "round $r: the acknowledged k$r survived kill -9"
	elif [[ -e $R/app/k$r ]]; then
		expect_eq "$(sha "$R/app/k$r" 2>&1)" "$(sha "$SRC/big")" "round $r: k$r, sealed as cp failed, is whole"
		want_sha[app/k$r]=$(sha "$SRC/big")
	else
		ok "round $r: the unacknowledged k$r is absent"
	fi
	check "round $r: staging/ is clean" staging_empty
	regfs_umount "$MNT"
done

regfs_mount "$STORE" "$MNT"
check_all "at the end"
if [[ -x $REGCTL ]]; then
	expect_status 0 "$REGCTL" --store "$STORE" fsck
fi
regfs_umount "$MNT"
done_testing
