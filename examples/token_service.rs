//! Embeds the token service alone: a program that keeps users and projects in
//! SQLite, decides access with Harbor's roles, and signs Docker registry
//! tokens that a CNCF distribution registry trusts (point its
//! `auth.token.rootcertbundle` at the certificate this program writes).
//!
//! Run it with `cargo run -p harbor-examples --example token_service`.

use std::sync::Arc;

use harbor_auth::password::hash_password;
use harbor_auth::{
    bootstrap, Access, Authenticator, DbAuthenticator, Expiry, RateLimit, RbacAuthorizer,
    ScopeAction, SigningKey, TokenConfig, TokenService,
};
use harbor_core::{IdentityStore, NewUser, Role};
use harbor_storage::SqliteMetaStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteMetaStore::open(dir.path().join("identity.db"))?);

    // First start: `admin` and the public `library` project.
    bootstrap(store.as_ref(), Some("Harbor12345")).await?;

    // A private project with a developer.
    let admin = store.user_by_name("admin").await?.ok_or("no admin")?;
    let project = store.create_project("team", false, admin.id).await?;
    let dev = store
        .create_user(&NewUser {
            username: "dev".into(),
            email: "dev@example.com".into(),
            realname: "A Developer".into(),
            comment: String::new(),
            password_hash: hash_password("Passw0rd1234")?,
            sysadmin: false,
        })
        .await?;
    store
        .add_member(project.id, dev.id, Role::Developer)
        .await?;

    // The signing key and its certificate (token.crt) live in the data directory.
    let key = SigningKey::load_or_create(dir.path())?;
    println!(
        "certificate for the registry's rootcertbundle: {}",
        dir.path().join("token.crt").display()
    );
    println!("key id (kid): {}", key.kid());
    let authorizer = Arc::new(RbacAuthorizer::new(store.clone(), true));
    let tokens = TokenService::new(
        Arc::new(key),
        TokenConfig::default(),
        store.clone(),
        authorizer,
    );
    let authenticator = DbAuthenticator::new(store.clone(), RateLimit::default());

    // What a registry's token endpoint does for `docker push team/app`.
    let principal = authenticator
        .authenticate("dev", "Passw0rd1234", None)
        .await?;
    let scopes = Access::parse_all(["repository:team/app:pull,push repository:team/app:delete"]);
    let issued = tokens.issue(&principal, "harbor-registry", &scopes).await?;
    for a in &issued.access {
        println!("granted {}:{}: {:?}", a.kind, a.name, a.actions);
    }
    let claims = tokens.verify(&issued.token, Expiry::Enforce)?;
    println!(
        "token for {:?}, audience {:?}, expires in {} s",
        claims.sub, claims.aud, issued.expires_in
    );
    if claims.access.first().map(|a| a.actions.clone())
        != Some(vec![ScopeAction::Pull, ScopeAction::Push])
    {
        return Err("a developer should get pull and push, not delete".into());
    }
    println!("OK");
    Ok(())
}
