//! Versioned schema migrations, tracked in SQLite's `user_version`.

use rusqlite::Connection;

use crate::error::StorageError;

/// Each entry moves the schema one version up; never edit a released one,
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the registry's metadata.
    r#"
    CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE blob_links (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        linked_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
    ) WITHOUT ROWID;
    CREATE INDEX blob_links_digest ON blob_links(digest);
    CREATE TABLE manifests (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        payload BLOB NOT NULL,
        subject TEXT,
        artifact_type TEXT,
        annotations TEXT NOT NULL,
        pushed_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
    );
    CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
    CREATE TABLE manifest_references (
        repository_id INTEGER NOT NULL,
        manifest_digest TEXT NOT NULL,
        reference TEXT NOT NULL,
        PRIMARY KEY (repository_id, manifest_digest, reference),
        FOREIGN KEY (repository_id, manifest_digest)
            REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX manifest_references_reference ON manifest_references(reference);
    CREATE TABLE tags (
        repository_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, name),
        FOREIGN KEY (repository_id, digest)
            REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX tags_digest ON tags(repository_id, digest);
    CREATE TABLE upload_sessions (
        id TEXT PRIMARY KEY,
        repository TEXT NOT NULL,
        started_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX upload_sessions_started ON upload_sessions(started_at);
    "#,
    // 2: users, projects and members.
    r#"
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL,
        realname TEXT NOT NULL,
        comment TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        sysadmin INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX users_email ON users(email) WHERE email <> '';
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        public INTEGER NOT NULL,
        owner_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE project_members (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role INTEGER NOT NULL,
        UNIQUE (project_id, user_id)
    );
    CREATE INDEX project_members_user ON project_members(user_id);
    "#,
    // 3: robot accounts.
    r#"
    CREATE TABLE robots (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        level TEXT NOT NULL,
        project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL,
        expires_at INTEGER,
        disabled INTEGER NOT NULL,
        permissions TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX robots_project ON robots(project_id);
    "#,
    // 4: the audit log.
    r#"
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        project TEXT,
        username TEXT NOT NULL,
        resource TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        operation TEXT NOT NULL,
        op_time INTEGER NOT NULL
    );
    CREATE INDEX audit_log_project ON audit_log(project, op_time);
    CREATE INDEX audit_log_time ON audit_log(op_time);
    "#,
    // 5: replication.
    r#"
    CREATE TABLE replication_registries (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        credential TEXT,
        insecure INTEGER NOT NULL,
        description TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE replication_policies (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        definition TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE replication_executions (
        id INTEGER PRIMARY KEY,
        policy_id INTEGER NOT NULL REFERENCES replication_policies(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        status_text TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER
    );
    CREATE INDEX replication_executions_policy ON replication_executions(policy_id, id);
    CREATE TABLE replication_tasks (
        id INTEGER PRIMARY KEY,
        execution_id INTEGER NOT NULL REFERENCES replication_executions(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        src_resource TEXT NOT NULL,
        dst_resource TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        start_time INTEGER,
        end_time INTEGER,
        log TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX replication_tasks_execution ON replication_tasks(execution_id, id);
    "#,
    // 5: Harbor's project metadata beyond `public`, as a JSON object.
    r#"
    ALTER TABLE projects ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
    "#,
    // 6: cluster-wide leases (`LeaseStore`), expiry in epoch milliseconds.
    r#"
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
    // 7: garbage collection: the digest an upload is about to publish, the
    // claims on digests whose bytes are being deleted, and system jobs
    // (their runs, logs and schedules).
    r#"
    ALTER TABLE upload_sessions ADD COLUMN digest TEXT;
    CREATE INDEX upload_sessions_digest ON upload_sessions(digest) WHERE digest IS NOT NULL;
    CREATE TABLE blob_claims (
        digest TEXT PRIMARY KEY,
        claimed_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        trigger TEXT NOT NULL,
        parameters TEXT NOT NULL,
        status TEXT NOT NULL,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        creation_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL,
        log TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX jobs_kind ON jobs(kind, status, id);
    CREATE TABLE job_schedules (
        kind TEXT PRIMARY KEY,
        schedule_type TEXT NOT NULL,
        cron TEXT NOT NULL,
        parameters TEXT NOT NULL,
        creation_time INTEGER NOT NULL,
        update_time INTEGER NOT NULL
    );
    "#,
    // 8: storage quotas: what each project counts (each digest once, by
    // the project's name) and its limit (-1: unlimited). Existing content
    // is counted as it stands: every manifest and the blobs they reference.
    r#"
    CREATE TABLE quotas (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL UNIQUE,
        hard INTEGER NOT NULL,
        used INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE project_blobs (
        project TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (project, digest)
    ) WITHOUT ROWID;
    CREATE INDEX project_blobs_digest ON project_blobs(digest);
    CREATE INDEX manifests_digest ON manifests(digest);
    INSERT OR IGNORE INTO project_blobs (project, digest, size)
        SELECT CASE WHEN instr(r.name, '/') > 0 THEN substr(r.name, 1, instr(r.name, '/') - 1)
                    ELSE r.name END,
               b.digest, b.size
        FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
        JOIN blob_links b ON b.repository_id = x.repository_id AND b.digest = x.reference;
    INSERT OR IGNORE INTO project_blobs (project, digest, size)
        SELECT CASE WHEN instr(r.name, '/') > 0 THEN substr(r.name, 1, instr(r.name, '/') - 1)
                    ELSE r.name END,
               m.digest, length(m.payload)
        FROM manifests m JOIN repositories r ON r.id = m.repository_id;
    INSERT INTO quotas (project, hard, used, created_at, updated_at)
        SELECT name, -1, 0, created_at, updated_at FROM projects ORDER BY id;
    INSERT OR IGNORE INTO quotas (project, hard, used, created_at, updated_at)
        SELECT DISTINCT project, -1, 0, CAST(unixepoch('subsec') * 1000 AS INTEGER),
               CAST(unixepoch('subsec') * 1000 AS INTEGER)
        FROM project_blobs ORDER BY project;
    UPDATE quotas SET used = (SELECT coalesce(sum(size), 0) FROM project_blobs p
                              WHERE p.project = quotas.project);
    "#,
    // 9: system settings changed at run time (`/configurations`), each a
    // JSON value under Harbor's key.
    r#"
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 10: webhook policies and the durable queue of their deliveries: an
    // execution per event and policy, a task per target; `due_at` is when a
    // pending task is next tried or when a running task's lease runs out.
    r#"
    CREATE TABLE webhook_policies (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        targets TEXT NOT NULL,
        event_types TEXT NOT NULL,
        creator TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE webhook_executions (
        id INTEGER PRIMARY KEY,
        policy_id INTEGER NOT NULL REFERENCES webhook_policies(id) ON DELETE CASCADE,
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        start_time INTEGER NOT NULL,
        end_time INTEGER
    );
    CREATE INDEX webhook_executions_policy ON webhook_executions(policy_id, id);
    CREATE TABLE webhook_tasks (
        id INTEGER PRIMARY KEY,
        execution_id INTEGER NOT NULL REFERENCES webhook_executions(id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        content_type TEXT NOT NULL,
        status TEXT NOT NULL,
        run_count INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        log TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX webhook_tasks_execution ON webhook_tasks(execution_id);
    CREATE INDEX webhook_tasks_due ON webhook_tasks(due_at) WHERE status IN ('Pending', 'Running');
    "#,
    // 11: immutable tag rules, one selector each for repositories and
    // tags; a rule goes with its project.
    r#"
    CREATE TABLE immutable_rules (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        priority INTEGER NOT NULL,
        disabled INTEGER NOT NULL,
        repo_decoration TEXT NOT NULL,
        repo_pattern TEXT NOT NULL,
        tag_decoration TEXT NOT NULL,
        tag_pattern TEXT NOT NULL,
        UNIQUE (project_id, repo_decoration, repo_pattern, tag_decoration, tag_pattern)
    );
    "#,
    // 12: labels, global (no project) or a project's, unique by name in
    // their scope; an artifact's labels go with its manifest row.
    r#"
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        color TEXT NOT NULL,
        scope TEXT NOT NULL,
        project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX labels_name ON labels(scope, coalesce(project_id, 0), name);
    CREATE INDEX labels_project ON labels(project_id);
    CREATE TABLE artifact_labels (
        repository_id INTEGER NOT NULL,
        digest TEXT NOT NULL,
        label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest, label_id),
        FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest)
            ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX artifact_labels_label ON artifact_labels(label_id);
    "#,
    // 13: tag retention: one policy per project (going with it), its rules
    // as JSON; executions, one task per repository with its log; and each
    // manifest's last pull time, written in batches off the request path.
    r#"
    ALTER TABLE manifests ADD COLUMN pulled_at INTEGER;
    CREATE TABLE retention_policies (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
        rules TEXT NOT NULL,
        schedule TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE retention_executions (
        id INTEGER PRIMARY KEY,
        policy_id INTEGER NOT NULL REFERENCES retention_policies(id) ON DELETE CASCADE,
        trigger_kind TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        status TEXT NOT NULL,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        start_time INTEGER NOT NULL,
        end_time INTEGER
    );
    CREATE INDEX retention_executions_policy ON retention_executions(policy_id, id);
    CREATE INDEX retention_executions_unfinished ON retention_executions(id)
        WHERE status = 'InProgress';
    CREATE TABLE retention_tasks (
        id INTEGER PRIMARY KEY,
        execution_id INTEGER NOT NULL REFERENCES retention_executions(id) ON DELETE CASCADE,
        repository TEXT NOT NULL,
        status TEXT NOT NULL,
        total INTEGER NOT NULL DEFAULT 0,
        retained INTEGER NOT NULL DEFAULT 0,
        start_time INTEGER NOT NULL,
        end_time INTEGER,
        log TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX retention_tasks_execution ON retention_tasks(execution_id, id);
    "#,
    // 14: user groups, who is in them, and groups as project members (the
    // members table is rebuilt: its user becomes optional, one of user or
    // group is set).
    r#"
    CREATE TABLE user_groups (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        group_type INTEGER NOT NULL,
        ldap_dn TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX user_groups_name ON user_groups(group_type, name) WHERE group_type <> 1;
    CREATE UNIQUE INDEX user_groups_dn ON user_groups(lower(ldap_dn)) WHERE group_type = 1;
    CREATE TABLE user_group_members (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id INTEGER NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
    ) WITHOUT ROWID;
    CREATE INDEX user_group_members_group ON user_group_members(group_id);
    CREATE TABLE project_members_14 (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        group_id INTEGER REFERENCES user_groups(id) ON DELETE CASCADE,
        role INTEGER NOT NULL,
        CHECK ((user_id IS NULL) <> (group_id IS NULL)),
        UNIQUE (project_id, user_id),
        UNIQUE (project_id, group_id)
    );
    INSERT INTO project_members_14 (id, project_id, user_id, role)
        SELECT id, project_id, user_id, role FROM project_members;
    DROP TABLE project_members;
    ALTER TABLE project_members_14 RENAME TO project_members;
    CREATE INDEX project_members_user ON project_members(user_id);
    CREATE INDEX project_members_group ON project_members(group_id);
    "#,
    // 15: users onboarded from an OpenID Connect provider (Harbor's
    // oidc_user): one link per user, unique by the provider account
    // (issuer and subject), with the sealed CLI secret and tokens.
    r#"
    CREATE TABLE oidc_users (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        secret TEXT NOT NULL,
        token TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (issuer, subject)
    );
    "#,
    // 16: signed-in sessions (the portal's and OIDC's), so signing out
    // ends a session for good and a password change ends the others.
    r#"
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    CREATE INDEX sessions_expiry ON sessions(expires_at);
    "#,
];

/// The schema version this build writes.
pub(crate) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`], one transaction per step.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > CURRENT_VERSION {
        return Err(StorageError::SchemaTooNew {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "metadata schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A database of schema 7 with content gets that content counted by
    /// the quota migration: each manifest and referenced blob once per
    /// project.
    #[test]
    fn the_quota_migration_counts_what_is_already_stored() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS.iter().take(7).enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO projects (id, name, public, owner_id, created_at, updated_at)
                 VALUES (1, 'lib', 1, 1, 5, 6), (2, 'empty', 0, 1, 7, 8);
             INSERT INTO repositories (id, name, created_at)
                 VALUES (1, 'lib/a', 0), (2, 'lib/b', 0), (3, 'orphan/x', 0);
             INSERT INTO blob_links (repository_id, digest, size, linked_at) VALUES
                 (1, 'sha256:l1', 100, 0), (2, 'sha256:l1', 100, 0), (2, 'sha256:l2', 20, 0),
                 (3, 'sha256:l1', 100, 0), (2, 'sha256:unused', 999, 0);
             INSERT INTO manifests (repository_id, digest, media_type, payload, annotations, pushed_at)
                 VALUES (1, 'sha256:m', 'x', x'0102030405', '{}', 0),
                        (2, 'sha256:m', 'x', x'0102030405', '{}', 0),
                        (2, 'sha256:n', 'x', x'01', '{}', 0),
                        (3, 'sha256:o', 'x', x'0102', '{}', 0);
             INSERT INTO manifest_references (repository_id, manifest_digest, reference) VALUES
                 (1, 'sha256:m', 'sha256:l1'), (2, 'sha256:m', 'sha256:l1'),
                 (2, 'sha256:n', 'sha256:l2'), (3, 'sha256:o', 'sha256:l1');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let mut stmt = conn
            .prepare("SELECT project, hard, used, created_at FROM quotas ORDER BY id")
            .unwrap();
        let rows: Vec<(String, i64, i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // l1 once, l2, m once and n; the blob no manifest references is not
        // counted.
        assert_eq!(rows[0], ("lib".to_owned(), -1, 100 + 20 + 5 + 1, 5));
        assert_eq!(rows[1], ("empty".to_owned(), -1, 0, 7));
        assert_eq!((rows[2].0.as_str(), rows[2].2), ("orphan", 102));
        assert_eq!(rows.len(), 3);
    }
}
