DROP TABLE context_stats;
ALTER TABLE assignments DROP COLUMN context_key;
ALTER TABLE experiments DROP COLUMN context;
