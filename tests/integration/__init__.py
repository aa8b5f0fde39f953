"""Integration tests: the real pipeline against real (temporary) MLflow stores."""
