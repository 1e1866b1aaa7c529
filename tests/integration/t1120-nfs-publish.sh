#!/bin/bash
# t1120-nfs-publish: publishing through nfs-ganesha into a regfs mounted with
# -o publish=rename,allow_other (as the shipped file says), exported with the
# shipped docs/nfs-ganesha.conf as it is (nfs_start_config: its placeholders
# replaced, nfs.sh's test settings merged in: read-only /regfs with root
# squashed, read-write /regfs-incoming for 127.0.0.1, every client acting
# as regfs's user), driven one NFS request at a time by the handle client
# (tests/tools/nfs-handle.c) over NFSv3 and NFSv4.0. ganesha's descriptor
# reaper is made aggressive (MDCACHE FD_LWMark_Percent = 0, LRU_Run_Interval
# = 1) where a test needs ganesha to close files between requests; regfs
# runs with -d, so its log shows every RELEASE ganesha's closes cause.
#
# (a) A slow writer: a temporary name created, 1 MiB written, ganesha
#     closes the file (seen as a RELEASE in regfs's log; with NFSv4 a CLOSE
#     and a new OPEN), more written later; no tag appears in registry/ at
#     any moment (a watcher lists it every 20 ms), then the rename onto the
#     tag name seals it at once, whole (sha256) and with the mode set over
#     NFS; a write through the old handle afterwards fails (ganesha 4.3
#     may leave the first such NFSv3 WRITE unanswered: see nfs.sh; the
#     client here resends after 5 s).
# (b) A file created and written under the tag name itself is not sealed by
#     ganesha's closes (the reaper, an NFSv4 CLOSE) nor by its SIGTERM.
# (c) ganesha stopped in the middle of writes, by SIGTERM and by SIGKILL,
#     seals nothing; after it restarts, what is left in incoming/ is listed
#     over NFS and removed over NFS (after SIGTERM the partial files, which
#     ganesha closed as any process does; after SIGKILL regfs discarded them,
#     as it does a killed writer's).
# (d) Files created and never written are never sealed, even at ganesha's
#     exit; an empty file renamed onto a tag name is sealed empty.
# (e) A rename onto a tag that exists fails with EXIST; the tag is unchanged.
# (g) Freshness: with the shipped Attr_Expiration_Time, a tag published by
#     regctl outside the mount, one published on the mount, and one
#     published over NFS all show in an NFS listing of a folder a client
#     listed before, within Attr_Expiration_Time + 2 s (the delays are
#     printed).
# (f) Informative, not asserted: the same with the default publish=close,
#     where ganesha's closes seal what a client did not finish (the bug
#     publish=rename exists for).
# shellcheck source-path=SCRIPTDIR disable=SC2012 # ls as users use it
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=nfs.sh
. "$(dirname "$0")/nfs.sh"

CONF=$REGFS_SOURCE_DIR/docs/nfs-ganesha.conf
[[ -r $CONF ]] || bail_out "no shipped ganesha configuration at $CONF"
# The freshness bound the shipped file promises: its exports' expiry.
AET=$(sed -n 's/^[[:space:]]*Attr_Expiration_Time[[:space:]]*=[[:space:]]*\([0-9]*\);.*/\1/p' "$CONF" | sort -u)
[[ $AET =~ ^[0-9]+$ ]] ||
	bail_out "$CONF: one Attr_Expiration_Time for all exports expected, got '${AET//$'\n'/ }'"

APP=$MNT/incoming/app # the publishers' folder, as the mount shows it
REG=$MNT/registry/app
REAPER=(--mdcache 'FD_LWMark_Percent = 0;' --mdcache 'LRU_Run_Interval = 1;')

mkrand "$SRC/big" 3M
mkrand "$SRC/small" 100K
mkrand "$SRC/huge" 48M
printf 'base\n' >"$SRC/base"
: >"$SRC/empty"
big_sha=$(sha "$SRC/big")
small_sha=$(sha "$SRC/small")
empty_sha=$(sha "$SRC/empty")

