//! The SQL shared by every backend, written once as a macro and expanded per backend
//! (`sqlite.rs`, `postgres.rs`): the statements use `$n` placeholders, `BIGINT` Unix seconds,
//! `TEXT` ids, `ON CONFLICT` and `RETURNING`, which SQLite and PostgreSQL both accept.

/// Implements every storage trait for `$store` on database `$db`, with row type `$row` and
/// connection type `$conn`. `$store` has two pools: `pool` for reads and `writer` for every
/// statement that writes (SQLite: one connection, see `sqlite.rs`; PostgreSQL: the same pool).
macro_rules! sql_store {
    ($store:ident, $name:literal, $db:ty, $row:ty, $conn:ty) => {
        use anyhow::Context as _;
        use async_trait::async_trait;
        use sqlx::Row as _;

        use $crate::store::{
            AccessTokenRecord, AuthorizationCodeRecord, AuthorizationCodes, ClientRecord,
            ClientRegistry, ClientSource, CodeRedemption, Consents, GrantRecord, Grants, Issued,
            RateLimits, RefreshTokenRecord, Rotation, ServerSecrets, SigningKeyRecord, SigningKeys,
            StoreResult, UserRecord, Users,
        };

        #[async_trait]
        impl $crate::store::Lifecycle for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            fn max_connections(&self) -> u32 {
                self.pool.options().get_max_connections()
            }

            async fn close(&self) {
                self.pool.close().await;
                self.writer.close().await;
            }
        }

        impl $store {
    /// Runs the migrations not yet recorded in `schema_migrations`, each in its own
    /// transaction, on one connection (PostgreSQL holds an advisory lock on it, so instances
    /// starting together migrate one after the other).
    async fn migrate_on(
        conn: &mut $conn,
        migrations: &[(i64, &'static str)],
    ) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *conn)
        .await
        .context("could not create schema_migrations")?;
        for (version, sql) in migrations {
            let mut tx = conn.begin().await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_some() {
                continue;
            }
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("migration {version} failed"))?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, "applied database migration");
        }
        Ok(())
    }

        }

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned())
}

