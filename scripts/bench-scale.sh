#!/usr/bin/env bash
# Benchmarks `trace-analyzer report` on nextest-sized and fully shared runs
# (issue 21), against `LC_ALL=C sort -m` over the same files, with peak RSS,
# JSON size, hazard groups and kept findings; with BASELINE_BIN, the same
# for an older binary (before/after on the same files, same minute).
#
#   scripts/bench-scale.sh                         # all shapes
#   SHAPES="one-test-4000 at-once-400" scripts/bench-scale.sh
#   BASELINE_BIN=/path/to/old/trace-analyzer BASELINE_TIMEOUT=300 scripts/bench-scale.sh
#
# Shapes (all written by the hidden `gen` subcommand, v1 and text):
#   one-test-4000   4,000 one-test processes, 16 at a time, one shared schema
#   one-test-20000  20,000 such processes
#   at-once-400     400 one-test processes all at once, one shared schema
#   sharing-64      64 processes x 50,000 records, all sharing (3.2M records)
# Timings are wall-clock, best of RUNS (default 1), page cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
SHAPES=${SHAPES:-one-test-4000 one-test-20000 at-once-400 sharing-64}
WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-scale.XXXXXX")}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release -q -p trace-analyzer
BIN=$CARGO_TARGET_DIR/release/trace-analyzer

gen_args() {
  case $1 in
    one-test-4000) echo "--processes 4000 --records 10 --scenario-len 10 --concurrency 16 --sharing 4000" ;;
    one-test-20000) echo "--processes 20000 --records 10 --scenario-len 10 --concurrency 16 --sharing 20000" ;;
    at-once-400) echo "--processes 400 --records 10 --scenario-len 10 --sharing 400" ;;
    sharing-64) echo "--processes 64 --records 50000 --sharing 64" ;;
    *) echo "unknown shape $1" >&2; exit 2 ;;
  esac
}

# best_of TIMEOUT CMD...: "<best wall seconds> <max peak RSS KiB>" over RUNS
# runs; "timeout 0" when a run exceeded TIMEOUT seconds.
best_of() {
  local limit=$1 best="" rss=0 tf wall kb t0 t1 rc
  shift
  tf=$(mktemp)
  for _ in $(seq "$RUNS"); do
    sync
    t0=$EPOCHREALTIME
    rc=0
    timeout "$limit" /usr/bin/time -o "$tf" -f "%M" "$@" >/dev/null 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    if ((rc == 124)); then
      rm -f "$tf"
      echo "timeout 0"
      return
    fi
    wall=$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}")
    kb=$(tail -n 1 "$tf")
    if [[ -z $best ]] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    if ((kb > rss)); then rss=$kb; fi
  done
  rm -f "$tf"
  echo "$best $rss"
}

# facts JSON: its bytes, hazard groups, findings kept.
facts() {
  python3 -c '
import json, os, sys
r = json.load(open(sys.argv[1]))
print(os.path.getsize(sys.argv[1]), len(r["hazards"]), len(r["findings"]))' "$1"
}

ratio() { if [[ $1 == timeout ]]; then echo "-"; else awk "BEGIN{printf \"%.2f\", $1/$2}"; fi; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %-9s %-6s %9s %9s %7s %10s %11s %7s %9s\n' shape binary format "sort -m s" "report s" ratio "RSS MiB" "JSON bytes" groups findings
for shape in $SHAPES; do
  dir=$WORK/$shape
  if [[ ! -d $dir ]]; then
    # shellcheck disable=SC2046
    "$BIN" gen --dir "$dir" $(gen_args "$shape") >/dev/null 2>&1
  fi
  find "$dir" -type f -print0 | xargs -0 cat >/dev/null # warm the page cache
  read -r sort_s _ < <(best_of 600 sh -c "find '$dir/legacy' -name '*.log' -print0 | sort -z | LC_ALL=C sort -m --files0-from=- >/dev/null")
  for which in after before; do
    bin=$BIN
    limit=600
    if [[ $which == before ]]; then
      [[ -n ${BASELINE_BIN:-} ]] || continue
      bin=$BASELINE_BIN
      limit=${BASELINE_TIMEOUT:-300}
    fi
    for fmt in v1 legacy; do
      tz=()
      [[ $fmt == legacy ]] && tz=(--legacy-tz UTC)
      out=$WORK/$shape-$which-$fmt.json
      read -r s kb < <(best_of "$limit" "$bin" report "$dir/$fmt" "${tz[@]}" --format json --fail-on never -o "$out")
      if [[ $s == timeout ]]; then
        printf '%-16s %-9s %-6s %9s %9s %7s %10s %11s %7s %9s\n' "$shape" "$which" "$fmt" "$sort_s" "> $limit" - - - - -
        continue
      fi
      read -r bytes groups findings < <(facts "$out")
      rm -f "$out"
      printf '%-16s %-9s %-6s %9s %9s %7s %10d %11d %7d %9d\n' "$shape" "$which" "$fmt" "$sort_s" "$s" \
        "$(ratio "$s" "$sort_s")" "$((kb / 1024))" "$bytes" "$groups" "$findings"
    done
  done
done
echo "ratio = report time / sort -m time over the same text files."
[[ -n ${BENCH_DIR:-} ]] || rm -rf "$WORK"
