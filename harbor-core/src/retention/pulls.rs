//! Pull times, recorded off the request path: a pull notes its
//! (repository, digest, time) in memory, and a background task writes what
//! accumulated in one batch ([`MetaStore::record_pulls`]) every second or
//! so. A pull never waits on the database, and a thousand pulls of one
//! image between two flushes are one row update.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::digest::Digest;
use crate::error::Result;
use crate::meta_store::MetaStore;
use crate::name::RepositoryName;

/// The most distinct artifacts held between two flushes; pulls of others
/// past it are dropped (a pull time is a hint for retention, not a record
/// worth unbounded memory).
pub const MAX_PENDING: usize = 100_000;

/// Pulls noted since the last flush: the latest time per artifact.
#[derive(Debug, Default)]
pub struct PullTimes {
    pending: Mutex<HashMap<(RepositoryName, Digest), SystemTime>>,
}

impl PullTimes {
    /// An empty buffer.
    pub fn new() -> PullTimes {
        PullTimes::default()
    }

    /// Notes that `digest` of `repo` was pulled at `at`. Never blocks on
    /// anything but a short in-memory lock.
    pub fn record(&self, repo: &RepositoryName, digest: &Digest, at: SystemTime) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = pending.get_mut(&(repo.clone(), digest.clone())) {
            *t = (*t).max(at);
        } else if pending.len() < MAX_PENDING {
            pending.insert((repo.clone(), digest.clone()), at);
        }
    }

    /// How many artifacts wait to be written.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Writes what accumulated to `meta` in one call; on failure the pulls
    /// are kept for the next flush. Returns how many were written.
    pub async fn flush(&self, meta: &dyn MetaStore) -> Result<usize> {
        let batch: Vec<(RepositoryName, Digest, SystemTime)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending)
                .into_iter()
                .map(|((r, d), t)| (r, d, t))
                .collect()
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match meta.record_pulls(&batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for (r, d, t) in &batch {
                    self.record(r, d, *t);
                }
                Err(e)
            }
        }
    }
}
