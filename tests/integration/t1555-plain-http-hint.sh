#!/bin/bash
# t1555-plain-http-hint: regctl's remote commands spoken over https to a
# registry that only speaks plain http fail with OpenSSL's "wrong version
# number", and now say what to do: "the registry speaks plain HTTP; use
# --plain-http" (issue 15, errors and messages). login, tags, health,
# pull, push and cp. No such hint for a registry that does speak TLS (an
# untrusted certificate) nor for a port where nothing listens.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=registry.sh
. "$(dirname "$0")/registry.sh"
[[ -x $REGCTL ]] || bail_out "no regctl at $REGCTL"

export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/xdg
mkdir -p "$HOME"
unset DOCKER_CONFIG REGFS_CREDENTIALS

R() { "$REGCTL" --store "$STORE" "$@"; }
HINT='the registry speaks plain HTTP; use --plain-http'

registry_start up --htpasswd alice:pw
H=$REGISTRY_UP_HOST
printf 'hello\n' >"$SRC/f"
oci_push_file "$REGISTRY_UP_URL" team/app v1 "$SRC/f" --user alice:pw >/dev/null
expect_ok R publish "$SRC/f" app:v1

expect_fail sh -c 'printf "pw\n" | "$1" login --password-stdin -u alice "$2"' _ "$REGCTL" "$H"
expect_match "$OUT" "^regctl: login to '$H' failed: .*\\($HINT\\)$" "login without --plain-http: the hint"
expect_fail R tags "$H/team/app"
expect_match "$OUT" "\\($HINT\\)$" "tags: the hint"
expect_fail R health "$H"
expect_match "$OUT" "\\($HINT\\)" "health: the hint"
expect_fail R pull "$H/team/app:v1"
expect_match "$OUT" "\\($HINT\\)$" "pull: the hint"
expect_fail R push app:v1 "$H/team/app:v2"
expect_match "$OUT" "\\($HINT\\)$" "push: the hint"
expect_fail R cp "$H/team/app:v1" "$H/team/app:v3"
expect_match "$OUT" "\\($HINT\\)$" "cp: the hint"
expect_ok sh -c 'printf "pw\n" | "$1" login --plain-http --password-stdin -u alice "$2"' _ "$REGCTL" "$H"
expect_ok R tags --plain-http "$H/team/app"

# A registry that speaks TLS, with a certificate nobody here trusts.
registry_start tls --tls
expect_fail R tags "$REGISTRY_TLS_HOST/team/app"
check "a TLS registry: no plain-http hint" _lib_not grep -qF "$HINT" <<<"$OUT"
# Nothing listening.
port=$(_reg_free_port)
expect_fail R tags "127.0.0.1:$port/team/app"
check "nothing listening: no plain-http hint" _lib_not grep -qF "$HINT" <<<"$OUT"

done_testing
