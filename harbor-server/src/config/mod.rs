//! Server configuration: a TOML file, overridden by `HARBOR_*` environment
//! variables, overridden by command-line flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::ServerError;

mod ldap;
pub use ldap::LdapSection;

/// Everything the server needs to start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`HARBOR_LISTEN`).
    pub listen: String,
    /// Directory holding blobs and the metadata database (`HARBOR_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Log filter when `RUST_LOG` is unset, e.g. `info` or `harbor=debug` (`HARBOR_LOG_LEVEL`).
    pub log_level: String,
    /// How log lines are written: `text` for people, `json` for log
    /// collectors (`HARBOR_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// HTTPS certificate and key; plain HTTP when absent (`HARBOR_TLS_CERT`, `HARBOR_TLS_KEY`).
    pub tls: Option<TlsConfig>,
    /// Prometheus metrics, as Harbor's `metric` settings.
    pub metric: MetricConfig,
    /// Removal of abandoned upload sessions, as Harbor's `upload_purging`.
    pub upload_purging: UploadPurging,
    /// Webhook deliveries: attempts, backoff, timeout.
    pub webhook: crate::webhook::WebhookConfig,
    /// Garbage collection keeps blobs linked and manifests pushed more
    /// recently than this, e.g. `"2h"` (Harbor's default) or `"30s"`
    /// (`HARBOR_GC_TIME_WINDOW`): longer than any push takes between its
    /// first blob and its manifest.
    #[serde(deserialize_with = "duration")]
    pub gc_time_window: Duration,
    /// The storage limit in bytes of a project created without one, `-1`
    /// for unlimited (Harbor's `storage_per_project`;
    /// `HARBOR_STORAGE_PER_PROJECT`). Projects made before a change keep
    /// theirs.
    pub storage_per_project: i64,
    /// Starts in read-only mode: pushes, deletes and API changes refused,
    /// pulls served (Harbor's `read_only`; `HARBOR_READ_ONLY`). A value set
    /// through `/api/v2.0/configurations` takes precedence.
    pub read_only: bool,
    /// The usage, in percent of a project's limit, from which each push
    /// raises a `QUOTA_WARNING` event (`HARBOR_QUOTA_WARNING_PERCENT`,
    /// 85 as in Harbor).
    pub quota_warning_percent: u8,
    /// How long in-flight requests may take to finish on shutdown (`HARBOR_SHUTDOWN_TIMEOUT`).
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// Users, projects and the token service.
    pub auth: AuthConfig,
    /// The metadata database shared by every instance of a cluster,
    /// `postgres://user:password@host:port/database` (`HARBOR_DATABASE_URL`).
    /// Unset: SQLite in the data directory, for a single instance.
    pub database_url: Option<String>,
    /// Connections each instance keeps open to `database_url`
    /// (`HARBOR_DATABASE_POOL_SIZE`).
    pub database_pool_size: usize,
    /// Where blobs are kept: the data directory unless `[storage.s3]`.
    pub storage: StorageConfig,
    /// The directory holding the token signing key (`token.key`,
    /// `token.crt`) and the key that seals registry credentials; the data
    /// directory when unset (`HARBOR_SECRETS_DIR`). Every instance of a
    /// cluster must be given the same files.
    pub secrets_dir: Option<PathBuf>,
    /// The starting LDAP settings (Harbor's `ldap_*` without `ldap_`;
    /// `HARBOR_LDAP_<KEY>`), for `auth_mode = "ldap_auth"`.
    pub ldap: LdapSection,
}

/// The `[storage]` section.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Blobs in an S3-compatible bucket instead of the data directory.
    pub s3: Option<S3Storage>,
}

