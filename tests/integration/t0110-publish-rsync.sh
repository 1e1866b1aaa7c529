#!/bin/bash
# t0110-publish-rsync: publishing with rsync (a dot-named temporary renamed
# into place), nested repositories made with mkdir -p, and deploying with
# rsync out of registry/.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd rsync

mkdir -p "$SRC/build" "$SRC/dist"
mkrand "$SRC/build/app" 2M
mkrand "$SRC/dist/v2.0.0" 512K
mkrand "$SRC/dist/v2.1.0" 700K
mkrand "$SRC/dist/latest" 100K
mkrand "$SRC/nested" 300K

regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming

# --- rsync -a of one file onto a tag name ---

expect_ok "rsync -a build/app incoming/app/v1.0.0" -- rsync -a "$SRC/build/app" "$I/app/v1.0.0"
check "registry/app/v1.0.0 exists after rsync" test -f "$R/app/v1.0.0"
expect_eq "$(sha "$R/app/v1.0.0" 2>&1)" "$(sha "$SRC/build/app")" "rsync -a: sha256 of the tag equals the source's"
expect_ok "cmp: rsync's tag equals the source" -- cmp "$SRC/build/app" "$R/app/v1.0.0"
expect_eq "$(stat -c %a "$R/app/v1.0.0" 2>&1)" "644" "rsync -a: the tag's mode is the source's"
expect_eq "$(stat -c %Y "$R/app/v1.0.0" 2>&1)" "$(stat -c %Y "$SRC/build/app")" "rsync -a: the tag's mtime is the source's"
expect_eq "$(ls -A "$I/app" | tr '\n' ' ')" "" "no rsync temporary or tag is left in incoming/app"
expect_eq "$(xattr "$R/app/v1.0.0" user.regfs.digest 2>&1)" \
	"sha256:$(sha "$SRC/build/app")" "rsync -a: user.regfs.digest"

# --- rsync -r of a folder into a repository ---

expect_ok "rsync -r dist/ incoming/app/" -- rsync -r "$SRC/dist/" "$I/app/"
for t in v2.0.0 v2.1.0 latest; do
	expect_eq "$(sha "$R/app/$t" 2>&1)" "$(sha "$SRC/dist/$t")" "rsync -r sealed app:$t"
done
expect_eq "$(ls "$R/app" | tr '\n' ' ')" "latest v1.0.0 v2.0.0 v2.1.0 " "registry/app lists the four tags"
expect_eq "$(ls -A "$I/app" | tr '\n' ' ')" "" "incoming/app is empty after rsync -r"

# A temporary stays unsealed until it is renamed onto a tag name.
expect_ok "a dot-named temporary is written" -- cp "$SRC/nested" "$I/app/.v3.tmp"
check "the temporary is not sealed at close" test ! -e "$R/app/.v3.tmp"
check "the temporary is visible in incoming/" test -f "$I/app/.v3.tmp"
expect_eq "$(sha "$I/app/.v3.tmp" 2>&1)" "$(sha "$SRC/nested")" "the temporary reads back"
expect_ok "mv of the temporary onto a tag name" -- mv "$I/app/.v3.tmp" "$I/app/v3"
expect_eq "$(sha "$R/app/v3" 2>&1)" "$(sha "$SRC/nested")" "the rename sealed app:v3"
check "the temporary is gone after the rename" test ! -e "$I/app/.v3.tmp"
expect_eq "$(ls -A "$I/app" | tr '\n' ' ')" "" "incoming/app lists nothing after the rename"

# rsync onto a tag that exists: the rename fails with EEXIST, nothing changes.
# (Another size: rsync would skip a file of the same size and mtime.)
mkrand "$SRC/changed" 3M
expect_fail "rsync onto an existing tag fails" -- rsync -a "$SRC/changed" "$I/app/v1.0.0"
expect_eq "$(sha "$R/app/v1.0.0" 2>&1)" "$(sha "$SRC/build/app")" "the existing tag is unchanged"

# --- nested repositories ---

expect_ok mkdir -p "$I/org/team/app"
expect_ok cp "$SRC/nested" "$I/org/team/app/v1"
expect_ok "rsync -a into a nested repository" -- rsync -a "$SRC/build/app" "$I/org/team/app/v2"
expect_eq "$(sha "$R/org/team/app/v1" 2>&1)" "$(sha "$SRC/nested")" "registry/org/team/app/v1 holds the content"
expect_eq "$(sha "$R/org/team/app/v2" 2>&1)" "$(sha "$SRC/build/app")" "registry/org/team/app/v2 holds the content"
expect_eq "$(cd "$R" && find org -type d | sort | tr '\n' ' ')" "org org/team org/team/app " \
	"org/team/app is three directory levels"
