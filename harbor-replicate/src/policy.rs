//! Replication policies with Harbor's field names and meanings: filters
//! (`name` and `tag` doublestar globs, `decoration` matches/excludes,
//! `resource`), destination namespace and flattening, trigger, override,
//! deletion sync.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use harbor_core::{RepositoryName, TriggerKind};

use crate::error::{ReplicateError, Result};

/// A reference to a registry endpoint by id, as Harbor's API writes it (a
/// whole `Registry` object is accepted; only its `id` is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRef {
    /// The endpoint's id.
    pub id: i64,
}

/// What a filter looks at, with Harbor's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FilterKind {
    /// The repository name (a doublestar glob).
    Name,
    /// The tag (a doublestar glob, matched or excluded).
    Tag,
    /// The artifact's labels: a label name, or a list of them, all of which
    /// the artifact must carry (`matches`) or none of which (`excludes`).
    Label,
    /// The resource type: `image` or `artifact` (everything), `chart` (nothing).
    Resource,
}

/// Whether a tag filter keeps what it matches or what it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoration {
    /// Keep what matches (the default).
    Matches,
    /// Keep what does not match.
    Excludes,
}

/// One filter of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// What it looks at.
    #[serde(rename = "type")]
    pub kind: FilterKind,
    /// The pattern (`name`, `tag`) or resource type (`image`, `artifact`).
    pub value: serde_json::Value,
    /// For `tag`: matches (default) or excludes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoration: Option<Decoration>,
}

impl Filter {
    /// Repositories whose name matches `pattern` (`library/**`).
    pub fn name(pattern: &str) -> Self {
        Filter {
            kind: FilterKind::Name,
            value: pattern.into(),
            decoration: None,
        }
    }

    /// Tags that match `pattern` (`v1.*`).
    pub fn tag(pattern: &str) -> Self {
        Filter {
            kind: FilterKind::Tag,
            value: pattern.into(),
            decoration: Some(Decoration::Matches),
        }
    }

    /// Tags that do not match `pattern` (`*-rc*`).
    pub fn tag_excludes(pattern: &str) -> Self {
        Filter {
            kind: FilterKind::Tag,
            value: pattern.into(),
            decoration: Some(Decoration::Excludes),
        }
    }
}

/// When a policy runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Manual, scheduled or event-based.
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    /// For scheduled: `{"cron": "0 0 * * * *"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_settings: Option<TriggerSettings>,
}

impl Trigger {
    /// Runs only when asked.
    pub fn manual() -> Self {
        Trigger {
            kind: TriggerKind::Manual,
            trigger_settings: None,
        }
    }

    /// Runs for each push or delete it selects.
    pub fn event_based() -> Self {
        Trigger {
            kind: TriggerKind::EventBased,
            trigger_settings: None,
        }
    }

    /// Runs on a six-field cron schedule (seconds first), as Harbor's.
    pub fn scheduled(cron: &str) -> Self {
        Trigger {
            kind: TriggerKind::Scheduled,
            trigger_settings: Some(TriggerSettings { cron: cron.into() }),
        }
    }
}

/// Settings of a scheduled trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerSettings {
    /// Six-field cron expression (seconds first), as Harbor's.
    #[serde(default)]
    pub cron: String,
}

