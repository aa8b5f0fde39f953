"""Shared fixtures: the Iris frame, configuration files to break, and isolated MLflow stores.

Every MLflow test gets its own SQLite store under pytest's tmp_path through
``MLFLOW_TRACKING_URI`` (which wins over configs/environment.yaml), so no
test touches the developer's ``mlflow.db``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src.data.load_data import load_bundled_iris
from src.utils.config import CONFIG_DIR


@pytest.fixture(scope="session")
def iris_frame() -> pd.DataFrame:
    """The bundled Iris data with the project's column names (do not mutate: copy first)."""
    return load_bundled_iris()


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a shipped config with some keys changed: ``write_config("model_config.yaml", {...})``."""

    def write(name: str, changes: dict | None = None, *, raw: str | None = None) -> Path:
        path = tmp_path / name
        if raw is not None:
            path.write_text(raw, encoding="utf-8")
            return path
        content = yaml.safe_load((CONFIG_DIR / name).read_text(encoding="utf-8"))
        _deep_update(content, changes or {})
        path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return write


def _deep_update(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, not yet created SQLite store that every command in the test uses."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("ML_ENV", raising=False)
    monkeypatch.delenv("UNITY_CATALOG_NAME", raising=False)
    yield uri
