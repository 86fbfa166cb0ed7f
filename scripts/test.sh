#!/usr/bin/env bash
# The README's test command: every test in the workspace, against real SQLite
# files, a real PostgreSQL server the tests start themselves, headless
# Chromium and cargo-nextest. Installs whatever of those is missing first
# (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --all-features "$@"
