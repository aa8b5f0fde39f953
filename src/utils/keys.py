"""The platform's MLflow vocabulary: every tag, parameter and model-metadata key the project writes and reads.

Spelt once, here, below everything else (it imports nothing of the project):
training writes these keys, and the validator, promotion, the guard, the
model card and monitoring read them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Tag(StrEnum):
    """Tag keys written on runs, registered models and model versions."""

    MODEL_VERSION = "model_version"
    TRAINING_CONTEXT = "training_context"
    BUILD_ID = "build_id"
    #: Code, data and configuration of a training run, digested: one semantic version names one build.
    BUILD_FINGERPRINT = "build_fingerprint"
    GIT_SHA = "git_sha"
    GIT_BRANCH = "git_branch"
    GIT_DIRTY = "git_dirty"
    AUTHOR = "author"
    ENV = "env"
    FEATURE_SET = "feature_set"
    FEATURES = "features"
    OWNER = "owner"
    USE_CASE = "use_case"
    TEAM = "team"
    PROJECT = "project"
    DATA_LINEAGE = "data_lineage"
    RUN_NAME = "run_name"
    VALIDATION_STATUS = "validation.status"
    VALIDATION_FAILED_CHECKS = "validation.failed_checks"
    VALIDATION_RUN_ID = "validation.run_id"
    VALIDATION_AT = "validation.at"
    VALIDATION_BASELINE = "validation.baseline_version"
    #: One line for people: how many checks passed (the checks themselves: validation/decision.json of the run).
    VALIDATION_SUMMARY = "validation.summary"
    VALIDATION_MODEL = "validation.model"
    VALIDATION_VERSION = "validation.version"
    COPIED_FROM = "promotion.copied_from"
    #: On a registered model: the name the project created it under (a rename keeps it; the alias guard reads it).
    REGISTERED_AS = "governance.registered_as"
    #: MLflow's own: without it the MLflow 3 UI opens the experiment in its GenAI view.
    EXPERIMENT_KIND = "mlflow.experimentKind"
    #: MLflow's own: a run's description, shown on its page and in the runs table.
    RUN_DESCRIPTION = "mlflow.note.content"


#: The value of ``Tag.EXPERIMENT_KIND`` that makes the UI show model training.
EXPERIMENT_KIND_TRAINING = "custom_model_development"


class Param(StrEnum):
    """Run parameter keys that other steps read back (the validator rebuilds the split from them)."""

    MODEL_TYPE = "model.type"
    #: The estimator's import path (``model.type`` is its class name).
    MODEL_CLASS = "model.class"
    DATA_SOURCE = "data.source"
    DATA_URI = "data.uri"
    DATA_DIGEST = "data.digest"
    DATA_ROWS = "data.rows"
    SPLIT_TEST_SIZE = "split.test_size"
    SPLIT_STRATIFY = "split.stratify"
    SPLIT_TRAIN_ROWS = "split.train_rows"
    SPLIT_VAL_ROWS = "split.val_rows"
    RANDOM_SEED = "random_seed"
    FEATURE_SET_NAME = "feature_set.name"
    FEATURE_SET_VERSION = "feature_set.version"
    FEATURE_SOURCE = "feature_source"
    FEATURE_SERVICE = "feature_service"
    FEATURES = "features"
    #: The gate's verdict, logged as parameters of its validation run: MLflow never lets a parameter change, so a
    #: run's verdict cannot be rewritten, and only the gate's experiment holds runs that count (src/models/verdict.py).
    VALIDATED_MODEL = "validation.model"
    VALIDATED_VERSION = "validation.version"
    #: The training run of the judged version: a copy into another catalog keeps it, a different model does not.
    VALIDATED_RUN = "validation.model_run_id"
    VALIDATION_STATUS = "validation.status"
    VALIDATION_FAILED_CHECKS = "validation.failed_checks"
    #: SHA-256 of the decision artifact (``validation/decision.json``) as logged.
    DECISION_SHA256 = "validation.decision_sha256"


class ModelMetadata(StrEnum):
    """Keys of the logged model's ``metadata`` (MLmodel), read back by the scorer and the validator."""

    FEATURE_SET = "feature_set"
    FEATURES = "features"
    #: The data contract the version was trained with (``DataContract.to_dict``): what it is served against.
    CONTRACT = "data_contract"


def split_list(value: str | None) -> list[str]:
    """A comma-joined tag value (``features``) as a list; empty for a missing tag."""
    return [item for item in (value or "").split(",") if item]


def join_list(values: Sequence[str]) -> str:
    return ",".join(values)
