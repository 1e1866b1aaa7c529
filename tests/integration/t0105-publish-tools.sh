#!/bin/bash
# t0105-publish-tools: every everyday publishing tool into incoming/, and
# every deploy path out of registry/, on one real mount. For each: the exit
# status, the bytes, the mode under registry/ (0755 when the publisher made
# it executable, else 0644), the mtime (the publisher's, or the seal time),
# that nothing staged is left, and that a published program runs.
#
# Tools that by nature create 0644 files (a shell redirect, dd of=, curl -o,
# wget -O, shutil.copyfile) are checked for 0644: a chmod run afterwards is
# another process, and a sealed tag's metadata belongs to its publisher.
# Tools that set mode and times by name right after close() (install,
# shutil.copy/copy2, rsync --inplace, curl -R) rely on the publisher's
# window: the sealed name stays in incoming/ for RFS_PUBLISHER_WINDOW_MS
# (5 s) and answers chmod/utime for the process that sealed it only. (wget
# utimes its -O file by name while it still holds it open: before the seal.)
#
# The results are printed as a Markdown table (diagnostics, "# | ... |").
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd getfattr rsync tar cpio curl wget python3 install dd mknod mkfifo

# --- sources ------------------------------------------------------------------

# Programs: small shell scripts that print "hello" and exit before the
# random padding (1 MiB, so that every tool writes in several pieces), and
# a real ELF program.
mkprog() {
	printf '#!/bin/sh\necho hello\nexit 0\n' >"$1"
	head -c 1M /dev/urandom >>"$1"
}
mkprog "$SRC/hello"
chmod 755 "$SRC/hello"
touch -d '2001-02-03 04:05:06' "$SRC/hello"
mkprog "$SRC/hello644" # a program not yet marked executable
chmod 644 "$SRC/hello644"
touch -d '2002-03-04 05:06:07' "$SRC/hello644"
cp /bin/true "$SRC/true"
chmod 755 "$SRC/true"
touch -d '2003-04-05 06:07:08' "$SRC/true"
# A folder of several files, one executable, for tar, cpio and copytree.
mkdir "$SRC/tree"
mkprog "$SRC/tree/run"
chmod 755 "$SRC/tree/run"
touch -d '2004-05-06 07:08:09' "$SRC/tree/run"
printf 'release notes\n' >"$SRC/tree/notes.txt"
chmod 644 "$SRC/tree/notes.txt"
touch -d '2005-06-07 08:09:10' "$SRC/tree/notes.txt"
mkrand "$SRC/tree/data.bin" 700K
chmod 644 "$SRC/tree/data.bin"
touch -d '2006-07-08 09:10:11' "$SRC/tree/data.bin"
touch -d '2007-01-01' "$SRC/tree"
tree_files=(run notes.txt data.bin)
tar -C "$SRC/tree" -cf "$SRC/tree.tar" .

# What running each program prints.
declare -A prog_out=(
	["$SRC/hello"]=hello ["$SRC/hello644"]=hello ["$SRC/true"]=""
	["$SRC/tree/run"]=hello
)

# As root, the mount lets other users in (allow_other) so that a deploy can
# also be tried as nobody; the test folder must then be traversable.
mount_opts=()
as_nobody=0
if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1 && getent group nogroup >/dev/null &&
	command -v setpriv >/dev/null; then
	mount_opts=(-o allow_other)
	as_nobody=1
	chmod 755 "$TEST_TMP"
fi

regfs_mount "$STORE" "$MNT" "${mount_opts[@]}"
R=$MNT/registry
I=$MNT/incoming
D=$TEST_TMP/deploy
mkdir -p "$D"

# --- helpers --------------------------------------------------------------------

rows=()          # the table, one Markdown row per tool or deploy path
sealed_names=()  # incoming/ names of sealed tags, gone after the window
group=           # set while one tool publishes several files (one row)
group_rc=0 group_mode=() group_time=() group_bad=0

# row CELL...: a table row; a '|' in a cell is escaped.
row() {
	local c line='|'
	for c in "$@"; do line+=" ${c//|/\\|} |"; done
	rows+=("$line")
}

