"""The reference profile of a model version: what its inputs, features and predictions looked like in training.

Logged with the version's training run (``monitoring/reference_profile.json``),
so monitoring compares a window of served requests with the distribution of
the version that served them, never with today's data file. Per numeric
column: bin edges from reference quantiles (the PSI bins), the count in each,
mean, std, min, max, a sorted sample for the two-sample KS test, and the share
of missing values; per categorical column: the count of each category and the
share missing; for a derived feature, its formula (monitoring recomputes it
from the served inputs as the version does); the class priors of the training
labels; the predicted class shares on held-out rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: PSI bins: deciles of the reference.
BINS = 10
#: At most this many reference values are kept for the KS test (all of them for a small data set).
SAMPLE_SIZE = 2000
PROFILE_ARTIFACT = "monitoring/reference_profile.json"


@dataclass(frozen=True)
class ColumnProfile:
    """One numeric column on the reference rows."""

    edges: tuple[float, ...]  #: upper bounds (inclusive) of all bins but the last: reference deciles, deduplicated
    counts: tuple[int, ...]  #: reference rows per bin (len(edges) + 1)
    mean: float
    std: float
    min: float
    max: float
    sample: tuple[float, ...]  #: sorted reference values (or an even subsample) for the KS test
    missing: float = 0.0  #: share of the reference rows without a value
    #: the formula of a derived feature (``src.features.expressions``); empty for an input column
    formula: str = ""
    kind: str = "numeric"

    @classmethod
    def of(cls, values: np.ndarray, formula: str = "") -> ColumnProfile:
        values = np.asarray(values, dtype=float)
        missing = float(np.mean(np.isnan(values))) if len(values) else 0.0
        values = values[np.isfinite(values)]
        quantiles = np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1], method="lower")
        edges = tuple(float(edge) for edge in np.unique(quantiles))
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
        ordered = np.sort(values)
        if len(ordered) > SAMPLE_SIZE:
            ordered = ordered[np.linspace(0, len(ordered) - 1, SAMPLE_SIZE).astype(int)]
        return cls(edges, tuple(int(c) for c in counts), float(values.mean()), float(values.std()),
                   float(values.min()), float(values.max()), tuple(float(v) for v in ordered), missing,
                   formula)  # fmt: skip

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` fall in each of this column's bins."""
        return np.bincount(np.searchsorted(self.edges, values, side="left"), minlength=len(self.edges) + 1)


@dataclass(frozen=True)
class CategoryProfile:
    """One categorical column on the reference rows: how often each category was seen."""

    categories: tuple[str, ...]
    counts: tuple[int, ...]
    missing: float = 0.0
    kind: str = "categorical"

    @classmethod
    def of(cls, values: np.ndarray) -> CategoryProfile:
        present = [v for v in np.asarray(values, dtype=object).tolist() if v is not None and v == v]
        categories, counts = np.unique(np.asarray(present, dtype=str), return_counts=True) if present else ([], [])
        missing = 1 - len(present) / len(values) if len(values) else 0.0
        return cls(tuple(str(c) for c in categories), tuple(int(c) for c in counts), float(missing))

    def category_counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` are each reference category, and (last) how many are none of them."""
        index = {category: position for position, category in enumerate(self.categories)}
        counts = np.zeros(len(self.categories) + 1, dtype=float)
        for value in np.asarray(values, dtype=object).tolist():
            if value is not None and value == value:
                counts[index.get(str(value), len(self.categories))] += 1
        return counts


Profile = ColumnProfile | CategoryProfile


@dataclass(frozen=True)
class ReferenceProfile:
    """A version's reference distributions: inputs and model features, class priors, held-out predictions."""

    columns: Mapping[str, Profile]
    class_priors: Mapping[str, float]
    prediction_shares: Mapping[str, float]
    rows: int

    @classmethod
    def build(
        cls, columns: Mapping[str, np.ndarray], labels: Sequence[str], held_out_predictions: Sequence[str],
        classes: Sequence[str], formulas: Mapping[str, str] | None = None,
    ) -> ReferenceProfile:  # fmt: skip
        """Profile each column (an object array is categorical); ``formulas``: the derived features' formulas."""
        formulas = formulas or {}

        def profile(name: str, values: np.ndarray) -> Profile:
            if np.asarray(values).dtype == object:
                return CategoryProfile.of(values)
            return ColumnProfile.of(values, formulas.get(name, ""))

        return cls(
            columns={name: profile(name, values) for name, values in columns.items()},
            class_priors=_shares(labels, classes),
            prediction_shares=_shares(held_out_predictions, classes),
            rows=len(labels),
        )

    @property
    def inputs(self) -> list[str]:
        """The input columns profiled (the derived features are recomputed from them)."""
        return [name for name, column in self.columns.items() if not getattr(column, "formula", "")]

    def to_dict(self) -> dict[str, Any]:
        return {"version": 2, **asdict(self)}

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> ReferenceProfile:
        def column(fields: Mapping[str, Any]) -> Profile:
            kind = CategoryProfile if fields.get("kind") == "categorical" else ColumnProfile
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

        columns = {name: column(fields) for name, fields in content["columns"].items()}
        return cls(columns, dict(content["class_priors"]), dict(content["prediction_shares"]), int(content["rows"]))


def _shares(labels: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    total = max(len(labels), 1)
    listed = list(labels)
    return {name: listed.count(name) / total for name in classes}
