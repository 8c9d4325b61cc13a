DROP TABLE dashboard_secret;