# publish DESC CMD...: run the publishing command as an assertion (its exit
# status in RC), between the timestamps $before and $after.
before=0 after=0
publish() {
	before=$(date +%s)
	expect_ok "$@"
	after=$(date +%s)
}

# runs TOOL FILE SRC: the program at FILE runs and prints what SRC prints.
runs() {
	local tool=$1 file=$2 src=$3 out rc=0
	out=$("$file" 2>&1) || rc=$?
	if [[ $rc -eq 0 && $out == "${prog_out[$src]}" ]]; then
		ok "$tool: ${file/#$TEST_TMP/\$T} runs"
	else
		fail "$tool: ${file/#$TEST_TMP/\$T} runs"
		diag "exit status $rc, output: '${out:0:200}'"
	fi
}

# mode_cell WANT NOTE GOT: the table's "mode kept" cell.
mode_cell() {
	local want=$1 note=$2 got=$3
	if [[ $got != "$want" ]]; then
		printf 'FAIL: %s, want %s' "$got" "$want"
	elif [[ $note == yes ]]; then
		printf 'yes (%s)' "$got"
	else
		printf '%s' "$note"
	fi
}

# time_cell KIND NOTE OK: the table's "time kept" cell.
time_cell() {
	if [[ $3 != 1 ]]; then
		printf 'FAIL: %s' "$4"
	else
		printf '%s' "$2"
	fi
}

# published TOOL TAG SRC WANT_MODE MODE_NOTE WANT_TIME TIME_NOTE
# The tag incoming/TAG just published from SRC by TOOL (status in RC):
# registry/TAG holds SRC's bytes with mode WANT_MODE, its mtime is SRC's
# (WANT_TIME=src), an epoch second (a number), or the seal time (seal:
# between $before and $after); nothing staged is left in TAG's folder; a
# 0755 tag runs from registry/. MODE_NOTE and TIME_NOTE are the table's
# words when the check holds.
published() {
	local tool=$1 tag=$2 src=$3 want_mode=$4 mode_note=$5 want_time=$6 time_note=$7
	local rc=$RC f=$R/$2 dir=${2%/*}
	sealed_names+=("$I/$tag")
	expect_eq "$(sha "$f" 2>&1)" "$(sha "$src")" "$tool: registry/$tag's sha256 equals the source's"
	local mode
	mode=$(stat -c %a "$f" 2>&1)
	expect_eq "$mode" "$want_mode" "$tool: registry/$tag's mode is $want_mode"
	local mtime time_ok=0 time_got
	mtime=$(stat -c %Y "$f" 2>&1)
	time_got="mtime $(date -u -d "@$mtime" +%FT%TZ 2>/dev/null || printf '%s' "$mtime")"
	case $want_time in
	seal)
		if [[ $mtime =~ ^[0-9]+$ ]] && ((mtime >= before && mtime <= after)); then time_ok=1; fi
		if [[ $time_ok == 1 ]]; then
			ok "$tool: registry/$tag's mtime is the seal time"
		else
			fail "$tool: registry/$tag's mtime is the seal time"
			diag "mtime $mtime, not in [$before, $after]"
		fi
		;;
	*)
		local want=$want_time
		[[ $want == src ]] && want=$(stat -c %Y "$src")
		[[ $mtime == "$want" ]] && time_ok=1
		expect_eq "$mtime" "$want" "$tool: registry/$tag's mtime is $(date -u -d "@$want" +%FT%TZ)"
		;;
	esac
	expect_eq "$(ls -A "$I/$dir" 2>&1 | tr '\n' ' ')" "" "$tool: incoming/$dir lists nothing staged"
	expect_eq "$(count_files "$STORE/staging")" "0" "$tool: STORE/staging is empty"
	if [[ $want_mode == 755 ]]; then runs "$tool" "$f" "$src"; fi

	local mc tc
	mc=$(mode_cell "$want_mode" "$mode_note" "$mode")
	tc=$(time_cell "$want_time" "$time_note" "$time_ok" "$time_got")
	if [[ -n $group ]]; then
		((rc == 0)) || group_rc=$rc
		group_mode+=("${tag##*/}: $mc")
		group_time+=("${tag##*/}: $tc")
		[[ $mc == FAIL* || $tc == FAIL* ]] && group_bad=1
		return 0
	fi
	row "$tool" "$rc" "$mc" "$tc"
}

