#!/bin/bash
# t1110-nfs-handles: file handles that last, which NFS re-export needs.
#
# (a) On the FUSE mount itself (tests/tools/fhandle.c): a handle from
#     name_to_handle_at opens with open_by_handle_at after the kernel
#     evicted the inode (drop_caches), for a tag and for folders (whose
#     reconnection asks regfs for "..").
# (b) The same across a remount of the same store on the same path, on
#     another device number (forced: placeholder mounts hold the old one);
#     a removed tag's handle is stale, never another tag's bytes, even when
#     a new tag takes its row; a staged file after a restart does not
#     take the inode number of one from before.
# (c) Through nfs-ganesha with a held NFSv3 and NFSv4.0 handle
#     (tests/tools/nfs-handle.c): across inode eviction on the server;
#     across a regfs restart under a running ganesha (ganesha keeps the old
#     mount's root open, so the procedure is: restart ganesha after regfs);
#     across a restart of both, ganesha stopped first, with the device
#     number changed: for each fsid_type (and Filesystem_id) whether the
#     handle ganesha gives stays the same, and whether the old one reads.
#     Only fsid_type = Major64 keeps it: FUSE reports no f_fsid, so
#     ganesha's fsid is the device number, and Major64 keeps only its
#     major, which is 0 for every FUSE mount.
#
# What fails until regfs has export support (FUSE_CAP_EXPORT_SUPPORT,
# lookup of "." and "..", lasting generations and staged numbers): every
# open of a handle whose inode the kernel no longer has (ESTALE,
# NFS3ERR_STALE, NFS4ERR_STALE).
# shellcheck source-path=SCRIPTDIR disable=SC2119 # nfs_start takes no "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=nfs.sh
. "$(dirname "$0")/nfs.sh"
require_cmd mountpoint

FH=$REGFS_BUILD_DIR/tests/regfs-test-fhandle
[[ -x $FH ]] || bail_out "no fhandle helper at $FH: build first"

mkrand "$SRC/a" 2M
mkrand "$SRC/b" 64K
mkrand "$SRC/c" 64K
a_sha=$(sha "$SRC/a")

drop_caches() {
	sync
	echo 2 >/proc/sys/vm/drop_caches
}

# expect_fh_open HANDLE-FILE WANT DESC: fhandle open on $MNT prints WANT.
expect_fh_open() {
	run_cmd "$FH" open "$MNT" "$1"
	local got=${OUT%%$'\n'*}
	if [[ $got == "$2" ]]; then
		ok "$3"
	else
		fail "$3"
		diag "expected: $2" "     got: $OUT"
	fi
}

# regfs_restart_new_dev: unmount, then mount tmpfs placeholders until one
# holds the device number regfs had (so that the next mount cannot take
# it), mount again on the same store and path, drop the placeholders. Sets
# OLD_DEV and NEW_DEV (MAJOR:MINOR).
hold_seq=0
regfs_restart_new_dev() {
	OLD_DEV=$(mountpoint -d "$MNT")
	regfs_umount "$MNT"
	"$@"
	local i dir holds=()
	for ((i = 0; i < 64; i++)); do
		hold_seq=$((hold_seq + 1))
		dir=$TEST_TMP/devhold/$hold_seq
		mkdir -p "$dir"
		mount -t tmpfs -o size=4k regfs-devhold "$dir"
		track_mount "$dir"
		holds+=("$dir")
		[[ $(mountpoint -d "$dir") == "$OLD_DEV" ]] && break
	done
	regfs_mount "$STORE" "$MNT"
	NEW_DEV=$(mountpoint -d "$MNT")
	for dir in "${holds[@]}"; do
		umount "$dir"
	done
	diag "regfs remounted: device $OLD_DEV -> $NEW_DEV"
}

regfs_mount "$STORE" "$MNT"
expect_ok cp "$SRC/a" "$MNT/incoming/app/v1"
expect_ok cp "$SRC/b" "$MNT/incoming/app/v2"

# --- (a) on the FUSE mount, across eviction ---------------------------------------

H=$TEST_TMP/handles
mkdir -p "$H"
expect_ok "name_to_handle_at of a tag" -- "$FH" save "$MNT/registry/app/v1" "$H/v1"
expect_ok "name_to_handle_at of a removable tag" -- "$FH" save "$MNT/registry/app/v2" "$H/v2"
expect_ok "name_to_handle_at of a repository folder" -- "$FH" save "$MNT/registry/app" "$H/app"
expect_ok "name_to_handle_at of registry/" -- "$FH" save "$MNT/registry" "$H/registry"
expect_ok "name_to_handle_at of incoming/app" -- "$FH" save "$MNT/incoming/app" "$H/incoming-app"
ino_v2=$(stat -c %i "$MNT/registry/app/v2")
expect_fh_open "$H/v1" "OK bytes=2097152 sha256=$a_sha" "open_by_handle_at of a cached tag"

