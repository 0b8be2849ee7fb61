//! The `IdentityStore` conformance suite.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harbor_core::{
    AuditEntry, AuditOperation, AuditQuery, AuditResource, ErrorCode, IdentityStore, NewUser, Page,
    ProjectQuery, Robot, RobotAccess, RobotPermission, RobotQuery, Role,
};

use super::ok;

pub(super) fn new_user(name: &str, email: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: email.to_owned(),
        realname: format!("{name} the tester"),
        comment: String::new(),
        password_hash: "pbkdf2-sha256$1$00$00".to_owned(),
        sysadmin: false,
    }
}

/// Runs every test of the suite.
pub async fn run_all(store: &dyn IdentityStore) {
    users_are_unique_by_name_and_email(store).await;
    users_list_filter_page_and_change(store).await;
    a_project_creator_becomes_its_project_admin(store).await;
    projects_list_by_visibility(store).await;
    project_metadata_is_kept_whole_and_replaced_whole(store).await;
    a_page_far_past_the_end_is_empty(store).await;
    members_are_added_changed_and_removed(store).await;
    identity_reads_see_every_write_at_once(store).await;
    robots_are_created_found_updated_and_deleted(store).await;
    audit_entries_are_kept_and_filtered(store).await;
    audit_purge_deletes_old_entries_of_the_named_operations(store).await;
    super::groups::run_all(store).await;
}

/// Usernames and (non-empty) e-mails are unique: a duplicate is `CONFLICT`.
pub async fn users_are_unique_by_name_and_email(store: &dyn IdentityStore) {
    let u = ok(
        "create",
        store.create_user(&new_user("ida", "ida@example.com")).await,
    );
    assert_eq!(u.username, "ida");
    assert!(!u.sysadmin);
    let e = store
        .create_user(&new_user("ida", "other@example.com"))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict), "duplicate username");
    let e = store
        .create_user(&new_user("ida2", "ida@example.com"))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict), "duplicate e-mail");
    ok(
        "empty e-mails do not clash",
        store.create_user(&new_user("noemail1", "")).await,
    );
    ok(
        "empty e-mails do not clash",
        store.create_user(&new_user("noemail2", "")).await,
    );
    assert_eq!(
        ok("by name", store.user_by_name("ida").await).map(|x| x.id),
        Some(u.id)
    );
    assert_eq!(
        ok("by id", store.user_by_id(u.id).await).map(|x| x.username),
        Some("ida".into())
    );
    assert_eq!(ok("absent", store.user_by_name("nobody").await), None);
}

