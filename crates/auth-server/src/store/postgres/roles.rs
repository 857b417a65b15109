//! The storage traits on PostgreSQL: the shared statements (`store/queries.rs`) on the pool,
//! multi-statement writes in a transaction. Single-use holds under READ COMMITTED through
//! conditional updates and the grant row lock (see each statement's note).

use async_trait::async_trait;
use sqlx::PgConnection;

use super::{PgStore, execute, fetch_all, fetch_opt};
use crate::store::queries::{self as q, Row as _, params};
use crate::store::{
    AccessTokenRecord, AuthorizationCodeRecord, AuthorizationCodes, ClientRecord, ClientRegistry,
    CodeRedemption, Consents, GrantRecord, Grants, Issued, RateLimits, RefreshTokenRecord,
    Rotation, ServerSecrets, SigningKeyRecord, SigningKeys, StoreResult, UserRecord, Users,
};

#[async_trait]
impl ClientRegistry for PgStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        execute(&self.pool, q::INSERT_CLIENT, &q::client_params(client)).await?;
        Ok(())
    }

    async fn upsert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        execute(&self.pool, q::UPSERT_CLIENT, &q::client_params(client)).await?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        fetch_opt(&self.pool, q::GET_CLIENT, &params![client_id], |r| {
            q::client_from_row(r)
        })
        .await
    }

    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()> {
        execute(&self.pool, q::TOUCH_CLIENT, &params![client_id, now]).await?;
        Ok(())
    }

    async fn reap_unused_clients(&self, created_before: i64) -> StoreResult<u64> {
        execute(&self.pool, q::REAP_CLIENTS, &params![created_before]).await
    }
}

/// Stores what a redemption or rotation issued (in its transaction).
async fn store_issued(
    conn: &mut PgConnection,
    refresh: Option<&RefreshTokenRecord>,
    predecessor: Option<&str>,
    access: &AccessTokenRecord,
) -> StoreResult<()> {
    if let Some(refresh) = refresh {
        execute(
            &mut *conn,
            q::INSERT_REFRESH,
            &q::refresh_params(refresh, predecessor),
        )
        .await?;
    }
    execute(conn, q::INSERT_ACCESS, &q::access_params(access)).await?;
    Ok(())
}

#[async_trait]
impl AuthorizationCodes for PgStore {
    async fn insert_code(&self, code: &AuthorizationCodeRecord) -> StoreResult<()> {
        execute(&self.pool, q::INSERT_CODE, &q::code_params(code)).await?;
        Ok(())
    }

    async fn find_code(&self, code_digest: &str) -> StoreResult<CodeRedemption> {
        let found = fetch_opt(&self.pool, q::FIND_CODE, &params![code_digest], |r| {
            q::code_state_from_row(r)
        })
        .await?;
        Ok(found.unwrap_or(CodeRedemption::Unknown))
    }

    async fn redeem_code(
        &self,
        code_digest: &str,
        now: i64,
        issued: &Issued,
    ) -> StoreResult<CodeRedemption> {
        // Whoever sees the code spent also finds the grant to revoke: the winner creates it
        // in the transaction that spends the code.
        let mut tx = self.pool.begin().await?;
        let spent = fetch_opt(&mut *tx, q::SPEND_CODE, &params![code_digest, now], |r| {
            q::code_from_row(r)
        })
        .await?;
        if let Some(code) = spent {
            execute(
                &mut *tx,
                q::INSERT_GRANT_OF_CODE,
                &q::grant_of_code_params(&code, now),
            )
            .await?;
            store_issued(
                &mut tx,
                issued.refresh_token.as_ref(),
                None,
                &issued.access_token,
            )
            .await?;
            tx.commit().await?;
            return Ok(CodeRedemption::Fresh(Box::new(code)));
        }
        tx.rollback().await?;
        let grant = fetch_opt(&self.pool, q::CODE_GRANT, &params![code_digest], |r| {
            r.text("grant_id")
        })
        .await?;
        Ok(q::replayed_or_unknown(grant))
    }

    async fn purge_codes(&self, before: i64) -> StoreResult<u64> {
        execute(&self.pool, q::PURGE_CODES, &params![before]).await
    }
}

#[async_trait]
impl Grants for PgStore {
    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        fetch_opt(&self.pool, q::GET_GRANT, &params![grant_id], |r| {
            q::grant_from_row(r)
        })
        .await
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<()> {
        execute(&self.pool, q::REVOKE_GRANT, &params![grant_id, now]).await?;
        Ok(())
    }

    async fn get_refresh_token(
        &self,
        digest: &str,
    ) -> StoreResult<Option<(RefreshTokenRecord, GrantRecord)>> {
        fetch_opt(&self.pool, q::GET_REFRESH, &params![digest], |r| {
            q::refresh_and_grant_from_row(r)
        })
        .await
    }

