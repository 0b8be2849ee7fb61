//! Tag immutability (Harbor's immutable tag rules): a project's rules say
//! which of its tags, once pushed, may not be moved to another manifest or
//! deleted.
//!
//! A tag is immutable when an enabled rule of its project selects both its
//! repository (by the name without the project) and the tag. The
//! [`Registry`](crate::Registry) refuses, with [`TagImmutable`], a push
//! moving such a tag, a delete of it, and a delete of a manifest carrying
//! it; every path that writes through the engine (`/v2/`, the management
//! API, replication into this registry) is covered by that one check.
//! Pushing a tag anew, or the same digest again, is allowed.

pub(crate) mod rules;

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::{Error, ErrorCode, Result};
use crate::identity::Page;
use crate::selector::Selector;

pub use rules::{ImmutableRules, DEFAULT_REFRESH};

/// The most rules a project may have (Harbor's limit).
pub const MAX_RULES_PER_PROJECT: u64 = 15;

/// What a rule selects and how it stands, without its identity: what is
/// created, and what an update replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Harbor's `priority` (kept and shown; every enabled rule applies).
    pub priority: i64,
    /// A disabled rule protects nothing.
    pub disabled: bool,
    /// The repositories it applies to (`repoMatches`/`repoExcludes`).
    pub repositories: Selector,
    /// The tags it makes immutable (`matches`/`excludes`).
    pub tags: Selector,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImmutableRule {
    /// Id, unique across projects.
    pub id: i64,
    /// The project it belongs to.
    pub project_id: i64,
    /// What it selects.
    pub spec: RuleSpec,
}

impl ImmutableRule {
    /// Whether this rule, if enabled, makes `tag` of `repository` (the name
    /// without the project) immutable.
    pub fn selects(&self, repository: &str, tag: &str) -> bool {
        !self.spec.disabled
            && self.spec.repositories.selects(repository)
            && self.spec.tags.selects(tag)
    }
}

/// Persistence of immutable tag rules. A rule is deleted with its project.
/// Every backend runs the suite in `harbor-storage`'s
/// `conformance::immutable`.
#[async_trait]
pub trait ImmutableRuleStore: Debug + Send + Sync + 'static {
    /// Adds a rule to project `project_id`. `CONFLICT` if the project has a
    /// rule with the same selectors; `BAD_REQUEST` if it has
    /// [`MAX_RULES_PER_PROJECT`] already; `NOT_FOUND` without the project.
    async fn create_immutable_rule(
        &self,
        project_id: i64,
        spec: &RuleSpec,
    ) -> Result<ImmutableRule>;

    /// Rule `id` of project `project_id`.
    async fn immutable_rule(&self, project_id: i64, id: i64) -> Result<Option<ImmutableRule>>;

    /// A page of the project's rules by id, and how many it has.
    async fn list_immutable_rules(
        &self,
        project_id: i64,
        page: Page,
    ) -> Result<(Vec<ImmutableRule>, u64)>;

    /// Replaces rule `id` of the project; `false` without it, `CONFLICT`
    /// if another rule of the project has the same selectors.
    async fn update_immutable_rule(
        &self,
        project_id: i64,
        id: i64,
        spec: &RuleSpec,
    ) -> Result<bool>;

    /// Enables or disables rule `id` of the project; `false` without it.
    async fn set_immutable_rule_disabled(
        &self,
        project_id: i64,
        id: i64,
        disabled: bool,
    ) -> Result<bool>;

    /// Deletes rule `id` of the project; `false` without it.
    async fn delete_immutable_rule(&self, project_id: i64, id: i64) -> Result<bool>;

    /// Every rule, enabled or not, of the project named `project` (none for
    /// an unknown project): what enforcement reads.
    async fn immutable_rules_of(&self, project: &str) -> Result<Vec<ImmutableRule>>;
}

/// What a refused change would have done to an immutable tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImmutableChange {
    /// Point the tag at another manifest.
    Overwrite,
    /// Delete the tag, or the manifest carrying it.
    Delete,
}

impl ImmutableChange {
    fn as_str(self) -> &'static str {
        match self {
            ImmutableChange::Overwrite => "overwritten",
            ImmutableChange::Delete => "deleted",
        }
    }
}

