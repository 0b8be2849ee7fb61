//! Labels: names an administrator puts on artifacts to sort them
//! (`prod`, `qa-passed`), either for the whole registry (global, made by
//! system administrators) or for one project. Replication and retention
//! select artifacts by them.

use std::fmt::Debug;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::digest::Digest;
use crate::error::Result;
use crate::identity::Page;
use crate::name::RepositoryName;

/// Where a label applies (Harbor's `scope`: `g` or `p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelScope {
    /// Every project (`g`).
    Global,
    /// One project (`p`).
    Project,
}

impl LabelScope {
    /// Harbor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LabelScope::Global => "g",
            LabelScope::Project => "p",
        }
    }

    /// Parses Harbor's name.
    pub fn parse(s: &str) -> Option<LabelScope> {
        match s {
            "g" => Some(LabelScope::Global),
            "p" => Some(LabelScope::Project),
            _ => None,
        }
    }
}

/// A label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Id (set by the store).
    pub id: i64,
    /// Unique within its scope (among global labels, or in its project).
    pub name: String,
    /// Free text.
    pub description: String,
    /// A colour for the portal, e.g. `#0065AB`.
    pub color: String,
    /// Global or project.
    pub scope: LabelScope,
    /// The project of a project label; `None` for a global one.
    pub project_id: Option<i64>,
    /// Created (set by the store).
    pub creation_time: SystemTime,
    /// Last changed (set by the store).
    pub update_time: SystemTime,
}

/// Labels and the artifacts they are on, persisted.
#[async_trait]
pub trait LabelStore: Debug + Send + Sync + 'static {
    /// Stores a new label and returns it; `Conflict` if its scope (the
    /// global labels, or its project) has one of that name.
    async fn create_label(&self, label: &Label) -> Result<Label>;

    /// A label by id.
    async fn label(&self, id: i64) -> Result<Option<Label>>;

    /// Labels of a scope (with `project_id` for a project's), those whose
    /// name contains `name` when given, by id, and how many there are.
    async fn labels(
        &self,
        scope: LabelScope,
        project_id: Option<i64>,
        name: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Label>, u64)>;

    /// Replaces a label's name, description and colour; `false` if there is
    /// no such label; `Conflict` if the name is taken in its scope.
    async fn update_label(&self, label: &Label) -> Result<bool>;

    /// Deletes a label, taking it off every artifact; `false` if there was none.
    async fn delete_label(&self, id: i64) -> Result<bool>;

    /// Puts a label on an artifact; `false` if it was there already;
    /// `NotFound` if the artifact is not in the repository.
    async fn add_artifact_label(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<bool>;

    /// Takes a label off an artifact; `false` if it was not on it.
    async fn remove_artifact_label(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        label_id: i64,
    ) -> Result<bool>;

    /// The labels on each of `digests` in `repo`, as (digest, label) pairs
    /// in label id order; an artifact deleted takes its labels with it.
    async fn artifact_labels(
        &self,
        repo: &RepositoryName,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, Label)>>;
}
