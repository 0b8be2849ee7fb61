//! What starts a policy besides a person: events in the local registry (an
//! artifact pushed or deleted) and cron schedules. [`ArtifactEvent`] is what
//! a server (or any program writing to the local registry) reports;
//! [`crate::ReplicationService::spawn_triggers`] runs both triggers in the
//! background.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use harbor_core::{Digest, NewTask, Reference, RepositoryName, Tag, TaskOperation, TriggerKind};

use crate::policy::{destination, Filters, Policy};

/// What happened to an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ArtifactEventKind {
    /// A manifest was pushed (under a tag, or by digest).
    Push,
    /// A tag, or a manifest with all its tags, was deleted.
    Delete,
}

/// An artifact pushed to or deleted from the local registry, for event-based
/// policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactEvent {
    /// Push or delete.
    pub kind: ArtifactEventKind,
    /// The repository.
    pub repository: RepositoryName,
    /// The tag pushed or deleted, or the digest of the manifest pushed or
    /// deleted.
    pub reference: Reference,
    /// For a manifest deleted by digest: the tags it had, which tag filters
    /// are matched against.
    pub tags: Vec<Tag>,
}

impl ArtifactEvent {
    /// A push of `reference` to `repository`.
    pub fn push(repository: RepositoryName, reference: Reference) -> Self {
        ArtifactEvent {
            kind: ArtifactEventKind::Push,
            repository,
            reference,
            tags: Vec::new(),
        }
    }

    /// A tag deleted (the manifest stays).
    pub fn tag_deleted(repository: RepositoryName, tag: Tag) -> Self {
        ArtifactEvent {
            kind: ArtifactEventKind::Delete,
            repository,
            reference: Reference::Tag(tag),
            tags: Vec::new(),
        }
    }

    /// A manifest deleted by digest, with the tags it had.
    pub fn manifest_deleted(repository: RepositoryName, digest: Digest, tags: Vec<Tag>) -> Self {
        ArtifactEvent {
            kind: ArtifactEventKind::Delete,
            repository,
            reference: Reference::Digest(digest),
            tags,
        }
    }

    /// The task an enabled push-mode `event_based` `policy` makes of this
    /// event, if the policy selects it.
    ///
    /// As in Harbor, pushes replicate only under a tag (an index's children
    /// travel with their index); a deletion replicates when the policy has
    /// `replicate_deletion`, by tag, or by digest when one of the deleted
    /// manifest's tags (or, with no tag filter, any manifest) is selected.
    pub fn task_for(&self, policy: &Policy) -> Option<NewTask> {
        let event_based = policy
            .trigger
            .as_ref()
            .is_some_and(|t| t.kind == TriggerKind::EventBased);
        if !policy.enabled || !event_based || policy.dest_registry.is_none() {
            return None;
        }
        if self.kind == ArtifactEventKind::Delete && !policy.replicate_deletion {
            return None;
        }
        let filters = Filters::compile(&policy.filters).ok()?;
        if !filters.repository(self.repository.as_str()) {
            return None;
        }
        // An artifact just pushed carries no label yet (labels are put on
        // afterwards), and a deleted one no longer does: a label filter
        // judges it as unlabelled.
        if !filters.labels(&[]) {
            return None;
        }
        let selected = match (&self.reference, self.kind) {
            (Reference::Tag(t), _) => filters.tag(t.as_str()),
            (Reference::Digest(_), ArtifactEventKind::Delete) => {
                if self.tags.is_empty() {
                    !filters.has_tag_patterns()
                } else {
                    self.tags.iter().any(|t| filters.tag(t.as_str()))
                }
            }
            (Reference::Digest(_), _) => false,
        };
        if !selected {
            return None;
        }
        let dst_repo = destination(
            &self.repository,
            policy.dest_namespace.as_deref(),
            policy.dest_namespace_replace_count,
        )
        .ok()?;
        Some(NewTask {
            operation: match self.kind {
                ArtifactEventKind::Push => TaskOperation::Copy,
                ArtifactEventKind::Delete => TaskOperation::Deletion,
            },
            src_resource: resource(&self.repository, &self.reference),
            dst_resource: resource(&dst_repo, &self.reference),
        })
    }
}

/// `repo:tag` or `repo@digest`, as tasks name what they move.
pub(crate) fn resource(repo: &RepositoryName, reference: &Reference) -> String {
    match reference {
        Reference::Tag(t) => format!("{repo}:{t}"),
        Reference::Digest(d) => format!("{repo}@{d}"),
    }
}

