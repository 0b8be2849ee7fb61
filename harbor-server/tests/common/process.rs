//! The real `harbor-server` binary as a child process, for tests that stop,
//! kill and restart it on one data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to announce itself or to stop.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A `harbor-server serve` child process. Dropping it kills the process (by
/// its PID), so a failing test never leaves a server behind.
pub struct ServerProcess {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    /// Where its standard error (the log) goes.
    log: PathBuf,
    /// Kept open so that the server can still write to its standard output.
    stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    /// Starts the binary on an ephemeral port over `data_dir` with `env` (the
    /// caller's own `HARBOR_*` variables removed) and waits for its
    /// `harbor-server listening on http://ADDR` line.
    pub async fn start(data_dir: &Path, log: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let (data_dir, log) = (data_dir.to_owned(), log.to_owned());
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || Self::start_blocking(&data_dir, &log, &env))
            .await
            .unwrap_or_else(|e| panic!("starting the server: {e}"))
    }

    fn start_blocking(data_dir: &Path, log: &Path, env: &[(String, String)]) -> ServerProcess {
        let log_file =
            std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_harbor-server"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        // The environment overrides configuration: keep the caller's out.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HARBOR_")) {
            cmd.env_remove(key);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn harbor-server: {e}"));
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("harbor-server has no stdout pipe");
        };
        // From here on the guard owns the child and kills it on any panic.
        let mut server = ServerProcess {
            child,
            addr: String::new(),
            log: log.to_owned(),
            stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        loop {
            line.clear();
            let n = server
                .stdout
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("reading harbor-server's stdout: {e}"));
            if n == 0 {
                panic!(
                    "harbor-server closed its stdout before announcing its address; log:\n{}",
                    server.log_text()
                );
            }
            if let Some(addr) = line
                .trim()
                .strip_prefix("harbor-server listening on http://")
            {
                server.addr = addr.to_owned();
                return server;
            }
        }
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(no log at {}: {e})", self.log.display()))
    }

    /// Sends `signal` (`TERM`, `9`...) with `kill` and waits for the process
    /// to be gone.
    pub async fn signal(&mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}").as_str(), &pid])
            .status()
            .unwrap_or_else(|e| panic!("run kill -{signal} {pid}: {e}"));
        assert!(status.success(), "kill -{signal} {pid} failed: {status}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Ok(None) => panic!(
                    "harbor-server (pid {pid}) still runs {PATIENCE:?} after kill -{signal}; log:\n{}",
                    self.log_text()
                ),
                Err(e) => panic!("waiting for harbor-server (pid {pid}): {e}"),
            }
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Child::kill sends SIGKILL to this child's own PID.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
