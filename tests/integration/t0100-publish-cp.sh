#!/bin/bash
# t0100-publish-cp: publishing with cp (and other plain writers) into
# incoming/, and what the sealed tag looks like under registry/.
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd getfattr cmp

mkrand "$SRC/app" 3M
mkrand "$SRC/other" 1M
: >"$SRC/empty"
touch -d '2001-02-03 04:05:06' "$SRC/app"
app_sha=$(sha "$SRC/app")

regfs_mount "$STORE" "$MNT"
R=$MNT/registry
I=$MNT/incoming

# --- cp with no mkdir ---

before=$(date +%s)
expect_ok "cp into incoming/app/v1.0.0 with no mkdir first" -- cp "$SRC/app" "$I/app/v1.0.0"
after=$(date +%s)

check "close() returned: registry/app/v1.0.0 exists" test -f "$R/app/v1.0.0"
expect_eq "$(ls -A "$I/app" | tr '\n' ' ')" "" "incoming/app lists nothing after the seal"
expect_eq "$(sha "$R/app/v1.0.0")" "$app_sha" "sha256sum of the sealed tag equals the source's"
expect_ok "cmp: the sealed tag equals the source byte for byte" -- cmp "$SRC/app" "$R/app/v1.0.0"
expect_eq "$(cat "$R/app/v1.0.0" | sha256sum | cut -d' ' -f1)" "$app_sha" "cat through a pipe reads it whole"
expect_eq "$(stat -c %s "$R/app/v1.0.0")" "$(stat -c %s "$SRC/app")" "stat: size is the content size"
expect_eq "$(stat -c %a "$R/app/v1.0.0")" "644" "stat: mode is 0644, as the source's"
expect_eq "$(stat -c %F "$R/app/v1.0.0")" "regular file" "stat: a regular file"
mtime=$(stat -c %Y "$R/app/v1.0.0")
check "stat: mtime is the seal time ($before <= $mtime <= $after)" \
	test "$mtime" -ge "$before" -a "$mtime" -le "$after"
expect_eq "$(ls -l "$R/app" | awk '$NF == "v1.0.0" { print substr($1, 1, 10) }')" "-rw-r--r--" \
	"ls -l lists the tag as a regular file"
expect_eq "$(find "$R" -type f | sed "s|^$R/||")" "app/v1.0.0" "find registry/ -type f lists the tag"
expect_eq "$(find "$R" -type d | sed "s|^$R||" | sort | tr '\n' ' ')" " /app " "registry/app is a directory"

# --- extended attributes ---

run_cmd getfattr --absolute-names -d "$R/app/v1.0.0"
expect_match "$OUT" "user\.regfs\.digest=\"sha256:$app_sha\"" "getfattr -d shows user.regfs.digest"
expect_eq "$(xattr "$R/app/v1.0.0" user.regfs.digest 2>&1)" "sha256:$app_sha" \
	"user.regfs.digest is sha256:<hex>"
expect_eq "$(xattr "$R/app/v1.0.0" user.regfs.repo 2>&1)" "app" "user.regfs.repo"
expect_eq "$(xattr "$R/app/v1.0.0" user.regfs.tag 2>&1)" "v1.0.0" "user.regfs.tag"
expect_match "$(xattr "$R/app/v1.0.0" user.regfs.created 2>&1)" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "user.regfs.created is RFC 3339 UTC"
expect_fail_errno getfattr -n user.regfs.nosuch "$R/app/v1.0.0" "No such attribute"

# --- the store: one blob per content ---

blob=$STORE/blobs/sha256/$app_sha
check "the blob is stored under blobs/sha256/<hex>" test -f "$blob"
expect_eq "$(stat -c %a "$blob" 2>/dev/null)" "444" "the blob file is read-only"
expect_ok "the blob holds the content" -- cmp "$SRC/app" "$blob"
nblobs=$(count_files "$STORE/blobs/sha256")
expect_eq "$nblobs" "1" "one blob after one publish"
expect_eq "$(count_files "$STORE/staging")" "0" "staging/ is empty after the seal"

