//! Docker token scopes: `type:name:actions`, where the name may itself contain
//! `:` (a registry host with a port), so a scope is split at its first and
//! last colon only.

use std::fmt;

/// One requested or granted access: `repository:library/nginx:pull,push`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// `repository`, `registry`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource name, e.g. `library/nginx` or `catalog`.
    pub name: String,
    /// The actions, e.g. `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl Access {
    /// Parses one scope; `None` if it is malformed.
    pub fn parse(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        let actions: Vec<String> = actions
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
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
        write!(f, "{}:{}:{}", self.kind, self.name, self.actions.join(","))
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
                actions: vec!["pull".into(), "push".into()],
            })
        );
        assert_eq!(
            Access::parse("registry:catalog:*").map(|a| a.actions),
            Some(vec!["*".into()])
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
