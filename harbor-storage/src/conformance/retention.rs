//! The tag retention suite: one policy per project, read back whole with
//! its rules and schedule, replaced and deleted with its executions, gone
//! with its project; executions listed newest first, stopped and finished
//! once; tasks with their counts and logs; and manifests' pull times
//! recorded in batches, the later time kept. Each test uses projects of its
//! own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use harbor_core::retention::{LabelDecoration, RetentionRule, RuleTemplate, TagSelector};
use harbor_core::selector::{Decoration, Selector};
use harbor_core::{
    Digest, ErrorCode, IdentityStore, JobTrigger, ManifestRecord, MetaStore, NewRetentionExecution,
    NewUser, Page, PolicySpec, RepositoryName, RetentionStatus, RetentionStore, Tag,
};

use super::ok;

async fn project(identity: &dyn IdentityStore, prefix: &str) -> (i64, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let owner = ok(
        "owner",
        identity
            .create_user(&NewUser {
                username: format!("{name}-owner"),
                email: format!("{name}@example.com"),
                realname: String::new(),
                comment: String::new(),
                password_hash: "pbkdf2-sha256$1$00$00".to_owned(),
                sysadmin: false,
            })
            .await,
    );
    let p = ok(
        "project",
        identity.create_project(&name, false, owner.id).await,
    );
    (p.id, name)
}

fn refused<T: std::fmt::Debug>(r: harbor_core::Result<T>) -> harbor_core::Error {
    match r {
        Ok(v) => panic!("succeeded but must be refused: {v:?}"),
        Err(e) => e,
    }
}

fn spec(project_id: i64, k: u32, schedule: Option<&str>) -> PolicySpec {
    let sel = |d, p| ok("selector", Selector::new(d, p));
    PolicySpec {
        project_id,
        rules: vec![
            RetentionRule {
                priority: 1,
                disabled: false,
                template: RuleTemplate::LatestPushedK(k),
                tag_selectors: vec![TagSelector::Doublestar {
                    selector: sel(Decoration::Matches, "v*"),
                    untagged: true,
                }],
                repositories: vec![sel(Decoration::RepoMatches, "app/**")],
            },
            RetentionRule {
                priority: 2,
                disabled: true,
                template: RuleTemplate::Always,
                tag_selectors: vec![
                    TagSelector::Doublestar {
                        selector: sel(Decoration::Excludes, "dev-*"),
                        untagged: false,
                    },
                    TagSelector::Label {
                        decoration: LabelDecoration::WithoutLabels,
                        labels: "x".into(),
                    },
                ],
                repositories: vec![sel(Decoration::RepoExcludes, "tmp")],
            },
        ],
        schedule: schedule.map(str::to_owned),
    }
}

/// Runs every test of the suite; `identity` holds the projects and `meta`
/// the manifests (all three are usually one store).
pub async fn run_all(
    store: &dyn RetentionStore,
    identity: &dyn IdentityStore,
    meta: &dyn MetaStore,
) {
    a_policy_reads_back_whole_and_a_project_has_one(store, identity).await;
    a_policy_is_replaced_and_deleted_with_its_executions(store, identity).await;
    executions_list_newest_first_stop_and_finish_once(store, identity).await;
    tasks_keep_their_counts_and_logs(store, identity).await;
    policies_go_with_their_project(store, identity).await;
    pull_times_are_recorded_in_batches_keeping_the_later(meta).await;
}

/// Created, read by id and by project; a second for the project is a
/// conflict; an unknown project is not found; scheduled ones are listed.
pub async fn a_policy_reads_back_whole_and_a_project_has_one(
    store: &dyn RetentionStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "ret-read").await;
    let s = spec(pid, 3, Some("0 0 * * * *"));
    let p = ok("create", store.create_retention_policy(&s).await);
    assert_eq!(p.spec, s, "rules and schedule must read back unchanged");
    assert_eq!(
        ok("get", store.retention_policy(p.id).await),
        Some(p.clone())
    );
    assert_eq!(
        ok("of project", store.retention_policy_of_project(pid).await),
        Some(p.clone())
    );
    let e = refused(store.create_retention_policy(&spec(pid, 1, None)).await);
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = refused(
        store
            .create_retention_policy(&spec(i64::MAX - 7, 1, None))
            .await,
    );
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert!(ok("get unknown", store.retention_policy(i64::MAX - 7).await).is_none());
    let scheduled = ok("scheduled", store.scheduled_retention_policies().await);
    assert!(scheduled.iter().any(|x| x.id == p.id));
    let (pid2, _) = project(identity, "ret-read").await;
    let q = ok(
        "create unscheduled",
        store.create_retention_policy(&spec(pid2, 1, None)).await,
    );
    let scheduled = ok("scheduled", store.scheduled_retention_policies().await);
    assert!(!scheduled.iter().any(|x| x.id == q.id));
}

