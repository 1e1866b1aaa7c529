#!/bin/bash
# bench-nfs.sh - a regfs mount re-exported by nfs-ganesha against an ext4
# folder holding the same files, exported by the same ganesha, side by side
# in one run.
#
# Prints ratios beside every run, never lone absolute times: machines here
# are shared and noisy, so every figure is the median of BENCH_RUNS runs,
# and the two sides of a ratio are measured alternately (regfs first in even
# runs, ext4 first in odd ones), through the same server, by the same
# client, on the same disk.
#
# The server: nfs-ganesha 4.3 (FSAL VFS) with two read-only exports, /regfs
# (the mount) and /ext4 (a plain folder in the same temp folder, on the
# same file system as the store's blob files), in a network and mount
# namespace of its own with loopback only (tests/integration/nfs.sh). The
# clients: libnfs's nfs-cat and nfs-ls (libnfs-utils) in that namespace,
# nfs-cat's output sent straight to /dev/null. The files: a random
# BENCH_SIZE_MIB file and a random BENCH_CONC_MIB one, published through
# incoming/ as bench/big and bench/mid and copied as ext4/bench/big and
# ext4/bench/mid; BENCH_TAGS small tags in one repository, r0001/t00001...,
# loaded by regfs-bench-populate, which writes the same tree as plain files
# (ext4/r0001/t00001...). Every file is read through NFS once and compared
# with its source, for each protocol, before anything is timed.
#
#   (a) nfs-cat of the big file, over NFSv3 and over NFSv4.0: warm (a second
#       read: every side is read once, untimed, before the timed runs) and
#       cold (sync and echo 3 > /proc/sys/vm/drop_caches before each read;
#       ganesha keeps its descriptors, so what is cold is the page cache),
#       once with regfs's kernel passthrough and once with -o no_passthrough
#       (regfs serves every READ itself). Target: ext4 / regfs >= 0.9.
#   (b) nfs-ls of r0001 (BENCH_TAGS tags) cold: before each listing, on both
#       sides, ganesha is restarted (its metadata cache is empty) and the
#       kernel's caches are dropped (dentries, inodes, pages: FUSE's
#       entries and attributes, ext4's inodes and folder blocks). nfs-ls
#       asks for every entry's attributes (READDIRPLUS over v3, READDIR
#       with attributes over v4). Target: ext4 / regfs >= 0.8. After the
#       timed runs, one more cold listing of the regfs side, untimed, with
#       the kernel's fuse_request_send tracepoint on (tracefs, mounted for
#       the run when it is not): how many FUSE requests of each kind it
#       cost the daemon.
#   (c) BENCH_READERS nfs-cat of the mid file at once (started together,
#       the wall time until the last is done), warm and cold as in (a), in
#       the same passthrough modes. Target: ext4 / regfs >= 0.9.
#
# Ratios are ext4 time / regfs time: regfs's relative speed, >= the target
# is PASS. Beside each figure: the CPU seconds the client (nfs-cat/nfs-ls),
# ganesha and the regfs daemon spent in it (medians), which shows where the
# time goes, and whether the client is what limits both sides alike (then
# the ratio says little).
#
# Environment:
#   BENCH_SIZE_MIB   the big file of (a)                     (default 1024)
#   BENCH_CONC_MIB   the file of (c)                         (default 256)
#   BENCH_READERS    concurrent readers in (c)               (default 8)
#   BENCH_TAGS       tags listed in (b)                      (default 10000)
#   BENCH_RUNS       runs per figure, the median is reported (default 5)
#   BENCH_SECTIONS   which of (a) to (c) to run, e.g. "b"    (default abc)
#   BENCH_VERSIONS   NFS versions                            (default "3 4")
#   BENCH_MODES      regfs read modes for (a) and (c): passthrough and/or
#                    no_passthrough (default "passthrough no_passthrough";
#                    (b) uses the first)
#   BENCH_MDCACHE    a line for ganesha's MDCACHE block, as
#                    'Dir_Chunk = 16384;' (default none: ganesha's defaults)
#   BENCH_TRACE      0: do not count the FUSE requests of a cold listing
#                    (default 1; see (b))
#   BENCH_DIR        where the temporary folder goes (store, ext4 tree)
#                    (default /var/tmp; it must not be a tmpfs: ext4 is
#                    the point)
#   BENCH_STRICT     1: exit 1 when a target is missed       (default 0)
#   REGFS            the daemon (default REGFS_BUILD_DIR/regfs,
#                    REGFS_BUILD_DIR defaulting to build/ at the top)
#   POPULATE         default REGFS_BUILD_DIR/tests/regfs-bench-populate
#   REGFS_TEST_TIMEOUT  seconds before the whole run is aborted and cleaned
#                    up (default 1800)
#
# With the defaults it takes about five minutes. Build in Release, as the
# other benches (cmake -DCMAKE_BUILD_TYPE=Release).
#
# It uses the integration tests' harness (tests/integration/lib.sh and
# nfs.sh), so it needs root, /dev/fuse, nfs-ganesha and nfs-ganesha-vfs,
# rpcbind and libnfs-utils; without one it exits 77 saying which. Every
# process it starts is killed by PID and every mount lazily unmounted at
# exit, however the run ends, and the temp folder is removed. The harness's
# own lines (ganesha's starts and stops) go to harness.log in the temp
# folder, shown when something fails. Exit status: 0 done (targets missed
# or not, unless BENCH_STRICT=1), 1 something broke (a read or listing
# failed or gave other bytes or names, ganesha or regfs misbehaved) or a
# strict target was missed, 2 a BENCH_* setting is wrong, 77 a tool is
# missing.
# shellcheck source-path=SCRIPTDIR disable=SC2317 # functions run through eval, timed and measure
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
size_mib=${BENCH_SIZE_MIB:-1024}
conc_mib=${BENCH_CONC_MIB:-256}
nreaders=${BENCH_READERS:-8}
ntags=${BENCH_TAGS:-10000}
runs=${BENCH_RUNS:-5}
sections=${BENCH_SECTIONS:-abc}
read -r -a versions <<<"${BENCH_VERSIONS:-3 4}"
read -r -a modes <<<"${BENCH_MODES:-passthrough no_passthrough}"
strict=${BENCH_STRICT:-0}
bench_dir=${BENCH_DIR:-/var/tmp}
ganesha_mdcache=${BENCH_MDCACHE:-}
trace=${BENCH_TRACE:-1}

