#!/bin/bash
# t1425-require-signature: regfs.conf's require_signature (issue 14). The
# signatures on the upstream, a real Distribution registry, are made in the
# test with `openssl dgst -sign` and pushed as cosign pushes them (a
# simple-signing payload layer annotated with the signature, the cosign tag
# sha256-HEX.sig), so regfs's verdict meets an independent signer.
#
# A pull-through mount with require_signature in its [upstream] section:
# a tag signed by the release key reads; an unsigned one, one signed by
# another key and one whose signature covers another digest each give
# EACCES with a log line naming the tag and the reason, and nothing of them
# is stored; an index signed at the index digest reads. regctl inspect
# shows each verdict (a refused tag: exit 1) and the audit log has the
# refusals. A tag pinned before the policy is refused once it applies.
# Local publishes under a global key: sealed, EACCES until `regctl sign`,
# then readable; regctl serve --config answers 403 for an unsigned tag.
# Keys that cannot be used stop the daemon at start.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers called through expect_ok
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
command -v openssl >/dev/null || skip_all "openssl is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

K=$TEST_TMP/keys
C=$TEST_TMP/conf
mkdir -p "$K" "$C" "$SRC"
for k in rel other; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/$k.pem" 2>/dev/null ||
		bail_out "genpkey P-256"
	openssl pkey -in "$K/$k.pem" -pubout -out "$K/$k.pub"
done
openssl genpkey -algorithm ed25519 -out "$K/ed.pem" || bail_out "genpkey ed25519"
openssl pkey -in "$K/ed.pem" -pubout -out "$K/ed.pub"
FPR_REL=$(openssl pkey -pubin -in "$K/rel.pub" -outform DER | sha256sum | cut -d' ' -f1)

conf() { # conf NAME LINE...: a regfs.conf of those lines
	local f=$C/$1.conf
	shift
	printf '%s\n' "$@" >"$f"
	printf '%s\n' "$f"
}

# cosign_sign URL REPO DIGEST KEY: sign DIGEST of URL's REPO with openssl as
# cosign signs with a key (ECDSA P-256 over SHA-256; Ed25519 raw), and push
# the signature manifest under the cosign tag of DIGEST.
cosign_sign() {
	local url=$1 repo=$2 digest=$3 key=$4 d=$TEST_TMP/sig.$RANDOM sig pd man
	mkdir -p "$d"
	printf '{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
		"${url#*://}/$repo" "$digest" >"$d/payload"
	if [[ $key == *ed.pem ]]; then
		openssl pkeyutl -sign -rawin -inkey "$key" -in "$d/payload" -out "$d/sig" || return 1
	else
		openssl dgst -sha256 -sign "$key" -out "$d/sig" "$d/payload" || return 1
	fi
	sig=$(base64 -w0 <"$d/sig")
	pd=$(_oci_put_blob "$url" "$repo" "$d/payload") || return 1
	_oci_put_blob "$url" "$repo" "$(_oci_empty_config)" >/dev/null || return 1
	python3 - "$pd" "$(stat -c %s "$d/payload")" "$sig" "$OCI_EMPTY_DIGEST" >"$d/man" <<'EOF' || return 1
import json, sys
pd, size, sig, cfg = sys.argv[1:]
json.dump({"schemaVersion": 2,
           "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                      "digest": cfg, "size": 2},
           "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                       "digest": pd, "size": int(size),
                       "annotations": {"dev.cosignproject.cosign/signature": sig}}]},
          sys.stdout, separators=(",", ":"))
EOF
	_oci_put_manifest "$url" "$repo" "sha256-${digest#sha256:}.sig" \
		application/vnd.oci.image.manifest.v1+json "$d/man" >/dev/null
}

registry_start up
U=$REGISTRY_UP_URL
for t in signed unsigned other forged old; do
	mkrand "$SRC/$t" 40K
	oci_push_file "$U" app "$t" "$SRC/$t" >/dev/null || bail_out "push app:$t"
done
md() { oci_manifest_digest "$U" app "$1"; }
expect_ok "the release key signs app:signed" -- cosign_sign "$U" app "$(md signed)" "$K/rel.pem"
expect_ok "another key signs app:other" -- cosign_sign "$U" app "$(md other)" "$K/other.pem"
# A good signature of app:signed, filed as app:forged's: it covers another digest.
forged_sig=$TEST_TMP/forged.json
_oci_curl 200 "$forged_sig" -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	"$U/v2/app/manifests/sha256-$(md signed | cut -d: -f2).sig" || bail_out "get the signature"
rm -f "$forged_sig.hdr"
expect_ok "a signature of another digest is filed under app:forged" -- \
	_oci_put_manifest "$U" app "sha256-$(md forged | cut -d: -f2).sig" \
	application/vnd.oci.image.manifest.v1+json "$forged_sig"
