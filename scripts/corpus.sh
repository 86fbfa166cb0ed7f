#!/usr/bin/env bash
# The accuracy corpus (issue 19, section 1): runs suite shapes for real, each
# run with ground truth from the database, analyzes every run, and scores the
# analyzer against the truth into DIR/accuracy.md (also printed).
#
#   scripts/corpus.sh [--runs N] [--postgres] [--seed S] [--out DIR] [--no-others] [SHAPE...]
#
#   SHAPE...      Rust shapes of examples/corpus (default: all registered;
#                 `target/debug/corpus list`), or py-* shapes of the Python
#                 producer (scripts/corpus/python.sh); naming shapes skips
#                 the other producers' scripts
#   --runs N      runs per shape (default 5)
#   --postgres    a throw-away PostgreSQL server (scripts/lib/pg.sh), a fresh
#                 database per run; default: a fresh SQLite file per run
#   --seed S      base seed (default 1): run k of a shape uses S*1000+k
#   --out DIR     default: corpus-output/<timestamp>
#   --no-others   only the Rust shapes, not scripts/corpus/*.sh
#
# Layout: DIR/<shape>/run-NNN/{traces/,truth.jsonl,meta.json,report.json,*.log},
# the other producers' run folders under DIR/<script name>/.
# The analyzer is $TRACE_ANALYZER (e.g. a baseline build to compare), else
# target/debug/trace-analyzer (built here).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

runs=5
postgres=false
seed=1
out="corpus-output/$(date -u +%Y%m%dT%H%M%SZ)"
others=true
shapes=()
py_shapes=()
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --postgres) postgres=true; shift ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-others) others=false; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    py-*) py_shapes+=("$1"); others=false; shift ;;
    *) shapes+=("$1"); others=false; shift ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive number" >&2; exit 2; }

echo "== building corpus${TRACE_ANALYZER:+ (analyzer: $TRACE_ANALYZER)}" >&2
cargo build --quiet -p corpus
# Where cargo puts binaries (CARGO_TARGET_DIR may move it).
bin_dir=${CARGO_TARGET_DIR:-$PWD/target}/debug
if [[ -z "${TRACE_ANALYZER:-}" ]]; then
  cargo build --quiet -p trace-analyzer
  TRACE_ANALYZER=$bin_dir/trace-analyzer
fi
export TRACE_ANALYZER
mkdir -p "$out/.bin"
out=$(cd "$out" && pwd)
# A copy of our own: the runs re-execute it, and a rebuild of
# target/debug/corpus during the runs must not pull it away.
cp "$bin_dir/corpus" "$out/.bin/corpus"
corpus=$out/.bin/corpus
((${#shapes[@]} + ${#py_shapes[@]})) || mapfile -t shapes < <("$corpus" list)

pg_args=()
db=sqlite
if [[ $postgres == true ]]; then
  source scripts/lib/pg.sh
  pg_start
  pg_args=(--postgres "$PG_URL")
  db=postgres
fi

for shape in "${shapes[@]}"; do
  echo "== $shape ($db): $runs run(s)" >&2
  "$corpus" run "$shape" "${pg_args[@]}" --runs "$runs" --seed "$seed" --out "$out/$shape"
done

if ((${#py_shapes[@]})); then
  echo "== ${py_shapes[*]} ($db): $runs run(s) each" >&2
  flags=(--out "$out/python" --runs "$runs" --shapes "$(IFS=,; echo "${py_shapes[*]}")")
  [[ $postgres == true ]] && flags+=(--postgres)
  bash scripts/corpus/python.sh "${flags[@]}"
fi

# ---- Other producers (scripts/corpus/*.sh, written separately) -------------
# Same run-folder layout; each takes `--out DIR --runs N [--postgres]` and
# starts its own PostgreSQL server when asked. A failing producer is reported
# and skipped, so the rest still gets scored.
if [[ $others == true ]]; then
  for producer in scripts/corpus/*.sh; do
    [[ -f "$producer" ]] || continue
    name=$(basename "$producer" .sh)
    # The rescorer is no producer.
    [[ $name == rescore ]] && continue
    echo "== $name ($db): $runs run(s)" >&2
    flags=(--out "$out/$name" --runs "$runs")
    [[ $postgres == true ]] && flags+=(--postgres)
    bash "$producer" "${flags[@]}" || echo "warning: $producer failed (exit $?)" >&2
  done
fi
# ---------------------------------------------------------------------------

mapfile -t dirs < <(find "$out" -name meta.json -printf '%h\n' | sort)
((${#dirs[@]})) || { echo "error: no run folders under $out" >&2; exit 2; }
"$corpus" score "${dirs[@]}" | tee "$out/accuracy.md"
echo "== $out/accuracy.md" >&2