# group_begin TOOL / group_end MODE_NOTE TIME_NOTE: several files published by
# one command make one row; its cells are the notes when every file passed,
# else each file's cells.
group_begin() {
	group=$1 group_rc=$RC group_mode=() group_time=() group_bad=0
}
group_end() {
	local mc=$1 tc=$2
	if [[ $group_bad == 1 ]]; then
		mc=$(
			IFS=';'
			printf '%s' "${group_mode[*]}"
		)
		tc=$(
			IFS=';'
			printf '%s' "${group_time[*]}"
		)
	fi
	row "$group" "$group_rc" "$mc" "$tc"
	group=
}

# tree_published TOOL DIR: the files of SRC/tree published into incoming/DIR.
tree_published() {
	local tool=$1 dir=$2 f
	group_begin "$tool"
	for f in "${tree_files[@]}"; do
		local m=644
		[[ -x $SRC/tree/$f ]] && m=755
		published "$tool ($f)" "$dir/$f" "$SRC/tree/$f" "$m" yes src yes
	done
	group_end "yes (755 and 644)" "yes"
}

# =========================================================================
# Publishing
# =========================================================================

# --- cp -------------------------------------------------------------------------
# cp passes the source's mode to open(O_CREAT); -p and -a also set the times
# (futimens) and, as root, the owner (fchown: accepted and ignored).

publish "cp: publishes a 0755 program" -- cp "$SRC/hello" "$I/app/cp"
published cp app/cp "$SRC/hello" 755 yes seal "n/a: seal time (cp without -p sets none)"
# The sealed name stays for its publisher's window, unlisted, reading as the tag.
check "cp: the sealed name incoming/app/cp still answers lookup in the window" test -f "$I/app/cp"
expect_eq "$(sha "$I/app/cp" 2>&1)" "$(sha "$SRC/hello")" "cp: incoming/app/cp reads as the tag in the window"
expect_eq "$(stat -c %a "$I/app/cp" 2>&1)" "755" "cp: incoming/app/cp shows the tag's mode in the window"

publish "cp -a: publishes (its fchown as root is accepted)" -- cp -a "$SRC/hello" "$I/app/cp-a"
published "cp -a" app/cp-a "$SRC/hello" 755 yes src yes

publish "cp -p: publishes" -- cp -p "$SRC/hello" "$I/app/cp-p"
published "cp -p" app/cp-p "$SRC/hello" 755 yes src yes

publish "cp -a of an ELF program (/bin/true)" -- cp -a "$SRC/true" "$I/app/true"
published "cp -a (ELF /bin/true)" app/true "$SRC/true" 755 yes src yes

# --- install --------------------------------------------------------------------
# install writes the file, closes it, then chmods it by name (and with -p
# utimes it by name): both in the publisher's window.

publish "install -m 755 of a 0644 source" -- install -m 755 "$SRC/hello644" "$I/app/install-m755"
published "install -m 755" app/install-m755 "$SRC/hello644" 755 "yes: 755 as asked (source 0644)" \
	seal "n/a: seal time (install without -p sets none)"

publish "install (default mode 0755) of a 0644 source" -- install "$SRC/hello644" "$I/app/install"
published "install (default 0755)" app/install "$SRC/hello644" 755 "yes: install's default 0755" \
	seal "n/a: seal time"

publish "install -p -m 755 of a 0644 source" -- install -p -m 755 "$SRC/hello644" "$I/app/install-p"
published "install -p -m 755" app/install-p "$SRC/hello644" 755 "yes: 755 as asked" src yes

publish "install -m 4755: the set-uid bit is dropped" -- install -m 4755 "$SRC/hello" "$I/app/install-suid"
published "install -m 4755" app/install-suid "$SRC/hello" 755 "yes: 4755 stored as 755 (set-id dropped)" \
	seal "n/a: seal time"

publish "install -D -m 644 into a new nested repository" -- \
	install -D -m 644 "$SRC/hello" "$I/inst/sub/v1"
