//! Running the real `skopeo` client against a test server, with its own
//! signature policy, registries configuration and auth file, so that nothing
//! under /etc/containers or the user's home changes what the tests see.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one skopeo command may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(240);

/// A skopeo runner with a private configuration directory.
pub struct Skopeo {
    dir: tempfile::TempDir,
    /// Numbers the scratch layouts of [`Skopeo::push`] and [`Skopeo::pull`].
    copies: std::sync::atomic::AtomicUsize,
}

/// What one skopeo run produced.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Output {
    /// Standard output parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}", self.command, self.stdout))
    }
}

impl Skopeo {
    /// A runner whose policy accepts anything (the images are unsigned).
    pub fn new() -> Skopeo {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        };
        write(
            "policy.json",
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        );
        write("registries.conf", "unqualified-search-registries = []\n");
        write("auth.json", r#"{"auths":{}}"#);
        for sub in ["registries.d", "tmp"] {
            let p = dir.path().join(sub);
            std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        }
        Skopeo {
            dir,
            copies: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A scratch directory that lives as long as the runner.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }

    fn config(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `skopeo <global options> <args>` and returns what it did. Fails
    /// the test if skopeo is not installed: CI installs it, so a missing
    /// skopeo is a broken environment, not a reason to skip.
    pub async fn run(&self, args: &[&str]) -> Output {
        let policy = self.config("policy.json");
        let registries_d = self.config("registries.d");
        let tmp = self.config("tmp");
        let mut cmd = std::process::Command::new("skopeo");
        cmd.arg("--policy")
            .arg(&policy)
            .arg("--registries.d")
            .arg(&registries_d)
            .arg("--tmpdir")
            .arg(&tmp)
            .arg("--command-timeout")
            .arg(format!("{}s", TIMEOUT.as_secs()))
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", self.config("registries.conf"))
            .env("REGISTRY_AUTH_FILE", self.config("auth.json"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let command = format!("skopeo {}", args.join(" "));
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "skopeo is not installed or not on PATH ({e}); these tests need the real client: \
                 install it (e.g. `apt-get install skopeo`)"
            ),
            Err(e) => panic!("cannot run `{command}`: {e}"),
        };
        let pid = child.id();
        let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
        // skopeo's own --command-timeout should end it first; this is the backstop.
        let output = match tokio::time::timeout(TIMEOUT + Duration::from_secs(30), waiting).await {
            Err(_) => {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!("`{command}` did not finish within {TIMEOUT:?}")
            }
            Ok(Err(e)) => panic!("waiting for `{command}`: {e}"),
            Ok(Ok(Err(e))) => panic!("waiting for `{command}`: {e}"),
            Ok(Ok(Ok(o))) => o,
        };
        Output {
            command,
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs skopeo and fails the test, showing its output, unless it succeeds.
    pub async fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert!(
            out.success,
            "`{}` failed\n--- stdout\n{}\n--- stderr\n{}",
            out.command, out.stdout, out.stderr
        );
        out
    }
}

impl Skopeo {
    fn next_scratch(&self, what: &str) -> PathBuf {
        let n = self
            .copies
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.scratch(&format!("{what}-{n}"))
    }

    /// Writes `image` as a layout tagged `v1` in a fresh scratch directory and
    /// copies it to `target` (`docker://...`) over plain HTTP with
    /// `--preserve-digests`, as `creds` (`user:password`) or anonymously.
    /// Returns the layout's directory and what skopeo did, success or not.
    pub async fn push(
        &self,
        image: &super::layout::Image,
        target: &str,
        creds: Option<&str>,
    ) -> (PathBuf, Output) {
        let src = self.next_scratch("push");
        super::layout::write_image(&src, "v1", image);
        let src_ref = oci(&src, "v1");
        let creds_arg = creds.map(|c| format!("--dest-creds={c}"));
        let mut args = vec!["copy", "--preserve-digests", "--dest-tls-verify=false"];
        args.extend(creds_arg.as_deref());
        args.extend([src_ref.as_str(), target]);
        let out = self.run(&args).await;
        (src, out)
    }

    /// Copies `source` (`docker://...`) over plain HTTP into a fresh layout
    /// tagged `v1`, as `creds` (`user:password`) or anonymously. Returns the
    /// layout's directory and what skopeo did, success or not.
    pub async fn pull(&self, source: &str, creds: Option<&str>) -> (PathBuf, Output) {
        let dest = self.next_scratch("pull");
        let dest_ref = oci(&dest, "v1");
        let creds_arg = creds.map(|c| format!("--src-creds={c}"));
        let mut args = vec!["copy", "--preserve-digests", "--src-tls-verify=false"];
        args.extend(creds_arg.as_deref());
        args.extend([source, dest_ref.as_str()]);
        let out = self.run(&args).await;
        (dest, out)
    }
}

/// `user:password`, as skopeo's `--creds`, `--src-creds` and `--dest-creds` take it.
pub fn creds(user: &str, password: &str) -> String {
    format!("{user}:{password}")
}

impl Output {
    /// Fails the test, showing skopeo's output, unless it succeeded.
    pub fn assert_success(&self) {
        assert!(
            self.success,
            "`{}` failed\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.stdout, self.stderr
        );
    }

    /// Fails the test unless skopeo failed, with standard error mentioning
    /// one of `reasons` (case-insensitive).
    pub fn assert_refused(&self, reasons: &[&str]) {
        assert!(
            !self.success,
            "`{}` succeeded but should have been refused\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.stdout, self.stderr
        );
        let stderr = self.stderr.to_ascii_lowercase();
        assert!(
            reasons
                .iter()
                .any(|r| stderr.contains(&r.to_ascii_lowercase())),
            "`{}` failed, but not for any of {reasons:?}\n--- stderr\n{}",
            self.command,
            self.stderr
        );
    }
}

impl Default for Skopeo {
    fn default() -> Self {
        Skopeo::new()
    }
}

/// `oci:<dir>:<tag>`.
pub fn oci(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

/// `docker://<host>/<name>`.
pub fn docker(host: &str, name: &str) -> String {
    format!("docker://{host}/{name}")
}
