-- Refuses while factorial experiments exist (the release before cannot read them): stop and
-- delete them first.
ALTER TABLE experiments DROP COLUMN factors;
ALTER TABLE experiments DROP COLUMN policy;
ALTER TABLE experiments DROP CONSTRAINT experiments_kind_check;
ALTER TABLE experiments ADD CONSTRAINT experiments_kind_check CHECK (kind IN ('ab', 'bandit'));