# start_ganesha [SERVER-OPTIONS]: the shipped file, for this mount.
start_ganesha() {
	nfs_start_config "$CONF" --set MOUNT="$MNT" --set PUBLISHERS=127.0.0.1 "$@"
}

# tags: the tags of app, as the mount lists them.
tags() {
	ls "$REG" 2>/dev/null | tr '\n' ' '
}

# staged: what incoming/app lists (staged files), with sizes.
staged() {
	local f out=
	while IFS= read -r f; do
		out+="$f:$(stat -c %s "$APP/$f" 2>&1) "
	done < <(ls -A "$APP")
	printf '%s\n' "$out"
}

# releases INO: how many RELEASEs of inode INO regfs's debug log shows.
releases() {
	grep -c "opcode: RELEASE (18), nodeid: $1," "$REGFS_LOG" || :
}

# ganesha_holds NAME: ganesha has a descriptor of incoming/app/NAME.
ganesha_holds() {
	local l
	for l in /proc/"$NFS_PID"/fd/*; do
		[[ $(readlink "$l" 2>/dev/null) == "$APP/$1" ]] && return 0
	done
	return 1
}

# fileid HOLDER: the inode number of the file the holder holds.
fileid() {
	nfs_holder "$1" getattr | sed -n 's/.* fileid=\([0-9]*\) .*/\1/p'
}

# expect_closed HOLDER NAME INO BEFORE DESC: regfs sees a RELEASE of INO
# beyond BEFORE (within 15 s), and ganesha holds no descriptor of NAME.
expect_closed() {
	local t0
	t0=$(now_ns)
	if wait_until 15 "[[ \$(releases $3) -gt $4 ]] && ! ganesha_holds '$2'"; then
		ok "$5"
		diag "closed $((($(now_ns) - t0) / 1000000)) ms after the last request"
	else
		fail "$5"
		diag "RELEASEs of $3: $(releases "$3") (before: $4); ganesha holds it: $(ganesha_holds "$2" && echo yes || echo no)"
	fi
}

# The watcher: lists registry/app every 20 ms and notes the first sight of
# any of the names given.
watch_start() {
	rm -f "$TEST_TMP/watch.stop"
	: >"$TEST_TMP/watch.seen"
	(
		while [[ ! -e $TEST_TMP/watch.stop ]]; do
			l=" $(ls "$REG" 2>/dev/null | tr '\n' ' ') "
			for n in "$@"; do
				[[ $l == *" $n "* ]] && printf '%s\n' "$n" >>"$TEST_TMP/watch.seen"
			done
			sleep 0.02
		done
	) &
	WATCH_PID=$!
	track_pid "$WATCH_PID"
}
watch_stop() {
	: >"$TEST_TMP/watch.stop"
	wait "$WATCH_PID" || :
	sort -u "$TEST_TMP/watch.seen" | tr '\n' ' '
}

regfs_mount "$STORE" "$MNT" -o publish=rename,allow_other -d
"$REGCTL" --store "$STORE" publish "$SRC/base" app:base >/dev/null
check "a tag published by regctl shows on the mount" wait_until 5 test -e "$REG/base"

start_ganesha "${REAPER[@]}"
# What ganesha runs is the shipped file: without comments, blank lines and
# the lines nfs.sh added (marked), its configuration is the shipped file's
# with the placeholders replaced, followed by the blocks nfs.sh added.
settings() {
	sed 's/#.*//; s/[[:space:]]*$//; /^$/d'
}
shipped=$(sed "s|@MOUNT@|$MNT|g; s|@PUBLISHERS@|127.0.0.1|g" "$CONF" | settings)
running=$(grep -v '# nfs.sh' "$NFS_CONF" | settings)
expect_eq "$(head -n "$(wc -l <<<"$shipped")" <<<"$running")" "$shipped" \
	"ganesha runs the shipped file, only its placeholders replaced"
