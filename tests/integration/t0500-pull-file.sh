#!/bin/bash
# t0500-pull-file: a mount in front of a real Distribution registry serves
# what only the upstream has. A single-layer manifest is a file, a
# multi-layer image a folder of its layers (by title, else by digest) and a
# read-only manifest.json, an index is followed to linux/amd64. `ls` merges
# local, pinned and upstream tags; the xattrs name the digests skopeo (an
# independent client) sees upstream; a blob is fetched once. A file's mode
# and mtime come from its layer's io.regfs.file.* annotations, where they
# are well formed (a malformed one is ignored: 0644, and the tag still
# reads). Both the simple -o upstream= and a regfs.conf(5) with a prefix.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012,SC2016 # ls as users use it; literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

[[ $(uname -m) == x86_64 ]] || skip_all "the index case expects linux/amd64 (this is $(uname -m))"

mkrand "$SRC/app.bin" 100K
mkrand "$SRC/app2.bin" 50K
mkrand "$SRC/local.bin" 30K
printf 'a small text file\n' >"$SRC/notes.txt"
mkrand "$SRC/lib.so" 20K
mkrand "$SRC/big.bin" 300K

# json EXPR: a Python expression over the JSON document d read from stdin.
json() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# ls_names DIR: the names in DIR, one a line, sorted.
ls_names() { ls -1 -- "$1" | LC_ALL=C sort; }

registry_start up
U=$REGISTRY_UP_URL
app_d=$(oci_push_file "$U" app v1 "$SRC/app.bin")
app2_d=$(oci_push_file "$U" app v2 "$SRC/app2.bin")
img_m=$(oci_push_image "$U" img 1.0 --untitled "$SRC/notes.txt" "$SRC/lib.so" "$SRC/big.bin")
amd_d=$(oci_push_index "$U" multi latest)
# Files with a mode and mtime, as regctl push writes them, and as it does not.
printf '#!/bin/sh\necho exec-ok\n' >"$SRC/exec.sh"
oci_push_file "$U" files exec "$SRC/exec.sh" --annotation io.regfs.file.mode=0755 \
	--annotation io.regfs.file.mtime=2001-02-03T04:05:06.123456789Z >/dev/null
oci_push_file "$U" files octal "$SRC/exec.sh" --annotation io.regfs.file.mode=4750 \
	--annotation io.regfs.file.mtime=2001-02-03T05:05:06+01:00 >/dev/null
oci_push_file "$U" files junk "$SRC/exec.sh" --annotation io.regfs.file.mode=rwxr-xr-x \
	--annotation io.regfs.file.mtime=yesterday >/dev/null
oci_push_file "$U" files plain "$SRC/notes.txt" >/dev/null
app_m=$(skopeo_manifest_digest "$U" app v1)
expect_eq "$app_m" "$(oci_manifest_digest "$U" app v1)" "(skopeo and the registry agree on app:v1's manifest)"

regfs_mount "$STORE" "$MNT" -o upstream="$U"
R=$MNT/registry

# --- a single-file artifact ---------------------------------------------------

expect_eq "$(registry_blob_gets up "$app_d")" 0 "(no blob GET before the first read)"
expect_eq "$(stat -c %s "$R/app/v1" 2>&1)" 102400 "lookup of an upstream-only tag: a file of the layer's size"
expect_eq "$(stat -c %F "$R/app/v1" 2>&1)" "regular file" "a single-layer manifest is a regular file"
sleep 0.5 # (a GET would be logged when it ends: give one time to show)
expect_eq "$(registry_blob_gets up "$app_d")" 0 "the size comes from the descriptor: lookup and stat GET no blob"
expect_eq "$(sha "$R/app/v1" 2>&1)" "${app_d#sha256:}" "cat of the upstream tag gives the layer's content"
check "the upstream answered one blob GET" wait_until 5 'test "$(registry_blob_gets up "$app_d")" -eq 1'
expect_eq "$(sha "$R/app/v1" 2>&1)" "${app_d#sha256:}" "a second read gives the same content"
expect_ok "cmp against the source" -- cmp "$SRC/app.bin" "$R/app/v1"
expect_eq "$(registry_blob_gets up "$app_d")" 1 "later reads are local: still one blob GET"

# The xattrs name what skopeo sees upstream.
expect_eq "$(xattr "$R/app/v1" user.regfs.digest 2>&1)" "$app_d" "user.regfs.digest is the layer digest"
expect_eq "$(xattr "$R/app/v1" user.regfs.origin 2>&1)" default "user.regfs.origin is 'default' for -o upstream="
expect_eq "$(xattr "$R/app/v1" user.regfs.manifest 2>&1)" "$app_m" \
	"user.regfs.manifest is the manifest digest skopeo sees"
