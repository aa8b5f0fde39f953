"""Training entrypoint: ``python -m src.models.train_model --config ... --version 1.0.0``.

This module holds the model itself (how the estimator and its feature step
are built, how the data is split and fitted) and the command-line face over
``pipelines/training_pipeline.py``, which orchestrates the tracked run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from src.data.load_data import Dataset
from src.features.feature_builder import FeatureBuilder
from src.utils.config import (
    DEFAULT_ENVIRONMENT_CONFIG,
    DEFAULT_FEATURE_CONFIG,
    DEFAULT_MODEL_CONFIG,
    ModelSpec,
    RandomForestSpec,
    SplitConfig,
)

#: Project classes skops may rebuild when the model is loaded (everything else is sklearn/numpy).
TRUSTED_TYPES: tuple[str, ...] = (f"{FeatureBuilder.__module__}.{FeatureBuilder.__qualname__}",)


@dataclass(frozen=True)
class Split:
    """Raw measurements and labels, split into training and held-out validation rows."""

    X_train: pd.DataFrame  # noqa: N815 (ML convention)
    X_val: pd.DataFrame  # noqa: N815
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m src.models.train_model",
        description="Train, track and register the iris species classifier.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_MODEL_CONFIG, help="model config YAML")
    parser.add_argument("--feature-config", type=Path, default=DEFAULT_FEATURE_CONFIG, help="feature config YAML")
    parser.add_argument(
        "--env-config", type=Path, default=DEFAULT_ENVIRONMENT_CONFIG, help="environment profiles YAML"
    )
    parser.add_argument("--env", choices=["dev", "staging", "prod"], help="profile (default: $ML_ENV or the file's)")
    parser.add_argument("--experiment", help="/{team}/{project}/{model_name} (default: from the profile)")
    parser.add_argument("--context", default="full", help="training context, e.g. full or incremental")
    parser.add_argument("--version", required=True, help="model version, MAJOR.MINOR.PATCH")
    parser.add_argument(
        "--build-id",
        default=os.environ.get("BUILD_ID") or os.environ.get("GITHUB_RUN_ID"),
        help="CI build ID for the run name (default: $BUILD_ID or $GITHUB_RUN_ID, else a timestamp)",
    )
    parser.add_argument("--author", default=os.environ.get("TRAINED_BY"), help="who trains (default: git user.email)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the training pipeline; print a summary, or a one-line error and exit 2."""
    from pipelines.training_pipeline import TrainingRequest, TrainingRefused, run_training

    args = _parser().parse_args(argv)
    request = TrainingRequest(
        model_config=args.config,
        feature_config=args.feature_config,
        environment_config=args.env_config,
        env=args.env,
        experiment=args.experiment,
        context=args.context,
        version=args.version,
        build_id=args.build_id,
        author=args.author,
    )
    try:
        result = run_training(request)
    except TrainingRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
