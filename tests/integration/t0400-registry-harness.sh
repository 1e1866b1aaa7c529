#!/bin/bash
# t0400-registry-harness: the harness of the pull-through tests checks itself
# against the real peers: registry.sh's pushes give what skopeo (an
# independent client) reads back from a real Distribution registry, plain,
# with htpasswd and with the token service; bad-proxy.py injects its faults;
# registry_blob_gets counts what the registry logged. No regfs mount here.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2016 # literal $(...) for wait_until to rerun
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

mkrand "$SRC/app.bin" 100K
mkrand "$SRC/big.bin" 300K
printf 'a small text file\n' >"$SRC/notes.txt"
mkrand "$SRC/lib.so" 20K
app_d=sha256:$(sha "$SRC/app.bin")

# json FILE EXPR: a Python expression over the JSON document d.
json() {
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# --- a plain registry -------------------------------------------------------

registry_start plain
U=$REGISTRY_PLAIN_URL
expect_match "$U" '^http://127\.0\.0\.1:[0-9]+$' "REGISTRY_PLAIN_URL is a loopback URL"
expect_eq "$(registry_url plain)" "$U" "registry_url prints it"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/v2/")" 200 "anonymous GET /v2/ answers 200"

d=$(oci_push_file "$U" org/app v1 "$SRC/app.bin")
expect_eq "$d" "$app_d" "oci_push_file prints the layer digest"
skopeo_manifest "$U" org/app v1 >"$TEST_TMP/m1.json"
expect_eq "$(json "$TEST_TMP/m1.json" 'd["config"]["mediaType"], d["config"]["digest"], d["config"]["size"]')" \
	"('application/vnd.oci.empty.v1+json', '$OCI_EMPTY_DIGEST', 2)" "skopeo reads the ORAS-shaped empty config"
expect_eq "$(json "$TEST_TMP/m1.json" '[(l["digest"], l["size"], l["annotations"]["org.opencontainers.image.title"]) for l in d["layers"]]')" \
	"[('$app_d', 102400, 'app.bin')]" "one layer, its size and its title"
expect_eq "$(json "$TEST_TMP/m1.json" 'd["mediaType"], d["artifactType"], "org.opencontainers.image.created" in d["annotations"]')" \
	"('application/vnd.oci.image.manifest.v1+json', 'application/vnd.unknown.artifact.v1', True)" \
	"media type, artifact type and creation annotation"
expect_eq "$(skopeo_manifest_digest "$U" org/app v1)" "$(oci_manifest_digest "$U" org/app v1)" \
	"skopeo's manifest digest is the registry's Docker-Content-Digest"
d=$(oci_push_file "$U" org/app v2 "$SRC/app.bin" renamed.bin --no-artifact-type)
expect_eq "$(skopeo_manifest "$U" org/app v2 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["layers"][0]["annotations"]["org.opencontainers.image.title"], "artifactType" in d)')" \
	"renamed.bin False" "a TITLE argument, and --no-artifact-type"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/v2/org/app/manifests/v1")" 404 \
	"(Distribution answers 404 for an OCI manifest without the OCI Accept type)"

# A multi-layer image, the last layer untitled.
md=$(oci_push_image "$U" org/img 1.0 --untitled "$SRC/notes.txt" "$SRC/lib.so" "$SRC/big.bin")
expect_eq "$(skopeo_manifest_digest "$U" org/img 1.0)" "$md" "oci_push_image prints the manifest digest skopeo sees"
skopeo_manifest "$U" org/img 1.0 >"$TEST_TMP/m2.json"
expect_eq "$(json "$TEST_TMP/m2.json" '[(l["digest"][7:15], l.get("annotations", {}).get("org.opencontainers.image.title")) for l in d["layers"]]')" \
	"[('$(sha "$SRC/notes.txt" | cut -c1-8)', 'notes.txt'), ('$(sha "$SRC/lib.so" | cut -c1-8)', 'lib.so'), ('$(sha "$SRC/big.bin" | cut -c1-8)', None)]" \
	"three layers in order, titled by basename, the last untitled"
expect_eq "$(json "$TEST_TMP/m2.json" 'd["config"]["mediaType"]')" application/vnd.oci.image.config.v1+json \
	"the image has an image config"
expect_ok "skopeo inspect (not --raw) reads the image config" -- \
	skopeo inspect --tls-verify=false "docker://$REGISTRY_PLAIN_HOST/org/img:1.0"
expect_match "$OUT" '"Architecture": "amd64"' "the config says linux/amd64"

# An index of two platforms.
amd_d=$(oci_push_index "$U" org/multi latest)
skopeo_manifest "$U" org/multi latest >"$TEST_TMP/idx.json"
expect_eq "$(json "$TEST_TMP/idx.json" 'd["mediaType"], [(m["platform"]["os"], m["platform"]["architecture"]) for m in d["manifests"]]')" \
	"('application/vnd.oci.image.index.v1+json', [('linux', 'amd64'), ('linux', 'arm64')])" "an index of linux/amd64 and linux/arm64"
amd_m=$(json "$TEST_TMP/idx.json" 'd["manifests"][0]["digest"]')
arm_m=$(json "$TEST_TMP/idx.json" 'd["manifests"][1]["digest"]')
expect_eq "$(skopeo_manifest "$U" org/multi "$amd_m" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')" \
	"$amd_d" "oci_push_index prints the amd64 manifest's layer digest"
expect_ne "$(skopeo_manifest "$U" org/multi "$arm_m" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')" \
	"$amd_d" "the arm64 layer is another blob"
expect_eq "$(skopeo_manifest_digest "$U" org/multi "$amd_m")" "$amd_m" "the platform manifests were pushed by digest"

# Counting blob GETs in the registry's log.
expect_eq "$(registry_blob_gets plain "$app_d")" 0 "no blob GET yet (pushes, HEADs do not count)"
expect_ok "one blob GET" -- oci_get_blob "$U" org/app "$app_d" "$TEST_TMP/got.bin"
expect_eq "$(sha "$TEST_TMP/got.bin")" "${app_d#sha256:}" "the blob comes back whole"
heads=$(registry_requests plain HEAD "/v2/org/app/blobs/$app_d")
curl -sfI "$U/v2/org/app/blobs/$app_d" >/dev/null
check "registry_blob_gets counts 1 after one GET and a HEAD" wait_until 5 \
	'test "$(registry_blob_gets plain "$app_d")" -eq 1'
expect_eq "$(registry_blob_gets plain "${app_d#sha256:}")" 1 "a bare hex digest works too"
check "registry_requests counts the HEAD" wait_until 5 \
	'test "$(registry_requests plain HEAD "/v2/org/app/blobs/$app_d")" -eq $((heads + 1))'

# A pull-through registry in front of it (Distribution's proxy mode).
registry_start mirror --proxy-of "$U"
before=$(registry_blob_gets plain "$app_d")
expect_eq "$(skopeo_manifest_digest "$REGISTRY_MIRROR_URL" org/app v1)" "$(oci_manifest_digest "$U" org/app v1)" \
	"--proxy-of: the mirror serves the upstream's manifest"
expect_ok "a blob GET through the mirror" -- oci_get_blob "$REGISTRY_MIRROR_URL" org/app "$app_d" "$TEST_TMP/mirror.bin"
expect_eq "$(sha "$TEST_TMP/mirror.bin")" "${app_d#sha256:}" "the mirror's blob is whole"
check "the mirror logged one blob GET" wait_until 5 'test "$(registry_blob_gets mirror "$app_d")" -eq 1'
check "the upstream logged the mirror's GETs" wait_until 5 'test "$(registry_blob_gets plain "$app_d")" -gt "$before"'
diag "upstream blob GETs for one cold GET through Distribution's proxy mode: $(($(registry_blob_gets plain "$app_d") - before))"
registry_stop mirror

# --- htpasswd ---------------------------------------------------------------

registry_start basic --htpasswd alice:open-sesame
B=$REGISTRY_BASIC_URL
expect_eq "$REGISTRY_BASIC_CREDS" alice:open-sesame "REGISTRY_BASIC_CREDS"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$B/v2/")" 401 "anonymous GET /v2/ gets 401"
expect_match "$(curl -s -D - -o /dev/null "$B/v2/" | tr -d '\r' | grep -i '^www-authenticate:')" 'Basic realm=' \
	"the challenge is Basic"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u alice:wrong "$B/v2/")" 401 "wrong password gets 401"
expect_fail "a push without credentials fails" -- oci_push_file "$B" app v1 "$SRC/app.bin"
expect_ok "a push with credentials" -- oci_push_file "$B" app v1 "$SRC/app.bin" --user alice:open-sesame
expect_eq "$OUT" "$app_d" "it prints the layer digest"
expect_eq "$(skopeo_manifest_digest "$B" app v1 --creds alice:open-sesame)" \
	"$(oci_manifest_digest "$B" app v1 --auth alice:open-sesame)" "skopeo with --creds reads it back (--auth picks basic)"
expect_fail "skopeo without credentials is refused" -- skopeo_manifest "$B" app v1
expect_ok "oci_push_image with --user" -- oci_push_image "$B" img 1 --user alice:open-sesame "$SRC/notes.txt" "$SRC/lib.so"

# --- bearer tokens ------------------------------------------------------------

registry_start tok --token bob:tok-pass
T=$REGISTRY_TOK_URL
expect_match "$REGISTRY_TOK_REALM" '^http://127\.0\.0\.1:[0-9]+/token$' "REGISTRY_TOK_REALM"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$T/v2/")" 401 "GET /v2/ without a token gets 401"
expect_match "$(curl -s -D - -o /dev/null "$T/v2/" | tr -d '\r' | grep -i '^www-authenticate:')" \
	"Bearer realm=\"$REGISTRY_TOK_REALM\",service=\"$REGISTRY_TOK_SERVICE\"" "the challenge names the realm and the service"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_TOK_REALM?service=$REGISTRY_TOK_SERVICE")" 401 \
	"the token service refuses anonymous requests"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u bob:nope "$REGISTRY_TOK_REALM?service=$REGISTRY_TOK_SERVICE")" 401 \
	"the token service refuses a wrong password"
