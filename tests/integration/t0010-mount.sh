#!/bin/bash
# t0010-mount: mounting and unmounting; the top of the tree; statfs; the
# options that pass through to FUSE; --help and --version.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# --- the command line, without mounting ---

expect_status 0 "$REGFS" --help
expect_match "$OUT" 'regfs' "--help names the program"
expect_match "$OUT" 'STORE' "--help shows the STORE argument"
expect_status 0 "$REGFS" -h
expect_status 0 "$REGFS" --version
expect_match "$OUT" '[0-9]+\.[0-9]+\.[0-9]+' "--version prints a version number"
expect_status 0 "$REGFS" -V
expect_fail "no arguments is a usage error" -- timeout 10 "$REGFS"
expect_fail "a missing mount point is refused" -- \
	timeout 10 "$REGFS" "$STORE" "$TEST_TMP/no/such/dir" -f
check "the failed start left no mount behind" _lib_not is_mounted "$TEST_TMP/no/such/dir"

# --- a plain mount ---

regfs_mount "$STORE" "$MNT"
expect_eq "$(mount_fstype "$MNT")" "fuse.regfs" "the mount's type is fuse.regfs"
expect_eq "$(cd "$MNT" && find . -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')" \
	"./incoming ./registry " "the top level holds registry/ and incoming/"
check "registry/ is a directory" test -d "$MNT/registry"
check "incoming/ is a directory" test -d "$MNT/incoming"
expect_eq "$(stat -c %i "$MNT/registry")" "2" "registry/ is inode 2"
expect_eq "$(stat -c %i "$MNT/incoming")" "3" "incoming/ is inode 3"
expect_eq "$(find "$MNT/registry" -mindepth 1 | wc -l)" "0" "a new store has an empty registry/"
expect_ok "statfs works (stat -f)" -- stat -f "$MNT"
expect_ok "df works on the mount" -- df "$MNT"
expect_ok "df -i works on the mount" -- df -i "$MNT"
check "the store holds a catalog" test -f "$STORE/catalog.db"
check "the store holds blobs/sha256/" test -d "$STORE/blobs/sha256"
check "the store holds staging/" test -d "$STORE/staging"
regfs_umount "$MNT"
check "the mount is gone after unmount" _lib_not is_mounted "$MNT"
check "the mount point is an empty folder again" test -z "$(ls -A "$MNT")"

# A store that does not exist yet is created.
regfs_mount "$TEST_TMP/new-store" "$MNT"
check "a missing store folder is created" test -f "$TEST_TMP/new-store/catalog.db"
regfs_umount "$MNT"

# --- -o ro ---

mkrand "$SRC/a" 64K
regfs_mount "$STORE" "$MNT"
expect_ok cp "$SRC/a" "$MNT/incoming/app/v1"
regfs_umount "$MNT"

regfs_mount "$STORE" "$MNT" -o ro
expect_match "$(awk -v m="$MNT" '$5 == m { print $6 }' /proc/self/mountinfo)" '(^|,)ro(,|$)' \
	"-o ro makes a read-only mount"
expect_eq "$(sha "$MNT/registry/app/v1")" "$(sha "$SRC/a")" "a read-only mount serves sealed tags"
expect_fail_errno cp "$SRC/a" "$MNT/incoming/app/v2" "Read-only file system"
check "nothing was published through a read-only mount" test ! -e "$MNT/registry/app/v2"
regfs_umount "$MNT"

# --- options that pass through to FUSE ---

regfs_mount "$STORE" "$MNT" -o allow_other,default_permissions
expect_match "$(awk -v m="$MNT" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 3) }' /proc/self/mountinfo)" \
	'allow_other' "allow_other reaches the kernel"
expect_match "$(awk -v m="$MNT" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 3) }' /proc/self/mountinfo)" \
	'default_permissions' "default_permissions reaches the kernel"
expect_eq "$(sha "$MNT/registry/app/v1")" "$(sha "$SRC/a")" "reads work with default_permissions"
expect_ok cp "$SRC/a" "$MNT/incoming/app/v2"
expect_eq "$(sha "$MNT/registry/app/v2")" "$(sha "$SRC/a")" "publishing works with default_permissions"
regfs_umount "$MNT"

regfs_mount "$STORE" "$MNT" -o max_threads=4,fsname=myregistry
expect_eq "$(awk -v m="$MNT" '$5 == m { for (i = 7; i <= NF; i++) if ($i == "-") print $(i + 2) }' /proc/self/mountinfo)" \
	"myregistry" "fsname= names the mount's source"
regfs_umount "$MNT"

# -o log=FILE: log lines go to the file.
regfs_mount "$STORE" "$MNT" -o "log=$TEST_TMP/own.log"
_lib_logs+=("$TEST_TMP/own.log")
mkrand "$SRC/b" 10K
expect_ok cp "$SRC/b" "$MNT/incoming/app/logged"
regfs_umount "$MNT"
expect_match "$(cat "$TEST_TMP/own.log" 2>/dev/null)" "sealed 'app:logged' sha256:$(sha "$SRC/b")" \
	"-o log=FILE receives the seal's log line"

# Single-threaded and debug modes mount and serve too.
regfs_mount "$STORE" "$MNT" -s
expect_eq "$(sha "$MNT/registry/app/v1")" "$(sha "$SRC/a")" "-s (single-threaded) serves reads"
regfs_umount "$MNT"
regfs_mount "$STORE" "$MNT" -d
expect_eq "$(sha "$MNT/registry/app/v1")" "$(sha "$SRC/a")" "-d (debug) serves reads"
regfs_umount "$MNT"

# Unknown options are refused, with a nonzero exit and no mount.
expect_fail "an unknown option is refused" -- timeout 10 "$REGFS" "$STORE" "$MNT" -f -o no_such_option_xyz
check "the refused start left no mount behind" _lib_not is_mounted "$MNT"

done_testing
