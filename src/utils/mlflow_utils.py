"""Tracking-side MLflow access: store set-up, experiments, runs, artifacts, logged models.

With the registry module, the only place that talks to MLflow: a change of
backend (SQLite, a tracking server, Databricks) touches configuration, not code.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import mlflow
import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import register_dataset_source
from mlflow.entities import Run
from mlflow.models import ModelSignature, infer_signature
from mlflow.models.model import ModelInfo

from src.utils.config import Settings


def configure_tracking(settings: Settings) -> None:
    """Point MLflow at the profile's tracking store and registry."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri)


def ensure_experiment(name: str, artifact_location: str | None, tags: Mapping[str, str]) -> str:
    """Return the experiment's ID, creating it (with its artifact location) on first use."""
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifact_location, tags=dict(tags)))


def pinned_requirements(packages: Sequence[str]) -> list[str]:
    """``name==version`` for each package as installed now.

    Passing explicit requirements skips MLflow's inference (several seconds per
    model) and pins exactly what the model was trained with.
    """
    return [f"{package}=={metadata.version(package)}" for package in packages]


@contextmanager
def tracked_run(experiment_id: str, run_name: str, tags: Mapping[str, str]) -> Iterator[Run]:
    """Start a run; on an exception it ends FAILED, so no half-logged run looks finished."""
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags)) as run:
        yield run


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params(dict(params))


def log_metrics(metrics: Mapping[str, float]) -> None:
    mlflow.log_metrics(dict(metrics))


def log_bytes(content: bytes, artifact_file: str) -> None:
    """Log already-rendered content (e.g. a PNG) under ``artifact_file``."""
    path = Path(artifact_file)
    with tempfile.TemporaryDirectory() as directory:
        local = Path(directory) / path.name
        local.write_bytes(content)
        mlflow.log_artifact(str(local), artifact_path=str(path.parent) if path.parent.parts else None)


def log_text(text: str, artifact_file: str) -> None:
    mlflow.log_text(text, artifact_file)


def log_dict(content: Mapping[str, Any], artifact_file: str) -> None:
    mlflow.log_dict(dict(content), artifact_file)


class SqlTableSource(DatasetSource):
    """A table in a SQL database (``postgresql://host/db?table=name``): MLflow ships no source type for one.

    Used for training rows read from a feature store whose offline store is
    PostgreSQL. ``load`` copies the table to a Parquet file, as MLflow's HTTP
    source downloads its file. A password in the URI is never recorded.
    """

    def __init__(self, uri: str) -> None:
        self._uri = uri

    @property
    def uri(self) -> str:
        return self._uri

    @staticmethod
    def _get_source_type() -> str:
        return "sql_table"

    def load(self, dst_path: str | None = None) -> str:
        import sqlalchemy

        parts = urlsplit(self._uri)
        query = parse_qs(parts.query)
        table = query.pop("table")[-1]
        # the other parameters (sslmode...) stay with the connection; the fragment is lineage only
        location = parts._replace(query=urlencode(query, doseq=True), fragment="").geturl()
        url = "postgresql+psycopg://" + location.split("://", 1)[1]
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                frame = pd.read_sql_table(table, connection)
        finally:
            engine.dispose()
        path = Path(dst_path or tempfile.mkdtemp()) / f"{table}.parquet"
        frame.to_parquet(path, index=False)
        return str(path)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        if not isinstance(raw_source, str):
            return False
        parts = urlsplit(raw_source)
        return parts.scheme == "postgresql" and "table" in parse_qs(parts.query)

    @classmethod
    def _resolve(cls, raw_source: Any) -> SqlTableSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[Any, Any]:
        parts = urlsplit(self._uri)
        if parts.password is not None:
            return {"uri": parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()}
        return {"uri": self._uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> SqlTableSource:
        return cls(source_dict["uri"])


register_dataset_source(SqlTableSource)


def log_dataset(frame: pd.DataFrame, *, source_uri: str, digest: str, name: str, target: str, context: str) -> None:
    """Record the data set as a run input (lineage: source, digest, schema, row count)."""
    source: str | DatasetSource = SqlTableSource(source_uri) if SqlTableSource._can_resolve(source_uri) else source_uri
    with warnings.catch_warnings():
        # A file URI matches both the "" and "file" local sources; MLflow picks the same class either way.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(frame, source=source, targets=target, name=name, digest=digest)
    mlflow.log_input(dataset, context=context)


def signature_for(inputs: pd.DataFrame, outputs: Any) -> ModelSignature:
    """A full signature (inputs and outputs), as Unity Catalog requires."""
    return infer_signature(inputs, outputs)


def log_sklearn_model(
    model: Any,
    *,
    signature: ModelSignature,
    input_example: pd.DataFrame,
    pip_requirements: Sequence[str],
    code_paths: Sequence[Path],
    trusted_types: Sequence[str],
    metadata: Mapping[str, Any],
) -> ModelInfo:
    """Log a scikit-learn model, skops-serialized (no pickle), with its code and pinned requirements."""
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        input_example=input_example,
        pip_requirements=list(pip_requirements),
        code_paths=[str(path) for path in code_paths],
        serialization_format="skops",
        skops_trusted_types=list(trusted_types),
        metadata=dict(metadata),
    )


def run_url(settings: Settings, experiment_id: str, run_id: str) -> str:
    """Where to look at a run: the server's page, or the UI command for an embedded store."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"make ui, then http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}"
