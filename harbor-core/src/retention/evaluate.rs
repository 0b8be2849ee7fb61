//! The decision of a retention run for one repository: which artifacts
//! the rules retain, and by which rule. Pure: no store, no clock.

use std::time::{Duration, SystemTime};

use super::{RetentionRule, RuleTemplate, TagSelector};
use crate::digest::Digest;

/// An artifact as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its digest.
    pub digest: Digest,
    /// Its tags (none for an untagged artifact).
    pub tags: Vec<String>,
    /// When it was pushed.
    pub pushed_at: SystemTime,
    /// When it was last pulled, if ever.
    pub pulled_at: Option<SystemTime>,
    /// The names of the labels on it.
    pub labels: Vec<String>,
}

/// What the rules decided for one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Kept by the rule at this index of the rules given (the first that
    /// retains it).
    Retained(usize),
    /// Retained by no rule: to delete.
    Deleted,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Whether `selector` selects `c`, as Harbor's selectors do: a tagged
/// artifact when any of its tags is selected, an untagged one as the
/// selector's `untagged` says (for `excludes`, `untagged` names what is
/// left out).
fn selects(selector: &TagSelector, c: &Candidate) -> bool {
    match selector {
        TagSelector::Doublestar { selector, untagged } => {
            if c.tags.is_empty() {
                if selector.decoration() == crate::selector::Decoration::Excludes {
                    !*untagged
                } else {
                    *untagged
                }
            } else {
                c.tags.iter().any(|t| selector.selects(t))
            }
        }
        // Harbor's label selector: the artifact carries every label named
        // (`withLabels`), or not every one (`withoutLabels`).
        TagSelector::Label { decoration, labels } => {
            let all = labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .all(|l| c.labels.iter().any(|have| have == l));
            match decoration {
                super::LabelDecoration::WithLabels => all,
                super::LabelDecoration::WithoutLabels => !all,
            }
        }
    }
}

