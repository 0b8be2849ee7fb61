//! A read cache of tags and manifests in front of SQLite: pulls ask for the
//! same few manifests over and over, and each answered from memory spares a
//! trip to the blocking pool and the connection lock.
//!
//! Every write that changes tags or manifests goes through this store, which
//! empties the cache after committing. A reader remembers the cache's
//! generation before it reads the database and keeps its result only if no
//! write has completed since, so a value read just before a write never
//! outlives it.

use std::collections::HashMap;
use std::sync::Mutex;

use harbor_core::{Digest, ManifestRecord};

/// Payload bytes kept at most; past it the cache starts over.
const MAX_BYTES: usize = 8 << 20;
/// Entries kept at most (tags and manifests together).
const MAX_ENTRIES: usize = 16_384;

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    tags: HashMap<String, Digest>,
    manifests: HashMap<String, ManifestRecord>,
    bytes: usize,
}

impl Inner {
    fn make_room(&mut self, bytes: usize) {
        if self.bytes + bytes > MAX_BYTES || self.tags.len() + self.manifests.len() >= MAX_ENTRIES {
            self.tags.clear();
            self.manifests.clear();
            self.bytes = 0;
        }
    }
}

/// Tags and manifests recently read, by repository.
#[derive(Debug, Default)]
pub(super) struct ReadCache {
    inner: Mutex<Inner>,
}

fn key(repo: &str, item: &dyn std::fmt::Display) -> String {
    // A NUL cannot occur in a repository name, a tag or a digest.
    format!("{repo}\0{item}")
}

impl ReadCache {
    /// The generation to hand back to `put_*` after reading the database.
    pub(super) fn generation(&self) -> u64 {
        self.inner.lock().map(|i| i.generation).unwrap_or(u64::MAX)
    }

    pub(super) fn tag(&self, repo: &str, tag: &str) -> Option<Digest> {
        self.inner.lock().ok()?.tags.get(&key(repo, &tag)).cloned()
    }

    pub(super) fn put_tag(&self, generation: u64, repo: &str, tag: &str, digest: &Digest) {
        if let Ok(mut i) = self.inner.lock() {
            if i.generation == generation {
                i.make_room(0);
                i.tags.insert(key(repo, &tag), digest.clone());
            }
        }
    }

    pub(super) fn manifest(&self, repo: &str, digest: &Digest) -> Option<ManifestRecord> {
        let i = self.inner.lock().ok()?;
        i.manifests.get(&key(repo, digest)).cloned()
    }

    pub(super) fn put_manifest(&self, generation: u64, repo: &str, record: &ManifestRecord) {
        if let Ok(mut i) = self.inner.lock() {
            if i.generation == generation {
                let size = record.payload.len();
                i.make_room(size);
                i.bytes += size;
                i.manifests
                    .insert(key(repo, &record.digest), record.clone());
            }
        }
    }

    /// Forgets everything; called after every committed write to tags or
    /// manifests (and after a failed one, which may have committed).
    pub(super) fn invalidate(&self) {
        if let Ok(mut i) = self.inner.lock() {
            i.generation = i.generation.wrapping_add(1);
            i.tags.clear();
            i.manifests.clear();
            i.bytes = 0;
        }
    }
}

/// An account, project or membership as last read (absent ones too).
#[derive(Debug, Clone)]
pub(super) enum Identity {
    User(Option<harbor_core::User>),
    Project(Option<harbor_core::Project>),
    Member(Option<harbor_core::Member>),
    /// A user's effective role in a project (own and through groups).
    Role(Option<harbor_core::Role>),
    Robot(Option<harbor_core::Robot>),
}

/// The lookups every token and every authenticated request makes (a user or
/// robot by name, a project by name, a membership), kept until the next write
/// to users, projects, members or robots, with the same generation check as
/// [`ReadCache`].
#[derive(Debug, Default)]
pub(super) struct IdentityCache {
    inner: Mutex<(u64, HashMap<String, Identity>)>,
}

impl IdentityCache {
    pub(super) fn generation(&self) -> u64 {
        self.inner.lock().map(|i| i.0).unwrap_or(u64::MAX)
    }

    pub(super) fn get(&self, key: &str) -> Option<Identity> {
        self.inner.lock().ok()?.1.get(key).cloned()
    }

    pub(super) fn put(&self, generation: u64, key: String, value: Identity) {
        if let Ok(mut i) = self.inner.lock() {
            if i.0 == generation {
                if i.1.len() >= MAX_ENTRIES {
                    i.1.clear();
                }
                i.1.insert(key, value);
            }
        }
    }

    pub(super) fn invalidate(&self) {
        if let Ok(mut i) = self.inner.lock() {
            i.0 = i.0.wrapping_add(1);
            i.1.clear();
        }
    }
}
