# stats.sh - timing and summary helpers shared by the benchmarks (sourced).
# shellcheck shell=bash

# timed VAR CMD...: run CMD, add its wall time in seconds to array VAR.
timed() {
	local -n acc=$1
	shift
	local t0 t1
	t0=$EPOCHREALTIME
	"$@"
	t1=$EPOCHREALTIME
	acc+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')")
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) printf "%.6f", v[(NR + 1) / 2];
		      else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B to three decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# level_memory MIB: write MIB of zeros to a file in BENCH_BALLAST_DIR
# (default /dev/shm) and remove it again; called right before each timed
# part of a ratio whose sides fill the page cache.
#
# Why: on a virtual machine whose balloon reports free memory to the host
# (virtio-balloon free page reporting), memory that has been free for a
# couple of seconds is handed back to the host, and the guest pays about
# 2 s a GiB to touch it again, while memory freed a moment ago costs
# nothing more. Which side of a ratio meets which depends on how long ago
# the step before it freed its memory, so the ratio swings by half. The
# ballast gives every side memory freed a moment ago, as on a machine
# without a balloon. BENCH_LEVEL=0 turns it off, to see the raw effect;
# without room for the ballast it is skipped with a word on stderr.
level_memory() {
	local mib=$1 dir=${BENCH_BALLAST_DIR:-/dev/shm} room ballast
	[[ ${BENCH_LEVEL:-1} == 0 ]] && return 0
	room=$(df -m --output=avail "$dir" 2>/dev/null | tail -n 1 | tr -d ' ') || room=0
	if [[ ! $room =~ ^[0-9]+$ ]] || ((room < mib + 64)); then
		if [[ -z ${_level_warned:-} ]]; then
			echo "level_memory: no room for $mib MiB in $dir, memory not levelled" >&2
			_level_warned=1
		fi
		return 0
	fi
	ballast=$(mktemp "$dir/regfs-bench-ballast.XXXXXX")
	dd if=/dev/zero of="$ballast" bs=1M count="$mib" status=none
	rm -f "$ballast"
}

# The summary of bench-pull and bench-plan: results holds its lines, missed
# counts the targets missed.
results=()
missed=0
# result LABEL A B RATIO CMP TARGET: one line of the summary, A and B the
# two sides' figures; CMP is >= or <=.
result() {
	local label=$1 a=$2 b=$3 r=$4 cmp=$5 target=$6 verdict
	if awk -v r="$r" -v t="$target" -v c="$cmp" \
		'BEGIN { exit !(c == ">=" ? r >= t : r <= t) }'; then
		verdict=PASS
	else
		verdict=MISS
		missed=$((missed + 1))
	fi
	results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "$label" "$a" "$b" "$r" "$cmp $target" "$verdict")")
}
