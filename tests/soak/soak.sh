#!/bin/bash
# soak.sh - a long mixed load on one real regfs mount, with the daemon killed
# (SIGKILL) at random points and remounted, and the product's invariants
# checked throughout. Not part of ctest; run by hand:
#
#   tests/soak/soak.sh                       # 10 minutes
#   SOAK_DURATION=3600 tests/soak/soak.sh    # an hour
#
# The load, each a worker of its own (a background subshell, one op at a
# time, a short pause between ops, so the whole uses about half a CPU):
#   pub-cp    cp of random files (0 B .. 3 MiB) into incoming/soak/cp/
#   pub-slow  a writer of 256 KiB .. 2 MiB in 64 KiB writes 10-40 ms apart
#             into incoming/soak/slow/; a third of them killed (SIGKILL)
#             in the middle
#   pub-ctl   regctl publish into soak/ctl, a fifth killed in the middle
#   reader    reads of random acknowledged local tags through the mount
#   pull      reads of upstream tags through the mount (pull-through from a
#             real Distribution registry on loopback, -o cache_max small
#             enough that fetched blobs are evicted all the time), and now
#             and then a new tag pushed upstream and read
#   mutator   regctl yank, regctl rm --force (more when many tags are live),
#             regctl gc, and a publish onto an existing tag (must fail)
#   sampler   the daemon's VmRSS and open descriptors, every second
# and the main loop: after a random pause (SOAK_KILL_MIN..SOAK_KILL_MAX s,
# one time in 8 SOAK_LONG_LIFE) it kills the daemon with SIGKILL, unmounts the dead mount lazily and
# mounts again, then runs regctl fsck and the full check.
#
# Invariants (tests/soak/soak-check.py has the details):
# - every acknowledged tag (cp's close() or regctl publish returned 0)
#   reads back whole with its digest, until a regctl rm of it starts;
#   a yanked tag still reads by its name;
# - no partial tag: every tag the catalog has, or the mount lists, was
#   attempted with exactly those bytes; a killed writer's tag either does
#   not exist or is complete;
# - a publish onto an existing tag fails;
# - regctl fsck is clean after every remount and at the end;
# - the daemon's VmRSS stays under SOAK_RSS_MAX_MIB and its descriptors
#   under SOAK_FD_MAX;
# - no operation hangs (each runs under timeout SOAK_OP_TIMEOUT).
# A read that fails while the daemon is being killed is inconclusive, not a
# violation; a read that returns wrong bytes always is one.
#
# Environment:
#   SOAK_DURATION     seconds of load (600)
#   SOAK_KILL_MIN/MAX seconds between kills of the daemon (15 / 90)
#   SOAK_LONG_LIFE    one pause in 8 is this long instead (300)
#   SOAK_RSS_MAX_MIB  bound on the daemon's VmRSS (256)
#   SOAK_FD_MAX       bound on the daemon's open descriptors (256)
#   SOAK_CACHE_MAX    -o cache_max of the mount (1M)
#   SOAK_LIVE_MAX     local tags kept live before the mutator removes more (150)
#   SOAK_OP_TIMEOUT   seconds one operation may take (120)
#   SOAK_MOUNT_TIMEOUT seconds a mount may take to appear (60)
#   SOAK_OUT          a folder to copy the logs and the summary into (none)
#   SOAK_SEED         seeds $RANDOM (else the PID)
#   SOAK_COMMIT       the commit the summary names (else git rev-parse HEAD)
#   and lib.sh's: REGFS, REGCTL, REGFS_BUILD_DIR, REGFS_TEST_KEEP, TMPDIR.
# Exit status: 0 when no invariant was violated, 1 otherwise (lib.sh's).
# shellcheck source-path=SCRIPTDIR disable=SC2317 # workers run in subshells

