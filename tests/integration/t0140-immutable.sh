#!/bin/bash
# t0140-immutable: a tag is written once. Re-publishing fails with EEXIST at
# open, before any data; a second writer of a tag in progress gets EEXIST;
# of two writers racing for a new tag exactly one seals.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mkrand "$SRC/v1" 1M
mkrand "$SRC/other" 1M
regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming
expect_ok cp "$SRC/v1" "$I/app/v1"
v1_sha=$(sha "$R/app/v1")

# --- re-publishing a sealed tag ---

# Right after its seal the name reads as the tag (see t0105).
expect_eq "$(sha "$I/app/v1" 2>&1)" "$v1_sha" "the just-sealed name reads as the tag"
expect_errno EEXIST open "$I/app/v1" w+create
expect_errno EEXIST open "$I/app/v1" w+create+excl
expect_errno EEXIST open "$I/app/v1" w+create+trunc
expect_fail_errno cp "$SRC/other" "$I/app/v1" "File exists"
expect_fail_errno "a shell redirection onto a sealed tag" -- sh -c 'echo x > "$1"' sh "$I/app/v1" "File exists"
expect_fail_errno dd if=/dev/zero of="$I/app/v1" bs=1M count=64 status=none "File exists"

# Before any data: cp reads its source only after it has opened the
# destination. The source is a FIFO nobody writes to, so a cp that got past
# the open would block reading it until timeout killed it.
mkfifo "$TEST_TMP/never"
exec 4<>"$TEST_TMP/never"
t0=$(now_ns)
expect_fail_errno "cp from a FIFO onto a sealed tag fails at open, reading nothing" -- \
	timeout 20 cp "$TEST_TMP/never" "$I/app/v1" "File exists"
t1=$(now_ns)
diag "cp failed after $(((t1 - t0) / 1000000)) ms"
exec 4>&-
# A 64 MiB source through a pipe: cp fails at open, so the pipe is never
# drained and its writer dies of SIGPIPE after one pipe buffer at most.
mkrand "$SRC/big" 64M
run_cmd sh -c 'cat "$1" | cp /dev/stdin "$2"' sh "$SRC/big" "$I/app/v1"
check "cp of a big source onto a sealed tag fails" test "$RC" -ne 0
expect_match "$OUT" "File exists" "... with 'File exists'"

expect_eq "$(sha "$R/app/v1")" "$v1_sha" "the sealed tag is unchanged"
expect_eq "$(ls -A "$I/app" | tr '\n' ' ')" "" "no incoming entry was left by the refused attempts"

# A temporary renamed onto a sealed tag: EEXIST, the temporary stays.
expect_ok cp "$SRC/other" "$I/app/.v1.tmp"
expect_errno EEXIST rename "$I/app/.v1.tmp" "$I/app/v1"
expect_fail_errno "mv of a temporary onto a sealed tag" -- mv "$I/app/.v1.tmp" "$I/app/v1" "File exists"
expect_eq "$(sha "$R/app/v1")" "$v1_sha" "the sealed tag is unchanged after the refused renames"
expect_ok rm "$I/app/.v1.tmp"

# --- a tag being written ---

mkfifo "$TEST_TMP/feed"
exec 5<>"$TEST_TMP/feed"
cat "$TEST_TMP/feed" >"$I/app/v2" 5>&- &
writer=$!
track_pid "$writer"
check "the tag in progress appears in incoming/" wait_until 10 test -e "$I/app/v2"
timeout 10 head -c 300K "$SRC/other" >&5
check "its first bytes arrive" wait_until 10 'test "$(stat -c %s "$I/app/v2" 2>/dev/null || echo 0)" -ge 307200'
expect_errno EEXIST open "$I/app/v2" w
expect_errno EEXIST open "$I/app/v2" rw
expect_errno EEXIST open "$I/app/v2" w+create
expect_fail_errno "cp onto a tag in progress" -- cp "$SRC/v1" "$I/app/v2" "File exists"
expect_ok cp "$SRC/v1" "$I/app/.v2.tmp"
expect_errno EEXIST rename "$I/app/.v2.tmp" "$I/app/v2"
expect_ok rm "$I/app/.v2.tmp"
check "the tag in progress is not in registry/ yet" test ! -e "$R/app/v2"
timeout 10 tail -c +307201 "$SRC/other" >&5
exec 5>&-
check "the first writer finishes" wait_exit "$writer" 10
reap "$writer"
expect_eq "$REAP_RC" "0" "the first writer's close succeeded"
expect_eq "$(sha "$R/app/v2" 2>&1)" "$(sha "$SRC/other")" "the first writer's content is sealed, whole"

