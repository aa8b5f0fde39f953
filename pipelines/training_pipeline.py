"""Orchestrated training workflow: configs -> data -> features -> fit -> evaluate -> log -> register.

Everything that can refuse the input (configuration, names, data, feature
set) runs before MLflow is touched, so a bad input tracks and registers
nothing. The tracked part is one run: parameters, metrics, artifacts, tags,
dataset lineage and the logged model, then a registered version with alias
``dev``.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from src.data.load_data import DATASET_NAME, RAW_FEATURE_COLUMNS, SPECIES, TARGET_COLUMN, Dataset, load_dataset
from src.data.load_data import DataValidationError
from src.features.feature_builder import MissingInputError
from src.features.feature_definitions import FeatureDefinition, UnknownFeatureError, resolve_features
from src.models import evaluation
from src.models.model_registry import RegisteredVersion, RegistryError, register_model
from src.models.train_model import TRUSTED_TYPES, Split, build_model, fit_model, split_dataset
from src.utils import mlflow_utils
from src.utils.config import (
    DEFAULT_ENVIRONMENT_CONFIG,
    DEFAULT_FEATURE_CONFIG,
    DEFAULT_MODEL_CONFIG,
    PROJECT_ROOT,
    ConfigError,
    FeatureConfig,
    ModelConfig,
    Settings,
    load_feature_config,
    load_model_config,
    resolve_settings,
)
from src.utils.logging import get_logger
from src.utils.naming import NamingError, check_experiment_name, run_name

logger = get_logger(__name__)

#: What the logged model needs at inference, pinned to the versions it was trained with.
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")


class TrainingRefused(ValueError):
    """The input (config, names, data, features) or the registry refused the run."""


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one training run is asked to do."""

    version: str
    context: str = "full"
    model_config: Path = DEFAULT_MODEL_CONFIG
    feature_config: Path = DEFAULT_FEATURE_CONFIG
    environment_config: Path = DEFAULT_ENVIRONMENT_CONFIG
    env: str | None = None
    experiment: str | None = None
    build_id: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class TrainingPlan:
    """A request checked against configuration and conventions: safe to track."""

    settings: Settings
    model_config: ModelConfig
    feature_config: FeatureConfig
    features: tuple[FeatureDefinition, ...]
    experiment: str
    run_name: str
    author: str


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced, for the summary and for callers."""

    run_id: str
    run_name: str
    experiment_name: str
    experiment_id: str
    metrics: dict[str, float]
    registered: RegisteredVersion
    run_url: str

    def summary(self) -> str:
        metric_lines = "\n".join(f"    {name:<24}{value:.4f}" for name, value in sorted(self.metrics.items()))
        return (
            f"Training run {self.run_name} ({self.run_id})\n"
            f"  experiment: {self.experiment_name}\n"
            f"  metrics:\n{metric_lines}\n"
            f"  model:      {self.registered.name} version {self.registered.version}"
            f" (alias @{self.registered.alias})\n"
            f"  load with:  mlflow.pyfunc.load_model('{self.registered.uri}')\n"
            f"  look at it: {self.run_url}"
        )


def plan_training(request: TrainingRequest) -> TrainingPlan:
    """Load and check every input; raise TrainingRefused before anything is tracked."""
    try:
        settings = resolve_settings(request.env, request.environment_config)
        model_config = load_model_config(request.model_config)
        feature_config = load_feature_config(request.feature_config)
        features = resolve_features(feature_config.features)
        experiment = check_experiment_name(request.experiment or settings.experiment_name)
        if experiment != settings.experiment_name:
            raise NamingError(
                f"experiment {experiment!r} does not belong to this project; the profile's is "
                f"{settings.experiment_name!r} (team/project/model_name in {request.environment_config})"
            )
        name = run_name(request.version, request.context, build_id=request.build_id)
    except (ConfigError, NamingError, UnknownFeatureError) as exc:
        raise TrainingRefused(str(exc)) from exc
    author = request.author or mlflow_utils.git_author() or getpass.getuser()
    return TrainingPlan(settings, model_config, feature_config, features, experiment, name, author)


def _params(plan: TrainingPlan, dataset: Dataset, split: Split) -> dict[str, object]:
    config = plan.model_config
    hyperparameters = {f"model.{key}": value for key, value in config.model.params.model_dump().items()}
    feature_versions = {f"feature.{d.domain}_{d.base_name}": f"v{d.version}" for d in plan.features}
    return {
        "model.type": config.model.type,
        **hyperparameters,
        "data.source": config.data.source,
        "data.uri": dataset.source_uri,
        "data.digest": dataset.digest,
        "data.rows": len(dataset.frame),
        "split.test_size": config.split.test_size,
        "split.stratify": config.split.stratify,
        "split.train_rows": len(split.X_train),
        "split.val_rows": len(split.X_val),
        "random_seed": config.random_seed,
        "feature_set.name": plan.feature_config.feature_set.name,
        "feature_set.version": plan.feature_config.feature_set.version,
        "feature_source": plan.feature_config.feature_source,
        "features": ",".join(d.name for d in plan.features),
        **feature_versions,
    }


def _run_tags(plan: TrainingPlan, request: TrainingRequest) -> dict[str, str]:
    git = mlflow_utils.git_info()
    return {
        "model_version": request.version.removeprefix("v"),
        "training_context": request.context,
        "build_id": request.build_id or "local",
        "git_sha": git.sha,
        "git_branch": git.branch,
        "git_dirty": str(git.dirty).lower(),
        "author": plan.author,
        "env": plan.settings.profile,
        "feature_set": _feature_set_label(plan.feature_config),
    }


def _feature_set_label(config: FeatureConfig) -> str:
    return f"{config.feature_set.name}:v{config.feature_set.version}"


def _input_example(split: Split) -> pd.DataFrame:
    """One training row per species: a readable example that exercises every class."""
    first_rows = split.y_train.reset_index(drop=True).drop_duplicates().index
    return split.X_train.reset_index(drop=True).loc[first_rows].reset_index(drop=True)


def _log_evaluation_artifacts(model: object, validation: evaluation.SplitEvaluation) -> None:
    importance = evaluation.feature_importance(model)  # type: ignore[arg-type]
    mlflow_utils.log_text(importance.to_csv(index=False), "feature_importance/feature_importance.csv")
    mlflow_utils.log_figure(evaluation.feature_importance_figure(importance), "feature_importance/feature_importance.png")
    mlflow_utils.log_figure(
        evaluation.confusion_matrix_figure(validation, "Confusion matrix (validation)"),
        "evaluation/confusion_matrix.png",
    )
    mlflow_utils.log_text(validation.report_text, "evaluation/classification_report.txt")
    mlflow_utils.log_dict(validation.report, "evaluation/classification_report.json")


def _register(plan: TrainingPlan, request: TrainingRequest, dataset: Dataset, run_id: str, model_uri: str,
              metrics: dict[str, float]) -> RegisteredVersion:
    identity = plan.settings.project
    model_description = (
        f"{identity.use_case}. Owner: {identity.owner}. Inputs: the four raw measurements in cm "
        f"({', '.join(RAW_FEATURE_COLUMNS)}); output: the species ({', '.join(SPECIES)}). "
        "See docs/MODEL_CARD.md."
    )
    version_description = (
        f"v{request.version.removeprefix('v')} ({request.context}) by {plan.author}: "
        f"{plan.model_config.model.type} on {_feature_set_label(plan.feature_config)}; "
        f"val_accuracy={metrics['val_accuracy']:.4f}, val_f1_macro={metrics['val_f1_macro']:.4f}."
    )
    return register_model(
        name=plan.settings.registered_model_name,
        model_uri=model_uri,
        run_id=run_id,
        model_description=model_description,
        version_description=version_description,
        model_tags={"owner": identity.owner, "use_case": identity.use_case, "team": identity.team,
                    "project": identity.project},
        version_tags={
            "owner": identity.owner,
            "use_case": identity.use_case,
            "data_lineage": f"{dataset.source_uri}#sha256:{dataset.digest}",
            "feature_set": _feature_set_label(plan.feature_config),
            "features": ",".join(d.name for d in plan.features),
            "model_version": request.version.removeprefix("v"),
            "run_name": plan.run_name,
            "author": plan.author,
            "training_context": request.context,
        },
    )


def run_training(request: TrainingRequest) -> TrainingResult:
    """Train, evaluate, track and register one model version."""
    plan = plan_training(request)
    config = plan.model_config
    try:
        dataset = load_dataset(config.data)
        split = split_dataset(dataset, config.split, config.random_seed)
        model = fit_model(build_model([d.name for d in plan.features], config.model, config.random_seed), split)
    except (DataValidationError, MissingInputError) as exc:
        raise TrainingRefused(str(exc)) from exc
    train_eval = evaluation.evaluate_split(model, split.X_train, split.y_train, "train")
    val_eval = evaluation.evaluate_split(model, split.X_val, split.y_val, "val")
    metrics = {**train_eval.metrics, **val_eval.metrics}

    settings = plan.settings
    mlflow_utils.configure_tracking(settings)
    identity = settings.project
    experiment_id = mlflow_utils.ensure_experiment(
        plan.experiment,
        settings.artifact_location,
        {"team": identity.team, "project": identity.project, "owner": identity.owner},
    )
    with mlflow_utils.tracked_run(experiment_id, plan.run_name, _run_tags(plan, request)) as run:
        run_id = run.info.run_id
        mlflow_utils.log_params(_params(plan, dataset, split))
        mlflow_utils.log_metrics(metrics)
        mlflow_utils.log_dataset(
            dataset.frame, source_uri=dataset.source_uri, digest=dataset.digest,
            name=DATASET_NAME, target=TARGET_COLUMN, context="training",
        )
        _log_evaluation_artifacts(model, val_eval)
        example = _input_example(split)
        logged = mlflow_utils.log_sklearn_model(
            model,
            signature=mlflow_utils.signature_for(example, model.predict(example)),
            input_example=example,
            pip_requirements=mlflow_utils.pinned_requirements(MODEL_REQUIREMENTS),
            code_paths=[PROJECT_ROOT / "src"],
            trusted_types=TRUSTED_TYPES,
            metadata={"feature_set": _feature_set_label(plan.feature_config),
                      "features": [d.name for d in plan.features]},
        )
        try:
            registered = _register(plan, request, dataset, run_id, logged.model_uri, metrics)
        except RegistryError as exc:
            raise TrainingRefused(str(exc)) from exc
    logger.info("registered %s version %s as @%s", registered.name, registered.version, registered.alias)
    return TrainingResult(
        run_id=run_id,
        run_name=plan.run_name,
        experiment_name=plan.experiment,
        experiment_id=experiment_id,
        metrics=metrics,
        registered=registered,
        run_url=mlflow_utils.run_url(settings, experiment_id, run_id),
    )


if __name__ == "__main__":
    from src.models.train_model import main

    sys.exit(main())
