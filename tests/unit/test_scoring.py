"""The scoring component: the compiled path equals the Pipeline, and bad input names its field."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from src.components.scoring import InputError, ModelHandle, Scorer
from src.data.load_data import RAW_FEATURE_COLUMNS, load_dataset
from src.models.classifier import build_model, fit_model, split_dataset
from src.utils.config import (
    DataConfig,
    LogisticRegressionSpec,
    RandomForestParams,
    RandomForestSpec,
    SplitConfig,
    load_feature_config,
)

FEATURES = load_feature_config().features


def _scorer(spec) -> Scorer:
    dataset = load_dataset(DataConfig())
    pipeline = fit_model(build_model(FEATURES, spec, 42), split_dataset(dataset, SplitConfig(), 42))
    handle = ModelHandle("c.s.m", "1", "dev", None, tuple(FEATURES), datetime.now(UTC))
    return Scorer(handle, pipeline, RAW_FEATURE_COLUMNS)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return _scorer(LogisticRegressionSpec(type="logistic_regression"))


def _rows(iris_frame: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    random = pd.DataFrame(rng.uniform(0.1, 8.0, (1000, 4)), columns=list(RAW_FEATURE_COLUMNS))
    return pd.concat([iris_frame.loc[:, list(RAW_FEATURE_COLUMNS)], random], ignore_index=True)


@pytest.mark.parametrize(
    "spec",
    [
        LogisticRegressionSpec(type="logistic_regression"),
        RandomForestSpec(type="random_forest", params=RandomForestParams(n_estimators=10)),
    ],
    ids=["logistic_regression", "random_forest"],
)
def test_compiled_path_matches_the_pipeline(spec, iris_frame):
    scorer = _scorer(spec)
    rows = _rows(iris_frame)
    scored = scorer.score_frame(rows)
    np.testing.assert_allclose(scored.filter(like="probability_").to_numpy(), scorer.pipeline.predict_proba(rows),
                               rtol=0, atol=1e-12)  # fmt: skip
    assert (scored["prediction"].to_numpy() == scorer.pipeline.predict(rows)).all()


def test_output_names_classes_and_probabilities(scorer, iris_frame):
    scored = scorer.score_frame(iris_frame.loc[:2, list(RAW_FEATURE_COLUMNS)])
    assert list(scored.columns) == [
        "prediction", "probability_setosa", "probability_versicolor", "probability_virginica"
    ]  # fmt: skip
    np.testing.assert_allclose(scored.filter(like="probability_").sum(axis=1), 1.0)


def test_column_order_does_not_matter(scorer, iris_frame):
    rows = iris_frame.loc[:, list(RAW_FEATURE_COLUMNS)]
    pd.testing.assert_frame_equal(scorer.score_frame(rows), scorer.score_frame(rows[rows.columns[::-1]]))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda f: f.drop(columns="petal_width_cm"), "petal_width_cm", "missing column"),
        (lambda f: f.assign(colour="blue"), "colour", "unknown column"),
        (lambda f: f.assign(sepal_length_cm=[5.0, None, 4.0]), "sepal_length_cm", "null value at row(s) 1"),
        (lambda f: f.assign(sepal_width_cm=[3.0, "wide", 2.0]), "sepal_width_cm", "expected numbers, got 'wide'"),
        (lambda f: f.iloc[0:0], "(input)", "no rows to score"),
    ],
    ids=["missing", "extra", "null", "text", "empty"],
)
def test_bad_input_names_the_field(scorer, iris_frame, change, field, message):
    rows = change(iris_frame.loc[:2, list(RAW_FEATURE_COLUMNS)].reset_index(drop=True))
    with pytest.raises(InputError) as error:
        scorer.score_frame(rows)
    assert error.value.field == field
    assert message in str(error.value)


def test_a_model_whose_features_differ_from_its_registration_is_refused(scorer):
    handle = ModelHandle("c.s.m", "1", "dev", None, ("iris_petal_ratio_v1",), datetime.now(UTC))
    with pytest.raises(ValueError, match="registered with"):
        Scorer(handle, scorer.pipeline, RAW_FEATURE_COLUMNS)
