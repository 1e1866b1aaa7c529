# shellcheck shell=bash
#
# registry.sh - real upstream registries on loopback, for the tests of the
# pull-through cache. Sourced after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/registry.sh"
#   registry_start up --htpasswd alice:secret
#   d=$(oci_push_file "$REGISTRY_UP_URL" app v1 "$SRC/app" --user alice:secret)
#   regfs_mount "$STORE" "$MNT" -o upstream="$REGISTRY_UP_URL"
#   ...
#   expect_eq "$(registry_blob_gets up "$d")" 1 "one upstream blob GET"
#
# What it promises:
# - The upstream is the real CNCF Distribution registry (Debian's
#   docker-registry, 2.8), started with `docker-registry serve CONFIG` on
#   127.0.0.1 at a free port, its storage, config and log in the test's temp
#   folder. Every process started here is killed by PID by lib.sh's EXIT
#   trap (track_pid), and its log is shown when the test fails.
# - The starters (registry_start, registry_restart, bad_proxy_start) must run
#   in the test's main shell, never inside $(...): they set variables and
#   record PIDs. They refuse (status 1, which aborts the test) in a subshell.
# - The push helpers (oci_push_*) speak the registry's HTTP API with curl,
#   print what they are documented to print, and fail (status 1, the
#   registry's answer on stderr) on any unexpected HTTP status; they may run
#   in $(...). skopeo is the independent client that checks what was pushed.
# - Sourcing this file skips the test (77) when docker-registry, skopeo,
#   python3, curl, openssl or htpasswd is missing.
# - A --tls registry's throwaway CA is trusted by the helpers' own curl
#   calls only (--cacert, see _reg_curl), never through the environment:
#   a daemon the test starts does not trust it unless told (ca_file).
#
# Functions:
#   registry_start NAME [--htpasswd USER:PASS] [--token [USER:PASS]]
#                       [--token-actions pull] [--token-expires SECONDS]
#                       [--token-stale N]
#                       [--proxy-of URL [--proxy-user USER:PASS]] [--tls]
#       Sets REGISTRY_<NAME>_URL (http://127.0.0.1:PORT), _HOST
#       (127.0.0.1:PORT), _LOG, _PID, _CREDS (the USER:PASS it accepts, empty
#       when anonymous), _CA (empty without --tls) and, with --token,
#       _REALM, _SERVICE and _TOKEN_LOG. NAME is upper-cased in the variable
#       names. --tls serves https://127.0.0.1:PORT with a certificate for
#       IP:127.0.0.1 only (no DNS name: https://localhost:PORT fails host
#       name verification) signed by a throwaway CA made with openssl in
#       its folder (tls/); _CA is that CA's PEM certificate. The push
#       helpers trust it (--cacert); skopeo_manifest does not verify.
#       registry_restart keeps it. --token alone accepts
#       regfs:regfs-token-secret. The token service is tests/tools/
#       token-server.py: --token-actions limits what it grants,
#       --token-expires is its expires_in (default 300; Distribution accepts
#       tokens up to 60 s past exp), --token-stale N makes its first N tokens
#       already expired (the registry answers 401: a client must refresh).
#   registry_url NAME             prints REGISTRY_<NAME>_URL
#   registry_stop NAME [SIGNAL]   SIGTERM (or SIGNAL: KILL) and reap, also
#                                 its token service
#   registry_restart NAME         start it again: same port, storage, config
#   registry_blob_gets NAME DIGEST   how many GETs of that blob it answered
#   registry_requests NAME METHOD PATH-ERE   requests of its access log
#   registry_await N COUNTER ARGS...   runs COUNTER (one of the two above)
#                 until it prints N or more (5 s at most); prints its last
#                 count: expect_eq "$(registry_await 2 registry_blob_gets up "$d")" 2
#   oci_push_file URL REPO TAG FILE [TITLE] [AUTH] [--no-artifact-type]
#                 [--layer-type MT] [--annotation KEY=VALUE]...
#                 ORAS-shaped; prints the layer digest. --annotation adds
#                 one to the layer (io.regfs.file.mode=0755, say)
#   oci_push_image URL REPO TAG [AUTH] [--untitled] FILE...
#                 one layer per file; prints the manifest digest
#   oci_push_index URL REPO TAG [AUTH] [AMD64-FILE ARM64-FILE]
#                 linux/amd64 + linux/arm64; prints the amd64 layer digest
#   oci_manifest_digest URL REPO TAG [AUTH]   Docker-Content-Digest of a HEAD
#   oci_get_blob URL REPO DIGEST OUTFILE [AUTH] [CURL-ARGS...]
#   oci_token URL REPO CREDS [ACTIONS]   a bearer token (pull,push)
#       AUTH is --user U:P (basic), --token-auth U:P (bearer token from the
#       realm the registry's 401 names) or --auth U:P (whichever it asks).
#   skopeo_manifest URL REPO TAG|DIGEST [--creds U:P] the raw manifest
#   skopeo_manifest_digest URL REPO TAG [--creds U:P] sha256:... of it
#   bad_proxy_start NAME UPSTREAM-URL [bad-proxy.py options]
#       tests/tools/bad-proxy.py in front of UPSTREAM-URL (--corrupt-blobs,
#       --cut-after BYTES [--cut-times N], --fail-status CODE [--fail-times N]
#       [--retry-after S], --delay-ms MS, --rate BYTES/s, --match ERE,
#       --count-file F: see its header); sets BAD_PROXY_<NAME>_URL, _LOG and
#       _PID.
#   bad_proxy_stop NAME
#   hostile_start NAME [hostile-upstream.py options]
#       tests/tools/hostile-upstream.py, a registry whose repositories each
#       lie their own way (a redirect to file://, a blob that never ends, a
#       short blob, endless tag pages, 401: see its header); sets
#       HOSTILE_<NAME>_URL, _LOG (one "METHOD PATH STATUS" line a request)
#       and _PID.
#
# How Distribution 2.8 logs a request (both lines, stdout and stderr, go to
# the registry's log): a logrus line
#   time="..." level=info msg="response completed" ... http.request.method=GET
#     ... http.request.uri="/v2/REPO/blobs/sha256:HEX" ... http.response.status=200
# (level=error msg="response completed with error" for a 4xx/5xx), and an
# access-log line, one per request whatever its status:
#   127.0.0.1 - - [22/Nov/2026:03:05:04 +0000] "GET /v2/REPO/blobs/sha256:HEX HTTP/1.1" 200 5 "" "curl/7.88.1"
# registry_blob_gets and registry_requests count the access-log lines. A
# line is written when its response ends (a client that hangs up ends it
# too): poll (wait_until) rather than count while a transfer may run.
# Even a finished transfer may not be logged yet: a blob's body is sent
# before its handler returns and the line is written, so a client can hold
# the last byte first. Count a GET a read just caused with registry_await.
#
# Facts about Distribution 2.8 worth knowing in a test:
# - it answers 404 to a manifest GET/HEAD whose Accept does not name the
#   manifest's (OCI) media type;
# - a token with too little scope gets 401 (error="insufficient_scope"),
#   not 403; it accepts a token up to 60 s past its exp;
# - in proxy mode (--proxy-of) one cold blob GET costs its upstream a HEAD
#   and two GETs of the blob.

