#!/bin/bash
# t1320-versions: version ranges under registry/<repo>/, from regctl and in
# plans (issue 13).
#
#   1  a mount of a store whose app has the tags 1.0.0, 1.2.0, 1.2.5,
#      v1.3.0 (executable), 2.0.0, 2.1.0-rc.1, latest and nightly:
#      readlink of each range form (^1.2, ~1.2.3, >=1.0.0,<2.0.0 with and
#      without a space, 1.2.*, =1.2.0, latest-stable, 1.3.0 for the tag
#      v1.3.0 and the other way round), v1.3.0 itself is the tag, not a
#      link; prereleases only for a range that names one; ls -l shows the
#      link; cat and rsync -aL deploy the tag's bytes with its mode; ls and
#      rsync -r of the folder see only the real tags; a malformed range is
#      EINVAL ("Invalid argument"), no match and a name that is neither a
#      tag nor a range ENOENT
#   2  regctl resolve (text, --json, exit 1 naming the newest version and
#      the yanked candidates, exit 2 for a malformed range), regctl ls
#      --versions (semver order, 1.10.0 after 1.9.0, names that are not
#      versions last), regctl ls --type
#   3  the resolution moves within the documented delay (1 s; polled for up
#      to 3 s) after regctl publish of a newer tag, a cp through incoming/
#      and regctl yank; a reader that opened ^1 before keeps reading the
#      bytes it opened; a yanked tag still reads by its exact name
#   4  a plan whose pull names app:^1.2 deploys the tag the range picks,
#      with its mode, and plan show records the pin under the ref as written
#   5  a pull-through repository (Distribution on loopback, list_ttl = 2s):
#      ^1 picks the upstream's highest 1.x (1.10.0, by precedence, not by
#      text), which is then pinned (regctl ls); a tag pushed upstream later
#      is picked once list_ttl has passed; regctl resolve --config agrees
#
# Range resolution over 10 000 tags is in the unit tests
# (tests/unit/test-versions.c), its speed in tests/bench/bench-versions.sh.
# shellcheck source-path=SCRIPTDIR disable=SC2010,SC2012,SC2016,SC2317 # ls as users use it; literal ${...} for regctl; helpers called through wait_until
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"
require_cmd rsync python3 setsid

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
A=$MNT/registry/app
# link NAME: what readlink says of registry/app/NAME ("" when it fails).
link() { readlink -- "$A/$1" 2>/dev/null || :; }
link_is() { [[ $(link "$1") == "$2" ]]; }
digest_of() { printf 'sha256:%s\n' "$(sha "$SRC/$1")"; }
# listed DIR: its entries, one line, as ls gives them.
listed() { ls -1 -- "$1" | tr '\n' ' '; }
# within SECONDS DESC CMD...: CMD comes true within SECONDS (polled); the
# time it took in TOOK (ms).
TOOK=0
within() {
	local secs=$1 desc=$2 t0
	shift 2
	t0=$(now_ns)
	if wait_until "$secs" "$@"; then
		TOOK=$((($(now_ns) - t0) / 1000000))
		ok "$desc (after $TOOK ms)"
	else
		TOOK=$((($(now_ns) - t0) / 1000000))
		fail "$desc (not within $secs s)"
	fi
}

TAGS=(1.0.0 1.2.0 1.2.5 v1.3.0 2.0.0 2.1.0-rc.1 latest nightly)
for t in "${TAGS[@]}"; do mkrand "$SRC/$t" 16K; done
# v1.3.0 is the one ^1.2 picks: big enough to be read in two parts by a
# reader that holds it open, and executable.
mkrand "$SRC/v1.3.0" 256K
chmod 755 "$SRC/v1.3.0"
mkrand "$SRC/1.4.0" 20K
mkrand "$SRC/1.4.1" 24K
mkrand "$SRC/tool" 1K
for t in "${TAGS[@]}"; do
	R publish --type application/x-app "$SRC/$t" "app:$t" >/dev/null
