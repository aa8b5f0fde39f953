"""The training job's steps: data -> features -> fit -> evaluate -> log -> register, from a checked plan.

Everything that can refuse the input runs first (``training_plan``, then the
data checks), so a bad input tracks and registers nothing. The tracked part
is one run: parameters, metrics, artifacts, tags, dataset lineage and the
logged model, then a registered version with alias ``dev``. MLflow is reached
only through ``src.utils.mlflow_utils`` and ``src.models.model_registry``.
``pipelines/training_pipeline.py`` and ``python -m src.models.train_model``
are the faces that run it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pandas as pd
from sklearn.pipeline import Pipeline

from src.data.contract import CONTRACT
from src.data.load_data import (
    Dataset,
    DataValidationError,
    dataset_digest,
    load_dataset,
    validate_frame,
)
from src.data.profile import PROFILE_ARTIFACT, ReferenceProfile
from src.features.feature_builder import FeatureValueError, MissingInputError, build_features
from src.features.lifecycle_record import load_states
from src.features.store_backend import FeatureStoreError
from src.features.store_repository import feature_service_name
from src.models import evaluation, model_card, semantic_version
from src.models.classifier import (
    Split,
    UntrustableModelError,
    build_model,
    fit_model,
    skops_trusted_types,
    split_dataset,
)
from src.models.model_registry import RegisteredVersion, Registry, RegistryError
from src.models.training_plan import TrainingPlan, TrainingRefused
from src.utils import mlflow_utils
from src.utils.config import PROJECT_ROOT, ModelCardConfig, load_model_card_config
from src.utils.git_info import GitInfo, git_info
from src.utils.keys import ModelMetadata, Param, Tag, join_list
from src.utils.logging import get_logger
from src.utils.naming import run_name

logger = get_logger(__name__)

#: What the logged model imports at inference, pinned to the versions it was trained with.
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")


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


@dataclass(frozen=True)
class _Trained:
    """A fitted, evaluated model with its plots drawn and its load-time trust computed."""

    dataset: Dataset
    split: Split
    model: Pipeline
    train: evaluation.SplitEvaluation
    validation: evaluation.SplitEvaluation
    importance: pd.DataFrame
    importance_png: bytes
    confusion_png: bytes
    trusted_types: tuple[str, ...]
    reference: ReferenceProfile

    @property
    def metrics(self) -> dict[str, float]:
        return {**self.train.metrics, **self.validation.metrics}


def _training_data(plan: TrainingPlan) -> Dataset:
    """The configured data, or, with ``feature_source: store``, the same rows as the feature store serves them."""
    dataset = load_dataset(plan.model_config.data)
    if plan.feature_config.feature_source == "local":
        return dataset
    from src.features.store_backend import source_uri
    from src.features.store_reads import training_inputs

    store = plan.settings.feature_store
    frame = validate_frame(training_inputs(dataset.frame, plan.feature_config, store), "feature store")
    service = feature_service_name(plan.feature_config)
    source = f"{source_uri(store)}#feature_service={service}"
    return Dataset(frame=frame, source_uri=source, digest=dataset_digest(frame), name=service)


def _train(plan: TrainingPlan) -> _Trained:
    """Load and validate data, fit, evaluate and draw the plots: everything before MLflow."""
    config = plan.model_config
    try:
        dataset = _training_data(plan)
        split = split_dataset(dataset, config.split, config.random_seed)
        model = build_model(CONTRACT, plan.features, config.model, config.random_seed)
    except (DataValidationError, MissingInputError, FeatureStoreError) as exc:
        raise TrainingRefused(str(exc)) from exc
    try:
        model = fit_model(model, split)
    except (MissingInputError, FeatureValueError) as exc:  # the feature step's own refusals say what is wrong
        raise TrainingRefused(f"training data: {exc}") from exc
    except (ValueError, TypeError) as exc:  # the estimator refuses its parameters (or the data) when it fits
        raise TrainingRefused(f"{config.model.type} cannot be fitted with model.params {config.model.params}: "
                              f"{exc}") from exc  # fmt: skip
    try:
        trusted_types = skops_trusted_types(model)
    except UntrustableModelError as exc:
        raise TrainingRefused(str(exc)) from exc
    validation = evaluation.evaluate_split(model, split.X_val, split.y_val, "val")
    importance = evaluation.feature_importance(model, split.X_val, split.y_val)
    reference = _reference_profile(plan, split, model)
    return _Trained(
        dataset=dataset,
        split=split,
        model=model,
        train=evaluation.evaluate_split(model, split.X_train, split.y_train, "train"),
        validation=validation,
        importance=importance,
        importance_png=evaluation.png_bytes(evaluation.feature_importance_figure(importance)),
        confusion_png=evaluation.png_bytes(
            evaluation.confusion_matrix_figure(validation, "Confusion matrix (validation)")
        ),
        trusted_types=trusted_types,
        reference=reference,
    )


def _reference_profile(plan: TrainingPlan, split: Split, model: Pipeline) -> ReferenceProfile:
    """What monitoring compares served requests with: the training inputs and features, priors, held-out shares."""
    names = [d.name for d in plan.features if not d.is_passthrough]  # a passthrough's drift is its input's
    features = build_features(split.X_train, names)
    columns = {c.name: split.X_train[c.name].to_numpy() for c in CONTRACT.columns}
    columns |= {name: features[name].to_numpy() for name in names if name not in columns}
    held_out = [str(label) for label in model.predict(split.X_val).tolist()]
    formulas = {d.name: d.expression for d in plan.features if not d.is_passthrough}
    return ReferenceProfile.build(columns, split.y_train.tolist(), held_out, CONTRACT.classes, formulas)


def _params(plan: TrainingPlan, trained: _Trained) -> dict[str, object]:
    config = plan.model_config
    hyperparameters = {f"model.{key}": value for key, value in config.model.params.items()}
    feature_versions = {f"feature.{d.domain}_{d.base_name}": f"v{d.version}" for d in plan.features}
    return {
        Param.MODEL_TYPE: config.model.type,
        Param.MODEL_CLASS: config.model.estimator,
        **hyperparameters,
        Param.DATA_SOURCE: config.data.source,
        Param.DATA_URI: trained.dataset.source_uri,
        Param.DATA_DIGEST: trained.dataset.digest,
        Param.DATA_ROWS: len(trained.dataset.frame),
        Param.SPLIT_TEST_SIZE: config.split.test_size,
        Param.SPLIT_STRATIFY: config.split.stratify,
        Param.SPLIT_TRAIN_ROWS: len(trained.split.X_train),
        Param.SPLIT_VAL_ROWS: len(trained.split.X_val),
        Param.RANDOM_SEED: config.random_seed,
        Param.FEATURE_SET_NAME: plan.feature_config.feature_set.name,
        Param.FEATURE_SET_VERSION: plan.feature_config.feature_set.version,
        Param.FEATURE_SOURCE: plan.feature_config.feature_source,
        Param.FEATURE_SERVICE: feature_service_name(plan.feature_config),
        Param.FEATURES: join_list([d.name for d in plan.features]),
        **feature_versions,
    }


def _build(plan: TrainingPlan, trained: _Trained, git: GitInfo) -> semantic_version.Build:
    """The build a semantic version names: the run's parameters, except where the data happens to lie."""
    configuration = {key: value for key, value in _params(plan, trained).items() if key != Param.DATA_URI}
    return semantic_version.Build(git.sha, git.dirty, trained.dataset.digest, configuration)


