#!/bin/bash
# t0190-enospc: a full disk gives the writer ENOSPC; nothing is sealed, the
# store stays consistent (regctl fsck is clean), and once space is back a
# publish works.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_root "mounts a small tmpfs for the store"

SMALL=$TEST_TMP/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=8m,mode=0755 regfs-test-tmpfs "$SMALL" ||
	skip_all "cannot mount a tmpfs here"
track_mount "$(cd "$SMALL" && pwd -P)"
STORE=$SMALL/store

mkrand "$SRC/small" 100K
mkrand "$SRC/big" 16M
mkrand "$SRC/fits" 1M
regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming
log=$(daemon_log "$MNT")
expect_ok "a small publish fits" -- cp "$SRC/small" "$I/app/v1"
diag "store usage before: $(df -k --output=used,avail "$SMALL" | tail -n 1)"

# --- a write past the size ---

expect_fail_errno "cp of 16 MiB into an 8 MiB store" -- cp "$SRC/big" "$I/app/big" "No space left on device"
check "nothing is sealed after ENOSPC" test ! -e "$R/app/big"
check "the failed entry leaves incoming/" wait_until 10 test ! -e "$I/app/big"
check "staging space is given back" wait_until 10 'test "$(df -k --output=used "$SMALL" | tail -n 1)" -lt 4096'
diag "store usage after: $(df -k --output=used,avail "$SMALL" | tail -n 1)"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/small")" "the earlier tag is intact"

# The same with a shell redirection and dd: the error reaches the writer.
expect_fail_errno "dd past the size" -- \
	dd if=/dev/zero of="$I/app/dd" bs=1M count=16 status=none "No space left on device"
check "nothing is sealed after dd's ENOSPC" test ! -e "$R/app/dd"
check "the dd entry leaves incoming/" wait_until 10 test ! -e "$I/app/dd"

# rsync's temporary: the write fails, the rename never seals anything.
expect_fail "rsync past the size" -- rsync -a "$SRC/big" "$I/app/rs"
check "nothing is sealed after rsync's ENOSPC" test ! -e "$R/app/rs"
check "rsync's temporary is gone or removable" \
	wait_until 10 sh -c '! ls -A "$1" | grep -q "^\.rs\."' sh "$I/app"

# Two writers that each fit, together do not: one may seal, the other gets
# ENOSPC; whichever sealed is whole.
mkrand "$SRC/half1" 5M
mkrand "$SRC/half2" 5M
cp "$SRC/half1" "$I/app/h1" 2>"$TEST_TMP/h1.err" &
p1=$!
cp "$SRC/half2" "$I/app/h2" 2>"$TEST_TMP/h2.err" &
p2=$!
track_pid "$p1" "$p2"
reap "$p1"
r1=$REAP_RC
reap "$p2"
r2=$REAP_RC
diag "two 5 MiB writers: statuses $r1 and $r2"
check "at least one of two writers that do not fit together fails" test "$r1" -ne 0 -o "$r2" -ne 0
for i in 1 2; do
	if [[ -e $R/app/h$i ]]; then
		expect_eq "$(sha "$R/app/h$i" 2>&1)" "$(sha "$SRC/half$i")" "h$i, sealed, is whole"
	else
		ok "h$i is not sealed"
		check "h$i's writer was told" grep -q "No space left on device" "$TEST_TMP/h$i.err"
	fi
done
check "staging space is given back after the pair" wait_until 10 \
	'test "$(df -k --output=used "$SMALL" | tail -n 1)" -lt 6500'

expect_ok "the daemon still answers" -- ls "$R/app"

# --- the store is consistent ---

if [[ -x $REGCTL ]]; then
	expect_status 0 "$REGCTL" --store "$STORE" fsck
	expect_match "$OUT" " 0 missing, 0 corrupt" "fsck finds no damage while mounted"
fi

# --- a later publish works ---

expect_ok "a publish that fits works after ENOSPC" -- cp "$SRC/small" "$I/app/v2"
expect_eq "$(sha "$R/app/v2" 2>&1)" "$(sha "$SRC/small")" "the later publish holds its content"
regfs_umount "$MNT"

if [[ -x $REGCTL ]]; then
	expect_status 0 "$REGCTL" --store "$STORE" fsck
	expect_match "$OUT" " 0 missing, 0 corrupt" "fsck finds no damage after unmount"
fi
regfs_mount "$STORE" "$MNT"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/small")" "v1 survives a remount"
expect_eq "$(sha "$R/app/v2" 2>&1)" "$(sha "$SRC/small")" "v2 survives a remount"
expect_ok "a 1 MiB publish fits after the remount" -- cp "$SRC/fits" "$I/app/v3"
regfs_umount "$MNT"
check "the log names the ENOSPC" grep -qi "no space left on device" "$log"
done_testing
