//! Browser scripts: a `tests/portal/*.mjs` script run by node, driving
//! Debian's chromium through npm's playwright-core (both installed by
//! `bash scripts/test`). The script prints its checks, one per line, and
//! may ask the test for work (a skopeo push, say) with a line the test
//! answers on the script's stdin.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// How long a script may stay silent before it counts as hung.
const SILENCE: Duration = Duration::from_secs(300);

/// Where playwright-core is installed.
pub fn playwright_module() -> String {
    let module = std::env::var("HARBOR_PLAYWRIGHT_MODULE").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/harbor-rs/node/node_modules/playwright-core")
    });
    assert!(
        Path::new(&module).join("package.json").exists(),
        "playwright-core is not installed at {module}: run bash scripts/test (it installs it)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is not installed: run bash scripts/test (it installs it)"
    );
    module
}

/// axe-core's script, for the accessibility crawl (`tests/portal/a11y.mjs`).
pub fn axe_script() -> String {
    let module = std::env::var("HARBOR_AXE_MODULE").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/harbor-rs/node/node_modules/axe-core")
    });
    let script = Path::new(&module).join("axe.min.js");
    assert!(
        script.exists(),
        "axe-core is not installed at {module}: run bash scripts/test (it installs it)"
    );
    script.to_string_lossy().into_owned()
}

/// Where screenshots go: `HARBOR_PORTAL_SHOTS` (`docs` keeps them for the
/// README), else a temporary directory that lives as long as the guard.
pub fn shots_dir() -> (String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir =
        std::env::var("HARBOR_PORTAL_SHOTS").unwrap_or_else(|_| tmp.path().display().to_string());
    (dir, tmp)
}

/// A running browser script.
pub struct BrowserScript {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    transcript: Vec<String>,
}

impl BrowserScript {
    /// Starts `tests/portal/<name>` with `env` plus `PLAYWRIGHT_MODULE`,
    /// `PORTAL_AXE` and `PORTAL_SHOTS`.
    pub fn start(name: &str, env: &[(&str, &str)], shots: &str) -> BrowserScript {
        let module = playwright_module();
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/portal")
            .join(name);
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .env("PLAYWRIGHT_MODULE", &module)
            .env("PORTAL_AXE", axe_script())
            .env("PORTAL_SHOTS", shots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start node {}: {e}", script.display()));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // The script's lines, read on a thread of their own.
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        BrowserScript {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            transcript: Vec::new(),
        }
    }

    /// The script's next line (printed as it comes), or `None` once it
    /// has ended; panics with the transcript if it stays silent too long.
    pub async fn next_line(&mut self) -> Option<String> {
        match tokio::time::timeout(SILENCE, self.lines.recv()).await {
            Ok(Some(line)) => {
                println!("browser: {line}");
                self.transcript.push(line.clone());
                Some(line)
            }
            Ok(None) => None,
            Err(_) => {
                let _ = self.child.kill();
                panic!(
                    "the browser script {} hung:\n{}",
                    self.name,
                    self.transcript.join("\n")
                );
            }
        }
    }

    /// Answers the script's last request with `line`.
    pub fn reply(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the script to end, and asserts that it succeeded and
    /// printed `ok_line` (its own "everything passed").
    pub async fn assert_passed(mut self, ok_line: &str) {
        while self.next_line().await.is_some() {}
        let status = self.child.wait().unwrap();
        assert!(
            status.success() && self.transcript.iter().any(|l| l == ok_line),
            "the browser checks of {} failed ({status}):\n{}",
            self.name,
            self.transcript.join("\n")
        );
    }
}
