"""The reference profile: decile bins, moments, a KS sample, priors and held-out shares, round-tripped as JSON."""

from __future__ import annotations

import json

import numpy as np

from src.data.contract import CONTRACT
from src.data.profile import BINS, ColumnProfile, ReferenceProfile


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
    columns = {"petal_length_cm": bundled_frame["petal_length_cm"].to_numpy()}
    labels = bundled_frame["species"].tolist()
    profile = ReferenceProfile.build(columns, labels, labels[:30], CONTRACT.classes)
    assert profile.class_priors == {s: 1 / 3 for s in CONTRACT.classes}
    assert profile.prediction_shares == {"setosa": 1.0, "versicolor": 0.0, "virginica": 0.0}
    again = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again == profile and len(again.columns["petal_length_cm"].sample) == 150
