#!/bin/bash
# t1430-sign-remote: regctl sign and verify of manifests in a real
# Distribution registry (Debian's docker-registry on loopback, which answers
# the referrers API with 404: the sha256-<hex>.sig tag is what finds them),
# regctl push --sign, and a push that carries the store's signatures of a
# tag along (an SBOM referring to it stays home) (issue 14). Every verdict is checked independently: the payload
# and signature are fetched from the registry with curl and given to
# `openssl dgst -sha256 -verify` (P-256) or `openssl pkeyutl -verify
# -rawin` (Ed25519), and the payload's docker-manifest-digest compared with
# the manifest's. Bad input, each a clear refusal with exit 1: a truncated
# signature, a signature replayed over another digest, a payload layer that
# declares 100 MB (never downloaded: the registry's log shows no GET of it),
# a layer that declares fewer bytes than its blob has, wrong key types and
# malformed PEM, a .sig tag holding another artifact (not replaced); an
# unreachable registry and one answering 500 are errors, never a verdict.
# Push --sign, sign and verify through a registry that wants bearer
# tokens, after regctl login. Signatures made and verifications refused
# are audited.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers called through expect_ok
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
command -v jq >/dev/null || skip_all "jq is not installed"

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
# expect_no_match TEXT ERE DESC
expect_no_match() {
	if [[ ! $1 =~ $2 ]]; then ok "$3"; else fail "$3: '$1' matches '$2'"; fi
}
K=$TEST_TMP/keys
mkdir -p "$K" "$SRC"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/a.pem" 2>/dev/null || bail_out "genpkey P-256"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/b.pem" 2>/dev/null || bail_out "genpkey P-256"
openssl genpkey -algorithm ed25519 -out "$K/e.pem" || bail_out "genpkey ed25519"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$K/p384.pem" 2>/dev/null || bail_out "genpkey P-384"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$K/rsa.pem" 2>/dev/null || bail_out "genpkey rsa"
for k in a b e p384 rsa; do openssl pkey -in "$K/$k.pem" -pubout -out "$K/$k.pub"; done
printf 'not a key\n' >"$K/junk.pem"
head -n 2 "$K/a.pub" >"$K/cut.pub" # a PEM cut short
fpr() { openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
FPR_A=$(fpr "$K/a.pub")
FPR_E=$(fpr "$K/e.pub")

registry_start up
H=$REGISTRY_UP_HOST
U=$REGISTRY_UP_URL
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
digest_of() { curl -sf -I -H "$ACCEPT" "$U/v2/$1/manifests/$2" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip'; }
# push_blob FILE [BASE-URL]: into repository app of the registry (or of
# BASE-URL) with curl, a monolithic upload; prints the digest.
push_blob() {
	local f=$1 base=${2:-$U} d loc
	d=sha256:$(sha "$f")
	loc=$(curl -sf -X POST -D - -o /dev/null "$base/v2/app/blobs/uploads/" | tr -d '\r' | sed -n 's/^location: //Ip')
	[[ $loc == http* ]] || loc=$base$loc
	if [[ $loc == *\?* ]]; then loc="$loc&digest=$d"; else loc="$loc?digest=$d"; fi
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" "$loc" -o /dev/null || return 1
	echo "$d"
}

for i in 1 2 3 4 5 6 7; do
	echo "release $i" >"$SRC/app$i"
	expect_ok R publish "$SRC/app$i" "app:v$i"
done
expect_ok R push --plain-http app:v1 "$H/app:v1"
MD1=$(digest_of app v1)
expect_match "$MD1" '^sha256:[0-9a-f]{64}$' "v1 is in the registry"
SIGTAG1=sha256-${MD1#sha256:}.sig

# fetch_sig REPO REFERENCE INDEX DIR: the payload and signature of layer
# INDEX of signature manifest REFERENCE, from the registry with curl.
fetch_sig() {
	local repo=$1 ref=$2 i=$3 d=$4 pd
	mkdir -p "$d"
	curl -sf -H "$ACCEPT" "$U/v2/$repo/manifests/$ref" >"$d/manifest.json" || return 1
	pd=$(jq -r ".layers[$i].digest" "$d/manifest.json")
	curl -sfL "$U/v2/$repo/blobs/$pd" >"$d/payload.json" || return 1
	jq -r ".layers[$i].annotations[\"dev.cosignproject.cosign/signature\"]" "$d/manifest.json" >"$d/sig.b64"
	base64 -d <"$d/sig.b64" >"$d/sig.der" 2>/dev/null || :
}
# independent PUB DIR WANT: "pass" when openssl verifies the signature and
# the payload names WANT, else "fail".
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
# agree REPO TAG PUB DIR: regctl verify and openssl give one verdict.
agree() {
	local repo=$1 tag=$2 pub=$3 d=$4 want mine theirs
	want=$(digest_of "$repo" "$tag")
	if R verify --plain-http --key "$pub" "$H/$repo:$tag" >/dev/null 2>&1; then mine=pass; else mine=fail; fi
	theirs=$(independent "$pub" "$d" "$want")
	expect_eq "$mine" "$theirs" "$repo:$tag with ${pub##*/}: regctl and openssl agree ($mine)"
}

# --- Usage, keys ---------------------------------------------------------
expect_status 2 R sign --plain-http "$H/app:v1"
expect_status 2 R verify --plain-http --key "$K/a.pub" "$H/app"
expect_status 2 R verify --plain-http --key "$K/a.pub" "$H/app@sha256:12"
expect_status 2 R push --plain-http --sign app:v2 "$H/app:v2"
expect_status 2 R push --plain-http --key "$K/a.pem" app:v2 "$H/app:v2"
expect_status 1 R sign --plain-http --key "$K/junk.pem" "$H/app:v1"
expect_match "$OUT" "not a PEM private key" "malformed PEM is refused, said"
expect_status 1 R sign --plain-http --key "$K/rsa.pem" "$H/app:v1"
expect_match "$OUT" "unsupported key type" "an RSA key is refused, said"
expect_status 1 R sign --plain-http --key "$K/p384.pem" "$H/app:v1"
expect_match "$OUT" "only P-256" "a P-384 key is refused, said"
expect_status 1 R sign --plain-http --key "$K/a.pub" "$H/app:v1"
expect_match "$OUT" "not a PEM private key" "a public key cannot sign"
expect_status 1 R verify --plain-http --key "$K/a.pem" "$H/app:v1"
expect_match "$OUT" "not a PEM public key" "verify wants a public key"
expect_status 1 R verify --plain-http --key "$K/cut.pub" "$H/app:v1"
expect_match "$OUT" "not a PEM public key" "a PEM cut short is refused"
expect_status 1 R verify --plain-http --key "$K/rsa.pub" "$H/app:v1"
expect_match "$OUT" "unsupported key type" "an RSA public key is refused"
expect_status 1 R push --plain-http --sign --key "$K/junk.pem" app:v2 "$H/app:v2"
expect_eq "$(digest_of app v2 || :)" "" "a push with a bad key sends nothing"
expect_status 1 R verify --plain-http --key "$K/a.pub" "$H/app:v1"
expect_match "$OUT" "no cosign signature" "an unsigned manifest does not verify, said"
expect_status 1 R sign --plain-http --key "$K/a.pem" "$H/app:nope"
expect_match "$OUT" "cannot sign" "a tag the registry lacks is not signed"

# --- Sign a remote tag; verify it; openssl agrees -------------------------
expect_ok R sign --plain-http --key "$K/a.pem" "$H/app:v1"
expect_match "$OUT" "ecdsa-p256 key sha256:$FPR_A" "sign names the key"
expect_ok R verify --plain-http --key "$K/a.pub" "$H/app:v1"
expect_match "$OUT" "verified" "verify with the right key"
expect_status 1 R verify --plain-http --key "$K/b.pub" "$H/app:v1"
expect_match "$OUT" "not verified" "another key does not verify, said"
run_cmd R verify --plain-http --key "$K/a.pub" --json "$H/app:v1"
expect_eq "$RC/$(jq -r '.verified,.digest,.fingerprint' <<<"$OUT" | tr '\n' ' ')" "0/true $MD1 $FPR_A " "verify --json"
SIG_A=$(jq -r .signature <<<"$OUT")
run_cmd R verify --plain-http --key "$K/b.pub" --json "$H/app:v1"
expect_eq "$RC/$(jq -r .verified <<<"$OUT")" "1/false" "verify --json with another key: false, exit 1"
expect_eq "$(registry_requests up GET "/v2/app/referrers/$MD1")" 5 "each verify asked the referrers API first (404 here)"

fetch_sig app "$SIGTAG1" 0 "$TEST_TMP/s1"
expect_eq "$(cat "$TEST_TMP/s1/payload.json")" \
	"{\"critical\":{\"identity\":{\"docker-reference\":\"$H/app\"},\"image\":{\"docker-manifest-digest\":\"$MD1\"},\"type\":\"cosign container image signature\"},\"optional\":null}" \
	"the payload is cosign's simple signing, naming the registry's repository"
check "openssl verifies the P-256 signature from the registry" \
	openssl dgst -sha256 -verify "$K/a.pub" -signature "$TEST_TMP/s1/sig.der" "$TEST_TMP/s1/payload.json"
agree app v1 "$K/a.pub" "$TEST_TMP/s1"
agree app v1 "$K/b.pub" "$TEST_TMP/s1"
expect_eq "$(jq -r .subject.digest "$TEST_TMP/s1/manifest.json")" "$MD1" "the signature's subject is the signed manifest"
check "the signature manifest is there by its digest too" curl -sf -I -H "$ACCEPT" "$U/v2/app/manifests/$SIG_A" -o /dev/null

# By digest, with Ed25519: the .sig tag keeps a's layer and adds e's.
expect_ok R sign --plain-http --key "$K/e.pem" "$H/app@$MD1"
expect_match "$OUT" "ed25519 key sha256:$FPR_E" "signing by digest names the key"
expect_eq "$(curl -sf -H "$ACCEPT" "$U/v2/app/manifests/$SIGTAG1" | jq '.layers | length')" 2 "the .sig tag holds both signatures"
fetch_sig app "$SIGTAG1" 1 "$TEST_TMP/s2"
check "openssl pkeyutl verifies the Ed25519 signature from the registry" \
	openssl pkeyutl -verify -pubin -inkey "$K/e.pub" -rawin -in "$TEST_TMP/s2/payload.json" -sigfile "$TEST_TMP/s2/sig.der"
agree app v1 "$K/e.pub" "$TEST_TMP/s2"
expect_ok R verify --plain-http --key "$K/a.pub" "$H/app:v1"
expect_ok R verify --plain-http --key "$K/e.pub" "$H/app@$MD1"
# Signing again with a key that signed: nothing is lost, still verifies.
expect_ok R sign --plain-http --key "$K/a.pem" "$H/app:v1"
expect_ok R verify --plain-http --key "$K/e.pub" "$H/app:v1"

# --- push --sign ------------------------------------------------------------
expect_ok R push --plain-http --sign --key "$K/e.pem" app:v2 "$H/app:v2"
expect_match "$OUT" "signed by ed25519 key sha256:$FPR_E" "push --sign says it signed"
MD2=$(digest_of app v2)
expect_ok R verify --plain-http --key "$K/e.pub" "$H/app:v2"
fetch_sig app "sha256-${MD2#sha256:}.sig" 0 "$TEST_TMP/s3"
agree app v2 "$K/e.pub" "$TEST_TMP/s3"
agree app v2 "$K/a.pub" "$TEST_TMP/s3"
# Pushed again (already there): signed again with another key, both stay.
expect_ok R push --plain-http --sign --key "$K/a.pem" app:v2 "$H/app:v2"
expect_match "$OUT" "already there" "the manifest was there"
expect_ok R verify --plain-http --key "$K/a.pub" "$H/app:v2"
expect_ok R verify --plain-http --key "$K/e.pub" "$H/app:v2"

# --- push carries the store's signatures ------------------------------------
expect_ok R sign --key "$K/a.pem" app:v3
expect_ok R sign --key "$K/e.pem" app:v3
# Another referrer of v3 in the store, an 80 KiB SBOM pushed through
# regctl serve: not a signature, so not carried.
serve_start main --store "$STORE"
S=$SERVE_MAIN_URL
sbom_push() {
	local d cd md ms body
	head -c $((80 << 10)) /dev/zero | tr '\0' x >"$TEST_TMP/sbom.json"
	printf '{}' >"$TEST_TMP/empty.json"
	d=$(push_blob "$TEST_TMP/sbom.json" "$S") && cd=$(push_blob "$TEST_TMP/empty.json" "$S") || return 1
	md=$(curl -sf -I -H "$ACCEPT" "$S/v2/app/manifests/v3" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
	ms=$(curl -sf -H "$ACCEPT" "$S/v2/app/manifests/v3" | wc -c)
	body=$(jq -cn --arg d "$d" --argjson s $((80 << 10)) --arg cd "$cd" --arg md "$md" --argjson ms "$ms" \
		'{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
		  artifactType:"application/spdx+json",
		  config:{mediaType:"application/vnd.oci.empty.v1+json", digest:$cd, size:2},
		  layers:[{mediaType:"application/spdx+json", digest:$d, size:$s}],
		  subject:{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$md, size:$ms}}')
	curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$body" \
		"$S/v2/app/manifests/sha256:$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)" -o /dev/null
}
expect_ok "an SBOM of v3 is pushed to the store" -- sbom_push
expect_eq "$(curl -sf "$S/v2/app/referrers/$(curl -sf -I -H "$ACCEPT" "$S/v2/app/manifests/v3" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')" | jq '.manifests | length')" 3 \
	"the store has three referrers of v3: two signatures and the SBOM"
run_cmd R verify --key "$K/a.pub" --json app:v3
LSIG=$(jq -r .signature <<<"$OUT")
expect_ok R push --plain-http app:v3 "$H/app:v3"
expect_match "$OUT" "2 signatures" "push says it carried two signatures"
MD3=$(digest_of app v3)
expect_ok R verify --plain-http --key "$K/a.pub" "$H/app:v3"
expect_ok R verify --plain-http --key "$K/e.pub" "$H/app:v3"
check "the store's signature manifest is in the registry by its digest" curl -sf -I -H "$ACCEPT" "$U/v2/app/manifests/$LSIG" -o /dev/null
fetch_sig app "sha256-${MD3#sha256:}.sig" 0 "$TEST_TMP/s4"
fetch_sig app "sha256-${MD3#sha256:}.sig" 1 "$TEST_TMP/s5"
# The store's .sig tag (the newest, e's) came first, then its referrers.
expect_eq "$(independent "$K/e.pub" "$TEST_TMP/s4" "$MD3")/$(independent "$K/a.pub" "$TEST_TMP/s5" "$MD3")" \
	"pass/pass" "openssl verifies both carried signatures"
# Into another repository, with --sign: three signatures there.
expect_ok R push --plain-http --sign --key "$K/b.pem" app:v3 "$H/team/other:v3"
for k in a e b; do
	expect_ok R verify --plain-http --key "$K/$k.pub" "$H/team/other:v3"
done
expect_eq "$(curl -sf -H "$ACCEPT" "$U/v2/team/other/manifests/sha256-${MD3#sha256:}.sig" | jq '.layers | length')" 3 \
	"the .sig tag in the other repository holds three signatures"
# A tag with no signature pushes none.
expect_ok R push --plain-http app:v7 "$H/app:v7"
expect_no_match "$OUT" "signature" "a tag without signatures pushes none"
# A .sig tag that holds something else is left alone.
MD7=$(digest_of app v7)
expect_ok R push --plain-http app:v6 "$H/app:sha256-${MD7#sha256:}.sig"
expect_status 1 R sign --plain-http --key "$K/a.pem" "$H/app:v7"
expect_match "$OUT" "not replaced" "a .sig tag holding another artifact is not replaced, said"
expect_status 1 R verify --plain-http --key "$K/a.pub" "$H/app:v7"
expect_match "$OUT" "no cosign signature" "... and is no signature"

# --- Bad signatures pushed by another client --------------------------------
# push_sig TAG PAYLOAD SIG-B64 [SIZE]: a signature manifest of app:TAG as
# its .sig tag; SIZE is what the layer declares (the payload's by default).
push_sig() {
	local tag=$1 payload=$2 sig=$3 size=${4:-} md ms pd cd body
	md=$(digest_of app "$tag")
	ms=$(curl -sf -H "$ACCEPT" "$U/v2/app/manifests/$tag" | wc -c)
	[[ -n $size ]] || size=$(wc -c <"$payload")
	printf '{}' >"$TEST_TMP/empty.json"
	cd=$(push_blob "$TEST_TMP/empty.json") && pd=$(push_blob "$payload") || return 1
	body=$(jq -cn --arg cd "$cd" --arg pd "$pd" --argjson ps "$size" --arg sig "$sig" --arg md "$md" --argjson ms "$ms" \
		'{schemaVersion:2, mediaType:"application/vnd.oci.image.manifest.v1+json",
		  config:{mediaType:"application/vnd.oci.empty.v1+json", digest:$cd, size:2},
		  layers:[{mediaType:"application/vnd.dev.cosign.simplesigning.v1+json", digest:$pd, size:$ps,
		           annotations:{"dev.cosignproject.cosign/signature":$sig}}],
		  subject:{mediaType:"application/vnd.oci.image.manifest.v1+json", digest:$md, size:$ms}}')
	curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$body" \
		"$U/v2/app/manifests/sha256-${md#sha256:}.sig" -o /dev/null
}
for i in 4 5 6; do expect_ok R push --plain-http "app:v$i" "$H/app:v$i"; done
MD5=$(digest_of app v5)

# A signature over another digest: v1's payload and signature replayed on v4.
expect_ok "v1's signature is replayed on v4" -- push_sig v4 "$TEST_TMP/s1/payload.json" "$(cat "$TEST_TMP/s1/sig.b64")"
expect_status 1 R verify --plain-http --key "$K/a.pub" "$H/app:v4"
expect_match "$OUT" "covers $MD1" "the replayed signature covers another digest, said"
agree app v4 "$K/a.pub" "$TEST_TMP/s1"

# A truncated signature on v5's own payload.
mkdir -p "$TEST_TMP/t5"
sed "s/$MD1/$MD5/" "$TEST_TMP/s1/payload.json" | tr -d '\n' >"$TEST_TMP/t5/payload.json"
openssl dgst -sha256 -sign "$K/a.pem" -out "$TEST_TMP/t5/full.der" "$TEST_TMP/t5/payload.json"
head -c 40 "$TEST_TMP/t5/full.der" >"$TEST_TMP/t5/sig.der"
expect_ok "a truncated signature is pushed for v5" -- push_sig v5 "$TEST_TMP/t5/payload.json" "$(base64 -w0 <"$TEST_TMP/t5/sig.der")"
expect_status 1 R verify --plain-http --key "$K/a.pub" "$H/app:v5"
expect_match "$OUT" "truncated" "the truncated signature is refused, said"
agree app v5 "$K/a.pub" "$TEST_TMP/t5"

# A payload layer declaring 100 MB: refused unread.
mkdir -p "$TEST_TMP/t6"
MD6=$(digest_of app v6)
sed "s/$MD1/$MD6/" "$TEST_TMP/s1/payload.json" | tr -d '\n' >"$TEST_TMP/t6/payload.json"
openssl dgst -sha256 -sign "$K/a.pem" -out "$TEST_TMP/t6/sig.der" "$TEST_TMP/t6/payload.json"
PD6=sha256:$(sha "$TEST_TMP/t6/payload.json")
if push_sig v6 "$TEST_TMP/t6/payload.json" "$(base64 -w0 <"$TEST_TMP/t6/sig.der")" $((100 << 20)); then
	ok "a signature whose layer declares 100 MB is in the registry"
	before=$(registry_blob_gets up "$PD6")
	expect_status 1 R verify --plain-http --key "$K/a.pub" "$H/app:v6"
	expect_match "$OUT" "refused unread" "the 100 MB layer is refused unread, said"
	expect_eq "$(registry_blob_gets up "$PD6")" "$before" "the 100 MB payload was never asked for"
	# The same signature, its layer declaring too few bytes.
	expect_ok "a layer declaring 10 bytes" -- push_sig v6 "$TEST_TMP/t6/payload.json" "$(base64 -w0 <"$TEST_TMP/t6/sig.der")" 10
	expect_status 1 R verify --plain-http --key "$K/a.pub" "$H/app:v6"
	expect_match "$OUT" "longer than" "a payload longer than its layer says is refused"
	# Honest at last: it verifies, and openssl agrees.
	expect_ok "the honest signature" -- push_sig v6 "$TEST_TMP/t6/payload.json" "$(base64 -w0 <"$TEST_TMP/t6/sig.der")"
	expect_ok R verify --plain-http --key "$K/a.pub" "$H/app:v6"
	agree app v6 "$K/a.pub" "$TEST_TMP/t6"
else
	fail "the registry refused a manifest with a lying layer size"
fi

# --- Failures to read are no verdict ----------------------------------------
bad_proxy_start p "$U" --fail-status 500 --fail-times 0 --match '^GET /v2/app/blobs/'
PH=${BAD_PROXY_P_URL#http://}
expect_status 1 R verify --plain-http --key "$K/a.pub" "$PH/app:v1"
expect_match "$OUT" "cannot verify" "a registry answering 500 is an error"
expect_no_match "$OUT" "not verified" "... and not a verdict"
bad_proxy_stop p
expect_status 1 timeout 60 "$REGCTL" --store "$STORE" verify --plain-http --key "$K/a.pub" "127.0.0.1:1/app:v1"
expect_match "$OUT" "cannot" "an unreachable registry is an error"

# --- A registry behind bearer tokens ----------------------------------------
registry_start tok --token bob:tok-pass
T=$REGISTRY_TOK_HOST
# Its token service is plain http on another port (t1545).
export REGCTL_PLAIN_REALM_CREDENTIALS=1
expect_status 1 R push --plain-http --sign --key "$K/a.pem" app:v3 "$T/app:v3"
OUT=$(printf 'tok-pass\n' | "$REGCTL" login --password-stdin --plain-http -u bob "$T" 2>&1) ||
	fail "login to the token registry: $OUT"
expect_ok R push --plain-http --sign --key "$K/a.pem" app:v3 "$T/app:v3"
expect_match "$OUT" "2 signatures" "the store's signatures go to a token registry"
for k in a e; do
	expect_ok R verify --plain-http --key "$K/$k.pub" "$T/app:v3"
done
expect_ok R sign --plain-http --key "$K/b.pem" "$T/app:v3"
expect_ok R verify --plain-http --key "$K/b.pub" "$T/app:v3"

# --- Audit ------------------------------------------------------------------
run_cmd R audit --json --kind push
expect_match "$OUT" "\"repo\":\"$H/app\"" "pushes to a registry are audited with its repository"
run_cmd R audit --json --kind sign
expect_match "$OUT" "\"repo\":\"$H/app\"" "signatures made are audited with the registry's repository"
expect_match "$OUT" "\"repo\":\"app\",\"tag\":\"v3\"" "local signatures are audited"
run_cmd R audit --json --kind verify-failed
expect_match "$OUT" "\"action\":\"verify\"" "a signature that does not verify is a verify-failed event"
expect_match "$OUT" "covers $MD1" "... with the reason"
run_cmd R audit --json --kind verify
expect_match "$OUT" "no cosign signature" "no signature at all is audited too"

done_testing
