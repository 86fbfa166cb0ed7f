# Shared by demo.sh and validate-test-suite.sh: builds the demo suite and the
# analyzer once and says where the binaries are.

# Fresh machines have no toolchain tweaks: a plain debug build is the fastest
# to compile and fast enough to run the demo.
build_binaries() {
  echo "== building bdd-demo and trace-analyzer (first time: a few minutes)" >&2
  # cargo's progress shows (a fresh machine compiles for a few minutes).
  cargo build -p bdd-demo -p trace-analyzer >&2
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  target_dir=${target_dir:-${CARGO_TARGET_DIR:-target}}
  BDD_DEMO="$target_dir/debug/bdd-demo"
  TRACE_ANALYZER="$target_dir/debug/trace-analyzer"
  [[ -x "$BDD_DEMO" && -x "$TRACE_ANALYZER" ]] || {
    echo "error: built binaries not found under $target_dir/debug" >&2
    exit 2
  }
}

# Absolute path, creating the folder.
abs_dir() {
  mkdir -p "$1" && (cd "$1" && pwd)
}

# Shared set-up of the multi-run scripts (validate-test-suite.sh,
# accuracy.sh): builds the binaries, makes $out absolute, and with
# postgres=true starts a throw-away server and points database_url at it.
prepare_runs() {
  build_binaries
  out=$(abs_dir "$out")
  if [[ $postgres == true ]]; then
    source scripts/lib/pg.sh
    pg_start
    database_url=$PG_URL
  fi
}
