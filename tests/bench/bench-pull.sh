#!/bin/bash
# bench-pull.sh - regfs's pull-through cache against curl and against the
# Distribution registry's proxy mode, side by side in one run.
#
# Prints ratios, never lone absolute times: machines here are shared and
# noisy, so every figure is the median of BENCH_RUNS runs, and the two sides
# of a ratio are measured alternately, on the same disk, from the same
# upstream: the real CNCF Distribution registry (Debian's docker-registry) on
# 127.0.0.1, holding one random BENCH_SIZE_MIB blob as the single-layer
# artifact app:big. Its storage is read once first, so that every side reads
# it from the page cache. Right before each timed part of (a), (b) and (d)
# memory is levelled (level_memory in stats.sh), so that no side meets
# memory that a virtual machine's balloon has handed back to its host while
# the other does not.
#
#   (a) a cold read of app:big through regfs (a fresh store every run: cat
#       until EOF, so the download, its verification and the read) /
#       curl downloading the same blob to a file in BENCH_DIR
#   (b) the same cold read through regfs / the Distribution registry in proxy
#       mode (a fresh one, fresh storage, every run) in front of the same
#       upstream, the blob pulled through it with curl to a file; and the
#       upstream blob GETs each pull cost
#   (c) a warm re-read of the fetched app:big / a warm read of a local tag of
#       the same size published through incoming/ on the same mount (each
#       figure reads the tag enough times for about 4 GiB)
#   (d) 16 concurrent cold readers of app:big on a fresh store: the upstream
#       blob GETs they cost (counted in the registry's access log), and the
#       wall time until the last one is done
#
# Environment:
#   BENCH_SIZE_MIB  size of the blob                         (default 1024)
#   BENCH_RUNS      runs per figure, the median is reported  (default 5)
#   BENCH_READERS   concurrent readers for (d)               (default 16)
#   BENCH_DIR       where the temporary folder goes          (default /var/tmp)
#   BENCH_STRICT    1: exit 1 when a target is missed        (default 0)
#   BENCH_SECTIONS  which of (a) to (d) to run, e.g. "a" or "bd"  (default abcd)
#   BENCH_LEVEL     0: do not level memory before timed parts (default 1;
#                   see level_memory in stats.sh)
#   BENCH_BALLAST_DIR  where the ballast goes            (default /dev/shm)
#   REGFS           the daemon (default REGFS_BUILD_DIR/regfs, REGFS_BUILD_DIR
#                   defaulting to build/ at the top of the tree)
#   REGFS_TEST_TIMEOUT  seconds before the whole run is aborted and cleaned
#                   up (default 3000)
#
# It uses the integration tests' harness (tests/integration/lib.sh and
# registry.sh): every process it starts is killed by PID and every mount
# lazily unmounted at exit, however the run ends, and the temp folder is
# removed. Everything stays on 127.0.0.1. Exit status: 0 done (targets
# missed or not, unless BENCH_STRICT=1), 1 regfs misbehaved (wrong size or
# bytes, a read that failed or timed out, a daemon that did not exit
# cleanly) or a strict target was missed, 77 a tool is missing.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
size_mib=${BENCH_SIZE_MIB:-1024}
runs=${BENCH_RUNS:-5}
nreaders=${BENCH_READERS:-16}
strict=${BENCH_STRICT:-0}
sections=${BENCH_SECTIONS:-abcd}
bench_dir=${BENCH_DIR:-/var/tmp}

die() {
	echo "bench-pull: $*" >&2
	exit 2
}
note() { echo "bench-pull: $*"; }

for v in "$size_mib" "$runs" "$nreaders"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$v'"
done
[[ $sections =~ ^[abcd]+$ ]] || die "BENCH_SECTIONS: not a set of the letters a to d: '$sections'"
[[ -d $bench_dir && -w $bench_dir ]] || die "BENCH_DIR '$bench_dir' is not a writable folder"
bench_dir=$(cd "$bench_dir" && pwd -P)

