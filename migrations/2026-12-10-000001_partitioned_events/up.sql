-- Events partitioned by the day they happened (issue 15, "tables that stay fast"): retention
-- drops a whole day's partition instead of deleting rows one by one, and a query bounded in
-- time reads only its days.
--
-- One partition per UTC day, `events_pYYYYMMDD` for [day, day + 1), created ahead by the
-- server (`store::partitions`, at start-up and in the retention tick, 7 days ahead). The
-- DEFAULT partition `events_default` takes rows no daily partition covers (old client
-- timestamps, rows older than the days created here); its index on occurred_at serves the
-- retention's deletes there and is nearly free (few rows go there).
--
-- Dedupe: every partition (the default too) carries UNIQUE (user_id, event_id) of its own
-- and the insert says ON CONFLICT DO NOTHING without a target, so a retry that lands in the
-- same partition is a duplicate, decided by the unique index even when two instances insert
-- it at the same moment. PostgreSQL would only allow a key over the whole table if it held
-- the partition key too, (user_id, event_id, occurred_at), which cannot see a retry stamped
-- by the server at another time (and two indexes per row would slow intake); so the parent
-- carries no key. A retry whose copy lies in the previous day's partition is found by a
-- probe in the insert (`store::batch::insert_events`). Identifiers still compare byte-wise
-- (COLLATE "C", see the first migration).
--
-- The rows move in this migration's transaction; it fails (and changes nothing) unless
-- every row arrived.

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
-- Retention goes by partitions (and by occurred_at in the default) now: no reader is left
-- for the BRIN on arrival time, and it would cost every insert a little.
DROP INDEX events_received;

CREATE TABLE events (
    user_id         TEXT COLLATE "C" NOT NULL,
    event_id        TEXT COLLATE "C" NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    value           DOUBLE PRECISION,
    occurred_at     TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

DO $$
DECLARE
    today    date := (now() AT TIME ZONE 'UTC')::date;
    day      date;
    expected bigint;
    moved    bigint;
    part     regclass;
BEGIN
    -- A daily partition for every day of the last 400 with rows, and today and the next 7;
    -- older rows (and rows further ahead) go to the default partition.
    FOR day IN
        SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM events_unpartitioned
        WHERE occurred_at >= ((today - 400)::text || ' 00:00:00+00')::timestamptz
          AND occurred_at < ((today + 8)::text || ' 00:00:00+00')::timestamptz
        UNION
        SELECT today + n FROM generate_series(0, 7) AS n
        ORDER BY 1
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
            'events_p' || to_char(day, 'YYYYMMDD'),
            day::text || ' 00:00:00+00',
            (day + 1)::text || ' 00:00:00+00');
    END LOOP;

    SELECT count(*) INTO expected FROM events_unpartitioned;
    INSERT INTO events (user_id, event_id, name, value, occurred_at, received_at)
        SELECT user_id, event_id, name, value, occurred_at, received_at FROM events_unpartitioned;
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> expected OR (SELECT count(*) FROM events) <> expected THEN
        RAISE EXCEPTION 'partitioning events: % rows to move, % moved; nothing changed', expected, moved;
    END IF;

    -- The unique indexes after the rows (building an index is faster than growing it row by
    -- row). The old key guarantees no partition holds a (user, event id) twice. Each also
    -- identifies rows for logical replication (a replica, Citus moving a shard), as the old
    -- primary key did.
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass LOOP
        EXECUTE format('ALTER TABLE %s ADD UNIQUE (user_id, event_id)', part);
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %I', part, part::text || '_user_id_event_id_key');
    END LOOP;
END
$$;

CREATE INDEX events_default_occurred ON events_default (occurred_at);

DROP TABLE events_unpartitioned;
