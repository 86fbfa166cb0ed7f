#!/usr/bin/env bash
# Re-analyzes saved corpus runs with a given analyzer and scores them, so two
# builds can be compared on the same traces (before/after a rule change):
#
#   scripts/corpus/rescore.sh ANALYZER OUT RUN_DIR...
#   scripts/corpus/rescore.sh /tmp/ta-before /tmp/before DIR/*/run-*
#   scripts/corpus/rescore.sh target/debug/trace-analyzer /tmp/after DIR/*/run-*
#
# Each RUN_DIR holds traces/, truth.jsonl and meta.json (what
# scripts/corpus.sh writes). OUT/NNNN/ gets a report.json and links to the
# run's truth and meta; the score table goes to stdout.
set -uo pipefail
[ $# -ge 3 ] || { sed -n 2,10p "$0" >&2; exit 2; }
bin=$(realpath "$1"); out=$2; shift 2
cd "$(dirname "$0")/../.."
cargo build -q -p corpus
rm -rf "$out"; mkdir -p "$out"
i=0
for d in "$@"; do
  i=$((i+1)); o="$out/$(printf %04d $i)"; mkdir -p "$o"
  ln -s "$(realpath "$d")/truth.jsonl" "$o/truth.jsonl"
  ln -s "$(realpath "$d")/meta.json" "$o/meta.json"
  "$bin" report "$d/traces" --format json --fail-on never -o "$o/report.json" 2>/dev/null \
    || echo "analysis failed: $d" >&2
done
"${CARGO_TARGET_DIR:-target}/debug/corpus" score "$out"/*
