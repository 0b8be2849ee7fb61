//! The core of the harbor-rs registry toolkit: validated OCI types, the
//! [`BlobStore`] and [`MetaStore`] traits that storage backends implement, and
//! the [`Registry`] engine that carries every operation of the OCI
//! distribution API as plain async calls.
//!
//! This crate does no I/O of its own: bytes and metadata go through the two
//! traits, whose implementations live in `harbor-storage` (or yours).

pub mod blob_store;
pub mod digest;
pub mod error;
pub mod identity;
pub mod manifest;
pub mod manifest_builder;
pub mod media_type;
pub mod meta_store;
pub mod name;
pub mod registry;
pub mod replication;

pub use blob_store::{bytes_stream, BlobStore, ByteRange, ByteStream, LocalFile, UploadInfo};
pub use digest::{Algorithm, Digest, Hasher};
pub use error::{Error, ErrorCode, Result};
pub use identity::{
    AuditEntry, AuditOperation, AuditQuery, AuditResource, IdentityStore, Member, NewUser, Page,
    Project, ProjectQuery, Robot, RobotAccess, RobotLevel, RobotPermission, Role, User,
};
pub use manifest::{Descriptor, Manifest, Platform, EMPTY_JSON, MAX_MANIFEST_SIZE};
pub use manifest_builder::{BuiltManifest, ImageIndexBuilder, ImageManifestBuilder};
pub use meta_store::{
    ArtifactInfo, ManifestRecord, MetaStore, RepositoryInfo, TagInfo, UploadSession,
};
pub use name::{Reference, RepositoryName, Tag};
pub use registry::{
    BlobContent, BlobFile, ManifestContent, PushedManifest, Registry, UploadStatus,
};
pub use replication::{
    Execution, NewTask, PolicyRecord, RegistryRecord, RegistryType, ReplicationStore, RunStatus,
    TaskOperation, TaskRecord, TriggerKind,
};
