#!/usr/bin/env bash
# Packages the four publishable crates as `cargo publish` would, without
# publishing: state-tracer-format, state-tracer-macros, state-tracer and
# trace-analyzer together
# (cargo >= 1.90 packages unpublished path dependencies of one another in
# one go), then builds each from its packaged sources alone (`verify`), so a
# file outside a crate's folder, a missing version on a path dependency or
# missing metadata fails here rather than at publish time.
#
#   scripts/package.sh            # package and verify (needs the registry for
#                                 # dependencies not yet in ~/.cargo)
#   scripts/package.sh --offline  # the same from the local registry cache
set -euo pipefail
cd "$(dirname "$0")/.."
cargo package --allow-dirty \
  -p state-tracer-format -p state-tracer-macros -p state-tracer -p trace-analyzer "$@"
ls -l target/package/*.crate 2>/dev/null || ls -l "${CARGO_TARGET_DIR:-target}"/package/*.crate
