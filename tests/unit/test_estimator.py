"""The configured estimator: any scikit-learn-compatible classifier by import path, its parameters checked against
its own get_params, every mistake one sentence naming what is wrong."""

from __future__ import annotations

import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from src.models.estimator import EstimatorError, build_classifier
from src.utils.config import ModelSpec


def test_an_estimator_is_built_from_its_import_path_and_seeded():
    spec = ModelSpec(estimator="sklearn.ensemble.HistGradientBoostingClassifier", params={"max_iter": 7})
    built = build_classifier(spec, seed=11)
    assert isinstance(built, HistGradientBoostingClassifier) and (built.max_iter, built.random_state) == (7, 11)
    given = build_classifier(ModelSpec(estimator=spec.estimator, params={"random_state": 3}), seed=11)
    assert given.random_state == 3  # a seed in the params wins


@pytest.mark.parametrize(
    ("estimator", "params", "words"),
    [
        ("sklearn.linear_model.Nope", {}, "cannot import sklearn.linear_model.Nope"),
        ("nowhere.Model", {}, "cannot import nowhere.Model"),
        (
            "sklearn.linear_model.LogisticRegression",
            {"Cc": 1},
            "Cc not a parameter of LogisticRegression (it takes: C,",
        ),
        ("sklearn.svm.SVC", {}, "has no predict_proba with these parameters"),
        ("sklearn.linear_model.LinearRegression", {}, "has no predict_proba"),
        ("os.path", {}, "is not a scikit-learn-compatible estimator class"),
    ],
)
def test_a_wrong_estimator_is_one_clear_error(estimator, params, words):
    with pytest.raises(EstimatorError) as refused:
        build_classifier(ModelSpec(estimator=estimator, params=params), seed=0)
    assert words in str(refused.value)


def test_an_estimator_with_probabilities_once_configured_is_accepted():
    assert hasattr(build_classifier(ModelSpec(estimator="sklearn.svm.SVC", params={"probability": True}), 0),
                   "predict_proba")  # fmt: skip
