#!/bin/bash
# bench-serve.sh - regctl serve against the CNCF Distribution registry,
# side by side in one run.
#
# Prints ratios, never lone absolute times: machines here are shared and
# noisy, so every figure is the median of BENCH_RUNS runs, and the two sides
# of a ratio are measured alternately (regctl serve first in even runs,
# Distribution first in odd ones), on the same disk, with the same client.
#
# The servers: `regctl serve` (REGCTL) on a store in the work folder, and
# Debian's docker-registry (Distribution 2.8, `docker-registry serve
# CONFIG`) with filesystem storage in the work folder and Debian's shipped
# `storage: cache: blobdescriptor: inmemory` (BENCH_DIST_CACHE=none drops
# it), both on 127.0.0.1, each writing its default access log to a file.
# What is pulled was pushed to each through its own API first, untimed.
# Each figure shows the server's CPU (utime + stime from /proc) beside it.
#
#   (a) GET of a BENCH_SIZE_MIB random blob with `curl -o /dev/null`,
#       enough GETs back to back for about 4 GiB a figure, the blob file of
#       either side in the page cache: throughput, target regctl serve /
#       Distribution >= 1.3. curl's CPU is shown too: near 100% of a core,
#       curl, not the server, bounds the figure (regctl serve sends with
#       sendfile).
#   (b) BENCH_PUSHES pushes of BENCH_PUSH_KIB KiB random ORAS-shaped
#       artifacts, one after the other on one keep-alive connection, each as
#       oras push sends it: HEAD the layer, POST + PUT it, HEAD the empty
#       config {} (uploaded by the first push of a repository), PUT the
#       manifest by tag. A fresh repository every run. The client is
#       tests/bench/serve-client.py (push), the same for both sides: pushes
#       a second, target >= 2.
#   (c) BENCH_CLIENTS concurrent clients pulling a 10-blob image (a config
#       and 9 layers of BENCH_BLOB_KIB KiB): each its own keep-alive
#       connection, BENCH_ROUNDS pulls of GET manifest by tag + 10 blob GETs
#       one after the other. serve-client.py load (one thread, a selector
#       loop; it checks every status and length, and the blobs' digests once
#       before the clock starts). Requests a second, target >= 1.5; the p99
#       latency of a request on each side; the client's CPU (a share of one
#       core close to 100% would mean the client is the bottleneck).
#   (d) a cold pull through each side in front of the same origin
#       Distribution: a fresh `regctl serve --store EMPTY --upstream ORIGIN`
#       against a fresh Distribution in proxy mode (`proxy: remoteurl:`),
#       every run. The image: a config and 9 layers, one of BENCH_COLD_MIB
#       MiB and 8 of BENCH_BLOB_KIB KiB, pulled by serve-client.py pull:
#       the manifest by tag, then the blobs over BENCH_COLD_PARALLEL
#       connections (docker pulls 3 at once); BENCH_COLD_KIND=artifact makes
#       it an ORAS artifact (the empty config {}) instead of an image.
#       Memory is levelled before each timed pull (level_memory in
#       stats.sh): both sides store what they fetch. Time, target
#       Distribution's / regctl serve's >= 1.0; and the origin's GETs of
#       each blob a pull cost (its access log, once the count stays put),
#       target 1 for regctl serve. A pull that fails through regctl serve is
#       reported (the client's error, the server's log) and counted as a
#       missed target, and the rest goes on; the proxy's side must work.
#
# Environment:
#   BENCH_SIZE_MIB       size of the blob of (a)                  (default 1024)
#   BENCH_PUSHES         pushes a run of (b)                      (default 200)
#   BENCH_PUSH_KIB       size of each pushed artifact             (default 4)
#   BENCH_CLIENTS        concurrent clients of (c)                (default 64)
#   BENCH_ROUNDS         image pulls per client a run of (c)      (default 20)
#   BENCH_BLOB_KIB       size of the small layers of (c) and (d)  (default 256)
#   BENCH_COLD_MIB       size of the big layer of (d)             (default 256)
#   BENCH_COLD_PARALLEL  blob GETs at once in a pull of (d)       (default 3)
#   BENCH_COLD_KIND      image or artifact, for (d)               (default image)
#   BENCH_DIST_CACHE     inmemory or none: Distribution's blob descriptor
#                        cache                                    (default inmemory)
#   BENCH_RUNS           runs per figure, the median is reported  (default 5)
#   BENCH_SECTIONS       which of (a) to (d) to run, e.g. "ac"    (default abcd)
#   BENCH_DIR            where the temporary folder goes          (default /var/tmp)
#   BENCH_STRICT         1: exit 1 when a target is missed        (default 0)
#   BENCH_LEVEL          0: do not level memory before (d)'s pulls (default 1)
#   BENCH_BALLAST_DIR    where the ballast goes                   (default /dev/shm)
#   REGCTL               the tool (default REGFS_BUILD_DIR/regctl, REGFS_BUILD_DIR
#                        defaulting to build/ at the top of the tree; measure a
#                        Release build)
#   REGFS_TEST_TIMEOUT   seconds before the whole run is aborted and cleaned
#                        up (default 3000)
#
# It uses the integration tests' harness (tests/integration/lib.sh and
# serve.sh, so also what lib.sh checks for: /dev/fuse and a built regfs,
# though nothing is mounted): every process it starts is killed by PID at
# exit, however the run ends, and the temp folder is removed. It needs
# Debian's docker-registry, curl and python3. Everything stays on 127.0.0.1.
# Exit status: 0 done (targets missed or not, unless BENCH_STRICT=1), 1 a
# server or the set-up misbehaved (a wrong status, length or digest; a
# failed (d) pull through regctl serve is a missed target instead), or a
# strict target was missed, 77 a tool is missing.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
size_mib=${BENCH_SIZE_MIB:-1024}
npushes=${BENCH_PUSHES:-200}
push_kib=${BENCH_PUSH_KIB:-4}
nclients=${BENCH_CLIENTS:-64}
rounds=${BENCH_ROUNDS:-20}
blob_kib=${BENCH_BLOB_KIB:-256}
cold_mib=${BENCH_COLD_MIB:-256}
cold_par=${BENCH_COLD_PARALLEL:-3}
cold_kind=${BENCH_COLD_KIND:-image}
dist_cache=${BENCH_DIST_CACHE:-inmemory}
runs=${BENCH_RUNS:-5}
strict=${BENCH_STRICT:-0}
sections=${BENCH_SECTIONS:-abcd}
bench_dir=${BENCH_DIR:-/var/tmp}

