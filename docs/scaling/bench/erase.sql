\set u random(1, 1000000)
BEGIN;
LOCK TABLE events IN SHARE MODE;
DELETE FROM assignments WHERE user_id = 'u-' || :u RETURNING experiment_id, variant_id, assigned_at, converted_at, value, context_key, counted_value;
DELETE FROM events WHERE user_id = 'u-' || :u;
DELETE FROM holdout_users WHERE user_id = 'u-' || :u;
SELECT v.experiment_id, v.metric_id, v.value, m.type FROM metric_values v JOIN tracked_metrics tm ON tm.experiment_id = v.experiment_id AND tm.metric_id = v.metric_id JOIN metrics m ON m.id = v.metric_id WHERE v.user_id = 'u-' || :u;
DELETE FROM metric_values WHERE user_id = 'u-' || :u;
DELETE FROM metric_covariates WHERE user_id = 'u-' || :u;
DELETE FROM profile_events WHERE user_id = 'u-' || :u;
ROLLBACK;
