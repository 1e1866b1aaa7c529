#!/bin/bash
# bench-plan.sh - regctl plan deploying a tag over ssh against a shell loop
# of rsync, side by side in one run.
#
# Prints ratios beside every run, never lone absolute times: machines here
# are shared and noisy, so every figure is the median of BENCH_RUNS runs,
# and the two sides of a ratio are measured alternately (plan first in even
# runs, the loop first in odd ones), to the same hosts, from the same file.
#
# The hosts: BENCH_HOSTS sshd's on 127.0.0.1 (tests/integration/sshd.sh),
# h1, h2, ..., each with a private /srv, reached by name through an ssh
# config (REGCTL_SSH_COMMAND="ssh -F CONFIG" for regctl, rsync -e for the
# loop). A random BENCH_SIZE_MIB file is published once, before anything is
# timed, as app:v1 in a store that is both the run's store and the plan's
# regfs registry; the loop sends that tag's blob file, so both sides read
# the same file, from the page cache.
#
#   (a) deploy app:v1 to /srv/app on every host, BENCH_PARALLELISM at once:
#         regctl --store STORE plan run deploy -f plan.hades.yaml
#       (a step with the hosts as targets, parallelism "4", a job with one
#       pull action) /
#         printf '%s\n' h1 ... h8 |
#             xargs -P4 -I{} rsync -e "ssh -F CONFIG" BLOB {}:/srv/app
#       Every timed run starts from hosts without the file: /srv of every
#       host is emptied (and the disk synced) before each side, untimed, or
#       regctl would skip unchanged files and rsync send deltas. Memory is
#       levelled before each side (level_memory in stats.sh): both fill the
#       page cache with the hosts' copies. Target: plan / loop <= 1.1.
#   (b) the same plan run again with nothing changed (every host already
#       holds the digest with its mode; one untimed run deploys it first):
#       wall time / hosts, target <= 0.2 s a host. Each run must leave every
#       host's /srv/app as it was (same inode and time).
#
# Environment:
#   BENCH_SIZE_MIB     size of the tag                        (default 256)
#   BENCH_HOSTS        ssh hosts                              (default 8)
#   BENCH_PARALLELISM  hosts at once, both sides              (default 4)
#   BENCH_RUNS         runs per figure, the median is reported (default 5)
#   BENCH_HOST_HOME    private: each host's /root empty (no shell rc files,
#                      as a deploy target); shared: this machine's (default
#                      private)
#   BENCH_DIR          where the temporary folder goes (store, hosts' /srv)
#                      (default /var/tmp)
#   BENCH_STRICT       1: exit 1 when a target is missed      (default 0)
#   BENCH_LEVEL        0: do not level memory before timed parts (default 1)
#   BENCH_BALLAST_DIR  where the ballast goes                 (default /dev/shm)
#   REGCTL, REGFS      the tools (default REGFS_BUILD_DIR/regctl and /regfs,
#                      REGFS_BUILD_DIR defaulting to build/ at the top)
#   REGFS_TEST_TIMEOUT seconds before the whole run is aborted and cleaned
#                      up (default 3000)
#
# It uses the integration tests' harness (tests/integration/lib.sh and
# sshd.sh), so it needs root, Debian's openssh-server, rsync, and what
# lib.sh checks for (/dev/fuse, a built regfs), though nothing is mounted
# but each host's private /srv, inside that host's own mount namespace.
# Every sshd is started by this shell and killed by PID at exit, however the
# run ends (Ctrl-C included), which ends its mount namespace and so its
# /srv mount; the temp folder is removed. Exit status: 0 done (targets
# missed or not, unless BENCH_STRICT=1), 1 something broke (regctl plan or
# rsync failed, a host got wrong bytes, a re-run changed a file) or a strict
# target was missed, 77 a tool is missing. When regctl plan fails, its
# output and host logs (STORE/plans/logs/) are shown.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
size_mib=${BENCH_SIZE_MIB:-256}
nhosts=${BENCH_HOSTS:-8}
par=${BENCH_PARALLELISM:-4}
runs=${BENCH_RUNS:-5}
strict=${BENCH_STRICT:-0}
bench_dir=${BENCH_DIR:-/var/tmp}

