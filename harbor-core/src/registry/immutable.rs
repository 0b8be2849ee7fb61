//! The engine's tag immutability checks, shared by every write path.
//!
//! Each check runs before the write it guards, against the rules as
//! [`ImmutableRules`](crate::immutable::ImmutableRules) keeps them. Two
//! pushes racing to create the same new tag are not ordered by it (the last
//! one wins, as in Harbor, whose check is also a step before the write); a
//! tag that exists when a push or delete begins is always protected.

use super::Registry;
use crate::digest::Digest;
use crate::error::Result;
use crate::immutable::rules::rule_for_tag;
use crate::immutable::{ImmutableChange, ImmutableRule, TagImmutable};
use crate::name::{RepositoryName, Tag};

impl Registry {
    /// The enabled rule that makes `tag` of `repo` immutable, if one does
    /// (whether or not the tag exists).
    pub async fn immutable_rule_for(
        &self,
        repo: &RepositoryName,
        tag: &str,
    ) -> Result<Option<ImmutableRule>> {
        let Some(rules) = &self.immutable else {
            return Ok(None);
        };
        let rules = rules.for_repository(repo).await?;
        Ok(rule_for_tag(&rules, tag).cloned())
    }

    /// Refuses pointing `tag` at `digest` if it is immutable and points at
    /// another manifest now.
    pub(super) async fn check_tag_move(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<()> {
        let Some(rule) = self.immutable_rule_for(repo, tag.as_str()).await? else {
            return Ok(());
        };
        match self.meta.resolve_tag(repo, tag).await? {
            Some(current) if current != *digest => Err(refusal(
                repo,
                tag.as_str(),
                &rule,
                ImmutableChange::Overwrite,
            )),
            _ => Ok(()),
        }
    }

    /// Refuses deleting `tag` if it is immutable.
    pub(super) async fn check_tag_delete(&self, repo: &RepositoryName, tag: &Tag) -> Result<()> {
        match self.immutable_rule_for(repo, tag.as_str()).await? {
            Some(rule) => Err(refusal(repo, tag.as_str(), &rule, ImmutableChange::Delete)),
            None => Ok(()),
        }
    }

    /// Refuses deleting manifest `digest` if one of its tags is immutable.
    pub(super) async fn check_manifest_delete(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<()> {
        let Some(rules) = &self.immutable else {
            return Ok(());
        };
        let rules = rules.for_repository(repo).await?;
        if rules.is_empty() {
            // The usual case costs no read of the manifest's tags.
            return Ok(());
        }
        let Some(artifact) = self.meta.artifact(repo, digest).await? else {
            return Ok(());
        };
        for tag in &artifact.tags {
            if let Some(rule) = rule_for_tag(&rules, &tag.name) {
                return Err(refusal(repo, &tag.name, rule, ImmutableChange::Delete));
            }
        }
        Ok(())
    }
}

fn refusal(
    repo: &RepositoryName,
    tag: &str,
    rule: &ImmutableRule,
    change: ImmutableChange,
) -> crate::error::Error {
    TagImmutable {
        repository: repo.to_string(),
        tag: tag.to_owned(),
        rule_id: rule.id,
        change,
    }
    .into()
}
