-- The secret that signs dashboard session cookies and CSRF tokens. One row, shared by every
-- instance, so a session started on one instance is valid on all of them. The first instance
-- that needs it inserts a random value (ON CONFLICT DO NOTHING keeps the first one).
CREATE TABLE dashboard_secret (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    secret      BYTEA NOT NULL CHECK (length(secret) >= 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Sessions signed out before they expired. A session cookie is otherwise valid until its
-- expiry; listing its nonce here ends it on every instance. Rows past expires_at are useless
-- and are deleted whenever someone signs out.
CREATE TABLE dashboard_signed_out (
    nonce       TEXT PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);
