"""The model itself: the configured estimator and the pipeline around it, split and fitted.

Pure scikit-learn, no MLflow: the training pipeline tracks and registers
what these functions produce. The pipeline is the pack's feature step, then
the preprocessing its features' kinds call for, then the classifier named by
import path in ``configs/model_config.yaml``:

- numeric features only, none missing: ``StandardScaler`` (as a linear model
  wants; harmless for trees);
- otherwise a ``ColumnTransformer``: numeric features imputed (median) where
  the contract allows a missing input, then scaled; categorical features
  imputed with a ``(missing)`` category where allowed, then one-hot encoded
  (a category unseen in training is all zeros, not an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from src.data.load_data import Dataset
from src.data.schema import DataContract
from src.features.feature_builder import FeatureBuilder
from src.features.versioned import FeatureDefinition
from src.models.estimator import build_classifier
from src.utils.config import ModelSpec, SplitConfig
from src.utils.errors import ProjectError

#: Where a type skops cannot vouch for may come from and still be trusted at load time: scikit-learn's own
#: compiled types (e.g. a forest's Tree), NumPy and SciPy, and this project's feature step. The configured
#: estimator's own package is trusted too (the team chose it).
TRUSTABLE_MODULES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.", FeatureBuilder.__module__ + ".")
#: The category a missing categorical input becomes where the contract allows it.
MISSING_CATEGORY = "(missing)"


class UntrustableModelError(ProjectError, TypeError):
    """The fitted model holds a type that must not be loaded without pickle-like trust."""


@dataclass(frozen=True)
class Split:
    """Input columns and labels, split into training and held-out validation rows."""

    X_train: pd.DataFrame
    X_val: pd.DataFrame
    y_train: pd.Series
    y_val: pd.Series


def _preprocessing(contract: DataContract, definitions: Sequence[FeatureDefinition]) -> object:
    from sklearn.preprocessing import StandardScaler

    def may_miss(definition: FeatureDefinition) -> bool:
        return any(contract.column(name).nullable for name in definition.inputs)

    numeric = [d for d in definitions if d.kind == "numeric"]
    categorical = [d for d in definitions if d.kind == "categorical"]
    if not categorical and not any(may_miss(d) for d in numeric):
        return StandardScaler()
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    parts: list[tuple[str, object, list[str]]] = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median"))] if any(may_miss(d) for d in numeric) else []
        parts.append(("numeric", Pipeline([*steps, ("scale", StandardScaler())]), [d.name for d in numeric]))
    if categorical:
        steps = [("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, missing_values=None))]
        encode = ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False))
        parts.append(("categorical", Pipeline([*steps, encode]), [d.name for d in categorical]))
    return ColumnTransformer(parts, verbose_feature_names_out=False)


def build_model(
    contract: DataContract, definitions: Sequence[FeatureDefinition], spec: ModelSpec, seed: int
) -> Pipeline:
    """Input columns -> versioned features -> preprocessing -> classifier, as one Pipeline.

    Carrying the feature step inside the model means every consumer of the
    logged model computes the same features from the same input payload.
    """
    return Pipeline(
        [
            ("features", FeatureBuilder.of(definitions)),
            ("preprocess", _preprocessing(contract, definitions)),
            ("classifier", build_classifier(spec, seed)),
        ]
    )


def split_dataset(dataset: Dataset, config: SplitConfig, seed: int) -> Split:
    """Hold out ``test_size`` of the rows, stratified by class when configured."""
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

    estimator_package = type(model[-1]).__module__.split(".")[0] + "."
    trustable = tuple(dict.fromkeys((*TRUSTABLE_MODULES, estimator_package)))
    untrusted = tuple(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    refused = [name for name in untrusted if not name.startswith(trustable)]
    if refused:
        raise UntrustableModelError(f"model holds types outside {trustable}: {', '.join(refused)}")
    return untrusted


def class_labels(model: Pipeline) -> tuple[str, ...]:
    """The model's classes, in ``predict_proba``'s column order, as text."""
    return tuple(str(label) for label in np.asarray(model.classes_).tolist())
