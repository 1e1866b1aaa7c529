#!/bin/bash
# t0020-kernel-cache: sealed content suits the kernel's caches. A sealed tag's
# data, attributes and entry are kept by the kernel (keep_cache, long
# timeouts): reading or stating it again asks the daemon nothing. WRITEs go
# up to 1 MiB, READs up to 512 KiB (or -o max_read), spliced from the blob
# file. Observed through the requests the daemon logs with -d, with
# -o no_passthrough: this is the path where the daemon serves reads.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

mkrand "$SRC/f" 4M
regfs_mount "$STORE" "$MNT" -d -o no_passthrough
log=$(daemon_log "$MNT")
R=$MNT/registry
I=$MNT/incoming

# since MARK OPCODE: requests of that opcode logged after the mark.
mark() { wc -l <"$log"; }
since() { tail -n "+$(($1 + 1))" "$log" | grep -c "opcode: $2 " || :; }
# mountinfo_opts MNT: the mount's options as /proc/self/mountinfo shows them.
mountinfo_opts() { awk -v m="$1" '$5 == m { print $6, $NF }' /proc/self/mountinfo | tail -n 1; }

run_cmd sh -c "grep -A12 '^   INIT:' '$log' | grep 'max_write='"
expect_match "$OUT" 'max_write=0x00100000' "the daemon offers 1 MiB writes"

# --- 1 MiB requests ---

m=$(mark)
expect_ok "dd with 1 MiB blocks publishes" -- dd if="$SRC/f" of="$I/app/v1" bs=1M status=none
big_writes=$(tail -n "+$((m + 1))" "$log" | grep 'opcode: WRITE ' | grep -cE 'insize: (104[89][0-9]{3}|10[5-9][0-9]{4})' || :)
diag "WRITE requests of 1 MiB: $big_writes"
check "writes arrive as 1 MiB requests" test "$big_writes" -ge 3

# READs of 512 KiB unless -o max_read says otherwise: the largest that
# libfuse splices from the blob file (a 1 MiB one it copies, twice the
# CPU). Its debug log marks a spliced reply.
expect_match "$(mountinfo_opts "$MNT")" 'max_read=524288' "the mount gets max_read=524288 by default"
m=$(mark)
expect_ok "a direct read with 1 MiB blocks" -- dd if="$R/app/v1" of=/dev/null bs=1M iflag=direct status=none
big_reads=$(tail -n "+$((m + 1))" "$log" | grep -cE 'success, outsize: 524304 \(splice\)' || :)
diag "READ replies of 512 KiB, spliced: $big_reads"
check "reads are answered in 512 KiB requests, spliced" test "$big_reads" -ge 6
other=$(tail -n "+$((m + 1))" "$log" | grep -E 'success, outsize: [0-9]{6,}' | grep -vc '(splice)' || :)
expect_eq "$other" 0 "no large READ reply is copied instead of spliced"

# --- caching of sealed tags ---

expect_eq "$(sha "$R/app/v1")" "$(sha "$SRC/f")" "a first read through the page cache"
m=$(mark)
expect_eq "$(sha "$R/app/v1")" "$(sha "$SRC/f")" "a second read"
expect_eq "$(since "$m" READ)" "0" "the second read is served by the kernel's cache (keep_cache): no READ"

stat "$R/app/v1" >/dev/null
m=$(mark)
stat "$R/app/v1" >/dev/null
ls -l "$R/app" >/dev/null
stat "$R/app/v1" >/dev/null
expect_eq "$(since "$m" GETATTR)" "0" "stat again: attributes from the kernel's cache, no GETATTR"
expect_eq "$(since "$m" LOOKUP)" "0" "stat again: the entry from the kernel's cache, no LOOKUP"

# Reopening the tag keeps the cache (no READ after a new open).
m=$(mark)
cat "$R/app/v1" >/dev/null
cat "$R/app/v1" >/dev/null
expect_eq "$(since "$m" READ)" "0" "reopened twice: still no READ"

regfs_umount "$MNT"

# A max_read of the user's own is what the mount gets (libfuse refused to
# mount with one before); a bad one is refused.
regfs_mount "$STORE" "$MNT" -d -o no_passthrough,max_read=131072
log=$(daemon_log "$MNT")
expect_match "$(mountinfo_opts "$MNT")" 'max_read=131072' "-o max_read=131072 is what the mount gets"
m=$(mark)
expect_eq "$(sha "$R/app/v1")" "$(sha "$SRC/f")" "the tag reads back with max_read=131072"
expect_eq "$(tail -n "+$((m + 1))" "$log" | grep -cE 'success, outsize: (5243|10485)' || :)" "0" \
	"no READ over 128 KiB with max_read=131072"
check "the daemon served that read (READs: $(since "$m" READ))" test "$(since "$m" READ)" -ge 32
regfs_umount "$MNT"
run_cmd timeout 20 "$REGFS" "$STORE" "$MNT" -f -o max_read=0
expect_eq "$RC" "2" "-o max_read=0 is refused at start (usage)"
expect_match "$OUT" 'max_read=0: a number of bytes, 4096 or more' "it says what max_read takes"
check "nothing was mounted" _lib_not is_mounted "$MNT"
done_testing
