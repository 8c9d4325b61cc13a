ALTER TABLE profile_events
    DROP COLUMN recent_at,
    DROP COLUMN recent_counts,
    DROP COLUMN recent_sums,
    DROP COLUMN recent_since;