drop_caches
expect_fh_open "$H/v1" "OK bytes=2097152 sha256=$a_sha" "after drop_caches: the tag's handle opens, same bytes"
expect_fh_open "$H/app" "OK dir" "after drop_caches: a repository folder's handle opens"
drop_caches
expect_fh_open "$H/registry" "OK dir" "after drop_caches: registry/'s handle opens"
expect_fh_open "$H/incoming-app" "OK dir" "after drop_caches: incoming/app's handle opens"

# --- (b) across a remount on another device number ------------------------------------

regfs_restart_new_dev "$REGCTL" --store "$STORE" rm --force app:v2
expect_ne "$NEW_DEV" "$OLD_DEV" "the new mount has another device number"
expect_ok cp "$SRC/c" "$MNT/incoming/app/v3"
diag "inode numbers: removed app:v2 was $ino_v2, new app:v3 is $(stat -c %i "$MNT/registry/app/v3")"
expect_fh_open "$H/v1" "OK bytes=2097152 sha256=$a_sha" "after the remount: the tag's old handle opens, same bytes"
expect_fh_open "$H/app" "OK dir" "after the remount: the folder's old handle opens"
expect_fh_open "$H/v2" "ESTALE" "after the remount: a removed tag's handle is stale (not another tag)"
case $OUT in
*"sha256=$(sha "$SRC/b")"*) diag "it opened the removed tag app:v2 itself" ;;
*"sha256=$(sha "$SRC/c")"*) diag "it opened app:v3, the tag published after the removal" ;;
esac
drop_caches
expect_fh_open "$H/v1" "OK bytes=2097152 sha256=$a_sha" "after the remount and drop_caches: the tag's handle opens"

# Staged files, then a restart (the daemon killed, as a crash would), then
# other staged files: no inode number in common, and the old handle stale.
before=() after=() fds=()
for i in 1 2 3; do
	exec {w}>"$MNT/incoming/app/s$i"
	fds+=("$w")
	printf 'half of it' >&"$w"
	before+=("$(stat -c %i "$MNT/incoming/app/s$i")")
done
expect_ok "name_to_handle_at of a staged file" -- "$FH" save "$MNT/incoming/app/s1" "$H/s1"
regfs_kill9 "$MNT"
for w in "${fds[@]}"; do exec {w}>&-; done
regfs_lazy_umount "$MNT"
regfs_mount "$STORE" "$MNT"
fds=()
for i in 4 5 6; do
	exec {w}>"$MNT/incoming/app/s$i"
	fds+=("$w")
	printf 'other bytes' >&"$w"
	after+=("$(stat -c %i "$MNT/incoming/app/s$i")")
done
diag "staged inode numbers: ${before[*]} before the restart, ${after[*]} after"
expect_eq "$(printf '%s\n' "${before[@]}" "${after[@]}" | sort | uniq -d)" "" \
	"staged files after a restart do not reuse the numbers of those from before"
expect_fh_open "$H/s1" "ESTALE" "the handle of a staged file from before the restart is stale"
for w in "${fds[@]}"; do exec {w}>&-; done
check "the staged files written after the restart were sealed" \
	wait_until 10 test -e "$MNT/registry/app/s6"

# --- (c) through ganesha -------------------------------------------------------------------

# (c1) inode eviction on the server, the client holding handles it only
# looked up. Attr_Expiration_Time = 0: ganesha asks the file system for
# every GETATTR rather than answering from its cache.
nfs_start "$MNT" --pseudo /regfs --rw --attr-expiration 0 --log FSAL=INFO
for v in 3 4; do
	nfs_holder_start "e$v" "$v" /regfs registry/app/v1
	nfs_holder_start "d$v" "$v" /regfs registry/app
done
drop_caches
for v in 3 4; do
	expect_match "$(nfs_holder "e$v" getattr)" "^getattr NFS${v}_OK type=reg size=2097152 " \
		"v$v: after eviction, GETATTR of a held tag handle"
	expect_eq "$(nfs_holder "e$v" read)" "read NFS${v}_OK bytes=2097152 sha256=$a_sha" \
		"v$v: after eviction, READ of a held tag handle"
	expect_match "$(nfs_holder "d$v" getattr)" "^getattr NFS${v}_OK type=dir " \
		"v$v: after eviction, GETATTR of a held folder handle"
	nfs_holder_stop "e$v"
	nfs_holder_stop "d$v"
done
nfs_stop

