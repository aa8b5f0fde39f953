"""Shared by the benchmarks: a freshly trained, registered model in a temporary store."""

from __future__ import annotations

import os
from pathlib import Path


def train_into(store_dir: Path) -> str:
    """Train and register the default model into a SQLite store under ``store_dir``; return its URI."""
    uri = f"sqlite:///{store_dir / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    from pipelines.training_pipeline import run_training
    from src.models.training_plan import TrainingRequest

    return run_training(TrainingRequest(version="1.0.0", context="bench")).registered.name
