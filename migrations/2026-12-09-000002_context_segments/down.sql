ALTER TABLE experiments DROP COLUMN context_segments;
