"""Configuration, naming conventions, logging and MLflow tracking helpers."""
