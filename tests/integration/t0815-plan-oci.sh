#!/bin/bash
# t0815-plan-oci: regctl plan with a registry of type oci, the real CNCF
# Distribution registry on loopback behind htpasswd (regctl login), and
# hosts that are this machine (as in t0805). skopeo is the independent
# client that checks what a plan pushed.
#
#   1  validate: a bad url is exit 2; no login, a missing tag, a
#      multi-layer image: exit 2 before anything changes
#   2  dry run: the remote digest in the commands, nothing fetched
#   3  run: push (as regctl push builds it), deploy to three hosts: bytes,
#      mode 0755, runnable; a re-run changes nothing; other bytes under
#      the pushed tag fail the push
#   4  a remote tag moved during a run: the rest of the run deploys the
#      digest pinned at its start
#   5  a failure, the tag moved, the fetched bytes removed: --resume
#      deploys the pinned digest, fetched again by digest
#   6  a url with a namespace: https://HOST/team serves team/<repo>
#   7  SIGTERM while a push waits on a slow registry: the run ends at
#      once, interrupted (exit 4)
# shellcheck disable=SC2016 # ${VAR} in single quotes: for regctl, not bash
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
require_cmd python3 setsid sha256sum

# A home of the test's own: regctl login writes there.
export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

T=$TEST_TMP
mkdir -p "$T/work/build" "$T/plans" "$T/hosts"
cd "$T/work" || bail_out "cannot go to $T/work"

R() { setsid -w "$REGCTL" --store "$STORE" "$@" </dev/null; }
plan_file() { sed -e "s|@T@|$T|g" -e "s|@H@|$H|g" -e "s|@REGCTL@|$REGCTL|g" >"$T/plans/$1"; }
run_id_in() { sed -n 's/^plan [^ ]*: run \([^ ]*\).*/\1/p' <<<"$1" | head -n 1; }
host_sha() { sha256sum <"$T/hosts/$1/app" | cut -d' ' -f1; }

registry_start up --htpasswd alice:open-sesame
H=$REGISTRY_UP_HOST
CREDS=alice:open-sesame

printf '#!/bin/sh\necho app one\n' >build/app
chmod 755 build/app
APP=sha256:$(sha build/app)

plan_file main.hades.yaml <<'EOF'
hosts:
  alpha: {addr: 127.0.0.1}
  bravo: {addr: 127.0.0.1}
  charlie: {addr: 127.0.0.1}
registries:
  hub: {type: oci, url: "http://@H@"}
jobs:
  publish:
    local: true
    artifacts:
      app: {path: ./build/app}
    actions:
      - push: {registry: hub, artifact: app, name: tools/app, tag: "${VERSION}"}
  deploy:
    local: true
    actions:
      - pull: {registry: hub, name: tools/app, tag: "${VERSION}", to: "@T@/hosts/${HADES_HOST_NAME}/app", parents: true}
      - run: "@T@/hosts/${HADES_HOST_NAME}/app > @T@/hosts/${HADES_HOST_NAME}/ran"
  move:
    local: true
    actions:
      - run: "@REGCTL@ --store @T@/side push --force --plain-http other:v1 @H@/tools/app:${VERSION}"
  flaky:
    local: true
    actions:
      - pull: {registry: hub, name: tools/app, tag: "${VERSION}", to: "@T@/hosts/${HADES_HOST_NAME}/app", parents: true}
      - run: "test ! -e @T@/fail-${HADES_HOST_NAME}"
plans:
  release:
    env: {VERSION: v1}
    steps:
      - {name: publish, job: publish, targets: [local]}
      - {name: deploy, job: deploy, targets: [alpha, bravo, charlie], parallelism: 2}
  deploy-only:
    env: {VERSION: v1}
    steps:
      - {name: deploy, job: deploy, targets: [alpha, bravo, charlie]}
  moved:
    env: {VERSION: v2}
    steps:
      - {name: first, job: deploy, targets: [alpha]}
      - {name: move, job: move, targets: [local]}
      - {name: rest, job: deploy, targets: [bravo, charlie]}
  resume:
    env: {VERSION: v3}
    steps:
      - {name: deploy, job: flaky, targets: [alpha, bravo]}
EOF

# --- 1 validate --------------------------------------------------------------

plan_file bad.yaml <<'EOF'
registries:
  hub: {type: oci, url: "ftp://@H@"}
