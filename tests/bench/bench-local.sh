#!/bin/bash
# bench-local.sh - regfs against the plain disk, side by side in one run.
#
# Prints ratios, never lone absolute times: machines here are shared and
# noisy, so every figure is the median of BENCH_RUNS runs, and the two sides
# of a ratio are measured alternately on the same disk.
#
#   (a) sequential read of a sealed tag through the mount / of its blob file,
#       warm page cache (read about 4 GiB's worth a figure) and cold (caches
#       dropped before every read)
#   (b) cp into incoming/ until close() returns (hashed, fsynced, sealed) /
#       cp into a plain folder + sync + sha256sum of the copy
#   (c) find + stat of every tag under registry/ / the same tree as plain files
#   (d) the daemon's peak RSS (VmHWM) after (c)
#
# Environment:
#   BENCH_SIZE_MIB  size of the big file for (a) and (b)     (default 1024)
#   BENCH_TAGS      tags for (c) and (d)                     (default 100000)
#   BENCH_REPOS     repositories they are spread over        (default TAGS/100)
#   BENCH_RUNS      runs per figure, the median is reported  (default 5)
#   BENCH_DIR       where the temporary folder goes          (default /var/tmp)
#   BENCH_STRICT    1: exit 1 when a target is missed        (default 0)
#   BENCH_LEVEL     0: no ballast before the publishes of (b) (default 1)
#   REGFS, POPULATE the daemon and build/tests/regfs-bench-populate
#
# Cold-cache reads need root (/proc/sys/vm/drop_caches); without it they are
# skipped and the summary says so.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${REGFS_BUILD_DIR:-$top/build}
REGFS=${REGFS:-$build/regfs}
POPULATE=${POPULATE:-$build/tests/regfs-bench-populate}
size_mib=${BENCH_SIZE_MIB:-1024}
# Memory freed a moment before each timed publish, which fills the page
# cache (level_memory in stats.sh). The cold reads go without: their page
# cache is dropped right before each one, and a ballast there was measured
# to change nothing.
ballast_mib=$((2 * size_mib + 256))
ntags=${BENCH_TAGS:-100000}
runs=${BENCH_RUNS:-5}
strict=${BENCH_STRICT:-0}

die() {
	echo "bench-local: $*" >&2
	exit 2
}
note() { echo "bench-local: $*" >&2; }