published "install -D -m 644" inst/sub/v1 "$SRC/hello" 644 "yes: 644 as asked" seal "n/a: seal time"
check "install -D: registry/inst/sub is a folder" test -d "$R/inst/sub"
expect_eq "$(stat -c %a "$R/inst/sub" 2>&1)" "755" "install -D: the folder made by -D shows 0755"
expect_eq "$(xattr "$R/inst/sub/v1" user.regfs.repo 2>&1)" "inst/sub" "install -D: user.regfs.repo is inst/sub"

# --- rsync ------------------------------------------------------------------------
# rsync writes a dot-named temporary and renames it onto the tag name (its
# rename seals); --inplace writes the tag name itself and sets mode and
# times by name after close. Without -p, a new file takes the source's mode
# (masked by the umask), so executables stay executable.

publish "rsync (default) publishes" -- rsync "$SRC/hello" "$I/app/rsync"
published "rsync (default)" app/rsync "$SRC/hello" 755 "yes: a new file takes the source's mode" \
	seal "n/a: seal time (no -t)"

publish "rsync -a publishes" -- rsync -a "$SRC/hello" "$I/app/rsync-a"
published "rsync -a" app/rsync-a "$SRC/hello" 755 yes src yes

publish "rsync -a --inplace publishes, exit 0" -- rsync -a --inplace "$SRC/hello" "$I/app/rsync-inplace"
published "rsync -a --inplace" app/rsync-inplace "$SRC/hello" 755 yes src yes

publish "rsync --inplace (no -a) publishes" -- rsync --inplace "$SRC/hello" "$I/app/rsync-inplace0"
published "rsync --inplace" app/rsync-inplace0 "$SRC/hello" 755 "yes: a new file takes the source's mode" \
	seal "n/a: seal time (no -t)"

publish "rsync -t --partial publishes" -- rsync -t --partial "$SRC/hello" "$I/app/rsync-partial"
published "rsync -t --partial" app/rsync-partial "$SRC/hello" 755 yes src yes

publish "rsync -az publishes" -- rsync -az "$SRC/hello" "$I/app/rsync-z"
published "rsync -az" app/rsync-z "$SRC/hello" 755 yes src yes

publish "rsync --chmod=F755 of a 0644 source" -- rsync --chmod=F755 "$SRC/hello644" "$I/app/rsync-F755"
published "rsync --chmod=F755" app/rsync-F755 "$SRC/hello644" 755 "yes: 755 as asked (source 0644)" \
	seal "n/a: seal time (no -t)"

publish "rsync -a --chmod=u+x of a 0644 source" -- rsync -a --chmod=u+x "$SRC/hello644" "$I/app/rsync-ux"
published "rsync -a --chmod=u+x" app/rsync-ux "$SRC/hello644" 755 "yes: 0744 asked, shown 755" src yes

# --- tar -x and cpio -p into an incoming folder -----------------------------------
# The archive holds "./" too: tar (and cpio -m) set the times of the folder
# they extract into.

publish "tar -x into incoming/tarrepo (as root: modes, times and owners)" -- \
	tar -C "$I/tarrepo" -xf "$SRC/tree.tar"
tree_published "tar -x" tarrepo

publish "find . | cpio -pdm into incoming/cpiorepo" -- \
	sh -c 'cd "$1" && find . | cpio -pdm --quiet "$2"' sh "$SRC/tree" "$I/cpiorepo"
tree_published "cpio -pdm" cpiorepo

# --- plain writers: a shell redirect, dd ----------------------------------------

publish "a shell redirect publishes" -- sh -c 'cat "$1" > "$2"' sh "$SRC/hello" "$I/app/redirect"
published "shell redirect (cat >)" app/redirect "$SRC/hello" 644 "no: the shell creates 0644" \
	seal "n/a: seal time"

publish "dd of= publishes" -- dd if="$SRC/hello" of="$I/app/dd" bs=64K status=none
published "dd of=" app/dd "$SRC/hello" 644 "no: dd creates 0644" seal "n/a: seal time"

# --- curl and wget from an http server on loopback ------------------------------

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$SRC" "$port" \
	</dev/null >"$TEST_TMP/http.log" 2>&1 &
http_pid=$!
track_pid "$http_pid"
url=http://127.0.0.1:$port
wait_until 15 curl -sf -o /dev/null "$url/" || bail_out "the http server on $url did not answer"
diag "http server on $url (pid $http_pid)"

