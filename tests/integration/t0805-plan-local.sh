#!/bin/bash
# t0805-plan-local: regctl plan with hosts that are this machine.
#
# Every host is simulated: an inventory host {addr: 127.0.0.1} targeted by
# a "local: true" job runs here, with HADES_HOST_NAME set to the host's
# name, so each "host" writes into its own folder $TEST_TMP/hosts/<name>/.
# Registries: a regfs store ($TEST_TMP/reg, type: regfs) and a Hades
# layout folder ($TEST_TMP/fsreg, type: filesystem). Runs are recorded in
# $STORE (regctl --store).
#
#   1  validate: every kind of error is exit 2 and changes nothing
#   2  run: publish, canary (limit 1), rollout (exclude, "2"), "50%"
#   3  gates: no terminal, --yes, --approve, a pseudo-terminal (y, n, timeout)
#   4  failure: the batch finishes, no later batch, --resume
#   5  Ctrl-C once (running actions finish), twice (killed)
#   6  kill -9: "running" in history, the lock free, --resume
#   7  the lock: a second run of the plan refused, another plan not
#   8  pinning: a filesystem registry file replaced during a run
#   9  env: precedence, ${TAG} from the environment, quoting, built-ins
#   10 the Hades registry guide's examples, unchanged
#
# Commands wait on marker files, never on sleeps of a guessed length: a
# job that must be "running" touches started-<host> and waits for a go
# file the test creates (bounded, so a lost test cannot leave it behind).
# shellcheck disable=SC2016 # ${VAR} in single quotes: for regctl, not bash
. "$(dirname "$0")/lib.sh"

require_cmd python3 setsid sha256sum

T=$TEST_TMP
REG=$T/reg       # the regfs registry (a store)
FSREG=$T/fsreg   # the filesystem registry (Hades's layout)
NOSTORE=$T/nostore
mkdir -p "$T/work/build" "$T/plans" "$FSREG/myconf" "$T/count"
cd "$T/work" || bail_out "cannot go to $T/work"

# regctl on the test's store; stdin closed and, through setsid, no
# controlling terminal even when the test is run by hand from a terminal
# (a gate would ask on /dev/tty).
R() { setsid -w "$REGCTL" --store "$STORE" "$@" </dev/null; }
# The same in the background, for signals: regctl itself is $!.
R_bg() { "$REGCTL" --store "$STORE" "$@" </dev/null >"$T/bg.out" 2>&1 & }

# plan_file NAME: the plan text on stdin, @T@ standing for $TEST_TMP.
plan_file() { sed "s|@T@|$T|g" >"$T/plans/$1"; }

