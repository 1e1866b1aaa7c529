#!/bin/bash
# t1410-audit: the store's audit log (STORE/audit/audit.log) records who did
# what, from every door: a cp into the mount's incoming/ (the writer's uid
# and pid), regctl publish, yank and unyank, rm, a digest mismatch refused
# at close (a <tag>.sha256 sidecar), regctl cp to a local name, a tag pinned and its blob fetched
# through an upstream (and a corrupted fetch: verify-failed), and over
# regctl serve a login, a wrong password (the user, never the password), a
# push, a refused push (403) and a DELETE. regctl audit shows each with the
# right fields; --since (a time and a duration), --repo, --kind and --json
# filter. The file is JSON lines that python parses, appended only: a burst
# from four writers at once (the daemon, two regctl publish loops and
# failed logins over regctl serve) leaves only whole lines, each event
# once; gc and fsck leave the log alone; rotation (mv, then the next event
# makes a new file) loses nothing, and --file reads the old one.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317 # literal $1 for sh -c; helpers called through wait_until
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
# shellcheck source=serve.sh
. "$(dirname "$0")/serve.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
LOG=$STORE/audit/audit.log
ME=$(id -u)

# aq FILTER... [-- FIELD...]: of the JSON lines on stdin, the last one whose
# fields equal the FILTERs (key=value; null for JSON null), its FIELDs
# printed space-separated; "none" when no line matches. aq -c FILTER...:
# how many match.
aq() {
	python3 -c '
import json, sys
args = sys.argv[1:]
count = args[:1] == ["-c"]
if count:
    args = args[1:]
sep = args.index("--") if "--" in args else len(args)
filters = [a.split("=", 1) for a in args[:sep]]
fields = args[sep + 1:]
def text(v):
    return "null" if v is None else str(v)
hits = [e for e in map(json.loads, sys.stdin)
        if all(text(e.get(k)) == v for k, v in filters)]
if count:
    print(len(hits))
elif not hits:
    print("none")
else:
    print(" ".join(text(hits[-1].get(f)) for f in fields))
' "$@"
}
# ev FILTER... -- FIELD...: aq on the whole log.
ev() { aq "$@" <"$LOG"; }
lines() { wc -l <"$LOG"; }
# every line of FILE a JSON object with a time and a kind, and nothing else
all_json() {
	python3 -c '
import json, sys
data = open(sys.argv[1], "rb").read()
assert data.endswith(b"\n"), "the file ends mid-line"
for n, line in enumerate(data.split(b"\n")[:-1], 1):
    e = json.loads(line)
    assert isinstance(e, dict) and e["time"].endswith("Z") and e["kind"], n
' "$1"
}

mkrand "$SRC/app" 10K
mkrand "$SRC/lib" 12K
mkrand "$SRC/wrong" 9K
mkrand "$SRC/remote" 20K
mkrand "$SRC/pushed" 11K
APP=sha256:$(sha "$SRC/app")
LIB=sha256:$(sha "$SRC/lib")

# --- usage ----------------------------------------------------------------------

expect_status 0 R audit --help
expect_match "$OUT" "^usage: regctl audit" "regctl audit --help prints its usage"
expect_status 2 R audit --since yesterday
expect_match "$OUT" "RFC 3339 time or a duration" "a --since that is neither is a usage error"
expect_status 2 R audit extra
expect_status 2 R audit --bogus

# --- the doors --------------------------------------------------------------------

registry_start up
U=$REGISTRY_UP_URL
RD=$(oci_push_file "$U" remote/tool v1 "$SRC/remote")
oci_push_file "$U" remote/tool v2 "$SRC/pushed" >/dev/null
regfs_mount "$STORE" "$MNT" -o upstream="$U"
DPID=$(daemon_pid "$MNT")
I=$MNT/incoming
REG=$MNT/registry

expect_ok "cp publishes app:v1 through the mount" -- cp "$SRC/app" "$I/app/v1"
expect_eq "$(ev kind=publish tag=v1 -- result repo digest uid prog)" "ok app $APP $ME regfs" \
	"publish by cp: ok, app, its digest, the writer's uid, by regfs"
