ALTER TABLE profile_events
    DROP COLUMN recent,
    DROP COLUMN recent_since;
