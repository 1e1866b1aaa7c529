#!/bin/bash
# t0130-readonly: everything under registry/ refuses change with EROFS, and
# the refused attempts leave the tag as it was.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd setfattr getfattr

mkrand "$SRC/f" 256K
regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming
expect_ok cp "$SRC/f" "$I/app/v1"
expect_ok mkdir -p "$I/org/app"
expect_ok cp "$SRC/f" "$I/org/app/v1"
T=$R/app/v1
sha_before=$(sha "$T")
ino_before=$(stat -c %i "$T")
mtime_before=$(stat -c %Y "$T")
xattrs_before=$(getfattr --absolute-names -d "$T" 2>&1)

# --- with the tools ---

expect_fail_errno "append with a shell redirection" -- sh -c 'echo x >> "$1"' sh "$T" "Read-only file system"
expect_fail_errno "overwrite with a shell redirection" -- sh -c 'echo x > "$1"' sh "$T" "Read-only file system"
expect_fail_errno "cp over the tag" -- cp "$SRC/f" "$T" "Read-only file system"
expect_fail_errno "dd into the tag" -- dd if=/dev/zero of="$T" bs=1 count=1 conv=notrunc status=none "Read-only file system"
expect_fail_errno truncate -s 0 "$T" "Read-only file system"
expect_fail_errno rm -f "$T" "Read-only file system"
expect_fail_errno mv "$T" "$R/app/v2" "Read-only file system"
expect_fail_errno "mv of a tag to another repository" -- mv "$T" "$R/org/app/v9" "Read-only file system"
expect_fail_errno chmod 644 "$T" "Read-only file system"
expect_fail_errno chmod 444 "$T" "Read-only file system"
expect_fail_errno chown 1:1 "$T" "Read-only file system"
expect_fail_errno setfattr -n user.test -v x "$T" "Read-only file system"
expect_fail_errno setfattr -n user.regfs.digest -v sha256:0 "$T" "Read-only file system"
expect_fail_errno setfattr -x user.regfs.digest "$T" "Read-only file system"
expect_fail_errno touch "$T" "Read-only file system"
expect_fail_errno touch -d 2001-01-01 "$T" "Read-only file system"
expect_fail_errno "touch a new file in a repository" -- touch "$R/app/new" "Read-only file system"
expect_fail_errno "touch a new file at the top of registry/" -- touch "$R/new" "Read-only file system"
expect_fail_errno mkdir "$R/app/dir" "Read-only file system"
expect_fail_errno mkdir "$R/newrepo" "Read-only file system"
expect_fail_errno rmdir "$R/app" "Read-only file system"
expect_fail_errno rm -rf "$R/org" "Read-only file system"
expect_fail_errno mv "$R/app" "$R/app2" "Read-only file system"
expect_fail_errno ln -s v1 "$R/app/link" "Read-only file system"
expect_fail_errno ln "$T" "$R/app/hard" "Read-only file system"
expect_fail_errno chmod 755 "$R/app" "Read-only file system"
expect_fail_errno touch "$R/app" "Read-only file system"
expect_fail_errno "open for reading and writing" -- sh -c 'exec 3<> "$1"' sh "$T" "Read-only file system"
expect_fail_errno "mv of a tag into incoming/" -- mv "$T" "$I/app/v9" "Read-only file system"
expect_fail_errno "mv from incoming/ onto a tag" -- sh -c 'cp "$1" "$2" && mv "$2" "$3"' sh "$SRC/f" "$I/app/.tmp" "$T" "Read-only file system"
rm -f "$I/app/.tmp"

# --- the same, one system call at a time ---

expect_errno EROFS open "$T" w
expect_errno EROFS open "$T" rw
expect_errno EROFS open "$T" w+trunc
expect_errno EROFS open "$T" w+append
expect_errno EROFS open "$T" w+create
expect_errno EROFS open "$R/app/new" w+create+excl
expect_errno EROFS truncate "$T" 0
expect_errno EROFS unlink "$T"
expect_errno EROFS rename "$T" "$R/app/v3"
expect_errno EROFS chmod "$T" 0644
expect_errno EROFS utime "$T"
expect_errno EROFS setxattr "$T" user.x y
expect_errno EROFS removexattr "$T" user.regfs.digest
expect_errno EROFS mkdir "$R/app/d"
expect_errno EROFS mkdir "$R/d"
expect_errno EROFS rmdir "$R/org/app"
expect_errno EROFS link "$T" "$R/app/h"
expect_errno EROFS symlink v1 "$R/app/s"
expect_errno OK open "$T" r

# --- nothing changed ---

expect_eq "$(sha "$T")" "$sha_before" "the content is unchanged"
expect_eq "$(stat -c %i "$T")" "$ino_before" "the inode is unchanged"
expect_eq "$(stat -c %Y "$T")" "$mtime_before" "the mtime is unchanged"
expect_eq "$(stat -c %a "$T")" "644" "the mode is unchanged"
expect_eq "$(getfattr --absolute-names -d "$T" 2>&1)" "$xattrs_before" "the extended attributes are unchanged"
expect_eq "$(ls "$R/app" | tr '\n' ' ')" "v1 " "registry/app holds v1 only"
expect_eq "$(cd "$R" && find . | sort | tr '\n' ' ')" ". ./app ./app/v1 ./org ./org/app ./org/app/v1 " \
	"registry/ is unchanged"
check "the blob is unchanged" cmp -s "$SRC/f" "$STORE/blobs/sha256/$sha_before"

regfs_umount "$MNT"
done_testing
