//! Issues Docker registry tokens for your own users: a program that keeps
//! users and projects in SQLite, decides access with Harbor's roles, and
//! signs tokens that a CNCF distribution registry trusts (point its
//! `auth.token.rootcertbundle` at the `token.crt` this program writes beside
//! its signing key).
//!
//! User code: 29 lines (all of `main` with its attribute and braces; no
//! imports, comments or blank lines).
//!
//! Run it with `cargo run -p harbor-examples --example token_service`.

use std::sync::Arc;

use harbor_auth::password::hash_password;
use harbor_auth::{bootstrap, Access, Authenticator, DbAuthenticator, RateLimit};
use harbor_auth::{RbacAuthorizer, ScopeAction, SigningKey, TokenConfig, TokenService};
use harbor_core::{IdentityStore, NewUser, Role};
use harbor_storage::SqliteMetaStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteMetaStore::open(dir.path().join("identity.db"))?);

    // First start: `admin` and the `library` project. Then your user, a
    // Developer in `library`.
    bootstrap(store.as_ref(), Some("Harbor12345")).await?;
    let library = store.project_by_name("library").await?;
    let library = library.ok_or("no library")?.id;
    let user = NewUser {
        username: "dev".into(),
        email: "dev@example.com".into(),
        realname: "A Developer".into(),
        comment: String::new(),
        password_hash: hash_password("Passw0rd1234")?,
        sysadmin: false,
    };
    let user = store.create_user(&user).await?;
    store.add_member(library, user.id, Role::Developer).await?;

    // The signing key, and its certificate `token.crt` for the registry's
    // `rootcertbundle`, live in the data directory.
    let key = Arc::new(SigningKey::load_or_create(dir.path())?);
    let authorizer = Arc::new(RbacAuthorizer::new(store.clone(), true));
    let tokens = TokenService::new(key, TokenConfig::default(), store.clone(), authorizer);

    // What a token endpoint does for `docker push library/app`: check the
    // password, then grant what the user's role allows of what is asked.
    let auth = DbAuthenticator::new(store, RateLimit::default());
    let principal = auth.authenticate("dev", "Passw0rd1234", None).await?;
    let scopes = Access::parse_all(["repository:library/app:pull,push,delete"]);
    let issued = tokens.issue(&principal, "harbor-registry", &scopes).await?;
    let granted = &issued.access[0].actions;
    // A Developer may pull and push, not delete.
    assert_eq!(*granted, [ScopeAction::Pull, ScopeAction::Push]);
    println!("OK: granted {granted:?} of pull,push,delete");
    Ok(())
}