/// Whether the scheduled `policy` is due in `(since, now]`.
pub(crate) fn schedule_due(
    policy: &Policy,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let cron = policy
        .trigger
        .as_ref()
        .filter(|t| t.kind == TriggerKind::Scheduled && policy.enabled)
        .and_then(|t| t.trigger_settings.as_ref())
        .map(|s| s.cron.as_str())?;
    let schedule = cron::Schedule::from_str(cron).ok()?;
    schedule.after(&since).next().filter(|t| *t <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Filter, RegistryRef, Trigger};

    fn repo(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    fn tag(s: &str) -> Tag {
        Tag::parse(s).unwrap()
    }

    fn policy(deletion: bool) -> Policy {
        Policy::builder("p")
            .push_to(RegistryRef { id: 1 })
            .dest_namespace("mirror")
            .filter(Filter::name("library/**"))
            .filter(Filter::tag_excludes("*-rc*"))
            .trigger(Trigger::event_based())
            .replicate_deletion(deletion)
            .build()
            .unwrap()
    }

    #[test]
    fn a_tagged_push_selected_by_the_filters_becomes_one_copy_task() {
        let e = ArtifactEvent::push(repo("library/app"), Reference::Tag(tag("v1")));
        let t = e.task_for(&policy(false));
        assert_eq!(
            t.map(|t| (t.operation, t.src_resource, t.dst_resource)),
            Some((
                TaskOperation::Copy,
                "library/app:v1".into(),
                "mirror/library/app:v1".into()
            ))
        );
        let rc = ArtifactEvent::push(repo("library/app"), Reference::Tag(tag("v1-rc1")));
        assert!(rc.task_for(&policy(false)).is_none(), "excluded tag");
        let other = ArtifactEvent::push(repo("team/app"), Reference::Tag(tag("v1")));
        assert!(other.task_for(&policy(false)).is_none(), "other repository");
        let d = Digest::sha256(b"m");
        let by_digest = ArtifactEvent::push(repo("library/app"), Reference::Digest(d));
        assert!(
            by_digest.task_for(&policy(false)).is_none(),
            "untagged push"
        );
    }

    #[test]
    fn deletions_replicate_only_with_replicate_deletion_and_by_digest_through_their_tags() {
        let d = Digest::sha256(b"m");
        let by_tag = ArtifactEvent::tag_deleted(repo("library/app"), tag("v1"));
        assert!(by_tag.task_for(&policy(false)).is_none());
        let t = by_tag.task_for(&policy(true));
        assert_eq!(
            t.map(|t| (t.operation, t.dst_resource)),
            Some((TaskOperation::Deletion, "mirror/library/app:v1".into()))
        );
        let by_digest =
            ArtifactEvent::manifest_deleted(repo("library/app"), d.clone(), vec![tag("v1")]);
        let t = by_digest.task_for(&policy(true));
        assert_eq!(
            t.map(|t| t.dst_resource),
            Some(format!("mirror/library/app@{d}"))
        );
        let only_rc =
            ArtifactEvent::manifest_deleted(repo("library/app"), d.clone(), vec![tag("v1-rc1")]);
        assert!(only_rc.task_for(&policy(true)).is_none());
        let untagged = ArtifactEvent::manifest_deleted(repo("library/app"), d, vec![]);
        assert!(
            untagged.task_for(&policy(true)).is_none(),
            "a tag filter selects nothing untagged"
        );
    }

    #[test]
    fn a_schedule_is_due_once_its_time_has_come() {
        let p = Policy::builder("s")
            .push_to(RegistryRef { id: 1 })
            .trigger(Trigger::scheduled("0 0 3 * * *"))
            .build()
            .unwrap();
        let at = |h: u32, m: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
                .and_then(|d| d.and_hms_opt(h, m, 0))
                .map(|t| t.and_utc())
                .unwrap_or_else(|| panic!("bad time"))
        };
        assert_eq!(schedule_due(&p, at(1, 0), at(2, 59)), None);
        assert_eq!(schedule_due(&p, at(2, 59), at(3, 1)), Some(at(3, 0)));
        assert_eq!(schedule_due(&p, at(3, 1), at(23, 0)), None);
        let mut off = p.clone();
        off.enabled = false;
        assert_eq!(schedule_due(&off, at(2, 59), at(3, 1)), None);
    }
}
