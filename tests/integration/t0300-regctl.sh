#!/bin/bash
# t0300-regctl: regctl ls, inspect and fsck on a store published through the
# mount, mounted and not; their JSON; fsck finding a corrupt blob, a missing
# blob (exit 1) and an orphan (exit 0); usage errors (exit 2).
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd python3
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

rc() { "$REGCTL" --store "$STORE" "$@"; }
# json_get EXPR: evaluate a Python expression on the JSON read from stdin
# (bound to d); fails on invalid JSON.
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

mkrand "$SRC/a" 1M
mkrand "$SRC/b" 200K
a_sha=$(sha "$SRC/a")
b_sha=$(sha "$SRC/b")
regfs_mount "$STORE" "$MNT"
I=$MNT/incoming
cp "$SRC/a" "$I/app/v1"
cp "$SRC/a" "$I/app/latest"
cp "$SRC/b" "$I/app/v2"
mkdir -p "$I/org/tools"
cp "$SRC/b" "$I/org/tools/1.0"

# --- read while mounted ---

expect_status 0 rc ls
expect_match "$OUT" '^REPOSITORY +TAG +DIGEST +SIZE +CREATED' "ls prints a header like docker images"
expect_eq "$(printf '%s\n' "$OUT" | tail -n +2 | awk '{ print $1 ":" $2 }' | tr '\n' ' ')" \
	"app:latest app:v1 app:v2 org/tools:1.0 " "ls lists every tag, sorted by repository and tag"
expect_match "$OUT" "app +v1 +sha256:${a_sha:0:12}" "ls shows the short digest"
expect_status 0 rc ls app
expect_eq "$(printf '%s\n' "$OUT" | tail -n +2 | awk '{ print $2 }' | tr '\n' ' ')" "latest v1 v2 " "ls REPO lists that repository's tags"
expect_status 0 rc ls --json
ls_json=$OUT
expect_eq "$(json_get 'len(d)' <<<"$ls_json")" "4" "ls --json is a JSON array of the 4 tags"
expect_eq "$(json_get '[t["repository"] + ":" + t["tag"] for t in d]' <<<"$ls_json")" \
	"['app:latest', 'app:v1', 'app:v2', 'org/tools:1.0']" "ls --json: repositories and tags"
expect_eq "$(json_get '[t["digest"] for t in d if t["tag"] == "v1"][0]' <<<"$ls_json")" "sha256:$a_sha" "ls --json: full digest"
expect_eq "$(json_get '[t["size"] for t in d if t["tag"] == "v2"][0]' <<<"$ls_json")" "204800" "ls --json: size in bytes"
expect_match "$(json_get 'd[0]["created"]' <<<"$ls_json")" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "ls --json: created is RFC 3339 UTC"
expect_status 0 rc ls org/tools --json
expect_eq "$(json_get 'len(d)' <<<"$OUT")" "1" "ls REPO --json: one tag"
expect_status 0 rc ls nosuch --json
expect_eq "$(json_get 'len(d)' <<<"$OUT")" "0" "ls of a repository with no tags: an empty array"

expect_status 0 rc inspect app:v1
expect_match "$OUT" "digest: +sha256:$a_sha" "inspect shows the digest"
expect_match "$OUT" "size: +1048576" "inspect shows the size"
expect_match "$OUT" "blob: +$STORE/blobs/sha256/$a_sha" "inspect shows the blob's path"
expect_status 0 rc inspect org/tools:1.0 --json
insp=$OUT
expect_eq "$(json_get 'd["repository"] + ":" + d["tag"]' <<<"$insp")" "org/tools:1.0" "inspect --json: the reference"
expect_eq "$(json_get 'd["digest"]' <<<"$insp")" "sha256:$b_sha" "inspect --json: the digest"
expect_eq "$(json_get 'd["size"]' <<<"$insp")" "204800" "inspect --json: the size"
blob_path=$(json_get 'd["blob"]' <<<"$insp")
expect_ok "inspect --json: the blob path holds the content" -- cmp "$blob_path" "$SRC/b"
expect_eq "$(json_get 'd["created"]' <<<"$insp")" \
	"$(getfattr --absolute-names --only-values -n user.regfs.created "$MNT/registry/org/tools/1.0" 2>/dev/null)" \
	"inspect's created equals the mount's user.regfs.created"
expect_status 1 rc inspect app:nosuch
expect_eq "$OUT" "regctl: no such tag 'app:nosuch'" "inspect of a missing tag: one lowercase line, subject quoted"

expect_status 0 rc fsck
expect_match "$OUT" 'checked 2 blobs' "fsck checks the 2 distinct blobs"
expect_match "$OUT" '0 missing, 0 corrupt' "fsck: a clean store"
expect_status 0 rc fsck --json
expect_eq "$(json_get 'd["damaged"], d["blobs_checked"], d["missing"], d["corrupt"], d["orphans"], len(d["problems"])' <<<"$OUT")" \
	"(False, 2, 0, 0, 0, 0)" "fsck --json: clean"

