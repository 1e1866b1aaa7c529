#!/bin/bash
# t0550-pull-refresh: a resolved upstream tag is pinned. When it moves
# upstream, the mount keeps the old digest (tag_ttl never, the default)
# until `regctl refresh REPO:TAG`; with tag_ttl = 1s it sees the new digest
# after a second. The new digest is a new inode, and a file held open keeps
# reading the old content intact; a tag that did not move keeps its inode.
# skopeo confirms what the upstream names.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012,SC2016 # ls as users use it; literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

for f in x1 x2 x3 y1 y2; do mkrand "$SRC/$f.bin" 256K; done
d() { printf 'sha256:%s\n' "$(sha "$SRC/$1.bin")"; }
# layer_upstream REPO TAG: the layer digest skopeo sees for the tag.
layer_upstream() {
	skopeo_manifest "$U" "$1" "$2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])'
}
# reads_as FILE SRC: FILE has the content of $SRC/SRC.bin.
reads_as() { cmp -s "$SRC/$2.bin" "$1"; }

registry_start up
U=$REGISTRY_UP_URL
oci_push_file "$U" app v1 "$SRC/x1.bin" >/dev/null
oci_push_file "$U" app stable "$SRC/y1.bin" >/dev/null

# --- tag_ttl never (the default), and regctl refresh -----------------------------

regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o upstream="$U"
M=$TEST_TMP/m1/registry
check "app:v1 reads as pushed" reads_as "$M/app/v1" x1
ino1=$(stat -c %i "$M/app/v1")
oci_push_file "$U" app v1 "$SRC/x2.bin" >/dev/null
expect_eq "$(layer_upstream app v1)" "$(d x2)" "(skopeo: the tag moved upstream)"
sleep 2 # (time passes; with tag_ttl never, nothing changes)
check "tag_ttl never: after the tag moved, the mount still reads the pinned content" reads_as "$M/app/v1" x1
expect_eq "$(xattr "$M/app/v1" user.regfs.digest 2>&1)" "$(d x1)" "and names the pinned digest"
expect_eq "$(stat -c %i "$M/app/v1")" "$ino1" "with the same inode"

# The store keeps the URL of -o upstream=: regctl needs no --upstream.
expect_ok "regctl refresh without --upstream reaches the mount's upstream" -- \
	"$REGCTL" --store "$TEST_TMP/s1" refresh app:stable
expect_fail "(and asks it: a tag it does not have fails)" -- \
	"$REGCTL" --store "$TEST_TMP/s1" refresh app:nope
expect_match "$OUT" "$U" "(naming it)"

exec 3<"$M/app/v1"
head -c 4096 <&3 >"$TEST_TMP/held.part"
expect_ok "regctl refresh app:v1 while mounted" -- \
	"$REGCTL" --store "$TEST_TMP/s1" refresh --upstream "$U" app:v1
diag "regctl refresh: $OUT"
check "after regctl refresh the mount reads the new content" wait_until 5 reads_as "$M/app/v1" x2
expect_eq "$(xattr "$M/app/v1" user.regfs.digest 2>&1)" "$(d x2)" "user.regfs.digest is the new layer"
expect_eq "$(xattr "$M/app/v1" user.regfs.manifest 2>&1)" "$(skopeo_manifest_digest "$U" app v1)" \
	"user.regfs.manifest is the manifest skopeo sees"
expect_ne "$(stat -c %i "$M/app/v1")" "$ino1" "the new digest is a new inode"
cat <&3 >>"$TEST_TMP/held.part"
exec 3<&-
expect_eq "$(sha "$TEST_TMP/held.part")" "$(sha "$SRC/x1.bin")" "the file held open read the old content, intact"
expect_ok "regctl refresh of a tag that did not move" -- \
	"$REGCTL" --store "$TEST_TMP/s1" refresh --upstream "$U" app:stable
expect_fail "regctl refresh of a tag nobody has fails" -- \
	"$REGCTL" --store "$TEST_TMP/s1" refresh --upstream "$U" app:nope
regfs_umount "$TEST_TMP/m1"
expect_ok "regctl ls" -- "$REGCTL" --store "$TEST_TMP/s1" ls
x2=$(d x2)
expect_match "$OUT" "v1 +${x2:0:19}" "regctl ls shows the refreshed digest"
expect_ok "regctl prefetch without --upstream, unmounted: the kept upstream" -- \
	"$REGCTL" --store "$TEST_TMP/s1" prefetch 'app:*'

# A store never mounted with -o upstream= does not know the URL of the tags
# regctl pinned from --upstream: regctl says what to give.
expect_ok "(regctl prefetch --upstream pins a tag in a fresh store)" -- \
	"$REGCTL" --store "$TEST_TMP/s5" prefetch --upstream "$U" app:stable
expect_fail "regctl refresh of it without --upstream fails" -- \
	"$REGCTL" --store "$TEST_TMP/s5" refresh app:stable
expect_match "$OUT" "came from the upstream of -o upstream=URL: name it again with --upstream URL" \
	"and says to give --upstream URL"

# --- tag_ttl = 1s ---------------------------------------------------------------------