expect_fail "oci_token with a wrong password fails" -- oci_token "$T" app bob:nope
expect_ok "a push with a token" -- oci_push_file "$T" team/app v1 "$SRC/app.bin" --token-auth bob:tok-pass
expect_ok "a pull of the blob with a token" -- \
	oci_get_blob "$T" team/app "$app_d" "$TEST_TMP/tok.bin" --token-auth bob:tok-pass
expect_eq "$(sha "$TEST_TMP/tok.bin" 2>&1)" "${app_d#sha256:}" "the blob pulled with a token is whole"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$T/v2/team/app/blobs/$app_d")" 401 "the blob without a token gets 401"
tok=$(oci_token "$T" team/app bob:tok-pass pull)
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$T/v2/team/app/blobs/$app_d")" 200 \
	"a pull token opens the blob"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$T/v2/other/blobs/$app_d")" 401 \
	"it does not open another repository"
payload=$(cut -d. -f2 <<<"$tok" | tr '_-' '/+' | sed 's/$/===/' | base64 -d 2>/dev/null || :)
expect_match "$payload" '"access":\[\{"type":"repository","name":"team/app","actions":\["pull"\]\}\]' \
	"the token grants what was asked"
expect_eq "$(skopeo_manifest_digest "$T" team/app v1 --creds bob:tok-pass)" \
	"$(oci_manifest_digest "$T" team/app v1 --auth bob:tok-pass)" "skopeo does the token flow (--auth picks bearer)"
