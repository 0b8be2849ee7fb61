//! How to reach and read the directory: Harbor's `ldap_*` settings as Rust
//! types, checked before use.

use std::fmt;
use std::time::Duration;

use crate::error::AuthError;

/// Where under a base DN a search looks (Harbor's `ldap_scope` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LdapScope {
    /// The base entry only (0).
    Base,
    /// The base's direct children (1).
    OneLevel,
    /// The base and everything below it (2, Harbor's default).
    #[default]
    Subtree,
}

impl LdapScope {
    /// Harbor's number: 0 base, 1 one level, 2 subtree.
    pub fn as_i64(self) -> i64 {
        match self {
            LdapScope::Base => 0,
            LdapScope::OneLevel => 1,
            LdapScope::Subtree => 2,
        }
    }

    /// The scope Harbor's number names, if any.
    pub fn from_i64(n: i64) -> Option<Self> {
        match n {
            0 => Some(LdapScope::Base),
            1 => Some(LdapScope::OneLevel),
            2 => Some(LdapScope::Subtree),
            _ => None,
        }
    }

    pub(super) fn to_ldap3(self) -> ldap3::Scope {
        match self {
            LdapScope::Base => ldap3::Scope::Base,
            LdapScope::OneLevel => ldap3::Scope::OneLevel,
            LdapScope::Subtree => ldap3::Scope::Subtree,
        }
    }
}

/// Harbor's LDAP group settings (`ldap_group_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapGroupConfig {
    /// Where groups are (`ldap_group_base_dn`); the users' base DN when
    /// empty.
    pub base_dn: String,
    /// Which entries are groups (`ldap_group_search_filter`), e.g.
    /// `objectClass=groupOfNames`; any entry when empty.
    pub filter: String,
    /// The attribute naming a group (`ldap_group_attribute_name`, `cn`).
    pub name_attribute: String,
    /// Where under the base DN groups are looked for
    /// (`ldap_group_search_scope`).
    pub scope: LdapScope,
    /// The group whose members are system administrators
    /// (`ldap_group_admin_dn`); none when empty.
    pub admin_dn: String,
    /// The user attribute listing the user's groups
    /// (`ldap_group_membership_attribute`, `memberof`).
    pub membership_attribute: String,
}

impl Default for LdapGroupConfig {
    fn default() -> Self {
        LdapGroupConfig {
            base_dn: String::new(),
            filter: String::new(),
            name_attribute: "cn".into(),
            scope: LdapScope::Subtree,
            admin_dn: String::new(),
            membership_attribute: "memberof".into(),
        }
    }
}

/// Harbor's LDAP settings (`ldap_*`): the server, the account searches bind
/// as, where users are and how they are named.
#[derive(Clone, PartialEq, Eq)]
pub struct LdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]` (`ldap_url`); a bare
    /// `host[:port]` means `ldap://`, port 636 means `ldaps://`, as in
    /// Harbor.
    pub url: String,
    /// The DN searches bind as (`ldap_search_dn`); anonymous when empty.
    pub search_dn: String,
    /// Its password (`ldap_search_password`).
    pub search_password: String,
    /// Where users are (`ldap_base_dn`).
    pub base_dn: String,
    /// Which entries are users (`ldap_filter`), e.g.
    /// `(objectClass=person)`; any entry when empty.
    pub filter: String,
    /// The attribute holding the login name (`ldap_uid`, `cn` by default).
    pub uid: String,
    /// Where under the base DN users are looked for (`ldap_scope`).
    pub scope: LdapScope,
    /// Bounds connecting and each operation (`ldap_timeout`, 5 s).
    pub timeout: Duration,
    /// Whether the server's certificate is verified, over `ldaps://` or
    /// StartTLS (`ldap_verify_cert`).
    pub verify_cert: bool,
    /// Upgrades an `ldap://` connection with StartTLS before any bind
    /// (`ldap_starttls`; not one of Harbor's settings, which offer
    /// `ldaps://` only).
    pub starttls: bool,
    /// Groups.
    pub group: LdapGroupConfig,
}

impl fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("search_dn", &self.search_dn)
            .field(
                "search_password",
                &if self.search_password.is_empty() {
                    ""
                } else {
                    "***"
                },
            )
            .field("base_dn", &self.base_dn)
            .field("filter", &self.filter)
            .field("uid", &self.uid)
            .field("scope", &self.scope)
            .field("timeout", &self.timeout)
            .field("verify_cert", &self.verify_cert)
            .field("starttls", &self.starttls)
            .field("group", &self.group)
            .finish()
    }
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: String::new(),
            search_dn: String::new(),
            search_password: String::new(),
            base_dn: String::new(),
            filter: String::new(),
            uid: "cn".into(),
            scope: LdapScope::Subtree,
            timeout: Duration::from_secs(5),
            verify_cert: true,
            starttls: false,
            group: LdapGroupConfig::default(),
        }
    }
}

