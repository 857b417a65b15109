-- Leaner refresh-token rotation: each rotation touched five index pages at random places
-- (the SQLite writer's serial cost); three of those indexes go.
--
-- 1. A rotated token names its successor (`successor_digest`, set in the same row update
--    that marks it rotated), so the grace-period replay finds the successor by primary key
--    instead of through an index on `predecessor_digest`. A token whose one grace replay is
--    spent is marked revoked.
-- 2. A grant's revocation is its own row only: every read of a token joins its grant and
--    treats a revoked grant's tokens as revoked, so the token rows need no per-grant index.
--    The purge of empty grants uses set differences instead of per-grant lookups.
--
-- Only tokens rotated in the last hour can still be replayed (the grace period is at most
-- 300 s), so only those are filled in: an upgrade does not rewrite the whole table. A token
-- without `successor_digest` is still replayed through `predecessor_digest` (see
-- `REVOKE_SUCCESSOR_BY_PREDECESSOR`).
ALTER TABLE refresh_tokens ADD COLUMN successor_digest TEXT;
UPDATE refresh_tokens SET revoked_at = rotated_at
    WHERE rotated_at >= CAST(strftime('%s', 'now') AS INTEGER) - 3600 AND revoked_at IS NULL
      AND (SELECT COUNT(*) FROM refresh_tokens s
           WHERE s.predecessor_digest = refresh_tokens.token_digest) > 1;
UPDATE refresh_tokens SET successor_digest = (
        SELECT s.token_digest FROM refresh_tokens s
        WHERE s.predecessor_digest = refresh_tokens.token_digest)
    WHERE rotated_at >= CAST(strftime('%s', 'now') AS INTEGER) - 3600 AND revoked_at IS NULL;
DROP INDEX refresh_tokens_predecessor;
DROP INDEX refresh_tokens_grant;
DROP INDEX access_tokens_grant;
