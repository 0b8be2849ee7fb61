//! Docker token scopes: `type:name:actions`, where the name may itself contain
//! `:` (a registry host with a port), so a scope is split at its first and
//! last colon only.

use std::fmt;

use crate::rbac::Action;

/// An action a token scope names, with the Docker token spec's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ScopeAction {
    /// `pull`: read manifests and blobs.
    #[serde(rename = "pull")]
    Pull,
    /// `push`: write them.
    #[serde(rename = "push")]
    Push,
    /// `delete`: delete them.
    #[serde(rename = "delete")]
    Delete,
    /// `*`: everything (for `registry:catalog:*`, or every repository action).
    #[serde(rename = "*")]
    All,
}

impl ScopeAction {
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeAction::Pull => "pull",
            ScopeAction::Push => "push",
            ScopeAction::Delete => "delete",
            ScopeAction::All => "*",
        }
    }

    /// Parses the spec's name; `None` for actions this registry never grants.
    pub fn parse(s: &str) -> Option<ScopeAction> {
        Some(match s {
            "pull" => ScopeAction::Pull,
            "push" => ScopeAction::Push,
            "delete" => ScopeAction::Delete,
            "*" => ScopeAction::All,
            _ => return None,
        })
    }

    /// The RBAC action on a repository this stands for (`None` for `*`).
    pub fn rbac(self) -> Option<Action> {
        match self {
            ScopeAction::Pull => Some(Action::Pull),
            ScopeAction::Push => Some(Action::Push),
            ScopeAction::Delete => Some(Action::Delete),
            ScopeAction::All => None,
        }
    }
}

/// Compares by the spec's name, so `actions == ["pull"]` reads as it should.
impl PartialEq<&str> for ScopeAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ScopeAction {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for ScopeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requested or granted access: `repository:library/nginx:pull,push`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// `repository`, `registry`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource name, e.g. `library/nginx` or `catalog`.
    pub name: String,
    /// The actions.
    pub actions: Vec<ScopeAction>,
}

impl Access {
    /// Parses one scope; `None` if it is malformed. Actions this registry
    /// never grants (`metadata-read`, ...) are left out: asking for them
    /// gets nothing, as the spec allows.
    pub fn parse(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let mut parsed: Vec<ScopeAction> = Vec::new();
        for a in actions
            .split(',')
            .filter_map(|a| ScopeAction::parse(a.trim()))
        {
            if !parsed.contains(&a) {
                parsed.push(a);
            }
        }
        let actions = parsed;
        Some(Access {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Parses every scope of a request: repeated `scope` parameters, each of
    /// which may hold several space-separated scopes. Malformed ones are skipped.
    pub fn parse_all<'a>(params: impl IntoIterator<Item = &'a str>) -> Vec<Access> {
        params
            .into_iter()
            .flat_map(|p| p.split(' '))
            .filter(|s| !s.is_empty())
            .filter_map(Access::parse)
            .collect()
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.kind, self.name)?;
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(a.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_with_hosts_and_ports_split_at_the_outer_colons() {
        let a = Access::parse("repository:localhost:5000/library/nginx:pull,push");
        assert_eq!(
            a,
            Some(Access {
                kind: "repository".into(),
                name: "localhost:5000/library/nginx".into(),
                actions: vec![ScopeAction::Pull, ScopeAction::Push],
            })
        );
        assert_eq!(
            Access::parse("registry:catalog:*").map(|a| a.actions),
            Some(vec![ScopeAction::All])
        );
        assert_eq!(
            Access::parse("repository:a/b:pull,metadata-read,pull").map(|a| a.actions),
            Some(vec![ScopeAction::Pull]),
            "unknown actions are left out, repeats folded"
        );
        assert_eq!(Access::parse("nonsense"), None);
        assert_eq!(Access::parse("repository::pull"), None);
    }

    #[test]
    fn several_scopes_arrive_repeated_or_space_separated() {
        let all = Access::parse_all([
            "repository:a/b:pull repository:c/d:push",
            "registry:catalog:*",
        ]);
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].to_string(), "repository:c/d:push");
    }
}
