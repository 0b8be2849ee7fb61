//! The `[ldap]` section and `[auth] auth_mode`: the starting values of
//! Harbor's `auth_mode` and `ldap_*` settings, each key of the section
//! being the setting's name without `ldap_` (`url` for `ldap_url`), each
//! overridden by `HARBOR_LDAP_<KEY>` (`HARBOR_LDAP_URL`). A value set
//! through `/api/v2.0/configurations` takes precedence.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ServerError;
use crate::settings::SystemSettings;

/// The `[ldap]` section; every key optional (Harbor's defaults).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSection {
    /// `ldap_url`: `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: Option<String>,
    /// `ldap_search_dn`.
    pub search_dn: Option<String>,
    /// `ldap_search_password`.
    pub search_password: Option<String>,
    /// `ldap_base_dn`.
    pub base_dn: Option<String>,
    /// `ldap_filter`.
    pub filter: Option<String>,
    /// `ldap_uid`.
    pub uid: Option<String>,
    /// `ldap_scope`: 0 base, 1 one level, 2 subtree.
    pub scope: Option<i64>,
    /// `ldap_timeout`, in seconds.
    pub timeout: Option<u64>,
    /// `ldap_verify_cert`.
    pub verify_cert: Option<bool>,
    /// `ldap_starttls`.
    pub starttls: Option<bool>,
    /// `ldap_group_base_dn`.
    pub group_base_dn: Option<String>,
    /// `ldap_group_search_filter`.
    pub group_search_filter: Option<String>,
    /// `ldap_group_attribute_name`.
    pub group_attribute_name: Option<String>,
    /// `ldap_group_search_scope`.
    pub group_search_scope: Option<i64>,
    /// `ldap_group_admin_dn`.
    pub group_admin_dn: Option<String>,
    /// `ldap_group_membership_attribute`.
    pub group_membership_attribute: Option<String>,
}

/// The section's keys without `ldap_`, as strings, integers or booleans.
const KEYS: &[(&str, Ty)] = &[
    ("url", Ty::Str),
    ("search_dn", Ty::Str),
    ("search_password", Ty::Str),
    ("base_dn", Ty::Str),
    ("filter", Ty::Str),
    ("uid", Ty::Str),
    ("scope", Ty::Int),
    ("timeout", Ty::Int),
    ("verify_cert", Ty::Bool),
    ("starttls", Ty::Bool),
    ("group_base_dn", Ty::Str),
    ("group_search_filter", Ty::Str),
    ("group_attribute_name", Ty::Str),
    ("group_search_scope", Ty::Int),
    ("group_admin_dn", Ty::Str),
    ("group_membership_attribute", Ty::Str),
];

#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
}

