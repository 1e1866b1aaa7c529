# shellcheck shell=bash
#
# sshd.sh - ssh hosts for integration tests: each one an sshd (Debian's
# openssh-server) on a free loopback port, with a file system view of its
# own: a private /srv. A test sources lib.sh first, then this file:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/sshd.sh"
#   sshd_start web-a
#   sshd_exec web-a 'echo hi >/srv/x'
#   cat "$(sshd_path web-a x)"                   # hi, as the test sees it
#   REGCTL_SSH_COMMAND=$SSHD_SSH_COMMAND "$REGCTL" plan run ...   # by name
#
# What a host is: sshd -D runs under `unshare --mount --propagation private`,
# with $TEST_TMP/ssh/hosts/NAME/srv bind-mounted over /srv in that mount
# namespace only, so every session on it (and nothing else) sees that
# folder as /srv; the rest of the file system is shared with the test (so a
# host's /tmp is the test's /tmp). Its user is root, by key only.
#
# What is generated, under $TEST_TMP/ssh:
#   id_ed25519            the client key (no passphrase), in authorized_keys
#   known_hosts           "[127.0.0.1]:PORT <host key>", one line a host
#   config                an ssh_config: "Host NAME" -> 127.0.0.1, its port,
#                         User root, the key, known_hosts, strict checking
#   hosts/NAME/           sshd_config, host key, srv/, sshd.log, sshd.pid
# OpenSSH reads ~/.ssh from the passwd entry, never from $HOME, so tests
# name the config with -F: SSHD_SSH_COMMAND="ssh -F $TEST_TMP/ssh/config",
# which is what REGCTL_SSH_COMMAND takes.
#
# SSHD_PRIVATE_DIRS (default "/srv") lists the folders a host has for itself;
# a plan that writes /opt and calls systemctl, as Hades's guide does, runs
# unchanged on hosts with SSHD_PRIVATE_DIRS="/srv /opt /usr/local/bin" and
# a stub systemctl in that /usr/local/bin (it comes first in sshd's PATH).
#
# Helpers:
#   sshd_start NAME       start host NAME (at most 10 s), or bail out
#   sshd_stop NAME        stop it (SIGTERM, reaped); it is then unreachable
#   sshd_stop_all         stop every host still running
#   sshd_exec NAME CMD... run a command there through ssh: one argument is
#                         shell text, several are quoted as words (as
#                         wait_until takes them); stdin is passed on;
#                         its status is the command's, 255 if unreached
#   sshd_path NAME PATH   where NAME's /srv/PATH is, seen from the test
#                         (PATH with or without the leading /srv/)
#   sshd_private NAME ABS where NAME's private ABS (under one of
#                         SSHD_PRIVATE_DIRS) is, seen from the test
#   sshd_port NAME        its port
#   sshd_pid NAME         its sshd's PID
# Each sshd is started by this shell and given to track_pid, so lib.sh's
# EXIT trap (and its watchdog) kill it by PID, however the test ends; its
# log is one of the logs lib.sh shows when a test fails.
#
# Needs: root (unshare -m, mount --bind, sshd's privilege separation),
# /usr/sbin/sshd (openssh-server), ssh and ssh-keygen (openssh-client),
# unshare (util-linux). A missing one skips the test (exit 77): tests/run.sh
# installs them.

SSHD_DIR=
SSHD_CONFIG=
SSHD_SSH_COMMAND=
declare -A _sshd_pid=()
declare -A _sshd_port=()

# sshd_require: skip the test unless hosts can be started here.
sshd_require() {
	require_root "sshd hosts run in mount namespaces of their own"
	require_cmd ssh ssh-keygen unshare mount
	[[ -x /usr/sbin/sshd ]] || skip_all "/usr/sbin/sshd is missing (Debian package openssh-server)"
}

# The shared part: client key, authorized_keys, known_hosts, config.
_sshd_init() {
	[[ -n $SSHD_DIR ]] && return 0
	sshd_require
	SSHD_DIR=$TEST_TMP/ssh
	SSHD_CONFIG=$SSHD_DIR/config
	SSHD_SSH_COMMAND="ssh -F $SSHD_CONFIG"
	export SSHD_DIR SSHD_CONFIG SSHD_SSH_COMMAND
	mkdir -p "$SSHD_DIR/hosts"
	chmod 0700 "$SSHD_DIR" "$SSHD_DIR/hosts"
	ssh-keygen -q -t ed25519 -N '' -C "regfs-test-client" -f "$SSHD_DIR/id_ed25519"
	cp "$SSHD_DIR/id_ed25519.pub" "$SSHD_DIR/authorized_keys"
	: >"$SSHD_DIR/known_hosts"
	# ssh refuses a config others may write.
	(umask 077 && : >"$SSHD_CONFIG")
	# sshd's privilege separation folder, made at boot by the package's
	# service, which nothing started here.
	[[ -d /run/sshd ]] || mkdir -m 0755 /run/sshd
	# The mount point each host covers with its own folder.
	[[ -d /srv ]] || mkdir -m 0755 /srv
}

# A loopback TCP port free now (the kernel's choice; sshd_start retries if
# another process takes it meanwhile).
_sshd_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null && return 0
	printf '%s\n' $((20000 + RANDOM % 40000))
}

_sshd_write_config() {
	local dir=$1 port=$2
	cat >"$dir/sshd_config" <<EOF
# sshd of test host $(basename "$dir"), written by tests/integration/sshd.sh
ListenAddress 127.0.0.1:$port
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# The keys live in TEST_TMP, whose modes sshd's checks do not expect.
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
# Plans run hosts in parallel over shared connections.
MaxSessions 64
MaxStartups 64:30:128
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
}