/// An update replaces rules and schedule; a delete takes the executions.
pub async fn a_policy_is_replaced_and_deleted_with_its_executions(
    store: &dyn RetentionStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "ret-update").await;
    let p = ok(
        "create",
        store.create_retention_policy(&spec(pid, 3, None)).await,
    );
    let mut next = spec(pid, 9, Some("0 30 2 * * 1"));
    next.rules.truncate(1);
    assert!(ok(
        "update",
        store.update_retention_policy(p.id, &next).await
    ));
    let back = ok("get", store.retention_policy(p.id).await);
    assert_eq!(back.map(|b| b.spec), Some(next.clone()));
    assert!(!ok(
        "update unknown",
        store.update_retention_policy(i64::MAX - 3, &next).await
    ));
    let e = ok(
        "execution",
        store
            .create_retention_execution(&NewRetentionExecution {
                policy_id: p.id,
                trigger: JobTrigger::Manual,
                dry_run: true,
            })
            .await,
    );
    assert!(ok("delete", store.delete_retention_policy(p.id).await));
    assert!(!ok(
        "delete again",
        store.delete_retention_policy(p.id).await
    ));
    assert!(ok("get", store.retention_policy(p.id).await).is_none());
    assert!(ok("execution gone", store.retention_execution(e.id).await).is_none());
}