oci_push_index "$U" multi v1 >/dev/null || bail_out "push multi:v1"
expect_ok "the release key signs the index multi:v1" -- \
	cosign_sign "$U" multi "$(oci_manifest_digest "$U" multi v1)" "$K/rel.pem"

# --- a pull-through mount, the key in the upstream's section ---------------

PS=$TEST_TMP/pullstore
M=$TEST_TMP/pmnt
# Pinned and read before any policy: app:old.
NOPOL=$(conf nopol "[upstream up]" "url = $U" "plain_http = true")
regfs_mount "$PS" "$M" -o config="$NOPOL"
expect_eq "$(sha "$M/registry/app/old")" "$(sha "$SRC/old")" "app:old reads with no policy"
regfs_umount "$M"

UPCONF=$(conf up "[upstream up]" "url = $U" "plain_http = true" "require_signature = $K/rel.pub")
regfs_mount "$PS" "$M" -o config="$UPCONF"
R=$M/registry
log=$(daemon_log "$M")
expect_eq "$(sha "$R/app/signed")" "$(sha "$SRC/signed")" "a tag signed by the release key reads"
for t in unsigned other forged; do
	expect_fail_errno "app:$t is refused with EACCES" -- cat "$R/app/$t" "Permission denied"
	check "no blob of app:$t is stored" test ! -e "$PS/blobs/sha256/$(sha "$SRC/$t")"
done
check "the log names the unsigned tag and why" \
	grep -q "'app:unsigned' (sha256:[0-9a-f]*) is refused: it needs a signature by a key of require_signature: .*has no" "$log"
check "the log names the tag signed by another key" \
	grep -q "'app:other' (sha256:[0-9a-f]*) is refused: .*no valid signature" "$log"
check "the log names the signature over another digest" grep -q "'app:forged' (sha256:[0-9a-f]*) is refused" "$log"
expect_fail_errno "app:old, pinned before the policy, is refused now" -- cat "$R/app/old" "Permission denied"
mfile=$(find "$R/multi/v1" -maxdepth 1 -type f ! -name manifest.json 2>/dev/null | head -1)
[[ -z $mfile ]] && mfile=$R/multi/v1
check "an index signed at its digest reads" cat "$mfile"
expect_fail_errno "a second read of app:unsigned is refused too" -- cat "$R/app/unsigned" "Permission denied"
regfs_umount "$M"

RC_() { "$REGCTL" --store "$PS" "$@"; }
expect_ok RC_ inspect app:signed
expect_match "$OUT" "signature:  verified, key $FPR_REL" "inspect shows the verdict and the key"
run_cmd RC_ inspect --json app:signed
expect_eq "$(jq -r '.signature.verdict + " " + .signature.key' <<<"$OUT")" "verified $FPR_REL" "inspect --json"
expect_status 1 RC_ inspect app:unsigned
expect_match "$OUT" "signature:  refused" "inspect shows a refused tag's verdict"
expect_match "$OUT" "require_signature refused it" "and says it is not in the store"
expect_status 1 RC_ inspect app:other
expect_match "$OUT" "no valid signature" "inspect names why"
run_cmd RC_ audit --json
check "the audit log has the refusals" \
	test "$(jq -r 'select(.kind == "verify-failed") | .tag' <<<"$OUT" | sort -u | tr '\n' ' ')" = "forged old other unsigned "

# regctl prefetch applies it too.
expect_status 1 "$REGCTL" --store "$TEST_TMP/pullstore2" prefetch --config "$UPCONF" app:unsigned
expect_match "$OUT" "is refused" "regctl prefetch refuses an unsigned tag"
check "and stores nothing of it" test ! -e "$TEST_TMP/pullstore2/blobs/sha256/$(sha "$SRC/unsigned")"
expect_ok "$REGCTL" --store "$TEST_TMP/pullstore2" prefetch --config "$UPCONF" app:signed
# regctl pull of a remote ref, under a global key given to regctl itself.
RELCONF=$(conf rel "require_signature = $K/rel.pub")
expect_status 1 "$REGCTL" --store "$TEST_TMP/pullstore3" --config "$RELCONF" pull --plain-http "${U#http://}/app:unsigned"
expect_match "$OUT" "is refused" "regctl --config FILE pull HOST/REPO:TAG refuses an unsigned tag"
expect_ok "$REGCTL" --store "$TEST_TMP/pullstore3" --config "$RELCONF" pull --plain-http "${U#http://}/app:signed"

# --- local publishes under a global key ------------------------------------

