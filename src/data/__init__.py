"""Loading and validating raw data."""
