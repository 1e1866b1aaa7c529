#!/bin/bash
# t1580-catalog-lost: catalog.db deleted while the store is mounted (issue
# 15, item 14). The daemon notices at once (inotify) and logs it once; a
# create in incoming/ gives EROFS, nothing acknowledged is lost: what the
# lost file holds is copied to catalog.db.rescued-*, which put back serves
# every tag again. regctl makes no catalog over existing blobs, nor does
# the daemon at a remount; regctl publish makes no store without --init.
# A catalog made anew over a store's blobs (here: another store's, put in
# its place) is damage to fsck (unrecorded blobs, exit 1), and gc refuses
# to remove more than --max-share of the blobs without --force.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2317 # ls as users use it; helpers called through expect_* and check
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

R() { "$REGCTL" --store "$STORE" "$@"; }
N=40

for i in $(seq 1 $N); do
	printf 'content %s\n' "$i" >"$SRC/f$i"
done

# --- regctl publish makes a store only with --init ---------------------------

expect_status 1 "$REGCTL" --store "$TEST_TMP/nostore" publish "$SRC/f1" app:v1
expect_match "$OUT" "no store at '.*nostore' \(give --init to create one there\)" \
	"publish into a folder that does not exist says to give --init"
check "and makes nothing" test ! -e "$TEST_TMP/nostore"
expect_ok "publish --init makes the store" -- \
	"$REGCTL" --store "$TEST_TMP/nostore" publish --init "$SRC/f1" app:v1
expect_ok "publish into an existing empty folder makes a store there" -- R publish "$SRC/f1" app:v1

# --- the catalog deleted under a mount ---------------------------------------

regfs_mount "$STORE" "$MNT"
for i in $(seq 2 $N); do
	cp "$SRC/f$i" "$MNT/incoming/app/v$i"
done
expect_eq "$(ls "$MNT/registry/app" | wc -l)" "$N" "$N tags sealed through the mount"

rm "$STORE/catalog.db"
check "the daemon logs within 2 s that its catalog was deleted" \
	wait_until 2 "grep -q \"catalog '.*catalog.db' was deleted while in use\" '$REGFS_LOG'"
expect_errno EROFS open "$MNT/incoming/app/late" w+create
check "a cp into incoming/ fails" _lib_not cp "$SRC/f1" "$MNT/incoming/app/late2" 2>/dev/null
check "nothing was sealed after" test ! -e "$MNT/registry/app/late2"
expect_eq "$(sha256sum <"$MNT/registry/app/v7" | cut -d' ' -f1)" "$(sha "$SRC/f7")" \
	"tags already sealed read on"
expect_status 1 R publish "$SRC/f1" app:other
expect_match "$OUT" "has blobs but no catalog" "regctl publish makes no new catalog over the blobs"
check "regctl left no catalog.db" test ! -e "$STORE/catalog.db"
check "the log says where what the lost catalog holds is copied, and what to do" \
	wait_until 5 "grep -q \"every tag the lost catalog holds is copied to '.*catalog.db.rescued-[0-9]*': unmount, move it to STORE/catalog.db\" '$REGFS_LOG'"
expect_eq "$(grep -c 'every tag the lost catalog holds' "$REGFS_LOG" || :)" 1 "once"
check "the copy is there" compgen -G "$STORE/catalog.db.rescued-[0-9]*"
regfs_umount "$MNT"

# A remount makes no empty catalog either.
run_cmd timeout 10 "$REGFS" "$STORE" "$MNT" -f
expect_ne "$RC" 0 "the daemon refuses a store with blobs and no catalog"
expect_match "$OUT" "has blobs but no catalog" "and says why"
expect_eq "$(grep -c 'has blobs but no catalog' <<<"$OUT" || :)" 1 "once"

mv "$STORE"/catalog.db.rescued-* "$STORE/catalog.db"
rm -f "$STORE/catalog.db-wal" "$STORE/catalog.db-shm"
regfs_mount "$STORE" "$MNT"
bad=0
for i in $(seq 1 $N); do
	[[ $(sha256sum <"$MNT/registry/app/v$i" | cut -d' ' -f1) == "$(sha "$SRC/f$i")" ]] || bad=$((bad + 1))
done
expect_eq "$bad" 0 "with the rescued catalog put back, all $N tags read back"
regfs_umount "$MNT"
expect_ok R fsck

# --- a catalog made anew over the blobs ---------------------------------------

expect_ok "publish --init into another store" -- \
	"$REGCTL" --store "$TEST_TMP/other" publish --init "$SRC/f1" other:v1
cp "$STORE/catalog.db" "$TEST_TMP/good.db"
rm -f "$STORE/catalog.db"*
cp "$TEST_TMP/other/catalog.db" "$STORE/catalog.db"
expect_status 1 R fsck
expect_match "$OUT" "unrecorded blob sha256:" "fsck names blobs older than the catalog that it does not know"
expect_match "$OUT" "$((N - 1)) blobs are older than the catalog and unknown to it" "and counts them"
expect_status 1 R fsck --json
expect_match "$OUT" "\"unrecorded\": $((N - 1))" "fsck --json counts them as unrecorded"
expect_match "$OUT" '"damaged": true' "as damage"

blobs=$(count_files "$STORE/blobs/sha256")
expect_status 1 R gc
expect_match "$OUT" "would remove $((N - 1)) of the store's $blobs blobs, more than 50%" \
	"gc refuses to remove most of the store"
expect_eq "$(count_files "$STORE/blobs/sha256")" "$blobs" "and removes nothing"
expect_status 1 R gc --dry-run
expect_match "$OUT" "would remove sha256:" "a dry run lists them, and fails too"
expect_status 1 R gc --max-share 90
expect_eq "$(count_files "$STORE/blobs/sha256")" "$blobs" "--max-share 90 is still too little"
expect_status 2 R gc --max-share 101
expect_status 2 R gc --max-share x

cp "$TEST_TMP/good.db" "$STORE/catalog.db"
expect_ok "with the right catalog back, fsck is clean" -- R fsck
expect_ok R rm --force app:v1
expect_ok "gc of one blob in $N" -- R gc
expect_match "$OUT" "freed 1 blobs" "removes it"
for i in 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do
	R rm --force "app:v$i" >/dev/null
done
expect_status 1 R gc
expect_eq "$(count_files "$STORE/blobs/sha256")" "$((blobs - 1))" "24 of 39 blobs is more than half: nothing removed"
expect_ok "gc --force removes them" -- R gc --force
expect_eq "$(count_files "$STORE/blobs/sha256")" "$((blobs - 25))" "all 24"
expect_ok R fsck

done_testing
