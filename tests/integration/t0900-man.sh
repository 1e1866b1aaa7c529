#!/bin/bash
# t0900-man.sh - the man pages are lint-clean and document what the programs
# offer: every regctl command has a section in regctl(1), and every -o option
# that regfs --help lists is described in regfs(8), and every key the
# configuration parser accepts in regfs.conf(5).
# shellcheck source-path=SCRIPTDIR
# shellcheck source-path=SCRIPTDIR disable=SC2012,SC2016,SC2002,SC2317 # tools as users use them
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_cmd mandoc groff
man_dir=$REGFS_SOURCE_DIR/man
pages=("$man_dir/regfs.8" "$man_dir/regctl.1" "$man_dir/regctl-plan.1" "$man_dir/regfs.conf.5")

for page in "${pages[@]}"; do
	name=${page##*/}
	check "$name exists" test -s "$page"

	# Warnings and errors; style-level notes are not failures.
	run_cmd mandoc -Tlint -W warning "$page"
	expect_eq "$OUT" "" "mandoc -Tlint finds nothing in $name"

	run_cmd groff -ww -z -man "$page"
	expect_eq "$OUT" "" "groff -ww -z -man warns of nothing in $name"

	if command -v man >/dev/null; then
		# man -l runs the whole pipeline (preconv, tbl, groff) as a reader does.
		OUT=$(MANWIDTH=80 man -l --warnings=all "$page" 2>&1 >/dev/null) || :
		expect_eq "$OUT" "" "man -l --warnings=all is quiet for $name"
		out=$(MANWIDTH=80 man -l "$page" 2>/dev/null | col -b) || :
		expect_match "$out" "NAME.*SYNOPSIS.*DESCRIPTION.*SEE ALSO" "$name renders with its sections"
	fi
done

# regctl --help lists its commands between "Commands:" and a blank line.
run_cmd "$REGCTL" --help
expect_eq "$RC" 0 "regctl --help exits 0"
commands=$(awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }' <<<"$OUT")
expect_ne "$commands" "" "regctl --help lists commands"
for cmd in $commands; do
	check "regctl.1 has a section for '$cmd'" grep -qx "\.SS $cmd" "$man_dir/regctl.1"
	run_cmd "$REGCTL" "$cmd" --help
	expect_eq "$RC" 0 "regctl $cmd --help exits 0"
done

# Every "-o NAME" in regfs --help (its own and libfuse's) appears in regfs.8
# as a tagged paragraph (.B NAME, .BI NAME= value).
run_cmd "$REGFS" --help
expect_eq "$RC" 0 "regfs --help exits 0"
opts=$(grep -oE -- '-o +[a-z_][a-z0-9_]*' <<<"$OUT" | awk '{ print $2 }' | sort -u)
expect_ne "$opts" "" "regfs --help lists -o options"
for opt in $opts; do
	check "regfs.8 describes '-o $opt'" grep -qE "^\.(B|BI|BR) $opt(=| |\$)" "$man_dir/regfs.8"
done

# Every key of an upstream section (the parser's table in core/config.c) and
# the global keys (cache_max, seal_hook, seal_hook_timeout, max_tag_size,
# open_timeout) have a tagged paragraph (.BI KEY " = " ...) in regfs.conf(5).
keys=$(sed -n '/upstream_keys\[\] = {/,/^};/p' "$REGFS_SOURCE_DIR/core/config.c" |
	grep -oE '\{ "[a-z_]+", key_' | cut -d'"' -f2)
expect_ne "$keys" "" "the upstream keys are found in core/config.c"
for key in $keys cache_max seal_hook seal_hook_timeout max_tag_size open_timeout; do
	check "regfs.conf.5 describes '$key'" grep -qE "^\.BI $key \" = \"" "$man_dir/regfs.conf.5"
done

done_testing