impl LdapSection {
    /// The settings it gives, as `(ldap_key, value)`.
    fn values(&self) -> Vec<(String, Value)> {
        let s = |v: &Option<String>| v.as_ref().map(|v| json!(v));
        let pairs = [
            ("url", s(&self.url)),
            ("search_dn", s(&self.search_dn)),
            ("search_password", s(&self.search_password)),
            ("base_dn", s(&self.base_dn)),
            ("filter", s(&self.filter)),
            ("uid", s(&self.uid)),
            ("scope", self.scope.map(|v| json!(v))),
            ("timeout", self.timeout.map(|v| json!(v))),
            ("verify_cert", self.verify_cert.map(|v| json!(v))),
            ("starttls", self.starttls.map(|v| json!(v))),
            ("group_base_dn", s(&self.group_base_dn)),
            ("group_search_filter", s(&self.group_search_filter)),
            ("group_attribute_name", s(&self.group_attribute_name)),
            (
                "group_search_scope",
                self.group_search_scope.map(|v| json!(v)),
            ),
            ("group_admin_dn", s(&self.group_admin_dn)),
            (
                "group_membership_attribute",
                s(&self.group_membership_attribute),
            ),
        ];
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (format!("ldap_{k}"), v)))
            .collect()
    }

    /// Applies `HARBOR_LDAP_<KEY>` variables found through `lookup`.
    pub(super) fn apply_env(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ServerError> {
        for (key, ty) in KEYS {
            let var = format!("HARBOR_LDAP_{}", key.to_ascii_uppercase());
            let Some(v) = lookup(&var) else { continue };
            let bad = |what: &str| ServerError::Config(format!("{var}={v:?}: expected {what}"));
            let text = Some(v.clone());
            match (key, ty) {
                (_, Ty::Int) => {
                    let n: i64 = v.trim().parse().map_err(|_| bad("a number"))?;
                    match *key {
                        "scope" => self.scope = Some(n),
                        "group_search_scope" => self.group_search_scope = Some(n),
                        _ => self.timeout = Some(u64::try_from(n).map_err(|_| bad("seconds"))?),
                    }
                }
                (_, Ty::Bool) => {
                    let b = super::parse_bool(&var, &v)?;
                    match *key {
                        "verify_cert" => self.verify_cert = Some(b),
                        _ => self.starttls = Some(b),
                    }
                }
                (&"url", _) => self.url = text,
                (&"search_dn", _) => self.search_dn = text,
                (&"search_password", _) => self.search_password = text,
                (&"base_dn", _) => self.base_dn = text,
                (&"filter", _) => self.filter = text,
                (&"uid", _) => self.uid = text,
                (&"group_base_dn", _) => self.group_base_dn = text,
                (&"group_search_filter", _) => self.group_search_filter = text,
                (&"group_attribute_name", _) => self.group_attribute_name = text,
                (&"group_admin_dn", _) => self.group_admin_dn = text,
                _ => self.group_membership_attribute = text,
            }
        }
        Ok(())
    }
}

/// `defaults` with the configuration's `auth_mode` and `[ldap]` over them,
/// each checked as the API checks it.
pub(super) fn apply(
    defaults: SystemSettings,
    auth_mode: Option<&str>,
    ldap: &LdapSection,
) -> Result<SystemSettings, ServerError> {
    let mut pairs = ldap.values();
    if let Some(mode) = auth_mode {
        pairs.push(("auth_mode".into(), json!(mode)));
    }
    let mut out = defaults;
    for (key, value) in pairs {
        out = out
            .with_setting(&key, &value)
            .map_err(|e| ServerError::Config(format!("{key}: {}", e.message())))?;
    }
    out.ldap
        .validate()
        .map_err(|e| ServerError::Config(format!("[ldap]: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::Config;
    use crate::settings::AuthMode;

    #[test]
    fn the_file_and_environment_give_the_starting_ldap_settings() {
        let mut c = Config::from_toml(
            "[auth]\nauth_mode = \"ldap_auth\"\n[ldap]\nurl = \"ldaps://dir.example.com\"\nscope = 1\ntimeout = 3\n",
        )
        .unwrap();
        c.apply_env(|k| (k == "HARBOR_LDAP_BASE_DN").then(|| "dc=example,dc=com".to_owned()))
            .unwrap();
        let s = c.system_settings().unwrap();
        assert_eq!(s.auth_mode, AuthMode::Ldap);
        assert_eq!(s.ldap.url, "ldaps://dir.example.com");
        assert_eq!(s.ldap.base_dn, "dc=example,dc=com");
        assert_eq!(s.ldap.scope.as_i64(), 1);
        assert_eq!(s.ldap.timeout.as_secs(), 3);
        assert_eq!(s.ldap.uid, "cn", "Harbor's default");
    }

    #[test]
    fn bad_ldap_settings_in_the_file_are_refused_by_name() {
        for text in [
            "[ldap]\nscope = 5\n",
            "[ldap]\nurl = \"http://x\"\n",
            "[auth]\nauth_mode = \"kerberos\"\n",
        ] {
            let c = Config::from_toml(text).unwrap();
            assert!(c.system_settings().is_err(), "{text}");
        }
        assert!(Config::from_toml("[ldap]\nno_such = 1\n").is_err());
    }
}
