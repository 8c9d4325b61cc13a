-- The latest moments of each (user, event name), for behavioral windows shorter than a day
-- (domain::profile): parallel arrays in write order, at most 32 long (the oldest cut off
-- first); recent_since is the latest time of a moment cut off (NULL while none was), so a
-- window starting after it is exact.
ALTER TABLE profile_events
    ADD COLUMN recent_at     TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    ADD COLUMN recent_counts INT4[]        NOT NULL DEFAULT '{}',
    ADD COLUMN recent_sums   FLOAT8[]      NOT NULL DEFAULT '{}',
    ADD COLUMN recent_since  TIMESTAMPTZ;
