#!/bin/bash
# t1590-readonly-store: a store regctl may only read (issue 15, item 16).
# On a read-only bind mount of the store, and as a user who does not own
# it, the reading commands (ls, inspect, search, resolve, fsck, verify;
# push, which cannot note it in the audit log and says so; audit where its
# log may be read) work, with no writer and with a mount serving the store
# meanwhile; the writing ones
# (publish, rm, yank, gc) fail with one line that says what is wrong
# (a read-only file system; whose catalog it is and who you are), and
# change nothing.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2317 # ls as users use it; helpers called through expect_* and check
if [[ ${REGFS_T1590_NAMESPACE:-} != 1 ]]; then
	if [[ $(id -u) -eq 0 ]] && unshare --mount --propagation private true 2>/dev/null; then
		REGFS_T1590_NAMESPACE=1 exec unshare --mount --propagation private bash "$0" "$@"
	fi
	echo "1..0 # SKIP needs root and unshare --mount (a private mount namespace)"
	exit 77
fi
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
require_cmd setpriv
registry_start up

R() { "$REGCTL" --store "$STORE" "$@"; }
# As nobody, from a folder nobody may enter (the test's is 0700).
NOBODY() { (cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups "$REGCTL" --store "$STORE" "$@"); }
chmod 755 "$TEST_TMP"

mkrand "$SRC/a" 10K
mkrand "$SRC/b" 10K
expect_ok R publish --annotation description=first "$SRC/a" app:v1
A=$(sha "$SRC/a")
expect_ok R publish "$SRC/a" app:1.2.0
openssl genpkey -algorithm ed25519 -out "$TEST_TMP/key.pem" 2>/dev/null || bail_out "genpkey"
openssl pkey -in "$TEST_TMP/key.pem" -pubout -out "$TEST_TMP/key.pub"
chmod 644 "$TEST_TMP/key.pub"
expect_ok R sign --key "$TEST_TMP/key.pem" app:v1
catalog_sum() { sha256sum <"$STORE/catalog.db" | cut -d' ' -f1; }

# reads NAME RUN: the reading commands work through RUN (R or NOBODY).
reads() {
	local who=$1 run=$2
	expect_ok "$who: regctl ls" -- "$run" ls
	expect_match "$OUT" "app +v1 +sha256:${A:0:12}" "$who: ls lists the tag"
	expect_ok "$who: regctl inspect" -- "$run" inspect app:v1
	expect_match "$OUT" "digest: +sha256:$A" "$who: inspect shows its digest"
	expect_ok "$who: regctl search" -- "$run" search first
	expect_match "$OUT" "app:v1|app +v1" "$who: search finds it"
	expect_ok "$who: regctl resolve" -- "$run" resolve 'app@^1'
	expect_eq "$OUT" "app:1.2.0 sha256:$A" "$who: resolve picks the version"
	expect_ok "$who: regctl fsck" -- "$run" fsck
	expect_match "$OUT" "0 missing, 0 corrupt" "$who: fsck checks the blobs"
	expect_ok "$who: regctl verify" -- "$run" verify --key "$TEST_TMP/key.pub" app:v1
	expect_match "$OUT" ": verified" "$who: verify checks the signature"
	# push reads the store; what it would note there (the audit log) is
	# not kept, and it says so.
	run_cmd "$run" push --plain-http app:v1 "$REGISTRY_UP_HOST/$3/app:v1"
	expect_eq "$RC" 0 "$who: regctl push exits 0"
	expect_match "$OUT" "$REGISTRY_UP_HOST/$3/app:v1 sha256:[0-9a-f]{64}" "$who: push pushes the tag"
	expect_match "$OUT" "cannot write the audit log .*1 event not recorded" \
		"$who: push says the audit log cannot be written"
	# (The registry lists tags in no particular order.)
	expect_match "$(curl -fsS "$REGISTRY_UP_URL/v2/$3/app/tags/list" |
		python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["tags"])))')" \
		'^sha256-[0-9a-f]{64}\.sig v1$' "$who: the registry has the tag and its signature"
}

# --- a read-only bind mount of the store ---------------------------------------

mount --bind "$STORE" "$STORE"
track_mount "$STORE"
mount -o remount,bind,ro "$STORE"
check "the store is read-only now" _lib_not touch "$STORE/probe" 2>/dev/null
before=$(catalog_sum)
reads "read-only bind mount" R ro
expect_ok "read-only bind mount: regctl audit" -- R audit
for cmd in "publish $SRC/b app:v2" "rm --force app:v1" "yank app:v1" "gc"; do
	# shellcheck disable=SC2086 # the command's words
	run_cmd R $cmd
	expect_eq "$RC" 1 "read-only: regctl $cmd exits 1"
	expect_eq "$OUT" "regctl: store '$STORE' is on a read-only file system: only reading commands (ls, inspect, search, resolve, fsck, verify, push) work on it" \
		"read-only: regctl $cmd says the store is on a read-only file system"
done
expect_eq "$(catalog_sum)" "$before" "the catalog is unchanged"
umount "$STORE"

# --- a user who does not own the store -------------------------------------------

chmod -R go-w "$STORE"
reads "nobody" NOBODY nobody
# The audit log is its owner's to read (0640): a clear refusal.
expect_status 1 NOBODY audit
expect_eq "$OUT" "regctl: cannot read '$STORE/audit/audit.log': Permission denied" \
	"nobody: regctl audit says it may not read the audit log"
for cmd in "publish $SRC/b app:v2" "rm --force app:v1" "yank app:v1" "gc"; do
	# shellcheck disable=SC2086
	run_cmd NOBODY $cmd
	expect_eq "$RC" 1 "nobody: regctl $cmd exits 1"
	expect_match "$OUT" "^regctl: cannot write to catalog '$STORE/catalog.db' \(owned by uid 0, mode 644; you are uid $(id -u nobody)\): run as its owner" \
		"nobody: regctl $cmd says whose catalog it is and who you are"
done
expect_eq "$(catalog_sum)" "$before" "the catalog is unchanged"

# --- the same while a mount serves the store (its -wal file exists) -----------

regfs_mount "$STORE" "$MNT"
cp "$SRC/b" "$MNT/incoming/app/v2"
check "the mount has a -wal file" test -e "$STORE/catalog.db-wal"
expect_ok "nobody: regctl ls beside a mount" -- NOBODY ls
expect_match "$OUT" "app +v2" "sees the tag the mount just sealed"
expect_ok "nobody: regctl fsck beside a mount" -- NOBODY fsck
mount --bind "$STORE" "$TEST_TMP/ro" 2>/dev/null || { mkdir -p "$TEST_TMP/ro" && mount --bind "$STORE" "$TEST_TMP/ro"; }
track_mount "$TEST_TMP/ro"
mount -o remount,bind,ro "$TEST_TMP/ro"
expect_ok "regctl ls of a read-only view of a mounted store" -- "$REGCTL" --store "$TEST_TMP/ro" ls
expect_match "$OUT" "app +v2" "sees the tag the mount sealed"
expect_ok "regctl inspect there" -- "$REGCTL" --store "$TEST_TMP/ro" inspect app:v2
umount "$TEST_TMP/ro"
regfs_umount "$MNT"

done_testing
