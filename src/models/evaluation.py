"""Metrics, reports and plots of a fitted classifier on a labelled split.

Plots use matplotlib's object API (no pyplot): no global state, no GUI
backend, safe to call from any thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
)
from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class SplitEvaluation:
    """What a model did on one split: metrics, confusion matrix and per-class report."""

    metrics: dict[str, float]
    labels: tuple[str, ...]
    confusion: np.ndarray
    report: dict[str, Any]
    report_text: str


def evaluate_split(model: Pipeline, features: pd.DataFrame, target: pd.Series, prefix: str) -> SplitEvaluation:
    """Accuracy, macro F1/precision/recall and log loss, each named ``{prefix}_{metric}``."""
    labels = tuple(str(label) for label in model.classes_)
    predicted = model.predict(features)
    probabilities = model.predict_proba(features)
    macro = {"average": "macro", "zero_division": 0}
    metrics = {
        f"{prefix}_accuracy": accuracy_score(target, predicted),
        f"{prefix}_f1_macro": f1_score(target, predicted, **macro),
        f"{prefix}_precision_macro": precision_score(target, predicted, **macro),
        f"{prefix}_recall_macro": recall_score(target, predicted, **macro),
        f"{prefix}_log_loss": log_loss(target, probabilities, labels=list(labels)),
    }
    report_args = {"labels": list(labels), "zero_division": 0, "digits": 4}
    return SplitEvaluation(
        metrics={name: float(value) for name, value in metrics.items()},
        labels=labels,
        confusion=confusion_matrix(target, predicted, labels=list(labels)),
        report=classification_report(target, predicted, output_dict=True, **report_args),
        report_text=classification_report(target, predicted, **report_args),
    )


def feature_importance(model: Pipeline, features: pd.DataFrame, target: pd.Series) -> pd.DataFrame:
    """Importance of each model feature, largest first.

    Forests report impurity decrease; linear models the mean absolute
    coefficient over classes, comparable because features are standardized;
    any other estimator (a gradient-boosting one, say) gets permutation
    importance of the inputs on the given rows (mean accuracy drop, 5 shuffles).
    A categorical feature's one-hot columns are summed into the feature, so the
    table names the configured features, whatever the encoding made of them.
    """
    estimator = model[-1]
    if hasattr(estimator, "feature_importances_"):
        values, measure = np.asarray(estimator.feature_importances_), "mean impurity decrease"
        names = model[:-1].get_feature_names_out()
    elif hasattr(estimator, "coef_"):
        values, measure = np.abs(np.asarray(estimator.coef_)).mean(axis=0), "mean |coefficient| (standardized)"
        names = model[:-1].get_feature_names_out()
    else:
        from sklearn.inspection import permutation_importance

        found = permutation_importance(model, features, target, n_repeats=5, random_state=0, scoring="accuracy")
        values, measure, names = found.importances_mean, "mean accuracy drop when shuffled", features.columns
    table = pd.DataFrame({"feature": _features_of(list(names), model), "importance": values, "measure": measure})
    table = table.groupby(["feature", "measure"], as_index=False, sort=False)["importance"].sum()
    return table[["feature", "importance", "measure"]].sort_values("importance", ascending=False, ignore_index=True)


def _features_of(columns: list[str], model: Pipeline) -> list[str]:
    """The configured feature behind each model column (``colour_v1_red`` -> ``colour_v1``)."""
    features = sorted(getattr(model[0], "features", ()), key=len, reverse=True)
    return [next((f for f in features if c == f or c.startswith(f"{f}_")), c) for c in columns]


def confusion_matrix_figure(evaluation: SplitEvaluation, title: str) -> Figure:
    """The confusion matrix as an annotated heat map (true class by row)."""
    figure = Figure(figsize=(5, 4.2), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(evaluation.confusion, cmap="Blues")
    ticks = range(len(evaluation.labels))
    axes.set(xticks=ticks, yticks=ticks, xlabel="Predicted", ylabel="True", title=title)
    axes.set_xticklabels(evaluation.labels)
    axes.set_yticklabels(evaluation.labels)
    threshold = evaluation.confusion.max() / 2
    for (row, column), count in np.ndenumerate(evaluation.confusion):
        color = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color)
    figure.colorbar(image, ax=axes)
    return figure


def feature_importance_figure(importance: pd.DataFrame) -> Figure:
    """Horizontal bars, most important feature on top."""
    figure = Figure(figsize=(6, 0.45 * len(importance) + 1.2), layout="constrained")
    axes = figure.subplots()
    ordered = importance.iloc[::-1]
    axes.barh(ordered["feature"], ordered["importance"], color="#3b7dd8")
    axes.set(xlabel=f"importance: {importance['measure'].iloc[0]}", title="Feature importance")
    return figure


def png_bytes(figure: Figure) -> bytes:
    """Render a figure to PNG, so plots are drawn before (and without) any MLflow call."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