done
# Another repository, for the order of regctl ls --versions: numbers
# compare as numbers, a prerelease below its release, with or without 'v'.
for t in 1.10.0 1.9.0 v1.2.0 1.0.0 1.0.0-rc.2 1.0.0-rc.10 1.0.0-beta stable; do
	R publish "$SRC/tool" "lib:$t" >/dev/null
done

# =============================================================================
diag "1. ranges on a mount"
# =============================================================================

regfs_mount "$STORE" "$MNT"

expect_eq "$(link '^1.2')" v1.3.0 "^1.2: the highest 1.x at or above 1.2.0 (tag v1.3.0)"
expect_eq "$(link '^1')" v1.3.0 "^1: the same"
expect_eq "$(link '~1.2.3')" 1.2.5 "~1.2.3: the highest 1.2.x at or above 1.2.3"
expect_eq "$(link '~1.2')" 1.2.5 "~1.2: the highest 1.2.x"
expect_eq "$(link '>=1.0.0,<2.0.0')" v1.3.0 ">=1.0.0,<2.0.0"
expect_eq "$(link '>=1.0.0, <2.0.0')" v1.3.0 ">=1.0.0, <2.0.0 (with a space)"
expect_eq "$(link '>=1.0.0 <1.2.5')" 1.2.0 ">=1.0.0 <1.2.5 (terms joined by a space)"
expect_eq "$(link '1.2.*')" 1.2.5 "1.2.*"
expect_eq "$(link '1.2.x')" 1.2.5 "1.2.x"
expect_eq "$(link '=1.2.0')" 1.2.0 "=1.2.0: exactly that version"
expect_eq "$(link latest-stable)" 2.0.0 "latest-stable: the highest release (not 2.1.0-rc.1)"
expect_eq "$(link '^2')" 2.0.0 "^2 picks no prerelease"
expect_eq "$(link '>=2.1.0-rc.1')" 2.1.0-rc.1 "a range that names a prerelease admits it"
expect_eq "$(link '*')" 2.0.0 "*: any release"
expect_eq "$(link 1.3.0)" v1.3.0 "1.3.0 finds the tag v1.3.0"
expect_eq "$(link v1.2.5)" 1.2.5 "v1.2.5 finds the tag 1.2.5"
check "v1.3.0 is the tag itself: a regular file, not a link" \
	test -f "$A/v1.3.0" -a ! -L "$A/v1.3.0"
check "so is latest (a tag, never a range)" test -f "$A/latest" -a ! -L "$A/latest"
expect_eq "$(stat -c %F -- "$A/^1.2")" "symbolic link" "stat: ^1.2 is a symbolic link"
expect_match "$(ls -l -- "$A/^1.2")" "^l[rwx-]{9} .* $A/\^1\.2 -> v1\.3\.0$" "ls -l shows the link and its target"
expect_eq "$(stat -L -c %i -- "$A/^1.2")" "$(stat -c %i -- "$A/v1.3.0")" "followed, it is the tag's inode"
expect_eq "$(sha "$A/^1.2")" "$(sha "$SRC/v1.3.0")" "cat registry/app/^1.2 reads the tag's bytes"
expect_eq "$(sha "$A/~1.2.3")" "$(sha "$SRC/1.2.5")" "cat registry/app/~1.2.3 too"
mkdir -p "$TEST_TMP/opt/app/bin"
expect_ok "rsync -aL registry/app/^1.2 deploys" -- rsync -aL "$A/^1.2" "$TEST_TMP/opt/app/bin/app"
expect_eq "$(sha "$TEST_TMP/opt/app/bin/app")" "$(sha "$SRC/v1.3.0")" "the deployed file has the tag's bytes"
check "a regular file, not a link" test -f "$TEST_TMP/opt/app/bin/app" -a ! -L "$TEST_TMP/opt/app/bin/app"
expect_eq "$(stat -c %a "$TEST_TMP/opt/app/bin/app")" 755 "with the tag's mode (755, as published)"
expect_eq "$(xattr "$A/^1.2" user.regfs.digest)" "$(digest_of v1.3.0)" "getfattr through the link names the tag's digest"

