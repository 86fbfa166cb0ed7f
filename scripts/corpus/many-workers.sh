#!/usr/bin/env bash
# Accuracy-corpus shape many-workers-16 / many-workers-32: a Python suite
# (scripts/corpus/many-workers.py, traced by the format.md-only writer
# v1trace.py) run N times; each run is 16 or 32 worker processes and ~2,000
# scenarios on one shared database. Each run is analyzed (wall time and
# report size are measured) and all runs are scored.
#
#   scripts/corpus/many-workers.sh --out DIR --runs N [--postgres] [--workers 16|32|16,32]
#                                  [--scenarios 2000] [--wipe-rate 0.015] [--seed S]
#
#   --workers     worker processes per run; a comma list runs each size
#                 (default 16,32: N runs of each)
#   --postgres    a throw-away PostgreSQL server (scripts/lib/pg.sh); needs
#                 pip install "psycopg[binary]"
#
# Writes DIR/many-workers-<W>-<db>-<k>/{traces/,truth.jsonl,meta.json,
# report.json,analyzer.json} and prints the score table. Analyzer:
# $TRACE_ANALYZER (e.g. a baseline build to compare), else
# target/debug/trace-analyzer (built).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

out="" runs=3 postgres=false workers=16,32 scenarios=2000 wipe_rate=0.015 seed=""
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --postgres) postgres=true; shift ;;
    --workers) workers=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --wipe-rate) wipe_rate=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n $out ]] || { usage >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ && $workers =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
  { echo "--runs takes a positive number, --workers a comma list of them" >&2; exit 2; }

if [[ -z ${TRACE_ANALYZER:-} ]]; then
  cargo build -q -p trace-analyzer
  TRACE_ANALYZER=target/debug/trace-analyzer
fi

db=sqlite pg_args=()
if [[ $postgres == true ]]; then
  python3 -c 'import psycopg' 2>/dev/null ||
    { echo 'error: --postgres needs psycopg: pip install "psycopg[binary]"' >&2; exit 2; }
  source scripts/lib/pg.sh
  pg_start
  db=postgres pg_args=(--postgres "$PG_URL")
fi

mkdir -p "$out"
dirs=()
for w in ${workers//,/ }; do
for k in $(seq 1 "$runs"); do
  dir="$out/many-workers-$w-$db-$k"
  rm -rf "$dir"
  python3 scripts/corpus/many-workers.py run --out "$dir" --workers "$w" --scenarios "$scenarios" \
    --wipe-rate "$wipe_rate" ${seed:+--seed $((seed + k))} "${pg_args[@]}"
  start=$(date +%s.%N)
  "$TRACE_ANALYZER" report "$dir/traces" --run "$(cat "$dir/run_id")" --format json --fail-on never \
    -o "$dir/report.json"
  end=$(date +%s.%N)
  trace_bytes=$(cat "$dir"/traces/* | wc -c)
  records=$(cat "$dir"/traces/* | wc -l)
  report_bytes=$(wc -c <"$dir/report.json")
  wall=$(echo "$end - $start" | bc)
  printf '{"wall_s":%.3f,"report_bytes":%d,"trace_bytes":%d,"records":%d}\n' \
    "$wall" "$report_bytes" "$trace_bytes" "$records" >"$dir/analyzer.json"
  echo "   analyzer: $(cat "$dir/analyzer.json")" >&2
  dirs+=("$dir")
done
done

cargo run -q -p corpus -- score "${dirs[@]}"
