#!/bin/bash
# t1520-seal-size: how large a tag may be, and what a large sparse one costs
# (issue 15, item 10):
# - max_tag_size (regfs.conf): a truncate or write past it fails with EFBIG
#   at once, its close fails too, nothing is sealed; regctl publish of a
#   larger file is refused before it copies a byte, an upload to regctl
#   serve gets 413; a file of exactly max_tag_size publishes;
# - the default (16 GiB) refuses a 1 TiB ftruncate at once;
# - a sparse file is hashed without reading its holes (the daemon's read
#   bytes, /proc/PID/io rchar, barely move) and seals with the right digest;
# - a closer killed while its close seals a large file dies within a second
#   or two instead of sitting in D state for the whole hash, and nothing is
#   sealed; the same for a renamer whose rename seals.
# shellcheck source-path=SCRIPTDIR disable=SC2016 # literal $1 for sh -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"

# one_file PATH SIZE [WRITE]: create PATH, ftruncate it to SIZE (or write
# WRITE bytes), close it; prints "<errno of the first failed step> <step>"
# or "OK".
one_file() {
	python3 - "$@" <<'EOF'
import errno, os, sys
path, size = sys.argv[1], int(sys.argv[2])
write = len(sys.argv) > 3
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
step = 'write' if write else 'ftruncate'
try:
    if write:
        chunk = b'x' * (1 << 16)
        done = 0
        while done < size:
            done += os.write(fd, chunk[:min(len(chunk), size - done)])
    else:
        os.ftruncate(fd, size)
except OSError as e:
    try:
        os.close(fd)
        print(errno.errorcode[e.errno], step, 'close OK')
    except OSError as c:
        print(errno.errorcode[e.errno], step, 'close', errno.errorcode[c.errno])
    sys.exit(0)
step = 'close'
try:
    os.close(fd)
except OSError as e:
    print(errno.errorcode[e.errno], step)
    sys.exit(0)
print('OK')
EOF
}

# --- max_tag_size from regfs.conf -------------------------------------------------

cat >"$TEST_TMP/small.conf" <<EOF
max_tag_size = 1M
EOF
regfs_mount "$STORE" "$MNT" -o config="$TEST_TMP/small.conf"
I=$MNT/incoming
R=$MNT/registry
log=$(daemon_log "$MNT")

expect_eq "$(one_file "$I/app/t2m" $((2 << 20)))" "EFBIG ftruncate close EFBIG" \
	"max_tag_size 1M: ftruncate to 2 MiB fails with EFBIG, and so does its close"
check "nothing is sealed for the truncated file" test ! -e "$R/app/t2m"
expect_eq "$(one_file "$I/app/w2m" $((2 << 20)) write)" "EFBIG write close EFBIG" \
	"max_tag_size 1M: writing 2 MiB fails with EFBIG, and so does its close"
check "nothing is sealed for the written file" test ! -e "$R/app/w2m"
check "the log says why" grep -q "larger than a tag may be (max_tag_size, 1048576 bytes)" "$log"
expect_eq "$(one_file "$I/app/exact" $((1 << 20)) write)" "OK" \
	"a file of exactly max_tag_size publishes"
expect_eq "$(stat -c %s "$R/app/exact" 2>&1)" "1048576" "it is sealed whole"
check "staging/ is empty" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'
regfs_umount "$MNT"

truncate -s 2M "$SRC/two"
expect_fail_errno "regctl publish of a 2 MiB file with max_tag_size 1M says why" -- \
	"$REGCTL" --store "$STORE" publish --config "$TEST_TMP/small.conf" "$SRC/two" app:two \
	"larger than a tag may be (max_tag_size"
