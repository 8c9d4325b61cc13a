ALTER TABLE variants DROP COLUMN dropped_at;