/// The `[storage.s3]` section; credentials come from `AWS_ACCESS_KEY_ID`
/// and `AWS_SECRET_ACCESS_KEY` (or the instance's role).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Storage {
    /// The bucket, which must exist (`HARBOR_STORAGE_S3_BUCKET`; setting it
    /// selects S3).
    pub bucket: String,
    /// The service URL, for MinIO, Ceph RGW and other S3-compatible stores
    /// (`HARBOR_STORAGE_S3_ENDPOINT`); AWS when unset.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region (`HARBOR_STORAGE_S3_REGION`), `us-east-1` when unset.
    #[serde(default)]
    pub region: Option<String>,
    /// A key prefix, so that one bucket can hold several registries
    /// (`HARBOR_STORAGE_S3_PREFIX`).
    #[serde(default)]
    pub prefix: String,
    /// Allows a plain `http://` endpoint (`HARBOR_STORAGE_S3_ALLOW_HTTP`).
    #[serde(default)]
    pub allow_http: bool,
    /// Bytes per multipart part, at least 5 MiB, the default
    /// (`HARBOR_STORAGE_S3_PART_SIZE`). Each upload in flight holds one.
    #[serde(default = "default_part_size")]
    pub part_size: usize,
    /// Answers blob downloads with a redirect to a presigned URL valid this
    /// long, e.g. `"20m"`, so that bytes flow from the bucket to the client
    /// (`HARBOR_STORAGE_S3_REDIRECT`); off when unset.
    #[serde(default, deserialize_with = "optional_duration")]
    pub redirect: Option<Duration>,
}

impl S3Storage {
    /// `bucket` with every other setting at its default, as a file with only
    /// `bucket` in `[storage.s3]` reads.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Storage {
            bucket: bucket.into(),
            endpoint: None,
            region: None,
            prefix: String::new(),
            allow_http: false,
            part_size: default_part_size(),
            redirect: None,
        }
    }
}

fn default_part_size() -> usize {
    5 * 1024 * 1024
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// The form of log lines on standard error.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, coloured only when standard error is a
    /// terminal.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields), for log
    /// collectors.
    Json,
}

/// How requests are authenticated and authorized.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Harbor's model: users, projects and roles; `/v2/` takes tokens from
    /// `/service/token` (or Basic credentials); pushes go into existing projects.
    Token,
    /// No authentication at all: an open registry, as CNCF distribution is
    /// without an `auth` section. For tests, CI caches and embedding.
    None,
}

/// The `[auth]` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `token` (default) or `none` (`HARBOR_AUTH_MODE`).
    pub mode: AuthMode,
    /// How users log in at first, Harbor's `auth_mode`: `db_auth`
    /// (default), `ldap_auth` (with `[ldap]`) or `oidc_auth`
    /// (`HARBOR_AUTH_AUTH_MODE`). A value set through
    /// `/api/v2.0/configurations` takes precedence.
    pub auth_mode: Option<String>,
    /// Whether anonymous callers may read public projects (`HARBOR_ANONYMOUS_ACCESS`).
    pub anonymous_access: bool,
    /// Token lifetime, Harbor's default 30 minutes (`HARBOR_TOKEN_LIFETIME`).
    #[serde(deserialize_with = "duration")]
    pub token_lifetime: Duration,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// The service name tokens are issued for (their `aud`).
    pub service: String,
    /// The URL clients reach this server at, for the token realm; derived from
    /// each request's Host when unset (`HARBOR_EXTERNAL_URL`).
    pub external_url: Option<String>,
    /// The `admin` password set on first start (`HARBOR_ADMIN_PASSWORD`); when
    /// unset, one is generated and printed once. Ignored once `admin` exists.
    pub admin_password: Option<String>,
    /// How long a CLI secret's successful check against the OIDC provider
    /// is trusted before the provider is asked again (a user removed at
    /// the provider keeps access that long); 60 s by default.
    #[serde(deserialize_with = "duration")]
    pub oidc_check_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: AuthMode::Token,
            auth_mode: None,
            anonymous_access: true,
            token_lifetime: Duration::from_secs(30 * 60),
            issuer: "harbor-token-issuer".into(),
            service: "harbor-registry".into(),
            external_url: None,
            admin_password: None,
            oidc_check_ttl: harbor_auth::oidc::DEFAULT_CHECK_TTL,
        }
    }
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Harbor's `metric` settings: Prometheus metrics on their own port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricConfig {
    /// Serve them (`HARBOR_METRIC_ENABLED`; off by default, as in Harbor).
    pub enabled: bool,
    /// The port, on the address of `listen` (`HARBOR_METRIC_PORT`; 9090;
    /// 0 picks a free one).
    pub port: u16,
    /// The path (`HARBOR_METRIC_PATH`; `/metrics`).
    pub path: String,
}

impl Default for MetricConfig {
    fn default() -> Self {
        MetricConfig {
            enabled: false,
            port: 9090,
            path: "/metrics".into(),
        }
    }
}

