//! Replication policies with Harbor's field names and meanings: filters
//! (`name` and `tag` doublestar globs, `decoration` matches/excludes,
//! `resource`), destination namespace and flattening, trigger, override,
//! deletion sync.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::error::{ReplicateError, Result};

/// A reference to a registry endpoint by id, as Harbor's API writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRef {
    /// The endpoint's id.
    pub id: i64,
}

/// One filter of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// `name`, `tag` or `resource`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The pattern (`name`, `tag`) or resource type (`image`, `artifact`).
    pub value: serde_json::Value,
    /// For `tag`: `matches` (default) or `excludes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoration: Option<String>,
}

/// When a policy runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// `manual`, `scheduled` or `event_based`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `scheduled`: `{"cron": "0 0 * * * *"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_settings: Option<TriggerSettings>,
}

/// Settings of a scheduled trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSettings {
    /// Six-field cron expression (seconds first), as Harbor's.
    #[serde(default)]
    pub cron: String,
}

/// A replication policy, as Harbor's API shapes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Id (assigned on creation).
    #[serde(default)]
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Pull mode: the remote registry images come from.
    #[serde(default)]
    pub src_registry: Option<RegistryRef>,
    /// Push mode: the remote registry images go to.
    #[serde(default)]
    pub dest_registry: Option<RegistryRef>,
    /// Namespace (project) at the destination; empty keeps the source's.
    #[serde(default)]
    pub dest_namespace: Option<String>,
    /// Flattening: unset or 0 keeps the path, -1 keeps only the last
    /// component, N drops the first N components.
    #[serde(default)]
    pub dest_namespace_replace_count: Option<i8>,
    /// What to replicate.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// When to replicate.
    #[serde(default)]
    pub trigger: Option<Trigger>,
    /// Delete at the destination what is deleted at the source.
    #[serde(default)]
    pub replicate_deletion: bool,
    /// Replace destination tags that point at other content.
    #[serde(default = "yes", rename = "override")]
    pub override_tags: bool,
    /// Whether triggers fire.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Bandwidth limit in KB/s; -1 or unset for none.
    #[serde(default)]
    pub speed: Option<i64>,
    /// Copy blobs in chunks.
    #[serde(default)]
    pub copy_by_chunk: bool,
    /// Skip a run while another of this policy is active.
    #[serde(default)]
    pub single_active_replication: bool,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// Set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

fn yes() -> bool {
    true
}

fn glob(pattern: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| ReplicateError::Invalid(format!("filter pattern {pattern:?}: {e}")))
}

/// A policy's filters, compiled.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    names: Vec<GlobMatcher>,
    tags: Vec<(GlobMatcher, bool)>,
    nothing: bool,
}

impl Filters {
    /// Compiles and checks `filters`.
    pub fn compile(filters: &[Filter]) -> Result<Filters> {
        let mut out = Filters::default();
        for f in filters {
            let value = f.value.as_str().unwrap_or("");
            match f.kind.as_str() {
                "name" if !value.is_empty() => out.names.push(glob(value)?),
                "tag" if !value.is_empty() => {
                    let include = match f.decoration.as_deref() {
                        None | Some("matches") => true,
                        Some("excludes") => false,
                        Some(other) => {
                            return Err(ReplicateError::Invalid(format!(
                                "tag decoration {other:?}: matches or excludes"
                            )))
                        }
                    };
                    out.tags.push((glob(value)?, include));
                }
                "name" | "tag" => {}
                "resource" => match value {
                    "" | "image" | "artifact" => {}
                    "chart" => out.nothing = true,
                    other => {
                        return Err(ReplicateError::Invalid(format!(
                            "resource filter {other:?} is not supported"
                        )))
                    }
                },
                "label" => {
                    return Err(ReplicateError::Invalid(
                        "label filters are not supported".into(),
                    ))
                }
                other => {
                    return Err(ReplicateError::Invalid(format!(
                        "filter type {other:?} is not supported"
                    )))
                }
            }
        }
        Ok(out)
    }

    /// Whether a repository is selected.
    pub fn repository(&self, name: &str) -> bool {
        !self.nothing && self.names.iter().all(|g| g.is_match(name))
    }

    /// Whether a tag is selected.
    pub fn tag(&self, tag: &str) -> bool {
        self.tags
            .iter()
            .all(|(g, include)| g.is_match(tag) == *include)
    }
}

/// The destination repository for `repository` under `namespace` with
/// Harbor's flattening.
pub fn destination(
    repository: &str,
    namespace: Option<&str>,
    replace_count: Option<i8>,
) -> Result<String> {
    let parts: Vec<&str> = repository.split('/').collect();
    let kept: &[&str] = match replace_count.unwrap_or(0) {
        0 => &parts,
        -1 => &parts[parts.len() - 1..],
        n if n > 0 && (n as usize) < parts.len() => &parts[n as usize..],
        n => {
            return Err(ReplicateError::Invalid(format!(
                "cannot drop {n} components of {repository:?}, which has {}",
                parts.len()
            )))
        }
    };
    let path = kept.join("/");
    Ok(match namespace.filter(|n| !n.is_empty()) {
        Some(ns) => format!("{ns}/{path}"),
        None => path,
    })
}