publish "curl -o publishes" -- curl -sSf -o "$I/web/curl" "$url/hello"
published "curl -o" web/curl "$SRC/hello" 644 "no: curl creates 0644" seal "n/a: seal time"

publish "curl -R -o publishes" -- curl -sSf -R -o "$I/web/curl-R" "$url/hello"
published "curl -R -o" web/curl-R "$SRC/hello" 644 "no: curl creates 0644" \
	src "yes: Last-Modified (curl -R utimes by name after close)"

publish "wget -O publishes" -- wget -q -O "$I/web/wget" "$url/hello"
published "wget -O" web/wget "$SRC/hello" 644 "no: wget creates 0644" \
	src "yes: Last-Modified (wget utimes by name before its close)"

kill_wait TERM "$http_pid"

# --- mv from another file system -------------------------------------------------
# $TEST_TMP is on /tmp, another file system than the mount: mv copies (like
# cp -a: futimens, fchmod, fchown as root) and unlinks the source.

cp -p "$SRC/hello" "$TEST_TMP/mv-src"
cp -p "$SRC/hello" "$SRC/hello.ref"
prog_out[$SRC/hello.ref]=hello
publish "mv of a file from another file system publishes" -- mv "$TEST_TMP/mv-src" "$I/app/mv"
published "mv (from another fs)" app/mv "$SRC/hello.ref" 755 yes src yes
check "mv: the source is gone" test ! -e "$TEST_TMP/mv-src"
check "mv: the fs of the source differs from the mount's" \
	test "$(stat -c %d "$TEST_TMP")" != "$(stat -c %d "$MNT")"

# --- Python's shutil -------------------------------------------------------------
# copy = copyfile + copymode (chmod by name after close); copy2 = copyfile +
# copystat (utime and chmod by name after close); copytree = copy2 per file,
# then copystat on each folder.

pyrun() { python3 -c "import shutil, sys; $1" "${@:2}"; }

publish "shutil.copy publishes" -- pyrun 'shutil.copy(sys.argv[1], sys.argv[2])' "$SRC/hello" "$I/py/copy"
published "shutil.copy" py/copy "$SRC/hello" 755 "yes: copymode after close" seal "n/a: seal time"

publish "shutil.copy2 publishes" -- pyrun 'shutil.copy2(sys.argv[1], sys.argv[2])' "$SRC/hello" "$I/py/copy2"
published "shutil.copy2" py/copy2 "$SRC/hello" 755 "yes: copystat after close" src "yes: copystat after close"

publish "shutil.copyfile publishes" -- pyrun 'shutil.copyfile(sys.argv[1], sys.argv[2])' "$SRC/hello" "$I/py/copyfile"
published "shutil.copyfile" py/copyfile "$SRC/hello" 644 "no: copyfile copies bytes only (0644)" \
	seal "n/a: seal time"

publish "shutil.copytree into a new folder incoming/py/tree" -- \
	pyrun 'shutil.copytree(sys.argv[1], sys.argv[2])' "$SRC/tree" "$I/py/tree"
tree_published "shutil.copytree" py/tree

publish "shutil.copytree(dirs_exist_ok=True) into incoming/pytop (exists on lookup)" -- \
	pyrun 'shutil.copytree(sys.argv[1], sys.argv[2], dirs_exist_ok=True)' "$SRC/tree" "$I/pytop"
tree_published "shutil.copytree(dirs_exist_ok=True)" pytop

# --- the publisher's window: another process -------------------------------------
# cp seals app/win; then this shell (another process) tries to change it.