def _settle_version(plan: TrainingPlan, build: semantic_version.Build) -> TrainingPlan:
    """Apply the semantic-version rule against the registry (resolving ``auto``) before anything is tracked."""
    name = plan.settings.model_name_for("dev")
    try:
        registered = [
            semantic_version.Registered(v.version, v.tags.get(Tag.MODEL_VERSION, ""),
                                        v.tags.get(Tag.BUILD_FINGERPRINT, ""))
            for v in Registry().versions(name)
        ]  # fmt: skip
        chosen = semantic_version.resolve(plan.model_version, build, registered, name)
    except (RegistryError, semantic_version.VersionTaken) as exc:
        raise TrainingRefused(str(exc)) from exc
    if chosen == plan.model_version:
        return plan
    request = replace(plan.request, version=chosen)
    return replace(plan, request=request, run_name=run_name(chosen, request.context, build_id=request.build_id))


def _run_tags(plan: TrainingPlan, git: GitInfo, build: semantic_version.Build) -> dict[str, str]:
    return {
        Tag.MODEL_VERSION: plan.model_version,
        Tag.TRAINING_CONTEXT: plan.request.context,
        Tag.BUILD_ID: plan.request.build_id or "local",
        Tag.GIT_SHA: git.sha,
        Tag.GIT_BRANCH: git.branch,
        Tag.GIT_DIRTY: str(git.dirty).lower(),
        Tag.AUTHOR: plan.author,
        Tag.ENV: plan.settings.profile,
        Tag.FEATURE_SET: plan.feature_set_label,
        Tag.BUILD_FINGERPRINT: build.tag,
    }


