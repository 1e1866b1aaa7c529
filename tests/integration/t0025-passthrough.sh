#!/bin/bash
# t0025-passthrough: where the kernel offers FUSE passthrough (Linux 6.9 and
# later) and the daemon may use it, reads of sealed tags go from the kernel
# straight to the blob file: the daemon sees no READ at all, and every way of
# reading (read, O_DIRECT, mmap, sendfile, many readers of one tag at once)
# gives the verified bytes. With -o no_passthrough, or without the
# CAP_SYS_ADMIN that registering a backing file takes (in a user namespace),
# the daemon serves READs itself (t0020 covers that path in depth).
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd python3
mkrand "$SRC/f" 5M
mkrand "$SRC/g" 300K

regfs_mount "$STORE" "$MNT" -d
log=$(daemon_log "$MNT")
if ! grep -q 'reading sealed tags by kernel passthrough' "$log"; then
	regfs_umount "$MNT"
	skip_all "the kernel ($(uname -r)) does not offer FUSE passthrough"
fi
R=$MNT/registry
I=$MNT/incoming
R() { "$REGCTL" --store "$STORE" "$@"; }

mark() { wc -l <"$log"; }
since() { tail -n "+$(($1 + 1))" "$log" | grep -c "opcode: $2 " || :; }

expect_ok cp "$SRC/f" "$I/app/v1"
expect_ok cp "$SRC/g" "$I/app/small"

m=$(mark)
expect_eq "$(sha "$R/app/v1")" "$(sha "$SRC/f")" "a first read gives the sealed bytes"
expect_ok "a direct read with 1 MiB blocks" -- dd if="$R/app/v1" of="$TEST_TMP/direct" bs=1M iflag=direct status=none
expect_ok "the direct read is whole" -- cmp "$TEST_TMP/direct" "$SRC/f"
dd if="$SRC/f" of="$TEST_TMP/part" bs=4099 skip=77 count=5 status=none
expect_ok "an unaligned read at an odd offset gives the right bytes" -- \
	sh -c "dd if='$R/app/v1' bs=4099 skip=77 count=5 status=none | cmp - '$TEST_TMP/part'"

run_cmd python3 -c '
import hashlib, mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    print(hashlib.sha256(m).hexdigest())' "$R/app/v1"
expect_eq "$OUT" "$(sha "$SRC/f")" "mmap reads the sealed bytes"

run_cmd python3 -c '
import os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
off, size = 0, os.fstat(src).st_size
while off < size:
    off += os.sendfile(dst, src, off, size - off)' "$R/app/v1" "$TEST_TMP/sent"
expect_ok "sendfile copies the sealed bytes" -- cmp "$TEST_TMP/sent" "$SRC/f"
expect_eq "$(since "$m" READ)" "0" "none of these reads reached the daemon"
expect_ne "$(since "$m" OPEN)" "0" "the opens did (the daemon still decides who reads what)"

# --- several opens of one tag, and of several tags ---------------------------------

m=$(mark)
exec 3<"$R/app/v1"
pids=()
for i in $(seq 8); do
	{ sha "$R/app/v1" >"$TEST_TMP/sum.$i"; } &
	pids+=($!)
	{ sha "$R/app/small" >"$TEST_TMP/small.$i"; } &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
bad=0
for i in $(seq 8); do
	[[ $(cat "$TEST_TMP/sum.$i") == "$(sha "$SRC/f")" ]] || bad=$((bad + 1))
	[[ $(cat "$TEST_TMP/small.$i") == "$(sha "$SRC/g")" ]] || bad=$((bad + 1))
done
expect_eq "$bad" 0 "16 readers of two tags at once, one of them held open meanwhile, all read right"
expect_eq "$(head -c 1M <&3 | sha256sum | cut -d' ' -f1)" "$(head -c 1M "$SRC/f" | sha256sum | cut -d' ' -f1)" \
	"the descriptor held open all along reads right"
exec 3<&-
for i in $(seq 30); do cat "$R/app/small" >/dev/null || bad=$((bad + 1)); done
expect_eq "$bad" 0 "30 opens and closes in a row all succeed"
expect_eq "$(since "$m" READ)" "0" "still no READ"

