"""Orchestrated workflows that compose the functions under ``src/``."""
