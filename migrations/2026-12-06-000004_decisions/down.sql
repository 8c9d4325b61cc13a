DROP TABLE experiment_decisions;
