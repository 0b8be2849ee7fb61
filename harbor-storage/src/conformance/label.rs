//! The label suite: labels are unique by name in their scope (the global
//! labels, or one project's), list by scope and name, update and delete;
//! an artifact's labels are added once, read back in batches, and go with
//! the artifact, the label, or the label's project.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use harbor_core::{
    Digest, ErrorCode, IdentityStore, Label, LabelScope, LabelStore, ManifestRecord, MetaStore,
    NewUser, Page, RepositoryName,
};

use super::ok;

fn label(name: &str, scope: LabelScope, project_id: Option<i64>) -> Label {
    Label {
        id: 0,
        name: name.into(),
        description: format!("{name} things"),
        color: "#0065AB".into(),
        scope,
        project_id,
        creation_time: SystemTime::UNIX_EPOCH,
        update_time: SystemTime::UNIX_EPOCH,
    }
}

fn manifest(payload: &str) -> ManifestRecord {
    ManifestRecord {
        digest: Digest::sha256(payload.as_bytes()),
        media_type: harbor_core::media_type::OCI_MANIFEST.to_owned(),
        payload: Bytes::from(payload.to_owned()),
        subject: None,
        artifact_type: None,
        annotations: BTreeMap::new(),
        references: Vec::new(),
        pushed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

fn all() -> Page {
    Page {
        page: 1,
        page_size: 100,
    }
}

/// Runs every test of the suite; `identity` and `meta` are the same
/// database's other stores (labels belong to projects and artifacts).
pub async fn run_all(labels: &dyn LabelStore, identity: &dyn IdentityStore, meta: &dyn MetaStore) {
    let owner = ok(
        "create owner",
        identity
            .create_user(&NewUser {
                username: "label-owner".into(),
                email: "label-owner@example.com".into(),
                realname: String::new(),
                comment: String::new(),
                password_hash: String::new(),
                sysadmin: false,
            })
            .await,
    );
    let a = ok(
        "project",
        identity.create_project("labels-a", false, owner.id).await,
    );
    let b = ok(
        "project",
        identity.create_project("labels-b", false, owner.id).await,
    );

    // Unique by name within a scope only.
    let g = ok(
        "global",
        labels
            .create_label(&label("prod", LabelScope::Global, None))
            .await,
    );
    let err = labels
        .create_label(&label("prod", LabelScope::Global, None))
        .await
        .expect_err("a second global prod");
    assert_eq!(err.code(), ErrorCode::Conflict);
    let pa = ok(
        "project a",
        labels
            .create_label(&label("prod", LabelScope::Project, Some(a.id)))
            .await,
    );
    ok(
        "project b",
        labels
            .create_label(&label("prod", LabelScope::Project, Some(b.id)))
            .await,
    );
    let err = labels
        .create_label(&label("prod", LabelScope::Project, Some(a.id)))
        .await
        .expect_err("a second prod in project a");
    assert_eq!(err.code(), ErrorCode::Conflict);
    let qa = ok(
        "qa",
        labels
            .create_label(&label("qa_passed", LabelScope::Project, Some(a.id)))
            .await,
    );
    assert_eq!(ok("read", labels.label(g.id).await), Some(g.clone()));

    let (list, total) = ok(
        "list",
        labels
            .labels(LabelScope::Project, Some(a.id), None, all())
            .await,
    );
    assert_eq!((total, list.len()), (2, 2));
    assert_eq!(list[0], pa);
    let (list, _) = ok(
        "by name",
        labels
            .labels(LabelScope::Project, Some(a.id), Some("_pass"), all())
            .await,
    );
    assert_eq!(
        list,
        vec![qa.clone()],
        "name matches a substring, _ literally"
    );
    let (list, _) = ok(
        "literal underscore",
        labels
            .labels(LabelScope::Project, Some(a.id), Some("a_p"), all())
            .await,
    );
    assert_eq!(list, vec![qa.clone()]);
    let (list, _) = ok(
        "global",
        labels.labels(LabelScope::Global, None, None, all()).await,
    );
    assert_eq!(list, vec![g.clone()]);

    let mut renamed = qa.clone();
    renamed.name = "prod".into();
    let err = labels.update_label(&renamed).await.expect_err("name taken");
    assert_eq!(err.code(), ErrorCode::Conflict);
    renamed.name = "qa".into();
    renamed.color = "#FF0000".into();
    assert!(ok("update", labels.update_label(&renamed).await));
    let back = ok("read", labels.label(qa.id).await).expect("there");
    assert_eq!((back.name.as_str(), back.color.as_str()), ("qa", "#FF0000"));

    // On artifacts.
    let repo = ok("name", RepositoryName::parse("labels-a/app"));
    let (m1, m2) = (manifest("labelled one"), manifest("labelled two"));
    for m in [&m1, &m2] {
        ok("put", meta.put_manifest(&repo, m, None, &[]).await);
    }
    let err = labels
        .add_artifact_label(&repo, &manifest("absent").digest, g.id)
        .await
        .expect_err("no such artifact");
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert!(ok(
        "add",
        labels.add_artifact_label(&repo, &m1.digest, g.id).await
    ));
    assert!(!ok(
        "again",
        labels.add_artifact_label(&repo, &m1.digest, g.id).await
    ));
    assert!(ok(
        "add",
        labels.add_artifact_label(&repo, &m1.digest, qa.id).await
    ));
    assert!(ok(
        "add",
        labels.add_artifact_label(&repo, &m2.digest, pa.id).await
    ));
    let on = ok(
        "read",
        labels
            .artifact_labels(&repo, &[m1.digest.clone(), m2.digest.clone()])
            .await,
    );
    let mut pairs: Vec<(String, i64)> = on.iter().map(|(d, l)| (d.to_string(), l.id)).collect();
    pairs.sort();
    let mut want = vec![
        (m1.digest.to_string(), g.id),
        (m1.digest.to_string(), qa.id),
        (m2.digest.to_string(), pa.id),
    ];
    want.sort();
    assert_eq!(pairs, want);
    assert!(ok(
        "remove",
        labels.remove_artifact_label(&repo, &m1.digest, qa.id).await
    ));
    assert!(!ok(
        "remove again",
        labels.remove_artifact_label(&repo, &m1.digest, qa.id).await
    ));

    // Deleting the artifact, the label or the project takes the labels off.
    ok(
        "delete manifest",
        meta.delete_manifest(&repo, &m2.digest).await,
    );
    ok("put back", meta.put_manifest(&repo, &m2, None, &[]).await);
    assert!(
        ok(
            "read",
            labels
                .artifact_labels(&repo, std::slice::from_ref(&m2.digest))
                .await
        )
        .is_empty(),
        "a pushed-again artifact does not get its old labels back"
    );
    assert!(ok("delete label", labels.delete_label(g.id).await));
    assert!(!ok("delete again", labels.delete_label(g.id).await));
    assert!(ok(
        "read",
        labels
            .artifact_labels(&repo, std::slice::from_ref(&m1.digest))
            .await
    )
    .is_empty());
    ok(
        "delete manifests",
        meta.delete_manifest(&repo, &m1.digest).await,
    );
    ok(
        "delete manifests",
        meta.delete_manifest(&repo, &m2.digest).await,
    );
    assert!(ok("delete project", identity.delete_project(b.id).await));
    let (left, _) = ok(
        "list",
        labels
            .labels(LabelScope::Project, Some(b.id), None, all())
            .await,
    );
    assert!(left.is_empty(), "a project's labels go with it");
}
