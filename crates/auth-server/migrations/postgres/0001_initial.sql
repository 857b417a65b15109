-- auth-server schema, version 1 (PostgreSQL; kept statement-for-statement equal to the SQLite file).
-- Portable on purpose: TEXT ids, BIGINT Unix seconds, no backend-specific types, so the
-- PostgreSQL migrations can mirror this file.

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   TEXT,
    auth_method   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    client_name   TEXT,
    metadata      TEXT NOT NULL,
    source        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    scopes        TEXT,
    display_name  TEXT
);

CREATE TABLE authorization_codes (
    code_digest            TEXT PRIMARY KEY,
    grant_id               TEXT NOT NULL,
    client_id              TEXT NOT NULL,
    user_id                TEXT NOT NULL,
    redirect_uri           TEXT,
    effective_redirect_uri TEXT NOT NULL,
    code_challenge         TEXT NOT NULL,
    resource               TEXT NOT NULL,
    scope                  TEXT NOT NULL,
    auth_time              BIGINT NOT NULL,
    expires_at             BIGINT NOT NULL,
    redeemed_at            BIGINT
);

CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    resource   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE refresh_tokens (
    token_digest       TEXT PRIMARY KEY,
    grant_id           TEXT NOT NULL,
    predecessor_digest TEXT,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    rotated_at         BIGINT,
    revoked_at         BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_predecessor ON refresh_tokens (predecessor_digest);

CREATE TABLE access_tokens (
    jti        TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    resource   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, resource)
);

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    pkcs8      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
