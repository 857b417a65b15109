-- Server-wide secrets generated on first start (the cookie HMAC key when none is configured).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
