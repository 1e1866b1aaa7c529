#!/bin/bash
# t0515-pull-tls: pull-through from an https upstream (a real Distribution
# registry with a certificate for IP:127.0.0.1 only, signed by a throwaway
# CA that nothing in the environment trusts):
# - no ca_file (a regfs.conf, and -o upstream=): the reader gets ENOENT or
#   EIO quickly, nothing is stored, no blob is asked for, and the log names
#   the upstream and the certificate problem;
# - ca_file = the CA: cat gives the pushed bytes, ls lists the tag,
#   user.regfs.digest is the layer digest;
# - the same ca_file with https://localhost:PORT (not a name of the
#   certificate) is refused the same way: the host name is verified too;
# - tls_verify = false without ca_file: the read works;
# - skopeo, the independent client, agrees: --cert-dir with the CA reads the
#   artifact, without it (or by the name localhost) it is refused.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012 # ls as users use it
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

# No trust and no credentials from the machine: only what a config names.
export HOME=$TEST_TMP/home
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS XDG_CONFIG_HOME CURL_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR

mkrand "$SRC/app.bin" 64K
app_d=sha256:$(sha "$SRC/app.bin")

registry_start tls --tls
U=$REGISTRY_TLS_URL
H=$REGISTRY_TLS_HOST
PORT=${H##*:}
CA=$REGISTRY_TLS_CA
expect_match "$U" '^https://127\.0\.0\.1:[0-9]+$' "REGISTRY_TLS_URL is an https loopback URL"
check "REGISTRY_TLS_CA is a PEM certificate" grep -q 'BEGIN CERTIFICATE' "$CA"
# What the registry serves: the names are IP:127.0.0.1 and nothing else.
openssl s_client -connect "$H" -CAfile "$CA" </dev/null 2>/dev/null |
	openssl x509 -noout -ext subjectAltName >"$TEST_TMP/san.txt" 2>&1 || :
expect_eq "$(grep -v 'Subject Alternative Name' "$TEST_TMP/san.txt" | tr -d ' ')" 'IPAddress:127.0.0.1' \
	"the served certificate names IP:127.0.0.1 only (no DNS name)"
run_cmd curl -sS --max-time 5 -o /dev/null "$U/v2/"
expect_eq "$RC" 60 "the environment does not trust the CA (curl without --cacert: 60)"

d=$(oci_push_file "$U" team/app v1 "$SRC/app.bin")
expect_eq "$d" "$app_d" "(pushed over https)"

# conf FILE URL [LINE...]: a regfs.conf with one upstream "up", few retries,
# and the extra LINEs.
conf() {
	local f=$1 url=$2
	shift 2
	{
		printf '[upstream up]\nurl = %s\n' "$url"
		printf '%s\n' 'credentials = none' 'timeout = 3s' 'retries = 1' 'backoff = 100ms'
		if (($#)); then printf '%s\n' "$@"; fi
	} >"$f"
}

# in_store STORE DIGEST: the blob is in the store.
in_store() { test -e "$1/blobs/sha256/${2#sha256:}"; }

# refused N URL-ERE WHY-ERE WHAT: mount N's read of the tag fails quickly
# (ENOENT or EIO), stores nothing, and its log has a line naming the
# upstream URL and why.
refused() {
	local n=$1 url_re=$2 why_re=$3 what=$4
	local m=$TEST_TMP/m$n log
	log=$(daemon_log "$m")
	run_timed cat "$m/registry/team/app/v1"
	check "$what: cat fails" test "$RC" -ne 0
	expect_match "$OUT" 'No such file or directory|Input/output error' "$what: ENOENT or EIO"
	check "$what: quickly (took ${ELAPSED} ms)" test "$ELAPSED" -lt 5000
	check "$what: the log names the upstream and why" wait_until 5 \
		grep -Eqi "upstream '[^']*' \\($url_re\\).*$why_re" "$log"
	expect_eq "$(count_files "$TEST_TMP/s$n/blobs")" 0 "$what: nothing stored"
}

# --- no CA: refused ---------------------------------------------------------------

conf "$TEST_TMP/noca.conf" "$U"
regfs_mount "$TEST_TMP/s1" "$TEST_TMP/m1" -o config="$TEST_TMP/noca.conf"
refused 1 "https://127\\.0\\.0\\.1:$PORT" 'certificate' "no ca_file"
regfs_umount "$TEST_TMP/m1"

# -o upstream= (no config; default timeout 20 s): a certificate failure is
# not retried, so it is quick too.
regfs_mount "$TEST_TMP/s2" "$TEST_TMP/m2" -o upstream="$U"
refused 2 "https://127\\.0\\.0\\.1:$PORT" 'certificate' "-o upstream= without a CA"
regfs_umount "$TEST_TMP/m2"
expect_eq "$(registry_blob_gets tls "$app_d")" 0 "no blob GET reached the registry"

# --- ca_file: served ------------------------------------------------------------------

conf "$TEST_TMP/ca.conf" "$U" "ca_file = $CA"
regfs_mount "$TEST_TMP/s3" "$TEST_TMP/m3" -o config="$TEST_TMP/ca.conf"
M=$TEST_TMP/m3/registry
expect_eq "$(sha "$M/team/app/v1" 2>&1)" "${app_d#sha256:}" "ca_file: cat gives the pushed bytes"
expect_eq "$(ls "$M/team/app" 2>&1)" v1 "ca_file: ls lists the upstream tag"
expect_eq "$(xattr "$M/team/app/v1" user.regfs.digest 2>&1)" "$app_d" "ca_file: user.regfs.digest is the layer digest"
check "ca_file: the blob is in the store" wait_until 10 in_store "$TEST_TMP/s3" "$app_d"
regfs_umount "$TEST_TMP/m3"

# --- the host name is verified ------------------------------------------------------

if grep -q '^127\.0\.0\.1[[:space:]]' <<<"$(getent ahosts localhost 2>/dev/null)"; then
	conf "$TEST_TMP/name.conf" "https://localhost:$PORT" "ca_file = $CA"
	regfs_mount "$TEST_TMP/s4" "$TEST_TMP/m4" -o config="$TEST_TMP/name.conf"
	refused 4 "https://localhost:$PORT" "(subject name|host ?name|not valid for).*localhost|localhost.*(does not match|mismatch)" \
		"https://localhost with the CA"
	regfs_umount "$TEST_TMP/m4"
else
	diag "localhost does not resolve to 127.0.0.1 here: the host name check is skipped"
fi

# --- tls_verify = false ---------------------------------------------------------------

conf "$TEST_TMP/noverify.conf" "$U" "tls_verify = false"
regfs_mount "$TEST_TMP/s5" "$TEST_TMP/m5" -o config="$TEST_TMP/noverify.conf"
expect_eq "$(sha "$TEST_TMP/m5/registry/team/app/v1" 2>&1)" "${app_d#sha256:}" \
	"tls_verify = false (no ca_file): cat gives the pushed bytes"
regfs_umount "$TEST_TMP/m5"

# --- skopeo agrees ------------------------------------------------------------------------

mkdir -p "$TEST_TMP/certs"
cp "$CA" "$TEST_TMP/certs/ca.crt"
run_cmd skopeo inspect --cert-dir "$TEST_TMP/certs" --retry-times 0 --raw "docker://$H/team/app:v1"
expect_eq "$RC" 0 "skopeo --cert-dir with the CA reads the manifest"
expect_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])' 2>&1)" \
	"$app_d" "skopeo sees the pushed layer"
run_cmd skopeo inspect --retry-times 0 --raw "docker://$H/team/app:v1"
check "skopeo without the CA is refused" test "$RC" -ne 0
expect_match "$OUT" 'x509|certificate' "skopeo says it is the certificate"
if grep -q '^127\.0\.0\.1[[:space:]]' <<<"$(getent ahosts localhost 2>/dev/null)"; then
	run_cmd skopeo inspect --cert-dir "$TEST_TMP/certs" --retry-times 0 --raw "docker://localhost:$PORT/team/app:v1"
	check "skopeo by the name localhost is refused too" test "$RC" -ne 0
	expect_match "$OUT" 'x509|certificate' "skopeo says it is the certificate"
fi

done_testing
