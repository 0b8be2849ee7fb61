//! System settings changed at run time, as Harbor's `/configurations` has
//! them: the configuration file gives each one's starting value, the
//! [`SettingsStore`] what an administrator changed since, and every
//! instance reads the store again every second, so a change made through
//! one is in force on all of them within a second, without a restart.

mod ldap;
mod secrets;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use harbor_auth::ldap::{LdapAuthenticator, LdapConfig};
use harbor_core::quota::parse_limit;
use harbor_core::{IdentityStore, Page, Registry, SettingValues, SettingsStore};
use serde_json::{json, Value};

use crate::api::HarborError;
pub use ldap::{AuthMode, AUTH_MODE_LOCKED};

/// How often an instance reads the settings again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Who may create projects (Harbor's `project_creation_restriction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationRestriction {
    /// Every signed-in user (`everyone`, Harbor's default).
    Everyone,
    /// System administrators only (`adminonly`).
    AdminOnly,
}

impl CreationRestriction {
    /// Harbor's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CreationRestriction::Everyone => "everyone",
            CreationRestriction::AdminOnly => "adminonly",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "everyone" => Some(CreationRestriction::Everyone),
            "adminonly" => Some(CreationRestriction::AdminOnly),
            _ => None,
        }
    }
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSettings {
    /// The OpenID Connect provider (`oidc_*`), used in `oidc_auth` mode.
    pub oidc: harbor_auth::oidc::OidcConfig,
    /// Every change refused, reads go on (`read_only`).
    pub read_only: bool,
    /// The limit in bytes of a project created without one, `-1` for none
    /// (`storage_per_project`).
    pub storage_per_project: i64,
    /// Who may create projects.
    pub project_creation_restriction: CreationRestriction,
    /// Minutes a registry token lasts (`token_expiration`).
    pub token_expiration: i64,
    /// Days a robot account lasts when created without a `duration`
    /// (`robot_token_duration`).
    pub robot_token_duration: i64,
    /// Whether webhook events are sent at all (`notification_enable`).
    pub notification_enable: bool,
    /// Where audit entries are forwarded, `host:port` of a syslog server
    /// over TCP; empty for nowhere (`audit_log_forward_endpoint`).
    pub audit_log_forward_endpoint: String,
    /// Audit entries forwarded only, not kept in the database
    /// (`skip_audit_log_database`; needs an endpoint).
    pub skip_audit_log_database: bool,
    /// How users log in (`auth_mode`).
    pub auth_mode: AuthMode,
    /// The directory `ldap_auth` reads (`ldap_*`).
    pub ldap: LdapConfig,
}

impl Default for SystemSettings {
    fn default() -> Self {
        SystemSettings {
            oidc: harbor_auth::oidc::OidcConfig::default(),
            read_only: false,
            storage_per_project: -1,
            project_creation_restriction: CreationRestriction::Everyone,
            token_expiration: 30,
            robot_token_duration: 30,
            notification_enable: true,
            audit_log_forward_endpoint: String::new(),
            skip_audit_log_database: false,
            auth_mode: AuthMode::Db,
            ldap: LdapConfig::default(),
        }
    }
}

/// The longest `token_expiration` accepted, in minutes (a year).
const MAX_TOKEN_MINUTES: i64 = 365 * 24 * 60;
/// The longest `robot_token_duration` accepted, in days (Harbor's int32
/// bound would overflow a timestamp; a hundred years is plenty).
const MAX_ROBOT_DAYS: i64 = 36_500;