# readdir lists the real tags only.
expect_eq "$(listed "$A")" "1.0.0 1.2.0 1.2.5 2.0.0 2.1.0-rc.1 latest nightly v1.3.0 " \
	"ls registry/app/ lists the real tags and no range"
expect_eq "$(find "$A" -type l | wc -l)" 0 "find sees no link in the folder"
expect_ok "rsync -r registry/app/ DEST/" -- rsync -r "$A/" "$TEST_TMP/copy/"
expect_eq "$(listed "$TEST_TMP/copy")" "1.0.0 1.2.0 1.2.5 2.0.0 2.1.0-rc.1 latest nightly v1.3.0 " \
	"it copies the real tags only"
expect_eq "$(find "$TEST_TMP/copy" ! -type f ! -path "$TEST_TMP/copy" | wc -l)" 0 "all of them files"
expect_eq "$(sha "$TEST_TMP/copy/2.0.0")" "$(sha "$SRC/2.0.0")" "whole"

# Bad input.
expect_fail_errno "cat of a malformed range (^1.2.3.4)" -- cat "$A/^1.2.3.4" "Invalid argument"
expect_errno EINVAL open "$A/^1.2.3.4" r
expect_errno EINVAL open "$A/>=x" r
expect_errno EINVAL open "$A/1.0 - 2.0" r
expect_fail_errno "cat of a range nothing matches (^9)" -- cat "$A/^9" "No such file or directory"
expect_errno ENOENT open "$A/^9" r
expect_errno ENOENT open "$A/>2.0.0" r
expect_errno ENOENT open "$A/v1.2" r
expect_errno ENOENT open "$A/1.2.3.4" r
expect_fail "readlink of a range nothing matches fails" -- readlink "$A/~1.1"
check "a range in a repository that does not exist: ENOENT" \
	test "$(sys open "$MNT/registry/nothere/^1" r)" = ENOENT

# =============================================================================
diag "2. regctl resolve, ls --versions, ls --type"
# =============================================================================

expect_status 0 R resolve 'app@^1.2'
expect_eq "$OUT" "app:v1.3.0 $(digest_of v1.3.0)" "regctl resolve prints the tag and its digest"
expect_status 0 R resolve 'app@latest'
expect_eq "$OUT" "app:latest $(digest_of latest)" "an exact tag name resolves to itself"
expect_status 0 R resolve --json 'app@>=1.0.0, <2.0.0'
expect_eq "$(json_get '(d["repository"], d["name"], d["tag"], d["digest"], d["exact"], d["newest"], d["yanked"])' <<<"$OUT")" \
	"('app', '>=1.0.0, <2.0.0', 'v1.3.0', '$(digest_of v1.3.0)', False, '2.1.0-rc.1', [])" \
	"--json: repository, name, tag, digest, exact, newest, yanked"
expect_eq "$(R resolve --json app@nightly | json_get '(d["tag"], d["exact"])')" "('nightly', True)" \
	"--json of an exact name: exact is true"
expect_status 1 R resolve 'app@^3'
expect_match "$OUT" "'\^3'" "no match: exit 1, the message names the range"
expect_match "$OUT" "newest version is '2\.1\.0-rc\.1'" "and the newest version"
expect_status 2 R resolve 'app@^1.2.3.4'
expect_match "$OUT" "invalid version range '\^1\.2\.3\.4'" "a malformed range: exit 2, with a message"
expect_status 1 R resolve 'nothere@^1'
expect_match "$OUT" "nothere" "a missing repository: exit 1, named"
expect_status 2 R resolve app
expect_status 2 R resolve '@^1'

expect_status 0 R ls app --versions
expect_eq "$(awk 'NR > 1 { print $2 }' <<<"$OUT" | tr '\n' ' ')" \
	"1.0.0 1.2.0 1.2.5 v1.3.0 2.0.0 2.1.0-rc.1 latest nightly " \
	"regctl ls app --versions: by precedence, names that are not versions last"
