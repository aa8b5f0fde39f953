"""The pack's feature definitions and the builder: each formula, coexisting versions, exact ordered feature sets, a
feature step that carries its formulas."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from src.features.feature_builder import FeatureBuilder, MissingInputError, build_features, required_inputs
from src.features.feature_definitions import DEFINITIONS
from src.features.feature_set import FEATURES, UnknownFeatureError, get_feature, resolve_features
from src.utils.config import load_feature_config
from src.utils.naming import parse_feature_name

RAW = pd.DataFrame(
    {
        "sepal_length_cm": [5.0, 6.0],
        "sepal_width_cm": [2.0, 3.0],
        "petal_length_cm": [4.0, 1.5],
        "petal_width_cm": [2.0, 0.5],
    }
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("iris_sepal_length_cm_v1", [5.0, 6.0]),
        ("iris_sepal_width_cm_v1", [2.0, 3.0]),
        ("iris_petal_length_cm_v1", [4.0, 1.5]),
        ("iris_petal_width_cm_v1", [2.0, 0.5]),
        ("iris_petal_ratio_v1", [2.0, 3.0]),
        ("iris_petal_ratio_v2", [np.log(2.0), np.log(3.0)]),
        ("iris_petal_area_cm2_v1", [8.0, 0.75]),
        ("iris_sepal_ratio_v1", [2.5, 2.0]),
    ],
)
def test_each_formula_computes_its_definition(name, expected):
    values = get_feature(name).compute(RAW)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, expected)


def test_every_definition_is_named_by_convention_and_documented():
    for definition in DEFINITIONS:
        parsed = parse_feature_name(definition.name)
        assert parsed.version == definition.version
        assert definition.description and definition.owner
        assert set(definition.inputs) <= set(RAW.columns)


def test_two_versions_of_one_feature_coexist_and_differ():
    v1, v2 = get_feature("iris_petal_ratio_v1"), get_feature("iris_petal_ratio_v2")
    assert (v1.domain, v1.base_name) == (v2.domain, v2.base_name)
    assert not np.allclose(v1.compute(RAW), v2.compute(RAW))


def test_formulas_are_deterministic_and_pure(bundled_frame):
    before = bundled_frame.copy()
    for definition in DEFINITIONS:
        np.testing.assert_array_equal(definition.compute(bundled_frame), definition.compute(bundled_frame))
    pd.testing.assert_frame_equal(bundled_frame, before)


def test_unknown_version_lists_the_defined_ones():
    with pytest.raises(UnknownFeatureError, match=r"'iris_petal_ratio_v3' is not defined.*defined versions: v1, v2"):
        get_feature("iris_petal_ratio_v3")


def test_unknown_feature_lists_what_is_defined():
    with pytest.raises(UnknownFeatureError, match=r"iris_stem_length_v1.*defined: iris_sepal_length_cm_v1"):
        resolve_features(("iris_sepal_length_cm_v1", "iris_stem_length_v1"))


def test_builder_produces_exactly_the_configured_set_in_order():
    names = ["iris_petal_ratio_v2", "iris_sepal_length_cm_v1", "iris_petal_area_cm2_v1"]
    features = build_features(RAW.assign(extra=1.0), names)
    assert list(features.columns) == names
    pd.testing.assert_index_equal(features.index, RAW.index)


def test_builder_reports_missing_input_columns():
    with pytest.raises(MissingInputError, match="lacks column\\(s\\) petal_width_cm"):
        build_features(RAW.drop(columns="petal_width_cm"), ["iris_petal_ratio_v1"])


def test_required_inputs_are_deduplicated_in_first_use_order():
    definitions = resolve_features(("iris_petal_ratio_v1", "iris_sepal_length_cm_v1", "iris_petal_area_cm2_v1"))
    assert required_inputs(definitions) == ("petal_length_cm", "petal_width_cm", "sepal_length_cm")


def test_shipped_feature_config_resolves(bundled_frame):
    config = load_feature_config()
    features = build_features(bundled_frame, config.features)
    assert list(features.columns) == list(config.features)
    assert not features.isna().any().any()


def test_feature_builder_is_a_well_behaved_sklearn_transformer(bundled_frame):
    builder = FeatureBuilder.of(resolve_features(("iris_petal_ratio_v1", "iris_sepal_width_cm_v1")))
    copy = clone(builder)
    assert copy.get_params() == {"specs": (("iris_petal_ratio_v1", "numeric", "petal_length_cm / petal_width_cm"),
                                           ("iris_sepal_width_cm_v1", "numeric", "sepal_width_cm"))}  # fmt: skip
    transformed = copy.fit(bundled_frame).transform(bundled_frame)
    assert copy.features == ("iris_petal_ratio_v1", "iris_sepal_width_cm_v1")
    assert list(copy.get_feature_names_out()) == ["iris_petal_ratio_v1", "iris_sepal_width_cm_v1"]
    assert list(copy.feature_names_in_) == ["petal_length_cm", "petal_width_cm", "sepal_width_cm"]
    assert transformed.shape == (150, 2)


def test_the_feature_step_needs_no_definitions_to_compute_its_features(bundled_frame):
    """The fitted step carries each feature's formula: a model computes what it was trained on, even where the
    pack defines other features (another project, another commit)."""
    builder = FeatureBuilder((("someone_elses_v3", "numeric", "log(sepal_length_cm * 2)"),)).fit(bundled_frame)
    expected = np.log(bundled_frame["sepal_length_cm"].to_numpy() * 2)
    np.testing.assert_allclose(builder.transform(bundled_frame)["someone_elses_v3"], expected)
    columns = {c: bundled_frame[c].to_numpy() for c in ("sepal_length_cm",)}
    np.testing.assert_allclose(builder.numeric_matrix(columns)[:, 0], expected)


def test_registry_index_matches_definitions():
    assert list(FEATURES) == [d.name for d in DEFINITIONS]
