"""The scoring component: each fast path equals the pipeline on any valid rows, and bad input names its field."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.components.scoring import InputError, ModelHandle, Scorer
from src.data.contract import CONTRACT
from src.data.load_data import load_dataset
from src.features.feature_set import resolve_features
from src.models.classifier import build_model, fit_model, split_dataset
from src.utils.config import DataConfig, ModelSpec, SplitConfig, load_feature_config
from tests.pack import NUMERIC, NUMERIC_ONLY, REQUIRED, valid_row

FEATURES = load_feature_config().features
#: estimator -> the path the Scorer takes for it, for a pack whose inputs are all numbers (else: the pipeline)
PATHS = {
    "sklearn.linear_model.LogisticRegression": "linear softmax in NumPy",
    "sklearn.ensemble.RandomForestClassifier": "features and scaling in NumPy",
    "sklearn.ensemble.HistGradientBoostingClassifier": "features and scaling in NumPy",
    "sklearn.neighbors.KNeighborsClassifier": "features and scaling in NumPy",
}
PARAMS = {
    "sklearn.ensemble.RandomForestClassifier": {"n_estimators": 10},
    "sklearn.ensemble.HistGradientBoostingClassifier": {"max_iter": 20},
}


def _scorer(estimator: str) -> Scorer:
    dataset = load_dataset(DataConfig())
    spec = ModelSpec(estimator=estimator, params=PARAMS.get(estimator, {}))
    model = build_model(CONTRACT, resolve_features(FEATURES), spec, 42)
    pipeline = fit_model(model, split_dataset(dataset, SplitConfig(), 42))
    handle = ModelHandle("c.s.m", "1", "dev", None, tuple(FEATURES), datetime.now(UTC))
    return Scorer(handle, pipeline, CONTRACT)


SCORERS = {estimator: _scorer(estimator) for estimator in PATHS}


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return SCORERS["sklearn.linear_model.LogisticRegression"]


@pytest.mark.parametrize("estimator", list(PATHS), ids=[e.rsplit(".", 1)[1] for e in PATHS])
@settings(max_examples=60, deadline=None)
@given(rows=st.lists(valid_row(), min_size=1, max_size=40))
def test_each_fast_path_equals_the_pipeline_on_any_valid_rows(estimator, rows):
    scorer = SCORERS[estimator]
    assert scorer.path == (PATHS[estimator] if NUMERIC_ONLY else "the fitted pipeline")
    frame = pd.DataFrame(rows, columns=list(CONTRACT.input_names))
    columns = scorer.columns_from_frame(frame)
    try:
        fast = scorer.predict_columns(columns).probabilities
    except InputError:  # a valid row whose derived feature is not finite (or too large for the estimator's
        # float32): the pipeline cannot score it either
        with pytest.raises(ValueError):
            scorer.pipeline.predict_proba(frame)
        return
    np.testing.assert_allclose(fast, scorer.pipeline.predict_proba(frame), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(not NUMERIC_ONLY, reason="a pack with categories or gaps is always scored by its pipeline")
def test_a_pipeline_of_another_shape_is_called_itself(bundled_frame):
    from sklearn.preprocessing import MinMaxScaler

    dataset = load_dataset(DataConfig())
    model = build_model(CONTRACT, resolve_features(FEATURES), ModelSpec(estimator=next(iter(PATHS))), 42)
    model.steps[1] = ("preprocess", MinMaxScaler())  # not a shape a fast path knows
    pipeline = fit_model(model, split_dataset(dataset, SplitConfig(), 42))
    other = Scorer(ModelHandle("c.s.m", "1", "dev", None, tuple(FEATURES), datetime.now(UTC)), pipeline, CONTRACT)
    rows = bundled_frame.loc[:, list(CONTRACT.input_names)]
    assert other.path == "the fitted pipeline"
    np.testing.assert_array_equal(other.score_frame(rows).filter(like="probability_"), pipeline.predict_proba(rows))


def test_output_names_classes_and_probabilities(scorer, bundled_frame):
    scored = scorer.score_frame(bundled_frame.loc[:2, list(CONTRACT.input_names)])
    assert list(scored.columns) == ["prediction", *(f"probability_{c}" for c in CONTRACT.classes)]
    np.testing.assert_allclose(scored.filter(like="probability_").sum(axis=1), 1.0)


def test_column_order_does_not_matter(scorer, bundled_frame):
    rows = bundled_frame.loc[:, list(CONTRACT.input_names)]
    pd.testing.assert_frame_equal(scorer.score_frame(rows), scorer.score_frame(rows[rows.columns[::-1]]))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda f: f.drop(columns=NUMERIC.name), NUMERIC.name, "missing column"),
        (lambda f: f.assign(colour="blue"), "colour", "unknown column"),
        pytest.param(
            lambda f: f.assign(
                **{
                    (REQUIRED or NUMERIC).name: [
                        f[(REQUIRED or NUMERIC).name][0],
                        None,
                        f[(REQUIRED or NUMERIC).name][2],
                    ]
                }
            ),
            (REQUIRED or NUMERIC).name,
            "null value at row(s) 1",
            marks=pytest.mark.skipif(REQUIRED is None, reason="every input of this pack may be missing"),
        ),
        (lambda f: f.assign(**{NUMERIC.name: [3.0, "wide", 2.0]}), NUMERIC.name, "expected numbers, got 'wide'"),
        (lambda f: f.iloc[0:0], "(input)", "no rows to score"),
    ],
    ids=["missing", "extra", "null", "text", "empty"],
)
def test_bad_input_names_the_field(scorer, bundled_frame, change, field, message):
    rows = change(bundled_frame.loc[:2, list(CONTRACT.input_names)].reset_index(drop=True))
    with pytest.raises(InputError) as error:
        scorer.score_frame(rows)
    assert error.value.field == field
    assert message in str(error.value)


def test_a_model_whose_features_differ_from_its_registration_is_refused(scorer):
    handle = ModelHandle("c.s.m", "1", "dev", None, ("not_a_feature_v1",), datetime.now(UTC))
    with pytest.raises(ValueError, match="registered with"):
        Scorer(handle, scorer.pipeline, CONTRACT)