expect_status 0 R ls lib --versions
expect_eq "$(awk 'NR > 1 { print $2 }' <<<"$OUT" | tr '\n' ' ')" \
	"1.0.0-beta 1.0.0-rc.2 1.0.0-rc.10 1.0.0 v1.2.0 1.9.0 1.10.0 stable " \
	"numbers as numbers (1.10.0 after 1.9.0, rc.10 after rc.2), a prerelease below its release"
expect_eq "$(R ls --versions --json lib | json_get '" ".join(t["tag"] for t in d)')" \
	"1.0.0-beta 1.0.0-rc.2 1.0.0-rc.10 1.0.0 v1.2.0 1.9.0 1.10.0 stable" "the same order in --json"
expect_eq "$(readlink "$MNT/registry/lib/^1")" 1.10.0 "^1 of lib: 1.10.0, by precedence, not by text"
expect_status 0 R ls --type application/x-app
expect_eq "$(awk 'NR > 1 { print $1 }' <<<"$OUT" | sort -u | tr '\n' ' ')" "app " \
	"regctl ls --type lists only that artifact type"
expect_eq "$(awk 'NR > 1' <<<"$OUT" | wc -l)" 8 "all 8 tags of app"
expect_status 0 R ls --type application/x-none
expect_eq "$(awk 'NR > 1' <<<"$OUT" | wc -l)" 0 "a type nothing has: no rows"

# =============================================================================
diag "3. the resolution moves: a new seal, a yank; an open reader keeps its bytes"
# =============================================================================

expect_eq "$(link '^1')" v1.3.0 "(^1 is v1.3.0)"
exec 3<"$A/^1"
head -c 65536 <&3 >"$TEST_TMP/held.part"
expect_ok "regctl publish app:1.4.0 while mounted" -- R publish "$SRC/1.4.0" app:1.4.0
within 3 "^1 moves to 1.4.0 within the documented delay" link_is '^1' 1.4.0
expect_eq "$(link '^1.2')" 1.4.0 "so does ^1.2"
expect_eq "$(sha "$A/^1")" "$(sha "$SRC/1.4.0")" "cat registry/app/^1 reads 1.4.0 now"
expect_eq "$(link '~1.2.3')" 1.2.5 "~1.2.3 does not move"
cat <&3 >>"$TEST_TMP/held.part"
expect_eq "$(sha "$TEST_TMP/held.part")" "$(sha "$SRC/v1.3.0")" \
	"the reader that opened ^1 before read the old tag's bytes, whole"

exec 3<"$A/^1"
head -c 4096 <&3 >"$TEST_TMP/held2.part"
expect_ok "regctl yank app:1.4.0" -- R yank app:1.4.0
within 3 "after the yank, ^1 is v1.3.0 again within the documented delay" link_is '^1' v1.3.0
expect_eq "$(sha "$A/1.4.0")" "$(sha "$SRC/1.4.0")" "the yanked tag still reads by its exact name"
check "and is not listed" wait_until 3 '! grep -qx 1.4.0 <<<"$(ls -1 "$A")"'
cat <&3 >>"$TEST_TMP/held2.part"
exec 3<&-
expect_eq "$(sha "$TEST_TMP/held2.part")" "$(sha "$SRC/1.4.0")" \
	"the reader that opened ^1 as 1.4.0 read 1.4.0 whole after the yank"
expect_status 0 R resolve --json 'app@^1'
expect_eq "$(json_get '(d["tag"], d["yanked"])' <<<"$OUT")" "('v1.3.0', ['1.4.0'])" \
	"regctl resolve --json names the yanked candidate it passed over"
expect_ok "regctl yank app:2.0.0" -- R yank app:2.0.0
expect_status 1 R resolve 'app@^2'
expect_match "$OUT" "yanked: '2\.0\.0'" "nothing left to match: exit 1, naming the yanked candidate"
expect_match "$OUT" "newest version is '2\.1\.0-rc\.1'" "and the newest version"
within 3 "readlink ^2 fails once 2.0.0 is yanked" '[[ -z $(link "^2") ]]'
expect_errno ENOENT open "$A/^2" r
expect_eq "$(link latest-stable)" v1.3.0 "latest-stable passes over the yanked 2.0.0 and 1.4.0"
expect_ok R unyank app:2.0.0
within 3 "unyanked, ^2 is 2.0.0 again" link_is '^2' 2.0.0