check "the token service logs its requests" grep -q 'user=bob -> 200' "$REGISTRY_TOK_TOKEN_LOG"
check "its log has no password" _lib_not grep -q -e tok-pass -e nope "$REGISTRY_TOK_TOKEN_LOG"
check "the registry log has no token" _lib_not grep -qF "${tok:0:40}" "$REGISTRY_TOK_LOG"

# Stale tokens: the first one is refused, the next one works.
registry_start stale --token carol:pw --token-stale 1
tok1=$(oci_token "$REGISTRY_STALE_URL" any carol:pw pull)
tok2=$(oci_token "$REGISTRY_STALE_URL" any carol:pw pull)
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok1" "$REGISTRY_STALE_URL/v2/")" 401 \
	"--token-stale 1: the first token is already expired"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok2" "$REGISTRY_STALE_URL/v2/")" 200 \
	"the second one is good"
registry_stop stale

# --- bad-proxy ----------------------------------------------------------------

bad_proxy_start corrupt "$U" --corrupt-blobs --count-file "$TEST_TMP/corrupt.count"
P=$BAD_PROXY_CORRUPT_URL
expect_ok "a blob GET through --corrupt-blobs" -- oci_get_blob "$P" org/app "$app_d" "$TEST_TMP/bad.bin"
expect_eq "$(stat -c %s "$TEST_TMP/bad.bin")" 102400 "the size is right"
expect_ne "$(sha "$TEST_TMP/bad.bin")" "${app_d#sha256:}" "the bytes are not (sha256 differs)"
expect_eq "$({ cmp -l "$SRC/app.bin" "$TEST_TMP/bad.bin" || :; } | awk '{print $1}')" 51201 "exactly one byte, the middle one, is flipped"
expect_eq "$(skopeo_manifest_digest "$P" org/app v1)" "$(skopeo_manifest_digest "$U" org/app v1)" \
	"manifests pass unchanged (and skopeo works through the proxy)"
