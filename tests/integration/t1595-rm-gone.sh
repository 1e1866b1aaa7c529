#!/bin/bash
# t1595-rm-gone: a tag regctl rm --force removed is gone from a mount at
# once (issue 15): opened by a name the kernel still holds, it is ENOENT,
# never its old content, and never EIO after gc took its blob; stat is
# ENOENT within a moment (the daemon looks when the catalog changes, not
# once a second). A reader that had it open reads on. A name published
# again after its removal reads the new content.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2317 # ls as users use it; helpers called through expect_* and check
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

R() { "$REGCTL" --store "$STORE" "$@"; }
# gone_soon PATH: stat of PATH fails within half a second (25 x 20 ms).
gone_soon() {
	local n=0
	while stat "$1" >/dev/null 2>&1; do
		n=$((n + 1))
		((n < 25)) || return 1
		sleep 0.02
	done
}
for i in 1 2 3 4 5 6; do
	mkrand "$SRC/f$i" 8K
done

for mode in passthrough no_passthrough; do
	opts=()
	[[ $mode == no_passthrough ]] && opts=(-o no_passthrough)
	rm -rf "$STORE"
	mkdir -p "$STORE"
	for i in 1 2 3 4 5 6; do
		R publish "$SRC/f$i" "app:v$i" >/dev/null
	done
	regfs_mount "$STORE" "$MNT" "${opts[@]}"
	T=$MNT/registry/app
	# The kernel learns every name and keeps it (sealed tags: a year).
	for i in 1 2 3 4 5 6; do
		cat "$T/v$i" >/dev/null
	done

	expect_ok R rm --force app:v1
	expect_errno ENOENT open "$T/v1" r
	check "$mode: cat of a removed tag fails at once" _lib_not cat "$T/v1" >/dev/null 2>&1

	expect_ok R rm --force app:v2
	expect_ok R gc --force
	expect_errno ENOENT open "$T/v2" r
	check "$mode: after gc took its blob: ENOENT, not EIO" _lib_not grep -aq "cannot open blob" "$REGFS_LOG"

	exec 3<"$T/v3"
	expect_ok R rm --force app:v3
	expect_eq "$(sha256sum <&3 | cut -d' ' -f1)" "$(sha "$SRC/f3")" "$mode: a reader that had it open reads on"
	exec 3<&-
	t0=$(now_ns)
	check "$mode: stat of a removed tag is ENOENT within 0.5 s" gone_soon "$T/v3"
	diag "$mode: gone for stat after $((($(now_ns) - t0) / 1000000)) ms"

	expect_ok R rm --force app:v4
	expect_ok R publish "$SRC/f5" app:v4
	expect_eq "$(sha256sum <"$T/v4" | cut -d' ' -f1)" "$(sha "$SRC/f5")" \
		"$mode: a name published again reads the new content"
	expect_eq "$(sha256sum <"$T/v6" | cut -d' ' -f1)" "$(sha "$SRC/f6")" "$mode: other tags read on"
	expect_eq "$(ls "$T" | tr '\n' ' ')" "v4 v5 v6 " "$mode: the folder lists what is left"
	regfs_umount "$MNT"
done

done_testing
