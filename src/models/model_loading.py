"""Loading a registered model: its native scikit-learn object (skops, no pickle), its MLmodel metadata (the data
contract it was trained with), MLflow's pyfunc, a Spark UDF."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException

from src.models.model_registry import RegistryError, failure
from src.utils.keys import ModelMetadata

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class LoadedModel:
    """A model version's native object with what its MLmodel file says about it."""

    native: Any  # the fitted scikit-learn Pipeline
    input_names: tuple[str, ...]
    features: tuple[str, ...]
    feature_set: str | None
    #: The data contract logged with the version (``ModelMetadata.CONTRACT``), as data.
    contract: Mapping[str, Any] | None = None


def load_native_model(uri: str) -> LoadedModel:
    """Load ``uri`` with its flavour (skops, no pickle) and read its signature and metadata."""
    import mlflow.models
    import mlflow.sklearn

    try:
        native = mlflow.sklearn.load_model(uri)
        info = mlflow.models.get_model_info(uri)
    except MlflowException as exc:
        raise failure(f"cannot load {uri}", exc) from exc
    metadata = info.metadata or {}
    return LoadedModel(
        native=native,
        input_names=tuple(info.signature.inputs.input_names()) if info.signature else (),
        features=tuple(metadata.get(ModelMetadata.FEATURES, ())),
        feature_set=metadata.get(ModelMetadata.FEATURE_SET),
        contract=metadata.get(ModelMetadata.CONTRACT),
    )


def model_contract(uri: str) -> Mapping[str, Any]:
    """The data contract logged with a model version (its MLmodel metadata), without loading the model."""
    import mlflow.models

    try:
        metadata = mlflow.models.get_model_info(uri).metadata or {}
    except MlflowException as exc:
        raise failure(f"cannot read {uri}", exc) from exc
    contract = metadata.get(ModelMetadata.CONTRACT)
    if contract is None:
        raise RegistryError(f"{uri} carries no data contract (trained before contracts were logged): retrain it")
    return contract  # type: ignore[no-any-return]


def download_model(source: str, destination: Path) -> Path:
    """Copy a version's model directory (its ``source``) under ``destination``; return the local path."""
    import mlflow.artifacts

    try:
        return Path(mlflow.artifacts.download_artifacts(source, dst_path=str(destination)))
    except MlflowException as exc:
        raise failure(f"cannot download {source}", exc) from exc


def load_pyfunc(path: Path | str, *, check_environment: bool = True) -> PyFuncModel:
    """The model as MLflow's generic pyfunc (what ``mlflow models serve`` and evaluate use).

    ``check_environment=False`` skips MLflow's warning about pins this
    environment does not satisfy, for a caller that checks them itself: the
    warning indexes every installed distribution (~0.9 s on the first load).
    """
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path), suppress_warnings=not check_environment)


def spark_udf(spark: SparkSession, model_uri: str) -> Any:
    """The model as a Spark UDF (``mlflow.pyfunc.spark_udf``) predicting the class, in this environment."""
    import mlflow.pyfunc

    try:
        return mlflow.pyfunc.spark_udf(spark, model_uri=model_uri, result_type="string", env_manager="local")
    except MlflowException as exc:
        raise failure(f"cannot load {model_uri} on Spark", exc) from exc