cp_pid=$(ev kind=publish tag=v1 -- pid)
check "the pid is the writer's (cp), not the daemon's ($cp_pid)" \
	test "$cp_pid" -gt 0 -a "$cp_pid" != "$DPID"

expect_ok R publish "$SRC/lib" lib:v1
expect_eq "$(ev kind=publish repo=lib -- result tag digest uid prog)" "ok v1 $LIB $ME regctl" \
	"regctl publish: ok, its digest, by regctl"
expect_status 1 R publish "$SRC/lib" lib:v1
expect_eq "$(ev kind=publish repo=lib result=refused -- reason)" "tag 'lib:v1' exists" \
	"publishing an existing tag is recorded as refused, with why"

expect_ok R cp app:v1 app:copied
expect_eq "$(ev kind=copy -- result repo tag digest uid prog)" "ok app copied $APP $ME regctl" \
	"regctl cp to a local name: a copy, with the digest"

expect_ok R yank --reason "broken build" lib:v1
expect_eq "$(ev kind=yank -- result repo tag digest)" "ok lib v1 $LIB" "yank recorded with the tag's digest"
expect_ok R unyank lib:v1
expect_eq "$(ev kind=unyank -- result repo tag digest)" "ok lib v1 $LIB" "unyank recorded"
expect_ok R rm --force lib:v1
expect_eq "$(ev kind=remove repo=lib -- result tag digest uid)" "ok v1 $LIB $ME" "rm recorded with what it removed"
expect_status 1 R rm --force lib:nope
expect_eq "$(ev kind=remove tag=nope -- result)" "refused" "an rm of a missing tag: refused"

# A digest mismatch at close, stated by a sidecar.
expect_ok sh -c 'echo "$1" > "$2"' sh "${APP#sha256:}" "$I/app/bad.sha256"
expect_fail_errno "cp of the wrong content fails at close" -- cp "$SRC/wrong" "$I/app/bad" "Bad message"
expect_eq "$(ev kind=verify-failed tag=bad -- result action repo uid)" "refused publish app $ME" \
	"the mismatch: verify-failed, refused, of a publish, the writer's uid"
expect_match "$(ev kind=verify-failed tag=bad -- reason)" "digest mismatch for 'app:bad'.*$(sha "$SRC/wrong")" \
	"its reason names both digests"

# Pull-through: reading an upstream tag pins it and fetches its blob.
expect_eq "$(sha "$REG/remote/tool/v1")" "$(sha "$SRC/remote")" "remote/tool:v1 reads through the upstream"
expect_eq "$(ev kind=pull tag=v1 repo=remote/tool -- result prog pid)" "ok regfs $DPID" \
	"the pin is recorded, by the daemon"
check "the pin names the manifest" test "$(ev kind=pull repo=remote/tool -- digest)" != null
# (A fetch is recorded once its blob is stored, a moment after the reader
# has the verified bytes.)
check "the fetch is recorded with the blob's digest" wait_until 10 \
	'test "$(ev kind=fetch repo=remote/tool -- result tag digest)" = "ok v1 $RD"'

# A corrupting upstream: the fetch is refused and recorded as verify-failed.
regfs_umount "$MNT"
bad_proxy_start bad "$U" --corrupt-blobs
regfs_mount "$STORE" "$MNT" -o upstream="$BAD_PROXY_BAD_URL"
expect_fail "reading a corrupted upstream blob fails" -- cat "$REG/remote/tool/v2"
check "the corrupted fetch is recorded" wait_until 10 \
	'test "$(ev kind=verify-failed repo=remote/tool -- action tag result)" = "fetch v2 refused"'

# regctl serve: logins, a push, a refused push, a DELETE.
HTP=$TEST_TMP/htpasswd
htpasswd -bcB "$HTP" ci ci-pass 2>/dev/null
htpasswd -bB "$HTP" release rel-pass 2>/dev/null
printf '%s\n' 'push prod/*  release' >"$TEST_TMP/rules"
serve_start main --store "$STORE" --htpasswd "$HTP" --access-rules "$TEST_TMP/rules" --allow-delete
S=$SERVE_MAIN_URL
SPID=$SERVE_MAIN_PID

expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u ci:ci-pass "$S/v2/")" 200 "a login as ci"
expect_eq "$(ev kind=login user=ci result=ok -- addr prog pid)" "127.0.0.1 regctl serve $SPID" \
	"the login is recorded with the user and address"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u ci:hunter2-SECRET "$S/v2/")" 401 "a wrong password"
expect_eq "$(ev kind=login user=ci result=refused -- addr reason)" "127.0.0.1 wrong user name or password" \
	"the failed login is recorded under the user it claimed"
check "the password is nowhere in the log" sh -c '! grep -q hunter2 "$1"' sh "$LOG"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u nobody:x "$S/v2/")" 401 "an unknown user"
expect_eq "$(ev kind=login user=nobody -- result)" refused "recorded too"

PD=$(oci_push_file "$S" team/app v1 "$SRC/pushed" --user ci:ci-pass)
check "a push to regctl serve as ci" test -n "$PD"
MD=$(ev kind=push repo=team/app tag=v1 -- digest)
expect_eq "$(ev kind=push repo=team/app -- result tag user addr)" "ok v1 ci 127.0.0.1" "the push is recorded"
expect_eq "$MD" "$(oci_manifest_digest "$S" team/app v1 --user ci:ci-pass)" "with the manifest's digest"
expect_fail "ci may not push to prod/" -- oci_push_file "$S" prod/app v1 "$SRC/pushed" --user ci:ci-pass
expect_eq "$(ev kind=denied repo=prod/app -- result user)" "refused ci" "the refused push is recorded"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u ci:ci-pass -X DELETE "$S/v2/team/app/manifests/$MD")" 202 \
	"a DELETE of the manifest"
expect_eq "$(ev kind=remove repo=team/app -- result digest user)" "ok $MD ci" "the DELETE is recorded"

# --- regctl audit ------------------------------------------------------------------

expect_ok R audit
expect_match "$OUT" "^TIME +KIND +RESULT +WHO +REPO:TAG +DIGEST +REASON" "a table with a header"
expect_match "$OUT" "publish +ok +uid $ME pid $cp_pid +app:v1 +${APP:0:19}" "the cp's publish, as a row"
expect_match "$OUT" "verify-failed +refused +uid $ME pid [0-9]+ +app:bad +- +digest mismatch" "the mismatch, as a row"
expect_match "$OUT" "login +refused +ci@127.0.0.1 " "the failed login, as a row"
expect_match "$OUT" "push +ok +ci@127.0.0.1 +team/app:v1 " "the push, as a row"
expect_eq "$(R audit | tail -n +2 | wc -l)" "$(lines)" "a row per line of the log"

expect_ok R audit --json
expect_eq "$(printf '%s\n' "$OUT" | aq -c)" "$(lines)" "--json prints every line"
expect_eq "$(printf '%s\n' "$OUT" | md5sum)" "$(md5sum <"$LOG")" "as they are in the file"
expect_eq "$(R audit --json --kind yank | aq -c)" 1 "--kind yank: the one yank"
expect_eq "$(R audit --json --kind yank,unyank | aq -c)" 2 "--kind yank,unyank: both"
expect_eq "$(R audit --json --kind publish | aq -c kind=verify-failed)" 1 \
	"--kind publish includes the publish that failed verification"
expect_eq "$(R audit --json --kind login | aq -c)" "$(ev -c kind=login)" "--kind login: the logins"
expect_eq "$(R audit --json --repo lib | aq -c)" "$(ev -c repo=lib)" "--repo lib: lib's events"
expect_eq "$(R audit --json --repo lib | aq -c repo=lib)" "$(R audit --json --repo lib | aq -c)" "and only them"
expect_eq "$(R audit --json --repo remote | aq -c)" "$(ev -c repo=remote/tool)" "--repo remote: the repositories under it"
expect_eq "$(R audit --json --repo remote/tool --kind fetch | aq -c)" \
	"$(($(ev -c kind=fetch repo=remote/tool) + $(ev -c action=fetch repo=remote/tool)))" \
	"--repo and --kind together (fetches, and fetches that failed verification)"
