//! The audit log of `SqliteMetaStore`: appending, listing and purging.

use harbor_core::{AuditEntry, AuditOperation, AuditQuery, AuditResource, Page, Result};
use rusqlite::{params, params_from_iter, Transaction};

use super::{from_ms, parsed, sql_limit, sql_offset, to_ms, SqliteMetaStore};
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

impl SqliteMetaStore {
    pub(super) async fn audit_append(&self, entries: &[AuditEntry]) -> Result<()> {
        let entries = entries.to_vec();
        self.write(move |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO audit_log (project, username, resource, resource_type, operation, op_time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in &entries {
                stmt.execute(params![
                    e.project,
                    e.username,
                    e.resource,
                    e.resource_type.as_str(),
                    e.operation.as_str(),
                    to_ms(e.op_time)
                ])?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn audit_list(
        &self,
        query: &AuditQuery,
        page: Page,
    ) -> Result<(Vec<AuditEntry>, u64)> {
        let q = query.clone();
        self.call(move |c| {
            let filter = "FROM audit_log WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR username = ?2)
                 AND (?3 IS NULL OR operation = ?3) AND (?4 IS NULL OR resource_type = ?4)
                 AND (?5 IS NULL OR instr(resource, ?5) > 0)";
            let operation = q.operation.map(|o| o.as_str());
            let resource_type = q.resource_type.map(|r| r.as_str());
            let args = params![q.project, q.username, operation, resource_type, q.resource_contains];
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) {filter}"))?
                .query_row(args, |r| r.get(0))?;
            let sql = format!(
                "SELECT id, project, username, resource, resource_type, operation, op_time {filter}
                 ORDER BY op_time DESC, id DESC LIMIT ?6 OFFSET ?7"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![
                    q.project,
                    q.username,
                    operation,
                    resource_type,
                    q.resource_contains,
                    sql_limit(page),
                    sql_offset(page)
                ],
                |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        project: r.get(1)?,
                        username: r.get(2)?,
                        resource: r.get(3)?,
                        resource_type: parsed(AuditResource::parse, r.get(4)?)?,
                        operation: parsed(AuditOperation::parse, r.get(5)?)?,
                        op_time: from_ms(r.get(6)?),
                    })
                },
            )?;
            Ok((rows.collect::<Result<Vec<_>, _>>()?, total as u64))
        })
        .await
    }
}