: "${SOAK_DURATION:=600}"
: "${SOAK_KILL_MIN:=15}"
: "${SOAK_KILL_MAX:=90}"
: "${SOAK_LONG_LIFE:=300}"
: "${SOAK_RSS_MAX_MIB:=256}"
: "${SOAK_FD_MAX:=256}"
: "${SOAK_CACHE_MAX:=1M}"
: "${SOAK_LIVE_MAX:=150}"
: "${SOAK_OP_TIMEOUT:=120}"
: "${SOAK_MOUNT_TIMEOUT:=60}"
: "${SOAK_OUT:=}"
: "${SOAK_SEED:=$$}"
# lib.sh's watchdog: the load, then time for the last checks.
export REGFS_TEST_TIMEOUT=$((SOAK_DURATION + 900))

_soak_dir=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=../integration/lib.sh
. "$_soak_dir/../integration/lib.sh"
# shellcheck source=../integration/registry.sh
. "$_soak_dir/../integration/registry.sh"
require_cmd python3 timeout getfattr

CHECK=$_soak_dir/soak-check.py
LOGS=$TEST_TMP/log      # the workers' logs (soak-check.py's LOGDIR)
STATE=$TEST_TMP/state   # "up N" / "down N"
STOP=$TEST_TMP/stop     # the workers stop when it exists
VIOL=$TEST_TMP/violations
mkdir -p "$LOGS" "$TEST_TMP/work"
: >"$VIOL"
RANDOM=$SOAK_SEED
I=$MNT/incoming

# --- small helpers (also in the workers) ----------------------------------------

# rnd LO HI: a random integer in [LO, HI].
rnd() { echo $(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1))); }
running() { [[ ! -e $STOP ]]; }
daemon_up() { [[ $(cat "$STATE" 2>/dev/null) == up* ]]; }
# violation TEXT: one line to the violations file (O_APPEND, one write).
violation() { printf '%s %s\n' "$(date -u +%T)" "$*" >>"$VIOL"; }
# pick_size: mostly small files, some large.
pick_size() {
	local r=$((RANDOM % 100))
	if ((r < 5)); then echo 0
	elif ((r < 40)); then rnd 1 4096
	elif ((r < 75)); then rnd 4097 65536
	elif ((r < 95)); then rnd 65537 1048576
	else rnd 1048577 3145728
	fi
}
# timed_out RC: the status timeout(1) gives when the command hung.
timed_out() { [[ $1 -eq 124 || $1 -eq 137 ]]; }
# checker output lines to the violations file; counts to a worker's log.
absorb() {
	local log=$1 line
	while IFS= read -r line; do
		case $line in
		VIOLATION:*) violation "${line#VIOLATION: }" ;;
		RESULT*) printf 'OP check %s\n' "${line#RESULT }" >>"$log" ;;
		esac
	done
}

# failed_while_up NAME WHAT BEFORE ERRLOG: a publish through the mount
# failed although the daemon was up, and the same daemon, from before it
# (BEFORE: the state then) to after it: nothing explains it, a violation.
failed_while_up() {
	local now
	now=$(cat "$STATE" 2>/dev/null)
	if [[ $4 == up* && $now == "$4" ]]; then
		violation "$1: $2 failed with the daemon up ($4): $(tail -n 1 "$3" 2>/dev/null)"
	fi
}

# Workers never abort: a failed operation is data, not an error of the soak.
worker_init() {
	trap - ERR EXIT INT TERM
	set +eE
	RANDOM=$((SOAK_SEED + $1 * 7919))
}

# --- the workers ----------------------------------------------------------------

# pub_cp: cp into incoming/soak/cp/cN.
worker_pub_cp() {
	worker_init 1
	local log=$LOGS/pub-cp.log src=$TEST_TMP/work/cp.src i=0 name size s rc st
	while running; do
		daemon_up || { sleep 0.2; continue; }
		i=$((i + 1))
		name=soak/cp/c$i
		size=$(pick_size)
		head -c "$size" /dev/urandom >"$src"
		s=$(sha "$src")
		echo "A $name $s $size" >>"$log"
		st=$(cat "$STATE" 2>/dev/null)
		mkdir -p "$I/soak/cp" 2>/dev/null
		rc=0
		timeout -k 5 "$SOAK_OP_TIMEOUT" cp "$src" "$I/$name" 2>>"$log.err" || rc=$?
		if [[ $rc -eq 0 ]]; then
			echo "K $name" >>"$log"
			echo "OP publish-cp ok" >>"$log"
		else
			echo "F $name $rc" >>"$log"
			echo "OP publish-cp fail" >>"$log"
			timed_out "$rc" && violation "$name: cp hung (over ${SOAK_OP_TIMEOUT}s)"
			failed_while_up "$name" cp "$st" "$log.err"
		fi
		sleep "0.$(rnd 1 5)"
	done
}

