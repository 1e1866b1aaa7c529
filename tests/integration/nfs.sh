# shellcheck shell=bash
#
# nfs.sh - an NFS server re-exporting a folder (a regfs mount, or a plain
# folder to compare with) to NFS clients, all on loopback in a network
# namespace of the test's own. Sourced after lib.sh, before the first
# regfs_mount:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/nfs.sh"
#   regfs_mount "$STORE" "$MNT"
#   nfs_start "$MNT" --pseudo /regfs --rw
#   nfs_cat 3 /regfs/registry/app/v1 >"$TEST_TMP/v1"
#   nfs_handle 4 /regfs registry/app/v1 getattr read
#   nfs_stop
#
# The peers: nfs-ganesha 4.3 with FSAL VFS (Debian's nfs-ganesha and
# nfs-ganesha-vfs), rpcbind (NFSv3 needs it: ganesha registers MOUNT and
# NFS there, and v3 clients ask it for the MOUNT port), and libnfs's clients
# (libnfs-utils: nfs-ls, nfs-cat, nfs-cp; there is no nfs-stat) plus the
# test's own tests/tools/nfs-handle.c, which keeps one raw file handle.
# libnfs 4.0 speaks NFSv3 and NFSv4.0 only (no 4.1), and its NFSv4 writes of
# 4 KiB or more fail on the client side.
#
# The namespaces. A holder process (unshare --net --mount --propagation
# slave, then sleep) owns them; rpcbind, ganesha and every client run in
# them through nsenter. The network namespace has only loopback, so
# ganesha's port 2049 and rpcbind's 111 are private to the test and tests
# run in parallel. The mount namespace exists for two reasons:
# - rpcbind and ganesha's registration meet at the Unix socket
#   /run/rpcbind.sock, a file: without a /run of their own (a tmpfs there)
#   two tests, or a host rpcbind, would answer each other's calls;
# - it sees the test's mounts as they change: sourcing this file makes
#   TEST_TMP a bind mount of itself with shared propagation, and the
#   namespace is its slave, so a regfs mounted (or unmounted, or mounted
#   again after a restart) under TEST_TMP on the test's side appears (or
#   goes) in ganesha's view at once, while nothing mounted in the namespace
#   leaks out. FUSE mounts the namespace inherited from elsewhere (other
#   tests') are dropped in it, so that it never keeps them alive.
# What ganesha does with a remount under it is its own business: it keeps
# the descriptor of the old mount's root it opened at start, so a regfs
# restarted under a running ganesha is not served until ganesha restarts
# (see t1110).
#
# ganesha runs in the foreground (-F) with its config, log (-L), pid file
# (-p) and NFSv4 recovery folder in $TEST_TMP/nfs/; Graceless = true, so it
# serves at once, and mount_path_pseudo = true, so NFSv3 and NFSv4 paths
# are the same (an export's Pseudo path). Every process started here is
# given to track_pid: lib.sh's EXIT trap and its watchdog kill them by PID
# however the test ends; ganesha's and rpcbind's logs are shown when the
# test fails.
#
# Functions:
#   nfs_export PSEUDO DIR [EXPORT-OPTIONS]   declare an export (for the next
#       nfs_start); EXPORT-OPTIONS:
#         --rw | --ro              Access_Type (default RO)
#         --attr-expiration S      Attr_Expiration_Time (ganesha's default
#                                  is 60 s: how long it trusts cached
#                                  attributes and names)
#         --fsal 'LINE'            a line in the FSAL block, as
#                                  'fsid_type = Major64;'
#         --opt 'LINE'             a line in the EXPORT block, as
#                                  'Filesystem_id = 152.152;'
#         --protocols 'LIST'       Protocols (default '3, 4')
#       Squash is No_Root_Squash (the tests run as root), transports TCP.
#   nfs_exports_clear             forget the declared exports
#   nfs_start [DIR [EXPORT-OPTIONS] [--pseudo P]] [SERVER-OPTIONS]
#       start rpcbind (once) and ganesha, and wait (20 s) until it answers
#       NULL calls of NFSv3, MOUNTv3 and NFSv4 over TCP; bails out (with its
#       log) if it dies or does not answer. With DIR, the exports are that
#       one folder (Pseudo P, default /export). SERVER-OPTIONS:
#         --core 'LINE'            a line in NFS_CORE_PARAM
#         --nfsv4 'LINE'           a line in NFSV4
#         --mdcache 'LINE'         a line in MDCACHE, as
#                                  'FD_LWMark_Percent = 0;'
#         --log COMPONENT=LEVEL    LOG { COMPONENTS { ... } }, as FSAL=INFO
#       Sets NFS_PID, NFS_LOG (ganesha's log), NFS_CONF (its config).
#   nfs_start_config FILE [--set NAME=VALUE]... [SERVER-OPTIONS]
#       start rpcbind and ganesha as nfs_start does, with a shipped
#       configuration file (docs/nfs-ganesha.conf) as it is: every @NAME@
#       placeholder replaced by its --set VALUE (one left outside comments
#       bails out), and the test's own settings merged in. ganesha takes one
#       block of each kind (a second NFS_CORE_PARAM replaces the first,
#       defaults and all), so these go as lines at the top of the file's
#       own block when it has one (a top-level block opening on its own
#       line, "NAME {"), else as a block of their own: NFS_CORE_PARAM
#       (Plugins_Dir; Enable_NLM, Enable_RQUOTA, Enable_UDP false), NFSV4
#       (Graceless, RecoveryBackend fs, RecoveryRoot in $NFS_DIR), NFS_KRB5
#       (Active_krb5 false), LOG, and the SERVER-OPTIONS' lines. A setting
#       the file's block already has is left as the file says. The result
#       is $NFS_CONF, each added line marked "# nfs.sh". nfs_restart keeps
#       the file, its values and the options.
#   nfs_stop [SIGNAL]            SIGTERM (or SIGNAL: KILL) and reap; with
#                                SIGTERM an assertion that ganesha exits 0
#                                within 20 s
#   nfs_restart [SERVER-OPTIONS] stop (SIGTERM) and start again with the
#                                same exports and options (plus these)
#   nfs_running                  ganesha is alive
#   nfs_teardown                 stop ganesha (SIGTERM, an assertion) if it
#                                runs, then rpcbind and the namespace
#                                holder, quietly (the EXIT trap would kill
#                                them, and bash would say "Killed")
#   nfs_run CMD...               run a command in the namespace (a client)
#   nfs_url VERSION PATH         nfs://127.0.0.1PATH?version=VERSION (PATH
#                                starts with the export's pseudo path)
#   nfs_cat VERSION PATH         nfs-cat of that URL to stdout
#   nfs_ls VERSION PATH          nfs-ls of it
#   nfs_cp VERSION LOCAL PATH    nfs-cp LOCAL to it
#   nfs_handle VERSION EXPORT PATH [-H HEX] [COMMAND...]   one run of the
#                                handle client (see tests/tools/nfs-handle.c)
#   nfs_holder_start NAME VERSION EXPORT PATH [-H HEX]
#                                start a handle client that keeps its
#                                handle and waits for commands
#   nfs_holder NAME COMMAND      send one command, print its answer line
#                                (at most 60 s; bails out if it died)
#   nfs_holder_stop NAME         quit it and reap it
#   nfs_in_ns PID                the process runs in the namespace
# Variables: NFS_DIR ($TEST_TMP/nfs), NFS_HOLDER (the holder's PID),
# NFS_HANDLE (the handle client), NFS_SERVER (127.0.0.1).
#
# Facts about ganesha 4.3 (Debian 12) found while building this, for tests:
# - Bind_addr = 127.0.0.1 fails in the namespace ("No IP address found for
#   127.0.0.1"): it is left out, the namespace has nothing but loopback.
#   Its CRIT lines about dbus and Kerberos at start are harmless.
# - It keeps a descriptor of every file it read or wrote (its "global fd")
#   until its LRU reaper closes it, which by default happens only above
#   FD_LWMark_Percent (50 %) of its 20000 descriptors, i.e. at exit in a
#   test: a file written into incoming/ over NFSv3 stays open, unsealed.
#   --mdcache 'FD_LWMark_Percent = 0;' --mdcache 'LRU_Run_Interval = 1;'
#   closes idle ones within about a second. FD_HWMark_Percent = 0 makes it
#   die of SIGFPE at start.
# - SIGTERM closes them all (regfs then seals what was open); SIGKILL
#   closes them as a killed process's (regfs discards them).
# - Its handles hold the exported file system's fsid, which for FUSE (no
#   f_fsid) is the device number: only FSAL { fsid_type = Major64; } keeps
#   handles across a remount on a new device number (t1110).
# - It acts with the client's credentials (setfsuid), after squashing: on a
#   FUSE mount without allow_other every user but the one who mounted it
#   gets ACCES, even for MNT. Before a WRITE or SETATTR it checks the
#   file's owner and mode itself: regfs shows every file as its daemon's,
#   0644, so a client that is not that user (root squashed, or any user)
#   can CREATE but not WRITE (NFS3ERR_ACCES) nor chmod (NFS3ERR_PERM);
#   hence All_Squash to regfs's uid on the shipped publishing export.
# - One block of each kind: a second NFS_CORE_PARAM replaces the first,
#   defaults and all (hence nfs_start_config's merge).
# - A file it last opened for writing is reopened O_RDWR for a READ, and
#   regfs refuses a writer of a sealed file (EEXIST): READ and WRITE of a
#   file that a rename sealed give NFS3ERR_EXIST until the reaper closes
#   that descriptor. A WRITE whose pwrite fails with EBADF (regfs, on a
#   descriptor opened before the seal) gets no answer at all ("Error
#   File/directory not opened in nfs3_write_cb converted to NFS3ERR_IO but
#   was set non-retryable"): the client must time out and resend.
#
# Needs root (namespaces, mounts, ganesha's privileges), ganesha.nfsd and
# its VFS FSAL, rpcbind and rpcinfo, nfs-ls/nfs-cat/nfs-cp, unshare,
# nsenter, ip. When one is missing, or namespaces cannot be made here,
# sourcing this file skips the test (77) and says why.