/// Users list by id with a name filter and pages; profiles, passwords and the
/// admin flag change; deletion removes them.
pub async fn users_list_filter_page_and_change(store: &dyn IdentityStore) {
    for n in ["list_a", "list_b", "list_c"] {
        ok(
            "create",
            store
                .create_user(&new_user(n, &format!("{n}@example.com")))
                .await,
        );
    }
    let (page1, total) = ok(
        "list",
        store
            .list_users(
                Some("list_"),
                Page {
                    page: 1,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(total, 3);
    assert_eq!(
        page1
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["list_a", "list_b"]
    );
    let (page2, _) = ok(
        "list",
        store
            .list_users(
                Some("list_"),
                Page {
                    page: 2,
                    page_size: 2,
                },
            )
            .await,
    );
    assert_eq!(
        page2
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["list_c"]
    );
    let (none, total) = ok("list", store.list_users(Some("%"), Page::default()).await);
    assert!(
        none.is_empty() && total == 0,
        "LIKE wildcards in the filter are literal"
    );

    let b = ok("get", store.user_by_name("list_b").await)
        .map(|u| u.id)
        .unwrap_or(-1);
    assert!(ok(
        "profile",
        store
            .update_user_profile(b, "b@new.example.com", "Bee", "hi")
            .await
    ));
    assert!(ok("password", store.set_password_hash(b, "new-hash").await));
    assert!(ok("admin", store.set_sysadmin(b, true).await));
    let u = ok("get", store.user_by_id(b).await);
    let u = ok("exists", u.ok_or("missing"));
    assert_eq!(
        (u.email.as_str(), u.realname.as_str(), u.comment.as_str()),
        ("b@new.example.com", "Bee", "hi")
    );
    assert_eq!(u.password_hash, "new-hash");
    assert!(u.sysadmin);
    assert!(ok("delete", store.delete_user(b).await));
    assert!(!ok("delete again", store.delete_user(b).await));
    assert!(!ok("update absent", store.set_sysadmin(b, false).await));
}

/// Creating a project makes its creator a ProjectAdmin in the same step;
/// names are unique.
pub async fn a_project_creator_becomes_its_project_admin(store: &dyn IdentityStore) {
    let owner = ok(
        "create",
        store
            .create_user(&new_user("owner", "owner@example.com"))
            .await,
    );
    let p = ok(
        "create",
        store.create_project("team-a", false, owner.id).await,
    );
    assert_eq!(
        (p.name.as_str(), p.public, p.owner_id),
        ("team-a", false, owner.id)
    );
    let m = ok("member", store.member_of(p.id, owner.id).await);
    assert_eq!(m.map(|m| m.role), Some(Role::ProjectAdmin));
    let e = store
        .create_project("team-a", true, owner.id)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict));
    assert_eq!(
        ok("by name", store.project_by_name("team-a").await).map(|p| p.id),
        Some(p.id)
    );
    assert!(ok("public", store.set_project_public(p.id, true).await));
    assert_eq!(
        ok("by id", store.project_by_id(p.id).await).map(|p| p.public),
        Some(true)
    );
    assert!(ok("delete", store.delete_project(p.id).await));
    assert_eq!(ok("gone", store.project_by_id(p.id).await), None);
    assert_eq!(
        ok("members gone", store.member_of(p.id, owner.id).await),
        None
    );
}

/// Harbor's project settings are stored with the project, read back as
/// written, and replaced whole.
pub async fn project_metadata_is_kept_whole_and_replaced_whole(store: &dyn IdentityStore) {
    let owner = ok(
        "create",
        store
            .create_user(&new_user("meta-owner", "meta-owner@example.com"))
            .await,
    );
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("auto_scan".to_owned(), "true".to_owned());
    meta.insert("severity".to_owned(), "high".to_owned());
    let p = ok(
        "create",
        store
            .create_project_with_metadata("meta", false, owner.id, &meta)
            .await,
    );
    assert_eq!(p.metadata, meta);
    let read = ok("by name", store.project_by_name("meta").await);
    assert_eq!(read.map(|p| p.metadata), Some(meta.clone()));
    meta.remove("severity");
    meta.insert("prevent_vul".to_owned(), "false".to_owned());
    assert!(ok("set", store.set_project_metadata(p.id, &meta).await));
    let read = ok("by id", store.project_by_id(p.id).await);
    assert_eq!(read.map(|p| p.metadata), Some(meta));
    let plain = ok(
        "create",
        store.create_project("meta-plain", true, owner.id).await,
    );
    assert!(plain.metadata.is_empty());
    assert!(!ok(
        "set on a missing project",
        store
            .set_project_metadata(i64::MAX, &std::collections::BTreeMap::new())
            .await
    ));
}

/// A page number far past the end (as a client may send) gives an empty
/// page and the right total, never the first page again.
pub async fn a_page_far_past_the_end_is_empty(store: &dyn IdentityStore) {
    let (all, total) = ok(
        "list",
        store
            .list_projects(
                &ProjectQuery::default(),
                Page {
                    page: 1,
                    page_size: 1000,
                },
            )
            .await,
    );
    assert!(total > 0 && all.len() as u64 == total);
    for page in [u64::MAX, u64::MAX / 2, 1 << 63] {
        let (far, far_total) = ok(
            "far page",
            store
                .list_projects(
                    &ProjectQuery::default(),
                    Page {
                        page,
                        page_size: 100,
                    },
                )
                .await,
        );
        assert!(far.is_empty(), "page {page} served {} projects", far.len());
        assert_eq!(far_total, total);
    }
}

/// Listing shows administrators everything and others public projects plus
/// their own.
pub async fn projects_list_by_visibility(store: &dyn IdentityStore) {
    let alice = ok(
        "create",
        store
            .create_user(&new_user("vis_alice", "vis_alice@example.com"))
            .await,
    );
    let bob = ok(
        "create",
        store
            .create_user(&new_user("vis_bob", "vis_bob@example.com"))
            .await,
    );
    ok(
        "create",
        store.create_project("vis-public", true, alice.id).await,
    );
    ok(
        "create",
        store.create_project("vis-alice", false, alice.id).await,
    );
    ok(
        "create",
        store.create_project("vis-bob", false, bob.id).await,
    );
    let names = |q: ProjectQuery| async move {
        let (list, total) = ok(
            "list",
            store
                .list_projects(
                    &q,
                    Page {
                        page: 1,
                        page_size: 100,
                    },
                )
                .await,
        );
        assert_eq!(total as usize, list.len());
        list.into_iter().map(|p| p.name).collect::<Vec<_>>()
    };
    let base = ProjectQuery {
        name_contains: Some("vis-".into()),
        ..Default::default()
    };
    assert_eq!(
        names(base.clone()).await,
        ["vis-alice", "vis-bob", "vis-public"]
    );
    let for_alice = ProjectQuery {
        visible_to: Some(Some(alice.id)),
        ..base.clone()
    };
    assert_eq!(names(for_alice).await, ["vis-alice", "vis-public"]);
    let anonymous = ProjectQuery {
        visible_to: Some(None),
        ..base.clone()
    };
    assert_eq!(names(anonymous).await, ["vis-public"]);
    let private = ProjectQuery {
        public: Some(false),
        ..base.clone()
    };
    assert_eq!(names(private).await, ["vis-alice", "vis-bob"]);
    let exact = ProjectQuery {
        name: Some("vis-bob".into()),
        ..base.clone()
    };
    assert_eq!(names(exact).await, ["vis-bob"]);
    let by_bob = ProjectQuery {
        owner_id: Some(bob.id),
        ..base
    };
    assert_eq!(names(by_bob).await, ["vis-bob"]);
}

/// Members are added once, change role and leave.
pub async fn members_are_added_changed_and_removed(store: &dyn IdentityStore) {
    let owner = ok(
        "create",
        store
            .create_user(&new_user("m_owner", "m_owner@example.com"))
            .await,
    );
    let dev = ok(
        "create",
        store
            .create_user(&new_user("m_dev", "m_dev@example.com"))
            .await,
    );
    let p = ok(
        "create",
        store.create_project("members", false, owner.id).await,
    );
    let m = ok("add", store.add_member(p.id, dev.id, Role::Developer).await);
    assert_eq!(
        (m.entity_id, m.entity_name.as_str(), m.role),
        (dev.id, "m_dev", Role::Developer)
    );
    let e = store
        .add_member(p.id, dev.id, Role::Guest)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict));
    let list = ok("list", store.list_members(p.id).await);
    assert_eq!(
        list.iter()
            .map(|m| m.entity_name.as_str())
            .collect::<Vec<_>>(),
        ["m_owner", "m_dev"]
    );
    assert!(ok(
        "role",
        store.set_member_role(p.id, m.id, Role::Maintainer).await
    ));
    assert_eq!(
        ok("get", store.member_by_id(p.id, m.id).await).map(|m| m.role),
        Some(Role::Maintainer)
    );
    assert!(ok("remove", store.remove_member(p.id, m.id).await));
    assert!(!ok("remove again", store.remove_member(p.id, m.id).await));
    assert_eq!(ok("gone", store.member_of(p.id, dev.id).await), None);
    // Deleting a user ends their memberships.
    ok("add", store.add_member(p.id, dev.id, Role::Guest).await);
    ok("delete user", store.delete_user(dev.id).await);
    assert_eq!(ok("list", store.list_members(p.id).await).len(), 1);
}