fn client_from_row(row: &$row) -> StoreResult<ClientRecord> {
    let list = |col: &str| -> StoreResult<Vec<String>> {
        let s: String = row.try_get(col)?;
        serde_json::from_str(&s).map_err(|e| anyhow::Error::new(e).into())
    };
    let metadata: String = row.try_get("metadata")?;
    let source: String = row.try_get("source")?;
    Ok(ClientRecord {
        client_id: row.try_get("client_id")?,
        secret_hash: row.try_get("secret_hash")?,
        auth_method: row.try_get("auth_method")?,
        redirect_uris: list("redirect_uris")?,
        grant_types: list("grant_types")?,
        client_name: row.try_get("client_name")?,
        metadata: serde_json::from_str(&metadata).map_err(anyhow::Error::new)?,
        source: ClientSource::parse(&source),
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, auth_method, redirect_uris, grant_types, client_name, metadata, source, created_at, last_used_at";

fn bind_client<'q>(
    q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
    c: &'q ClientRecord,
) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
    q.bind(&c.client_id)
        .bind(&c.secret_hash)
        .bind(&c.auth_method)
        .bind(json_list(&c.redirect_uris))
        .bind(json_list(&c.grant_types))
        .bind(&c.client_name)
        .bind(c.metadata.to_string())
        .bind(c.source.as_str())
        .bind(c.created_at)
        .bind(c.last_used_at)
}

#[async_trait]
impl ClientRegistry for $store {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        bind_client(sqlx::query(sqlx::AssertSqlSafe(sql)), client)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn upsert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (client_id) DO UPDATE SET secret_hash = excluded.secret_hash,
               auth_method = excluded.auth_method, redirect_uris = excluded.redirect_uris,
               grant_types = excluded.grant_types, client_name = excluded.client_name,
               metadata = excluded.metadata, source = excluded.source"
        );
        bind_client(sqlx::query(sqlx::AssertSqlSafe(sql)), client)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn touch_client(&self, client_id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE clients SET last_used_at = $2 WHERE client_id = $1")
            .bind(client_id)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn reap_unused_clients(&self, created_before: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM clients WHERE source = 'dynamic' AND last_used_at IS NULL AND created_at < $1",
        )
        .bind(created_before)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}

fn code_from_row(row: &$row) -> StoreResult<AuthorizationCodeRecord> {
    Ok(AuthorizationCodeRecord {
        code_digest: row.try_get("code_digest")?,
        grant_id: row.try_get("grant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        effective_redirect_uri: row.try_get("effective_redirect_uri")?,
        code_challenge: row.try_get("code_challenge")?,
        resource: row.try_get("resource")?,
        scope: row.try_get("scope")?,
        auth_time: row.try_get("auth_time")?,
        expires_at: row.try_get("expires_at")?,
    })
}

#[async_trait]
impl AuthorizationCodes for $store {
    async fn insert_code(&self, c: &AuthorizationCodeRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_digest, grant_id, client_id, user_id, redirect_uri,
               effective_redirect_uri, code_challenge, resource, scope, auth_time, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.code_digest)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(&c.effective_redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.resource)
        .bind(&c.scope)
        .bind(c.auth_time)
        .bind(c.expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_code(&self, code_digest: &str) -> StoreResult<CodeRedemption> {
        let row = sqlx::query(
            "SELECT code_digest, grant_id, client_id, user_id, redirect_uri, effective_redirect_uri,
               code_challenge, resource, scope, auth_time, expires_at, redeemed_at
             FROM authorization_codes WHERE code_digest = $1",
        )
        .bind(code_digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(CodeRedemption::Unknown);
        };
        let redeemed_at: Option<i64> = row.try_get("redeemed_at")?;
        let code = code_from_row(&row)?;
        Ok(match redeemed_at {
            Some(_) => CodeRedemption::Replayed {
                grant_id: code.grant_id,
            },
            None => CodeRedemption::Fresh(Box::new(code)),
        })
    }

    async fn redeem_code(
        &self,
        code_digest: &str,
        now: i64,
        issued: &Issued,
    ) -> StoreResult<CodeRedemption> {
        // One conditional UPDATE: exactly one concurrent caller can flip redeemed_at from
        // NULL (PostgreSQL re-checks the condition after waiting for the row lock). Its grant
        // and tokens are created in the same transaction, so whoever sees the code spent also
        // finds the grant to revoke.
        let mut tx = self.writer.begin().await?;
        let row = sqlx::query(
            "UPDATE authorization_codes SET redeemed_at = $2
             WHERE code_digest = $1 AND redeemed_at IS NULL
             RETURNING code_digest, grant_id, client_id, user_id, redirect_uri,
               effective_redirect_uri, code_challenge, resource, scope, auth_time, expires_at",
        )
        .bind(code_digest)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let code = code_from_row(&row)?;
            sqlx::query(
                "INSERT INTO grants (grant_id, client_id, user_id, resource, scope, auth_time, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (grant_id) DO NOTHING",
            )
            .bind(&code.grant_id)
            .bind(&code.client_id)
            .bind(&code.user_id)
            .bind(&code.resource)
            .bind(&code.scope)
            .bind(code.auth_time)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(refresh) = &issued.refresh_token {
                insert_refresh(&mut tx, refresh, None).await?;
            }
            insert_access(&mut tx, &issued.access_token).await?;
            tx.commit().await?;
            return Ok(CodeRedemption::Fresh(Box::new(code)));
        }
        tx.rollback().await?;
        let grant: Option<String> =
            sqlx::query_scalar("SELECT grant_id FROM authorization_codes WHERE code_digest = $1")
                .bind(code_digest)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match grant {
            Some(grant_id) => CodeRedemption::Replayed { grant_id },
            None => CodeRedemption::Unknown,
        })
    }

    async fn purge_codes(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

fn grant_from_row(row: &$row) -> StoreResult<GrantRecord> {
    Ok(GrantRecord {
        grant_id: row.try_get("grant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        resource: row.try_get("resource")?,
        scope: row.try_get("scope")?,
        auth_time: row.try_get("auth_time")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

async fn insert_refresh(
    conn: &mut $conn,
    t: &RefreshTokenRecord,
    predecessor: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_digest, grant_id, predecessor_digest, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&t.token_digest)
    .bind(&t.grant_id)
    .bind(predecessor)
    .bind(t.issued_at)
    .bind(t.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_access(conn: &mut $conn, t: &AccessTokenRecord) -> StoreResult<()> {
    sqlx::query("INSERT INTO access_tokens (jti, grant_id, expires_at) VALUES ($1, $2, $3)")
        .bind(&t.jti)
        .bind(&t.grant_id)
        .bind(t.expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

#[async_trait]
impl Grants for $store {
    async fn insert_grant(&self, g: &GrantRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO grants (grant_id, client_id, user_id, resource, scope, auth_time, created_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&g.grant_id)
        .bind(&g.client_id)
        .bind(&g.user_id)
        .bind(&g.resource)
        .bind(&g.scope)
        .bind(g.auth_time)
        .bind(g.created_at)
        .bind(g.revoked_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_grant(&self, grant_id: &str) -> StoreResult<Option<GrantRecord>> {
        let row = sqlx::query(
            "SELECT grant_id, client_id, user_id, resource, scope, auth_time, created_at, revoked_at
             FROM grants WHERE grant_id = $1",
        )
        .bind(grant_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        for sql in [
            // The grant row first: the lock order every family-wide write follows.
            "UPDATE grants SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
        ] {
            sqlx::query(sql)
                .bind(grant_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        insert_refresh(&mut conn, t, None).await
    }

    async fn get_refresh_token(&self, digest: &str) -> StoreResult<Option<RefreshTokenRecord>> {
        let row = sqlx::query(
            "SELECT token_digest, grant_id, issued_at, expires_at, rotated_at, revoked_at
             FROM refresh_tokens WHERE token_digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let rotated_at: Option<i64> = row.try_get("rotated_at")?;
        Ok(Some(RefreshTokenRecord {
            token_digest: row.try_get("token_digest")?,
            grant_id: row.try_get("grant_id")?,
            issued_at: row.try_get("issued_at")?,
            expires_at: row.try_get("expires_at")?,
            // A revoked token is reported as rotated at its revocation time, so callers treat
            // it as spent.
            rotated_at: rotated_at.or(revoked_at),
        }))
    }

    async fn rotate_refresh_token(
        &self,
        old_digest: &str,
        successor: &RefreshTokenRecord,
        access_token: &AccessTokenRecord,
        now: i64,
        grace_seconds: i64,
    ) -> StoreResult<Rotation> {
        let mut tx = self.writer.begin().await?;
        // Lock the family's grant row first: rotations and revocations of one family run one
        // after the other on every backend (PostgreSQL: a row lock held to commit; SQLite: the
        // write lock), so the reads below see every committed successor and a revocation
        // that committed first. A revoked grant's tokens are all spent.
        let grant = sqlx::query(
            "UPDATE grants SET revoked_at = revoked_at
             WHERE grant_id = (SELECT grant_id FROM refresh_tokens WHERE token_digest = $1)
             RETURNING revoked_at",
        )
        .bind(old_digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(grant) = grant else {
            return Ok(Rotation::Unknown);
        };
        if grant.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Ok(Rotation::Reused);
        }
        let won = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2
             WHERE token_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(old_digest)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            insert_refresh(&mut tx, successor, Some(old_digest)).await?;
            insert_access(&mut tx, access_token).await?;
            tx.commit().await?;
            return Ok(Rotation::Rotated);
        }
        let row = sqlx::query(
            "SELECT rotated_at, revoked_at FROM refresh_tokens WHERE token_digest = $1",
        )
        .bind(old_digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Unknown);
        };
        let rotated_at: Option<i64> = row.try_get("rotated_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        // grace 0 = no grace at all, not "within the same second".
        let in_grace = grace_seconds > 0
            && revoked_at.is_none()
            && rotated_at.is_some_and(|at| now.saturating_sub(at) <= grace_seconds);
        if !in_grace {
            return Ok(Rotation::Reused);
        }
        // The client lost the response: replace the unused successor, once per token.
        let successors: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE predecessor_digest = $1")
                .bind(old_digest)
                .fetch_one(&mut *tx)
                .await?;
        if successors != 1 {
            return Ok(Rotation::Reused);
        }
        let replaced = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2
             WHERE predecessor_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL",
        )
        .bind(old_digest)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if replaced == 0 {
            return Ok(Rotation::Reused);
        }
        insert_refresh(&mut tx, successor, Some(old_digest)).await?;
        insert_access(&mut tx, access_token).await?;
        tx.commit().await?;
        Ok(Rotation::GraceReplay)
    }

    async fn insert_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await?;
        insert_access(&mut conn, t).await
    }

    async fn access_token_revoked(&self, jti: &str) -> StoreResult<Option<(bool, String)>> {
        let row = sqlx::query(
            "SELECT a.revoked_at AS token_revoked, g.revoked_at AS grant_revoked, a.grant_id AS grant_id
             FROM access_tokens a LEFT JOIN grants g ON g.grant_id = a.grant_id WHERE a.jti = $1",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token: Option<i64> = row.try_get("token_revoked")?;
        let grant: Option<i64> = row.try_get("grant_revoked")?;
        let grant_id: String = row.try_get("grant_id")?;
        Ok(Some((token.is_some() || grant.is_some(), grant_id)))
    }

    async fn revoke_access_token(&self, jti: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE access_tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL",
        )
        .bind(jti)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn purge_tokens(&self, now: i64) -> StoreResult<u64> {
        let mut total = 0;
        for sql in [
            "DELETE FROM access_tokens WHERE expires_at < $1",
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM grants WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.grant_id)
               AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.grant_id)
               AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = grants.grant_id)",
        ] {
            total += sqlx::query(sql)
                .bind(now)
                .execute(&self.writer)
                .await?
                .rows_affected();
        }
        Ok(total)
    }
}

#[async_trait]
impl Consents for $store {
    async fn get_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2 AND resource = $3",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(resource)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn put_consent(
        &self,
        user_id: &str,
        client_id: &str,
        resource: &str,
        scope: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, resource, scope, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, client_id, resource) DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(resource)
        .bind(scope)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

fn user_from_row(row: &$row) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        role: row.try_get("role")?,
        scopes: row.try_get("scopes")?,
        display_name: row.try_get("display_name")?,
    })
}

#[async_trait]
impl Users for $store {
    async fn get_user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT user_id, username, password_hash, role, scopes, display_name FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT user_id, username, password_hash, role, scopes, display_name FROM users WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows = sqlx::query(
            "SELECT user_id, username, password_hash, role, scopes, display_name FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn delete_user(&self, username: &str, now: i64) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await?;
        let user_id: Option<String> =
            sqlx::query_scalar("DELETE FROM users WHERE username = $1 RETURNING user_id")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(user_id) = user_id else {
            return Ok(false);
        };
        // Grants first, then their tokens: the lock order of revoke_grant and rotations.
        for sql in [
            "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND grant_id IN (SELECT grant_id FROM grants WHERE user_id = $1)",
            "UPDATE access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND grant_id IN (SELECT grant_id FROM grants WHERE user_id = $1)",
        ] {
            sqlx::query(sql).bind(&user_id).bind(now).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM consents WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn upsert_user(&self, u: &UserRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, role, scopes, display_name)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
               role = excluded.role, scopes = excluded.scopes, display_name = excluded.display_name",
        )
        .bind(&u.user_id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.role)
        .bind(&u.scopes)
        .bind(&u.display_name)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl SigningKeys for $store {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, pkcs8, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: row.try_get("kid")?,
                    algorithm: row.try_get("algorithm")?,
                    pkcs8_base64: row.try_get("pkcs8")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect()
    }

    async fn rotate_key(&self, key: &SigningKeyRecord, now: i64) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, pkcs8, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.pkcs8_base64)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_first_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        // The partial unique index signing_keys_one_active turns a concurrent first insert
        // into a conflict, which DO NOTHING turns into "not stored".
        let done = sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, pkcs8, created_at)
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
             ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.pkcs8_base64)
        .bind(key.created_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_keys(&self, retired_before: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
        )
        .bind(retired_before)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl RateLimits for $store {
    async fn rate_limit_hit(
        &self,
        bucket: &str,
        now: i64,
        window_seconds: i64,
    ) -> StoreResult<(i64, i64)> {
        // One upsert: concurrent hits (at any instance) serialise on the row.
        let row = sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1)
             ON CONFLICT (bucket) DO UPDATE SET
               hits = CASE WHEN rate_limits.window_start > $2 - $3 THEN rate_limits.hits + 1 ELSE 1 END,
               window_start = CASE WHEN rate_limits.window_start > $2 - $3 THEN rate_limits.window_start ELSE $2 END
             RETURNING hits, window_start",
        )
        .bind(bucket)
        .bind(now)
        .bind(window_seconds)
        .fetch_one(&self.writer)
        .await?;
        Ok((row.try_get("hits")?, row.try_get("window_start")?))
    }

    async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ServerSecrets for $store {
    async fn secret_or_insert(&self, name: &str, candidate: &str, now: i64) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

    };
}

pub(crate) use sql_store;
