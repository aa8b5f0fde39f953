"""Versioned feature definitions and the builder that computes a configured feature set.

Kept free of heavy imports: this package travels inside the logged model.
"""
