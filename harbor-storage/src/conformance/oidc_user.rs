//! The suite of users onboarded from an OpenID Connect provider, on the
//! `IdentityStore` (Harbor's `oidc_user`).

use harbor_core::{ErrorCode, IdentityStore, NewOidcUser, NewUser};

use super::ok;

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@oidc.example"),
        realname: name.to_owned(),
        comment: "onboarded from OIDC".to_owned(),
        password_hash: String::new(),
        sysadmin: false,
    }
}

fn link(subject: &str) -> NewOidcUser {
    NewOidcUser {
        issuer: "https://idp.example".to_owned(),
        subject: subject.to_owned(),
        secret: format!("sealed-secret-of-{subject}"),
        token: format!("sealed-token-of-{subject}"),
    }
}

/// Runs every test of the suite.
pub async fn run_all(store: &dyn IdentityStore) {
    an_oidc_user_is_created_with_its_link_and_found_both_ways(store).await;
    a_provider_account_is_onboarded_once_and_a_taken_name_changes_nothing(store).await;
    secret_and_token_are_replaced_and_go_with_the_user(store).await;
}

/// The user and its link are created together and found by the provider
/// account and by the user.
pub async fn an_oidc_user_is_created_with_its_link_and_found_both_ways(store: &dyn IdentityStore) {
    let (user, l) = ok(
        "create OIDC user",
        store
            .create_oidc_user(&new_user("oidc-ann"), &link("sub-ann"))
            .await,
    );
    assert_eq!(user.username, "oidc-ann");
    assert_eq!(l.user_id, user.id);
    assert_eq!(
        (l.issuer.as_str(), l.subject.as_str()),
        ("https://idp.example", "sub-ann")
    );
    assert_eq!(l.secret, "sealed-secret-of-sub-ann");
    assert_eq!(l.token, "sealed-token-of-sub-ann");
    let by_subject = ok(
        "by subject",
        store
            .oidc_user_by_subject("https://idp.example", "sub-ann")
            .await,
    );
    assert_eq!(by_subject.as_ref(), Some(&l));
    let by_user = ok("by user", store.oidc_user_by_user_id(user.id).await);
    assert_eq!(by_user, Some(l));
    let other_issuer = ok(
        "other issuer",
        store
            .oidc_user_by_subject("https://other.example", "sub-ann")
            .await,
    );
    assert_eq!(other_issuer, None, "a subject belongs to its issuer only");
    let found = ok("user by name", store.user_by_name("oidc-ann").await);
    assert_eq!(found.map(|u| u.id), Some(user.id));
}

/// A second onboarding of the same provider account, or one under a taken
/// username, is `CONFLICT` and leaves no user behind.
pub async fn a_provider_account_is_onboarded_once_and_a_taken_name_changes_nothing(
    store: &dyn IdentityStore,
) {
    ok(
        "create",
        store
            .create_oidc_user(&new_user("oidc-bob"), &link("sub-bob"))
            .await,
    );
    let again = store
        .create_oidc_user(&new_user("oidc-bob2"), &link("sub-bob"))
        .await;
    assert_eq!(again.err().map(|e| e.code()), Some(ErrorCode::Conflict));
    assert_eq!(
        ok("no half user", store.user_by_name("oidc-bob2").await),
        None,
        "the user of a refused link is not kept"
    );
    let taken = store
        .create_oidc_user(&new_user("oidc-bob"), &link("sub-bob-other"))
        .await;
    assert_eq!(taken.err().map(|e| e.code()), Some(ErrorCode::Conflict));
    assert_eq!(
        ok(
            "no link",
            store
                .oidc_user_by_subject("https://idp.example", "sub-bob-other")
                .await
        ),
        None
    );
}

/// The secret and the tokens are replaced one at a time; a user without a
/// link changes nothing; deleting the user deletes its link.
pub async fn secret_and_token_are_replaced_and_go_with_the_user(store: &dyn IdentityStore) {
    let (user, _) = ok(
        "create",
        store
            .create_oidc_user(&new_user("oidc-cat"), &link("sub-cat"))
            .await,
    );
    assert!(ok(
        "secret",
        store.set_oidc_secret(user.id, "new-secret").await
    ));
    assert!(ok(
        "token",
        store.set_oidc_token(user.id, "new-token").await
    ));
    let l = ok("read", store.oidc_user_by_user_id(user.id).await);
    let l = l.unwrap_or_else(|| panic!("the link of {} vanished", user.id));
    assert_eq!(
        (l.secret.as_str(), l.token.as_str()),
        ("new-secret", "new-token")
    );
    let plain = ok(
        "plain user",
        store
            .create_user(&NewUser {
                email: "plain-cat@example".into(),
                ..new_user("plain-cat")
            })
            .await,
    );
    assert!(!ok("no link", store.set_oidc_secret(plain.id, "x").await));
    assert!(!ok("no link", store.set_oidc_token(plain.id, "x").await));
    assert_eq!(
        ok("no link", store.oidc_user_by_user_id(plain.id).await),
        None
    );
    assert!(ok("delete", store.delete_user(user.id).await));
    assert_eq!(ok("gone", store.oidc_user_by_user_id(user.id).await), None);
    assert_eq!(
        ok(
            "gone",
            store
                .oidc_user_by_subject("https://idp.example", "sub-cat")
                .await
        ),
        None,
        "the link goes with its user"
    );
}
