#!/bin/bash
# t1605-catalog-busy: regctl waits for a catalog another process holds for
# a moment (a daemon recovering the WAL after a kill -9, a checkpoint)
# instead of failing at once with "cannot open catalog ...: database is
# locked": the busy timeout is set before the first statement of the open.
# Found by tests/soak (issue 15).
# shellcheck source-path=SCRIPTDIR disable=SC2016 # wait_until evaluates its snippet
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
require_cmd python3

printf 'one\n' >"$SRC/f"
expect_ok "a store" -- "$REGCTL" --store "$STORE" publish --init "$SRC/f" app:v0

# hold SECONDS: an exclusive lock on the catalog, as SQLite's own WAL
# recovery takes one; "held" on stdout once it is taken.
hold() {
	python3 - "$STORE/catalog.db" "$1" <<'EOF'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute('PRAGMA locking_mode=EXCLUSIVE')
c.execute('BEGIN EXCLUSIVE')
c.execute('SELECT count(*) FROM sqlite_master').fetchall()
print('held', flush=True)
time.sleep(float(sys.argv[2]))
c.execute('COMMIT')
c.close()
EOF
}

hold 2 >"$TEST_TMP/held" &
holder=$!
track_pid "$holder"
wait_until 10 'grep -q held "$TEST_TMP/held"' || bail_out "the lock was not taken"
run_timed "$REGCTL" --store "$STORE" publish "$SRC/f" app:v1
expect_eq "$RC" 0 "regctl publish waits for the lock and succeeds"
diag "it took ${ELAPSED} ms: $OUT"
reap "$holder"

hold 2 >"$TEST_TMP/held" &
holder=$!
track_pid "$holder"
wait_until 10 'grep -q held "$TEST_TMP/held"' || bail_out "the lock was not taken"
expect_ok "regctl ls (read-only) waits too" -- "$REGCTL" --store "$STORE" ls app
expect_match "$OUT" 'v1' "and lists the tag"
reap "$holder"
expect_ok "fsck is clean" -- "$REGCTL" --store "$STORE" fsck
done_testing
