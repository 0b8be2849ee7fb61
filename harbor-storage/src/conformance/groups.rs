//! The user-group part of the `IdentityStore` conformance suite (run by
//! [`super::identity::run_all`]): groups, who is in them, group members of
//! projects and the effective role they give.

use harbor_core::{
    ErrorCode, GroupQuery, GroupType, IdentityStore, MemberKind, NewUserGroup, Page, ProjectQuery,
    Role,
};

use super::identity::new_user;
use super::ok;

/// Runs every test of this part.
pub async fn run_all(store: &dyn IdentityStore) {
    groups_are_unique_found_renamed_and_deleted(store).await;
    onboarding_finds_or_creates_and_logins_set_membership(store).await;
    a_group_member_gives_its_users_the_highest_role(store).await;
}

/// LDAP groups are unique by DN (whatever its case), the others by type and
/// name; a rename to a taken name is `CONFLICT`; listing filters and pages.
pub async fn groups_are_unique_found_renamed_and_deleted(store: &dyn IdentityStore) {
    let devs = ok(
        "create",
        store
            .create_group(&NewUserGroup::ldap(
                "devs",
                "cn=devs,ou=groups,dc=example,dc=com",
            ))
            .await,
    );
    assert_eq!(
        (devs.name.as_str(), devs.group_type, devs.ldap_dn.as_str()),
        (
            "devs",
            GroupType::Ldap,
            "cn=devs,ou=groups,dc=example,dc=com"
        )
    );
    let dup = store
        .create_group(&NewUserGroup::ldap(
            "other",
            "CN=devs,OU=groups,DC=example,DC=com",
        ))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(dup, Some(ErrorCode::Conflict), "same DN, other case");
    // Another directory branch may hold a group of the same name.
    ok(
        "same name, other DN",
        store
            .create_group(&NewUserGroup::ldap(
                "devs",
                "cn=devs,ou=eu,dc=example,dc=com",
            ))
            .await,
    );
    let oidc = ok(
        "oidc",
        store
            .create_group(&NewUserGroup::named(GroupType::Oidc, "g-admins"))
            .await,
    );
    assert_eq!(oidc.ldap_dn, "", "only LDAP groups keep a DN");
    let dup = store
        .create_group(&NewUserGroup::named(GroupType::Oidc, "g-admins"))
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(dup, Some(ErrorCode::Conflict));
    ok(
        "same name, other type",
        store
            .create_group(&NewUserGroup::named(GroupType::Http, "g-admins"))
            .await,
    );

    let ldap_only = GroupQuery {
        group_type: Some(GroupType::Ldap),
        ..GroupQuery::default()
    };
    let (page1, total) = ok(
        "list",
        store
            .list_groups(
                &ldap_only,
                Page {
                    page: 1,
                    page_size: 1,
                },
            )
            .await,
    );
    assert_eq!((page1.len(), total), (1, 2));
    assert_eq!(page1[0].id, devs.id, "by id");
    let by_dn = GroupQuery {
        ldap_dn: Some("CN=DEVS,ou=groups,dc=example,dc=com".into()),
        ..GroupQuery::default()
    };
    let (found, _) = ok("by dn", store.list_groups(&by_dn, Page::default()).await);
    assert_eq!(found.iter().map(|g| g.id).collect::<Vec<_>>(), [devs.id]);
    let named = GroupQuery {
        name_contains: Some("ADMIN".into()),
        ..GroupQuery::default()
    };
    let (found, total) = ok("by name", store.list_groups(&named, Page::default()).await);
    assert_eq!(
        (found.len(), total),
        (2, 2),
        "names match case-insensitively"
    );

    assert!(ok("rename", store.rename_group(oidc.id, "g-ops").await));
    assert_eq!(
        ok("get", store.group_by_id(oidc.id).await).map(|g| g.name),
        Some("g-ops".to_owned())
    );
    let taken = ok(
        "another",
        store
            .create_group(&NewUserGroup::named(GroupType::Oidc, "g-taken"))
            .await,
    );
    let e = store
        .rename_group(taken.id, "g-ops")
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(e, Some(ErrorCode::Conflict));
    assert!(ok("delete", store.delete_group(taken.id).await));
    assert!(!ok("delete again", store.delete_group(taken.id).await));
    assert_eq!(ok("gone", store.group_by_id(taken.id).await), None);
    assert!(!ok("rename gone", store.rename_group(taken.id, "x").await));
}