/// A lookup right after a write sees it, however the store caches lookups:
/// each is made (and so perhaps cached) before the write that changes it.
pub async fn identity_reads_see_every_write_at_once(store: &dyn IdentityStore) {
    assert_eq!(ok("absent user", store.user_by_name("fresh_u").await), None);
    let u = ok(
        "create",
        store
            .create_user(&new_user("fresh_u", "fresh_u@example.com"))
            .await,
    );
    let found = ok("user", store.user_by_name("fresh_u").await);
    assert_eq!(
        found.as_ref().map(|u| u.id),
        Some(u.id),
        "created after a miss"
    );
    ok(
        "hash",
        store.set_password_hash(u.id, "pbkdf2-sha256$1$11$11").await,
    );
    let found = ok("user", store.user_by_name("fresh_u").await);
    assert_eq!(
        found.map(|u| u.password_hash),
        Some("pbkdf2-sha256$1$11$11".to_owned()),
        "the new password hash"
    );
    ok("admin", store.set_sysadmin(u.id, true).await);
    let found = ok("user", store.user_by_name("fresh_u").await);
    assert_eq!(found.map(|u| u.sysadmin), Some(true));

    let owner = ok(
        "create",
        store
            .create_user(&new_user("fresh_o", "fresh_o@example.com"))
            .await,
    );
    assert_eq!(ok("absent", store.project_by_name("fresh").await), None);
    let p = ok(
        "create",
        store.create_project("fresh", false, owner.id).await,
    );
    let found = ok("project", store.project_by_name("fresh").await);
    assert_eq!(found.map(|p| (p.id, p.public)), Some((p.id, false)));
    ok("public", store.set_project_public(p.id, true).await);
    let found = ok("project", store.project_by_name("fresh").await);
    assert_eq!(found.map(|p| p.public), Some(true), "made public");

    assert_eq!(ok("not a member", store.member_of(p.id, u.id).await), None);
    let m = ok("add", store.add_member(p.id, u.id, Role::Guest).await);
    let found = ok("member", store.member_of(p.id, u.id).await);
    assert_eq!(
        found.map(|m| m.role),
        Some(Role::Guest),
        "added after a miss"
    );
    ok(
        "role",
        store.set_member_role(p.id, m.id, Role::Developer).await,
    );
    let found = ok("member", store.member_of(p.id, u.id).await);
    assert_eq!(found.map(|m| m.role), Some(Role::Developer), "role changed");
    ok("remove", store.remove_member(p.id, m.id).await);
    assert_eq!(ok("removed", store.member_of(p.id, u.id).await), None);

    ok("delete user", store.delete_user(u.id).await);
    assert_eq!(ok("deleted", store.user_by_name("fresh_u").await), None);
    ok("delete project", store.delete_project(p.id).await);
    assert_eq!(ok("deleted", store.project_by_name("fresh").await), None);
}

