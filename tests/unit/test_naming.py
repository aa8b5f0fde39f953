"""Naming conventions: every builder produces the seed's examples, every checker refuses the rest."""

from datetime import datetime

import pytest

from src.utils import naming
from src.utils.naming import NamingError


@pytest.mark.parametrize(
    "name",
    [
        "/data-science/iris/species_classifier",
        "/ml-platform/fraud/transaction_scorer",
        "/analytics/churn/customer_predictor",
    ],
)
def test_seed_experiment_examples_are_accepted(name):
    assert naming.check_experiment_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["data-science/iris/species_classifier", "/data-science/iris", "/Data-Science/iris/x", "/a/b/c/d", "/a/b c/d"],
)
def test_malformed_experiment_names_are_refused(name):
    with pytest.raises(NamingError, match=r"/\{team\}/\{project\}/\{model_name\}"):
        naming.check_experiment_name(name)


def test_experiment_name_is_built_from_its_parts():
    assert (
        naming.experiment_name("data-science", "iris", "species_classifier") == "/data-science/iris/species_classifier"
    )


def test_run_name_uses_the_timestamp_without_a_build_id():
    name = naming.run_name("1.2.0", "full", now=datetime(2024, 1, 15, 14, 30, 22))
    assert name == "v1.2.0_full_20240115_143022"


def test_run_name_prefers_the_build_id():
    assert naming.run_name("v1.2.1", "incremental", build_id="5678") == "v1.2.1_incremental_build_5678"


@pytest.mark.parametrize("version", ["1.2", "01.2.0", "1.2.0-rc1", "latest"])
def test_run_name_refuses_a_version_that_is_not_semver(version):
    with pytest.raises(NamingError, match=r"MAJOR\.MINOR\.PATCH"):
        naming.run_name(version, "full")


@pytest.mark.parametrize("context", ["Full", "full_run", "", "2x"])
def test_run_name_refuses_a_malformed_context(context):
    with pytest.raises(NamingError, match="run name"):
        naming.run_name("1.0.0", context, build_id="1")


@pytest.mark.parametrize("name", ["v1.2.0_full_20240115_143022", "v1.2.1_incremental_build_5678"])
def test_seed_run_name_examples_are_accepted(name):
    assert naming.check_run_name(name) == name


def test_registered_model_name_is_three_level():
    name = naming.registered_model_name("prod_catalog", "ml_models", "ds", "iris", "species_classifier")
    assert name == "prod_catalog.ml_models.ds_iris_species_classifier"


@pytest.mark.parametrize(
    "name", ["ds_iris_species_classifier", "ml_models.ds_iris", "a.b.c.d", "Prod.ml_models.ds_iris_x", "a.b.c"]
)
def test_registered_model_names_that_are_not_three_level_are_refused(name):
    with pytest.raises(NamingError, match=r"\{catalog\}\.\{schema\}"):
        naming.check_registered_model_name(name)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("iris_sepal_length_cm_v1", ("iris", "sepal_length_cm", 1)),
        ("iris_petal_ratio_v2", ("iris", "petal_ratio", 2)),
        ("customer_lifetime_value_v3", ("customer", "lifetime_value", 3)),
    ],
)
def test_feature_names_split_into_domain_name_and_version(name, parts):
    parsed = naming.parse_feature_name(name)
    assert (parsed.domain, parsed.feature_name, parsed.version) == parts
    assert str(parsed) == name


@pytest.mark.parametrize(
    "name", ["iris_petal_ratio", "iris_petal_ratio_v0", "Iris_petal_ratio_v1", "iris_v1", "petal-ratio_v1"]
)
def test_malformed_feature_names_are_refused(name):
    with pytest.raises(NamingError, match=r"\{domain\}_\{feature_name\}_v\{version\}"):
        naming.parse_feature_name(name)


def test_identifier_check_names_what_is_wrong():
    with pytest.raises(NamingError, match="catalog 'Prod-Catalog'"):
        naming.check_identifier("Prod-Catalog", "catalog")
