#!/bin/bash
# t1310-backup: regctl backup of a mounted store while 4 writers publish
# through incoming/ (cp). Each backup is a store of its own: fsck-clean (no
# orphans either), every tag in it reads back its digest, every tag sealed
# before it started is in it, none begun after it ended is, and no tag is
# half there. Blobs are hard-linked on the same file system (same inode)
# and copied elsewhere (/dev/shm when it is another file system) or with
# --copy; a second backup into the same folder keeps what is there. A
# corrupt source blob fails a backup, named, and leaves the earlier backup
# whole. restore into an empty store passes fsck, clears the generation,
# mounts and reads; restore refuses a store with content and, --force or
# not, a mounted one; backup refuses a mounted destination.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd python3
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

SHM_DIR=
# A destination outside TEST_TMP goes with the test, however it ends;
# then lib.sh's cleanup, with the status the test ended with.
t1310_exit() {
	local rc=$?
	set +eE
	trap - ERR
	[[ -z $SHM_DIR ]] || rm -rf -- "$SHM_DIR"
	(exit "$rc")
	_lib_cleanup
}
trap t1310_exit EXIT

rc() { "$REGCTL" --store "$STORE" "$@"; }
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# sqlite_meta DB KEY: a catalog setting ("" when unset), read-only.
sqlite_meta() {
	python3 - "$1" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
row = db.execute("SELECT value FROM meta WHERE key = ?", (sys.argv[2],)).fetchone()
print(row[0] if row else "")
PY
}
inode() { stat -c %i "$1"; }
nlink() { stat -c %h "$1"; }

I=$MNT/incoming
LOGS=$TEST_TMP/logs
mkdir -p "$LOGS" "$TEST_TMP/w"

# --- a store with content, mounted ---

regfs_mount "$STORE" "$MNT"
NB=24
: >"$LOGS/base"
for i in $(seq "$NB"); do
	mkrand "$SRC/base$i" "$((256 + i * 48))K"
	cp "$SRC/base$i" "$I/base/v$i"
	printf 'base v%s %s\n' "$i" "$(sha "$SRC/base$i")" >>"$LOGS/base"
done
generation=$(sqlite_meta "$STORE/catalog.db" generation)
expect_ne "$generation" "" "the mounted store has a generation"

# --- 4 writers publish with cp until told to stop ---

# Each logs "begin REPO TAG HEX" before its cp and "done REPO TAG" after.
export I TEST_TMP LOGS
writer='w=$1 k=0
while [ ! -e "$TEST_TMP/stop" ]; do
	k=$((k + 1))
	f=$TEST_TMP/w/$w-$k
	head -c $(( (k % 7 + 1) * 16 * 1024 + w * 1000 )) /dev/urandom >"$f"
	echo "begin w$w t$k $(sha256sum <"$f" | cut -d" " -f1)" >>"$LOGS/w$w"
	cp "$f" "$I/w$w/t$k" || exit 1
	echo "done w$w t$k" >>"$LOGS/w$w"
	rm -f "$f"
	sleep 0.02
done'
writers=()
for w in 1 2 3 4; do
	: >"$LOGS/w$w"
	bash -c "$writer" bash "$w" </dev/null &
	writers+=($!)
done
track_pid "${writers[@]}"
# each_published N: every writer has published N tags.
each_published() {
	local w
	for w in 1 2 3 4; do
		[[ $(grep -c '^done' "$LOGS/w$w") -ge $1 ]] || return 1
	done
}
check "the 4 writers have each published 3 tags" wait_until 60 each_published 3

# mark NAME: how many lines each writer's log has now.
mark() {
	local w
	for w in 1 2 3 4; do printf 'w%s %s\n' "$w" "$(wc -l <"$LOGS/w$w")"; done >"$TEST_TMP/mark.$1"
}

