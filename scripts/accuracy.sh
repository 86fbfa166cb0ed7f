#!/usr/bin/env bash
# The accuracy harness: runs the demo suite N times (default 20), each run
# traced and with ground truth on (BDD_GROUND_TRUTH: every cleanup records
# which rows it really deleted and which scenario had written them), analyzes
# each run with `trace-analyzer report --format json`, and scores the
# analyzer against the ground truth with the corpus scorer (`corpus score`,
# examples/corpus/src/score.rs; docs/accuracy.md): top-1, recall,
# likely-cause polluters per failed victim, errors on passing scenarios.
#
#   scripts/accuracy.sh [N] [options]
#
#   N                    runs (default 20; per shape with --shapes)
#   --shapes LIST        instead of the demo, the Python producer shapes
#                        (scripts/corpus/python.sh): a comma list such as
#                        py-counter,py-tx, or `py` for all eight
#   --postgres           start a throw-away PostgreSQL server (scripts/lib/pg.sh)
#   --database-url URL   default: a fresh SQLite file per run
#   --seed S             BDD_SEED: repeatable simulated network latencies
#   --out DIR            default: accuracy-output/<timestamp>
#
# Writes DIR/run-NNN/{traces/,suite.log,truth.jsonl,meta.json,report.json} and
# DIR/accuracy.md (the table, also printed). Exits 0 when every run was
# scored, 2 on a usage or scoring error. docs/accuracy.md has the results.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

runs=20
database_url=${DATABASE_URL:-}
postgres=false
seed=${BDD_SEED:-}
shapes=
out="accuracy-output/$(date -u +%Y%m%dT%H%M%SZ)"
while (($#)); do
  case "$1" in
    --postgres) postgres=true; shift ;;
    --database-url) database_url=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    [0-9]*) runs=$1; shift ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number" >&2; exit 2; }

if [[ -n $shapes ]]; then
  [[ $postgres == false && -z $database_url ]] ||
    { echo "--shapes: the Python shapes run on a fresh SQLite file only" >&2; exit 2; }
  [[ $shapes == py ]] && shapes=
  mkdir -p "$out"
  PY_SHAPES=$shapes scripts/corpus/python.sh --out "$out" --runs "$runs" ${seed:+--seed "$seed"} |
    tee "$out/accuracy.md"
  echo "Runs: $out/py-*/ (report.json, truth.jsonl, traces/)"
  exit 0
fi

prepare_runs

echo "== $runs run(s) of the demo suite, db=${database_url:-fresh SQLite file per run}${seed:+, seed=$seed}"
dirs=()
for i in $(seq 1 "$runs"); do
  dir=$(printf '%s/run-%03d' "$out" "$i")
  mkdir -p "$dir"
  run_id="accuracy-$(date -u +%Y%m%dT%H%M%S)-$i-$$"
  url=${database_url:-"sqlite://$dir/suite.sqlite"}
  set +e
  env DATABASE_URL="$url" BDD_SCHEMA_ISOLATION=false ${seed:+BDD_SEED="$seed"} \
    BDD_GROUND_TRUTH="$dir/truth.jsonl" BDD_TRACE_STATE=1 BDD_TRACE_DIR="$dir/traces" \
    BDD_TRACE_RUN_ID="$run_id" "$BDD_DEMO" suite >"$dir/suite.log" 2>&1
  rc=$?
  set -e
  touch "$dir/truth.jsonl"
  printf '{"shape":"demo","db":"%s"}\n' "$([[ $url == postgres* ]] && echo postgres || echo sqlite)" >"$dir/meta.json"
  "$TRACE_ANALYZER" report "$dir/traces" --run "$run_id" --format json --fail-on never -o "$dir/report.json"
  echo "   run $i: suite $([[ $rc == 0 ]] && echo passed || echo FAILED)"
  dirs+=("$dir")
done

echo
cargo build --quiet -p corpus
"$(dirname "$BDD_DEMO")/corpus" score "${dirs[@]}" | tee "$out/accuracy.md"
echo
echo "Runs: $out/run-*/ (report.json, truth.jsonl, traces/, suite.log)"
