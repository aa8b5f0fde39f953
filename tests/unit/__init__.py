"""Unit tests: configuration, naming, data, features and model code, no MLflow store."""
