"""The model itself: how the estimator and its feature step are built, split and fitted.

Pure scikit-learn, no MLflow: the training pipeline tracks and registers
what these functions produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src.data.load_data import Dataset
from src.features.feature_builder import FeatureBuilder
from src.utils.config import ModelSpec, RandomForestSpec, SplitConfig
from src.utils.errors import ProjectError

#: Where a type skops cannot vouch for may come from and still be trusted at load time:
#: scikit-learn's own compiled types (e.g. a forest's Tree) and this project's feature step.
TRUSTABLE_MODULES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.", FeatureBuilder.__module__ + ".")


class UntrustableModelError(ProjectError, TypeError):
    """The fitted model holds a type that must not be loaded without pickle-like trust."""


@dataclass(frozen=True)
class Split:
    """Raw measurements and labels, split into training and held-out validation rows."""

    X_train: pd.DataFrame
    X_val: pd.DataFrame
    y_train: pd.Series
    y_val: pd.Series


def build_classifier(spec: ModelSpec, seed: int) -> ClassifierMixin:
    """The configured scikit-learn estimator, seeded for reproducibility."""
    if isinstance(spec, RandomForestSpec):
        return RandomForestClassifier(**spec.params.model_dump(), random_state=seed, n_jobs=1)
    return LogisticRegression(**spec.params.model_dump(), random_state=seed)


def build_model(features: Sequence[str], spec: ModelSpec, seed: int) -> Pipeline:
    """Raw measurements -> versioned features -> standardized -> classifier, as one Pipeline.

    Carrying the feature step inside the model means every consumer of the
    logged model computes the same features from the same raw payload.
    """
    return Pipeline(
        [
            ("features", FeatureBuilder(tuple(features))),
            ("scale", StandardScaler()),
            ("classifier", build_classifier(spec, seed)),
        ]
    )


def split_dataset(dataset: Dataset, config: SplitConfig, seed: int) -> Split:
    """Hold out ``test_size`` of the rows, stratified by species when configured."""
    X_train, X_val, y_train, y_val = train_test_split(  # noqa: N806
        dataset.features,
        dataset.target,
        test_size=config.test_size,
        random_state=seed,
        stratify=dataset.target if config.stratify else None,
    )
    return Split(X_train, X_val, y_train, y_val)


def fit_model(model: Pipeline, split: Split) -> Pipeline:
    """Fit on the training rows only."""
    return model.fit(split.X_train, split.y_train)


def skops_trusted_types(model: Pipeline) -> tuple[str, ...]:
    """The types skops must be told to trust to load this model, checked against an allowlist.

    Computed from the model itself (a forest needs ``sklearn.tree._tree.Tree``,
    every model needs the feature step), so changing the estimator cannot
    produce a logged model that fails to load, nor trust arbitrary code.
    """
    import skops.io

    untrusted = tuple(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    refused = [name for name in untrusted if not name.startswith(TRUSTABLE_MODULES)]
    if refused:
        raise UntrustableModelError(f"model holds types outside {TRUSTABLE_MODULES}: {', '.join(refused)}")
    return untrusted