# The harness puts its temp folder (stores, registry storage, downloads)
# in TMPDIR: here, BENCH_DIR.
export TMPDIR=$bench_dir
: "${REGFS_SOURCE_DIR:=$top}"
: "${REGFS_TEST_TIMEOUT:=3000}"
export REGFS_SOURCE_DIR REGFS_TEST_TIMEOUT
# shellcheck source=../integration/lib.sh
. "$top/tests/integration/lib.sh"
# shellcheck source=../integration/registry.sh
. "$top/tests/integration/registry.sh"
require_cmd curl cmp timeout mkfifo

# Any single transfer or read of the blob: at least 10 MiB/s, or it is
# reported as hung.
xfer_max=$((60 + size_mib / 10))
size=$((size_mib * 1024 * 1024))
# Memory freed a moment before each timed part (see level_memory): enough
# for the blob twice over (the proxy stores it and its client writes it).
ballast_mib=$((2 * size_mib + 256))
work=$TEST_TMP

# shellcheck source=stats.sh
. "$here/stats.sh"

max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
mibps() { awk -v s="$size_mib" -v t="$1" 'BEGIN { printf "%.0f", s / t }'; }

# result_count LABEL REGFS OTHER TARGET: a count of regfs's that must be
# exactly TARGET.
result_count() {
	local verdict=PASS
	if [[ $2 != "$4" ]]; then
		verdict=MISS
		missed=$((missed + 1))
	fi
	results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "$1" "$2" "$3" - "== $4" "$verdict")")
}
info() {
	results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "$1" "$2" "$3" "$4" - info)")
}

# broken WHAT: regfs (or the setup) misbehaved; say so precisely and stop.
broken() {
	echo "bench-pull: FAILED: $*" >&2
	bail_out "$*"
}

# upstream_count METHOD: requests of that method for the blob the upstream
# answered so far (any repository, any status, Range requests included).
upstream_count() {
	registry_requests up "$1" "/v2/.+/blobs/$digest"
}

# settle_count METHOD BEFORE: wait (at most 30 s) until the upstream logged
# more than BEFORE requests of METHOD for the blob, then until the count
# stays put for a second (a line is logged when its response ends; the
# proxy's second download runs on after its client is served). Prints the
# increase.
settle_count() {
	local method=$1 before=$2 n last i
	wait_until 30 test "$(upstream_count "$method")" -gt "$before" || :
	last=$(upstream_count "$method")
	for ((i = 0; i < 60; i++)); do
		sleep 0.5
		n=$(upstream_count "$method")
		if [[ $n == "$last" ]] && ((i >= 1)); then break; fi
		last=$n
	done
	echo $((last - before))
}

# mount_fresh NAME: a regfs mount on a fresh store in front of the upstream;
# sets store and mnt.
mount_fresh() {
	store=$work/store-$1
	mnt=$work/mnt-$1
	rm -rf "$store"
	regfs_mount "$store" "$mnt" -o upstream="$U"
}

# umount_quiet MNT: unmount (retrying while busy), the daemon must exit 0.
umount_quiet() {
	local m pid i
	m=$(cd "$1" && pwd -P)
	pid=$(daemon_pid "$m")
	for ((i = 0; i < 100; i++)); do
		fusermount3 -u "$m" 2>/dev/null && break
		is_mounted "$m" || break
		sleep 0.1
	done
	is_mounted "$m" && broken "cannot unmount $m"
	wait_exit "$pid" 20 || broken "regfs ($pid) still runs 20 s after unmounting $m"
	reap "$pid"
	[[ $REAP_RC -eq 0 ]] || broken "regfs ($pid) exited with status $REAP_RC after unmounting $m"
}

# drop_store: remove a store (its blobs are read-only) and let the disk
# write back before the next measure.
drop_store() {
	chmod -R u+w "$1" 2>/dev/null || :
	rm -rf "$1"
	sync
}