for _reg_c in docker-registry skopeo python3 curl openssl htpasswd; do
	if ! command -v "$_reg_c" >/dev/null 2>&1; then
		case $_reg_c in
		docker-registry) skip_all "docker-registry is not installed (Debian package docker-registry)" ;;
		htpasswd) skip_all "htpasswd is not installed (Debian package apache2-utils)" ;;
		*) skip_all "$_reg_c is not installed" ;;
		esac
	fi
done
unset _reg_c

_reg_tools=$REGFS_SOURCE_DIR/tests/tools
declare -A _reg_pid=() _reg_dir=() _reg_token_pid=() _reg_bp_pid=() _reg_token_restart=()
declare -A _reg_scheme=() # NAME -> http or https (--tls)
# The CAs of the --tls registries, one PEM bundle, given to the helpers'
# curl as --cacert once there is one (an http URL ignores it).
_reg_cacerts=()
: "${OCI_CURL_MAX_TIME:=300}"

# shellcheck disable=SC2154,SC2016 # _lib_main_pid is lib.sh's; a literal $(...)
_reg_main_shell() {
	if [[ $BASHPID != "$_lib_main_pid" ]]; then
		printf '%s: call it in the test'\''s main shell, not in $(...)\n' "$1" >&2
		return 1
	fi
}

