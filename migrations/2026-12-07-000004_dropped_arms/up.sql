-- A bandit arm that a `drop` guardrail took out of the allocation: it gets no new users from
-- then on (its enrolled users keep it). Set once, by the firing's transaction; NULL while the
-- arm takes users.
ALTER TABLE variants ADD COLUMN dropped_at TIMESTAMPTZ;
