//! One connection to the directory: opened with the configured TLS, every
//! step (connect, TLS, each bind and search) bounded by `ldap_timeout`.

use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, SearchEntry};

use super::config::{LdapConfig, LdapScope};

/// LDAP's `invalidCredentials` result code.
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP's `noSuchObject` result code.
const NO_SUCH_OBJECT: u32 = 32;

/// What went wrong talking to the directory.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// The configuration cannot be used (a bad URL).
    #[error("{0}")]
    Config(String),
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the LDAP server {url}: {reason}")]
    Unreachable {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
    /// A step took longer than `ldap_timeout`.
    #[error("the LDAP server {url} did not answer within {} s", timeout.as_secs())]
    Timeout {
        /// Where.
        url: String,
        /// The bound.
        timeout: Duration,
    },
    /// A bind was refused: wrong DN or password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A search base does not exist.
    #[error("no such entry: {0}")]
    NoSuchObject(String),
    /// The server refused an operation.
    #[error("the LDAP server refused {what}: {message}")]
    Refused {
        /// Which operation.
        what: &'static str,
        /// The result code and text.
        message: String,
    },
}

/// An open connection; closed (unbound) by [`Session::close`], or dropped.
pub(crate) struct Session {
    ldap: Ldap,
    url: String,
    timeout: Duration,
}

impl Session {
    /// Connects as `config` says: TCP within the timeout, then TLS for
    /// `ldaps://` or StartTLS, within it too.
    pub(crate) async fn open(config: &LdapConfig) -> Result<Session, SessionError> {
        let url = config
            .connect_url()
            .map_err(|e| SessionError::Config(e.to_string()))?;
        let timeout = config.timeout;
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_no_tls_verify(!config.verify_cert);
        if config.starttls && url.starts_with("ldap://") {
            settings = settings.set_starttls(true);
        }
        let connected =
            tokio::time::timeout(timeout, LdapConnAsync::with_settings(settings, &url)).await;
        let (conn, ldap) = match connected {
            Err(_) => return Err(SessionError::Timeout { url, timeout }),
            Ok(Err(e)) => return Err(unreachable(&url, timeout, e)),
            Ok(Ok(pair)) => pair,
        };
        let driver_url = url.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(url = %driver_url, error = %e, "LDAP connection ended");
            }
        });
        Ok(Session { ldap, url, timeout })
    }

    /// A simple bind as `dn` with `password`; `InvalidCredentials` when the
    /// server says so. An empty `dn` and password bind anonymously.
    pub(crate) async fn bind(&mut self, dn: &str, password: &str) -> Result<(), SessionError> {
        let res = self
            .ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password)
            .await
            .map_err(|e| self.failure(e))?;
        match res.rc {
            0 => Ok(()),
            INVALID_CREDENTIALS => Err(SessionError::InvalidCredentials),
            rc => Err(SessionError::Refused {
                what: "the bind",
                message: format!("result {rc}: {}", res.text),
            }),
        }
    }

    /// The entries under `base` in `scope` matching `filter`, with `attrs`.
    /// A base that does not exist is `NoSuchObject`.
    pub(crate) async fn search(
        &mut self,
        base: &str,
        scope: LdapScope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, SessionError> {
        let res = self
            .ldap
            .with_timeout(self.timeout)
            .search(base, scope.to_ldap3(), filter, attrs.to_vec())
            .await
            .map_err(|e| self.failure(e))?;
        let (entries, result) = (res.0, res.1);
        match result.rc {
            0 => Ok(entries.into_iter().map(SearchEntry::construct).collect()),
            NO_SUCH_OBJECT => Err(SessionError::NoSuchObject(base.to_owned())),
            rc => Err(SessionError::Refused {
                what: "the search",
                message: format!("result {rc}: {}", result.text),
            }),
        }
    }

    /// Unbinds, within the timeout; errors do not matter any more.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.ldap.unbind()).await;
    }

    fn failure(&self, e: LdapError) -> SessionError {
        unreachable(&self.url, self.timeout, e)
    }
}

fn unreachable(url: &str, timeout: Duration, e: LdapError) -> SessionError {
    match e {
        LdapError::Timeout { .. } => SessionError::Timeout {
            url: url.to_owned(),
            timeout,
        },
        LdapError::Io { source } if source.kind() == std::io::ErrorKind::TimedOut => {
            SessionError::Timeout {
                url: url.to_owned(),
                timeout,
            }
        }
        e => SessionError::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        },
    }
}