_reg_check_name() {
	[[ $1 =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] ||
		bail_out "registry.sh: '$1' is not a valid name (letters, digits, _)"
}

# _reg_set NAME FIELD VALUE: REGISTRY_<NAME>_<FIELD>=VALUE (a global).
_reg_set() {
	printf -v "REGISTRY_${1^^}_$2" '%s' "$3"
}

_reg_get() {
	local v="REGISTRY_${1^^}_$2"
	printf '%s\n' "${!v:-}"
}

# A YAML single-quoted scalar.
_reg_yq() {
	local s=${1//\'/\'\'}
	printf "'%s'" "$s"
}

_reg_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# _reg_curl ARGS...: curl, trusting the CAs of the --tls registries. Not
# exported (CURL_CA_BUNDLE, SSL_CERT_FILE): the daemon must not inherit it.
_reg_curl() {
	curl "${_reg_cacerts[@]}" "$@"
}

# _reg_http_code URL: the status of a GET, 000 when nothing answers.
_reg_http_code() {
	_reg_curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 "$1" 2>/dev/null || :
}

_reg_answers() {
	local code
	code=$(_reg_http_code "$1/v2/")
	[[ $code == 200 || $code == 401 ]]
}

# _reg_start_py OUTVAR-PREFIX LOG SCRIPT ARGS...: start a Python tool in the
# background, wait (10 s) for the port on its first line of stdout. Sets
# _REG_PY_PID and _REG_PY_PORT.
_reg_start_py() {
	local log=$1 script=$2
	shift 2
	local out=$log.port
	: >"$out"
	python3 "$script" "$@" </dev/null >"$out" 2>>"$log" &
	_REG_PY_PID=$!
	track_pid "$_REG_PY_PID"
	_lib_logs+=("$log")
	local deadline=$(($(now_ns) + 10 * 1000000000))
	while ! [[ $(head -n 1 "$out") =~ ^[0-9]+$ && $(wc -l <"$out") -ge 1 ]]; do
		if ! proc_alive "$_REG_PY_PID"; then
			reap "$_REG_PY_PID"
			diag_file "$log"
			bail_out "${script##*/} exited (status $REAP_RC) before listening"
		fi
		if (($(now_ns) >= deadline)); then
			diag_file "$log"
			bail_out "${script##*/} did not listen within 10 s"
		fi
		sleep 0.02
	done
	_REG_PY_PORT=$(head -n 1 "$out")
}

# _reg_write_config NAME PORT: the YAML, from the options kept in _reg_opt_*.
_reg_write_config() {
	local name=$1 port=$2 dir=${_reg_dir[$1]}
	{
		printf 'version: 0.1\n'
		printf 'log:\n  level: info\n  formatter: text\n'
		printf '  fields:\n    registry: %s\n' "$(_reg_yq "$name")"
		printf 'storage:\n'
		printf '  filesystem:\n    rootdirectory: %s\n' "$(_reg_yq "$dir/storage")"
		printf '  delete:\n    enabled: true\n'
		printf '  maintenance:\n    uploadpurging:\n      enabled: false\n'
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
		printf '  secret: %s\n' "$(_reg_yq "regfs-test-$name")"
		if [[ ${_reg_scheme[$name]} == https ]]; then
			printf '  tls:\n    certificate: %s\n    key: %s\n' \
				"$(_reg_yq "$dir/tls/server.crt")" "$(_reg_yq "$dir/tls/server.key")"
		fi
		if [[ -n $_reg_opt_htpasswd ]]; then
			printf 'auth:\n  htpasswd:\n    realm: %s\n    path: %s\n' \
				"$(_reg_yq "regfs-test-$name")" "$(_reg_yq "$dir/htpasswd")"
		elif [[ -n $_reg_opt_token ]]; then
			printf 'auth:\n  token:\n'
			printf '    realm: %s\n' "$(_reg_yq "$(_reg_get "$name" REALM)")"
			printf '    service: %s\n' "$(_reg_yq "$(_reg_get "$name" SERVICE)")"
			printf '    issuer: %s\n' "$(_reg_yq regfs-test-token-server)"
			printf '    rootcertbundle: %s\n' "$(_reg_yq "$dir/token/token-cert.pem")"
		fi
		if [[ -n $_reg_opt_proxy ]]; then
			printf 'proxy:\n  remoteurl: %s\n' "$(_reg_yq "$_reg_opt_proxy")"
			if [[ -n $_reg_opt_proxy_user ]]; then
				printf '  username: %s\n  password: %s\n' \
					"$(_reg_yq "${_reg_opt_proxy_user%%:*}")" \
					"$(_reg_yq "${_reg_opt_proxy_user#*:}")"
			fi
		fi
	} >"$dir/config.yml"
}

# _reg_launch NAME PORT: start the registry with its config; 0 when /v2/
# answers, 2 when the port was taken, bails out otherwise.
_reg_launch() {
	local name=$1 port=$2 dir=${_reg_dir[$1]}
	local log=$dir/$name.log
	printf '### %s: docker-registry serve %s (port %s)\n' \
		"$(date -u +%FT%TZ)" "$dir/config.yml" "$port" >>"$log"
	docker-registry serve "$dir/config.yml" </dev/null >>"$log" 2>&1 &
	local pid=$!
	track_pid "$pid"
	_reg_pid[$name]=$pid
	local url=${_reg_scheme[$name]}://127.0.0.1:$port
	local deadline=$(($(now_ns) + 10 * 1000000000))
	while ! _reg_answers "$url"; do
		if ! proc_alive "$pid"; then
			reap "$pid"
			unset "_reg_pid[$name]"
			if grep -q 'address already in use' <<<"$(tail -n 5 "$log")"; then
				return 2
			fi
			diag_file "$log"
			bail_out "registry $name exited (status $REAP_RC) before answering"
		fi
		if (($(now_ns) >= deadline)); then
			diag_file "$log"
			bail_out "registry $name did not answer GET /v2/ within 10 s"
		fi
		sleep 0.05
	done
	_reg_set "$name" URL "$url"
	_reg_set "$name" HOST "127.0.0.1:$port"
	_reg_set "$name" LOG "$log"
	_reg_set "$name" PID "$pid"
	return 0
}

# _reg_make_tls DIR NAME: a throwaway CA (ca.key, ca.crt) and a server
# certificate it signs (server.key, server.crt) for IP:127.0.0.1 only: no
# DNS name, and a common name that is not a host name.
_reg_make_tls() {
	local d=$1 name=$2 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	mkdir -p "$d"
	{
		openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
			-subj "/CN=regfs test CA ($name)" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign &&
			openssl req -new "${ec[@]}" -keyout "$d/server.key" -out "$d/server.csr" \
				-subj "/CN=regfs test registry ($name)" &&
			printf '%s\n' 'basicConstraints = critical,CA:FALSE' \
				'keyUsage = critical,digitalSignature' \
				'extendedKeyUsage = serverAuth' \
				'subjectAltName = IP:127.0.0.1' >"$d/server.ext" &&
			openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$d/server.ext" \
				-out "$d/server.crt"
	} >"$d/openssl.log" 2>&1 || {
		diag_file "$d/openssl.log"
		bail_out "registry_start: openssl could not make the certificates of $name"
	}
}

registry_start() {
	_reg_main_shell registry_start || return 1
	local name=${1:?registry_start NAME [options]}
	shift
	_reg_check_name "$name"
	[[ -z ${_reg_pid[$name]:-} ]] || bail_out "registry_start: $name is already running"
	_reg_opt_htpasswd='' _reg_opt_token='' _reg_opt_proxy='' _reg_opt_proxy_user=''
	local tls=0
	local token_actions='' token_expires=300 token_stale=0
	while (($#)); do
		case $1 in
		--htpasswd)
			_reg_opt_htpasswd=${2:?--htpasswd USER:PASS}
			shift 2
			;;
		--token)
			_reg_opt_token=regfs:regfs-token-secret
			if [[ $# -ge 2 && $2 != --* && $2 == *:* ]]; then
				_reg_opt_token=$2
				shift
			fi
			shift
			;;
		--token-actions)
			token_actions=${2:?--token-actions ACTIONS}
			shift 2
			;;
		--token-expires)
			token_expires=${2:?--token-expires SECONDS}
			shift 2
			;;
		--token-stale)
			token_stale=${2:?--token-stale N}
			shift 2
			;;
		--proxy-of)
			_reg_opt_proxy=${2:?--proxy-of URL}
			shift 2
			;;
		--proxy-user)
			_reg_opt_proxy_user=${2:?--proxy-user USER:PASS}
			shift 2
			;;
		--tls)
			tls=1
			shift
			;;
		*) bail_out "registry_start: unknown option '$1'" ;;
		esac
	done
	[[ -n $_reg_opt_htpasswd && -n $_reg_opt_token ]] &&
		bail_out "registry_start: --htpasswd and --token exclude each other"

	local dir=$TEST_TMP/registry-$name
	mkdir -p "$dir/storage"
	_reg_dir[$name]=$dir
	_lib_logs+=("$dir/$name.log")
	_reg_set "$name" CREDS "${_reg_opt_htpasswd}${_reg_opt_token}"
	_reg_scheme[$name]=http
	_reg_set "$name" CA ''
	if ((tls)); then
		_reg_make_tls "$dir/tls" "$name"
		_reg_scheme[$name]=https
		_reg_set "$name" CA "$dir/tls/ca.crt"
		cat "$dir/tls/ca.crt" >>"$TEST_TMP/registry-cas.pem"
		_reg_cacerts=(--cacert "$TEST_TMP/registry-cas.pem")
	fi
	if [[ -n $_reg_opt_htpasswd ]]; then
		htpasswd -Bbn "${_reg_opt_htpasswd%%:*}" "${_reg_opt_htpasswd#*:}" >"$dir/htpasswd" 2>/dev/null ||
			bail_out "registry_start: htpasswd -Bbn failed"
	fi
	if [[ -n $_reg_opt_token ]]; then
		local targs=(--dir "$dir/token" --user "$_reg_opt_token" --expires "$token_expires"
			--stale "$token_stale")
		[[ -n $token_actions ]] && targs+=(--actions "$token_actions")
		_reg_start_py "$dir/token.log" "$_reg_tools/token-server.py" "${targs[@]}"
		_reg_token_pid[$name]=$_REG_PY_PID
		_reg_token_restart[$name]="--expires $token_expires${token_actions:+ --actions $token_actions}"
		_reg_set "$name" REALM "http://127.0.0.1:$_REG_PY_PORT/token"
		_reg_set "$name" SERVICE "regfs-test-$name"
		_reg_set "$name" TOKEN_LOG "$dir/token.log"
	fi

	local try port rc
	for try in 1 2 3 4 5; do
		port=$(_reg_free_port)
		_reg_write_config "$name" "$port"
		rc=0
		_reg_launch "$name" "$port" || rc=$?
		[[ $rc -eq 0 ]] && break
		diag "registry $name: port $port was taken (try $try), another one"
	done
	[[ $rc -eq 0 ]] || bail_out "registry_start: no free port for $name"
	local auth=anonymous
	[[ -n $_reg_opt_htpasswd ]] && auth=htpasswd
	[[ -n $_reg_opt_token ]] && auth="token ($(_reg_get "$name" REALM))"
	[[ -n $_reg_opt_proxy ]] && auth+=", proxy of $_reg_opt_proxy"
	((tls)) && auth+=", TLS"
	diag "registry $name at $(_reg_get "$name" URL) ($auth; pid ${_reg_pid[$name]}, log ${dir#"$TEST_TMP"/}/$name.log)"
}

