#!/usr/bin/env bash
# How often `confirm` confirms the demo's known culprit with its default
# settings (issue 24's target: 19 of 20). Runs the traced demo suite until
# the greet victim fails with a named likely cause, then `confirm --finding
# N --yes` on that run N times, each into a fresh folder, and counts the
# verdicts. Also times `run --confirm` on the demo.
#
#   scripts/confirm-rate.sh [--times N] [--out DIR]
#
# Real processes on a real SQLite file; nothing here is pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."

times=20
out="confirm-rate/$(date -u +%Y%m%dT%H%M%SZ)"
while (($#)); do
  case "$1" in
    --times) times=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$times" =~ ^[1-9][0-9]*$ ]] || { echo "--times must be a positive number" >&2; exit 2; }

cargo build -q -p bdd-demo -p trace-analyzer
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
ta="$target_dir/debug/trace-analyzer"
demo="$target_dir/debug/bdd-demo"
mkdir -p "$out"
out=$(cd "$out" && pwd)
victim='Welcome page for a newly registered user'

# 1. A run where the victim failed with a likely cause.
finding=
for attempt in $(seq 1 20); do
  dir="$out/suite-$attempt"
  mkdir -p "$dir"
  run_id="confirm-rate-$attempt-$$"
  DATABASE_URL="sqlite://$dir/demo.sqlite" BDD_TRACE_STATE=1 BDD_TRACE_DIR="$dir/traces" \
    BDD_TRACE_RUN_ID="$run_id" NO_COLOR=1 "$demo" suite >"$dir/suite.log" 2>&1 || true
  "$ta" report "$dir/traces" --run "$run_id" --format json --fail-on never -o "$dir/report.json" 2>/dev/null
  finding=$(python3 - "$dir/report.json" "$victim" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
for i, f in enumerate(r["findings"], 1):
    if f["likely_cause"] and (f.get("victim") or {}).get("scenario") == sys.argv[2]:
        print(i)
        break
EOF
)
  [[ -n "$finding" ]] && break
done
[[ -n "$finding" ]] || { echo "the victim never failed with a likely cause in 20 suite runs" >&2; exit 1; }
echo "== run $run_id: finding $finding names the victim's likely cause"

# 2. `confirm` with its defaults, N times.
declare -A verdicts=()
start=$(date +%s)
for k in $(seq 1 "$times"); do
  v=$(DATABASE_URL="sqlite://$dir/demo.sqlite" "$ta" confirm "$dir/traces" --run "$run_id" \
        --finding "$finding" --yes --dir "$out/confirm-$k" --format json 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])') || v=error
  verdicts[$v]=$(( ${verdicts[$v]:-0} + 1 ))
  echo "   confirm $k/$times: $v"
done
echo "== confirm --finding $finding (defaults), $times times in $(( $(date +%s) - start )) s:"
for v in "${!verdicts[@]}"; do echo "   $v: ${verdicts[$v]}"; done

# 3. The one command.
rdir="$out/run-confirm"
mkdir -p "$rdir"
start=$(date +%s%N)
DATABASE_URL="sqlite://$rdir/demo.sqlite" NO_COLOR=1 "$ta" run --confirm --dir "$rdir/traces" \
  -- "$demo" suite >"$rdir/report.txt" 2>"$rdir/stderr.txt" || true
echo "== run --confirm on the demo: $(( ($(date +%s%N) - start) / 1000000 )) ms"
grep 'confirm:' "$rdir/stderr.txt" | sed 's/^/   /'