# read_tag PATH: cat it to /dev/null, bounded in time.
read_tag() {
	local rc=0
	timeout -k 5 "$xfer_max" cat "$1" >/dev/null || rc=$?
	((rc == 0)) && return 0
	((rc == 124 || rc == 137)) && broken "reading '$1' took over ${xfer_max}s (hung?)"
	broken "cat '$1' failed with status $rc"
}

# get_blob URL OUTFILE: curl the blob to a file, bounded in time.
# shellcheck disable=SC2317 # called through timed
get_blob() {
	curl -sS --connect-timeout 5 --max-time "$xfer_max" -o "$2" "$1/v2/app/blobs/$digest" ||
		broken "curl $1/v2/app/blobs/$digest failed"
}

# check_pulled STORE MNT: the fetched tag has its size, is pinned to the
# blob, and the blob is in the store, of its size (regfs verified it). The
# reader has the bytes as soon as they are verified; the blob file appears
# once they are on disk, a moment later (outside the timed part).
check_pulled() {
	local got
	got=$(stat -c %s "$2/registry/app/big") || broken "no 'app:big' after a read"
	[[ $got == "$size" ]] || broken "'app:big' has $got bytes, not $size"
	got=$(xattr "$2/registry/app/big" user.regfs.digest 2>&1) || :
	[[ $got == "$digest" ]] || broken "'app:big' is pinned to '$got', not $digest"
	wait_until "$xfer_max" test -e "$1/blobs/sha256/${digest#sha256:}" ||
		broken "no blob file for $digest in the store after a cold read"
	got=$(stat -c %s "$1/blobs/sha256/${digest#sha256:}")
	[[ $got == "$size" ]] || broken "the blob file has $got bytes, not $size"
}

# check_file FILE: a download has the blob's size.
check_file() {
	local got
	got=$(stat -c %s "$1")
	[[ $got == "$size" ]] || broken "the download '$1' has $got bytes, not $size"
}

echo "bench-pull: work folder $work"
echo "bench-pull: $runs runs per figure, ${size_mib} MiB blob, $nreaders concurrent readers"
echo "bench-pull: $(nproc) CPUs, kernel $(uname -r), $(df -h --output=source,fstype "$work" | tail -n 1 | tr -s ' ')"
if [[ ${BENCH_LEVEL:-1} == 0 ]]; then
	echo "bench-pull: memory not levelled before timed parts (BENCH_LEVEL=0)"
else
	echo "bench-pull: a ${ballast_mib} MiB ballast in ${BENCH_BALLAST_DIR:-/dev/shm} is written and removed before each timed part (BENCH_LEVEL=0: not)"
fi
echo "bench-pull: regfs $REGFS, $(docker-registry --version 2>/dev/null | head -n 1), $(curl --version | head -n 1 | cut -d' ' -f1-2)"

# --- the upstream -------------------------------------------------------------

registry_start up
U=$REGISTRY_UP_URL
# A random blob, so nothing compresses or dedupes by accident.
dd if=/dev/urandom of="$work/big" bs=1M count="$size_mib" status=none
note "pushing app:big (${size_mib} MiB) to $U"
digest=$(oci_push_file "$U" app big "$work/big")
[[ $digest == sha256:* ]] || broken "push: no digest"
up_data=$(find "$work/registry-up/storage" -type f -path "*/${digest#sha256:}/data" | head -n 1)
[[ -n $up_data ]] || broken "the registry's storage holds no file for $digest"
# The upstream's copy in the page cache, for every side alike.
warm_upstream() { cat "$up_data" >/dev/null; }
warm_upstream
sync

