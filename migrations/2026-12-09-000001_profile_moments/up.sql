-- The latest moments of each (user, event name), for behavioral windows shorter than a day
-- (domain::profile): one array of triples (epoch seconds, count, value sum) in write order,
-- at most 8 moments (24 elements) long, the oldest cut off first; recent_since is the latest
-- time (epoch seconds) of a moment cut off (NULL while none was), so a window starting after
-- it is exact. One array, not three: each write rebuilds it, and the profile write is the
-- cost tracking pays for profiles.
ALTER TABLE profile_events
    ADD COLUMN recent       FLOAT8[] NOT NULL DEFAULT '{}',
    ADD COLUMN recent_since FLOAT8;
