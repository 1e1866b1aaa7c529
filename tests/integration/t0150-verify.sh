#!/bin/bash
# t0150-verify: a <tag>.sha256 file written before the tag states the digest
# the tag must have. A match seals; a mismatch makes close() fail with
# EBADMSG, cp reports it, nothing is sealed and the log names the mismatch.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$SRC/build"
mkrand "$SRC/build/app" 2M
mkrand "$SRC/wrong" 2M
mkrand "$SRC/build/lib" 100K
app_sha=$(sha "$SRC/build/app")

regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming
log=$(daemon_log "$MNT")

# --- a matching digest, in sha256sum's own format ---

expect_ok "sha256sum writes the checksum file" -- \
	sh -c 'cd "$1" && sha256sum app > "$2"' sh "$SRC/build" "$I/app/v1.sha256"
check "the checksum file is visible in incoming/" test -f "$I/app/v1.sha256"
check "a checksum file is not a tag" test ! -e "$R/app/v1.sha256"
expect_ok "cp of the right content seals" -- cp "$SRC/build/app" "$I/app/v1"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$app_sha" "the verified tag holds the content"
check "the checksum file never becomes a tag" test ! -e "$R/app/v1.sha256"

# A bare hex digest is accepted too.
expect_ok "a bare hex digest" -- sh -c 'echo "$1" > "$2"' sh "$app_sha" "$I/app/v2.sha256"
expect_ok "cp with a bare-hex checksum file seals" -- cp "$SRC/build/app" "$I/app/v2"
check "app:v2 is sealed" test -f "$R/app/v2"

# Several lines: the one naming the tag's basename is used.
expect_ok "sha256sum of several files" -- \
	sh -c 'cd "$1" && sha256sum lib app > "$2"' sh "$SRC/build" "$I/app/lib.sha256"
expect_ok "cp picks the line naming the tag" -- cp "$SRC/build/lib" "$I/app/lib"
expect_eq "$(sha "$R/app/lib" 2>&1)" "$(sha "$SRC/build/lib")" "the multi-line checksum file verified app:lib"

# rsync's temporary, renamed onto the tag, is verified the same way.
expect_ok sh -c 'cd "$1" && sha256sum app > "$2"' sh "$SRC/build" "$I/app/v3.sha256"
expect_ok "rsync with a checksum file seals" -- rsync -a "$SRC/build/app" "$I/app/v3"
expect_eq "$(sha "$R/app/v3" 2>&1)" "$app_sha" "rsync's verified tag holds the content"

# --- a mismatch ---

expect_ok sh -c 'cd "$1" && sha256sum app > "$2"' sh "$SRC/build" "$I/app/bad.sha256"
t0=$(now_ns)
expect_fail_errno "cp of the wrong content fails at close" -- cp "$SRC/wrong" "$I/app/bad" "Bad message"
check "nothing is sealed on a mismatch" test ! -e "$R/app/bad"
check "no incoming entry is left for the refused tag" test ! -e "$I/app/bad"
expect_eq "$(ls "$R/app" | tr '\n' ' ')" "lib v1 v2 v3 " "registry/app holds only the verified tags"
check "the daemon log names the mismatch" grep -q "digest mismatch for 'app:bad'" "$log"
expect_match "$(grep "digest mismatch for 'app:bad'" "$log" | head -n 1)" "$app_sha" \
	"the log line gives the expected digest"
expect_match "$(grep "digest mismatch for 'app:bad'" "$log" | head -n 1)" "$(sha "$SRC/wrong")" \
	"the log line gives the actual digest"
check "the mismatched content is not kept as a blob" test ! -e "$STORE/blobs/sha256/$(sha "$SRC/wrong")"
check "staging/ empties" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'
diag "mismatch check took $((($(now_ns) - t0) / 1000000)) ms"

# A bash redirection: cat holds the only descriptor and sees the error when
# it closes stdout. (Where the shell keeps the file open itself while cat
# runs, as dash does, the last close is the shell's exit: nobody can be told,
# but nothing is sealed either.)
expect_ok sh -c 'echo "$1" > "$2"' sh "$app_sha" "$I/app/bad2.sha256"
expect_fail_errno "a bash redirection of the wrong content fails" -- \
	bash -c 'cat "$1" > "$2"' bash "$SRC/wrong" "$I/app/bad2" "Bad message"
check "nothing is sealed for bad2" test ! -e "$R/app/bad2"
expect_ok sh -c 'echo "$1" > "$2"' sh "$app_sha" "$I/app/bad4.sha256"
run_cmd sh -c 'cat "$1" > "$2"' sh "$SRC/wrong" "$I/app/bad4"
check "nothing is sealed for bad4 (dash redirection)" test ! -e "$R/app/bad4"
check "the daemon log names bad4's mismatch" wait_until 10 grep -q "digest mismatch for 'app:bad4'" "$log"

# rsync: the rename onto the tag fails, nothing is sealed.
expect_ok sh -c 'echo "$1" > "$2"' sh "$app_sha" "$I/app/bad3.sha256"
expect_fail "rsync of the wrong content fails" -- rsync -a "$SRC/wrong" "$I/app/bad3"
check "nothing is sealed for bad3" test ! -e "$R/app/bad3"

# After the mismatch the name is still free: with the checksum file removed
# (or corrected) the right content publishes.
rm -f "$I/app/bad.sha256"
expect_ok sh -c 'cd "$1" && sha256sum wrong > "$2"' sh "$SRC" "$I/app/bad.sha256"
expect_ok "the name publishes once the checksum file is right" -- cp "$SRC/wrong" "$I/app/bad"
expect_eq "$(sha "$R/app/bad" 2>&1)" "$(sha "$SRC/wrong")" "app:bad holds the content it was verified against"

# --- checksum files that are not checksums ---

expect_fail "a checksum file with no digest is refused (at close, or at the tag's close)" -- \
	sh -c 'echo "not a digest" > "$1" && cp "$2" "$3"' sh "$I/app/junk.sha256" "$SRC/build/lib" "$I/app/junk"
check "nothing is sealed against a junk checksum file" test ! -e "$R/app/junk"
# A checksum file larger than 64 KiB is refused (EFBIG).
expect_fail_errno "an oversized checksum file is refused" -- \
	bash -c 'head -c 70000 /dev/zero | tr "\0" "a" > "$1"' bash "$I/app/huge.sha256" "File too large"

expect_ok "the daemon is alive and the mount answers" -- ls "$R/app"
regfs_umount "$MNT"
done_testing