printf '[upstream up]\nurl = %s\nplain_http = true\ncredentials = none\ntag_ttl = 1s\nlist_ttl = 1s\n' \
	"$U" >"$TEST_TMP/ttl.conf"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o config="$TEST_TMP/ttl.conf"
M=$TEST_TMP/m2/registry
check "tag_ttl 1s: app:v1 reads as upstream now" reads_as "$M/app/v1" x2
check "app:stable reads" reads_as "$M/app/stable" y1
ino=$(stat -c %i "$M/app/v1")
ino_stable=$(stat -c %i "$M/app/stable")
exec 3<"$M/app/v1"
head -c 4096 <&3 >"$TEST_TMP/held2.part"
oci_push_file "$U" app v1 "$SRC/x3.bin" >/dev/null
expect_eq "$(layer_upstream app v1)" "$(d x3)" "(skopeo: the tag moved upstream again)"
check "after tag_ttl, a reader sees the new content" wait_until 6 reads_as "$M/app/v1" x3
expect_eq "$(xattr "$M/app/v1" user.regfs.digest 2>&1)" "$(d x3)" "and the new digest"
expect_ne "$(stat -c %i "$M/app/v1")" "$ino" "as a new inode"
cat <&3 >>"$TEST_TMP/held2.part"
exec 3<&-
expect_eq "$(sha "$TEST_TMP/held2.part")" "$(sha "$SRC/x2.bin")" "the file held open read the old content, intact"
check "app:stable still reads" reads_as "$M/app/stable" y1
expect_eq "$(stat -c %i "$M/app/stable")" "$ino_stable" "a tag that did not move keeps its inode"
regfs_umount "$TEST_TMP/m2"
# regctl refresh on the unmounted store, with the daemon's --config (the
# tags' origin is its section 'up').
oci_push_file "$U" app stable "$SRC/y2.bin" >/dev/null
expect_ok "regctl refresh --config, unmounted" -- \
	"$REGCTL" --store "$TEST_TMP/s2" refresh --config "$TEST_TMP/ttl.conf" app:stable
expect_match "$OUT" "moved" "it says the tag moved"
expect_ok "regctl ls" -- "$REGCTL" --store "$TEST_TMP/s2" ls
y2=$(d y2)
expect_match "$OUT" "stable +${y2:0:19}" "regctl ls shows the refreshed digest"
expect_fail "regctl refresh with an upstream that does not serve the tag's origin fails" -- \
	"$REGCTL" --store "$TEST_TMP/s2" refresh --upstream "$U" app:stable
expect_match "$OUT" "'up'" "and names the origin"
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o config="$TEST_TMP/ttl.conf"
check "the remounted store reads the refreshed content" reads_as "$M/app/stable" y2
regfs_umount "$TEST_TMP/m2"
expect_ok "regctl fsck is clean" -- "$REGCTL" --store "$TEST_TMP/s2" fsck

# --- the upstream's tag list: kept for list_ttl ---------------------------------------

# lists: the tags/list requests for the repository lst in the registry's log.
lists() { registry_requests up GET '/v2/lst/tags/list'; }
# tags DIR: what ls shows in DIR, on one line.
tags() { ls "$1" 2>&1 | tr '\n' ' '; }
oci_push_file "$U" lst a "$SRC/x1.bin" >/dev/null
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o upstream="$U"
M=$TEST_TMP/m3/registry
expect_eq "$(lists)" 0 "(no tags/list of lst yet)"
expect_eq "$(tags "$M/lst")" "a " "list_ttl 60s (the default): ls lists the upstream tag"
check "it asked the upstream for the tag list" wait_until 5 'test "$(lists)" -ge 1'
oci_push_file "$U" lst b "$SRC/x2.bin" >/dev/null
expect_eq "$(tags "$M/lst")" "a " "a second ls within list_ttl lists the kept list (not b, pushed since)"
regfs_umount "$TEST_TMP/m3"
# (After the unmount, no request of the daemon's can still be unlogged.)
expect_eq "$(lists)" 1 "two ls within list_ttl: one tags/list request upstream"

printf '[upstream up]\nurl = %s\nplain_http = true\ncredentials = none\nlist_ttl = 1s\n' \
	"$U" >"$TEST_TMP/list.conf"
regfs_mount "$TEST_TMP/s4" "$TEST_TMP/m4" -o config="$TEST_TMP/list.conf"
M=$TEST_TMP/m4/registry
expect_eq "$(tags "$M/lst")" "a b " "list_ttl 1s: a new mount lists both tags"
check "with one more tags/list request" wait_until 5 'test "$(lists)" -ge 2'
oci_push_file "$U" lst c "$SRC/y1.bin" >/dev/null
sleep 1.2 # (past list_ttl)
expect_eq "$(tags "$M/lst")" "a b c " "after list_ttl, ls lists the tag pushed since"
check "it asked the upstream again" wait_until 5 'test "$(lists)" -ge 3'
regfs_umount "$TEST_TMP/m4"
expect_eq "$(lists)" 3 "one tags/list request per ls, list_ttl apart"
registry_stop up
done_testing