/// Onboarding finds known groups and creates the others, in order; a login
/// replaces the user's groups.
pub async fn onboarding_finds_or_creates_and_logins_set_membership(store: &dyn IdentityStore) {
    let known = ok(
        "create",
        store
            .create_group(&NewUserGroup::ldap("qa", "cn=qa,ou=groups,dc=onboard"))
            .await,
    );
    let asked = [
        NewUserGroup::named(GroupType::Oidc, "onboard-new"),
        NewUserGroup::ldap("renamed-in-directory", "CN=qa,ou=groups,dc=onboard"),
    ];
    let got = ok("onboard", store.onboard_groups(&asked).await);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].name, "onboard-new");
    assert_eq!(got[1].id, known.id, "found by DN");
    let again = ok("onboard again", store.onboard_groups(&asked).await);
    assert_eq!(
        again.iter().map(|g| g.id).collect::<Vec<_>>(),
        got.iter().map(|g| g.id).collect::<Vec<_>>(),
        "onboarding twice creates nothing"
    );

    let user = ok(
        "user",
        store
            .create_user(&new_user("g_user", "g_user@example.com"))
            .await,
    );
    ok(
        "set",
        store
            .set_user_groups(user.id, &[got[0].id, got[1].id, got[0].id])
            .await,
    );
    let mine = ok("groups", store.user_groups(user.id).await);
    assert_eq!(
        mine.iter().map(|g| g.id).collect::<Vec<_>>(),
        [got[0].id.min(got[1].id), got[0].id.max(got[1].id)]
    );
    ok(
        "set fewer",
        store.set_user_groups(user.id, &[known.id]).await,
    );
    let mine = ok("groups", store.user_groups(user.id).await);
    assert_eq!(mine.iter().map(|g| g.id).collect::<Vec<_>>(), [known.id]);
    ok("set none", store.set_user_groups(user.id, &[]).await);
    assert!(ok("groups", store.user_groups(user.id).await).is_empty());
    ok(
        "set again",
        store.set_user_groups(user.id, &[known.id]).await,
    );
    // Deleting the group, or the user, ends the membership.
    assert!(ok("delete group", store.delete_group(known.id).await));
    assert!(ok("groups", store.user_groups(user.id).await).is_empty());
    assert!(ok("delete user", store.delete_user(user.id).await));
}

/// A group's role reaches each user in it; a user acts with the highest of
/// its own role and its groups'; the projects a user sees include its
/// groups'; a group membership goes with the group.
pub async fn a_group_member_gives_its_users_the_highest_role(store: &dyn IdentityStore) {
    let owner = ok(
        "owner",
        store
            .create_user(&new_user("gm_owner", "gm_owner@example.com"))
            .await,
    );
    let user = ok(
        "user",
        store
            .create_user(&new_user("gm_user", "gm_user@example.com"))
            .await,
    );
    let p = ok(
        "project",
        store.create_project("groupies", false, owner.id).await,
    );
    let groups = ok(
        "groups",
        store
            .onboard_groups(&[
                NewUserGroup::named(GroupType::Oidc, "gm-readers"),
                NewUserGroup::named(GroupType::Oidc, "gm-writers"),
            ])
            .await,
    );
    let (readers, writers) = (&groups[0], &groups[1]);
    let m = ok(
        "add group",
        store.add_group_member(p.id, readers.id, Role::Guest).await,
    );
    assert_eq!(
        (m.entity_id, m.entity_name.as_str(), m.entity_type, m.role),
        (readers.id, "gm-readers", MemberKind::Group, Role::Guest)
    );
    let dup = store
        .add_group_member(p.id, readers.id, Role::Developer)
        .await
        .err()
        .map(|e| e.code());
    assert_eq!(dup, Some(ErrorCode::Conflict));
    let w = ok(
        "add writers",
        store
            .add_group_member(p.id, writers.id, Role::Maintainer)
            .await,
    );

    let visible = ProjectQuery {
        visible_to: Some(Some(user.id)),
        name: Some("groupies".into()),
        ..ProjectQuery::default()
    };
    assert_eq!(
        ok("none yet", store.effective_role(p.id, user.id).await),
        None
    );
    assert_eq!(
        ok(
            "not visible",
            store.list_projects(&visible, Page::default()).await
        )
        .1,
        0
    );
    ok(
        "join readers",
        store.set_user_groups(user.id, &[readers.id]).await,
    );
    assert_eq!(
        ok("reader", store.effective_role(p.id, user.id).await),
        Some(Role::Guest)
    );
    assert_eq!(
        ok(
            "visible",
            store.list_projects(&visible, Page::default()).await
        )
        .1,
        1,
        "a group's project is the user's project"
    );
    assert_eq!(ok("own", store.member_of(p.id, user.id).await), None);
    ok(
        "own developer",
        store.add_member(p.id, user.id, Role::Developer).await,
    );
    assert_eq!(
        ok("own beats guest", store.effective_role(p.id, user.id).await),
        Some(Role::Developer)
    );
    ok(
        "join writers too",
        store
            .set_user_groups(user.id, &[readers.id, writers.id])
            .await,
    );
    assert_eq!(
        ok(
            "maintainer beats developer",
            store.effective_role(p.id, user.id).await
        ),
        Some(Role::Maintainer)
    );
    let list = ok("members", store.list_members(p.id).await);
    assert_eq!(
        list.iter()
            .map(|m| (m.entity_name.as_str(), m.entity_type))
            .collect::<Vec<_>>(),
        [
            ("gm_owner", MemberKind::User),
            ("gm-readers", MemberKind::Group),
            ("gm-writers", MemberKind::Group),
            ("gm_user", MemberKind::User),
        ]
    );
    assert!(ok(
        "role",
        store.set_member_role(p.id, w.id, Role::ProjectAdmin).await
    ));
    assert_eq!(
        ok("admin via group", store.effective_role(p.id, user.id).await),
        Some(Role::ProjectAdmin)
    );
    assert!(ok("delete writers", store.delete_group(writers.id).await));
    assert_eq!(
        ok("writers gone", store.effective_role(p.id, user.id).await),
        Some(Role::Developer)
    );
    assert_eq!(ok("members", store.list_members(p.id).await).len(), 3);
    assert!(ok(
        "remove group member",
        store.remove_member(p.id, m.id).await
    ));
    assert_eq!(ok("members", store.list_members(p.id).await).len(), 2);
}
