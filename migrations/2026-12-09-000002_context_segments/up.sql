-- Segments as a contextual experiment's context (domain::experiment, context_segments).
ALTER TABLE experiments ADD COLUMN context_segments TEXT[] NOT NULL DEFAULT '{}';
