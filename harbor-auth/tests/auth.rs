//! Authentication, the role matrix through a real store, and token issuance.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use harbor_auth::password::hash_password;
use harbor_auth::rbac::{role_allows, ACTIONS, RESOURCES};
use harbor_auth::{
    bootstrap, Access, AuthError, Authenticator, Authorizer, DbAuthenticator, Expiry, Principal,
    RateLimit, RbacAuthorizer, SigningKey, TokenConfig, TokenService,
};
use harbor_core::{IdentityStore, NewUser, Role};
use harbor_storage::SqliteMetaStore;

const PASSWORD: &str = "Harbor12345";

/// One PBKDF2 hash of PASSWORD shared by every test user (600k iterations each time would be slow).
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).expect("a password hash"))
        .clone()
}

struct World {
    store: Arc<SqliteMetaStore>,
    tokens: TokenService,
    authorizer: Arc<RbacAuthorizer>,
}

async fn world(anonymous: bool) -> World {
    let store = Arc::new(SqliteMetaStore::in_memory().expect("an in-memory store"));
    bootstrap(store.as_ref(), Some(PASSWORD))
        .await
        .expect("admin and library");
    let authorizer = Arc::new(RbacAuthorizer::new(store.clone(), anonymous));
    let key = Arc::new(SigningKey::ephemeral().expect("admin and library"));
    let tokens = TokenService::new(
        key,
        TokenConfig::default(),
        store.clone(),
        authorizer.clone(),
    );
    World {
        store,
        tokens,
        authorizer,
    }
}

async fn user(store: &SqliteMetaStore, name: &str) -> Principal {
    let u = store
        .create_user(&NewUser {
            username: name.into(),
            email: format!("{name}@example.com"),
            realname: name.into(),
            comment: String::new(),
            password_hash: password_hash(),
            sysadmin: false,
        })
        .await
        .expect("the user is created");
    Principal::User {
        id: u.id,
        name: u.username,
        sysadmin: false,
    }
}

fn scope(s: &str) -> Access {
    Access::parse(s).unwrap_or_else(|| panic!("bad scope {s}"))
}

#[tokio::test]
async fn every_role_in_a_private_project_gets_its_matrix_and_nothing_else() {
    let w = world(true).await;
    let owner = user(&w.store, "owner").await;
    let project = w
        .store
        .create_project("private", false, owner.user_id().unwrap_or(0))
        .await
        .unwrap();
    for role in [
        Role::ProjectAdmin,
        Role::Maintainer,
        Role::Developer,
        Role::Guest,
        Role::LimitedGuest,
    ] {
        let p = user(&w.store, &format!("as-{}", role.name().to_lowercase())).await;
        w.store
            .add_member(project.id, p.user_id().unwrap_or(0), role)
            .await
            .unwrap();
        for resource in RESOURCES {
            for action in ACTIONS {
                let got = w
                    .authorizer
                    .allowed(&p, &project, resource, action)
                    .await
                    .unwrap_or(false);
                assert_eq!(
                    got,
                    role_allows(role, resource, action),
                    "{role:?} {resource:?} {action:?}"
                );
            }
        }
    }
    // Outsiders and anonymous callers get nothing in a private project.
    let outsider = user(&w.store, "outsider").await;
    for p in [&outsider, &Principal::Anonymous] {
        for resource in RESOURCES {
            for action in ACTIONS {
                assert!(!w
                    .authorizer
                    .allowed(p, &project, resource, action)
                    .await
                    .unwrap_or(true));
            }
        }
    }
    // The administrator gets everything.
    let admin = Principal::User {
        id: 1,
        name: "admin".into(),
        sysadmin: true,
    };
    assert!(w
        .authorizer
        .allowed(
            &admin,
            &project,
            harbor_auth::Resource::Member,
            harbor_auth::Action::Delete
        )
        .await
        .unwrap_or(false));
}

