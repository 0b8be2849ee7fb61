//! Forwarding audit entries to a syslog endpoint (Harbor's
//! `audit_log_forward_endpoint`, `host:port`): one RFC 5424 message per
//! entry over TCP, newline-framed, as rsyslog's `imtcp` and Harbor's own log
//! collector take them. The connection is opened on first use and again
//! after a failure. Plain syslog over TCP has no acknowledgement: a batch
//! written in the moment the server dies can be lost, which is why entries
//! stay in the database unless `skip_audit_log_database` says otherwise.

use std::time::Duration;

use harbor_core::AuditEntry;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long connecting or writing a batch may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A syslog connection, kept between batches.
#[derive(Debug, Default)]
pub struct SyslogForwarder {
    endpoint: String,
    conn: Option<TcpStream>,
    hostname: String,
}

/// Quotes a value for a `key="value"` field: `"` and `\` escaped, line
/// breaks (which would end the message) replaced.
fn quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One entry as an RFC 5424 message (facility user, severity info), its
/// text Harbor's `operator="…" time="…" resourceType="…" resource="…"
/// action="…"` with the project beside.
pub fn message(hostname: &str, e: &AuditEntry) -> String {
    let time = humantime::format_rfc3339_millis(e.op_time).to_string();
    let host = if hostname.is_empty() { "-" } else { hostname };
    format!(
        "<14>1 {time} {host} harbor-rs - audit_log - operator={} time={} resourceType={} resource={} action={} project={}\n",
        quoted(&e.username),
        quoted(&time),
        quoted(e.resource_type.as_str()),
        quoted(&e.resource),
        quoted(e.operation.as_str()),
        quoted(e.project.as_deref().unwrap_or("")),
    )
}

impl SyslogForwarder {
    /// Sends `entries` to `endpoint`; an error if they could not all be
    /// sent (then the caller keeps them in the database).
    pub async fn send(&mut self, endpoint: &str, entries: &[AuditEntry]) -> std::io::Result<()> {
        if self.endpoint != endpoint {
            self.endpoint = endpoint.to_owned();
            self.conn = None;
        }
        if self.hostname.is_empty() {
            self.hostname = std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.is_empty() && !h.contains(' '))
                .unwrap_or_else(|| "-".into());
        }
        let text: String = entries.iter().map(|e| message(&self.hostname, e)).collect();
        // A server that went away since the last batch has closed the kept
        // connection: writing to it would seem to work and lose the batch.
        if let Some(conn) = &self.conn {
            match conn.try_read(&mut [0u8; 64]) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                _ => self.conn = None,
            }
        }
        // Once again on a fresh connection if the kept one broke.
        for attempt in 0..2 {
            if self.conn.is_none() {
                let conn = tokio::time::timeout(TIMEOUT, TcpStream::connect(endpoint))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting")
                    })??;
                self.conn = Some(conn);
            }
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            let written = tokio::time::timeout(TIMEOUT, async {
                conn.write_all(text.as_bytes()).await?;
                conn.flush().await
            })
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "writing"))
            .and_then(|r| r);
            match written {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.conn = None;
                    if attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbor_core::{AuditOperation, AuditResource};

    #[test]
    fn messages_are_one_line_with_quoted_fields() {
        let e = AuditEntry {
            id: 0,
            project: Some("team".into()),
            username: "eve\"\nx".into(),
            resource: "team/app:v1".into(),
            resource_type: AuditResource::Artifact,
            operation: AuditOperation::Create,
            op_time: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        let m = message("h", &e);
        assert!(m.starts_with("<14>1 2023-11-14T22:13:20.000Z h harbor-rs - audit_log - "));
        assert!(m.contains(r#"operator="eve\" x""#));
        assert!(m.contains(r#"resource="team/app:v1" action="create" project="team""#));
        assert_eq!(m.matches('\n').count(), 1);
        assert!(m.ends_with('\n'));
    }
}
