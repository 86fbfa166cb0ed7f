#!/usr/bin/env bash
# The README's test command: every test in the workspace, against real SQLite
# files, a real PostgreSQL server the tests start themselves, and headless
# Chromium where installed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features "$@"
