#!/usr/bin/env bash
# Accuracy corpus, shape `cucumber-mixed` (issue 19, shape 13): the bdd-demo
# crate's second suite (`bdd-demo suite --shape mixed`, features-mixed/):
# three cucumber-rs feature processes on one shared database, cucumber's
# default concurrency inside each, before hooks that seed, after hooks that
# clean (catalog empties the shop's tables, orders and accounts delete only
# their own rows), one genuine bug. Ground truth from the database itself
# (CORPUS_TRUTH, examples/corpus/src/truth.rs).
#
#   scripts/corpus/cucumber.sh --out DIR --runs N [--postgres] [--seed S]
#
#   --out DIR     where the run folders go (DIR/run-NNN), required
#   --runs N      how many runs (default 5)
#   --postgres    a throw-away PostgreSQL server (scripts/lib/pg.sh), a fresh
#                 database per run; default: a fresh SQLite file per run
#   --seed S      BDD_SEED: repeatable simulated network latencies
#
# Each run folder: traces/, truth.jsonl, meta.json, report.json, suite.log.
# The suite is $BDD_DEMO when set (a built bdd-demo), else built here.
# The analyzer is $TRACE_ANALYZER (e.g. a baseline build to compare), else
# target/debug/trace-analyzer (built). Then score with:
#   cargo run -q -p corpus -- score DIR/run-*
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

out=
runs=5
postgres=false
seed=${BDD_SEED:-}
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --postgres) postgres=true; shift ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || { echo "--out DIR is required" >&2; usage >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive number" >&2; exit 2; }

target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-${CARGO_TARGET_DIR:-target}}
bdd_demo=${BDD_DEMO:-}
if [[ -z "$bdd_demo" ]]; then
  echo "== building bdd-demo" >&2
  cargo build -q -p bdd-demo
  bdd_demo="$target_dir/debug/bdd-demo"
fi
if [[ -z "${TRACE_ANALYZER:-}" ]]; then
  cargo build -q -p trace-analyzer
  TRACE_ANALYZER="$target_dir/debug/trace-analyzer"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
db=sqlite
if [[ $postgres == true ]]; then
  source scripts/lib/pg.sh
  pg_start
  db=postgres
fi

echo "== $runs run(s) of the mixed cucumber suite on $db into $out (analyzer: $TRACE_ANALYZER)"
for i in $(seq 1 "$runs"); do
  dir=$(printf '%s/run-%03d' "$out" "$i")
  rm -rf "$dir"
  mkdir -p "$dir"
  run_id="cucumber-mixed-$db-$(date -u +%Y%m%dT%H%M%S)-$i-$$"
  if [[ $postgres == true ]]; then
    # A fresh database per run: nothing left over from the run before.
    name="mixed_$i"
    "$PG_BIN/dropdb" --if-exists -h 127.0.0.1 -p "$PG_PORT" -U postgres "$name"
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$name"
    url="postgres://postgres@127.0.0.1:$PG_PORT/$name"
  else
    url="sqlite://$dir/suite.sqlite"
  fi
  set +e
  env DATABASE_URL="$url" BDD_SCHEMA_ISOLATION=false ${seed:+BDD_SEED="$seed"} \
    CORPUS_TRUTH="$dir/truth.jsonl" BDD_TRACE_STATE=1 BDD_TRACE_DIR="$dir/traces" \
    BDD_TRACE_RUN_ID="$run_id" "$bdd_demo" suite --shape mixed >"$dir/suite.log" 2>&1
  rc=$?
  set -e
  touch "$dir/truth.jsonl"
  rm -f "$dir"/suite.sqlite*
  printf '{"shape":"cucumber-mixed","db":"%s"}\n' "$db" >"$dir/meta.json"
  "$TRACE_ANALYZER" report "$dir/traces" --run "$run_id" --format json --fail-on never \
    -o "$dir/report.json"
  failed=$(grep -c '"ev":"failed"' "$dir/truth.jsonl" || true)
  echo "   run $i: suite $([[ $rc == 0 ]] && echo passed || echo FAILED), $failed failed scenario(s) in the truth"
done
