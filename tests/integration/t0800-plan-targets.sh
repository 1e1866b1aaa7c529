#!/bin/bash
# t0800-plan-targets: the ssh hosts plans are tested against (sshd.sh).
# Three sshd hosts on loopback, each with its own /srv; reached by name
# through REGCTL_SSH_COMMAND's ssh config, the way regctl reaches them
# (batch mode, a shared connection, the "sh -c" wrapper of $REGCTL_SSH_COMMAND
# with "$@"); a stopped host is unreachable (ssh's 255). Then core/target.c's
# own cases run through a real sshd: the unit test program test-target,
# whose "real ssh" group runs when REGFS_TEST_SSH_HOST names a host.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # remote shell text
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"

sshd_require
require_cmd python3 mountpoint

hosts=(alpha beta gamma)
t0=$(now_ns)
for h in "${hosts[@]}"; do
	sshd_start "$h"
done
diag "3 hosts up in $((($(now_ns) - t0) / 1000000)) ms"

# --- each host: reached by name, as root, with its own /srv ------------------

ports=()
for h in "${hosts[@]}"; do
	ports+=("$(sshd_port "$h")")
	run_cmd sshd_exec "$h" 'echo "$(id -un) on $(cat /proc/sys/kernel/hostname)"'
	expect_eq "$RC:$OUT" "0:root on $(cat /proc/sys/kernel/hostname)" "$h answers over ssh, as root"
done
expect_eq "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" 3 "three hosts, three ports"

# Each host has a mount namespace of its own, none the test's.
ns_all=("$(readlink /proc/self/ns/mnt)")
for h in "${hosts[@]}"; do
	ns_all+=("$(sshd_exec "$h" 'readlink /proc/self/ns/mnt')")
done
expect_eq "$(printf '%s\n' "${ns_all[@]}" | sort -u | wc -l)" 4 "three mount namespaces besides the test's"

# A file written on one host's /srv is on that host only.
expect_ok "write /srv/only-alpha on alpha" -- sshd_exec alpha 'echo from-alpha >/srv/only-alpha'
expect_eq "$(cat "$(sshd_path alpha only-alpha)" 2>&1)" from-alpha "sshd_path shows alpha's file"
expect_eq "$(cat "$(sshd_path alpha /srv/only-alpha)" 2>&1)" from-alpha "sshd_path takes /srv/PATH too"
for h in beta gamma; do
	expect_status 1 sshd_exec "$h" 'test -e /srv/only-alpha'
	check "$h's own folder has no only-alpha" test ! -e "$(sshd_path "$h" only-alpha)"
done
check "the test's /srv has no only-alpha" test ! -e /srv/only-alpha

# Each writes its name to the same path; each reads back its own.
for h in "${hosts[@]}"; do
	sshd_exec "$h" "mkdir -p /srv/app && echo $h >/srv/app/who"
done
for h in "${hosts[@]}"; do
	expect_eq "$(sshd_exec "$h" 'cat /srv/app/who')" "$h" "$h reads its own /srv/app/who"
	expect_eq "$(cat "$(sshd_path "$h" app/who)")" "$h" "the test sees $h's /srv/app/who"
done

# The rest of the file system is shared: a host's /tmp is the test's.
echo shared >"$TEST_TMP/shared-file"
expect_eq "$(sshd_exec beta "cat $TEST_TMP/shared-file")" shared "a host sees the test's /tmp"

# sshd_exec: several words are quoted, stdin is passed on, the status is
# the command's.
expect_eq "$(sshd_exec gamma printf '%s|' 'two words' "it's" '$HOME')" "two words|it's|\$HOME|" \
	"sshd_exec quotes each word"
expect_eq "$(printf 'line1\nline2\n' | sshd_exec gamma 'wc -l')" 2 "sshd_exec passes stdin on"
expect_status 7 sshd_exec gamma 'exit 7'

# --- the way regctl runs ssh --------------------------------------------------

# As target.c does with REGCTL_SSH_COMMAND: through sh, "$@" appended, in
# batch mode, with a shared connection in a private folder.
ctl=$(mktemp -d "$TEST_TMP/ctl.XXXXXX")
regctl_ssh() {
	/bin/sh -c 'exec '"$SSHD_SSH_COMMAND"' "$@"' regctl-ssh \
		-o BatchMode=yes -o ConnectTimeout=10 -o ControlMaster=auto \
		-o "ControlPath=$ctl/%C" -o ControlPersist=60 \
		-o ServerAliveInterval=15 -o ServerAliveCountMax=4 "$@"
}
expect_eq "$(regctl_ssh alpha -- "sh -c 'cat /srv/app/who; exit 0'")" alpha \
	"REGCTL_SSH_COMMAND's form reaches alpha by name"
expect_eq "$(find "$ctl" -type s | wc -l)" 1 "a shared connection: its socket is in the private folder"
t1=$(now_ns)
for i in 1 2 3 4 5; do regctl_ssh alpha -- true; done
diag "5 commands over the shared connection: $((($(now_ns) - t1) / 1000000)) ms"
run_cmd regctl_ssh alpha -- "sh -c 'echo out; echo err >&2; exit 3'"
expect_eq "$RC" 3 "the remote status comes back over the shared connection"
expect_ok "ssh -O exit closes it" -- regctl_ssh -O exit alpha
wait_until 5 'test "$(find "$ctl" -type s | wc -l)" -eq 0' || :
expect_eq "$(find "$ctl" -type s | wc -l)" 0 "no socket left after -O exit"

# --- a stopped host is unreachable ----------------------------------------------

sshd_stop gamma
run_cmd sshd_exec gamma true
expect_eq "$RC" 255 "a stopped host: ssh exits 255"
expect_match "$OUT" "refused" "and says the connection was refused"

# --- core/target.c through a real sshd --------------------------------------------

unit=$REGFS_BUILD_DIR/tests/test-target
if [[ -x $unit ]]; then
	# Processes of this run of test-target (ssh masters, "ssh: SOCKET
	# [mux]", and remote commands both name its folder, /tmp/rfs-TAG-*):
	# none may outlive it.
	tag=t$$
	leftovers() { pgrep -f "/tmp/rfs-$tag-" | sort || :; }
	before=$(leftovers)
	REGCTL_SSH_COMMAND=$SSHD_SSH_COMMAND REGFS_TEST_SSH_HOST=beta REGFS_TEST_TAG=$tag \
		run_cmd "$unit"
	expect_eq "$RC" 0 "test-target passes, its real ssh group against beta"
	if [[ $RC -ne 0 ]]; then
		printf '%s\n' "$OUT" | grep -E 'FAILED|ERROR|LINE|open:|run ' | head -n 30 | sed 's/^/#   /' || :
	fi
	expect_match "$OUT" "# real ssh: against beta" "the real ssh group ran"
	after=$(leftovers)
	expect_eq "$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | grep -c . || :)" 0 \
		"no ssh master or remote command of test-target is left"
else
	diag "no $unit (cmocka missing?): core/target.c not run against sshd"
fi

sshd_stop_all
done_testing
