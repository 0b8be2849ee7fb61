//! Versioned schema migrations for PostgreSQL, tracked in the one-row table
//! `harbor_schema`.
//!
//! Each step runs in its own transaction, which first takes a transaction
//! advisory lock: instances started at once migrate one after the other, and
//! each one that comes after finds the work done.

use deadpool_postgres::Object;

use crate::error::StorageError;

/// The advisory lock every migration step holds (`"harbor"` and a 1).
const MIGRATION_LOCK: i64 = 0x6861_7262_6f72_0001;

/// Each entry moves the schema one version up; never edit a released one,
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the registry's metadata. Times are epoch milliseconds; names and
    // digests compare and sort bytewise.
    r#"
    CREATE FUNCTION harbor_now_ms() RETURNS bigint LANGUAGE sql STABLE
        AS $$ SELECT floor(extract(epoch FROM now()) * 1000)::bigint $$;
    CREATE FUNCTION harbor_clock_ms() RETURNS bigint LANGUAGE sql VOLATILE
        AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
    CREATE TABLE repositories (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE blob_links (
        repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT COLLATE "C" NOT NULL,
        size BIGINT NOT NULL,
        linked_at BIGINT NOT NULL,
        PRIMARY KEY (repository_id, digest)
    );
    CREATE INDEX blob_links_digest ON blob_links(digest);
    CREATE TABLE manifests (
        id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest TEXT COLLATE "C" NOT NULL,
        media_type TEXT NOT NULL,
        payload BYTEA NOT NULL,
        subject TEXT COLLATE "C",
        artifact_type TEXT,
        annotations TEXT NOT NULL,
        pushed_at BIGINT NOT NULL,
        PRIMARY KEY (repository_id, digest)
    );
    CREATE INDEX manifests_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;
    CREATE TABLE manifest_references (
        repository_id BIGINT NOT NULL,
        manifest_digest TEXT COLLATE "C" NOT NULL,
        reference TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (repository_id, manifest_digest, reference),
        FOREIGN KEY (repository_id, manifest_digest)
            REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
    );
    CREATE INDEX manifest_references_reference ON manifest_references(repository_id, reference);
    CREATE TABLE tags (
        repository_id BIGINT NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        digest TEXT COLLATE "C" NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (repository_id, name),
        FOREIGN KEY (repository_id, digest)
            REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
    );
    CREATE INDEX tags_digest ON tags(repository_id, digest);
    CREATE TABLE upload_sessions (
        id TEXT PRIMARY KEY,
        repository TEXT NOT NULL,
        started_at BIGINT NOT NULL
    );
    CREATE INDEX upload_sessions_started ON upload_sessions(started_at);
    "#,
    // 2: users, projects (with Harbor's other settings as a JSON object),
    // members, robot accounts and the audit log.
    r#"
    CREATE TABLE users (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username TEXT COLLATE "C" NOT NULL UNIQUE,
        email TEXT NOT NULL,
        realname TEXT NOT NULL,
        comment TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        sysadmin BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX users_email ON users(email) WHERE email <> '';
    CREATE TABLE projects (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        public BOOLEAN NOT NULL,
        owner_id BIGINT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE project_members (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role BIGINT NOT NULL,
        UNIQUE (project_id, user_id)
    );
    CREATE INDEX project_members_user ON project_members(user_id);
    CREATE TABLE robots (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL UNIQUE,
        description TEXT NOT NULL,
        level TEXT NOT NULL,
        project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL,
        expires_at BIGINT,
        disabled BOOLEAN NOT NULL,
        permissions TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX robots_project ON robots(project_id);
    CREATE TABLE audit_log (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project TEXT,
        username TEXT NOT NULL,
        resource TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        operation TEXT NOT NULL,
        op_time BIGINT NOT NULL
    );
    CREATE INDEX audit_log_project ON audit_log(project, op_time);
    CREATE INDEX audit_log_time ON audit_log(op_time);
    "#,
    // 3: replication.
    r#"
    CREATE TABLE replication_registries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        credential TEXT,
        insecure BOOLEAN NOT NULL,
        description TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE replication_policies (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        definition TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE replication_executions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        policy_id BIGINT NOT NULL REFERENCES replication_policies(id) ON DELETE CASCADE,
        trigger TEXT NOT NULL,
        status TEXT NOT NULL,
        status_text TEXT NOT NULL,
        start_time BIGINT NOT NULL,
        end_time BIGINT
    );
    CREATE INDEX replication_executions_policy ON replication_executions(policy_id, id);
    CREATE INDEX replication_executions_unfinished ON replication_executions(id)
        WHERE status IN ('Pending', 'InProgress');
    CREATE TABLE replication_tasks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        execution_id BIGINT NOT NULL REFERENCES replication_executions(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        src_resource TEXT NOT NULL,
        dst_resource TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        start_time BIGINT,
        end_time BIGINT,
        log TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX replication_tasks_execution ON replication_tasks(execution_id, id);
    "#,
    // 4: cluster-wide leases (`LeaseStore`), expiry in epoch milliseconds
    // by the server's clock.
    r#"
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    "#,
    // 5: garbage collection: the digest an upload is about to publish, the
    // claims on digests whose bytes are being deleted, references looked up
    // across repositories, and system jobs (runs, logs and schedules).
    r#"
    ALTER TABLE upload_sessions ADD COLUMN digest TEXT COLLATE "C";
    CREATE INDEX upload_sessions_digest ON upload_sessions(digest) WHERE digest IS NOT NULL;
    CREATE TABLE blob_claims (
        digest TEXT COLLATE "C" PRIMARY KEY,
        claimed_at BIGINT NOT NULL
    );
    CREATE INDEX manifest_references_any ON manifest_references(reference);
    CREATE TABLE jobs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL,
        trigger TEXT NOT NULL,
        parameters TEXT NOT NULL,
        status TEXT NOT NULL,
        stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
        creation_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL,
        log TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX jobs_kind ON jobs(kind, status, id);
    CREATE TABLE job_schedules (
        kind TEXT PRIMARY KEY,
        schedule_type TEXT NOT NULL,
        cron TEXT NOT NULL,
        parameters TEXT NOT NULL,
        creation_time BIGINT NOT NULL,
        update_time BIGINT NOT NULL
    );
    "#,
    // 6: storage quotas: what each project counts (each digest once, by
    // the project's name) and its limit (-1: unlimited). Existing content
    // is counted as it stands: every manifest and the blobs they reference.
    r#"
    CREATE TABLE quotas (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project TEXT COLLATE "C" NOT NULL UNIQUE,
        hard BIGINT NOT NULL,
        used BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE project_blobs (
        project TEXT COLLATE "C" NOT NULL,
        digest TEXT COLLATE "C" NOT NULL,
        size BIGINT NOT NULL,
        PRIMARY KEY (project, digest)
    );
    CREATE INDEX project_blobs_digest ON project_blobs(digest);
    CREATE INDEX manifests_digest ON manifests(digest);
    INSERT INTO project_blobs (project, digest, size)
        SELECT split_part(r.name, '/', 1), b.digest, b.size
        FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
        JOIN blob_links b ON b.repository_id = x.repository_id AND b.digest = x.reference
        ON CONFLICT DO NOTHING;
    INSERT INTO project_blobs (project, digest, size)
        SELECT split_part(r.name, '/', 1), m.digest, octet_length(m.payload)
        FROM manifests m JOIN repositories r ON r.id = m.repository_id
        ON CONFLICT DO NOTHING;
    INSERT INTO quotas (project, hard, used, created_at, updated_at)
        SELECT name, -1, 0, created_at, updated_at FROM projects ORDER BY id;
    INSERT INTO quotas (project, hard, used, created_at, updated_at)
        SELECT DISTINCT project, -1, 0, harbor_now_ms(), harbor_now_ms()
        FROM project_blobs ORDER BY project
        ON CONFLICT DO NOTHING;
    UPDATE quotas SET used = (SELECT coalesce(sum(size), 0) FROM project_blobs p
                              WHERE p.project = quotas.project);
    "#,
    // 7: system settings changed at run time (`/configurations`), each a
    // JSON value under Harbor's key.
    r#"
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 8: webhook policies and the durable queue of their deliveries: an
    // execution per event and policy, a task per target; `due_at` is when a
    // pending task is next tried or when a running task's lease runs out.
    r#"
    CREATE TABLE webhook_policies (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        targets TEXT NOT NULL,
        event_types TEXT NOT NULL,
        creator TEXT NOT NULL,
        enabled BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (project_id, name)
    );
    CREATE TABLE webhook_executions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        policy_id BIGINT NOT NULL REFERENCES webhook_policies(id) ON DELETE CASCADE,
        event_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        start_time BIGINT NOT NULL,
        end_time BIGINT
    );
    CREATE INDEX webhook_executions_policy ON webhook_executions(policy_id, id);
    CREATE TABLE webhook_tasks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        execution_id BIGINT NOT NULL REFERENCES webhook_executions(id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        body TEXT NOT NULL,
        content_type TEXT NOT NULL,
        status TEXT NOT NULL,
        run_count INTEGER NOT NULL,
        due_at BIGINT NOT NULL,
        log TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX webhook_tasks_execution ON webhook_tasks(execution_id);
    CREATE INDEX webhook_tasks_due ON webhook_tasks(due_at) WHERE status IN ('Pending', 'Running');
    "#,
    // 9: immutable tag rules, one selector each for repositories and tags;
    // a rule goes with its project.
    r#"
    CREATE TABLE immutable_rules (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        priority BIGINT NOT NULL,
        disabled BOOLEAN NOT NULL,
        repo_decoration TEXT NOT NULL,
        repo_pattern TEXT COLLATE "C" NOT NULL,
        tag_decoration TEXT NOT NULL,
        tag_pattern TEXT COLLATE "C" NOT NULL,
        UNIQUE (project_id, repo_decoration, repo_pattern, tag_decoration, tag_pattern)
    );
    "#,
    // 10: labels, global (no project) or a project's, unique by name in
    // their scope; an artifact's labels go with its manifest row.
    r#"
    CREATE TABLE labels (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        description TEXT NOT NULL,
        color TEXT NOT NULL,
        scope TEXT NOT NULL,
        project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX labels_name ON labels(scope, coalesce(project_id, 0), name);
    CREATE INDEX labels_project ON labels(project_id);
    CREATE TABLE artifact_labels (
        repository_id BIGINT NOT NULL,
        digest TEXT COLLATE "C" NOT NULL,
        label_id BIGINT NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (repository_id, digest, label_id),
        FOREIGN KEY (repository_id, digest) REFERENCES manifests(repository_id, digest)
            ON DELETE CASCADE
    );
    CREATE INDEX artifact_labels_label ON artifact_labels(label_id);
    "#,
    // 11: tag retention: one policy per project (going with it), its rules
    // as JSON; executions, one task per repository with its log; and each
    // manifest's last pull time, written in batches off the request path.
    r#"
    ALTER TABLE manifests ADD COLUMN pulled_at BIGINT;
    CREATE TABLE retention_policies (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_id BIGINT NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
        rules TEXT NOT NULL,
        schedule TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE retention_executions (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        policy_id BIGINT NOT NULL REFERENCES retention_policies(id) ON DELETE CASCADE,
        trigger_kind TEXT NOT NULL,
        dry_run BOOLEAN NOT NULL,
        status TEXT NOT NULL,
        stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
        start_time BIGINT NOT NULL,
        end_time BIGINT
    );
    CREATE INDEX retention_executions_policy ON retention_executions(policy_id, id);
    CREATE INDEX retention_executions_unfinished ON retention_executions(id)
        WHERE status = 'InProgress';
    CREATE TABLE retention_tasks (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        execution_id BIGINT NOT NULL REFERENCES retention_executions(id) ON DELETE CASCADE,
        repository TEXT NOT NULL,
        status TEXT NOT NULL,
        total BIGINT NOT NULL DEFAULT 0,
        retained BIGINT NOT NULL DEFAULT 0,
        start_time BIGINT NOT NULL,
        end_time BIGINT,
        log TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX retention_tasks_execution ON retention_tasks(execution_id, id);
    "#,
    // 12: user groups, who is in them, and groups as project members (one
    // of user or group set on each membership).
    r#"
    CREATE TABLE user_groups (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL,
        group_type BIGINT NOT NULL,
        ldap_dn TEXT NOT NULL DEFAULT '',
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX user_groups_name ON user_groups(group_type, name) WHERE group_type <> 1;
    CREATE UNIQUE INDEX user_groups_dn ON user_groups(lower(ldap_dn)) WHERE group_type = 1;
    CREATE TABLE user_group_members (
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id BIGINT NOT NULL REFERENCES user_groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
    );
    CREATE INDEX user_group_members_group ON user_group_members(group_id);
    ALTER TABLE project_members
        ALTER COLUMN user_id DROP NOT NULL,
        ADD COLUMN group_id BIGINT REFERENCES user_groups(id) ON DELETE CASCADE,
        ADD CONSTRAINT project_members_one_entity CHECK ((user_id IS NULL) <> (group_id IS NULL)),
        ADD CONSTRAINT project_members_project_group UNIQUE (project_id, group_id);
    CREATE INDEX project_members_group ON project_members(group_id);
    "#,
    // 13: users onboarded from an OpenID Connect provider (Harbor's
    // oidc_user): one link per user, unique by the provider account
    // (issuer and subject), with the sealed CLI secret and tokens.
    r#"
    CREATE TABLE oidc_users (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        secret TEXT NOT NULL,
        token TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (issuer, subject)
    );
    "#,
    // 14: signed-in sessions (the portal's and OIDC's), so signing out
    // ends a session for good on every instance and a password change
    // ends the others.
    r#"
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    CREATE INDEX sessions_expiry ON sessions(expires_at);
    "#,
];

/// The schema version this build writes.
pub(crate) const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`CURRENT_VERSION`], one transaction per step,
/// each under the migration lock; refuses a database of a newer version.
pub(crate) async fn migrate(client: &mut Object) -> Result<(), StorageError> {
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS harbor_schema (
                 one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
                 version BIGINT NOT NULL
             );
             INSERT INTO harbor_schema (version) VALUES (0) ON CONFLICT DO NOTHING;",
        )
        .await?;
        let found: i64 = tx
            .query_one("SELECT version FROM harbor_schema", &[])
            .await?
            .try_get(0)?;
        if found > CURRENT_VERSION {
            return Err(StorageError::SchemaTooNew {
                found,
                supported: CURRENT_VERSION,
            });
        }
        let Some(sql) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
            // Up to date (the transaction only created what existed).
            tx.commit().await?;
            return Ok(());
        };
        let version = found + 1;
        tx.batch_execute(sql).await?;
        tx.execute("UPDATE harbor_schema SET version = $1", &[&version])
            .await?;
        tx.commit().await?;
        tracing::info!(version, "PostgreSQL metadata schema migrated");
    }
}
