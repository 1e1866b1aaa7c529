#!/bin/bash
# t0600-regctl-remote: regctl's remote commands against the real
# Distribution registry on loopback: login (htpasswd basic and the bearer
# token flow; --password-stdin and a terminal prompt without echo; a wrong
# password saves nothing), logout, tags (plain, after login, a missing
# repository, refused), health (a registry, the configured upstreams, a
# registry down: a clear failure within the timeout), their JSON, usage
# errors (exit 2), and no secret ever in their output.
# shellcheck source-path=SCRIPTDIR disable=SC2016,SC2317 # literal $1 for bash -c
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

# A home of the test's own: no credentials of the machine's are used or
# touched. regctl login writes $XDG_CONFIG_HOME/regfs/credentials.json.
export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS
CREDS=$XDG_CONFIG_HOME/regfs/credentials.json

rc() { "$REGCTL" "$@"; }
# json_get EXPR: a Python expression on the JSON read from stdin (as d);
# fails on invalid JSON.
json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# login_stdin PASSWORD ARGS...: regctl login --password-stdin ARGS, the
# password (and a newline) on stdin; OUT and RC as run_cmd sets them.
login_stdin() {
	local pw=$1
	shift
	RC=0
	OUT=$(printf '%s\n' "$pw" | "$REGCTL" login --password-stdin "$@" 2>&1) || RC=$?
}
# creds_of FILE HOST: "user:password" saved for HOST in FILE.
creds_of() {
	python3 -c 'import base64, json, sys
print(base64.b64decode(json.load(open(sys.argv[1]))["auths"][sys.argv[2]]["auth"]).decode())' "$1" "$2"
}
mode_of() { stat -c %a "$1"; }
# no_secret TEXT SECRET...: none of the secrets (nor their base64) in TEXT.
no_secret() {
	local text=$1 s
	shift
	for s in "$@"; do
		[[ $text == *"$s"* ]] && return 1
		[[ $text == *"$(printf '%s' "$s" | base64 -w0)"* ]] && return 1
	done
	return 0
}

mkrand "$SRC/a" 4K
mkrand "$SRC/b" 4K

# --- usage ------------------------------------------------------------------------

for cmd in login logout tags health; do
	expect_status 0 rc "$cmd" --help
	expect_match "$OUT" "^usage: regctl $cmd" "regctl $cmd --help prints its usage"
done
expect_match "$(rc login --help)" "--plain-http.*oras" "--plain-http is documented as oras's"
expect_status 2 rc login
expect_status 2 rc login registry
expect_match "$OUT" "'registry' is not a registry host" "a host without '.' or ':' is refused, as Docker does"
expect_status 2 rc login https://127.0.0.1:5000
expect_status 2 rc login 127.0.0.1:5000/app
expect_status 2 rc login 127.0.0.1:99999
expect_status 2 rc login --password-stdin 127.0.0.1:5000
expect_match "$OUT" "--password-stdin needs --username" "--password-stdin without a user name"
expect_status 2 rc login -u alice 127.0.0.1:5000 </dev/null
expect_match "$OUT" "no terminal" "no password without a terminal or --password-stdin"
expect_status 2 rc login --bogus 127.0.0.1:5000
expect_status 2 rc login -u 127.0.0.1:5000
expect_status 2 rc login -u alice --password-stdin a.b c.d </dev/null
expect_status 2 bash -c 'printf "\n" | "$1" login -u alice --password-stdin 127.0.0.1:5000' _ "$REGCTL"
expect_match "$OUT" "empty password" "an empty password is refused"
expect_status 2 bash -c 'printf "pw" | "$1" login -u al:ice --password-stdin 127.0.0.1:5000' _ "$REGCTL"
expect_status 2 rc logout
expect_status 2 rc logout nohost
expect_status 2 rc tags
expect_status 2 rc tags app
expect_match "$OUT" "no registry host in 'app'" "tags wants HOST/REPO"
expect_status 2 rc tags 127.0.0.1:5000/app:v1
expect_status 2 rc tags 127.0.0.1:5000/App
expect_status 2 rc tags 127.0.0.1:5000/a 127.0.0.1:5000/b
expect_status 2 rc health --timeout never 127.0.0.1:5000
expect_status 2 rc health --timeout 2x 127.0.0.1:5000
expect_status 2 rc health a.b c.d
expect_status 2 rc health --json --bogus
check "no credentials file after usage errors" test ! -e "$CREDS"

