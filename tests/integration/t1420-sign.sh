#!/bin/bash
# t1420-sign: regctl sign and verify of local tags (issue 14), with keys
# made by `openssl genpkey` (ECDSA P-256 and Ed25519). A published tag is
# signed; the signature is served by `regctl serve` through the referrers
# API and the cosign fallback tag sha256-<hex>.sig; verify passes with the
# right key and fails with another. Each verdict is checked independently:
# the payload and signature are fetched over HTTP with curl and given to
# `openssl dgst -sha256 -verify` (pkeyutl -rawin for Ed25519), and the
# payload's docker-manifest-digest compared with the tag's. Tampering,
# each pushed over HTTP as a new signature of another tag: an altered
# payload, a valid signature of one tag replayed on another (a signature
# over another digest), a truncated signature; and a payload blob altered
# on disk. gc keeps signatures. Bad keys (RSA, garbage PEM) and usage
# errors are refused.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers called through expect_ok
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
command -v openssl >/dev/null || skip_all "openssl is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

R() { "$REGCTL" --store "$STORE" "$@"; }
K=$TEST_TMP/keys
mkdir -p "$K" "$SRC"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/a.pem" 2>/dev/null || bail_out "genpkey P-256"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/b.pem" 2>/dev/null || bail_out "genpkey P-256"
openssl genpkey -algorithm ed25519 -out "$K/e.pem" || bail_out "genpkey ed25519"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$K/rsa.pem" 2>/dev/null || bail_out "genpkey rsa"
for k in a b e rsa; do openssl pkey -in "$K/$k.pem" -pubout -out "$K/$k.pub"; done
printf 'not a key\n' >"$K/junk.pem"

echo "release 1" >"$SRC/app1"
echo "release 2" >"$SRC/app2"
echo "release 3" >"$SRC/app3"
echo "release 4" >"$SRC/app4"
for i in 1 2 3 4; do
	expect_ok R publish "$SRC/app$i" "team/app:v$i"
done

# Usage and key errors.
expect_status 2 R sign team/app:v1
expect_status 2 R verify --key "$K/a.pub" team/app
expect_status 1 R sign --key "$K/rsa.pem" team/app:v1
expect_match "$OUT" "unsupported key type" "an RSA key is refused, said"
expect_status 1 R sign --key "$K/junk.pem" team/app:v1
expect_match "$OUT" "not a PEM private key" "garbage PEM is refused, said"
expect_status 1 R verify --key "$K/a.pem" team/app:v1
expect_status 1 R sign --key "$K/a.pem" team/app:nope
expect_status 1 R verify --key "$K/a.pub" team/app:v1
expect_match "$OUT" "has no signature" "an unsigned tag does not verify"

# Sign with a, and e.
expect_ok R sign --key "$K/a.pem" team/app:v1
FPR_A=$(openssl pkey -pubin -in "$K/a.pub" -outform DER | sha256sum | cut -d' ' -f1)
expect_match "$OUT" "ecdsa-p256 key sha256:$FPR_A" "sign names the key's fingerprint"
expect_ok R verify --key "$K/a.pub" team/app:v1
expect_match "$OUT" "verified" "verify with the right key"
expect_status 1 R verify --key "$K/b.pub" team/app:v1
expect_match "$OUT" "not verified" "verify with another key fails, said"
run_cmd R verify --key "$K/a.pub" --json team/app:v1
expect_eq "$RC/$(jq -r '.verified,.fingerprint' <<<"$OUT" | tr '\n' ' ')" "0/true $FPR_A " "verify --json"
SIG_A=$(jq -r .signature <<<"$OUT")
run_cmd R verify --key "$K/b.pub" --json team/app:v1
expect_eq "$RC/$(jq -r .verified <<<"$OUT")" "1/false" "verify --json with another key: false, exit 1"