LS=$TEST_TMP/localstore
LM=$TEST_TMP/lmnt
GCONF=$(conf global "require_signature = $K/other.pub" "require_signature = $K/ed.pub")
regfs_mount "$LS" "$LM" -o config="$GCONF"
echo "release 1" >"$SRC/app1"
mkdir -p "$LM/incoming/team/app"
expect_ok "a publish seals" -- cp "$SRC/app1" "$LM/incoming/team/app/v1"
check "it is listed" test -e "$LM/registry/team/app/v1"
expect_fail_errno "it is not served unsigned" -- cat "$LM/registry/team/app/v1" "Permission denied"
check "the log names the tag" grep -q "'team/app:v1' is not served: it needs a signature" "$(daemon_log "$LM")"
expect_ok "$REGCTL" --store "$LS" sign --key "$K/rel.pem" team/app:v1
expect_fail_errno "signed by a key the policy does not name, it is still refused" -- \
	cat "$LM/registry/team/app/v1" "Permission denied"
expect_ok "$REGCTL" --store "$LS" sign --key "$K/ed.pem" team/app:v1
expect_eq "$(cat "$LM/registry/team/app/v1")" "release 1" "signed by an allowed key (the second one), it reads"
# A signature's name proves nothing: bytes published under one are refused.
FAKESIG=sha256-$(printf 'a%.0s' {1..64}).sig
echo "evil" >"$SRC/evil"
expect_ok "bytes published under a signature's name seal" -- cp "$SRC/evil" "$LM/incoming/team/app/$FAKESIG"
expect_fail_errno "and are not served unsigned" -- cat "$LM/registry/team/app/$FAKESIG" "Permission denied"
regfs_umount "$LM"
run_cmd "$REGCTL" --store "$LS" inspect team/app:v1
check "inspect shows the local verdict" grep -q "signature:  verified" <<<"$OUT"

# regctl serve --config: 403 for an unsigned tag, 200 for the signed one.
expect_ok "$REGCTL" --store "$LS" publish "$SRC/app1" team/app:v2
serve_start main --store "$LS" --config "$GCONF"
S=$SERVE_MAIN_URL
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$S/v2/team/app/manifests/v1")" 200 \
	"regctl serve hands out the signed tag"
expect_eq "$(curl -s -o "$TEST_TMP/v2.json" -w '%{http_code}' -H "$ACCEPT" "$S/v2/team/app/manifests/v2")" 403 \
	"and refuses the unsigned one with 403"
expect_eq "$(jq -r '.errors[0].code' "$TEST_TMP/v2.json")" DENIED "as DENIED"
MD1=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/v1" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$S/v2/team/app/manifests/sha256-${MD1#sha256:}.sig")" 200 \
	"a real signature's manifest is handed out, for clients to verify"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$S/v2/team/app/manifests/$FAKESIG")" 403 \
	"bytes under a signature's name are not"
serve_stop main

# regctl serve pulling through under the upstream's key: manifests and
# blobs of the signed tag, nothing of the unsigned one.
serve_start up --store "$TEST_TMP/servestore" --config "$UPCONF"
S=$SERVE_UP_URL
expect_eq "$(curl -s -o "$TEST_TMP/signed.json" -w '%{http_code}' -H "$ACCEPT" "$S/v2/app/manifests/signed")" 200 \
	"serve pulls through the signed tag"
LAYER=$(jq -r '.layers[0].digest' "$TEST_TMP/signed.json")
expect_eq "$(curl -s "$S/v2/app/blobs/$LAYER" | sha256sum | cut -d' ' -f1)" "$(sha "$SRC/signed")" "and its blob"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "$ACCEPT" "$S/v2/app/manifests/unsigned")" 403 \
	"serve refuses the unsigned upstream tag with 403"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$S/v2/app/blobs/sha256:$(sha "$SRC/unsigned")")" 403 \
	"and its blob, asked for by digest"
check "nothing of it is stored" test ! -e "$TEST_TMP/servestore/blobs/sha256/$(sha "$SRC/unsigned")"
serve_stop up

# --- keys that cannot be used stop the daemon at start ---------------------

printf 'not a key\n' >"$K/junk.pub"
bad_start() { # bad_start DESC MESSAGE LINE...
	local desc=$1 msg=$2
	shift 2
	expect_start_refused "$desc" "$msg" "$(conf bad "$@")"
}
bad_start "a missing key" "require_signature = $K/nope.pub" "require_signature = $K/nope.pub"
bad_start "a malformed key" "require_signature = $K/junk.pub" "require_signature = $K/junk.pub"
bad_start "a private key" "require_signature = $K/rel.pem" "require_signature = $K/rel.pem"
bad_start "a relative path" "'require_signature' must be an absolute path" "require_signature = rel.pub"

done_testing
