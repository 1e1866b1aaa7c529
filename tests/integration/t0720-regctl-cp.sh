#!/bin/bash
# t0720-regctl-cp: regctl cp in every direction, on the real Distribution
# registry: promotion between two repositories of one registry (the
# digest kept, the blobs mounted, not uploaded), between two registries
# (the digest kept, a multi-layer image too, nothing left in the store),
# remote to local and local to local (the content and annotations kept);
# an existing remote tag is kept unless --force. regctl prefetch with a
# glob over an --upstream fetches the tags that match, and only those. An
# executable's mode and mtime survive every one of these copies.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
printed_digest() { awk '{ print $2 }' <<<"$1"; }
# access_count NAME ERE: access-log requests ("METHOD URI", query
# included) of registry NAME that match ERE.
access_count() {
	local v="REGISTRY_${1^^}_LOG"
	awk -v re="$2" '$6 ~ /^"[A-Z]+$/ { r = substr($6, 2) " " $7; if (r ~ re) n++ }
		END { print n + 0 }' "${!v}"
}
blobs() { count_files "$STORE/blobs/sha256"; }
# attrs_of STORE REPO:TAG: "('MODE', 'MTIME')" as regctl inspect --json says.
attrs_of() { "$REGCTL" --store "$1" inspect --json "$2" | json_get 'd["mode"], d["mtime"]'; }
# file_notes URL REPO TAG: the io.regfs.file.* annotations of the layer.
file_notes() {
	skopeo_manifest "$1" "$2" "$3" |
		json_get 'sorted((k, v) for k, v in d["layers"][0]["annotations"].items() if k.startswith("io.regfs.file."))'
}

mkrand "$SRC/app" 200K
mkrand "$SRC/app2" 20K
mkrand "$SRC/l1" 30K
mkrand "$SRC/l2" 40K
A=sha256:$(sha "$SRC/app")

# --- usage -------------------------------------------------------------------

for cmd in cp pull prefetch; do
	expect_status 0 R "$cmd" --help
	expect_match "$OUT" "^usage: regctl $cmd" "regctl $cmd --help prints its usage"
done
expect_status 2 R cp app:v1
expect_status 2 R cp a:1 b:2 c:3
expect_status 2 R cp --bogus a:1 b:2
expect_status 2 R cp 127.0.0.1:5000/app app:v1
expect_match "$OUT" "tag" "a remote source without a tag is a usage error"
expect_status 2 R pull 127.0.0.1:5000/app
expect_status 2 R prefetch
expect_match "$OUT" "no pattern given" "prefetch without a pattern"

registry_start up
registry_start other
U=$REGISTRY_UP_HOST
O=$REGISTRY_OTHER_HOST

# --- local to remote: staging ------------------------------------------------------

expect_ok R publish --annotation 'description=The App' "$SRC/app" app:v1
expect_ok "cp local to remote pushes" -- R cp --plain-http app:v1 "$U/staging/app:v1"
D=$(printed_digest "$OUT")
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" staging/app v1)" "$D" "skopeo sees the digest cp printed"

# --- promotion within one registry ---------------------------------------------------

patches=$(registry_requests up PATCH '/v2/prod/app/blobs/uploads/.*')
expect_ok "promote staging to prod" -- R cp --plain-http "$U/staging/app:v1" "$U/prod/app:v1"
expect_eq "$OUT" "$U/prod/app:v1 $D" "cp prints the destination and the digest"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" prod/app v1)" "$D" "the digest is kept (skopeo)"
expect_eq "$(skopeo_manifest "$REGISTRY_UP_URL" prod/app v1 | sha256sum)" \
	"$(skopeo_manifest "$REGISTRY_UP_URL" staging/app v1 | sha256sum)" "the manifest's bytes too"