#[tokio::test]
async fn tokens_grant_exactly_the_requested_actions_the_caller_holds() {
    let w = world(true).await;
    let owner = user(&w.store, "owner").await;
    let project = w
        .store
        .create_project("team", false, owner.user_id().unwrap_or(0))
        .await
        .unwrap();
    let guest = user(&w.store, "guest").await;
    w.store
        .add_member(project.id, guest.user_id().unwrap_or(0), Role::Guest)
        .await
        .unwrap();
    let dev = user(&w.store, "dev").await;
    w.store
        .add_member(project.id, dev.user_id().unwrap_or(0), Role::Developer)
        .await
        .unwrap();

    let grant = |p: Principal, s: &'static str| {
        let tokens = &w.tokens;
        async move {
            let issued = tokens
                .issue(&p, "harbor-registry", &[scope(s)])
                .await
                .unwrap();
            issued.access[0].actions.clone()
        }
    };
    assert_eq!(
        grant(dev.clone(), "repository:team/app:pull,push").await,
        ["pull", "push"]
    );
    assert_eq!(
        grant(dev.clone(), "repository:team/app:delete").await,
        Vec::<String>::new()
    );
    assert_eq!(
        grant(dev.clone(), "repository:team/app:*").await,
        Vec::<String>::new()
    );
    assert_eq!(
        grant(guest.clone(), "repository:team/app:pull,push").await,
        ["pull"],
        "a reduced token"
    );
    assert_eq!(grant(owner.clone(), "repository:team/app:*").await, ["*"]);
    assert_eq!(
        grant(owner.clone(), "repository:team/app:pull,push,delete").await,
        ["pull", "push", "delete"]
    );
    assert!(grant(Principal::Anonymous, "repository:team/app:pull")
        .await
        .is_empty());
    assert_eq!(
        grant(Principal::Anonymous, "repository:library/app:pull,push").await,
        ["pull"]
    );
    assert!(grant(owner.clone(), "repository:nosuchproject/app:pull")
        .await
        .is_empty());
    assert!(grant(owner.clone(), "repository:Bad Name:pull")
        .await
        .is_empty());
    assert!(
        grant(owner.clone(), "registry:catalog:*").await.is_empty(),
        "catalog is for administrators"
    );
    let admin = Principal::User {
        id: 1,
        name: "admin".into(),
        sysadmin: true,
    };
    assert_eq!(grant(admin, "registry:catalog:*").await, ["*"]);
    assert!(grant(owner, "nonsense:thing:pull").await.is_empty());
}

