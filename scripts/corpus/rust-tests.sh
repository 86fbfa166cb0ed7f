#!/usr/bin/env bash
# Accuracy corpus, shapes `libtest` and `nextest` (issue 19, shapes 8 and 1):
# plain `#[state_tracer::test(tokio::test)]` tests of examples/sqlx-tests, three
# test binaries (accounts, orders, reports; 15 ignored tests) on one shared
# database, run for real by both runners:
#   - cargo test: threads of one process per binary, binaries one after the
#     other (`--no-fail-fast`, else cargo stops at the first failing binary);
#     BDD_TRACE_RUN_ID set here so the three processes are one run;
#   - cargo nextest run: a process per test, binaries mixed; NEXTEST_RUN_ID
#     joins them into one run.
# Ground truth from the database itself (CORPUS_TRUTH, examples/corpus/src/truth.rs).
#
#   scripts/corpus/rust-tests.sh --out DIR --runs N [--postgres] [--threads T]
#
#   --out DIR     where the run folders go (DIR/libtest-NNN, DIR/nextest-NNN), required
#   --runs N      how many runs of each runner (default 5)
#   --postgres    a throw-away PostgreSQL server (scripts/lib/pg.sh), a fresh
#                 database per run; default: a fresh SQLite file per run
#   --threads T   test threads of both runners (default 4, a common CI runner)
#
# Each run folder: traces/, truth.jsonl, meta.json, report.json, suite.log.
# The analyzer is $TRACE_ANALYZER (e.g. a baseline build to compare), else
# target/debug/trace-analyzer (built). Then score with:
#   cargo run -q -p corpus -- score DIR/*-[0-9]*
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

out=
runs=5
postgres=false
threads=4
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --postgres) postgres=true; shift ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n "$out" ]] || { echo "--out DIR is required" >&2; usage >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive number" >&2; exit 2; }
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "--threads must be a positive number" >&2; exit 2; }
cargo nextest --version >/dev/null 2>&1 || {
  echo "cargo-nextest not installed (scripts/setup.sh installs it)" >&2
  exit 2
}

# The corpus binaries only: tests/pollution.rs has ignored tests of its own
# (checked by its e2e, with no ground truth).
binaries=(--test accounts --test orders --test reports)
filter='binary(accounts) | binary(orders) | binary(reports)'

echo "== building sqlx-tests' test binaries" >&2
cargo build -q -p sqlx-tests "${binaries[@]}"
if [[ -z "${TRACE_ANALYZER:-}" ]]; then
  target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  target_dir=${target_dir:-${CARGO_TARGET_DIR:-target}}
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

# A fresh, empty database for one run: $1 names it.
fresh_database() {
  if [[ $postgres == true ]]; then
    "$PG_BIN/dropdb" --if-exists -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1" 2>/dev/null
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
    echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
  else
    echo "sqlite://$dir/shop.sqlite?mode=rwc"
  fi
}

# The run ID the traces in $1 carry (one run per folder).
trace_run_id() {
  local first
  first=$(find "$1" -name 'bdd-state-trace-*.jsonl' | head -n 1)
  [[ -n "$first" ]] || return 1
  head -n 1 "$first" | sed -n 's/.*"run_id":"\([^"]*\)".*/\1/p'
}

# Runs the suite once under runner $1 into a fresh folder.
run_once() {
  local runner=$1 i=$2 url run_id rc
  dir=$(printf '%s/%s-%03d' "$out" "$runner" "$i")
  rm -rf "$dir"
  mkdir -p "$dir"
  url=$(fresh_database "shop_${runner}_$i")
  local -a cmd
  if [[ $runner == libtest ]]; then
    run_id="rust-tests-libtest-$db-$(date -u +%Y%m%dT%H%M%S)-$i-$$"
    cmd=(env BDD_TRACE_RUN_ID="$run_id"
      cargo test -q -p sqlx-tests "${binaries[@]}" --no-fail-fast
      -- --ignored --test-threads="$threads")
  else
    cmd=(cargo nextest run -p sqlx-tests --run-ignored only -E "$filter"
      --test-threads "$threads" --no-fail-fast)
  fi
  set +e
  # Nothing of an outer run (ours or a runner's) may leak into this one.
  env -u BDD_TRACE_RUN_ID -u NEXTEST_RUN_ID -u NEXTEST_EXECUTION_MODE \
    BDD_TRACE_STATE=1 BDD_TRACE_DIR="$dir/traces" CORPUS_TRUTH="$dir/truth.jsonl" \
    DATABASE_URL="$url" RUST_BACKTRACE=0 NO_COLOR=1 \
    "${cmd[@]}" >"$dir/suite.log" 2>&1
  rc=$?
  set -e
  touch "$dir/truth.jsonl"
  printf '{"shape":"%s","db":"%s"}\n' "$runner" "$db" >"$dir/meta.json"
  run_id=$(trace_run_id "$dir/traces") || {
    echo "   $runner run $i: no traces (see $dir/suite.log)" >&2
    return 1
  }
  "$TRACE_ANALYZER" report "$dir/traces" --run "$run_id" --format json --fail-on never \
    -o "$dir/report.json"
  echo "   $runner run $i: $(grep -c '"ev":"failed"' "$dir/truth.jsonl" || true) failed test(s), exit $rc"
}

echo "== $runs run(s) of each runner on $db, $threads test threads, into $out (analyzer: $TRACE_ANALYZER)"
for i in $(seq 1 "$runs"); do
  run_once libtest "$i"
  run_once nextest "$i"
done
echo "Score: cargo run -q -p corpus -- score $out/*-[0-9]*"