# kill_op PID: SIGKILL the program timeout(1) runs as PID, then PID itself
# (SIGKILL is not passed on), and reap it; its status in OP_RC. Quietly:
# bash would report "Killed". A writer that outlives this (not forked yet
# when the kill came) writes its own source to the end: its tag may still
# appear, complete.
kill_op() {
	{
		pkill -KILL -P "$1"
		kill -KILL "$1"
		OP_RC=0
		wait "$1" || OP_RC=$?
	} 2>/dev/null
}
# wait_op PID NAME: wait for an operation run under timeout(1); a hang is a
# violation. Its status in OP_RC.
wait_op() {
	OP_RC=0
	wait "$1" 2>/dev/null || OP_RC=$?
	timed_out "$OP_RC" && violation "$2 hung (over ${SOAK_OP_TIMEOUT}s)"
	return 0
}
# record LOG NAME KIND: K or F after an operation that ran to its end, X
# after one killed (K when it had finished all the same).
record() {
	local log=$1 name=$2 kind=$3 killed=${4:-0}
	if [[ $OP_RC -eq 0 ]]; then
		printf 'K %s\nOP %s ok\n' "$name" "$kind" >>"$log"
	elif [[ $killed -eq 1 ]]; then
		printf 'X %s\nOP %s killed\n' "$name" "$kind" >>"$log"
	else
		printf 'F %s %s\nOP %s fail\n' "$name" "$OP_RC" "$kind" >>"$log"
	fi
}

# pub_slow: a slow writer into incoming/soak/slow/sN, killed a third of
# the time. Each attempt has a source file of its own, so that a writer
# which outlives its kill still writes its own bytes.
worker_pub_slow() {
	worker_init 2
	local log=$LOGS/pub-slow.log src i=0 name size s pid st
	while running; do
		daemon_up || { sleep 0.2; continue; }
		i=$((i + 1))
		name=soak/slow/s$i
		src=$TEST_TMP/work/slow.$i
		size=$(rnd 262144 2097152)
		head -c "$size" /dev/urandom >"$src"
		s=$(sha "$src")
		echo "A $name $s $size" >>"$log"
		st=$(cat "$STATE" 2>/dev/null)
		mkdir -p "$I/soak/slow" 2>/dev/null
		timeout -k 5 "$SOAK_OP_TIMEOUT" python3 "$CHECK" write "$I/$name" "$src" 65536 "$(rnd 10 40)" \
			2>>"$log.err" &
		pid=$!
		if ((RANDOM % 3 == 0)); then
			sleep "$(rnd 0 1).$(rnd 0 9)"
			kill_op "$pid"
			record "$log" "$name" publish-slow 1
		else
			wait_op "$pid" "slow writer of $name"
			record "$log" "$name" publish-slow
			[[ $OP_RC -eq 0 ]] || failed_while_up "$name" "the slow writer" "$st" "$log.err"
		fi
		rm -f "$src"
		sleep "0.$(rnd 1 5)"
	done
}

# pub_ctl: regctl publish soak/ctl:pN, a fifth killed in the middle.
worker_pub_ctl() {
	worker_init 3
	local log=$LOGS/pub-ctl.log src i=0 name size s pid
	while running; do
		i=$((i + 1))
		name=soak/ctl/p$i
		src=$TEST_TMP/work/ctl.$i
		size=$(pick_size)
		head -c "$size" /dev/urandom >"$src"
		s=$(sha "$src")
		echo "A $name $s $size" >>"$log"
		timeout -k 5 "$SOAK_OP_TIMEOUT" "$REGCTL" --store "$STORE" publish "$src" "soak/ctl:p$i" \
			>/dev/null 2>>"$log.err" &
		pid=$!
		if ((RANDOM % 5 == 0)); then
			sleep "0.0$(rnd 0 9)"
			kill_op "$pid"
			record "$log" "$name" publish-ctl 1
		else
			wait_op "$pid" "regctl publish of $name"
			record "$log" "$name" publish-ctl
			# regctl needs no daemon: nothing explains a failure.
			[[ $OP_RC -eq 0 ]] ||
				violation "$name: regctl publish failed ($OP_RC): $(tail -n 1 "$log.err")"
		fi
		rm -f "$src"
		sleep "0.$(rnd 2 9)"
	done
}

