"""Governance enforced by the servers: rights on MLflow, the alias guard, Unity Catalog grants, the model card."""
