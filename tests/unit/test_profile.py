"""The reference profile: decile bins, moments, a KS sample, priors and held-out shares, round-tripped as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from src.data.contract import CONTRACT
from src.data.profile import BINS, ColumnProfile, ReferenceProfile
from tests.pack import NUMERIC


def test_a_column_is_cut_into_deciles_that_hold_a_tenth_each():
    values = np.arange(1000, dtype=float)
    column = ColumnProfile.of(values)
    assert len(column.edges) == BINS - 1 and list(column.counts) == [100] * BINS
    assert (column.min, column.max, round(column.mean, 1)) == (0.0, 999.0, 499.5)
    assert list(column.bin_counts(np.array([-5.0, 50.0, 2000.0]))) == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_a_column_with_few_distinct_values_gets_fewer_bins_and_ignores_nans():
    column = ColumnProfile.of(np.array([1.0, 1.0, 1.0, 2.0, np.nan]))
    assert column.edges == (1.0,) and column.counts == (3, 1)


def test_the_profile_round_trips_through_json(bundled_frame):
    columns = {NUMERIC.name: bundled_frame[NUMERIC.name].to_numpy(dtype=float)}
    labels = bundled_frame[CONTRACT.target.name].tolist()
    predicted = [CONTRACT.classes[0]] * 30
    profile = ReferenceProfile.build(columns, labels, predicted, CONTRACT.classes)
    counts = bundled_frame[CONTRACT.target.name].value_counts(normalize=True)
    assert profile.class_priors == pytest.approx({c: counts[c] for c in CONTRACT.classes})
    assert profile.prediction_shares == {c: float(c == CONTRACT.classes[0]) for c in CONTRACT.classes}
    again = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    present = int(bundled_frame[NUMERIC.name].notna().sum())
    assert again == profile and len(again.columns[NUMERIC.name].sample) == present