/// What a `PUT /configurations` key may be.
enum Kind {
    /// Changed through the API.
    Editable,
    /// Shown, not changed here (the configuration file, or not yet
    /// supported), with the reason.
    Fixed(&'static str),
}

/// The keys this server shows, in Harbor's spelling, and whether the API
/// may change them.
const KEYS: &[(&str, Kind)] = &[
    ("auth_mode", Kind::Editable),
    ("oidc_name", Kind::Editable),
    ("oidc_endpoint", Kind::Editable),
    ("oidc_client_id", Kind::Editable),
    ("oidc_client_secret", Kind::Editable),
    ("oidc_scope", Kind::Editable),
    ("oidc_verify_cert", Kind::Editable),
    ("oidc_auto_onboard", Kind::Editable),
    ("oidc_user_claim", Kind::Editable),
    ("oidc_groups_claim", Kind::Editable),
    ("oidc_admin_group", Kind::Editable),
    ("oidc_group_filter", Kind::Editable),
    ("oidc_extra_redirect_parms", Kind::Editable),
    ("read_only", Kind::Editable),
    ("storage_per_project", Kind::Editable),
    ("project_creation_restriction", Kind::Editable),
    (
        "quota_per_project_enable",
        Kind::Fixed("quotas are always on"),
    ),
    (
        "self_registration",
        Kind::Fixed("self-registration is not supported"),
    ),
    ("notification_enable", Kind::Editable),
    ("token_expiration", Kind::Editable),
    ("audit_log_forward_endpoint", Kind::Editable),
    ("skip_audit_log_database", Kind::Editable),
    ("robot_token_duration", Kind::Editable),
    (
        "robot_name_prefix",
        Kind::Fixed("robot accounts are always named robot$..."),
    ),
];

impl SystemSettings {
    /// `defaults` with what `stored` sets over them; a stored value this
    /// version cannot read keeps the default (and is logged).
    pub fn with_stored(defaults: &SystemSettings, stored: &SettingValues) -> SystemSettings {
        let mut out = defaults.clone();
        for (key, value) in stored {
            if let Err(e) = out.apply(key, value) {
                tracing::warn!(key, %value, error = ?e, "stored setting ignored");
            }
        }
        out
    }

    /// These settings with `key` set to `value`, checked as `PUT
    /// /configurations` checks it (Harbor's key names).
    pub fn with_setting(mut self, key: &str, value: &Value) -> Result<Self, HarborError> {
        self.apply(key, value)?;
        Ok(self)
    }

    /// Sets `key` to `value`, checked as the API checks it.
    fn apply(&mut self, key: &str, value: &Value) -> Result<(), HarborError> {
        let bad =
            |what: &str| HarborError::bad_request(format!("{key} must be {what}, not {value}"));
        match key {
            k if k.starts_with("oidc_") => crate::oidc::settings::apply(&mut self.oidc, k, value)?,
            "read_only" => self.read_only = value.as_bool().ok_or_else(|| bad("true or false"))?,
            "storage_per_project" => {
                let n = value.as_i64().ok_or_else(|| bad("a number of bytes"))?;
                parse_limit(n)?;
                self.storage_per_project = n;
            }
            "project_creation_restriction" => {
                self.project_creation_restriction = value
                    .as_str()
                    .and_then(CreationRestriction::parse)
                    .ok_or_else(|| bad("\"everyone\" or \"adminonly\""))?;
            }
            "notification_enable" => {
                self.notification_enable = value.as_bool().ok_or_else(|| bad("true or false"))?
            }
            "audit_log_forward_endpoint" => {
                let endpoint = value.as_str().ok_or_else(|| bad("a host:port string"))?;
                if !endpoint.is_empty() && !is_host_port(endpoint) {
                    return Err(bad("host:port of a syslog server (TCP), or empty"));
                }
                endpoint.clone_into(&mut self.audit_log_forward_endpoint);
            }
            "skip_audit_log_database" => {
                self.skip_audit_log_database =
                    value.as_bool().ok_or_else(|| bad("true or false"))?
            }
            "token_expiration" => {
                self.token_expiration = value
                    .as_i64()
                    .filter(|m| (1..=MAX_TOKEN_MINUTES).contains(m))
                    .ok_or_else(|| bad(&format!("minutes from 1 to {MAX_TOKEN_MINUTES}")))?
            }
            "robot_token_duration" => {
                self.robot_token_duration = value
                    .as_i64()
                    .filter(|d| (1..=MAX_ROBOT_DAYS).contains(d))
                    .ok_or_else(|| bad(&format!("days from 1 to {MAX_ROBOT_DAYS}")))?
            }
            "auth_mode" => {
                self.auth_mode = value
                    .as_str()
                    .and_then(AuthMode::parse)
                    .ok_or_else(|| bad("\"db_auth\", \"ldap_auth\" or \"oidc_auth\""))?
            }
            _ => {
                if !ldap::apply(&mut self.ldap, key, value)? {
                    return Err(HarborError::bad_request(format!("{key} is not a setting")));
                }
            }
        }
        Ok(())
    }

