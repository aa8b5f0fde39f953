"""Model code: estimator choice, the feature step inside the pipeline, reproducible split, fit and evaluation."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from src.data.load_data import SPECIES, load_dataset
from src.features.feature_builder import FeatureBuilder
from src.models import evaluation
from src.models.classifier import (
    UntrustableModelError,
    build_classifier,
    build_model,
    fit_model,
    skops_trusted_types,
    split_dataset,
)
from src.utils.config import (
    DataConfig,
    LogisticRegressionSpec,
    RandomForestParams,
    RandomForestSpec,
    SplitConfig,
)

FEATURES = ("iris_sepal_length_cm_v1", "iris_petal_ratio_v2", "iris_petal_area_cm2_v1")
LOGISTIC = LogisticRegressionSpec(type="logistic_regression")


@pytest.fixture(scope="module")
def dataset():
    return load_dataset(DataConfig())


@pytest.fixture(scope="module")
def split(dataset):
    return split_dataset(dataset, SplitConfig(test_size=0.2), seed=42)


@pytest.fixture(scope="module")
def model(split):
    return fit_model(build_model(FEATURES, LOGISTIC, seed=42), split)


def test_classifier_follows_the_configured_type():
    assert isinstance(build_classifier(LOGISTIC, 1), LogisticRegression)
    forest = build_classifier(RandomForestSpec(type="random_forest", params=RandomForestParams(n_estimators=7)), 3)
    assert isinstance(forest, RandomForestClassifier)
    assert (forest.n_estimators, forest.random_state) == (7, 3)


def test_model_computes_its_own_features_from_raw_measurements():
    pipeline = build_model(FEATURES, LOGISTIC, seed=0)
    assert [name for name, _ in pipeline.steps] == ["features", "scale", "classifier"]
    assert isinstance(pipeline[0], FeatureBuilder) and pipeline[0].features == FEATURES


def test_split_is_stratified_and_reproducible(dataset, split):
    assert len(split.X_val) == 30 and len(split.X_train) == 120
    assert split.y_val.value_counts().to_dict() == dict.fromkeys(SPECIES, 10)
    again = split_dataset(dataset, SplitConfig(test_size=0.2), seed=42)
    assert list(again.X_val.index) == list(split.X_val.index)
    other = split_dataset(dataset, SplitConfig(test_size=0.2), seed=7)
    assert list(other.X_val.index) != list(split.X_val.index)


def test_unstratified_split_keeps_the_requested_size(dataset):
    split = split_dataset(dataset, SplitConfig(test_size=0.3, stratify=False), seed=1)
    assert len(split.X_val) == 45


def test_fitted_model_predicts_species_from_raw_rows(model, split):
    predictions = model.predict(split.X_val)
    assert set(predictions) <= set(SPECIES)
    assert list(model.classes_) == sorted(SPECIES)
    assert (predictions == split.y_val.to_numpy()).mean() >= 0.9


def test_same_seed_gives_the_same_model(split, model):
    again = fit_model(build_model(FEATURES, LOGISTIC, seed=42), split)
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
    assert result.labels == tuple(sorted(SPECIES))
    assert "setosa" in result.report_text and result.report["accuracy"] == pytest.approx(result.metrics["val_accuracy"])


def test_feature_importance_names_the_configured_features(model):
    table = evaluation.feature_importance(model)
    assert sorted(table["feature"]) == sorted(FEATURES)
    assert table["importance"].is_monotonic_decreasing
    assert (table["importance"] >= 0).all()
    assert set(table["measure"]) == {"mean |coefficient| (standardized)"}


def test_forest_importance_uses_impurity_decrease(split):
    spec = RandomForestSpec(type="random_forest", params=RandomForestParams(n_estimators=5))
    forest = fit_model(build_model(FEATURES, spec, seed=0), split)
    assert evaluation.feature_importance(forest)["importance"].sum() == pytest.approx(1.0)


def test_plots_are_figures_with_content(model, split):
    result = evaluation.evaluate_split(model, split.X_val, split.y_val, "val")
    confusion = evaluation.confusion_matrix_figure(result, "Confusion")
    assert isinstance(confusion, Figure) and confusion.axes[0].get_title() == "Confusion"
    assert len(confusion.axes[0].texts) == 9  # one count per cell
    bars = evaluation.feature_importance_figure(evaluation.feature_importance(model))
    assert len(bars.axes[0].patches) == len(FEATURES)


def test_trusted_types_are_computed_from_the_model(model, split):
    assert skops_trusted_types(model) == ("src.features.feature_builder.FeatureBuilder",)
    spec = RandomForestSpec(type="random_forest", params=RandomForestParams(n_estimators=2))
    forest = fit_model(build_model(FEATURES, spec, seed=0), split)
    assert set(skops_trusted_types(forest)) == {
        "sklearn.tree._tree.Tree",
        "src.features.feature_builder.FeatureBuilder",
    }


class _Opaque:
    """A stand-in for arbitrary code a model should never carry."""

    def __init__(self) -> None:
        self.state = 1


def test_a_model_holding_foreign_code_is_refused(model):
    tampered = clone(model).set_params(classifier__class_weight=None)
    tampered.fit_marker_ = _Opaque()
    with pytest.raises(UntrustableModelError, match=r"tests\.unit\.test_model\._Opaque"):
        skops_trusted_types(tampered)
