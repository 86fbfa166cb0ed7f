#!/usr/bin/env bash
# The traced demo: builds the demo suite (examples/bdd-demo) and the analyzer,
# runs the suite's three feature processes in parallel on one shared SQLite
# file with tracing on, and prints the analyzer's report naming the polluter
# and the victim. Artifacts (traces, merged timeline, JSON/Markdown/HTML
# reports) go to a folder named at the end.
#
# The victim ("greet: Welcome page for a newly registered user") fails only
# when another process's cleanup lands inside its window, so the demo retries
# a bounded number of times until it does. Exits 0 when the demo worked
# (the victim failed and the analyzer named the polluter), even though the
# suite itself failed: finding that is the point. It ends with the
# `trace-analyzer confirm` command that proves the named polluter.
#
#   scripts/demo.sh [--out DIR] [--attempts N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

out="demo-output/$(date -u +%Y%m%dT%H%M%SZ)"
attempts=10
while (($#)); do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --attempts) attempts=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

build_binaries
out=$(abs_dir "$out")
victim='Welcome page for a newly registered user'

for attempt in $(seq 1 "$attempts"); do
  dir="$out/attempt-$attempt"
  mkdir -p "$dir"
  run_id="demo-$(date -u +%Y%m%dT%H%M%S)-$attempt"
  echo "== attempt $attempt/$attempts: auth, greet and admin in parallel on $dir/demo.sqlite (run $run_id)"
  set +e
  DATABASE_URL="sqlite://$dir/demo.sqlite" BDD_TRACE_STATE=1 BDD_TRACE_DIR="$dir/traces" \
    BDD_TRACE_RUN_ID="$run_id" "$BDD_DEMO" suite >"$dir/suite.log" 2>&1
  suite_rc=$?
  set -e
  grep -A4 '^==== summary' "$dir/suite.log" | tail -n +2 | sed 's/^/   /'
  "$TRACE_ANALYZER" report "$dir/traces" --run "$run_id" --format csv --fail-on never -o "$dir/report.csv"
  if ((suite_rc != 0)) && grep -q "^concurrent-mutation,error,true,[0-9]*,greet,$victim,FAILED," "$dir/report.csv"; then
    echo "   the victim failed: analyzing"
    break
  fi
  echo "   the victim passed this time (no other process's cleanup hit its window); retrying"
  if ((attempt == attempts)); then
    echo "error: the victim never failed in $attempts attempts; artifacts in $out" >&2
    exit 1
  fi
done

traces="$dir/traces"
"$TRACE_ANALYZER" merge "$traces" --run "$run_id" --format text -o "$dir/timeline.txt"
"$TRACE_ANALYZER" report "$traces" --run "$run_id" --format json --fail-on never -o "$dir/report.json"
"$TRACE_ANALYZER" report "$traces" --run "$run_id" --format markdown --fail-on never -o "$dir/report.md"
"$TRACE_ANALYZER" report "$traces" --run "$run_id" --format html --fail-on never -o "$dir/report.html" 2>/dev/null ||
  echo "   (no HTML report: this trace-analyzer cannot write one yet)"
ln -sfn "attempt-$attempt" "$out/latest"

"$TRACE_ANALYZER" report "$traces" --run "$run_id" --format table --fail-on never -o "$dir/report.txt"

echo
echo "== trace-analyzer report (the whole report: $dir/report.txt)"
# Summary and likely causes; the full findings table follows them in report.txt.
sed '/^Findings$/,$d' "$dir/report.txt"
echo
echo "Artifacts in $dir:"
echo "  traces/        one trace file per feature process (JSON Lines, docs/format.md)"
echo "  timeline.txt   every process's records merged in time order"
echo "  report.txt     the analyzer's report as printed on a terminal"
echo "  report.json    findings, the stable JSON contract"
echo "  report.md      the same for a CI job summary"
[[ -f "$dir/report.html" ]] && echo "  report.html    the timeline in a browser"
echo "  suite.log      the suite's own output (cucumber)"
echo
echo "The fix, to see the findings go away:"
echo "  BDD_SCHEMA_ISOLATION=true scripts/validate-test-suite.sh 3"
# The polluter the report named for the victim (CSV columns 9-10: its
# feature and scenario), to prove it by re-running just the two scenarios.
polluter=$(grep -m1 "^concurrent-mutation,error,true,[0-9]*,greet,$victim,FAILED," "$dir/report.csv" | cut -d, -f9,10 | sed 's/,/: /')
echo
echo "Next: prove the culprit by re-running just the two scenarios (the victim alone, then with it; each run traced):"
echo "  DATABASE_URL=sqlite://$dir/demo.sqlite $TRACE_ANALYZER confirm $traces --run $run_id \\"
echo "    --victim 'greet: $victim' --polluter '$polluter' --attempts 3 --yes"
echo
echo "Or all of it in one command, the suite run, its report and every failure's cause confirmed by reruns:"
echo "  DATABASE_URL=sqlite://$out/one-command.sqlite $TRACE_ANALYZER run --confirm -- $BDD_DEMO suite"
