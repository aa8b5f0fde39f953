"""Tests, mirroring the source tree: unit/ for pure code, integration/ for real MLflow stores."""
