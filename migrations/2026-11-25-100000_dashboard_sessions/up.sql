-- The secret that signs dashboard session cookies and CSRF tokens. One row, shared by every
-- instance, so a session started on one instance is valid on all of them. The first instance
-- that needs it inserts a random value (ON CONFLICT DO NOTHING keeps the first one).
CREATE TABLE dashboard_secret (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    secret      BYTEA NOT NULL CHECK (length(secret) >= 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