registry_url() { _reg_get "$1" URL; }

registry_stop() {
	_reg_main_shell registry_stop || return 1
	local name=$1 sig=${2:-TERM}
	local pid=${_reg_pid[$name]:-}
	[[ -n $pid ]] || bail_out "registry_stop: $name is not running"
	kill_wait "$sig" "$pid"
	proc_alive "$pid" && bail_out "registry_stop: $name ($pid) survived SIG$sig"
	unset "_reg_pid[$name]"
	diag "registry $name stopped (SIG$sig)"
	if [[ -n ${_reg_token_pid[$name]:-} ]]; then
		kill_wait TERM "${_reg_token_pid[$name]}"
		unset "_reg_token_pid[$name]"
	fi
}

# registry_restart NAME: the same config, port and storage (its token
# service is started again on the same key, with the same --token-expires
# and --token-actions but no stale tokens, at a new port: the config is
# rewritten with the new realm).
registry_restart() {
	_reg_main_shell registry_restart || return 1
	local name=$1
	local dir=${_reg_dir[$name]:-}
	[[ -n $dir ]] || bail_out "registry_restart: $name was never started"
	[[ -z ${_reg_pid[$name]:-} ]] || bail_out "registry_restart: $name is running"
	local url port
	url=$(_reg_get "$name" URL)
	port=${url##*:}
	if [[ -n $(_reg_get "$name" TOKEN_LOG) ]]; then
		local more
		read -ra more <<<"${_reg_token_restart[$name]}"
		_reg_start_py "$dir/token.log" "$_reg_tools/token-server.py" \
			--dir "$dir/token" --user "$(_reg_get "$name" CREDS)" "${more[@]}"
		_reg_token_pid[$name]=$_REG_PY_PID
		_reg_set "$name" REALM "http://127.0.0.1:$_REG_PY_PORT/token"
		sed -i "s|^    realm: .*|    realm: $(_reg_yq "$(_reg_get "$name" REALM)")|" "$dir/config.yml"
	fi
	local rc=0
	_reg_launch "$name" "$port" || rc=$?
	[[ $rc -eq 0 ]] || bail_out "registry_restart: port $port of $name is taken"
	diag "registry $name restarted at $url (pid ${_reg_pid[$name]})"
}

# registry_requests NAME METHOD PATH-ERE: how many requests of the access
# log have that method and a path (without the query) matching the ERE.
registry_requests() {
	local log
	log=$(_reg_get "$1" LOG)
	[[ -n $log ]] || {
		echo "registry_requests: no registry $1" >&2
		return 1
	}
	awk -v m="\"$2" -v re="^$3\$" '
		$6 == m { p = $7; sub(/\?.*/, "", p); if (p ~ re) n++ }
		END { print n + 0 }' "$log"
}

# registry_await N COUNTER ARGS...: see above.
registry_await() {
	local want=$1 n deadline=$(($(now_ns) + 5000000000))
	shift
	while n=$("$@") && ((n < want && $(now_ns) < deadline)); do
		sleep 0.02
	done
	printf '%s\n' "$n"
}

# registry_blob_gets NAME DIGEST: GETs of that blob (any repository, any
# status, Range requests included; HEADs not).
registry_blob_gets() {
	local d=$2
	[[ $d == sha256:* ]] || d=sha256:$d
	registry_requests "$1" GET "/v2/.+/blobs/$d"
}

# --- bad-proxy ----------------------------------------------------------------

bad_proxy_start() {
	_reg_main_shell bad_proxy_start || return 1
	local name=${1:?bad_proxy_start NAME UPSTREAM [options]} up=${2:?bad_proxy_start NAME UPSTREAM [options]}
	shift 2
	_reg_check_name "$name"
	[[ -z ${_reg_bp_pid[$name]:-} ]] || bail_out "bad_proxy_start: $name is already running"
	local log=$TEST_TMP/bad-proxy-$name.log
	_reg_start_py "$log" "$_reg_tools/bad-proxy.py" "$@" "$up"
	_reg_bp_pid[$name]=$_REG_PY_PID
	printf -v "BAD_PROXY_${name^^}_URL" '%s' "http://127.0.0.1:$_REG_PY_PORT"
	printf -v "BAD_PROXY_${name^^}_LOG" '%s' "$log"
	printf -v "BAD_PROXY_${name^^}_PID" '%s' "$_REG_PY_PID"
	diag "bad-proxy $name at http://127.0.0.1:$_REG_PY_PORT -> $up ($*)"
}

bad_proxy_stop() {
	_reg_main_shell bad_proxy_stop || return 1
	local pid=${_reg_bp_pid[$1]:-}
	[[ -n $pid ]] || bail_out "bad_proxy_stop: $1 is not running"
	kill_wait TERM "$pid"
	unset "_reg_bp_pid[$1]"
}

# --- hostile-upstream ---------------------------------------------------------

hostile_start() {
	_reg_main_shell hostile_start || return 1
	local name=${1:?hostile_start NAME [options]}
	shift
	_reg_check_name "$name"
	local log=$TEST_TMP/hostile-$name.log
	_reg_start_py "$log" "$_reg_tools/hostile-upstream.py" "$@"
	printf -v "HOSTILE_${name^^}_URL" '%s' "http://127.0.0.1:$_REG_PY_PORT"
	printf -v "HOSTILE_${name^^}_LOG" '%s' "$log"
	printf -v "HOSTILE_${name^^}_PID" '%s' "$_REG_PY_PID"
	diag "hostile-upstream $name at http://127.0.0.1:$_REG_PY_PORT ($*)"
}

# --- pushing with curl ----------------------------------------------------------

# The JSON, built by Python (never by hand):
#   manifest CONFIG-MT CONFIG-DIGEST CONFIG-SIZE ARTIFACT-TYPE CREATED [MT DIGEST SIZE TITLE]...
#   index CREATED [MT DIGEST SIZE OS ARCH]...
#   config OS ARCH [DIFF-ID]...
#   token          (stdin: the token service's answer)
#   challenge      (stdin: a WWW-Authenticate value; prints scheme, realm, service)
_oci_py='
import json, os, sys
kind, a = sys.argv[1], sys.argv[2:]
def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")))
if kind == "manifest":
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    if a[3]:
        m["artifactType"] = a[3]
    m["config"] = {"mediaType": a[0], "digest": a[1], "size": int(a[2])}
    m["layers"] = []
    # KEY=VALUE lines: annotations of every layer (oci_push_file --annotation).
    extra = [n.split("=", 1) for n in os.environ.get("_OCI_LAYER_NOTES", "").splitlines()]
    for i in range(5, len(a), 4):
        l = {"mediaType": a[i], "digest": a[i + 1], "size": int(a[i + 2])}
        notes = dict(extra)
        if a[i + 3]:
            notes["org.opencontainers.image.title"] = a[i + 3]
        if notes:
            l["annotations"] = notes
        m["layers"].append(l)
    if a[4]:
        m["annotations"] = {"org.opencontainers.image.created": a[4]}
    out(m)
elif kind == "index":
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    for i in range(1, len(a), 5):
        m["manifests"].append({"mediaType": a[i], "digest": a[i + 1], "size": int(a[i + 2]),
                               "platform": {"architecture": a[i + 4], "os": a[i + 3]}})
    if a[0]:
        m["annotations"] = {"org.opencontainers.image.created": a[0]}
    out(m)
elif kind == "config":
    out({"architecture": a[1], "os": a[0],
         "rootfs": {"type": "layers", "diff_ids": a[2:]}, "config": {}})
elif kind == "token":
    d = json.load(sys.stdin)
    print(d.get("token") or d["access_token"])
elif kind == "challenge":
    import re
    v = sys.stdin.read().strip()
    scheme = v.split(" ", 1)[0]
    params = dict(re.findall(r"(\w+)=\"([^\"]*)\"", v))
    print(scheme)
    print(params.get("realm", ""))
    print(params.get("service", ""))
else:
    sys.exit("registry.sh: unknown kind " + kind)
'

OCI_EMPTY_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
OCI_MANIFEST_TYPES='application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json'

_oci_tmp() {
	local d=${TEST_TMP:-${TMPDIR:-/tmp}}/oci-push
	mkdir -p "$d"
	mktemp "$d/XXXXXX"
}

# _oci_curl EXPECTED-CODES OUTFILE CURL-ARGS...: curl with the auth of
# _oci_auth; fails with the answer on stderr unless the status is one of
# EXPECTED-CODES (a '|'-separated list). Response headers go to OUTFILE.hdr.
_oci_curl() {
	local want=$1 out=$2 code
	shift 2
	code=$(_reg_curl -sS --connect-timeout 5 --max-time "$OCI_CURL_MAX_TIME" \
		"${_oci_auth[@]}" -D "$out.hdr" -o "$out" -w '%{http_code}' "$@") || {
		echo "registry.sh: curl $* failed" >&2
		return 1
	}
	if [[ "|$want|" != *"|$code|"* ]]; then
		printf 'registry.sh: HTTP %s (wanted %s) for: curl %s\n' "$code" "$want" "$*" >&2
		head -c 2000 "$out" >&2 2>/dev/null
		echo >&2
		return 1
	fi
}

_oci_header() {
	tr -d '\r' <"$1" | awk -v h="$(tr '[:upper:]' '[:lower:]' <<<"$2")" '
		{ k = tolower($1) } k == h ":" { sub(/^[^:]*:[ \t]*/, ""); v = $0 } END { print v }'
}

# oci_token URL REPO USER:PASS [ACTIONS]: a bearer token from the realm the
# registry's 401 names.
oci_token() {
	local url=$1 repo=$2 creds=$3 actions=${4:-pull,push} tmp info
	tmp=$(_oci_tmp)
	_reg_curl -sS --connect-timeout 5 --max-time 30 -o /dev/null -D "$tmp" "$url/v2/" || return 1
	info=$(_oci_header "$tmp" www-authenticate | python3 -c "$_oci_py" challenge)
	rm -f "$tmp"
	local lines
	mapfile -t lines <<<"$info"
	if [[ ${lines[0]} != Bearer || -z ${lines[1]} ]]; then
		echo "registry.sh: $url does not ask for a bearer token ('${lines[0]}')" >&2
		return 1
	fi
	_reg_curl -sSf --connect-timeout 5 --max-time 30 -u "$creds" -G \
		--data-urlencode "service=${lines[2]}" \
		--data-urlencode "scope=repository:$repo:$actions" "${lines[1]}" |
		python3 -c "$_oci_py" token
}

# _oci_parse_auth URL REPO ARGS...: consumes the auth options, sets _oci_auth
# and leaves the other arguments in _oci_args.
_oci_parse_auth() {
	local url=$1 repo=$2 mode='' creds=''
	shift 2
	_oci_auth=()
	_oci_args=()
	while (($#)); do
		case $1 in
		--user | --token-auth | --auth)
			mode=$1
			creds=${2:?$1 USER:PASS}
			shift 2
			;;
		*)
			_oci_args+=("$1")
			shift
			;;
		esac
	done
	if [[ $mode == --auth ]]; then
		local tmp scheme
		tmp=$(_oci_tmp)
		_reg_curl -sS --connect-timeout 5 --max-time 30 -o /dev/null -D "$tmp" "$url/v2/" || return 1
		scheme=$(_oci_header "$tmp" www-authenticate)
		rm -f "$tmp"
		case ${scheme%% *} in
		Bearer) mode=--token-auth ;;
		*) mode=--user ;;
		esac
	fi
	case $mode in
	--user) _oci_auth=(-u "$creds") ;;
	--token-auth)
		local tok
		tok=$(oci_token "$url" "$repo" "$creds") || return 1
		_oci_auth=(-H "Authorization: Bearer $tok")
		;;
	esac
	return 0
}

