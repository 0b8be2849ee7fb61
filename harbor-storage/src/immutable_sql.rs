//! What both metadata backends share for immutable tag rules: the columns,
//! a row turned back into a rule, and the refusals.

use harbor_core::immutable::MAX_RULES_PER_PROJECT;
use harbor_core::selector::{Decoration, Selector};
use harbor_core::{Error, ErrorCode, ImmutableRule, RuleSpec};

use crate::error::StorageError;

/// The columns [`rule`] reads, in its order.
pub(crate) const COLUMNS: &str = "id, project_id, priority, disabled, \
     repo_decoration, repo_pattern, tag_decoration, tag_pattern";

/// The columns of a rule row, as read.
pub(crate) struct RuleRow {
    pub(crate) id: i64,
    pub(crate) project_id: i64,
    pub(crate) priority: i64,
    pub(crate) disabled: bool,
    pub(crate) repo_decoration: String,
    pub(crate) repo_pattern: String,
    pub(crate) tag_decoration: String,
    pub(crate) tag_pattern: String,
}

/// A stored row as a rule; a selector this version would not store is
/// corrupt data.
pub(crate) fn rule(r: RuleRow) -> Result<ImmutableRule, StorageError> {
    let selector = |decoration: &str, pattern: &str| {
        Decoration::parse(decoration)
            .and_then(|d| Selector::new(d, pattern).ok())
            .ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "immutable tag rule {}: selector {decoration} {pattern:?}",
                    r.id
                ))
            })
    };
    Ok(ImmutableRule {
        id: r.id,
        project_id: r.project_id,
        spec: RuleSpec {
            priority: r.priority,
            disabled: r.disabled,
            repositories: selector(&r.repo_decoration, &r.repo_pattern)?,
            tags: selector(&r.tag_decoration, &r.tag_pattern)?,
        },
    })
}

/// A rule's selectors as stored: repository decoration and pattern, tag
/// decoration and pattern.
pub(crate) fn selectors(spec: &RuleSpec) -> [String; 4] {
    [
        spec.repositories.decoration().as_str().to_owned(),
        spec.repositories.pattern().to_owned(),
        spec.tags.decoration().as_str().to_owned(),
        spec.tags.pattern().to_owned(),
    ]
}

/// The message of a duplicate rule.
pub(crate) fn duplicate() -> String {
    "an immutable tag rule with the same selectors already exists in the project".into()
}

/// The refusal of a rule past the project's limit.
pub(crate) fn too_many() -> Error {
    Error::new(
        ErrorCode::BadRequest,
        format!("a project can have at most {MAX_RULES_PER_PROJECT} immutable tag rules"),
    )
}

/// The refusal of a rule for a project that does not exist.
pub(crate) fn no_project(project_id: i64) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("project {project_id} not found"),
    )
}
