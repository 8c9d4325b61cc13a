-- Profiles: what Posterior knows of each user from their events, one row per (user, event
-- name), updated in the transaction that stores the events (store/profiles.rs).
--
-- The rolling windows are read from daily buckets kept as three parallel arrays sorted by
-- day: bucket_days (days since 1970-01-01, UTC), day_counts, day_sums. Element 1 is a
-- sentinel (day 0, nothing counted) so that the arrays are never empty and width_bucket can
-- find a day's place by binary search. Only days with events take room, and a day that falls
-- 90 days behind the newest is cut off when a newer day is added, so a row stays small (a
-- user seen on 3 days: 4 elements each). Events older than 90 days count only in the
-- all-time figures (total_count, total_sum) and the hour-of-day histogram (hours[h + 1] =
-- events at hour h UTC), which never expire. A user's first and last seen are the least
-- first_at and the greatest last_at of their rows. The key starts with user_id (the Citus
-- distribution column).
CREATE TABLE profile_events (
    user_id      TEXT COLLATE "C" NOT NULL, -- byte-wise, as in events: opaque ids
    name         TEXT COLLATE "C" NOT NULL,
    first_at     TIMESTAMPTZ      NOT NULL,
    last_at      TIMESTAMPTZ      NOT NULL,
    total_count  BIGINT           NOT NULL,
    total_sum    DOUBLE PRECISION NOT NULL,
    bucket_days  INT4[]           NOT NULL,
    day_counts   INT4[]           NOT NULL,
    day_sums     FLOAT8[]         NOT NULL,
    hours        INT4[]           NOT NULL,
    PRIMARY KEY (user_id, name)
) WITH (fillfactor = 80); -- room on the page for in-place (HOT) updates
