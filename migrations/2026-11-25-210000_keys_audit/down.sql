DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
ALTER TABLE api_keys DROP COLUMN rate_limit, DROP COLUMN last_used_at;
