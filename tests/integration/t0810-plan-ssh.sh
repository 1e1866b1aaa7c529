#!/bin/bash
# t0810-plan-ssh: release plans on real hosts. Each host is an sshd on
# loopback with its own /srv, /opt and /usr/local/bin (sshd.sh), reached by
# regctl through REGCTL_SSH_COMMAND. Hades's registry guide's complete
# example runs byte for byte unchanged; a plan of our own goes publish ->
# canary -> gate -> rollout in batches of 2, then of 50%, and every host
# ends with the pinned digest, its mode, and a program that runs; a failing
# host in the middle of a batch, a resume, and an unreachable host.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317 # plan text holds ${VAR}s
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=sshd.sh
. "$(dirname "$0")/sshd.sh"
require_cmd python3 sha256sum unshare

export SSHD_PRIVATE_DIRS="/srv /opt /usr/local/bin"
hosts=(build web-a web-b web-c web-d web-e web-f)
for h in "${hosts[@]}"; do
	sshd_start "$h"
	# The guide's deploy job restarts a service: a stub records it.
	stub=$(sshd_private "$h" /usr/local/bin)/systemctl
	printf '#!/bin/sh\necho "$*" >>/srv/systemctl.log\n' >"$stub"
	chmod 755 "$stub"
done
export REGCTL_SSH_COMMAND=$SSHD_SSH_COMMAND
STORE=$TEST_TMP/store
plan() { "$REGCTL" --store "$STORE" plan "$@"; }
digest_of() { sha256sum "$1" | cut -d' ' -f1; }

# The inventory, ours: the guide names build-server and app-servers.
mkdir -p "$TEST_TMP/guide/build"
cat >"$TEST_TMP/guide/hosts.hades.yaml" <<'EOF'
hosts:
  build: {addr: build}
  web-a: {addr: web-a}
  web-b: {addr: web-b}
  web-c: {addr: web-c}
  web-d: {addr: web-d}
targets:
  build-server: [build]
  app-servers: [web-a, web-b, web-c, web-d]
EOF
# The guide's "Complete Example", as the guide prints it.
python3 - "$REGFS_SOURCE_DIR/../shared/reference/hades-registry-guide.md" \
	"$TEST_TMP/guide/release.hades.yaml" <<'EOF' 2>/dev/null || cp "$(dirname "$0")/data/guide-complete.hades.yaml" "$TEST_TMP/guide/release.hades.yaml"
import re, sys
text = open(sys.argv[1]).read()
section = text.split("## Complete Example", 1)[1]
block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
open(sys.argv[2], "w").write(block)
EOF
check "the guide's complete example is extracted" grep -q 'deploy-canary' "$TEST_TMP/guide/release.hades.yaml"
printf '#!/bin/sh\necho "myapp 1.0.0"\n' >"$TEST_TMP/guide/build/myapp"
chmod 755 "$TEST_TMP/guide/build/myapp" # a build's output is executable