# The run id a run printed ("plan NAME: run ID ...").
run_id_in() { sed -n 's/^plan [^ ]*: run \([^ ]*\).*/\1/p' <<<"$1" | head -n 1; }
# run_field RUN KEY: one field of a run (status, pins...), from plan show --json.
run_field() {
	R plan show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# HOST-STEP statuses of a run: "step host status" lines, sorted.
host_steps() {
	R plan show "$1" --json | python3 -c '
import json, sys
for h in json.load(sys.stdin)["hosts"]:
    print(h["step"], h["host"], h["status"])' | sort
}

# snap PATH...: a hash of everything under the paths (names, types, modes,
# and the sizes, times and contents of files); "absent" for a path that
# does not exist. SQLite's own -wal and -shm files, which any reader of a
# catalog makes, do not count.
snap() {
	local p
	for p in "$@"; do
		if [[ -e $p ]]; then
			find "$p" -type d -printf '%p %y %m\n' | sort
			find "$p" ! -type d ! -name '*.db-wal' ! -name '*.db-shm' \
				-printf '%p %y %s %m %T@\n' | sort
			find "$p" -type f ! -name '*.db-wal' ! -name '*.db-shm' \
				-exec sha256sum {} + | sort
		else
			printf '%s absent\n' "$p"
		fi
	done | sha256sum | cut -c1-16
}
world() { snap "$T/hosts" "$STORE" "$REG" "$FSREG" "$NOSTORE"; }

# count HOST: how many times a job of the counting kind ran on HOST.
count() { if [[ -f $T/count/$1 ]]; then wc -l <"$T/count/$1" | tr -d ' '; else echo 0; fi; }

# The artifact: a small executable, and a config file in the filesystem
# registry (Hades's layout, NAME/TAG).
printf '#!/bin/sh\necho "myapp 1.0.0 on ${HADES_HOST_NAME:-?}"\n' >build/myapp
chmod 755 build/myapp
cp build/myapp "$T/myapp.v1"
APP_SHA=$(sha build/myapp)
printf 'listen 8080\n' >"$FSREG/myconf/v1"
CONF_SHA=$(sha "$FSREG/myconf/v1")
# The regfs registry exists already, with another tag.
printf 'tool\n' >"$T/tool"
expect_ok "a regfs registry with one tag" -- "$REGCTL" --store "$REG" publish --init "$T/tool" base/tool:v0

# --- the main plan: publish, canary, rollout, verify -------------------------

# Hosts deliberately not in alphabetical order: the canary is the first of
# the inventory (delta), whatever a sort or a hash map would pick.
plan_file main.hades.yaml <<'EOF'
hosts:
  delta: {addr: 127.0.0.1}
  bravo: {addr: 127.0.0.1}
  alpha: {addr: 127.0.0.1}
  charlie: {addr: 127.0.0.1}
targets:
  app-servers: [delta, bravo, alpha, charlie]
registries:
  reg: {type: regfs, path: @T@/reg}
  fsreg: {type: filesystem, path: @T@/fsreg}
jobs:
  publish:
    local: true
    artifacts:
      app-binary: {path: ./build/myapp}
    actions:
      - push: {registry: reg, artifact: app-binary, name: myapp, tag: "${VERSION}"}
  deploy:
    local: true
    env:
      VERSION:
    actions:
      - mkdir: {path: "@T@/hosts/${HADES_HOST_NAME}/opt/myapp", mode: 0755}
      - pull:
          registry: reg
          name: myapp
          tag: ${VERSION}
          to: @T@/hosts/${HADES_HOST_NAME}/opt/myapp/app
      - pull: {registry: fsreg, name: myconf, tag: v1, to: "@T@/hosts/${HADES_HOST_NAME}/opt/myapp/app.conf"}
      - run: "@T@/hosts/${HADES_HOST_NAME}/opt/myapp/app"
  verify:
    local: true
    actions:
      - run: "@T@/hosts/${HADES_HOST_NAME}/opt/myapp/app > @T@/hosts/${HADES_HOST_NAME}/verified"
plans:
  release:
    env:
      VERSION: v1.0.0
    steps:
      - {name: publish, job: publish, targets: [local]}
      - {name: canary, job: deploy, targets: [app-servers], limit: 1}
      - {name: rollout, job: deploy, targets: [app-servers], exclude: [canary], parallelism: "2"}
      - {name: verify, job: verify, targets: [app-servers], parallelism: "50%"}
EOF
MAIN=$T/plans/main.hades.yaml
HOSTS=(delta bravo alpha charlie)

# =============================================================================
diag "1. validate"
# =============================================================================

expect_status 0 R plan validate -f "$MAIN"
expect_match "$OUT" "release: valid" "validate says the plan is valid"
expect_status 0 "$REGCTL" --store "$NOSTORE" plan validate release -f "$MAIN"
check "validate creates no store" test ! -e "$NOSTORE"
check "validate leaves the empty store folder without a catalog" test ! -e "$STORE/catalog.db"

# bad NAME SED-SCRIPT: a broken copy of the main plan in bad-NAME.hades.yaml.
bad() { sed "$2" "$MAIN" >"$T/plans/bad-$1.hades.yaml"; }
bad unknown-key 's|\(verified"\)$|\1\n        retries: 3|'
# (the sed above leaves the file unchanged if it did not match: check it)
grep -q 'retries: 3' "$T/plans/bad-unknown-key.hades.yaml" || bail_out "the unknown-key plan was not made"
bad wrong-type 's|limit: 1}|limit: [1]}|'
bad unknown-job 's|job: deploy, targets: \[app-servers\], limit: 1|job: deplyo, targets: [app-servers], limit: 1|'
bad unknown-target 's|targets: \[app-servers\], limit: 1|targets: [app-serverz], limit: 1|'
bad unknown-registry 's|registry: fsreg,|registry: prod,|'
bad unknown-artifact 's|artifact: app-binary,|artifact: app-binray,|'
bad missing-env 's|      VERSION: v1.0.0|      RELEASE: v1.0.0|'
bad unknown-var 's|/opt/myapp/app"$|/opt/myapp/app ${UNKNOWN}"|'
bad mode-755 's|mode: 0755|mode: 755|'
bad par-0 's|parallelism: "2"|parallelism: "0"|'
bad par-150 's|parallelism: "2"|parallelism: "150%"|'
bad par-abc 's|parallelism: "2"|parallelism: "abc"|'
bad limit-neg 's|limit: 1}|limit: -1}|'
bad no-tag 's|name: myconf, tag: v1|name: myconf, tag: v2|'
bad no-parse 's|^plans:|plans: [|'

# Each: exit 2, a message at file:line:column with the words of the
# problem, and nothing changed anywhere.
declare -A want=(
	[unknown-key]='unknown key "retries"'
	[wrong-type]='limit'
	[unknown-job]='deplyo'
	[unknown-target]='app-serverz'
	[unknown-registry]='prod'
	[unknown-artifact]='app-binray'
	[missing-env]='VERSION'
	[unknown-var]='UNKNOWN'
	[mode-755]='leading 0'
	[par-0]='parallelism "0"'
	[par-150]='parallelism "150%"'
	[par-abc]='parallelism "abc"'
	[limit-neg]='limit -1'
	[no-tag]='myconf:v2'
	[no-parse]='expected'
)
before=$(world)
for k in unknown-key wrong-type unknown-job unknown-target unknown-registry \
	unknown-artifact missing-env unknown-var mode-755 par-0 par-150 par-abc \
	limit-neg no-tag no-parse; do
	f=$T/plans/bad-$k.hades.yaml
	run_cmd R plan validate -f "$f"
	expect_eq "$RC" 2 "validate $k: exit 2"
	expect_match "$OUT" "bad-$k\.hades\.yaml:[0-9]+:[0-9]+: .*${want[$k]}" \
		"validate $k: file:line:column and '${want[$k]}'"
	[[ $RC -eq 2 && $OUT =~ bad-$k\.hades\.yaml:[0-9]+:[0-9]+ ]] || diag "output: $OUT"
done
expect_eq "$(world)" "$before" "no validate error changed the hosts, the store or the registries"

# plan run of an invalid plan: exit 2, and nothing changed either: not
# even a store made where --store names none, or a catalog made in the
# empty store folder.
for k in unknown-job par-150 no-tag mode-755; do
	run_cmd "$REGCTL" --store "$NOSTORE" plan run release -f "$T/plans/bad-$k.hades.yaml" </dev/null
	expect_eq "$RC" 2 "plan run of $k: exit 2"
	check "plan run of $k creates no store" test ! -e "$NOSTORE"
	rm -rf "$NOSTORE" # so that each case is checked on its own
done
expect_eq "$(world)" "$before" "no invalid plan run changed the hosts or the registries"
for k in unknown-job par-150 no-tag mode-755; do
	expect_status 2 R plan run release -f "$T/plans/bad-$k.hades.yaml"
done
check "plan run of an invalid plan makes no catalog in the store folder" test ! -e "$STORE/catalog.db"
expect_eq "$(world)" "$before" "no invalid plan run changed the store"
if [[ -e $STORE/catalog.db ]]; then
	expect_eq "$(R plan history | tail -n +2)" "" "no run of an invalid plan is recorded (history is empty)"
fi
before=$(world)

# A pull from a regfs registry with no store at its path: exit 2 and a
# message naming the registry, its path and the tag.
plan_file bad-noreg.hades.yaml <<'EOF'
registries:
  gone: {type: regfs, path: @T@/noreg}
jobs:
  get:
    local: true
    actions:
      - pull: {registry: gone, name: base/tool, tag: v0, to: "@T@/hosts/x/tool"}
plans:
  noreg:
    steps:
      - {job: get, targets: [local]}
EOF
run_cmd R plan validate -f "$T/plans/bad-noreg.hades.yaml"
expect_eq "$RC" 2 "a regfs registry with no store: exit 2"
expect_match "$OUT" "registry 'gone'" "the message names the registry"
expect_match "$OUT" "'$T/noreg'" "the message names its path, whole"
[[ $OUT == *"'$T/noreg'"* ]] || diag "output: $OUT"
check "the missing registry is not created" test ! -e "$T/noreg"

# --dry-run of the valid plan: the commands and the digests, nothing
# changed, no store made.
run_cmd "$REGCTL" --store "$NOSTORE" plan run release -f "$MAIN" --dry-run </dev/null
expect_eq "$RC" 0 "--dry-run of the valid plan: exit 0"
expect_match "$OUT" "dry run" "it says it is a dry run"
expect_match "$OUT" "would push reg/myapp:v1\.0\.0 sha256:$APP_SHA" "it shows the digest it would push"
expect_match "$OUT" "pinned fsreg/myconf:v1 sha256:$CONF_SHA" "it shows the pinned digest of the filesystem tag"
expect_match "$OUT" "\[delta\] would run: mkdir -p -- '$T/hosts/delta/opt/myapp' && chmod 755" \
	"it prints the mkdir it would run on the canary"
expect_match "$OUT" "\[charlie\] would run: .*sha256sum" "it prints the checked upload for the last host"
expect_match "$OUT" "\[alpha\] would run: $T/hosts/'alpha'/opt/myapp/app" "it prints the run command"
check "--dry-run creates no store" test ! -e "$NOSTORE"
check "--dry-run makes no host folder (no mkdir ran)" test ! -e "$T/hosts"
expect_eq "$(world)" "$before" "--dry-run changed nothing: no push into the registry"
expect_status 0 R plan run release -f "$MAIN" --dry-run
expect_eq "$(world)" "$before" "a --dry-run with the test's store changed nothing, recorded nothing"

# =============================================================================
diag "2. run: publish, canary, rollout (\"2\"), verify (\"50%\")"
# =============================================================================

run_cmd R plan run release -f "$MAIN"
expect_eq "$RC" 0 "the release runs to its end: exit 0"
[[ $RC -eq 0 ]] || printf '%s\n' "$OUT" | tail -n 30 | sed 's/^/#   /'
RUN1=$(run_id_in "$OUT")
expect_match "$RUN1" '^[0-9]{8}-[0-9]{6}\.[0-9]{3}-[0-9a-f]{6}$' "the run has an id: $RUN1"
expect_match "$OUT" "pushed reg/myapp:v1\.0\.0 sha256:$APP_SHA" "the publish step pushed and pinned the artifact"
expect_match "$OUT" $'step 2: canary \\(job deploy\\)\n  batch 1/1: delta\n' \
	"the canary is delta, the first host of the inventory"
expect_match "$OUT" $'step 3: rollout \\(job deploy\\)\n  batch 1/2: bravo alpha\n.*  batch 2/2: charlie\n' \
	"the rollout leaves the canary out, two hosts a batch, in inventory order"
expect_match "$OUT" $'step 4: verify \\(job verify\\)\n  batch 1/2: delta bravo\n.*  batch 2/2: alpha charlie\n' \
	"50% of four hosts: two batches of two"
for h in "${HOSTS[@]}"; do
	f=$T/hosts/$h/opt/myapp/app
	expect_eq "$(sha "$f" 2>&1)" "$APP_SHA" "$h has the app with the pinned digest"
	expect_eq "$(stat -c %a "$f" 2>&1)" 755 "$h: the app has mode 755 (published executable)"
	expect_eq "$(stat -c %a "$T/hosts/$h/opt/myapp" 2>&1)" 755 "$h: mkdir made its folder 0755"
	expect_eq "$(sha "$f.conf" 2>&1):$(stat -c %a "$f.conf" 2>&1)" "$CONF_SHA:644" \
		"$h has the config from the filesystem registry, mode 644"
	expect_eq "$(cat "$T/hosts/$h/verified" 2>&1)" "myapp 1.0.0 on $h" "$h: the app runs there"
	expect_eq "$("$f" 2>&1)" "myapp 1.0.0 on ?" "$h: the deployed file runs"
	expect_eq "$(find "$T/hosts/$h" -name '.regctl.*' | wc -l)" 0 "$h: no temporary file left"
done

# The record: history, show.
run_cmd R plan history
expect_match "$OUT" "$RUN1 +release +done +0 " "plan history lists the run, done, exit 0"
run_cmd R plan history release --json
expect_eq "$(python3 -c 'import json,sys; print([r["run"] for r in json.load(sys.stdin) if r["status"] == "done"])' <<<"$OUT" 2>&1)" "['$RUN1']" \
	"plan history release --json: the run, done"
run_cmd R plan show "$RUN1"
expect_eq "$RC" 0 "plan show RUN: exit 0"
expect_match "$OUT" "status +done \(exit 0\)" "plan show: done"
expect_match "$OUT" "pin +reg/myapp:v1\.0\.0 +sha256:$APP_SHA +0755" "plan show: the pin of the pushed tag, executable"
expect_match "$OUT" "pin +fsreg/myconf:v1 +sha256:$CONF_SHA +0644" "plan show: the pin of the filesystem tag"
expect_eq "$(host_steps "$RUN1" | tr '\n' ',')" \
	"canary delta done,publish local done,rollout alpha done,rollout bravo done,rollout charlie done,verify alpha done,verify bravo done,verify charlie done,verify delta done," \
	"plan show: every host-step done, the canary step on delta only"
check "a log per host and step" test -s "$STORE/plans/logs/$RUN1/verify.alpha.log"

# Again with a fresh store, in JSON: the same canary; the hosts have the
# digest already, so nothing is deployed again.
opt_before=$(snap "$T"/hosts/*/opt)
RC=0
"$REGCTL" --store "$T/store2" plan run release -f "$MAIN" --json </dev/null >"$T/run2.json" 2>"$T/run2.err" || RC=$?
expect_eq "$RC" 0 "a second run (fresh store, --json): exit 0"
json_check() {
	python3 - "$T/run2.json" <<'EOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
kinds = {e["event"] for e in evs}
need = {"run", "pin", "step", "batch", "host_end", "end"}
print("kinds:", "ok" if need <= kinds else "missing %s" % sorted(need - kinds))
print("runs:", len({e["run"] for e in evs}))
print("canary:", [e["text"] for e in evs if e["event"] == "batch" and e["step"] == "canary"])
print("pins:", sorted((e["ref"], e["digest"]) for e in evs if e["event"] == "pin"))
print("unchanged:", sum(1 for e in evs if e["event"] == "note" and "unchanged" in e.get("text", "")))
print("end:", [(e["status"], e["exit_code"]) for e in evs if e["event"] == "end"])
print("first:", evs[0]["event"], "last:", evs[-1]["event"])
EOF
}
run_cmd json_check
expect_eq "$RC" 0 "every line of --json is a JSON object"
expect_match "$OUT" "kinds: ok" "--json has run, pin, step, batch, host_end and end events"
expect_match "$OUT" "runs: 1"$'\n' "every event carries the one run id"
expect_match "$OUT" "canary: \['delta'\]" "the fresh store's run picks the same canary, delta"
expect_match "$OUT" "pins: \[\('fsreg/myconf:v1', 'sha256:$CONF_SHA'\), \('reg/myapp:v1\.0\.0', 'sha256:$APP_SHA'\)\]" \
	"--json pin events with the digests"
expect_match "$OUT" "unchanged: 8"$'\n' "every pull on every host is 'unchanged'"
expect_match "$OUT" "end: \[\('done', 0\)\]" "the end event: done, exit 0"
expect_match "$OUT" "first: run last: end" "run first, end last"
expect_eq "$(snap "$T"/hosts/*/opt)" "$opt_before" "the second run deployed nothing new"

# Again in the first store: the push of the same bytes is done, nothing new.
run_cmd R plan run release -f "$MAIN"
expect_eq "$RC" 0 "the plan run again: exit 0 (the push of the same bytes succeeds)"
expect_match "$OUT" "pushed reg/myapp:v1\.0\.0 sha256:$APP_SHA" "the same digest is pinned again"
expect_eq "$(grep -c 'unchanged: the host has that digest and mode' <<<"$OUT")" 8 "every pull: unchanged"
expect_eq "$(snap "$T"/hosts/*/opt)" "$opt_before" "the hosts are unchanged"
expect_eq "$(R plan history release | grep -c ' done ')" 2 "history: two runs of release done"

# Another artifact under the same tag: refused, exit 1, nothing deployed.
reg_before=$(snap "$REG")
echo "# changed" >>build/myapp
run_cmd R plan run release -f "$MAIN"
expect_eq "$RC" 1 "another artifact under the same tag: exit 1"
expect_match "$OUT" "another digest" "the message says the tag holds another digest"
expect_match "$OUT" "publish +local +failed" "the summary names the failed host-step"
run_cmd R plan show "$(run_id_in "$OUT")"
expect_match "$OUT" "status +failed \(exit 1\)" "plan show: failed"
[[ $OUT != *canary* ]] || fail "the canary step ran after the push failed"
expect_eq "$(snap "$T"/hosts/*/opt)" "$opt_before" "no host changed"
expect_eq "$(snap "$REG")" "$reg_before" "the registry is unchanged"
expect_eq "$("$REGCTL" --store "$REG" ls 2>&1 | grep -c myapp)" 1 "the registry still has one myapp tag"
cp "$T/myapp.v1" build/myapp

# =============================================================================
diag "3. gates"
# =============================================================================

plan_file gate.hades.yaml <<'EOF'
jobs:
  mark:
    local: true
    actions:
      - run: echo ${REGCTL_STEP} >> @T@/gate-log
  confirm:
    local: true
    actions:
      - wait: {message: "canary healthy?", timeout: 30s}
  confirm-short:
    local: true
    actions:
      - wait: {message: "quick?", timeout: 2s}
plans:
  gated:
    steps:
      - {name: before, job: mark, targets: [local]}
      - {name: gate, job: confirm, targets: [local]}
      - {name: after, job: mark, targets: [local]}
  gated-short:
    steps:
      - {name: before, job: mark, targets: [local]}
      - {name: gate, job: confirm-short, targets: [local]}
      - {name: after, job: mark, targets: [local]}
EOF
GATE=$T/plans/gate.hades.yaml
gate_log() { if [[ -f $T/gate-log ]]; then tr '\n' ' ' <"$T/gate-log"; fi; }

# No terminal, no approval: exit 3 at once (not after the 30 s timeout),
# naming the flags; the step after the gate did not run.
rm -f "$T/gate-log"
run_timed R plan run gated -f "$GATE"
expect_eq "$RC" 3 "a gate with no terminal and no approval: exit 3"
check "at once (${ELAPSED} ms, the timeout is 30 s)" test "$ELAPSED" -lt 5000
expect_match "$OUT" "--approve gate" "the message names --approve STEP"
expect_match "$OUT" "--yes" "the message names --yes"
expect_eq "$(gate_log)" "before " "the step after the gate did not run"
run_cmd R plan show "$(run_id_in "$OUT")"
expect_match "$OUT" "status +declined \(exit 3\)" "plan show: declined"

rm -f "$T/gate-log"
expect_status 0 R plan run gated -f "$GATE" --yes
expect_eq "$(gate_log)" "before after " "--yes approves the gate; the later step ran"
rm -f "$T/gate-log"
expect_status 0 R plan run gated -f "$GATE" --approve gate
expect_eq "$(gate_log)" "before after " "--approve gate approves it"
rm -f "$T/gate-log"
expect_status 3 R plan run gated -f "$GATE" --approve before
expect_eq "$(gate_log)" "before " "--approve of another step does not approve the gate"

# With a terminal: regctl under a pseudo-terminal (pty.fork makes it the
# child's controlling terminal), answering the /dev/tty prompt.
cat >"$T/tty-answer.py" <<'EOF'
import os, pty, select, sys, time
answer, argv = sys.argv[1], sys.argv[2:]
t0 = time.time()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, answered = b"", False
while True:
    if time.time() - t0 > 20:
        os.kill(pid, 9)
    r, _, _ = select.select([fd], [], [], 0.1)
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if answer != "-" and not answered and b"[y/N]" in out:
        os.write(fd, (answer + "\n").encode())
        answered = True
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
print("\nelapsed-ms=%d" % ((time.time() - t0) * 1000))
sys.exit(os.waitstatus_to_exitcode(st))
EOF
tty_run() { python3 "$T/tty-answer.py" "$1" "$REGCTL" --store "$STORE" "${@:2}"; }

rm -f "$T/gate-log"
run_cmd tty_run y plan run gated -f "$GATE"
expect_eq "$RC" 0 "on a terminal, 'y' approves: exit 0"
expect_match "$OUT" "gate 'gate' on local: canary healthy\? \[y/N\]" "the prompt is on the terminal, with the message"
expect_eq "$(gate_log)" "before after " "the step after the gate ran"
rm -f "$T/gate-log"
run_cmd tty_run n plan run gated -f "$GATE"
expect_eq "$RC" 3 "on a terminal, 'n' declines: exit 3"
expect_eq "$(gate_log)" "before " "the step after a declined gate did not run"
rm -f "$T/gate-log"
run_cmd tty_run - plan run gated-short -f "$GATE"
expect_eq "$RC" 3 "on a terminal, no answer within 'timeout: 2s': exit 3"
ms=$(sed -n 's/^elapsed-ms=//p' <<<"$OUT")
check "after about 2 s (${ms} ms)" test "${ms:-0}" -ge 1900 -a "${ms:-0}" -le 4500
expect_match "$OUT" "timed out" "it says the gate timed out"
expect_eq "$(gate_log)" "before " "a timed-out gate never approves: the later step did not run"

# =============================================================================
diag "4. failure and --resume"
# =============================================================================

plan_file fail.hades.yaml <<'EOF'
hosts:
  f1: {addr: 127.0.0.1}
  f2: {addr: 127.0.0.1}
  f3: {addr: 127.0.0.1}
  f4: {addr: 127.0.0.1}
targets:
  fleet: [f1, f2, f3, f4]
registries:
  reg: {type: regfs, path: @T@/reg}
jobs:
  flaky:
    local: true
    actions:
      - run: echo run >> @T@/count/${HADES_HOST_NAME}
      - pull: {registry: reg, name: myapp, tag: v1.0.0, to: "@T@/hosts/${HADES_HOST_NAME}/flaky/app", parents: true}
      - run: if [ ${HADES_HOST_NAME} = f1 ]; then sleep 1; fi
      - run: if [ ${HADES_HOST_NAME} = f2 ] && [ -e @T@/fail-marker ]; then echo "f2 is broken" >&2; exit 1; fi
      - run: echo finished > @T@/hosts/${HADES_HOST_NAME}/flaky/finished
plans:
  flaky:
    steps:
      - {name: roll, job: flaky, targets: [fleet], parallelism: "2"}
EOF
touch "$T/fail-marker"
run_cmd R plan run flaky -f "$T/plans/fail.hades.yaml"
expect_eq "$RC" 1 "a host fails: exit 1"
FRUN=$(run_id_in "$OUT")
check "f1, the other host of the batch, still finished (after f2 failed)" \
	test -f "$T/hosts/f1/flaky/finished"
check "f2 did not finish" test ! -e "$T/hosts/f2/flaky/finished"
expect_eq "$(count f3):$(count f4)" "0:0" "the next batch (f3, f4) did not start"
expect_match "$OUT" $'\nroll +f2 +failed +1 ' "the summary names the failed host"
expect_match "$OUT" $'\nroll +f1 +done ' "the summary shows f1 done"
expect_match "$OUT" "f2 is broken" "the failing command's stderr is shown"
run_cmd R plan show "$FRUN"
expect_match "$OUT" "status +failed \(exit 1\)" "plan show: failed"
pins_before=$(run_field "$FRUN" pins)
expect_match "$pins_before" "reg/myapp:v1\.0\.0.*$APP_SHA" "the run pinned reg/myapp:v1.0.0"

# Fixed (the marker gone): --resume RUN, with nothing else, finishes it.
rm -f "$T/fail-marker"
run_cmd R plan run flaky --resume "$FRUN"
expect_eq "$RC" 0 "--resume RUN: exit 0"
[[ $RC -eq 0 ]] || printf '%s\n' "$OUT" | tail -n 20 | sed 's/^/#   /'
expect_eq "$(run_id_in "$OUT")" "$FRUN" "the same run id"
expect_eq "$(count f1) $(count f2) $(count f3) $(count f4)" "1 2 1 1" \
	"f1 (done) did not run again; f2 again; f3, f4 once"
for h in f1 f2 f3 f4; do
	expect_eq "$(sha "$T/hosts/$h/flaky/app" 2>&1):$(stat -c %a "$T/hosts/$h/flaky/app" 2>&1)" "$APP_SHA:755" \
		"$h has the pinned digest, mode 755"
done
expect_eq "$(run_field "$FRUN" status)" "done" "plan show: done"
expect_eq "$(run_field "$FRUN" pins)" "$pins_before" "the pins are unchanged"
expect_eq "$(host_steps "$FRUN" | tr '\n' ',')" "roll f1 done,roll f2 done,roll f3 done,roll f4 done," \
	"every host-step done"
expect_eq "$(R plan history flaky | tail -n +2 | wc -l)" 1 "history: one run of flaky"
expect_status 2 R plan run flaky --resume "$FRUN"
expect_match "$OUT" "nothing to resume" "resuming a done run: exit 2, nothing to resume"

# =============================================================================
diag "5. Ctrl-C"
# =============================================================================

# The slow step: each host touches started-HOST, waits for the go file,
# touches done-HOST; then, as a separate action, after-HOST.
plan_file slow.hades.yaml <<'EOF'
hosts:
  s1: {addr: 127.0.0.1}
  s2: {addr: 127.0.0.1}
targets:
  pair: [s1, s2]
jobs:
  prep:
    local: true
    actions:
      - run: echo prep >> @T@/count/prep-${HADES_HOST_NAME}
  slow:
    local: true
    actions:
      - run: echo slow >> @T@/count/slow-${HADES_HOST_NAME}
      - run: touch @T@/started-${HADES_HOST_NAME}; i=0; while [ ! -e @T@/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; touch @T@/done-${HADES_HOST_NAME}
      - run: touch @T@/after-${HADES_HOST_NAME}
  quick:
    local: true
    actions:
      - run: echo quick
plans:
  slow:
    steps:
      - {name: prep, job: prep, targets: [pair]}
      - {name: slow, job: slow, targets: [pair], parallelism: "1"}
  quick:
    steps:
      - {name: quick, job: quick, targets: [local]}
EOF
SLOW=$T/plans/slow.hades.yaml
slow_reset() { rm -f "$T"/go "$T"/started-* "$T"/done-* "$T"/after-* "$T"/count/prep-* "$T"/count/slow-*; }
markers() {
	local m s=
	for m in started-s1 done-s1 after-s1 started-s2; do
		[[ -e $T/$m ]] && s+="$m "
	done
	printf '%s\n' "${s% }"
}
# bg_run ARGS...: regctl in the background; its PID in BG.
bg_run() {
	R_bg "$@"
	BG=$!
	track_pid "$BG"
}
wait_started() { wait_until 10 test -e "$T/started-$1" || bail_out "the slow step never started on $1: $(cat "$T/bg.out")"; }
bg_status() { wait_exit "$BG" "${1:-10}" || :; reap "$BG"; BG_OUT=$(cat "$T/bg.out"); }

# One Ctrl-C: the running action finishes, nothing new starts, exit 4.
slow_reset
bg_run plan run slow -f "$SLOW"
wait_started s1
kill -INT "$BG"
wait_until 1 '! proc_alive "$BG"' || : # it must not end: give it the chance
check "after one SIGINT regctl waits for the running action" proc_alive "$BG"
check "the running action was not killed" test ! -e "$T/done-s1"
touch "$T/go"
bg_status
expect_eq "$REAP_RC" 4 "one SIGINT: exit 4 (interrupted)"
expect_eq "$(markers)" "started-s1 done-s1" \
	"the running action finished (done-s1); no later action (after-s1), no next batch (s2)"
expect_match "$BG_OUT" "stopping" "regctl said it is stopping"
CRUN=$(run_id_in "$BG_OUT")
expect_eq "$(run_field "$CRUN" status)" interrupted "plan show: interrupted"
run_cmd R plan run slow --resume "$CRUN"
expect_eq "$RC" 0 "--resume finishes the interrupted run: exit 0"
expect_eq "$(count prep-s1) $(count prep-s2) $(count slow-s2)" "1 1 1" "the resume skipped prep (done); s2 ran once"
check "after-s1 and after-s2 exist now" test -e "$T/after-s1" -a -e "$T/after-s2"
expect_eq "$(run_field "$CRUN" status)" "done" "plan show: done"

# Two Ctrl-Cs: the running command is killed, exit 4.
slow_reset
bg_run plan run slow -f "$SLOW"
wait_started s1
kill -INT "$BG"
# (Two signals sent before the first is handled would be one.)
wait_until 10 grep -q "no new work starts" "$T/bg.out" || diag "the first SIGINT was not answered"
kill -INT "$BG"
bg_status 5
expect_eq "$REAP_RC" 4 "two SIGINTs: exit 4"
touch "$T/go"
sleep 0.5 # the command polls the go file every 0.05 s: were it alive, it would touch done-s1
expect_eq "$(markers)" "started-s1" "the running command was killed: no done-s1, nothing after"
expect_match "$BG_OUT" "killing" "regctl said it kills the running actions"
expect_eq "$(run_field "$(run_id_in "$BG_OUT")" status)" interrupted "plan show: interrupted"

# =============================================================================
diag "6. kill -9"
# =============================================================================

slow_reset
bg_run plan run slow -f "$SLOW"
wait_started s1
KRUN=$(run_id_in "$(cat "$T/bg.out")")
kill_wait KILL "$BG"
expect_eq "$(run_field "$KRUN" status)" running "after kill -9 the run shows 'running'"
expect_match "$(R plan history slow)" "$KRUN +slow +running" "plan history shows it running"
# The lock went with the process: a resume starts at once. (The killed
# run's command still waits for go; the resume runs s1's slow step again.)
bg_run plan run slow --resume "$KRUN"
check "the resume starts at once (the lock is free)" wait_until 5 'test "$(count slow-s1)" -eq 2'
check "and is running" proc_alive "$BG"
touch "$T/go"
bg_status
expect_eq "$REAP_RC" 0 "--resume RUN completes the killed run: exit 0"
[[ $REAP_RC -eq 0 ]] || printf '%s\n' "$BG_OUT" | tail -n 20 | sed 's/^/#   /'
expect_eq "$(run_id_in "$BG_OUT")" "$KRUN" "the same run id"
expect_eq "$(count prep-s1) $(count prep-s2) $(count slow-s1) $(count slow-s2)" "1 1 2 1" \
	"prep (done) was skipped; s1's interrupted step ran again, s2's once"
expect_eq "$(run_field "$KRUN" status)" "done" "plan show: done"

# =============================================================================
diag "7. the lock"
# =============================================================================

slow_reset
bg_run plan run slow -f "$SLOW"
wait_started s1
run_timed R plan run slow -f "$SLOW"
expect_eq "$RC" 2 "a second run of the same plan: exit 2"
check "refused at once (${ELAPSED} ms)" test "$ELAPSED" -lt 3000
expect_match "$OUT" "lock '$STORE/plans/locks/slow\.lock' is held" "the message names the lock"
expect_eq "$(count prep-s1)" 1 "the refused run ran nothing"
expect_status 0 R plan run quick -f "$SLOW"
check "another plan of the same store is not blocked; the first still runs" proc_alive "$BG"
touch "$T/go"
bg_status
expect_eq "$REAP_RC" 0 "the first run finishes: exit 0"

# =============================================================================
diag "8. pinning"
# =============================================================================

plan_file pin.hades.yaml <<'EOF'
hosts:
  p1: {addr: 127.0.0.1}
  p2: {addr: 127.0.0.1}
  p3: {addr: 127.0.0.1}
targets:
  web: [p1, p2, p3]
registries:
  fsreg: {type: filesystem, path: @T@/fsreg}
jobs:
  deploy:
    local: true
    env:
      TAG:
    actions:
      - pull: {registry: fsreg, name: tool, tag: "${TAG}", to: "@T@/hosts/${HADES_HOST_NAME}/tool-${TAG}", parents: true}
  hold:
    local: true
    actions:
      - run: touch @T@/holding; i=0; while [ ! -e @T@/go-pin ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
  confirm:
    local: true
    actions:
      - wait: {message: "go on?"}
plans:
  pinned:
    env: {TAG: v1}
    steps:
      - {name: first, job: deploy, targets: [web], limit: 1}
      - {name: hold, job: hold, targets: [local]}
      - {name: rest, job: deploy, targets: [web], exclude: [first]}
  pinned-gate:
    env: {TAG: v2}
    steps:
      - {name: first, job: deploy, targets: [web], limit: 1}
      - {name: gate, job: confirm, targets: [local]}
      - {name: rest, job: deploy, targets: [web], exclude: [first]}
EOF
PIN=$T/plans/pin.hades.yaml
mkdir -p "$FSREG/tool"
# replace_file PATH TEXT: another file in its place (a new inode, renamed
# over it, as a registry's writer would).
replace_file() { printf '%s\n' "$2" >"$1.new" && mv -f "$1.new" "$1"; }

# The tag is replaced after the run pinned it: every host gets the
# original bytes.
replace_file "$FSREG/tool/v1" "tool v1, the original"
ORIG1=$(sha "$FSREG/tool/v1")
bg_run plan run pinned -f "$PIN"
wait_until 10 test -e "$T/holding" || bail_out "the hold step never started: $(cat "$T/bg.out")"
check "the first host has the tag already" test -f "$T/hosts/p1/tool-v1"
replace_file "$FSREG/tool/v1" "tool v1, REPLACED"
touch "$T/go-pin"
bg_status
expect_eq "$REAP_RC" 0 "the run with the tag replaced under it: exit 0"
[[ $REAP_RC -eq 0 ]] || printf '%s\n' "$BG_OUT" | tail -n 20 | sed 's/^/#   /'
for h in p1 p2 p3; do
	expect_eq "$(sha "$T/hosts/$h/tool-v1" 2>&1)" "$ORIG1" "$h has the ORIGINAL digest the run pinned"
done
expect_match "$(run_field "$(run_id_in "$BG_OUT")" pins)" "fsreg/tool:v1.*$ORIG1" "plan show: the original digest pinned"

# The same across a resume: the gate fails (no terminal), the tag is
# replaced, --resume --yes deploys the digest the run pinned (the store
# kept its bytes).
replace_file "$FSREG/tool/v2" "tool v2, the original"
ORIG2=$(sha "$FSREG/tool/v2")
run_cmd R plan run pinned-gate -f "$PIN"
expect_eq "$RC" 3 "the gate with no terminal: exit 3"
GRUN=$(run_id_in "$OUT")
expect_eq "$(sha "$T/hosts/p1/tool-v2" 2>&1)" "$ORIG2" "p1 has the original v2"
replace_file "$FSREG/tool/v2" "tool v2, REPLACED"
run_cmd R plan run pinned-gate --resume "$GRUN" --yes
expect_eq "$RC" 0 "--resume --yes after the tag was replaced: exit 0, the run's pin deployed"
[[ $RC -eq 0 ]] || grep '^regctl:' <<<"$OUT" | sed 's/^/#   /'
for h in p2 p3; do
	expect_eq "$(sha "$T/hosts/$h/tool-v2" 2>&1)" "$ORIG2" "$h has the ORIGINAL v2 the run pinned"
done

# =============================================================================
diag "9. env"
# =============================================================================

plan_file env.hades.yaml <<'EOF'
registries:
  reg: {type: regfs, path: @T@/reg}
hosts:
  e1: {addr: 127.0.0.1}
jobs:
  show:
    local: true
    env:
      A: {default: jobA}
      B: {default: jobB}
      C: {default: jobC}
      D: {default: jobD}
      V: {default: plain}
      REL:
    actions:
      - pull: {registry: reg, name: myapp, tag: v1.0.0, to: "@T@/hosts/${HADES_HOST_NAME}/env-app", parents: true}
      - run: echo "order A=${A} B=${B} C=${C} D=${D}"
      - run: printenv A B C D | tr '\n' ' ' | sed 's/^/exported /'
      - run: echo rel ${REL}
      - run: printf 'arg[%s]\n' ${V}
      - run: printenv V | sed 's/^/env[/; s/$/]/'
      - run: echo "builtin run=$HADES_RUN_ID plan=$HADES_PLAN host=$HADES_HOST_NAME step=$REGCTL_STEP digest=$REGCTL_DIGEST_REG_MYAPP_V1_0_0"
      - run: echo subst run=${HADES_RUN_ID} host=${HADES_HOST_NAME} digest=${REGCTL_DIGEST_REG_MYAPP_V1_0_0}
  stamp:
    local: true
    actions:
      - run: echo ${HADES_RUN_ID} >> @T@/ids
plans:
  env:
    env: {B: planB, C: planC, D: planD}
    steps:
      - name: show-env
        job: show
        targets: [e1]
        env: {C: stepC, D: stepD, REL: "rel-${TAG}"}
  ids:
    steps:
      - {job: stamp, targets: [local]}
  ids2:
    steps:
      - {job: stamp, targets: [local]}
EOF
ENVF=$T/plans/env.hades.yaml
V='two  words "dq" '\''sq'\'' $HOME \ `x` ;end'
RC=0
OUT=$(TAG=v9 setsid -w "$REGCTL" --store "$STORE" plan run env -f "$ENVF" -e D=cliD -e "V=$V" </dev/null 2>&1) || RC=$?
expect_eq "$RC" 0 "the env plan runs: exit 0"
[[ $RC -eq 0 ]] || printf '%s\n' "$OUT" | tail -n 10 | sed 's/^/#   /'
ERUN=$(run_id_in "$OUT")
line() { sed -n "s/^\[e1\] $1//p" <<<"$OUT"; }
expect_eq "$(line order)" " A=jobA B=planB C=stepC D=cliD" "precedence: -e > step env > plan env > job default"
expect_eq "$(line exported)" " jobA planB stepC cliD " "the values are exported to the command"
expect_eq "$(line rel)" " rel-v9" "\${TAG} in step env comes from regctl's environment"
expect_eq "$(line 'arg\[' | wc -l)" 1 "a value with spaces, quotes and \$ is one argument"
expect_eq "$(line 'arg\[')" "$V]" "and arrives whole"
expect_eq "$(line 'env\[')" "$V]" "and is exported whole"
HIST_ID=$(R plan history env --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run"])')
expect_eq "$HIST_ID" "$ERUN" "history shows the run id the run printed"
expect_eq "$(line builtin)" " run=$HIST_ID plan=env host=e1 step=show-env digest=sha256:$APP_SHA" \
	"HADES_RUN_ID (the id in history), HADES_PLAN, HADES_HOST_NAME, REGCTL_STEP, REGCTL_DIGEST_REG_MYAPP_V1_0_0"
expect_eq "$(line subst)" " run=$HIST_ID host=e1 digest=sha256:$APP_SHA" "the built-ins as \${NAME} in a command"
run_cmd R plan validate env -f "$ENVF"
expect_eq "$RC" 2 "without TAG in the environment: exit 2"
expect_match "$OUT" 'env\.hades\.yaml:[0-9]+:[0-9]+: .*TAG' "naming \${TAG} at file:line:column"

# Two runs started in the same second have different ids. Two plans (one
# plan's runs wait for each other) run side by side from the start of a
# second; a loaded machine may still split them over two, so three tries.
for _try in 1 2 3; do
	while ((10#$(date +%N) > 300000000)); do sleep 0.05; done
	rm -f "$T/ids"
	R plan run ids -f "$ENVF" >/dev/null &
	p1=$!
	R plan run ids2 -f "$ENVF" >/dev/null
	wait "$p1"
	mapfile -t ids <"$T/ids"
	[[ ${#ids[@]} == 2 && ${ids[0]:0:15} == "${ids[1]:0:15}" ]] && break
done
expect_eq "${#ids[@]}" 2 "two runs, two ids"
expect_eq "${ids[0]:0:15}" "${ids[1]:0:15}" "started in the same second (${ids[0]:0:15})"
expect_ne "${ids[0]}" "${ids[1]}" "with different ids: ${ids[0]} ${ids[1]}"

# =============================================================================
diag "10. the Hades registry guide's examples"
# =============================================================================

# The guide's files, in folders of their own (read with -c, as Hades
# reads a folder): its "Complete Example" verbatim but for one line, the
# registry's path; an inventory of ours for the targets it names; its
# "Canary with Registry" steps verbatim, in a plan of ours.
mkdir -p "$T/guide" "$T/guide-canary" "$T/guide-multi" "$T/guide-promote" "$T/guide-local"
plan_file ../guide/release.hades.yaml <<'EOF'
# The registry guide's "Complete Example", verbatim except the registry's
# path: the guide has /var/hades/artifacts, the test a folder of its own.
registries:
  prod:
    type: filesystem
    path: @T@/hades-artifacts

jobs:
  publish:
    artifacts:
      app-binary:
        path: ./build/myapp
    actions:
      - push:
          registry: prod
          artifact: app-binary
          name: myapp
          tag: ${VERSION}

  deploy:
    env:
      VERSION:
    actions:
      - mkdir:
          path: /opt/myapp
          mode: 0755
      - pull:
          registry: prod
          name: myapp
          tag: ${VERSION}
          to: /opt/myapp/app
      - run: chmod +x /opt/myapp/app
      - run: systemctl restart myapp

plans:
  release:
    steps:
      - name: publish
        job: publish
        targets: [build-server]
        env:
          VERSION: v1.0.0

      - name: deploy-canary
        job: deploy
        targets: [app-servers]
        limit: 1
        env:
          VERSION: v1.0.0

      - name: deploy-all
        job: deploy
        targets: [app-servers]
        env:
          VERSION: v1.0.0
EOF
plan_file ../guide/inventory.hades.yaml <<'EOF'
# Ours: the hosts and the targets the guide's examples name.
hosts:
  build: {addr: 10.0.0.5, user: ci}
  web-a: {addr: 10.0.0.11, user: deploy}
  web-b: {addr: 10.0.0.12, user: deploy}
targets:
  build-server: [build]
  app-servers: [web-a, web-b]
EOF
plan_file ../guide-canary/canary.hades.yaml <<'EOF'
# Added (ours): the confirm job the guide's gate step names, and the three
# lines "plans:", "  canary-release:", "    steps:" around the steps.
# The steps are the guide's "Canary with Registry", verbatim, indented.
jobs:
  confirm:
    actions:
      - wait:
          message: Canary healthy?
          timeout: 10m

plans:
  canary-release:
    steps:
      - name: publish
        job: publish
        targets: [build-server]
        env:
          VERSION: ${TAG}

      - name: canary
        job: deploy
        targets: [app-servers]
        limit: 1
        env:
          VERSION: ${TAG}

      - name: gate
        job: confirm
        targets: [build-server]

      - name: rollout
        job: deploy
        targets: [app-servers]
        parallelism: "3"
        env:
          VERSION: ${TAG}
EOF
plan_file ../guide-multi/multi.hades.yaml <<'EOF'
registries:
  staging:
    type: filesystem
    path: /var/registry/staging

  prod:
    type: filesystem
    path: /var/registry/prod

# Promote from staging to prod
- pull:
    registry: staging
    name: myapp
    tag: ${VERSION}
    to: /tmp/artifact

- push:
    registry: prod
    artifact: myapp
    name: myapp
    tag: ${VERSION}
EOF
GUIDE=$T/guide
# The Canary with Registry plan uses the Complete Example's jobs: its
# file is read with the guide's (the files are one set).
CANARY=(-f "$GUIDE/release.hades.yaml" -f "$GUIDE/inventory.hades.yaml" -f "$T/guide-canary/canary.hades.yaml")

# When the guide is at hand, our copies are checked against it.
GUIDE_MD=${HADES_GUIDE:-/work/shared/reference/hades-registry-guide.md}
if [[ -f $GUIDE_MD ]]; then
	run_cmd python3 - "$GUIDE_MD" "$T" <<'EOF'
import re, sys
md, t = open(sys.argv[1]).read(), sys.argv[2]
def block(title):
    return re.search(r"#+ " + re.escape(title) + r"\n.*?```yaml\n(.*?)```", md, re.S).group(1)
def ours(path):
    return "".join(l for l in open(path) if not l.startswith("#"))
bad = []
full = block("Complete Example").replace("/var/hades/artifacts", t + "/hades-artifacts")
if ours(t + "/guide/release.hades.yaml") != full: bad.append("Complete Example")
steps = "".join("    " + l if l.strip() else l for l in block("Canary with Registry").splitlines(True))
if not ours(t + "/guide-canary/canary.hades.yaml").endswith(steps): bad.append("Canary with Registry")
if open(t + "/guide-multi/multi.hades.yaml").read() != block("Multi-Environment"): bad.append("Multi-Environment")
print("differ:", bad)
EOF
	expect_eq "$OUT" "differ: []" "our copies are the guide's examples, verbatim (but the registry path)"
else
	diag "no $GUIDE_MD: the copies are not compared with the guide"
fi

# The Complete Example: valid as the guide writes it; its dry run shows
# every command, with the digest it would push and deploy. (Its deploy job
# writes /opt/myapp and runs systemctl on ssh hosts: it is run for real by
# the ssh test, and here in a local copy below.)
guide_before=$(snap "$T/hades-artifacts" "$NOSTORE")
expect_status 0 R plan validate -c "$GUIDE" -e VERSION=v1.0.0
expect_match "$OUT" "release: valid" "the Complete Example is valid"
run_cmd "$REGCTL" --store "$NOSTORE" plan run release -c "$GUIDE" -e VERSION=v1.0.0 --dry-run </dev/null
expect_eq "$RC" 0 "the Complete Example's dry run: exit 0"
expect_match "$OUT" "\[build\] would run: push ./build/myapp as myapp:v1\.0\.0 to registry prod" "dry run: the push"
expect_match "$OUT" "would push prod/myapp:v1\.0\.0 sha256:$APP_SHA" "dry run: the digest it would push"
expect_match "$OUT" $'step 2: deploy-canary \\(job deploy\\)\n  batch 1/1: web-a\n' "dry run: the canary is web-a"
expect_match "$OUT" "\[web-a\] would run: mkdir -p -- '/opt/myapp' && chmod 755 -- '/opt/myapp'" "dry run: the mkdir"
expect_match "$OUT" "\[web-b\] would run: pull prod/myapp:v1\.0\.0 -> /opt/myapp/app \(sha256:$APP_SHA, mode 0755\)" \
	"dry run: the pull, with the digest"
expect_match "$OUT" "\[web-b\] would run: chmod \+x /opt/myapp/app" "dry run: chmod +x"
expect_match "$OUT" "\[web-b\] would run: systemctl restart myapp" "dry run: systemctl restart myapp"
expect_eq "$(snap "$T/hades-artifacts" "$NOSTORE")" "$guide_before" "the dry run pushed nothing, made no store"

# The Canary with Registry plan: ${TAG} from the environment.
run_cmd R plan validate canary-release "${CANARY[@]}"
expect_eq "$RC" 2 "Canary with Registry without TAG: exit 2"
expect_match "$OUT" 'canary\.hades\.yaml:[0-9]+:[0-9]+: .*\$\{TAG\}' "naming \${TAG} at file:line:column"
RC=0
OUT=$(TAG=v2.0.0 setsid -w "$REGCTL" --store "$STORE" plan validate canary-release "${CANARY[@]}" </dev/null 2>&1) || RC=$?
expect_eq "$RC" 0 "Canary with Registry with TAG=v2.0.0 in the environment: valid"
RC=0
OUT=$(TAG=v2.0.0 setsid -w "$REGCTL" --store "$STORE" plan run canary-release "${CANARY[@]}" --dry-run </dev/null 2>&1) || RC=$?
expect_eq "$RC" 0 "its dry run: exit 0"
expect_match "$OUT" "would push prod/myapp:v2\.0\.0 sha256:$APP_SHA" "dry run: the tag from TAG"
expect_match "$OUT" "\[build\] would run: Canary healthy\?" "dry run: the gate"
expect_match "$OUT" $'step 4: rollout \\(job deploy\\)\n  batch 1/1: web-a web-b\n' 'dry run: parallelism "3" of two hosts, one batch'

# Multi-Environment, as the guide writes it, is not valid YAML (a list
# after a map): regctl says where.
line=$(grep -n '^- pull:' "$T/guide-multi/multi.hades.yaml" | cut -d: -f1)
run_cmd R plan validate -c "$T/guide-multi"
expect_eq "$RC" 2 "the guide's Multi-Environment block: exit 2"
expect_match "$OUT" "multi\.hades\.yaml:$line:1: " "the error is at file:line:column of its '- pull:' (line $line)"
run_cmd R plan run promote -c "$T/guide-multi"
expect_eq "$RC" 2 "plan run on it: exit 2"

# The obvious corrected form: a job that pulls from staging into a file,
# then pushes that file, its artifact, to prod. (The guide's /var and
# /tmp paths are the test's.)
plan_file ../guide-promote/promote.hades.yaml <<'EOF'
registries:
  staging:
    type: filesystem
    path: @T@/registry/staging

  prod:
    type: filesystem
    path: @T@/registry/prod

jobs:
  promote:
    local: true
    env:
      VERSION:
    artifacts:
      myapp:
        path: @T@/artifact
    actions:
      # Promote from staging to prod
      - pull:
          registry: staging
          name: myapp
          tag: ${VERSION}
          to: @T@/artifact

      - push:
          registry: prod
          artifact: myapp
          name: myapp
          tag: ${VERSION}

plans:
  promote:
    steps:
      - name: promote
        job: promote
        targets: [local]
EOF
mkdir -p "$T/registry/staging/myapp"
cp build/myapp "$T/registry/staging/myapp/v1.0.0"
PROMOTE=$T/guide-promote
# Before its first run the artifact file does not exist yet: the job's own
# pull makes it.
run_cmd R plan validate -c "$PROMOTE" -e VERSION=v1.0.0
expect_eq "$RC" 0 "the corrected Multi-Environment plan is valid (its artifact is made by its own pull)"
[[ $RC -eq 0 ]] || diag "output: $OUT"
run_cmd R plan run promote -c "$PROMOTE" -e VERSION=v1.0.0 --dry-run
expect_eq "$RC" 0 "its dry run: exit 0"
[[ $RC -eq 0 ]] || grep -E 'failed|cannot' <<<"$OUT" | sed 's/^/#   /'
expect_match "$OUT" "would run: push $T/artifact as myapp:v1\.0\.0 to registry prod" "its dry run shows the push"
check "the dry run made no artifact and pushed nothing" test ! -e "$T/artifact" -a ! -e "$T/registry/prod"
expect_status 0 R plan run promote -c "$PROMOTE" -e VERSION=v1.0.0
expect_eq "$(sha "$T/registry/prod/myapp/v1.0.0" 2>&1)" "$APP_SHA" "staging's myapp:v1.0.0 is promoted to prod, same bytes"
expect_status 0 R plan run promote -c "$PROMOTE" -e VERSION=v1.0.0
expect_match "$OUT" "pushed prod/myapp:v1\.0\.0 sha256:$APP_SHA" "promoting again: the same bytes, done"

# The Complete Example and the Canary run for real in a local copy: each
# job "local: true" (a line added after "publish:" and "deploy:"),
# /opt/myapp a folder of each host's, "systemctl restart myapp" echoed;
# the inventory's hosts 127.0.0.1. Nothing else changed.
sed -e 's#^  \(publish\|deploy\):$#&\n    local: true#' \
	-e 's|/opt/myapp|'"$T"'/hosts/${HADES_HOST_NAME}/opt/myapp|g' \
	-e 's|run: systemctl restart myapp|run: echo systemctl restart myapp|' \
	"$GUIDE/release.hades.yaml" >"$T/guide-local/release.hades.yaml"
sed 's/{addr: [0-9.]*, user: [a-z]*}/{addr: 127.0.0.1}/' "$GUIDE/inventory.hades.yaml" >"$T/guide-local/inventory.hades.yaml"
cp "$T/guide-canary/canary.hades.yaml" "$T/guide-local/"
expect_eq "$(grep -c 'local: true' "$T/guide-local/release.hades.yaml")" 2 "(the local copy has local: true in both jobs)"
run_cmd R plan run release -c "$T/guide-local" -e VERSION=v1.0.0
expect_eq "$RC" 0 "the Complete Example, local copy: exit 0"
[[ $RC -eq 0 ]] || printf '%s\n' "$OUT" | tail -n 12 | sed 's/^/#   /'
expect_match "$OUT" $'step 2: deploy-canary \\(job deploy\\)\n  batch 1/1: web-a\n' "the canary is web-a"
expect_match "$OUT" "\[web-b\] systemctl restart myapp" "the restart command ran on web-b"
expect_eq "$(sha "$T/hades-artifacts/myapp/v1.0.0" 2>&1)" "$APP_SHA" "the filesystem registry has the pushed bytes"
for h in web-a web-b; do
	f=$T/hosts/$h/opt/myapp/app
	expect_eq "$(sha "$f" 2>&1):$(stat -c %a "$f" 2>&1)" "$APP_SHA:755" "$h has the app, mode 755"
done
run_cmd R plan run release -c "$T/guide-local" -e VERSION=v1.0.0
expect_eq "$RC" 0 "the Complete Example again: exit 0 (the push of the same bytes succeeds)"
expect_eq "$(grep -c 'unchanged: the host has that digest and mode' <<<"$OUT")" 3 "every pull: unchanged"
RC=0
OUT=$(TAG=v2.0.0 setsid -w "$REGCTL" --store "$STORE" plan run canary-release -c "$T/guide-local" </dev/null 2>&1) || RC=$?
expect_eq "$RC" 3 "the Canary with Registry, no terminal, no approval: exit 3 at the gate"
expect_match "$OUT" $'\ncanary +web-a +done ' "the canary ran"
[[ $OUT != *$'\nrollout '* ]] || fail "the rollout ran after the gate failed"
RC=0
OUT=$(TAG=v2.0.0 setsid -w "$REGCTL" --store "$STORE" plan run canary-release -c "$T/guide-local" --approve gate </dev/null 2>&1) || RC=$?
expect_eq "$RC" 0 "the Canary with Registry, --approve gate: exit 0"
expect_match "$OUT" $'\nrollout +web-b +done ' "the rollout ran"
expect_eq "$(sha "$T/hades-artifacts/myapp/v2.0.0" 2>&1)" "$APP_SHA" "myapp:v2.0.0 was published"

done_testing