expect_eq "$(tail -n +"$(($(wc -l <<<"$shipped") + 1))" <<<"$running" | grep -v '^[A-Z_0-9]* {$\|^}$' || :)" "" \
	"and after it only the blocks nfs.sh added"
expect_match "$(grep -c '# nfs.sh' "$NFS_CONF")" '^[1-9]' "the test's settings were merged in"

# --- (a) a slow writer ------------------------------------------------------------

want="base "
for v in 3 4; do
	s=NFS${v}_OK tag=s$v tmp=.s$v.tmp
	nfs_holder_start "p$v" "$v" /regfs-incoming app
	watch_start "$tag"
	expect_match "$(nfs_holder "p$v" "create $tmp")" "^create $s [0-9a-f]+$" "v$v: create the temporary $tmp"
	ino=$(fileid "p$v")
	rel=$(releases "$ino")
	expect_eq "$(nfs_holder "p$v" "write-file $SRC/big 0 1048576")" "write-file $s bytes=1048576" \
		"v$v: write its first MiB"
	if [[ $v == 4 ]]; then
		expect_eq "$(nfs_holder "p$v" close)" "close $s" "v4: CLOSE it"
	fi
	expect_closed "p$v" "$tmp" "$ino" "$rel" "v$v: ganesha closed the file (regfs saw the RELEASE; ganesha holds no descriptor)"
	sleep 2
	expect_eq "$(tags)" "$want" "v$v: after the close, no tag"
	expect_match "$(staged)" "(^| )$tmp:1048576 " "v$v: $tmp is staged in incoming/, 1 MiB"
	if [[ $v == 4 ]]; then
		expect_match "$(nfs_holder "p$v" "open $tmp")" "^open $s " "v4: OPEN it again"
	fi
	expect_eq "$(nfs_holder "p$v" "write-file $SRC/big 1048576")" "write-file $s bytes=2097152" \
		"v$v: write the other 2 MiB"
	expect_eq "$(nfs_holder "p$v" commit)" "commit $s" "v$v: COMMIT"
	expect_eq "$(nfs_holder "p$v" "setattr-mode 0755")" "setattr-mode $s" "v$v: SETATTR mode 0755"
	if [[ $v == 4 ]]; then
		expect_eq "$(nfs_holder "p$v" close)" "close $s" "v4: CLOSE it again"
	fi
	expect_match "$(nfs_holder "p$v" getattr)" "^getattr $s type=reg size=3145728 .* mode=0755$" \
		"v$v: the client sees 3 MiB, mode 0755"
	expect_eq "$(tags)" "$want" "v$v: still no tag before the rename"
	expect_eq "$(watch_stop)" "" "v$v: no tag $tag appeared in registry/ while it was written"
	expect_eq "$(nfs_holder "p$v" "rename $tmp $tag")" "rename $s" "v$v: RENAME $tmp onto the tag name $tag"
	check "v$v: the tag is there when the RENAME returns" test -e "$REG/$tag"
	expect_eq "$(sha "$REG/$tag" 2>&1)" "$big_sha" "v$v: the tag holds the whole content"
	expect_eq "$(stat -c %a "$REG/$tag" 2>&1)" 755 "v$v: the tag's mode is the one set over NFS"
	expect_eq "$(nfs_handle "$v" /regfs "registry/app/$tag" read | sed -n 2p)" \
		"read $s bytes=3145728 sha256=$big_sha" "v$v: the read-only export reads it whole"
	expect_eq "$(staged)" "" "v$v: nothing staged in incoming/app any more"
	want+="$tag "
	# A write through the old handle: one client of its own, which gives
	# up on an unanswered call after 5 s and sends it once more.
	h=$(nfs_holder "p$v" handle)
	t0=$(now_ns)
	NFS_HANDLE_TIMEOUT=5 run_cmd nfs_handle "$v" /regfs-incoming app -H "${h#handle }" \
		"write-file $SRC/small 0 1024"
	expect_match "$(grep '^write-file' <<<"$OUT")" "^write-file NFS${v}ERR_" \
		"v$v: a write through the old handle after the rename fails"
	diag "v$v: it took $((($(now_ns) - t0) / 1000000)) ms: $(grep -v '^handle' <<<"$OUT" | tr '\n' ' ')"
	expect_eq "$(sha "$REG/$tag")" "$big_sha" "v$v: the tag did not change"
