#!/usr/bin/env bash
# User-space instructions per recorded event, from callgrind: a figure that,
# unlike times, does not depend on how loaded the machine is, for A/B
# decisions on the hot path (see docs/performance.md, "Tracer").
#
#   cargo bench -p state-tracer --bench tracer --no-run   # prints the binary
#   tracer/benches/instructions.sh <bench binary> [line|interval]
#
# Only the benchmark's timed loop (`cpu_time`) is counted, so criterion's own
# analysis and the interval flusher thread are left out; the total is divided
# by the number of records written inside it. The kernel's part of
# `write(2)` is not counted.
set -euo pipefail
bin=${1:?usage: $0 <bench binary> [line|interval]}
mode=${2:-interval}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --toggle-collect='tracer::cpu_time' \
    --callgrind-out-file="$out/cg" "$bin" --bench "state_tracer/$mode" \
    --warm-up-time 0.01 --measurement-time 0.3 >/dev/null 2>"$out/log"
python3 - "$out/cg" "$mode" <<'PY'
import collections, re, sys
names, calls, callee, total = {}, collections.Counter(), None, 0
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?", line)
    if m:
        kind, ident, name = m.groups()
        if name:
            names[ident] = name
        if kind == "cfn":
            callee = ident
        continue
    if line.startswith("calls=") and callee:
        calls[callee] += int(line.split()[0][len("calls="):])
    elif line.startswith("totals:"):
        total = int(line.split()[1])
events = sum(n for i, n in calls.items()
             if names.get(i) == "state_tracer::writer::Writer::write_event")
print(f"{sys.argv[2]}: {total} instructions / {events} events = "
      f"{total / max(events, 1):.0f} per event")
PY