jobs:
  j: {local: true, actions: [{pull: {registry: hub, name: app, tag: v1, to: /tmp/x}}]}
plans:
  p: {steps: [{name: s, job: j, targets: [local]}]}
EOF
expect_status 2 R plan validate -f "$T/plans/bad.yaml"
expect_match "$OUT" 'bad.yaml:2:.*invalid url "ftp://' "a url that is not http(s) is refused, with its place"

expect_status 2 R plan run deploy-only -c "$T/plans"
expect_match "$OUT" "401" "before regctl login: refused by the registry, exit 2"
check "and nothing was fetched or recorded" test ! -e "$STORE/plans/pins/oci"

printf '%s\n' open-sesame | "$REGCTL" login --password-stdin --plain-http -u alice "$H" >/dev/null 2>&1 ||
	bail_out "regctl login failed"

expect_status 2 R plan run deploy-only -c "$T/plans"
expect_match "$OUT" "registry 'hub' has no tag 'tools/app:v1'" "a missing tag: exit 2, named"
check "no host was touched" test ! -e "$T/hosts/alpha"

mkrand "$T/l1" 10K
mkrand "$T/l2" 10K
oci_push_image "$REGISTRY_UP_URL" tools/image v1 --user "$CREDS" "$T/l1" "$T/l2" >/dev/null ||
	bail_out "cannot push an image"
plan_file image.yaml <<'EOF'
registries:
  hub: {type: oci, url: "@H@"}
jobs:
  j: {local: true, actions: [{pull: {registry: hub, name: tools/image, tag: v1, to: "@T@/hosts/img"}}]}
plans:
  p: {steps: [{name: s, job: j, targets: [local]}]}
EOF
# @H@ without a scheme is https: the registry speaks http, so say it.
sed -i "s|url: \"$H\"|url: \"http://$H\"|" "$T/plans/image.yaml"
expect_status 2 R plan run p -f "$T/plans/image.yaml"
expect_match "$OUT" "'tools/image:v1' in registry 'hub' is a multi-layer image, not a file" \
	"a multi-layer image is not deployed as a file"

# --- 2 dry run ---------------------------------------------------------------

expect_status 0 R plan run release -c "$T/plans" --dry-run
expect_match "$OUT" "would push" "dry run: the push is shown"
check "dry run: nothing pushed" _lib_not skopeo_manifest "$REGISTRY_UP_URL" tools/app v1 --creds "$CREDS"
check "dry run: nothing fetched" test ! -e "$STORE/plans/pins/oci"

# --- 3 run ---------------------------------------------------------------------

expect_status 0 R plan run release -c "$T/plans"
RUN1=$(run_id_in "$OUT")
for h in alpha bravo charlie; do
	expect_eq "sha256:$(host_sha $h)" "$APP" "$h has the pushed digest"
	expect_eq "$(stat -c %a "$T/hosts/$h/app")" 755 "$h: the executable bit came from the tag"
	expect_eq "$(cat "$T/hosts/$h/ran")" "app one" "$h: the program ran"
done
MAN=$(skopeo_manifest "$REGISTRY_UP_URL" tools/app v1 --creds "$CREDS")
expect_eq "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["layers"][0]["digest"])' "$MAN")" "$APP" \
	"skopeo: the registry's tools/app:v1 is one layer of the file's digest"
expect_match "$MAN" '"io.regfs.file.mode":"0755"' "skopeo: with its mode, as regctl push writes it"
expect_match "$(R plan show "$RUN1")" "hub/tools/app:v1.*$APP" "plan show: the pin"

expect_status 0 R plan run release -c "$T/plans"
expect_match "$OUT" "unchanged" "a re-run: the hosts are unchanged"
expect_eq "$(skopeo_manifest "$REGISTRY_UP_URL" tools/app v1 --creds "$CREDS")" "$MAN" \
	"a re-run: the remote manifest is the same"

printf '#!/bin/sh\necho app two\n' >build/app
expect_status 1 R plan run release -c "$T/plans"
expect_match "$OUT" "'tools/app:v1' exists in registry 'hub' with another digest" \
	"other bytes under the pushed tag: the push fails"
expect_eq "sha256:$(host_sha alpha)" "$APP" "and no host got them"

# --- 4 a remote tag moved during a run -------------------------------------------