# reader: random acknowledged local tags through the mount.
worker_reader() {
	worker_init 4
	local log=$LOGS/reader.log rc
	while running; do
		daemon_up || { sleep 0.2; continue; }
		rc=0
		timeout -k 5 "$SOAK_OP_TIMEOUT" python3 "$CHECK" sample "$LOGS" "$MNT" "$STATE" soak/ 3 \
			2>>"$log.err" | absorb "$log" || rc=$?
		timed_out "${PIPESTATUS[0]}" && violation "reader: a read hung (over ${SOAK_OP_TIMEOUT}s)"
		echo "OP read-batch done" >>"$log"
		sleep "0.$(rnd 2 8)"
	done
}

# pull: upstream tags through the mount, now and then a new one pushed.
# A tag pushed upstream is expected through the mount only after the
# upstream's list_ttl (60 s, plus a margin): a tag list of the repository
# fetched before the push makes the daemon answer ENOENT for a name it
# does not hold until the list goes stale (core/pull.c, surely_absent).
worker_pull() {
	worker_init 5
	local log=$LOGS/pull.log n=0 i=$REMOTE_TAGS name size src=$TEST_TMP/work/pull.src
	local -a pend_name=() pend_at=()
	while running; do
		daemon_up || { sleep 0.2; continue; }
		n=$((n + 1))
		while ((${#pend_name[@]} > 0 && pend_at[0] <= $(date +%s))); do
			echo "K ${pend_name[0]}" >>"$log"
			pend_name=("${pend_name[@]:1}")
			pend_at=("${pend_at[@]:1}")
		done
		if ((n % 25 == 0 && i < 200)); then
			i=$((i + 1))
			name=remote/app/r$i
			size=$(rnd 100000 500000)
			head -c "$size" /dev/urandom >"$src"
			echo "A $name $(sha "$src") $size" >>"$log"
			if oci_push_file "$REGISTRY_UP_URL" remote/app "r$i" "$src" >/dev/null 2>>"$log.err"; then
				pend_name+=("$name")
				pend_at+=($(($(date +%s) + 65)))
				echo "OP upstream-push ok" >>"$log"
			else
				echo "F $name 1" >>"$log"
				echo "OP upstream-push fail" >>"$log"
			fi
		fi
		timeout -k 5 "$SOAK_OP_TIMEOUT" python3 "$CHECK" sample "$LOGS" "$MNT" "$STATE" remote/ 1 \
			2>>"$log.err" | absorb "$log"
		timed_out "${PIPESTATUS[0]}" && violation "pull: a read hung (over ${SOAK_OP_TIMEOUT}s)"
		echo "OP pull-read done" >>"$log"
		sleep "0.$(rnd 2 9)"
	done
}

# mutator: yank, rm --force, gc, and a publish onto an existing tag.
worker_mutator() {
	worker_init 6
	local log=$LOGS/mutator.log live n name repo tag r rc out src=$TEST_TMP/work/mut.src
	while running; do
		mapfile -t live < <(awk '$1 == "K" && $2 ~ /^soak\// { k[$2] = 1 } $1 == "R" { r[$2] = 1 }
			END { for (n in k) if (!(n in r)) print n }' "$LOGS"/*.log)
		n=${#live[@]}
		if ((n == 0)); then sleep 1; continue; fi
		name=${live[RANDOM % n]}
		repo=${name%/*}
		tag=${name##*/}
		r=$((RANDOM % 100))
		if ((n > SOAK_LIVE_MAX)); then r=0; fi
		if ((r < 40)); then
			echo "R $name" >>"$log"
			rc=0
			timeout -k 5 "$SOAK_OP_TIMEOUT" "$REGCTL" --store "$STORE" rm --force "$repo:$tag" \
				>/dev/null 2>>"$log.err" || rc=$?
			echo "OP rm $([[ $rc -eq 0 ]] && echo ok || echo fail)" >>"$log"
			timed_out "$rc" && violation "regctl rm $repo:$tag hung"
			[[ $rc -eq 0 ]] || violation "regctl rm --force $repo:$tag failed ($rc) for an acknowledged tag"
		elif ((r < 60)); then
			echo "Y $name" >>"$log"
			rc=0
			timeout -k 5 "$SOAK_OP_TIMEOUT" "$REGCTL" --store "$STORE" yank --reason soak "$repo:$tag" \
				>/dev/null 2>>"$log.err" || rc=$?
			echo "OP yank $([[ $rc -eq 0 ]] && echo ok || echo fail)" >>"$log"
			[[ $rc -eq 0 ]] || violation "regctl yank $repo:$tag failed ($rc) for an acknowledged tag"
		elif ((r < 75)); then
			rc=0
			out=$(timeout -k 5 "$SOAK_OP_TIMEOUT" "$REGCTL" --store "$STORE" gc 2>&1) || rc=$?
			if [[ $rc -ne 0 && $out == *"gc stopped: would remove"* ]]; then
				# More than --max-share of the blobs unneeded: the
				# soak's rm bursts do that to a small store. It is
				# garbage here, as an operator who knows would say.
				echo "OP gc refused-max-share" >>"$log"
				rc=0
				out=$(timeout -k 5 "$SOAK_OP_TIMEOUT" "$REGCTL" --store "$STORE" gc --force 2>&1) ||
					rc=$?
			fi
			echo "OP gc $([[ $rc -eq 0 ]] && echo ok || echo fail)" >>"$log"
			echo "OP gc-freed $(grep -c '^removed' <<<"$out")" >>"$log"
			timed_out "$rc" && violation "regctl gc hung"
			[[ $rc -eq 0 ]] || violation "regctl gc failed ($rc): $(tail -n 1 <<<"$out")"
		else
			# A sealed tag never changes: a second publish must fail,
			# through the mount or through regctl.
			head -c "$(rnd 1 5000)" /dev/urandom >"$src"
			rc=0
			if ((RANDOM % 2)) && daemon_up; then
				mkdir -p "$I/$repo" 2>/dev/null
				timeout -k 5 "$SOAK_OP_TIMEOUT" cp "$src" "$I/$name" 2>/dev/null || rc=$?
				echo "OP overwrite-cp $([[ $rc -eq 0 ]] && echo accepted || echo refused)" >>"$log"
			else
				timeout -k 5 "$SOAK_OP_TIMEOUT" "$REGCTL" --store "$STORE" publish "$src" "$repo:$tag" \
					>/dev/null 2>&1 || rc=$?
				echo "OP overwrite-ctl $([[ $rc -eq 0 ]] && echo accepted || echo refused)" >>"$log"
			fi
			[[ $rc -eq 0 ]] && violation "$name: a second publish onto the sealed tag succeeded"
		fi
		# Past SOAK_LIVE_MAX, remove at once, so that the store (and
		# the time of fsck and of a full check) stays bounded.
		((n > SOAK_LIVE_MAX)) || sleep "$(rnd 0 1).$(rnd 0 9)"
	done
}

# sampler: VmRSS and descriptors of the daemon, every second.
worker_sampler() {
	worker_init 7
	local log=$LOGS/sampler.log pid rss fds flagged=
	while running; do
		pid=$(cat "$TEST_TMP/daemon.pid" 2>/dev/null)
		if [[ -n $pid ]] && rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) &&
			[[ -n $rss ]]; then
			fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
			echo "S $(date +%s) $pid $rss $fds" >>"$log"
			if [[ $flagged != "$pid" ]] &&
				((rss > SOAK_RSS_MAX_MIB * 1024 || fds > SOAK_FD_MAX)); then
				violation "daemon $pid: VmRSS ${rss} KiB, $fds descriptors (bounds ${SOAK_RSS_MAX_MIB} MiB, $SOAK_FD_MAX)"
				flagged=$pid
			fi
		fi
		sleep 1
	done
}

# --- the main loop ---------------------------------------------------------------

GEN=0
# mount_it: mount the store again, as lib.sh's regfs_mount does but with a
# deadline fit for a loaded machine (SOAK_MOUNT_TIMEOUT) and without
# aborting the soak: a daemon that exits at its start (after a kill -9, a
# store it refuses) is a violation, shown with its log, and tried again
# once.
mount_it() {
	local try log pid mnt deadline
	mnt=$(_lib_canon "$MNT")
	for try in 1 2; do
		_lib_mount_seq=$((_lib_mount_seq + 1))
		log=$TEST_TMP/regfs.$_lib_mount_seq.log
		printf '### %s: mount %s\n' "$(date -u +%FT%TZ)" "$((GEN + 1))" >>"$log"
		"$REGFS" "$STORE" "$mnt" -f -o upstream="$REGISTRY_UP_URL" -o cache_max="$SOAK_CACHE_MAX" \
			</dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
		pid=$!
		track_pid "$pid"
		printf '%s\n' "$pid" >>"$TEST_TMP/.daemons"
		_lib_logs+=("$log")
		_lib_mounts+=("$mnt")
		_lib_daemon_pid[$mnt]=$pid
		_lib_daemon_log[$mnt]=$log
		deadline=$(($(date +%s) + SOAK_MOUNT_TIMEOUT))
		while ! is_mounted "$mnt" && proc_alive "$pid" && (($(date +%s) < deadline)); do
			sleep 0.1
		done
		is_mounted "$mnt" && break
		if proc_alive "$pid"; then
			violation "mount $((GEN + 1)): not mounted ${SOAK_MOUNT_TIMEOUT}s after the daemon started: $(tail -n 3 "$log" | tr '\n' ' ')"
			kill -KILL "$pid" 2>/dev/null
		else
			violation "mount $((GEN + 1)): the daemon exited at its start: $(tail -n 3 "$log" | tr '\n' ' ')"
		fi
		{ wait "$pid" || :; } 2>/dev/null
		unset "_lib_daemon_pid[$mnt]"
		[[ $try -eq 2 ]] && bail_out "the daemon cannot be mounted again (see the violations)"
	done
	GEN=$((GEN + 1))
	printf '%s\n' "$pid" >"$TEST_TMP/daemon.pid"
	printf 'up %s\n' "$GEN" >"$STATE"
	echo "OP mount $GEN" >>"$LOGS/main.log"
	diag "$(date -u +%T) mount $GEN: daemon $pid"
}

# fuse_conn MNT: the FUSE connection number of a mount (its device's minor),
# from mountinfo, without touching the mount.
fuse_conn() {
	awk -v m="$1" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo
}

# kill_daemon: SIGKILL the daemon and reap it. A daemon with a thread stuck
# in the kernel (D state) does not die: that is a violation, and the mount's
# FUSE connection is aborted (fusectl, when mounted) so that the soak and
# everything blocked on the mount can go on.
kill_daemon() {
	local pid mnt conn t why=
	pid=$(daemon_pid "$MNT")
	mnt=$(_lib_canon "$MNT")
	conn=$(fuse_conn "$mnt")
	kill -KILL "$pid" 2>/dev/null
	if ! wait_exit "$pid" 20; then
		for t in /proc/"$pid"/task/*; do
			[[ $(awk '{ print $3 }' "$t/stat" 2>/dev/null) == D ]] &&
				why+=" thread ${t##*/} in $(cat "$t/wchan" 2>/dev/null)"
		done
		violation "daemon $pid still there 20 s after SIGKILL:${why:- (no thread in D state)}"
		if [[ -n $conn && -w /sys/fs/fuse/connections/$conn/abort ]]; then
			echo 1 >"/sys/fs/fuse/connections/$conn/abort"
			wait_exit "$pid" 20 || violation "daemon $pid survives the abort of its connection"
		else
			bail_out "daemon $pid cannot be killed and fusectl is not mounted to abort connection $conn"
		fi
	fi
	{ wait "$pid" || :; } 2>/dev/null
	unset "_lib_daemon_pid[$mnt]"
}

# fsck_check WHEN: regctl fsck must find no damage.
fsck_check() {
	local out rc=0
	out=$(timeout -k 5 600 "$REGCTL" --store "$STORE" fsck --json 2>&1) || rc=$?
	echo "OP fsck $([[ $rc -eq 0 ]] && echo clean || echo damaged)" >>"$LOGS/main.log"
	if [[ $rc -ne 0 ]]; then
		violation "fsck $1: exit $rc: $(tr -d '\n' <<<"$out" | cut -c1-600)"
		printf '%s\n' "$out" >"$TEST_TMP/fsck.$GEN.$(date +%s).json"
	fi
}

# full_check WHEN: the whole set of invariants (soak-check.py full).
full_check() {
	local before=$TEST_TMP/acked.before ls=$TEST_TMP/ls.json rc=0
	python3 "$CHECK" parse "$LOGS" >"$before"
	"$REGCTL" --store "$STORE" ls --all --json >"$ls" 2>>"$LOGS/main.log.err" || rc=$?
	if [[ $rc -ne 0 ]]; then
		violation "regctl ls --all --json $1: exit $rc"
		return 0
	fi
	timeout -k 5 1200 python3 "$CHECK" full "$LOGS" "$MNT" "$STATE" "$ls" "$before" \
		2>>"$LOGS/main.log.err" | tee -a "$TEST_TMP/checks.txt" | absorb "$LOGS/main.log"
	echo "OP full-check done" >>"$LOGS/main.log"
}

stop_workers() {
	touch "$STOP"
	local p
	for p in "${WORKERS[@]}"; do
		if ! wait_exit "$p" "$((SOAK_OP_TIMEOUT + 30))"; then
			violation "worker $p did not stop"
			pkill -KILL -P "$p" 2>/dev/null
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null || :
	done
}

# summary: the figures, from the logs.
summary() {
	diag "soaked ${SOAK_COMMIT:-$(git -C "$REGFS_SOURCE_DIR" rev-parse --short HEAD 2>/dev/null || echo "?")} for ${SOAK_DURATION}s, seed $SOAK_SEED"
	diag "operations (kind result count):"
	awk '$1 == "OP" && $2 !~ /^(check|mount|mount-final|kill|gc-freed)$/ { c[$2 " " $3]++ }
		$1 == "OP" && $2 == "gc-freed" { freed += $3 }
		END { for (k in c) printf "#   %-28s %d\n", k, c[k]; printf "#   gc blobs freed               %d\n", freed }' \
		"$LOGS"/*.log | sort
	awk '$1 == "OP" && $2 == "check" {
			for (i = 3; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
		END { printf "#   verified reads %d, inconclusive (daemon killed under them) %d, excused (rm) %d\n",
			s["reads"], s["inconclusive"], s["excused"] }' "$LOGS"/*.log
	diag "daemon kills (SIGKILL): $KILLS, mounts: $GEN (remounts: $((GEN - 1)))"
	awk '$1 == "S" { if ($4 > r) r = $4; if ($5 > f) f = $5; n++ }
		END { printf "#   samples %d, max VmRSS %.1f MiB, max descriptors %d\n", n, r / 1024, f }' \
		"$LOGS/sampler.log" 2>/dev/null || :
	# Fetches by the daemon (its user agent), from the registry's access
	# log: more GETs than blobs are fetches again after an eviction.
	awk '$6 == "\"GET" && $7 ~ /^\/v2\/remote\/app\/blobs\/sha256:/ && /regfs\// { n++; d[$7] = 1 }
		END { printf "#   upstream blob GETs by the daemon %d, distinct blobs %d (fetched again after eviction: %d)\n",
			n, length(d), n - length(d) }' "$REGISTRY_UP_LOG" 2>/dev/null || :
	# Each daemon's first and largest sample: growth within one life.
	awk '$1 == "S" { if (!($3 in first)) { first[$3] = $4; order[++np] = $3 }
			last[$3] = $4; if ($4 > mx[$3]) mx[$3] = $4; n[$3]++ }
		END { best = ""; for (i = 1; i <= np; i++) if (best == "" || n[order[i]] > n[best]) best = order[i]
			if (best != "") printf "#   longest-lived daemon: %d s, VmRSS %.1f MiB at start, %.1f MiB max, %.1f MiB at its end\n",
				n[best], first[best] / 1024, mx[best] / 1024, last[best] / 1024 }' \
		"$LOGS/sampler.log" 2>/dev/null || :
	diag "store at the end: $(count_files "$STORE/blobs") blob files, $(du -sk "$STORE" | cut -f1) KiB;" \
		"staging: $(count_files "$STORE/staging") files"
	diag "daemon error lines (digits as N):"
	cat "$TEST_TMP"/regfs.*.log | grep 'regfs: error' | sed 's/[0-9][0-9]*/N/g' | sort | uniq -c |
		sort -rn | head -n 15 | sed 's/^/#   /' || :
	local nv
	nv=$(wc -l <"$VIOL")
	diag "invariant violations: $nv"
	[[ $nv -eq 0 ]] || sed 's/^/#   /' "$VIOL" | head -n 50
}

# --- setup --------------------------------------------------------------------------

registry_start up
REMOTE_TAGS=12
for ((j = 1; j <= REMOTE_TAGS; j++)); do
	size=$(rnd 100000 500000)
	mkrand "$TEST_TMP/work/r$j" "$size"
	echo "A remote/app/r$j $(sha "$TEST_TMP/work/r$j") $size" >>"$LOGS/setup.log"
	oci_push_file "$REGISTRY_UP_URL" remote/app "r$j" "$TEST_TMP/work/r$j" >/dev/null
	echo "K remote/app/r$j" >>"$LOGS/setup.log"
done
export CHECK

mount_it
KILLS=0
WORKERS=()
for w in pub_cp pub_slow pub_ctl reader pull mutator sampler; do
	"worker_$w" </dev/null &
	WORKERS+=("$!")
	track_pid "$!"
done
diag "workers: ${WORKERS[*]}; load for ${SOAK_DURATION}s, seed $SOAK_SEED"

start=$(date +%s)
end=$((start + SOAK_DURATION))
while (($(date +%s) < end)); do
	pause=$(rnd "$SOAK_KILL_MIN" "$SOAK_KILL_MAX")
	# Now and then a long life, to see whether RSS and descriptors grow
	# under load.
	((RANDOM % 8 == 0)) && pause=$SOAK_LONG_LIFE
	until=$(($(date +%s) + pause))
	((until > end)) && until=$end
	while (($(date +%s) < until)); do sleep 1; done
	(($(date +%s) >= end)) && break
	printf 'down %s\n' "$GEN" >"$STATE"
	: >"$TEST_TMP/daemon.pid"
	kill_daemon
	KILLS=$((KILLS + 1))
	echo "OP kill $KILLS" >>"$LOGS/main.log"
	regfs_lazy_umount "$MNT"
	mount_it
	fsck_check "after remount $GEN"
	full_check "after remount $GEN"
	diag "$(date -u +%T) kill $KILLS, remount $GEN: $(wc -l <"$VIOL") violations so far"
done

diag "$(date -u +%T) stopping the workers"
stop_workers
full_check "at the end, mounted"
regfs_umount "$MNT" 30
: >"$TEST_TMP/daemon.pid"
fsck_check "at the end, unmounted"
echo "OP mount-final 0" >>"$LOGS/main.log"
# Unmounted: the catalog alone must still hold every acknowledged tag.
mount_it
full_check "after a clean remount"
regfs_umount "$MNT" 30
registry_stop up

summary | tee "$TEST_TMP/summary.txt"
if [[ -n $SOAK_OUT ]]; then
	mkdir -p "$SOAK_OUT"
	cp -r "$LOGS" "$TEST_TMP/summary.txt" "$VIOL" "$SOAK_OUT/" 2>/dev/null || :
	cp "$TEST_TMP"/regfs.*.log "$TEST_TMP"/checks.txt "$SOAK_OUT/" 2>/dev/null || :
	cp "$TEST_TMP"/fsck.*.json "$SOAK_OUT/" 2>/dev/null || :
fi
check "no invariant was violated" test ! -s "$VIOL"
done_testing
