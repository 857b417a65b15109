-- Fixed-window rate-limit counters (`/register`, sign-in), shared by every instance on this
-- database. `bucket` is "<limiter>:<client address>"; rows are purged an hour after their
-- window started.
CREATE TABLE rate_limits (
    bucket       TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL
);
