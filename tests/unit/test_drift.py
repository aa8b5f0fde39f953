"""Drift statistics: calibrated false alarms on stationary windows, synthetic drift found where it is, small windows."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.contract import RAW_FEATURE_COLUMNS, SPECIES, TARGET_COLUMN
from src.data.profile import ReferenceProfile
from src.monitoring.drift import Thresholds, drift, psi

WINDOWS = 200


@pytest.fixture(scope="module")
def reference(iris_frame, memory_scorer):
    """The profile training logs: the training rows' inputs, the labels' priors, held-out predictions."""
    train = iris_frame.sample(120, random_state=42)
    held_out = iris_frame.drop(train.index)
    predicted = memory_scorer.pipeline.predict(held_out[list(RAW_FEATURE_COLUMNS)]).tolist()
    columns = {c: train[c].to_numpy() for c in RAW_FEATURE_COLUMNS}
    return ReferenceProfile.build(columns, train[TARGET_COLUMN].tolist(), predicted, SPECIES)


def _window(iris_frame, memory_scorer, rng, rows=200, shift=0.0):
    sample = iris_frame.iloc[rng.integers(0, len(iris_frame), rows)]
    columns = {c: sample[c].to_numpy(dtype=float) for c in RAW_FEATURE_COLUMNS}
    columns["petal_length_cm"] = columns["petal_length_cm"] + shift
    frame = sample[list(RAW_FEATURE_COLUMNS)].assign(petal_length_cm=columns["petal_length_cm"])
    return columns, memory_scorer.pipeline.predict(frame).tolist()


def test_stationary_windows_alarm_in_at_most_five_percent_of_200(reference, iris_frame, memory_scorer):
    rng = np.random.default_rng(7)
    alarms = sum(drift(reference, *_window(iris_frame, memory_scorer, rng), Thresholds()).breached
                 for _ in range(WINDOWS))  # fmt: skip
    assert alarms / WINDOWS <= 0.05, f"{alarms} of {WINDOWS} stationary windows alarmed"


def test_petal_length_plus_one_cm_is_found_for_that_feature_only(reference, iris_frame, memory_scorer):
    rng = np.random.default_rng(8)
    result = drift(reference, *_window(iris_frame, memory_scorer, rng, rows=300, shift=1.0), Thresholds())
    assert result.breached and result.drifted_features == ["petal_length_cm"]


def test_a_small_window_is_insufficient_data_never_an_alarm(reference, iris_frame, memory_scorer):
    rng = np.random.default_rng(9)
    result = drift(reference, *_window(iris_frame, memory_scorer, rng, rows=50, shift=5.0), Thresholds())
    assert not result.sufficient and not result.breached and result.features == ()


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    base = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(base, base) == pytest.approx(0.0)
    assert 0 < psi(base, np.array([0.3, 0.3, 0.2, 0.2])) < psi(base, np.array([0.7, 0.1, 0.1, 0.1]))