publish "cp publishes a 0644 file for the window checks" -- cp "$SRC/hello644" "$I/app/win"
sealed_names+=("$I/app/win")
win_mtime=$(stat -c %Y "$R/app/win")
expect_fail_errno "window: chmod 755 by another process" -- chmod 755 "$I/app/win" "Read-only file system"
expect_fail "window: touch -d 2001-01-01 by another process fails" -- touch -d 2001-01-01 "$I/app/win"
# touch first tries open(O_WRONLY|O_CREAT), which is EEXIST on a sealed
# name, then utimensat; it reports the open's error.
expect_match "$OUT" "Read-only file system|File exists" "window: touch's message names EROFS or EEXIST"
expect_errno EROFS utime "$I/app/win"
expect_errno EROFS chmod "$I/app/win" 755
expect_fail_errno "window: chown nobody by another process" -- chown nobody "$I/app/win" "Read-only file system"
expect_eq "$(stat -c %a "$R/app/win" 2>&1)" "644" "window: the tag's mode is unchanged"
expect_eq "$(stat -c %Y "$R/app/win" 2>&1)" "$win_mtime" "window: the tag's mtime is unchanged"
expect_eq "$(sha "$R/app/win" 2>&1)" "$(sha "$SRC/hello644")" "window: the tag's bytes are unchanged"
expect_fail_errno "window: writing into the sealed name by another process" -- \
	sh -c 'echo x >> "$1"' sh "$I/app/win" "File exists"

# --- registry/ refuses change ---------------------------------------------------------

expect_fail_errno "registry/: chmod" -- chmod 755 "$R/app/win" "Read-only file system"
expect_fail_errno "registry/: touch" -- touch "$R/app/win" "Read-only file system"
expect_fail_errno "registry/: touch -d" -- touch -d 2001-01-01 "$R/app/win" "Read-only file system"
expect_fail_errno "registry/: chown" -- chown nobody "$R/app/win" "Read-only file system"
expect_fail_errno "registry/: chmod of a folder" -- chmod 700 "$R/app" "Read-only file system"
expect_eq "$(stat -c %a "$R/app" 2>&1)" "755" "registry/app (a folder) shows 0755"
expect_eq "$(stat -c %a "$R/app/win" 2>&1)" "644" "registry/: the tag's mode is still 0644"

# --- bad input: no symlinks, hard links, devices, FIFOs in incoming/ ------------------

expect_fail_errno "ln -s in incoming/" -- ln -s "$R/app/cp" "$I/bad/sym" "Operation not permitted"
expect_fail_errno "ln (hard link) from registry/ into incoming/" -- ln "$R/app/cp" "$I/bad/hard" "Operation not permitted"
expect_ok "a dot-named temporary is staged" -- cp "$SRC/hello644" "$I/bad/.tmp"
expect_fail_errno "ln (hard link) of a staged temporary" -- ln "$I/bad/.tmp" "$I/bad/hard2" "Operation not permitted"
expect_fail_errno "mknod c 1 3 (a device, as root)" -- mknod "$I/bad/dev" c 1 3 "Operation not permitted"
expect_fail_errno "mkfifo" -- mkfifo "$I/bad/fifo" "Operation not permitted"
expect_errno EPERM symlink x "$I/bad/sym2"
expect_errno EPERM link "$I/bad/.tmp" "$I/bad/hard3"
expect_eq "$(ls -A "$I/bad" | tr '\n' ' ')" ".tmp " "bad input: only the temporary is in incoming/bad"
expect_ok rm "$I/bad/.tmp"
check "bad input: nothing appeared under registry/bad" test ! -e "$R/bad"

# =========================================================================
# Deploying
# =========================================================================

# deployed TOOL FILE TAG WANT_MODE MODE_NOTE WANT_TIME TIME_NOTE: FILE was
# deployed from registry/TAG (status in RC): same bytes, the sha256 in
# user.regfs.digest verifies it, mode WANT_MODE, mtime the tag's
# (WANT_TIME=tag) or not checked (none), and a 0755 program runs.
deployed() {
	local tool=$1 file=$2 tag=$3 want_mode=$4 mode_note=$5 want_time=$6 time_note=$7
	local rc=$RC src=$8
	local digest
	digest=$(xattr "$R/$tag" user.regfs.digest 2>&1)
	expect_eq "$(sha "$file" 2>&1)" "$(sha "$R/$tag")" "deploy $tool: the bytes equal registry/$tag's"
	expect_eq "$(sha256sum "$file" 2>&1 | cut -d' ' -f1)" "${digest#sha256:}" \
		"deploy $tool: sha256sum equals user.regfs.digest"
	local mode
	mode=$(stat -c %a "$file" 2>&1)
	expect_eq "$mode" "$want_mode" "deploy $tool: mode $want_mode"
	local time_ok=1 mtime
	mtime=$(stat -c %Y "$file" 2>&1)
	if [[ $want_time == tag ]]; then
		[[ $mtime == "$(stat -c %Y "$R/$tag")" ]] || time_ok=0
		expect_eq "$mtime" "$(stat -c %Y "$R/$tag")" "deploy $tool: the mtime is the tag's"
	fi
	if [[ $want_mode == 755 ]]; then runs "deploy $tool" "$file" "$src"; fi
	if [[ -n $group ]]; then
		((rc == 0)) || group_rc=$rc
		local mc tc
		mc=$(mode_cell "$want_mode" "$mode_note" "$mode")
		tc=$(time_cell "$want_time" "$time_note" "$time_ok" "mtime $mtime")
		group_mode+=("${file##*/}: $mc")
		group_time+=("${file##*/}: $tc")
		[[ $mc == FAIL* || $tc == FAIL* ]] && group_bad=1
		return 0
	fi
	row "deploy: $tool" "$rc" "$(mode_cell "$want_mode" "$mode_note" "$mode")" \
		"$(time_cell "$want_time" "$time_note" "$time_ok" "mtime $mtime")"
}

