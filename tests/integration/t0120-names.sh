#!/bin/bash
# t0120-names: repository and tag names. A bad name gives EINVAL when
# creating and ENOENT when looking up; no name reaches a path outside the
# store.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mkrand "$SRC/f" 20K
regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming
expect_ok cp "$SRC/f" "$I/app/v1"

# Everything outside the store that a stray path could reach: the temp
# folder's other contents, recorded now and compared at the end.
touch "$TEST_TMP/marker"
snapshot() {
	(cd "$TEST_TMP" && find . -path ./store -prune -o -path ./mnt -prune -o -path ./sanitizer.\* -prune \
		-o -name 'regfs.*.log' -prune -o -print | sort)
}
outside_before=$(snapshot)

# --- repository names ---

long_component=$(printf 'a%.0s' $(seq 200))
good_repos=(a0 a.b a_b a__b a-b a--b a---b 0 x9.y8_z7)
bad_repos=(App UPPER a..b a___b -a a- .a _a a_ a. 'a b' 'a:b' 'a@b' 'ä' 'a+b' '...')
# A top-level name is created by lookup (plain mkdir then finds it there):
# mkdir -p, as users write it, works.
for r in "${good_repos[@]}"; do
	expect_ok "repository '$r' is accepted (mkdir -p)" -- mkdir -p "$I/$r"
	expect_ok "a nested component '$r' is accepted (mkdir)" -- mkdir "$I/app/$r"
done
for r in "${bad_repos[@]}"; do
	expect_errno ENOENT open "$R/$r" r
	expect_errno ENOENT open "$I/$r/v1" r
	expect_errno EINVAL mkdir "$I/$r"
	expect_errno EINVAL mkdir "$I/app/$r"
	check "incoming/ shows no '$r' after the attempts" test ! -e "$I/$r"
done
expect_fail_errno "cp into a bad repository name" -- cp "$SRC/f" "$I/App/v1" "No such file or directory"
expect_fail_errno "mkdir of a bad repository name" -- mkdir "$I/App" "Invalid argument"
expect_fail_errno "mkdir -p of a bad nested name" -- mkdir -p "$I/org/Team/app" "Invalid argument"
expect_fail_errno "stat of a bad repository name in registry/" -- stat "$R/App" "No such file or directory"
# The whole repository name is limited to 255 characters.
expect_ok "a 200-character component is accepted" -- mkdir -p "$I/$long_component"
expect_errno "EINVAL|ENAMETOOLONG" mkdir "$I/$long_component/$(printf 'b%.0s' $(seq 60))"

# --- tag names ---

bad_tags=(-v1 'v 1' 'v:1' 'v@1' 'v/1' 'ä' 'v+1' 'v~1' 'v$1' "$(printf 'x%.0s' $(seq 129))")
for t in "${bad_tags[@]}"; do
	[[ $t == */* ]] && continue
	d=${t:0:16}
	expect_errno EINVAL open "$I/app/$t" w+create
	expect_errno EINVAL open "$I/app/$t" w+create+excl
	# In registry/, a name with a character of version ranges ('~',
	# a space) is a range, and a malformed one is EINVAL (regfs(8)).
	if [[ $t == *[~\ ]* ]]; then
		expect_errno EINVAL open "$R/app/$t" r
	else
		expect_errno ENOENT open "$R/app/$t" r
	fi
	expect_errno ENOENT open "$I/app/$t" r
	check "no '$d' entry appeared in incoming/app" test ! -e "$I/app/$t"
done
expect_fail_errno "cp onto a bad tag name" -- cp "$SRC/f" "$I/app/-v1" "Invalid argument"
expect_fail_errno "a shell redirection onto a bad tag name" -- sh -c 'echo x > "$1"' sh "$I/app/v 1" "Invalid argument"
expect_fail_errno "stat of a bad tag name in registry/" -- stat "$R/app/-v1" "No such file or directory"
# A tag name may not be the name of a directory, or a directory level the
# name of a tag.
expect_errno EEXIST mkdir "$I/app/v1"
expect_ok "the 128-character tag is the longest accepted" -- cp "$SRC/f" "$I/app/$(printf 'y%.0s' $(seq 128))"

# Renames onto bad names are refused the same way.
expect_ok "a temporary to rename" -- cp "$SRC/f" "$I/app/.tmp"
expect_errno EINVAL rename "$I/app/.tmp" "$I/app/-bad"
expect_errno EINVAL rename "$I/app/.tmp" "$I/app/v 1"
check "the temporary survived the refused renames" test -f "$I/app/.tmp"
expect_ok rm "$I/app/.tmp"

# --- dot tricks: the kernel resolves '.' and '..', the daemon never sees a
# path; names made of dots are temporaries or refused, and stay inside ---

expect_eq "$(cd "$I/app/.." && pwd -P)" "$MNT/incoming" "incoming/app/.. is incoming/"
expect_eq "$(cd "$R/app/../.." && pwd -P)" "$MNT" "registry/app/../.. is the mount root"
expect_ok "cp through a .. path lands in the mount" -- cp "$SRC/f" "$I/app/../app/v2"
expect_eq "$(sha "$R/app/v2" 2>&1)" "$(sha "$SRC/f")" "incoming/app/../app/v2 was sealed as app:v2"
for n in ... ..x '..%2f..%2fetc'; do
	expect_ok "'$n' is a temporary inside the mount" -- cp "$SRC/f" "$I/app/$n"
	expect_ok "'$n' reads back" -- cmp "$SRC/f" "$I/app/$n"
	expect_ok "'$n' is removed" -- rm "$I/app/$n"
done
expect_errno EINVAL mkdir "$I/.."x
expect_errno ENOENT open "$R/..x" r
expect_errno ENOENT open "$R/app/..x" r
# Absolute-looking and escaped names cannot even be spelled in one component;
# the nearest tries are refused.
expect_errno EINVAL open "$I/app/%2e%2e" w+create
expect_errno EINVAL open "$I/app/\\etc\\passwd" w+create
expect_errno ENOENT open "$I/app/v1/../../../../etc/passwd" r

# regctl takes names from the command line: the same grammar guards it.
if [[ -x $REGCTL ]]; then
	for ref in '../../etc:passwd' 'app:../../x' '/etc/passwd:v1' 'app:/v1' 'App:v1' 'app:-v1' 'app'; do
		run_cmd "$REGCTL" --store "$STORE" inspect "$ref"
		check "regctl inspect '$ref' is refused" test "$RC" -ne 0
		expect_match "$OUT" '^regctl: ' "regctl inspect '$ref' says why, on one line"
	done
fi

# Nothing escaped: nothing else in the temp folder changed, and the store
# holds no file named by the tricks.
expect_eq "$(snapshot)" "$outside_before" "nothing was created outside the store"
expect_eq "$(find "$STORE" \( -name '..?*' -o -name '...' -o -name '-v1' -o -name '*passwd*' \
	-o -name '*%2e*' -o -name 'App' -o -name 'v 1' \) -print)" "" "no name of the tricks appears in the store"
expect_eq "$(find "$STORE/blobs" -mindepth 1 | sed "s|^$STORE/blobs/||" | { grep -Ev '^sha256(/[0-9a-f]{64})?$' || :; })" "" \
	"blobs/ holds only sha256/<hex> files"

check "the daemon is still alive" proc_alive "$REGFS_PID"
regfs_umount "$MNT"
done_testing