/// Harbor's `upload_purging` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UploadPurging {
    /// Whether to purge at all (`HARBOR_UPLOAD_PURGING_ENABLED`).
    pub enabled: bool,
    /// Sessions older than this are removed, e.g. `"168h"` (`HARBOR_UPLOAD_PURGING_AGE`).
    #[serde(deserialize_with = "duration")]
    pub age: Duration,
    /// How often to look, e.g. `"24h"` (`HARBOR_UPLOAD_PURGING_INTERVAL`).
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
}

impl Default for UploadPurging {
    fn default() -> Self {
        UploadPurging {
            enabled: true,
            age: Duration::from_secs(7 * 24 * 3600),
            interval: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:5000".into(),
            data_dir: PathBuf::from("harbor-data"),
            log_level: "info".into(),
            log_format: LogFormat::Text,
            tls: None,
            upload_purging: UploadPurging::default(),
            metric: MetricConfig::default(),
            webhook: crate::webhook::WebhookConfig::default(),
            gc_time_window: harbor_core::gc::DEFAULT_TIME_WINDOW,
            storage_per_project: -1,
            read_only: false,
            quota_warning_percent: harbor_core::DEFAULT_WARNING_PERCENT,
            shutdown_timeout: Duration::from_secs(30),
            auth: AuthConfig::default(),
            database_url: None,
            database_pool_size: 16,
            storage: StorageConfig::default(),
            secrets_dir: None,
            ldap: LdapSection::default(),
        }
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ServerError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ServerError::Config(format!("{key}={v:?} is not a boolean"))),
    }
}

pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads `path` (if given) over the defaults, then applies the process
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ServerError> {
        let mut config = match path {
            Some(p) => Self::from_file(p)?,
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    /// Parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| ServerError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ServerError> {
        toml::from_str(text).map_err(|e| ServerError::Config(e.to_string()))
    }

    /// The default project limit (`None`: unlimited) and the warning
    /// percentage, checked: one clear error for a value out of range.
    pub fn quota_settings(&self) -> Result<crate::QuotaSettings, ServerError> {
        let default_limit =
            harbor_core::quota::parse_limit(self.storage_per_project).map_err(|_| {
                ServerError::Config(format!(
                    "storage_per_project = {}: expected -1 (unlimited) or from 1 to {} bytes",
                    self.storage_per_project,
                    harbor_core::quota::MAX_STORAGE_LIMIT
                ))
            })?;
        if !(1..=100).contains(&self.quota_warning_percent) {
            return Err(ServerError::Config(format!(
                "quota_warning_percent = {}: expected 1 to 100",
                self.quota_warning_percent
            )));
        }
        Ok(crate::QuotaSettings {
            default_limit,
            warning_percent: self.quota_warning_percent,
        })
    }

    /// The starting values of the settings `/api/v2.0/configurations`
    /// changes: read-only mode, the default project limit, the token
    /// lifetime, `auth_mode` and the LDAP settings, checked as the API
    /// checks them.
    pub fn system_settings(&self) -> Result<crate::settings::SystemSettings, ServerError> {
        let base = crate::settings::SystemSettings {
            token_expiration: crate::settings::minutes(self.auth.token_lifetime),
            read_only: self.read_only,
            storage_per_project: self.storage_per_project,
            ..Default::default()
        };
        ldap::apply(base, self.auth.auth_mode.as_deref(), &self.ldap)
    }

    /// Applies `HARBOR_*` variables found through `lookup` over this configuration.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ServerError> {
        let dur = |key: &str, v: String| {
            humantime::parse_duration(&v)
                .map_err(|e| ServerError::Config(format!("{key}={v:?}: {e}")))
        };
        if let Some(v) = lookup("HARBOR_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = lookup("HARBOR_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = lookup("HARBOR_LOG_LEVEL") {
            self.log_level = v;
        }
        if let Some(v) = lookup("HARBOR_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ServerError::Config(format!(
                        "HARBOR_LOG_FORMAT={v:?}: expected text or json"
                    )))
                }
            };
        }
        match (lookup("HARBOR_TLS_CERT"), lookup("HARBOR_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                self.tls = Some(TlsConfig {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ServerError::Config(
                    "HARBOR_TLS_CERT and HARBOR_TLS_KEY must be set together".into(),
                ))
            }
        }
        if let Some(v) = lookup("HARBOR_UPLOAD_PURGING_ENABLED") {
            self.upload_purging.enabled = parse_bool("HARBOR_UPLOAD_PURGING_ENABLED", &v)?;
        }
        if let Some(v) = lookup("HARBOR_UPLOAD_PURGING_AGE") {
            self.upload_purging.age = dur("HARBOR_UPLOAD_PURGING_AGE", v)?;
        }
        if let Some(v) = lookup("HARBOR_UPLOAD_PURGING_INTERVAL") {
            self.upload_purging.interval = dur("HARBOR_UPLOAD_PURGING_INTERVAL", v)?;
        }
        if let Some(v) = lookup("HARBOR_GC_TIME_WINDOW") {
            self.gc_time_window = dur("HARBOR_GC_TIME_WINDOW", v)?;
        }
        if let Some(v) = lookup("HARBOR_STORAGE_PER_PROJECT") {
            self.storage_per_project = v.parse().map_err(|_| {
                ServerError::Config(format!(
                    "HARBOR_STORAGE_PER_PROJECT={v:?} is not a number of bytes (-1: unlimited)"
                ))
            })?;
        }
        if let Some(v) = lookup("HARBOR_METRIC_ENABLED") {
            self.metric.enabled = parse_bool("HARBOR_METRIC_ENABLED", &v)?;
        }
        if let Some(v) = lookup("HARBOR_METRIC_PORT") {
            self.metric.port = v.parse().map_err(|_| {
                ServerError::Config(format!("HARBOR_METRIC_PORT={v:?} is not a port number"))
            })?;
        }
        if let Some(v) = lookup("HARBOR_METRIC_PATH") {
            self.metric.path = v;
        }
        if let Some(v) = lookup("HARBOR_WEBHOOK_MAX_ATTEMPTS") {
            self.webhook.max_attempts = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ServerError::Config(format!(
                    "HARBOR_WEBHOOK_MAX_ATTEMPTS={v:?} is not a positive number"
                ))
            })?;
        }
        if let Some(v) = lookup("HARBOR_WEBHOOK_BACKOFF") {
            self.webhook.backoff = dur("HARBOR_WEBHOOK_BACKOFF", v)?;
        }
        if let Some(v) = lookup("HARBOR_WEBHOOK_TIMEOUT") {
            self.webhook.timeout = dur("HARBOR_WEBHOOK_TIMEOUT", v)?;
        }
        if let Some(v) = lookup("HARBOR_READ_ONLY") {
            self.read_only = parse_bool("HARBOR_READ_ONLY", &v)?;
        }
        if let Some(v) = lookup("HARBOR_QUOTA_WARNING_PERCENT") {
            self.quota_warning_percent = v.parse().map_err(|_| {
                ServerError::Config(format!(
                    "HARBOR_QUOTA_WARNING_PERCENT={v:?} is not a percentage"
                ))
            })?;
        }
        if let Some(v) = lookup("HARBOR_SHUTDOWN_TIMEOUT") {
            self.shutdown_timeout = dur("HARBOR_SHUTDOWN_TIMEOUT", v)?;
        }
        if let Some(v) = lookup("HARBOR_AUTH_AUTH_MODE") {
            self.auth.auth_mode = Some(v);
        }
        self.ldap.apply_env(&lookup)?;
        if let Some(v) = lookup("HARBOR_AUTH_MODE") {
            self.auth.mode = match v.as_str() {
                "token" => AuthMode::Token,
                "none" => AuthMode::None,
                _ => {
                    return Err(ServerError::Config(format!(
                        "HARBOR_AUTH_MODE={v:?}: expected token or none"
                    )))
                }
            };
        }
        if let Some(v) = lookup("HARBOR_ANONYMOUS_ACCESS") {
            self.auth.anonymous_access = parse_bool("HARBOR_ANONYMOUS_ACCESS", &v)?;
        }
        if let Some(v) = lookup("HARBOR_TOKEN_LIFETIME") {
            self.auth.token_lifetime = dur("HARBOR_TOKEN_LIFETIME", v)?;
        }
        if let Some(v) = lookup("HARBOR_ADMIN_PASSWORD").filter(|v| !v.is_empty()) {
            self.auth.admin_password = Some(v);
        }
        if let Some(v) = lookup("HARBOR_EXTERNAL_URL") {
            self.auth.external_url = Some(v);
        }
        if let Some(v) = lookup("HARBOR_DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = lookup("HARBOR_DATABASE_POOL_SIZE") {
            self.database_pool_size = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ServerError::Config(format!(
                    "HARBOR_DATABASE_POOL_SIZE={v:?} is not a positive number"
                ))
            })?;
        }
        if let Some(v) = lookup("HARBOR_SECRETS_DIR").filter(|v| !v.is_empty()) {
            self.secrets_dir = Some(v.into());
        }
        self.apply_storage_env(&lookup)?;
        Ok(())
    }
}