# folder_writable TOOL DIR: a deployed folder is its owner's to write.
folder_writable() {
	local tool=$1 dir=$2
	expect_eq "$(stat -c %a "$dir" 2>&1)" "755" "deploy $tool: the folder ${dir##*/} is 0755"
	check "deploy $tool: the folder ${dir##*/} is writable (test -w)" test -w "$dir"
	expect_ok "deploy $tool: a file can be created in the folder ${dir##*/}" -- touch "$dir/.written"
	rm -f "$dir/.written"
}

tag=app/cp-a # 0755, the source's mtime
tsrc=$SRC/hello

expect_ok "deploy cat >" -- sh -c 'cat "$1" > "$2"' sh "$R/$tag" "$D/cat"
deployed "cat >" "$D/cat" "$tag" 644 "no: the shell creates 0644 (chmod +x is the user's job)" \
	none "n/a: the deploy time" "$tsrc"

expect_ok "deploy cp" -- cp "$R/$tag" "$D/cp"
deployed cp "$D/cp" "$tag" 755 yes none "no: cp without -p" "$tsrc"

expect_ok "deploy cp -a" -- cp -a "$R/$tag" "$D/cp-a"
deployed "cp -a" "$D/cp-a" "$tag" 755 yes tag yes "$tsrc"

expect_ok "deploy rsync -a of one tag" -- rsync -a "$R/$tag" "$D/rsync-a"
deployed "rsync -a (one tag)" "$D/rsync-a" "$tag" 755 yes tag yes "$tsrc"

expect_ok "deploy install (default 0755)" -- install "$R/$tag" "$D/install"
deployed "install" "$D/install" "$tag" 755 "yes: install's default 0755" none "no: install without -p" "$tsrc"

expect_ok "deploy shutil.copy2" -- pyrun 'shutil.copy2(sys.argv[1], sys.argv[2])' "$R/$tag" "$D/copy2"
deployed "shutil.copy2" "$D/copy2" "$tag" 755 yes tag yes "$tsrc"

expect_ok "deploy cp -a of the ELF program" -- cp -a "$R/app/true" "$D/true"
deployed "cp -a (ELF)" "$D/true" app/true 755 yes tag yes "$SRC/true"

# Whole folders: the tree published with tar (0755 run, 0644 files).
# deploy_tree TOOL DIR: DIR holds registry/tarrepo's files with their modes
# and times, and DIR is a writable folder.
deploy_tree() {
	local tool=$1 dir=$2 f
	group_begin "deploy: $tool"
	for f in "${tree_files[@]}"; do
		local m=644
		[[ -x $SRC/tree/$f ]] && m=755
		deployed "$tool ($f)" "$dir/$f" "tarrepo/$f" "$m" yes tag yes "$SRC/tree/$f"
	done
	group_end "yes (755 and 644)" "yes"
	folder_writable "$tool" "$dir"
}

expect_ok "deploy rsync -a registry/tarrepo/ dest/" -- rsync -a "$R/tarrepo/" "$D/rsync-tree/"
deploy_tree "rsync -a (a repo folder)" "$D/rsync-tree"

