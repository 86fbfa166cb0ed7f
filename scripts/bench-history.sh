#!/usr/bin/env bash
# Benchmarks the cross-run history (issue 12) with the release binary on a
# synthetic history of HISTORY_RUNS runs x SCENARIOS scenario runs each
# (10,000 x 200 = 2M scenario rows by default), on SQLite and on a
# throw-away PostgreSQL server (scripts/lib/pg.sh):
#
#   - `history flaky` (default window 14d: the whole synthetic history);
#   - `history add` of a 3-process run (`trace-analyzer gen`), against
#     `report` of the same run as the baseline (add = analysis + write);
#   - `report --history` against plain `report` of the same run (the
#     difference is what the history adds: store the run + annotate).
#
#   scripts/bench-history.sh
#   BACKENDS=postgres scripts/bench-history.sh                          # one backend
#   HISTORY_RUNS=1000 SCENARIOS=200 REPEAT=5 scripts/bench-history.sh   # quicker
#
# Wall-clock times, best and median of REPEAT; every `add` and `report
# --history` gets a fresh run, so each one really writes. Figures go in
# docs/performance.md (## Cross-run history).
set -euo pipefail
cd "$(dirname "$0")/.."

HISTORY_RUNS=${HISTORY_RUNS:-10000}
SCENARIOS=${SCENARIOS:-200}
REPEAT=${REPEAT:-5}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-history.XXXXXX")
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p trace-analyzer
BIN=$CARGO_TARGET_DIR/release/trace-analyzer

source scripts/lib/pg.sh
pg_start
trap 'pg_stop; rm -rf "$WORK"' EXIT

# ms CMD...: wall milliseconds of one run of CMD (output discarded).
ms() {
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@" >&2 || true; exit 1; }
  t1=$EPOCHREALTIME
  awk "BEGIN{printf \"%.1f\", ($t1 - $t0) * 1000}"
}

# stats V...: "best X ms, median Y ms".
stats() {
  printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END{printf "best %.1f ms, median %.1f ms", v[1], v[int((NR+1)/2)]}'
}

# fresh_run N: a new 3-process run (12 scenarios, 600 records, a few findings).
fresh_run() {
  local d="$WORK/runs/r$1"
  "$BIN" gen --dir "$d" --processes 3 --records 200 --format v1 --run-id "bench-add-$$-$1" >/dev/null 2>&1
  echo "$d/v1"
}
n=0

echo "== history: $HISTORY_RUNS runs x $SCENARIOS scenario runs, REPEAT=$REPEAT, $(nproc) CPUs"
for backend in ${BACKENDS:-sqlite postgres}; do
  if [[ $backend == sqlite ]]; then url="sqlite://$WORK/history.sqlite"; else url=$PG_URL; fi
  t0=$EPOCHREALTIME
  "$BIN" history synth --runs "$HISTORY_RUNS" --scenarios "$SCENARIOS" --db "$url" 2>/dev/null
  fill=$(awk "BEGIN{printf \"%.0f\", $EPOCHREALTIME - $t0}")
  if [[ $backend == postgres ]]; then
    # What autovacuum does on its own after a bulk insert (PostgreSQL 13+
    # vacuums insert-only tables): statistics and the visibility map, which
    # index-only scans need. Timed once before it, for the record.
    echo "   report --history before VACUUM: $(ms "$BIN" report "$(fresh_run v1)" --format json --fail-on never "--history=$url") ms (one run)"
    psql -q "$url" -c 'VACUUM ANALYZE' >/dev/null
  fi
  runs=$("$BIN" history flaky --db "$url" --since all --format json | sed -n 's/^  "runs": \([0-9]*\).*/\1/p')
  echo "-- $backend: filled in ${fill}s ($runs runs stored)"

  "$BIN" history flaky --db "$url" >/dev/null # warm the cache
  v=(); for _ in $(seq "$REPEAT"); do v+=("$(ms "$BIN" history flaky --db "$url")"); done
  echo "   history flaky:               $(stats "${v[@]}")"
  "$BIN" history flaky --db "$url" | grep '^- ' | head -1 | cut -c1-160

  a=(); b=(); for _ in $(seq "$REPEAT"); do
    n=$((n + 1)); r=$(fresh_run $n)
    b+=("$(ms "$BIN" report "$r" --format json --fail-on never)")
    a+=("$(ms "$BIN" history add "$r" --db "$url")")
  done
  echo "   history add (3 processes):   $(stats "${a[@]}")   [baseline report of the same run: $(stats "${b[@]}")]"

  p=(); h=(); for _ in $(seq "$REPEAT"); do
    n=$((n + 1)); r=$(fresh_run $n)
    p+=("$(ms "$BIN" report "$r" --format json --fail-on never)")
    h+=("$(ms "$BIN" report "$r" --format json --fail-on never "--history=$url")")
  done
  echo "   report:                      $(stats "${p[@]}")"
  echo "   report --history:            $(stats "${h[@]}")"
done
