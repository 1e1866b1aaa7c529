#!/bin/bash
# t1220-serve-pullthrough: the build-farm topology. One regctl serve in
# front of a Distribution registry (--upstream), three regfs mounts in
# front of the server, 16 cold readers on each mount at once: every reader
# gets the right bytes and the Distribution registry answers exactly one
# GET for the blob. skopeo pulls a multi-layer image through the server,
# each blob fetched from the origin once, verified; with the origin down,
# what was fetched is still served and what was not gets a clear error.
# Stopping does not wait for a download from a slow origin, and a second
# SIGTERM does not wait for a request held by it.
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2016 # literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"

N=16
MOUNTS=3
mkrand "$SRC/big.bin" 20M
big_d=sha256:$(sha "$SRC/big.bin")
for f in a b c; do mkrand "$SRC/layer-$f" 300K; done

registry_start up
U=$REGISTRY_UP_URL
oci_push_file "$U" app v1 "$SRC/big.bin" >/dev/null
img_d=$(oci_push_image "$U" tools/img v1 "$SRC/layer-a" "$SRC/layer-b" "$SRC/layer-c")

serve_start hub --store "$TEST_TMP/hub" --upstream "$U"
S=$SERVE_HUB_URL

# --- many mounts, many cold readers, one GET at the origin ---

# The readers say they are up, then poll for a gate file: all start when it
# is made.
mkdir "$TEST_TMP/up"
pids=()
for ((m = 0; m < MOUNTS; m++)); do
	regfs_mount "$TEST_TMP/store-$m" "$TEST_TMP/mnt-$m" -o upstream="$S"
	for ((i = 0; i < N; i++)); do
		bash -c ': >"$4"; until [ -e "$1" ]; do sleep 0.01; done; sha256sum <"$2" >"$3" 2>"$3.err"' _ \
			"$TEST_TMP/go" "$TEST_TMP/mnt-$m/registry/app/v1" "$TEST_TMP/out.$m.$i" "$TEST_TMP/up/$m.$i" &
		pids+=($!)
		track_pid "$!"
	done
done
wait_until 30 'test "$(count_files "$TEST_TMP/up")" -eq "$((MOUNTS * N))"' || diag "not all readers came up"
: >"$TEST_TMP/go"
failed=0
for p in "${pids[@]}"; do
	wait_exit "$p" 120 || failed=$((failed + 1))
	reap "$p"
	[[ $REAP_RC -eq 0 ]] || failed=$((failed + 1))
done
expect_eq "$failed" 0 "all $((MOUNTS * N)) readers on $MOUNTS mounts succeed"
good=0
for ((m = 0; m < MOUNTS; m++)); do
	for ((i = 0; i < N; i++)); do
		read -r h _ <"$TEST_TMP/out.$m.$i" || h=
		[[ $h == "${big_d#sha256:}" ]] && good=$((good + 1))
		[[ -s $TEST_TMP/out.$m.$i.err ]] && diag "reader $m.$i: $(cat "$TEST_TMP/out.$m.$i.err")"
	done
done
expect_eq "$good" "$((MOUNTS * N))" "every reader gets the right sha256"
sleep 0.5 # (a second download, if any, would be logged by now)
expect_eq "$(registry_blob_gets up "$big_d")" 1 \
	"exactly one GET of the blob at the origin for $((MOUNTS * N)) cold readers"