    /// Harbor's `ConfigurationsResponse`: every key this server shows, as
    /// `{"value": ..., "editable": ...}`; `auth_mode` is editable only when
    /// `auth_mode_editable` (no user but `admin` yet), and
    /// `ldap_search_password` is never shown.
    pub fn response(&self, auth_mode_editable: bool) -> serde_json::Map<String, Value> {
        let value = |key: &str| -> Value {
            if let Some(v) = ldap::value(&self.ldap, key) {
                return v;
            }
            match key {
                "auth_mode" => json!(self.auth_mode.as_str()),
                k if k.starts_with("oidc_") => crate::oidc::settings::value(&self.oidc, k),
                "read_only" => json!(self.read_only),
                "storage_per_project" => json!(self.storage_per_project),
                "project_creation_restriction" => json!(self.project_creation_restriction.as_str()),
                "quota_per_project_enable" => json!(true),
                "notification_enable" => json!(self.notification_enable),
                "token_expiration" => json!(self.token_expiration),
                "robot_token_duration" => json!(self.robot_token_duration),
                "robot_name_prefix" => json!(harbor_auth::ROBOT_PREFIX),
                "audit_log_forward_endpoint" => json!(self.audit_log_forward_endpoint),
                "skip_audit_log_database" => json!(self.skip_audit_log_database),
                _ => json!(false),
            }
        };
        let ldap_keys = ldap::KEYS
            .iter()
            .filter(|k| **k != ldap::PASSWORD_KEY)
            .map(|k| (*k, &Kind::Editable));
        KEYS.iter()
            // Write-only: never shown.
            .filter(|(key, _)| *key != "oidc_client_secret")
            .map(|(key, kind)| (*key, kind))
            .chain(ldap_keys)
            .map(|(key, kind)| {
                let editable = match key {
                    "auth_mode" => auth_mode_editable,
                    _ => matches!(kind, Kind::Editable),
                };
                (
                    key.to_owned(),
                    json!({ "value": value(key), "editable": editable }),
                )
            })
            .collect()
    }
}

/// Whether `s` is `host:port` with a port from 1.
fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

/// `lifetime` in whole minutes, rounded up: the `token_expiration` a
/// configured token lifetime shows as.
pub fn minutes(lifetime: Duration) -> i64 {
    i64::try_from(lifetime.as_secs().div_ceil(60))
        .unwrap_or(i64::MAX)
        .max(1)
}

fn token_lifetime(s: &SystemSettings) -> Duration {
    Duration::from_secs(u64::try_from(s.token_expiration.max(1)).unwrap_or(1) * 60)
}

/// The settings of one server: read by the handlers, refreshed from the
/// store, changed through the API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Settings {
    current: Arc<RwLock<SystemSettings>>,
    defaults: SystemSettings,
    store: Arc<dyn SettingsStore>,
    registry: Registry,
    tokens: Option<harbor_auth::TokenService>,
    identity: Option<Arc<dyn IdentityStore>>,
    ldap: Option<LdapAuthenticator>,
    oidc: Option<harbor_auth::oidc::Oidc>,
    seal: Option<secrets::SettingSeal>,
    /// What the store held at the last refresh (while it holds the same, a
    /// refresh has nothing to open or put in force). Held from reading (or
    /// writing) the store until what was read is in force, so that a
    /// refresh which read the store before a change cannot put the old
    /// values back after the change is in force.
    last_read: Arc<tokio::sync::Mutex<Option<SettingValues>>>,
}

impl Settings {
    /// Settings over `store`, starting from `defaults` (the configuration
    /// file's), applied to `registry` (its read-only mode).
    pub fn new(
        store: Arc<dyn SettingsStore>,
        defaults: SystemSettings,
        registry: Registry,
    ) -> Self {
        registry.set_read_only(defaults.read_only);
        Settings {
            current: Arc::new(RwLock::new(defaults.clone())),
            defaults,
            store,
            registry,
            tokens: None,
            identity: None,
            ldap: None,
            oidc: None,
            seal: None,
            last_read: Arc::default(),
        }
    }