def _input_example(split: Split) -> pd.DataFrame:
    """One training row per class: a readable example that exercises every class."""
    first_of_each = split.y_train.reset_index(drop=True).drop_duplicates().index
    return split.X_train.reset_index(drop=True).loc[first_of_each].reset_index(drop=True)


def _log_evaluation_artifacts(trained: _Trained) -> None:
    mlflow_utils.log_text(trained.importance.to_csv(index=False), "feature_importance/feature_importance.csv")
    mlflow_utils.log_bytes(trained.importance_png, "feature_importance/feature_importance.png")
    mlflow_utils.log_bytes(trained.confusion_png, "evaluation/confusion_matrix.png")
    mlflow_utils.log_text(trained.validation.report_text, "evaluation/classification_report.txt")
    mlflow_utils.log_dict(trained.validation.report, "evaluation/classification_report.json")
    mlflow_utils.log_dict(trained.reference.to_dict(), PROFILE_ARTIFACT)


def card_facts(plan: TrainingPlan, trained: _Trained, git: GitInfo, run_id: str | None) -> model_card.TrainingFacts:
    """What the model card takes from this training (logged with the run, so any later card can use it)."""
    config, split = plan.model_config, plan.model_config.split
    states = load_states()
    features = [
        model_card.FeatureFact(d.name, d.description, d.owner,
                               states[d.name].status.value if d.name in states else "UNRECORDED")
        for d in plan.features
    ]  # fmt: skip
    report = trained.validation.report
    return model_card.TrainingFacts(
        model_name=plan.settings.model_name_for("dev"),
        semantic_version=plan.model_version,
        context=plan.request.context,
        owner=plan.settings.project.owner,
        author=plan.author,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        run_id=run_id,
        git_commit=git.sha + (" (uncommitted changes)" if git.dirty else ""),
        model_type=config.model.type,
        feature_set=plan.feature_set_label,
        features=features,
        data_source=trained.dataset.source_uri,
        data_digest=trained.dataset.digest,
        rows=len(trained.dataset.frame),
        train_rows=len(trained.split.X_train),
        val_rows=len(trained.split.X_val),
        split=f"held-out share {split.test_size:g}"
        f"{f', stratified by {CONTRACT.target.name}' if split.stratify else ''}, "
        f"seed {config.random_seed}",
        metrics={name: float(value) for name, value in trained.metrics.items()},
        per_class={label: {k: float(v) for k, v in report[label].items()} for label in trained.validation.labels},
        labels=list(trained.validation.labels),
        confusion=[[int(n) for n in row] for row in trained.validation.confusion],
        thresholds={name: float(value) for name, value in config.validation.thresholds.items()},
    )


def preview_card(plan: TrainingPlan, card_config: ModelCardConfig) -> str:
    """The card this plan's training would give, trained in memory and never tracked (``make lint``'s check)."""
    facts = card_facts(plan, _train(plan), git_info(), run_id=None)
    return model_card.render(facts, model_card.RegistryFacts(version=None, aliases=["dev"]), card_config)


def _log_model(plan: TrainingPlan, trained: _Trained) -> mlflow_utils.LoggedModelRef:
    example = _input_example(trained.split)
    logged = mlflow_utils.log_sklearn_model(
        trained.model,
        signature=mlflow_utils.signature_for(
            [(c.name, c.mlflow_type, not c.nullable) for c in CONTRACT.columns], trained.model.predict(example)
        ),
        input_example=example,
        pip_requirements=mlflow_utils.pinned_requirements(MODEL_REQUIREMENTS),
        code_paths=[PROJECT_ROOT / "src"],
        trusted_types=trained.trusted_types,
        metadata={
            ModelMetadata.FEATURE_SET: plan.feature_set_label,
            ModelMetadata.FEATURES: [d.name for d in plan.features],
            ModelMetadata.CONTRACT: CONTRACT.to_dict(),
        },
    )
    return logged


