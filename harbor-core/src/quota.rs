//! Per-project storage quotas: what each project uses, its limit, and the
//! events a project nearing or hitting its limit raises.
//!
//! Accounting is Harbor's: a project uses the sum of the sizes of the
//! distinct manifests it holds and the blobs they reference, each counted
//! once however many of its repositories and manifests share it. The
//! [`MetaStore`] does the counting inside the transactions that change what
//! a project holds, so usage is exact under concurrent pushes from several
//! instances:
//!
//! - a manifest put ([`MetaStore::put_manifest`]) adds what the project did
//!   not count yet, and is refused whole (`DENIED`, [`QuotaExceeded`]) if
//!   that would take usage past the limit;
//! - a blob upload or mount ([`MetaStore::link_blob`]) is refused the same
//!   way if the blob would not fit once counted, so that a push over quota
//!   stops at its first blob that does not fit; an uploaded blob counts
//!   only once a manifest references it, so a refused push leaves nothing
//!   counted;
//! - a manifest delete (by the API or by garbage collection) stops counting
//!   it and what no remaining manifest of the project references.
//!
//! [`QuotaStore`] reads usage and sets limits.
//!
//! [`MetaStore`]: crate::MetaStore
//! [`MetaStore::link_blob`]: crate::MetaStore::link_blob
//! [`MetaStore::put_manifest`]: crate::MetaStore::put_manifest

use std::fmt::{self, Debug};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::digest::Digest;
use crate::error::{Error, ErrorCode, Result};
use crate::identity::Page;
use crate::name::RepositoryName;

/// The largest storage limit Harbor accepts: 1024 TiB.
pub const MAX_STORAGE_LIMIT: u64 = 1 << 50;

/// Harbor's percentage of the limit from which a push raises
/// [`QuotaEvent::Warning`].
pub const DEFAULT_WARNING_PERCENT: u8 = 85;

/// A project's storage quota and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Id, stable for the project's life.
    pub id: i64,
    /// The project's name (the first component of its repositories' names).
    pub project: String,
    /// The limit in bytes; `None` is unlimited (Harbor's `-1`).
    pub limit: Option<u64>,
    /// Bytes used.
    pub used: u64,
    /// When the quota was created.
    pub created_at: SystemTime,
    /// When its limit or usage last changed.
    pub updated_at: SystemTime,
}

/// A project's storage right after a change that added to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageCharge {
    /// Bytes the change added to the project's usage (0 when everything
    /// was counted already).
    pub added: u64,
    /// Usage after the change.
    pub used: u64,
    /// The project's limit; `None` is unlimited.
    pub limit: Option<u64>,
}

impl StorageCharge {
    /// Usage as a whole percentage of the limit, `None` when unlimited.
    pub fn percent(&self) -> Option<u64> {
        let limit = self.limit?;
        Some(if limit == 0 {
            100
        } else {
            ((u128::from(self.used) * 100) / u128::from(limit)) as u64
        })
    }
}

/// The refusal of a change that would take a project past its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// The project.
    pub project: String,
    /// Bytes the refused change would have added.
    pub adding: u64,
    /// Usage before it (unchanged).
    pub used: u64,
    /// The limit.
    pub limit: u64,
}

impl QuotaExceeded {
    /// Harbor's wording, which scripts and people grep for.
    pub fn details(&self) -> String {
        format!(
            "adding {} of storage resource, which when updated to current usage of {} will exceed the configured upper limit of {}.",
            ByteSize(self.adding),
            ByteSize(self.used),
            ByteSize(self.limit)
        )
    }

    /// Recovers the refusal from the error it became, if it is one.
    pub fn from_error(e: &Error) -> Option<QuotaExceeded> {
        if e.code() != ErrorCode::Denied {
            return None;
        }
        let q = e.detail()?.get("quota")?;
        Some(QuotaExceeded {
            project: q.get("project")?.as_str()?.to_owned(),
            adding: q.get("adding")?.as_u64()?,
            used: q.get("used")?.as_u64()?,
            limit: q.get("limit")?.as_u64()?,
        })
    }
}

