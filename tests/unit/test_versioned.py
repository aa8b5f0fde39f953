"""A versioned definition: its name by convention, its formula checked, and whether it fits a data contract."""

from __future__ import annotations

import numpy as np
import pytest

from src.data.contract import CONTRACT
from src.features.expressions import ExpressionError
from src.features.versioned import FeatureDefinition, compute, passthrough, spec_inputs
from tests.pack import NUMERIC


def test_a_definition_is_named_by_convention_and_carries_its_spec():
    ratio = FeatureDefinition("iris", "petal_ratio", 3, "?", "me", "petal_length_cm / petal_width_cm")
    assert ratio.name == "iris_petal_ratio_v3" and not ratio.is_passthrough
    assert ratio.spec == ("iris_petal_ratio_v3", "numeric", "petal_length_cm / petal_width_cm")
    assert spec_inputs(ratio.spec) == ("petal_length_cm", "petal_width_cm")
    column = passthrough(CONTRACT.name, NUMERIC.name, "?", "me")
    assert column.name == f"{CONTRACT.name}_{NUMERIC.name}_v1" and column.is_passthrough
    assert column.problems(CONTRACT) == []


def test_a_formula_outside_the_language_is_refused_when_defined():
    with pytest.raises(ExpressionError):
        FeatureDefinition("iris", "bad", 1, "?", "me", "open('x')")


def test_a_definition_that_does_not_fit_the_contract_says_why():
    leaking = FeatureDefinition("iris", "cheat", 1, "?", "me", "species_code * 2")
    assert leaking.problems(CONTRACT) == [f"reads 'species_code', which is not an input column of {CONTRACT.name}"]
    with pytest.raises(ExpressionError, match="a categorical feature is one input column"):
        FeatureDefinition("iris", "bad", 1, "?", "me", "a + b", "categorical")


def test_a_categorical_feature_passes_its_column_through_with_missing_values_as_none():
    spec = ("x_island_v1", "categorical", "island")
    values = compute(spec, {"island": np.array(["Dream", None, float("nan")], dtype=object)})
    assert values.tolist() == ["Dream", None, None]