check "the server's store holds the blob, verified" \
	test "$(sha "$TEST_TMP/hub/blobs/sha256/${big_d#sha256:}")" = "${big_d#sha256:}"

# --- an independent client through the server: a multi-layer image ---

expect_ok "skopeo copies a multi-layer image through the server" -- \
	skopeo copy --preserve-digests --src-tls-verify=false "docker://${SERVE_HUB_HOST}/tools/img:v1" \
	"oci:$TEST_TMP/img-oci:v1"
expect_eq "$(skopeo inspect --raw --tls-verify=false "docker://${SERVE_HUB_HOST}/tools/img:v1" |
	sha256sum | cut -d' ' -f1)" "${img_d#sha256:}" "the server serves the origin's manifest, same digest"
for f in a b c; do
	d=sha256:$(sha "$SRC/layer-$f")
	check "layer $f is in the copy" test -f "$TEST_TMP/img-oci/blobs/sha256/${d#sha256:}"
	expect_eq "$(registry_await 1 registry_blob_gets up "$d")" 1 "layer $f: one GET at the origin"
done

# --- stopping while the origin is slow ---

# A download under way (20 MB at 40 kB/s: minutes) does not hold a SIGTERM:
# it stops, and its request is answered. A blob of a tag the server pinned
# (its manifest asked first, as clients do) and one asked for by digest
# alone are fetched differently: both.
arrivals=$TEST_TMP/arrivals
bad_proxy_start trickle "$U" --rate 40000 --count-file "$arrivals"
for how in tagged untagged; do
	: >"$arrivals"
	serve_start "stop_$how" --store "$TEST_TMP/stop-$how" --upstream "$BAD_PROXY_TRICKLE_URL"
	url_var=SERVE_STOP_${how^^}_URL
	[[ $how == untagged ]] ||
		expect_ok "$how: the manifest is served" -- curl -sf -o /dev/null \
			-H 'Accept: application/vnd.oci.image.manifest.v1+json' "${!url_var}/v2/app/manifests/v1"
	curl -s -o /dev/null "${!url_var}/v2/app/blobs/$big_d" &
	client=$!
	track_pid "$client"
	check "$how: the server's download starts" wait_until 20 grep -q "GET /v2/app/blobs/$big_d" "$arrivals"
	t0=$(now_ns)
	serve_stop "stop_$how"
	diag "it stopped $((($(now_ns) - t0) / 1000000)) ms after SIGTERM"
	check "$how: a server downloading stops within 5 s of SIGTERM" test $((($(now_ns) - t0) / 1000000)) -lt 5000
	expect_eq "$SERVE_RC" 0 "$how: and exits 0"
	check "$how: its client is answered" wait_exit "$client" 5
	reap "$client"
done
bad_proxy_stop trickle

# A request waiting on the origin's answer is waited for; a second SIGTERM
# does not wait.
: >"$arrivals"
bad_proxy_start held "$U" --delay-ms 30000 --count-file "$arrivals" --match '^GET /v2/app/manifests/'
serve_start stop2 --store "$TEST_TMP/stop2" --upstream "$BAD_PROXY_HELD_URL"
curl -s -o /dev/null "$SERVE_STOP2_URL/v2/app/manifests/v1" &
client=$!
track_pid "$client"
check "the server asks the origin" wait_until 20 grep -q "GET /v2/app/manifests/v1" "$arrivals"
kill -TERM "$SERVE_STOP2_PID"
check "the server says it is stopping" wait_until 5 grep -q "stopping (Ctrl-C again to quit at once)" "$TEST_TMP/serve-stop2.log"
t0=$(now_ns)
serve_stop stop2
diag "it ended $((($(now_ns) - t0) / 1000000)) ms after the second SIGTERM"
check "a second SIGTERM ends it within 2 s" test $((($(now_ns) - t0) / 1000000)) -lt 2000
expect_eq "$SERVE_RC" 143 "killed by that SIGTERM"
check "its client is answered (the connection closes)" wait_exit "$client" 5
reap "$client"
bad_proxy_stop held

# --- the origin goes away ---

registry_stop up
regfs_mount "$TEST_TMP/store-late" "$TEST_TMP/mnt-late" -o upstream="$S"
expect_eq "$(sha "$TEST_TMP/mnt-late/registry/app/v1")" "${big_d#sha256:}" \
	"with the origin down, a new mount still reads what the server fetched"
expect_ok "skopeo still pulls the cached image" -- \
	skopeo copy --preserve-digests --src-tls-verify=false "docker://${SERVE_HUB_HOST}/tools/img:v1" \
	"oci:$TEST_TMP/img-oci2:v1"
code=$(curl -s -o "$TEST_TMP/never.json" -w '%{http_code}' "$S/v2/app/manifests/never")
expect_eq "$code" 404 "a tag never fetched is 404 while the origin is down"
expect_match "$(cat "$TEST_TMP/never.json")" '"code":"MANIFEST_UNKNOWN"' "... with an OCI error body"
check "the server is still up" curl -sf -o /dev/null "$S/health"

for ((m = 0; m < MOUNTS; m++)); do regfs_umount "$TEST_TMP/mnt-$m"; done
regfs_umount "$TEST_TMP/mnt-late"
serve_stop hub
expect_eq "$SERVE_RC" 0 "regctl serve exits 0 on SIGTERM"
done_testing
