DROP TABLE profile_events;
