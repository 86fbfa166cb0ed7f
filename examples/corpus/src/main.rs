//! `corpus`: runs suite shapes for the accuracy corpus and scores their
//! reports (see `docs/accuracy.md`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("score") => {
            let dirs: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
            match corpus::score::score_dirs(&dirs) {
                Ok(rows) => {
                    print!("{}", corpus::score::render(&rows));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("corpus score: {e}");
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!("usage: corpus score RUN_DIR...");
            ExitCode::from(2)
        }
    }
}