/// The longest `ldap_timeout` accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

impl LdapConfig {
    /// The URL to connect to: scheme added and checked, as Harbor reads
    /// `ldap_url`.
    pub fn connect_url(&self) -> Result<String, AuthError> {
        let bad = |why: &str| AuthError::BadRequest(format!("ldap_url {:?}: {why}", self.url));
        let raw = self.url.trim();
        if raw.is_empty() {
            return Err(bad("no LDAP server is configured"));
        }
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            None => ("ldap".to_owned(), raw),
        };
        if scheme != "ldap" && scheme != "ldaps" {
            return Err(bad("the scheme must be ldap:// or ldaps://"));
        }
        let url = url::Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| bad(&format!("not a URL: {e}")))?;
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(bad("no host"));
        };
        if url.path().len() > 1 || url.query().is_some() || url.username() != "" {
            return Err(bad("give only ldap[s]://host[:port]"));
        }
        // Harbor: port 636 is LDAPS whatever the scheme says.
        let scheme = if url.port() == Some(636) {
            "ldaps"
        } else {
            &scheme
        };
        let port = url
            .port()
            .unwrap_or(if scheme == "ldaps" { 636 } else { 389 });
        Ok(format!("{scheme}://{host}:{port}"))
    }

    /// Checks every setting a search or login uses: the URL (when set), the
    /// filters, the attribute names and the timeout. Settings that do not
    /// pass are refused before they are stored.
    pub fn validate(&self) -> Result<(), AuthError> {
        if !self.url.trim().is_empty() {
            self.connect_url()?;
        }
        super::filter::normalize("ldap_filter", &self.filter)?;
        super::filter::normalize("ldap_group_search_filter", &self.group.filter)?;
        attribute("ldap_uid", &self.uid, false)?;
        attribute(
            "ldap_group_attribute_name",
            &self.group.name_attribute,
            true,
        )?;
        attribute(
            "ldap_group_membership_attribute",
            &self.group.membership_attribute,
            true,
        )?;
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(AuthError::BadRequest(format!(
                "ldap_timeout must be from 1 to {} seconds",
                MAX_TIMEOUT.as_secs()
            )));
        }
        Ok(())
    }
}

/// Checks that `value` is an attribute description (a name like `uid` or
/// `sAMAccountName`, or an OID), so that it cannot change a filter's shape.
fn attribute(key: &str, value: &str, empty_ok: bool) -> Result<(), AuthError> {
    let ok = if value.is_empty() {
        empty_ok
    } else {
        let mut chars = value.chars();
        let first = chars.next().unwrap_or(' ');
        (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || c == '-'))
            || value
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadRequest(format!(
            "{key} {value:?} is not an LDAP attribute name"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with_url(url: &str) -> LdapConfig {
        LdapConfig {
            url: url.into(),
            ..LdapConfig::default()
        }
    }

    #[test]
    fn urls_are_read_as_harbor_reads_them() {
        assert_eq!(
            with_url("ldap://dir.example.com").connect_url().unwrap(),
            "ldap://dir.example.com:389"
        );
        assert_eq!(
            with_url("ldaps://dir.example.com").connect_url().unwrap(),
            "ldaps://dir.example.com:636"
        );
        assert_eq!(
            with_url("dir.example.com:3890").connect_url().unwrap(),
            "ldap://dir.example.com:3890"
        );
        assert_eq!(
            with_url("ldap://dir.example.com:636")
                .connect_url()
                .unwrap(),
            "ldaps://dir.example.com:636"
        );
        for bad in [
            "http://dir",
            "ldap://",
            "ldap://h/dc=x",
            "ldap://h:99999",
            "",
        ] {
            assert!(with_url(bad).connect_url().is_err(), "{bad}");
        }
    }

    #[test]
    fn attribute_names_cannot_carry_a_filter() {
        let mut c = LdapConfig {
            uid: "uid)(objectClass=*".into(),
            ..LdapConfig::default()
        };
        assert!(c.validate().is_err());
        c.uid = "sAMAccountName".into();
        c.validate().unwrap();
        c.uid = "0.9.2342.19200300.100.1.1".into();
        c.validate().unwrap();
        c.timeout = Duration::ZERO;
        assert!(c.validate().is_err());
    }
}
