//! `TempCluster`: a throwaway PostgreSQL server for tests, started from
//! Debian's binaries (`/usr/lib/postgresql/<version>/bin`, the highest
//! version installed). Compiled with the features `postgres` and
//! `conformance`; like the conformance suites, for tests, not a stable API.
//!
//! - The server listens on 127.0.0.1 on a free port and on a Unix socket in
//!   its temporary directory (fsync on, as in production), with `trust`
//!   authentication for the user
//!   `harbor`. [`TempCluster::database`] creates a fresh database per call.
//! - PostgreSQL refuses to run as root: when the tests run as root (as CI
//!   does), `initdb` and `postgres` run as Debian's `postgres` system user
//!   (through `setpriv`), which owns the temporary directory.
//! - The server cannot outlive the test process: it is started under a small
//!   shell watchdog that reads the test process's end of a pipe, and stops
//!   the server (fast shutdown) and removes the directory when that pipe
//!   closes, at [`Drop`] or when the process exits or is killed (a test
//!   binary exits without dropping its statics, so [`TempCluster::shared`]
//!   relies on this).
//! - No PostgreSQL installed is a panic that says to run `scripts/test`,
//!   which installs Debian's `postgresql` package: never a silent skip.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where Debian installs each PostgreSQL version's binaries.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// The superuser `initdb` creates, and the user of every URL handed out.
const USER: &str = "harbor";
/// Tries at a free port before giving up.
const PORT_TRIES: usize = 5;
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The watchdog: starts `postgres`, stops it when standard input (the test
/// process's pipe) closes, and then removes the directory. The stop is an
/// immediate shutdown (SIGQUIT): the data is thrown away, so a shutdown
/// checkpoint would only keep the server alive after the tests are done. Arguments: the
/// `postgres` binary, the directory, the port.
const WATCHDOG: &str = r#"
bin=$1 dir=$2 port=$3
exec 3<&0 0</dev/null
"$bin" -D "$dir/data" -k "$dir" -h 127.0.0.1 -p "$port" \
    -c max_connections=300 -c shared_buffers=32MB >"$dir/server.log" 2>&1 &
pg=$!
{ read -r _ <&3; : >"$dir/stopping"; kill -QUIT "$pg" 2>/dev/null; } &
watch=$!
wait "$pg"
status=$?
if [ -e "$dir/stopping" ]; then rm -rf "$dir"; else kill "$watch" 2>/dev/null; fi
exit "$status"
"#;

static DIRS: AtomicU64 = AtomicU64::new(0);

/// A running throwaway PostgreSQL server; stopped, and its files removed,
/// when dropped or when the test process ends.
#[derive(Debug)]
pub struct TempCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    databases: AtomicU64,
    /// The watchdog (`sh`, under `setpriv` as root).
    child: Option<Child>,
    /// Our end of the watchdog's pipe: closing it stops the server.
    lifeline: Option<ChildStdin>,
}

