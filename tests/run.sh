#!/bin/bash
# tests/run.sh - build regfs and run its whole test suite, twice: a normal
# build (warnings are errors) in build/, then an ASan + UBSan build in
# build-asan/; then each libFuzzer harness of tests/fuzz for a bounded time
# (clang, build-fuzz/). Installs the Debian packages it needs first (as
# root, or through sudo when that works without a password). .ci/run runs
# this.
#
#   tests/run.sh            everything
#   REGFS_NO_INSTALL=1      do not install packages
#   REGFS_SKIP_ASAN=1       only the normal build
#   REGFS_SKIP_FUZZ=1       no fuzzing (tests/fuzz/run.sh, ~5 min)
#   REGFS_FUZZ_SECONDS=N    seconds per fuzz harness (default 20)
#   CTEST_ARGS="-R unit"    extra arguments for both ctest runs
#
# Exits non-zero if a package, a build or a test failed. Its last line counts
# the tests of both runs: "total: N passed, N failed, N skipped".
set -uo pipefail
export LC_ALL=C.UTF-8

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 1

say() { printf '\n==> %s\n' "$*"; }

# What the build and the tests use: the libraries, the tools the tests
# drive the mount with, and the real peers for the upstream tests (the CNCF
# Distribution registry, skopeo, htpasswd, openssl and python3 for the token
# service and the misbehaving proxy).
packages=(
	build-essential cmake pkg-config
	libfuse3-dev fuse3
	libsqlite3-dev sqlite3
	libssl-dev openssl
	libjansson-dev libyaml-dev openssh-server openssh-client
	libmicrohttpd-dev libcrypt-dev
	libcurl4-openssl-dev curl ca-certificates
	libcmocka-dev
	rsync attr coreutils findutils util-linux procps psmisc cpio wget tar
	mandoc man-db groff-base clang-format git
	python3
	docker-registry skopeo apache2-utils
	# headless Chromium loads the browse pages of regctl serve (t1230)
	chromium
	# podman pulls from regctl serve (t1210; vfs storage, as root)
	podman
	nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils libnfs-dev iproute2
	# the fuzzers of tests/fuzz: clang, and libclang-rt-14-dev for
	# libFuzzer and the sanitizer runtimes clang links (libclang_rt.*)
	clang libclang-rt-14-dev
)

install_packages() {
	local missing=() p sudo=()

	if [[ ${REGFS_NO_INSTALL:-0} == 1 ]]; then
		return 0
	fi
	if ! command -v dpkg-query >/dev/null; then
		echo "run.sh: not a Debian system, not installing: ${packages[*]}"
		return 0
	fi
	for p in "${packages[@]}"; do
		if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		echo "run.sh: all needed packages are installed"
		return 0
	fi
	if ((EUID != 0)); then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			echo "run.sh: missing packages, and no root or sudo to install them:" >&2
			echo "    apt-get install ${missing[*]}" >&2
			return 1
		fi
	fi
	say "installing ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

passed=0
failed=0
skipped=0
status=0

# run_suite DIR: ctest in DIR, and add what it counted to the totals.
run_suite() {
	local dir=$1 log summary total nfail nskip rc
	log=$(mktemp)
	# shellcheck disable=SC2086 # CTEST_ARGS is a list of words
	ctest --test-dir "$dir" --output-on-failure -j2 ${CTEST_ARGS:-} 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
	if [[ -n $summary ]]; then
		total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
		nfail=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$summary")
		nskip=$(grep -cE '\*\*\*Skipped' "$log")
		skipped=$((skipped + nskip))
		failed=$((failed + nfail))
		passed=$((passed + total - nfail - nskip))
	elif ((rc != 0)); then
		failed=$((failed + 1))
	fi
	rm -f "$log"
	if ((rc != 0)); then
		status=1
	fi
}

# build DIR CMAKE_ARGS...: configure and build; a failure counts as one.
build() {
	local dir=$1
	shift
	if cmake -S . -B "$dir" -DREGFS_WERROR=ON -DREGFS_TESTS=ON "$@" &&
		cmake --build "$dir" -j2; then
		return 0
	fi
	echo "run.sh: the build in '$dir' failed" >&2
	failed=$((failed + 1))
	status=1
	return 1
}

# LeakSanitizer stops the process with ptrace at exit; where that is not
# allowed (some containers) every sanitized program would fail, so look first.
leak_check_works() {
	local dir rc
	dir=$(mktemp -d)
	printf '#include <stdlib.h>\nint main(void) { free(malloc(1)); return 0; }\n' >"$dir/probe.c"
	if ! cc -fsanitize=address -o "$dir/probe" "$dir/probe.c" 2>/dev/null; then
		rm -rf "$dir"
		return 1
	fi
	ASAN_OPTIONS=detect_leaks=1 "$dir/probe" >/dev/null 2>&1
	rc=$?
	rm -rf "$dir"
	return "$rc"
}

say "packages"
if ! install_packages; then
	echo "run.sh: installing packages failed" >&2
	status=1
fi

say "build (build/)"
if build build; then
	say "tests (build/)"
	run_suite build
fi

if [[ ${REGFS_SKIP_ASAN:-0} != 1 ]]; then
	say "sanitizer build (build-asan/, ASan + UBSan)"
	if build build-asan -DREGFS_SANITIZE=ON; then
		if leak_check_works; then
			leaks=1
		else
			leaks=0
			echo "run.sh: LeakSanitizer does not work here (ptrace refused?): leak checks off"
		fi
		export ASAN_OPTIONS="detect_leaks=$leaks"
		export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
		say "tests (build-asan/, ASAN_OPTIONS=$ASAN_OPTIONS)"
		run_suite build-asan
	fi
fi

# The fuzzers, once (not per build): a harness that crashed counts as a
# failed test.
if [[ ${REGFS_SKIP_FUZZ:-0} != 1 ]]; then
	say "fuzzing (build-fuzz/, ${REGFS_FUZZ_SECONDS:-20}s per harness)"
	if [[ -z ${ASAN_OPTIONS:-} ]]; then
		if leak_check_works; then
			export ASAN_OPTIONS=detect_leaks=1
		else
			export ASAN_OPTIONS=detect_leaks=0
		fi
	fi
	log=$(mktemp)
	bash tests/fuzz/run.sh 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	passed=$((passed + $(grep -c '^fuzz: PASS' "$log")))
	nfail=$(grep -c '^fuzz: FAIL' "$log")
	if ((rc != 0 && nfail == 0)); then
		nfail=1
	fi
	failed=$((failed + nfail))
	if ((rc != 0)); then
		status=1
	fi
	rm -f "$log"
fi

echo
if ((status == 0)); then
	echo "run.sh: all good"
else
	echo "run.sh: FAILED" >&2
fi
echo "total: $passed passed, $failed failed, $skipped skipped"
exit "$status"