/// Robot accounts round-trip with their permissions, are unique by name,
/// change, and go with their project.
pub async fn robots_are_created_found_updated_and_deleted(store: &dyn IdentityStore) {
    let owner = ok(
        "create",
        store
            .create_user(&new_user("r_owner", "r_owner@example.com"))
            .await,
    );
    let p = ok(
        "create",
        store.create_project("robots", false, owner.id).await,
    );
    let expires = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
    let robot = Robot {
        id: 0,
        name: "robot$robots+ci".into(),
        description: "CI pusher".into(),
        level: harbor_core::RobotLevel::Project,
        project_id: Some(p.id),
        secret_hash: "hash".into(),
        expires_at: Some(expires),
        disabled: false,
        permissions: vec![RobotPermission {
            kind: "project".into(),
            namespace: "robots".into(),
            access: vec![RobotAccess {
                resource: "repository".into(),
                action: "push".into(),
                effect: None,
            }],
        }],
        created_at: SystemTime::UNIX_EPOCH,
        updated_at: SystemTime::UNIX_EPOCH,
    };
    let created = ok("create", store.create_robot(&robot).await);
    assert_eq!(
        (created.name.as_str(), created.project_id),
        ("robot$robots+ci", Some(p.id))
    );
    assert_eq!(created.permissions, robot.permissions);
    assert_eq!(created.expires_at, Some(expires));
    let e = store.create_robot(&robot).await.err().map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict));
    let system = Robot {
        name: "robot$ops".into(),
        level: harbor_core::RobotLevel::System,
        project_id: None,
        expires_at: None,
        ..robot.clone()
    };
    let system = ok("create", store.create_robot(&system).await);
    assert_eq!(system.expires_at, None);
    assert_eq!(
        ok("by name", store.robot_by_name("robot$robots+ci").await).map(|r| r.id),
        Some(created.id)
    );
    let (mine, total) = ok(
        "list",
        store
            .list_robots(&RobotQuery::project(p.id), Page::default())
            .await,
    );
    assert_eq!((mine.len(), total), (1, 1));
    let wide = Page {
        page: 1,
        page_size: 100,
    };
    let (all, _) = ok(
        "list",
        store.list_robots(&RobotQuery::default(), wide).await,
    );
    assert!(all.len() >= 2);
    // Filtered by the store: by level, exact name and part of a name.
    let listed = |q: RobotQuery| async move {
        let (robots, total) = ok("filtered list", store.list_robots(&q, wide).await);
        assert_eq!(robots.len() as u64, total, "{q:?}");
        robots.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let systems = listed(RobotQuery {
        level: Some(harbor_core::RobotLevel::System),
        ..RobotQuery::default()
    })
    .await;
    assert!(systems.contains(&system.id) && !systems.contains(&created.id));
    assert_eq!(
        listed(RobotQuery {
            name: Some(system.name.clone()),
            ..RobotQuery::default()
        })
        .await,
        vec![system.id]
    );
    let part = listed(RobotQuery {
        name_contains: Some("robots+c".into()),
        ..RobotQuery::default()
    })
    .await;
    assert!(part.contains(&created.id) && !part.contains(&system.id));
    assert!(listed(RobotQuery {
        project_id: Some(p.id),
        level: Some(harbor_core::RobotLevel::System),
        ..RobotQuery::default()
    })
    .await
    .is_empty());
    // A page of a filtered list, with the filtered total.
    let (first, total) = ok(
        "a page",
        store
            .list_robots(
                &RobotQuery {
                    name_contains: Some("robot$".into()),
                    ..RobotQuery::default()
                },
                Page {
                    page: 1,
                    page_size: 1,
                },
            )
            .await,
    );
    assert_eq!(first.len(), 1);
    assert!(total >= 2);

    let mut changed = created.clone();
    changed.description = "disabled now".into();
    changed.disabled = true;
    changed.permissions[0].access[0].action = "pull".into();
    assert!(ok("update", store.update_robot(&changed).await));
    assert!(ok(
        "secret",
        store.set_robot_secret(created.id, "new-hash").await
    ));
    let back = ok("get", store.robot_by_id(created.id).await);
    let back = ok("exists", back.ok_or("missing"));
    assert_eq!(
        (
            back.disabled,
            back.description.as_str(),
            back.secret_hash.as_str()
        ),
        (true, "disabled now", "new-hash")
    );
    assert_eq!(back.permissions[0].access[0].action, "pull");
    // Found by name (as every token for it is) after the change, too.
    let by_name = ok("by name", store.robot_by_name("robot$robots+ci").await);
    assert_eq!(
        by_name.map(|r| (r.disabled, r.secret_hash)),
        Some((true, "new-hash".to_owned()))
    );

    assert!(ok("delete", store.delete_robot(system.id).await));
    assert_eq!(ok("gone", store.robot_by_id(system.id).await), None);
    ok("delete project", store.delete_project(p.id).await);
    assert_eq!(
        ok("gone with its project", store.robot_by_id(created.id).await),
        None
    );
    assert_eq!(
        ok("by name", store.robot_by_name("robot$robots+ci").await),
        None
    );
}

