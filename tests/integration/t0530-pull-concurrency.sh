#!/bin/bash
# t0530-pull-concurrency: 16 readers open the same cold upstream tag (a
# 20 MiB blob) at once. There is exactly one upstream download, counted in
# the real registry's access log, every reader waits on it and gets the
# right bytes, and the catalog pins the tag once. (Distribution's own proxy
# mode costs its upstream two GETs for one cold GET: this is what beats it.)
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2012,SC2016 # ls as users use it; literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"

N=16
mkrand "$SRC/big.bin" 20M
big_d=sha256:$(sha "$SRC/big.bin")

registry_start up
U=$REGISTRY_UP_URL
oci_push_file "$U" app v1 "$SRC/big.bin" >/dev/null
oci_push_file "$U" app v2 "$SRC/big.bin" >/dev/null # the same blob under another tag
# round NAME URL: N cold readers on a fresh store in front of URL; the
# registry's blob GETs must go up by exactly one.
round() {
	local name=$1 url=$2 store=$TEST_TMP/store-$1 mnt=$TEST_TMP/mnt-$1
	local before i p pids=() failed=0 good=0 h t0
	before=$(registry_blob_gets up "$big_d")
	regfs_mount "$store" "$mnt" -o upstream="$url"
	local r=$mnt/registry
	# The readers say they are up, then poll for a gate file: all start
	# when it is made (a FIFO would hold for ever one that opens it late).
	mkdir "$TEST_TMP/up-$name"
	for ((i = 0; i < N; i++)); do
		tag=v1
		((i % 4 == 3)) && tag=v2 # a few through the other tag of the same blob
		bash -c ': >"$4"; until [ -e "$1" ]; do sleep 0.01; done; sha256sum <"$2" >"$3" 2>"$3.err"' _ \
			"$TEST_TMP/go-$name" "$r/app/$tag" "$TEST_TMP/out-$name.$i" "$TEST_TMP/up-$name/$i" &
		pids+=($!)
		track_pid "$!"
	done
	wait_until 30 'test "$(count_files "$TEST_TMP/up-$name")" -eq "$N"' || diag "$name: not all readers came up"
	: >"$TEST_TMP/go-$name"
	t0=$(now_ns)
	for p in "${pids[@]}"; do
		if ! wait_exit "$p" 60; then failed=$((failed + 1)); fi
		reap "$p"
		[[ $REAP_RC -eq 0 ]] || failed=$((failed + 1))
	done
	diag "$name: $N readers done in $((($(now_ns) - t0) / 1000000)) ms"
	expect_eq "$failed" 0 "$name: all $N readers succeed"
	for ((i = 0; i < N; i++)); do
		read -r h _ <"$TEST_TMP/out-$name.$i" || h=
		[[ $h == "${big_d#sha256:}" ]] && good=$((good + 1))
		[[ -s $TEST_TMP/out-$name.$i.err ]] && diag "reader $i: $(cat "$TEST_TMP/out-$name.$i.err")"
	done
	expect_eq "$good" "$N" "$name: all $N readers get the right sha256"
	check "$name: the registry logged the blob GET" wait_until 5 \
		'test "$(registry_blob_gets up "$big_d")" -gt "$before"'
	sleep 0.5 # (a second download, if any, would be logged by now)
	expect_eq "$(($(registry_blob_gets up "$big_d") - before))" 1 \
		"$name: exactly one upstream blob GET for $N cold readers"
	expect_eq "$(sha "$r/app/v1" 2>&1)" "${big_d#sha256:}" "$name: a later read is local"
	expect_eq "$(($(registry_blob_gets up "$big_d") - before))" 1 "$name: still one blob GET"
	expect_eq "$(xattr "$r/app/v1" user.regfs.digest 2>&1)" "$big_d" "$name: the tag is pinned to the blob"
	expect_eq "$(find "$store/blobs" -type f -name "${big_d#sha256:}" | wc -l)" 1 "$name: one copy in the store"
	regfs_umount "$mnt"
	expect_ok "$name: regctl fsck is clean" -- "$REGCTL" --store "$store" fsck
}

# Straight from the registry (the download takes a moment on loopback).
round direct "$U"
# Through a proxy that paces the blob (20 MB/s, about a second): the
# download is surely under way while the last readers come.
bad_proxy_start pace "$U" --rate 20000000 --count-file "$TEST_TMP/pace.count"
round paced "$BAD_PROXY_PACE_URL"
expect_eq "$(grep -c "^GET /v2/app/blobs/$big_d" "$TEST_TMP/pace.count")" 1 "(the proxy saw one blob GET too)"
bad_proxy_stop pace
registry_stop up
done_testing