# What every regfs cold pull of (a) and (b) cost upstream.
regfs_gets=()
regfs_heads=()
# One curl download of the blob to a file; its time goes to cold_curl.
curl_pull() {
	level_memory "$ballast_mib"
	timed cold_curl get_blob "$U" "$work/curl.out"
}
# One cold regfs pull; its time goes to array $1, its upstream blob GETs to
# regfs_gets. The first one is compared with the source byte for byte.
regfs_pull() {
	local name=$1 before before_h
	mount_fresh "$name"
	before=$(upstream_count GET)
	before_h=$(upstream_count HEAD)
	level_memory "$ballast_mib"
	timed "$2" read_tag "$mnt/registry/app/big"
	regfs_gets+=("$(settle_count GET "$before")")
	regfs_heads+=("$(($(upstream_count HEAD) - before_h))")
	check_pulled "$store" "$mnt"
	if [[ $name == a0 ]]; then
		cmp "$work/big" "$mnt/registry/app/big" ||
			broken "'app:big' read through regfs differs from the pushed blob"
	fi
	umount_quiet "$mnt"
	drop_store "$store"
}

# --- (a) cold read through regfs / curl to a file -------------------------------
section_a() {
	note "(a) cold reads: regfs / curl"
	cold_regfs=()
	cold_curl=()
	curl_sync=()
	for ((i = 0; i < runs; i++)); do
		warm_upstream
		if ((i % 2)); then
			curl_pull
			timed curl_sync sync
			check_file "$work/curl.out"
			rm -f "$work/curl.out"
			sync
			regfs_pull "a$i" cold_regfs
		else
			regfs_pull "a$i" cold_regfs
			curl_pull
			timed curl_sync sync
			check_file "$work/curl.out"
			if ((i == 0)); then
				cmp "$work/big" "$work/curl.out" || broken "curl got other bytes than were pushed"
			fi
			rm -f "$work/curl.out"
			sync
		fi
	done
	f=$(median "${cold_regfs[@]}")
	c=$(median "${cold_curl[@]}")
	s=$(median "${curl_sync[@]}")
	note "(a) regfs $(mibps "$f") MiB/s, curl $(mibps "$c") MiB/s (curl + sync of its file $(mibps "$(awk -v a="$c" -v b="$s" 'BEGIN { print a + b }')") MiB/s)"
	note "(a) every run (s): regfs ${cold_regfs[*]}; curl ${cold_curl[*]}"
	# A throughput ratio: curl time / regfs time.
	result "(a) cold read vs curl (s)" "$f" "$c" "$(ratio "$c" "$f")" ">=" 0.8
	info "    (curl + sync, s)" "-" "$(awk -v a="$c" -v b="$s" 'BEGIN { printf "%.6f", a + b }')" \
		"$(ratio "$(awk -v a="$c" -v b="$s" 'BEGIN { print a + b }')" "$f")"
	a_regfs=$f
}

