#!/bin/bash
# t1200-serve-conformance: the OCI distribution-spec conformance suite
# (../shared/oci-conformance/run.sh, the official suite, prebuilt) against
# regctl serve: pull, push, content discovery and content management.
#
# What is asserted, and why:
# - (a) The whole suite with --allow-delete, on a fresh store: 0 failed, and
#   at least 76 passed. OCI_AUTOMATIC_CROSSMOUNT=0 tells the suite that a
#   mount without ?from= is not done (the spec's MAY; a blob belongs to the
#   repositories it was pushed or mounted into), which turns one skip into a
#   pass; the 4 skips left need a tag or digest given from the environment,
#   or automatic cross-mounting. Run twice on the same store: the suite's
#   teardown deletes what it pushed, so a second run passes the same way.
# - (b) The same with --htpasswd (made with htpasswd -bcB) and the suite
#   given OCI_USERNAME/OCI_PASSWORD: 0 failed. Then without credentials and
#   with a wrong password the suite's pushes are refused (most specs fail),
#   which shows the logins were asked for and checked; anonymous and wrong
#   logins are answered 401 with a Basic challenge; the password never
#   reaches the access log.
# - (c) Without --allow-delete (the default: an immutable registry) the
#   suite cannot run whole on one store: its workflows push the same tags
#   with other content (our tags are immutable: 409 DENIED, by design), and
#   its management workflow wants 202 or 404 for a DELETE of a manifest by
#   digest and a tag list one shorter afterwards, where the spec also allows
#   405. So each of pull, push and discovery runs alone on a fresh store:
#   0 failed each. Management alone fails exactly those two specs and
#   passes the ones that accept "deletion disallowed" (tag DELETE 400/405,
#   blob DELETE 405); curl checks that a DELETE of a manifest and of a blob
#   is 405 with an OCI error body (UNSUPPORTED) and that nothing was
#   deleted.
# Every run: the server still answers /health, answered no 5xx, and
# regctl fsck of the store is clean. On a failure the suite's failed specs
# and its console.log are shown.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # helpers called through check
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
require_cmd htpasswd python3
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
# The suite: next to the source tree, or where OCI_CONFORMANCE_RUN says.
SUITE=${OCI_CONFORMANCE_RUN:-$REGFS_SOURCE_DIR/../shared/oci-conformance/run.sh}
[[ -x $SUITE ]] || skip_all "the conformance suite is not at $SUITE"

# conformance NAME URL ARGS...: run the suite (a deadline of 120 s) into
# $TEST_TMP/conf-NAME; its summary's counts in PASSED, FAILED, SKIPPED (-1
# when there is no summary line), its status in RC, its output in OUT.
conformance() {
	local name=$1 url=$2 line
	shift 2
	CONF_DIR=$TEST_TMP/conf-$name
	run_cmd timeout 120 "$SUITE" "$url" "$CONF_DIR" "$@"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' <<<"$OUT" | tail -n 1) || :
	PASSED=-1 FAILED=-1 SKIPPED=-1
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
		PASSED=${BASH_REMATCH[1]} FAILED=${BASH_REMATCH[2]} SKIPPED=${BASH_REMATCH[3]}
	fi
	diag "suite $name: ${line:-no summary} (status $RC)"
}

# conf_diag: what the suite says about its failures.
conf_diag() {
	printf '%s\n' "$OUT" | grep '^FAILED:' | head -n 40 | sed 's/^/#   /'
	if [[ -f $CONF_DIR/console.log ]]; then
		diag "--- console.log, the failures"
		grep -E -A 12 '^\S*\s*\[FAILED\]|^• \[FAILED\]' "$CONF_DIR/console.log" | head -n 120 | sed 's/^/#   /'
	fi
}

# expect_suite NAME MIN-PASSED: 0 failed and at least MIN-PASSED passed.
expect_suite() {
	local name=$1 min=$2
	if [[ $FAILED -eq 0 && $RC -eq 0 ]]; then
		ok "$name: 0 failed"
	else
		fail "$name: 0 failed"
		diag "summary: $PASSED passed, $FAILED failed, $SKIPPED skipped; status $RC"
		conf_diag
	fi
	check "$name: at least $min passed ($PASSED)" test "$PASSED" -ge "$min"
}

