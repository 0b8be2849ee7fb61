//! The authentication settings of `/configurations`: `auth_mode` and
//! Harbor's `ldap_*` keys, read into [`LdapConfig`] and shown back (the
//! search password never).

use std::time::Duration;

use harbor_auth::ldap::{LdapConfig, LdapScope, MAX_TIMEOUT};
use serde_json::{json, Value};

use crate::api::HarborError;

/// How users log in (Harbor's `auth_mode`). Not to be confused with
/// [`crate::config::AuthMode`], which turns Harbor's identity model on or
/// off as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Users and passwords in the database (`db_auth`).
    #[default]
    Db,
    /// Users of an LDAP directory (`ldap_auth`); `admin` and robot
    /// accounts still from the database.
    Ldap,
    /// Users of an OpenID Connect provider (`oidc_auth`); `admin` and
    /// robot accounts still from the database.
    Oidc,
}

impl AuthMode {
    /// Harbor's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Db => "db_auth",
            AuthMode::Ldap => "ldap_auth",
            AuthMode::Oidc => "oidc_auth",
        }
    }

    /// The mode Harbor's spelling names, if any.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "db_auth" => Some(AuthMode::Db),
            "ldap_auth" => Some(AuthMode::Ldap),
            "oidc_auth" => Some(AuthMode::Oidc),
            _ => None,
        }
    }
}

/// Harbor's message when `auth_mode` may not change.
pub const AUTH_MODE_LOCKED: &str =
    "the auth mode cannot be modified as new users have been inserted into database";

/// The LDAP keys, in Harbor's spelling (`ldap_starttls` is this server's
/// own), all editable; `ldap_search_password` is written, never shown.
pub(super) const KEYS: &[&str] = &[
    "ldap_url",
    "ldap_search_dn",
    "ldap_search_password",
    "ldap_base_dn",
    "ldap_filter",
    "ldap_uid",
    "ldap_scope",
    "ldap_timeout",
    "ldap_verify_cert",
    "ldap_starttls",
    "ldap_group_base_dn",
    "ldap_group_search_filter",
    "ldap_group_attribute_name",
    "ldap_group_search_scope",
    "ldap_group_admin_dn",
    "ldap_group_membership_attribute",
];

/// The key never shown.
pub(super) const PASSWORD_KEY: &str = "ldap_search_password";

/// Sets `key` of `ldap` to `value`; `Ok(false)` when `key` is not an LDAP
/// key. Values are checked one by one here, and together by the caller
/// ([`LdapConfig::validate`]).
pub(super) fn apply(ldap: &mut LdapConfig, key: &str, value: &Value) -> Result<bool, HarborError> {
    let bad = |what: &str| HarborError::bad_request(format!("{key} must be {what}, not {value}"));
    let string = || {
        value
            .as_str()
            .map(|s| s.trim().to_owned())
            .ok_or_else(|| bad("a string"))
    };
    let scope = || {
        value
            .as_i64()
            .and_then(LdapScope::from_i64)
            .ok_or_else(|| bad("0 (base), 1 (one level) or 2 (subtree)"))
    };
    let boolean = || value.as_bool().ok_or_else(|| bad("true or false"));
    match key {
        "ldap_url" => ldap.url = string()?,
        "ldap_search_dn" => ldap.search_dn = string()?,
        "ldap_search_password" => {
            // Not trimmed: a password is what it is.
            value
                .as_str()
                .ok_or_else(|| bad("a string"))?
                .clone_into(&mut ldap.search_password)
        }
        "ldap_base_dn" => ldap.base_dn = string()?,
        "ldap_filter" => ldap.filter = string()?,
        "ldap_uid" => ldap.uid = string()?,
        "ldap_scope" => ldap.scope = scope()?,
        "ldap_timeout" => {
            let max = MAX_TIMEOUT.as_secs();
            ldap.timeout = value
                .as_u64()
                .filter(|s| (1..=max).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| bad(&format!("seconds from 1 to {max}")))?
        }
        "ldap_verify_cert" => ldap.verify_cert = boolean()?,
        "ldap_starttls" => ldap.starttls = boolean()?,
        "ldap_group_base_dn" => ldap.group.base_dn = string()?,
        "ldap_group_search_filter" => ldap.group.filter = string()?,
        "ldap_group_attribute_name" => ldap.group.name_attribute = string()?,
        "ldap_group_search_scope" => ldap.group.scope = scope()?,
        "ldap_group_admin_dn" => ldap.group.admin_dn = string()?,
        "ldap_group_membership_attribute" => ldap.group.membership_attribute = string()?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The value `key` shows; `None` for the password and keys not LDAP's.
pub(super) fn value(ldap: &LdapConfig, key: &str) -> Option<Value> {
    Some(match key {
        "ldap_url" => json!(ldap.url),
        "ldap_search_dn" => json!(ldap.search_dn),
        "ldap_base_dn" => json!(ldap.base_dn),
        "ldap_filter" => json!(ldap.filter),
        "ldap_uid" => json!(ldap.uid),
        "ldap_scope" => json!(ldap.scope.as_i64()),
        "ldap_timeout" => json!(ldap.timeout.as_secs()),
        "ldap_verify_cert" => json!(ldap.verify_cert),
        "ldap_starttls" => json!(ldap.starttls),
        "ldap_group_base_dn" => json!(ldap.group.base_dn),
        "ldap_group_search_filter" => json!(ldap.group.filter),
        "ldap_group_attribute_name" => json!(ldap.group.name_attribute),
        "ldap_group_search_scope" => json!(ldap.group.scope.as_i64()),
        "ldap_group_admin_dn" => json!(ldap.group.admin_dn),
        "ldap_group_membership_attribute" => json!(ldap.group.membership_attribute),
        _ => return None,
    })
}

/// `config` checked as a whole, as a 400.
pub(super) fn validate(config: &LdapConfig) -> Result<(), HarborError> {
    config.validate().map_err(|e| match e {
        harbor_auth::AuthError::BadRequest(m) => HarborError::bad_request(m),
        e => HarborError::bad_request(e.to_string()),
    })
}