/// Audit entries come back newest first and filter by project, operator,
/// operation, type and resource text.
pub async fn audit_entries_are_kept_and_filtered(store: &dyn IdentityStore) {
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s);
    let entry =
        |p: Option<&str>, user: &str, res: &str, ty: AuditResource, op: AuditOperation, t: u64| {
            AuditEntry {
                id: 0,
                project: p.map(str::to_owned),
                username: user.into(),
                resource: res.into(),
                resource_type: ty,
                operation: op,
                op_time: at(t),
            }
        };
    ok(
        "append",
        store
            .append_audit(&[
                entry(
                    Some("audit-a"),
                    "ann",
                    "audit-a/app:v1",
                    AuditResource::Artifact,
                    AuditOperation::Create,
                    1,
                ),
                entry(
                    Some("audit-a"),
                    "bo",
                    "audit-a/app:v1",
                    AuditResource::Artifact,
                    AuditOperation::Pull,
                    2,
                ),
                entry(
                    Some("audit-b"),
                    "ann",
                    "audit-b/x:latest",
                    AuditResource::Artifact,
                    AuditOperation::Delete,
                    3,
                ),
                entry(
                    None,
                    "admin",
                    "ann",
                    AuditResource::User,
                    AuditOperation::Create,
                    4,
                ),
            ])
            .await,
    );
    let page = Page {
        page: 1,
        page_size: 50,
    };
    let list = |q: AuditQuery| async move {
        let (l, total) = ok("list", store.list_audit(&q, page).await);
        assert_eq!(total as usize, l.len());
        l.into_iter()
            .map(|e| (e.resource, e.operation))
            .collect::<Vec<_>>()
    };
    let a = list(AuditQuery {
        project: Some("audit-a".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        a,
        [
            ("audit-a/app:v1".into(), AuditOperation::Pull),
            ("audit-a/app:v1".into(), AuditOperation::Create)
        ]
    );
    let ann = list(AuditQuery {
        username: Some("ann".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ann.len(), 2);
    let deletes = list(AuditQuery {
        operation: Some(AuditOperation::Delete),
        ..Default::default()
    })
    .await;
    assert_eq!(
        deletes,
        [("audit-b/x:latest".into(), AuditOperation::Delete)]
    );
    let users = list(AuditQuery {
        resource_type: Some(AuditResource::User),
        ..Default::default()
    })
    .await;
    assert_eq!(users.len(), 1);
    let app = list(AuditQuery {
        resource_contains: Some("app:v".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(app.len(), 2);
    let (newest, _) = ok(
        "list",
        store
            .list_audit(
                &AuditQuery::default(),
                Page {
                    page: 1,
                    page_size: 1,
                },
            )
            .await,
    );
    assert_eq!(newest[0].op_time, at(4));
}

/// The purge deletes exactly the entries older than its cutoff whose
/// operation it names, and a dry run counts them without deleting.
pub async fn audit_purge_deletes_old_entries_of_the_named_operations(store: &dyn IdentityStore) {
    // Older than the other suites' entries, which the cutoffs leave alone.
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(1_000_000_000 + s);
    let entry = |op: AuditOperation, t: u64| AuditEntry {
        id: 0,
        project: Some("purge-p".into()),
        username: "purger".into(),
        resource: format!("purge-p/app:{t}"),
        resource_type: AuditResource::Artifact,
        operation: op,
        op_time: at(t),
    };
    ok(
        "append",
        store
            .append_audit(&[
                entry(AuditOperation::Pull, 1),
                entry(AuditOperation::Pull, 2),
                entry(AuditOperation::Create, 3),
                entry(AuditOperation::Delete, 4),
                entry(AuditOperation::Pull, 100),
            ])
            .await,
    );
    let query = AuditQuery {
        username: Some("purger".into()),
        ..AuditQuery::default()
    };
    let count = |r: (Vec<AuditEntry>, u64)| r.1;
    let all = Page {
        page: 1,
        page_size: 100,
    };
    let ops = [AuditOperation::Pull, AuditOperation::Delete];
    assert_eq!(
        ok("dry run", store.purge_audit(at(50), &ops, true).await),
        3,
        "two pulls and a delete before the cutoff"
    );
    assert_eq!(count(ok("list", store.list_audit(&query, all).await)), 5);
    assert_eq!(ok("purge", store.purge_audit(at(50), &ops, false).await), 3);
    let (left, _) = ok("list", store.list_audit(&query, all).await);
    let mut kept: Vec<(AuditOperation, SystemTime)> =
        left.iter().map(|e| (e.operation, e.op_time)).collect();
    kept.sort_by_key(|(_, t)| *t);
    assert_eq!(
        kept,
        [
            (AuditOperation::Create, at(3)),
            (AuditOperation::Pull, at(100))
        ]
    );
    assert_eq!(
        ok(
            "nothing named",
            store.purge_audit(at(200), &[], false).await
        ),
        0
    );
}