# alive NAME: the server still answers /health with 200.
alive() {
	local url=SERVE_${1^^}_URL
	[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${!url}/health") == 200 ]]
}

# server_errors NAME: access log lines of the server that answered 5xx.
server_errors() {
	local log=SERVE_${1^^}_LOG
	grep -E ' 5[0-9]{2} [0-9]+ [0-9.]+( \(cut off\))?$' "${!log}" || :
}

# after_suite NAME STORE: the server answers, gave no 5xx, fsck is clean.
after_suite() {
	local name=$1 store=$2 errors
	check "$name still answers /health" alive "$name"
	errors=$(server_errors "$name")
	expect_eq "$errors" "" "$name answered no 5xx during the suite"
	expect_status 0 "$REGCTL" --store "$store" fsck
	expect_match "$OUT" ' 0 missing, 0 corrupt' "fsck of $name's store finds no damage"
}

# oci_error_code FILE: the first error code of an OCI error body.
oci_error_code() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["errors"][0]["code"])' "$1" 2>/dev/null ||
		echo "(no OCI error body: $(head -c 200 "$1"))"
}

# --- (a) the whole suite, --allow-delete ----------------------------------------

serve_start del --store "$TEST_TMP/s-del" --allow-delete
conformance del "$SERVE_DEL_URL" OCI_AUTOMATIC_CROSSMOUNT=0
expect_suite "the whole suite with --allow-delete" 76
after_suite del "$TEST_TMP/s-del"
conformance del-again "$SERVE_DEL_URL" OCI_AUTOMATIC_CROSSMOUNT=0
expect_suite "the whole suite again on the same store" 76
after_suite del "$TEST_TMP/s-del"
serve_stop del
expect_eq "$SERVE_RC" 0 "regctl serve --allow-delete stops cleanly on SIGTERM"

# --- (b) with logins --------------------------------------------------------

PASS=conf-Secret-$RANDOM
htpasswd -bcB "$TEST_TMP/htpasswd" ci "$PASS" 2>/dev/null
serve_start auth --store "$TEST_TMP/s-auth" --allow-delete --htpasswd "$TEST_TMP/htpasswd"
conformance auth "$SERVE_AUTH_URL" OCI_AUTOMATIC_CROSSMOUNT=0 OCI_USERNAME=ci OCI_PASSWORD="$PASS"
expect_suite "the whole suite with --htpasswd and the suite's login" 76
after_suite auth "$TEST_TMP/s-auth"

conformance anon "$SERVE_AUTH_URL" OCI_AUTOMATIC_CROSSMOUNT=0
check "without a login the suite's pushes are refused ($FAILED failed)" test "$FAILED" -ge 40
conformance wrong "$SERVE_AUTH_URL" OCI_AUTOMATIC_CROSSMOUNT=0 OCI_USERNAME=ci OCI_PASSWORD=wrong
check "with a wrong password too ($FAILED failed)" test "$FAILED" -ge 40
body=$TEST_TMP/body
hdr=$TEST_TMP/hdr
code=$(curl -s -o "$body" -D "$hdr" -w '%{http_code}' -X POST "$SERVE_AUTH_URL/v2/conformance/repo/blobs/uploads/")
expect_eq "$code" 401 "an anonymous upload is 401"
check "... with a Basic challenge" grep -qi '^www-authenticate: basic realm=' "$hdr"
expect_eq "$(oci_error_code "$body")" UNAUTHORIZED "... and an UNAUTHORIZED body"
code=$(curl -s -o "$body" -w '%{http_code}' -u ci:wrong -X POST "$SERVE_AUTH_URL/v2/conformance/repo/blobs/uploads/")
expect_eq "$code" 401 "an upload with a wrong password is 401"
check "the password is not in the access log" _lib_not grep -qF -- "$PASS" "$SERVE_AUTH_LOG"
check "nor the login in base64" _lib_not grep -qF -- "$(printf 'ci:%s' "$PASS" | base64)" "$SERVE_AUTH_LOG"
after_suite auth "$TEST_TMP/s-auth"
serve_stop auth
expect_eq "$SERVE_RC" 0 "regctl serve --htpasswd stops cleanly on SIGTERM"