printf '#!/bin/sh\necho app v2\n' >build/app
V2=sha256:$(sha build/app)
expect_ok "v2 pushed" -- R plan run release -c "$T/plans" -e VERSION=v2
printf '#!/bin/sh\necho impostor\n' >"$T/impostor"
"$REGCTL" --store "$T/side" publish --init "$T/impostor" other:v1 >/dev/null 2>&1 || bail_out "cannot publish other:v1"
OTHER=sha256:$(sha "$T/impostor")
expect_status 0 R plan run moved -c "$T/plans"
expect_eq "$(skopeo_manifest "$REGISTRY_UP_URL" tools/app v2 --creds "$CREDS" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')" "$OTHER" \
	"the run's move step moved tools/app:v2 on the registry"
for h in alpha bravo charlie; do
	expect_eq "sha256:$(host_sha $h)" "$V2" "$h has the digest pinned at the start ($h)"
done

# --- 5 resume: the tag moved and the fetched bytes removed meanwhile ------------

printf '#!/bin/sh\necho app v3\n' >build/app
V3=sha256:$(sha build/app)
expect_ok "v3 pushed" -- R plan run release -c "$T/plans" -e VERSION=v3
touch "$T/fail-bravo"
expect_status 1 R plan run resume -c "$T/plans"
RUN=$(run_id_in "$OUT")
"$REGCTL" --store "$T/side" push --force --plain-http other:v1 "$H/tools/app:v3" >/dev/null 2>&1 ||
	bail_out "cannot move tools/app:v3"
rm -rf "$STORE/plans/pins/oci"
rm -f "$T/fail-bravo" "$T/hosts/bravo/app"
expect_status 0 R plan run resume -c "$T/plans" --resume "$RUN"
expect_eq "sha256:$(host_sha bravo)" "$V3" "resumed: bravo got the digest the run pinned, fetched again"

# --- 6 a namespace in the url ------------------------------------------------------

sed -e 's|url: "http://'"$H"'"|url: "http://'"$H"'/team/"|' "$T/plans/main.hades.yaml" >"$T/plans/team.yaml"
expect_status 0 R plan run release -f "$T/plans/team.yaml" -e VERSION=v9
expect_eq "$(skopeo_manifest "$REGISTRY_UP_URL" team/tools/app v9 --creds "$CREDS" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')" "$V3" \
	"http://HOST/team/: the push went to team/tools/app"

# --- 7 SIGTERM during a push to a slow registry ----------------------------------------

# bad-proxy holds each request of the push for 20 s: the run ends at once,
# interrupted (exit 4), instead of after the registry's answers.
arrivals=$T/arrivals
: >"$arrivals"
bad_proxy_start slow "$REGISTRY_UP_URL" --delay-ms 20000 --count-file "$arrivals" \
	--match '^(HEAD|GET|POST|PUT|PATCH) /v2/tools/slow/'
SLOW=${BAD_PROXY_SLOW_URL#http://}
printf '%s\n' open-sesame | "$REGCTL" login --password-stdin --plain-http -u alice "$SLOW" >/dev/null 2>&1 ||
	bail_out "regctl login to the proxy failed"
sed -e 's|url: "http://'"$H"'"|url: "http://'"$SLOW"'"|' -e 's|name: tools/app,|name: tools/slow,|' \
	"$T/plans/main.hades.yaml" >"$T/plans/slow.yaml"
setsid "$REGCTL" --store "$STORE" plan run release -f "$T/plans/slow.yaml" -e VERSION=v1 \
	</dev/null >"$T/slow.out" 2>&1 &
pid=$!
track_pid "$pid"
check "the push reaches the registry" wait_until 20 grep -q "/v2/tools/slow/" "$arrivals"
sleep 0.5
t0=$(now_ns)
kill -TERM "$pid"
check "the run, sent SIGTERM while it pushes, ends within 3 s" wait_exit "$pid" 3
diag "it ended $((($(now_ns) - t0) / 1000000)) ms after SIGTERM"
reap "$pid"
expect_eq "$REAP_RC" 4 "it exits 4: interrupted"
expect_match "$(cat "$T/slow.out")" "interrupted" "it says the run was interrupted"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -u "$CREDS" "$REGISTRY_UP_URL/v2/tools/slow/manifests/v1")" 404 \
	"the registry has no tools/slow:v1"

done_testing
