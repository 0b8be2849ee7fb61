//! Users onboarded from an OpenID Connect provider (`oidc_users`), for the
//! `IdentityStore` of `SqliteMetaStore`.

use harbor_core::{NewOidcUser, NewUser, OidcUser, Result, User};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::identity::{insert_user, user_by};
use super::{from_ms, now_ms, SqliteMetaStore};
use crate::error::{conflict_on_unique, StorageError};

const OIDC_COLUMNS: &str = "id, user_id, issuer, subject, secret, token, created_at, updated_at";

fn oidc_row(r: &Row<'_>) -> rusqlite::Result<OidcUser> {
    Ok(OidcUser {
        id: r.get(0)?,
        user_id: r.get(1)?,
        issuer: r.get(2)?,
        subject: r.get(3)?,
        secret: r.get(4)?,
        token: r.get(5)?,
        created_at: from_ms(r.get(6)?),
        updated_at: from_ms(r.get(7)?),
    })
}

fn oidc_by(
    c: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Option<OidcUser>, StorageError> {
    let sql = format!("SELECT {OIDC_COLUMNS} FROM oidc_users WHERE {filter}");
    Ok(c.prepare_cached(&sql)?
        .query_row(args, oidc_row)
        .optional()?)
}

impl SqliteMetaStore {
    pub(super) async fn oidc_create(
        &self,
        user: &NewUser,
        link: &NewOidcUser,
    ) -> Result<(User, OidcUser)> {
        let (u, l) = (user.clone(), link.clone());
        self.write_identity(move |tx| {
            let now = now_ms();
            let user_id = insert_user(tx, &u)?;
            tx.prepare_cached(
                "INSERT INTO oidc_users (user_id, issuer, subject, secret, token, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?
            .execute(params![user_id, l.issuer, l.subject, l.secret, l.token, now])
            .map_err(|e| conflict_on_unique(e, || "the provider account is already onboarded".into()))?;
            let user = user_by(tx, "id", &user_id)?
                .ok_or_else(|| StorageError::Corrupt("new user vanished".into()))?;
            let link = oidc_by(tx, "user_id = ?1", &[&user_id])?
                .ok_or_else(|| StorageError::Corrupt("new OIDC link vanished".into()))?;
            Ok((user, link))
        })
        .await
    }

    pub(super) async fn oidc_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<OidcUser>> {
        let (issuer, subject) = (issuer.to_owned(), subject.to_owned());
        self.call(move |c| oidc_by(c, "issuer = ?1 AND subject = ?2", &[&issuer, &subject]))
            .await
    }

    pub(super) async fn oidc_by_user(&self, user_id: i64) -> Result<Option<OidcUser>> {
        self.call(move |c| oidc_by(c, "user_id = ?1", &[&user_id]))
            .await
    }

    /// Sets `column` (`secret` or `token`) of user `user_id`'s link.
    pub(super) async fn oidc_set(
        &self,
        user_id: i64,
        column: &'static str,
        value: &str,
    ) -> Result<bool> {
        let value = value.to_owned();
        self.write(move |tx| {
            let sql =
                format!("UPDATE oidc_users SET {column} = ?2, updated_at = ?3 WHERE user_id = ?1");
            Ok(tx
                .prepare_cached(&sql)?
                .execute(params![user_id, value, now_ms()])?
                > 0)
        })
        .await
    }
}