/// A change refused because it touches an immutable tag: `DENIED` on the
/// wire, with the rule that made the tag immutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagImmutable {
    /// The full repository name (`library/app`).
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The id of the rule that selects it.
    pub rule_id: i64,
    /// What was refused.
    pub change: ImmutableChange,
}

impl TagImmutable {
    /// The message for a distribution client (naming the rule).
    pub fn message(&self) -> String {
        format!(
            "The tag {}:{} is immutable (immutable tag rule {}), cannot be {}",
            self.repository,
            self.tag,
            self.rule_id,
            self.change.as_str()
        )
    }

    /// Harbor's management API message for it.
    pub fn harbor_message(&self) -> String {
        format!(
            "the tag {} configured as immutable (immutable tag rule {}), cannot be {}",
            self.tag,
            self.rule_id,
            self.change.as_str()
        )
    }

    /// The refusal inside `e`, if `e` is one.
    pub fn from_error(e: &Error) -> Option<TagImmutable> {
        if e.code() != ErrorCode::Denied {
            return None;
        }
        let d = e.detail()?.get("immutable")?;
        Some(TagImmutable {
            repository: d.get("repository")?.as_str()?.to_owned(),
            tag: d.get("tag")?.as_str()?.to_owned(),
            rule_id: d.get("rule_id")?.as_i64()?,
            change: match d.get("change")?.as_str()? {
                "overwrite" => ImmutableChange::Overwrite,
                "delete" => ImmutableChange::Delete,
                _ => return None,
            },
        })
    }
}

impl From<TagImmutable> for Error {
    /// `DENIED` with [`TagImmutable::message`], the parts kept in the detail.
    fn from(t: TagImmutable) -> Error {
        Error::with_detail(
            ErrorCode::Denied,
            t.message(),
            serde_json::json!({ "immutable": {
                "repository": t.repository,
                "tag": t.tag,
                "rule_id": t.rule_id,
                "change": match t.change {
                    ImmutableChange::Overwrite => "overwrite",
                    ImmutableChange::Delete => "delete",
                },
            }}),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::selector::Decoration;

    fn rule(repos: (Decoration, &str), tags: (Decoration, &str), disabled: bool) -> ImmutableRule {
        ImmutableRule {
            id: 1,
            project_id: 1,
            spec: RuleSpec {
                priority: 0,
                disabled,
                repositories: Selector::new(repos.0, repos.1).unwrap(),
                tags: Selector::new(tags.0, tags.1).unwrap(),
            },
        }
    }

    #[test]
    fn a_rule_needs_both_its_repository_and_its_tag_selected() {
        let r = rule(
            (Decoration::RepoMatches, "app/*"),
            (Decoration::Matches, "v*"),
            false,
        );
        assert!(r.selects("app/web", "v1"));
        assert!(!r.selects("app/web", "latest"));
        assert!(!r.selects("other", "v1"));
        let r = rule(
            (Decoration::RepoExcludes, "tmp"),
            (Decoration::Excludes, "dev-*"),
            false,
        );
        assert!(r.selects("app", "v1"));
        assert!(!r.selects("tmp", "v1"));
        assert!(!r.selects("app", "dev-1"));
    }

    #[test]
    fn a_disabled_rule_selects_nothing() {
        let r = rule(
            (Decoration::RepoMatches, "**"),
            (Decoration::Matches, "**"),
            true,
        );
        assert!(!r.selects("app", "v1"));
    }

    #[test]
    fn the_refusal_survives_the_error_and_names_the_rule() {
        let t = TagImmutable {
            repository: "library/app".into(),
            tag: "v1".into(),
            rule_id: 7,
            change: ImmutableChange::Overwrite,
        };
        let e = Error::from(t.clone());
        assert_eq!(e.code(), ErrorCode::Denied);
        assert!(e.message().contains("library/app:v1"));
        assert!(e.message().contains("rule 7"));
        assert_eq!(TagImmutable::from_error(&e), Some(t));
        assert_eq!(
            TagImmutable::from_error(&Error::new(ErrorCode::Denied, "no")),
            None
        );
    }
}