impl Policy {
    /// Checks the policy's shape: exactly one of source and destination, a
    /// valid trigger and filters, a sensible flattening.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.len() > 256 {
            return Err(ReplicateError::Invalid(
                "name is required (at most 256 characters)".into(),
            ));
        }
        match (&self.src_registry, &self.dest_registry) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => return Err(ReplicateError::Invalid(
                "exactly one of src_registry (pull mode) and dest_registry (push mode) is required"
                    .into(),
            )),
        }
        if let Some(t) = &self.trigger {
            match t.kind.as_str() {
                "manual" | "event_based" => {}
                "scheduled" => {
                    let cron = t
                        .trigger_settings
                        .as_ref()
                        .map(|s| s.cron.as_str())
                        .unwrap_or("");
                    if cron.split_whitespace().count() != 6 {
                        return Err(ReplicateError::Invalid(format!(
                            "a scheduled trigger needs a six-field cron expression, not {cron:?}"
                        )));
                    }
                }
                other => {
                    return Err(ReplicateError::Invalid(format!(
                        "trigger type {other:?} is not supported"
                    )))
                }
            }
        }
        if self.dest_namespace_replace_count.is_some_and(|n| n < -1) {
            return Err(ReplicateError::Invalid(
                "dest_namespace_replace_count is -1, 0 or more".into(),
            ));
        }
        if let Some(ns) = self.dest_namespace.as_deref().filter(|n| !n.is_empty()) {
            harbor_core::RepositoryName::parse(ns)
                .map_err(|e| ReplicateError::Invalid(format!("dest_namespace: {}", e.message())))?;
        }
        Filters::compile(&self.filters)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(kind: &str, value: &str, decoration: Option<&str>) -> Filter {
        Filter {
            kind: kind.into(),
            value: value.into(),
            decoration: decoration.map(str::to_owned),
        }
    }

    #[test]
    fn name_filters_are_doublestar_globs() {
        let f = Filters::compile(&[filter("name", "library/**", None)]).unwrap_or_default();
        assert!(f.repository("library/nginx"));
        assert!(f.repository("library/a/b/c"));
        assert!(!f.repository("other/nginx"));
        let f = Filters::compile(&[filter("name", "library/*", None)]).unwrap_or_default();
        assert!(f.repository("library/nginx"));
        assert!(!f.repository("library/a/b"), "* does not cross /");
        let f = Filters::compile(&[filter("name", "**/{nginx,redis}", None)]).unwrap_or_default();
        assert!(f.repository("a/b/redis") && !f.repository("a/b/mysql"));
    }

    #[test]
    fn tag_filters_match_or_exclude() {
        let f = Filters::compile(&[filter("tag", "v1.*", Some("matches"))]).unwrap_or_default();
        assert!(f.tag("v1.2") && !f.tag("v2.0"));
        let f = Filters::compile(&[filter("tag", "*-rc*", Some("excludes"))]).unwrap_or_default();
        assert!(f.tag("v1.2") && !f.tag("v1.3-rc1"));
        assert!(Filters::compile(&[filter("tag", "x", Some("sometimes"))]).is_err());
        assert!(Filters::compile(&[filter("label", "x", None)]).is_err());
        let charts = Filters::compile(&[filter("resource", "chart", None)]).unwrap_or_default();
        assert!(!charts.repository("library/nginx"));
    }

    #[test]
    fn flattening_follows_harbor() {
        let d = |ns: Option<&str>, n: Option<i8>| {
            destination("a/b/c", ns, n).unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(d(None, None), "a/b/c");
        assert_eq!(d(Some("mirror"), None), "mirror/a/b/c");
        assert_eq!(d(Some("mirror"), Some(0)), "mirror/a/b/c");
        assert_eq!(d(Some("mirror"), Some(-1)), "mirror/c");
        assert_eq!(d(Some("mirror"), Some(1)), "mirror/b/c");
        assert_eq!(d(Some("mirror"), Some(2)), "mirror/c");
        assert_eq!(d(None, Some(1)), "b/c");
        assert!(destination("a/b/c", Some("m"), Some(3)).is_err());
    }

    #[test]
    fn policies_parse_in_harbors_shape_and_are_checked() {
        let p: Policy = serde_json::from_str(
            r#"{"name":"p","dest_registry":{"id":1},"dest_namespace":"mirror","dest_namespace_replace_count":1,
                "filters":[{"type":"name","value":"library/**"},{"type":"tag","value":"v*","decoration":"matches"}],
                "trigger":{"type":"scheduled","trigger_settings":{"cron":"0 0 * * * *"}},
                "replicate_deletion":true,"override":false,"enabled":true,"speed":-1}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.override_tags && p.replicate_deletion);
        assert!(p.validate().is_ok());
        let mut bad = p.clone();
        bad.src_registry = Some(RegistryRef { id: 2 });
        assert!(bad.validate().is_err(), "both source and destination");
        let mut bad = p.clone();
        bad.trigger = Some(Trigger {
            kind: "scheduled".into(),
            trigger_settings: Some(TriggerSettings { cron: "* *".into() }),
        });
        assert!(bad.validate().is_err());
        assert!(
            serde_json::from_str::<Policy>(r#"{"name":"p","colour":1}"#).is_err(),
            "unknown fields are refused"
        );
    }
}
