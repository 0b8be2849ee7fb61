//! The `LeaseStore` trait: named, expiring leases shared by every instance of
//! a cluster, so that a background duty (a replication task, a cron tick, the
//! upload purge, garbage collection) runs on exactly one instance at a time.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;

/// Named leases with an expiry, kept where every instance sees them (the
/// metadata database). A holder that dies simply stops renewing: once the
/// lease expires another instance may take it and redo the work.
///
/// Expiry is judged by the store's clock (the database server's, for a
/// shared database), so instances with skewed clocks still agree. A store
/// may drop expired leases at any time.
#[async_trait]
pub trait LeaseStore: Debug + Send + Sync + 'static {
    /// Takes lease `name` for `holder` for `ttl` from now if it is free, has
    /// expired, or is already `holder`'s (which renews it). `true` when
    /// `holder` holds it afterwards; `false` when another live holder has it.
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool>;

    /// Gives lease `name` up if `holder` holds it; `false` otherwise.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool>;
}

/// Leases in this process's memory: enough when one process runs the
/// duties (an embedding program with its own stores, tests). A cluster
/// needs the database's [`LeaseStore`] instead.
#[derive(Debug, Default)]
pub struct LocalLeases {
    held: std::sync::Mutex<std::collections::HashMap<String, (String, std::time::Instant)>>,
}

impl LocalLeases {
    /// No lease held.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl LeaseStore for LocalLeases {
    async fn acquire_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let now = std::time::Instant::now();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|_, (_, until)| *until > now);
        match held.get(name) {
            Some((h, _)) if h != holder => Ok(false),
            _ => {
                held.insert(name.to_owned(), (holder.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        match held.get(name) {
            Some((h, until)) if h == holder && *until > now => {
                held.remove(name);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