done

# --- (b) written under the tag name, (d) created and never written ------------------

for v in 3 4; do
	s=NFS${v}_OK
	expect_match "$(nfs_holder "p$v" "create w$v")" "^create $s " "v$v: create w$v, a tag name"
	ino=$(fileid "p$v")
	rel=$(releases "$ino")
	expect_eq "$(nfs_holder "p$v" "write-file $SRC/small 0")" "write-file $s bytes=102400" "v$v: write 100 KiB into w$v"
	expect_eq "$(nfs_holder "p$v" commit)" "commit $s" "v$v: COMMIT w$v"
	[[ $v == 4 ]] && expect_eq "$(nfs_holder "p$v" close)" "close $s" "v4: CLOSE w4"
	expect_closed "p$v" "w$v" "$ino" "$rel" "v$v: ganesha closed w$v"
	check "v$v: w$v is not sealed by that close" test ! -e "$REG/w$v"
	# (d) zero-byte files, a tag name and a temporary name, never written
	# (an NFSv4 one left open, one closed).
	expect_match "$(nfs_holder "p$v" "create z$v")" "^create $s " "v$v: create z$v (never written)"
	[[ $v == 4 ]] && expect_eq "$(nfs_holder "p$v" close)" "close $s" "v4: CLOSE z4"
	expect_match "$(nfs_holder "p$v" "create .e$v")" "^create $s " "v$v: create .e$v (never written)"
done
expect_eq "$(staged)" ".e3:0 .e4:0 w3:102400 w4:102400 z3:0 z4:0 " "staged: w3 w4 (100 KiB) and z3 z4 .e3 .e4 (empty)"
nfs_stop TERM
expect_eq "$(tags)" "base s3 s4 " "after ganesha's SIGTERM (it closes everything), still no new tag"
expect_eq "$(staged)" ".e3:0 .e4:0 w3:102400 w4:102400 z3:0 z4:0 " "and the same files staged"
start_ganesha "${REAPER[@]}"
for v in 3 4; do
	s=NFS${v}_OK e=NFS${v}ERR_EXIST
	expect_eq "$(nfs_holder "p$v" reconnect)" "reconnect OK" "v$v: the client reconnects"
	expect_match "$(nfs_holder "p$v" dir)" "^dir $s " "v$v: and looks incoming/app up again"
	expect_eq "$(nfs_holder "p$v" "rename .e$v e$v")" "rename $s" "v$v: RENAME the empty .e$v onto e$v"
	expect_eq "$(stat -c %s "$REG/e$v" 2>&1):$(sha "$REG/e$v" 2>&1)" "0:$empty_sha" "v$v: e$v is sealed, empty"
	# (e) a rename onto a tag that exists.
	expect_match "$(nfs_holder "p$v" "create .d$v")" "^create $s " "v$v: create .d$v"
	expect_eq "$(nfs_holder "p$v" "write-file $SRC/small 0 2000")" "write-file $s bytes=2000" "v$v: write into .d$v"
	[[ $v == 4 ]] && expect_eq "$(nfs_holder "p$v" close)" "close $s" "v4: CLOSE .d4"
	expect_eq "$(nfs_holder "p$v" "rename .d$v s$v")" "rename $e" "v$v: RENAME .d$v onto the tag s$v fails: $e"
	expect_eq "$(nfs_holder "p$v" "rename w$v base")" "rename $e" "v$v: RENAME w$v onto the tag base fails: $e"
	expect_eq "$(sha "$REG/s$v"):$(sha "$REG/base")" "$big_sha:$(sha "$SRC/base")" "v$v: s$v and base are unchanged"