# _oci_put_blob URL REPO FILE: upload (POST, then PUT ?digest=) unless the
# registry has it; prints the digest.
_oci_put_blob() {
	local url=$1 repo=$2 file=$3 digest tmp loc
	digest=sha256:$(sha "$file") || return 1
	tmp=$(_oci_tmp)
	if _oci_curl 200 "$tmp" -I "$url/v2/$repo/blobs/$digest" 2>/dev/null; then
		rm -f "$tmp" "$tmp.hdr"
		printf '%s\n' "$digest"
		return 0
	fi
	_oci_curl 202 "$tmp" -X POST "$url/v2/$repo/blobs/uploads/" || return 1
	loc=$(_oci_header "$tmp.hdr" location)
	[[ -n $loc ]] || {
		echo "registry.sh: no Location for the upload to $repo" >&2
		return 1
	}
	[[ $loc == /* ]] && loc=$url$loc
	if [[ $loc == *\?* ]]; then loc+="&digest=$digest"; else loc+="?digest=$digest"; fi
	_oci_curl 201 "$tmp" -X PUT -H 'Content-Type: application/octet-stream' -H 'Expect:' \
		-T "$file" "$loc" || return 1
	rm -f "$tmp" "$tmp.hdr"
	printf '%s\n' "$digest"
}

# _oci_put_manifest URL REPO REF MEDIA-TYPE FILE: PUT; prints the digest.
_oci_put_manifest() {
	local url=$1 repo=$2 ref=$3 mt=$4 file=$5 tmp digest
	tmp=$(_oci_tmp)
	digest=sha256:$(sha "$file")
	_oci_curl 201 "$tmp" -X PUT -H "Content-Type: $mt" --data-binary "@$file" \
		"$url/v2/$repo/manifests/$ref" || return 1
	local got
	got=$(_oci_header "$tmp.hdr" docker-content-digest)
	rm -f "$tmp" "$tmp.hdr"
	if [[ -n $got && $got != "$digest" ]]; then
		echo "registry.sh: the registry names the manifest $got, not $digest" >&2
		return 1
	fi
	printf '%s\n' "$digest"
}

_oci_created() { date -u +%Y-%m-%dT%H:%M:%SZ; }

_oci_empty_config() {
	local f=${TEST_TMP:-${TMPDIR:-/tmp}}/oci-push/empty-config.json
	mkdir -p "${f%/*}"
	[[ -f $f ]] || printf '{}' >"$f"
	printf '%s\n' "$f"
}

oci_push_file() {
	local url=$1 repo=$2 tag=$3 file=$4
	shift 4 || {
		echo "oci_push_file URL REPO TAG FILE [TITLE] [AUTH]" >&2
		return 1
	}
	local _oci_auth _oci_args
	_oci_parse_auth "$url" "$repo" "$@" || return 1
	local title=${file##*/} atype=application/vnd.unknown.artifact.v1
	local ltype=application/vnd.oci.image.layer.v1.tar notes=''
	set -- "${_oci_args[@]}"
	while (($#)); do
		case $1 in
		--no-artifact-type) atype= ;;
		--layer-type)
			ltype=${2:?--layer-type MEDIA-TYPE}
			shift
			;;
		--annotation)
			[[ ${2:-} == ?*=* ]] || {
				echo "oci_push_file: --annotation KEY=VALUE, not '${2:-}'" >&2
				return 1
			}
			notes+=$2$'\n'
			shift
			;;
		--*)
			echo "oci_push_file: unknown option '$1'" >&2
			return 1
			;;
		*) title=$1 ;;
		esac
		shift
	done
	local ldigest cfg man
	ldigest=$(_oci_put_blob "$url" "$repo" "$file") || return 1
	cfg=$(_oci_empty_config)
	_oci_put_blob "$url" "$repo" "$cfg" >/dev/null || return 1
	man=$(_oci_tmp)
	_OCI_LAYER_NOTES=$notes python3 -c "$_oci_py" manifest application/vnd.oci.empty.v1+json \
		"$OCI_EMPTY_DIGEST" 2 "$atype" "$(_oci_created)" "$ltype" "$ldigest" "$(stat -c %s "$file")" \
		"$title" >"$man" || return 1
	_oci_put_manifest "$url" "$repo" "$tag" application/vnd.oci.image.manifest.v1+json "$man" >/dev/null ||
		return 1
	rm -f "$man"
	printf '%s\n' "$ldigest"
}