die() {
	echo "bench-serve: $*" >&2
	exit 2
}
note() { echo "bench-serve: $*"; }

for v in "$size_mib" "$npushes" "$push_kib" "$nclients" "$rounds" "$blob_kib" \
	"$cold_mib" "$cold_par" "$runs"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "not a positive number: '$v'"
done
[[ $sections =~ ^[abcd]+$ ]] || die "BENCH_SECTIONS: not a set of the letters a to d: '$sections'"
[[ $cold_kind == image || $cold_kind == artifact ]] ||
	die "BENCH_COLD_KIND: image or artifact, not '$cold_kind'"
[[ $dist_cache == inmemory || $dist_cache == none ]] ||
	die "BENCH_DIST_CACHE: inmemory or none, not '$dist_cache'"
[[ -d $bench_dir && -w $bench_dir ]] || die "BENCH_DIR '$bench_dir' is not a writable folder"
bench_dir=$(cd "$bench_dir" && pwd -P)

# The harness puts its temp folder (the store, the registries' storage) in
# TMPDIR: here, BENCH_DIR.
export TMPDIR=$bench_dir
: "${REGFS_SOURCE_DIR:=$top}"
: "${REGFS_TEST_TIMEOUT:=3000}"
export REGFS_SOURCE_DIR REGFS_TEST_TIMEOUT
# shellcheck source=../integration/lib.sh
. "$top/tests/integration/lib.sh"
# shellcheck source=../integration/serve.sh
. "$top/tests/integration/serve.sh"
require_cmd docker-registry python3 curl cmp timeout
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL: build first (or set REGCTL)"

client=$here/serve-client.py
work=$TEST_TMP
size=$((size_mib * 1024 * 1024))
# Any single transfer of (a): at least 10 MiB/s, or it is reported as hung.
xfer_max=$((60 + size_mib / 10))
# Memory freed a moment before each timed pull of (d) (see level_memory):
# the big layer twice over (the server stores it, the page cache keeps the
# origin's copy) and room for the rest.
ballast_mib=$((2 * cold_mib + 256))
hz=$(getconf CLK_TCK)

# shellcheck source=stats.sh
. "$here/stats.sh"

max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
# per A B [SCALE]: A / B * SCALE, to three decimals.
per() { awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN { printf "%.3f", a / b * s }'; }

# result_count LABEL REGFS OTHER TARGET: a count of regctl serve's that must
# be exactly TARGET.
result_count() {
	local verdict=PASS
	if [[ $2 != "$4" ]]; then
		verdict=MISS
		missed=$((missed + 1))
	fi
	results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "$1" "$2" "$3" - "== $4" "$verdict")")
}
info() {
	results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "$1" "$2" "$3" "$4" - info)")
}
# result_failed LABEL OTHER TARGET: regctl serve's side could not be measured.
result_failed() {
	missed=$((missed + 1))
	results+=("$(printf '%-40s %10s %10s %8s   %-8s %s' "$1" FAILED "$2" - "$3" MISS)")
}