expect_ok "the same content under a second tag" -- cp "$SRC/app" "$I/app/latest"
expect_ok "the same content in another repository" -- cp "$SRC/app" "$I/mirror/v1.0.0"
expect_eq "$(count_files "$STORE/blobs/sha256")" "1" "the same content under three tags is stored once"
expect_eq "$(sha "$R/app/latest")" "$app_sha" "the second tag reads the content"
expect_eq "$(sha "$R/mirror/v1.0.0")" "$app_sha" "the other repository reads the content"
expect_ne "$(stat -c %i "$R/app/latest")" "$(stat -c %i "$R/app/v1.0.0")" "two tags are two inodes"
expect_ok cp "$SRC/other" "$I/app/v2"
expect_eq "$(count_files "$STORE/blobs/sha256")" "2" "new content adds one blob"

# --- cp -p sets times and modes before close, and the tag keeps them ---

expect_ok "cp -p publishes" -- cp -p "$SRC/app" "$I/app/preserved"
expect_eq "$(stat -c %a "$R/app/preserved" 2>&1)" "644" "cp -p: the mode is the source's"
expect_eq "$(stat -c %Y "$R/app/preserved" 2>&1)" "$(stat -c %Y "$SRC/app")" "cp -p: the mtime is the source's"

# --- other writers ---

expect_ok "an empty file publishes" -- cp "$SRC/empty" "$I/app/empty"
expect_eq "$(stat -c %s "$R/app/empty" 2>&1)" "0" "the empty tag has size 0"
expect_eq "$(xattr "$R/app/empty" user.regfs.digest 2>&1)" \
	"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "the empty tag's digest"

expect_ok "a shell redirection publishes" -- sh -c 'cat "$1" > "$2"' sh "$SRC/other" "$I/app/redirect"
expect_eq "$(sha "$R/app/redirect" 2>&1)" "$(sha "$SRC/other")" "the redirected content is sealed"

expect_ok "dd publishes" -- dd if="$SRC/app" of="$I/app/dd" bs=1M status=none
expect_eq "$(sha "$R/app/dd" 2>&1)" "$app_sha" "dd's content is sealed"

# Several processes share one open file description: sh, then head, then
# tail write through it. The tag is sealed when the last of them closes it,
# not when head (the first to exit) does.
expect_ok "a compound writer sharing one descriptor publishes" -- \
	sh -c 'exec > "$2"; head -c 300K "$1"; tail -c 100K "$1"' sh "$SRC/app" "$I/app/compound"
expect_eq "$(sha "$R/app/compound" 2>&1)" "$({ head -c 300K "$SRC/app"; tail -c 100K "$SRC/app"; } | sha256sum | cut -d' ' -f1)" \
	"the compound writer's whole output is sealed"

# A wrapper that holds the file while its child writes, then exits normally.
expect_ok "a writer under timeout(1) publishes" -- \
	bash -c 'timeout 30 cat "$1" > "$2"' bash "$SRC/other" "$I/app/wrapped"
expect_eq "$(sha "$R/app/wrapped" 2>&1)" "$(sha "$SRC/other")" "the wrapped writer's content is sealed"

# Writes out of order (the second half first) are hashed right.
expect_ok "a writer that writes out of order publishes" -- python3 - "$SRC/app" "$I/app/backwards" <<'EOF'
import os, sys
data = open(sys.argv[1], 'rb').read()
half = len(data) // 2
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.pwrite(fd, data[half:], half)
os.pwrite(fd, data[:half], 0)
os.close(fd)
EOF
expect_eq "$(sha "$R/app/backwards" 2>&1)" "$app_sha" "the out-of-order content is sealed with the right digest"
expect_eq "$(xattr "$R/app/backwards" user.regfs.digest 2>&1)" "sha256:$app_sha" \
	"the out-of-order tag's digest attribute"

# Tags of every allowed shape.
long_tag=T$(printf 'x%.0s' $(seq 127))
for tag in V_1.2-3 _x 0 "$long_tag"; do
	expect_ok "tag '${tag:0:20}' publishes" -- cp "$SRC/other" "$I/app/$tag"
	check "registry/app/${tag:0:20} exists" test -f "$R/app/$tag"
done

# Deploying with cp out of the registry.
expect_ok cp "$R/app/v1.0.0" "$TEST_TMP/deployed"
expect_ok "the deployed copy equals the source" -- cmp "$SRC/app" "$TEST_TMP/deployed"

expect_eq "$(count_files "$STORE/staging")" "0" "staging/ is empty at the end"
regfs_umount "$MNT"
done_testing
