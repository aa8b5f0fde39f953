"""Training, registry operations and validation of the model."""