# check_backup DEST NAME: the backup DEST, taken between the marks
# NAME.start and NAME.end, against what the writers logged.
during_total=0
check_backup() {
	local dest=$1 name=$2
	expect_status 0 "$REGCTL" --store "$dest" fsck
	expect_match "$OUT" ' 0 missing, 0 corrupt, 0 orphans' "$name: fsck of the backup is clean, no orphans"
	run_cmd "$REGCTL" --store "$dest" ls --json
	expect_eq "$RC" 0 "$name: regctl --store DEST ls --json"
	printf '%s\n' "$OUT" >"$TEST_TMP/ls.$name"
	run_cmd python3 - "$dest" "$LOGS" "$TEST_TMP/mark.$name.start" "$TEST_TMP/mark.$name.end" "$TEST_TMP/ls.$name" <<'PY'
import hashlib, json, os, sys
dest, logs, start, end, ls = sys.argv[1:6]
def marks(path):
    return {l.split()[0]: int(l.split()[1]) for l in open(path)}
start, end = marks(start), marks(end)
want = {}                 # (repo, tag) -> hex
before, after = set(), set()
for l in open(os.path.join(logs, "base")):
    repo, tag, hexd = l.split()
    want[(repo, tag)] = hexd
    before.add((repo, tag))
during = set()
for w in start:
    lines = open(os.path.join(logs, w)).read().splitlines()
    for n, l in enumerate(lines):
        f = l.split()
        ref = (f[1], f[2])
        if f[0] == "begin":
            want[ref] = f[3]
            if n >= end[w]:
                after.add(ref)
        elif f[0] == "done":
            if n < start[w]:
                before.add(ref)
            elif n < end[w]:
                during.add(ref)
tags = {(t["repository"], t["tag"]): t["digest"] for t in json.load(open(ls))}
bad = []
for ref, digest in sorted(tags.items()):
    if ref not in want:
        bad.append("unknown tag %s:%s" % ref)
        continue
    if digest != "sha256:" + want[ref]:
        bad.append("%s:%s has digest %s, not %s" % (ref + (digest, want[ref])))
    h = hashlib.sha256()
    with open(os.path.join(dest, "blobs/sha256", digest[7:]), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != want[ref]:
        bad.append("%s:%s reads back %s" % (ref + (h.hexdigest(),)))
for ref in sorted(before - tags.keys()):
    bad.append("%s:%s, sealed before the backup began, is missing" % ref)
for ref in sorted(after & tags.keys()):
    bad.append("%s:%s, begun after the backup ended, is in it" % ref)
print("tags %d, sealed before %d, begun after %d, sealed during %d (%d of them in it)"
      % (len(tags), len(before), len(after), len(during), len(during & tags.keys())))
for b in bad[:20]:
    print(b)
sys.exit(1 if bad else 0)
PY
	if [[ $RC -eq 0 ]]; then
		ok "$name: every tag reads back its digest; all sealed before it, none begun after it"
	else
		fail "$name: the backup's tags against the writers' logs"
	fi
	diag "$name: $(printf '%s\n' "$OUT" | head -n 1)"
	printf '%s\n' "$OUT" | tail -n +2 | head -n 20 | sed 's/^/#   /'
	local during
	during=$(printf '%s\n' "$OUT" | sed -n 's/.*sealed during \([0-9]*\).*/\1/p' | head -n 1)
	during_total=$((during_total + ${during:-0}))
}

# backup_round NAME DEST ARGS...: a backup while the writers go on.
backup_round() {
	local name=$1 dest=$2
	shift 2
	mark "$name.start"
	run_cmd rc backup --json "$@" "$dest"
	mark "$name.end"
	expect_eq "$RC" 0 "$name: regctl backup $* exits 0 while the store is mounted and written"
	[[ $RC -eq 0 ]] || printf '%s\n' "$OUT" | head -n 20 | sed 's/^/#   /'
	printf '%s\n' "$OUT" >"$TEST_TMP/report.$name"
	check_backup "$dest" "$name"
}
report() { json_get "$1" <"$TEST_TMP/report.$2"; }

# --- on the same file system: hard links ---

BK=$TEST_TMP/backup
backup_round links "$BK" --verify
expect_eq "$(report 'd["copied"], d["kept"], d["linked"] >= d["blobs"] > 0' links)" "(0, 0, True)" \
	"links: every blob hard-linked, none copied"
b1=$(sed -n 1p "$LOGS/base" | awk '{ print $3 }')
expect_eq "$(inode "$BK/blobs/sha256/$b1")" "$(inode "$STORE/blobs/sha256/$b1")" \
	"links: the backup's blob is the store's file (same inode)"
check "links: the blob has 2 links" test "$(nlink "$BK/blobs/sha256/$b1")" -ge 2
expect_eq "$(sqlite_meta "$BK/catalog.db" generation)" "" "links: the backup has no generation"
expect_eq "$(sqlite_meta "$STORE/catalog.db" generation)" "$generation" "the store keeps its generation"
expect_eq "$(count_files "$BK/staging")" "0" "links: no snapshot left in the backup's staging/"
expect_status 0 "$REGCTL" --store "$BK" inspect base:v1
expect_match "$OUT" "digest: +sha256:$b1" "regctl --store BACKUP inspect reads it"

# --- the same folder again: incremental ---

backup_round again "$BK"
expect_eq "$(report "d['kept'] >= $NB, d['copied']" again)" "(True, 0)" \
	"again: a second backup keeps the blobs already there"

# --- copies: --copy, and another file system ---

backup_round copy "$TEST_TMP/backup-copy" --copy
expect_eq "$(report 'd["linked"], d["copied"] == d["blobs"] > 0, d["bytes_copied"] == d["bytes"]' copy)" "(0, True, True)" \
	"copy: --copy copies every blob"
expect_ne "$(inode "$TEST_TMP/backup-copy/blobs/sha256/$b1")" "$(inode "$STORE/blobs/sha256/$b1")" \
	"copy: the copied blob is a file of its own"
expect_eq "$(nlink "$TEST_TMP/backup-copy/blobs/sha256/$b1")" "1" "copy: with one link"

shm_fs=$(stat -f -c %T /dev/shm 2>/dev/null || :)
if [[ $shm_fs == tmpfs && -w /dev/shm && $(stat -c %d /dev/shm) != $(stat -c %d "$TEST_TMP") ]]; then
	SHM_DIR=$(mktemp -d /dev/shm/regfs-t1310.XXXXXX)
	backup_round shm "$SHM_DIR/backup"
	expect_eq "$(report 'd["linked"], d["copied"] == d["blobs"] > 0' shm)" "(0, True)" \
		"shm: on another file system every blob is copied (and verified)"
else
	diag "/dev/shm is not a tmpfs on another file system ($shm_fs): the cross-file-system copy is not exercised here"
fi

check "some tags were sealed while the backups ran ($during_total)" test "$during_total" -gt 0

# --- the writers stop ---

: >"$TEST_TMP/stop"
bad=0
for i in "${!writers[@]}"; do
	reap "${writers[$i]}"
	if [[ $REAP_RC -ne 0 ]]; then
		bad=$((bad + 1))
		diag "writer $((i + 1)) exited $REAP_RC"
	fi
done
check "the 4 writers all published without an error" test "$bad" -eq 0
diag "the writers published $(cat "$LOGS"/w? | grep -c '^done') tags"

# --- refusals ---

expect_fail_errno "backup into the store itself" -- rc backup "$STORE" "inside the other"
mkdir -p "$TEST_TMP/junk" && echo x >"$TEST_TMP/junk/file"
expect_fail_errno "backup into a folder that is neither empty nor a store" -- \
	rc backup "$TEST_TMP/junk" "not empty and not a regfs store"

# --- restore ---

T=$TEST_TMP/restored
expect_status 0 "$REGCTL" --store "$T" restore "$BK"
expect_match "$OUT" 'fsck: checked [0-9]+ blobs .*: 0 missing, 0 corrupt, 0 orphans' "restore runs fsck: clean"
expect_status 0 "$REGCTL" --store "$T" fsck
expect_eq "$(sqlite_meta "$T/catalog.db" generation)" "" "the restored store has no generation"
expect_eq "$(sqlite_meta "$T/catalog.db" backup.source)" "" "the restored store is no longer marked a backup"
run_cmd "$REGCTL" --store "$T" ls --json
expect_eq "$(json_get 'sorted((t["repository"], t["tag"], t["digest"]) for t in d)' <<<"$OUT")" \
	"$(json_get 'sorted((t["repository"], t["tag"], t["digest"]) for t in d)' <"$TEST_TMP/ls.again")" \
	"the restored store has the backup's tags"

MNT2=$TEST_TMP/mnt2
regfs_mount "$T" "$MNT2"
bad=0
for i in $(seq "$NB"); do
	cmp -s "$SRC/base$i" "$MNT2/registry/base/v$i" || bad=$((bad + 1))
done
check "the restored store mounts and its tags read back" test "$bad" -eq 0
n=0
for d in "$MNT2"/registry/w[1-4]; do [[ -d $d ]] && n=$((n + 1)); done
expect_eq "$n" "4" "the writers' repositories are there"
new_generation=$(sqlite_meta "$T/catalog.db" generation)
expect_ne "$new_generation" "" "mounted, the restored store picks a generation"
expect_ne "$new_generation" "$generation" "... not the original store's"
mkrand "$SRC/after" 100K
expect_ok "the restored store takes new tags" -- cp "$SRC/after" "$MNT2/incoming/after/v1"
expect_fail_errno "restore into a mounted store" -- "$REGCTL" --store "$T" restore "$BK" "in use"
expect_fail_errno "restore --force into a mounted store" -- \
	"$REGCTL" --store "$T" restore --force "$BK" "in use"
expect_fail_errno "backup into a mounted store" -- rc backup --force "$T" "in use"
regfs_umount "$MNT2"

expect_fail_errno "restore refuses a store with content" -- \
	"$REGCTL" --store "$T" restore "$BK" "not empty"
expect_fail_errno "backup refuses a store with content that is not a backup" -- \
	rc backup "$T" "not a backup"
expect_fail_errno "restore refuses a folder that is not a store" -- \
	"$REGCTL" --store "$TEST_TMP/junk" restore "$BK" "not empty and not a regfs store"
expect_status 0 "$REGCTL" --store "$T" restore --force "$BK"
expect_status 0 "$REGCTL" --store "$T" ls after
expect_eq "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" "0" "restore --force replaces the content (the new tag is gone)"
# From a copy (on another file system when there is one), into an empty
# folder.
from=${SHM_DIR:+$SHM_DIR/backup}
mkdir -p "$TEST_TMP/empty"
expect_status 0 "$REGCTL" --store "$TEST_TMP/empty" restore "${from:-$TEST_TMP/backup-copy}"
expect_match "$OUT" ' 0 missing, 0 corrupt, 0 orphans' "restore from a copy into an empty folder: clean"

# --- a corrupt source blob ---

CS=$TEST_TMP/cstore
mkrand "$SRC/c1" 300K
mkrand "$SRC/c2" 200K
"$REGCTL" --store "$CS" publish --init "$SRC/c1" app:v1 >/dev/null
expect_status 0 "$REGCTL" --store "$CS" backup --copy "$TEST_TMP/cbackup"
"$REGCTL" --store "$CS" publish --init "$SRC/c2" app:v2 >/dev/null
c2=$(sha "$SRC/c2")
chmod u+w "$CS/blobs/sha256/$c2"
flip_byte "$CS/blobs/sha256/$c2" 1000
expect_status 1 "$REGCTL" --store "$CS" backup --copy "$TEST_TMP/cbackup"
expect_match "$OUT" "sha256:$c2" "a copy of a corrupt blob fails, naming it"
expect_status 0 "$REGCTL" --store "$TEST_TMP/cbackup" fsck
expect_status 0 "$REGCTL" --store "$TEST_TMP/cbackup" ls --json
expect_eq "$(json_get '[t["tag"] for t in d]' <<<"$OUT")" "['v1']" "the earlier backup is left whole"
expect_status 1 "$REGCTL" --store "$CS" backup --verify "$TEST_TMP/cbackup-linked"
expect_match "$OUT" "sha256:$c2 .*corrupt" "a hard link with --verify finds it too"
if [[ -n $SHM_DIR ]]; then
	expect_status 1 "$REGCTL" --store "$CS" backup "$SHM_DIR/cbackup"
	expect_match "$OUT" "sha256:$c2" "so does a copy to another file system"
fi
truncate -s 10 "$CS/blobs/sha256/$c2"
expect_status 1 "$REGCTL" --store "$CS" backup "$TEST_TMP/cbackup-truncated"
expect_match "$OUT" "sha256:$c2 .*10 bytes" "a truncated blob fails even a hard-linked backup"

# --- usage ---

expect_status 2 rc backup
expect_status 2 rc backup a b
expect_status 2 rc backup --no-fsck "$TEST_TMP/x"
expect_status 2 rc restore
expect_status 0 rc backup --help
expect_status 0 rc restore --help

regfs_umount "$MNT"
done_testing
