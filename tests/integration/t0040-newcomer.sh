#!/bin/bash
# t0040-newcomer: the path of someone new to regfs, on a machine without the
# test libraries. (a) The source tree configures and builds with cmocka
# hidden from pkg-config (the unit tests are skipped, and said so), and
# -DREGFS_TESTS=ON then fails naming libcmocka-dev. (b) tools/quickstart.sh,
# with HOME in the temp folder, links regfs and regctl into ~/.local/bin,
# mounts, and prints the README's tour; every line of the tour, as printed,
# then runs as its comments say; the mount unmounts and the daemon exits.
# The real ~/.local and ~/regfs are never touched.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2088,SC2317 # tools as users use them; the tour as printed
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd cmake pkg-config getfattr rsync

umask 022
src=$REGFS_SOURCE_DIR
nl=$'\n'

# What the real home holds where quickstart and the tour write, to compare
# at the end.
real_home_state() {
	local p
	for p in "$HOME/.local/bin/regfs" "$HOME/.local/bin/regctl" "$HOME/regfs" \
		"$HOME/.local/share/regfs" "$HOME/demo"; do
		stat -c '%n %F %i %Y' -- "$p" 2>/dev/null || echo "$p absent"
	done
}
real_before=$(real_home_state)

# --- (a) configure and build without cmocka ---

# A pkg-config search path that has every .pc file but cmocka's.
pcdir=$TEST_TMP/pkgconfig
mkdir -p "$pcdir"
IFS=: read -ra pc_dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pc_dirs[@]}"; do
	for f in "$d"/*.pc; do
		[[ -e $f ]] || continue
		n=${f##*/}
		[[ $n == cmocka.pc || -e $pcdir/$n ]] && continue
		ln -s "$f" "$pcdir/$n"
	done
done
no_cmocka=(env -u PKG_CONFIG_PATH PKG_CONFIG_LIBDIR="$pcdir")
check "cmocka is hidden from pkg-config" _lib_not "${no_cmocka[@]}" pkg-config --exists cmocka
check "fuse3 is still found" "${no_cmocka[@]}" pkg-config --exists fuse3

build=$TEST_TMP/build
expect_ok "configure without cmocka succeeds" -- "${no_cmocka[@]}" cmake -S "$src" -B "$build"
expect_match "$OUT" "unit tests are skipped[^$nl]*libcmocka-dev" \
	"configure says the unit tests are skipped, and which package brings them"
run_cmd ctest --test-dir "$build" -N
expect_match "$OUT" "integration/t0040-newcomer" "the integration tests are registered"
expect_match "$OUT" "style/clang-format" "the style check is registered"
check "no unit test is registered" _lib_not grep -q 'unit/' <<<"$OUT"

expect_ok "cmake --build -j2 --target regfs regctl" -- \
	"${no_cmocka[@]}" cmake --build "$build" -j2 --target regfs regctl
check "the build made regfs" test -x "$build/regfs"
check "the build made regctl" test -x "$build/regctl"
expect_ok "the new regctl runs" -- "$build/regctl" version

expect_fail_errno "-DREGFS_TESTS=ON without cmocka fails, naming libcmocka-dev" -- \
	"${no_cmocka[@]}" cmake -S "$src" -B "$TEST_TMP/build-on" -DREGFS_TESTS=ON "libcmocka-dev"
expect_ok "-DREGFS_TESTS=OFF without cmocka configures" -- \
	"${no_cmocka[@]}" cmake -S "$src" -B "$TEST_TMP/build-off" -DREGFS_TESTS=OFF

# --- (b) quickstart, in a home of our own ---

