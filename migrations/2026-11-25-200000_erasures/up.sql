-- Erasures (DELETE /api/v1/users/{id}), so that every instance drops the erased user from its
-- in-memory sticky cache at its next refresh. Only the 128-bit hash the caches are keyed by is
-- kept, never the user id, and rows are deleted a day later by the retention task.
CREATE TABLE erasures (
    id          BIGSERIAL PRIMARY KEY,
    user_key    BYTEA NOT NULL CHECK (length(user_key) = 16),
    erased_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX erasures_erased_at ON erasures (erased_at);
