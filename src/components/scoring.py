"""The inference component: one code path from raw measurements to species, shared by batch and online.

``Scorer`` resolves ``models:/<name>@<alias>`` to a concrete version once,
loads it once, checks every input against the model's signature and returns
predictions with class names and probabilities.

The logged model is a scikit-learn Pipeline (feature step, scaler,
classifier). Called row by row it spends ~2.7 ms in pandas and sklearn's
input checks for a ~20 us computation, so the Scorer compiles the fitted
pipeline into NumPy: the same feature definitions applied to arrays, the
scaler's mean and scale, and (for a logistic regression) the softmax of the
linear scores. Other classifiers keep their own ``predict_proba`` on the
compiled features. ``tests/integration/test_inference.py`` proves parity with
the Pipeline on every row of the data set and on random inputs.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from src.data import contract
from src.features.feature_definitions import FeatureDefinition, resolve_features
from src.utils.errors import ProjectError

#: Column arrays keyed by raw column name: the form every input is turned into before scoring.
Columns = Mapping[str, np.ndarray]


class InputError(ProjectError, ValueError):
    """A request or file does not fit the model's signature; ``field`` names what is at fault."""

    def __init__(self, field: str, message: str) -> None:
        field = field or "(input)"  # an empty column name still gets a field a client can show
        super().__init__(f"{field}: {message}")
        self.field = field


class OutOfContract(InputError):
    """Values of the right type outside the data contract's domain: counted apart, a sign of drift or a bad sensor."""


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
        """Species names (an object array: build it only when names are needed)."""
        return np.asarray(self.classes, dtype=object)[self.indices]

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.probabilities, columns=[f"probability_{c}" for c in self.classes])
        frame.insert(0, "prediction", self.labels)
        return frame


class CompiledPipeline:
    """The fitted Pipeline as NumPy arithmetic: the same numbers without per-call pandas overhead."""

    def __init__(self, pipeline: Pipeline) -> None:
        builder, scaler, classifier = pipeline[0], pipeline[1], pipeline[-1]
        self.definitions: tuple[FeatureDefinition, ...] = resolve_features(tuple(builder.features))
        self.mean = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64)
        self.classes = tuple(str(c) for c in classifier.classes_)
        self._classifier = classifier
        self._linear = isinstance(classifier, LogisticRegression) and len(self.classes) > 2
        if self._linear:
            self.coef = np.asarray(classifier.coef_, dtype=np.float64).T.copy()
            self.intercept = np.asarray(classifier.intercept_, dtype=np.float64)

    def features(self, columns: Columns) -> np.ndarray:
        """The model's feature matrix, computed by the registered feature definitions."""
        values = [np.asarray(d.transform(columns), dtype=np.float64) for d in self.definitions]  # type: ignore[arg-type]
        return np.column_stack(values)

    def predict_proba(self, columns: Columns) -> np.ndarray:
        scaled = (self.features(columns) - self.mean) / self.scale
        if not self._linear:
            return np.asarray(self._classifier.predict_proba(scaled))
        scores = scaled @ self.coef + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)


class Scorer:
    """Validate raw measurements against the signature and predict, for one resolved model version."""

    def __init__(self, handle: ModelHandle, pipeline: Pipeline, input_columns: Sequence[str]) -> None:
        if tuple(pipeline[0].features) != handle.features:
            raise ValueError(
                f"{handle.uri}: its feature step computes {list(pipeline[0].features)} but it was registered "
                f"with {list(handle.features)}"
            )
        self.handle = handle
        self.pipeline = pipeline
        self.input_columns = tuple(input_columns)
        self.compiled = CompiledPipeline(pipeline)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.compiled.classes

    # --- input checks ----------------------------------------------------------

    def columns_from_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Check a frame's columns, types and nulls; return float arrays per column."""
        self.check_names(list(frame.columns))
        return {name: self.to_float(name, frame[name].to_numpy()) for name in self.input_columns}

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

    @staticmethod
    def to_float(name: str, values: np.ndarray | Sequence[object]) -> np.ndarray:
        """Numbers as float64; a null or a non-number is an InputError naming the column and rows."""
        if isinstance(values, np.ndarray):
            array = values
        else:
            items = list(values)
            bad = [i for i, v in enumerate(items) if v is not None and not _is_number(v)]
            if bad:
                raise InputError(name, f"expected numbers, got {items[bad[0]]!r} at row(s) {_rows(bad)}")
            try:
                array = np.array([np.nan if v is None else v for v in items], dtype=np.float64)
            except OverflowError:  # an integer beyond float64 is far outside any domain anyway
                raise InputError(name, "a number too large to represent") from None
        if array.size == 0:
            raise InputError("(input)", "no rows to score")
        if array.ndim != 1:
            raise InputError(name, "expected one value per row")
        if array.dtype.kind not in "fiu":
            return Scorer.to_float(name, array.tolist())
        converted = array.astype(np.float64, copy=False)
        nulls = np.flatnonzero(np.isnan(converted))
        if nulls.size:
            raise InputError(name, f"null value at row(s) {_rows(nulls.tolist())}")
        return converted

    @staticmethod
    def check_domain(columns: Columns) -> None:
        """Refuse values outside the data contract's domain, naming the column, the rows and the allowed range."""
        found = contract.violations(columns)
        if found:  # the first column is the field; the message lists every violation
            first, *others = found
            raise OutOfContract(first.column, "; ".join([first.describe(with_column=False), *map(str, others)]))

    # --- scoring ---------------------------------------------------------------

    def predict_columns(self, columns: Columns) -> Predictions:
        """Predict already-checked columns (``check_domain`` is the caller's: batch routes bad rows aside)."""
        probabilities = self.compiled.predict_proba(columns)
        return Predictions(indices=probabilities.argmax(axis=1), probabilities=probabilities, classes=self.classes)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Validate and score a frame of raw measurements: prediction and one probability per class."""
        columns = self.columns_from_frame(frame)
        self.check_domain(columns)
        return self.predict_columns(columns).to_frame()


def _with_suggestions(unknown: Sequence[str], expected: Sequence[str]) -> list[str]:
    """Each unknown column, with the expected one it most likely misspells (``petal_widht_cm (petal_width_cm?)``)."""
    named = []
    for column in unknown:
        close = difflib.get_close_matches(column, expected, n=1, cutoff=0.75)
        named.append(f"{column} (did you mean {close[0]}?)" if close else column)
    return named


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rows(indices: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f" (and {len(indices) - limit} more)" if len(indices) > limit else "")


def load_scorer(model_name: str, *, alias: str | None = None, version: str | None = None) -> Scorer:
    """Resolve an alias once (or take ``version``, e.g. the alias's new holder), load it, build its Scorer."""
    from src.models.model_registry import Registry, RegistryError, load_native_model  # MLflow: only when loading

    if alias is None and version is None:
        raise ValueError("name an alias or a version")
    registry = Registry()
    info = registry.version(model_name, version) if version else registry.version_at(model_name, alias or "")
    if info is None:
        raise RegistryError(f"no version of {model_name} holds @{alias}")
    loaded = load_native_model(info.uri)
    handle = ModelHandle(
        name=info.name,
        version=info.version,
        alias=alias,
        run_id=info.run_id,
        features=loaded.features,
        loaded_at=datetime.now(UTC),
        feature_set=loaded.feature_set,
    )
    return Scorer(handle, loaded.native, loaded.input_names)
