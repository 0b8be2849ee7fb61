//! The suite of signed-in sessions on the `IdentityStore`: a session lives
//! until it expires, is signed out or its user goes, and a user's other
//! sessions can be ended at once (a password change).

use std::time::{Duration, SystemTime};

use harbor_core::{IdentityStore, NewUser};

use super::ok;

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@sessions.example"),
        realname: name.to_owned(),
        comment: String::new(),
        password_hash: "hash".to_owned(),
        sysadmin: false,
    }
}

/// Runs every test of the suite.
pub async fn run_all(store: &dyn IdentityStore) {
    a_session_lives_until_signed_out_or_expired(store).await;
    a_password_change_ends_every_other_session_of_that_user_only(store).await;
    deleting_a_user_ends_its_sessions(store).await;
}

/// A recorded session is alive until it is signed out or expires; an
/// unknown one never is.
pub async fn a_session_lives_until_signed_out_or_expired(store: &dyn IdentityStore) {
    let user = ok("user", store.create_user(&new_user("sess-ann")).await);
    let hour = SystemTime::now() + Duration::from_secs(3600);
    ok(
        "create",
        store.create_session("s-ann-1", user.id, hour).await,
    );
    assert!(ok("alive", store.session_alive("s-ann-1").await));
    assert!(!ok("unknown", store.session_alive("s-nobody").await));
    assert!(ok("sign out", store.delete_session("s-ann-1").await));
    assert!(!ok("after sign-out", store.session_alive("s-ann-1").await));
    assert!(!ok("twice", store.delete_session("s-ann-1").await));
    let past = SystemTime::now() - Duration::from_secs(1);
    ok(
        "expired",
        store.create_session("s-ann-old", user.id, past).await,
    );
    assert!(!ok("expired alive", store.session_alive("s-ann-old").await));
    // A new session sweeps expired ones away.
    ok(
        "create",
        store.create_session("s-ann-2", user.id, hour).await,
    );
    assert!(!ok("swept", store.delete_session("s-ann-old").await));
    assert!(ok("alive", store.session_alive("s-ann-2").await));
}

/// Ending a user's sessions but one leaves that one and other users'.
pub async fn a_password_change_ends_every_other_session_of_that_user_only(
    store: &dyn IdentityStore,
) {
    let bob = ok("bob", store.create_user(&new_user("sess-bob")).await);
    let cy = ok("cy", store.create_user(&new_user("sess-cy")).await);
    let hour = SystemTime::now() + Duration::from_secs(3600);
    for (id, user) in [
        ("b1", bob.id),
        ("b2", bob.id),
        ("b3", bob.id),
        ("c1", cy.id),
    ] {
        ok("create", store.create_session(id, user, hour).await);
    }
    assert_eq!(
        ok(
            "end others",
            store.delete_user_sessions(bob.id, Some("b2")).await
        ),
        2
    );
    assert!(ok("kept", store.session_alive("b2").await));
    assert!(!ok("ended", store.session_alive("b1").await));
    assert!(!ok("ended", store.session_alive("b3").await));
    assert!(ok("other user", store.session_alive("c1").await));
    assert_eq!(
        ok("end all", store.delete_user_sessions(bob.id, None).await),
        1
    );
    assert!(!ok("all ended", store.session_alive("b2").await));
}

/// A deleted user's sessions end with it.
pub async fn deleting_a_user_ends_its_sessions(store: &dyn IdentityStore) {
    let dee = ok("dee", store.create_user(&new_user("sess-dee")).await);
    let hour = SystemTime::now() + Duration::from_secs(3600);
    ok("create", store.create_session("d1", dee.id, hour).await);
    assert!(ok("delete user", store.delete_user(dee.id).await));
    assert!(!ok("gone with the user", store.session_alive("d1").await));
}
