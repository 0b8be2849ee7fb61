//! `ImmutableRules`: a project's rules as enforcement reads them, kept a
//! short while per project so that a push does not cost a query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ImmutableRule, ImmutableRuleStore};
use crate::error::Result;
use crate::name::RepositoryName;
use crate::selector::repository_in_project;

/// How long a project's rules are used before they are read again. A rule
/// created, changed or deleted through another instance of a cluster is
/// enforced here at most this long after (through this instance:
/// immediately, see [`ImmutableRules::forget`]).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(2);

/// Projects whose rules are kept before expired ones are dropped.
const PRUNE_ABOVE: usize = 1024;

type Cached = (Instant, Arc<[ImmutableRule]>);

/// The kept rules, and how many times any were forgotten: a read that
/// began before a `forget` is not kept.
#[derive(Debug, Default)]
struct Cache {
    projects: HashMap<String, Cached>,
    forgotten: u64,
}

/// The rules of every project, over an [`ImmutableRuleStore`], each
/// project's read at most once per refresh interval.
#[derive(Debug)]
pub struct ImmutableRules {
    store: Arc<dyn ImmutableRuleStore>,
    refresh: Duration,
    cache: Mutex<Cache>,
}

impl ImmutableRules {
    /// Rules from `store`, read again after [`DEFAULT_REFRESH`].
    pub fn new(store: Arc<dyn ImmutableRuleStore>) -> Self {
        Self::with_refresh(store, DEFAULT_REFRESH)
    }

    /// Rules from `store`, read again after `refresh` (zero: every time).
    pub fn with_refresh(store: Arc<dyn ImmutableRuleStore>, refresh: Duration) -> Self {
        ImmutableRules {
            store,
            refresh,
            cache: Mutex::default(),
        }
    }

    /// The store, for managing rules.
    pub fn store(&self) -> &Arc<dyn ImmutableRuleStore> {
        &self.store
    }

    /// Drops what is kept of `project`'s rules: call after changing them so
    /// that this instance enforces the change from the next request.
    pub fn forget(&self, project: &str) {
        let mut cache = self.lock();
        cache.projects.remove(project);
        cache.forgotten += 1;
    }

    /// The rules of the project named `project`, enabled or not.
    pub async fn of_project(&self, project: &str) -> Result<Arc<[ImmutableRule]>> {
        let forgotten = {
            let cache = self.lock();
            if let Some((at, rules)) = cache.projects.get(project) {
                if at.elapsed() < self.refresh {
                    return Ok(rules.clone());
                }
            }
            cache.forgotten
        };
        let read_at = Instant::now();
        let rules: Arc<[ImmutableRule]> = self.store.immutable_rules_of(project).await?.into();
        let mut cache = self.lock();
        if cache.forgotten != forgotten {
            // Rules changed while reading: use what was read, keep nothing.
            return Ok(rules);
        }
        if cache.projects.len() >= PRUNE_ABOVE {
            let refresh = self.refresh;
            cache.projects.retain(|_, (at, _)| at.elapsed() < refresh);
        }
        cache
            .projects
            .insert(project.to_owned(), (read_at, rules.clone()));
        Ok(rules)
    }

    /// The enabled rules of `repo`'s project whose repository selector
    /// selects `repo` (empty for a name without a project): the rules that
    /// can make one of its tags immutable.
    pub async fn for_repository(&self, repo: &RepositoryName) -> Result<Vec<ImmutableRule>> {
        let Some((project, name)) = repository_in_project(repo.as_str()) else {
            return Ok(Vec::new());
        };
        let rules = self.of_project(project).await?;
        Ok(rules
            .iter()
            .filter(|r| !r.spec.disabled && r.spec.repositories.selects(name))
            .cloned()
            .collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The first of `rules` (as [`ImmutableRules::for_repository`] returns
/// them) that makes `tag` immutable.
pub(crate) fn rule_for_tag<'a>(rules: &'a [ImmutableRule], tag: &str) -> Option<&'a ImmutableRule> {
    rules.iter().find(|r| r.spec.tags.selects(tag))
}
