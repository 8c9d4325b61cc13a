-- Per-key rate limits: requests per second; NULL = no limit of the key's own (the server's
-- default, if any, applies). last_used_at: to the minute, written by the instances off the
-- request path.
ALTER TABLE api_keys
    ADD COLUMN rate_limit DOUBLE PRECISION CHECK (rate_limit IS NULL OR rate_limit > 0),
    ADD COLUMN last_used_at TIMESTAMPTZ;

-- Who changed what, when, with the state before and after. Rows are only ever appended.
-- actor: "key:<id> (<name>)", "env:admin", "dashboard:<key id>" or "cli"; action: e.g.
-- experiment.create, experiment.patch, experiment.start, key.revoke, user.erase;
-- target: what was acted on (an experiment key, a key id, a user id).
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    before  JSONB,
    after   JSONB
);
CREATE INDEX audit_log_at ON audit_log (at, id);

-- Append-only: changing or deleting an entry is refused (by anyone short of dropping the
-- trigger, which itself shows in the database's own logs).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