# --- two writers racing for a new tag ---

race_rounds=${RACE_ROUNDS:-30}
wins_a=0 wins_b=0 bad=0
for i in $(seq "$race_rounds"); do
	mkrand "$SRC/a$i" 256K
	mkrand "$SRC/b$i" 256K
	cp "$SRC/a$i" "$I/race/t$i" 2>"$TEST_TMP/race-a.err" &
	pa=$!
	cp "$SRC/b$i" "$I/race/t$i" 2>"$TEST_TMP/race-b.err" &
	pb=$!
	track_pid "$pa" "$pb"
	reap "$pa"
	ra=$REAP_RC
	reap "$pb"
	rb=$REAP_RC
	got=$(sha "$R/race/t$i" 2>/dev/null || echo none)
	if [[ $ra -eq 0 && $rb -ne 0 ]]; then
		win=a lose_err=$TEST_TMP/race-b.err
	elif [[ $rb -eq 0 && $ra -ne 0 ]]; then
		win=b lose_err=$TEST_TMP/race-a.err
	else
		bad=$((bad + 1))
		fail "race $i: exactly one of two cp wins (statuses $ra and $rb)"
		diag_file "$TEST_TMP/race-a.err" 5
		diag_file "$TEST_TMP/race-b.err" 5
		continue
	fi
	if [[ $win == a ]]; then wins_a=$((wins_a + 1)); else wins_b=$((wins_b + 1)); fi
	if ! grep -q "File exists" "$lose_err"; then
		bad=$((bad + 1))
		fail "race $i: the loser gets EEXIST"
		diag_file "$lose_err" 5
	fi
	if [[ $got != "$(sha "$SRC/$win$i")" ]]; then
		bad=$((bad + 1))
		fail "race $i: the sealed content is the winner's"
	fi
done
check "$race_rounds races: one winner each, the loser got EEXIST, the content is the winner's" test "$bad" -eq 0
diag "first writer won $wins_a times, second $wins_b times"

# Two temporaries renamed onto one tag at once (two rsyncs racing).
bad=0
for i in $(seq 10); do
	mkrand "$SRC/ra$i" 256K
	mkrand "$SRC/rb$i" 256K
	cp "$SRC/ra$i" "$I/race/.ra$i"
	cp "$SRC/rb$i" "$I/race/.rb$i"
	mv -T "$I/race/.ra$i" "$I/race/r$i" 2>"$TEST_TMP/race-a.err" &
	pa=$!
	mv -T "$I/race/.rb$i" "$I/race/r$i" 2>"$TEST_TMP/race-b.err" &
	pb=$!
	track_pid "$pa" "$pb"
	reap "$pa"
	ra=$REAP_RC
	reap "$pb"
	rb=$REAP_RC
	got=$(sha "$R/race/r$i" 2>/dev/null || echo none)
	if [[ $ra -eq 0 && $rb -ne 0 && $got == "$(sha "$SRC/ra$i")" ]] && grep -q "File exists" "$TEST_TMP/race-b.err"; then
		rm -f "$I/race/.rb$i"
	elif [[ $rb -eq 0 && $ra -ne 0 && $got == "$(sha "$SRC/rb$i")" ]] && grep -q "File exists" "$TEST_TMP/race-a.err"; then
		rm -f "$I/race/.ra$i"
	else
		bad=$((bad + 1))
		fail "rename race $i: statuses $ra and $rb, sealed $got"
		diag_file "$TEST_TMP/race-a.err" 5
		diag_file "$TEST_TMP/race-b.err" 5
	fi
done
check "10 rename races: one winner each, the loser got EEXIST" test "$bad" -eq 0

# Losers leave nothing behind: one blob per sealed tag, staging empty.
ntags=$(find "$R" -type f | wc -l)
expect_eq "$ntags" "$((2 + race_rounds + 10))" "every race sealed exactly one tag"
expect_eq "$(count_files "$STORE/blobs/sha256")" "$ntags" "the losers' content was not stored"
check "staging/ empties" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'
expect_eq "$(ls -A "$I/race" | tr '\n' ' ')" "" "incoming/race is empty"

regfs_umount "$MNT"
done_testing