# --- an anonymous registry: tags and health ----------------------------------------

registry_start plain
P=$REGISTRY_PLAIN_HOST
oci_push_file "$REGISTRY_PLAIN_URL" team/app v1 "$SRC/a" >/dev/null
oci_push_file "$REGISTRY_PLAIN_URL" team/app v2 "$SRC/b" >/dev/null

expect_status 0 rc tags --plain-http "$P/team/app"
expect_eq "$OUT" $'v1\nv2' "tags lists the remote tags, one a line"
expect_status 0 rc tags --plain-http --json "$P/team/app"
expect_eq "$(json_get 'd' <<<"$OUT")" "['v1', 'v2']" "tags --json is a JSON array of names"
expect_status 1 rc tags --plain-http "$P/team/nosuch"
expect_eq "$OUT" "regctl: no repository 'team/nosuch' at '$P'" "tags of a missing repository: a clear message"
run_timed rc tags "$P/team/app"
expect_eq "$RC" 1 "without --plain-http, https is spoken (and fails on a plain http registry)"
check "and fails quickly (took $ELAPSED ms)" test "$ELAPSED" -lt 10000

expect_status 0 rc health --plain-http "$P"
expect_match "$OUT" "^$P http://$P ok [0-9]+ ms$" "health: 'NAME URL ok N ms'"
expect_status 0 rc health --plain-http --json "$P"
expect_eq "$(json_get '[d[0][k] for k in ("name", "url", "ok", "reachable", "auth")]' <<<"$OUT")" \
	"['$P', 'http://$P', True, True, True]" "health --json: name, url, ok, reachable, auth"
expect_match "$(json_get 'd[0]["latency_ms"]' <<<"$OUT")" '^[0-9]+$' "health --json: latency in ms"

# --- htpasswd basic ----------------------------------------------------------------

registry_start basic --htpasswd alice:open-sesame
B=$REGISTRY_BASIC_HOST
oci_push_file "$REGISTRY_BASIC_URL" team/app v1 "$SRC/a" --user alice:open-sesame >/dev/null

expect_status 1 rc tags --plain-http "$B/team/app"
expect_match "$OUT" "^regctl: cannot list the tags of 'team/app' at '$B': .*401" \
	"tags before login: refused, and says so"
expect_status 1 rc health --plain-http "$B"
expect_match "$OUT" "^$B http://$B failed: .*401" "health before login: 'NAME URL failed: ...'"
rc health --plain-http --json "$B" >"$TEST_TMP/h.json" 2>/dev/null || :
expect_eq "$(json_get '[d[0]["ok"], d[0]["reachable"], d[0]["auth"]]' <"$TEST_TMP/h.json")" \
	"[False, True, False]" "health --json before login: reachable, auth refused"

login_stdin not-the-password --plain-http -u alice "$B"
expect_eq "$RC" 1 "login with a wrong password exits 1"
expect_match "$OUT" "^regctl: login to '$B' failed: .*(401|refused)" "and says the login failed"
check "a wrong password is not saved (no credentials file)" test ! -e "$CREDS"
check "a wrong password is not printed" no_secret "$OUT" not-the-password