# --- (b) cold read through regfs / through Distribution in proxy mode ----------
section_b() {
	note "(b) cold pulls: regfs / Distribution proxy"
	b_regfs=()
	b_proxy=()
	proxy_gets=()
	proxy_heads=()
	proxy_pull() {
		local name=proxy$1 before_g before_h p
		registry_start "$name" --proxy-of "$U"
		p=$(registry_url "$name")
		before_g=$(upstream_count GET)
		before_h=$(upstream_count HEAD)
		level_memory "$ballast_mib"
		timed b_proxy get_blob "$p" "$work/proxy.out"
		check_file "$work/proxy.out"
		if (($1 == 0)); then
			cmp "$work/big" "$work/proxy.out" || broken "the proxy served other bytes than were pushed"
		fi
		# Its second download (to its storage) runs on after its client is
		# served: wait until it has stored the blob before counting, and
		# before the next measure.
		local hex=${digest#sha256:}
		wait_until "$xfer_max" test -f \
			"$work/registry-$name/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data" ||
			note "(b) $name did not store the blob within ${xfer_max}s"
		proxy_gets+=("$(settle_count GET "$before_g")")
		proxy_heads+=("$(($(upstream_count HEAD) - before_h))")
		registry_stop "$name"
		rm -rf "$work/proxy.out" "$work/registry-$name/storage"
		sync
	}
	for ((i = 0; i < runs; i++)); do
		warm_upstream
		if ((i % 2)); then
			proxy_pull "$i"
			regfs_pull "b$i" b_regfs
		else
			regfs_pull "b$i" b_regfs
			proxy_pull "$i"
		fi
	done
	f=$(median "${b_regfs[@]}")
	p=$(median "${b_proxy[@]}")
	note "(b) regfs $(mibps "$f") MiB/s, proxy $(mibps "$p") MiB/s"
	note "(b) every run (s): regfs ${b_regfs[*]}; proxy ${b_proxy[*]}"
	note "(b) upstream blob requests per cold pull: regfs ((a) and (b)) GET ${regfs_gets[*]}," \
		"HEAD ${regfs_heads[*]}; proxy GET ${proxy_gets[*]}, HEAD ${proxy_heads[*]}"
	# proxy time / regfs time: above 1 when regfs is faster.
	result "(b) cold pull vs Distribution proxy (s)" "$f" "$p" "$(ratio "$p" "$f")" ">=" 1.0
	result_count "(b) upstream blob GETs per pull (max)" "$(max "${regfs_gets[@]}")" \
		"$(max "${proxy_gets[@]}")" 1
	info "    upstream blob HEADs per pull (max)" "$(max "${regfs_heads[@]}")" "$(max "${proxy_heads[@]}")" -
}

# --- (c) warm re-read: fetched tag / local tag ---------------------------------
section_c() {
	note "(c) warm reads: fetched app:big / local app:local"
	mount_fresh c
	read_tag "$mnt/registry/app/big"
	check_pulled "$store" "$mnt"
	# The local tag: the same size, other bytes (the same bytes would be the
	# same blob).
	cp "$work/big" "$work/local"
	printf 'regfs bench-pull local tag\n' | dd of="$work/local" conv=notrunc status=none
	cp "$work/local" "$mnt/incoming/app/local" || broken "cp into incoming/app/local failed"
	[[ $(stat -c %s "$mnt/registry/app/local" 2>/dev/null) == "$size" ]] || broken "'app:local' was not sealed whole"
	cmp "$work/local" "$mnt/registry/app/local" || broken "'app:local' reads back other bytes"
	cmp "$work/big" "$mnt/registry/app/big" || broken "the fetched 'app:big' reads back other bytes"
	rm -f "$work/local"
	sync
	# A warm read is served from the page cache (a tenth of a second per GiB):
	# each figure reads the tag enough times for about 4 GiB, lest the noise
	# of one short read decide the ratio.
	reps=$(((4096 + size_mib - 1) / size_mib))
	# shellcheck disable=SC2317 # called through timed
	read_reps() {
		local k
		for ((k = 0; k < reps; k++)); do
			read_tag "$1"
		done
	}
	warm_fetched=()
	warm_local=()
	read_reps "$mnt/registry/app/big"
	read_reps "$mnt/registry/app/local"
	for ((i = 0; i < runs; i++)); do
		if ((i % 2)); then
			timed warm_local read_reps "$mnt/registry/app/local"
			timed warm_fetched read_reps "$mnt/registry/app/big"
		else
			timed warm_fetched read_reps "$mnt/registry/app/big"
			timed warm_local read_reps "$mnt/registry/app/local"
		fi
	done
	umount_quiet "$mnt"
	drop_store "$store"
	f=$(median "${warm_fetched[@]}")
	l=$(median "${warm_local[@]}")
	note "(c) fetched $(mibps "$(ratio "$f" "$reps")") MiB/s, local $(mibps "$(ratio "$l" "$reps")") MiB/s ($reps reads a figure)"
	result "(c) warm re-read vs local tag (s, x$reps)" "$f" "$l" "$(ratio "$l" "$f")" ">=" 0.95
}

# --- (d) concurrent cold readers ------------------------------------------------
section_d() {
	note "(d) $nreaders concurrent cold readers"
	d_wall=()
	d_gets=()
	for ((r = 0; r < runs; r++)); do
		warm_upstream
		mount_fresh "d$r"
		before=$(upstream_count GET)
		go=$work/go-d$r
		mkfifo "$go"
		pids=()
		# The readers block on the FIFO and all start when it is opened for
		# writing; each leaves its exit status in a file.
		for ((i = 0; i < nreaders; i++)); do
			# shellcheck disable=SC2016 # $1.. for bash -c
			bash -c 'read -r _ <"$1" || :; rc=0; timeout -k 5 "$4" cat "$2" >/dev/null 2>"$3.err" || rc=$?; echo "$rc" >"$3"' _ \
				"$go" "$mnt/registry/app/big" "$work/rc-d$r.$i" "$xfer_max" &
			pids+=($!)
			track_pid "$!"
		done
		level_memory "$ballast_mib"
		sleep 0.3 # (let them all block on the FIFO)
		t0=$EPOCHREALTIME
		: >"$go"
		bad=0
		for p in "${pids[@]}"; do
			wait_exit "$p" $((xfer_max + 30)) || bad=$((bad + 1))
			reap "$p"
		done
		t1=$EPOCHREALTIME
		((bad == 0)) || broken "(d) $bad of $nreaders readers still running after $((xfer_max + 30)) s (hung?)"
		for ((i = 0; i < nreaders; i++)); do
			rc=$(cat "$work/rc-d$r.$i" 2>/dev/null) || rc=missing
			[[ $rc == 0 ]] ||
				broken "(d) reader $i failed (status $rc): $(head -c 300 "$work/rc-d$r.$i.err" 2>/dev/null)"
		done
		rm -f "$go" "$work"/rc-d"$r".*
		d_wall+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')")
		d_gets+=("$(settle_count GET "$before")")
		check_pulled "$store" "$mnt"
		if ((r == 0)); then
			cmp "$work/big" "$mnt/registry/app/big" || broken "(d) 'app:big' differs from the pushed blob"
		fi
		n=$(find "$store/blobs" -type f -name "${digest#sha256:}" | wc -l)
		[[ $n == 1 ]] || broken "(d) $n copies of the blob in the store"
		umount_quiet "$mnt"
		drop_store "$store"
	done
	w=$(median "${d_wall[@]}")
	note "(d) upstream blob GETs per round: ${d_gets[*]}; wall times: ${d_wall[*]}"
	result_count "(d) $nreaders cold readers: blob GETs (max)" "$(max "${d_gets[@]}")" - 1
	if [[ -n $a_regfs ]]; then
		info "    wall time (s) / one cold read (a)" "$w" "$a_regfs" "$(ratio "$w" "$a_regfs")"
	else
		info "    wall time (s)" "$w" - -
	fi
}

a_regfs=
want() { [[ $sections == *$1* ]]; }
if want a; then section_a; fi
if want b; then section_b; fi
if want c; then section_c; fi
if want d; then section_d; fi

registry_stop up >/dev/null

for log in "$work"/regfs.*.log; do
	[[ -f $log ]] || continue
	if grep -Ei 'error|warn|Sanitizer' "$log" >/dev/null; then
		note "the daemon logged in ${log##*/}:"
		grep -Ei 'error|warn|Sanitizer' "$log" | head -n 10 >&2
	fi
done

echo
printf '%-40s %10s %10s %8s   %-8s %s\n' "measure (median of $runs)" regfs other ratio target result
for line in "${results[@]}"; do
	echo "$line"
done
echo "(other: (a) curl, (b) the proxy, (c) the local tag, (d) the single cold read of (a);"
echo " ratios are other time / regfs time, i.e. regfs's relative throughput, except (d))"

# The harness's end: its EXIT trap cleans up and keeps this status.
if ((strict && missed)); then
	fail "$missed target(s) missed"
else
	ok "bench-pull done, $missed target(s) missed"
fi
done_testing