    async fn rotate_refresh_token(
        &self,
        old_digest: &str,
        successor: &RefreshTokenRecord,
        access_token: &AccessTokenRecord,
        now: i64,
        grace_seconds: i64,
    ) -> StoreResult<Rotation> {
        let old = params![old_digest];
        let mut tx = self.pool.begin().await?;
        // The grant row lock first: the reads below see every committed successor and a
        // revocation that committed first. A revoked grant's tokens are all spent.
        let Some(grant_revoked) = fetch_opt(&mut *tx, q::LOCK_GRANT_OF_REFRESH, &old, |r| {
            r.opt_int("revoked_at")
        })
        .await?
        else {
            return Ok(Rotation::Unknown);
        };
        if grant_revoked.is_some() {
            return Ok(Rotation::Reused);
        }
        let spend = params![old_digest, now, &successor.token_digest];
        if execute(&mut *tx, q::MARK_ROTATED, &spend).await? == 1 {
            store_issued(&mut tx, Some(successor), Some(old_digest), access_token).await?;
            tx.commit().await?;
            return Ok(Rotation::Rotated);
        }
        let Some(grace_replay) = fetch_opt(&mut *tx, q::REFRESH_STATE, &old, |r| {
            q::grace_replay(r, now, grace_seconds)
        })
        .await?
        else {
            return Ok(Rotation::Unknown);
        };
        // The client lost the response: replace the unused successor, once per token.
        let Some(revoke_successor) = grace_replay else {
            return Ok(Rotation::Reused);
        };
        if execute(&mut *tx, revoke_successor, &spend[..2]).await? == 0 {
            return Ok(Rotation::Reused);
        }
        execute(&mut *tx, q::SPEND_GRACE, &spend).await?;
        store_issued(&mut tx, Some(successor), Some(old_digest), access_token).await?;
        tx.commit().await?;
        Ok(Rotation::GraceReplay)
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<Option<(bool, String)>> {
        fetch_opt(&self.pool, q::ACCESS_TOKEN_STATE, &params![jti], |r| {
            q::access_state_from_row(r)
        })
        .await
    }

    async fn revoke_access_token(&self, jti: &str, now: i64) -> StoreResult<()> {
        execute(&self.pool, q::REVOKE_ACCESS, &params![jti, now]).await?;
        Ok(())
    }

    async fn purge_tokens(&self, now: i64) -> StoreResult<u64> {
        Ok(execute(&self.pool, q::PURGE_ACCESS, &params![now]).await?
            + execute(&self.pool, q::PURGE_REFRESH, &params![now]).await?
            + execute(&self.pool, q::PURGE_EMPTY_GRANTS, &[]).await?)
    }
}

#[async_trait]
impl Consents for PgStore {
    async fn get_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<String>> {
        fetch_opt(
            &self.pool,
            q::GET_CONSENT,
            &params![user_id, client_id, resource],
            |r| r.text("scope"),
        )
        .await
    }

    async fn put_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        execute(
            &self.pool,
            q::PUT_CONSENT,
            &params![user_id, client_id, resource, scope, now],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Users for PgStore {
    async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        fetch_opt(&self.pool, q::GET_USER_BY_NAME, &params![username], |r| {
            q::user_from_row(r)
        })
        .await
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        fetch_opt(&self.pool, q::GET_USER, &params![user_id], |r| {
            q::user_from_row(r)
        })
        .await
    }

    async fn upsert_user(&self, user: &UserRecord) -> StoreResult<()> {
        execute(&self.pool, q::UPSERT_USER, &q::user_params(user)).await?;
        Ok(())
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        fetch_all(&self.pool, q::LIST_USERS, &[], q::user_from_row).await
    }

    async fn delete_user(&self, username: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(user_id) = fetch_opt(&mut *tx, q::DELETE_USER, &params![username], |r| {
            r.text("user_id")
        })
        .await?
        else {
            return Ok(false);
        };
        execute(&mut *tx, q::REVOKE_USER_GRANTS, &params![&user_id, now]).await?;
        execute(&mut *tx, q::DELETE_USER_CONSENTS, &params![&user_id]).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl SigningKeys for PgStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        fetch_all(&self.pool, q::LIST_KEYS, &[], q::key_from_row).await
    }

    async fn rotate_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        execute(&mut *tx, q::RETIRE_KEYS, &params![now]).await?;
        execute(&mut *tx, q::INSERT_KEY, &q::key_params(key)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_first_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        Ok(execute(&self.pool, q::INSERT_FIRST_KEY, &q::key_params(key)).await? == 1)
    }

    async fn purge_keys(&self, retired_before: i64) -> StoreResult<u64> {
        execute(&self.pool, q::PURGE_KEYS, &params![retired_before]).await
    }
}

#[async_trait]
impl RateLimits for PgStore {
    async fn rate_limit_hit(
        &self,
        bucket: &str,
        now: i64,
        window_seconds: i64,
    ) -> StoreResult<(i64, i64)> {
        let hit = fetch_opt(
            &self.pool,
            q::RATE_LIMIT_HIT,
            &params![bucket, now, window_seconds],
            q::rate_limit_from_row,
        )
        .await?;
        q::expect_row(hit, q::RATE_LIMIT_HIT)
    }

    async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64> {
        execute(&self.pool, q::PURGE_RATE_LIMITS, &params![before]).await
    }
}

#[async_trait]
impl ServerSecrets for PgStore {
    async fn secret_or_insert(&self, name: &str, candidate: &str, now: i64) -> StoreResult<String> {
        execute(&self.pool, q::INSERT_SECRET, &params![name, candidate, now]).await?;
        let value = fetch_opt(&self.pool, q::GET_SECRET, &params![name], |r| {
            r.text("value")
        })
        .await?;
        q::expect_row(value, q::GET_SECRET)
    }
}
