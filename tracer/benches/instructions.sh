#!/usr/bin/env bash
# User-space instructions per recorded event, from callgrind: a figure that,
# unlike times, does not depend on how loaded the machine is, for A/B
# decisions on the hot path (see docs/performance.md, "Tracer").
#
#   tracer/benches/instructions.sh [line|interval] [N]
#
# Runs N typed-helper records (`state_tracer::custom` in an entered
# scenario, the layer installed as the global default) in the `paired`
# bench binary's profile mode and counts only its record loop, so the
# interval flusher thread is left out. The kernel's part of `write(2)` is
# not counted.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-line}
n=${2:-100000}
bin=$(cargo bench -p state-tracer --bench paired --no-run 2>&1 | sed -n 's/.*Executable benches\/paired.rs (\(.*\))/\1/p')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --toggle-collect='paired::profile_loop' \
    --callgrind-out-file="$out/cg" "$bin" profile "$mode" "$n" >/dev/null 2>"$out/log"
total=$(sed -n 's/^summary: //p; s/^totals: //p' "$out/cg" | head -1)
echo "$mode: $total instructions / $n records = $((total / n)) per record"
