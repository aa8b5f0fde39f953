"""Turn a training request into a checked plan, before anything heavy is imported or tracked.

Configuration, naming and the feature set are validated here, so a bad
input is refused in well under a second and leaves no trace in MLflow.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path

from src.features.feature_set import UnknownFeatureError, resolve_features
from src.features.versioned import FeatureDefinition
from src.models.estimator import EstimatorError, build_classifier
from src.models.semantic_version import AUTO, FIRST
from src.utils.config import (
    DEFAULT_ENVIRONMENT_CONFIG,
    DEFAULT_FEATURE_CONFIG,
    ConfigError,
    FeatureConfig,
    ModelConfig,
    Settings,
    load_feature_config,
    load_model_config,
    model_config_path,
    resolve_settings,
)
from src.utils.errors import ProjectError
from src.utils.git_info import git_user_email
from src.utils.naming import NamingError, check_experiment_name, run_name


class TrainingRefused(ProjectError, ValueError):
    """The input (config, names, data, features) or the registry refused the run."""


@dataclass(frozen=True)
class TrainingRequest:
    """Everything one training run is asked to do."""

    version: str
    context: str = "full"
    model_config: Path = field(default_factory=model_config_path)
    feature_config: Path = DEFAULT_FEATURE_CONFIG
    environment_config: Path = DEFAULT_ENVIRONMENT_CONFIG
    env: str | None = None
    experiment: str | None = None
    build_id: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class TrainingPlan:
    """A request checked against configuration and conventions: safe to track."""

    request: TrainingRequest
    settings: Settings
    model_config: ModelConfig
    feature_config: FeatureConfig
    features: tuple[FeatureDefinition, ...]
    experiment: str
    run_name: str
    author: str

    @property
    def model_version(self) -> str:
        return self.request.version.removeprefix("v")

    @property
    def feature_set_label(self) -> str:
        feature_set = self.feature_config.feature_set
        return f"{feature_set.name}:v{feature_set.version}"


def plan_training(request: TrainingRequest) -> TrainingPlan:
    """Load and check every input; raise TrainingRefused before anything is tracked."""
    try:
        settings = resolve_settings(request.env, request.environment_config)
        model_config = load_model_config(request.model_config)
        build_classifier(model_config.model, model_config.random_seed)  # imports it, checks its parameters
        feature_config = load_feature_config(request.feature_config)
        features = resolve_features(feature_config.features)
        experiment = check_experiment_name(request.experiment or settings.experiment_name)
        if experiment != settings.experiment_name:
            raise NamingError(
                f"experiment {experiment!r} does not belong to this project; the profile's is "
                f"{settings.experiment_name!r} (team/project/model_name in {request.environment_config})"
            )
        # ``auto`` is settled against the registry once the build is known (src.models.semantic_version)
        version = FIRST if request.version == AUTO else request.version
        name = run_name(version, request.context, build_id=request.build_id)
    except (ConfigError, NamingError, UnknownFeatureError, EstimatorError) as exc:
        raise TrainingRefused(str(exc)) from exc
    author = request.author or os.environ.get("MLFLOW_TRACKING_USERNAME") or git_user_email() or getpass.getuser()
    return TrainingPlan(request, settings, model_config, feature_config, features, experiment, name, author)