impl Config {
    fn apply_storage_env(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ServerError> {
        if let Some(bucket) = lookup("HARBOR_STORAGE_S3_BUCKET").filter(|v| !v.is_empty()) {
            match self.storage.s3.as_mut() {
                Some(s3) => s3.bucket = bucket,
                None => self.storage.s3 = Some(S3Storage::new(bucket)),
            }
        }
        let settings = [
            "HARBOR_STORAGE_S3_ENDPOINT",
            "HARBOR_STORAGE_S3_REGION",
            "HARBOR_STORAGE_S3_PREFIX",
            "HARBOR_STORAGE_S3_ALLOW_HTTP",
            "HARBOR_STORAGE_S3_PART_SIZE",
            "HARBOR_STORAGE_S3_REDIRECT",
        ];
        let Some(s3) = self.storage.s3.as_mut() else {
            if let Some(key) = settings.iter().find(|k| lookup(k).is_some()) {
                return Err(ServerError::Config(format!(
                    "{key} is set but no bucket is: set HARBOR_STORAGE_S3_BUCKET too"
                )));
            }
            return Ok(());
        };
        if let Some(v) = lookup("HARBOR_STORAGE_S3_ENDPOINT") {
            s3.endpoint = Some(v);
        }
        if let Some(v) = lookup("HARBOR_STORAGE_S3_REGION") {
            s3.region = Some(v);
        }
        if let Some(v) = lookup("HARBOR_STORAGE_S3_PREFIX") {
            s3.prefix = v;
        }
        if let Some(v) = lookup("HARBOR_STORAGE_S3_ALLOW_HTTP") {
            s3.allow_http = parse_bool("HARBOR_STORAGE_S3_ALLOW_HTTP", &v)?;
        }
        if let Some(v) = lookup("HARBOR_STORAGE_S3_PART_SIZE") {
            s3.part_size = v.parse().map_err(|_| {
                ServerError::Config(format!(
                    "HARBOR_STORAGE_S3_PART_SIZE={v:?} is not a number of bytes"
                ))
            })?;
        }
        if let Some(v) = lookup("HARBOR_STORAGE_S3_REDIRECT") {
            s3.redirect = Some(humantime::parse_duration(&v).map_err(|e| {
                ServerError::Config(format!("HARBOR_STORAGE_S3_REDIRECT={v:?}: {e}"))
            })?);
        }
        Ok(())
    }

    /// The directory with the token and sealing keys.
    pub fn secrets_dir(&self) -> &Path {
        self.secrets_dir.as_deref().unwrap_or(&self.data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_file_sets_values_and_the_environment_overrides_them() {
        let mut c = Config::from_toml(
            r#"
            listen = "0.0.0.0:8080"
            data_dir = "/srv/harbor"
            gc_time_window = "30m"
            [upload_purging]
            age = "48h"
            [tls]
            cert = "/etc/c.pem"
            key = "/etc/k.pem"
            "#,
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080");
        assert_eq!(c.upload_purging.age, Duration::from_secs(48 * 3600));
        assert!(c.upload_purging.enabled);
        assert_eq!(c.gc_time_window, Duration::from_secs(30 * 60));
        assert_eq!(
            Config::default().gc_time_window,
            Duration::from_secs(2 * 3600)
        );
        let env: HashMap<&str, &str> = [
            ("HARBOR_LISTEN", "127.0.0.1:9"),
            ("HARBOR_UPLOAD_PURGING_ENABLED", "false"),
            ("HARBOR_GC_TIME_WINDOW", "5s"),
        ]
        .into_iter()
        .collect();
        c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9");
        assert!(!c.upload_purging.enabled);
        assert_eq!(c.gc_time_window, Duration::from_secs(5));
        let q = c.quota_settings().unwrap();
        assert_eq!((q.default_limit, q.warning_percent), (None, 85));
        c.apply_env(|k| match k {
            "HARBOR_STORAGE_PER_PROJECT" => Some("1048576".into()),
            "HARBOR_QUOTA_WARNING_PERCENT" => Some("90".into()),
            _ => None,
        })
        .unwrap();
        let q = c.quota_settings().unwrap();
        assert_eq!((q.default_limit, q.warning_percent), (Some(1 << 20), 90));
        let bad = Config::from_toml("storage_per_project = 0").unwrap();
        assert!(bad.quota_settings().is_err(), "0 is not a limit");
        let bad = Config::from_toml("quota_warning_percent = 101").unwrap();
        assert!(bad.quota_settings().is_err());
        assert!(Config::default()
            .apply_env(|k| (k == "HARBOR_STORAGE_PER_PROJECT").then(|| "1GB".to_string()))
            .is_err());
        assert_eq!(c.data_dir, PathBuf::from("/srv/harbor"));
        assert_eq!(c.log_format, LogFormat::Text);
        c.apply_env(|k| (k == "HARBOR_LOG_FORMAT").then(|| "json".to_string()))
            .unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            Config::from_toml("log_format = \"json\"")
                .map(|c| c.log_format)
                .ok(),
            Some(LogFormat::Json)
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_clearly() {
        let e = Config::from_toml("listne = \"x\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("listne"), "{e}");
        assert!(Config::from_toml("[upload_purging]\nage = \"soon\"").is_err());
        assert!(Config::from_toml("log_format = \"xml\"").is_err());
        assert!(Config::default()
            .apply_env(|k| (k == "HARBOR_GC_TIME_WINDOW").then(|| "two hours".to_string()))
            .is_err());
        assert!(Config::default()
            .apply_env(|k| (k == "HARBOR_LOG_FORMAT").then(|| "xml".to_string()))
            .is_err());
        let mut c = Config::default();
        assert!(c
            .apply_env(|k| (k == "HARBOR_TLS_CERT").then(|| "c.pem".to_string()))
            .is_err());
    }
}

#[cfg(test)]
mod storage_tests {
    use super::*;

    #[test]
    fn s3_storage_is_selected_by_file_or_by_environment() {
        let c = Config::from_toml(
            r#"
            database_url = "postgres://harbor@db/harbor"
            [storage.s3]
            bucket = "images"
            endpoint = "http://minio:9000"
            allow_http = true
            redirect = "20m"
            "#,
        )
        .unwrap();
        let s3 = c.storage.s3.clone().unwrap();
        assert_eq!(s3.bucket, "images");
        assert_eq!(s3.part_size, 5 * 1024 * 1024);
        assert_eq!(s3.redirect, Some(Duration::from_secs(1200)));
        assert_eq!(
            c.database_url.as_deref(),
            Some("postgres://harbor@db/harbor")
        );

        let mut c = Config::default();
        let env = |k: &str| match k {
            "HARBOR_STORAGE_S3_BUCKET" => Some("b".to_string()),
            "HARBOR_STORAGE_S3_PREFIX" => Some("reg/".to_string()),
            "HARBOR_STORAGE_S3_ALLOW_HTTP" => Some("true".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        let s3 = c.storage.s3.unwrap();
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str(), s3.allow_http),
            ("b", "reg/", true)
        );
        assert_eq!(
            Config::from_toml("[storage.s3]\nbucket = \"b\"")
                .unwrap()
                .storage
                .s3,
            Some(S3Storage::new("b")),
            "S3Storage::new has the file's defaults"
        );
    }

    #[test]
    fn an_s3_setting_without_a_bucket_names_what_is_missing() {
        let e = Config::default()
            .apply_env(|k| (k == "HARBOR_STORAGE_S3_ENDPOINT").then(|| "http://x".to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("HARBOR_STORAGE_S3_BUCKET"), "{e}");
        let e = Config::default()
            .apply_env(|k| match k {
                "HARBOR_STORAGE_S3_BUCKET" => Some("b".to_string()),
                "HARBOR_STORAGE_S3_PART_SIZE" => Some("5MB".to_string()),
                _ => None,
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("HARBOR_STORAGE_S3_PART_SIZE"), "{e}");
    }
}
