"""Monitoring of served models: reference profiles, windows of the inference log, drift, reports and alerts.

Only the CLI (scripts/monitor_model.py) imports it (the reference profile lives in src/data/profile.py); the
endpoint's request path does not.
"""
