#!/bin/bash
# t1100-nfs-export: a regfs mount re-exported by nfs-ganesha (FSAL VFS) and
# read by libnfs clients over NFSv3 and NFSv4.0, on loopback in a network
# namespace of the test's own (nfs.sh), side by side with a plain folder
# exported by the same server: byte-exact reads of a multi-MiB tag, 8
# readers at once that agree, listings, writes into registry/ refused by
# regfs (the export itself is read-write), and the harness's own promises
# (the namespace, the handle client).
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2119 # ls as users use it; awk text
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=nfs.sh
. "$(dirname "$0")/nfs.sh"

mkrand "$SRC/big" 8M
mkrand "$SRC/small" 1K
mkrand "$SRC/lib" 100K
printf 'not a tag\n' >"$SRC/note"
big_sha=$(sha "$SRC/big")

regfs_mount "$STORE" "$MNT"
expect_ok cp "$SRC/big" "$MNT/incoming/app/v1"
expect_ok cp "$SRC/small" "$MNT/incoming/app/v2"
expect_ok cp "$SRC/lib" "$MNT/incoming/lib/1.0"

nfs_export /regfs "$MNT" --rw
nfs_export /plain "$SRC" --ro
nfs_start

# --- the harness -----------------------------------------------------------

check "ganesha runs in the test's network namespace" nfs_in_ns "$NFS_PID"
expect_ne "$(readlink "/proc/$NFS_PID/ns/net")" "$(readlink /proc/self/ns/net)" \
	"that namespace is not the test's"
expect_eq "$(nfs_run ip -o link show | awk -F': ' '{ print $2 }' | tr '\n' ' ')" "lo " \
	"it has loopback only"
expect_eq "$(nfs_run awk -v m="$MNT" '$5 == m { print $9 }' /proc/self/mountinfo)" fuse.regfs \
	"ganesha's mount namespace sees the regfs mount"

# --- reads, v3 and v4 ------------------------------------------------------------

