"""Drift statistics of one window against a version's reference profile, and the thresholds that judge them.

Per numeric feature: the two-sample KS test against the reference sample (and
a binomial test of the share of missing values), and the population stability
index (PSI) over the reference's decile bins plus a bin of missing values. Per
categorical column: chi-square of the category counts (and a bin of missing values, and one of categories training never
saw) against the reference shares, and PSI over the same bins. A feature
drifts only when both agree: the test says the difference is real (p below
``ks_alpha`` divided by the number of tests, Bonferroni) and PSI says it is
large (at least ``psi``). Predictions: class shares against the held-out
shares, by chi-square and PSI, judged the same way. A window smaller than
``min_rows`` is "insufficient data", never an alarm. The defaults are
calibrated on bootstrap windows drawn from the reference distribution
(``tests/unit/test_drift.py``: at most 5% of 200 windows alarm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import stats

from src.data.profile import CategoryProfile, ColumnProfile, ReferenceProfile
from src.utils.config import MonitoringThresholds as Thresholds

#: Added to every bin share so an empty bin does not make PSI infinite.
EPSILON = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    ks: float  #: the test's statistic: KS distance (numeric) or chi-square (categorical)
    ks_pvalue: float
    psi: float
    drifted: bool
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]
    test: str = "ks"
    missing_share: float = 0.0  #: of the window's rows
    #: What each share's bin holds: value ranges of the reference deciles (or the categories), then "missing".
    bins: tuple[str, ...] = ()
    #: Why the verdict is what it is, in words: which test said what against which threshold.
    reason: str = ""


def _number(value: float) -> str:
    return f"{value:.3g}"


def numeric_bins(edges: Sequence[float]) -> tuple[str, ...]:
    """The bins of a numeric profile as value ranges (edges are inclusive upper bounds), then "missing"."""
    if not edges:
        return ("all values", "missing")
    inner = [f"({_number(low)}, {_number(high)}]" for low, high in pairwise(edges)]
    return (f"<= {_number(edges[0])}", *inner, f"> {_number(edges[-1])}", "missing")


def verdict_reason(test: str, pvalue: float, alpha: float, index: float, psi_threshold: float) -> str:
    """The verdict in words: drift needs both the test (p below alpha) and PSI (at least its threshold)."""
    name = "KS" if test == "ks" else "chi-square"
    real, large = pvalue < alpha, index >= psi_threshold
    test_says = f"{name} p {pvalue:.2g} {'<' if real else '>='} {alpha:.2g}"
    psi_says = f"PSI {index:.3f} {'>=' if large else '<'} {psi_threshold:g}"
    if real and large:
        return f"drift: {test_says} and {psi_says}"
    if large:
        return f"ok: {psi_says}, but {test_says} (the difference may be chance)"
    if real:
        return f"ok: {test_says}, but {psi_says} (real, but small)"
    return f"ok: {test_says} and {psi_says}"


@dataclass(frozen=True)
class PredictionDrift:
    chi2: float
    pvalue: float
    psi: float
    drifted: bool
    reference_shares: Mapping[str, float]
    current_shares: Mapping[str, float]
    reason: str = ""


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros_like(counts, dtype=float)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    expected, actual = reference + EPSILON, current + EPSILON
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _with_missing(counts: np.ndarray, missing_share: float) -> np.ndarray:
    """Counts of the values present, plus a last bin of missing values (from the share of rows missing)."""
    present = counts.sum()
    missing = present * missing_share / (1 - missing_share) if missing_share < 1 else 1.0
    return np.append(counts.astype(float), missing)


def feature_drift(
    name: str, profile: ColumnProfile, values: np.ndarray, thresholds: Thresholds, tests: int
) -> FeatureDrift:
    rows = len(values)
    missing = float(np.mean(np.isnan(values))) if rows else 0.0
    values = values[np.isfinite(values)]
    ks = stats.ks_2samp(np.asarray(profile.sample), values) if len(values) else None
    reference = shares(_with_missing(np.asarray(profile.counts, dtype=float), profile.missing))
    current = shares(_with_missing(profile.bin_counts(values).astype(float), missing))
    index = psi(reference, current)
    statistic, pvalue = (float(ks.statistic), float(ks.pvalue)) if ks is not None else (1.0, 0.0)
    if rows:  # more (or fewer) missing values than in training: a change KS, on the values present, cannot see
        absent = round(missing * rows)
        pvalue = min(pvalue, float(stats.binomtest(absent, rows, max(profile.missing, EPSILON)).pvalue))
    alpha = thresholds.ks_alpha / tests
    drifted = bool(pvalue < alpha and index >= thresholds.psi)
    return FeatureDrift(name, statistic, pvalue, index, drifted, tuple(reference.round(4)), tuple(current.round(4)),
                        "ks", missing, numeric_bins(profile.edges),
                        verdict_reason("ks", pvalue, alpha, index, thresholds.psi))  # fmt: skip


def category_drift(
    name: str, profile: CategoryProfile, values: np.ndarray, thresholds: Thresholds, tests: int
) -> FeatureDrift:
    """Chi-square and PSI of the category counts (with a bin of unseen categories and one of missing values)."""
    rows = len(values)
    counts = profile.category_counts(values)  # the reference categories, then unseen ones
    missing = 1 - counts.sum() / rows if rows else 0.0
    reference = shares(_with_missing(np.append(np.asarray(profile.counts, dtype=float), 0.0), profile.missing))
    observed = _with_missing(counts, missing)
    current = shares(observed)
    smoothed = (reference + EPSILON) / (reference + EPSILON).sum()
    chi2 = stats.chisquare(observed, smoothed * observed.sum()) if observed.sum() else None
    statistic, pvalue = (float(chi2.statistic), float(chi2.pvalue)) if chi2 is not None else (0.0, 1.0)
    index = psi(reference, current)
    alpha = thresholds.ks_alpha / tests
    drifted = bool(pvalue < alpha and index >= thresholds.psi)
    return FeatureDrift(name, statistic, pvalue, index, drifted, tuple(reference.round(4)), tuple(current.round(4)),
                        "chi2", float(missing), (*profile.categories, "unseen", "missing"),
                        verdict_reason("chi2", pvalue, alpha, index, thresholds.psi))  # fmt: skip


def prediction_drift(
    expected: Mapping[str, float], predictions: Sequence[str], thresholds: Thresholds
) -> PredictionDrift:
    classes = list(expected)
    labels = np.asarray(predictions, dtype=object)
    observed = np.array([np.count_nonzero(labels == c) for c in classes], dtype=float)
    reference = np.array([expected[c] for c in classes], dtype=float)
    smoothed = (reference + EPSILON) / (reference + EPSILON).sum()
    chi2 = stats.chisquare(observed, smoothed * observed.sum()) if observed.sum() else None
    current = shares(observed)
    index = psi(reference, current)
    pvalue = float(chi2.pvalue) if chi2 is not None else 1.0
    drifted = bool(pvalue < thresholds.prediction_alpha and index >= thresholds.prediction_psi)
    return PredictionDrift(float(chi2.statistic) if chi2 is not None else 0.0, pvalue, index, drifted,
                           dict(zip(classes, reference.round(4).tolist(), strict=True)),
                           dict(zip(classes, current.round(4).tolist(), strict=True)),
                           verdict_reason("chi2", pvalue, thresholds.prediction_alpha, index,
                                          thresholds.prediction_psi))  # fmt: skip


@dataclass(frozen=True)
class DriftResult:
    """One version's window against its reference."""

    rows: int
    sufficient: bool
    features: tuple[FeatureDrift, ...]
    prediction: PredictionDrift | None

    @property
    def breached(self) -> bool:
        return self.sufficient and (
            any(f.drifted for f in self.features) or (self.prediction is not None and self.prediction.drifted)
        )

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]


def drift(
    profile: ReferenceProfile, columns: Mapping[str, np.ndarray], predictions: Sequence[str], thresholds: Thresholds
) -> DriftResult:
    """Every feature of ``columns`` that the profile knows, and the predictions, against the profile."""
    rows = len(predictions)
    if rows < thresholds.min_rows:
        return DriftResult(rows, False, (), None)
    names = [name for name in columns if name in profile.columns]

    def judged(name: str) -> FeatureDrift:
        reference = profile.columns[name]
        if isinstance(reference, CategoryProfile):
            return category_drift(name, reference, np.asarray(columns[name], dtype=object), thresholds, len(names))
        return feature_drift(name, reference, np.asarray(columns[name], dtype=float), thresholds, len(names))

    features = tuple(judged(name) for name in names)
    return DriftResult(rows, True, features, prediction_drift(profile.prediction_shares, predictions, thresholds))