expect_ok "deploy cp -a registry/tarrepo dest" -- cp -a "$R/tarrepo" "$D/cp-a-tree"
deploy_tree "cp -a (a repo folder)" "$D/cp-a-tree"

mkdir "$D/tar-tree"
expect_ok "deploy tar -c -C registry/tarrepo . | tar -x -C dest" -- \
	sh -c 'tar -c -C "$1" . | tar -x -C "$2"' sh "$R/tarrepo" "$D/tar-tree"
deploy_tree "tar -c | tar -x" "$D/tar-tree"

expect_ok "deploy shutil.copytree" -- pyrun 'shutil.copytree(sys.argv[1], sys.argv[2])' "$R/tarrepo" "$D/copytree"
deploy_tree "shutil.copytree" "$D/copytree"

# A second rsync -a transfers nothing: the mtimes let it skip every file.
expect_ok "deploy rsync -a a second time" -- \
	rsync -a --stats --itemize-changes "$R/tarrepo/" "$D/rsync-tree/"
expect_match "$OUT" "Number of regular files transferred: 0" \
	"deploy rsync -a twice: the second run transfers no file"
expect_eq "$(printf '%s\n' "$OUT" | grep -c '^>f' || :)" "0" "deploy rsync -a twice: no file itemized as sent"

# The same as nobody, into a folder nobody owns: the deployed folders are
# its own to write, and its second deploy works.
if [[ $as_nobody == 1 ]]; then
	nob=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	mkdir "$D/nobody"
	chown nobody:nogroup "$D/nobody"
	expect_ok "deploy as nobody: rsync -a registry/tarrepo/ dest/" -- \
		"${nob[@]}" rsync -a "$R/tarrepo/" "$D/nobody/tree/"
	expect_eq "$(stat -c '%U %a' "$D/nobody/tree" 2>&1)" "nobody 755" "deploy as nobody: the folder is nobody's, 0755"
	expect_ok "deploy as nobody: the folder is writable by nobody" -- \
		"${nob[@]}" sh -c 'test -w "$1" && touch "$1/.written" && rm "$1/.written"' sh "$D/nobody/tree"
	expect_ok "deploy as nobody: the deployed program runs" -- "${nob[@]}" "$D/nobody/tree/run"
	expect_eq "$OUT" "hello" "deploy as nobody: the program prints hello"
	expect_ok "deploy as nobody: a second rsync -a" -- \
		"${nob[@]}" rsync -a --stats "$R/tarrepo/" "$D/nobody/tree/"
	expect_match "$OUT" "Number of regular files transferred: 0" \
		"deploy as nobody: the second run transfers no file"
	expect_ok "deploy as nobody: cp -a of a repo folder" -- \
		"${nob[@]}" cp -a "$R/tarrepo" "$D/nobody/cp-a-tree"
	expect_ok "deploy as nobody: the cp -a folder is writable by nobody" -- \
		"${nob[@]}" sh -c 'test -w "$1" && touch "$1/.written" && rm "$1/.written"' sh "$D/nobody/cp-a-tree"
else
	diag "not root or no nobody user: the deploy as another user is not tried"
fi

# =========================================================================
# After the window
# =========================================================================

# One wait for every sealed name (RFS_PUBLISHER_WINDOW_MS is 5 s).
sleep 5.5
gone=0 left=()
for n in "${sealed_names[@]}"; do
	if [[ -e $n ]]; then left+=("${n#"$I"/}"); else gone=$((gone + 1)); fi
done
expect_eq "${left[*]}" "" "after the window: the $gone sealed incoming/ names are gone"
expect_eq "$(find "$I" ! -type d 2>&1 | sed "s|^$I/||" | tr '\n' ' ')" "" \
	"after the window: incoming/ holds no file"
expect_errno ENOENT chmod "$I/app/install-m755" 755
expect_fail_errno "after the window: cp onto a sealed tag's name" -- cp "$SRC/hello" "$I/app/cp" "File exists"
expect_eq "$(count_files "$STORE/staging")" "0" "STORE/staging is empty at the end"

# The table.
diag "" "| tool | exit status | mode kept | time kept |" "|---|---|---|---|"
printf '# %s\n' "${rows[@]}"
diag ""

regfs_umount "$MNT"
done_testing