    /// Keeps the secret settings (`ldap_search_password`,
    /// `oidc_client_secret`) sealed in the store with a key derived from
    /// `master_key` (the shared `secret.key`, 32 bytes or more). Without
    /// it they are stored in clear.
    pub fn with_sealing(mut self, master_key: &[u8]) -> Result<Self, harbor_auth::AuthError> {
        self.seal = Some(secrets::SettingSeal::new(master_key)?);
        Ok(self)
    }

    /// Counts the users in `identity` for Harbor's `auth_mode` rule: the
    /// mode changes only while no user but `admin` exists.
    #[must_use]
    pub fn with_identity(mut self, identity: Arc<dyn IdentityStore>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Puts the `ldap_*` settings in force on `ldap` too.
    #[must_use]
    pub fn with_ldap(mut self, ldap: LdapAuthenticator) -> Self {
        self.ldap = Some(ldap);
        self.put_in_force(self.get());
        self
    }

    /// How users log in now.
    pub fn auth_mode(&self) -> AuthMode {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .auth_mode
    }

    /// Whether `auth_mode` may change: no user but `admin` (id 1) exists.
    pub async fn auth_mode_editable(&self) -> harbor_core::Result<bool> {
        let Some(identity) = &self.identity else {
            return Ok(true);
        };
        let (users, total) = identity
            .list_users(
                None,
                Page {
                    page: 1,
                    page_size: 2,
                },
            )
            .await?;
        Ok(total == 0 || (total == 1 && users.iter().all(|u| u.id == 1)))
    }

    /// Harbor's `ConfigurationsResponse` for the settings in force.
    pub async fn response(&self) -> Result<serde_json::Map<String, Value>, HarborError> {
        let editable = self.auth_mode_editable().await?;
        Ok(self.get().response(editable))
    }

    /// Puts `token_expiration` in force on `tokens` too.
    #[must_use]
    pub fn with_tokens(mut self, tokens: harbor_auth::TokenService) -> Self {
        self.tokens = Some(tokens);
        self.put_in_force(self.get());
        self
    }

    /// Puts the `oidc_*` settings in force on `oidc` while `auth_mode` is
    /// `oidc_auth` (and OIDC off otherwise).
    #[must_use]
    pub fn with_oidc(mut self, oidc: harbor_auth::oidc::Oidc) -> Self {
        self.oidc = Some(oidc);
        self.put_in_force(self.get());
        self
    }

    /// The settings in force.
    pub fn get(&self) -> SystemSettings {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the store again and puts what it says in force (sealing any
    /// secret an older version stored in clear).
    pub async fn refresh(&self) -> harbor_core::Result<()> {
        let mut last_read = self.last_read.lock().await;
        let read = self.store.settings().await?;
        if last_read.as_ref() == Some(&read) {
            return Ok(());
        }
        let stored = match &self.seal {
            Some(seal) => {
                let unsealed = seal.unsealed(&read);
                if !unsealed.is_empty() {
                    self.store.update_settings(&unsealed).await?;
                    tracing::info!(keys = ?unsealed.keys().collect::<Vec<_>>(), "secret settings sealed");
                }
                seal.open(&read)
            }
            None => secrets::without_seal(&read),
        };
        self.put_in_force(SystemSettings::with_stored(&self.defaults, &stored));
        *last_read = Some(read);
        Ok(())
    }

    fn put_in_force(&self, settings: SystemSettings) {
        self.registry.set_read_only(settings.read_only);
        if let Some(oidc) = &self.oidc {
            oidc.configure((settings.auth_mode == AuthMode::Oidc).then(|| settings.oidc.clone()));
        }
        if let Some(tokens) = &self.tokens {
            // The configuration's lifetime (which may be finer than a
            // minute) until an administrator sets another.
            tokens.set_lifetime(
                if settings.token_expiration == self.defaults.token_expiration {
                    tokens.config().lifetime
                } else {
                    token_lifetime(&settings)
                },
            );
        }
        if let Some(ldap) = &self.ldap {
            if ldap.config() != settings.ldap {
                if let Err(e) = ldap.set_config(settings.ldap.clone()) {
                    tracing::warn!(error = %e, "LDAP settings not put in force");
                }
            }
        }
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if *current != settings {
            tracing::info!(?settings, "settings in force");
        }
        *current = settings;
    }

    /// Applies a `PUT /configurations` body: every key checked first, then
    /// all stored together and put in force here at once (the other
    /// instances within [`REFRESH_INTERVAL`]). A bad key or value changes
    /// nothing.
    pub async fn update(&self, body: &serde_json::Map<String, Value>) -> Result<(), HarborError> {
        // Held so that a refresh cannot put older values back meanwhile.
        let _applying = self.last_read.lock().await;
        let mut next = self.get();
        let mut changes = SettingValues::new();
        for (key, value) in body {
            let kind = KEYS
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, kind)| kind)
                .or_else(|| {
                    ldap::KEYS
                        .contains(&key.as_str())
                        .then_some(&Kind::Editable)
                });
            match kind {
                Some(Kind::Fixed(why)) => {
                    return Err(HarborError::bad_request(format!(
                        "{key} cannot be changed: {why}"
                    )))
                }
                Some(Kind::Editable) => {
                    next.apply(key, value)?;
                    let stored = match &self.seal {
                        Some(seal) => seal.seal(key, value)?,
                        None => value.clone(),
                    };
                    changes.insert(key.clone(), stored);
                }
                None => {
                    return Err(HarborError::bad_request(format!(
                        "{key} is not a configuration item of this server"
                    )))
                }
            }
        }
        ldap::validate(&next.ldap)?;
        let current = self.get();
        if next.auth_mode != current.auth_mode && !self.auth_mode_editable().await? {
            return Err(HarborError::bad_request(AUTH_MODE_LOCKED));
        }
        if next.skip_audit_log_database && next.audit_log_forward_endpoint.is_empty() {
            return Err(HarborError::bad_request(
                "skip_audit_log_database needs an audit_log_forward_endpoint: entries would be lost",
            ));
        }
        self.store.update_settings(&changes).await?;
        self.put_in_force(next);
        Ok(())
    }

    /// Reads the store every [`REFRESH_INTERVAL`] until the task is
    /// aborted.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let settings = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = settings.refresh().await {
                    tracing::warn!(error = %e, "reading the settings failed");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stored_values_override_the_defaults_and_bad_ones_are_ignored() {
        let stored: SettingValues = [
            ("read_only".to_owned(), json!(true)),
            ("storage_per_project".to_owned(), json!("lots")),
        ]
        .into_iter()
        .collect();
        let s = SystemSettings::with_stored(&SystemSettings::default(), &stored);
        assert!(s.read_only);
        assert_eq!(
            s.storage_per_project, -1,
            "a bad stored value keeps the default"
        );
        let r = s.response(false);
        assert_eq!(r["read_only"], json!({"value": true, "editable": true}));
        assert_eq!(
            r["auth_mode"],
            json!({"value": "db_auth", "editable": false}),
            "not editable once users other than admin exist"
        );
        assert_eq!(
            s.response(true)["auth_mode"],
            json!({"value": "db_auth", "editable": true})
        );
        assert!(
            !r.contains_key("ldap_search_password"),
            "the search password is never shown"
        );
        assert_eq!(
            r["ldap_group_membership_attribute"],
            json!({"value": "memberof", "editable": true})
        );
    }

    #[test]
    fn values_are_checked_as_harbor_checks_them() {
        let mut s = SystemSettings::default();
        assert!(s.apply("read_only", &json!("yes")).is_err());
        assert!(s.apply("storage_per_project", &json!(0)).is_err());
        assert!(s
            .apply("project_creation_restriction", &json!("nobody"))
            .is_err());
        s.apply("project_creation_restriction", &json!("adminonly"))
            .unwrap();
        assert_eq!(
            s.project_creation_restriction,
            CreationRestriction::AdminOnly
        );
        assert!(s.apply("auth_mode", &json!("ldap")).is_err());
        s.apply("auth_mode", &json!("ldap_auth")).unwrap();
        assert_eq!(s.auth_mode, AuthMode::Ldap);
        assert!(s.apply("ldap_scope", &json!(3)).is_err());
        assert!(s.apply("ldap_timeout", &json!(0)).is_err());
        assert!(s.apply("ldap_verify_cert", &json!("no")).is_err());
        s.apply("ldap_url", &json!("ftp://x")).unwrap();
        assert!(ldap::validate(&s.ldap).is_err(), "checked as a whole");
    }
}