impl From<QuotaExceeded> for Error {
    /// `DENIED` with Harbor's message, the figures kept in the detail.
    fn from(q: QuotaExceeded) -> Error {
        Error::with_detail(
            ErrorCode::Denied,
            format!(
                "Quota exceeded when processing the request of {}",
                q.details()
            ),
            serde_json::json!({ "quota": {
                "project": q.project,
                "adding": q.adding,
                "used": q.used,
                "limit": q.limit,
            }}),
        )
    }
}

/// A size as Harbor writes it in quota messages: one decimal and a binary
/// unit (`2.1 MiB`, `10.0 GiB`), bytes as a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

/// What a project's storage did that someone may want to hear about; the
/// webhooks deliver them as Harbor's `QUOTA_WARNING` and `QUOTA_EXCEED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaEvent {
    /// A manifest push left usage at or above the warning percentage.
    Warning {
        /// Where the push went.
        repository: RepositoryName,
        /// The manifest pushed.
        digest: Digest,
        /// Usage after it.
        used: u64,
        /// The limit.
        limit: u64,
        /// The warning percentage that was reached.
        percent: u8,
    },
    /// A push was refused for going past the limit.
    Exceeded {
        /// Where the push went.
        repository: RepositoryName,
        /// The blob or manifest refused.
        digest: Digest,
        /// The refusal.
        refusal: QuotaExceeded,
    },
}

impl QuotaEvent {
    /// Harbor's event type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            QuotaEvent::Warning { .. } => "QUOTA_WARNING",
            QuotaEvent::Exceeded { .. } => "QUOTA_EXCEED",
        }
    }

    /// The repository the push went to.
    pub fn repository(&self) -> &RepositoryName {
        match self {
            QuotaEvent::Warning { repository, .. } | QuotaEvent::Exceeded { repository, .. } => {
                repository
            }
        }
    }

    /// The digest pushed.
    pub fn digest(&self) -> &Digest {
        match self {
            QuotaEvent::Warning { digest, .. } | QuotaEvent::Exceeded { digest, .. } => digest,
        }
    }

    /// Harbor's `custom_attributes.Details` text.
    pub fn details(&self) -> String {
        match self {
            QuotaEvent::Warning {
                used,
                limit,
                percent,
                ..
            } => format!(
                "quota usage reach {percent}%: resource storage used {} of {}",
                ByteSize(*used),
                ByteSize(*limit)
            ),
            QuotaEvent::Exceeded { refusal, .. } => refusal.details(),
        }
    }
}

/// How [`QuotaStore::list_quotas`] orders quotas: Harbor's `sort` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuotaSort {
    /// By id, oldest first (Harbor's default).
    #[default]
    Id,
    /// By limit, unlimited last (`hard.storage`).
    LimitAscending,
    /// By limit, unlimited first (`-hard.storage`).
    LimitDescending,
    /// By usage (`used.storage`).
    UsedAscending,
    /// By usage, largest first (`-used.storage`).
    UsedDescending,
    /// By creation time (`creation_time`).
    CreatedAscending,
    /// By creation time, newest first (`-creation_time`).
    CreatedDescending,
    /// By update time (`update_time`).
    UpdatedAscending,
    /// By update time, newest first (`-update_time`).
    UpdatedDescending,
}

impl QuotaSort {
    /// Parses Harbor's `sort` query value; `None` for one it does not know.
    pub fn parse(s: &str) -> Option<QuotaSort> {
        Some(match s {
            "" | "id" => QuotaSort::Id,
            "hard.storage" => QuotaSort::LimitAscending,
            "-hard.storage" => QuotaSort::LimitDescending,
            "used.storage" => QuotaSort::UsedAscending,
            "-used.storage" => QuotaSort::UsedDescending,
            "creation_time" => QuotaSort::CreatedAscending,
            "-creation_time" => QuotaSort::CreatedDescending,
            "update_time" => QuotaSort::UpdatedAscending,
            "-update_time" => QuotaSort::UpdatedDescending,
            _ => return None,
        })
    }
}

