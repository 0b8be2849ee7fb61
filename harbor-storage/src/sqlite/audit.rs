//! The audit log purge of `SqliteMetaStore`.

use rusqlite::{params_from_iter, Transaction};

use crate::error::StorageError;

/// Deletes (or with `dry_run` counts) the entries older than `before_ms`
/// whose operation is in `ops`.
pub(super) fn purge(
    tx: &Transaction<'_>,
    before_ms: i64,
    ops: &[String],
    dry_run: bool,
) -> Result<u64, StorageError> {
    if ops.is_empty() {
        return Ok(0);
    }
    let marks = (2..ops.len() + 2)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = format!("FROM audit_log WHERE op_time < ?1 AND operation IN ({marks})");
    let args = std::iter::once(rusqlite::types::Value::Integer(before_ms))
        .chain(ops.iter().map(|o| rusqlite::types::Value::Text(o.clone())));
    let n: i64 = if dry_run {
        tx.query_row(
            &format!("SELECT count(*) {filter}"),
            params_from_iter(args),
            |r| r.get(0),
        )?
    } else {
        tx.execute(&format!("DELETE {filter}"), params_from_iter(args))? as i64
    };
    Ok(n.max(0) as u64)
}
