//! Test helpers shared by the workspace's integration tests.
//!
//! Tests here run against real things, so this crate starts them:
//!
//! - [`Postgres`]: a throw-away PostgreSQL server built with the system's
//!   `initdb`/`pg_ctl` (`/usr/lib/postgresql/*/bin`, or `$PATH`) in a temp
//!   dir, on a free localhost port, trust auth, stopped and deleted on drop.
//!   When the tests run as root the server runs as the `postgres` user
//!   (PostgreSQL refuses to run as root).
//! - [`trace_files`] / [`read_lines`]: find and read the trace files a traced
//!   process left in a directory.
//!
//! ```no_run
//! let pg = testkit::Postgres::start().expect("PostgreSQL binaries are installed");
//! pg.create_database("app").unwrap();
//! let url = pg.url_for("app"); // postgres://postgres@127.0.0.1:PORT/app
//! # drop(url);
//! ```

use std::ffi::CString;
use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running PostgreSQL server private to one test. Stopped on drop.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    root: tempfile::TempDir,
    port: u16,
    /// `Some((uid, gid))` when commands must run as the `postgres` user.
    run_as: Option<(u32, u32)>,
    stopped: bool,
}

/// The superuser name the server is initialised with.
pub const SUPERUSER: &str = "postgres";

impl Postgres {
    /// Initialises and starts a fresh server. Fails with a message saying
    /// what to install when the binaries are missing.
    pub fn start() -> io::Result<Postgres> {
        let bin = find_pg_bin()?;
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(lookup_user("postgres").ok_or_else(|| {
                io::Error::other(
                    "running as root but there is no `postgres` user; install the `postgresql` package",
                )
            })?)
        } else {
            None
        };
        let root = tempfile::Builder::new().prefix("testkit-pg-").tempdir()?;
        if let Some((uid, gid)) = run_as {
            chown(root.path(), uid, gid)?;
        }
        let mut pg = Postgres {
            bin,
            root,
            port: 0,
            run_as,
            stopped: true,
        };
        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        // A free port can be taken between probing and binding; retry.
        let mut last_err = None;
        for _ in 0..5 {
            pg.port = free_port()?;
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=60",
                pg.port,
                pg.root.path().display()
            );
            let log = pg.root.path().join("server.log");
            match pg.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-o".as_ref(),
                    opts.as_ref(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "start".as_ref(),
                ],
            ) {
                Ok(_) => {
                    pg.stopped = false;
                    return Ok(pg);
                }
                Err(e) => {
                    let log_text = fs::read_to_string(&log).unwrap_or_default();
                    last_err = Some(io::Error::other(format!("{e}\nserver log:\n{log_text}")));
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("pg_ctl start failed")))
    }

    /// TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the default `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// URL of database `db` (create it first with [`Postgres::create_database`]).
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` (owned by the superuser).
    pub fn create_database(&self, name: &str) -> io::Result<()> {
        let port = self.port.to_string();
        self.run(
            "createdb",
            &[
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                name.as_ref(),
            ],
        )
        .map(drop)
    }

    /// Runs one SQL command with `psql` and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> io::Result<String> {
        let port = self.port.to_string();
        let out = self.run(
            "psql",
            &[
                "-X".as_ref(),
                "-q".as_ref(),
                "-A".as_ref(),
                "-t".as_ref(),
                "-v".as_ref(),
                "ON_ERROR_STOP=1".as_ref(),
                "-h".as_ref(),
                "127.0.0.1".as_ref(),
                "-p".as_ref(),
                port.as_ref(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "-d".as_ref(),
                db.as_ref(),
                "-c".as_ref(),
                sql.as_ref(),
            ],
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server now (drop does this too).
    pub fn stop(&mut self) -> io::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
        .map(drop)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> io::Result<Output> {
        let program = self.bin.join(tool);
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        cmd.args(args)
            .current_dir(self.root.path())
            .env("LC_ALL", "C")
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null());
        let out = cmd.output().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot run {}: {e}", program.display()))
        })?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(io::Error::other(format!(
                "{tool} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Finds the directory holding `initdb` and `pg_ctl`: the newest
/// `/usr/lib/postgresql/<version>/bin`, else `$PATH`.
pub fn find_pg_bin() -> io::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(dir);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with `apt-get install postgresql`",
    ))
}

/// The one opt-out for tests whose external tool (python3, node, Chromium)
/// is missing: such a test fails unless this is `1`, then it skips with a
/// line on stderr. `scripts/setup.sh` installs every tool.
pub const ALLOW_MISSING_TOOLS: &str = "STATE_TRACER_ALLOW_MISSING_TOOLS";

/// Whether [`ALLOW_MISSING_TOOLS`] is set to `1`.
pub fn allow_missing_tools() -> bool {
    std::env::var(ALLOW_MISSING_TOOLS).as_deref() == Ok("1")
}

/// A localhost TCP port nobody listens on right now.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we
    // copy the two integers out immediately. Tests call this rarely.
    let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: plain syscall on a NUL-terminated path.
    if unsafe { libc::chown(c.as_ptr(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Trace files (name starting with `bdd-state-trace-`) in `dir`, sorted by name.
pub fn trace_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("bdd-state-trace-"))
        })
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// The lines of a file, without newlines. A final line without `\n` (a
/// torn write) is returned too, so tests can inspect it.
pub fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    let text = fs::read_to_string(path)?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// Whether the file's last byte is a newline (no torn trailing record).
pub fn ends_with_newline(path: &Path) -> io::Result<bool> {
    let bytes = fs::read(path)?;
    Ok(bytes.is_empty() || bytes.last() == Some(&b'\n'))
}
