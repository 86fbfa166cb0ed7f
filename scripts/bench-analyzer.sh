#!/usr/bin/env bash
# Benchmarks `trace-analyzer report` against `LC_ALL=C sort -m` over the same
# synthetic run (64 processes x 50,000 records by default, the first SHARING=2
# of them sharing one schema for the whole run, so their scenarios overlap
# thousands of times), plus peak RSS at two run sizes (3.2M and 6.4M records)
# to show memory grows neither with the record count nor with the overlaps.
#
#   scripts/bench-analyzer.sh                 # defaults
#   FILES=64 RECORDS=50000 BIG=100000 SHARING=2 RUNS=3 scripts/bench-analyzer.sh
#   BASELINE_BIN=/path/to/old/trace-analyzer scripts/bench-analyzer.sh  # before/after
#   ROUNDS=11 ...   # back-to-back rounds of sort -m and report for the per-round ratio
#
# Nextest-sized runs (thousands of one-test processes) and fully shared
# runs: scripts/bench-scale.sh.
#
# Timings are wall-clock, best of RUNS, page cache warm. Figures go in
# docs/performance.md (## Analyzer) together with the machine they ran on.
set -euo pipefail
cd "$(dirname "$0")/.."

FILES=${FILES:-64}
RECORDS=${RECORDS:-50000}
BIG=${BIG:-$((2 * RECORDS))}
SHARING=${SHARING:-2}
RUNS=${RUNS:-3}
WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-analyzer.XXXXXX")}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release -q -p trace-analyzer
BIN=$CARGO_TARGET_DIR/release/trace-analyzer

# best_of CMD...: prints "<best wall seconds> <max peak RSS KiB>" over RUNS runs.
# Wall time from bash's microsecond clock (/usr/bin/time rounds to 10 ms),
# each run starting after a `sync`.
best_of() {
  local best="" rss=0 tf wall kb t0 t1
  tf=$(mktemp)
  for _ in $(seq "$RUNS"); do
    # No dirty pages left by the previous command (sort -m writes temporary
    # files) to be written back while this one is timed.
    sync
    t0=$EPOCHREALTIME
    /usr/bin/time -o "$tf" -f "%M" "$@" >/dev/null 2>&1 || echo "bench: failed: $*" >&2
    t1=$EPOCHREALTIME
    wall=$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}")
    # The last line: a failing command adds "Command exited with ..." first.
    kb=$(tail -n 1 "$tf")
    if [[ -z $best ]] || awk "BEGIN{exit !($wall < $best)}"; then best=$wall; fi
    if ((kb > rss)); then rss=$kb; fi
  done
  rm -f "$tf"
  echo "$best $rss"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %10s %10s %8s %10s %8s %12s %12s\n' run "sort -m s" "legacy s" ratio "v1 s" ratio "RSS legacy" "RSS v1"
for n in "$RECORDS" "$BIG"; do
  dir=$WORK/run-$n
  if [[ ! -d $dir ]]; then
    "$BIN" gen --dir "$dir" --processes "$FILES" --records "$n" --sharing "$SHARING" 2>/dev/null
  fi
  cat "$dir"/legacy/* "$dir"/v1/* >/dev/null # warm the page cache
  read -r sort_s _ < <(best_of sh -c "LC_ALL=C sort -m '$dir'/legacy/*.log")
  read -r leg_s leg_kb < <(best_of "$BIN" report "$dir/legacy" --legacy-tz UTC --format json --fail-on never -o /dev/null)
  read -r v1_s v1_kb < <(best_of "$BIN" report "$dir/v1" --format json --fail-on never -o /dev/null)
  printf '%-22s %10s %10s %8s %10s %8s %9d KiB %9d KiB\n' "${FILES}x$n ($((FILES * n)) rec)" "$sort_s" "$leg_s" \
    "$(awk "BEGIN{printf \"%.2f\", $leg_s/$sort_s}")" "$v1_s" "$(awk "BEGIN{printf \"%.2f\", $v1_s/$sort_s}")" "$leg_kb" "$v1_kb"
  if [[ -n ${BASELINE_BIN:-} ]]; then
    read -r bleg_s bleg_kb < <(best_of "$BASELINE_BIN" report "$dir/legacy" --legacy-tz UTC --format json --fail-on never -o /dev/null)
    read -r bv1_s bv1_kb < <(best_of "$BASELINE_BIN" report "$dir/v1" --format json --fail-on never -o /dev/null)
    printf '%-22s %10s %10s %8s %10s %8s %9d KiB %9d KiB\n' "  baseline binary" "" "$bleg_s" \
      "$(awk "BEGIN{printf \"%.2f\", $bleg_s/$sort_s}")" "$bv1_s" "$(awk "BEGIN{printf \"%.2f\", $bv1_s/$sort_s}")" "$bleg_kb" "$bv1_kb"
  fi
done
echo "ratio = report time / sort -m time (target <= 0.7); legacy = the same text files sort -m reads."
# What the sharing processes cost in findings: groups and kept findings stay
# bounded while the overlaps grow with the run.
for n in "$RECORDS" "$BIG"; do
  "$BIN" report "$WORK/run-$n/v1" --format json --fail-on never 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
pairs = sum(h["pairs"] for h in r["hazards"])
print("%s: %d records, %d findings kept, %d hazard groups over %d scenario pairs"
      % (sys.argv[1], r["records"], len(r["findings"]), len(r["hazards"]), pairs))' "${FILES}x$n"
done

# Best-of-N flatters whichever side had the luckier minute on a shared
# machine, so also time the two back to back, ROUNDS times, and take the
# ratio per round.
dir=$WORK/run-$RECORDS
ratios=()
for _ in $(seq "${ROUNDS:-11}"); do
  read -r s _ < <(RUNS=1 best_of sh -c "LC_ALL=C sort -m '$dir'/legacy/*.log")
  read -r r _ < <(RUNS=1 best_of "$BIN" report "$dir/legacy" --legacy-tz UTC --format json --fail-on never -o /dev/null)
  ratios+=("$(awk "BEGIN{printf \"%.3f\", $r/$s}")")
done
printf 'per round (%s rounds, sorted): %s\n' "${#ratios[@]}" "$(printf '%s\n' "${ratios[@]}" | sort -n | tr '\n' ' ')"
printf 'median per-round ratio: %s\n' "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
echo "bytes: $(du -sh "$WORK"/run-"$RECORDS"/legacy | cut -f1) text, $(du -sh "$WORK"/run-"$RECORDS"/v1 | cut -f1) v1 at ${FILES}x$RECORDS"
[[ -n ${BENCH_DIR:-} ]] || rm -rf "$WORK"