#[tokio::test]
async fn issued_tokens_carry_the_claims_distribution_checks() {
    let w = world(true).await;
    let dev = user(&w.store, "dev").await;
    let issued = w
        .tokens
        .issue(
            &dev,
            "harbor-registry",
            &[
                scope("repository:library/a:pull"),
                scope("repository:library/b:push"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        issued.expires_in, 1800,
        "Harbor's default lifetime is 30 minutes"
    );
    let claims = w.tokens.verify(&issued.token, Expiry::Enforce).unwrap();
    assert_eq!(claims.iss, "harbor-token-issuer");
    assert_eq!(claims.sub, "dev");
    assert_eq!(claims.aud, "harbor-registry");
    assert_eq!(claims.exp - claims.iat, 1800);
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(claims.jti.len(), 32);
    assert_eq!(claims.access.len(), 2);
    assert_eq!(
        claims.access[1].actions,
        Vec::<String>::new(),
        "no push into library for a non-member"
    );
    // A second verification (served from the cache of verified tokens)
    // agrees; a token differing in one signature byte is still refused.
    assert_eq!(
        w.tokens.verify(&issued.token, Expiry::Enforce).ok(),
        Some(claims.clone())
    );
    let mut tampered = issued.token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    assert!(w.tokens.verify(&tampered, Expiry::Enforce).is_err());
    // `aud` is a single JSON string, never an array.
    let payload = issued.token.split('.').nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&base64_url(payload)).unwrap_or_default();
    assert!(json["aud"].is_string(), "{json}");

    let anonymous = w
        .tokens
        .issue(&Principal::Anonymous, "harbor-registry", &[])
        .await;
    let anonymous = anonymous.unwrap();
    let claims = w.tokens.verify(&anonymous.token, Expiry::Enforce).unwrap();
    assert_eq!(claims.sub, "");

    let e = w.tokens.issue(&dev, "someone-else", &[]).await.err();
    assert!(matches!(e, Some(AuthError::BadRequest(_))), "{e:?}");
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap_or_default()
}

#[tokio::test]
async fn refresh_tokens_name_the_user_and_grant_nothing_themselves() {
    let w = world(true).await;
    let dev = user(&w.store, "dev").await;
    let refresh = w.tokens.refresh_token(&dev).unwrap();
    let back = w.tokens.principal_from_refresh(&refresh).await.unwrap();
    assert_eq!(back, dev);
    assert!(
        w.tokens.verify(&refresh, Expiry::Enforce).is_err(),
        "not usable as a registry token"
    );
    let registry_token = w
        .tokens
        .issue(&dev, "harbor-registry", &[])
        .await
        .map(|t| t.token)
        .unwrap_or_default();
    assert!(w
        .tokens
        .principal_from_refresh(&registry_token)
        .await
        .is_err());
    w.store
        .delete_user(dev.user_id().unwrap_or(0))
        .await
        .unwrap();
    assert!(
        w.tokens.principal_from_refresh(&refresh).await.is_err(),
        "a deleted user cannot refresh"
    );
}

#[tokio::test]
async fn passwords_are_checked_and_failures_are_rate_limited_per_account_and_address() {
    let w = world(true).await;
    user(&w.store, "carol").await;
    let limit = RateLimit {
        max_failures: 3,
        window: Duration::from_secs(60),
    };
    let auth = DbAuthenticator::new(w.store.clone(), limit);
    let addr = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    let ok = auth.authenticate("carol", PASSWORD, addr).await;
    assert!(
        matches!(ok, Ok(Principal::User { ref name, sysadmin: false, .. }) if name == "carol"),
        "{ok:?}"
    );
    let admin = auth.authenticate("admin", PASSWORD, addr).await;
    assert!(admin.map(|p| p.is_sysadmin()).unwrap_or(false));
    for wrong in ["harbor12345", "", "Harbor123456"] {
        let e = auth.authenticate("carol", wrong, addr).await.err();
        assert!(matches!(e, Some(AuthError::Unauthorized(_))), "{e:?}");
    }
    let e = auth.authenticate("nobody", PASSWORD, None).await.err();
    assert!(
        matches!(e, Some(AuthError::Unauthorized(_))),
        "unknown users look like wrong passwords"
    );

    // Three failures: now even the right password is refused, for a while.
    let e = auth.authenticate("carol", PASSWORD, None).await.err();
    assert!(
        matches!(e, Some(AuthError::TooManyAttempts { .. })),
        "{e:?}"
    );
    // The address that failed is blocked for other accounts too.
    let e = auth.authenticate("admin", PASSWORD, addr).await.err();
    assert!(
        matches!(e, Some(AuthError::TooManyAttempts { .. })),
        "{e:?}"
    );
    // Another address and account are unaffected.
    let other = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    assert!(auth.authenticate("admin", PASSWORD, other).await.is_ok());
}

#[tokio::test]
async fn a_changed_password_takes_effect_at_once() {
    let w = world(true).await;
    let carol = user(&w.store, "carol").await;
    let auth = DbAuthenticator::new(w.store.clone(), RateLimit::default());
    assert!(auth.authenticate("carol", PASSWORD, None).await.is_ok());
    let new_hash = hash_password("NewPassw0rd").unwrap();
    w.store
        .set_password_hash(carol.user_id().unwrap_or(0), &new_hash)
        .await
        .unwrap();
    assert!(
        auth.authenticate("carol", PASSWORD, None).await.is_err(),
        "the old password no longer works"
    );
    assert!(auth
        .authenticate("carol", "NewPassw0rd", None)
        .await
        .is_ok());
}

#[tokio::test]
async fn bootstrap_creates_the_admin_once_and_a_public_library() {
    let store = SqliteMetaStore::in_memory().unwrap();
    let first = bootstrap(&store, None).await.unwrap();
    let generated = first.generated_admin_password.clone().unwrap_or_default();
    assert!(
        first.created_admin && generated.len() >= 16,
        "a strong password is generated and shown"
    );
    let second = bootstrap(&store, Some("Ignored123")).await.unwrap();
    assert!(!second.created_admin && second.generated_admin_password.is_none());
    let admin = store.user_by_name("admin").await.ok().flatten();
    assert!(admin
        .as_ref()
        .is_some_and(|a| a.sysadmin && a.password_hash.starts_with("pbkdf2-sha256$600000$")));
    assert!(harbor_auth::password::verify_password(
        &generated,
        &admin.map(|a| a.password_hash).unwrap_or_default()
    ));
    let library = store.project_by_name("library").await.ok().flatten();
    assert_eq!(library.map(|p| p.public), Some(true));
}
