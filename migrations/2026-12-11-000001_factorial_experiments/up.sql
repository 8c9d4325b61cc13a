-- Factorial experiments: kind 'factorial', whose factors (JSON, as the API takes them) have
-- cells stored as ordinary variants; and the policy that allocates new users, which for 'ab'
-- and 'bandit' experiments is their kind.
ALTER TABLE experiments DROP CONSTRAINT experiments_kind_check;
ALTER TABLE experiments
    ADD CONSTRAINT experiments_kind_check CHECK (kind IN ('ab', 'bandit', 'factorial'));
ALTER TABLE experiments ADD COLUMN policy TEXT;
UPDATE experiments SET policy = kind;
ALTER TABLE experiments
    ALTER COLUMN policy SET NOT NULL,
    ADD CONSTRAINT experiments_policy_check CHECK (policy IN ('ab', 'bandit')),
    ADD CONSTRAINT experiments_policy_of_kind CHECK (kind = 'factorial' OR policy = kind);
ALTER TABLE experiments ADD COLUMN factors JSONB NOT NULL DEFAULT '[]';
