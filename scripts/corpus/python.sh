#!/usr/bin/env bash
# Accuracy-corpus shapes py-soft-delete, py-counter, py-settings, py-ddl, py-tx,
# py-cleanup, py-migrations, py-mixed: a Python suite (examples/corpus/python/
# suite.py, traced by tracer.py, a writer built from docs/format.md alone by an
# outside audit), worker processes on one shared SQLite file, ground truth from
# the database (examples/corpus/python/README.md).
#
#   scripts/corpus/python.sh --out DIR [--runs N] [--shapes LIST] [--workers W]
#                            [--per-worker S] [--seed S] [--postgres]
#
#   --runs N        runs per shape (default 3)
#   --shapes LIST   comma list, with or without the py- prefix (default: all
#                   eight); also $PY_SHAPES
#   --workers W     worker processes per run (default 6)
#   --per-worker S  scenarios each worker runs (default 40)
#   --seed S        base seed (default 1): run k uses S*100+k
#   --postgres      SQLite only: says so and runs nothing
#
# Writes DIR/py-<shape>-sqlite-<k>/{traces/,truth.jsonl,meta.json,report.json}
# and prints the score table. Analyzer: $TRACE_ANALYZER (e.g. a baseline build
# to compare), else target/debug/trace-analyzer (built).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

all=soft_delete,counter,settings,ddl,tx,cleanup,migrations,mixed
out="" runs=3 shapes=${PY_SHAPES:-$all} workers=6 per_worker=40 seed=1
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --per-worker) per_worker=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --postgres) echo "python.sh: the Python shapes run on SQLite only; nothing to do" >&2; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n $out ]] || { usage >&2; exit 2; }
for n in "$runs" "$workers" "$per_worker" "$seed"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "--runs, --workers, --per-worker and --seed take numbers" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "python3 is required (scripts/setup.sh installs it)" >&2; exit 2; }
# py-soft-delete -> soft_delete, the suite's own name.
mapfile -t shapes < <(tr ',' '\n' <<<"$shapes" | sed 's/^py-//; s/-/_/g' | grep .)
for s in "${shapes[@]}"; do
  [[ ,$all, == *,$s,* ]] || { echo "unknown shape $s (known: $all)" >&2; exit 2; }
done

if [[ -z ${TRACE_ANALYZER:-} ]]; then
  target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  cargo build -q -p trace-analyzer
  TRACE_ANALYZER=${target_dir:-${CARGO_TARGET_DIR:-target}}/debug/trace-analyzer
fi

mkdir -p "$out"
dirs=()
for s in "${shapes[@]}"; do
  for k in $(seq 1 "$runs"); do
    dir="$out/py-${s//_/-}-sqlite-$k"
    rm -rf "$dir"
    python3 examples/corpus/python/suite.py run --shape "$s" --out "$dir" --workers "$workers" \
      --per-worker "$per_worker" --seed $((seed * 100 + k))
    "$TRACE_ANALYZER" report "$dir/traces" --run "$(cat "$dir/run_id")" --format json --fail-on never \
      -o "$dir/report.json"
    rm -f "$dir"/app.db*
    dirs+=("$dir")
  done
done

cargo run -q -p corpus -- score "${dirs[@]}"
