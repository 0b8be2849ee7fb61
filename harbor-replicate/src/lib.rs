//! Replication for harbor-rs: the [`RegistryAdapter`] trait with adapters for
//! any OCI distribution registry (`docker-registry`), Harbor (`harbor`) and
//! the embedded engine (`local`), made by [`harbor_core::RegistryType`]
//! through an [`AdapterRegistry`] that vendors can add to, and a [`Copier`]
//! that moves images between them, streaming and verifying every byte.
//!
//! Names are typed ([`harbor_core::RepositoryName`], [`harbor_core::Tag`],
//! [`harbor_core::Reference`]): checked once, where they enter.
//!
//! ```
//! # async fn demo(src: harbor_core::Registry, dst: harbor_core::Registry) -> harbor_replicate::Result<()> {
//! use std::sync::Arc;
//! use harbor_core::{Reference, RepositoryName, Tag};
//! use harbor_replicate::{adapters::Local, Copier, CopyOptions};
//!
//! let copier = Copier::new(Arc::new(Local::new(src)), Arc::new(Local::new(dst)), CopyOptions::default());
//! let v1 = Tag::parse("v1")?;
//! let report = copier
//!     .copy_image(
//!         &RepositoryName::parse("library/app")?,
//!         &Reference::Tag(v1.clone()),
//!         &RepositoryName::parse("mirror/app")?,
//!         Some(&v1),
//!     )
//!     .await?;
//! println!("copied {} blobs, {} bytes", report.blobs_copied, report.bytes);
//! # Ok(()) }
//! ```

pub mod adapter;
pub mod adapters;
pub mod checkpoint;
pub mod copy;
mod error;
pub mod execution;
pub mod policy;
mod replicator;
mod secret;
mod service;
pub mod trigger;

pub use adapter::{
    AdapterInfo, AdapterRegistry, BlobSource, ChunkedPush, Credential, Endpoint, PulledManifest,
    RegistryAdapter,
};
pub use checkpoint::{FsCheckpoints, MemoryCheckpoints, UploadCheckpoints};
pub use copy::{event_stream, Copier, CopyEvent, CopyOptions, CopyReport, Progress};
pub use error::{BoxError, ReplicateError, Result};
pub use execution::{JobRunner, PolicyResolver};
pub use policy::{
    Decoration, Filter, FilterKind, Filters, Policy, PolicyBuilder, RegistryRef, Trigger,
    TriggerSettings,
};
pub use replicator::{CopyTask, Replicator, RetryPolicy, RunReport, TaskOutcome};
pub use secret::SecretBox;
pub use service::{parse_policy, ReplicationService, Triggers};
pub use trigger::{ArtifactEvent, ArtifactEventKind};
