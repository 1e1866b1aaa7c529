#!/bin/bash
# t0540-pull-cache: -o cache_max bounds the blobs fetched from upstreams.
# Past it they are evicted least recently used first; a blob published here
# and the blob of an open file never are; an evicted tag stays listed and is
# fetched again (one more upstream blob GET) on its next read.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012,SC2016 # ls as users use it; literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

# Four upstream tags of 300 KiB; the cache holds two (700 KiB).
declare -A dig=()
for t in a b c d; do
	mkrand "$SRC/$t.bin" 300K
	dig[$t]=sha256:$(sha "$SRC/$t.bin")
done
mkrand "$SRC/local.bin" 400K
local_d=sha256:$(sha "$SRC/local.bin")

registry_start up
U=$REGISTRY_UP_URL
for t in a b c d; do oci_push_file "$U" app "$t" "$SRC/$t.bin" >/dev/null; done

regfs_mount "$STORE" "$MNT" -o upstream="$U" -o cache_max=700K
R=$MNT/registry

# in_store TAG: its blob is in the store; gets TAG: upstream blob GETs.
in_store() {
	local d=${dig[$1]:-$1}
	test -e "$STORE/blobs/sha256/${d#sha256:}"
}
not_in_store() { ! in_store "$1"; }
gets() { registry_blob_gets up "${dig[$1]}"; }
# present: which of a b c d are in the store, as "a b".
present() {
	local t out=()
	for t in a b c d; do in_store "$t" && out+=("$t"); done
	printf '%s\n' "${out[*]}"
}
# present_is LIST / present_at_most N: for wait_until, which runs them again
# and again.
present_is() { test "$(present)" = "$1"; }
present_at_most() { test "$(present | wc -w)" -le "$1"; }
# reads TAG: cat gives the right content.
reads() { cmp -s "$SRC/$1.bin" "$R/app/$1"; }

expect_ok "cp publishes a local tag (400 KiB)" -- cp "$SRC/local.bin" "$MNT/incoming/app/local"
check "a and b read" reads a
check "b reads" reads b
# A reader has the bytes once they are verified; storing them ends a moment
# later.
check "two fetched blobs fit under cache_max" wait_until 5 present_is "a b"

check "c reads" reads c
check "past cache_max, the least recently used blob (a) is evicted" wait_until 5 not_in_store a
expect_eq "$(present)" "b c" "b and c stay"
check "the local blob stays" in_store "$local_d"
expect_match "$(ls "$R/app" | tr '\n' ' ')" '(^| )a( |$)' "the evicted tag stays listed"
expect_eq "$(stat -c %s "$R/app/a" 2>&1)" 307200 "with its size"
expect_eq "$(gets a)" 1 "(a was fetched once so far)"

# Hold b open: it becomes the most recently used.
exec 3<"$R/app/b"
head -c 1000 <&3 >"$TEST_TMP/b.part"
check "an evicted tag is fetched again on its next read" reads a
expect_eq "$(registry_await 2 gets a)" 2 "one more upstream blob GET for it"
check "then the least recently used one (c) is evicted" wait_until 5 not_in_store c
expect_eq "$(present)" "a b" "a and the open b stay"

# Now b is the least recently used, but open.
check "d reads" reads d
check "the next least recently used (a) is evicted" wait_until 5 not_in_store a
expect_eq "$(present)" "b d" "the blob of the open file (b) is not evicted, though least recently used"
cat <&3 >>"$TEST_TMP/b.part"
exec 3<&-
expect_eq "$(sha "$TEST_TMP/b.part")" "${dig[b]#sha256:}" "the open file reads whole to its end"
expect_eq "$(gets b)" 1 "b was fetched once"

check "the local tag was never evicted" in_store "$local_d"
expect_eq "$(sha "$R/app/local" 2>&1)" "${local_d#sha256:}" "and reads"
expect_eq "$(xattr "$R/app/c" user.regfs.digest 2>&1)" "${dig[c]}" "an evicted tag keeps its xattrs"
check "c reads again" reads c
expect_eq "$(registry_await 2 gets c)" 2 "with one more GET"
regfs_umount "$MNT"
expect_ok "regctl fsck: evicted blobs are no damage" -- "$REGCTL" --store "$STORE" fsck

# After a remount, the limit holds and the local blob is still kept.
regfs_mount "$STORE" "$MNT" -o upstream="$U" -o cache_max=300K
check "a remount with a smaller cache_max: a read" reads a
check "the store holds at most one fetched blob" wait_until 5 present_at_most 1
check "the local blob stays" in_store "$local_d"
regfs_umount "$MNT"
registry_stop up
done_testing
