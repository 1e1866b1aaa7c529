#!/bin/bash
# tests/fuzz/run.sh - build the libFuzzer harnesses of tests/fuzz with clang
# (in build-fuzz/, -DREGFS_FUZZ=ON) and fuzz each for a bounded time, one
# after the other. Fails on any crash, leak, UB report, hang (an input
# running longer than 10 s) or broken invariant. tests/run.sh runs it once.
#
#   tests/fuzz/run.sh [SECONDS]   seconds per harness (default 20, or
#                                 REGFS_FUZZ_SECONDS)
#   REGFS_FUZZ_ONLY="manifest names"  only these harnesses
#   REGFS_FUZZ_BUILD=DIR              build folder (default build-fuzz)
#   REGFS_FUZZ_RUNS=N                 stop a harness after N inputs too
#                                     (the long runs of README.md)
#
# Each harness first replays its checked-in corpus (tests/fuzz/corpus/NAME,
# which holds the regression seeds of the bugs fuzzing found), then
# mutates from it. New inputs go to a scratch folder, never into the
# checked-in corpus; a failing input is kept as
# build-fuzz/fuzz-artifacts/NAME-crash-<sha1> (rerun it with
# build-fuzz/tests/fuzz/fuzz-NAME FILE). A line "fuzz: PASS NAME" or
# "fuzz: FAIL NAME" per harness, for tests/run.sh to count.
set -uo pipefail
export LC_ALL=C.UTF-8

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top" || exit 1

seconds=${1:-${REGFS_FUZZ_SECONDS:-20}}
build=${REGFS_FUZZ_BUILD:-build-fuzz}
all=(manifest www-authenticate config names sidecar link-taglist plan registry
	serve-http)
read -r -a only <<<"${REGFS_FUZZ_ONLY:-${all[*]}}"

if ! command -v clang >/dev/null; then
	echo "fuzz/run.sh: clang is not installed (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi
if ! CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug \
	-DREGFS_FUZZ=ON -DREGFS_TESTS=OFF -DREGFS_WERROR=ON >/dev/null ||
	! cmake --build "$build" -j2 --target fuzzers; then
	echo "fuzz/run.sh: the fuzz build in '$build' failed" >&2
	for name in "${only[@]}"; do
		echo "fuzz: FAIL $name (build)"
	done
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

status=0
for name in "${only[@]}"; do
	bin=$build/tests/fuzz/fuzz-$name
	log=$scratch/$name.log
	mkdir -p "$scratch/$name"
	echo "==> fuzz-$name, ${seconds}s"
	# -timeout: an input that runs 10 s is a hang, which is a bug here.
	extra=()
	# fuzz-registry's store (SQLite's caches, the catalog) outlives an
	# input, so libFuzzer's check for leaks after each input would run
	# LeakSanitizer on most of them (4 times slower); its leaks are still
	# found at exit, where the harness drops the store.
	if [[ $name == registry ]]; then
		extra=(-detect_leaks=0)
	fi
	start=$SECONDS
	"$bin" -max_total_time="$seconds" -runs="${REGFS_FUZZ_RUNS:--1}" \
		-timeout=10 -rss_limit_mb=2048 "${extra[@]}" \
		-print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
		"$scratch/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
	if ((rc == 0)); then
		echo "fuzz: PASS $name (${runs:-?} runs in $((SECONDS - start))s, ${cov:-cov: ?})"
	else
		tail -n 60 "$log"
		echo "fuzz: FAIL $name (exit $rc; input kept in $artifacts/)"
		status=1
	fi
done
exit "$status"
