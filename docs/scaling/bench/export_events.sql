\set u random(1, 9)
SELECT e.event_id, e.user_id, e.name, e.value, e.occurred_at, e.received_at, a.variant_id, a.assigned_at FROM events e JOIN assignments a ON a.user_id = e.user_id AND a.experiment_id = 1 WHERE e.name = 'open' AND e.user_id >= 'u-' || :u AND (e.user_id > 'u-' || :u OR e.event_id > '') ORDER BY e.user_id, e.event_id LIMIT 10000;