# sshd_start NAME
sshd_start() {
	local name=$1
	[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || bail_out "sshd_start: bad host name '$name'"
	[[ -z ${_sshd_pid[$name]:-} ]] || bail_out "sshd_start: $name is already running"
	_sshd_init
	local dir=$SSHD_DIR/hosts/$name private binds=()
	mkdir -p "$dir/srv"
	chmod 0700 "$dir"
	chmod 0755 "$dir/srv"
	for private in ${SSHD_PRIVATE_DIRS:-/srv}; do
		[[ $private == /srv ]] && continue
		mkdir -p "$dir/private$private" "$private"
		chmod 0755 "$dir/private$private"
		binds+=("$dir/private$private" "$private")
	done
	[[ -f $dir/ssh_host_ed25519_key ]] ||
		ssh-keygen -q -t ed25519 -N '' -C "regfs-test-host-$name" -f "$dir/ssh_host_ed25519_key"
	local log=$dir/sshd.log attempt port pid ready
	_lib_logs+=("$log")
	for attempt in 1 2 3 4 5; do
		port=$(_sshd_free_port)
		_sshd_write_config "$dir" "$port"
		printf '### %s: sshd for %s on port %s (attempt %s)\n' \
			"$(date -u +%FT%TZ)" "$name" "$port" "$attempt" >>"$log"
		# unshare and sh exec, so $! is sshd's own PID. sshd is
		# re-executed by path for every connection: hence /usr/sbin.
		# shellcheck disable=SC2016 # expanded by that sh
		# The new namespace starts with a copy of every mount, other
		# tests' FUSE mounts too: a copy would keep such a mount alive
		# after its test unmounts it (its daemon would never exit), so
		# the host drops them first.
		unshare --mount --propagation private -- /bin/sh -c \
			'conf=$1; shift
			awk '"'"'$3 ~ /^fuse/ { print $2 }'"'"' /proc/self/mounts |
				while read -r m; do umount -l "$m" 2>/dev/null; done
			while [ $# -ge 2 ]; do
				mount --bind "$1" "$2" || exit 1; shift 2
			done; exec /usr/sbin/sshd -D -e -f "$conf"' \
			"sshd-$name" "$dir/sshd_config" "$dir/srv" /srv "${binds[@]}" \
			</dev/null >>"$log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
		pid=$!
		track_pid "$pid"
		ready=0
		if wait_until 10 "grep -q 'Server listening on 127.0.0.1 port $port' '$log' || ! proc_alive $pid"; then
			proc_alive "$pid" && ready=1
		fi
		if ((ready)); then break; fi
		kill_wait KILL "$pid"
		if ! grep -q 'Address already in use' "$log"; then
			diag_file "$log"
			bail_out "sshd_start: sshd for $name did not start"
		fi
	done
	((ready)) || bail_out "sshd_start: no free port for $name after 5 attempts"
	_sshd_pid[$name]=$pid
	_sshd_port[$name]=$port
	printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" \
		>>"$SSHD_DIR/known_hosts"
	cat >>"$SSHD_CONFIG" <<EOF
Host $name
	HostName 127.0.0.1
	Port $port
	User root
	IdentityFile $SSHD_DIR/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile $SSHD_DIR/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 10
EOF
	# Up is not enough: the key, the known host and the private /srv
	# must all work.
	local out
	if ! out=$(sshd_exec "$name" 'mountpoint -q /srv && echo ready' </dev/null 2>&1) ||
		[[ $out != ready ]]; then
		diag "ssh $name: $out"
		diag_file "$log"
		bail_out "sshd_start: $name does not answer over ssh with its own /srv"
	fi
	diag "ssh host $name: sshd $pid on 127.0.0.1:$port, /srv is ${dir#"$TEST_TMP"/}/srv"
}

# sshd_stop NAME
sshd_stop() {
	local pid=${_sshd_pid[$1]:-}
	[[ -n $pid ]] || bail_out "sshd_stop: $1 is not running"
	kill_wait TERM "$pid"
	unset "_sshd_pid[$1]"
}

# sshd_stop_all: stop every host still running (the EXIT trap would kill
# them anyway; stopping them first keeps bash from reporting "Killed").
sshd_stop_all() {
	local name
	for name in "${!_sshd_pid[@]}"; do
		sshd_stop "$name"
	done
}

# sshd_exec NAME CMD...
sshd_exec() {
	local name=$1
	shift
	local cmd
	if (($# == 1)); then
		cmd=$1
	else
		cmd=$(printf '%q ' "$@")
	fi
	ssh -F "$SSHD_CONFIG" -o BatchMode=yes "$name" -- "$cmd"
}

# sshd_path NAME PATH
sshd_path() {
	local p=$2
	p=${p#/srv/}
	p=${p#/}
	printf '%s\n' "$SSHD_DIR/hosts/$1/srv${p:+/$p}"
}

# sshd_private NAME ABS
sshd_private() {
	local p=$2
	if [[ $p == /srv || $p == /srv/* ]]; then
		sshd_path "$1" "$p"
		return
	fi
	printf '%s\n' "$SSHD_DIR/hosts/$1/private$p"
}

sshd_port() { printf '%s\n' "${_sshd_port[$1]:-}"; }
sshd_pid() { printf '%s\n' "${_sshd_pid[$1]:-}"; }
