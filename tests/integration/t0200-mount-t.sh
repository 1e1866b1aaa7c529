#!/bin/bash
# t0200-mount-t: from an installed prefix (cmake --install), `mount -t
# fuse.regfs STORE MOUNTPOINT -o ...` works, and so does an fstab line; a
# publish works through such a mount; umount unmounts cleanly.
#
# mount(8) runs its helper (mount.fuse3) with a sanitized environment: no
# PATH, so /bin/sh's default PATH finds the daemon, and a private prefix at
# the front of our PATH is not seen. The default prefix, /usr/local, is on
# that PATH. So the test runs in a private mount namespace, installs into a
# private prefix and binds its bin/ over /usr/local/sbin, where sh looks
# first: to mount(8) it is as if regfs were installed with the default
# prefix, and nothing outside the test changes.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
if [[ ${REGFS_T0200_NAMESPACE:-} != 1 ]]; then
	if [[ $(id -u) -eq 0 ]] && unshare --mount --propagation private true 2>/dev/null; then
		REGFS_T0200_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "$@"
	fi
	echo "1..0 # SKIP needs root and unshare --mount (a private mount namespace)"
	exit 77
fi
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd cmake mount umount
if [[ ! -x /sbin/mount.fuse3 && ! -x /usr/sbin/mount.fuse3 && ! -x /sbin/mount.fuse ]]; then
	skip_all "no mount.fuse3 helper (Debian package fuse3)"
fi

PREFIX=$TEST_TMP/prefix
expect_ok "cmake --install into a private prefix" -- cmake --install "$REGFS_BUILD_DIR" --prefix "$PREFIX"
[[ -x $PREFIX/bin/regfs ]] || bail_out "cmake --install did not install bin/regfs"
check "regctl is installed" test -x "$PREFIX/bin/regctl"
check "regfs(8) is installed" test -f "$PREFIX/share/man/man8/regfs.8"
check "regctl(1) is installed" test -f "$PREFIX/share/man/man1/regctl.1"
mkdir -p /usr/local/sbin
mount --bind "$PREFIX/bin" /usr/local/sbin || bail_out "cannot bind the prefix over /usr/local/sbin"
track_mount /usr/local/sbin
check "in this namespace the installed regfs is on the default PATH" \
	test "$(env -i sh -c 'command -v regfs')" = /usr/local/sbin/regfs
export PATH="/usr/local/sbin:$PATH"

mkrand "$SRC/f" 500K
mkrand "$SRC/g" 300K
MNT=$(cd "$MNT" && pwd -P)
track_mount "$MNT"
R=$MNT/registry
I=$MNT/incoming

# mount_daemon: the PID of the daemon serving MNT (mount(8) started it, so it
# is no child of ours), tracked for cleanup. Empty if there is none.
mount_daemon() {
	local p exe
	for p in $(pids_with_arg "$MNT"); do
		exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
		if [[ $exe == "$PREFIX/bin/regfs" || $exe == /usr/local/sbin/regfs ]]; then
			track_pid "$p"
			printf '%s\n' "$p"
			return 0
		fi
	done
}

# umount_clean DESC: umount MNT, then the daemon must exit.
umount_clean() {
	local desc=$1 pid
	pid=$(mount_daemon)
	expect_ok "$desc: umount" -- umount "$MNT"
	check "$desc: the mount is gone" _lib_not is_mounted "$MNT"
	if [[ -n $pid ]]; then
		check "$desc: the daemon exits" wait_exit "$pid" 10
	fi
}

# --- mount -t fuse.regfs ---

LOG1=$TEST_TMP/mount-t.log
_lib_logs+=("$LOG1")
expect_ok "mount -t fuse.regfs STORE MNT -o log=FILE" -- \
	timeout 30 mount -t fuse.regfs "$STORE" "$MNT" -o "log=$LOG1"
check "mount -t: the mount is there when mount returns" is_mounted "$MNT"
expect_eq "$(mount_fstype "$MNT")" "fuse.regfs" "mount -t: the type is fuse.regfs"
pid=$(mount_daemon)
check "mount -t: the daemon runs from the installed prefix, in the background" test -n "$pid"
expect_eq "$(cd "$MNT" && ls | tr '\n' ' ')" "incoming registry " "mount -t: the tree is there"
expect_ok "mount -t: cp publishes" -- cp "$SRC/f" "$I/app/v1"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/f")" "mount -t: the tag reads back"
check "mount -t: -o log=FILE receives the log lines" grep -q "sealed 'app:v1'" "$LOG1"
expect_ok "the installed regctl lists the tag" -- regctl --store "$STORE" ls
expect_match "$OUT" "app +v1" "regctl ls shows app v1"
umount_clean "mount -t"

# --- the options pass through mount(8) ---

expect_ok "mount -t fuse.regfs -o ro,allow_other,default_permissions" -- \
	timeout 30 mount -t fuse.regfs "$STORE" "$MNT" -o "ro,allow_other,default_permissions,log=$LOG1"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/f")" "mount -t -o ro: reads work"
expect_fail_errno "mount -t -o ro: publishing is refused" -- cp "$SRC/g" "$I/app/v2" "Read-only file system"
umount_clean "mount -t -o ro"

# fusermount3 -u unmounts a mount made by mount(8) as well.
expect_ok timeout 30 mount -t fuse.regfs "$STORE" "$MNT" -o "log=$LOG1"
pid=$(mount_daemon)
expect_ok "fusermount3 -u of a mount -t mount" -- fusermount3 -u "$MNT"
check "fusermount3 -u: the mount is gone" _lib_not is_mounted "$MNT"
[[ -n $pid ]] && check "fusermount3 -u: the daemon exits" wait_exit "$pid" 10

# --- an fstab line ---

LOG2=$TEST_TMP/fstab.log
_lib_logs+=("$LOG2")
printf '# regfs test fstab\n%s %s fuse.regfs noauto,log=%s 0 0\n' "$STORE" "$MNT" "$LOG2" >"$TEST_TMP/fstab"
expect_ok "mount -T FSTAB MOUNTPOINT" -- timeout 30 mount -T "$TEST_TMP/fstab" "$MNT"
check "fstab: mounted" is_mounted "$MNT"
expect_eq "$(sha "$R/app/v1" 2>&1)" "$(sha "$SRC/f")" "fstab: the earlier tag is served"
expect_ok "fstab: cp publishes" -- cp "$SRC/g" "$I/app/v2"
expect_eq "$(sha "$R/app/v2" 2>&1)" "$(sha "$SRC/g")" "fstab: the new tag reads back"
check "fstab: the log option reached the daemon" grep -q "sealed 'app:v2'" "$LOG2"
umount_clean "fstab"
# The same line, named by its store instead of its mount point.
expect_ok "mount -T FSTAB STORE" -- timeout 30 mount -T "$TEST_TMP/fstab" "$STORE"
check "fstab by source: mounted" is_mounted "$MNT"
umount_clean "fstab by source"

check "no daemon is left" test -z "$(mount_daemon)"
done_testing
