#!/bin/bash
# bench-versions.sh - looking up a version range against looking up an exact
# tag, in a repository of 10 000 tags, side by side in one run (issue 13:
# range / exact <= 2x, cold cache; and under a millisecond a lookup once the
# index is warm).
#
# Prints ratios and the absolute figures beside them: machines here are
# shared and noisy, so every figure is the median of BENCH_RUNS runs, and
# the two sides of the ratio are measured in the same run on the same
# mount, alternately, lookup by lookup (see below).
#
# The repository: r0001 with BENCH_TAGS version tags written by
# regfs-bench-populate --semver (0.0.0 ... 9.99.9: ten patches to a minor,
# a hundred minors to a major).
#
# What "cold cache" means here. A lookup is cold when the kernel knows
# nothing of the name: no dentry, no attributes, so stat(2) becomes a FUSE
# LOOKUP the daemon answers (drop_caches does not guarantee that, and a name
# looked up once is kept by the kernel: for a year for a tag, for 1 s for a
# range). So every run starts on a fresh mount, and every timed lookup is
# of a name looked up for the first time, whose answer is a tag no other
# timed lookup reached (a new inode for the kernel on either side). The
# daemon itself is warm, as a daemon that has been serving is: its catalog
# is open, the page cache holds it, and the repository's version index has
# been built by one range lookup before the timing (the issue's "after an
# index warm-up"). What that first lookup costs, index built from the
# catalog, is reported as a figure of its own (index build), beside the
# first exact lookup on a fresh mount.
#
#   range  lstat of registry/r0001/~M.m for BENCH_LOOKUPS distinct (M, m),
#          each resolved to its own tag M.m.9 (a symbolic link, as stat
#          registry/app/^1.2 shows one). Every range form costs the same to
#          resolve (a parse and a binary search in the index); tilde gives
#          distinct ranges with distinct answers, where ^M.m would send a
#          hundred names to one tag
#   exact  lstat of registry/r0001/M.m.3 for the same (M, m): a tag
#
# Both sides run in one python3 process, interleaved lookup by lookup (a
# range, a tag, a tag, a range, ...; which side opens alternates from run
# to run), each lstat(2) timed on its own (lstat is what `stat NAME` calls;
# it does not follow the link). Checked after the timing: every range a
# link to M.m.9, every tag a file. A run's figure for a side is its median
# lookup, and the ratio is taken within the run, the two sides having met
# the same machine at the same moments; the target is on the median of the
# runs' ratios. The means are printed too: on a shared, loaded machine a
# lookup that loses the CPU takes milliseconds, a hundred lookups' worth,
# so the means measure the load as much as regfs.
#
# Environment:
#   BENCH_TAGS      tags in the repository, a multiple of 10  (default 10000)
#   BENCH_LOOKUPS   lookups a side, per run (below TAGS/10)   (default 900)
#   BENCH_RUNS      runs, the median is reported              (default 5)
#   BENCH_DIR       where the temporary folder goes           (default /var/tmp)
#   BENCH_STRICT    1: exit 1 when a target is missed         (default 0)
#   REGFS, POPULATE the daemon and build/tests/regfs-bench-populate
#                   (REGFS_BUILD_DIR, default build/, holds both)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${REGFS_BUILD_DIR:-$top/build}
REGFS=${REGFS:-$build/regfs}
POPULATE=${POPULATE:-$build/tests/regfs-bench-populate}
ntags=${BENCH_TAGS:-10000}
nlookups=${BENCH_LOOKUPS:-900}
runs=${BENCH_RUNS:-5}
strict=${BENCH_STRICT:-0}

die() {
	echo "bench-versions: $*" >&2
	exit 2
}
note() { echo "bench-versions: $*" >&2; }

for v in "$ntags" "$nlookups" "$runs"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$v'"
done
# At least 2000: the warm-up's ^1.2 resolves to 1.99.9.
((ntags % 10 == 0 && ntags >= 2000 && ntags <= 99990)) ||
	die "BENCH_TAGS must be a multiple of 10, from 2000 to 99990"
npairs=$((ntags / 10))
((nlookups < npairs)) || die "BENCH_LOOKUPS must be below BENCH_TAGS / 10 ($npairs)"

[[ -x $REGFS ]] || die "no daemon at '$REGFS' (build first, or set REGFS)"
[[ -x $POPULATE ]] || die "no populate helper at '$POPULATE' (or set POPULATE)"
[[ -e /dev/fuse ]] || die "no /dev/fuse"
for tool in fusermount3 mountpoint python3; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/regfs-bench-versions.XXXXXX")
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

