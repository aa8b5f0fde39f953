"""Compute a configured feature set from raw measurements.

``FeatureBuilder`` is the first step of the logged model's sklearn Pipeline:
the model takes raw measurements and computes its own features, so training,
batch scoring, ``mlflow models serve`` and Spark all use this one code path
and cannot skew.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from src.features.feature_definitions import FeatureDefinition, resolve_features
from src.utils.errors import ProjectError


class MissingInputError(ProjectError, ValueError):
    """The raw frame lacks a column that a configured feature needs."""


def required_inputs(definitions: Sequence[FeatureDefinition]) -> tuple[str, ...]:
    """The raw columns a feature set reads, in first-use order."""
    return tuple(dict.fromkeys(column for d in definitions for column in d.inputs))


def build_features(raw: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Return exactly the named features, in the given order, indexed like ``raw``."""
    definitions = resolve_features(tuple(names))
    missing = [column for column in required_inputs(definitions) if column not in raw.columns]
    if missing:
        raise MissingInputError(f"raw data lacks column(s) {', '.join(missing)} needed by the feature set")
    return pd.DataFrame({d.name: d.compute(raw) for d in definitions}, index=raw.index)


class FeatureBuilder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """sklearn transformer computing ``features`` (versioned names) from raw measurements.

    Its only state is the tuple of names, so skops can serialize it without
    pickle; the transforms themselves ship as source with the model.
    """

    def __init__(self, features: tuple[str, ...] = ()) -> None:
        self.features = features

    def fit(self, X: pd.DataFrame, y: object = None) -> FeatureBuilder:  # noqa: N803 (sklearn API)
        definitions = resolve_features(tuple(self.features))
        self.feature_names_in_ = np.asarray(required_inputs(definitions), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803 (sklearn API)
        return build_features(X, self.features)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.features, dtype=object)
