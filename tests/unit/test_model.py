"""Model code: estimator by import path, the feature step and preprocessing inside the pipeline, reproducible split,
fit and evaluation."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from src.data.contract import CONTRACT
from src.data.load_data import load_dataset
from src.data.schema import DataContract, Example, Target, categorical, numeric
from src.features.feature_builder import FeatureBuilder
from src.features.feature_set import resolve_features
from src.features.versioned import FeatureDefinition, passthrough
from src.models import evaluation
from src.models.classifier import (
    MISSING_CATEGORY,
    UntrustableModelError,
    build_classifier,
    build_model,
    fit_model,
    skops_trusted_types,
    split_dataset,
)
from src.utils.config import DataConfig, ModelSpec, SplitConfig, load_feature_config, load_model_config

NAMES = tuple(load_feature_config().features)  # the pack's feature set
FEATURES = resolve_features(NAMES)
LOGISTIC = ModelSpec(estimator="sklearn.linear_model.LogisticRegression")


def _forest(trees: int) -> ModelSpec:
    return ModelSpec(estimator="sklearn.ensemble.RandomForestClassifier", params={"n_estimators": trees, "n_jobs": 1})


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DataConfig())


@pytest.fixture(scope="module")
def split(dataset):
    return split_dataset(dataset, SplitConfig(test_size=0.2), seed=42)


@pytest.fixture(scope="module")
def model(split):
    return fit_model(build_model(CONTRACT, FEATURES, LOGISTIC, seed=42), split)


def test_classifier_follows_the_configured_import_path():
    assert isinstance(build_classifier(LOGISTIC, 1), LogisticRegression)
    forest = build_classifier(_forest(7), 3)
    assert isinstance(forest, RandomForestClassifier)
    assert (forest.n_estimators, forest.random_state) == (7, 3)


def test_model_computes_its_own_features_from_the_input_columns():
    pipeline = build_model(CONTRACT, FEATURES, LOGISTIC, seed=0)
    assert [name for name, _ in pipeline.steps] == ["features", "preprocess", "classifier"]
    assert isinstance(pipeline[0], FeatureBuilder) and pipeline[0].features == NAMES


def test_split_is_stratified_and_reproducible(dataset, split):
    rows = len(dataset.frame)
    assert len(split.X_val) == math.ceil(0.2 * rows) and len(split.X_train) == rows - len(split.X_val)
    shares = dataset.target.value_counts(normalize=True)
    for label, count in split.y_val.value_counts().items():
        assert abs(count - shares[label] * len(split.X_val)) <= 1, label  # each class in its share
    again = split_dataset(dataset, SplitConfig(test_size=0.2), seed=42)
    assert list(again.X_val.index) == list(split.X_val.index)
    other = split_dataset(dataset, SplitConfig(test_size=0.2), seed=7)
    assert list(other.X_val.index) != list(split.X_val.index)


def test_unstratified_split_keeps_the_requested_size(dataset):
    split = split_dataset(dataset, SplitConfig(test_size=0.3, stratify=False), seed=1)
    assert len(split.X_val) == math.ceil(0.3 * len(dataset.frame))


def test_fitted_model_predicts_classes_from_input_rows(model, split):
    predictions = model.predict(split.X_val)
    assert set(predictions) <= set(CONTRACT.classes)
    assert list(model.classes_) == sorted(CONTRACT.classes)
    floor = load_model_config().validation.thresholds["val_accuracy"]
    assert (predictions == split.y_val.to_numpy()).mean() >= floor


def test_same_seed_gives_the_same_model(split, model):
    again = fit_model(build_model(CONTRACT, FEATURES, LOGISTIC, seed=42), split)
    np.testing.assert_array_equal(again[-1].coef_, model[-1].coef_)


def test_evaluation_reports_every_metric_in_range(model, split):
    result = evaluation.evaluate_split(model, split.X_val, split.y_val, "val")
    assert set(result.metrics) == {
        "val_accuracy",
        "val_f1_macro",
        "val_precision_macro",
        "val_recall_macro",
        "val_log_loss",
    }
    for name, value in result.metrics.items():
        assert value >= 0.0 and (name == "val_log_loss" or value <= 1.0)
    assert result.confusion.sum() == len(split.y_val)
    assert result.labels == tuple(sorted(CONTRACT.classes))
    assert CONTRACT.classes[0] in result.report_text and result.report["accuracy"] == pytest.approx(
        result.metrics["val_accuracy"]
    )


def test_feature_importance_names_the_configured_features(model, split):
    table = evaluation.feature_importance(model, split.X_val, split.y_val)
    assert sorted(table["feature"]) == sorted(NAMES)
    assert table["importance"].is_monotonic_decreasing
    assert (table["importance"] >= 0).all()
    assert set(table["measure"]) == {"mean |coefficient| (standardized)"}


def test_forest_importance_uses_impurity_decrease(split):
    forest = fit_model(build_model(CONTRACT, FEATURES, _forest(5), seed=0), split)
    assert evaluation.feature_importance(forest, split.X_val, split.y_val)["importance"].sum() == pytest.approx(1.0)


def test_an_estimator_without_importances_gets_permutation_importance_of_its_inputs(split):
    spec = ModelSpec(estimator="sklearn.ensemble.HistGradientBoostingClassifier", params={"max_iter": 20})
    boosted = fit_model(build_model(CONTRACT, FEATURES, spec, seed=0), split)
    table = evaluation.feature_importance(boosted, split.X_val, split.y_val)
    assert sorted(table["feature"]) == sorted(CONTRACT.input_names)
    assert set(table["measure"]) == {"mean accuracy drop when shuffled"}


def test_plots_are_figures_with_content(model, split):
    result = evaluation.evaluate_split(model, split.X_val, split.y_val, "val")
    confusion = evaluation.confusion_matrix_figure(result, "Confusion")
    assert isinstance(confusion, Figure) and confusion.axes[0].get_title() == "Confusion"
    assert len(confusion.axes[0].texts) == len(CONTRACT.classes) ** 2  # one count per cell
    bars = evaluation.feature_importance_figure(evaluation.feature_importance(model, split.X_val, split.y_val))
    assert len(bars.axes[0].patches) == len(NAMES)


def test_trusted_types_are_computed_from_the_model(model, split):
    trusted = skops_trusted_types(model)
    assert "src.features.feature_builder.FeatureBuilder" in trusted
    assert {name.split(".")[0] for name in trusted} <= {"src", "sklearn", "numpy", "scipy"}
    forest = fit_model(build_model(CONTRACT, FEATURES, _forest(2), seed=0), split)
    assert set(skops_trusted_types(forest)) - set(trusted) == {"sklearn.tree._tree.Tree"}


class _Opaque:
    """A stand-in for arbitrary code a model should never carry."""

    def __init__(self) -> None:
        self.state = 1


def test_a_model_holding_foreign_code_is_refused(model):
    tampered = clone(model).set_params(classifier__class_weight=None)
    tampered.fit_marker_ = _Opaque()
    with pytest.raises(UntrustableModelError, match=r"tests\.unit\.test_model\._Opaque"):
        skops_trusted_types(tampered)


# --- a pack with categories and missing values -------------------------------------------------------------

TOY = DataContract(
    name="toy",
    description="Two numbers and a category, some missing",
    columns=(
        numeric("size", "Size", minimum=0),
        numeric("weight", "Weight", minimum=0, nullable=True),
        categorical("colour", "Colour", ["red", "green"], nullable=True),
    ),
    target=Target("kind", ("a", "b")),
    examples=(
        Example("a", {"size": 1.0, "weight": 1.0, "colour": "red"}),
        Example("b", {"size": 9.0, "weight": None, "colour": None}),
    ),
)
TOY_FEATURES = (
    passthrough("toy", "size", "Size", "me"),
    passthrough("toy", "weight", "Weight", "me"),
    passthrough("toy", "colour", "Colour", "me", kind="categorical"),
    FeatureDefinition("toy", "density", 1, "Weight per size", "me", "weight / size"),
)


def _toy_frame(rows: int = 200) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    size = rng.uniform(1, 10, rows)
    weight = np.where(rng.random(rows) < 0.2, np.nan, size * rng.uniform(0.5, 1.5, rows))
    draws = zip(rng.random(rows), size, strict=True)
    colour = np.array([None if r < 0.1 else ("red" if s < 5 else "green") for r, s in draws], dtype=object)
    return pd.DataFrame({"size": size, "weight": weight, "colour": colour}), pd.Series(np.where(size < 5, "a", "b"))


@pytest.mark.parametrize(
    "estimator", ["sklearn.linear_model.LogisticRegression", "sklearn.ensemble.HistGradientBoostingClassifier"]
)
def test_categories_are_one_hot_encoded_and_missing_values_imputed_for_any_estimator(estimator):
    frame, target = _toy_frame()
    pipeline = build_model(TOY, TOY_FEATURES, ModelSpec(estimator=estimator), seed=0).fit(frame, target)
    preprocess = pipeline.named_steps["preprocess"]
    assert {name for name, _, _ in preprocess.transformers} == {"numeric", "categorical"}
    encoded = set(preprocess.get_feature_names_out())
    assert {"toy_colour_v1_red", "toy_colour_v1_green", f"toy_colour_v1_{MISSING_CATEGORY}"} <= encoded
    unseen = frame.head(3).assign(colour=["blue", None, "red"], weight=[np.nan, 2.0, np.nan])
    assert pipeline.predict_proba(unseen).shape == (3, 2)  # an unseen category and missing values still score
    assert (pipeline.predict(frame) == target).mean() > 0.9
    assert "src.features.feature_builder.FeatureBuilder" in skops_trusted_types(pipeline)