die() {
	echo "bench-plan: $*" >&2
	exit 2
}
note() { echo "bench-plan: $*"; }

for v in "$size_mib" "$nhosts" "$par" "$runs"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$v'"
done
[[ -d $bench_dir && -w $bench_dir ]] || die "BENCH_DIR '$bench_dir' is not a writable folder"
bench_dir=$(cd "$bench_dir" && pwd -P)

# The harness puts its temp folder (the store, the hosts' /srv) in TMPDIR:
# here, BENCH_DIR.
export TMPDIR=$bench_dir
: "${REGFS_SOURCE_DIR:=$top}"
: "${REGFS_TEST_TIMEOUT:=3000}"
export REGFS_SOURCE_DIR REGFS_TEST_TIMEOUT
# shellcheck source=../integration/lib.sh
. "$top/tests/integration/lib.sh"
# shellcheck source=../integration/sshd.sh
. "$top/tests/integration/sshd.sh"
sshd_require
require_cmd rsync xargs cmp sync perl
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL: build first (or set REGCTL)"

size=$((size_mib * 1024 * 1024))
# Memory freed a moment before each timed part of (a): enough for every
# host's copy, which each side leaves in the page cache.
ballast_mib=$((nhosts * size_mib + 256))
work=$TEST_TMP
store=$work/store
plan=$work/plan.hades.yaml
hosts=()
for ((k = 1; k <= nhosts; k++)); do hosts+=("h$k"); done

# shellcheck source=stats.sh
. "$here/stats.sh"

# The Ctrl-C sentinel (check_interrupted): asynchronous commands of a
# script ignore SIGINT, so it puts the default action back itself.
perl -e '$SIG{INT} = "DEFAULT"; sleep 1 while 1' </dev/null &
sentinel=$!
track_pid "$sentinel"


# broken WHAT: regctl, rsync or the setup misbehaved; say so and stop.
broken() {
	echo "bench-plan: FAILED: $*" >&2
	bail_out "$*"
}

