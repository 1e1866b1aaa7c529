#!/bin/bash
# t1560-incoming-descriptors: files abandoned in incoming/ cost the daemon no
# descriptor, so they cannot turn every sealed read into EIO and every
# publish into EMFILE; the daemon takes the descriptor limit the system
# allows; a user has at most incoming_max_files staged files (EDQUOT); a
# checksum file with no usable digest fails the tag's close with EBADMSG and
# says why, and no checksum file is left behind (issue 15).
#
# The daemon runs with a small descriptor limit (soft 128, hard 256) so that
# 1000 abandoned files are far more than it could hold open.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

real_regfs=$REGFS
REGFS=$TEST_TMP/regfs-lowfd
cat >"$REGFS" <<EOS
#!/bin/bash
ulimit -Sn 128 && ulimit -Hn 256 && exec "$real_regfs" "\$@"
EOS
chmod +x "$REGFS"

mkrand "$SRC/app" 300K
regfs_mount "$STORE" "$MNT"
I=$MNT/incoming
R=$MNT/registry
pid=$(daemon_pid "$MNT")
log=$(daemon_log "$MNT")

soft=$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
expect_eq "$soft" 256 "the daemon raised its soft descriptor limit to the hard one"

# --- 1000 abandoned dot-temporaries ---

mkdir -p "$I/x"
made=0
for ((i = 0; i < 1000; i++)); do
	if : 2>/dev/null >"$I/x/.t$i"; then made=$((made + 1)); fi
done
expect_eq "$made" 1000 "1000 empty dot-temporaries are created"
fds=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
check "the daemon holds few descriptors ($fds) for them" test "$fds" -lt 64
expect_eq "$(find "$I/x" -name '.t*' | wc -l)" 1000 "all 1000 are listed"
expect_ok "a publish still works" -- cp "$SRC/app" "$I/x/v1"
expect_eq "$(sha "$R/x/v1" 2>&1)" "$(sha "$SRC/app")" "and its tag reads back"
expect_ok "an abandoned temporary can be written again" -- \
	sh -c 'cat "$1" > "$2"' sh "$SRC/app" "$I/x/.t5"
expect_ok "and sealed by a rename onto a tag" -- mv "$I/x/.t5" "$I/x/v5"
expect_eq "$(sha "$R/x/v5" 2>&1)" "$(sha "$SRC/app")" "the renamed temporary's tag holds its bytes"
expect_eq "$(cat "$I/x/.t6")" "" "an abandoned temporary reads back (empty)"
check "the parked files are in staging/park-*" \
	test "$(find "$STORE"/staging/park-* -type f | wc -l)" -ge 998
t0=$(now_ns)
expect_ok "removing them works" -- find "$I/x" -name '.t*' -delete
diag "removing 999 staged files took $((($(now_ns) - t0) / 1000000)) ms"
check "staging/ empties of files" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'

# --- checksum files that give no digest ---

app_hex=$(sha "$SRC/app")
printf '%s  v2\n%s  v2\n' "$app_hex" "$(sha "$SRC/app" | tr 0-9a-f a-f0-9)" >"$TEST_TMP/two"
expect_ok cp "$TEST_TMP/two" "$I/x/v2.sha256"
expect_fail_errno "a checksum file with two digests for the tag fails the close" -- \
	cp "$SRC/app" "$I/x/v2" "Bad message"
check "nothing is sealed" test ! -e "$R/x/v2"
check "the log says why" grep -q "v2.sha256' gives no sha256 digest for 'v2': it names the tag twice, with different digests" "$log"
check "no checksum file is left in incoming/" test ! -e "$I/x/v2.sha256"
expect_ok sh -c 'echo "not a digest" > "$1"' sh "$I/x/v3.sha256"
expect_fail_errno "a malformed checksum file fails the close" -- \
	cp "$SRC/app" "$I/x/v3" "Bad message"
check "the log says what is wrong with it" grep -q "v3.sha256' gives no sha256 digest for 'v3': a line is not" "$log"
check "no checksum file is left after the failure" test ! -e "$I/x/v3.sha256"
expect_fail_errno "a checksum file for a sealed tag is refused" -- \
	sh -c 'echo "$1" > "$2"' sh "$app_hex" "$I/x/v1.sha256" "File exists"
check "and not left in incoming/" test ! -e "$I/x/v1.sha256"
expect_eq "$(find "$I/x" -mindepth 1 | wc -l)" 0 "incoming/x is empty"

# --- EROFS when blobs/ cannot be written ---

if mount --bind "$STORE/blobs" "$STORE/blobs" 2>/dev/null; then
	track_mount "$STORE/blobs"
	mount -o remount,bind,ro "$STORE/blobs"
	mkrand "$SRC/other" 10K
	expect_fail_errno "close fails with EROFS when blobs/ is read-only" -- \
		cp "$SRC/other" "$I/x/ro" "Read-only file system"
	check "nothing is sealed" test ! -e "$R/x/ro"
	check "the log names the blob it could not store" grep -q "cannot store blob sha256:$(sha "$SRC/other")" "$log"
	umount "$STORE/blobs"
else
	diag "no bind mounts here: EROFS from a read-only blobs/ not checked"
fi
regfs_umount "$MNT"

# --- incoming_max_files ---

printf 'incoming_max_files = 20\n' >"$TEST_TMP/regfs.conf"
regfs_mount "$STORE" "$MNT" -o config="$TEST_TMP/regfs.conf"
log=$(daemon_log "$MNT")
made=0
for ((i = 0; i < 20; i++)); do
	if : 2>/dev/null >"$I/x/.q$i"; then made=$((made + 1)); fi
done
expect_eq "$made" 20 "20 staged files are allowed"
expect_fail_errno "the 21st is refused" -- sh -c ': > "$1"' sh "$I/x/.q20" "Disk quota exceeded"
expect_fail_errno "and so is a publish while 20 are staged" -- cp "$SRC/app" "$I/x/v9" "Disk quota exceeded"
check "the log says whose and which limit" grep -q "user $(id -u) has 20 files staged in incoming/ (incoming_max_files)" "$log"
rm "$I/x/.q0"
expect_ok "removing one makes room" -- cp "$SRC/app" "$I/x/v9"
expect_ok "a sealed tag does not count" -- sh -c ': > "$1"' sh "$I/x/.q0"
regfs_umount "$MNT"
done_testing
