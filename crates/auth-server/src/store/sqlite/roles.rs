//! The storage traits on SQLite: reads inline on a reader, each write one job (one
//! transaction) on the writer thread. The statements are the shared ones
//! (`store/queries.rs`).

use async_trait::async_trait;
use rusqlite::Connection;

use super::SqliteStore;
use super::sql::{execute, query_all, query_opt};
use crate::store::queries::{self as q, Row as _, params};
use crate::store::{
    AccessTokenRecord, AuthorizationCodeRecord, AuthorizationCodes, ClientRecord, ClientRegistry,
    CodeRedemption, Consents, GrantRecord, Grants, Issued, RateLimits, RefreshTokenRecord,
    Rotation, ServerSecrets, SigningKeyRecord, SigningKeys, StoreResult, UserRecord, Users,
};

#[async_trait]
impl ClientRegistry for SqliteStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.writer
            .write(move |tx| execute(tx, q::INSERT_CLIENT, &q::client_params(&client)))
            .await?;
        Ok(())
    }

    async fn upsert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.writer
            .write(move |tx| execute(tx, q::UPSERT_CLIENT, &q::client_params(&client)))
            .await?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        self.readers.read(|c| {
            query_opt(c, q::GET_CLIENT, &params![client_id], |r| {
                q::client_from_row(r)
            })
        })
    }

    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()> {
        let client_id = client_id.to_owned();
        self.writer
            .write(move |tx| execute(tx, q::TOUCH_CLIENT, &params![&client_id, now]))
            .await?;
        Ok(())
    }

    async fn reap_unused_clients(&self, created_before: i64) -> StoreResult<u64> {
        self.writer
            .write(move |tx| execute(tx, q::REAP_CLIENTS, &params![created_before]))
            .await
    }
}

/// Stores what a redemption or rotation issued (in its transaction).
fn store_issued(
    tx: &Connection,
    refresh: Option<&RefreshTokenRecord>,
    predecessor: Option<&str>,
    access: &AccessTokenRecord,
) -> StoreResult<()> {
    if let Some(refresh) = refresh {
        execute(
            tx,
            q::INSERT_REFRESH,
            &q::refresh_params(refresh, predecessor),
        )?;
    }
    execute(tx, q::INSERT_ACCESS, &q::access_params(access))?;
    Ok(())
}

/// The whole redemption, in the writer's transaction: spend the code, create its grant and
/// store the tokens; or, if it was spent, name the grant to revoke.
fn redeem(
    tx: &Connection,
    code_digest: &str,
    now: i64,
    issued: &Issued,
) -> StoreResult<CodeRedemption> {
    let spent = query_opt(tx, q::SPEND_CODE, &params![code_digest, now], |r| {
        q::code_from_row(r)
    })?;
    if let Some(code) = spent {
        execute(
            tx,
            q::INSERT_GRANT_OF_CODE,
            &q::grant_of_code_params(&code, now),
        )?;
        store_issued(
            tx,
            issued.refresh_token.as_ref(),
            None,
            &issued.access_token,
        )?;
        return Ok(CodeRedemption::Fresh(Box::new(code)));
    }
    let grant = query_opt(tx, q::CODE_GRANT, &params![code_digest], |r| {
        r.text("grant_id")
    })?;
    Ok(q::replayed_or_unknown(grant))
}

#[async_trait]
impl AuthorizationCodes for SqliteStore {
    async fn insert_code(&self, code: &AuthorizationCodeRecord) -> StoreResult<()> {
        let code = code.clone();
        self.writer
            .write(move |tx| execute(tx, q::INSERT_CODE, &q::code_params(&code)))
            .await?;
        Ok(())
    }

    async fn find_code(&self, code_digest: &str) -> StoreResult<CodeRedemption> {
        let found = self.readers.read(|c| {
            query_opt(c, q::FIND_CODE, &params![code_digest], |r| {
                q::code_state_from_row(r)
            })
        })?;
        Ok(found.unwrap_or(CodeRedemption::Unknown))
    }

    async fn redeem_code(
        &self,
        code_digest: &str,
        now: i64,
        issued: &Issued,
    ) -> StoreResult<CodeRedemption> {
        let (code_digest, issued) = (code_digest.to_owned(), issued.clone());
        self.writer
            .write(move |tx| redeem(tx, &code_digest, now, &issued))
            .await
    }

