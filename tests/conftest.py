"""Shared fixtures: the Iris frame, configuration files to break, and isolated MLflow stores.

Every MLflow test gets its own SQLite store under pytest's tmp_path through
``MLFLOW_TRACKING_URI`` (which wins over configs/environment.yaml), so no
test touches the developer's ``mlflow.db``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src.data.load_data import load_bundled_iris
from src.utils.config import CONFIG_DIR
from src.utils.processes import free_port  # noqa: F401 - tests import it from here

#: What MLflow's set_tracking_uri/set_registry_uri write into os.environ (for subprocesses), behind any monkeypatch.
MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _mlflow_uris_do_not_leak() -> Iterator[None]:
    """Put MLflow's URI variables back after each test: a command run in-process points MLflow at its profile's
    store and so writes them into the environment, where a later test (or a monkeypatch undo) would find them."""
    before = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


POSTGRES_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def require_service(name: str, probe) -> None:
    """Skip when a backing service is absent locally; under CI=true its absence is a failure."""
    try:
        probe()
    except Exception as exc:  # any connection error means the service is not usable
        message = f"{name} is not reachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(f"{message}; start it to run this test")


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The running PostgreSQL (trust auth), or a skip/fail naming what is missing."""
    import psycopg

    require_service("PostgreSQL at " + POSTGRES_DSN, lambda: psycopg.connect(POSTGRES_DSN, connect_timeout=3).close())
    return POSTGRES_DSN


@contextmanager
def fresh_database(postgres_dsn: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database on the running server, dropped (with its connections) afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The running Redis, or a skip/fail naming what is missing."""
    import redis

    require_service("Redis at " + REDIS_URL, lambda: redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping())
    return REDIS_URL


@contextmanager
def use_store(root: Path) -> Iterator[str]:
    """Point every MLflow call and command at a fresh SQLite store under ``root`` (a module's own store).

    Both URIs are set in the environment (which wins over configs/environment.yaml, and which
    subprocesses inherit) and in MLflow's process-wide state; the profile overrides are cleared.
    """
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    # MLflow's process-wide URIs are put back on exit too: a store used inside a test must not leak into the
    # module-scoped store of the tests that run after it (random order found it).
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_REGISTRY_URI", uri)
        for name in ("ML_ENV", "UNITY_CATALOG_NAME", "BUILD_ID", "GITHUB_RUN_ID"):
            patch.delenv(name, raising=False)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield uri
        finally:
            mlflow.set_tracking_uri(previous[0])
            mlflow.set_registry_uri(previous[1])


@pytest.fixture(scope="session")
def memory_scorer(iris_frame):
    """A Scorer over a Pipeline fitted here (no MLflow): for in-process tests of payloads, serving and batch."""
    from datetime import UTC, datetime

    from src.components.scoring import ModelHandle, Scorer
    from src.data.contract import RAW_FEATURE_COLUMNS, TARGET_COLUMN
    from src.models.classifier import build_model
    from src.utils.config import load_feature_config, load_model_config

    features = load_feature_config().features
    model = build_model(features, load_model_config().model, seed=0)
    model.fit(iris_frame.loc[:, list(RAW_FEATURE_COLUMNS)], iris_frame[TARGET_COLUMN])
    handle = ModelHandle(
        name="dev.ml_models.ds_iris_species_classifier",
        version="1",
        alias="dev",
        run_id="0" * 32,
        features=tuple(features),
        loaded_at=datetime.now(UTC),
        feature_set="iris_species_features:v1",
    )
    return Scorer(handle, model, RAW_FEATURE_COLUMNS)


def signed_webhook(payload: dict, secret: str) -> tuple[str, dict[str, str]]:
    """A registry webhook delivery as MLflow signs it (HMAC-SHA256 of ``delivery.timestamp.body``): body, headers."""
    body, delivery, stamp = json.dumps(payload), str(uuid.uuid4()), str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{delivery}.{stamp}.{body}".encode(), hashlib.sha256).digest()
    headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": stamp,
               "X-MLflow-Signature": "v1," + base64.b64encode(digest).decode()}  # fmt: skip
    return body, headers


def release_to_staging(version: str, author: str = "alice") -> str:
    """Train ``version`` on the current store, pass the validation gate, promote to @staging; the registry version.

    Imports the pipeline lazily: unit tests that never release do not pay for it.
    """
    from pipelines.training_pipeline import run_training
    from src.models.model_registry import Alias
    from src.models.model_validator import validate_version
    from src.models.promotion import promote
    from src.models.training_plan import TrainingRequest
    from src.utils.config import load_model_config, resolve_settings

    settings = resolve_settings()
    registered = run_training(TrainingRequest(version=version, author=author)).registered
    assert validate_version(settings, load_model_config(), version=registered.version).passed
    promote(settings, Alias.STAGING, actor=author)
    return registered.version