run_cmd "$REGCTL" --store "$STORE" ls app
expect_match "$OUT" "exact" "regctl ls still shows app:exact"
check "regctl publish sealed nothing" _lib_not grep -q "two" <<<"$OUT"
# regctl serve holds uploads to it too: 413 SIZE_INVALID, nothing stored.
serve_start small --store "$STORE" --config "$TEST_TMP/small.conf"
code=$(curl -s -o "$TEST_TMP/up.json" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/octet-stream' --data-binary "@$SRC/two" \
	"$SERVE_SMALL_URL/v2/app/blobs/uploads/?digest=sha256:$(sha "$SRC/two")")
expect_eq "$code" 413 "regctl serve: a monolithic upload past max_tag_size gets 413"
expect_match "$(cat "$TEST_TMP/up.json")" 'SIZE_INVALID' "with SIZE_INVALID"
check "no blob of it is stored" test ! -e "$STORE/blobs/sha256/$(sha "$SRC/two")"
serve_stop small
printf 'max_tag_size = 0\n' >"$TEST_TMP/zero.conf"
expect_fail_errno "max_tag_size = 0 is refused" -- \
	"$REGCTL" --store "$STORE" publish --config "$TEST_TMP/zero.conf" "$SRC/two" app:two \
	"'max_tag_size' must be more than 0"

# --- the default, and sparse files ------------------------------------------------

regfs_mount "$STORE" "$MNT"
pid=$(daemon_pid "$MNT")
log=$(daemon_log "$MNT")
t0=$(now_ns)
expect_eq "$(one_file "$I/app/tera" $((1 << 40)))" "EFBIG ftruncate close EFBIG" \
	"by default a 1 TiB ftruncate fails with EFBIG"
elapsed=$((($(now_ns) - t0) / 1000000))
check "at once (${elapsed} ms)" test "$elapsed" -lt 5000
check "nothing is sealed for it" test ! -e "$R/app/tera"

# A 1 GiB hole: the seal must not read it.
zeros_1g=$(head -c 1G /dev/zero | sha256sum | cut -d' ' -f1)
rchar() { awk '$1 == "rchar:" { print $2 }' "/proc/$pid/io"; }
before=$(rchar)
expect_eq "$(one_file "$I/app/sparse" $((1 << 30)))" "OK" "a 1 GiB sparse file publishes"
read_mib=$((($(rchar) - before) >> 20))
check "the daemon read ${read_mib} MiB to seal it (the hole is not read)" test "$read_mib" -lt 64
expect_eq "$(xattr "$R/app/sparse" user.regfs.digest)" "sha256:$zeros_1g" \
	"its digest is that of 1 GiB of zeros"
# Data between holes is hashed in its place.
python3 - "$I/app/holes" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b'head', 0)
os.pwrite(fd, b'middle' * 1000, 64 << 20)
os.ftruncate(fd, 200 << 20)
os.close(fd)
EOF
python3 - "$SRC/holes" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b'head', 0)
os.pwrite(fd, b'middle' * 1000, 64 << 20)
os.ftruncate(fd, 200 << 20)
os.close(fd)
EOF
expect_eq "$(xattr "$R/app/holes" user.regfs.digest 2>&1)" "sha256:$(sha "$SRC/holes")" \
	"data between holes is hashed in its place"

# --- a closer killed while its close seals ---------------------------------------

# 12 GiB of hole take the daemon several seconds to hash: kill the closer
# once it is inside close() (syscall 3 in /proc/PID/syscall).
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.ftruncate(fd, 12 << 30)
os.close(fd)
' "$I/app/killed" &
closer=$!
track_pid "$closer"
in_close() { [[ $(cut -d' ' -f1 "/proc/$closer/syscall" 2>/dev/null) == 3 ]]; }
check "the closer is in close() while the daemon seals" wait_until 10 in_close
t0=$(now_ns)
kill -KILL "$closer"
check "the killed closer is gone within 3 s" wait_exit "$closer" 3
elapsed=$((($(now_ns) - t0) / 1000000))
diag "the closer died ${elapsed} ms after SIGKILL"
reap "$closer"
check "nothing is sealed for it" _lib_not test -e "$R/app/killed"
check "the log says the seal was interrupted" wait_until 10 grep -q "sealing 'app:killed' was interrupted" "$log"
check "no seal of it is logged" _lib_not grep -q "sealed 'app:killed'" "$log"
check "staging/ empties" wait_until 20 'test "$(count_files "$STORE/staging")" -eq 0'
expect_ok "the name can then be published" -- cp "$SRC/two" "$I/app/killed"

# The same for a rename that seals (rsync's way): a 12 GiB dot-temporary
# renamed onto a tag, the renamer killed inside rename().
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.ftruncate(fd, 12 << 30)
os.close(fd)
os.rename(sys.argv[1], sys.argv[2])
' "$I/app/.renamed.tmp" "$I/app/renamed" &
renamer=$!
track_pid "$renamer"
in_rename() { [[ " 82 264 316 " == *" $(cut -d' ' -f1 "/proc/$renamer/syscall" 2>/dev/null) "* ]]; }
check "the renamer is in rename() while the daemon seals" wait_until 10 in_rename
kill -KILL "$renamer"
check "the killed renamer is gone within 3 s" wait_exit "$renamer" 3
reap "$renamer"
check "nothing is sealed for it" _lib_not test -e "$R/app/renamed"
check "the log says that seal was interrupted" wait_until 10 grep -q "sealing 'app:renamed' was interrupted" "$log"

regfs_umount "$MNT"
expect_ok "regctl fsck is clean" -- "$REGCTL" --store "$STORE" fsck
done_testing
