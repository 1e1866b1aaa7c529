#!/bin/bash
# t1550-core-dumps: a crash of the daemon or of regctl leaves no core dump
# that holds a password (issue 15, item 9). Both turn core dumps off
# (PR_SET_DUMPABLE 0) before they read a credential: after an
# authenticated pull-through read, SIGABRT (whose default action dumps
# core) leaves no core in the daemon's folder, while with -o dumpable (the
# documented switch for debugging) it does, and the password is in it:
# what the default prevents. The same for regctl login waiting on its
# password, with REGCTL_DUMPABLE=1 as the switch.
# The kernel must write cores as files in the crashing process's folder
# (core_pattern "core..."), else the test is skipped. regctl's cores go to
# folders of the test.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

pattern=$(cat /proc/sys/kernel/core_pattern)
[[ $pattern == core* ]] ||
	skip_all "core_pattern is '$pattern': cores do not land in the process's folder"
ulimit -c unlimited 2>/dev/null || skip_all "cannot raise RLIMIT_CORE (ulimit -c unlimited)"
# ASan turns core dumps off by itself (disable_coredump): only the default
# half means something there.
asan=0
[[ $(ldd "$REGFS" 2>/dev/null) == *libasan* ]] && asan=1

export HOME=$TEST_TMP/home
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS XDG_CONFIG_HOME REGCTL_DUMPABLE

PASS=core-secret-$RANDOM$RANDOM
cores() { find "$1" -maxdepth 1 -name 'core*' -type f | wc -l; }
has_secret() { [[ -n $(find "$1" -maxdepth 1 -name 'core*' -type f -exec grep -alF -- "$PASS" {} +) ]]; }
# quit MNT: SIGABRT the daemon of MNT, wait for it, lazily unmount.
quit() {
	local pid
	pid=$(daemon_pid "$1")
	kill_wait ABRT "$pid"
	regfs_lazy_umount "$1"
}

mkrand "$SRC/app.bin" 20K
registry_start basic --htpasswd "alice:$PASS"
U=$REGISTRY_BASIC_URL
oci_push_file "$U" team/app v1 "$SRC/app.bin" --user "alice:$PASS" >/dev/null
python3 -c 'import base64, json, sys
print(json.dumps({"auths": {sys.argv[1]: {"auth": base64.b64encode(sys.argv[2].encode()).decode()}}}))' \
	"$REGISTRY_BASIC_HOST" "alice:$PASS" >"$TEST_TMP/creds.json"
chmod 600 "$TEST_TMP/creds.json"
printf '[upstream up]\nurl = %s\nplain_http = true\ncredentials = %s\n' "$U" "$TEST_TMP/creds.json" \
	>"$TEST_TMP/regfs.conf"

# run_daemon NAME [OPTS...]: mount, read the tag through the upstream
# with the password, then SIGABRT (a shell starts a background job with
# SIGQUIT ignored). The daemon works in / (libfuse changes there, in the
# foreground too), so a core would land there: new_cores counts the cores
# in / newer than the marker made just before.
run_daemon() {
	local name=$1
	shift
	regfs_mount "$STORE.$name" "$TEST_TMP/$name" -o config="$TEST_TMP/regfs.conf" "$@"
	expect_eq "$(sha "$TEST_TMP/$name/registry/team/app/v1" 2>&1)" "$(sha "$SRC/app.bin")" \
		"the daemon read the tag with the password (${*:-no options})"
	touch "$TEST_TMP/marker"
	quit "$TEST_TMP/$name"
}
new_cores() { find / -maxdepth 1 -name 'core*' -type f -newer "$TEST_TMP/marker" | wc -l; }

run_daemon d1
sleep 0.5
expect_eq "$(new_cores)" 0 "SIGABRT of the daemon leaves no core dump"
if ((asan)); then
	diag "(ASan build: no core either way; the -o dumpable half is skipped)"
elif [[ -n $(find / -maxdepth 1 -name 'core*' -print -quit) ]]; then
	diag "(a core file is in / already: the -o dumpable half, which would write /core, is skipped)"
else
	run_daemon d2 -o dumpable
	check "with -o dumpable it does (the test sees cores)" wait_until 10 'test "$(new_cores)" -eq 1'
	check "and that core holds the password: what the default keeps out" \
		grep -aqF -- "$PASS" /core
	# Ours: made after the marker, by this test's daemon.
	find / -maxdepth 1 -name core -type f -newer "$TEST_TMP/marker" -delete
fi

# regctl login, the password read and the check under way: it waits for
# the end of its standard input, which the test holds open.
login_quit() {
	local dir=$1 fifo=$1/pw pid
	mkdir -p "$dir"
	mkfifo "$fifo"
	(cd "$dir" && exec "$REGCTL" login --plain-http --password-stdin -u alice "$REGISTRY_BASIC_HOST" <"$fifo" >/dev/null 2>&1) &
	pid=$!
	track_pid "$pid"
	exec 7>"$fifo"
	printf '%s' "$PASS" >&7
	sleep 0.5 # (it reads what came; nothing tells from outside when)
	kill_wait ABRT "$pid"
	exec 7>&-
}
login_quit "$TEST_TMP/r1"
expect_eq "$(cores "$TEST_TMP/r1")" 0 "SIGABRT of regctl login holding the password leaves no core dump"
if ((asan)); then
	:
else
	REGCTL_DUMPABLE=1 login_quit "$TEST_TMP/r2"
	check "with REGCTL_DUMPABLE=1 it does" wait_until 10 'test "$(cores "$TEST_TMP/r2")" -eq 1'
	check "and that core holds the password" has_secret "$TEST_TMP/r2"
fi
rm -f "$TEST_TMP"/r?/core*

done_testing
