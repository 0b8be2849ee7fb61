//! Project storage quotas as the server applies them: the store that keeps
//! them and the limit a new project gets.

use std::sync::Arc;

use harbor_core::QuotaStore;

/// The quota settings of the configuration, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    /// The limit of a project created without one (`None`: unlimited).
    pub default_limit: Option<u64>,
    /// The usage, in percent of a limit, from which pushes raise
    /// `QUOTA_WARNING`.
    pub warning_percent: u8,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            default_limit: None,
            warning_percent: harbor_core::DEFAULT_WARNING_PERCENT,
        }
    }
}

/// Quotas on: where they are kept (the store that also enforces them, as
/// its `MetaStore`) and the default limit.
#[derive(Debug, Clone)]
pub struct Quotas {
    /// The store.
    pub store: Arc<dyn QuotaStore>,
    /// The settings.
    pub settings: QuotaSettings,
}
