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