done
run_cmd nfs_ls 3 /regfs-incoming/app
expect_eq "$(awk '{ print $NF }' <<<"$OUT" | sort | tr '\n' ' ')" ".d3 .d4 w3 w4 z3 z4 " \
	"v3: incoming/app lists what is staged"
for v in 3 4; do
	for f in ".d$v" "w$v" "z$v"; do
		expect_eq "$(nfs_holder "p$v" "remove $f")" "remove NFS${v}_OK" "v$v: REMOVE $f"
	done
	nfs_holder_stop "p$v"
done
expect_eq "$(staged)" "" "nothing is staged any more"
expect_eq "$(tags)" "base e3 e4 s3 s4 " "the tags are the renamed ones only"

# --- (c) ganesha stopped in the middle of writes -------------------------------------

for sig in TERM KILL; do
	writers=()
	for v in 3 4; do
		# nsenter itself, not nfs_run: $! must be the client's PID.
		nsenter -t "$NFS_HOLDER" -n -m -- "$NFS_HANDLE" "-$v" "$NFS_SERVER" /regfs-incoming app \
			"create .m$v$sig" "write-file $SRC/huge 0 50331648 file_sync" \
			"write-file $SRC/huge 0 50331648 file_sync" "write-file $SRC/huge 0 50331648 file_sync" \
			>"$TEST_TMP/m$v$sig.out" 2>&1 &
		writers+=($!)
		track_pid "$!"
	done
	if ! wait_until 20 "[[ \$(stat -c %s '$APP/.m3$sig' 2>/dev/null || echo 0) -gt 0 &&
		\$(stat -c %s '$APP/.m4$sig' 2>/dev/null || echo 0) -gt 0 ]]"; then
		diag "the writers did not start: $(staged)"
	fi
	before=$(staged)
	alive=0
	for p in "${writers[@]}"; do proc_alive "$p" && alive=$((alive + 1)); done
	expect_eq "$alive" 2 "SIG$sig: both writers are still writing when ganesha is stopped"
	nfs_stop "$sig"
	diag "SIG$sig in the middle of: $before"
	for p in "${writers[@]}"; do
		wait_exit "$p" 30 || kill -KILL "$p" 2>/dev/null || :
		reap "$p"
	done
	expect_eq "$(tags)" "base e3 e4 s3 s4 " "SIG$sig: ganesha stopped in the middle of writes sealed nothing"
	start_ganesha "${REAPER[@]}"
	left=$(staged)
	diag "SIG$sig: left in incoming/app: ${left:-nothing}"
	if [[ $sig == TERM ]]; then
		expect_match "$left" "^\.m3TERM:[0-9]+ \.m4TERM:[0-9]+ $" \
			"SIGTERM: the partial files are still staged (ganesha closed them, as any process may)"
	fi
	run_cmd nfs_ls 3 /regfs-incoming/app
	names=$(awk 'NF && $NF != "." && $NF != ".." { print $NF }' <<<"$OUT" | sort | tr '\n' ' ')
	expect_eq "$names" "$(ls -A "$APP" | sort | tr '\n' ' ')" "SIG$sig: after ganesha restarted, an NFS listing shows what is staged"
	for f in $names; do
		expect_eq "$(nfs_handle 3 /regfs-incoming app "remove $f" | sed -n 2p)" "remove NFS3_OK" \
			"SIG$sig: REMOVE $f over NFS"
	done
	expect_eq "$(staged)" "" "SIG$sig: nothing is staged any more"
done
expect_eq "$("$REGCTL" --store "$STORE" ls | awk 'NR > 1 { print $2 }' | sort | tr '\n' ' ')" \
	"base e3 e4 s3 s4 " "regctl ls: the catalog holds the renamed tags only"
nfs_stop

# --- (g) freshness, with the shipped settings (no test reaper) --------------------------

