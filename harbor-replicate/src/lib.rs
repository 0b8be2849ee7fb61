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
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use harbor_core::{Reference, RepositoryName, Tag};
//! use harbor_replicate::{adapters::Local, Copier, CopyOptions};
//! # use harbor_core::{bytes_stream, media_type, Descriptor, ImageManifestBuilder, Registry};
//! # use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
//! # let memory = || -> harbor_core::Result<Registry> {
//! #     Ok(Registry::new(Arc::new(MemoryBlobStore::new()), Arc::new(SqliteMetaStore::in_memory()?)))
//! # };
//! # let (src, dst) = (memory()?, memory()?);
//! # let repo = RepositoryName::parse("library/app")?;
//! # let (config, layer) = (&b"{}"[..], &b"a layer"[..]);
//! # for blob in [config, layer] {
//! #     src.put_blob(&repo, &harbor_core::Digest::sha256(blob), bytes_stream(blob), None).await?;
//! # }
//! # let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(media_type::OCI_CONFIG, config))
//! #     .layer(Descriptor::for_blob(media_type::OCI_LAYER_TAR, layer))
//! #     .build()?;
//! # src.put_manifest(&repo, &Reference::parse("v1")?, None, manifest.into_bytes()).await?;
//!
//! // `src` and `dst` are registries; `library/app:v1` is in `src`.
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
//! assert_eq!(report.blobs_copied, 2); // the config and the layer
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
