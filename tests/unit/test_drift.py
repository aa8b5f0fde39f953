"""Drift statistics: calibrated false alarms on stationary windows, synthetic drift found where it is, small windows."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.contract import CONTRACT
from src.data.profile import ReferenceProfile
from src.monitoring.drift import Thresholds, drift, psi
from tests.pack import NUMERIC, column_arrays

WINDOWS = 200


@pytest.fixture(scope="module")
def reference(bundled_frame, memory_scorer):
    """The profile training logs: the training rows' inputs, the labels' priors, held-out predictions."""
    train = bundled_frame.sample(120, random_state=42)
    held_out = bundled_frame.drop(train.index)
    predicted = memory_scorer.pipeline.predict(held_out[list(CONTRACT.input_names)]).tolist()
    columns = column_arrays(train)
    return ReferenceProfile.build(columns, train[CONTRACT.target.name].tolist(), predicted, CONTRACT.classes)


def _window(bundled_frame, memory_scorer, rng, rows=200, shift=0.0):
    """``rows`` drawn from the data, ``NUMERIC`` moved by ``shift`` of its standard deviations."""
    sample = bundled_frame.iloc[rng.integers(0, len(bundled_frame), rows)]
    moved = sample[NUMERIC.name] + shift * float(bundled_frame[NUMERIC.name].std())
    frame = sample[list(CONTRACT.input_names)].assign(**{NUMERIC.name: moved})
    return column_arrays(frame), memory_scorer.pipeline.predict(frame).tolist()


def test_stationary_windows_alarm_in_at_most_five_percent_of_200(reference, bundled_frame, memory_scorer):
    rng = np.random.default_rng(7)
    alarms = sum(drift(reference, *_window(bundled_frame, memory_scorer, rng), Thresholds()).breached
                 for _ in range(WINDOWS))  # fmt: skip
    assert alarms / WINDOWS <= 0.05, f"{alarms} of {WINDOWS} stationary windows alarmed"


def test_a_shifted_input_is_found_for_that_feature_only(reference, bundled_frame, memory_scorer):
    rng = np.random.default_rng(8)
    result = drift(reference, *_window(bundled_frame, memory_scorer, rng, rows=300, shift=0.6), Thresholds())
    assert result.breached and result.drifted_features == [NUMERIC.name]


def test_a_small_window_is_insufficient_data_never_an_alarm(reference, bundled_frame, memory_scorer):
    rng = np.random.default_rng(9)
    result = drift(reference, *_window(bundled_frame, memory_scorer, rng, rows=50, shift=5.0), Thresholds())
    assert not result.sufficient and not result.breached and result.features == ()


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift():
    base = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(base, base) == pytest.approx(0.0)
    assert 0 < psi(base, np.array([0.3, 0.3, 0.2, 0.2])) < psi(base, np.array([0.7, 0.1, 0.1, 0.1]))


def _categories(rng, rows: int, shares: tuple[float, float, float], missing: float = 0.0) -> np.ndarray:
    values = rng.choice(np.array(["Biscoe", "Dream", "Torgersen"], dtype=object), size=rows, p=shares)
    values[rng.random(rows) < missing] = None
    return values


def _category_profile(rng) -> ReferenceProfile:
    columns = {"island": _categories(rng, 2000, (0.5, 0.3, 0.2)), "mass": rng.normal(4000, 500, 2000)}
    return ReferenceProfile.build(columns, ["a"] * 2000, ["a"] * 2000, ("a", "b"))


def test_categorical_columns_drift_by_chi_square_and_psi_over_their_categories():
    rng = np.random.default_rng(3)
    profile = _category_profile(rng)
    assert profile.columns["island"].kind == "categorical" and profile.columns["island"].categories == (
        "Biscoe", "Dream", "Torgersen")  # fmt: skip
    steady = {"island": _categories(rng, 300, (0.5, 0.3, 0.2)), "mass": rng.normal(4000, 500, 300)}
    calm = drift(profile, steady, ["a"] * 300, Thresholds())
    assert not calm.breached
    moved = {"island": _categories(rng, 300, (0.1, 0.2, 0.7)), "mass": rng.normal(4000, 500, 300)}
    found = drift(profile, moved, ["a"] * 300, Thresholds())
    assert found.drifted_features == ["island"] and found.features[0].test == "chi2"


def test_a_rise_in_missing_values_or_an_unseen_category_is_drift():
    rng = np.random.default_rng(4)
    profile = _category_profile(rng)
    missing = {"island": _categories(rng, 300, (0.5, 0.3, 0.2), missing=0.4), "mass": rng.normal(4000, 500, 300)}
    found = drift(profile, missing, ["a"] * 300, Thresholds())
    assert found.drifted_features == ["island"] and found.features[0].missing_share == pytest.approx(0.4, abs=0.1)
    unseen = {"island": np.array(["Mars"] * 150 + ["Biscoe"] * 150, dtype=object), "mass": rng.normal(4000, 500, 300)}
    assert drift(profile, unseen, ["a"] * 300, Thresholds()).drifted_features == ["island"]
    masses = rng.normal(4000, 500, 300)
    masses[:120] = np.nan  # missing numbers are a bin of their own
    found = drift(profile, {"island": _categories(rng, 300, (0.5, 0.3, 0.2)), "mass": masses}, ["a"] * 300,
                  Thresholds())  # fmt: skip
    assert found.drifted_features == ["mass"] and found.features[1].missing_share == pytest.approx(0.4)


def test_bins_are_value_ranges_and_each_verdict_says_why():
    from src.monitoring.drift import numeric_bins, verdict_reason

    assert numeric_bins((1.0, 2.5, 4.0)) == ("<= 1", "(1, 2.5]", "(2.5, 4]", "> 4", "missing")
    assert numeric_bins(()) == ("all values", "missing")
    assert verdict_reason("ks", 1e-6, 0.002, 0.31, 0.2) == "drift: KS p 1e-06 < 0.002 and PSI 0.310 >= 0.2"
    vetoed = verdict_reason("ks", 0.03, 0.002, 0.24, 0.2)
    assert vetoed == "ok: PSI 0.240 >= 0.2, but KS p 0.03 >= 0.002 (the difference may be chance)"
    assert verdict_reason("chi2", 1e-9, 0.01, 0.05, 0.2).endswith("(real, but small)")
