//! First start: the administrator account and the public `library` project.

use harbor_core::{ErrorCode, IdentityStore, NewUser};

use crate::error::AuthError;
use crate::password::{hash_password, random_secret};

/// What [`bootstrap`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The administrator's password when it was generated here, to be shown
    /// once; `None` when it came from the caller or the admin already existed.
    pub generated_admin_password: Option<String>,
    /// Whether the `admin` user was created now.
    pub created_admin: bool,
}

/// Makes sure `admin` (a system administrator) and the public project
/// `library` exist. The admin's password is `admin_password` (Harbor's
/// `HARBOR_ADMIN_PASSWORD`) or, if none is given, a random one returned to be
/// printed once. There is no default password.
pub async fn bootstrap(
    store: &dyn IdentityStore,
    admin_password: Option<&str>,
) -> Result<Bootstrap, AuthError> {
    let mut result = Bootstrap {
        generated_admin_password: None,
        created_admin: false,
    };
    let admin = match store.user_by_name("admin").await? {
        Some(u) => u,
        None => {
            let password = match admin_password {
                Some(p) => p.to_owned(),
                None => {
                    let p = random_secret(12)?;
                    result.generated_admin_password = Some(p.clone());
                    p
                }
            };
            let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|e| {
                    AuthError::crypto_because("hashing the password did not finish", e)
                })??;
            let created = store
                .create_user(&NewUser {
                    username: "admin".into(),
                    email: String::new(),
                    realname: "system admin".into(),
                    comment: "admin user".into(),
                    password_hash,
                    sysadmin: true,
                })
                .await;
            match created {
                Ok(u) => {
                    result.created_admin = true;
                    u
                }
                // Another instance of a cluster, starting at the same time
                // over the same database, created it first: its password
                // holds, ours was never stored.
                Err(e) if e.code() == ErrorCode::Conflict => {
                    result.generated_admin_password = None;
                    store.user_by_name("admin").await?.ok_or(e)?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if store.project_by_name("library").await?.is_none() {
        match store.create_project("library", true, admin.id).await {
            Ok(_) => {}
            Err(e) if e.code() == ErrorCode::Conflict => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(result)
}