# A seal through the mount moves it too.
cp "$SRC/1.4.1" "$MNT/incoming/app/1.4.1"
within 3 "after cp into incoming/app/1.4.1, ^1 is 1.4.1" link_is '^1' 1.4.1
expect_eq "$(sha "$A/^1")" "$(sha "$SRC/1.4.1")" "and reads it"

# =============================================================================
diag "4. a plan pulls app:^1.2"
# =============================================================================

mkdir -p "$TEST_TMP/plans" "$TEST_TMP/hosts"
cat >"$TEST_TMP/plans/range.hades.yaml" <<EOF
hosts:
  web1: {addr: 127.0.0.1}
  web2: {addr: 127.0.0.1}
targets:
  web: [web1, web2]
registries:
  reg: {type: regfs, path: $STORE}
jobs:
  deploy:
    local: true
    actions:
      - pull: {registry: reg, name: app, tag: "^1.2", to: "$TEST_TMP/hosts/\${HADES_HOST_NAME}/opt/app", parents: true}
plans:
  deploy:
    steps:
      - {job: deploy, targets: [web]}
EOF
# The runs are recorded in a store of their own; the registry is the
# mounted store, read beside the daemon.
P() { (cd "$TEST_TMP" && setsid -w "$REGCTL" --store "$TEST_TMP/runs" "$@" </dev/null); }
expect_ok "regctl plan run of a pull of app:^1.2" -- P plan run deploy -f "$TEST_TMP/plans/range.hades.yaml"
expect_match "$OUT" "pinned reg/app:\^1\.2 $(digest_of 1.4.1)" "the run pins the range at its start, to 1.4.1's digest"
run=$(sed -n 's/^plan [^ ]*: run \([^ ]*\).*/\1/p' <<<"$OUT" | head -n 1)
for h in web1 web2; do
	expect_eq "$(sha "$TEST_TMP/hosts/$h/opt/app" 2>&1)" "$(sha "$SRC/1.4.1")" "$h got 1.4.1's bytes"
done
expect_status 0 P plan show "$run"
expect_match "$OUT" "pin +reg/app:\^1\.2 +$(digest_of 1.4.1)" "plan show records the pin under the ref as written"
expect_eq "$(P plan show "$run" --json | json_get 'sorted(d["pins"])')" "['reg/app:^1.2']" \
	"--json: one pin, named reg/app:^1.2"
# Yanked, 1.4.1 is passed over: the next run pins v1.3.0, executable.
expect_ok R yank app:1.4.1
expect_ok "a second run after the yank" -- P plan run deploy -f "$TEST_TMP/plans/range.hades.yaml"
expect_match "$OUT" "pinned reg/app:\^1\.2 $(digest_of v1.3.0)" "it pins v1.3.0"
expect_eq "$(sha "$TEST_TMP/hosts/web1/opt/app" 2>&1)" "$(sha "$SRC/v1.3.0")" "web1 got v1.3.0's bytes"
expect_eq "$(stat -c %a "$TEST_TMP/hosts/web1/opt/app" 2>&1)" 755 "with its mode"
sed -i 's/"\^1\.2"/"^7"/' "$TEST_TMP/plans/range.hades.yaml"
run_cmd P plan run deploy -f "$TEST_TMP/plans/range.hades.yaml"
expect_ne "$RC" 0 "a plan whose range matches nothing fails"
expect_match "$OUT" "no tag of 'app' matches '\^7'" "saying so"

regfs_umount "$MNT"
expect_ok "regctl fsck is clean" -- R fsck

# =============================================================================
diag "5. ranges over a pull-through upstream"
# =============================================================================

