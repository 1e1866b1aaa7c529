#!/bin/bash
# t1600-retire-under-lookups: regctl rm of many tags beside a mount whose
# folder is being looked up all the time. The daemon's watcher tells the
# kernel to forget each removed name; it did so while holding the catalog's
# lock, and the kernel's entry invalidation waits for the folder's lock,
# which a lookup in that folder holds while its FUSE thread waits for the
# catalog: the two waited for each other for ever, every process on the
# mount hung, and SIGKILL left the daemon a zombie (its watcher thread in D
# state in fuse_reverse_inval_entry) until the FUSE connection was aborted.
# Found by tests/soak (issue 15).
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=${T1600_TAGS:-300}
mkdir -p "$SRC/tree/app"
for ((i = 1; i <= N; i++)); do printf 'tag %d\n' "$i" >"$SRC/tree/app/t$i"; done
"$REGCTL" --store "$STORE" import --from tree "$SRC/tree" >/dev/null

regfs_mount "$STORE" "$MNT"
mnt=$(cd "$MNT" && pwd -P)
conn=$(awk -v m="$mnt" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
R=$MNT/registry

# lookups NAME: stat names the kernel has never seen in registry/app (each a
# LOOKUP the daemon answers from the catalog) until the stop file exists;
# prints how many.
lookups() {
	python3 - "$R/app" "$1" "$TEST_TMP/stop" <<'EOF'
import os, sys
d, me, stop = sys.argv[1:4]
n = 0
while not os.path.exists(stop):
    n += 1
    try:
        os.stat(os.path.join(d, 'miss-%s-%d' % (me, n)))
    except OSError:
        pass
print(n)
EOF
}
lookups a >"$TEST_TMP/a.count" &
la=$!
lookups b >"$TEST_TMP/b.count" &
lb=$!
track_pid "$la" "$lb"

removed=0
for ((i = 1; i <= N; i++)); do
	"$REGCTL" --store "$STORE" rm --force "app:t$i" >/dev/null && removed=$((removed + 1))
done
expect_eq "$removed" "$N" "regctl rm removes all $N tags beside the lookups"

# The mount still answers a lookup of a removed tag and a listing. In the
# deadlock they sit in D state, which timeout(1) cannot end: wait for them
# with a deadline instead.
(
	stat "$R/app/t1"
	ls "$R/app"
) >/dev/null 2>&1 &
probe=$!
track_pid "$probe"
desc="the mount still answers (no deadlock between the watcher and lookups)"
if wait_exit "$probe" 30; then
	ok "$desc"
	reap "$probe"
else
	fail "$desc"
	# Unblock everything before lib.sh's cleanup, which would wait for
	# ever on a daemon that SIGKILL cannot end.
	for t in /proc/"$(daemon_pid "$MNT")"/task/*; do
		diag "daemon thread ${t##*/}: $(awk '{ print $3 }' "$t/stat") $(cat "$t/wchan")"
	done
	if [[ ! -d /sys/fs/fuse/connections/$conn ]]; then
		mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null || :
	fi
	echo 1 >"/sys/fs/fuse/connections/$conn/abort" 2>/dev/null ||
		diag "cannot abort FUSE connection $conn: processes on $mnt stay blocked"
	wait_exit "$probe" 10 && reap "$probe"
fi
touch "$TEST_TMP/stop"
wait_exit "$la" 20 && wait_exit "$lb" 20
reap "$la"
reap "$lb"
diag "lookups meanwhile: $(cat "$TEST_TMP/a.count" 2>/dev/null) + $(cat "$TEST_TMP/b.count" 2>/dev/null)"
expect_errno ENOENT open "$R/app/t$N" r
regfs_umount "$MNT"
done_testing
