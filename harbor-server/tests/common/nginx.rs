//! Debian's nginx as a round-robin load balancer without stickiness in
//! front of several instances, configured as the README's cluster section
//! shows, started as a child of the test and ended with it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx on a loopback port.
pub struct Nginx {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: tempfile::TempDir,
}

/// The `http` block of a load balancer over `upstreams` (`host:port`).
pub fn config(listen: &str, upstreams: &[String]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("        server {u} max_fails=1 fail_timeout=5s;\n"))
        .collect();
    format!(
        r#"
    upstream harbor {{
{servers}    }}
    server {{
        listen {listen};
        # Layers are large and arrive as one streamed PATCH: no size limit,
        # no buffering of requests or responses.
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 900s;
        location / {{
            proxy_pass http://harbor;
        }}
    }}
"#
    )
}

impl Nginx {
    /// Starts nginx on `port` in front of `upstreams`. Fails the test when
    /// nginx is not installed: `scripts/test` installs it.
    pub async fn start(port: u16, upstreams: &[String]) -> Nginx {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .unwrap_or_else(|| {
                panic!("nginx is not installed: run `bash scripts/test`, which installs it")
            });
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let addr = format!("127.0.0.1:{port}");
        let user = if running_as_root() {
            "user root;\n"
        } else {
            ""
        };
        let conf = format!(
            "{user}worker_processes 1;\nerror_log {}/error.log warn;\npid {}/nginx.pid;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n    client_body_temp_path {0}/body;\n    proxy_temp_path {0}/proxy;\n\
             fastcgi_temp_path {0}/fastcgi;\n    uwsgi_temp_path {0}/uwsgi;\n    scgi_temp_path {0}/scgi;\n{}}}\n",
            dir.path().display(),
            dir.path().display(),
            config(&addr, upstreams)
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap_or_else(|e| panic!("write nginx.conf: {e}"));
        let child = Command::new(&binary)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start nginx: {e}"));
        let nginx = Nginx { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(&nginx.addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {}: {}",
                nginx.addr,
                nginx.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    /// nginx's error log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn running_as_root() -> bool {
    // `id -u`: the workspace has no unsafe code to ask libc.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // A fast shutdown of the master, which ends its worker too.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