# _oci_image URL REPO REF OS ARCH UNTITLED-LAST FILE...: the config and layers,
# then the manifest (REF @: under its own digest); prints the manifest
# digest, then its size.
_oci_image() {
	local url=$1 repo=$2 ref=$3 os=$4 arch=$5 untitled=$6
	shift 6
	local f d n=0 layers=() diffs=() title cfg man digest
	for f in "$@"; do
		n=$((n + 1))
		d=$(_oci_put_blob "$url" "$repo" "$f") || return 1
		title=${f##*/}
		[[ $untitled == 1 && $n -eq $# ]] && title=
		layers+=(application/vnd.oci.image.layer.v1.tar "$d" "$(stat -c %s "$f")" "$title")
		diffs+=("$d")
	done
	cfg=$(_oci_tmp)
	python3 -c "$_oci_py" config "$os" "$arch" "${diffs[@]}" >"$cfg" || return 1
	d=$(_oci_put_blob "$url" "$repo" "$cfg") || return 1
	man=$(_oci_tmp)
	python3 -c "$_oci_py" manifest application/vnd.oci.image.config.v1+json "$d" \
		"$(stat -c %s "$cfg")" "" "$(_oci_created)" "${layers[@]}" >"$man" || return 1
	[[ $ref == @ ]] && ref=sha256:$(sha "$man")
	digest=$(_oci_put_manifest "$url" "$repo" "$ref" application/vnd.oci.image.manifest.v1+json "$man") ||
		return 1
	printf '%s\n%s\n' "$digest" "$(stat -c %s "$man")"
	rm -f "$cfg" "$man"
}

oci_push_image() {
	local url=$1 repo=$2 tag=$3
	shift 3 || {
		echo "oci_push_image URL REPO TAG [AUTH] [--untitled] FILE..." >&2
		return 1
	}
	local _oci_auth _oci_args
	_oci_parse_auth "$url" "$repo" "$@" || return 1
	local untitled=0 files=() a
	for a in "${_oci_args[@]}"; do
		case $a in
		--untitled) untitled=1 ;;
		--*)
			echo "oci_push_image: unknown option '$a'" >&2
			return 1
			;;
		*) files+=("$a") ;;
		esac
	done
	((${#files[@]})) || {
		echo "oci_push_image: no files" >&2
		return 1
	}
	local res
	res=$(_oci_image "$url" "$repo" "$tag" linux amd64 "$untitled" "${files[@]}") || return 1
	printf '%s\n' "${res%%$'\n'*}"
}

oci_push_index() {
	local url=$1 repo=$2 tag=$3
	shift 3 || {
		echo "oci_push_index URL REPO TAG [AUTH] [AMD64-FILE ARM64-FILE]" >&2
		return 1
	}
	local _oci_auth _oci_args
	_oci_parse_auth "$url" "$repo" "$@" || return 1
	local amd=${_oci_args[0]:-} arm=${_oci_args[1]:-}
	if [[ -z $amd ]]; then
		local d
		d=$(mktemp -d "${TEST_TMP:-${TMPDIR:-/tmp}}/oci-index.XXXXXX")
		mkdir -p "$d/amd64" "$d/arm64"
		amd=$d/amd64/app
		arm=$d/arm64/app
		printf 'linux/amd64 payload %s\n' "$RANDOM$RANDOM" >"$amd"
		printf 'linux/arm64 payload %s\n' "$RANDOM$RANDOM" >"$arm"
	fi
	local r1 r2 man
	# The platform manifests are pushed by digest, as clients do.
	r1=$(_oci_image "$url" "$repo" @ linux amd64 0 "$amd") || return 1
	r2=$(_oci_image "$url" "$repo" @ linux arm64 0 "$arm") || return 1
	man=$(_oci_tmp)
	python3 -c "$_oci_py" index "$(_oci_created)" \
		application/vnd.oci.image.manifest.v1+json "${r1%%$'\n'*}" "${r1#*$'\n'}" linux amd64 \
		application/vnd.oci.image.manifest.v1+json "${r2%%$'\n'*}" "${r2#*$'\n'}" linux arm64 \
		>"$man" || return 1
	_oci_put_manifest "$url" "$repo" "$tag" application/vnd.oci.image.index.v1+json "$man" >/dev/null ||
		return 1
	rm -f "$man"
	printf 'sha256:%s\n' "$(sha "$amd")"
}

# oci_manifest_digest URL REPO TAG [AUTH]: the registry's digest for the tag
# (HEAD with the OCI and Docker Accept types).
oci_manifest_digest() {
	local url=$1 repo=$2 tag=$3
	shift 3
	local _oci_auth _oci_args tmp d
	_oci_parse_auth "$url" "$repo" "$@" || return 1
	tmp=$(_oci_tmp)
	_oci_curl 200 "$tmp" -I -H "Accept: $OCI_MANIFEST_TYPES" "$url/v2/$repo/manifests/$tag" || return 1
	d=$(_oci_header "$tmp.hdr" docker-content-digest)
	rm -f "$tmp" "$tmp.hdr"
	printf '%s\n' "$d"
}

# oci_get_blob URL REPO DIGEST OUTFILE [AUTH] [CURL-ARGS...]: GET a blob (200
# or 206) into OUTFILE; CURL-ARGS such as -H 'Range: bytes=10-'.
oci_get_blob() {
	local url=$1 repo=$2 digest=$3 out=$4
	shift 4
	local _oci_auth _oci_args
	_oci_parse_auth "$url" "$repo" "$@" || return 1
	_oci_curl '200|206' "$out" "${_oci_args[@]}" "$url/v2/$repo/blobs/$digest" || return 1
	rm -f "$out.hdr"
}

# --- skopeo, the independent client ------------------------------------------

# skopeo_manifest URL REPO TAG|DIGEST [--creds U:P]: the raw manifest, as
# skopeo gets it (exact bytes).
skopeo_manifest() {
	local url=$1 repo=$2 ref=$3
	shift 3
	local host=${url#*://} sep=:
	[[ $ref == sha256:* ]] && sep=@
	skopeo inspect --tls-verify=false --retry-times 0 --raw "$@" "docker://$host/$repo$sep$ref"
}

# skopeo_manifest_digest URL REPO TAG [--creds U:P]: sha256:HEX of it.
skopeo_manifest_digest() {
	local h
	h=$(skopeo_manifest "$@" | sha256sum) || return 1
	printf 'sha256:%s\n' "${h%% *}"
}
