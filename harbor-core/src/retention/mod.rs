//! Tag retention (Harbor's retention policies): a project's rules say which
//! of its artifacts to keep; a run deletes every other artifact of the
//! repositories the rules apply to.
//!
//! A policy has up to [`MAX_RULES`] rules, combined with OR: an artifact is
//! retained when any enabled rule that applies to its repository retains
//! it. A rule applies to the repositories its repository selectors all
//! select (names without the project, as Harbor's); among the artifacts
//! its tag selectors all select it retains some by its [`RuleTemplate`]
//! (the latest K pushed, the latest N pulled, those pushed or pulled in the
//! last N days, or all). An artifact no rule retains is deleted, through
//! the same [`Registry::delete_manifest`](crate::Registry::delete_manifest)
//! as any delete (so immutable tags are kept).
//!
//! [`evaluate`] is the decision, pure; [`runner`] applies it to one
//! repository at a time; [`RetentionStore`] keeps policies, executions,
//! tasks and their logs; [`PullTimes`] records pulls off the request path.

pub mod evaluate;
pub mod pulls;
pub mod runner;
mod store;

use crate::error::{Error, ErrorCode, Result};
use crate::selector::Selector;

pub use evaluate::{evaluate, Candidate, Verdict};
pub use pulls::PullTimes;
pub use runner::{log_line, ArtifactOutcome, RepositoryRun, RetentionRunner};
pub use store::{
    NewRetentionExecution, RetentionExecution, RetentionStatus, RetentionStore, RetentionTask,
};

/// The most rules a policy may have (Harbor's limit).
pub const MAX_RULES: usize = 15;

/// The largest count or number of days a rule takes (Harbor refuses
/// `math.MaxInt16` and above).
pub const MAX_PARAM: u32 = i16::MAX as u32 - 1;

/// What a rule keeps, with Harbor's template ids and their one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleTemplate {
    /// The K most recently pushed (`latestPushedK`).
    LatestPushedK(u32),
    /// The N most recently pulled (`latestPulledN`).
    LatestPulledN(u32),
    /// Those pushed within the last N days (`nDaysSinceLastPush`).
    NDaysSinceLastPush(u32),
    /// Those pulled within the last N days (`nDaysSinceLastPull`).
    NDaysSinceLastPull(u32),
    /// All of them (`always`).
    Always,
}

/// Every template id, in the order Harbor's metadata lists them.
pub const TEMPLATE_IDS: [&str; 5] = [
    "latestPushedK",
    "latestPulledN",
    "nDaysSinceLastPush",
    "nDaysSinceLastPull",
    "always",
];

impl RuleTemplate {
    /// Harbor's template id (also the name of its parameter).
    pub fn id(self) -> &'static str {
        match self {
            RuleTemplate::LatestPushedK(_) => "latestPushedK",
            RuleTemplate::LatestPulledN(_) => "latestPulledN",
            RuleTemplate::NDaysSinceLastPush(_) => "nDaysSinceLastPush",
            RuleTemplate::NDaysSinceLastPull(_) => "nDaysSinceLastPull",
            RuleTemplate::Always => "always",
        }
    }

    /// Its parameter, if it takes one.
    pub fn param(self) -> Option<u32> {
        match self {
            RuleTemplate::LatestPushedK(n)
            | RuleTemplate::LatestPulledN(n)
            | RuleTemplate::NDaysSinceLastPush(n)
            | RuleTemplate::NDaysSinceLastPull(n) => Some(n),
            RuleTemplate::Always => None,
        }
    }

    /// The template `id` with parameter `param`; `BAD_REQUEST` for an
    /// unknown id, or a parameter missing, negative or too large.
    pub fn from_parts(id: &str, param: Option<i64>) -> Result<RuleTemplate> {
        if id == "always" {
            return Ok(RuleTemplate::Always);
        }
        if !TEMPLATE_IDS.contains(&id) {
            return Err(bad(format!("unknown rule template {id:?}")));
        }
        let Some(n) = param else {
            return Err(bad(format!(
                "the rule template {id} needs the parameter {id}"
            )));
        };
        let n = u32::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_PARAM)
            .ok_or_else(|| bad(format!("{id} must be 0 to {MAX_PARAM}, not {n}")))?;
        Ok(match id {
            "latestPushedK" => RuleTemplate::LatestPushedK(n),
            "latestPulledN" => RuleTemplate::LatestPulledN(n),
            "nDaysSinceLastPush" => RuleTemplate::NDaysSinceLastPush(n),
            _ => RuleTemplate::NDaysSinceLastPull(n),
        })
    }
}

/// Whether a label selector keeps artifacts with the labels or without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelDecoration {
    /// `withLabels`.
    WithLabels,
    /// `withoutLabels`.
    WithoutLabels,
}

impl LabelDecoration {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelDecoration::WithLabels => "withLabels",
            LabelDecoration::WithoutLabels => "withoutLabels",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<LabelDecoration> {
        match s {
            "withLabels" => Some(LabelDecoration::WithLabels),
            "withoutLabels" => Some(LabelDecoration::WithoutLabels),
            _ => None,
        }
    }
}

