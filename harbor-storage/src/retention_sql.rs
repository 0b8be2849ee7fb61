//! What both metadata backends share for tag retention: a policy's rules as
//! the JSON text they store (a policy is read and written whole, as
//! Harbor's `retention_policy.data`), and the refusals.

use harbor_core::retention::{LabelDecoration, RetentionRule, RuleTemplate, TagSelector};
use harbor_core::selector::{Decoration, Selector};
use harbor_core::{Error, ErrorCode, PolicySpec, RetentionPolicy};
use serde::{Deserialize, Serialize};

use crate::error::StorageError;

/// A rule as stored.
#[derive(Serialize, Deserialize)]
struct StoredRule {
    priority: i64,
    disabled: bool,
    template: String,
    param: Option<i64>,
    tags: Vec<StoredSelector>,
    repositories: Vec<StoredSelector>,
}

/// A selector as stored: `kind` is `doublestar` or `label`.
#[derive(Serialize, Deserialize)]
struct StoredSelector {
    kind: String,
    decoration: String,
    pattern: String,
    #[serde(default)]
    untagged: bool,
}

fn stored_selector(s: &Selector) -> StoredSelector {
    StoredSelector {
        kind: harbor_core::selector::DOUBLESTAR.into(),
        decoration: s.decoration().as_str().into(),
        pattern: s.pattern().into(),
        untagged: false,
    }
}

/// The rules of `spec` as stored.
pub(crate) fn rules_json(spec: &PolicySpec) -> String {
    let rules: Vec<StoredRule> = spec
        .rules
        .iter()
        .map(|r| StoredRule {
            priority: r.priority,
            disabled: r.disabled,
            template: r.template.id().into(),
            param: r.template.param().map(i64::from),
            tags: r
                .tag_selectors
                .iter()
                .map(|t| match t {
                    TagSelector::Doublestar { selector, untagged } => StoredSelector {
                        untagged: *untagged,
                        ..stored_selector(selector)
                    },
                    TagSelector::Label { decoration, labels } => StoredSelector {
                        kind: "label".into(),
                        decoration: decoration.as_str().into(),
                        pattern: labels.clone(),
                        untagged: false,
                    },
                })
                .collect(),
            repositories: r.repositories.iter().map(stored_selector).collect(),
        })
        .collect();
    serde_json::to_string(&rules).unwrap_or_else(|_| "[]".into())
}

/// A stored row as a policy; what this version would not store is corrupt
/// data.
pub(crate) fn policy(
    id: i64,
    project_id: i64,
    rules: &str,
    schedule: Option<String>,
) -> Result<RetentionPolicy, StorageError> {
    let corrupt = |why: String| StorageError::Corrupt(format!("retention policy {id}: {why}"));
    let stored: Vec<StoredRule> =
        serde_json::from_str(rules).map_err(|e| corrupt(e.to_string()))?;
    let selector = |s: &StoredSelector| {
        Decoration::parse(&s.decoration)
            .and_then(|d| Selector::new(d, &s.pattern).ok())
            .ok_or_else(|| corrupt(format!("selector {} {:?}", s.decoration, s.pattern)))
    };
    let mut out = Vec::with_capacity(stored.len());
    for r in &stored {
        let template =
            RuleTemplate::from_parts(&r.template, r.param).map_err(|e| corrupt(e.to_string()))?;
        let mut tags = Vec::with_capacity(r.tags.len());
        for t in &r.tags {
            tags.push(if t.kind == "label" {
                TagSelector::Label {
                    decoration: LabelDecoration::parse(&t.decoration)
                        .ok_or_else(|| corrupt(format!("label selector {}", t.decoration)))?,
                    labels: t.pattern.clone(),
                }
            } else {
                TagSelector::Doublestar {
                    selector: selector(t)?,
                    untagged: t.untagged,
                }
            });
        }
        out.push(RetentionRule {
            priority: r.priority,
            disabled: r.disabled,
            template,
            tag_selectors: tags,
            repositories: r
                .repositories
                .iter()
                .map(selector)
                .collect::<Result<_, _>>()?,
        });
    }
    Ok(RetentionPolicy {
        id,
        spec: PolicySpec {
            project_id,
            rules: out,
            schedule,
        },
    })
}

/// The message of a second policy for a project.
pub(crate) fn duplicate() -> String {
    "the project already has a retention policy".into()
}

/// The refusal of a policy for a project that does not exist.
pub(crate) fn no_project(project_id: i64) -> Error {
    Error::new(
        ErrorCode::NotFound,
        format!("project {project_id} not found"),
    )
}
