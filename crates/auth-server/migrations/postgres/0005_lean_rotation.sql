-- A rotated refresh token names its successor (`successor_digest`, set in the same row
-- update that marks it rotated), so the grace-period replay finds the successor by primary
-- key. A token whose one grace replay is spent is marked revoked.
--
-- Additive on PostgreSQL: the indexes on `predecessor_digest` and `grant_id` stay, so
-- instances of the previous version keep their indexed statements during a roll-out, and a
-- token such an instance rotates (no `successor_digest`) is still replayed through
-- `predecessor_digest`. (The SQLite migration drops them: one process writes there, and each
-- index page a rotation touches is the single writer's cost.)
--
-- Only tokens rotated in the last hour can still be replayed (the grace period is at most
-- 300 s), so only those are filled in: an upgrade does not rewrite the whole table. A token
-- without `successor_digest` is still replayed through `predecessor_digest` (see
-- `REVOKE_SUCCESSOR_BY_PREDECESSOR`).
ALTER TABLE refresh_tokens ADD COLUMN successor_digest TEXT;
UPDATE refresh_tokens SET revoked_at = rotated_at
    WHERE rotated_at >= CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) - 3600 AND revoked_at IS NULL
      AND (SELECT COUNT(*) FROM refresh_tokens s
           WHERE s.predecessor_digest = refresh_tokens.token_digest) > 1;
UPDATE refresh_tokens SET successor_digest = (
        SELECT s.token_digest FROM refresh_tokens s
        WHERE s.predecessor_digest = refresh_tokens.token_digest)
    WHERE rotated_at >= CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) - 3600 AND revoked_at IS NULL;