# --- (c) without --allow-delete: one workflow a fresh store ---------------------

only() {
	local w v args=()
	for w in PULL PUSH CONTENT_DISCOVERY CONTENT_MANAGEMENT; do
		v=0
		[[ $w == "$1" ]] && v=1
		args+=("OCI_TEST_$w=$v")
	done
	printf '%s\n' "${args[@]}"
}

declare -A min_passed=([PULL]=24 [PUSH]=28 [CONTENT_DISCOVERY]=16)
for w in PULL PUSH CONTENT_DISCOVERY; do
	name=keep_${w,,}
	serve_start "$name" --store "$TEST_TMP/s-$name"
	url=SERVE_${name^^}_URL
	mapfile -t args < <(only "$w")
	conformance "$name" "${!url}" OCI_AUTOMATIC_CROSSMOUNT=0 "${args[@]}"
	expect_suite "${w,,} alone without --allow-delete" "${min_passed[$w]}"
	after_suite "$name" "$TEST_TMP/s-$name"
	serve_stop "$name"
done

serve_start keep_mgmt --store "$TEST_TMP/s-keep_mgmt"
URL=$SERVE_KEEP_MGMT_URL
mapfile -t args < <(only CONTENT_MANAGEMENT)
conformance keep_mgmt "$URL" OCI_AUTOMATIC_CROSSMOUNT=0 "${args[@]}"
failed_specs=$(printf '%s\n' "$OUT" | sed -n 's/^FAILED: //p' | sort)
expected_specs=$(
	printf '%s\n' \
		'Content Management Manifest delete DELETE request to manifest (digest) should yield 202 response unless already deleted' \
		'Content Management Manifest delete GET request to tags list should reflect manifest deletion' | sort
)
if [[ $failed_specs == "$expected_specs" ]]; then
	ok "management without --allow-delete fails only the two specs that do not accept 405"
else
	fail "management without --allow-delete fails only the two specs that do not accept 405"
	conf_diag
fi
check "management without --allow-delete: at least 8 passed ($PASSED)" test "$PASSED" -ge 8
passed_spec() {
	python3 - "$CONF_DIR/junit.xml" "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if sys.argv[2] in case.attrib["name"]:
        bad = [c for c in case if c.tag in ("failure", "error", "skipped")]
        sys.exit(1 if bad else 0)
sys.exit(1)
EOF
}
check "the tag DELETE spec (400/405 allowed) passes" \
	passed_spec 'DELETE request to manifest tag should return 202, unless tag deletion is disallowed'
check "the blob DELETE spec (405 allowed) passes" \
	passed_spec 'DELETE request to blob URL should yield 202 response'
after_suite keep_mgmt "$TEST_TMP/s-keep_mgmt"

# What the management workflow left: its tag and blobs, all still there.
repo=conformance/repo
tag=$(curl -s "$URL/v2/$repo/tags/list" | python3 -c 'import json, sys; print(json.load(sys.stdin)["tags"][0])')
mdigest=$(curl -sI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$URL/v2/$repo/manifests/$tag" |
	tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }')
expect_match "$mdigest" '^sha256:[0-9a-f]{64}$' "the management workflow's tag $tag is still served"
bdigest=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$URL/v2/$repo/manifests/$mdigest" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
for what in "manifests/$tag" "manifests/$mdigest" "blobs/$bdigest"; do
	code=$(curl -s -o "$body" -w '%{http_code}' -X DELETE "$URL/v2/$repo/$what")
	expect_eq "$code" 405 "DELETE of ${what%%/*} ${what#*/} is 405"
	expect_eq "$(oci_error_code "$body")" UNSUPPORTED "... with an UNSUPPORTED error body"
done
expect_match "$(cat "$body")" 'allow-delete' "the message tells how to allow deletes"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/$repo/manifests/$mdigest")" 200 \
	"the manifest is still there"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/$repo/blobs/$bdigest")" 200 "the blob is still there"
check "the server still answers" alive keep_mgmt
serve_stop keep_mgmt
expect_eq "$SERVE_RC" 0 "regctl serve stops cleanly on SIGTERM"

done_testing
