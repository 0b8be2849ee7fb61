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
    // is counted as it stands: every linked blob and every manifest.
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
        FROM blob_links b JOIN repositories r ON r.id = b.repository_id;
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
