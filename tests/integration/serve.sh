# shellcheck shell=bash
#
# serve.sh - `regctl serve` on loopback, for the tests of the registry
# server. Sourced after lib.sh (and registry.sh when a test also needs a
# Distribution registry or the oci_push_* helpers, which work against any
# registry URL):
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/serve.sh"
#   serve_start main --store "$STORE" --allow-delete
#   curl -s "$SERVE_MAIN_URL/v2/_catalog"
#   serve_stop main
#
# What it promises:
# - serve_start NAME ARGS... runs "$REGCTL serve --listen 127.0.0.1:0
#   ARGS..." in the background (ARGS must include --store), waits until it
#   says which port it took and answers GET /health, and sets
#   SERVE_<NAME>_URL (http://127.0.0.1:PORT, or https:// when ARGS have
#   --tls-cert), _HOST (127.0.0.1:PORT), _PORT, _LOG (its stderr: the
#   access log and messages) and _PID. NAME is upper-cased in the names.
#   It must run in the test's main shell (it records the PID, which lib.sh's
#   EXIT trap kills); the log is scanned for sanitizer reports and shown
#   when the test fails.
# - serve_stop NAME [SIGNAL] sends SIGTERM (or SIGNAL) and reaps it; its exit
#   status is in SERVE_RC.
# - Sourcing skips the test (77) when curl is missing.

command -v curl >/dev/null || skip_all "curl is not installed"

declare -A _serve_pid=()

_serve_set() {
	printf -v "SERVE_${1^^}_$2" '%s' "$3"
}

serve_start() {
	local name=$1
	shift
	if [[ $BASHPID != "$_lib_main_pid" ]]; then
		bail_out "serve_start: call it in the test's main shell"
	fi
	local log=$TEST_TMP/serve-$name.log scheme=http a
	for a in "$@"; do
		[[ $a == --tls-cert ]] && scheme=https
	done
	printf '### %s: regctl serve %s\n' "$(date -u +%FT%TZ)" "$*" >>"$log"
	"$REGCTL" serve --listen 127.0.0.1:0 "$@" </dev/null >>"$log" 2>&1 &
	local pid=$!
	track_pid "$pid"
	_lib_logs+=("$log")
	_serve_pid[$name]=$pid
	local deadline=$(($(now_ns) + 20 * 1000000000)) port=
	while :; do
		port=$(sed -n 's/^regctl serve: serving .* (port \([0-9]*\)).*/\1/p' "$log" | tail -n 1)
		if [[ -n $port ]] && curl -sk -o /dev/null --max-time 2 "$scheme://127.0.0.1:$port/health"; then
			break
		fi
		if ! proc_alive "$pid"; then
			reap "$pid"
			unset "_serve_pid[$name]"
			diag_file "$log"
			bail_out "regctl serve $name exited (status $REAP_RC) before answering"
		fi
		if (($(now_ns) >= deadline)); then
			diag_file "$log"
			bail_out "regctl serve $name did not answer within 20 s"
		fi
		sleep 0.05
	done
	_serve_set "$name" URL "$scheme://127.0.0.1:$port"
	_serve_set "$name" HOST "127.0.0.1:$port"
	_serve_set "$name" PORT "$port"
	_serve_set "$name" LOG "$log"
	_serve_set "$name" PID "$pid"
	diag "regctl serve $name at $scheme://127.0.0.1:$port (pid $pid, log ${log#"$TEST_TMP"/})"
}

serve_stop() {
	local name=$1 sig=${2:-TERM}
	local pid=${_serve_pid[$name]:-}
	[[ -n $pid ]] || bail_out "serve_stop: $name is not running"
	kill "-$sig" "$pid" 2>/dev/null || :
	wait_exit "$pid" 20 || bail_out "serve_stop: $name ($pid) survived SIG$sig"
	reap "$pid"
	SERVE_RC=$REAP_RC
	unset "_serve_pid[$name]"
	diag "regctl serve $name stopped (SIG$sig, status $SERVE_RC)"
}
