//! The core of the harbor-rs registry toolkit: validated OCI types, the
//! [`BlobStore`] and [`MetaStore`] traits that storage backends implement, and
//! the [`Registry`] engine that carries every operation of the OCI
//! distribution API as plain async calls.
//!
//! This crate does no I/O of its own: bytes and metadata go through the two
//! traits, whose implementations live in `harbor-storage` (or yours).
//!
//! Names are checked once, where they enter, and manifests are built as the
//! exact bytes to push, with their media type and digest:
//!
//! ```
//! use harbor_core::media_type::{OCI_CONFIG, OCI_LAYER_TAR};
//! use harbor_core::{Descriptor, Digest, ImageManifestBuilder, Reference, RepositoryName};
//!
//! let repo = RepositoryName::parse("library/hello")?;
//! assert!(RepositoryName::parse("Library/Hello").is_err()); // names are lowercase
//! let tag = Reference::parse("v1")?;
//!
//! let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
//! let manifest = ImageManifestBuilder::oci(Descriptor::for_blob(OCI_CONFIG, config))
//!     .layer(Descriptor::for_blob(OCI_LAYER_TAR, b"a layer"))
//!     .build()?;
//! assert_eq!(manifest.digest(), &Digest::sha256(manifest.bytes()));
//! println!("{repo}:{tag} is {} ({})", manifest.digest(), manifest.media_type());
//! # Ok::<(), harbor_core::Error>(())
//! ```
//!
//! With stores, [`Registry`] pushes and pulls them: see `harbor-storage`'s
//! example, and `examples/embedded_registry.rs` for a whole image.

pub mod blob_store;
pub mod digest;
pub mod error;
pub mod gc;
pub mod group;
pub mod identity;
pub mod immutable;
pub mod jobs;
pub mod label;
pub mod lease;
pub mod manifest;
pub mod manifest_builder;
pub mod media_type;
pub mod meta_store;
pub mod name;
pub mod quota;
pub mod registry;
pub mod replication;
pub mod retention;
pub mod selector;
pub mod settings;
#[cfg(feature = "tls")]
pub mod tls;
pub mod webhook;

pub use blob_store::{
    bytes_stream, BlobStore, ByteRange, ByteStream, LocalFile, StoredBlob, UploadInfo,
};
pub use digest::{Algorithm, Digest, Hasher};
pub use error::{Error, ErrorCode, Result};
pub use gc::{BusyProbe, GarbageCollector, GcEvent, GcOptions, GcReport};
pub use group::{GroupQuery, GroupType, MemberKind, NewUserGroup, UserGroup};
pub use identity::{
    AuditEntry, AuditOperation, AuditQuery, AuditResource, IdentityStore, Member, NewOidcUser,
    NewUser, OidcUser, Page, Project, ProjectQuery, Robot, RobotAccess, RobotLevel,
    RobotPermission, RobotQuery, Role, User,
};
pub use immutable::{
    ImmutableChange, ImmutableRule, ImmutableRuleStore, ImmutableRules, RuleSpec, TagImmutable,
};
pub use jobs::{JobKind, JobRecord, JobSchedule, JobStatus, JobStore, JobTrigger, ScheduleType};
pub use label::{Label, LabelScope, LabelStore};
pub use lease::{LeaseStore, LocalLeases};
pub use manifest::{Descriptor, Manifest, Platform, EMPTY_JSON, MAX_MANIFEST_SIZE};
pub use manifest_builder::{BuiltManifest, ImageIndexBuilder, ImageManifestBuilder};
pub use meta_store::{
    ArtifactInfo, ManifestRecord, MetaStore, RepositoryInfo, TagInfo, UploadSession,
};
pub use name::{Reference, RepositoryName, Tag};
pub use quota::{
    Quota, QuotaEvent, QuotaExceeded, QuotaSort, QuotaStore, StorageCharge, DEFAULT_WARNING_PERCENT,
};
pub use registry::{
    BlobContent, BlobFile, DeletedArtifact, ManifestContent, PushedManifest, Registry,
    UploadStatus, READ_ONLY_MESSAGE,
};
pub use replication::{
    Execution, NewTask, PolicyRecord, RegistryRecord, RegistryType, ReplicationStore, RunStatus,
    TaskOperation, TaskRecord, TriggerKind,
};
pub use retention::{
    NewRetentionExecution, PolicySpec, PullTimes, RetentionExecution, RetentionPolicy,
    RetentionRule, RetentionStatus, RetentionStore, RetentionTask, RuleTemplate, TagSelector,
    TEMPLATE_IDS,
};
pub use settings::{LocalSettings, SettingValues, SettingsStore};
pub use webhook::{
    AttemptOutcome, DeliveryStatus, LastTrigger, NewDelivery, NewWebhookExecution, NotifyType,
    PayloadFormat, WebhookEventType, WebhookExecution, WebhookPolicy, WebhookStore, WebhookTarget,
    WebhookTask,
};
