#!/bin/bash
# t1400-seal-hook: regfs.conf's seal_hook says yes or no to content before
# every seal. A hook that refuses files holding a marker string is asked on
# every way in: cp into incoming/ (close() fails with EACCES, nothing is
# sealed, the daemon log names the hook's first line of stderr), a rename
# onto a tag (rsync, mv), regctl publish --config (exit 1 with the reason),
# a pull-through read of an upstream tag (EACCES, the blob is not stored),
# and regctl serve --config (a blob upload answers 403 DENIED with the
# reason; regctl push shows it). Clean content passes everywhere. The hook
# gets the staged file (mode 0444, the bytes of the digest, on stdin too),
# the repository, tag and digest as arguments and in REGFS_*; a hook that
# writes the file is refused; one that hangs is killed at
# seal_hook_timeout, or at once when the writer is killed meanwhile; one
# that is missing refuses (and stops a daemon at
# start, as does every bad seal_hook or seal_hook_timeout value).
# shellcheck source-path=SCRIPTDIR disable=SC2317,SC2016,SC2012 # literal $1 for sh -c; ls as users use it
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"

H=$TEST_TMP/hooks
mkdir -p "$H"
HOOKLOG=$H/hook.log
: >"$HOOKLOG"

# The scanner: refuses a file holding EVIL-MARKER; records what it was given.
cat >"$H/scan" <<'EOF'
#!/bin/sh
log=${0%/*}/hook.log
printf 'n=%s file=%s repo=%s tag=%s digest=%s env=%s|%s|%s|%s\n' "$#" "$1" "$2" "$3" "$4" \
	"$REGFS_FILE" "$REGFS_REPO" "$REGFS_TAG" "$REGFS_DIGEST" >>"$log"
printf 'mode=%s\n' "$(stat -L -c %a "$1")" >>"$log"
got=sha256:$(sha256sum <"$1" | cut -d' ' -f1)
[ "$got" = "$4" ] || { echo "the file does not hash to $4" >&2; exit 3; }
got=sha256:$(sha256sum | cut -d' ' -f1)
[ "$got" = "$4" ] || { echo "stdin does not hash to $4" >&2; exit 4; }
if grep -q EVIL-MARKER "$1"; then
	echo "found EVIL-MARKER in $2:$3" >&2
	echo "a second line nobody shows" >&2
	exit 1
fi
exit 0
EOF
# One that tries to change what was hashed.
cat >"$H/writer" <<'EOF'
#!/bin/sh
if printf 'appended by the hook' >>"$1" 2>/dev/null; then
	echo "wrote=yes" >>"${0%/*}/hook.log"
else
	echo "wrote=no" >>"${0%/*}/hook.log"
fi
exit 0
EOF
# One that hangs (its sleep is found by its odd argument).
cat >"$H/hang" <<'EOF'
#!/bin/sh
sleep 1000.1400
EOF
printf '#!/bin/sh\nexit 0\n' >"$H/noexec"
chmod 755 "$H/scan" "$H/writer" "$H/hang"
chmod 644 "$H/noexec"

conf() { # conf NAME LINE...: a regfs.conf of those lines
	local f=$H/$1.conf
	shift
	printf '%s\n' "$@" >"$f"
	printf '%s\n' "$f"
}
SCAN_CONF=$(conf scan "seal_hook = $H/scan" "seal_hook_timeout = 20s")

mkrand "$SRC/clean" 100K
{ cat "$SRC/clean"; printf 'EVIL-MARKER\n'; } >"$SRC/evil"
mkrand "$SRC/clean2" 50K
{ printf 'xEVIL-MARKER\n'; cat "$SRC/clean2"; } >"$SRC/evil2"
clean_d=sha256:$(sha "$SRC/clean")
evil_d=sha256:$(sha "$SRC/evil")
evil2_d=sha256:$(sha "$SRC/evil2")

# --- bad values stop the daemon at start --------------------------------------

bad_start() { # bad_start DESC MESSAGE LINE...
	local desc=$1 msg=$2
	shift 2
	expect_start_refused "$desc" "$msg" "$(conf bad "$@")"
}
bad_start "a relative seal_hook" "'seal_hook' must be an absolute path: 'scan'" "seal_hook = scan"
bad_start "an empty seal_hook" "'seal_hook' must be an absolute path" "seal_hook ="
bad_start "a seal_hook_timeout that is no duration" "bad.conf:2: 'seal_hook_timeout' is not a duration" \
	"seal_hook = $H/scan" "seal_hook_timeout = soon"
bad_start "seal_hook_timeout = never" "'seal_hook_timeout' must be more than 0" \
	"seal_hook = $H/scan" "seal_hook_timeout = never"
bad_start "seal_hook_timeout = 0s" "'seal_hook_timeout' must be more than 0" \
	"seal_hook = $H/scan" "seal_hook_timeout = 0s"
bad_start "a seal_hook in a section" "'seal_hook' is global" \
	"[upstream a]" "url = http://127.0.0.1:1" "seal_hook = $H/scan"
bad_start "a duplicate seal_hook" "duplicate key 'seal_hook'" "seal_hook = $H/scan" "seal_hook = $H/scan"
bad_start "a missing hook program" "seal hook '$H/nosuch': No such file or directory" "seal_hook = $H/nosuch"
bad_start "a hook that is not executable" "seal hook '$H/noexec' is not executable" "seal_hook = $H/noexec"
bad_start "a hook that is a folder" "seal hook '$H' is not a regular file" "seal_hook = $H"

# --- incoming/: close and rename ------------------------------------------------

regfs_mount "$STORE" "$MNT" -o config="$SCAN_CONF"
R=$MNT/registry
I=$MNT/incoming
log=$(daemon_log "$MNT")
pid=$(daemon_pid "$MNT")
check "the daemon log names the hook" grep -q "seal hook '$H/scan' (timeout 20000 ms)" "$log"

expect_ok "cp of a clean file seals" -- cp "$SRC/clean" "$I/app/v1"
expect_eq "$(sha "$R/app/v1" 2>&1)" "${clean_d#sha256:}" "the clean tag holds its bytes"
line=$(grep "tag=v1 " "$HOOKLOG" | head -n 1)
# The file is the hook's own standard input, by its pid: the daemon's
# descriptors are not open to other processes (it is not dumpable).
expect_match "$line" "^n=4 file=/proc/[0-9]+/fd/0 repo=app tag=v1 digest=$clean_d " \
	"the hook gets the staged file, repository, tag and digest as arguments"
check "(the path is the hook's, not the daemon's)" _lib_not grep -q "file=/proc/$pid/" "$HOOKLOG"
expect_match "$line" "env=/proc/[0-9]+/fd/0\\|app\\|v1\\|$clean_d\$" \
	"and REGFS_FILE, REGFS_REPO, REGFS_TAG, REGFS_DIGEST"
check "the hook sees the file read-only (0444)" grep -qx "mode=444" "$HOOKLOG"
check "the hook read the digest's bytes from the path and stdin" _lib_not grep -q 'does not hash' "$log"

t0=$(now_ns)
expect_fail_errno "cp of a marked file fails at close with EACCES" -- cp "$SRC/evil" "$I/app/evil" "Permission denied"
diag "refusal took $((($(now_ns) - t0) / 1000000)) ms"
check "nothing is sealed" test ! -e "$R/app/evil"
check "no incoming entry is left" test ! -e "$I/app/evil"
check "the refused content is not stored" test ! -e "$STORE/blobs/sha256/${evil_d#sha256:}"
check "the daemon log gives the hook's reason" \
	grep -q "seal hook refused 'app:evil' (exit 1): found EVIL-MARKER in app:evil" "$log"
check "only its first line of stderr" _lib_not grep -q 'a second line nobody shows' "$log"
check "the hook saw the verified digest" grep -q "tag=evil digest=$evil_d " "$HOOKLOG"
check "staging/ empties" wait_until 10 'test "$(count_files "$STORE/staging")" -eq 0'
check "the audit log records the hook's refusal" \
	grep -q '"kind":"hook-refused","result":"refused","repo":"app","tag":"evil","digest":"'"$evil_d"'".*found EVIL-MARKER in app:evil' \
	"$STORE/audit/audit.log"

expect_fail "rsync of a marked file (a rename onto the tag) fails" -- rsync -a "$SRC/evil" "$I/app/rs"
check "rsync's tag is not sealed" test ! -e "$R/app/rs"
check "the log names rsync's refusal" grep -q "seal hook refused 'app:rs' (exit 1)" "$log"
expect_ok "rsync of a clean file seals" -- rsync -a "$SRC/clean" "$I/app/rs2"
check "app:rs2 is sealed" test -f "$R/app/rs2"

expect_ok "a marked temporary file is written" -- cp "$SRC/evil2" "$I/app/.evil2.tmp"
expect_errno EACCES rename "$I/app/.evil2.tmp" "$I/app/mv"
check "the refused temporary file is discarded" test ! -e "$I/app/.evil2.tmp"
check "mv's tag is not sealed" test ! -e "$R/app/mv"
check "nor its content stored" test ! -e "$STORE/blobs/sha256/${evil2_d#sha256:}"
check "the log names mv's refusal" grep -q "seal hook refused 'app:mv' (exit 1): found EVIL-MARKER in app:mv" "$log"
expect_eq "$(ls "$R/app" | tr '\n' ' ')" "rs2 v1 " "registry/app holds only what the hook passed"

# A hook that went away refuses, and says why.
mv "$H/scan" "$H/scan.away"
expect_fail_errno "with the hook gone, cp fails with EACCES" -- cp "$SRC/clean2" "$I/app/gone" "Permission denied"
check "nothing is sealed" test ! -e "$R/app/gone"
check "the log says the hook is missing" \
	grep -q "refusing 'app:gone': seal hook '$H/scan': No such file or directory" "$log"
mv "$H/scan.away" "$H/scan"
expect_ok "back in place, cp seals again" -- cp "$SRC/clean2" "$I/app/back"
regfs_umount "$MNT"

# -o publish=rename: the rename onto the tag is the seal.
regfs_mount "$TEST_TMP/rstore" "$TEST_TMP/rmnt" -o publish=rename -o config="$SCAN_CONF"
RI=$TEST_TMP/rmnt/incoming
expect_ok "a marked file is staged under a temporary name" -- cp "$SRC/evil" "$RI/app/.evil.part"
expect_errno EACCES rename "$RI/app/.evil.part" "$RI/app/v1"
check "nothing is sealed" test ! -e "$TEST_TMP/rmnt/registry/app/v1"
check "the log names the refusal" grep -q "seal hook refused 'app:v1' (exit 1): found EVIL-MARKER in app:v1" \
	"$(daemon_log "$TEST_TMP/rmnt")"
expect_ok "a clean file is staged" -- cp "$SRC/clean" "$RI/app/.clean.part"
expect_errno OK rename "$RI/app/.clean.part" "$RI/app/v1"
expect_eq "$(sha "$TEST_TMP/rmnt/registry/app/v1" 2>&1)" "${clean_d#sha256:}" "its rename seals it"
regfs_umount "$TEST_TMP/rmnt"

# --- regctl publish -------------------------------------------------------------

P=$TEST_TMP/pstore
expect_ok "regctl publish --config of a clean file" -- \
	"$REGCTL" --store "$P" publish --init --config "$SCAN_CONF" "$SRC/clean" app:v1
expect_match "$OUT" "^app:v1 $clean_d" "prints the sealed tag"
expect_status 1 "$REGCTL" --store "$P" publish --init --config "$SCAN_CONF" "$SRC/evil" app:evil
expect_match "$OUT" "cannot publish '.*evil' as 'app:evil': seal hook refused 'app:evil' \(exit 1\): found EVIL-MARKER in app:evil" \
	"regctl publish shows the hook's reason"
expect_status 1 "$REGCTL" --store "$P" --config "$SCAN_CONF" publish "$SRC/evil" app:evil
expect_match "$OUT" "seal hook refused 'app:evil' \(exit 1\): found EVIL-MARKER" \
	"regctl --config FILE publish reads the hook there too"
expect_status 1 "$REGCTL" --store "$P" inspect app:evil
check "the refused content is not stored" test ! -e "$P/blobs/sha256/${evil_d#sha256:}"
expect_ok "from standard input too" -- sh -c '"$1" --store "$2" publish --config "$3" - app:stdin <"$4"' \
	sh "$REGCTL" "$P" "$SCAN_CONF" "$SRC/clean2"
expect_status 1 sh -c '"$1" --store "$2" publish --config "$3" - app:stdin-evil <"$4"' \
	sh "$REGCTL" "$P" "$SCAN_CONF" "$SRC/evil2"
expect_match "$OUT" "found EVIL-MARKER in app:stdin-evil" "standard input is scanned as well"

MISSING_CONF=$(conf missing "seal_hook = $H/nosuch")
expect_status 1 "$REGCTL" --store "$P" publish --init --config "$MISSING_CONF" "$SRC/clean" app:missing
expect_match "$OUT" "seal hook '$H/nosuch': No such file or directory" "a missing hook refuses the publish and says why"
NOEXEC_CONF=$(conf noexec "seal_hook = $H/noexec")
expect_status 1 "$REGCTL" --store "$P" publish --init --config "$NOEXEC_CONF" "$SRC/clean" app:noexec
expect_match "$OUT" "is not executable" "a hook that is not executable refuses the publish"
expect_status 1 "$REGCTL" --store "$P" publish --init --config "$(conf badval "seal_hook = $H/scan" "seal_hook_timeout = x")" \
	"$SRC/clean" app:badval
expect_match "$OUT" "'seal_hook_timeout' is not a duration" "a bad value refuses the publish"
expect_status 1 "$REGCTL" --store "$P" ls app:missing

# regctl import: a marked item is skipped with the reason, the rest imported.
mkdir -p "$TEST_TMP/tree/app"
cp "$SRC/clean" "$TEST_TMP/tree/app/good"
cp "$SRC/evil" "$TEST_TMP/tree/app/bad"
expect_status 1 "$REGCTL" --store "$TEST_TMP/istore" import --from tree --config "$SCAN_CONF" "$TEST_TMP/tree"
expect_match "$OUT" "skipped app/bad: seal hook refused 'app:bad' \(exit 1\): found EVIL-MARKER in app:bad" \
	"regctl import skips a marked item with the hook's reason"
expect_match "$OUT" "imported app:good $clean_d" "and imports the clean one"
check "the marked item is not stored" test ! -e "$TEST_TMP/istore/blobs/sha256/${evil_d#sha256:}"

# A hook that writes the file it was given: as root it can, and the seal is
# refused; as anyone else the file is read-only and the bytes stay.
WRITER_CONF=$(conf writer "seal_hook = $H/writer")
run_cmd "$REGCTL" --store "$P" publish --init --config "$WRITER_CONF" "$SRC/clean2" app:written
if grep -qx "wrote=yes" "$HOOKLOG"; then
	expect_eq "$RC" 1 "a hook that changed the file: the publish is refused"
	expect_match "$OUT" "the file changed while seal hook '$H/writer' ran" "and says so"
	run_cmd "$REGCTL" --store "$P" inspect app:written
	expect_ne "$RC" 0 "nothing is sealed"
else
	check "a hook cannot open the file for writing" grep -qx "wrote=no" "$HOOKLOG"
	expect_eq "$RC" 0 "and the publish goes on"
	expect_match "$OUT" "app:written sha256:$(sha "$SRC/clean2")" "with the bytes that were hashed"
fi

# A hook that hangs is killed at seal_hook_timeout.
HANG_CONF=$(conf hang "seal_hook = $H/hang" "seal_hook_timeout = 1s")
t0=$(now_ns)
expect_status 1 "$REGCTL" --store "$P" publish --init --config "$HANG_CONF" "$SRC/clean2" app:hang
ms=$((($(now_ns) - t0) / 1000000))
diag "the hanging hook's publish took $ms ms"
expect_match "$OUT" "seal hook '$H/hang' ran over 1000 ms on 'app:hang' and was killed" "the refusal names the timeout"
check "it was refused within bounds (1 s, plus the 1 s grace before SIGKILL)" test "$ms" -lt 6000
check "the hook's process is gone" wait_until 5 'test -z "$(pids_with_arg 1000.1400)"'
expect_status 1 "$REGCTL" --store "$P" inspect app:hang

# --- the daemon with a hanging hook ---------------------------------------------

regfs_mount "$TEST_TMP/hstore" "$TEST_TMP/hmnt" -o config="$HANG_CONF"
t0=$(now_ns)
expect_fail_errno "cp under a hanging hook fails with EACCES" -- cp "$SRC/clean" "$TEST_TMP/hmnt/incoming/app/v1" \
	"Permission denied"
ms=$((($(now_ns) - t0) / 1000000))
check "within bounds ($ms ms)" test "$ms" -lt 6000
check "nothing is sealed" test ! -e "$TEST_TMP/hmnt/registry/app/v1"
check "the log names the timeout" grep -q "seal hook '$H/hang' ran over 1000 ms on 'app:v1' and was killed" \
	"$(daemon_log "$TEST_TMP/hmnt")"
check "the hook's process is gone" wait_until 5 'test -z "$(pids_with_arg 1000.1400)"'
regfs_umount "$TEST_TMP/hmnt"

# A writer killed while the hook runs on its close: the hook is stopped at
# once (not at seal_hook_timeout) and nothing is sealed.
LONG_CONF=$(conf long "seal_hook = $H/hang" "seal_hook_timeout = 60s")
regfs_mount "$TEST_TMP/hstore" "$TEST_TMP/hmnt" -o config="$LONG_CONF"
cp "$SRC/clean" "$TEST_TMP/hmnt/incoming/app/killed" &
writer=$!
track_pid "$writer"
check "the hook runs on the writer's close" wait_until 10 'test -n "$(pids_with_arg 1000.1400)"'
t0=$(now_ns)
kill -KILL "$writer"
check "the writer, sent SIGKILL while the hook runs, is gone within 3 s" wait_exit "$writer" 3
diag "it died $((($(now_ns) - t0) / 1000000)) ms after SIGKILL"
reap "$writer"
expect_eq "$REAP_RC" 137 "it died of SIGKILL"
check "the hook's process is gone" wait_until 5 'test -z "$(pids_with_arg 1000.1400)"'
check "nothing is sealed" test ! -e "$TEST_TMP/hmnt/registry/app/killed"
check "the log says the seal was interrupted" \
	grep -q "sealing 'app:killed' was interrupted: its writer was killed, nothing is sealed" \
	"$(daemon_log "$TEST_TMP/hmnt")"
check "the audit log has the failed publish, and no refusal by the hook" \
	grep -q '"kind":"publish","result":"failed","repo":"app","tag":"killed"' "$TEST_TMP/hstore/audit/audit.log"
check "(no hook-refused event for it)" _lib_not grep -q '"kind":"hook-refused".*"tag":"killed"' "$TEST_TMP/hstore/audit/audit.log"
regfs_umount "$TEST_TMP/hmnt"

# --- pull-through ---------------------------------------------------------------

registry_start up
U=$REGISTRY_UP_URL
oci_push_file "$U" app good "$SRC/clean" >/dev/null
oci_push_file "$U" app bad "$SRC/evil" >/dev/null
PS=$TEST_TMP/pullstore
regfs_mount "$PS" "$TEST_TMP/pmnt" -o upstream="$U" -o config="$SCAN_CONF"
PR=$TEST_TMP/pmnt/registry
plog=$(daemon_log "$TEST_TMP/pmnt")
expect_eq "$(sha "$PR/app/good" 2>&1)" "${clean_d#sha256:}" "a clean upstream tag reads"
check "the hook was asked about it" grep -q "repo=app tag=good digest=$clean_d " "$HOOKLOG"
check "a marked upstream tag is listed" test -e "$PR/app/bad"
expect_fail_errno "reading it fails with EACCES" -- cat "$PR/app/bad" "Permission denied"
check "its blob is not stored" test ! -e "$PS/blobs/sha256/${evil_d#sha256:}"
check "the log names the tag and the reason" \
	grep -q "seal hook refused blob $evil_d of 'app:bad' from upstream 'default' (exit 1): found EVIL-MARKER in app:bad" "$plog"
expect_fail_errno "a second read is refused too" -- cat "$PR/app/bad" "Permission denied"
check "still not stored" test ! -e "$PS/blobs/sha256/${evil_d#sha256:}"
regfs_umount "$TEST_TMP/pmnt"

# regctl prefetch runs the hook the same way.
expect_status 1 "$REGCTL" --store "$TEST_TMP/prefetch" prefetch --config "$SCAN_CONF" --upstream "$U" app:bad
expect_match "$OUT" "found EVIL-MARKER in app:bad" "regctl prefetch shows the hook's reason"
check "prefetch stored nothing of it" test ! -e "$TEST_TMP/prefetch/blobs/sha256/${evil_d#sha256:}"

# --- regctl serve ---------------------------------------------------------------

serve_start main --store "$TEST_TMP/sstore" --config "$SCAN_CONF"
S=$SERVE_MAIN_URL
expect_ok "a clean artifact pushes" -- oci_push_file "$S" team/app v1 "$SRC/clean"
check "the hook heard of the uploaded layer, with no tag" grep -q "repo=team/app tag= digest=$clean_d " "$HOOKLOG"
expect_eq "$(curl -s "$S/v2/team/app/blobs/$clean_d" | sha256sum | cut -d' ' -f1)" "${clean_d#sha256:}" \
	"and serves it"

# A marked blob, uploaded by hand: 403 DENIED with the hook's reason.
hdr=$TEST_TMP/upload.hdr
curl -s -o /dev/null -D "$hdr" -X POST "$S/v2/team/app/blobs/uploads/"
loc=$(sed -n 's/^[Ll]ocation: *\([^[:space:]]*\).*/\1/p' "$hdr")
[[ $loc == /* ]] && loc=$S$loc
[[ $loc == *\?* ]] && loc+="&digest=$evil_d" || loc+="?digest=$evil_d"
code=$(curl -s -o "$TEST_TMP/upload.body" -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
	-H 'Expect:' -T "$SRC/evil" "$loc")
expect_eq "$code" 403 "a marked blob upload is refused with 403"
expect_match "$(cat "$TEST_TMP/upload.body")" '"code": *"DENIED"' "as DENIED"
expect_match "$(cat "$TEST_TMP/upload.body")" "found EVIL-MARKER in team/app:" "with the hook's reason"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -I "$S/v2/team/app/blobs/$evil_d")" 404 "the blob is not served"
check "nor stored" test ! -e "$TEST_TMP/sstore/blobs/sha256/${evil_d#sha256:}"

# regctl push of a marked tag to the server shows the reason.
L=$TEST_TMP/lstore
expect_ok "publishing the marked file in a store without a hook" -- "$REGCTL" --store "$L" publish --init "$SRC/evil" app:evil
expect_status 1 "$REGCTL" --store "$L" push --plain-http app:evil "$SERVE_MAIN_HOST/team/app:evil"
expect_match "$OUT" "found EVIL-MARKER in team/app:" "regctl push shows the hook's reason"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$S/v2/team/app/manifests/evil")" 404 "no tag is made"
expect_ok "publishing a clean file there" -- "$REGCTL" --store "$L" publish --init "$SRC/clean2" app:ok
expect_ok "a clean tag pushes" -- "$REGCTL" --store "$L" push --plain-http app:ok "$SERVE_MAIN_HOST/team/app:ok"
serve_stop main

# regctl serve in front of an upstream: a fetched blob the hook refuses is
# answered 403 DENIED, and not stored.
serve_start hub --store "$TEST_TMP/hub" --upstream "$U" --config "$SCAN_CONF"
S=$SERVE_HUB_URL
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$S/v2/app/manifests/bad")" 200 "(the marked tag's manifest resolves)"
code=$(curl -s -o "$TEST_TMP/hub.body" -w '%{http_code}' "$S/v2/app/blobs/$evil_d")
expect_eq "$code" 403 "its blob, fetched through the server, is refused with 403"
expect_match "$(cat "$TEST_TMP/hub.body")" '"DENIED".*found EVIL-MARKER in app:bad' "DENIED, with the hook's reason"
check "and not stored" test ! -e "$TEST_TMP/hub/blobs/sha256/${evil_d#sha256:}"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$S/v2/app/manifests/good")" 200 "(the clean tag's manifest resolves)"
expect_eq "$(curl -s "$S/v2/app/blobs/$clean_d" | sha256sum | cut -d' ' -f1)" "${clean_d#sha256:}" \
	"the clean tag's blob is served"
serve_stop hub

# --- every refusal is in the audit log ------------------------------------------

refused() { # refused DESC STORE TAG REASON: a hook-refused entry for TAG (JSON)
	check "the audit log has $1" \
		grep -q '"kind":"hook-refused","result":"refused".*"tag":'"$3"'.*'"$4" "$2/audit/audit.log"
}
refused "the hook that hung" "$TEST_TMP/hstore" '"v1"' "ran over 1000 ms"
refused "the pull-through refusal" "$PS" '"bad"' "found EVIL-MARKER in app:bad"
refused "regctl serve's refused upload (no tag yet)" "$TEST_TMP/sstore" null "found EVIL-MARKER in team/app:"
refused "regctl serve's refused pull-through" "$TEST_TMP/hub" '"bad"' "found EVIL-MARKER in app:bad"
refused "regctl publish's refusal" "$P" '"evil"' "found EVIL-MARKER in app:evil"

done_testing
