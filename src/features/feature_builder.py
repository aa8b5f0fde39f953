"""Compute a configured feature set from the input columns.

``FeatureBuilder`` is the first step of the logged model's sklearn Pipeline:
the model takes the contract's input columns and computes its own features,
so training, batch scoring, ``mlflow models serve`` and Spark all use this
one code path and cannot skew. Its state is each feature's name, kind and
formula (plain strings, which skops stores without pickle): the model carries
its definitions, and needs no pack to be served.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from src.data.schema import InputError, rows_text
from src.features.expressions import compiled
from src.features.feature_set import resolve_features
from src.features.versioned import FeatureDefinition, FeatureSpec, compute, spec_inputs
from src.utils.errors import ProjectError


class MissingInputError(ProjectError, ValueError):
    """The input frame lacks a column that a configured feature needs."""


class FeatureValueError(InputError):
    """Inputs inside the contract's domain give a feature no model can take (a ratio over a width of ~0 is
    infinite): the row cannot be scored, and the refusal names the feature and the rows."""


def _check_finite(name: str, values: np.ndarray, inputs: Sequence[np.ndarray]) -> None:
    """Refuse infinities, and NaN computed from inputs that are all present (a missing input may be imputed)."""
    bad = np.isinf(values)
    if np.isnan(values).any():
        present = np.ones(len(values), dtype=bool)
        for column in inputs:
            present &= ~np.isnan(np.asarray(column, dtype=np.float64))
        bad |= np.isnan(values) & present
    if bad.any():
        rows = np.flatnonzero(bad).tolist()
        raise FeatureValueError(name, f"not a finite number for the input row(s) {rows_text(rows)}")


def required_inputs(definitions: Sequence[FeatureDefinition]) -> tuple[str, ...]:
    """The input columns a feature set reads, in first-use order."""
    return tuple(dict.fromkeys(column for d in definitions for column in d.inputs))


def build_features(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Exactly the named (pack-defined) features, in the given order, indexed like ``frame``."""
    return _computed(frame, tuple(d.spec for d in resolve_features(tuple(names))))


def _computed(frame: pd.DataFrame, specs: Sequence[FeatureSpec]) -> pd.DataFrame:
    missing = [column for column in _inputs(specs) if column not in frame.columns]
    if missing:
        raise MissingInputError(f"the input data lacks column(s) {', '.join(missing)} needed by the feature set")
    return pd.DataFrame({spec[0]: _checked(spec, frame) for spec in specs}, index=frame.index)


def _checked(spec: FeatureSpec, columns: object) -> np.ndarray:
    values = compute(spec, columns)
    if spec[1] == "numeric":
        _check_finite(spec[0], values, [columns[name] for name in spec_inputs(spec)])  # type: ignore[index]
    return values


def _inputs(specs: Sequence[FeatureSpec]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(column for spec in specs for column in spec_inputs(spec)))


@functools.lru_cache(maxsize=64)
def _kernels(specs: tuple[FeatureSpec, ...]) -> tuple[Callable[[Mapping[str, np.ndarray]], np.ndarray], ...]:
    """Each numeric spec's bare computation, compiled once per feature set (not per request)."""
    return tuple(compiled(expression).kernel() for _, _, expression in specs)


class FeatureBuilder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """sklearn transformer computing ``specs`` (name, kind, formula) from the input columns."""

    def __init__(self, specs: tuple[FeatureSpec, ...] = ()) -> None:
        self.specs = specs

    @classmethod
    def of(cls, definitions: Sequence[FeatureDefinition]) -> FeatureBuilder:
        return cls(tuple(definition.spec for definition in definitions))

    @property
    def features(self) -> tuple[str, ...]:
        """The features' versioned names, in the model's column order."""
        return tuple(name for name, _, _ in self.specs)

    @property
    def numeric_only(self) -> bool:
        return all(kind == "numeric" for _, kind, _ in self.specs)

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureBuilder:  # noqa: N803 (sklearn API)
        self.feature_names_in_ = np.asarray(_inputs(self.specs), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 (sklearn API)
        return _computed(X, self.specs)

    def numeric_matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The feature matrix straight from column arrays, without pandas (numeric feature sets only); a
        non-finite feature is a FeatureValueError."""
        kernels = _kernels(self.specs)
        with np.errstate(all="ignore"):
            matrix = np.column_stack([kernel(columns) for kernel in kernels])
        if not np.isfinite(matrix).all():  # one check for the common case; the slow one names feature and rows
            for spec in self.specs:
                _checked(spec, columns)
        return matrix

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.features, dtype=object)