/// Checks a limit as Harbor's API takes it: `-1` (unlimited) or a size from
/// 1 byte to [`MAX_STORAGE_LIMIT`].
pub fn parse_limit(value: i64) -> Result<Option<u64>> {
    match value {
        -1 => Ok(None),
        v if v > 0 && v as u64 <= MAX_STORAGE_LIMIT => Ok(Some(v as u64)),
        v => Err(Error::new(
            ErrorCode::BadRequest,
            format!(
                "storage limit {v} is invalid: -1 (unlimited) or from 1 to {MAX_STORAGE_LIMIT} bytes"
            ),
        )),
    }
}

/// Reads and sets project quotas. The store that implements it is the
/// [`MetaStore`](crate::MetaStore) that enforces them (see the module doc).
#[async_trait]
pub trait QuotaStore: Debug + Send + Sync + 'static {
    /// Sets `project`'s limit (`None`: unlimited), creating its quota with
    /// the usage counted so far if it has none.
    async fn set_storage_limit(&self, project: &str, limit: Option<u64>) -> Result<Quota>;

    /// `project`'s quota, if it has one.
    async fn quota(&self, project: &str) -> Result<Option<Quota>>;

    /// A quota by id.
    async fn quota_by_id(&self, id: i64) -> Result<Option<Quota>>;

    /// One page of quotas in `sort` order, and the total count.
    async fn list_quotas(&self, sort: QuotaSort, page: Page) -> Result<(Vec<Quota>, u64)>;

    /// Drops `project`'s quota and what it counted (the project is gone);
    /// `false` if it had none.
    async fn delete_quota(&self, project: &str) -> Result<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_harbor_writes_them() {
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(ByteSize(1023).to_string(), "1023 B");
        assert_eq!(ByteSize(2_202_010).to_string(), "2.1 MiB");
        assert_eq!(ByteSize(200 << 20).to_string(), "200.0 MiB");
        assert_eq!(ByteSize(10 << 30).to_string(), "10.0 GiB");
    }

    #[test]
    fn a_refusal_survives_the_error_it_becomes() {
        let q = QuotaExceeded {
            project: "library".into(),
            adding: 3 << 20,
            used: 8 << 20,
            limit: 10 << 20,
        };
        let e = Error::from(q.clone());
        assert_eq!(e.code(), ErrorCode::Denied);
        assert!(e.message().contains(
            "adding 3.0 MiB of storage resource, which when updated to current usage of 8.0 MiB will exceed the configured upper limit of 10.0 MiB."
        ));
        assert_eq!(QuotaExceeded::from_error(&e), Some(q));
        assert_eq!(
            QuotaExceeded::from_error(&Error::new(ErrorCode::Denied, "no")),
            None
        );
    }

    #[test]
    fn limits_follow_harbors_rule() {
        assert_eq!(parse_limit(-1).ok(), Some(None));
        assert_eq!(parse_limit(1).ok(), Some(Some(1)));
        assert!(parse_limit(0).is_err());
        assert!(parse_limit(-2).is_err());
        assert!(parse_limit(MAX_STORAGE_LIMIT as i64 + 1).is_err());
        assert_eq!(
            QuotaSort::parse("-used.storage"),
            Some(QuotaSort::UsedDescending)
        );
        assert_eq!(QuotaSort::parse("used.count"), None);
    }

    #[test]
    fn percent_of_the_limit() {
        let c = StorageCharge {
            added: 1,
            used: 85,
            limit: Some(100),
        };
        assert_eq!(c.percent(), Some(85));
        assert_eq!(StorageCharge::default().percent(), None);
    }
}
