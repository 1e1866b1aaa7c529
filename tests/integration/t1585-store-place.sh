#!/bin/bash
# t1585-store-place: where a store may be and how a broken one is told
# (issue 15). A store inside its own mount point (directly, as the mount
# point itself, through a symbolic link, through a bind mount of the mount
# point's parent) is refused before mounting, at once and with one line,
# where it used to hang until SIGKILL. A damaged catalog gets one clear
# message (which file, what is wrong, what to do; never SQL text), once,
# from regctl and from the daemon. A daemon gone to the background (no -f)
# reopens its catalog: regctl publishing meanwhile does not kill it (SQLite
# locks do not cross fork(): regctl rebuilt the WAL index under it, SIGBUS).
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2317 # ls as users use it; helpers called through expect_* and check
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

R() { "$REGCTL" --store "$STORE" "$@"; }
echo hello >"$SRC/f"

# refused MNT STORE DESC: regfs STORE MNT exits non-zero within 10 s with
# one line that says so, and mounts nothing.
refused() {
	local t0 secs
	t0=$(now_ns)
	run_cmd timeout -s KILL 10 "$REGFS" "$2" "$1" -f
	secs=$((($(now_ns) - t0) / 1000000000))
	expect_eq "$RC" 1 "$3: regfs exits 1 (not killed by the timeout)"
	check "$3: within 10 s" test "$secs" -lt 10
	expect_match "$OUT" "^regfs: (error: )?store '.*' is inside the mount point '.*': put the store elsewhere$" \
		"$3: one line says why"
	check "$3: nothing is mounted" _lib_not is_mounted "$(_lib_canon "$1")"
}

M=$TEST_TMP/m
mkdir -p "$M"
refused "$M" "$M/store" "a store folder inside the mount point"
check "the store was not made" test ! -e "$M/store"
refused "$M" "$M" "the mount point itself as the store"
mkdir -p "$M/deep/er"
refused "$M" "$M/deep/er/store" "a store deeper inside"
ln -s "$M/deep" "$TEST_TMP/link"
refused "$M" "$TEST_TMP/link/store" "a store reached through a symbolic link"
mkdir -p "$TEST_TMP/bound"
mount --bind "$M" "$TEST_TMP/bound"
track_mount "$TEST_TMP/bound"
refused "$M" "$TEST_TMP/bound/store" "a store reached through a bind mount"
umount "$TEST_TMP/bound"
# A neighbour whose name starts the same is not inside.
regfs_mount "${M}x" "$M"
expect_ok "a store beside the mount point (same prefix) mounts" -- test -d "$M/registry"
regfs_umount "$M"

# --- a damaged catalog: one clear message ------------------------------------

expect_ok R publish "$SRC/f" app:v1
R fsck >/dev/null
python3 - "$STORE/catalog.db" <<'EOF'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(0)
    f.write(b'this is no longer SQLite data!!')
EOF
for cmd in "ls" "fsck" "inspect app:v1" "publish $SRC/f app:v2" "rm --force app:v1" "gc"; do
	# shellcheck disable=SC2086 # the command's words
	run_cmd R $cmd
	expect_eq "$RC" 1 "regctl $cmd on a damaged catalog exits 1"
	expect_eq "$OUT" "regctl: catalog '$STORE/catalog.db' is damaged (file is not a database): restore it from a backup (regctl restore), then check the store with regctl fsck" \
		"regctl $cmd says which file, what is wrong and what to do, in one line"
done
run_cmd timeout -s KILL 10 "$REGFS" "$STORE" "$MNT" -f
expect_eq "$RC" 1 "the daemon refuses a damaged catalog"
expect_eq "$OUT" "regfs: error: catalog '$STORE/catalog.db' is damaged (file is not a database): restore it from a backup (regctl restore), then check the store with regctl fsck" \
	"and says so once"
run_cmd timeout -s KILL 10 "$REGFS" "$STORE" "$MNT" -f -o log="$TEST_TMP/damaged.log"
expect_eq "$OUT" "regfs: catalog '$STORE/catalog.db' is damaged (file is not a database): restore it from a backup (regctl restore), then check the store with regctl fsck" \
	"with a log file: once on stderr"
expect_eq "$(grep -c 'is damaged' "$TEST_TMP/damaged.log" || :)" 1 "and once in the log"
S2=$TEST_TMP/s2
expect_ok "publish --init" -- "$REGCTL" --store "$S2" publish --init "$SRC/f" app:v1
python3 - "$S2/catalog.db" <<'EOF'
import os, sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(4096)
    f.write(os.urandom(4096))
EOF
run_cmd "$REGCTL" --store "$S2" publish "$SRC/f" app:v2
expect_match "$OUT" "^regctl: catalog '.*s2/catalog.db' is damaged \(database disk image is malformed\): restore it from a backup" \
	"a catalog damaged inside says so"
expect_eq "$(wc -l <<<"$OUT")" 1 "in one line"
check "no SQL text" _lib_not grep -q "CREATE TABLE\|PRAGMA" <<<"$OUT"

# --- a daemon in the background, regctl publishing beside it ---------------

B=$TEST_TMP/bg
BS=$TEST_TMP/bgstore
mkdir -p "$B" "$BS"
track_mount "$B"
"$REGFS" "$BS" "$B" -o log="$TEST_TMP/bg.log" </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
_lib_logs+=("$TEST_TMP/bg.log")
check "the background daemon mounted" wait_until 10 is_mounted "$(_lib_canon "$B")"
bgpid=$(pids_with_arg "$B")
[[ -n $bgpid ]] || bail_out "no background daemon found"
track_pid "$bgpid"
for i in $(seq 1 30); do
	"$REGCTL" --store "$BS" publish "$SRC/f" "app:v$i" >/dev/null
	stat "$B/registry/app/v$i" >/dev/null 2>&1 || :
done
check "30 regctl publishes beside the background daemon: it is alive" proc_alive "$bgpid"
expect_eq "$(ls "$B/registry/app" 2>&1 | wc -l)" 30 "and shows all 30"
check "its log has no error" _lib_not grep -q "error" "$TEST_TMP/bg.log"
expect_ok fusermount3 -u "$B"
check "it exits" wait_exit "$bgpid" 10

done_testing