# mount_regfs STORE MOUNTPOINT: start the daemon in the foreground (so its
# pid is ours) and wait until the mount is there; sets daemon_pid.
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
	wait "$daemon_pid" || die "regfs exited with status $?"
}

# shellcheck source-path=SCRIPTDIR source=stats.sh
. "$here/stats.sh"

# lookups DIR RANGE-NAMES EXACT-NAMES FIRST: lstat the names of both files
# in DIR, interleaved: the first range and the first tag (in the order
# FIRST, range or exact, says), then the second tag and the second range,
# and so on, each call timed on its own. Prints, in microseconds, the
# median and the mean lookup of the ranges, then of the tags. Then checks
# every answer: a range, a link to the tag named in its file's second
# column; a tag, a regular file.
lookups() {
	python3 - "$@" <<'PY'
import os, stat, statistics, sys, time
d, rf, ef, first = sys.argv[1:5]
rows = {"range": [l.split() for l in open(rf)], "exact": [l.split() for l in open(ef)]}
paths = {k: [os.path.join(d, r[0]) for r in v] for k, v in rows.items()}
took = {"range": [], "exact": []}
lstat, clock = os.lstat, time.perf_counter_ns
order = (first, "exact" if first == "range" else "range")
for i in range(len(paths["range"])):
    for side in (order if i % 2 == 0 else order[::-1]):
        p = paths[side][i]
        t0 = clock()
        lstat(p)
        took[side].append(clock() - t0)
for p, r in zip(paths["range"], rows["range"]):
    st = lstat(p)
    if not stat.S_ISLNK(st.st_mode) or os.readlink(p) != r[1]:
        sys.exit("bench-versions: %s is not a link to %s" % (p, r[1]))
for p in paths["exact"]:
    if not stat.S_ISREG(lstat(p).st_mode):
        sys.exit("bench-versions: %s is not a file" % p)
print(" ".join("%.2f %.2f" % (statistics.median(took[k]) / 1e3, statistics.mean(took[k]) / 1e3)
               for k in ("range", "exact")))
PY
}

# one DIR NAME [TARGET]: lstat DIR/NAME once, timed the same way; prints
# the milliseconds it took. With TARGET, it must be a link to it.
one() {
	python3 - "$@" <<'PY'
import os, stat, sys, time
p = os.path.join(sys.argv[1], sys.argv[2])
t0 = time.perf_counter_ns()
st = os.lstat(p)
t1 = time.perf_counter_ns()
if len(sys.argv) > 3 and (not stat.S_ISLNK(st.st_mode) or os.readlink(p) != sys.argv[3]):
    sys.exit("bench-versions: %s is not a link to %s" % (p, sys.argv[3]))
print("%.3f" % ((t1 - t0) / 1e6))
PY
}

echo "bench-versions: work folder $work"
echo "bench-versions: $runs runs, $ntags tags in one repository, $nlookups cold lookups a side a run"
echo "bench-versions: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r), $(df -h --output=source,fstype "$work" | tail -n 1 | tr -s ' ')"
echo "bench-versions: regfs $REGFS"

store=$work/store
mnt=$work/mnt
"$POPULATE" --semver "$store" 1 "$ntags" >/dev/null

# The (M, m) pairs: nlookups of the npairs, evenly spread, never 1.99 (the
# warm-up's ^1.2 is 1.99.9). Range names ~M.m, resolving to M.m.9; tag names
# M.m.3 (the warm-up's tag is 1.2.4).
python3 - "$npairs" "$nlookups" "$work/range.names" "$work/exact.names" <<'PY'
import sys
npairs, n, rf, ef = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
pairs = [p for p in range(npairs) if p != 199]
step = len(pairs) / n
chosen = [pairs[int(i * step)] for i in range(n)]
with open(rf, "w") as r, open(ef, "w") as e:
    for p in chosen:
        M, m = divmod(p, 100)
        r.write("~%d.%d %d.%d.9\n" % (M, m, M, m))
        e.write("%d.%d.3\n" % (M, m))
PY
[[ $(wc -l <"$work/range.names") -eq $nlookups ]] || die "could not make $nlookups names"

