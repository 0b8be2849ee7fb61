//! Debian's rsyslogd as the syslog server audit entries are forwarded to:
//! TCP on a loopback port, every message written to a file the test reads.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the package puts the daemon.
pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// A running rsyslogd; dropping it kills it (by its PID).
pub struct Rsyslog {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub endpoint: String,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rsyslog {
    /// Starts one on a free port and waits until it accepts connections.
    pub fn start() -> Rsyslog {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let port = super::distribution::free_port();
        let out = dir.path().join("messages.log");
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                "global(workDirectory=\"{dir}\")\n\
                 module(load=\"imtcp\")\n\
                 input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
                 *.* action(type=\"omfile\" file=\"{out}\")\n",
                dir = dir.path().display(),
                out = out.display(),
            ),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {RSYSLOGD} (bash scripts/test installs rsyslog): {e}")
            });
        let endpoint = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&endpoint).is_err() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd never listened on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Rsyslog {
            child,
            endpoint,
            out,
            _dir: dir,
        }
    }

    /// What it has written so far.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits until a written message contains every one of `parts`.
    pub async fn wait_for(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.messages();
            if let Some(line) = text.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no message with {parts:?} in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
