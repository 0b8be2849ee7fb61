//! Users onboarded from an OpenID Connect provider (`oidc_users`), for the
//! `IdentityStore` of `PgStore`.

use harbor_core::{NewOidcUser, NewUser, OidcUser, Result, User};
use tokio_postgres::Row;

use super::identity::insert_user;
use super::{from_ms, pg, PgStore};
use crate::error::{pg_conflict, StorageError};

const OIDC_COLUMNS: &str = "id, user_id, issuer, subject, secret, token, created_at, updated_at";

fn oidc_row(r: &Row) -> Result<OidcUser, StorageError> {
    Ok(OidcUser {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        issuer: r.try_get(2)?,
        subject: r.try_get(3)?,
        secret: r.try_get(4)?,
        token: r.try_get(5)?,
        created_at: from_ms(r.try_get(6)?),
        updated_at: from_ms(r.try_get(7)?),
    })
}

impl PgStore {
    pub(super) async fn oidc_create(
        &self,
        u: &NewUser,
        l: &NewOidcUser,
    ) -> Result<(User, OidcUser)> {
        let insert_link = format!(
            "INSERT INTO oidc_users (user_id, issuer, subject, secret, token, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, harbor_now_ms(), harbor_now_ms()) RETURNING {OIDC_COLUMNS}"
        );
        pg!(self, write, |tx| {
            let user = insert_user(&tx, u).await?;
            let st = tx.prepare_cached(&insert_link).await?;
            let row = tx
                .query_one(&st, &[&user.id, &l.issuer, &l.subject, &l.secret, &l.token])
                .await
                .map_err(|e| {
                    pg_conflict(e, || "the provider account is already onboarded".into())
                })?;
            (user, oidc_row(&row)?)
        })
    }

    pub(super) async fn oidc_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<OidcUser>> {
        let sql =
            format!("SELECT {OIDC_COLUMNS} FROM oidc_users WHERE issuer = $1 AND subject = $2");
        self.read_one(sql, &[&issuer, &subject], oidc_row).await
    }

    pub(super) async fn oidc_by_user(&self, user_id: i64) -> Result<Option<OidcUser>> {
        let sql = format!("SELECT {OIDC_COLUMNS} FROM oidc_users WHERE user_id = $1");
        self.read_one(sql, &[&user_id], oidc_row).await
    }

    pub(super) async fn oidc_set_secret(&self, user_id: i64, secret: &str) -> Result<bool> {
        self.touched(
            "UPDATE oidc_users SET secret = $2, updated_at = harbor_now_ms() WHERE user_id = $1",
            &[&user_id, &secret],
        )
        .await
    }

    pub(super) async fn oidc_set_token(&self, user_id: i64, token: &str) -> Result<bool> {
        self.touched(
            "UPDATE oidc_users SET token = $2, updated_at = harbor_now_ms() WHERE user_id = $1",
            &[&user_id, &token],
        )
        .await
    }
}