# (c2) regfs restarted under a running ganesha. One handle was read before
# (ganesha holds that file open), one only looked up.
nfs_start "$MNT" --pseudo /regfs --rw --fsal 'fsid_type = Major64;' --log FSAL=INFO
for v in 3 4; do
	nfs_holder_start "r$v" "$v" /regfs registry/app/v1
	expect_match "$(nfs_holder "r$v" read)" "^read NFS${v}_OK " "v$v: a read before the regfs restart"
	nfs_holder_start "l$v" "$v" /regfs registry/app/v3
done
# regfs cannot be unmounted while ganesha holds it: SIGTERM, and libfuse
# detaches the mount.
pid=$(daemon_pid "$MNT")
kill_wait TERM "$pid"
expect_eq "$REAP_RC" 0 "regfs exits 0 on SIGTERM under a running ganesha"
check "its mount is gone" wait_until 10 _lib_not is_mounted "$MNT"
regfs_mount "$STORE" "$MNT"
for v in 3 4; do
	diag "v$v, regfs restarted, ganesha not: read of a handle it had open: $(nfs_holder "r$v" read)"
	diag "v$v, regfs restarted, ganesha not: read of a handle only looked up: $(nfs_holder "l$v" read)"
done
nfs_restart
for v in 3 4; do
	expect_eq "$(nfs_holder "r$v" read)" "read NFS${v}_OK bytes=2097152 sha256=$a_sha" \
		"v$v: after regfs and then ganesha restarted, the held handle reads"
	expect_eq "$(nfs_holder "l$v" read)" "read NFS${v}_OK bytes=65536 sha256=$(sha "$SRC/c")" \
		"v$v: after regfs and then ganesha restarted, a handle only looked up reads"
	nfs_holder_stop "r$v"
	nfs_holder_stop "l$v"
done
nfs_stop

# (c3) a restart of both, ganesha stopped first, regfs on a new device
# number, for each way ganesha can be told to build its handles' fsid.
settings=(
	"default|"
	"Filesystem_id = 152.152|--opt|Filesystem_id = 152.152;"
	"fsid_type = None|--fsal|fsid_type = None;"
	"fsid_type = One64|--fsal|fsid_type = One64;"
	"fsid_type = Two32|--fsal|fsid_type = Two32;"
	"fsid_type = Two64|--fsal|fsid_type = Two64;"
	"fsid_type = Device|--fsal|fsid_type = Device;"
	"fsid_type = Major64|--fsal|fsid_type = Major64;"
)
for s in "${settings[@]}"; do
	IFS='|' read -r name kind line <<<"$s"
	opts=()
	[[ -n $kind ]] && opts=("$kind" "$line")
	nfs_start "$MNT" --pseudo /regfs --rw "${opts[@]}" --log FSAL=INFO
	h3=$(nfs_handle 3 /regfs registry/app/v1 | sed -n '1s/^handle //p')
	h4=$(nfs_handle 4 /regfs registry/app/v1 | sed -n '1s/^handle //p')
	nfs_stop
	regfs_restart_new_dev
	log_from=$(($(wc -l <"$NFS_LOG") + 1))
	nfs_start "$MNT" --pseudo /regfs --rw "${opts[@]}" --log FSAL=INFO
	# The old handles first: a lookup through the new mount would bring
	# the inode into the kernel's cache, and a handle finds a cached
	# inode without regfs's export support.
	declare -A read=() same=()
	for v in 3 4; do
		held=$h3
		[[ $v == 4 ]] && held=$h4
		read[$v]=$({ nfs_handle "$v" /regfs registry/app/v1 -H "$held" read 2>/dev/null || :; } | sed -n 2p)
	done
	for v in 3 4; do
		held=$h3
		[[ $v == 4 ]] && held=$h4
		fresh=$(nfs_handle "$v" /regfs registry/app/v1 | sed -n '1s/^handle //p')
		same[$v]=no
		[[ $fresh == "$held" ]] && same[$v]=yes
		diag "$name, v$v, device $OLD_DEV -> $NEW_DEV: handle unchanged: ${same[$v]}; old handle: ${read[$v]%% sha256=*}"
		case $name in
		"fsid_type = Major64")
			expect_eq "${same[$v]}" yes "$name, v$v: ganesha gives the same handle after the device changed"
			expect_eq "${read[$v]}" "read NFS${v}_OK bytes=2097152 sha256=$a_sha" \
				"$name, v$v: the handle held across the restart of both reads"
			;;
		default)
			expect_eq "${same[$v]}" no "$name, v$v: the handle changes with the device number (why Major64 is needed)"
			;;
		esac
	done
	if grep -q 'Could not map fsid' <<<"$(tail -n +"$log_from" "$NFS_LOG")"; then
		diag "$name: ganesha logged: $(tail -n +"$log_from" "$NFS_LOG" | grep -m1 -o 'Could not map fsid.*')"
	fi
	nfs_stop
done

nfs_teardown
regfs_umount "$MNT"
done_testing
