//! What a trace file says about its process, and its end at exit.
//!
//! The header (seq 0) names the process: pid, parent, host, argv with
//! secrets masked, the configuration. [`at_exit`] makes sure a trace file
//! still gets its `PROCESS_END` and footer when its guard is never
//! dropped (`std::process::exit`, a leaked guard).

use std::sync::{Mutex, Once, Weak};

use crate::config::{Config, RECORDED_ENV};
use crate::format::{Header, FORMAT_NAME, FORMAT_VERSION};
use crate::secret;

/// The header of this process's trace file.
pub(crate) fn header(cfg: &Config, start: chrono::DateTime<chrono::Utc>) -> Header<'static> {
    let mut config = vec![
        ("flush".into(), cfg.flush.to_string().into()),
        ("dir".into(), cfg.dir.display().to_string().into()),
    ];
    for name in RECORDED_ENV {
        if let Ok(v) = std::env::var(name) {
            config.push(((*name).into(), secret::scrub(&v).into_owned().into()));
        }
    }
    let argv = scrubbed_argv();
    let rerun = crate::rerun::template(&argv);
    Header {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        run_id: cfg.run_id.clone().into(),
        pid: std::process::id(),
        ppid: Some(std::os::unix::process::parent_id()),
        host: hostname().into(),
        process: cfg.process.clone().into(),
        argv: argv.into_iter().map(Into::into).collect(),
        rerun,
        cwd: crate::format::current_dir(),
        tracer: concat!("state-tracer ", env!("CARGO_PKG_VERSION")).into(),
        start,
        config,
    }
}

/// argv with secrets masked: `--password x` and `token=x` lose their values.
fn scrubbed_argv() -> Vec<String> {
    let mut out = Vec::new();
    let mut mask_next = false;
    for arg in std::env::args_os() {
        let arg = arg.to_string_lossy().into_owned();
        if mask_next {
            out.push("***".to_owned());
            mask_next = false;
            continue;
        }
        // `--api-key VALUE`: the value is the next argument (names as
        // `secret::is_secret_key` knows them).
        if arg.starts_with('-') && !arg.contains('=') && secret::is_secret_key(&arg) {
            mask_next = true;
        }
        out.push(secret::scrub(&arg).into_owned());
    }
    out
}

/// std has no hostname call; rustix's `uname` is `gethostname(2)`'s source
/// on Linux (glibc reads `nodename` from it too).
fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Something to finish at `exit(3)` unless it was finished before.
pub(crate) trait Finish: Send + Sync {
    /// Writes the end of the trace file; does nothing the second time.
    fn finish(&self);
}

static LIVE: Mutex<Vec<Weak<dyn Finish>>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

/// Finishes `target` at `exit(3)` if it is still alive then.
pub(crate) fn at_exit(target: Weak<dyn Finish>) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|w| w.strong_count() > 0);
        live.push(target);
    }
    AT_EXIT.call_once(|| {
        extern "C" fn finish_all() {
            let live: Vec<Weak<dyn Finish>> = match LIVE.lock() {
                Ok(l) => l.clone(),
                Err(p) => p.into_inner().clone(),
            };
            for target in live.iter().filter_map(Weak::upgrade) {
                target.finish();
            }
        }
        // std has no exit hook and rustix none either; `atexit(3)` runs on
        // `std::process::exit` and on a return from `main`.
        // SAFETY: `atexit` only stores the pointer; `finish_all` is a
        // `'static` `extern "C" fn()` taking no arguments, as it requires.
        // A non-zero return (table full) leaves the trace without its
        // footer, which the analyzer reads as a crashed process.
        unsafe { libc::atexit(finish_all) };
    });
}
