-- Webhooks: receivers of signed JSON deliveries for the events they subscribe to. A deleted
-- webhook keeps its row (deleted_at, secret wiped) so that its deliveries stay readable.
CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT[] NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);
CREATE INDEX webhooks_events ON webhooks USING gin (events) WHERE deleted_at IS NULL;

-- A delivery queued is a row (durable across restarts); due ones are claimed with
-- FOR UPDATE SKIP LOCKED. next_attempt_at is NULL once delivered or given up.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    event TEXT NOT NULL,
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_attempt_at TIMESTAMPTZ DEFAULT now(),
    attempts INT NOT NULL DEFAULT 0,
    last_status INT,
    last_error TEXT,
    delivered_at TIMESTAMPTZ,
    given_up_at TIMESTAMPTZ
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id DESC);

-- Every attempt of a delivery: when, the answer's status (none when no answer came), why
-- it failed, how long it took.
CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status INT,
    error TEXT,
    duration_ms INT NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
