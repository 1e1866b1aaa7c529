#!/bin/bash
# tools/quickstart.sh - from a fresh Debian 12 machine to a mounted registry,
# with no configuration: install the Debian packages that are missing (as
# root, or through sudo), build into build/, and mount the default store on
# ~/regfs.
#
#   tools/quickstart.sh [STORE [MOUNTPOINT]]
#
# STORE defaults to $REGFS_STORE, else $XDG_DATA_HOME/regfs, else
# ~/.local/share/regfs (the store regctl uses when given none); MOUNTPOINT to
# $REGFS_MOUNT, else ~/regfs. Unmount with: fusermount3 -u MOUNTPOINT
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${REGFS_BUILD_DIR:-$top/build}

die() {
	echo "quickstart: $*" >&2
	exit 1
}

case ${1:-} in
-h | --help)
	sed -n '2,12s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
(($# <= 2)) || die "usage: tools/quickstart.sh [STORE [MOUNTPOINT]]"

[[ -n ${HOME:-} ]] || die "HOME is not set"
default_store=${REGFS_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/regfs}
store=${1:-$default_store}
mnt=${2:-${REGFS_MOUNT:-$HOME/regfs}}

# 1. Debian packages: compilers and CMake, libfuse3, SQLite, OpenSSL, jansson
# (regctl's JSON), cmocka (the unit tests, built by default), and the tools
# the tour below uses.
packages=(build-essential cmake pkg-config libfuse3-dev fuse3 libsqlite3-dev
	sqlite3 libssl-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev
	ca-certificates attr rsync)
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
if ((${#missing[@]})); then
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
cmake --build "$build" -j"$(nproc)"

# 3. Mount.
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
regctl="$build/regctl"
[[ $store == "$default_store" ]] || regctl+=" --store $store"

cat <<EOF

regfs is mounted: store $store, mount point $mnt

Try:
  cp /bin/ls $mnt/incoming/tools/ls-1.0     # publish: sealed when cp returns
  ls -l $mnt/registry/tools/                # the sealed tag, read-only
  getfattr -d $mnt/registry/tools/ls-1.0    # its digest
  $regctl ls    # the store, mounted or not

Unmount with:
  fusermount3 -u $mnt
EOF