/// A replication policy, as Harbor's API shapes it. Fields Harbor has that
/// are not used here are ignored when parsed (clients of other Harbor
/// versions send them), and `deletion`, Harbor's old name of
/// `replicate_deletion`, is read as it.
///
/// Built in Rust with [`Policy::builder`]:
///
/// ```
/// use harbor_replicate::{Filter, Policy, RegistryRef, Trigger};
/// let policy = Policy::builder("to-dr")
///     .push_to(RegistryRef { id: 1 })
///     .dest_namespace("mirror")
///     .filter(Filter::name("library/**"))
///     .filter(Filter::tag_excludes("*-rc*"))
///     .trigger(Trigger::event_based())
///     .replicate_deletion(true)
///     .build()?;
/// assert!(policy.override_tags && policy.enabled);
/// # Ok::<(), harbor_replicate::ReplicateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "wire::PolicyWire")]
pub struct Policy {
    /// Id (assigned on creation).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Pull mode: the remote registry images come from.
    pub src_registry: Option<RegistryRef>,
    /// Push mode: the remote registry images go to.
    pub dest_registry: Option<RegistryRef>,
    /// Namespace (project) at the destination; empty keeps the source's.
    pub dest_namespace: Option<String>,
    /// Flattening: unset or 0 keeps the path, -1 keeps only the last
    /// component, N drops the first N components.
    pub dest_namespace_replace_count: Option<i8>,
    /// What to replicate.
    pub filters: Vec<Filter>,
    /// When to replicate.
    pub trigger: Option<Trigger>,
    /// Delete at the destination what is deleted at the source.
    pub replicate_deletion: bool,
    /// Replace destination tags that point at other content.
    #[serde(rename = "override")]
    pub override_tags: bool,
    /// Whether triggers fire.
    pub enabled: bool,
    /// Bandwidth limit in KB/s; -1 or unset for none.
    pub speed: Option<i64>,
    /// Copy blobs in chunks.
    pub copy_by_chunk: bool,
    /// Skip a run while another of this policy is active.
    pub single_active_replication: bool,
    /// Set by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// Set by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

impl Default for Policy {
    /// Harbor's defaults: enabled, overriding, manual, no filters.
    fn default() -> Self {
        Policy {
            id: 0,
            name: String::new(),
            description: String::new(),
            src_registry: None,
            dest_registry: None,
            dest_namespace: None,
            dest_namespace_replace_count: None,
            filters: Vec::new(),
            trigger: None,
            replicate_deletion: false,
            override_tags: true,
            enabled: true,
            speed: None,
            copy_by_chunk: false,
            single_active_replication: false,
            creation_time: None,
            update_time: None,
        }
    }
}

/// Builds a [`Policy`] step by step; [`PolicyBuilder::build`] checks it.
#[derive(Debug, Clone)]
#[must_use]
pub struct PolicyBuilder(Policy);

impl PolicyBuilder {
    /// Push mode: images go to the registry `dest`.
    pub fn push_to(mut self, dest: RegistryRef) -> Self {
        self.0.dest_registry = Some(dest);
        self
    }

    /// Pull mode: images come from the registry `src`.
    pub fn pull_from(mut self, src: RegistryRef) -> Self {
        self.0.src_registry = Some(src);
        self
    }

    /// The namespace (project) images land in.
    pub fn dest_namespace(mut self, namespace: &str) -> Self {
        self.0.dest_namespace = Some(namespace.into());
        self
    }

    /// Harbor's flattening (-1, 0 or N).
    pub fn flatten(mut self, replace_count: i8) -> Self {
        self.0.dest_namespace_replace_count = Some(replace_count);
        self
    }

    /// Adds a filter (all filters must select an image).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.0.filters.push(filter);
        self
    }

    /// When it runs.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.0.trigger = Some(trigger);
        self
    }

    /// Whether deletions replicate.
    pub fn replicate_deletion(mut self, yes: bool) -> Self {
        self.0.replicate_deletion = yes;
        self
    }

    /// Whether destination tags pointing elsewhere are replaced.
    pub fn override_tags(mut self, yes: bool) -> Self {
        self.0.override_tags = yes;
        self
    }

    /// Whether large blobs go in chunks.
    pub fn copy_by_chunk(mut self, yes: bool) -> Self {
        self.0.copy_by_chunk = yes;
        self
    }

    /// Free text.
    pub fn description(mut self, text: &str) -> Self {
        self.0.description = text.into();
        self
    }

    /// The policy, checked with [`Policy::validate`].
    pub fn build(self) -> Result<Policy> {
        self.0.validate()?;
        Ok(self.0)
    }
}

mod wire {
    //! The JSON form as clients send it, with Harbor's old spellings.
    use super::*;

    #[derive(Deserialize)]
    pub(super) struct PolicyWire {
        #[serde(default)]
        id: i64,
        #[serde(default)]
        name: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        src_registry: Option<RegistryRef>,
        #[serde(default)]
        dest_registry: Option<RegistryRef>,
        #[serde(default)]
        dest_namespace: Option<String>,
        #[serde(default)]
        dest_namespace_replace_count: Option<i8>,
        #[serde(default)]
        filters: Option<Vec<Filter>>,
        #[serde(default)]
        trigger: Option<Trigger>,
        #[serde(default)]
        replicate_deletion: Option<bool>,
        #[serde(default)]
        deletion: Option<bool>,
        #[serde(default, rename = "override")]
        override_tags: Option<bool>,
        #[serde(default)]
        enabled: Option<bool>,
        #[serde(default)]
        speed: Option<i64>,
        #[serde(default)]
        copy_by_chunk: Option<bool>,
        #[serde(default)]
        single_active_replication: Option<bool>,
        #[serde(default)]
        creation_time: Option<String>,
        #[serde(default)]
        update_time: Option<String>,
    }