regfs_umount "$MNT"

# --- unmounted ---

expect_status 0 rc ls
expect_eq "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" "4" "ls works on an unmounted store"
expect_status 0 "$REGCTL" --store "$STORE" inspect app:latest
REGFS_STORE=$STORE expect_status 0 "$REGCTL" ls
expect_eq "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" "4" "\$REGFS_STORE names the default store"
expect_status 0 "$REGCTL" version
expect_match "$OUT" '[0-9]+\.[0-9]+\.[0-9]+' "regctl version prints a version"
for cmd in ls inspect fsck version help; do
	expect_status 0 "$REGCTL" "$cmd" --help
done
expect_status 0 "$REGCTL" help
expect_status 0 "$REGCTL" --help

# --- usage errors: exit 2 ---

expect_status 2 "$REGCTL"
expect_status 2 "$REGCTL" frobnicate
expect_match "$OUT" "^regctl: " "an unknown command is reported by regctl"
expect_status 2 rc ls --no-such-option
expect_status 2 rc inspect
expect_status 2 rc inspect app:v1 extra
expect_status 2 rc fsck extra
run_cmd "$REGCTL" --store "$TEST_TMP/not-a-store" ls
check "a store that does not exist is an error" test "$RC" -ne 0
check "... and regctl does not create it" test ! -e "$TEST_TMP/not-a-store"

# --- fsck finds damage ---

# An orphan: a blob no tag names. Not damage: exit 0, reported.
mkrand "$SRC/orphan" 10K
o_sha=$(sha "$SRC/orphan")
cp "$SRC/orphan" "$STORE/blobs/sha256/$o_sha"
expect_status 0 rc fsck
expect_match "$OUT" "orphan blob sha256:$o_sha" "fsck reports the orphan"
expect_match "$OUT" '1 orphans' "fsck counts the orphan"
expect_status 0 rc fsck --json
expect_eq "$(json_get '[p["problem"] for p in d["problems"]], d["orphans"], d["damaged"]' <<<"$OUT")" \
	"(['orphan'], 1, False)" "fsck --json: one orphan, no damage"
rm -f "$STORE/blobs/sha256/$o_sha"

# A corrupt blob: one byte changed.
blob=$STORE/blobs/sha256/$a_sha
cp "$blob" "$TEST_TMP/blob.saved"
chmod u+w "$blob"
flip_byte "$blob" 1000
chmod 0444 "$blob"
expect_status 1 rc fsck
expect_match "$OUT" "corrupt blob sha256:$a_sha \\(content hashes to sha256:[0-9a-f]{64}\\)" "fsck reports the corrupt blob"
expect_status 1 rc fsck --json
expect_eq "$(json_get '[(p["problem"], p["digest"]) for p in d["problems"]], d["damaged"]' <<<"$OUT")" \
	"([('corrupt', 'sha256:$a_sha')], True)" "fsck --json: the corrupt blob"
expect_eq "$(json_get '[p["actual"] for p in d["problems"]][0]' <<<"$OUT")" "sha256:$(sha "$blob")" \
	"fsck --json: the corrupt blob's actual digest"
cp "$TEST_TMP/blob.saved" "$blob.tmp" && chmod 0444 "$blob.tmp" && mv -f "$blob.tmp" "$blob"
expect_status 0 rc fsck

# A missing blob.
mv "$STORE/blobs/sha256/$b_sha" "$TEST_TMP/b.saved"
expect_status 1 rc fsck
expect_match "$OUT" "missing blob sha256:$b_sha" "fsck reports the missing blob"
expect_status 1 rc fsck --json
expect_eq "$(json_get '[(p["problem"], p["digest"]) for p in d["problems"]], d["missing"]' <<<"$OUT")" \
	"([('missing', 'sha256:$b_sha')], 1)" "fsck --json: the missing blob"
# A stray file that is not named like a blob.
echo junk >"$STORE/blobs/sha256/not-a-digest"
expect_status 1 rc fsck --json
expect_match "$(json_get 'sorted(p["problem"] for p in d["problems"])' <<<"$OUT")" "'stray'" "fsck --json reports the stray file"
rm -f "$STORE/blobs/sha256/not-a-digest"
mv "$TEST_TMP/b.saved" "$STORE/blobs/sha256/$b_sha"
expect_status 0 rc fsck

# fsck while mounted sees the same store.
regfs_mount "$STORE" "$MNT"
chmod u+w "$blob"
flip_byte "$blob" 5
expect_status 1 rc fsck
cp "$TEST_TMP/blob.saved" "$blob.tmp" && chmod 0444 "$blob.tmp" && mv -f "$blob.tmp" "$blob"
expect_status 0 rc fsck
regfs_umount "$MNT"
done_testing