serve_start main --store "$STORE"
S=$SERVE_MAIN_URL
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
MD1=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/v1" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
expect_match "$MD1" '^sha256:[0-9a-f]{64}$' "the tag's served digest"
run_cmd R verify --key "$K/a.pub" --json team/app:v1
expect_eq "$(jq -r .digest <<<"$OUT")" "$MD1" "what is signed is the digest regctl serve serves"
curl -sf "$S/v2/team/app/referrers/$MD1" >"$TEST_TMP/ref.json"
expect_eq "$(jq -r '.manifests[].digest' "$TEST_TMP/ref.json")" "$SIG_A" "the referrers API lists the signature"
SIGTAG=sha256-${MD1#sha256:}.sig
SD=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/$SIGTAG" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
expect_eq "$SD" "$SIG_A" "the $SIGTAG tag names it"

# fetch_sig REFERENCE DIR: payload.json and sig.der of signature manifest
# REFERENCE, over HTTP.
fetch_sig() {
	local ref=$1 d=$2 pd
	mkdir -p "$d"
	curl -sf -H "$ACCEPT" "$S/v2/team/app/manifests/$ref" >"$d/manifest.json" || return 1
	pd=$(jq -r '.layers[0].digest' "$d/manifest.json")
	curl -sf "$S/v2/team/app/blobs/$pd" >"$d/payload.json" || return 1
	jq -r '.layers[0].annotations["dev.cosignproject.cosign/signature"]' "$d/manifest.json" >"$d/sig.b64"
	base64 -d <"$d/sig.b64" >"$d/sig.der" 2>/dev/null || :
}
# independent PUB DIR WANT-DIGEST: "pass" when openssl verifies the
# signature and the payload names WANT-DIGEST, else "fail".
independent() {
	local pub=$1 d=$2 want=$3 ok=0
	if [[ $(openssl pkey -pubin -in "$pub" -noout -text 2>/dev/null | head -n1) == ED25519* ]]; then
		openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$d/payload.json" -sigfile "$d/sig.der" >/dev/null 2>&1 && ok=1
	else
		openssl dgst -sha256 -verify "$pub" -signature "$d/sig.der" "$d/payload.json" >/dev/null 2>&1 && ok=1
	fi
	[[ $ok == 1 && $(jq -r '.critical.image["docker-manifest-digest"]' "$d/payload.json" 2>/dev/null) == "$want" ]] &&
		echo pass || echo fail
}
# agree TAG PUB DIR: regctl verify and the independent check give one verdict.
agree() {
	local tag=$1 pub=$2 d=$3 want mine theirs
	want=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/$tag" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
	if R verify --key "$pub" "team/app:$tag" >/dev/null 2>&1; then mine=pass; else mine=fail; fi
	theirs=$(independent "$pub" "$d" "$want")
	expect_eq "$mine" "$theirs" "team/app:$tag with ${pub##*/}: regctl and openssl agree ($mine)"
}

fetch_sig "$SIGTAG" "$TEST_TMP/s1"
expect_eq "$(cat "$TEST_TMP/s1/payload.json")" \
	"{\"critical\":{\"identity\":{\"docker-reference\":\"team/app\"},\"image\":{\"docker-manifest-digest\":\"$MD1\"},\"type\":\"cosign container image signature\"},\"optional\":null}" \
	"the payload is cosign's simple signing, byte for byte"
agree v1 "$K/a.pub" "$TEST_TMP/s1"
agree v1 "$K/b.pub" "$TEST_TMP/s1"
check "openssl says the signature is good" openssl dgst -sha256 -verify "$K/a.pub" -signature "$TEST_TMP/s1/sig.der" "$TEST_TMP/s1/payload.json"

# Ed25519: a second signature; the .sig tag moves to it, both verify.
expect_ok R sign --key "$K/e.pem" team/app:v1
expect_ok R verify --key "$K/e.pub" team/app:v1
expect_ok R verify --key "$K/a.pub" team/app:v1
fetch_sig "$SIGTAG" "$TEST_TMP/s2"
agree v1 "$K/e.pub" "$TEST_TMP/s2"
expect_eq "$(curl -sf "$S/v2/team/app/referrers/$MD1" | jq '.manifests | length')" 2 "two referrers now"
# gc keeps both signatures, the one the .sig tag left too.
expect_ok R gc
expect_ok R verify --key "$K/a.pub" team/app:v1
expect_ok R verify --key "$K/e.pub" team/app:v1

# push_sig TAG PAYLOAD-FILE SIG-B64: push a signature manifest of TAG over
# HTTP, as another client could.
push_blob() {
	local f=$1 d loc
	d=sha256:$(sha "$f")
	loc=$(curl -sf -X POST -D - -o /dev/null "$S/v2/team/app/blobs/uploads/" | tr -d '\r' | sed -n 's/^location: //Ip')
	[[ $loc == http* ]] || loc=$S$loc
	if [[ $loc == *\?* ]]; then loc="$loc&digest=$d"; else loc="$loc?digest=$d"; fi
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" "$loc" -o /dev/null || return 1
	echo "$d"
}
push_sig() {
	local tag=$1 payload=$2 sig=$3 md pd cd body
	md=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/$tag" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
	local size
	size=$(curl -sf -H "$ACCEPT" "$S/v2/team/app/manifests/$tag" | wc -c)
	printf '{}' >"$TEST_TMP/empty.json"
	cd=$(push_blob "$TEST_TMP/empty.json") && pd=$(push_blob "$payload") || return 1
	body=$(jq -cn --arg cd "$cd" --arg pd "$pd" --argjson ps "$(wc -c <"$payload")" --arg sig "$sig" --arg md "$md" --argjson ms "$size" \
		'{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
		  config:{mediaType:"application/vnd.oci.empty.v1+json", digest:$cd, size:2},
		  layers:[{mediaType:"application/vnd.dev.cosign.simplesigning.v1+json", digest:$pd, size:$ps,
		           annotations:{"dev.cosignproject.cosign/signature":$sig}}],
		  subject:{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$md, size:$ms}}')
	curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$body" \
		"$S/v2/team/app/manifests/sha256-${md#sha256:}.sig" -o /dev/null
}

# Tampered 1: v1's payload altered to name v2, with v1's signature.
MD2=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/v2" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
mkdir -p "$TEST_TMP/t1"
sed "s/$MD1/$MD2/" "$TEST_TMP/s1/payload.json" | tr -d '\n' >"$TEST_TMP/t1/payload.json"
cp "$TEST_TMP/s1/sig.der" "$TEST_TMP/t1/sig.der"
expect_ok "an altered payload is pushed for v2" -- push_sig v2 "$TEST_TMP/t1/payload.json" "$(cat "$TEST_TMP/s1/sig.b64")"
expect_status 1 R verify --key "$K/a.pub" team/app:v2
expect_match "$OUT" "altered payload" "regctl: the altered payload does not verify"
agree v2 "$K/a.pub" "$TEST_TMP/t1"

# Tampered 2: v1's untouched payload and signature replayed on v3: a good
# signature, over another digest.
expect_ok "v1's signature is replayed on v3" -- push_sig v3 "$TEST_TMP/s1/payload.json" "$(cat "$TEST_TMP/s1/sig.b64")"
expect_status 1 R verify --key "$K/a.pub" team/app:v3
expect_match "$OUT" "covers $MD1" "regctl: the signature covers another digest"
check "openssl alone finds the signature itself good" openssl dgst -sha256 -verify "$K/a.pub" -signature "$TEST_TMP/s1/sig.der" "$TEST_TMP/s1/payload.json"
agree v3 "$K/a.pub" "$TEST_TMP/s1"

# Tampered 3: a truncated signature on v4's own payload.
R sign --key "$K/a.pem" team/app:v4 >/dev/null || fail "sign v4"
MD4=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/v4" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
fetch_sig "sha256-${MD4#sha256:}.sig" "$TEST_TMP/s4"
agree v4 "$K/a.pub" "$TEST_TMP/s4"
mkdir -p "$TEST_TMP/t3"
cp "$TEST_TMP/s4/payload.json" "$TEST_TMP/t3/"
head -c 40 "$TEST_TMP/s4/sig.b64" >"$TEST_TMP/t3/sig.b64"
base64 -d <"$TEST_TMP/t3/sig.b64" >"$TEST_TMP/t3/sig.der"
# v4's payload, made to name v5, with its signature cut short.
echo "release 5" >"$SRC/app5"
R publish "$SRC/app5" team/app:v5 >/dev/null
MD5=$(curl -sf -I -H "$ACCEPT" "$S/v2/team/app/manifests/v5" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
sed "s/$MD4/$MD5/" "$TEST_TMP/s4/payload.json" | tr -d '\n' >"$TEST_TMP/t3/payload.json"
expect_ok "a truncated signature is pushed for v5" -- push_sig v5 "$TEST_TMP/t3/payload.json" "$(cat "$TEST_TMP/t3/sig.b64")"
expect_status 1 R verify --key "$K/a.pub" team/app:v5
agree v5 "$K/a.pub" "$TEST_TMP/t3"

# Tampered 4: the payload blob of v1's P-256 signature altered on disk.
PD=$(jq -r '.layers[0].digest' "$TEST_TMP/s1/manifest.json")
BLOB=$STORE/blobs/sha256/${PD#sha256:}
if [[ -f $BLOB ]]; then
	chmod u+w "$BLOB"
	flip_byte "$BLOB" 20
	cp "$BLOB" "$TEST_TMP/t4.json"
	mkdir -p "$TEST_TMP/t4" && cp "$TEST_TMP/t4.json" "$TEST_TMP/t4/payload.json" && cp "$TEST_TMP/s1/sig.der" "$TEST_TMP/t4/"
	# a's and e's payloads are the same bytes (one blob): neither verifies.
	expect_status 1 R verify --key "$K/a.pub" team/app:v1
	expect_match "$OUT" "does not match its digest" "regctl: the altered blob is refused"
	agree v1 "$K/a.pub" "$TEST_TMP/t4"
	cp "$TEST_TMP/s2/sig.der" "$TEST_TMP/t4/"
	agree v1 "$K/e.pub" "$TEST_TMP/t4"
else
	diag "payload $PD is not a blob file: the on-disk tamper case is skipped"
fi

serve_stop main
expect_eq "$SERVE_RC" 0 "regctl serve exits cleanly"
done_testing
