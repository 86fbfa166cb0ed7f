#!/usr/bin/env bash
# Runs the demo suite N times with tracing on, each iteration with its own
# run ID and trace folder, analyzes every iteration, then prints per
# iteration pass/fail and findings, and finally the flaky scenarios (failed
# in some iterations, not all) with the findings that explain their failures
# and how often each polluter was present. Every iteration is also recorded
# in a history database of its own (OUT/history.sqlite), and the script ends
# with `trace-analyzer history flaky` over those runs.
#
#   scripts/validate-test-suite.sh [N] [options]
#
#   N                    iterations (default 3)
#   --sequential         one feature process after another (default: parallel)
#   --isolation          BDD_SCHEMA_ISOLATION=true: a schema (Postgres) or a
#                        database file (SQLite) per process
#   --no-jwt-reset       BDD_JWT_RESET=false: reproduce the JWT secret leak
#   --database-url URL   default: a fresh SQLite file per iteration
#   --postgres           start a throw-away PostgreSQL server (scripts/lib/pg.sh)
#   --seed S             BDD_SEED: repeatable simulated network latencies
#   --out DIR            default: validate-output/<timestamp>
#
# The environment's BDD_SCHEMA_ISOLATION, BDD_JWT_RESET, DATABASE_URL and
# BDD_SEED are used as defaults. Exits 0 when every iteration passed, 1 when
# any failed, 2 on a usage error.
#
# Examples:
#   scripts/validate-test-suite.sh 5                       # find the flaky ones
#   scripts/validate-test-suite.sh 5 --isolation           # the fix: all green
#   scripts/validate-test-suite.sh 3 --no-jwt-reset --sequential
#   scripts/validate-test-suite.sh 3 --postgres --isolation
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }

iterations=3
mode=parallel
isolation=${BDD_SCHEMA_ISOLATION:-false}
jwt_reset=${BDD_JWT_RESET:-true}
database_url=${DATABASE_URL:-}
postgres=false
seed=${BDD_SEED:-}
out="validate-output/$(date -u +%Y%m%dT%H%M%SZ)"
while (($#)); do
  case "$1" in
    --sequential) mode=sequential; shift ;;
    --parallel) mode=parallel; shift ;;
    --isolation) isolation=true; shift ;;
    --no-isolation) isolation=false; shift ;;
    --no-jwt-reset) jwt_reset=false; shift ;;
    --jwt-reset) jwt_reset=true; shift ;;
    --database-url) database_url=$2; shift 2 ;;
    --postgres) postgres=true; shift ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    [0-9]*) iterations=$1; shift ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$iterations" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number" >&2; exit 2; }

prepare_runs

echo "== $iterations iteration(s): $mode, isolation=$isolation, jwt_reset=$jwt_reset, db=${database_url:-fresh SQLite file per iteration}${seed:+, seed=$seed}"
suite_args=(suite)
[[ $mode == sequential ]] && suite_args+=(--sequential)
any_failed=0
dirs=()
for i in $(seq 1 "$iterations"); do
  dir=$(printf '%s/iter-%03d' "$out" "$i")
  mkdir -p "$dir"
  run_id="validate-$(date -u +%Y%m%dT%H%M%S)-$i-$$"
  url=${database_url:-"sqlite://$dir/suite.sqlite"}
  start=$(date +%s.%N)
  set +e
  env DATABASE_URL="$url" BDD_SCHEMA_ISOLATION="$isolation" BDD_JWT_RESET="$jwt_reset" \
    ${seed:+BDD_SEED="$seed"} BDD_TRACE_STATE=1 BDD_TRACE_DIR="$dir/traces" BDD_TRACE_RUN_ID="$run_id" \
    "$BDD_DEMO" "${suite_args[@]}" >"$dir/suite.log" 2>&1
  rc=$?
  set -e
  echo "$rc" >"$dir/rc"
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  "$TRACE_ANALYZER" report "$dir/traces" --run "$run_id" --format json --fail-on never -o "$dir/report.json"
  "$TRACE_ANALYZER" report "$dir/traces" --run "$run_id" --format markdown --fail-on never -o "$dir/report.md"
  "$TRACE_ANALYZER" history add "$dir/traces" --run "$run_id" --db "$out/history.sqlite" \
    --label "mode=$mode" --label "isolation=$isolation" --label "jwt_reset=$jwt_reset" >/dev/null
  ((rc == 0)) || any_failed=1
  echo "   iteration $i: $([[ $rc == 0 ]] && echo passed || echo FAILED) in ${secs}s ($dir)"
  dirs+=("$dir")
done

echo
"$BDD_DEMO" summarize "${dirs[@]}"
echo
echo "Reports and traces: $out/iter-*/ (report.md, report.json, traces/, suite.log)"
echo
"$TRACE_ANALYZER" history flaky --db "$out/history.sqlite" --since all
echo "(history of these runs: $out/history.sqlite; ask it more with trace-analyzer history pairs|runs --db $out/history.sqlite --since all)"
exit "$any_failed"
