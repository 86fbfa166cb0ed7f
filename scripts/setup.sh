#!/usr/bin/env bash
# Installs what the test suite needs and this machine lacks, so the README's
# test command passes on a fresh Debian machine (run as root; CI is one):
# PostgreSQL server binaries (testkit starts a real server), Chromium and
# node/npm (the HTML timeline's browser test), python3 (docs/format.md's
# writer test) and cargo-nextest (the sqlx example's nextest run).
# Prints one line saying what it installs, or nothing when all is there.
# Tests whose tool is still missing fail, unless
# STATE_TRACER_ALLOW_MISSING_TOOLS=1 (then they skip, saying so).
set -euo pipefail

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 ||
  need_apt+=(postgresql)
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
need_nextest=0
cargo nextest --version >/dev/null 2>&1 || need_nextest=1

what=("${need_apt[@]}")
((need_nextest)) && what+=(cargo-nextest)
((${#what[@]})) || exit 0
echo "== setup: installing ${what[*]}"

if ((${#need_apt[@]})) && [[ $(id -u) -ne 0 ]]; then
  echo "setup: need root to apt-get install ${need_apt[*]}" >&2
  # With the opt-out, the tests that need them skip (saying so) instead.
  [[ ${STATE_TRACER_ALLOW_MISSING_TOOLS:-} == 1 ]] || exit 1
  need_apt=()
fi
if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if ((need_nextest)); then
  cargo install cargo-nextest --locked --quiet
fi
