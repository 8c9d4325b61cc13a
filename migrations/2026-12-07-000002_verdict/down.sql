ALTER TABLE experiments DROP COLUMN minimum_effect, DROP COLUMN min_runtime_seconds;
