#!/usr/bin/env bash
# The README's test command: every test in the workspace, against real SQLite
# files, a real PostgreSQL server the tests start themselves, headless
# Chromium and cargo-nextest. Installs whatever of those is missing first
# (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# cargo's own output as it comes, and one summary line at the end: the
# totals of every test binary's "test result:" line.
log=$(mktemp "${TMPDIR:-/tmp}/state-tracer-test.XXXXXX")
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-features "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { bins++; p += $4; f += $6; i += $8 }
     END { printf "scripts/test.sh: %d passed, %d failed, %d ignored, in %d test binaries and doc-test sets\n", p, f, i, bins }' "$log"
if ((rc != 0)); then
  echo "scripts/test.sh: FAILED (cargo test exited with $rc; the first failure is above)" >&2
fi
exit "$rc"
