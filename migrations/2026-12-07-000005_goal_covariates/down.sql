DROP TABLE goal_covariates;
