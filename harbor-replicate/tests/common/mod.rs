//! Helpers shared by the replication tests: an in-memory registry and names
//! the tests know to be valid.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use harbor_core::{Reference, Registry, RepositoryName, Tag};
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};

/// An engine over in-memory blobs and an in-memory database.
pub fn registry() -> Registry {
    let meta = SqliteMetaStore::in_memory().expect("an in-memory store");
    Registry::new(Arc::new(MemoryBlobStore::new()), Arc::new(meta))
}

/// A repository name.
pub fn repo(s: &str) -> RepositoryName {
    RepositoryName::parse(s).expect("a valid repository name")
}

/// A tag.
pub fn tag(s: &str) -> Tag {
    Tag::parse(s).expect("a valid tag")
}

/// A tag as a reference.
pub fn tagged(s: &str) -> Reference {
    Reference::Tag(tag(s))
}