start_ganesha
bound=$((AET + 2))
# fresh VERSIONS... HOW TAG: list registry/app over NFS, publish TAG HOW,
# then poll the listings until TAG shows, for at most Attr_Expiration_Time
# + 2 s.
fresh() {
	local how=$1 tag=$2 v t0 t1 ms
	for v in 3 4; do
		nfs_ls "$v" /regfs/registry/app >/dev/null
	done
	t0=$(now_ns)
	case $how in
	regctl) "$REGCTL" --store "$STORE" publish "$SRC/small" "app:$tag" >/dev/null ;;
	mount)
		cp "$SRC/small" "$APP/.$tag"
		mv "$APP/.$tag" "$APP/$tag"
		;;
	nfs)
		nfs_handle 3 /regfs-incoming app "create .$tag" "write-file $SRC/small 0" \
			"rename .$tag $tag" >/dev/null
		;;
	esac
	t1=$(now_ns)
	check "$how: $tag is sealed" wait_until 2 test -e "$REG/$tag"
	declare -A seen=()
	while :; do
		for v in 3 4; do
			[[ -n ${seen[$v]:-} ]] && continue
			if grep -q " $tag\$" <<<"$(nfs_ls "$v" /regfs/registry/app 2>/dev/null)"; then
				seen[$v]=$((($(now_ns) - t1) / 1000000))
			fi
		done
		[[ -n ${seen[3]:-} && -n ${seen[4]:-} ]] && break
		(($(now_ns) - t1 > bound * 1000000000)) && break
		sleep 0.05
	done
	for v in 3 4; do
		ms=${seen[$v]:-}
		if [[ -n $ms && $ms -le $((bound * 1000)) ]]; then
			ok "v$v: a tag published by $how shows in a listing within ${bound} s (Attr_Expiration_Time $AET + 2)"
		else
			fail "v$v: a tag published by $how shows in a listing within ${bound} s (Attr_Expiration_Time $AET + 2)"
		fi
		diag "freshness, $how, v$v: ${ms:-not} ms after the publish (which took $(((t1 - t0) / 1000000)) ms)"
	done
}
fresh regctl f1
fresh mount f2
fresh nfs f3
fresh regctl f4
fresh mount f5
fresh nfs f6
check "the tags published over NFS read whole" test "$(sha "$REG/f3")" = "$small_sha"
nfs_stop

# --- (f) informative: publish=close, the default ------------------------------------------

regfs_umount "$MNT"
regfs_mount "$STORE" "$MNT" -o allow_other -d
start_ganesha "${REAPER[@]}"
for v in 3 4; do
	nfs_holder_start "c$v" "$v" /regfs-incoming app
	nfs_holder "c$v" "create c$v" >/dev/null
	ino=$(fileid "c$v")
	rel=$(releases "$ino")
	diag "publish=close, v$v: $(nfs_holder "c$v" "write-file $SRC/big 0 1048576")"
	[[ $v == 4 ]] && diag "publish=close, v4: $(nfs_holder "c$v" close)"
	wait_until 15 "[[ \$(releases $ino) -gt $rel ]]" || :
	wait_until 2 test -e "$REG/c$v" || :
	diag "publish=close, v$v: after ganesha closed c$v (1 MiB written of 3): tag c$v: $(stat -c '%s bytes' "$REG/c$v" 2>&1)"
	if [[ $v == 4 ]]; then
		diag "publish=close, v4: $(nfs_holder "c$v" "open c$v")"
	fi
	diag "publish=close, v$v: writing on: $(nfs_holder "c$v" "write-file $SRC/big 1048576")"
	nfs_holder "c$v" "create z$v" >/dev/null
	nfs_holder_stop "c$v"
done
nfs_stop TERM
diag "publish=close: after ganesha's SIGTERM: tags $(tags); z3 (never written): $(stat -c '%s bytes' "$REG/z3" 2>&1)"
diag "publish=close: z4 (an NFSv4 create never written): $(stat -c '%s bytes' "$REG/z4" 2>&1)"

nfs_teardown
regfs_umount "$MNT"
done_testing