expect_eq "$(access_count up "^POST /v2/prod/app/blobs/uploads/[?].*mount=sha256(:|%3A)${A#sha256:}")" 1 "the layer is mounted (POST ?mount=)"
expect_eq "$(access_count up "^POST /v2/prod/app/blobs/uploads/[?].*mount=sha256(:|%3A)${OCI_EMPTY_DIGEST#sha256:}")" 1 "so is the config"
expect_eq "$(registry_requests up PATCH '/v2/prod/app/blobs/uploads/.*')" "$patches" "nothing is uploaded (PATCH)"
expect_eq "$(access_count up "^PUT /v2/prod/app/blobs/uploads/")" 0 "nor closed with a PUT"
expect_eq "$(registry_blob_gets up "$A")" 0 "nor read from the source"
oci_get_blob "$REGISTRY_UP_URL" prod/app "$A" "$TEST_TMP/prod.out"
check "prod serves the bytes" cmp -s "$SRC/app" "$TEST_TMP/prod.out"

puts=$(registry_requests up PUT '/v2/prod/app/manifests/.*')
expect_ok "promoting again" -- R cp --plain-http "$U/staging/app:v1" "$U/prod/app:v1"
expect_eq "$(printed_digest "$OUT")" "$D" "gives the same digest"
expect_eq "$(registry_requests up PUT '/v2/prod/app/manifests/.*')" "$puts" "and puts nothing"

# Another digest already under the destination tag.
expect_ok R publish "$SRC/app2" app:v2
expect_ok R cp --plain-http app:v2 "$U/staging/app:v2"
D2=$(printed_digest "$OUT")
expect_status 1 R cp --plain-http "$U/staging/app:v2" "$U/prod/app:v1"
expect_match "$OUT" "not overwriting it without --force" "cp onto a remote tag naming another digest: refused"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" prod/app v1)" "$D" "prod/app:v1 is unchanged"
expect_ok "with --force" -- R cp --force --plain-http "$U/staging/app:v2" "$U/prod/app:v1"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_UP_URL" prod/app v1)" "$D2" "it is replaced"

# --- between two registries ------------------------------------------------------------

n=$(blobs)
expect_ok "cp between registries" -- R cp --plain-http "$U/staging/app:v1" "$O/prod/app:v1"
expect_eq "$(printed_digest "$OUT")" "$D" "prints the same digest"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_OTHER_URL" prod/app v1)" "$D" "the digest is kept (skopeo)"
oci_get_blob "$REGISTRY_OTHER_URL" prod/app "$A" "$TEST_TMP/other.out"
check "the other registry serves the bytes" cmp -s "$SRC/app" "$TEST_TMP/other.out"
expect_eq "$(blobs)" "$n" "the store is as it was"

# A multi-layer image, which regfs never made: its manifest as it is.
expect_ok "an image pushed by another client" -- oci_push_image "$REGISTRY_UP_URL" team/img v1 "$SRC/l1" "$SRC/l2"
I=$(skopeo_manifest_digest "$REGISTRY_UP_URL" team/img v1)
n=$(blobs)
expect_ok "cp of an image between registries" -- R cp --plain-http "$U/team/img:v1" "$O/team/img:v1"
expect_eq "$(printed_digest "$OUT")" "$I" "prints its digest"
expect_eq "$(skopeo_manifest_digest "$REGISTRY_OTHER_URL" team/img v1)" "$I" "the digest is kept (skopeo)"
expect_eq "$(registry_await 1 registry_blob_gets up "sha256:$(sha "$SRC/l1")")" 1 "each layer read once from the source"
expect_eq "$(blobs)" "$n" "blobs passed through are not kept in the store"
expect_ok "skopeo copies it from the other registry" -- skopeo copy --retry-times 0 --src-tls-verify=false \
	"docker://$O/team/img:v1" "dir:$TEST_TMP/img"
check "with its layers" cmp -s "$SRC/l2" "$TEST_TMP/img/$(sha "$SRC/l2")"

# --- remote to local, local to local -------------------------------------------------------

expect_ok "cp remote to local" -- R cp --plain-http "$O/prod/app:v1" local/app:v1
expect_match "$OUT" "(^|"$'\n'")local/app:v1 $A" "cp prints the local tag and the content's digest"
expect_eq "$(R inspect --json local/app:v1 | json_get 'd["digest"], d["size"]')" "('$A', 204800)" \
	"the local tag has the content"
check "the blob is the file" cmp -s "$SRC/app" "$STORE/blobs/sha256/${A#sha256:}"

S2=$TEST_TMP/store2
expect_ok "cp remote to local into a fresh store" -- "$REGCTL" --store "$S2" cp --plain-http "$U/prod/app:v1" mine/app:v2
expect_eq "$("$REGCTL" --store "$S2" inspect --json mine/app:v2 | json_get 'd["digest"]')" \
	"sha256:$(sha "$SRC/app2")" "it has the content prod/app:v1 names now"
check "whole" cmp -s "$SRC/app2" "$S2/blobs/sha256/$(sha "$SRC/app2")"

n=$(blobs)
expect_ok "cp local to local" -- R cp app:v1 app:stable
expect_eq "$OUT" "app:stable $A" "prints the new tag and its digest"
expect_eq "$(R inspect --json app:stable | json_get 'd["digest"]')" "$A" "the same content"
expect_eq "$(blobs)" "$n" "stored once"
expect_eq "$(R search --json 'the app' | json_get '[t["tag"] for t in d if t["repository"] == "app"]')" \
	"['stable', 'v1']" "with its annotations"
expect_status 1 R cp app:v2 app:stable
expect_match "$OUT" "^regctl: cannot copy 'app:v2': " "cp onto an existing local tag fails"
expect_eq "$(R inspect --json app:stable | json_get 'd["digest"]')" "$A" "and leaves it"
expect_status 1 R cp app:nosuch app:other

# --- the mode and mtime, every way -----------------------------------------------------------

printf '#!/bin/sh\necho tool-ok\n' >"$SRC/tool"
chmod 0755 "$SRC/tool"
expect_ok R publish "$SRC/tool" app:tool
TOOL=$(attrs_of "$STORE" app:tool)
TOOL_MTIME=$(R inspect --json app:tool | json_get 'd["mtime"]')
expect_eq "$TOOL" "('0755', '$TOOL_MTIME')" "(an executable tag)"
NOTES="[('io.regfs.file.mode', '0755'), ('io.regfs.file.mtime', '$TOOL_MTIME')]"
expect_ok "cp local to remote" -- R cp --plain-http app:tool "$U/staging/tool:v1"
expect_eq "$(file_notes "$REGISTRY_UP_URL" staging/tool v1)" "$NOTES" "the layer says 0755, and the mtime (skopeo)"
expect_ok "promote it" -- R cp --plain-http "$U/staging/tool:v1" "$U/prod/tool:v1"
expect_eq "$(file_notes "$REGISTRY_UP_URL" prod/tool v1)" "$NOTES" "remote to remote keeps them (the manifest as it is)"
expect_ok "to another registry" -- R cp --plain-http "$U/staging/tool:v1" "$O/prod/tool:v1"
expect_eq "$(file_notes "$REGISTRY_OTHER_URL" prod/tool v1)" "$NOTES" "between registries too"
expect_ok "cp remote to local" -- R cp --plain-http "$O/prod/tool:v1" local/tool:v1
expect_eq "$(attrs_of "$STORE" local/tool:v1)" "$TOOL" "remote to local restores the mode and mtime"
expect_eq "$(attrs_of "$STORE" prod/tool:v1)" "$TOOL" "on the pinned tag too"
expect_ok "cp local to local" -- R cp app:tool app:tool-stable
expect_eq "$(attrs_of "$STORE" app:tool-stable)" "$TOOL" "local to local keeps them"
expect_eq "$(attrs_of "$STORE" app:stable)" "('0644', '$(R inspect --json app:v1 | json_get 'd["mtime"]')')" \
	"as it keeps a plain file's 0644 and mtime"
S4=$TEST_TMP/store4
expect_ok "prefetch it into another store" -- "$REGCTL" --store "$S4" prefetch --upstream "$REGISTRY_OTHER_URL" 'prod/tool:v*'
expect_eq "$(attrs_of "$S4" prod/tool:v1)" "$TOOL" "prefetch restores the mode and mtime"

# --- prefetch --------------------------------------------------------------------------------

for t in v1.0 v1.1 v2.0; do
	mkrand "$SRC/lib-$t" 16K
	oci_push_file "$REGISTRY_UP_URL" lib/x "$t" "$SRC/lib-$t" >/dev/null
done
S3=$TEST_TMP/store3
expect_ok "prefetch a glob" -- "$REGCTL" --store "$S3" prefetch --upstream "$REGISTRY_UP_URL" 'lib/x:v1.*'
expect_eq "$(awk '{ print $1 }' <<<"$OUT" | sort | tr '\n' ' ')" "lib/x:v1.0 lib/x:v1.1 " \
	"prefetch says which tags it fetched: two of three"
expect_eq "$("$REGCTL" --store "$S3" ls --json | json_get '[t["repository"] + ":" + t["tag"] for t in d]')" \
	"['lib/x:v1.0', 'lib/x:v1.1']" "the store holds those two"
for t in v1.0 v1.1; do
	check "lib/x:$t is fetched whole" cmp -s "$SRC/lib-$t" "$S3/blobs/sha256/$(sha "$SRC/lib-$t")"
done
check "lib/x:v2.0 is not fetched" test ! -e "$S3/blobs/sha256/$(sha "$SRC/lib-v2.0")"
expect_eq "$(registry_blob_gets up "sha256:$(sha "$SRC/lib-v2.0")")" 0 "nor asked for"
expect_ok "a pattern that matches nothing" -- "$REGCTL" --store "$S3" prefetch --upstream "$REGISTRY_UP_URL" 'lib/x:v9*'
expect_eq "$OUT" "lib/x:v9*: no tag matches" "says so"
expect_status 1 "$REGCTL" --store "$S3" prefetch 'lib/x:*'
expect_match "$OUT" "no upstream is configured" "prefetch without an upstream: a clear failure"

done_testing
