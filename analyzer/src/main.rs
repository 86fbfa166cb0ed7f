//! trace-analyzer: merges a run's trace files and names polluters and victims.
fn main() {
    std::process::exit(trace_analyzer::cli::main());
}
