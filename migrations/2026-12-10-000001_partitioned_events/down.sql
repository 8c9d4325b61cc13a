-- Back to one table keyed by (user_id, event_id). Partitions may hold the same (user, event
-- id) on different days (a client retry with another timestamp); the earliest is kept.
ALTER TABLE events RENAME TO events_partitioned;

CREATE TABLE events (
    user_id         TEXT COLLATE "C" NOT NULL,
    event_id        TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    value           DOUBLE PRECISION,
    occurred_at     TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, event_id)
);

INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at)
    SELECT DISTINCT ON (user_id, event_id) user_id, event_id, name, value, occurred_at, received_at
    FROM events_partitioned
    ORDER BY user_id, event_id, occurred_at, received_at;

CREATE INDEX events_received ON events USING brin (received_at);

-- Drops every partition with it.
DROP TABLE events_partitioned;
