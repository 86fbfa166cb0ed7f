#!/usr/bin/env bash
# HTML timeline render benchmark (docs/performance.md, "HTML timeline").
#
# Generates synthetic runs of 1k, 10k and 100k records (16 processes, a few
# planted pollutions: `trace-analyzer gen`), renders each with
# `report --format html`, then loads each page RUNS times in headless
# Chromium (Debian's /usr/bin/chromium driven by playwright-core) and reports
# the median of "load to first complete draw": performance.now() taken by the
# page right after its first full canvas draw, i.e. from navigation start,
# HTML and JSON parsing included. The small runs are the baseline for the
# page's fixed cost, measured in the same run.
#
# Usage: scripts/bench-html.sh [RUNS]     (default 5)
# Needs: cargo, node + npm, chromium. Not a test: timings never gate CI.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
target=${CARGO_TARGET_DIR:-target}

cargo build --release -q -p trace-analyzer
bin="$target/release/trace-analyzer"
driver=analyzer/tests/browser
[[ -d $driver/node_modules/playwright-core ]] || (cd "$driver" && npm ci --no-audit --no-fund --loglevel=error)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(uname -sr), $(/usr/bin/chromium --version 2>/dev/null || echo chromium ?), node $(node --version)"
echo
echo "| records | processes | scenarios | markers | HTML size | report --format html | load to first draw (median of $runs) | min | max | full redraw (median) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for records in 1000 10000 100000; do
  dir="$work/run-$records"
  "$bin" gen --dir "$dir" --processes 16 --records $((records / 16)) --pollutions 4 --format v1 --run-id "bench-$records" >/dev/null 2>&1
  html="$work/report-$records.html"
  start=$(date +%s%N)
  "$bin" report "$dir/v1" --format html -o "$html" --fail-on never >/dev/null 2>&1
  render_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  size=$(du -h "$html" | cut -f1)
  (cd "$driver" && node driver.js bench "$html" "$runs") > "$work/times.json"
  node -e '
    const t = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const ms = t.map((r) => r.firstDrawMs).sort((a, b) => a - b);
    const c = t[0].counts, med = ms[Math.floor(ms.length / 2)];
    const rd = t.map((r) => r.redrawMs).sort((a, b) => a - b)[Math.floor(t.length / 2)];
    console.log(`| ${process.argv[2]} | ${c.processes} | ${c.scenarios} | ${c.markers} | ${process.argv[3]} | ${process.argv[4]} ms | **${med.toFixed(0)} ms** | ${ms[0].toFixed(0)} ms | ${ms[ms.length - 1].toFixed(0)} ms | ${rd.toFixed(1)} ms |`);
  ' "$work/times.json" "$records" "$size" "$render_ms"
done
