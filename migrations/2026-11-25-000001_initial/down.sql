DROP TABLE api_keys;
DROP TABLE events;
DROP TABLE assignments;
DROP TABLE period_stats;
DROP TABLE variant_stats;
DROP TABLE variants;
DROP TABLE experiments;
