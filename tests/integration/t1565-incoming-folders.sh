#!/bin/bash
# t1565-incoming-folders: a lookup in incoming/ makes no repository folder
# (3000 stats made 3000 permanent ones); mkdir makes one, and so does the
# first file created in a name looked up, so "cp f incoming/app/v1" still
# needs no mkdir. A folder cannot be renamed, at any level, with the same
# EPERM and a log line (issue 15).
# shellcheck source-path=SCRIPTDIR disable=SC2016 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd python3

mkrand "$SRC/app" 100K
mkdir -p "$SRC/dist"
mkrand "$SRC/dist/r1" 10K
mkrand "$SRC/dist/r2" 10K
regfs_mount "$STORE" "$MNT"
I=$MNT/incoming
R=$MNT/registry
log=$(daemon_log "$MNT")
# listed NAME: incoming/ lists NAME at its top.
listed() { grep -qx -- "$1" <<<"$(ls "$I")"; }

# --- lookups make nothing ---

seen=0
for ((i = 0; i < 300; i++)); do
	if stat "$I/junk$i" >/dev/null 2>&1; then seen=$((seen + 1)); fi
done
diag "$seen of 300 stats of new names answered (an empty folder, not listed)"
expect_eq "$(find "$I" -mindepth 1 | wc -l)" 0 "incoming/ lists none of the names looked up"
expect_eq "$(find "$I/junk7" -mindepth 1 2>/dev/null | wc -l)" 0 "a name looked up holds nothing"
regfs_umount "$MNT"
regfs_mount "$STORE" "$MNT"
log=$(daemon_log "$MNT")
expect_eq "$(find "$I" -mindepth 1 | wc -l)" 0 "after a remount, no folder was kept either"

# --- mkdir and cp make them ---

expect_ok "mkdir of a new top-level folder" -- mkdir "$I/newrepo"
check "it is listed" test -d "$I/newrepo"
expect_fail_errno "a second mkdir says it exists" -- mkdir "$I/newrepo" "File exists"
stat "$I/looked" >/dev/null 2>&1 || :
expect_ok "mkdir of a name looked up just before" -- mkdir "$I/looked"
expect_ok "mkdir -p of nested folders" -- mkdir -p "$I/org/team/app"
expect_ok "mkdir in a name never made makes both" -- mkdir "$I/parent/sub"
check "the name is a folder now" listed parent
stat "$I/py" >/dev/null 2>&1 || :
expect_ok "os.makedirs after a stat of the top name (it exists, so only sub is made)" -- \
	python3 -c 'import os, sys; os.makedirs(sys.argv[1])' "$I/py/sub"
check "both are there" test -d "$I/py/sub"
expect_ok "cp publishes with no mkdir" -- cp "$SRC/app" "$I/app/v1"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/app")" "app:v1 holds the content"
expect_ok "rsync -r into a folder never made" -- rsync -r "$SRC/dist/" "$I/rs/"
expect_eq "$(ls "$R/rs" | tr '\n' ' ')" "r1 r2 " "rsync's tags are sealed"
expect_eq "$(ls "$I" | tr '\n' ' ')" "app looked newrepo org parent py rs " \
	"incoming/ holds the folders made, and only those"
expect_fail_errno "a bad name in a name looked up" -- \
	touch "$I/badrepo/Not a tag" "Invalid argument"
check "does not make the folder" _lib_not listed badrepo

# --- renames ---

expect_fail_errno "a top-level folder cannot be renamed" -- \
	python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$I/newrepo" "$I/newname" \
	"Operation not permitted"
expect_fail_errno "mv of a top-level folder" -- mv "$I/looked" "$I/elsewhere" "Operation not permitted"
check "mv made no folder for its target" _lib_not listed elsewhere
expect_fail_errno "a nested folder cannot be renamed, with the same error" -- \
	mv "$I/org/team" "$I/org/group" "Operation not permitted"
check "the log says why" grep -q "repository folder 'org/team' cannot be renamed" "$log"
expect_ok sh -c 'echo hi > "$1"' sh "$I/app/.tmp"
expect_fail_errno "a file renamed onto a top-level name meets a folder" -- \
	python3 -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$I/app/.tmp" "$I/zzz" \
	"Is a directory"
check "which is not made by it" _lib_not listed zzz
expect_ok "a file renamed into a folder never made makes it" -- mv "$I/app/.tmp" "$I/moved/.tmp"
check "the folder is listed" test -f "$I/moved/.tmp"
expect_ok "and a rename onto a tag there seals" -- mv "$I/moved/.tmp" "$I/moved/v1"
expect_eq "$(cat "$R/moved/v1" 2>&1)" "hi" "moved:v1 holds the content"

regfs_umount "$MNT"
done_testing
