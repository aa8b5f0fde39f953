"""The configured estimator: any scikit-learn-compatible classifier with ``predict_proba``, by import path.

``model.estimator`` in ``configs/model_config.yaml`` names the class and
``model.params`` its parameters, checked against the class's own
``get_params()``, so a typo is an error naming the key and the parameters the
class takes. Training plans check this before anything is tracked.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from src.utils.config import ModelSpec
from src.utils.errors import ProjectError


class EstimatorError(ProjectError, ValueError):
    """The configured estimator does not import, is not a classifier with predict_proba, or has no such parameter."""


def estimator_class(spec: ModelSpec) -> type:
    """The class ``model.estimator`` names, or an EstimatorError saying why it cannot be used."""
    module_name, _, class_name = spec.estimator.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise EstimatorError(f"model.estimator: cannot import {spec.estimator} ({exc})") from None
    if not inspect.isclass(found) or not hasattr(found, "get_params") or not hasattr(found, "fit"):
        raise EstimatorError(f"model.estimator: {spec.estimator} is not a scikit-learn-compatible estimator class")
    return found


def build_classifier(spec: ModelSpec, seed: int) -> Any:
    """The configured estimator with its parameters, seeded (``random_state``) where it takes a seed."""
    cls = estimator_class(spec)
    accepted = cls().get_params()
    unknown = sorted(set(spec.params) - set(accepted))
    if unknown:
        raise EstimatorError(f"model.params: {', '.join(unknown)} not a parameter of {spec.type} "
                             f"(it takes: {', '.join(sorted(accepted))})")  # fmt: skip
    params: dict[str, Any] = dict(spec.params)
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    try:
        estimator = cls(**params)
    except (TypeError, ValueError) as exc:
        raise EstimatorError(f"model.params: {spec.type} refuses them: {exc}") from None
    if not hasattr(estimator, "predict_proba"):
        raise EstimatorError(f"model.estimator: {spec.estimator} has no predict_proba with these parameters: "
                             "the platform serves class probabilities")  # fmt: skip
    return estimator
