DROP TABLE audit_log;
ALTER TABLE api_keys DROP COLUMN rate_limit, DROP COLUMN last_used_at;