for v in "$size_mib" "$ntags" "$runs"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$v'"
done
nrepos=${BENCH_REPOS:-$(((ntags + 99) / 100))}
[[ $nrepos =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$nrepos'"
per_repo=$(((ntags + nrepos - 1) / nrepos))
ntags=$((nrepos * per_repo))

[[ -x $REGFS ]] || die "no daemon at '$REGFS' (build first, or set REGFS)"
[[ -x $POPULATE ]] || die "no populate helper at '$POPULATE' (or set POPULATE)"
[[ -e /dev/fuse ]] || die "no /dev/fuse"
for tool in fusermount3 mountpoint dd sha256sum find getfattr; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/regfs-bench.XXXXXX")
mounts=()
pids=()

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local m p
	for m in "${mounts[@]}"; do
		mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || true; }
	done
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mount STORE MOUNTPOINT: start the daemon in the foreground (so its pid is
# ours) and wait until the mount is there; sets daemon_pid.
mount_regfs() {
	local store=$1 mnt=$2 i
	mkdir -p "$mnt"
	"$REGFS" "$store" "$mnt" -f -o "log=$work/regfs.log" 2>>"$work/regfs.log" &
	daemon_pid=$!
	pids+=("$daemon_pid")
	mounts+=("$mnt")
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$mnt" && [[ -d $mnt/registry ]] && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$work/regfs.log" >&2 || true
	die "regfs did not mount '$store' on '$mnt'"
}

umount_regfs() {
	local mnt=$1 i
	fusermount3 -u "$mnt"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$daemon_pid" || note "regfs exited with status $?"
}

# shellcheck source-path=SCRIPTDIR source=stats.sh
. "$here/stats.sh"

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

read_file() { dd if="$1" of=/dev/null bs=1M status=none; }

results=()
missed=0
# result LABEL REGFS PLAIN RATIO CMP TARGET UNIT: one line of the summary.
result() {
	local label=$1 a=$2 b=$3 ratio=$4 cmp=$5 target=$6 unit=$7 verdict
	if awk -v r="$ratio" -v t="$target" -v c="$cmp" \
		'BEGIN { exit !(c == ">=" ? r >= t : r <= t) }'; then
		verdict=PASS
	else
		verdict=MISS
		missed=$((missed + 1))
	fi
	results+=("$(printf '%-34s %12s %12s %8s   %-8s %s' "$label" "$a$unit" "$b$unit" "$ratio" "$cmp $target" "$verdict")")
}

echo "bench-local: work folder $work"
echo "bench-local: $runs runs per figure, ${size_mib} MiB file, $ntags tags in $nrepos repositories"
echo "bench-local: $(nproc) CPUs, kernel $(uname -r), $(df -h --output=source,fstype "$work" | tail -n 1 | tr -s ' ')"

store=$work/store
mnt=$work/mnt
plain=$work/plain
mkdir -p "$plain"

# A random source file, so nothing compresses or dedupes by accident.
dd if=/dev/urandom of="$work/src" bs=1M count="$size_mib" status=none
sync

mount_regfs "$store" "$mnt"

# --- (a) sequential read -----------------------------------------------------
echo "bench-local: (a) sealing the read file"
cp "$work/src" "$mnt/incoming/bench/big"
digest=$(getfattr --absolute-names --only-values -n user.regfs.digest "$mnt/registry/bench/big")
blob=$store/blobs/sha256/${digest#sha256:}
[[ -f $blob ]] || die "no blob file '$blob' for 'bench:big'"
cmp -s "$blob" "$mnt/registry/bench/big" || die "'bench:big' does not read back as its blob"

echo "bench-local: (a) warm reads"
# A warm read of 1 GiB takes under a tenth of a second, where a few
# milliseconds of noise would decide the ratio: each figure reads the file
# enough times for about 4 GiB.
reps=$(((4096 + size_mib - 1) / size_mib))
# shellcheck disable=SC2317 # called through timed
read_reps() {
	local k
	for ((k = 0; k < reps; k++)); do read_file "$1"; done
}
read_file "$mnt/registry/bench/big"
read_file "$blob"
warm_fuse=()
warm_plain=()
for ((i = 0; i < runs; i++)); do
	if ((i % 2)); then
		timed warm_plain read_reps "$blob"
		timed warm_fuse read_reps "$mnt/registry/bench/big"
	else
		timed warm_fuse read_reps "$mnt/registry/bench/big"
		timed warm_plain read_reps "$blob"
	fi
done
f=$(median "${warm_fuse[@]}")
p=$(median "${warm_plain[@]}")
echo "bench-local: (a) warm, every run (s, x$reps): regfs ${warm_fuse[*]}; plain ${warm_plain[*]}"
# A read ratio is a throughput ratio: plain time / regfs time.
result "(a) read ${size_mib} MiB x$reps, warm (s)" "$f" "$p" "$(ratio "$p" "$f")" ">=" 0.95 ""

cold=1
if ! (drop_caches) 2>/dev/null; then
	cold=0
	note "cannot write /proc/sys/vm/drop_caches (not root?): cold reads skipped"
	results+=("$(printf '%-34s %s' "(a) read ${size_mib} MiB, cold" "skipped: cannot drop the page cache")")
fi
if ((cold)); then
	echo "bench-local: (a) cold reads"
	cold_fuse=()
	cold_plain=()
	for ((i = 0; i < runs; i++)); do
		if ((i % 2)); then
			drop_caches
			timed cold_plain read_file "$blob"
			drop_caches
			timed cold_fuse read_file "$mnt/registry/bench/big"
		else
			drop_caches
			timed cold_fuse read_file "$mnt/registry/bench/big"
			drop_caches
			timed cold_plain read_file "$blob"
		fi
	done
	f=$(median "${cold_fuse[@]}")
	p=$(median "${cold_plain[@]}")
	echo "bench-local: (a) cold, every run (s): regfs ${cold_fuse[*]}; plain ${cold_plain[*]}"
	result "(a) read ${size_mib} MiB, cold (s)" "$f" "$p" "$(ratio "$p" "$f")" ">=" 0.85 ""
fi

# --- (b) publishing ----------------------------------------------------------
# Each run publishes different content (the first bytes changed), so the seal
# always stores a new blob rather than finding it already there. Memory is
# levelled before each side: both fill the page cache with the copy.
echo "bench-local: (b) publishing"
pub_fuse=()
pub_plain=()
# shellcheck disable=SC2317 # called through timed
plain_publish() {
	cp "$1" "$plain/pub"
	sync
	sha256sum "$plain/pub" >/dev/null
}
for ((i = 0; i < runs; i++)); do
	cp "$work/src" "$work/pub-src"
	printf 'regfs bench run %d\n' "$i" | dd of="$work/pub-src" conv=notrunc status=none
	rm -f "$plain/pub"
	sync
	if ((i % 2)); then
		level_memory "$ballast_mib"
		timed pub_plain plain_publish "$work/pub-src"
		level_memory "$ballast_mib"
		timed pub_fuse cp "$work/pub-src" "$mnt/incoming/bench/pub$i"
	else
		level_memory "$ballast_mib"
		timed pub_fuse cp "$work/pub-src" "$mnt/incoming/bench/pub$i"
		level_memory "$ballast_mib"
		timed pub_plain plain_publish "$work/pub-src"
	fi
	[[ -f $mnt/registry/bench/pub$i ]] || die "'bench:pub$i' was not sealed"
done
rm -f "$work/pub-src" "$plain/pub"
f=$(median "${pub_fuse[@]}")
p=$(median "${pub_plain[@]}")
echo "bench-local: (b) every run (s): regfs ${pub_fuse[*]}; plain ${pub_plain[*]}"
result "(b) publish ${size_mib} MiB (s)" "$f" "$p" "$(ratio "$f" "$p")" "<=" 1.0 ""

umount_regfs "$mnt"

# --- (c) find + stat over many tags, (d) peak RSS -----------------------------
echo "bench-local: (c) loading $ntags tags"
tags_store=$work/tags-store
tags_mnt=$work/tags-mnt
tags_plain=$work/tags-plain
"$POPULATE" --plain "$tags_plain" "$tags_store" "$nrepos" "$per_repo"
sync
mount_regfs "$tags_store" "$tags_mnt"

walk() { find "$1" -type f -printf '%s %T@\n'; }
n_fuse=$(walk "$tags_mnt/registry" | wc -l)
n_plain=$(walk "$tags_plain" | wc -l)
[[ $n_fuse -eq $ntags && $n_plain -eq $ntags ]] ||
	die "expected $ntags files, found $n_fuse under the mount and $n_plain plain"

echo "bench-local: (c) find + stat, warm"
find_fuse=()
find_plain=()
for ((i = 0; i < runs; i++)); do
	if ((i % 2)); then
		timed find_plain walk "$tags_plain" >/dev/null
		timed find_fuse walk "$tags_mnt/registry" >/dev/null
	else
		timed find_fuse walk "$tags_mnt/registry" >/dev/null
		timed find_plain walk "$tags_plain" >/dev/null
	fi
done
f=$(median "${find_fuse[@]}")
p=$(median "${find_plain[@]}")
result "(c) find+stat $ntags tags (s)" "$f" "$p" "$(ratio "$f" "$p")" "<=" 1.5 ""

hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status")
hwm=$(awk -v k="$hwm_kib" 'BEGIN { printf "%.1f", k / 1024 }')
results+=("$(printf '%-34s %12s %12s %8s   %-8s %s' "(d) daemon peak RSS (MiB)" "$hwm" "-" "-" "<= 64" \
	"$(awk -v h="$hwm" 'BEGIN { print (h <= 64) ? "PASS" : "MISS" }')")")
awk -v h="$hwm" 'BEGIN { exit !(h > 64) }' && missed=$((missed + 1))
note "daemon VmRSS now $((rss_kib / 1024)) MiB, VmHWM $hwm MiB"

umount_regfs "$tags_mnt"

if grep -E 'error|ERROR|Sanitizer' "$work/regfs.log" >/dev/null; then
	note "the daemon logged errors:"
	grep -E 'error|ERROR|Sanitizer' "$work/regfs.log" | head -n 20 >&2
fi

echo
printf '%-34s %12s %12s %8s   %-8s %s\n' "measure (median of $runs)" regfs plain ratio target result
for line in "${results[@]}"; do
	echo "$line"
done
echo "(read ratios are plain time / regfs time, i.e. relative throughput; the others regfs / plain)"

if ((strict && missed)); then
	exit 1
fi
exit 0
