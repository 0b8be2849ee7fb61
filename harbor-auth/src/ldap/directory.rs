//! What harbor-rs asks of the directory, as Harbor asks it: find a user by
//! login name (search, then bind as the entry found), the user's groups,
//! and the searches behind `/ldap/users/search` and `/ldap/groups/search`.

use std::collections::HashMap;

use ldap3::SearchEntry;

use super::config::{LdapConfig, LdapScope};
use super::filter;
use super::session::{Session, SessionError};

/// A user entry of the directory, in Harbor's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUser {
    /// The login name: the entry's `ldap_uid` attribute.
    pub username: String,
    /// The full name, from `displayName` or `cn`.
    pub realname: String,
    /// From `mail` (or `email`); empty when the entry has none.
    pub email: String,
    /// The entry's DN.
    pub dn: String,
    /// The DNs the membership attribute (`memberOf`) lists.
    pub member_of: Vec<String>,
}

/// A group entry of the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapGroup {
    /// Its name: the `ldap_group_attribute_name` attribute (the DN when the
    /// entry has none).
    pub name: String,
    /// Its DN.
    pub dn: String,
}

/// Who a successful login is, by the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapIdentity {
    /// The user entry.
    pub user: LdapUser,
    /// The groups (under the group base DN and matching the group filter)
    /// the user is in.
    pub groups: Vec<LdapGroup>,
    /// Whether one of the groups the user is in is `ldap_group_admin_dn`.
    pub admin: bool,
}

/// How a login ended, short of a failure to talk to the directory.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The password is right.
    Valid(Box<LdapIdentity>),
    /// No entry, several entries, or a wrong password.
    Refused(&'static str),
}

impl LdapConfig {
    fn user_attributes(&self) -> Vec<&str> {
        let mut attrs = vec!["uid", "cn", "displayName", "mail", "email"];
        for extra in [self.uid.as_str(), self.group.membership_attribute.as_str()] {
            if !extra.is_empty() && !attrs.iter().any(|a| a.eq_ignore_ascii_case(extra)) {
                attrs.push(extra);
            }
        }
        attrs
    }

    fn group_base(&self) -> &str {
        if self.group.base_dn.trim().is_empty() {
            &self.base_dn
        } else {
            &self.group.base_dn
        }
    }
}

/// An attribute's values, whatever the case of its name in the entry.
fn values<'a>(entry: &'a SearchEntry, attr: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map_or(&[], |(_, v)| v.as_slice())
}

