#!/bin/bash
# tests/test-lint.sh - shapes in the integration tests that make a check
# depend on timing. Run by ctest.
#
# wait_until SECS test "$(count)" -eq 2 expands $(count) once, when
# wait_until is called, and then polls a constant: a check that passes or
# fails by luck. A poll of a value is given as one single-quoted snippet,
# which wait_until evaluates afresh each time (see lib.sh):
#   wait_until 5 'test "$(count)" -eq 2'
# Flagged here: wait_until whose command (after line continuations) is
# test, [ or [[ with a $(...) in it, not quoted as one snippet.
#
# cmd | grep -q PATTERN in the tests' shell, which runs with pipefail:
# grep quits at the first match, and cmd, still writing, dies of SIGPIPE,
# which fails the pipeline though the pattern was found (ldd | grep -q
# libasan did so in CI). grep -q PATTERN <<<"$(cmd)" reads it all.
# Flagged here: "| grep -q" (any grep options with q) outside sh -c and
# bash -c, which run without pipefail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/integration"
bad=$(awk '
	FNR == 1 { logical = ""; start = 0 }
	{
		if (logical == "") start = FNR
		line = $0
		if (sub(/\\$/, "", line)) { logical = logical line " "; next }
		logical = logical line
		if (match(logical, /wait_until[ \t]+[0-9.]+[ \t]+(test|\[\[?)[ \t]/)) {
			cmd = substr(logical, RSTART)
			n = split("|| && ;", ends, " ")
			for (i = 1; i <= n; i++)
				if ((p = index(cmd, ends[i])) > 0)
					cmd = substr(cmd, 1, p - 1)
			if (index(cmd, "$("))
				printf "%s:%d: %s\n", FILENAME, start, logical
		}
		logical = ""
	}' ./*.sh)
status=0
if [[ -n $bad ]]; then
	printf '%s\n' "$bad"
	echo "wait_until polls a \$(...) only when given as one single-quoted snippet"
	status=1
fi
bad=$(grep -HnE '\|[[:space:]]*grep[[:space:]]+(-[[:alpha:]]*q|--quiet)' ./*.sh |
	grep -vE '(^|[^[:alnum:]_])(ba)?sh -c' || :)
if [[ -n $bad ]]; then
	printf '%s\n' "$bad"
	echo "under pipefail, cmd | grep -q fails when cmd outlives grep: grep -q PATTERN <<<\"\$(cmd)\""
	status=1
fi
((status)) || echo "no wait_until polls a constant; no cmd | grep -q under pipefail"
exit "$status"
