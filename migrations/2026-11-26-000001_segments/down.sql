DROP TABLE holdout_users;
DROP TABLE holdout;
DROP INDEX experiments_layer;
ALTER TABLE experiments DROP COLUMN layer;
ALTER TABLE experiments DROP COLUMN rules;
DROP TABLE segments;
