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
# Usage: scripts/bench-html.sh [RUNS]     (default 5; BIG=0 skips the 3.2M/6.4M part)
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

# ---- Big runs (issue 14): 64 processes × 50,000 and × 100,000 records ------
# Side by side in this run, on the same files: the table report (baseline),
# `report --format html` (level of detail), and `export --format chrome`
# (gzip). Peak RSS from GNU time; the 3.2M page is loaded in Chromium
# (median load to first draw) and every finding of the report is checked
# drawn and clickable. BIG=0 skips this part; BIG_DIR=path keeps the
# generated runs there (they take 1.2 and 2.4 GB) for a second invocation.
[[ ${BIG:-1} == 0 ]] && exit 0
big=${BIG_DIR:-$work/big}
mkdir -p "$big"
measure() { # label, command... -> "seconds peakKB" on stdout
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; }
  cat "$work/time.txt"
}
echo
echo "| records | command | wall time | peak RSS | output |"
echo "|---:|---|---:|---:|---:|"
declare -A rss
for per in 50000 100000; do
  records=$((64 * per))
  dir="$big/run-$records"
  [[ -d $dir/v1 ]] || "$bin" gen --dir "$dir" --processes 64 --records "$per" --pollutions 4 --format v1 --run-id "big-$records" >/dev/null 2>&1
  sync
  read -r t_table m_table < <(measure "$bin" report "$dir/v1" --fail-on never)
  read -r t_html m_html < <(measure "$bin" report "$dir/v1" --format html -o "$work/big-$records.html" --fail-on never)
  read -r t_chrome m_chrome < <(measure "$bin" export "$dir/v1" -o "$work/big-$records.json.gz")
  rss[$records]=$m_html
  size() { du -h "$1" | cut -f1; }
  echo "| $records | \`report\` (table) | ${t_table} s | $((m_table / 1024)) MB | — |"
  echo "| $records | \`report --format html\` | ${t_html} s ($(awk "BEGIN{printf \"%.2f\", $t_html/$t_table}")× table) | $((m_html / 1024)) MB | $(size "$work/big-$records.html") |"
  echo "| $records | \`export --format chrome -o trace.json.gz\` | ${t_chrome} s | $((m_chrome / 1024)) MB | $(size "$work/big-$records.json.gz") |"
  if [[ $records == 3200000 ]]; then
    "$bin" report "$dir/v1" --format json --fail-on never > "$work/big.json" 2>/dev/null
    (cd "$driver" && node driver.js bench "$work/big-$records.html" "$runs") > "$work/big-times.json"
    (cd "$driver" && node driver.js findings "$work/big-$records.html" "$work/big.png") > "$work/big-findings.json"
  fi
done
echo
node -e '
  const fs = require("fs");
  const t = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const ms = t.map((r) => r.firstDrawMs).sort((a, b) => a - b), c = t[0].counts;
  const f = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const report = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
  const hit = f.findings.filter((x, i) => x.hit === i).length;
  const clicked = f.selectedAfterClick.filter((s, i) => s === i).length;
  console.log(`3.2M page in Chromium: load to first draw median ${ms[Math.floor(ms.length / 2)].toFixed(0)} ms (min ${ms[0].toFixed(0)}, max ${ms[ms.length - 1].toFixed(0)}, ${ms.length} loads); ${c.scenarios} scenarios, ${c.markers} markers, ${c.aggregates} aggregates`);
  console.log(`findings: ${report.findings.length} in the report, ${c.findings} on the page, ${hit} drawn and hit-tested, ${clicked} selected by clicking their row; page errors: ${f.pageErrors.length + f.console.length}`);
' "$work/big-times.json" "$work/big-findings.json" "$work/big.json"
echo "html peak RSS 6.4M vs 3.2M: $(awk "BEGIN{printf \"%+.1f %%\", (${rss[6400000]} - ${rss[3200000]}) * 100 / ${rss[3200000]}}")"