fn first(entry: &SearchEntry, attr: &str) -> String {
    values(entry, attr)
        .first()
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn user_of(config: &LdapConfig, entry: &SearchEntry) -> LdapUser {
    let realname = [first(entry, "displayName"), first(entry, "cn")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let email = [first(entry, "mail"), first(entry, "email")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let member_of = if config.group.membership_attribute.is_empty() {
        Vec::new()
    } else {
        values(entry, &config.group.membership_attribute)
            .iter()
            .map(|v| v.trim().to_owned())
            .collect()
    };
    LdapUser {
        username: first(entry, &config.uid),
        realname,
        email,
        dn: entry.dn.clone(),
        member_of,
    }
}

/// A DN compared as Harbor compares them: trimmed, lower-cased, with the
/// spaces after separators gone.
pub(crate) fn dn_key(dn: &str) -> String {
    dn.trim()
        .to_lowercase()
        .split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `child` is `base` or below it.
fn under(base: &str, child: &str) -> bool {
    let (base, child) = (dn_key(base), dn_key(child));
    base.is_empty() || child == base || child.ends_with(&format!(",{base}"))
}

/// Opens a session bound as the search DN (anonymously without one).
async fn searcher(config: &LdapConfig) -> Result<Session, SessionError> {
    let mut s = Session::open(config).await?;
    match s.bind(&config.search_dn, &config.search_password).await {
        Ok(()) => Ok(s),
        Err(SessionError::InvalidCredentials) => {
            s.close().await;
            Err(SessionError::Refused {
                what: "the search DN's bind",
                message: "invalid credentials (check ldap_search_dn and ldap_search_password)"
                    .into(),
            })
        }
        Err(e) => Err(e),
    }
}

/// The users whose `ldap_uid` is `username` (every user for an empty one),
/// under the base DN and matching `ldap_filter`.
async fn find_users(
    s: &mut Session,
    config: &LdapConfig,
    username: &str,
) -> Result<Vec<LdapUser>, SessionError> {
    let base = filter::normalize("ldap_filter", &config.filter)
        .map_err(|e| SessionError::Config(e.to_string()))?;
    let f = filter::equal(base.as_deref(), &config.uid, username);
    let entries = s
        .search(&config.base_dn, config.scope, &f, &config.user_attributes())
        .await?;
    Ok(entries.iter().map(|e| user_of(config, e)).collect())
}

/// Checks `username`/`password` against the directory: search as the
/// search DN, exactly one entry, bind as it; then its groups.
pub(crate) async fn verify(
    config: &LdapConfig,
    username: &str,
    password: &str,
) -> Result<Verdict, SessionError> {
    let mut s = searcher(config).await?;
    let users = find_users(&mut s, config, username).await;
    let users = match users {
        Ok(u) => u,
        Err(e) => {
            s.close().await;
            return Err(e);
        }
    };
    let user = match <[LdapUser; 1]>::try_from(users) {
        Ok([user]) => user,
        Err(v) if v.is_empty() => {
            s.close().await;
            return Ok(Verdict::Refused("no such user in the directory"));
        }
        Err(_) => {
            s.close().await;
            return Ok(Verdict::Refused("several directory entries have this name"));
        }
    };
    match s.bind(&user.dn, password).await {
        Ok(()) => {}
        Err(SessionError::InvalidCredentials) => {
            s.close().await;
            return Ok(Verdict::Refused("wrong password"));
        }
        Err(e) => {
            s.close().await;
            return Err(e);
        }
    }
    // Group lookups as the search DN, as Harbor does them.
    let groups = async {
        s.bind(&config.search_dn, &config.search_password).await?;
        groups_of(&mut s, config, &user).await
    }
    .await;
    s.close().await;
    let groups = match groups {
        Ok(g) => g,
        Err(e) => {
            // As in Harbor, groups that cannot be read do not block a login.
            tracing::warn!(user = %user.username, error = %e, "reading the user's LDAP groups failed");
            Vec::new()
        }
    };
    let admin_dn = dn_key(&config.group.admin_dn);
    let admin = !admin_dn.is_empty()
        && user
            .member_of
            .iter()
            .chain(groups.iter().map(|g| &g.dn))
            .any(|dn| dn_key(dn) == admin_dn);
    Ok(Verdict::Valid(Box::new(LdapIdentity {
        user,
        groups,
        admin,
    })))
}

/// The user's groups: each DN its membership attribute lists, looked up
/// (it must be under the group base DN and match the group filter, as in
/// Harbor), and, with a group base DN set, the groups there whose `member`
/// or `uniqueMember` is the user (for directories without `memberOf`).
async fn groups_of(
    s: &mut Session,
    config: &LdapConfig,
    user: &LdapUser,
) -> Result<Vec<LdapGroup>, SessionError> {
    let mut found: Vec<LdapGroup> = Vec::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    for dn in &user.member_of {
        if seen.insert(dn_key(dn), ()).is_some() {
            continue;
        }
        match group_by_dn(s, config, dn).await {
            Ok(Some(g)) => found.push(g),
            Ok(None) => {}
            Err(SessionError::NoSuchObject(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if !config.group.base_dn.trim().is_empty() {
        let base = filter::normalize("ldap_group_search_filter", &config.group.filter)
            .map_err(|e| SessionError::Config(e.to_string()))?;
        let dn = ldap3::ldap_escape(user.dn.as_str());
        let f = filter::and(
            base.as_deref(),
            &format!("(|(member={dn})(uniqueMember={dn}))"),
        );
        let attrs = [config.group.name_attribute.as_str()];
        for e in s
            .search(&config.group.base_dn, config.group.scope, &f, &attrs)
            .await?
        {
            if seen.insert(dn_key(&e.dn), ()).is_none() {
                found.push(group_of(config, &e));
            }
        }
    }
    Ok(found)
}

fn group_of(config: &LdapConfig, entry: &SearchEntry) -> LdapGroup {
    let name = first(entry, name_attribute(config));
    LdapGroup {
        name: if name.is_empty() {
            entry.dn.clone()
        } else {
            name
        },
        dn: entry.dn.clone(),
    }
}

fn name_attribute(config: &LdapConfig) -> &str {
    if config.group.name_attribute.is_empty() {
        "cn"
    } else {
        &config.group.name_attribute
    }
}

/// The group at `dn`, if it is under the group base DN and matches the
/// group filter.
async fn group_by_dn(
    s: &mut Session,
    config: &LdapConfig,
    dn: &str,
) -> Result<Option<LdapGroup>, SessionError> {
    if !under(config.group_base(), dn) {
        return Ok(None);
    }
    let base = filter::normalize("ldap_group_search_filter", &config.group.filter)
        .map_err(|e| SessionError::Config(e.to_string()))?;
    let f = filter::and(base.as_deref(), "(objectClass=*)");
    let entries = s
        .search(dn, LdapScope::Base, &f, &[name_attribute(config)])
        .await?;
    Ok(entries.first().map(|e| group_of(config, e)))
}

/// Opens a session with `config` and binds as its search DN: what
/// `/ldap/ping` checks.
pub(crate) async fn ping(config: &LdapConfig) -> Result<(), SessionError> {
    searcher(config).await?.close().await;
    Ok(())
}

/// The users named `username` (all users for an empty one).
pub(crate) async fn search_users(
    config: &LdapConfig,
    username: &str,
) -> Result<Vec<LdapUser>, SessionError> {
    let mut s = searcher(config).await?;
    let r = find_users(&mut s, config, username).await;
    s.close().await;
    r
}

/// The group at `dn` when given, else the groups named `name` (every group
/// for an empty name) under the group base DN.
pub(crate) async fn search_groups(
    config: &LdapConfig,
    name: &str,
    dn: &str,
) -> Result<Vec<LdapGroup>, SessionError> {
    let mut s = searcher(config).await?;
    let r = async {
        if !dn.trim().is_empty() {
            return match group_by_dn(&mut s, config, dn.trim()).await {
                Ok(g) => Ok(g.into_iter().collect()),
                Err(SessionError::NoSuchObject(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            };
        }
        let base = filter::normalize("ldap_group_search_filter", &config.group.filter)
            .map_err(|e| SessionError::Config(e.to_string()))?;
        let f = filter::equal(base.as_deref(), name_attribute(config), name);
        let entries = s
            .search(
                config.group_base(),
                config.group.scope,
                &f,
                &[name_attribute(config)],
            )
            .await?;
        Ok(entries.iter().map(|e| group_of(config, e)).collect())
    }
    .await;
    s.close().await;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_compare_without_case_or_spaces() {
        assert_eq!(
            dn_key(" CN=Admins, ou=Groups,dc=Example "),
            "cn=admins,ou=groups,dc=example"
        );
        assert!(under("ou=groups,dc=example", "cn=a, ou=Groups,dc=example"));
        assert!(under("ou=groups,dc=example", "ou=groups,dc=example"));
        assert!(!under("ou=groups,dc=example", "cn=a,ou=people,dc=example"));
        assert!(!under("ou=groups,dc=example", "cn=a,xou=groups,dc=example"));
        assert!(under("", "cn=anything"));
    }
}
