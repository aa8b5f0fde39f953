"""Training, registry operations and validation of the species classifier."""