# 60 tags held open at once, read, closed in a shuffled order, opened again:
# each has its own backing file, registered once however many opens share it.
mkdir -p "$TEST_TMP/many"
for i in $(seq 60); do printf 'tag %d\n' "$i" >"$TEST_TMP/many/t$i"; done
cp "$TEST_TMP"/many/t* "$I/many/" || fail "cp of 60 small tags"
run_cmd python3 -c '
import os, random, sys
d = sys.argv[1]
names = ["t%d" % i for i in range(1, 61)]
want = {n: ("tag %s\n" % n[1:]).encode() for n in names}
bad = 0
for rnd in range(3):
    fds = {n: [os.open(os.path.join(d, n), os.O_RDONLY) for _ in range(2)] for n in names}
    for n, pair in fds.items():
        for fd in pair:
            bad += os.pread(fd, 100, 0) != want[n]
    order = [fd for pair in fds.values() for fd in pair]
    random.shuffle(order)
    for fd in order:
        os.close(fd)
print(bad)' "$R/many"
expect_eq "$OUT" "0" "60 tags opened twice each, three rounds, closed in shuffled orders: all read right"
expect_eq "$(since "$m" READ)" "0" "still no READ"

# --- an open reader outlives the tag -----------------------------------------------------

exec 3<"$R/app/small"
expect_ok R rm --force app:small
expect_ok R gc
expect_fail "the removed tag is gone for new opens" -- cat "$R/app/small"
expect_eq "$(sha256sum <&3 | cut -d' ' -f1)" "$(sha "$SRC/g")" \
	"a reader that had it open still reads all of it"
exec 3<&-

expect_eq "$(grep -c 'passthrough refused' "$log" || :)" "0" "the kernel accepted every backing file"
regfs_umount "$MNT"

# --- without passthrough ------------------------------------------------------------------

regfs_mount "$STORE" "$MNT" -d -o no_passthrough
log=$(daemon_log "$MNT")
expect_eq "$(grep -c 'kernel passthrough' "$log" || :)" "0" "-o no_passthrough: passthrough is not negotiated"
m=$(mark)
expect_eq "$(sha "$R/app/v1")" "$(sha "$SRC/f")" "-o no_passthrough: the tag reads right"
expect_ne "$(since "$m" READ)" "0" "-o no_passthrough: the daemon serves the READs"
# libfuse's debug log marks a reply spliced from the blob file; one copied
# through the daemon's memory (read, then write: twice the CPU) it does not.
spliced() { tail -n "+$(($1 + 1))" "$2" | grep -c "outsize: [0-9]* (splice)" || :; }
expect_ne "$(spliced "$m" "$log")" "0" "-o no_passthrough: the daemon splices its READ replies from the blob file"
regfs_umount "$MNT"

# --- without CAP_SYS_ADMIN ------------------------------------------------------------------
# In a user namespace the daemon can mount but not register backing files:
# the kernel refuses the first, the log says so once, and the daemon serves
# the reads, spliced from the blob file as without passthrough.
if unshare --user --map-root-user --mount true 2>/dev/null; then
	mkdir -p "$TEST_TMP/ns-store" "$TEST_TMP/ns-mnt"
	# The daemon runs in the foreground, stopped by its PID whatever
	# happens; the mount goes with the namespace.
	run_cmd timeout 60 unshare --user --map-root-user --mount bash -c '
		"$1" "$2" "$3" -d -o "log=$4" 2>"$6" &
		pid=$!
		trap "kill -KILL $pid 2>/dev/null" EXIT
		for ((i = 0; i < 200; i++)); do
			mountpoint -q "$3" && break
			sleep 0.05
		done
		cp "$5" "$3/incoming/app/v1" && sha256sum <"$3/registry/app/v1" &&
			sha256sum <"$3/registry/app/v1"
		rc=$?
		fusermount3 -u "$3" 2>/dev/null || umount "$3"
		wait "$pid" || rc=1
		exit $rc' bash "$REGFS" "$TEST_TMP/ns-store" "$TEST_TMP/ns-mnt" "$TEST_TMP/ns.log" "$SRC/g" \
		"$TEST_TMP/ns.debug"
	expect_eq "$RC" 0 "in a user namespace: publish and read twice"
	expect_eq "$(cut -d' ' -f1 <<<"$OUT" | sort -u)" "$(sha "$SRC/g")" "in a user namespace: both reads give the sealed bytes"
	expect_eq "$(grep -c 'kernel passthrough refused (Operation not permitted)' "$TEST_TMP/ns.log" || :)" 1 \
		"in a user namespace: the refusal is logged once"
	expect_ne "$(spliced 0 "$TEST_TMP/ns.debug")" "0" "in a user namespace: the daemon splices its READ replies from the blob file"
else
	diag "SKIP: unshare --user is not allowed here: the fallback without CAP_SYS_ADMIN is not tested"
fi

done_testing
