//! What both metadata backends share for quotas.

use harbor_core::QuotaSort;

/// The `ORDER BY` of a quota listing; unlimited (`hard` -1) is the largest
/// limit.
pub(crate) fn order(sort: QuotaSort) -> &'static str {
    match sort {
        QuotaSort::Id => "id",
        QuotaSort::LimitAscending => "hard < 0, hard, id",
        QuotaSort::LimitDescending => "hard >= 0, hard DESC, id",
        QuotaSort::UsedAscending => "used, id",
        QuotaSort::UsedDescending => "used DESC, id",
        QuotaSort::CreatedAscending => "created_at, id",
        QuotaSort::CreatedDescending => "created_at DESC, id DESC",
        QuotaSort::UpdatedAscending => "updated_at, id",
        QuotaSort::UpdatedDescending => "updated_at DESC, id DESC",
    }
}

/// The project a repository belongs to: its first name component, as
/// `RepositoryName::first_component` reads it.
pub(crate) fn project_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}