login_stdin open-sesame --plain-http -u alice "$B"
expect_eq "$RC" 0 "login with the right password exits 0"
expect_eq "$OUT" "Login Succeeded" "and prints 'Login Succeeded'"
check "the credentials file is written" test -f "$CREDS"
expect_eq "$(mode_of "$CREDS")" 600 "with mode 0600"
expect_eq "$(creds_of "$CREDS" "$B")" alice:open-sesame "under the registry's host:port"
sum=$(sha "$CREDS")

login_stdin wrong-again --plain-http -u alice "$B"
expect_eq "$RC" 1 "a wrong password after a good login exits 1"
expect_eq "$(sha "$CREDS")" "$sum" "and leaves the saved credentials as they were"

# Docker's --password-stdin drops one final newline; CRLF too.
RC=0
OUT=$(printf 'open-sesame\r\n' | rc login --password-stdin --plain-http -u alice "$B" 2>&1) || RC=$?
expect_eq "$RC" 0 "a password ending in CRLF is taken without it"

expect_status 0 rc tags --plain-http "$B/team/app"
expect_eq "$OUT" v1 "tags after login uses the saved credentials"
expect_status 0 rc health --plain-http "$B"
expect_match "$OUT" "^$B http://$B ok [0-9]+ ms$" "health after login: ok"

# A terminal: the user name and the password are asked, the password
# without echo.
pty_login() {
	python3 - "$REGCTL" "$@" <<'EOF'
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "login", "--plain-http", sys.argv[2]])
out = b""
def until(marker, secs=10):
    global out
    end = time.time() + secs
    while marker not in out and time.time() < end:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    return marker in out
if until(b"Username: "):
    os.write(fd, sys.argv[3].encode() + b"\n")
def echo_off(secs=10):
    # The prompt is printed before echo goes off; the master sees the
    # terminal's flags.
    end = time.time() + secs
    while termios.tcgetattr(fd)[3] & termios.ECHO and time.time() < end:
        time.sleep(0.01)
if until(b"Password: "):
    echo_off()
    os.write(fd, sys.argv[4].encode() + b"\n")
until(b"\x00", 20)  # read to the end
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
}
rm -f "$CREDS"
RC=0
OUT=$(pty_login "$B" alice open-sesame 2>&1) || RC=$?
expect_eq "$RC" 0 "login on a terminal exits 0"
expect_match "$OUT" "Username: alice" "the user name is asked, and echoed"
expect_match "$OUT" "Login Succeeded" "and the login succeeds"
check "the password is not echoed on the terminal" no_secret "$OUT" open-sesame
expect_eq "$(creds_of "$CREDS" "$B")" alice:open-sesame "the prompted credentials are saved"

expect_status 0 rc logout "$B"
expect_eq "$OUT" "Removing login credentials for $B" "logout says what it removed"
check "logout removed the host" python3 -c 'import json, sys
sys.exit(sys.argv[2] in json.load(open(sys.argv[1])).get("auths", {}))' "$CREDS" "$B"
expect_status 1 rc tags --plain-http "$B/team/app"
expect_status 1 rc logout "$B"
expect_eq "$OUT" "regctl: not logged in to '$B'" "logout when not logged in: exit 1, a clear message"

# REGFS_CREDENTIALS names the file instead.
export REGFS_CREDENTIALS=$TEST_TMP/elsewhere/creds.json
login_stdin open-sesame --plain-http -u alice "$B"
expect_eq "$RC" 0 "login with REGFS_CREDENTIALS set"
expect_eq "$(mode_of "$REGFS_CREDENTIALS")" 600 "writes that file, mode 0600"
expect_eq "$(creds_of "$REGFS_CREDENTIALS" "$B")" alice:open-sesame "with the credentials"
expect_status 0 rc logout "$B"
unset REGFS_CREDENTIALS

# --- bearer token --------------------------------------------------------------------