expect_eq "$(R audit --json --since 1h | aq -c)" "$(lines)" "--since 1h: everything"
expect_eq "$(R audit --json --since 2099-01-01T00:00:00Z | aq -c)" 0 "--since a future time: nothing"
sleep 1.1
since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
expect_ok R publish "$SRC/lib" lib:v2
expect_eq "$(R audit --json --since "$since" | aq -- kind tag)" "publish v2" "--since a time: what came after"
expect_eq "$(R audit --json --since "$since" | aq -c)" 1 "and only that"

# --- the file ----------------------------------------------------------------------

check "every line is a JSON object that python parses" all_json "$LOG"
expect_eq "$(stat -c %a "$LOG")" 640 "the log is rw-r-----"

# A burst from four writers at once: the daemon (cp into incoming/), two
# regctl publish loops, failed logins to regctl serve.
before=$(lines)
N=25
(for i in $(seq $N); do cp "$SRC/app" "$I/burst/m$i" || exit 1; done) &
b1=$!
(for i in $(seq $N); do "$REGCTL" --store "$STORE" publish "$SRC/lib" burst/a:v$i >/dev/null || exit 1; done) &
b2=$!
(for i in $(seq $N); do "$REGCTL" --store "$STORE" publish "$SRC/app" burst/b:v$i >/dev/null || exit 1; done) &
b3=$!
(for i in $(seq $N); do curl -s -o /dev/null -u "burst$i:x" "$S/v2/" || exit 1; done) &
b4=$!
for p in $b1 $b2 $b3 $b4; do
	check "burst writer $p finished" wait "$p"
done
check "after the burst, every line is still whole JSON" all_json "$LOG"
expect_eq "$(($(lines) - before))" $((4 * N)) "each of the $((4 * N)) events is there once"
expect_eq "$(ev -c kind=publish repo=burst result=ok)" "$N" "the daemon's $N"
expect_eq "$(ev -c kind=publish repo=burst/a result=ok)" "$N" "the first regctl's $N"
expect_eq "$(grep -c '"kind":"login","result":"refused".*"user":"burst[0-9]*"' "$LOG")" "$N" \
	"the server's $N failed logins"

# gc and fsck leave the log alone.
size=$(stat -c %s "$LOG")
sum=$(md5sum <"$LOG")
expect_ok R gc
expect_ok R fsck
expect_eq "$(stat -c %s "$LOG")/$(md5sum <"$LOG")" "$size/$sum" "gc and fsck change nothing in the log"
check "and do not count it as stray" sh -c '! printf "%s" "$1" | grep -qi stray' sh "$OUT"

# Rotation: mv, and the next event (from any process) starts a new file.
expect_ok mv "$LOG" "$LOG.1"
expect_ok cp "$SRC/app" "$I/app/after-rotation"
expect_eq "$(lines)" 1 "the daemon's next event starts a new audit.log"
expect_eq "$(ev -- kind tag)" "publish after-rotation" "holding that event"
expect_ok R publish "$SRC/lib" lib:v3
expect_eq "$(lines)" 2 "regctl appends to the new file too"
expect_eq "$(aq -c <"$LOG.1")" "$((before + 4 * N))" "the rotated file keeps all it had"
expect_eq "$(R audit --json --file "$LOG.1" | aq -c)" "$(aq -c <"$LOG.1")" "regctl audit --file reads the rotated file"
expect_eq "$(R audit --json | aq -c)" 2 "and without --file, the new one"

# A torn line (a crash mid-write) is skipped, with a warning.
printf '{"time":"2026-' >>"$LOG.1"
expect_ok R audit --json --file "$LOG.1"
expect_match "$OUT" "skipped 1 malformed line" "a torn last line is skipped and said"

serve_stop main
regfs_umount "$MNT"
done_testing