expect_eq "$(skopeo_manifest "$U" app v1 | json 'd["layers"][0]["digest"]')" \
	"$(xattr "$R/app/v1" user.regfs.digest 2>&1)" "skopeo's layer digest is the one the mount shows"

# --- a file's mode and mtime, from its layer's annotations ---------------------

# attrs_of REPO:TAG: "MODE MTIME" as regctl inspect --json says.
attrs_of() { "$REGCTL" --store "$STORE" inspect --json "$1" | json '" ".join((d["mode"], d["mtime"]))'; }
for t in exec octal junk; do
	expect_eq "$(sha "$R/files/$t" 2>&1)" "$(sha "$SRC/exec.sh")" "files/$t, with file annotations, reads"
done
expect_eq "$(sha "$R/files/plain" 2>&1)" "$(sha "$SRC/notes.txt")" "files/plain, without, reads"
expect_eq "$(attrs_of files:exec)" "0755 2001-02-03T04:05:06.123456789Z" \
	"io.regfs.file.mode 0755 and .mtime: the pinned tag has them"
expect_eq "$(attrs_of files:octal)" "0755 2001-02-03T04:05:06.000000000Z" \
	"an octal mode with set-id bits: 0755; an mtime with an offset: in UTC"
expect_match "$(attrs_of files:junk)" "^0644 " "a malformed mode is ignored: 0644"
created=$("$REGCTL" --store "$STORE" inspect --json files:junk | json 'd["created"]')
expect_match "$(attrs_of files:junk)" " ${created%Z}\.[0-9]{9}Z$" "a malformed mtime is ignored: the time of the pin"
expect_match "$(attrs_of files:plain)" "^0644 " "no annotations: 0644"
# The mount shows a tag's mode and mtime (these need that part of regfs).
expect_eq "$(stat -c '%a %.9Y' "$R/files/exec" 2>&1)" "755 981173106.123456789" \
	"under registry/: 0755, and the mtime to the nanosecond"
expect_eq "$(stat -c '%a %Y' "$R/files/octal" 2>&1)" "755 981173106" "0755 and the mtime, from an octal mode and an offset"
expect_eq "$(stat -c %a "$R/files/junk" 2>&1)" 644 "0644 where the mode is malformed"
expect_eq "$(stat -c %a "$R/files/plain" 2>&1)" 644 "and where there is none"
expect_ok "the executable runs from the mount" -- "$R/files/exec"
expect_eq "$OUT" exec-ok "(it is the script)"

# --- ls merges local, pinned and upstream tags -----------------------------------

expect_ok "cp publishes a local tag next to upstream ones" -- cp "$SRC/local.bin" "$MNT/incoming/app/local1"
expect_eq "$(ls_names "$R/app" 2>&1 | tr '\n' ' ')" "local1 v1 v2 " \
	"ls lists the local tag, the pinned one and the upstream-only one"
check "the local tag has no origin" _lib_not xattr "$R/app/local1" user.regfs.origin
expect_eq "$(sha "$R/app/local1" 2>&1)" "$(sha "$SRC/local.bin")" "the local tag reads back"
expect_eq "$(registry_blob_gets up "$app2_d")" 0 "listing fetched no blob"
expect_eq "$(sha "$R/app/v2" 2>&1)" "${app2_d#sha256:}" "the tag seen only in the listing reads"
check "ls of the registry root shows the upstream repository once used" \
	bash -c 'ls -1 "$1" | grep -qx app' _ "$R"

# Unknown names stay unknown.
expect_errno ENOENT open "$R/app/nope" r
# (A name under an upstream-served path may be a folder above repositories,
# so only "it is no file" is asked of an unknown repository.)
check "an unknown repository holds no file" test ! -f "$R/no-such-repo/v1"
expect_fail "cat of a tag of an unknown repository fails" -- cat "$R/no-such-repo/v1"
check "stat of an unknown tag fails" _lib_not stat "$R/app/nope"

# --- a multi-layer image: a folder ------------------------------------------------

expect_eq "$(stat -c %F "$R/img/1.0" 2>&1)" directory "a multi-layer image is a folder"
big_d=$(sha "$SRC/big.bin")
expect_eq "$(ls_names "$R/img/1.0" 2>&1 | tr '\n' ' ')" "lib.so manifest.json notes.txt sha256:$big_d " \
	"it holds each layer under its title, the untitled one under its digest, and manifest.json"