    async fn purge_codes(&self, before: i64) -> StoreResult<u64> {
        self.writer
            .write(move |tx| execute(tx, q::PURGE_CODES, &params![before]))
            .await
    }
}

/// What a rotation stores, moved to the writer thread.
struct RotationJob {
    old_digest: String,
    successor: RefreshTokenRecord,
    access_token: AccessTokenRecord,
    now: i64,
    grace_seconds: i64,
}

impl RotationJob {
    /// The whole rotation, in the writer's transaction (see `Grants::rotate_refresh_token`).
    fn run(&self, tx: &Connection) -> StoreResult<Rotation> {
        let old = params![&self.old_digest];
        // A revoked grant's tokens are all spent.
        let Some(grant_revoked) = query_opt(tx, q::LOCK_GRANT_OF_REFRESH, &old, |r| {
            r.opt_int("revoked_at")
        })?
        else {
            return Ok(Rotation::Unknown);
        };
        if grant_revoked.is_some() {
            return Ok(Rotation::Reused);
        }
        let spend = params![&self.old_digest, self.now, &self.successor.token_digest];
        if execute(tx, q::MARK_ROTATED, &spend)? == 1 {
            self.store(tx)?;
            return Ok(Rotation::Rotated);
        }
        let Some(grace_replay) = query_opt(tx, q::REFRESH_STATE, &old, |r| {
            q::grace_replay(r, self.now, self.grace_seconds)
        })?
        else {
            return Ok(Rotation::Unknown);
        };
        // The client lost the response: replace the unused successor, once per token.
        let Some(revoke_successor) = grace_replay else {
            return Ok(Rotation::Reused);
        };
        if execute(tx, revoke_successor, &spend[..2])? == 0 {
            return Ok(Rotation::Reused);
        }
        execute(tx, q::SPEND_GRACE, &spend)?;
        self.store(tx)?;
        Ok(Rotation::GraceReplay)
    }

    fn store(&self, tx: &Connection) -> StoreResult<()> {
        store_issued(
            tx,
            Some(&self.successor),
            Some(&self.old_digest),
            &self.access_token,
        )
    }
}

#[async_trait]
impl Grants for SqliteStore {
    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        self.readers.read(|c| {
            query_opt(c, q::GET_GRANT, &params![grant_id], |r| {
                q::grant_from_row(r)
            })
        })
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<()> {
        let grant_id = grant_id.to_owned();
        self.writer
            .write(move |tx| execute(tx, q::REVOKE_GRANT, &params![&grant_id, now]))
            .await?;
        Ok(())
    }

    async fn get_refresh_token(
        &self,
        digest: &str,
    ) -> StoreResult<Option<(RefreshTokenRecord, GrantRecord)>> {
        self.readers.read(|c| {
            query_opt(c, q::GET_REFRESH, &params![digest], |r| {
                q::refresh_and_grant_from_row(r)
            })
        })
    }

    async fn rotate_refresh_token(
        &self,
        old_digest: &str,
        successor: &RefreshTokenRecord,
        access_token: &AccessTokenRecord,
        now: i64,
        grace_seconds: i64,
    ) -> StoreResult<Rotation> {
        let job = RotationJob {
            old_digest: old_digest.to_owned(),
            successor: successor.clone(),
            access_token: access_token.clone(),
            now,
            grace_seconds,
        };
        self.writer.write(move |tx| job.run(tx)).await
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<Option<(bool, String)>> {
        self.readers.read(|c| {
            query_opt(c, q::ACCESS_TOKEN_STATE, &params![jti], |r| {
                q::access_state_from_row(r)
            })
        })
    }

    async fn revoke_access_token(&self, jti: &str, now: i64) -> StoreResult<()> {
        let jti = jti.to_owned();
        self.writer
            .write(move |tx| execute(tx, q::REVOKE_ACCESS, &params![&jti, now]))
            .await?;
        Ok(())
    }

    async fn purge_tokens(&self, now: i64) -> StoreResult<u64> {
        self.writer
            .write(move |tx| {
                Ok(execute(tx, q::PURGE_ACCESS, &params![now])?
                    + execute(tx, q::PURGE_REFRESH, &params![now])?
                    + execute(tx, q::PURGE_EMPTY_GRANTS, &[])?)
            })
            .await
    }
}

#[async_trait]
impl Consents for SqliteStore {
    async fn get_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<String>> {
        self.readers.read(|c| {
            query_opt(
                c,
                q::GET_CONSENT,
                &params![user_id, client_id, resource],
                |r| r.text("scope"),
            )
        })
    }