die() {
	echo "bench-nfs: $*" >&2
	exit 2
}
note() { echo "bench-nfs: $*"; }

for v in "$size_mib" "$conc_mib" "$nreaders" "$ntags" "$runs"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$v'"
done
[[ $sections =~ ^[abc]+$ ]] || die "BENCH_SECTIONS: not a set of the letters a to c: '$sections'"
((${#versions[@]})) || die "BENCH_VERSIONS is empty"
for v in "${versions[@]}"; do
	[[ $v == 3 || $v == 4 ]] || die "BENCH_VERSIONS: 3 and/or 4, not '$v'"
done
((${#modes[@]})) || die "BENCH_MODES is empty"
for m in "${modes[@]}"; do
	[[ $m == passthrough || $m == no_passthrough ]] ||
		die "BENCH_MODES: passthrough and/or no_passthrough, not '$m'"
done
((ntags <= 99999)) || die "BENCH_TAGS: at most 99999 (one repository)"
[[ -d $bench_dir && -w $bench_dir ]] || die "BENCH_DIR '$bench_dir' is not a writable folder"
bench_dir=$(cd "$bench_dir" && pwd -P)

# The harness puts its temp folder (store, mount, ext4 tree) in TMPDIR:
# here, BENCH_DIR.
export TMPDIR=$bench_dir
: "${REGFS_SOURCE_DIR:=$top}"
: "${REGFS_TEST_TIMEOUT:=1800}"
export REGFS_SOURCE_DIR REGFS_TEST_TIMEOUT
# shellcheck source=../integration/lib.sh
. "$top/tests/integration/lib.sh"
# shellcheck source=../integration/nfs.sh
. "$top/tests/integration/nfs.sh"
require_cmd sha256sum cmp sync
POPULATE=${POPULATE:-$REGFS_BUILD_DIR/tests/regfs-bench-populate}
[[ -x $POPULATE ]] || bail_out "no populate helper at $POPULATE: build first (or set POPULATE)"

# shellcheck source=stats.sh
. "$here/stats.sh"

work=$TEST_TMP
ext4=$work/ext4
hlog=$work/harness.log
: >"$hlog"
fstype=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || echo '?')

# broken WHAT: regfs, ganesha or the setup misbehaved; say so and stop.
broken() {
	echo "bench-nfs: FAILED: $*" >&2
	diag_file "$hlog" 20 >&2
	bail_out "$*"
}

# quiet CMD...: a harness call whose TAP lines go to harness.log; a failed
# assertion in it (ganesha not exiting 0) is fatal here.
quiet() {
	local before=$_lib_failed
	"$@" >>"$hlog" 2>&1
	((_lib_failed == before)) || broken "$* (see harness.log)"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# CPU seconds (user + system) so far: of the main shell's reaped children (the
# clients, run through nsenter), of ganesha, of the regfs daemon.
# (The command name, field 2, of these has no space.)
hz=$(getconf CLK_TCK)
cpu_children() { awk -v hz="$hz" '{ printf "%.2f", ($16 + $17) / hz }' "/proc/$$/stat"; }
cpu_of() {
	[[ -n $1 ]] && awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# measure SIDE CMD...: time CMD into the arrays t_SIDE, and the CPU it cost
# into c_SIDE (client), g_SIDE (ganesha), d_SIDE (regfs). Runs in the
# main shell.
measure() {
	local side=$1 c0 g0 d0
	shift
	c0=$(cpu_children)
	g0=$(cpu_of "$NFS_PID")
	d0=$(cpu_of "$REGFS_PID")
	timed "t_$side" "$@"
	local -n cs=c_$side gs=g_$side ds=d_$side
	cs+=("$(sub "$(cpu_children)" "$c0")")
	gs+=("$(sub "$(cpu_of "$NFS_PID")" "$g0")")
	ds+=("$(sub "$(cpu_of "$REGFS_PID")" "$d0")")
}

reset_sides() {
	# shellcheck disable=SC2034 # read through measure's namerefs
	t_regfs=() t_ext4=() c_regfs=() c_ext4=() g_regfs=() g_ext4=() d_regfs=() d_ext4=()
}

# report LABEL TARGET: every run, the medians, the CPU, one summary line.
report() {
	local label=$1 target=$2 r e
	r=$(median "${t_regfs[@]}")
	e=$(median "${t_ext4[@]}")
	note "$label, every run (s): regfs ${t_regfs[*]}; ext4 ${t_ext4[*]}"
	note "    median regfs $r, ext4 $e, ratio $(ratio "$e" "$r");" \
		"CPU s (median) regfs side: client $(median "${c_regfs[@]}"), ganesha $(median "${g_regfs[@]}"), regfs $(median "${d_regfs[@]}");" \
		"ext4 side: client $(median "${c_ext4[@]}"), ganesha $(median "${g_ext4[@]}")"
	# A client busy for most of the ext4 side's time is what limits
	# it: then the ratio can only say how much slower regfs is, not
	# how much faster.
	if awk -v c="$(median "${c_ext4[@]}")" -v e="$e" 'BEGIN { exit !(c >= 0.7 * e) }'; then
		note "    the client was busy for $(awk -v c="$(median "${c_ext4[@]}")" -v e="$e" \
			'BEGIN { printf "%.0f", 100 * c / e }') % of the ext4 side's time: it bounds both sides"
	fi
	result "$label (s)" "$r" "$e" "$(ratio "$e" "$r")" ">=" "$target"
}

# alternate I REGFS-CMD EXT4-CMD: run I of a figure, both sides, regfs
# first when I is even. The commands are strings, evaluated.
alternate() {
	if (($1 % 2)); then
		eval "$3"
		eval "$2"
	else
		eval "$2"
		eval "$3"
	fi
}

# --- the commands timed ---------------------------------------------------------

# cat_file VERSION PATH: nfs-cat to /dev/null; it must succeed.
cat_file() {
	nfs_cat "$1" "$2" >/dev/null || broken "nfs-cat v$1 $2 failed"
}

# cat_many VERSION PATH: BENCH_READERS nfs-cat at once; all must succeed.
cat_many() {
	local v=$1 path=$2 k p bad=0 pids=()
	for ((k = 0; k < nreaders; k++)); do
		nfs_cat "$v" "$path" >/dev/null 2>"$work/reader.$k.err" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || bad=$((bad + 1))
	done
	((bad == 0)) || broken "$bad of $nreaders nfs-cat v$v $path failed: $(cat "$work"/reader.*.err | head -n 3)"
}

# list_dir VERSION PATH: nfs-ls to a file; it must list every tag.
list_dir() {
	nfs_ls "$1" "$2" >"$work/ls.out" || broken "nfs-ls v$1 $2 failed"
}
check_listing() {
	local n
	n=$(awk '$NF ~ /^t[0-9]+$/' "$work/ls.out" | wc -l)
	[[ $n == "$ntags" ]] || broken "nfs-ls v$1 $2 listed $n tags, not $ntags"
}

# --- the files ------------------------------------------------------------------

echo "bench-nfs: work folder $work ($fstype)"
echo "bench-nfs: $runs runs per figure; (a) ${size_mib} MiB, (b) $ntags tags, (c) $nreaders readers of ${conc_mib} MiB;" \
	"NFS v${versions[*]}; regfs modes: ${modes[*]}"
echo "bench-nfs: $(nproc) CPUs (load average $(cut -d' ' -f1-3 /proc/loadavg)), kernel $(uname -r), $(df -h --output=source,fstype "$work" | tail -n 1 | tr -s ' ')"
[[ -n $ganesha_mdcache ]] && echo "bench-nfs: ganesha's MDCACHE block: $ganesha_mdcache"
echo "bench-nfs: regfs $REGFS, $(ganesha.nfsd -v 2>&1 | grep -m1 -o 'Release.*' || echo ganesha), libnfs-utils $(dpkg-query -W -f '${Version}' libnfs-utils 2>/dev/null || echo '?')"
[[ $fstype == ext4 ]] || note "the temp folder is on $fstype, not ext4: the comparison is with $fstype"

want() { [[ $sections == *$1* ]]; }

note "loading $ntags tags (regfs-bench-populate --plain)"
"$POPULATE" --plain "$ext4" "$STORE" 1 "$ntags" >>"$hlog" 2>&1 || broken "regfs-bench-populate failed"
mkdir -p "$ext4/bench"
note "writing the random files (${size_mib} and ${conc_mib} MiB)"
dd if=/dev/urandom of="$ext4/bench/big" bs=1M count="$size_mib" status=none
dd if=/dev/urandom of="$ext4/bench/mid" bs=1M count="$conc_mib" status=none
big_sha=$(sha "$ext4/bench/big")
mid_sha=$(sha "$ext4/bench/mid")

# mount_mode MODE: mount the store, with -o no_passthrough for that mode.
mount_mode() {
	local opts=()
	[[ $1 == no_passthrough ]] && opts=(-o no_passthrough)
	quiet regfs_mount "$STORE" "$MNT" "${opts[@]}"
}

mount_mode "${modes[0]}"
note "publishing bench/big and bench/mid through incoming/"
cp "$ext4/bench/big" "$MNT/incoming/bench/big" || broken "cp into incoming/bench/big failed"
cp "$ext4/bench/mid" "$MNT/incoming/bench/mid" || broken "cp into incoming/bench/mid failed"
n=$(find "$MNT/registry/r0001" -type f | wc -l)
[[ $n == "$ntags" ]] || broken "registry/r0001 holds $n tags, not $ntags"
n=$(find "$ext4/r0001" -type f | wc -l)
[[ $n == "$ntags" ]] || broken "ext4/r0001 holds $n files, not $ntags"
sync

server_opts=()
[[ -n $ganesha_mdcache ]] && server_opts=(--mdcache "$ganesha_mdcache")
nfs_export /regfs "$MNT" --ro
nfs_export /ext4 "$ext4" --ro
quiet nfs_start "${server_opts[@]}"

# check_bytes VERSION: every file read through NFS is its source's bytes.
check_bytes() {
	local v=$1 side got
	for side in /regfs/registry /ext4; do
		got=$(nfs_cat "$v" "$side/bench/big" | sha256sum) || broken "nfs-cat v$v $side/bench/big failed"
		[[ ${got%% *} == "$big_sha" ]] || broken "v$v $side/bench/big: other bytes than the source's"
		got=$(nfs_cat "$v" "$side/bench/mid" | sha256sum) || broken "nfs-cat v$v $side/bench/mid failed"
		[[ ${got%% *} == "$mid_sha" ]] || broken "v$v $side/bench/mid: other bytes than the source's"
	done
}
for v in "${versions[@]}"; do
	check_bytes "$v"
done
note "the files read back byte-exact over NFSv${versions[*]}, both exports"

# --- (a) and (c), per regfs mode ----------------------------------------------------

section_a() {
	local mode=$1 v i
	for v in "${versions[@]}"; do
		note "(a) $mode, NFSv$v: warm reads of ${size_mib} MiB"
		reset_sides
		cat_file "$v" /regfs/registry/bench/big
		cat_file "$v" /ext4/bench/big
		for ((i = 0; i < runs; i++)); do
			alternate "$i" \
				"measure regfs cat_file $v /regfs/registry/bench/big" \
				"measure ext4 cat_file $v /ext4/bench/big"
		done
		report "(a) v$v ${size_mib}M warm, $mode" 0.9

		note "(a) $mode, NFSv$v: cold reads of ${size_mib} MiB"
		reset_sides
		for ((i = 0; i < runs; i++)); do
			alternate "$i" \
				"drop_caches; measure regfs cat_file $v /regfs/registry/bench/big" \
				"drop_caches; measure ext4 cat_file $v /ext4/bench/big"
		done
		report "(a) v$v ${size_mib}M cold, $mode" 0.9
	done
}

section_c() {
	local mode=$1 v i
	for v in "${versions[@]}"; do
		note "(c) $mode, NFSv$v: $nreaders readers of ${conc_mib} MiB at once, warm"
		reset_sides
		cat_file "$v" /regfs/registry/bench/mid
		cat_file "$v" /ext4/bench/mid
		for ((i = 0; i < runs; i++)); do
			alternate "$i" \
				"measure regfs cat_many $v /regfs/registry/bench/mid" \
				"measure ext4 cat_many $v /ext4/bench/mid"
		done
		report "(c) v$v ${nreaders}x${conc_mib}M warm, $mode" 0.9

		note "(c) $mode, NFSv$v: $nreaders readers of ${conc_mib} MiB at once, cold"
		reset_sides
		for ((i = 0; i < runs; i++)); do
			alternate "$i" \
				"drop_caches; measure regfs cat_many $v /regfs/registry/bench/mid" \
				"drop_caches; measure ext4 cat_many $v /ext4/bench/mid"
		done
		report "(c) v$v ${nreaders}x${conc_mib}M cold, $mode" 0.9
	done
}

# passthrough_state: what the daemon's log says about passthrough.
passthrough_state() {
	if grep -q 'kernel passthrough' "$REGFS_LOG" 2>/dev/null; then
		grep -h 'kernel passthrough' "$REGFS_LOG" | tail -n 1 | sed 's/^.*\] *//'
	else
		echo "no passthrough in the log"
	fi
}

if want a || want c; then
	for ((mi = 0; mi < ${#modes[@]}; mi++)); do
		mode=${modes[mi]}
		if ((mi > 0)); then
			# ganesha keeps the old mount's root open: stop it first,
			# start it again on the new mount.
			quiet nfs_stop
			quiet regfs_umount "$MNT"
			mount_mode "$mode"
			quiet nfs_start "${server_opts[@]}"
		fi
		note "regfs mounted in mode $mode (daemon $REGFS_PID: $(passthrough_state))"
		if want a; then section_a "$mode"; fi
		if want c; then section_c "$mode"; fi
	done
fi

# --- (b) cold listing -------------------------------------------------------------

# fresh_list SIDE VERSION PATH: restart ganesha, drop the caches, time one
# listing.
fresh_list() {
	quiet nfs_restart
	drop_caches
	measure "$1" list_dir "$2" "$3"
	check_listing "$2" "$3"
}

# fuse_requests CMD...: run CMD (it must not exit) with the
# fuse_request_send tracepoint on for the regfs mount's connection, in a
# tracing instance of our own, removed at once (or at exit); set
# fuse_counts to how many requests of each kind CMD cost, most first.
# In the main shell (tracefs mounted here is unmounted at exit).
trace_inst=
trace_remove() {
	[[ -n $trace_inst && -d $trace_inst ]] || return 0
	echo 0 >"$trace_inst/events/fuse/fuse_request_send/enable" 2>/dev/null
	rmdir "$trace_inst" 2>/dev/null || echo "bench-nfs: could not remove $trace_inst" >&2
	trace_inst=
}
# trace_exit STATUS: the EXIT trap while an instance exists.
trace_exit() {
	trace_remove
	return "$1"
}
fuse_requests() {
	local tr=/sys/kernel/tracing dev rc=0
	if [[ ! -d $tr/events/fuse ]] && ! is_mounted "$tr" &&
		mount -t tracefs nodev "$tr" 2>/dev/null; then
		track_mount "$tr"
	fi
	if [[ ! -d $tr/events/fuse/fuse_request_send ]]; then
		"$@" || rc=$?
		fuse_counts="not counted (no fuse tracepoints in $tr)"
		return "$rc"
	fi
	dev=$(stat -c %d "$MNT")
	trace_inst=$tr/instances/regfs-bench-nfs.$$
	trap 'trace_exit $?; _lib_cleanup' EXIT
	mkdir "$trace_inst"
	echo "connection == $dev" >"$trace_inst/events/fuse/fuse_request_send/filter"
	echo 1024 >"$trace_inst/buffer_size_kb"
	echo 1 >"$trace_inst/events/fuse/fuse_request_send/enable"
	"$@" || rc=$?
	echo 0 >"$trace_inst/tracing_on"
	# "... fuse_request_send: connection D req N opcode 27 (FUSE_OPENDIR) len L"
	fuse_counts=$(awk '{ for (i = 1; i < NF; i++) if ($i == "opcode") { n[$(i + 2)]++; break } }
		END { for (o in n) { x = o; gsub(/[()]|FUSE_/, "", x); printf "%d %s\n", n[o], x } }' \
		"$trace_inst/trace" | sort -rn |
		awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }') || fuse_counts="(the trace could not be read)"
	trace_remove
	trap _lib_cleanup EXIT
	return "$rc"
}

if want b; then
	if [[ ${modes[0]} != "${modes[-1]}" ]] && { want a || want c; }; then
		quiet nfs_stop
		quiet regfs_umount "$MNT"
		mount_mode "${modes[0]}"
		quiet nfs_start "${server_opts[@]}"
	fi
	for v in "${versions[@]}"; do
		note "(b) NFSv$v: nfs-ls of $ntags tags, ganesha restarted and caches dropped before each"
		reset_sides
		for ((i = 0; i < runs; i++)); do
			alternate "$i" \
				"fresh_list regfs $v /regfs/registry/r0001" \
				"fresh_list ext4 $v /ext4/r0001"
		done
		report "(b) v$v ls $ntags tags cold" 0.8
		if ((trace)); then
			quiet nfs_restart
			drop_caches
			fuse_requests nfs_ls "$v" /regfs/registry/r0001 >"$work/ls.out" ||
				broken "nfs-ls v$v /regfs/registry/r0001 failed"
			note "    FUSE requests of one more cold listing, untimed: $fuse_counts"
			check_listing "$v" /regfs/registry/r0001
		fi
	done
fi

quiet nfs_teardown
quiet regfs_umount "$MNT"

for log in "$work"/regfs.*.log; do
	[[ -f $log ]] || continue
	if grep -Ei 'error|warn|Sanitizer' "$log" >/dev/null; then
		note "the daemon logged in ${log##*/}:"
		grep -Ei 'error|warn|Sanitizer' "$log" | head -n 10
	fi
done

echo
echo "bench-nfs: load average at the end $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs): other work on the machine shows in the spread of the runs"
printf '%-40s %10s %10s %8s   %-8s %s\n' "measure (median of $runs)" regfs ext4 ratio target result
for line in "${results[@]}"; do
	echo "$line"
done
echo "(ratios are ext4 time / regfs time: regfs's relative speed through the same ganesha)"

# The harness's end: its EXIT trap cleans up and keeps this status.
if ((strict && missed)); then
	fail "$missed target(s) missed"
else
	ok "bench-nfs done, $missed target(s) missed"
fi
done_testing