/// The verdict on each of `candidates` (in their order) under `rules`,
/// those applying to the repository (disabled ones retain nothing), at
/// time `now`. Ties in push or pull time keep the candidates' order.
pub fn evaluate(
    rules: &[&RetentionRule],
    candidates: &[Candidate],
    now: SystemTime,
) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::Deleted; candidates.len()];
    for (index, rule) in rules.iter().enumerate() {
        if rule.disabled {
            continue;
        }
        let mut selected: Vec<usize> = (0..candidates.len())
            .filter(|&i| {
                rule.tag_selectors
                    .iter()
                    .all(|s| selects(s, &candidates[i]))
            })
            .collect();
        let retained: Vec<usize> = match rule.template {
            RuleTemplate::Always => selected,
            RuleTemplate::LatestPushedK(k) => {
                selected.sort_by(|&a, &b| candidates[b].pushed_at.cmp(&candidates[a].pushed_at));
                selected.truncate(k as usize);
                selected
            }
            RuleTemplate::LatestPulledN(n) => {
                // Never pulled counts as pulled at the epoch, as Harbor's 0.
                selected.sort_by(|&a, &b| candidates[b].pulled_at.cmp(&candidates[a].pulled_at));
                selected.truncate(n as usize);
                selected
            }
            RuleTemplate::NDaysSinceLastPush(n) => {
                let since = now.checked_sub(DAY * n).unwrap_or(SystemTime::UNIX_EPOCH);
                selected
                    .into_iter()
                    .filter(|&i| candidates[i].pushed_at >= since)
                    .collect()
            }
            RuleTemplate::NDaysSinceLastPull(n) => {
                let since = now.checked_sub(DAY * n).unwrap_or(SystemTime::UNIX_EPOCH);
                selected
                    .into_iter()
                    .filter(|&i| candidates[i].pulled_at.is_some_and(|t| t >= since))
                    .collect()
            }
        };
        for i in retained {
            if verdicts[i] == Verdict::Deleted {
                verdicts[i] = Verdict::Retained(index);
            }
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::selector::{Decoration, Selector};

    fn c(n: u64, tags: &[&str], pulled: Option<u64>) -> Candidate {
        Candidate {
            digest: Digest::sha256(n.to_string().as_bytes()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            pushed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(n * 1000),
            pulled_at: pulled.map(|p| SystemTime::UNIX_EPOCH + Duration::from_secs(p)),
            labels: Vec::new(),
        }
    }

    fn rule(template: RuleTemplate, d: Decoration, pattern: &str, untagged: bool) -> RetentionRule {
        RetentionRule {
            priority: 0,
            disabled: false,
            template,
            tag_selectors: vec![TagSelector::Doublestar {
                selector: Selector::new(d, pattern).unwrap(),
                untagged,
            }],
            repositories: vec![Selector::new(Decoration::RepoMatches, "**").unwrap()],
        }
    }

    fn kept(v: &[Verdict]) -> Vec<usize> {
        (0..v.len()).filter(|&i| v[i] != Verdict::Deleted).collect()
    }

    #[test]
    fn latest_pushed_keeps_the_newest_selected_ones() {
        let cs = vec![
            c(5, &["v5"], None),
            c(4, &["dev4"], None),
            c(3, &["v3"], None),
            c(2, &["v2"], None),
        ];
        let r = rule(
            RuleTemplate::LatestPushedK(2),
            Decoration::Matches,
            "v*",
            false,
        );
        assert_eq!(kept(&evaluate(&[&r], &cs, SystemTime::now())), vec![0, 2]);
    }

    #[test]
    fn rules_combine_with_or_and_name_the_first_that_keeps() {
        let cs = vec![c(3, &["v3"], None), c(2, &["dev"], None), c(1, &[], None)];
        let a = rule(
            RuleTemplate::LatestPushedK(1),
            Decoration::Matches,
            "v*",
            false,
        );
        let b = rule(RuleTemplate::Always, Decoration::Matches, "dev", false);
        let v = evaluate(&[&a, &b], &cs, SystemTime::now());
        assert_eq!(
            v,
            vec![Verdict::Retained(0), Verdict::Retained(1), Verdict::Deleted]
        );
    }

    #[test]
    fn untagged_artifacts_follow_the_extras() {
        let cs = vec![c(2, &[], None), c(1, &["x"], None)];
        let with = rule(RuleTemplate::Always, Decoration::Matches, "**", true);
        let without = rule(RuleTemplate::Always, Decoration::Matches, "**", false);
        assert_eq!(
            kept(&evaluate(&[&with], &cs, SystemTime::now())),
            vec![0, 1]
        );
        assert_eq!(
            kept(&evaluate(&[&without], &cs, SystemTime::now())),
            vec![1]
        );
        // For excludes, `untagged: true` leaves untagged artifacts out.
        let ex = rule(RuleTemplate::Always, Decoration::Excludes, "x", true);
        assert!(kept(&evaluate(&[&ex], &cs, SystemTime::now())).is_empty());
        let ex = rule(RuleTemplate::Always, Decoration::Excludes, "x", false);
        assert_eq!(kept(&evaluate(&[&ex], &cs, SystemTime::now())), vec![0]);
    }

    #[test]
    fn pulls_rank_and_age_artifacts() {
        let cs = vec![
            c(3, &["a"], None),
            c(2, &["b"], Some(50)),
            c(1, &["c"], Some(90)),
        ];
        let r = rule(
            RuleTemplate::LatestPulledN(1),
            Decoration::Matches,
            "**",
            false,
        );
        assert_eq!(kept(&evaluate(&[&r], &cs, SystemTime::now())), vec![2]);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(60 + 86_400);
        let r = rule(
            RuleTemplate::NDaysSinceLastPull(1),
            Decoration::Matches,
            "**",
            false,
        );
        assert_eq!(kept(&evaluate(&[&r], &cs, now)), vec![2]);
        let r = rule(
            RuleTemplate::NDaysSinceLastPush(1),
            Decoration::Matches,
            "**",
            false,
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2500 + 86_400);
        assert_eq!(kept(&evaluate(&[&r], &cs, now)), vec![0]);
    }

    #[test]
    fn a_disabled_rule_keeps_nothing() {
        let cs = vec![c(1, &["a"], None)];
        let mut r = rule(RuleTemplate::Always, Decoration::Matches, "**", true);
        r.disabled = true;
        assert_eq!(
            evaluate(&[&r], &cs, SystemTime::now()),
            vec![Verdict::Deleted]
        );
    }
}