# show_plan_failure OUT: regctl's output and the last run's host logs.
show_plan_failure() {
	diag_file "$1" 40
	local f
	for f in "$store"/plans/logs/*/*.log; do
		[[ -f $f ]] && diag_file "$f" 20
	done
	return 0
}

# run_plan OUT: the plan, its output to OUT; it must exit 0.
# shellcheck disable=SC2317 # called through timed
run_plan() {
	local rc=0
	REGCTL_SSH_COMMAND=$SSHD_SSH_COMMAND "$REGCTL" --store "$store" \
		plan run deploy -f "$plan" </dev/null >"$1" 2>&1 || rc=$?
	if ((rc != 0)); then
		check_interrupted
		show_plan_failure "$1"
		broken "regctl plan run deploy exited with status $rc"
	fi
}

# run_loop: the rsync loop; every rsync must succeed.
# shellcheck disable=SC2317 # called through timed
run_loop() {
	local rc=0
	printf '%s\n' "${hosts[@]}" |
		xargs -P"$par" -I{} rsync -e "$SSHD_SSH_COMMAND" "$blob" {}:/srv/app \
			2>"$work/loop.err" || rc=$?
	((rc == 0)) && return 0
	check_interrupted
	diag_file "$work/loop.err"
	broken "the rsync loop exited with status $rc"
}

# check_interrupted: after a side failed, was it a Ctrl-C? Then say so
# and exit; the EXIT trap cleans up. regctl and rsync handle SIGINT and
# exit with a status of their own, and bash, whose child did not die of
# the signal, runs no INT trap: a sentinel that dies of SIGINT, in the
# terminal's process group with them, tells.
check_interrupted() {
	proc_alive "$sentinel" && return 0
	echo "bench-plan: interrupted" >&2
	exit 130
}

# clean_hosts: every host's /srv empty (the file, and any temporary file a
# failed side left), written back to disk, untimed.
clean_hosts() {
	local h
	for h in "${hosts[@]}"; do
		find "$(sshd_path "$h" "")" -mindepth 1 -delete
	done
	sync
}

# check_hosts SIDE FULL: every host has /srv/app of the tag's size and
# nothing else in /srv; with FULL=1 its bytes are the tag's.
check_hosts() {
	local side=$1 full=$2 h f got n
	for h in "${hosts[@]}"; do
		f=$(sshd_path "$h" app)
		got=$(stat -c %s "$f" 2>/dev/null) || broken "$side: $h has no /srv/app"
		[[ $got == "$size" ]] || broken "$side: $h's /srv/app has $got bytes, not $size"
		n=$(find "$(sshd_path "$h" "")" -mindepth 1 | wc -l)
		[[ $n == 1 ]] || broken "$side: $h's /srv holds $n entries, not just app"
		if ((full)); then
			cmp -s "$blob" "$f" || broken "$side: $h's /srv/app differs from app:v1"
		fi
	done
}

# host_state: the inode, mode, time and size of every host's /srv/app.
host_state() {
	local h
	for h in "${hosts[@]}"; do
		stat -c "$h %i %a %Y.%y %s" "$(sshd_path "$h" app)"
	done
}

# per_host T: T / hosts.
per_host() { awk -v t="$1" -v n="$nhosts" 'BEGIN { printf "%.6f", t / n }'; }

echo "bench-plan: work folder $work"
echo "bench-plan: $runs runs per figure, ${size_mib} MiB tag, $nhosts hosts, parallelism $par"
echo "bench-plan: $(nproc) CPUs, kernel $(uname -r), $(df -h --output=source,fstype "$work" | tail -n 1 | tr -s ' ')"
if [[ ${BENCH_LEVEL:-1} == 0 ]]; then
	echo "bench-plan: memory not levelled before timed parts (BENCH_LEVEL=0)"
else
	echo "bench-plan: a ${ballast_mib} MiB ballast in ${BENCH_BALLAST_DIR:-/dev/shm} is written and removed before each timed part of (a) (BENCH_LEVEL=0: not)"
fi
echo "bench-plan: regctl $REGCTL, $(ssh -V 2>&1), $(rsync --version | awk 'NR == 1 { print $1, $2, $3 }')"

# --- the hosts, the tag, the plan ---------------------------------------------

# A host's root has a home of its own, empty: the login shell of every ssh
# command (regctl's and rsync's alike) then reads no ~/.bashrc. This
# machine's root's .bashrc runs pyenv's init, ~0.1 s a command, which no
# deploy target pays; BENCH_HOST_HOME=shared keeps it.
if [[ ${BENCH_HOST_HOME:-private} == private ]]; then
	export SSHD_PRIVATE_DIRS="/srv /root"
	note "hosts' /root: private and empty (BENCH_HOST_HOME=shared: this machine's)"
else
	note "hosts' /root: this machine's, with its shell start-up files"
fi
t0=$(now_ns)
for h in "${hosts[@]}"; do
	sshd_start "$h" >/dev/null
done
note "$nhosts ssh hosts up in $((($(now_ns) - t0) / 1000000)) ms: ${hosts[*]}"

# A random file, so nothing compresses or dedupes by accident (ssh and
# rsync compress nothing here anyway).
dd if=/dev/urandom of="$work/app" bs=1M count="$size_mib" status=none
hex=$(sha "$work/app")
"$REGCTL" --store "$store" publish --init "$work/app" app:v1 >/dev/null ||
	broken "regctl publish of app:v1 failed"
blob=$store/blobs/sha256/$hex
[[ -f $blob ]] || broken "no blob file '$blob' for app:v1"
rm -f "$work/app"
# The source in the page cache, for both sides alike.
cat "$blob" >/dev/null
note "app:v1 is sha256:$hex, blob $blob"

{
	echo "# bench-plan: deploy app:v1 to every host, $par at once"
	# addr: the name, which the ssh config maps to the host's port.
	echo "hosts:"
	for h in "${hosts[@]}"; do echo "  $h: {addr: $h}"; done
	echo "registries:"
	echo "  reg: {type: regfs, path: $store}"
	echo "jobs:"
	echo "  deploy:"
	echo "    actions:"
	echo "      - pull: {registry: reg, name: app, tag: v1, to: /srv/app}"
	echo "plans:"
	echo "  deploy:"
	echo "    steps:"
	echo "      - name: rollout"
	echo "        job: deploy"
	echo "        targets: [$(printf '%s, ' "${hosts[@]}" | sed 's/, $//')]"
	echo "        parallelism: \"$par\""
} >"$plan"
out=$work/plan.out
"$REGCTL" --store "$store" plan validate -f "$plan" >"$out" 2>&1 || {
	diag_file "$out"
	broken "regctl plan validate refuses the bench's plan"
}

# --- (a) deploy to hosts without the file: plan / rsync loop ------------------

note "(a) deploys: regctl plan / rsync loop"
a_plan=()
a_loop=()
plan_side() {
	clean_hosts
	level_memory "$ballast_mib"
	timed a_plan run_plan "$out"
	check_hosts "plan run $1" "$(($1 == 0))"
}
loop_side() {
	clean_hosts
	level_memory "$ballast_mib"
	timed a_loop run_loop
	check_hosts "rsync loop run $1" "$(($1 <= 1))"
}
for ((i = 0; i < runs; i++)); do
	if ((i % 2)); then
		loop_side "$i"
		plan_side "$i"
	else
		plan_side "$i"
		loop_side "$i"
	fi
	note "(a) run $((i + 1)): plan ${a_plan[i]} s, loop ${a_loop[i]} s"
done
p=$(median "${a_plan[@]}")
l=$(median "${a_loop[@]}")
note "(a) every run (s): plan ${a_plan[*]}; loop ${a_loop[*]}"
note "(a) median plan $p s, loop $l s: plan / loop $(ratio "$p" "$l"), loop / plan $(ratio "$l" "$p") (target >= 0.91)"
result "(a) deploy ${size_mib} MiB to $nhosts, P$par (s)" "$p" "$l" "$(ratio "$p" "$l")" "<=" 1.1

# --- (b) the same plan again, nothing changed ---------------------------------

note "(b) re-runs with nothing changed"
# The last side of (a) may have been the loop: one plan run makes every
# host hold the digest with its mode.
clean_hosts
run_plan "$out"
check_hosts "plan run before (b)" 1
before=$(host_state)
b_wall=()
b_host=()
for ((i = 0; i < runs; i++)); do
	timed b_wall run_plan "$out"
	b_host+=("$(per_host "${b_wall[i]}")")
	[[ $(host_state) == "$before" ]] || broken "(b) re-run $((i + 1)) changed a host's /srv/app"
	note "(b) run $((i + 1)): ${b_wall[i]} s, $(per_host "${b_wall[i]}") s a host"
done
n=$(grep -c 'unchanged' "$out" || :)
[[ $n == "$nhosts" ]] || note "(b) the last re-run reported 'unchanged' for $n hosts, not $nhosts"
w=$(median "${b_wall[@]}")
note "(b) every run, wall (s): ${b_wall[*]}; a host: ${b_host[*]}"
ph=$(per_host "$w")
# The ratio column of (b) is the time a host itself.
result "(b) re-run unchanged, s a host (wall/$nhosts)" "$ph" - "$ph" "<=" 0.2

sshd_stop_all
kill_wait TERM "$sentinel"

echo
printf '%-40s %10s %10s %8s   %-8s %s\n' "measure (median of $runs)" plan loop ratio target result
for line in "${results[@]}"; do
	echo "$line"
done
echo "((a) ratio: plan time / loop time, so <= 1.1 is the target; (b): seconds a host)"

# The harness's end: its EXIT trap cleans up and keeps this status.
if ((strict && missed)); then
	fail "$missed target(s) missed"
else
	ok "bench-plan done, $missed target(s) missed"
fi
done_testing
