#!/bin/bash
# t0180-concurrency: many readers and publishers at once. Readers of one tag
# and of several tags all read the right bytes; publishers of different tags
# all seal; readers and publishers mixed do not disturb each other.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=8
R=$MNT/registry
I=$MNT/incoming
mkdir -p "$TEST_TMP/out"
for i in $(seq "$N"); do mkrand "$SRC/t$i" "$((1024 + i * 97))K"; done
mkrand "$SRC/one" 8M

regfs_mount "$STORE" "$MNT"
expect_ok cp "$SRC/one" "$I/app/one"
for i in $(seq "$N"); do cp "$SRC/t$i" "$I/app/t$i"; done

# run_all DESC SNIPPET: start N copies of a bash snippet at once (with $1 =
# the index), wait for all, and check every one succeeded. The copies start
# together: each polls for a gate file the test creates once all are up.
run_all() {
	local desc=$1 i pids=() bad=0
	export SNIPPET=$2
	local gate=$TEST_TMP/gate
	rm -f "$gate"
	for i in $(seq "$N"); do
		bash -c 'until [ -e "$1" ]; do sleep 0.01; done; shift; eval "$SNIPPET"' bash "$gate" "$i" &
		pids+=($!)
	done
	track_pid "${pids[@]}"
	: >"$gate"
	for i in "${!pids[@]}"; do
		reap "${pids[$i]}"
		if [[ $REAP_RC -ne 0 ]]; then
			bad=$((bad + 1))
			diag "$desc: worker $((i + 1)) exited $REAP_RC"
		fi
	done
	check "$desc: all $N succeeded" test "$bad" -eq 0
}
export SRC R I TEST_TMP

# --- 8 readers of one tag ---

snippet='sha256sum < "$R/app/one" | cut -d" " -f1 > "$TEST_TMP/out/one.$1"'
run_all "$N concurrent readers of one tag" "$snippet"
bad=0
for i in $(seq "$N"); do
	[[ $(cat "$TEST_TMP/out/one.$i" 2>/dev/null) == "$(sha "$SRC/one")" ]] || bad=$((bad + 1))
done
check "$N readers of one tag all read the right sha256" test "$bad" -eq 0

# The same with O_DIRECT, so that every read reaches the daemon rather than
# the kernel's cache of the tag.
run_all "$N concurrent direct readers of one tag" \
	'dd if="$R/app/one" iflag=direct bs=1M status=none | sha256sum | cut -d" " -f1 > "$TEST_TMP/out/one.$1"' 
bad=0
for i in $(seq "$N"); do
	[[ $(cat "$TEST_TMP/out/one.$i" 2>/dev/null) == "$(sha "$SRC/one")" ]] || bad=$((bad + 1))
done
check "$N direct readers of one tag all read the right sha256" test "$bad" -eq 0

# --- 8 readers of 8 tags, each reading all of them in a different order ---

snippet='for k in $(seq 8 | shuf); do cmp "$SRC/t$k" "$R/app/t$k" || exit 1; done'
run_all "$N concurrent readers of $N tags (cmp, shuffled order)" "$snippet"

# Readers with small, scattered reads (dd at offsets) of one tag.
snippet='for off in 0 3 1000 2047 17 511; do
	a=$(dd if="$SRC/one" bs=4k skip=$off count=3 status=none | sha256sum)
	b=$(dd if="$R/app/one" bs=4k skip=$off count=3 status=none | sha256sum)
	[ "$a" = "$b" ] || exit 1
done'
run_all "$N concurrent readers at scattered offsets" "$snippet"

# --- 8 publishers of different tags ---

for i in $(seq "$N"); do mkrand "$SRC/p$i" "$((512 + i * 131))K"; done
snippet='cp "$SRC/p$1" "$I/pub/v$1"'
run_all "$N concurrent publishers (cp)" "$snippet"
bad=0
for i in $(seq "$N"); do
	[[ $(sha "$R/pub/v$i" 2>/dev/null) == "$(sha "$SRC/p$i")" ]] || bad=$((bad + 1))
done
check "$N concurrent publishes all sealed the right content" test "$bad" -eq 0

# Publishers into different repositories, with rsync.
snippet='rsync -a "$SRC/p$1" "$I/repo$1/v1"'
run_all "$N concurrent publishers (rsync, one repository each)" "$snippet"
bad=0
for i in $(seq "$N"); do
	[[ $(sha "$R/repo$i/v1" 2>/dev/null) == "$(sha "$SRC/p$i")" ]] || bad=$((bad + 1))
done
check "$N concurrent rsync publishes all sealed" test "$bad" -eq 0

# --- readers and publishers mixed ---

for i in $(seq "$N"); do mkrand "$SRC/m$i" 700K; done
snippet='if [ $(($1 % 2)) -eq 0 ]; then
	for k in 1 2 3; do cp "$SRC/m$1" "$I/mixed/v$1-$k" || exit 1; done
else
	for k in 1 2 3; do cmp "$SRC/one" "$R/app/one" || exit 1; done
fi
ls -R "$R" > /dev/null'
run_all "$N readers and publishers mixed" "$snippet"
bad=0
for i in 2 4 6 8; do
	for k in 1 2 3; do
		[[ $(sha "$R/mixed/v$i-$k" 2>/dev/null) == "$(sha "$SRC/m$i")" ]] || bad=$((bad + 1))
	done
done
check "the mixed publishes all sealed" test "$bad" -eq 0

# Listings while tags appear: every listing is consistent (no error).
snippet='for k in $(seq 20); do
	if [ "$1" -le 4 ]; then
		head -c 1000 /dev/urandom > "$TEST_TMP/out/l$1-$k" && cp "$TEST_TMP/out/l$1-$k" "$I/list/t$1-$k" || exit 1
	else
		find "$R" -type f > /dev/null || exit 1
		ls -l "$R/list" > /dev/null 2>&1 || :
	fi
done'
run_all "listings while tags appear" "$snippet"
expect_eq "$(ls "$R/list" | wc -l)" "80" "all 80 tags published during the listings are there"

expect_eq "$(count_files "$STORE/staging")" "0" "staging/ is empty"
regfs_umount "$MNT"
done_testing