/// Newest first by page; stop asked once while in progress; finished once.
pub async fn executions_list_newest_first_stop_and_finish_once(
    store: &dyn RetentionStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "ret-exec").await;
    let p = ok(
        "create",
        store.create_retention_policy(&spec(pid, 3, None)).await,
    );
    let mut ids = Vec::new();
    for (i, trigger) in [JobTrigger::Manual, JobTrigger::Schedule, JobTrigger::Manual]
        .into_iter()
        .enumerate()
    {
        let e = ok(
            "execution",
            store
                .create_retention_execution(&NewRetentionExecution {
                    policy_id: p.id,
                    trigger,
                    dry_run: i == 0,
                })
                .await,
        );
        assert_eq!(e.status, RetentionStatus::InProgress);
        assert_eq!(
            (e.trigger, e.dry_run, e.stop_requested),
            (trigger, i == 0, false)
        );
        assert!(e.end_time.is_none());
        ids.push(e.id);
    }
    let (page, total) = ok(
        "list",
        store
            .list_retention_executions(
                p.id,
                Page {
                    page: 1,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(total, 3);
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let (page, _) = ok(
        "list 2",
        store
            .list_retention_executions(
                p.id,
                Page {
                    page: 2,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[0]]);
    let unfinished = ok("unfinished", store.unfinished_retention_executions().await);
    for id in &ids {
        assert!(unfinished.iter().any(|e| e.id == *id));
    }
    assert!(ok("stop", store.request_retention_stop(ids[0]).await));
    let e = ok("get", store.retention_execution(ids[0]).await);
    assert!(e.is_some_and(|e| e.stop_requested));
    assert!(ok(
        "finish",
        store
            .finish_retention_execution(ids[0], RetentionStatus::Stopped)
            .await
    ));
    assert!(!ok(
        "finish again",
        store
            .finish_retention_execution(ids[0], RetentionStatus::Succeed)
            .await
    ));
    assert!(!ok(
        "stop final",
        store.request_retention_stop(ids[0]).await
    ));
    let e = ok("get", store.retention_execution(ids[0]).await);
    let e = e.unwrap_or_else(|| panic!("execution {} vanished", ids[0]));
    assert_eq!(e.status, RetentionStatus::Stopped);
    assert!(e.end_time.is_some());
    let unfinished = ok("unfinished", store.unfinished_retention_executions().await);
    assert!(!unfinished.iter().any(|e| e.id == ids[0]));
}

/// A task per repository with its counts and an appended log.
pub async fn tasks_keep_their_counts_and_logs(
    store: &dyn RetentionStore,
    identity: &dyn IdentityStore,
) {
    let (pid, name) = project(identity, "ret-task").await;
    let p = ok(
        "create",
        store.create_retention_policy(&spec(pid, 3, None)).await,
    );
    let e = ok(
        "execution",
        store
            .create_retention_execution(&NewRetentionExecution {
                policy_id: p.id,
                trigger: JobTrigger::Manual,
                dry_run: false,
            })
            .await,
    );
    let a = ok(
        "task a",
        store
            .create_retention_task(e.id, &format!("{name}/a"))
            .await,
    );
    let b = ok(
        "task b",
        store
            .create_retention_task(e.id, &format!("{name}/b"))
            .await,
    );
    assert_eq!(
        (a.status, a.total, a.retained),
        (RetentionStatus::InProgress, 0, 0)
    );
    ok(
        "log",
        store.append_retention_task_log(a.id, "line one\n").await,
    );
    ok(
        "log",
        store.append_retention_task_log(a.id, "line two\n").await,
    );
    assert!(ok(
        "finish",
        store
            .finish_retention_task(a.id, RetentionStatus::Succeed, 20, 7)
            .await
    ));
    let back = ok("get", store.retention_task(a.id).await);
    let back = back.unwrap_or_else(|| panic!("task {} vanished", a.id));
    assert_eq!(
        (back.status, back.total, back.retained),
        (RetentionStatus::Succeed, 20, 7)
    );
    assert!(back.end_time.is_some());
    assert_eq!(
        ok("log", store.retention_task_log(a.id).await).as_deref(),
        Some("line one\nline two\n")
    );
    assert_eq!(
        ok("empty log", store.retention_task_log(b.id).await).as_deref(),
        Some("")
    );
    assert!(ok("unknown log", store.retention_task_log(i64::MAX - 1).await).is_none());
    let (list, total) = ok(
        "tasks",
        store
            .list_retention_tasks(
                e.id,
                Page {
                    page: 1,
                    page_size: 10,
                },
            )
            .await,
    );
    assert_eq!(total, 2);
    assert_eq!(
        list.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![a.id, b.id]
    );
    assert_eq!(list[1].repository, format!("{name}/b"));
}

/// Deleting a project deletes its policy and executions.
pub async fn policies_go_with_their_project(
    store: &dyn RetentionStore,
    identity: &dyn IdentityStore,
) {
    let (pid, _) = project(identity, "ret-gone").await;
    let p = ok(
        "create",
        store.create_retention_policy(&spec(pid, 3, None)).await,
    );
    let e = ok(
        "execution",
        store
            .create_retention_execution(&NewRetentionExecution {
                policy_id: p.id,
                trigger: JobTrigger::Manual,
                dry_run: false,
            })
            .await,
    );
    assert!(ok("delete project", identity.delete_project(pid).await));
    assert!(ok("policy", store.retention_policy(p.id).await).is_none());
    assert!(ok("execution", store.retention_execution(e.id).await).is_none());
}

/// Pulls recorded in a batch show as the artifacts' pull times; an older
/// time never replaces a newer one; unknown manifests are skipped.
pub async fn pull_times_are_recorded_in_batches_keeping_the_later(meta: &dyn MetaStore) {
    let repo = ok("name", RepositoryName::parse("conf-ret/pulls"));
    let mut digests = Vec::new();
    for i in 0..3 {
        let payload = format!("retention pull {i}");
        let record = ManifestRecord {
            digest: Digest::sha256(payload.as_bytes()),
            media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
            payload: Bytes::from(payload),
            subject: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
            references: Vec::new(),
            pushed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i),
        };
        let t = ok("tag", Tag::parse(&format!("t{i}")));
        ok(
            "put",
            meta.put_manifest(&repo, &record, Some(&t), &[]).await,
        );
        digests.push(record.digest);
    }
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    let (list, _) = ok(
        "list",
        meta.list_artifacts(
            &repo,
            Page {
                page: 1,
                page_size: 10,
            },
        )
        .await,
    );
    assert!(
        list.iter().all(|a| a.pulled_at.is_none()),
        "never pulled yet"
    );
    let unknown = ok("name", RepositoryName::parse("conf-ret/none"));
    ok(
        "record",
        meta.record_pulls(&[
            (repo.clone(), digests[0].clone(), at(1_800_000_000)),
            (repo.clone(), digests[1].clone(), at(1_800_000_500)),
            (unknown, digests[2].clone(), at(1_800_000_900)),
        ])
        .await,
    );
    ok(
        "record older",
        meta.record_pulls(&[(repo.clone(), digests[0].clone(), at(1_700_000_000))])
            .await,
    );
    let (list, _) = ok(
        "list",
        meta.list_artifacts(
            &repo,
            Page {
                page: 1,
                page_size: 10,
            },
        )
        .await,
    );
    let pulled = |d: &Digest| {
        list.iter()
            .find(|a| &a.digest == d)
            .and_then(|a| a.pulled_at)
    };
    assert_eq!(
        pulled(&digests[0]),
        Some(at(1_800_000_000)),
        "the later time is kept"
    );
    assert_eq!(pulled(&digests[1]), Some(at(1_800_000_500)));
    assert_eq!(pulled(&digests[2]), None);
    let one = ok("artifact", meta.artifact(&repo, &digests[1]).await);
    assert_eq!(one.and_then(|a| a.pulled_at), Some(at(1_800_000_500)));
}
