-- At most one active (unretired) signing key, even when several instances start at once or
-- rotate concurrently: the second writer gets a unique violation instead of a second
-- active key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