rmed=() rmean=() emed=() emean=() ratio_med=() ratio_mean=()
build_ms=() first_ms=() again_ms=()
for ((i = 0; i < runs; i++)); do
	mount_regfs "$store" "$mnt"
	dir=$mnt/registry/r0001
	stat "$dir" >/dev/null
	# The first lookups of the mount: a tag, and the range that builds
	# the index (order alternated). Not among the timed names.
	if ((i % 2)); then
		first_ms+=("$(one "$dir" 1.2.4)")
		build_ms+=("$(one "$dir" '^1.2' 1.99.9)")
	else
		build_ms+=("$(one "$dir" '^1.2' 1.99.9)")
		first_ms+=("$(one "$dir" 1.2.4)")
	fi
	# The same range again once the kernel has let it go (1 s): the
	# daemon answers from the index.
	sleep 1.1
	again_ms+=("$(one "$dir" '^1.2' 1.99.9)")
	read -r a b c d < <(lookups "$dir" "$work/range.names" "$work/exact.names" \
		"$( ((i % 2)) && echo exact || echo range)")
	rmed+=("$a") rmean+=("$b") emed+=("$c") emean+=("$d")
	ratio_med+=("$(ratio "$a" "$c")") ratio_mean+=("$(ratio "$b" "$d")")
	umount_regfs "$mnt"
	printf 'bench-versions: run %d: range median %s us, mean %s us; tag median %s us, mean %s us; ratio %s (means %s); index build %s ms, first tag %s ms, ^1.2 again %s ms\n' \
		"$((i + 1))" "$a" "$b" "$c" "$d" "${ratio_med[i]}" "${ratio_mean[i]}" \
		"${build_ms[i]}" "${first_ms[i]}" "${again_ms[i]}"
done

med() { printf '%.2f' "$(median "$@")"; }
med3() { printf '%.3f' "$(median "$@")"; }
echo "bench-versions: every run, range median (us): ${rmed[*]}"
echo "bench-versions: every run, tag median (us):   ${emed[*]}"
echo "bench-versions: every run, ratio of medians:  ${ratio_med[*]}"
echo "bench-versions: every run, range mean (us):   ${rmean[*]}"
echo "bench-versions: every run, tag mean (us):     ${emean[*]}"
echo "bench-versions: every run, ratio of means:    ${ratio_mean[*]}"
echo "bench-versions: every run, index build (ms):  ${build_ms[*]}"
echo "bench-versions: every run, first tag (ms):    ${first_ms[*]}"
echo "bench-versions: every run, ^1.2 again (ms):   ${again_ms[*]}"

# The target: the typical lookup, each run's median on each side, the
# ratio taken within the run (its two sides interleaved: a paired
# measurement), the median of those over the runs.
result "cold lookup, median (us)" "$(med "${rmed[@]}")" "$(med "${emed[@]}")" "$(med3 "${ratio_med[@]}")" "<=" 2.0
# The means, for what the tail costs; on a loaded machine a lookup that
# loses the CPU takes milliseconds, a hundred lookups' worth, on whichever
# side it falls: shown, not judged.
results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "cold lookup, mean (us)" "$(med "${rmean[@]}")" \
	"$(med "${emean[@]}")" "$(med3 "${ratio_mean[@]}")" "-" info)")
# The issue's other bound: a range lookup under a millisecond once the
# index is warm (the mean, tail included).
r_mean=$(med "${rmean[@]}")
if awk -v a="$r_mean" 'BEGIN { exit !(a < 1000) }'; then
	verdict=PASS
else
	verdict=MISS
	missed=$((missed + 1))
fi
results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "range lookup, warm index, mean (us)" "$r_mean" - - "< 1000" "$verdict")")
results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "first lookup of a mount (ms)" \
	"$(med "${build_ms[@]}")" "$(med "${first_ms[@]}")" - - info)")
results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "^1.2 looked up again (ms)" \
	"$(med "${again_ms[@]}")" - - - info)")

if grep -E 'error|ERROR|Sanitizer' "$work/regfs.log" >/dev/null; then
	note "the daemon logged errors:"
	grep -E 'error|ERROR|Sanitizer' "$work/regfs.log" | head -n 20 >&2
fi

echo
printf '%-40s %10s %10s %8s   %-8s %s\n' "measure (median of $runs)" range exact ratio target result
for line in "${results[@]}"; do
	echo "$line"
done
echo "(a cold lookup: lstat(2) of a name the kernel has not seen, $nlookups a side a run; ratio range / exact,"
echo " the median of the runs' ratios; first lookup of a mount: range = ^1.2, building the index of $ntags"
echo " versions, exact = one tag)"

if ((strict && missed)); then
	exit 1
fi
exit 0