# expect_nfs_cat VERSION PATH FILE DESC: nfs-cat of PATH gives FILE's bytes.
# When it fails, the server's status for a READ of the same path is shown.
expect_nfs_cat() {
	local v=$1 path=$2 want=$3 desc=$4 out=$TEST_TMP/nfs-cat.out rc=0
	nfs_cat "$v" "$path" >"$out" 2>"$out.err" || rc=$?
	if [[ $rc -eq 0 ]] && cmp -s "$out" "$want"; then
		ok "$desc"
	else
		fail "$desc"
		diag "nfs-cat status $rc, $(wc -c <"$out") bytes: $(cat "$out.err")"
		local e=${path#/*/}
		diag "nfs-handle read: $(nfs_handle "$v" "${path%"/$e"}" "$e" read 2>&1 | tr '\n' ' ')"
	fi
	rm -f "$out" "$out.err"
}

for v in 3 4; do
	run_cmd nfs_ls "$v" /regfs/registry/app
	expect_eq "$RC" 0 "v$v: nfs-ls registry/app succeeds"
	expect_eq "$(awk '{ print $NF }' <<<"$OUT" | sort | tr '\n' ' ')" "v1 v2 " \
		"v$v: registry/app lists v1 v2"
	expect_match "$(grep -w v1 <<<"$OUT")" " 8388608 v1$" "v$v: v1 is listed with its size"
	run_cmd nfs_ls "$v" /regfs/registry
	expect_eq "$(awk '{ print $NF }' <<<"$OUT" | sort | tr '\n' ' ')" "app lib " \
		"v$v: registry lists the repositories"
	run_cmd nfs_ls "$v" /regfs
	expect_eq "$(awk '{ print $NF }' <<<"$OUT" | sort | tr '\n' ' ')" "incoming registry " \
		"v$v: the export's root shows the two trees"

	expect_nfs_cat "$v" /regfs/registry/app/v1 "$SRC/big" "v$v: nfs-cat of an 8 MiB tag is byte-exact"
	expect_nfs_cat "$v" /regfs/registry/app/v2 "$SRC/small" "v$v: nfs-cat of a 1 KiB tag is byte-exact"
	expect_nfs_cat "$v" /regfs/registry/lib/1.0 "$SRC/lib" "v$v: nfs-cat of lib/1.0 is byte-exact"
	expect_nfs_cat "$v" /plain/big "$SRC/big" "v$v: the plain export gives the same bytes"
	expect_fail "v$v: nfs-cat of a missing tag fails" -- nfs_cat "$v" /regfs/registry/app/v9

	# 8 readers at once.
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		nfs_cat "$v" /regfs/registry/app/v1 >"$TEST_TMP/r$v.$i" 2>"$TEST_TMP/r$v.$i.err" &
		pids+=($!)
	done
	failed=0
	for p in "${pids[@]}"; do
		wait "$p" || failed=$((failed + 1))
	done
	expect_eq "$failed" 0 "v$v: 8 concurrent nfs-cat succeed"
	((failed == 0)) || diag "$(cat "$TEST_TMP"/r"$v".*.err)"
	expect_eq "$(for i in 1 2 3 4 5 6 7 8; do sha "$TEST_TMP/r$v.$i"; done | sort -u)" "$big_sha" \
		"v$v: the 8 readers got the same bytes, the tag's"
	rm -f "$TEST_TMP"/r"$v".*
done

# --- writes into registry/ are refused, by regfs ----------------------------------

# A small file: libnfs 4.0's own NFSv4 writes of 4 KiB or more fail before
# the server is asked.
for v in 3 4; do
	expect_fail "v$v: nfs-cp of a new name into registry/app fails" -- \
		nfs_cp "$v" "$SRC/note" /regfs/registry/app/new$v
	expect_fail "v$v: nfs-cp over the tag registry/app/v2 fails" -- \
		nfs_cp "$v" "$SRC/note" /regfs/registry/app/v2
	expect_fail "v$v: nfs-cp into a new repository under registry/ fails" -- \
		nfs_cp "$v" "$SRC/note" /regfs/registry/newrepo$v
done
expect_eq "$(ls "$MNT/registry/app" | tr '\n' ' ')" "v1 v2 " "registry/app still holds v1 v2 only"
expect_eq "$(ls "$MNT/registry" | tr '\n' ' ')" "app lib " "registry/ still holds app and lib only"
check "registry/app/v2 is unchanged" cmp -s "$MNT/registry/app/v2" "$SRC/small"
expect_eq "$(sha "$MNT/registry/app/v1")" "$big_sha" "registry/app/v1 is unchanged"
expect_fail "v3: nfs-cp into the read-only plain export fails" -- nfs_cp 3 "$SRC/note" /plain/new
check "and wrote nothing there" test ! -e "$SRC/new"

# --- the handle client --------------------------------------------------------------

for v in 3 4; do
	s=NFS${v}_OK
	run_cmd nfs_handle "$v" /regfs registry/app/v1 handle getattr read
	expect_eq "$RC" 0 "v$v: nfs-handle getattr and read succeed"
	expect_match "$OUT" "getattr $s type=reg size=8388608 " "v$v: getattr through the handle"
	expect_match "$OUT" "read $s bytes=8388608 sha256=$big_sha" "v$v: read through the handle is byte-exact"
	h=$(sed -n '1s/^handle //p' <<<"$OUT")
	run_cmd nfs_handle "$v" /regfs registry/app/v1 -H "$h" read
	expect_match "$OUT" "read $s bytes=8388608 sha256=$big_sha" "v$v: a handle given with -H reads the same"
	run_cmd nfs_handle "$v" /regfs registry/app/v9
	e=NFS3ERR_NOENT
	[[ $v == 4 ]] && e=NFS4ERR_NOENT
	expect_eq "$RC:$OUT" "2:lookup $e" "v$v: nfs-handle of a missing tag says $e"

	nfs_holder_start "h$v" "$v" /regfs registry/app/v2
	expect_match "$(nfs_holder_handle "h$v")" '^[0-9a-f]{16,}$' "v$v: the holder printed its handle"
	expect_match "$(nfs_holder "h$v" getattr)" "^getattr $s type=reg size=1024 " "v$v: the holder's getattr"
	expect_match "$(nfs_holder "h$v" read)" "^read $s bytes=1024 sha256=$(sha "$SRC/small")$" \
		"v$v: the holder's read"
	expect_eq "$(nfs_holder "h$v" reconnect)" "reconnect OK" "v$v: the holder reconnects"
	expect_match "$(nfs_holder "h$v" read)" "^read $s bytes=1024 " "v$v: and reads again"
	nfs_holder_stop "h$v"
done

nfs_teardown
regfs_umount "$MNT"
done_testing