NFS_SERVER=127.0.0.1
NFS_DIR=$TEST_TMP/nfs
NFS_HOLDER=
NFS_PID=
NFS_LOG=
NFS_CONF=
NFS_HANDLE=${NFS_HANDLE:-$REGFS_BUILD_DIR/tests/regfs-test-nfs-handle}
_nfs_rpcbind_pid=
_nfs_exports=()       # one EXPORT block each
_nfs_shipped=         # nfs_start_config's FILE, else empty
_nfs_shipped_sets=()  # and its NAME=VALUE substitutions
_nfs_server_opts=()   # the SERVER-OPTIONS of the last nfs_start
_nfs_start_seq=0
declare -A _nfs_holder_pid=() _nfs_holder_fd=() _nfs_holder_out=()

# --- what is needed ------------------------------------------------------

_nfs_require() {
	require_root "ganesha runs in network and mount namespaces of the test's own"
	local c
	for c in unshare nsenter ip mount; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c is not installed"
	done
	command -v ganesha.nfsd >/dev/null 2>&1 ||
		skip_all "ganesha.nfsd is not installed (Debian packages nfs-ganesha nfs-ganesha-vfs)"
	_nfs_fsal_dir=
	for c in /usr/lib/*/ganesha /usr/lib64/ganesha /usr/lib/ganesha; do
		if [[ -e $c/libfsalvfs.so ]]; then
			_nfs_fsal_dir=$c
			break
		fi
	done
	[[ -n $_nfs_fsal_dir ]] ||
		skip_all "ganesha's VFS FSAL is not installed (Debian package nfs-ganesha-vfs)"
	command -v rpcbind >/dev/null 2>&1 || [[ -x /usr/sbin/rpcbind || -x /sbin/rpcbind ]] ||
		skip_all "rpcbind is not installed (Debian package rpcbind)"
	command -v rpcinfo >/dev/null 2>&1 || [[ -x /usr/sbin/rpcinfo ]] ||
		skip_all "rpcinfo is not installed (Debian package rpcbind)"
	for c in nfs-ls nfs-cat nfs-cp; do
		command -v "$c" >/dev/null 2>&1 ||
			skip_all "$c is not installed (Debian package libnfs-utils)"
	done
	if ! unshare --net --mount -- true 2>/dev/null; then
		skip_all "cannot make network and mount namespaces here (unshare --net --mount)"
	fi
}

_nfs_bin() {
	local c
	for c in "$1" "/usr/sbin/$1" "/sbin/$1"; do
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return 0
		fi
	done
	printf '%s\n' "$1"
}

# TEST_TMP becomes a mount of its own with shared propagation, before the
# test mounts anything under it (a plain bind would hide such a mount).
_nfs_share_tmp() {
	if awk -v t="$TEST_TMP/" 'index($5, t) == 1 { found = 1 } END { exit !found }' \
		/proc/self/mountinfo; then
		bail_out "nfs.sh: source it before mounting anything under \$TEST_TMP"
	fi
	mount --bind "$TEST_TMP" "$TEST_TMP" ||
		bail_out "nfs.sh: mount --bind $TEST_TMP on itself failed"
	track_mount "$TEST_TMP"
	mount --make-shared "$TEST_TMP" ||
		bail_out "nfs.sh: mount --make-shared $TEST_TMP failed"
}

_nfs_require
_nfs_share_tmp
mkdir -p "$NFS_DIR"

# --- the namespaces ----------------------------------------------------------

# The holder: makes the namespaces, brings loopback up, mounts a private
# /run, drops the FUSE mounts not under TEST_TMP, says ready, sleeps.
_nfs_holder_up() {
	[[ -n $NFS_HOLDER ]] && proc_alive "$NFS_HOLDER" && return 0
	local log=$NFS_DIR/holder.log
	rm -f "$NFS_DIR/holder.ready"
	# shellcheck disable=SC2016 # expanded by that bash
	unshare --net --mount --propagation slave -- bash -c '
		set -e
		tmp=$1 ready=$2
		ip link set lo up
		mount -t tmpfs -o mode=0755 regfs-nfs-run /run
		mkdir -p /run/rpcbind /run/ganesha
		awk '"'"'$3 ~ /^fuse/ { print $2 }'"'"' /proc/self/mounts |
			while read -r m; do
				case $m in "$tmp"/*) ;; *) umount -l "$m" 2>/dev/null || : ;; esac
			done
		: >"$ready"
		exec sleep infinity' regfs-nfs-holder "$TEST_TMP" "$NFS_DIR/holder.ready" \
		</dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	NFS_HOLDER=$!
	track_pid "$NFS_HOLDER"
	_lib_logs+=("$log")
	if ! wait_until 10 "[[ -e '$NFS_DIR/holder.ready' ]] || ! proc_alive $NFS_HOLDER"; then
		diag_file "$log"
		bail_out "nfs.sh: the namespace holder did not get ready within 10 s"
	fi
	if ! proc_alive "$NFS_HOLDER"; then
		reap "$NFS_HOLDER"
		diag_file "$log"
		skip_all "cannot set up a network and mount namespace with loopback here (status $REAP_RC)"
	fi
}

nfs_run() {
	nsenter -t "$NFS_HOLDER" -n -m -- "$@"
}

# nfs_in_ns PID: PID's network namespace is the holder's.
nfs_in_ns() {
	[[ $(readlink "/proc/$1/ns/net" 2>/dev/null) == "$(readlink "/proc/$NFS_HOLDER/ns/net")" ]]
}

_nfs_rpcbind_up() {
	[[ -n $_nfs_rpcbind_pid ]] && proc_alive "$_nfs_rpcbind_pid" && return 0
	local log=$NFS_DIR/rpcbind.log
	printf '### %s: rpcbind -f\n' "$(date -u +%FT%TZ)" >>"$log"
	# nsenter itself, not nfs_run: $! must be the daemon's PID.
	nsenter -t "$NFS_HOLDER" -n -m -- "$(_nfs_bin rpcbind)" -f </dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	_nfs_rpcbind_pid=$!
	track_pid "$_nfs_rpcbind_pid"
	_lib_logs+=("$log")
	if ! wait_until 10 "nfs_run '$(_nfs_bin rpcinfo)' -p $NFS_SERVER >/dev/null 2>&1 || ! proc_alive $_nfs_rpcbind_pid"; then
		diag_file "$log"
		bail_out "nfs.sh: rpcbind did not answer within 10 s"
	fi
	if ! proc_alive "$_nfs_rpcbind_pid"; then
		reap "$_nfs_rpcbind_pid"
		diag_file "$log"
		bail_out "nfs.sh: rpcbind exited (status $REAP_RC)"
	fi
}

# --- the configuration ---------------------------------------------------------

nfs_exports_clear() {
	_nfs_exports=()
}

nfs_export() {
	local pseudo=${1:?nfs_export PSEUDO DIR [options]} dir=${2:?nfs_export PSEUDO DIR [options]}
	shift 2
	local access=RO attr='' protocols='3, 4' fsal=() opt=()
	while (($#)); do
		case $1 in
		--rw) access=RW; shift ;;
		--ro) access=RO; shift ;;
		--attr-expiration) attr=${2:?--attr-expiration S}; shift 2 ;;
		--fsal) fsal+=("${2:?--fsal LINE}"); shift 2 ;;
		--opt) opt+=("${2:?--opt LINE}"); shift 2 ;;
		--protocols) protocols=${2:?--protocols LIST}; shift 2 ;;
		*) bail_out "nfs_export: unknown option '$1'" ;;
		esac
	done
	[[ $pseudo == /* ]] || bail_out "nfs_export: the pseudo path '$pseudo' must start with /"
	dir=$(cd "$dir" && pwd -P) || bail_out "nfs_export: no folder '$2'"
	local id=$((${#_nfs_exports[@]} + 1)) block l
	block="EXPORT {
	Export_Id = $id;
	Path = \"$dir\";
	Pseudo = \"$pseudo\";
	Access_Type = $access;
	Squash = No_Root_Squash;
	Protocols = $protocols;
	Transports = TCP;
	SecType = sys;"
	[[ -n $attr ]] && block+="
	Attr_Expiration_Time = $attr;"
	for l in "${opt[@]}"; do block+="
	$l"; done
	block+="
	FSAL {
		Name = VFS;"
	for l in "${fsal[@]}"; do block+="
		$l"; done
	block+="
	}
}"
	_nfs_exports+=("$block")
}

# _nfs_write_config SERVER-OPTIONS...
_nfs_write_config() {
	if [[ -n $_nfs_shipped ]]; then
		_nfs_write_shipped_config "$@"
		return
	fi
	local core=() nfsv4=() mdcache=() logc=() l
	while (($#)); do
		case $1 in
		--core) core+=("${2:?--core LINE}"); shift 2 ;;
		--nfsv4) nfsv4+=("${2:?--nfsv4 LINE}"); shift 2 ;;
		--mdcache) mdcache+=("${2:?--mdcache LINE}"); shift 2 ;;
		--log) logc+=("${2:?--log COMPONENT=LEVEL}"); shift 2 ;;
		*) bail_out "nfs_start: unknown option '$1'" ;;
		esac
	done
	((${#_nfs_exports[@]})) || bail_out "nfs_start: no export (nfs_export, or nfs_start DIR)"
	mkdir -p "$NFS_DIR/recovery"
	NFS_CONF=$NFS_DIR/ganesha.conf
	{
		printf '# written by tests/integration/nfs.sh for %s\n' "$TEST_NAME"
		printf 'NFS_CORE_PARAM {\n'
		printf '\tPlugins_Dir = "%s";\n' "$_nfs_fsal_dir"
		# Only what the tests use: no NLM (it needs rpc.statd), no
		# RQUOTA, no UDP; v3 mounts by the pseudo path, as v4.
		printf '\tProtocols = 3, 4;\n\tEnable_NLM = false;\n\tEnable_RQUOTA = false;\n'
		printf '\tEnable_UDP = false;\n\tmount_path_pseudo = true;\n'
		for l in "${core[@]}"; do printf '\t%s\n' "$l"; done
		printf '}\n'
		printf 'NFSV4 {\n\tGraceless = true;\n\tRecoveryBackend = fs;\n'
		printf '\tRecoveryRoot = "%s";\n' "$NFS_DIR/recovery"
		for l in "${nfsv4[@]}"; do printf '\t%s\n' "$l"; done
		printf '}\n'
		printf 'NFS_KRB5 {\n\tActive_krb5 = false;\n}\n'
		if ((${#mdcache[@]})); then
			printf 'MDCACHE {\n'
			for l in "${mdcache[@]}"; do printf '\t%s\n' "$l"; done
			printf '}\n'
		fi
		# TIRPC logs every client's disconnect as a warning: errors
		# only, unless asked (--log TIRPC=EVENT).
		printf 'LOG {\n\tDefault_Log_Level = EVENT;\n\tCOMPONENTS {\n'
		[[ " ${logc[*]} " == *" TIRPC="* ]] || printf '\t\tTIRPC = CRIT;\n'
		for l in "${logc[@]}"; do printf '\t\t%s = %s;\n' "${l%%=*}" "${l#*=}"; done
		printf '\t}\n}\n'
		printf '%s\n' "${_nfs_exports[@]}"
	} >"$NFS_CONF"
}

# _nfs_write_shipped_config SERVER-OPTIONS...: $_nfs_shipped with its
# placeholders replaced and the test's settings merged in (see
# nfs_start_config), into $NFS_CONF.
_nfs_write_shipped_config() {
	local core=() nfsv4=() mdcache=() logc=() l set name value text
	while (($#)); do
		case $1 in
		--core) core+=("${2:?--core LINE}"); shift 2 ;;
		--nfsv4) nfsv4+=("${2:?--nfsv4 LINE}"); shift 2 ;;
		--mdcache) mdcache+=("${2:?--mdcache LINE}"); shift 2 ;;
		--log) logc+=("${2:?--log COMPONENT=LEVEL}"); shift 2 ;;
		*) bail_out "nfs_start_config: unknown option '$1'" ;;
		esac
	done
	text=$(<"$_nfs_shipped") || bail_out "nfs_start_config: cannot read $_nfs_shipped"
	for set in "${_nfs_shipped_sets[@]}"; do
		name=${set%%=*} value=${set#*=}
		[[ $set == *=* && $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
			bail_out "nfs_start_config: --set takes NAME=VALUE, not '$set'"
		[[ $text == *"@$name@"* ]] ||
			bail_out "nfs_start_config: $_nfs_shipped has no placeholder @$name@"
		# Quoted: no pattern, and no & (patsub_replacement) in VALUE.
		text=${text//"@$name@"/"$value"}
	done
	# shellcheck disable=SC2001 # comments end each line, not the text
	l=$(sed 's/#.*//' <<<"$text" | grep -o '@[A-Za-z_][A-Za-z0-9_]*@' | sort -u | tr '\n' ' ') || :
	[[ -z $l ]] || bail_out "nfs_start_config: placeholders not given (--set NAME=VALUE): $l"
	local add=$NFS_DIR/config-add
	rm -rf "$add"
	mkdir -p "$add" "$NFS_DIR/recovery"
	{
		printf 'Plugins_Dir = "%s";\n' "$_nfs_fsal_dir"
		printf 'Enable_NLM = false;\nEnable_RQUOTA = false;\nEnable_UDP = false;\n'
		for l in "${core[@]}"; do printf '%s\n' "$l"; done
	} >"$add/NFS_CORE_PARAM"
	{
		printf 'Graceless = true;\nRecoveryBackend = fs;\n'
		printf 'RecoveryRoot = "%s";\n' "$NFS_DIR/recovery"
		for l in "${nfsv4[@]}"; do printf '%s\n' "$l"; done
	} >"$add/NFSV4"
	printf 'Active_krb5 = false;\n' >"$add/NFS_KRB5"
	if ((${#mdcache[@]})); then
		printf '%s\n' "${mdcache[@]}" >"$add/MDCACHE"
	fi
	{
		printf 'Default_Log_Level = EVENT;\nCOMPONENTS {\n'
		[[ " ${logc[*]} " == *" TIRPC="* ]] || printf '\tTIRPC = CRIT;\n'
		for l in "${logc[@]}"; do printf '\t%s = %s;\n' "${l%%=*}" "${l#*=}"; done
		printf '}\n'
	} >"$add/LOG"
	NFS_CONF=$NFS_DIR/ganesha.conf
	{
		printf '# written by tests/integration/nfs.sh for %s: %s with its\n' "$TEST_NAME" "$_nfs_shipped"
		printf '# placeholders replaced and the lines marked "nfs.sh" added\n'
		# shellcheck disable=SC2016 # awk's own $0
		awk -v add="$add" -v blocks=" $(cd "$add" && echo *) " '
			function code(s) { sub(/#.*/, "", s); return s }
			function opens(s,  n) {
				if (s !~ /^[ \t]*[A-Za-z0-9_]+[ \t]*\{/)
					return ""
				n = s
				sub(/^[ \t]*/, "", n)
				sub(/[ \t]*\{.*/, "", n)
				return toupper(n)
			}
			function depth_of(s) { return gsub(/\{/, "{", s) - gsub(/\}/, "}", s) }
			# The lines for block NAME, but the settings it has.
			function emit(name, indent,  line, key, f) {
				f = add "/" name
				while ((getline line < f) > 0) {
					key = line
					sub(/^[ \t]*/, "", key)
					if (key ~ /^[A-Za-z0-9_]+[ \t]*=/) {
						sub(/[ \t]*=.*/, "", key)
						if ((name, tolower(key)) in has) {
							printf "%s# nfs.sh: %s as the file sets it\n", indent, key
							continue
						}
					}
					printf "%s%s%s\n", indent, line, line ~ /[;{}]$/ ? " # nfs.sh" : ""
				}
				close(f)
				done[name] = 1
			}
			NR == FNR {
				l = code($0)
				if (d == 0 && opens(l) != "")
					cur = opens(l)
				if (d == 1 && l ~ /^[ \t]*[A-Za-z0-9_]+[ \t]*=/) {
					k = l
					sub(/^[ \t]*/, "", k)
					sub(/[ \t]*=.*/, "", k)
					has[cur, tolower(k)] = 1
				}
				d += depth_of(l)
				next
			}
			{
				l = code($0)
				print
				if (e == 0 && (n = opens(l)) != "" &&
				    index(blocks, " " n " "))
					emit(n, "\t")
				e += depth_of(l)
			}
			END {
				split(blocks, names, " ")
				for (i = 1; i in names; i++) {
					n = names[i]
					if (n in done)
						continue
					printf "%s {\n", n
					emit(n, "\t")
					printf "}\n"
				}
			}' <(printf '%s\n' "$text") <(printf '%s\n' "$text")
	} >"$NFS_CONF"
}

# --- ganesha -------------------------------------------------------------------

nfs_running() {
	[[ -n $NFS_PID ]] && proc_alive "$NFS_PID"
}

# _nfs_answers: NULL calls over TCP to NFSv3 and MOUNTv3 (through the
# portmapper) and NFSv4 (port 2049) all succeed.
_nfs_answers() {
	local rpcinfo
	rpcinfo=$(_nfs_bin rpcinfo)
	nfs_run "$rpcinfo" -t "$NFS_SERVER" nfs 3 >/dev/null 2>&1 &&
		nfs_run "$rpcinfo" -t "$NFS_SERVER" mountd 3 >/dev/null 2>&1 &&
		nfs_run "$rpcinfo" -n 2049 -t "$NFS_SERVER" nfs 4 >/dev/null 2>&1
}

_nfs_launch() {
	_nfs_start_seq=$((_nfs_start_seq + 1))
	NFS_LOG=$NFS_DIR/ganesha.log
	local out=$NFS_DIR/ganesha.out
	[[ " ${_lib_logs[*]} " == *" $NFS_LOG "* ]] || _lib_logs+=("$NFS_LOG" "$out")
	printf '### %s: ganesha.nfsd start %d\n' "$(date -u +%FT%TZ)" "$_nfs_start_seq" >>"$out"
	rm -f "$NFS_DIR/ganesha.pid"
	nsenter -t "$NFS_HOLDER" -n -m -- ganesha.nfsd -F -f "$NFS_CONF" -L "$NFS_LOG" -p "$NFS_DIR/ganesha.pid" -N NIV_EVENT \
		</dev/null >>"$out" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	NFS_PID=$!
	track_pid "$NFS_PID"
	local deadline=$(($(now_ns) + 20 * 1000000000))
	while ! _nfs_answers; do
		if ! proc_alive "$NFS_PID"; then
			reap "$NFS_PID"
			diag_file "$out"
			diag_file "$NFS_LOG"
			bail_out "nfs_start: ganesha exited (status $REAP_RC) before it answered"
		fi
		if (($(now_ns) >= deadline)); then
			diag_file "$NFS_LOG"
			bail_out "nfs_start: ganesha did not answer within 20 s"
		fi
		sleep 0.05
	done
	if [[ -n $_nfs_shipped ]]; then
		diag "ganesha $NFS_PID serves ${_nfs_shipped##*/} (start $_nfs_start_seq)"
	else
		diag "ganesha $NFS_PID serves ${#_nfs_exports[@]} export(s) (start $_nfs_start_seq)"
	fi
}

nfs_start() {
	if nfs_running; then
		bail_out "nfs_start: ganesha is already running ($NFS_PID)"
	fi
	if (($#)) && [[ $1 != --* ]]; then
		local dir=$1 pseudo=/export eopts=()
		shift
		while (($#)); do
			case $1 in
			--pseudo) pseudo=${2:?--pseudo P}; shift 2 ;;
			--rw | --ro) eopts+=("$1"); shift ;;
			--attr-expiration | --fsal | --opt | --protocols) eopts+=("$1" "${2:?$1 VALUE}"); shift 2 ;;
			*) break ;;
			esac
		done
		nfs_exports_clear
		nfs_export "$pseudo" "$dir" "${eopts[@]}"
	fi
	_nfs_shipped=
	_nfs_server_opts=("$@")
	_nfs_write_config "$@"
	_nfs_holder_up
	_nfs_rpcbind_up
	_nfs_launch
}

nfs_start_config() {
	local file=${1:?nfs_start_config FILE [--set NAME=VALUE]... [SERVER-OPTIONS]}
	shift
	if nfs_running; then
		bail_out "nfs_start_config: ganesha is already running ($NFS_PID)"
	fi
	[[ -f $file && -r $file ]] || bail_out "nfs_start_config: no file $file"
	_nfs_shipped=$(cd "$(dirname "$file")" && pwd -P)/${file##*/}
	_nfs_shipped_sets=()
	while (($#)) && [[ $1 == --set ]]; do
		_nfs_shipped_sets+=("${2:?--set NAME=VALUE}")
		shift 2
	done
	_nfs_server_opts=("$@")
	_nfs_write_config "$@"
	_nfs_holder_up
	_nfs_rpcbind_up
	_nfs_launch
}

nfs_stop() {
	local sig=${1:-TERM}
	if ! nfs_running; then
		bail_out "nfs_stop: ganesha is not running"
	fi
	local pid=$NFS_PID gone=1
	# Quietly: bash would report "Killed" for a job that died of a signal.
	{
		kill "-$sig" "$pid" 2>/dev/null || :
		wait_exit "$pid" 20 || gone=0
	} 2>/dev/null
	if ((!gone)); then
		fail "ganesha $pid exits within 20 s of SIG$sig"
		kill_wait KILL "$pid"
		NFS_PID=
		return 1
	fi
	{ reap "$pid"; } 2>/dev/null
	NFS_PID=
	if [[ $sig == TERM ]]; then
		if [[ $REAP_RC -eq 0 ]]; then
			ok "ganesha exits 0 on SIGTERM"
		else
			fail "ganesha exits 0 on SIGTERM"
			diag "exit status $REAP_RC"
			diag_file "$NFS_LOG"
		fi
	fi
}

nfs_teardown() {
	local name
	for name in "${!_nfs_holder_pid[@]}"; do
		nfs_holder_stop "$name"
	done
	if nfs_running; then
		nfs_stop TERM
	fi
	if [[ -n $_nfs_rpcbind_pid ]]; then
		kill_wait TERM "$_nfs_rpcbind_pid"
		_nfs_rpcbind_pid=
	fi
	if [[ -n $NFS_HOLDER ]]; then
		kill_wait KILL "$NFS_HOLDER"
		NFS_HOLDER=
	fi
}

nfs_restart() {
	nfs_stop TERM
	_nfs_write_config "${_nfs_server_opts[@]}" "$@"
	_nfs_launch
}

# --- clients -----------------------------------------------------------------

nfs_url() {
	printf 'nfs://%s%s?version=%s\n' "$NFS_SERVER" "$2" "$1"
}

nfs_cat() {
	nfs_run nfs-cat "$(nfs_url "$1" "$2")"
}

nfs_ls() {
	nfs_run nfs-ls "$(nfs_url "$1" "$2")"
}

nfs_cp() {
	nfs_run nfs-cp "$2" "$(nfs_url "$1" "$3")"
}

_nfs_need_handle_client() {
	[[ -x $NFS_HANDLE ]] ||
		bail_out "no NFS handle client at $NFS_HANDLE: build with libnfs-dev installed"
}

nfs_handle() {
	_nfs_need_handle_client
	local version=$1 export=$2 path=$3
	shift 3
	# Its getopt takes options after the operands too (-H HEX).
	nfs_run "$NFS_HANDLE" "-$version" "$NFS_SERVER" "$export" "$path" "$@"
}

# shellcheck disable=SC2154 # _lib_main_pid is lib.sh's
nfs_holder_start() {
	_nfs_need_handle_client
	if [[ $BASHPID != "$_lib_main_pid" ]]; then
		echo "nfs_holder_start: call it in the test's main shell" >&2
		return 1
	fi
	local name=$1 version=$2 export=$3 path=$4
	shift 4
	[[ -z ${_nfs_holder_pid[$name]:-} ]] || bail_out "nfs_holder_start: $name is running"
	local fifo=$NFS_DIR/holder-$name.in out=$NFS_DIR/holder-$name.out fd
	rm -f "$fifo"
	mkfifo "$fifo"
	: >"$out"
	nsenter -t "$NFS_HOLDER" -n -m -- "$NFS_HANDLE" "-$version" "$@" "$NFS_SERVER" "$export" "$path" \
		<"$fifo" >"$out" 2>>"$NFS_DIR/holder-$name.err" &
	_nfs_holder_pid[$name]=$!
	track_pid "$!"
	_lib_logs+=("$NFS_DIR/holder-$name.err")
	exec {fd}>"$fifo"
	_nfs_holder_fd[$name]=$fd
	_nfs_holder_out[$name]=$out
	printf '0\n' >"$NFS_DIR/holder-$name.seen"
	# Its first line: "handle HEX", or "lookup STATUS" when it failed.
	_nfs_holder_line "$name" >/dev/null
}

# Waits for the next line of the holder's output and prints it. The count
# of lines read is kept in a file, so that nfs_holder works in $(...).
_nfs_holder_line() {
	local name=$1 out=${_nfs_holder_out[$1]} pid=${_nfs_holder_pid[$1]}
	local seen=$NFS_DIR/holder-$1.seen want
	want=$(($(cat "$seen") + 1))
	if ! wait_until 60 "[[ \$(wc -l <'$out') -ge $want ]] || ! proc_alive $pid"; then
		bail_out "nfs_holder: $name gave no answer within 60 s"
	fi
	if [[ $(wc -l <"$out") -lt $want ]]; then
		diag_file "$NFS_DIR/holder-$name.err"
		bail_out "nfs_holder: $name exited"
	fi
	printf '%s\n' "$want" >"$seen"
	sed -n "${want}p" "$out"
}

nfs_holder() {
	local name=$1 cmd=$2
	[[ -n ${_nfs_holder_pid[$name]:-} ]] || bail_out "nfs_holder: no holder $name"
	printf '%s\n' "$cmd" >&"${_nfs_holder_fd[$name]}"
	_nfs_holder_line "$name"
}

# nfs_holder_handle NAME: the handle it holds (its first line).
nfs_holder_handle() {
	sed -n '1s/^handle //p' "${_nfs_holder_out[$1]}"
}

nfs_holder_stop() {
	local name=$1 pid=${_nfs_holder_pid[$1]:-}
	[[ -n $pid ]] || return 0
	local fd=${_nfs_holder_fd[$name]}
	{ printf 'quit\n' >&"$fd"; } 2>/dev/null || :
	exec {fd}>&-
	wait_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || :
	reap "$pid"
	unset "_nfs_holder_pid[$name]"
}