expect_eq "$(cat "$R/img/1.0/notes.txt" 2>&1)" "a small text file" "a titled layer reads"
expect_eq "$(sha "$R/img/1.0/lib.so" 2>&1)" "$(sha "$SRC/lib.so")" "another titled layer reads"
expect_eq "$(sha "$R/img/1.0/sha256:$big_d" 2>&1)" "$big_d" "the untitled layer reads under its digest"
expect_eq "$(stat -c %s "$R/img/1.0/sha256:$big_d" 2>&1)" 307200 "with its size"
expect_eq "sha256:$(sha "$R/img/1.0/manifest.json" 2>&1)" "$img_m" \
	"manifest.json is the manifest, byte for byte (its sha256 is the manifest digest)"
expect_eq "$(skopeo_manifest_digest "$U" img 1.0)" "$img_m" "skopeo sees the same manifest digest"
expect_eq "$(json 'len(d["layers"])' <"$R/img/1.0/manifest.json" 2>&1)" 3 "manifest.json parses, 3 layers"
expect_errno 'EROFS|EACCES|EPERM' open "$R/img/1.0/manifest.json" w
expect_errno 'EROFS|EACCES|EPERM' unlink "$R/img/1.0/manifest.json"
expect_eq "$(xattr "$R/img/1.0/lib.so" user.regfs.digest 2>&1)" "sha256:$(sha "$SRC/lib.so")" \
	"a layer's user.regfs.digest"
expect_eq "$(xattr "$R/img/1.0" user.regfs.manifest 2>&1)" "$img_m" "the folder's user.regfs.manifest"
expect_eq "$(registry_blob_gets up "sha256:$big_d")" 1 "each layer fetched once"

# --- an index: followed to linux/amd64 ---------------------------------------------

expect_eq "$(stat -c %F "$R/multi/latest" 2>&1)" "regular file" "an index of single-layer images is a file"
expect_eq "$(sha "$R/multi/latest" 2>&1)" "${amd_d#sha256:}" "its content is the linux/amd64 layer"
expect_eq "$(xattr "$R/multi/latest" user.regfs.digest 2>&1)" "$amd_d" "user.regfs.digest is the amd64 layer"
expect_match "$(cat "$R/multi/latest")" '^linux/amd64 payload' "(the amd64 payload, not the arm64 one)"

# --- after a remount, everything pinned is local ------------------------------------

registry_await 1 registry_blob_gets up "$amd_d" >/dev/null # (the read above: logged)
gets_before=$(registry_requests up GET '/v2/.+/blobs/.+')
regfs_umount "$MNT"
regfs_mount "$STORE" "$MNT" -o upstream="$U"
expect_eq "$(sha "$R/app/v1" 2>&1)" "${app_d#sha256:}" "after a remount the pinned tag reads"
expect_eq "$(sha "$R/img/1.0/lib.so" 2>&1)" "$(sha "$SRC/lib.so")" "and the image layer"
expect_eq "$(registry_requests up GET '/v2/.+/blobs/.+')" "$gets_before" "without a blob GET"
expect_eq "$(xattr "$R/app/v1" user.regfs.origin 2>&1)" default "the pin and its origin persist"
expect_ok "regctl fsck finds the store clean" -- "$REGCTL" --store "$STORE" fsck
regfs_umount "$MNT"

# --- a regfs.conf with a prefix ------------------------------------------------------

cat >"$TEST_TMP/regfs.conf" <<EOF
# upstream under hub/
[upstream up]
url = $U
plain_http = true
prefix = hub/
credentials = none
timeout = 5s
EOF
regfs_mount "$TEST_TMP/store2" "$TEST_TMP/mnt2" -o config="$TEST_TMP/regfs.conf"
R2=$TEST_TMP/mnt2/registry
expect_eq "$(sha "$R2/hub/app/v1" 2>&1)" "${app_d#sha256:}" "prefix hub/: registry/hub/app is app upstream"
expect_eq "$(xattr "$R2/hub/app/v1" user.regfs.origin 2>&1)" up "user.regfs.origin names the upstream section"
expect_eq "$(ls_names "$R2/hub/app" 2>&1 | tr '\n' ' ')" "v1 v2 " "ls under the prefix lists the upstream tags"
expect_errno ENOENT open "$R2/app/v1" r
regfs_umount "$TEST_TMP/mnt2"

registry_stop up
done_testing
