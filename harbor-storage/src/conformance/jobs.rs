//! The `JobStore` conformance suite.

use harbor_core::{JobKind, JobSchedule, JobStatus, JobStore, JobTrigger, Page, ScheduleType};

use super::ok;

/// Runs every test of the suite.
pub async fn run_all(store: &dyn JobStore) {
    runs_move_from_pending_to_a_final_status_once(store).await;
    runs_list_newest_first_with_paging(store).await;
    logs_grow_and_stops_are_recorded(store).await;
    a_schedule_is_set_replaced_and_removed(store).await;
}

const GC: JobKind = JobKind::GarbageCollection;

/// A run is created `Pending`, taken, finished; a final status is final.
pub async fn runs_move_from_pending_to_a_final_status_once(store: &dyn JobStore) {
    let run = ok(
        "create",
        store
            .create_job(GC, JobTrigger::Manual, r#"{"dry_run":true}"#)
            .await,
    );
    assert_eq!(run.status, JobStatus::Pending);
    assert_eq!(run.trigger, JobTrigger::Manual);
    assert_eq!(run.parameters, r#"{"dry_run":true}"#);
    assert!(!run.stop_requested);
    assert_eq!(
        ok("next", store.next_pending_job(GC).await).map(|j| j.id),
        Some(run.id)
    );
    assert!(ok(
        "take",
        store.update_job(run.id, JobStatus::Running, None).await
    ));
    assert_eq!(ok("no pending", store.next_pending_job(GC).await), None);
    assert_eq!(
        ok("running", store.running_jobs(GC).await)
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec![run.id]
    );
    assert!(ok(
        "finish",
        store
            .update_job(
                run.id,
                JobStatus::Success,
                Some(r#"{"dry_run":true,"freed":3}"#)
            )
            .await
    ));
    let done = ok("read", store.job(run.id).await).unwrap_or_else(|| panic!("run vanished"));
    assert_eq!(done.status, JobStatus::Success);
    assert_eq!(done.parameters, r#"{"dry_run":true,"freed":3}"#);
    assert!(done.update_time >= run.creation_time);
    assert!(
        !ok(
            "final is final",
            store.update_job(run.id, JobStatus::Running, None).await
        ),
        "a finished run cannot be taken again"
    );
    assert!(!ok("no stop", store.request_job_stop(run.id).await));
    assert!(ok("unknown", store.job(i64::MAX).await).is_none());
    assert!(!ok(
        "unknown update",
        store.update_job(i64::MAX, JobStatus::Error, None).await
    ));
}

/// Newest first, one page and the total.
pub async fn runs_list_newest_first_with_paging(store: &dyn JobStore) {
    let (_, before) = ok(
        "count",
        store
            .list_jobs(
                GC,
                Page {
                    page: 1,
                    page_size: 1,
                },
            )
            .await,
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        let run = ok(
            "create",
            store.create_job(GC, JobTrigger::Schedule, "{}").await,
        );
        ids.push(run.id);
    }
    let (page, total) = ok(
        "list",
        store
            .list_jobs(
                GC,
                Page {
                    page: 1,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(total, before + 3);
    assert_eq!(
        page.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let (page2, _) = ok(
        "list",
        store
            .list_jobs(
                GC,
                Page {
                    page: 2,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(page2.first().map(|j| j.id), Some(ids[0]));
    // The oldest pending is taken first.
    assert_eq!(
        ok("next", store.next_pending_job(GC).await).map(|j| j.id),
        Some(ids[0])
    );
    for id in ids {
        ok("end", store.update_job(id, JobStatus::Error, None).await);
    }
}

/// A log grows by appends; a stop request is seen by any reader.
pub async fn logs_grow_and_stops_are_recorded(store: &dyn JobStore) {
    let run = ok(
        "create",
        store.create_job(GC, JobTrigger::Manual, "{}").await,
    );
    assert_eq!(
        ok("empty log", store.job_log(run.id).await),
        Some(String::new())
    );
    ok("log", store.append_job_log(run.id, "first line\n").await);
    ok(
        "log",
        store
            .append_job_log(run.id, "second <line> & 'quotes'\n")
            .await,
    );
    assert_eq!(
        ok("log", store.job_log(run.id).await).as_deref(),
        Some("first line\nsecond <line> & 'quotes'\n")
    );
    assert_eq!(ok("unknown log", store.job_log(i64::MAX).await), None);
    assert!(ok("stop", store.request_job_stop(run.id).await));
    assert!(ok("read", store.job(run.id).await).is_some_and(|j| j.stop_requested));
    ok(
        "end",
        store.update_job(run.id, JobStatus::Stopped, None).await,
    );
}

/// Set, replace (keeping its creation time) and remove.
pub async fn a_schedule_is_set_replaced_and_removed(store: &dyn JobStore) {
    assert_eq!(ok("none", store.job_schedule(GC).await), None);
    let mut schedule = JobSchedule {
        schedule_type: ScheduleType::Daily,
        cron: "0 0 0 * * *".to_owned(),
        parameters: r#"{"delete_untagged":true}"#.to_owned(),
        creation_time: std::time::SystemTime::UNIX_EPOCH,
        update_time: std::time::SystemTime::UNIX_EPOCH,
    };
    ok("set", store.set_job_schedule(GC, Some(&schedule)).await);
    let first = ok("read", store.job_schedule(GC).await).unwrap_or_else(|| panic!("no schedule"));
    assert_eq!(first.schedule_type, ScheduleType::Daily);
    assert_eq!(first.cron, "0 0 0 * * *");
    assert_eq!(first.parameters, r#"{"delete_untagged":true}"#);
    assert!(
        first.creation_time > std::time::SystemTime::UNIX_EPOCH,
        "the store sets the times"
    );
    schedule.schedule_type = ScheduleType::Custom;
    schedule.cron = "0 30 2 * * *".to_owned();
    ok("replace", store.set_job_schedule(GC, Some(&schedule)).await);
    let second = ok("read", store.job_schedule(GC).await).unwrap_or_else(|| panic!("no schedule"));
    assert_eq!(second.schedule_type, ScheduleType::Custom);
    assert_eq!(second.cron, "0 30 2 * * *");
    assert_eq!(second.creation_time, first.creation_time);
    ok("remove", store.set_job_schedule(GC, None).await);
    assert_eq!(ok("removed", store.job_schedule(GC).await), None);
    ok("remove again", store.set_job_schedule(GC, None).await);
}
