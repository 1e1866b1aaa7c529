#!/bin/bash
# t1521-seal-timing: when a close seals (issue 15, items 12 and 13). A tag is
# sealed by the close(2) that leaves no writable descriptor of it in any
# process, and that close returns the seal's result:
# - a writer that also holds the file open read-only: its writing close
#   seals, the tag is there when close() returns, and a digest mismatch is
#   close()'s error (EBADMSG), not only a log line;
# - a reader in another process does not hold the seal back either;
# - a writable descriptor shared with a double-forked grandchild: the
#   parent's close seals nothing, the grandchild's later write succeeds, and
#   its close seals everything written, returning the result;
# - a grandchild killed while it holds the last writable descriptor seals
#   nothing; a parent killed while the grandchild holds it seals nothing
#   either, and the grandchild's write and close say so (ECANCELED).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

regfs_mount "$STORE" "$MNT"
I=$MNT/incoming
R=$MNT/registry
log=$(daemon_log "$MNT")
mkdir -p "$I/app"

# rw_writer TAG: open TAG for writing and for reading in one process, write,
# close the writer; print close()'s outcome and whether the tag was there
# right after it, then close the reader.
rw_writer() {
	python3 - "$I/app/$1" "$R/app/$1" <<'EOF'
import errno, os, sys
staged, tag = sys.argv[1], sys.argv[2]
w = os.open(staged, os.O_WRONLY | os.O_CREAT, 0o644)
r = os.open(staged, os.O_RDONLY)
os.write(w, b'hello from a writer that also reads\n')
try:
    os.close(w)
    res = 'close OK'
except OSError as e:
    res = 'close ' + errno.errorcode[e.errno]
print(res, 'sealed' if os.path.exists(tag) else 'not-sealed')
os.close(r)
EOF
}

expect_eq "$(rw_writer rw)" "close OK sealed" \
	"a writer that also reads: its writing close seals, the tag is there when close() returns"
expect_eq "$(cat "$R/app/rw" 2>&1)" "hello from a writer that also reads" "the tag holds what was written"

printf '%064d  rwbad\n' 0 >"$I/app/rwbad.sha256"
expect_eq "$(rw_writer rwbad)" "close EBADMSG not-sealed" \
	"a writer that also reads, with a wrong checksum file: close() fails with EBADMSG"
check "nothing is sealed for it" _lib_not test -e "$R/app/rwbad"

# A reader in another process (a child of the writer, holding the file open
# read-only) does not keep the tag from being sealed at the writer's close.
out=$(python3 - "$I/app/otherreader" "$R/app/otherreader" <<'EOF'
import errno, os, sys
staged, tag = sys.argv[1], sys.argv[2]
w = os.open(staged, os.O_WRONLY | os.O_CREAT, 0o644)
go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    r = os.open(staged, os.O_RDONLY)
    os.write(ready_w, b'r')
    os.read(go_r, 1)
    os.close(r)
    os._exit(0)
os.read(ready_r, 1)
os.write(w, b'read by another process\n')
try:
    os.close(w)
    res = 'close OK'
except OSError as e:
    res = 'close ' + errno.errorcode[e.errno]
print(res, 'sealed' if os.path.exists(tag) else 'not-sealed')
os.write(go_w, b'g')
os.waitpid(pid, 0)
EOF
)
expect_eq "$out" "close OK sealed" "a reader in another process does not hold back the writer's seal"

# shared_writer TAG KILL: write part 1, hand the descriptor to a
# double-forked grandchild (its parent exits at once, so it is nobody's
# child), close it in the parent; then let the grandchild write part 2 and
# close (or, with KILL=1, kill it). Prints what the parent's close gave,
# whether the tag was there after it, what the grandchild got, and whether
# the tag was there after that.
shared_writer() {
	python3 - "$I/app/$1" "$R/app/$1" "$2" <<'EOF'
import errno, os, signal, sys, time
staged, tag, kill = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
fd = os.open(staged, os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'part 1 from the parent\n')
go_r, go_w = os.pipe()
res_r, res_w = os.pipe()
child = os.fork()
if child == 0:
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    os.write(res_w, b'%d\n' % os.getpid())
    os.read(go_r, 1)
    try:
        os.write(fd, b'part 2 from the grandchild\n')
        os.close(fd)
        os.write(res_w, b'OK')
    except OSError as e:
        os.write(res_w, errno.errorcode[e.errno].encode())
    os._exit(0)
os.waitpid(child, 0)
grandchild = int(os.read(res_r, 32).split(b'\n')[0])
try:
    os.close(fd)
    parent = 'OK'
except OSError as e:
    parent = errno.errorcode[e.errno]
after_parent = 'sealed' if os.path.exists(tag) else 'not-sealed'
if kill:
    os.kill(grandchild, signal.SIGKILL)
    got = 'killed'
else:
    os.write(go_w, b'g')
    got = os.read(res_r, 64).decode()
print('parent', parent, after_parent, 'grandchild', got,
      'sealed' if os.path.exists(tag) else 'not-sealed')
EOF
}

expect_eq "$(shared_writer shared 0)" "parent OK not-sealed grandchild OK sealed" \
	"a descriptor shared with a grandchild: the parent's close seals nothing, the grandchild's close seals"
expect_eq "$(cat "$R/app/shared" 2>&1)" "part 1 from the parent
part 2 from the grandchild" "the tag holds both parts"
check "the log says the seal waits for the other holder" grep -q "another process holds it open for writing" "$log"

expect_eq "$(shared_writer sharedkill 1)" "parent OK not-sealed grandchild killed not-sealed" \
	"the grandchild killed while it holds the last writable descriptor: nothing is sealed"
check "still nothing sealed a moment later" _lib_not wait_until 2 test -e "$R/app/sharedkill"
check "its incoming entry goes away" wait_until 10 test ! -e "$I/app/sharedkill"

# The other way round: the parent is killed while the grandchild still
# holds the file. Nothing is sealed, and the grandchild hears so: its next
# write (and its close) fail with ECANCELED instead of a close() of 0 that
# would say its bytes are kept.
out=$(python3 - "$I/app/parentkilled" "$R/app/parentkilled" <<'EOF'
import errno, os, signal, sys
staged, tag = sys.argv[1], sys.argv[2]
go_r, go_w = os.pipe()
res_r, res_w = os.pipe()
parent = os.fork()
if parent == 0:
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b'part 1\n')
    if os.fork() == 0:
        if os.fork() != 0:
            os._exit(0)
        os.setsid()
        os.write(res_w, b'ready\n')
        os.read(go_r, 1)
        out = []
        try:
            os.write(fd, b'part 2\n')
            out.append('write OK')
        except OSError as e:
            out.append('write ' + errno.errorcode[e.errno])
        try:
            os.close(fd)
            out.append('close OK')
        except OSError as e:
            out.append('close ' + errno.errorcode[e.errno])
        os.write(res_w, (' '.join(out) + '\n').encode())
        os._exit(0)
    os.wait()
    signal.pause()
os.read(res_r, 6)
os.kill(parent, signal.SIGKILL)
os.waitpid(parent, 0)
os.write(go_w, b'g')
print(os.read(res_r, 64).decode().strip(),
      'sealed' if os.path.exists(tag) else 'not-sealed')
EOF
)
expect_eq "$out" "write ECANCELED close ECANCELED not-sealed" \
	"the parent killed while a grandchild holds the file: nothing is sealed, and the grandchild's write and close fail with ECANCELED"

regfs_umount "$MNT"
done_testing
