#!/bin/bash
# tools/quickstart.sh - from a fresh Debian 12 machine to a mounted registry,
# with no configuration: install the Debian packages that are missing (as
# root, or through sudo), build into build/, link regfs and regctl into
# ~/.local/bin, mount the default store on ~/regfs, and print the tour of
# README.md ("A quick tour") to try on it.
#
#   tools/quickstart.sh [STORE [MOUNTPOINT]]
#
# STORE defaults to $REGFS_STORE, else $XDG_DATA_HOME/regfs, else
# ~/.local/share/regfs (the store regctl uses when given none); MOUNTPOINT to
# $REGFS_MOUNT, else ~/regfs. REGFS_BUILD_DIR names another build folder;
# REGFS_NO_INSTALL=1 only says which packages are missing. Unmount with:
# fusermount3 -u MOUNTPOINT
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${REGFS_BUILD_DIR:-$top/build}

die() {
	echo "quickstart: $*" >&2
	exit 1
}

case ${1:-} in
-h | --help)
	sed -n '2,14s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
(($# <= 2)) || die "usage: tools/quickstart.sh [STORE [MOUNTPOINT]]"

[[ -n ${HOME:-} ]] || die "HOME is not set"
default_store=${REGFS_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/regfs}
store=${1:-$default_store}
mnt=${2:-${REGFS_MOUNT:-$HOME/regfs}}
bindir=$HOME/.local/bin

# 1. Debian packages: compilers and CMake, libfuse3, SQLite, OpenSSL, jansson
# (regctl's JSON), libcurl, libmicrohttpd and libcrypt (regctl serve), and the
# tools the tour uses. Not cmocka: without it the unit tests are skipped
# (tests/run.sh installs it).
packages=(build-essential cmake pkg-config libfuse3-dev fuse3 libsqlite3-dev
	sqlite3 libssl-dev libjansson-dev libyaml-dev libcurl4-openssl-dev
	libmicrohttpd-dev libcrypt-dev ca-certificates attr rsync)
missing=()
if command -v dpkg-query >/dev/null; then
	for p in "${packages[@]}"; do
		if [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) != installed ]]; then
			missing+=("$p")
		fi
	done
else
	echo "quickstart: not a Debian system; make sure these are installed: ${packages[*]}"
fi
if ((${#missing[@]})) && [[ ${REGFS_NO_INSTALL:-0} == 1 ]]; then
	echo "quickstart: missing, not installed (REGFS_NO_INSTALL=1): ${missing[*]}"
elif ((${#missing[@]})); then
	echo "quickstart: installing ${missing[*]}"
	sudo=()
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "run as root, or install: apt-get install ${missing[*]}"
		sudo=(sudo)
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. Build.
echo "quickstart: building in $build"
cmake -S "$top" -B "$build" >/dev/null
build=$(cd "$build" && pwd)
cmake --build "$build" -j"$(nproc)"

# 3. regfs and regctl on PATH: symlinks into ~/.local/bin (a rebuild updates
# what they run). A file there that is not a symlink is someone else's: kept.
mkdir -p "$bindir"
for prog in regfs regctl; do
	if [[ -e $bindir/$prog && ! -L $bindir/$prog ]]; then
		echo "quickstart: $bindir/$prog exists and is not a symlink: left as it is"
		continue
	fi
	ln -sfn "$build/$prog" "$bindir/$prog"
	echo "quickstart: $bindir/$prog -> $build/$prog (symlink)"
done

# 4. Mount.
[[ -e /dev/fuse ]] || die "no /dev/fuse: this machine cannot mount FUSE file systems"
if mountpoint -q "$mnt"; then
	echo "quickstart: something is mounted on $mnt already; unmount it with: fusermount3 -u $mnt"
	exit 0
fi
mkdir -p "$store" "$mnt"
"$build/regfs" "$store" "$mnt"
for _ in $(seq 50); do
	mountpoint -q "$mnt" && break
	sleep 0.1
done
mountpoint -q "$mnt" || die "regfs did not mount $store on $mnt"

# 5. What to try: the tour of README.md, as printed there, with this mount
# point and store when they are not the defaults.
# shown PATH: PATH as one types it, ~/ for the home folder.
shown() {
	if [[ $1 == "$HOME"/* ]]; then
		# shellcheck disable=SC2088 # printed for the user to type
		printf '~/%q' "${1#"$HOME"/}"
	else
		printf '%q' "$1"
	fi
}
tour=$(awk '/^## / { in_section = ($0 == "## A quick tour"); next }
	in_section && /^```/ { if (in_block) exit; in_block = 1; next }
	in_block' "$top/README.md" 2>/dev/null) || tour=

echo
echo "regfs is mounted: store $store, mount point $mnt"
case ":$PATH:" in
*":$bindir:"*)
	found=$(type -P regctl || :)
	if [[ $found != "$bindir/regctl" ]]; then
		echo "note: another regctl comes first on PATH: $found"
	fi
	;;
*)
	echo
	echo "$bindir is not on PATH. Run this first (and add it to ~/.bashrc):"
	# shellcheck disable=SC2016 # printed for the user's shell to expand
	echo '  export PATH="$HOME/.local/bin:$PATH"'
	;;
esac
echo
if [[ -n $tour ]]; then
	echo "Take the tour (README.md, \"A quick tour\"):"
	while IFS= read -r line; do
		case $line in
		"cd ~/regfs"*) line="cd $(shown "$mnt")${line#"cd ~/regfs"}" ;;
		"regctl "*)
			if [[ $store != "$default_store" ]]; then
				line="regctl --store $(shown "$store") ${line#"regctl "}"
			fi
			;;
		esac
		if [[ -n $line ]]; then printf '  %s\n' "$line"; else echo; fi
	done <<<"$tour"
else
	echo "Try:"
	echo "  cp /etc/os-release $(shown "$mnt")/incoming/tour/v1   # publish: sealed when cp returns"
	echo "  ls -l $(shown "$mnt")/registry/tour/"
fi
echo
echo "Unmount with:"
echo "  fusermount3 -u $mnt"