    impl From<PolicyWire> for Policy {
        fn from(w: PolicyWire) -> Policy {
            Policy {
                id: w.id,
                name: w.name,
                description: w.description.unwrap_or_default(),
                // Harbor names its own registry `{"id": 0, "name": "Local"}`.
                src_registry: w.src_registry.filter(|r| r.id != 0),
                dest_registry: w.dest_registry.filter(|r| r.id != 0),
                dest_namespace: w.dest_namespace,
                dest_namespace_replace_count: w.dest_namespace_replace_count,
                filters: w.filters.unwrap_or_default(),
                trigger: w.trigger,
                // The current name wins when a client sends both.
                replicate_deletion: w.replicate_deletion.or(w.deletion).unwrap_or(false),
                override_tags: w.override_tags.unwrap_or(true),
                enabled: w.enabled.unwrap_or(true),
                speed: w.speed,
                copy_by_chunk: w.copy_by_chunk.unwrap_or(false),
                single_active_replication: w.single_active_replication.unwrap_or(false),
                creation_time: w.creation_time,
                update_time: w.update_time,
            }
        }
    }
}

fn glob(pattern: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| ReplicateError::invalid_because(format!("filter pattern {pattern:?}"), e))
}

/// A policy's filters, compiled.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    names: Vec<GlobMatcher>,
    tags: Vec<(GlobMatcher, bool)>,
    labels: Vec<(Vec<String>, bool)>,
    nothing: bool,
}