    async fn put_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        let owned = [user_id, client_id, resource, scope].map(str::to_owned);
        self.writer
            .write(move |tx| {
                let [user_id, client_id, resource, scope] = &owned;
                execute(
                    tx,
                    q::PUT_CONSENT,
                    &params![user_id, client_id, resource, scope, now],
                )
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Users for SqliteStore {
    async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.readers.read(|c| {
            query_opt(c, q::GET_USER_BY_NAME, &params![username], |r| {
                q::user_from_row(r)
            })
        })
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        self.readers
            .read(|c| query_opt(c, q::GET_USER, &params![user_id], |r| q::user_from_row(r)))
    }

    async fn upsert_user(&self, user: &UserRecord) -> StoreResult<()> {
        let user = user.clone();
        self.writer
            .write(move |tx| execute(tx, q::UPSERT_USER, &q::user_params(&user)))
            .await?;
        Ok(())
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.readers
            .read(|c| query_all(c, q::LIST_USERS, &[], |r| q::user_from_row(r)))
    }

    async fn delete_user(&self, username: &str, now: i64) -> StoreResult<bool> {
        let username = username.to_owned();
        self.writer
            .write(move |tx| {
                let Some(user_id) = query_opt(tx, q::DELETE_USER, &params![&username], |r| {
                    r.text("user_id")
                })?
                else {
                    return Ok(false);
                };
                execute(tx, q::REVOKE_USER_GRANTS, &params![&user_id, now])?;
                execute(tx, q::DELETE_USER_CONSENTS, &params![&user_id])?;
                Ok(true)
            })
            .await
    }
}

#[async_trait]
impl SigningKeys for SqliteStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.readers
            .read(|c| query_all(c, q::LIST_KEYS, &[], |r| q::key_from_row(r)))
    }

    async fn rotate_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()> {
        let key = key.clone();
        self.writer
            .write(move |tx| {
                execute(tx, q::RETIRE_KEYS, &params![now])?;
                execute(tx, q::INSERT_KEY, &q::key_params(&key))
            })
            .await?;
        Ok(())
    }

    async fn insert_first_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        let key = key.clone();
        self.writer
            .write(move |tx| execute(tx, q::INSERT_FIRST_KEY, &q::key_params(&key)))
            .await
            .map(|stored| stored == 1)
    }

    async fn purge_keys(&self, retired_before: i64) -> StoreResult<u64> {
        self.writer
            .write(move |tx| execute(tx, q::PURGE_KEYS, &params![retired_before]))
            .await
    }
}

#[async_trait]
impl RateLimits for SqliteStore {
    async fn rate_limit_hit(
        &self,
        bucket: &str,
        now: i64,
        window_seconds: i64,
    ) -> StoreResult<(i64, i64)> {
        let bucket = bucket.to_owned();
        let hit = self
            .writer
            .write(move |tx| {
                query_opt(
                    tx,
                    q::RATE_LIMIT_HIT,
                    &params![&bucket, now, window_seconds],
                    |r| q::rate_limit_from_row(r),
                )
            })
            .await?;
        q::expect_row(hit, q::RATE_LIMIT_HIT)
    }

    async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64> {
        self.writer
            .write(move |tx| execute(tx, q::PURGE_RATE_LIMITS, &params![before]))
            .await
    }
}

#[async_trait]
impl ServerSecrets for SqliteStore {
    async fn secret_or_insert(&self, name: &str, candidate: &str, now: i64) -> StoreResult<String> {
        let (name, candidate) = (name.to_owned(), candidate.to_owned());
        // One job: the insert and the read see the same state.
        let value = self
            .writer
            .write(move |tx| {
                execute(tx, q::INSERT_SECRET, &params![&name, &candidate, now])?;
                query_opt(tx, q::GET_SECRET, &params![&name], |r| r.text("value"))
            })
            .await?;
        q::expect_row(value, q::GET_SECRET)
    }
}
