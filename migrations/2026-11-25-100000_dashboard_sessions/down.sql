DROP TABLE dashboard_signed_out;
DROP TABLE dashboard_secret;