impl Filters {
    /// Compiles and checks `filters`.
    pub fn compile(filters: &[Filter]) -> Result<Filters> {
        let mut out = Filters::default();
        for f in filters {
            let value = f.value.as_str().unwrap_or("");
            match f.kind {
                FilterKind::Name if !value.is_empty() => out.names.push(glob(value)?),
                FilterKind::Tag if !value.is_empty() => {
                    let include = f.decoration != Some(Decoration::Excludes);
                    out.tags.push((glob(value)?, include));
                }
                FilterKind::Name | FilterKind::Tag => {}
                FilterKind::Resource => match value {
                    "" | "image" | "artifact" => {}
                    "chart" => out.nothing = true,
                    other => {
                        return Err(ReplicateError::invalid(format!(
                            "resource filter {other:?} is not supported"
                        )))
                    }
                },
                FilterKind::Label => {
                    let names = label_names(&f.value)?;
                    if !names.is_empty() {
                        let include = f.decoration != Some(Decoration::Excludes);
                        out.labels.push((names, include));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether a repository is selected.
    pub fn repository(&self, name: &str) -> bool {
        !self.nothing && self.names.iter().all(|g| g.is_match(name))
    }

    /// Whether any tag pattern is set (an untagged artifact is then never
    /// selected).
    pub fn has_tag_patterns(&self) -> bool {
        !self.tags.is_empty()
    }

    /// Whether a tag is selected.
    pub fn tag(&self, tag: &str) -> bool {
        self.tags
            .iter()
            .all(|(g, include)| g.is_match(tag) == *include)
    }

    /// Whether any label filter is set (each selected artifact's labels
    /// are then read).
    pub fn has_label_filters(&self) -> bool {
        !self.labels.is_empty()
    }

    /// Whether an artifact carrying `labels` is selected: every label of a
    /// `matches` filter is among them, no label of an `excludes` filter is.
    pub fn labels(&self, labels: &[String]) -> bool {
        self.labels.iter().all(|(names, include)| {
            if *include {
                names.iter().all(|n| labels.contains(n))
            } else {
                !names.iter().any(|n| labels.contains(n))
            }
        })
    }
}

/// A label filter's value: one name, or a list of names (Harbor sends
/// either).
fn label_names(value: &serde_json::Value) -> Result<Vec<String>> {
    let bad =
        || ReplicateError::invalid("a label filter's value is a label name or a list of them");
    match value {
        serde_json::Value::Null => Ok(Vec::new()),
        serde_json::Value::String(s) if s.is_empty() => Ok(Vec::new()),
        serde_json::Value::String(s) => Ok(vec![s.clone()]),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .filter(|n| !matches!(n, Ok(s) if s.is_empty()))
            .collect(),
        _ => Err(bad()),
    }
}

/// The destination repository for `repository` under `namespace` with
/// Harbor's flattening (`replace_count` leading components dropped, `-1`
/// all but the last).
pub fn destination(
    repository: &RepositoryName,
    namespace: Option<&str>,
    replace_count: Option<i8>,
) -> Result<RepositoryName> {
    let parts: Vec<&str> = repository.as_str().split('/').collect();
    let kept: &[&str] = match replace_count.unwrap_or(0) {
        0 => &parts,
        -1 => &parts[parts.len() - 1..],
        n if n > 0 && (n as usize) < parts.len() => &parts[n as usize..],
        n => {
            return Err(ReplicateError::invalid(format!(
                "cannot drop {n} components of {repository:?}, which has {}",
                parts.len()
            )))
        }
    };
    let path = kept.join("/");
    let name = match namespace.filter(|n| !n.is_empty()) {
        Some(ns) => format!("{ns}/{path}"),
        None => path,
    };
    // Both halves are names already; together they may still be too long.
    RepositoryName::parse(&name).map_err(|e| {
        ReplicateError::invalid_because(
            format!("the destination of {repository} would be {name:?}"),
            e,
        )
    })
}

impl Policy {
    /// A builder for a policy named `name`, with Harbor's defaults.
    pub fn builder(name: &str) -> PolicyBuilder {
        PolicyBuilder(Policy {
            name: name.into(),
            ..Policy::default()
        })
    }

    /// Checks the policy's shape: exactly one of source and destination, a
    /// valid trigger and filters, a sensible flattening.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() || self.name.len() > 256 {
            return Err(ReplicateError::invalid(
                "name is required (at most 256 characters)",
            ));
        }
        match (&self.src_registry, &self.dest_registry) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => return Err(ReplicateError::invalid(
                "exactly one of src_registry (pull mode) and dest_registry (push mode) is required",
            )),
        }
        if let Some(t) = self
            .trigger
            .as_ref()
            .filter(|t| t.kind == TriggerKind::Scheduled)
        {
            let cron = t
                .trigger_settings
                .as_ref()
                .map(|s| s.cron.as_str())
                .unwrap_or("");
            let parses = cron.split_whitespace().count() == 6
                && <cron::Schedule as std::str::FromStr>::from_str(cron).is_ok();
            if !parses {
                return Err(ReplicateError::invalid(format!(
                    "a scheduled trigger needs a six-field cron expression, not {cron:?}"
                )));
            }
        }
        if self.dest_namespace_replace_count.is_some_and(|n| n < -1) {
            return Err(ReplicateError::invalid(
                "dest_namespace_replace_count is -1, 0 or more",
            ));
        }
        if let Some(ns) = self.dest_namespace.as_deref().filter(|n| !n.is_empty()) {
            RepositoryName::parse(ns).map_err(|e| {
                ReplicateError::invalid_because(
                    format!("dest_namespace {ns:?} is not a repository name"),
                    e,
                )
            })?;
        }
        Filters::compile(&self.filters)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(kind: FilterKind, value: &str, decoration: Option<Decoration>) -> Filter {
        Filter {
            kind,
            value: value.into(),
            decoration,
        }
    }

    #[test]
    fn name_filters_are_doublestar_globs() {
        let f =
            Filters::compile(&[filter(FilterKind::Name, "library/**", None)]).unwrap_or_default();
        assert!(f.repository("library/nginx"));
        assert!(f.repository("library/a/b/c"));
        assert!(!f.repository("other/nginx"));
        let f =
            Filters::compile(&[filter(FilterKind::Name, "library/*", None)]).unwrap_or_default();
        assert!(f.repository("library/nginx"));
        assert!(!f.repository("library/a/b"), "* does not cross /");
        let f = Filters::compile(&[filter(FilterKind::Name, "**/{nginx,redis}", None)])
            .unwrap_or_default();
        assert!(f.repository("a/b/redis") && !f.repository("a/b/mysql"));
    }

    #[test]
    fn tag_filters_match_or_exclude() {
        let f = Filters::compile(&[filter(FilterKind::Tag, "v1.*", Some(Decoration::Matches))])
            .unwrap_or_default();
        assert!(f.tag("v1.2") && !f.tag("v2.0"));
        let f = Filters::compile(&[filter(FilterKind::Tag, "*-rc*", Some(Decoration::Excludes))])
            .unwrap_or_default();
        assert!(f.tag("v1.2") && !f.tag("v1.3-rc1"));
        assert!(serde_json::from_str::<Filter>(
            r#"{"type":"tag","value":"x","decoration":"sometimes"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Filter>(r#"{"type":"colour","value":"x"}"#).is_err());
        let f = Filters::compile(&[filter(FilterKind::Label, "prod", None)]).unwrap();
        assert!(f.has_label_filters());
        assert!(f.labels(&["prod".into(), "qa".into()]));
        assert!(!f.labels(&["qa".into()]));
        let not = Filters::compile(&[filter(
            FilterKind::Label,
            "prod",
            Some(Decoration::Excludes),
        )])
        .unwrap();
        assert!(not.labels(&["qa".into()]));
        assert!(!not.labels(&["prod".into()]));
        let both = Filters::compile(&[Filter {
            kind: FilterKind::Label,
            value: serde_json::json!(["prod", "qa"]),
            decoration: None,
        }])
        .unwrap();
        assert!(both.labels(&["qa".into(), "prod".into()]));
        assert!(!both.labels(&["prod".into()]));
        assert!(Filters::compile(&[Filter {
            kind: FilterKind::Label,
            value: serde_json::json!(3),
            decoration: None,
        }])
        .is_err());
        let charts =
            Filters::compile(&[filter(FilterKind::Resource, "chart", None)]).unwrap_or_default();
        assert!(!charts.repository("library/nginx"));
    }

    #[test]
    fn flattening_follows_harbor() {
        let d = |ns: Option<&str>, n: Option<i8>| {
            let repo = RepositoryName::parse("a/b/c").unwrap();
            destination(&repo, ns, n)
                .map(|r| r.to_string())
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(d(None, None), "a/b/c");
        assert_eq!(d(Some("mirror"), None), "mirror/a/b/c");
        assert_eq!(d(Some("mirror"), Some(0)), "mirror/a/b/c");
        assert_eq!(d(Some("mirror"), Some(-1)), "mirror/c");
        assert_eq!(d(Some("mirror"), Some(1)), "mirror/b/c");
        assert_eq!(d(Some("mirror"), Some(2)), "mirror/c");
        assert_eq!(d(None, Some(1)), "b/c");
        let repo = RepositoryName::parse("a/b/c").unwrap();
        assert!(destination(&repo, Some("m"), Some(3)).is_err());
    }

    #[test]
    fn policies_parse_in_harbors_shape_and_are_checked() {
        let p: Policy = serde_json::from_str(
            r#"{"name":"p","dest_registry":{"id":1},"dest_namespace":"mirror","dest_namespace_replace_count":1,
                "filters":[{"type":"name","value":"library/**"},{"type":"tag","value":"v*","decoration":"matches"}],
                "trigger":{"type":"scheduled","trigger_settings":{"cron":"0 0 * * * *"}},
                "replicate_deletion":true,"override":false,"enabled":true,"speed":-1}"#,
        )
        .unwrap();
        assert!(!p.override_tags && p.replicate_deletion);
        assert!(p.validate().is_ok());
        let mut bad = p.clone();
        bad.src_registry = Some(RegistryRef { id: 2 });
        assert!(bad.validate().is_err(), "both source and destination");
        let mut bad = p.clone();
        bad.trigger = Some(Trigger::scheduled("* *"));
        assert!(bad.validate().is_err());
        bad.trigger = Some(Trigger::scheduled("0 0 99 * * *"));
        assert!(bad.validate().is_err(), "hour 99");
    }

    #[test]
    fn fields_of_other_harbor_versions_are_ignored_and_deletion_is_the_old_replicate_deletion() {
        let p: Policy = serde_json::from_str(
            r#"{"name":"p","dest_registry":{"id":1,"name":"dr","url":"https://x"},"colour":1,"deletion":true}"#,
        )
        .unwrap();
        assert!(p.replicate_deletion);
        assert_eq!(p.dest_registry, Some(RegistryRef { id: 1 }));
        let p: Policy = serde_json::from_str(
            r#"{"name":"p","dest_registry":{"id":1},"deletion":true,"replicate_deletion":false}"#,
        )
        .unwrap();
        assert!(!p.replicate_deletion, "the current name wins");
        let p: Policy = serde_json::from_str(r#"{"name":"p","dest_registry":{"id":1}}"#).unwrap();
        assert_eq!(p.override_tags, Policy::default().override_tags);
        assert!(p.enabled);
    }

    #[test]
    fn a_policy_built_in_rust_round_trips_through_harbors_json() {
        let p = Policy::builder("to-dr")
            .push_to(RegistryRef { id: 3 })
            .dest_namespace("mirror")
            .flatten(1)
            .filter(Filter::name("library/**"))
            .filter(Filter::tag("v*"))
            .trigger(Trigger::scheduled("0 0 3 * * *"))
            .copy_by_chunk(true)
            .build()
            .unwrap();
        let json = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(json["trigger"]["type"], "scheduled");
        assert_eq!(json["filters"][1]["decoration"], "matches");
        assert_eq!(json["override"], true);
        let back: Policy = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        assert!(Policy::builder("none").build().is_err(), "no registry");
    }
}
