//! trace-analyzer: merges a run's trace files and names polluters and victims.
