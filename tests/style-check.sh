#!/bin/bash
# tests/style-check.sh - every C file of the project is as clang-format
# (with the .clang-format at the top) would write it. Run by ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v clang-format >/dev/null; then
	echo "clang-format is not installed: skipped"
	exit 77
fi
bad=0
while IFS= read -r f; do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run clang-format -i $f)"
		bad=$((bad + 1))
	fi
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find core fuse tools tests -name '*.[ch]')
if ((bad)); then
	echo "$bad files need clang-format"
	exit 1
fi
echo "all C files are formatted"
