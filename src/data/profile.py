"""The reference profile of a model version: what its inputs, features and predictions looked like in training.

Logged with the version's training run (``monitoring/reference_profile.json``),
so monitoring compares a window of served requests with the distribution of
the version that served them, never with today's data file. Per column: bin
edges from reference quantiles (the PSI bins), the count in each, mean, std,
min, max, and a sorted sample for the two-sample KS test; the class priors of
the training labels; the predicted class shares on held-out rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: PSI bins: deciles of the reference.
BINS = 10
#: At most this many reference values are kept for the KS test (all of them for Iris).
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

    @classmethod
    def of(cls, values: np.ndarray) -> ColumnProfile:
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        quantiles = np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1], method="lower")
        edges = tuple(float(edge) for edge in np.unique(quantiles))
        counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
        ordered = np.sort(values)
        if len(ordered) > SAMPLE_SIZE:
            ordered = ordered[np.linspace(0, len(ordered) - 1, SAMPLE_SIZE).astype(int)]
        return cls(edges, tuple(int(c) for c in counts), float(values.mean()), float(values.std()),
                   float(values.min()), float(values.max()), tuple(float(v) for v in ordered))  # fmt: skip

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` fall in each of this column's bins."""
        return np.bincount(np.searchsorted(self.edges, values, side="left"), minlength=len(self.edges) + 1)


@dataclass(frozen=True)
class ReferenceProfile:
    """A version's reference distributions: inputs and model features, class priors, held-out predictions."""

    columns: Mapping[str, ColumnProfile]
    class_priors: Mapping[str, float]
    prediction_shares: Mapping[str, float]
    rows: int

    @classmethod
    def build(
        cls, columns: Mapping[str, np.ndarray], labels: Sequence[str], held_out_predictions: Sequence[str],
        classes: Sequence[str],
    ) -> ReferenceProfile:  # fmt: skip
        return cls(
            columns={name: ColumnProfile.of(values) for name, values in columns.items()},
            class_priors=_shares(labels, classes),
            prediction_shares=_shares(held_out_predictions, classes),
            rows=len(labels),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, **asdict(self)}

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> ReferenceProfile:
        columns = {
            name: ColumnProfile(**{k: tuple(v) if isinstance(v, list) else v for k, v in column.items()})
            for name, column in content["columns"].items()
        }
        return cls(columns, dict(content["class_priors"]), dict(content["prediction_shares"]), int(content["rows"]))


def _shares(labels: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    total = max(len(labels), 1)
    listed = list(labels)
    return {name: listed.count(name) / total for name in classes}