/// One tag selector of a rule, by kind: Harbor's `doublestar` patterns on
/// tags, or `label` selectors (kept in the model; refused by
/// [`PolicySpec::validate`] until labels exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelector {
    /// `matches`/`excludes` a doublestar pattern.
    Doublestar {
        /// The pattern and its decoration.
        selector: Selector,
        /// Whether untagged artifacts are selected (Harbor's `extras`
        /// `{"untagged": ...}`).
        untagged: bool,
    },
    /// `withLabels`/`withoutLabels` the comma-separated labels.
    Label {
        /// With or without.
        decoration: LabelDecoration,
        /// The labels, as Harbor's `pattern`.
        labels: String,
    },
}

impl TagSelector {
    /// Harbor's kind (`doublestar` or `label`).
    pub fn kind(&self) -> &'static str {
        match self {
            TagSelector::Doublestar { .. } => crate::selector::DOUBLESTAR,
            TagSelector::Label { .. } => "label",
        }
    }

    /// Harbor's default for `untagged` when `extras` does not say: a
    /// `matches` selector includes untagged artifacts, `excludes` does not.
    pub fn default_untagged(decoration: crate::selector::Decoration) -> bool {
        decoration != crate::selector::Decoration::Excludes
    }
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// Harbor's `priority` (kept and shown; every enabled rule applies).
    pub priority: i64,
    /// A disabled rule retains nothing and applies to no repository.
    pub disabled: bool,
    /// What it retains.
    pub template: RuleTemplate,
    /// Which artifacts it considers (all must select).
    pub tag_selectors: Vec<TagSelector>,
    /// Which repositories it applies to (`repoMatches`/`repoExcludes`; all
    /// must select).
    pub repositories: Vec<Selector>,
}

impl RetentionRule {
    /// Whether the rule is enabled and applies to `repository` (the name
    /// without the project).
    pub fn applies_to(&self, repository: &str) -> bool {
        !self.disabled && self.repositories.iter().all(|s| s.selects(repository))
    }
}

/// A policy without its identity: what is created and what an update
/// replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// The project it belongs to (Harbor's `scope.ref`).
    pub project_id: i64,
    /// Its rules, combined with OR.
    pub rules: Vec<RetentionRule>,
    /// Its schedule: a cron expression in Harbor's six-field notation, or
    /// none (runs only when asked).
    pub schedule: Option<String>,
}

impl PolicySpec {
    /// `BAD_REQUEST` unless the policy can run: at most [`MAX_RULES`]
    /// rules, each with a tag selector and a repository selector, doublestar
    /// selectors only for now.
    pub fn validate(&self) -> Result<()> {
        if self.rules.len() > MAX_RULES {
            return Err(bad(format!(
                "a retention policy can have at most {MAX_RULES} rules"
            )));
        }
        for rule in &self.rules {
            if rule.tag_selectors.is_empty() {
                return Err(bad("a retention rule needs a tag selector".into()));
            }
            if rule.repositories.is_empty() {
                return Err(bad("a retention rule needs a repository selector".into()));
            }
            if rule
                .repositories
                .iter()
                .any(|s| s.decoration().is_for_tags())
            {
                return Err(bad(
                    "repository selectors are repoMatches or repoExcludes".into()
                ));
            }
            for s in &rule.tag_selectors {
                match s {
                    TagSelector::Doublestar { selector, .. }
                        if selector.decoration().is_for_tags() => {}
                    TagSelector::Doublestar { .. } => {
                        return Err(bad("tag selectors are matches or excludes".into()))
                    }
                    TagSelector::Label { labels, .. } => {
                        if labels.split(',').all(|l| l.trim().is_empty()) {
                            return Err(bad("a label selector names no label".into()));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Id, unique across projects (the project's `retention_id`).
    pub id: i64,
    /// What it is.
    pub spec: PolicySpec,
}

fn bad(message: String) -> Error {
    Error::new(ErrorCode::BadRequest, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::selector::Decoration;

    #[test]
    fn templates_parse_with_harbors_bounds() {
        assert_eq!(
            RuleTemplate::from_parts("latestPushedK", Some(3)).unwrap(),
            RuleTemplate::LatestPushedK(3)
        );
        assert_eq!(
            RuleTemplate::from_parts("always", None).unwrap(),
            RuleTemplate::Always
        );
        for (id, p) in [
            ("latestPushedK", None),
            ("latestPulledN", Some(-1)),
            ("nDaysSinceLastPush", Some(32767)),
            ("regex", Some(1)),
        ] {
            let e = RuleTemplate::from_parts(id, p).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BadRequest, "{id} {p:?}");
        }
        for id in TEMPLATE_IDS {
            let t = RuleTemplate::from_parts(id, Some(1)).unwrap();
            assert_eq!(t.id(), id);
        }
    }

    #[test]
    fn label_selectors_must_name_a_label() {
        let spec = PolicySpec {
            project_id: 1,
            rules: vec![RetentionRule {
                priority: 0,
                disabled: false,
                template: RuleTemplate::Always,
                tag_selectors: vec![TagSelector::Label {
                    decoration: LabelDecoration::WithLabels,
                    labels: " , ".into(),
                }],
                repositories: vec![Selector::new(Decoration::RepoMatches, "**").unwrap()],
            }],
            schedule: None,
        };
        let e = spec.validate().unwrap_err();
        assert!(e.to_string().contains("names no label"));
    }
}