H=$TEST_TMP/home
mkdir -p "$H"
store=$H/.local/share/regfs
mnt=$H/regfs
# quickstart as a newcomer runs it: ~/.local/bin is not on PATH yet. Its
# store and mount point are the defaults for that home, given explicitly.
quickstart() {
	env -u PKG_CONFIG_PATH -u REGFS_MOUNT -u REGFS_STORE -u XDG_DATA_HOME \
		PKG_CONFIG_LIBDIR="$pcdir" HOME="$H" REGFS_BUILD_DIR="$build" REGFS_NO_INSTALL=1 \
		"$@" bash "$src/tools/quickstart.sh" "$store" "$mnt"
}
track_mount "$mnt"
expect_ok "tools/quickstart.sh STORE MOUNTPOINT" -- quickstart
qs_out=$OUT
mapfile -t daemons < <(pids_with_arg "$mnt" 2>/dev/null)
((${#daemons[@]} == 0)) || track_pid "${daemons[@]}"
is_mounted "$mnt" || bail_out "quickstart did not mount $mnt"
expect_eq "${#daemons[@]}" 1 "one regfs daemon serves the mount"

expect_eq "$(readlink "$H/.local/bin/regfs")" "$build/regfs" "~/.local/bin/regfs is a symlink to the build"
expect_eq "$(readlink "$H/.local/bin/regctl")" "$build/regctl" "~/.local/bin/regctl is a symlink to the build"
expect_match "$qs_out" "\.local/bin/regctl -> [^$nl]* \(symlink\)" "quickstart says it linked them"
check "quickstart warns that ~/.local/bin is not on PATH" grep -qF '.local/bin is not on PATH' <<<"$qs_out"
check "... with the export line to run" grep -qxF '  export PATH="$HOME/.local/bin:$PATH"' <<<"$qs_out"

# The tour quickstart printed is the README's, line for line.
printed_tour=$(awk '/^Take the tour / { t = 1; next } /^Unmount with:/ { t = 0 } t' <<<"$qs_out" |
	sed 's/^  //')
readme_tour=$(awk '/^## / { s = ($0 == "## A quick tour"); next }
	s && /^```/ { if (b) exit; b = 1; next } b' "$src/README.md")
check "the README has a tour" test -n "$readme_tour"
expect_eq "$printed_tour" "$readme_tour" "quickstart prints the README's tour as it is"

# --- the tour, each line as printed ---

tour_path=$H/.local/bin:$PATH
expect_eq "$(PATH=$tour_path type -P regctl)" "$H/.local/bin/regctl" "with ~/.local/bin on PATH, regctl is ours"
cwd=$H
# tour LINE: run one line of the tour in a shell of the tour's, in cwd.
tour() {
	(cd "$cwd" && exec env HOME="$H" PATH="$tour_path" bash -c "$1")
}
demo=$H/demo
R=$mnt/registry
lines=0
while IFS= read -r line; do
	[[ -n $line ]] || continue
	lines=$((lines + 1))
	case $line in
	"mkdir -p ~/demo/dist"*)
		expect_ok "tour: $line" -- tour "$line"
		;;
	"seq "*)
		expect_ok "tour: $line" -- tour "$line"
		check "the stand-ins are made" test -s "$demo/app" -a -s "$demo/dist/app-amd64" -a -s "$demo/dist/app-arm64"
		;;
	"cd ~/regfs"*)
		cwd=$(HOME=$H bash -c "$line && pwd -P")
		expect_eq "$cwd" "$mnt" "tour: $line goes to the mount"
		;;
	"cp ~/demo/app incoming/app/v1.0.0"*"File exists"*)
		expect_fail_errno "tour: $line" -- tour "$line" "File exists"
		;;
	"cp ~/demo/app incoming/app/v1.0.0"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_eq "$(sha "$R/app/v1.0.0")" "$(sha "$demo/app")" "app:v1.0.0 is sealed with the content"
		;;
	"ls -l registry/app/"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_eq "$(awk '$NF == "v1.0.0" { print $1 }' <<<"$OUT")" "-rw-r--r--" "ls -l shows v1.0.0 as -rw-r--r--"
		;;
	"getfattr -d registry/app/v1.0.0"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_match "$OUT" "user\.regfs\.digest=\"sha256:$(sha "$demo/app")\"" "getfattr shows the digest"
		;;
	"install -m 755 ~/demo/app incoming/app/v1.0.2"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_eq "$(stat -c %A "$R/app/v1.0.2" 2>&1)" "-rwxr-xr-x" "app:v1.0.2 is -rwxr-xr-x"
		;;
	"sha256sum ~/demo/app > incoming/app/v1.0.1.sha256"*)
		expect_ok "tour: $line" -- tour "$line"
		;;
	"cp ~/demo/dist/app-amd64 incoming/app/v1.0.1"*)
		expect_fail_errno "tour: $line" -- tour "$line" "Bad message"
		check "app:v1.0.1 is not sealed" test ! -e "$R/app/v1.0.1"
		;;
	"mkdir -p incoming/org/team/app"*)
		expect_ok "tour: $line" -- tour "$line"
		;;
	"rsync -r ~/demo/dist/ incoming/org/team/app/"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_eq "$(ls "$R/org/team/app" 2>&1 | tr '\n' ' ')" "app-amd64 app-arm64 " "every file became a tag"
		expect_eq "$(sha "$R/org/team/app/app-arm64")" "$(sha "$demo/dist/app-arm64")" "org/team/app:app-arm64 holds its file"
		;;
	"rsync -a registry/app/v1.0.2 ~/demo/deployed"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_ok "the deployed copy is the content" -- cmp "$demo/app" "$demo/deployed"
		;;
	"regctl ls"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_match "$OUT" "^REPOSITORY +TAG +DIGEST +SIZE +CREATED" "regctl ls: the header the tour shows"
		expect_match "$OUT" $'\napp +v1.0.0 +sha256:' "regctl ls lists app:v1.0.0 (the default store is the mounted one)"
		expect_match "$OUT" $'\norg/team/app +app-amd64 ' "regctl ls lists org/team/app:app-amd64"
		;;
	"regctl inspect app:v1.0.0 --json"*)
		expect_ok "tour: $line" -- tour "$line"
		expect_eq "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])' <<<"$OUT" 2>&1)" \
			"sha256:$(sha "$demo/app")" "regctl inspect --json gives the digest"
		;;
	"regctl fsck"*)
		expect_ok "tour: $line" -- tour "$line"
		;;
	*)
		fail "the test knows what the tour line '$line' should do"
		;;
	esac
done <<<"$printed_tour"
expect_eq "$lines" 16 "the tour ran all its 16 lines"

# Run again with ~/.local/bin on PATH: no PATH advice, the mount is kept.
expect_ok "quickstart again, with ~/.local/bin on PATH" -- quickstart PATH="$tour_path"
expect_match "$OUT" "mounted on [^$nl]* already" "quickstart says the mount is there already"
check "no PATH advice when ~/.local/bin is on PATH" _lib_not grep -qF 'export PATH=' <<<"$OUT"

# --- unmount: the daemon exits ---

expect_ok "fusermount3 -u ~/regfs" -- fusermount3 -u "$mnt"
check "the mount is gone" _lib_not is_mounted "$mnt"
for pid in "${daemons[@]}"; do
	check "daemon $pid exits after the unmount" wait_exit "$pid" 10
done

expect_eq "$(real_home_state)" "$real_before" "the real ~/.local, ~/regfs and ~/demo are untouched"
done_testing