# --- Hades's complete example, unchanged ---
# Its registry is /var/hades/artifacts on the machine regctl runs on: a
# private mount namespace puts a folder of the test there.
mkdir -p "$TEST_TMP/var-hades"
made_var_hades=0
[[ -d /var/hades ]] || { mkdir /var/hades && made_var_hades=1; }
run_guide() {
	# (Other tests' FUSE mounts, copied into the namespace, are dropped:
	# see sshd.sh.)
	(cd "$TEST_TMP/guide" && unshare --mount --propagation private -- /bin/sh -c \
		'awk '"'"'$3 ~ /^fuse/ { print $2 }'"'"' /proc/self/mounts |
			while read -r m; do umount -l "$m" 2>/dev/null; done
		mount --bind "$1" /var/hades && shift && exec "$@"' sh \
		"$TEST_TMP/var-hades" "$REGCTL" --store "$STORE" plan "$@")
}
run_cmd run_guide validate
expect_eq "$RC" "0" "the guide's example validates unchanged"
run_cmd run_guide run release
expect_eq "$RC" "0" "the guide's release plan runs unchanged on ssh hosts"
[[ $RC == 0 ]] || diag "$OUT"
guide_digest=$(digest_of "$TEST_TMP/var-hades/artifacts/myapp/v1.0.0" 2>/dev/null || echo none)
expect_eq "$guide_digest" "$(digest_of "$TEST_TMP/guide/build/myapp")" \
	"push wrote Hades's layout: artifacts/myapp/v1.0.0"
expect_eq "$(stat -c %a "$TEST_TMP/var-hades/artifacts/myapp/v1.0.0" 2>&1)" "755" \
	"the registry file keeps the artifact's executable bit (Hades writes 0644)"
for h in web-a web-b web-c web-d; do
	app=$(sshd_private "$h" /opt/myapp/app)
	expect_eq "$(digest_of "$app" 2>&1)" "$guide_digest" "$h: /opt/myapp/app has the pushed digest"
	expect_eq "$(stat -c %a "$app" 2>&1)" "755" "$h: executable"
	expect_eq "$(sshd_exec "$h" /opt/myapp/app 2>&1)" "myapp 1.0.0" "$h: the deployed program runs"
done
# deploy-canary (limit 1) then deploy-all: the canary is the inventory's
# first app server, every run, so it alone restarted twice.
expect_eq "$(cat "$(sshd_path web-a systemctl.log)" 2>&1 | tr '\n' ' ')" \
	"restart myapp restart myapp " "web-a, the first app server, was the canary"
for h in web-b web-c web-d; do
	expect_eq "$(cat "$(sshd_path "$h" systemctl.log)" 2>&1)" "restart myapp" "$h restarted once"
done
check "nothing of the guide's run touched this machine's /opt" test ! -e /opt/myapp
run_cmd run_guide run release
expect_eq "$RC" "0" "the guide's plan runs again (the same push is idempotent)"
expect_match "$OUT" "unchanged" "a second run finds the hosts up to date"
((made_var_hades)) && rmdir /var/hades

# --- our plan: publish, canary, gate, rollout in batches ---

mkdir -p "$TEST_TMP/ours/build"
cd "$TEST_TMP/ours"
printf '#!/bin/sh\necho "tool $1"\n' >build/tool
chmod 755 build/tool
REG=$TEST_TMP/registry-store
cat >release.hades.yaml <<EOF
hosts:
  web-a: {addr: web-a}
  web-b: {addr: web-b}
  web-c: {addr: web-c}
  web-d: {addr: web-d}
  web-e: {addr: web-e}
  web-f: {addr: web-f}
targets:
  web: [web-a, web-b, web-c, web-d, web-e, web-f]
registries:
  prod: {type: regfs, path: $REG}
jobs:
  publish:
    local: true
    artifacts:
      tool: {path: ./build/tool}
    actions:
      - push: {registry: prod, artifact: tool, name: tools/tool, tag: "\${VERSION}"}
  deploy:
    env:
      VERSION:
    actions:
      - pull: {registry: prod, name: tools/tool, tag: "\${VERSION}", to: /srv/bin/tool, parents: true}
      - run: 'if [ -e /srv/fail ]; then echo failing on purpose >&2; exit 7; fi'
      - run: /srv/bin/tool \${VERSION} > /srv/ran; echo x >> /srv/count
  confirm:
    actions:
      - wait: {message: "is the canary healthy?", timeout: 60s}
plans:
  rollout:
    env:
      VERSION: "\${TAG}"
    steps:
      - {name: publish, job: publish, targets: [web-a]}
      - {name: canary, job: deploy, targets: [web], limit: 1}
      - {name: gate, job: confirm, targets: [web-a]}
      - {name: wave1, job: deploy, targets: [web], exclude: [canary], limit: 2, parallelism: "2"}
      - {name: wave2, job: deploy, targets: [web], exclude: [canary, wave1], parallelism: "50%"}
EOF
export TAG=v2.0.0
run_cmd plan run rollout --approve gate --json
expect_eq "$RC" "0" "publish -> canary -> gate -> waves of 2 and 50% ran"
printf '%s\n' "$OUT" >"$TEST_TMP/events.json"
run_id=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "end": print(e["run"])' "$TEST_TMP/events.json")
expect_match "$run_id" '^[0-9]{8}-[0-9]{6}\.[0-9]{3}-[0-9a-f]{6}$' "the run id: milliseconds and a random suffix"
batches=$(python3 -c 'import json,sys
out = []
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "batch": out.append("%s:%s/%s:%s" % (e["step"], e["batch"], e["batches"], e["text"]))
print(" | ".join(out))' "$TEST_TMP/events.json")
expect_eq "$batches" "publish:1/1:web-a | canary:1/1:web-a | gate:1/1:web-a | wave1:1/1:web-b web-c | wave2:1/3:web-d | wave2:2/3:web-e | wave2:3/3:web-f" \
	"batches: the canary first, then 2 at once, then 50% of the 3 left (1 a batch)"
pinned=$("$REGCTL" --store "$REG" inspect tools/tool:v2.0.0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
expect_eq "$pinned" "sha256:$(digest_of build/tool)" "the pushed tag holds the artifact"
for h in web-a web-b web-c web-d web-e web-f; do
	expect_eq "sha256:$(digest_of "$(sshd_path "$h" bin/tool)" 2>&1)" "$pinned" "$h has the pinned digest"
	expect_eq "$(stat -c %a "$(sshd_path "$h" bin/tool)" 2>&1)" "755" "$h: mode 755, the tag's"
	expect_eq "$(cat "$(sshd_path "$h" ran)" 2>&1)" "tool v2.0.0" "$h ran the program"
	expect_eq "$(wc -l <"$(sshd_path "$h" count)" 2>&1)" "1" "$h was deployed once (canary, waves and excludes)"
done
run_cmd plan show "$run_id"
expect_match "$OUT" "status  done" "plan show: the run is done"
expect_match "$OUT" "tools/tool:v2.0.0" "plan show: the pins"

# The same plan again: nothing to copy, and it says so per host.
t0=$(now_ns)
run_cmd plan run rollout --yes
t1=$(now_ns)
expect_eq "$RC" "0" "the plan runs again"
expect_eq "$(grep -c 'unchanged' <<<"$OUT")" "6" "every host already had the digest"
diag "a run with nothing to change took $(((t1 - t0) / 1000000)) ms for 6 hosts"

# --- a failing host in the middle of a batch, then a resume ---

export TAG=v3.0.0
: >"$(sshd_path web-c fail)"
for h in web-a web-b web-c web-d web-e web-f; do rm -f "$(sshd_path "$h" count)"; done
run_cmd plan run rollout --yes
expect_eq "$RC" "1" "a failing host fails the run (exit 1)"
expect_match "$OUT" "web-c +failed" "the summary names web-c"
expect_eq "$(cat "$(sshd_path web-b count)" 2>&1)" "x" "web-b, in web-c's batch, finished its job"
check "no later batch started: web-d was not deployed" test ! -e "$(sshd_path web-d count)"
failed_run=$("$REGCTL" --store "$STORE" plan history rollout --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["run"])')
run_cmd plan show "$failed_run"
expect_match "$OUT" "status  failed" "plan show: failed"
expect_match "$OUT" "failing on purpose|exit status 7" "plan show: why web-c failed"
rm -f "$(sshd_path web-c fail)"
run_cmd plan run rollout --resume "$failed_run" --yes
expect_eq "$RC" "0" "--resume finishes the run"
for h in web-a web-b web-c web-d web-e web-f; do
	expect_eq "$(cat "$(sshd_path "$h" count)" 2>&1)" "x" "$h ran exactly once across the failed run and its resume"
	expect_eq "$(cat "$(sshd_path "$h" ran)" 2>&1)" "tool v3.0.0" "$h runs v3.0.0"
done

# --- an unreachable host ---

sshd_stop web-f
export TAG=v4.0.0
run_cmd plan run rollout --yes
expect_eq "$RC" "1" "an unreachable host fails the run"
expect_match "$OUT" "web-f +failed" "the summary names web-f"
expect_match "$OUT" "ssh|reach|connect" "... with ssh's reason"

cd "$TEST_TMP"
sshd_stop_all
done_testing
