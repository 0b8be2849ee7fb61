//! CNCF distribution (Debian's `docker-registry`, version 2.8) as a peer: a
//! `docker-registry serve` child process with a generated configuration on a
//! free loopback port, killed (by its PID) when dropped. It can trust one of
//! our servers' token service, ask for htpasswd Basic credentials, or be open.
//!
//! `/usr/bin/docker-registry` must be installed, and for htpasswd `htpasswd`
//! (Debian's `apache2-utils`); `scripts/test` installs them. Tests fail with a
//! message saying what to install when they are missing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::TestServer;

/// Where Debian installs CNCF distribution.
pub const DISTRIBUTION: &str = "/usr/bin/docker-registry";

/// How a [`Distribution`] authenticates its callers.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    /// Token authentication trusting `server`'s `/service/token` (realm) and
    /// the `token.crt` it writes (root certificate), as Harbor runs it.
    Token(&'a TestServer),
    /// Basic authentication against an htpasswd file holding one user.
    Htpasswd {
        /// The user's name.
        user: &'a str,
        /// The user's password.
        password: &'a str,
    },
    /// No authentication: anyone reads and writes.
    None,
}

/// A `docker-registry serve` child process, killed (by its PID) when dropped.
pub struct Distribution {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Distribution {
    /// Distribution trusting `server`'s tokens; ready once `/v2/` answers 401.
    pub async fn with_token(server: &TestServer) -> Distribution {
        Self::start(Auth::Token(server)).await
    }

    /// Distribution asking for Basic credentials of `user` (bcrypt htpasswd
    /// entry, realm `basic-realm`); ready once `/v2/` answers 401.
    pub async fn with_htpasswd(user: &str, password: &str) -> Distribution {
        Self::start(Auth::Htpasswd { user, password }).await
    }

    /// Distribution without authentication; ready once `/v2/` answers 200.
    pub async fn open() -> Distribution {
        Self::start(Auth::None).await
    }

    /// Writes a configuration for `auth`, starts distribution on a free
    /// loopback port and waits until `/v2/` answers as `auth` implies.
    pub async fn start(auth: Auth<'_>) -> Distribution {
        if !Path::new(DISTRIBUTION).exists() {
            panic!(
                "{DISTRIBUTION} is missing: these tests need CNCF distribution 2.8 as Debian \
                 packages it; install it with `apt-get install docker-registry` (scripts/test \
                 does this)"
            );
        }
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)
            .unwrap_or_else(|e| panic!("create {}: {e}", storage.display()));
        let (auth_section, ready_status) = match auth {
            Auth::Token(server) => {
                let cert = server.dir.path().join("data").join("token.crt");
                assert!(
                    cert.is_file(),
                    "the server did not write its token certificate at {}",
                    cert.display()
                );
                (
                    format!(
                        "auth:\n  token:\n    realm: \"http://{addr}/service/token\"\n    \
                         service: harbor-registry\n    issuer: harbor-token-issuer\n    \
                         rootcertbundle: {cert}\n",
                        addr = server.addr,
                        cert = cert.display(),
                    ),
                    401,
                )
            }
            Auth::Htpasswd { user, password } => {
                let path = dir.path().join("htpasswd");
                let entry = htpasswd_entry(user, password);
                std::fs::write(&path, format!("{entry}\n"))
                    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
                (
                    format!(
                        "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                        path.display()
                    ),
                    401,
                )
            }
            Auth::None => (String::new(), 200),
        };
        let port = free_port();
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n\
             {auth_section}",
            storage = storage.display(),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config)
            .unwrap_or_else(|e| panic!("write {}: {e}", config_path.display()));
        let log = dir.path().join("distribution.log");
        let log_file =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let log_out = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("clone {}: {e}", log.display()));
        let child = std::process::Command::new(DISTRIBUTION)
            .arg("serve")
            .arg(&config_path)
            .stdin(std::process::Stdio::null())
            .stdout(log_out)
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{DISTRIBUTION} serve`: {e}"));
        let mut peer = Distribution {
            child,
            port,
            log,
            _dir: dir,
        };
        peer.wait_until_ready(&config, ready_status).await;
        peer
    }

    async fn wait_until_ready(&mut self, config: &str, ready_status: u16) {
        let url = format!("{}/v2/", self.base());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "distribution exited ({status}) while starting\n--- config\n{config}\n--- log\n{}",
                    self.log_text()
                );
            }
            match super::try_request("GET", &url, &[], Vec::new()).await {
                Ok(r) if r.status == ready_status => return,
                Ok(r) => last = format!("status {}", r.status),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "distribution did not answer {ready_status} at {url} within 10 s (last: {last})\n\
             --- config\n{config}\n--- log\n{}",
            self.log_text()
        );
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, as skopeo wants it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What distribution has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// Fails the test, with skopeo's output and distribution's log, unless
    /// skopeo succeeded.
    pub fn assert_success(&self, out: &super::skopeo::Output) {
        assert!(
            out.success,
            "`{}` failed\n--- stdout\n{}\n--- stderr\n{}\n--- distribution log\n{}",
            out.command,
            out.stdout,
            out.stderr,
            self.log_text()
        );
    }

    /// Fails the test unless skopeo failed with one of `reasons` in its error.
    pub fn assert_refused(&self, out: &super::skopeo::Output, reasons: &[&str]) {
        let stderr = out.stderr.to_ascii_lowercase();
        assert!(
            !out.success
                && reasons
                    .iter()
                    .any(|r| stderr.contains(&r.to_ascii_lowercase())),
            "`{}` should have failed with one of {reasons:?} (success: {})\n--- stdout\n{}\n\
             --- stderr\n{}\n--- distribution log\n{}",
            out.command,
            out.success,
            out.stdout,
            out.stderr,
            self.log_text()
        );
    }
}

impl Drop for Distribution {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID, nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on (the listener is dropped at once).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local address: {e}"))
        .port()
}

/// `user:<bcrypt hash>`, as distribution 2.8's htpasswd file needs it (it
/// accepts bcrypt entries only), made by `htpasswd -Bbn`.
pub fn htpasswd_entry(user: &str, password: &str) -> String {
    let out = match std::process::Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "htpasswd is not installed or not on PATH ({e}): distribution's htpasswd auth needs \
             bcrypt entries, which these tests make with `htpasswd -Bbn`; install Debian's \
             apache2-utils (`apt-get install apache2-utils`; scripts/test does this)"
        ),
        Err(e) => panic!("cannot run `htpasswd -Bbn {user} ***`: {e}"),
    };
    assert!(
        out.status.success(),
        "`htpasswd -Bbn {user} ***` failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        entry.starts_with(&format!("{user}:$2")),
        "`htpasswd -Bbn` made no bcrypt entry for {user}: {entry:?}"
    );
    entry
}