/// The user to run the server as, when the tests run as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl TempCluster {
    /// One cluster for the whole test process, started on first use.
    pub fn shared() -> &'static TempCluster {
        static SHARED: OnceLock<TempCluster> = OnceLock::new();
        SHARED.get_or_init(TempCluster::start)
    }

    /// Starts a new cluster: `initdb`, then `postgres` on a free port, and
    /// waits until it accepts connections. Blocks for a few seconds.
    ///
    /// # Panics
    ///
    /// When PostgreSQL is not installed (run `scripts/test`, which installs
    /// it) or the server does not start; the message says why.
    pub fn start() -> TempCluster {
        let bin = find_binaries();
        let run_as = if running_as_root() {
            Some(postgres_user())
        } else {
            None
        };
        let dir = std::env::temp_dir().join(format!(
            "harbor-pg-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        if let Some(u) = run_as {
            std::os::unix::fs::chown(&dir, Some(u.uid), Some(u.gid))
                .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", dir.display()));
        }
        let data = dir.join("data");
        let out = command(run_as, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"])
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("run initdb: {e}"));
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut last_log = String::new();
        for _ in 0..PORT_TRIES {
            let port = free_port();
            let mut child = command(run_as, Path::new("sh"))
                .arg("-c")
                .arg(WATCHDOG)
                .arg("sh")
                .arg(bin.join("postgres"))
                .arg(&dir)
                .arg(port.to_string())
                .current_dir(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("start postgres: {e}"));
            let lifeline = child.stdin.take();
            let mut cluster = TempCluster {
                dir: dir.clone(),
                port,
                bin: bin.clone(),
                databases: AtomicU64::new(0),
                child: Some(child),
                lifeline,
            };
            match cluster.wait_ready() {
                Ok(()) => return cluster,
                Err(log) => {
                    // Not started: keep the data directory for the next
                    // port (the watchdog removes it only once told to stop).
                    if let Some(mut c) = cluster.child.take() {
                        let _ = c.wait();
                    }
                    std::mem::forget(cluster);
                    let _ = std::fs::remove_file(data.join("postmaster.pid"));
                    if !log.contains("could not bind") && !log.contains("already in use") {
                        let _ = std::fs::remove_dir_all(&dir);
                        panic!("postgres did not start:\n{log}");
                    }
                    last_log = log;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("postgres found no free port in {PORT_TRIES} tries:\n{last_log}");
    }

    /// Waits for `postmaster.pid` to say `ready`; the server log if the
    /// server stopped or the wait timed out.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let pid_file = self.dir.join("data").join("postmaster.pid");
        loop {
            if let Ok(text) = std::fs::read_to_string(&pid_file) {
                if text.lines().any(|l| l.trim() == "ready") {
                    return Ok(());
                }
            }
            let exited = !matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)));
            if exited || Instant::now() > deadline {
                return Err(self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.join("server.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new, empty database and returns its URL
    /// (`postgres://harbor@127.0.0.1:<port>/t_<n>`).
    ///
    /// # Panics
    ///
    /// When `createdb` fails.
    pub fn database(&self) -> String {
        let name = format!("t_{}", self.databases.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .arg(&name)
            .output()
            .unwrap_or_else(|e| panic!("run createdb: {e}"));
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` with `psql` on the database at `url` (one of
    /// [`TempCluster::database`]'s) and returns what it printed, for a test
    /// that reaches around the store.
    ///
    /// # Panics
    ///
    /// When `psql` fails.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-c",
                sql,
            ])
            .output()
            .unwrap_or_else(|e| panic!("run psql: {e}"));
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The URL of database `name` through the Unix socket
    /// (`postgres://harbor@/<name>?host=<dir>&port=<port>`).
    pub fn socket_url(&self, name: &str) -> String {
        format!(
            "postgres://{USER}@/{name}?host={}&port={}",
            self.dir.display(),
            self.port
        )
    }
}

impl Drop for TempCluster {
    /// Closes the watchdog's pipe, which stops the server and removes its
    /// directory, and waits for that.
    fn drop(&mut self) {
        drop(self.lifeline.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and
/// `postgres` in it.
fn find_binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found ({DEBIAN_ROOT}/<version>/bin/initdb and \
             postgres): the PostgreSQL tests need them. Run scripts/test, which installs \
             Debian's postgresql package (or: apt-get install postgresql)."
        ),
    }
}

/// Whether the effective user is root (from `/proc/self/status`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Debian's `postgres` system user, from `/etc/passwd`.
fn postgres_user() -> RunAs {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let found = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            ["postgres", _, uid, gid, ..] => Some(RunAs {
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
            }),
            _ => None,
        }
    });
    found.unwrap_or_else(|| {
        panic!(
            "running as root, and PostgreSQL refuses to run as root, but there is no \
             `postgres` user to run it as: install Debian's postgresql package (scripts/test does)"
        )
    })
}

/// `program`, run as `run_as` when set (through `setpriv`).
fn command(run_as: Option<RunAs>, program: &Path) -> Command {
    match run_as {
        None => Command::new(program),
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={}", u.uid))
                .arg(format!("--regid={}", u.gid))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            c
        }
    }
}

/// A port free at the moment (bound to 127.0.0.1:0 and released); the
/// caller retries if someone takes it in between.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("find a free port: {e}"))
}
