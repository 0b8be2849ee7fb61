//! Harbor's face: `/api/v2.0`, `/service/token` and `/v2/` behind the token
//! guard, over arbitrary exchanges of up to eight requests (any method,
//! realistic or arbitrary paths, queries such as `page`, `page_size`, `q`,
//! `scope`, credentials of the administrator, of a developer, wrong ones,
//! tokens the token endpoint issued earlier in the exchange, JSON bodies),
//! or a script of requests written as text, as for `v2_router`.
//!
//! The server has identity (users `admin` and `dev`, the public project
//! `library` and the private `team`, where `dev` is a developer) and no
//! replication: registries and policies then answer 503 "replication is not
//! enabled", the one 5xx allowed (with replication on, the fuzzer would
//! make the server connect to whatever registry URL it invents).
//! Credentials are checked by a fixed password rather than PBKDF2, so that
//! a login costs microseconds; who the user is comes from the store.
//!
//! Asserts: no panic, no other 5xx, every answer's body streams to its end.
//! Each input gets new stores and a new key.
#![no_main]

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::http::StatusCode;
use harbor_auth::{resolve_principal, AuthError, Authenticator, Principal, SigningKey};
use harbor_core::{IdentityStore, NewUser, Role};
use harbor_fuzz::http::{Driver, Input, ADMIN, DEVELOPER};
use harbor_server::Harbor;
use harbor_storage::{MemoryBlobStore, SqliteMetaStore};
use libfuzzer_sys::fuzz_target;

/// Accepts `admin` and `dev` with their fixed password, as whoever the
/// store says they are now.
#[derive(Debug)]
struct FixedPasswords(Arc<dyn IdentityStore>);

#[async_trait]
impl Authenticator for FixedPasswords {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        _client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let known = [ADMIN, DEVELOPER].contains(&(username, password));
        match resolve_principal(self.0.as_ref(), username).await {
            Ok(Some(p)) if known => Ok(p),
            Ok(_) => Err(AuthError::Unauthorized("wrong username or password".into())),
            Err(e) => Err(AuthError::Store(e)),
        }
    }
}

/// The users' password hash, computed once (PBKDF2 is slow on purpose).
fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| harbor_auth::password::hash_password(ADMIN.1).expect("a password hashes"))
}

async fn harbor() -> Harbor {
    let store = Arc::new(SqliteMetaStore::in_memory().expect("an in-memory database opens"));
    let user = |name: &str, sysadmin: bool| NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        realname: name.into(),
        comment: String::new(),
        password_hash: password_hash().to_owned(),
        sysadmin,
    };
    let admin = store
        .create_user(&user(ADMIN.0, true))
        .await
        .expect("admin");
    let dev = store
        .create_user(&user(DEVELOPER.0, false))
        .await
        .expect("dev");
    store
        .create_project("library", true, admin.id)
        .await
        .expect("library");
    let team = store
        .create_project("team", false, admin.id)
        .await
        .expect("team");
    store
        .add_member(team.id, dev.id, Role::Developer)
        .await
        .expect("member");
    let identity: Arc<dyn IdentityStore> = store.clone();
    Harbor::builder(Arc::new(MemoryBlobStore::new()), store)
        .identity(identity.clone(), SigningKey::ephemeral().expect("a key"))
        .authenticator(Arc::new(FixedPasswords(identity)))
        .build()
        .expect("the server builds")
}

fuzz_target!(|input: Input| {
    harbor_fuzz::runtime().block_on(async {
        let harbor = harbor().await;
        let mut driver = Driver::new(harbor.router()).allowing(
            StatusCode::SERVICE_UNAVAILABLE,
            "replication is not enabled",
        );
        driver.run_input(&input).await;
    });
});
