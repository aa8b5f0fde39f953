"""The inference component: one code path from input columns to predicted classes, shared by batch and online.

``Scorer`` resolves ``models:/<name>@<alias>`` to a concrete version once,
loads it once, checks every input against the data contract the version was
trained with (logged with it) and returns predictions with class names and
probabilities.

What runs is the fitted pipeline itself: any preprocessing, any classifier.
Called row by row, a scikit-learn Pipeline spends most of its time in pandas
and input checks, so where the arithmetic is known exactly it is done in
NumPy instead, chosen when the model loads (``fast_path``):

- numeric features, ``StandardScaler``, multinomial ``LogisticRegression``:
  features, scaling and the softmax of the linear scores, all in NumPy;
- numeric features, ``StandardScaler``, any other classifier: features and
  scaling in NumPy, then the classifier's own ``predict_proba``.

Anything else calls ``pipeline.predict_proba`` on a DataFrame of the inputs.
``tests/unit/test_scoring.py`` proves each fast path equal to the pipeline on
random valid rows (hypothesis).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src.data.schema import DataContract, InputError, OutOfContract
from src.features.feature_builder import FeatureBuilder, FeatureValueError
from src.utils.logging import get_logger

if TYPE_CHECKING:
    from src.utils.config import Settings

logger = get_logger(__name__)

__all__ = [
    "Columns",
    "InputError",
    "ModelHandle",
    "OutOfContract",
    "Predictions",
    "Scorer",
    "load_guarded",
    "load_scorer",
]

#: Column arrays keyed by input column name: the form every input is turned into before scoring.
Columns = Mapping[str, np.ndarray]
Proba = Callable[[Columns], np.ndarray]


@dataclass(frozen=True)
class ModelHandle:
    """Which concrete version is being served, resolved once from an alias."""

    name: str
    version: str
    alias: str | None
    run_id: str | None
    features: tuple[str, ...]
    loaded_at: datetime
    #: The feature set the version was trained on (``name:vN``), as logged with the model.
    feature_set: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class Predictions:
    """Predicted class indices and class probabilities, row-aligned with the input."""

    indices: np.ndarray
    probabilities: np.ndarray
    classes: tuple[str, ...]

    @property
    def labels(self) -> np.ndarray:
        """Class names (an object array: build it only when names are needed)."""
        return np.asarray(self.classes, dtype=object)[self.indices]

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.probabilities, columns=[f"probability_{c}" for c in self.classes])
        frame.insert(0, "prediction", self.labels)
        return frame


def _linear_softmax(builder: FeatureBuilder, scaler: StandardScaler, classifier: LogisticRegression) -> Proba:
    mean, scale = np.asarray(scaler.mean_, dtype=np.float64), np.asarray(scaler.scale_, dtype=np.float64)
    coef = np.asarray(classifier.coef_, dtype=np.float64).T.copy()
    intercept = np.asarray(classifier.intercept_, dtype=np.float64)

    def proba(columns: Columns) -> np.ndarray:
        scores = ((builder.numeric_matrix(columns) - mean) / scale) @ coef + intercept
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    return proba


def _scaled_then_classifier(builder: FeatureBuilder, scaler: StandardScaler, classifier: object) -> Proba:
    mean, scale = np.asarray(scaler.mean_, dtype=np.float64), np.asarray(scaler.scale_, dtype=np.float64)
    predict_proba = classifier.predict_proba  # type: ignore[attr-defined]

    def proba(columns: Columns) -> np.ndarray:
        return np.asarray(predict_proba((builder.numeric_matrix(columns) - mean) / scale))

    return proba


def fast_path(pipeline: Pipeline) -> tuple[str, Proba] | None:
    """An exact NumPy form of ``pipeline.predict_proba`` for the shapes it knows (its name and function), or None."""
    steps = [step for _, step in pipeline.steps]
    if len(steps) != 3 or not isinstance(steps[0], FeatureBuilder) or not steps[0].numeric_only:
        return None
    builder, scaler, classifier = steps
    if type(scaler) is not StandardScaler or not getattr(scaler, "with_mean", False) or scaler.scale_ is None:
        return None
    if type(classifier) is LogisticRegression and len(classifier.classes_) > 2:
        return "linear softmax in NumPy", _linear_softmax(builder, scaler, classifier)
    return "features and scaling in NumPy", _scaled_then_classifier(builder, scaler, classifier)


class Scorer:
    """Check inputs against the version's data contract and predict, for one resolved model version."""

    def __init__(self, handle: ModelHandle, pipeline: Pipeline, contract: DataContract) -> None:
        if tuple(pipeline[0].features) != handle.features:
            raise ValueError(
                f"{handle.uri}: its feature step computes {list(pipeline[0].features)} but it was registered "
                f"with {list(handle.features)}"
            )
        self.handle = handle
        self.pipeline = pipeline
        self.contract = contract
        self.input_columns = contract.input_names
        #: Every input is a number (no category): a request's rows can be read in one NumPy call.
        self.numeric_inputs = all(column.kind == "numeric" for column in contract.columns)
        self.classes = tuple(str(label) for label in np.asarray(pipeline.classes_).tolist())
        fast = fast_path(pipeline)
        self.path, self._proba = fast if fast else ("the fitted pipeline", self._pipeline_proba)

    def _pipeline_proba(self, columns: Columns) -> np.ndarray:
        frame = pd.DataFrame({name: columns[name] for name in self.input_columns}, copy=False)
        try:
            return np.asarray(self.pipeline.predict_proba(frame))
        except FeatureValueError:
            raise
        except ValueError as exc:  # rows inside the contract that the estimator still refuses (e.g. a feature
            # too large for its float32): the request's fault, never a server error
            raise InputError("(input)", f"the model cannot score these rows: {exc}") from None

    # --- input checks ----------------------------------------------------------

    def columns_from_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Check a frame's columns, types and nulls; return one array per input column."""
        self.check_names(list(frame.columns))
        return {name: self.parse(name, frame[name].to_numpy()) for name in self.input_columns}

    def check_names(self, names: Sequence[object]) -> None:
        """Refuse duplicate, missing or unknown columns (as ``mlflow models serve`` does), naming them."""
        if not all(isinstance(name, str) for name in names):
            raise InputError("columns", f"column names must be strings, got {list(names)[:8]}")
        labels = [str(name) for name in names]
        if len(set(labels)) != len(labels):  # linear, whatever the number of names a body carries
            duplicated = sorted(name for name, seen in Counter(labels).items() if seen > 1)
            raise InputError(", ".join(duplicated), "duplicate column name(s)")
        missing = [c for c in self.input_columns if c not in labels]
        extra = [c for c in labels if c not in self.input_columns]
        if missing:
            unknown = f"; unknown column(s) {', '.join(_with_suggestions(extra, missing))}" if extra else ""
            raise InputError(
                ", ".join(missing), f"missing column(s){unknown}; the model takes {list(self.input_columns)}"
            )
        if extra:
            raise InputError(
                ", ".join(map(str, extra)), f"unknown column(s); the model takes {list(self.input_columns)}"
            )

    def parse(self, name: str, values: np.ndarray | Sequence[object]) -> np.ndarray:
        """One column's values as its array (numbers as float64, categories as text); a wrong type or a forbidden
        null is an InputError naming the column and rows."""
        return self.contract.column(name).parse(values)

    def check_domain(self, columns: Columns) -> None:
        """Refuse values outside the contract's domain, naming the column, the rows and what is allowed."""
        self.contract.check(columns)

    # --- scoring ---------------------------------------------------------------

    def predict_columns(self, columns: Columns) -> Predictions:
        """Predict already-checked columns (``check_domain`` is the caller's: batch routes bad rows aside). No rows
        give no predictions (an empty batch file): scikit-learn's transformers refuse an empty frame."""
        empty = not columns or len(next(iter(columns.values()))) == 0
        probabilities = np.zeros((0, len(self.classes))) if empty else self._proba(columns)
        return Predictions(indices=probabilities.argmax(axis=1), probabilities=probabilities, classes=self.classes)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Validate and score a frame of inputs: prediction and one probability per class."""
        columns = self.columns_from_frame(frame)
        self.check_domain(columns)
        return self.predict_columns(columns).to_frame()


def _with_suggestions(unknown: Sequence[str], expected: Sequence[str]) -> list[str]:
    """Each unknown column, with the expected one it most likely misspells (``age_yeras (did you mean age_years?)``)."""
    named = []
    for column in unknown:
        close = difflib.get_close_matches(column, expected, n=1, cutoff=0.75)
        named.append(f"{column} (did you mean {close[0]}?)" if close else column)
    return named


def load_guarded(settings: Settings, model_name: str, alias: str) -> Scorer:
    """The scorer a consumer of ``model_name@alias`` may use: the alias's version if a sanctioned move put it
    there, else the version the alias history sanctions, said in one error line (src/governance/alias_guard.py).

    The endpoint, batch (Arrow and Spark) and the release checks load through here, so one rule decides what
    all of them score.
    """
    from src.governance.alias_guard import Records, version_to_score
    from src.models.model_registry import Registry, RegistryError

    registry = Registry()
    found = registry.version_at(model_name, alias)
    if found is None:
        raise RegistryError(f"no version of {model_name} holds @{alias}")
    choice = version_to_score(Records.of(settings, registry), model_name, alias, found.version)
    if choice.overruled is not None:
        logger.error("%s", choice.describe(model_name, alias, found.version))
    return load_scorer(model_name, alias=alias, version=choice.version)


def load_scorer(model_name: str, *, alias: str | None = None, version: str | None = None) -> Scorer:
    """Resolve an alias once (or take ``version``, e.g. the alias's new holder), load it, build its Scorer."""
    from src.models.model_loading import load_native_model  # MLflow: only when loading
    from src.models.model_registry import Registry, RegistryError

    if alias is None and version is None:
        raise ValueError("name an alias or a version")
    registry = Registry()
    info = registry.version(model_name, version) if version else registry.version_at(model_name, alias or "")
    if info is None:
        raise RegistryError(f"no version of {model_name} holds @{alias}")
    loaded = load_native_model(info.uri)
    if loaded.contract is None:
        raise RegistryError(f"{info.uri} carries no data contract (trained before contracts were logged): retrain it")
    handle = ModelHandle(
        name=info.name,
        version=info.version,
        alias=alias,
        run_id=info.run_id,
        features=loaded.features,
        loaded_at=datetime.now(UTC),
        feature_set=loaded.feature_set,
    )
    return Scorer(handle, loaded.native, DataContract.from_dict(loaded.contract))