registry_start tok --token bob:tok-pass
T=$REGISTRY_TOK_HOST
oci_push_file "$REGISTRY_TOK_URL" team/app v3 "$SRC/a" --token-auth bob:tok-pass >/dev/null
# Its token service is plain http on another port: credentials go there
# only when allowed (t1545 tests the refusal).
export REGCTL_PLAIN_REALM_CREDENTIALS=1

expect_status 1 rc tags --plain-http "$T/team/app"
login_stdin nope-nope --plain-http -u bob "$T"
expect_eq "$RC" 1 "token: login with a wrong password exits 1"
expect_match "$OUT" "^regctl: login to '$T' failed: .*(401|refused)" "token: and says the login failed"
check "token: a wrong password is not saved" _lib_not grep -qF "\"$T\"" "$CREDS"
check "token: a wrong password is not printed" no_secret "$OUT" nope-nope
login_stdin tok-pass --plain-http -u bob "$T"
expect_eq "$RC" 0 "token: login with the right password exits 0"
expect_eq "$(creds_of "$CREDS" "$T")" bob:tok-pass "token: the credentials are saved"
check "token: the token service was asked for bob" grep -q 'user=bob -> 200' "$REGISTRY_TOK_TOKEN_LOG"
expect_status 0 rc tags --plain-http --json "$T/team/app"
expect_eq "$(json_get 'd' <<<"$OUT")" "['v3']" "token: tags after login"
expect_status 0 rc health --plain-http "$T"

# --- health of the configured upstreams; a registry down -----------------------------

cat >"$TEST_TMP/regfs.conf" <<EOF
[upstream anon]
url = http://$P
plain_http = true
prefix = anon/
timeout = 2s
retries = 1
backoff = 100ms

[upstream locked]
url = http://$T
plain_http = true
plain_realm_credentials = true
prefix = locked/
timeout = 2s
retries = 1
backoff = 100ms
EOF
expect_status 0 rc health --config "$TEST_TMP/regfs.conf"
expect_eq "$(awk '{ print $1, $2, $3 }' <<<"$OUT" | tr '\n' ';')" \
	"anon http://$P ok;locked http://$T ok;" "health checks every configured upstream"
expect_status 0 rc health --config "$TEST_TMP/regfs.conf" --json
expect_eq "$(json_get '[(u["name"], u["ok"]) for u in d]' <<<"$OUT")" \
	"[('anon', True), ('locked', True)]" "health --config --json"
expect_status 0 rc health --config "$TEST_TMP/regfs.conf" "$T"
expect_match "$OUT" "^locked http://$T ok" "health REGISTRY --config: the configured upstream of that host"

registry_stop plain
run_timed rc health --config "$TEST_TMP/regfs.conf"
expect_eq "$RC" 1 "health with a registry down exits 1"
expect_match "$OUT" "(^|"$'\n'")anon http://$P failed: .*(refused|connect)" "and says which one failed, and why"
expect_match "$OUT" "(^|"$'\n'")locked http://$T ok" "the other one is still ok"
check "it fails within the timeout (2 s; took $ELAPSED ms)" test "$ELAPSED" -lt 6000
rc health --config "$TEST_TMP/regfs.conf" --json >"$TEST_TMP/h.json" 2>/dev/null || :
expect_eq "$(json_get '[(u["name"], u["ok"], u["reachable"]) for u in d]' <"$TEST_TMP/h.json")" \
	"[('anon', False, False), ('locked', True, True)]" "health --json: the one down is not reachable"

run_timed rc health --plain-http --timeout 2s "$P"
expect_eq "$RC" 1 "health of a dead port exits 1"
expect_match "$OUT" "^$P http://$P failed: " "with a 'failed:' line"
check "within --timeout (2 s; took $ELAPSED ms)" test "$ELAPSED" -lt 6000

run_timed rc tags --plain-http "$P/team/app"
expect_eq "$RC" 1 "tags of a registry down exits 1"
expect_match "$OUT" "^regctl: cannot list the tags of 'team/app' at '$P': " "with a clear message"

done_testing