# broken WHAT: a server or the set-up misbehaved; say so precisely and stop.
broken() {
	echo "bench-serve: FAILED: $*" >&2
	bail_out "$*"
}

# proc_cpu PID: the CPU seconds (user + system, all threads) it used so far.
proc_cpu() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return 0
	}
	s=${s##*) }
	# shellcheck disable=SC2086 # split into the fields after the name
	set -- $s
	awk -v u="${12}" -v k="${13}" -v hz="$hz" 'BEGIN { printf "%.2f", (u + k) / hz }'
}
cpu_since() { awk -v a="$1" -v b="$(proc_cpu "$2")" 'BEGIN { printf "%.2f", b - a }'; }
# children_cpu: the CPU seconds of the waited-for children of the main shell
# so far (curl's, in (a): a command's times reach its parent when reaped).
children_cpu() {
	local s
	s=$(cat "/proc/$$/stat")
	s=${s##*) }
	# shellcheck disable=SC2086 # split into the fields after the name
	set -- $s
	awk -v u="${14}" -v k="${15}" -v hz="$hz" 'BEGIN { printf "%.2f", (u + k) / hz }'
}
# fmt N DECIMALS: N rounded.
fmt() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.*f", d, n }'; }

# kv FILE KEY: the value of KEY=VALUE in the client's one-line answer.
kv() {
	awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' "$1"
}

# run_client OUT ARGS...: serve-client.py ARGS, its answer to OUT, its
# complaints to OUT.err; its status.
run_client() {
	local out=$1 rc=0
	shift
	timeout -k 5 "${CLIENT_MAX:-600}" python3 "$client" "$@" >"$out" 2>"$out.err" || rc=$?
	return "$rc"
}
# client_ok OUT ARGS...: run_client, which must succeed.
client_ok() {
	run_client "$@" || {
		diag_file "$1.err" 20
		broken "serve-client.py ${*:2} failed"
	}
}

# --- Distribution --------------------------------------------------------------

declare -A dist_pid=() dist_url=() dist_dir=()

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# dist_start NAME [PROXY-OF-URL]: a Distribution registry on a free loopback
# port, its storage, config and log in work/dist-NAME; in the main shell.
dist_start() {
	local name=$1 proxy=${2:-} dir=$work/dist-$1 port pid log
	[[ $BASHPID == "$_lib_main_pid" ]] || bail_out "dist_start: call it in the main shell"
	[[ -z ${dist_pid[$name]:-} ]] || bail_out "dist_start: $name runs already"
	mkdir -p "$dir/storage"
	log=$dir/registry.log
	_lib_logs+=("$log")
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		{
			printf 'version: 0.1\n'
			printf 'log:\n  level: info\n  formatter: text\n'
			printf '  fields:\n    registry: %s\n' "$name"
			printf 'storage:\n'
			if [[ $dist_cache == inmemory ]]; then
				printf '  cache:\n    blobdescriptor: inmemory\n'
			fi
			printf '  filesystem:\n    rootdirectory: %s\n' "$dir/storage"
			printf '  maintenance:\n    uploadpurging:\n      enabled: false\n'
			printf 'http:\n  addr: 127.0.0.1:%s\n  secret: regfs-bench-%s\n' "$port" "$name"
			if [[ -n $proxy ]]; then
				printf 'proxy:\n  remoteurl: %s\n' "$proxy"
			fi
		} >"$dir/config.yml"
		printf '### %s: docker-registry serve %s (port %s)\n' \
			"$(date -u +%FT%TZ)" "$dir/config.yml" "$port" >>"$log"
		docker-registry serve "$dir/config.yml" </dev/null >>"$log" 2>&1 &
		pid=$!
		track_pid "$pid"
		if wait_until 10 'curl -s -o /dev/null --max-time 2 "http://127.0.0.1:'"$port"'/v2/" || ! proc_alive '"$pid"; then
			if proc_alive "$pid"; then
				dist_pid[$name]=$pid
				dist_url[$name]=http://127.0.0.1:$port
				dist_dir[$name]=$dir
				return 0
			fi
			reap "$pid"
			tail -n 5 "$log" | grep -q 'address already in use' && continue
			diag_file "$log"
			bail_out "docker-registry $name exited (status $REAP_RC) before answering"
		fi
		diag_file "$log"
		bail_out "docker-registry $name did not answer GET /v2/ within 10 s"
	done
	bail_out "dist_start: no free port for $name"
}

dist_stop() {
	local pid=${dist_pid[$1]}
	kill_wait TERM "$pid"
	proc_alive "$pid" && broken "docker-registry $1 ($pid) survived SIGTERM"
	unset "dist_pid[$1]"
}

# dist_blob NAME DIGEST: the path of a blob in a registry's storage.
dist_blob() {
	local hex=${2#sha256:}
	printf '%s\n' "${dist_dir[$1]}/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
}
# regfs_blob STORE DIGEST: the path of a blob in a store.
regfs_blob() { printf '%s\n' "$1/blobs/sha256/${2#sha256:}"; }

# drop_store DIR: remove a store or a registry's storage (a store's blobs are
# read-only) and let the disk write back before the next measure.
drop_store() {
	chmod -R u+w "$1" 2>/dev/null || :
	rm -rf "$1"
	sync
}

echo "bench-serve: work folder $work"
echo "bench-serve: $runs runs per figure; (a) ${size_mib} MiB blob; (b) $npushes pushes of ${push_kib} KiB;" \
	"(c) $nclients clients x $rounds pulls of config + 9 x ${blob_kib} KiB; (d) $cold_kind of" \
	"${cold_mib} MiB + 8 x ${blob_kib} KiB, $cold_par GETs at once"
echo "bench-serve: $(nproc) CPUs, kernel $(uname -r), $(df -h --output=source,fstype "$work" | tail -n 1 | tr -s ' ')"
if [[ ${BENCH_LEVEL:-1} == 0 ]]; then
	echo "bench-serve: memory not levelled before (d)'s pulls (BENCH_LEVEL=0)"
else
	echo "bench-serve: a ${ballast_mib} MiB ballast in ${BENCH_BALLAST_DIR:-/dev/shm} is written and removed before each pull of (d) (BENCH_LEVEL=0: not)"
fi
echo "bench-serve: regctl $REGCTL ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$REGCTL")/CMakeCache.txt" 2>/dev/null || :) build)," \
	"$(docker-registry --version 2>/dev/null | head -n 1) (blob descriptor cache: $dist_cache)," \
	"$(curl --version | head -n 1 | cut -d' ' -f1-2), $(python3 --version 2>&1)"

# --- the servers of (a) to (c) ---------------------------------------------------

if [[ $sections == *[abc]* ]]; then
	store=$work/store
	serve_start main --store "$store"
	R=$SERVE_MAIN_URL
	R_PID=$SERVE_MAIN_PID
	dist_start main
	D=${dist_url[main]}
	D_PID=${dist_pid[main]}
	note "regctl serve at $R (pid $R_PID), Distribution at $D (pid $D_PID)"
fi

# regfs_first I: regctl serve goes first in run I (the even runs).
regfs_first() { (($1 % 2 == 0)); }

# --- (a) a big blob GET with curl -----------------------------------------------

section_a() {
	note "(a) ${size_mib} MiB blob GETs with curl: regctl serve / Distribution"
	local big=$work/big digest hex i k reps f_r f_d u
	dd if=/dev/urandom of="$big" bs=1M count="$size_mib" status=none
	hex=$(sha "$big")
	digest=sha256:$hex
	CLIENT_MAX=$((2 * xfer_max)) client_ok "$work/push.out" image "$R" bench/big v1 artifact "$big"
	CLIENT_MAX=$((2 * xfer_max)) client_ok "$work/push.out" image "$D" bench/big v1 artifact "$big"
	f_r=$(regfs_blob "$store" "$digest")
	f_d=$(dist_blob main "$digest")
	[[ -f $f_r ]] || broken "(a) no blob file $f_r in regctl serve's store after the push"
	[[ -f $f_d ]] || broken "(a) no blob file $f_d in Distribution's storage after the push"
	# Both sides serve the pushed bytes.
	for u in "$R" "$D"; do
		curl -sS --fail --max-time "$xfer_max" -o "$work/check.out" "$u/v2/bench/big/blobs/$digest" ||
			broken "(a) curl $u/v2/bench/big/blobs/$digest failed"
		cmp -s "$big" "$work/check.out" || broken "(a) $u served other bytes than were pushed"
		rm -f "$work/check.out"
	done
	rm -f "$big"
	reps=$(((4096 + size_mib - 1) / size_mib))
	# get_reps URL: the blob reps times to /dev/null, every length checked.
	# shellcheck disable=SC2317 # called through timed
	get_reps() {
		local got
		for ((k = 0; k < reps; k++)); do
			got=$(curl -sS --fail --max-time "$xfer_max" -o /dev/null -w '%{size_download}' \
				"$1/v2/bench/big/blobs/$digest") || broken "(a) curl $1/v2/bench/big/blobs/$digest failed"
			[[ $got == "$size" ]] || broken "(a) $1 sent $got bytes, not $size"
		done
	}
	a_r=() a_d=() cpu_r=() cpu_d=() curl_r=() curl_d=()
	# side URL PID TIMES SERVER-CPU CURL-CPU (as a share of one core)
	side() {
		local -n t=$3 scpu=$4 ccpu=$5
		local c0 k0
		c0=$(proc_cpu "$2")
		k0=$(children_cpu)
		timed "$3" get_reps "$1"
		scpu+=("$(cpu_since "$c0" "$2")")
		ccpu+=("$(per "$(awk -v a="$k0" -v b="$(children_cpu)" 'BEGIN { print b - a }')" "${t[-1]}" 100)")
	}
	side_r() { side "$R" "$R_PID" a_r cpu_r curl_r; }
	side_d() { side "$D" "$D_PID" a_d cpu_d curl_d; }
	# Both blob files in the page cache, before anything is timed.
	cat "$f_r" "$f_d" >/dev/null
	get_reps "$R"
	get_reps "$D"
	for ((i = 0; i < runs; i++)); do
		if regfs_first "$i"; then
			side_r
			side_d
		else
			side_d
			side_r
		fi
		note "(a) run $((i + 1)): regctl serve ${a_r[i]} s ($(per $((reps * size_mib)) "${a_r[i]}") MiB/s," \
			"server CPU ${cpu_r[i]} s, curl $(fmt "${curl_r[i]}" 0)% of a core), Distribution ${a_d[i]} s" \
			"($(per $((reps * size_mib)) "${a_d[i]}") MiB/s, server CPU ${cpu_d[i]} s, curl $(fmt "${curl_d[i]}" 0)%)"
	done
	local r d
	r=$(median "${a_r[@]}")
	d=$(median "${a_d[@]}")
	note "(a) every run (s, $reps GETs of ${size_mib} MiB): regctl serve ${a_r[*]}; Distribution ${a_d[*]}"
	note "(a) median regctl serve $(per $((reps * size_mib)) "$r") MiB/s, Distribution $(per $((reps * size_mib)) "$d") MiB/s"
	result "(a) blob GET, curl (MiB/s)" "$(per $((reps * size_mib)) "$r" | cut -d. -f1)" \
		"$(per $((reps * size_mib)) "$d" | cut -d. -f1)" "$(ratio "$d" "$r")" ">=" 1.3
	info "    server CPU (s a GiB)" "$(per "$(median "${cpu_r[@]}")" $((reps * size_mib)) 1024)" \
		"$(per "$(median "${cpu_d[@]}")" $((reps * size_mib)) 1024)" -
	info "    curl CPU (% of one core)" "$(fmt "$(median "${curl_r[@]}")" 0)" "$(fmt "$(median "${curl_d[@]}")" 0)" -
}

# --- (b) pushes of small artifacts -----------------------------------------------

section_b() {
	note "(b) $npushes pushes of ${push_kib} KiB artifacts: regctl serve / Distribution"
	local i
	b_r=() b_d=() bc_r=() bc_d=() bp_r=() bp_d=()
	push_side() { # URL PID SECONDS-ARRAY CPU-ARRAY P99-ARRAY RUN
		local -n secs=$3 cpus=$4 p99=$5
		local c0 out=$work/push-$6.out
		c0=$(proc_cpu "$2")
		client_ok "$out" push "$1" "bench/push$6" "$npushes" $((push_kib * 1024))
		cpus+=("$(cpu_since "$c0" "$2")")
		secs+=("$(kv "$out" seconds)")
		p99+=("$(kv "$out" p99_ms)")
	}
	for ((i = 0; i < runs; i++)); do
		if regfs_first "$i"; then
			push_side "$R" "$R_PID" b_r bc_r bp_r "$i"
			push_side "$D" "$D_PID" b_d bc_d bp_d "$i"
		else
			push_side "$D" "$D_PID" b_d bc_d bp_d "$i"
			push_side "$R" "$R_PID" b_r bc_r bp_r "$i"
		fi
		note "(b) run $((i + 1)): regctl serve ${b_r[i]} s ($(per "$npushes" "${b_r[i]}") pushes/s," \
			"p99 ${bp_r[i]} ms, CPU ${bc_r[i]} s), Distribution ${b_d[i]} s ($(per "$npushes" "${b_d[i]}")" \
			"pushes/s, p99 ${bp_d[i]} ms, CPU ${bc_d[i]} s)"
	done
	# Every push is there: the last tag of the last run, by both.
	for u in "$R" "$D"; do
		curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
			"$u/v2/bench/push$((runs - 1))/manifests/p$(printf '%04d' $((npushes - 1)))" ||
			broken "(b) $u does not serve the last pushed tag"
	done
	local r d
	r=$(median "${b_r[@]}")
	d=$(median "${b_d[@]}")
	note "(b) every run (s): regctl serve ${b_r[*]}; Distribution ${b_d[*]}"
	result "(b) $npushes pushes of ${push_kib} KiB (pushes/s)" "$(per "$npushes" "$r" | cut -d. -f1)" \
		"$(per "$npushes" "$d" | cut -d. -f1)" "$(ratio "$d" "$r")" ">=" 2
	info "    p99 of a push (ms)" "$(fmt "$(median "${bp_r[@]}")" 1)" "$(fmt "$(median "${bp_d[@]}")" 1)" -
	info "    server CPU (ms a push)" "$(per "$(median "${bc_r[@]}")" "$npushes" 1000)" \
		"$(per "$(median "${bc_d[@]}")" "$npushes" 1000)" -
}

# --- (c) concurrent pulls of a 10-blob image --------------------------------------

section_c() {
	note "(c) $nclients clients x $rounds pulls of a 10-blob image: regctl serve / Distribution"
	local i k files=()
	for ((k = 1; k <= 9; k++)); do
		head -c $((blob_kib * 1024)) /dev/urandom >"$work/layer$k"
		files+=("$work/layer$k")
	done
	client_ok "$work/img.out" image "$R" bench/image v1 image "${files[@]}"
	client_ok "$work/img.out" image "$D" bench/image v1 image "${files[@]}"
	rm -f "${files[@]}"
	c_r=() c_d=() p_r=() p_d=() cc_r=() cc_d=() cl_r=() cl_d=()
	load_side() { # URL PID RPS P99 SERVER-CPU CLIENT-SHARE RUN
		local -n rps=$3 lat99=$4 cpu_req=$5 cpu_cli=$6
		local c0 out=$work/load-$7.out n
		c0=$(proc_cpu "$2")
		client_ok "$out" load "$1" bench/image v1 "$nclients" "$rounds"
		n=$(kv "$out" requests)
		cpu_req+=("$(per "$(cpu_since "$c0" "$2")" "$n" 1000000)")
		rps+=("$(kv "$out" rps)")
		lat99+=("$(kv "$out" p99_ms)")
		cpu_cli+=("$(per "$(kv "$out" client_cpu)" "$(kv "$out" seconds)" 100)")
	}
	for ((i = 0; i < runs; i++)); do
		if regfs_first "$i"; then
			load_side "$R" "$R_PID" c_r p_r cc_r cl_r "r$i"
			load_side "$D" "$D_PID" c_d p_d cc_d cl_d "d$i"
		else
			load_side "$D" "$D_PID" c_d p_d cc_d cl_d "d$i"
			load_side "$R" "$R_PID" c_r p_r cc_r cl_r "r$i"
		fi
		note "(c) run $((i + 1)): regctl serve ${c_r[i]} req/s (p99 ${p_r[i]} ms, server $(fmt "${cc_r[i]}" 0) us" \
			"CPU a request, client $(fmt "${cl_r[i]}" 0)% of a core), Distribution ${c_d[i]} req/s (p99 ${p_d[i]} ms," \
			"server $(fmt "${cc_d[i]}" 0) us, client $(fmt "${cl_d[i]}" 0)%)"
	done
	local r d
	r=$(median "${c_r[@]}")
	d=$(median "${c_d[@]}")
	note "(c) every run (req/s): regctl serve ${c_r[*]}; Distribution ${c_d[*]}"
	note "(c) every run (p99 ms): regctl serve ${p_r[*]}; Distribution ${p_d[*]}"
	result "(c) $nclients clients, 10-blob image (req/s)" "${r%.*}" "${d%.*}" "$(ratio "$r" "$d")" ">=" 1.5
	info "    p99 latency of a request (ms)" "$(fmt "$(median "${p_r[@]}")" 1)" "$(fmt "$(median "${p_d[@]}")" 1)" \
		"$(ratio "$(median "${p_r[@]}")" "$(median "${p_d[@]}")")"
	info "    server CPU (us a request)" "$(fmt "$(median "${cc_r[@]}")" 0)" "$(fmt "$(median "${cc_d[@]}")" 0)" -
	info "    client CPU (% of one core)" "$(fmt "$(median "${cl_r[@]}")" 0)" "$(fmt "$(median "${cl_d[@]}")" 0)" -
}

# --- (d) cold pulls through regctl serve / Distribution's proxy ---------------------

section_d() {
	note "(d) cold pulls of a $cold_kind through regctl serve --upstream / Distribution proxy"
	local i k files=() blobs=() m
	dist_start origin
	O=${dist_url[origin]}
	head -c $((cold_mib * 1024 * 1024)) /dev/urandom >"$work/cold0"
	files+=("$work/cold0")
	for ((k = 1; k <= 8; k++)); do
		head -c $((blob_kib * 1024)) /dev/urandom >"$work/cold$k"
		files+=("$work/cold$k")
	done
	CLIENT_MAX=$((2 * xfer_max)) client_ok "$work/cold.out" image "$O" cold/app v1 "$cold_kind" "${files[@]}"
	rm -f "${files[@]}"
	m=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$O/v2/cold/app/manifests/v1") ||
		broken "(d) the origin does not serve cold/app:v1"
	local d
	mapfile -t blobs < <(python3 -c 'import json, sys
m = json.loads(sys.argv[1])
for d in [m["config"]] + m["layers"]:
    print(d["digest"])' "$m")
	((${#blobs[@]} == 10)) || broken "(d) the image has ${#blobs[@]} blobs, not 10"
	# An artifact's empty config {} is one regctl serve answers itself,
	# never fetches: the counts and the store's files go without it.
	local empty=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a all=("${blobs[@]}")
	blobs=()
	for d in "${all[@]}"; do
		[[ $d == "$empty" ]] || blobs+=("$d")
	done
	local origin_files=()
	for d in "${blobs[@]}"; do origin_files+=("$(dist_blob origin "$d")"); done
	# origin_counts METHOD: the origin's requests of that method for each
	# blob of the image, in order (its access log: any status, any repo).
	origin_counts() {
		awk -v m="\"$1" -v list="${blobs[*]}" '
			BEGIN { n = split(list, ds, " "); for (i = 1; i <= n; i++) c[ds[i]] = 0 }
			$6 == m { p = $7; sub(/\?.*/, "", p); sub(/.*\/blobs\//, "", p); if (p in c) c[p]++ }
			END { for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), c[ds[i]] }' \
			"${dist_dir[origin]}/registry.log"
	}
	# diff_max BEFORE AFTER: the largest increase over the blobs.
	diff_max() {
		awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); m = 0
			for (i = 1; i <= n; i++) if (y[i] - x[i] > m) m = y[i] - x[i]; print m }'
	}
	diff_min() {
		awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); m = -1
			for (i = 1; i <= n; i++) if (m < 0 || y[i] - x[i] < m) m = y[i] - x[i]; print m }'
	}
	# settle: wait (30 s at most) until the origin's log stays put for a
	# second: a proxy may go on downloading after its client is served.
	settle() {
		local last n j
		last=$(wc -l <"${dist_dir[origin]}/registry.log")
		for ((j = 0; j < 60; j++)); do
			sleep 0.5
			n=$(wc -l <"${dist_dir[origin]}/registry.log")
			if [[ $n == "$last" ]] && ((j >= 1)); then return 0; fi
			last=$n
		done
	}
	warm_origin() { cat "${origin_files[@]}" >/dev/null; }

	d_r=() dr_runs=() d_d=() g_r=() g_d=() gmin_r=() h_r=() h_d=() fails_r=()
	cold_regfs() { # RUN
		local name=cold$1 st=$work/cold-store-$1 out=$work/cold-r$1.out before before_h rc=0 d missing=0
		serve_start "$name" --store "$st" --upstream "$O"
		local url_v=SERVE_${name^^}_URL log_v=SERVE_${name^^}_LOG
		local url=${!url_v} log=${!log_v}
		before=$(origin_counts GET)
		before_h=$(origin_counts HEAD)
		level_memory "$ballast_mib"
		run_client "$out" pull "$url" cold/app v1 "$cold_par" || rc=$?
		if ((rc == 0)); then
			d_r+=("$(kv "$out" seconds)")
			dr_runs+=("$(kv "$out" seconds) s")
		else
			dr_runs+=(FAILED)
			fails_r+=("run $(($1 + 1)): $(head -c 700 "$out.err")")
			note "(d) run $(($1 + 1)): the pull through regctl serve FAILED (status $rc): $(head -c 700 "$out.err")"
			note "(d) regctl serve's log, the requests that did not answer 200:"
			grep -E ' (GET|HEAD) ' "$log" | awk '$(NF-2) != 200' | head -n 12 |
				sed 's/^/bench-serve:   /'
		fi
		settle
		local after
		after=$(origin_counts GET)
		gr_runs+=("$(diff_min "$before" "$after")-$(diff_max "$before" "$after")")
		if ((rc == 0)); then
			# Only a whole pull counts: at least one GET of every blob.
			g_r+=("$(diff_max "$before" "$after")")
			gmin_r+=("$(diff_min "$before" "$after")")
			h_r+=("$(diff_max "$before_h" "$(origin_counts HEAD)")")
			for d in "${blobs[@]}"; do
				wait_until 30 test -f "$(regfs_blob "$st" "$d")" || missing=$((missing + 1))
			done
			((missing == 0)) || note "(d) run $(($1 + 1)): $missing blobs not in regctl serve's store 30 s after the pull"
			if (($1 == 0)); then
				run_client "$out.verify" pull "$url" cold/app v1 1 --verify ||
					broken "(d) a warm pull through regctl serve after the cold one: $(cat "$out.verify.err")"
			fi
		fi
		serve_stop "$name"
		((SERVE_RC == 0)) || note "(d) regctl serve $name exited with status $SERVE_RC on SIGTERM"
		drop_store "$st"
	}
	cold_proxy() { # RUN
		local name=proxy$1 out=$work/cold-p$1.out before before_h d
		dist_start "$name" "$O"
		before=$(origin_counts GET)
		before_h=$(origin_counts HEAD)
		level_memory "$ballast_mib"
		client_ok "$out" pull "${dist_url[$name]}" cold/app v1 "$cold_par"
		d_d+=("$(kv "$out" seconds)")
		# It stores what it serves, and may go on after its client is
		# served: until it holds every blob, before counting and the next
		# measure.
		for d in "${blobs[@]}"; do
			wait_until 60 test -f "$(dist_blob "$name" "$d")" ||
				note "(d) $name did not store $d within 60 s"
		done
		settle
		g_d+=("$(diff_max "$before" "$(origin_counts GET)")")
		h_d+=("$(diff_max "$before_h" "$(origin_counts HEAD)")")
		if (($1 == 0)); then
			client_ok "$out.verify" pull "${dist_url[$name]}" cold/app v1 1 --verify
		fi
		dist_stop "$name"
		drop_store "${dist_dir[$name]}/storage"
	}
	for ((i = 0; i < runs; i++)); do
		warm_origin
		if regfs_first "$i"; then
			cold_regfs "$i"
			warm_origin
			cold_proxy "$i"
		else
			cold_proxy "$i"
			warm_origin
			cold_regfs "$i"
		fi
		note "(d) run $((i + 1)): regctl serve ${dr_runs[i]}, origin GETs a blob ${gr_runs[i]} (min-max);" \
			"Distribution proxy ${d_d[i]} s, GETs a blob max ${g_d[i]}, HEADs max ${h_d[i]}"
	done
	dist_stop origin
	local p r
	p=$(median "${d_d[@]}")
	note "(d) every run (s): regctl serve ${d_r[*]:-none}; Distribution proxy ${d_d[*]}"
	note "(d) origin GETs a blob a pull (min-max over the blobs): regctl serve ${gr_runs[*]}; proxy (max) ${g_d[*]}"
	if ((${#fails_r[@]})); then
		note "(d) ${#fails_r[@]} of $runs pulls through regctl serve failed:"
		printf 'bench-serve:   %s\n' "${fails_r[@]}"
	fi
	if ((${#d_r[@]} == runs)); then
		r=$(median "${d_r[@]}")
		result "(d) cold pull vs Distribution proxy (s)" "$r" "$p" "$(ratio "$p" "$r")" ">=" 1.0
	else
		result_failed "(d) cold pull vs Distribution proxy (s)" "$p" ">= 1.0"
	fi
	if ((${#g_r[@]})); then
		# Exactly one: no blob fetched twice, none served without a fetch.
		local gmax gmin
		gmax=$(max "${g_r[@]}")
		gmin=$(printf '%s\n' "${gmin_r[@]}" | sort -g | head -n 1)
		[[ $gmin == "$gmax" ]] || gmax="$gmin-$gmax"
		result_count "(d) origin GETs a blob a pull" "$gmax" "$(max "${g_d[@]}")" 1
		info "    origin HEADs a blob a pull (max)" "$(max "${h_r[@]}")" "$(max "${h_d[@]}")" -
	else
		result_failed "(d) origin GETs a blob a pull" "$(max "${g_d[@]}")" "== 1"
	fi
}

want() { [[ $sections == *$1* ]]; }
if want a; then section_a; fi
if want b; then section_b; fi
if want c; then section_c; fi
if want d; then section_d; fi

if [[ $sections == *[abc]* ]]; then
	serve_stop main
	((SERVE_RC == 0)) || note "regctl serve main exited with status $SERVE_RC on SIGTERM"
	dist_stop main
fi

echo
printf '%-40s %10s %10s %8s   %-8s %s\n' "measure (median of $runs)" regfs Distrib ratio target result
for line in "${results[@]}"; do
	echo "$line"
done
echo "(regfs: regctl serve; Distrib: Distribution 2.8, in (d) in proxy mode; ratios are regctl serve's"
echo " throughput or rate / Distribution's, in (d) the proxy's time / regctl serve's)"

# The harness's end: its EXIT trap cleans up and keeps this status.
if ((strict && missed)); then
	fail "$missed target(s) missed"
else
	ok "bench-serve done, $missed target(s) missed"
fi
done_testing
