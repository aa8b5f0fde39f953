"""Monitoring of served models: reference profiles, windows of the inference log, drift, reports and alerts.

Only the CLI (scripts/monitor_model.py) and training (which logs the reference profile) import it; the
endpoint's request path does not.
"""