def _register(
    plan: TrainingPlan,
    trained: _Trained,
    run_id: str,
    logged: mlflow_utils.LoggedModelRef,
    build: semantic_version.Build,
    version_description: str,
) -> RegisteredVersion:
    identity = plan.settings.project
    model_description = (
        f"{identity.use_case}. Owner: {identity.owner}. Input: {', '.join(CONTRACT.input_names)}; "
        f"output: the {CONTRACT.target.name} ({', '.join(CONTRACT.classes)})."
    )
    dataset = trained.dataset
    try:
        return Registry().register(
            name=plan.settings.model_name_for("dev"),
            model_uri=logged.model_uri,
            model_id=logged.model_id,
            run_id=run_id,
            model_description=model_description,
            version_description=version_description,
            model_tags={
                Tag.OWNER: identity.owner,
                Tag.USE_CASE: identity.use_case,
                Tag.TEAM: identity.team,
                Tag.PROJECT: identity.project,
            },
            version_tags={
                Tag.OWNER: identity.owner,
                Tag.USE_CASE: identity.use_case,
                Tag.DATA_LINEAGE: f"{dataset.source_uri}#digest={dataset.digest}",
                Tag.FEATURE_SET: plan.feature_set_label,
                Tag.FEATURES: join_list([d.name for d in plan.features]),
                Tag.MODEL_VERSION: plan.model_version,
                Tag.BUILD_FINGERPRINT: build.tag,
                Tag.RUN_NAME: plan.run_name,
                Tag.AUTHOR: plan.author,
                Tag.TRAINING_CONTEXT: plan.request.context,
            },
        )
    except RegistryError as exc:
        raise TrainingRefused(str(exc)) from exc


def execute(plan: TrainingPlan, store_ready: Callable[[], None] = lambda: None) -> TrainingResult:
    """Train, evaluate, track and register one model version from a checked plan.

    ``store_ready`` is called just before the first MLflow call (see
    ``src.utils.tracking_store``): training overlaps with store creation.
    """
    card_config = load_model_card_config()  # a bad card config is refused before anything is tracked
    trained = _train(plan)
    git = git_info()
    build = _build(plan, trained, git)
    store_ready()
    settings = plan.settings
    mlflow_utils.configure_tracking(settings)
    plan = _settle_version(plan, build)
    experiment_id = mlflow_utils.ensure_project_experiment(settings)
    description = (f"Training of {plan.model_config.model.type} on {plan.feature_set_label}, version "
                   f"{plan.model_version} ({plan.request.context}) by {plan.author}")  # fmt: skip
    with mlflow_utils.tracked_run(experiment_id, plan.run_name, _run_tags(plan, git, build), description) as run:
        run_id = run.info.run_id
        mlflow_utils.log_params(_params(plan, trained))
        mlflow_utils.log_metrics(trained.metrics)
        mlflow_utils.log_dataset(
            trained.dataset.frame,
            source_uri=trained.dataset.source_uri,
            digest=trained.dataset.digest,
            name=trained.dataset.name,
            target=CONTRACT.target.name,
            context="training",
        )
        _log_evaluation_artifacts(trained)
        facts = card_facts(plan, trained, git, run_id)
        mlflow_utils.log_dict(facts.to_dict(), model_card.FACTS_ARTIFACT)
        logged = _log_model(plan, trained)
    # Registered once the run is finished: a failure before this line leaves @dev where it was.
    registered = _register(plan, trained, run_id, logged, build, model_card.summary(facts, card_config))
    logger.info("registered %s version %s as @%s", registered.name, registered.version, registered.alias)
    card = model_card.render(facts, model_card.RegistryFacts(registered.version, [registered.alias]), card_config)
    try:
        mlflow_utils.log_text_to_run(run_id, card, model_card.CARD_ARTIFACT)
    except mlflow_utils.BackendError as exc:  # the version stands; its card can be rebuilt: make model-card
        logger.warning("version %s is registered but its model card was not logged: %s", registered.version, exc)
    return TrainingResult(
        run_id=run_id,
        run_name=plan.run_name,
        experiment_name=plan.experiment,
        experiment_id=experiment_id,
        metrics=trained.metrics,
        registered=registered,
        run_url=mlflow_utils.run_url(settings, experiment_id, run_id),
    )