check "the count file has the blob GET" grep -qx "GET /v2/org/app/blobs/$app_d" "$TEST_TMP/corrupt.count"
expect_ok "a push through the proxy (Host is kept, so Location points back at it)" -- \
	oci_push_file "$P" via/proxy v1 "$SRC/notes.txt"
check "the upload went through the proxy" grep -q '^PUT /v2/via/proxy/blobs/uploads/' "$TEST_TMP/corrupt.count"

bad_proxy_start cut "$U" --cut-after 1000
before_cut=$(registry_blob_gets plain "$app_d")
C=$BAD_PROXY_CUT_URL
expect_fail "the first blob GET through --cut-after is cut" -- \
	curl -sS --max-time 10 -o "$TEST_TMP/part.bin" "$C/v2/org/app/blobs/$app_d"
expect_match "$OUT" 'curl: \(18\)' "curl sees a short transfer (exit 18)"
expect_eq "$(stat -c %s "$TEST_TMP/part.bin")" 1000 "it got the first 1000 bytes"
expect_ok "a Range request through it succeeds" -- \
	curl -sSf --max-time 10 -H 'Range: bytes=1000-' -o "$TEST_TMP/rest.bin" "$C/v2/org/app/blobs/$app_d"
expect_eq "$(cat "$TEST_TMP/part.bin" "$TEST_TMP/rest.bin" | sha256sum | cut -d' ' -f1)" "${app_d#sha256:}" \
	"the two parts make the blob"
check "the registry logged both GETs (and the earlier ones)" wait_until 5 \
	'test "$(registry_blob_gets plain "$app_d")" -eq "$((before_cut + 2))"'

bad_proxy_start busy "$U" --fail-status 503 --retry-after 2 --delay-ms 300
expect_eq "$(curl -s -D "$TEST_TMP/busy.hdr" -o /dev/null -w '%{http_code}' "$BAD_PROXY_BUSY_URL/v2/org/app/blobs/$app_d")" 503 \
	"--fail-status answers 503 first"
check "with Retry-After" grep -qi '^retry-after: 2' "$TEST_TMP/busy.hdr"
t0=$(now_ns)
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$BAD_PROXY_BUSY_URL/v2/org/app/blobs/$app_d")" 200 "then 200"
check "--delay-ms delays the answer" test $((($(now_ns) - t0) / 1000000)) -ge 300

# --- stop, restart ------------------------------------------------------------

bad_proxy_stop busy
pid=$REGISTRY_PLAIN_PID
registry_stop plain
check "registry_stop ends the process" _lib_not proc_alive "$pid"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$U/v2/" || :)" 000 "nothing answers at its port"
registry_restart plain
expect_eq "$REGISTRY_PLAIN_URL" "$U" "registry_restart keeps the URL"
expect_eq "$(skopeo_manifest_digest "$U" org/app v1)" "$(oci_manifest_digest "$U" org/app v1)" \
	"and the storage"
tpid=$REGISTRY_TOK_PID
registry_stop tok KILL
check "registry_stop KILL ends the token registry" _lib_not proc_alive "$tpid"
registry_stop basic
registry_stop plain
bad_proxy_stop corrupt
bad_proxy_stop cut
done_testing