registry_start up
U=$REGISTRY_UP_URL
for t in 1.0.0 1.2.0 1.9.0 1.10.0 1.11.0-rc.1 2.0.0 latest 1.12.0; do mkrand "$SRC/up-$t" 8K; done
for t in 1.0.0 1.2.0 1.9.0 1.10.0 1.11.0-rc.1 2.0.0 latest; do
	oci_push_file "$U" app "$t" "$SRC/up-$t" >/dev/null
done
printf '[upstream up]\nurl = %s\nplain_http = true\ncredentials = none\nlist_ttl = 2s\n' \
	"$U" >"$TEST_TMP/up.conf"
S2=$TEST_TMP/s2
M2=$TEST_TMP/m2
UA=$M2/registry/app
R2() { "$REGCTL" --store "$S2" "$@"; }
link_is_up() { [[ $(readlink -- "$UA/$1" 2>/dev/null) == "$2" ]]; }
regfs_mount "$S2" "$M2" -o config="$TEST_TMP/up.conf"
expect_eq "$(R2 ls --json | json_get 'len(d)')" 0 "(nothing is pinned yet)"
expect_eq "$(readlink "$UA/^1" 2>&1)" 1.10.0 "^1 picks the upstream's highest 1.x: 1.10.0"
expect_eq "$(sha "$UA/^1")" "$(sha "$SRC/up-1.10.0")" "cat reads its bytes"
expect_match "$(R2 ls)" $'\n'"app +1\.10\.0 +sha256:" "the tag chosen is then pinned (regctl ls)"
expect_eq "$(readlink "$UA/~1.9" 2>&1)" 1.9.0 "~1.9 picks 1.9.0"
expect_eq "$(readlink "$UA/latest-stable" 2>&1)" 2.0.0 "latest-stable picks 2.0.0"
expect_eq "$(readlink "$UA/>=1.11.0-rc.1 <2" 2>&1)" 1.11.0-rc.1 "a range naming the prerelease picks it"
expect_errno EINVAL open "$UA/^1.2.3.4" r
expect_errno ENOENT open "$UA/^5" r
check "ls of the folder lists no range" eval '! grep -q "[\^~]" <<<"$(ls -1 "$UA")"'
# The tag list is kept for list_ttl: lookups of ranges in a burst ask the
# upstream for it at most once more.
lists() { registry_requests up GET '/v2/app/tags/list'; }
# A manifest request for a name with a range's characters (or escaped).
odd='/v2/app/manifests/[^/]*(%|[]^~<>=*,[])[^/]*'
n0=$(lists)
for r in '^1.2' '~1.10' '1.*' '>=1.0.0' '^2'; do readlink "$UA/$r" >/dev/null; done
n1=$(lists)
check "five lookups of ranges within list_ttl: at most one more tag list GET ($n0 -> $n1)" \
	test "$n1" -le $((n0 + 1))
check "no name with a range's characters was asked for as a tag upstream" \
	test "$(($(registry_requests up GET "$odd") + $(registry_requests up HEAD "$odd")))" -eq 0
oci_push_file "$U" app 1.12.0 "$SRC/up-1.12.0" >/dev/null
within 6 "a tag pushed upstream later is picked once list_ttl (2 s) has passed" link_is_up '^1' 1.12.0
expect_eq "$(sha "$UA/^1")" "$(sha "$SRC/up-1.12.0")" "and read"
expect_match "$(R2 ls)" $'\n'"app +1\.12\.0 +sha256:" "and pinned"
regfs_umount "$M2"
expect_status 0 R2 resolve --config "$TEST_TMP/up.conf" 'app@~1.2'
expect_eq "$OUT" "app:1.2.0 sha256:$(sha "$SRC/up-1.2.0")" \
	"regctl resolve --config, unmounted, resolves over the upstream's tags too"
expect_match "$(R2 ls)" $'\n'"app +1\.2\.0 +sha256:" "and pins the tag it chose"
expect_ok "regctl fsck of the pull-through store is clean" -- R2 fsck

done_testing