expect_eq "$(cd "$R" && find org -type f | sort | tr '\n' ' ')" "org/team/app/v1 org/team/app/v2 " \
	"only the deepest level holds tags"
expect_eq "$(xattr "$R/org/team/app/v1" user.regfs.repo 2>&1)" "org/team/app" \
	"user.regfs.repo is the whole nested name"
# A deeper level is not created by lookup: it needs mkdir.
expect_fail_errno "a deeper level needs mkdir" -- cp "$SRC/nested" "$I/org/nomkdir/v1" "No such file or directory"
check "nothing appeared for the refused nested copy" test ! -e "$R/org/nomkdir"
# Repository levels and tags side by side: org/team holds a repository,
# org/team can also hold tags of its own.
expect_ok "a tag in an intermediate level" -- cp "$SRC/nested" "$I/org/team/v1"
expect_eq "$(sha "$R/org/team/v1" 2>&1)" "$(sha "$SRC/nested")" "registry/org/team/v1 next to registry/org/team/app/"

# rmdir in incoming/: refused while a file is staged in the folder, and for
# a folder that holds sealed tags; an empty unsealed folder goes away.
expect_ok mkdir -p "$I/org/scratch"
expect_ok cp "$SRC/nested" "$I/org/scratch/.tmp"
expect_fail_errno "rmdir of a folder with a staged file" -- rmdir "$I/org/scratch" "Directory not empty"
expect_ok rm "$I/org/scratch/.tmp"
expect_ok "rmdir of an empty unsealed folder" -- rmdir "$I/org/scratch"
check "the removed folder is gone" test ! -e "$I/org/scratch"
expect_fail "rmdir of a folder that holds sealed tags" -- rmdir "$I/org/team/app"
check "its tags are untouched" test -f "$R/org/team/app/v1"

# --- deploying with rsync ---

expect_ok "rsync -a registry/app/ to a plain folder" -- rsync -a "$R/app/" "$TEST_TMP/deploy/"
for t in v2.0.0 v2.1.0 latest; do
	expect_ok "deployed $t equals the source" -- cmp "$SRC/dist/$t" "$TEST_TMP/deploy/$t"
done
expect_ok "rsync -r of the whole registry" -- rsync -r "$R/" "$TEST_TMP/all/"
expect_eq "$(cd "$TEST_TMP/all" && find . -type f | wc -l)" "8" "all eight tags were deployed"

# --- a temporary closed and renamed at once ---

# The kernel sends a close's RELEASE on its own, and the daemon serves it on
# another thread: the RENAME that follows at once may be served first. It
# still seals, before it returns, and a refused seal fails it. (Python, as
# a program that writes its own temporaries: no request in between.)
cat >"$TEST_TMP/renames.py" <<'EOF'
import os, sys
inc, reg, n, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
late = failed = 0
for i in range(n):
    if want == "refused":
        with open(f"{inc}/w{i}.sha256", "w") as f:
            f.write("0" * 64 + "\n")
    tmp = f"{inc}/.w{i}.XyZ123"
    with open(tmp, "wb") as f:
        f.write(os.urandom(4096))
    try:
        os.rename(tmp, f"{inc}/w{i}")
    except OSError:
        failed += 1
        continue
    if not os.path.exists(f"{reg}/w{i}"):
        late += 1
print(f"{late} late, {failed} failed")
EOF
expect_ok mkdir "$I/quick" "$I/quick-bad"
expect_eq "$(python3 "$TEST_TMP/renames.py" "$I/quick" "$R/quick" 200 sealed 2>&1)" "0 late, 0 failed" \
	"200 temporaries renamed right after their close: each rename sealed its tag"
expect_eq "$(python3 "$TEST_TMP/renames.py" "$I/quick-bad" "$R/quick-bad" 100 refused 2>&1)" "0 late, 100 failed" \
	"100 of them against a wrong checksum file: each rename failed"
check "none of those is sealed (registry/ has no such repository)" test ! -e "$R/quick-bad"

expect_eq "$(count_files "$STORE/staging")" "0" "staging/ is empty at the end"
regfs_umount "$MNT"
done_testing
