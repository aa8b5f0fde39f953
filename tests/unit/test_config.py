"""Configuration: the shipped files are valid; every kind of mistake names the file, the key and the expectation."""

from pathlib import Path

import pytest
import yaml

from src.data.contract import CONTRACT
from src.features.feature_set import FEATURES
from src.utils.config import (
    CONFIG_DIR,
    EXPERIMENT_KINDS,
    PROJECT_ROOT,
    ConfigError,
    load_environment_config,
    load_feature_config,
    load_governance_config,
    load_model_config,
    resolve_settings,
)

NO_OVERRIDES: dict[str, str] = {}


def test_shipped_model_config_is_valid():
    config = load_model_config()
    assert config.model.type == config.model.estimator.rsplit(".", 1)[1]
    assert config.data.source == "bundled"
    assert 0 < config.split.test_size < 1
    assert 0 < config.validation.thresholds["val_accuracy"] <= 1


def test_shipped_feature_config_lists_versioned_features():
    config = load_feature_config()
    assert config.feature_source == "local"
    assert set(config.features) <= set(FEATURES) and len(config.features) == len(set(config.features))
    assert config.feature_set.name.startswith(f"{CONTRACT.name}_")


def test_example_environment_file_matches_the_shipped_one():
    # The README tells newcomers to copy the example over environment.yaml: it must change nothing.
    example = load_environment_config(CONFIG_DIR / "environment.yaml.example")
    assert example == load_environment_config()


def test_any_estimator_is_named_by_its_import_path(write_config):
    content = yaml.safe_load((CONFIG_DIR / "model_config.yaml").read_text())
    content["model"] = {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 10}}
    path = write_config("model_config.yaml", raw=yaml.safe_dump(content))
    config = load_model_config(path)
    assert config.model.type == "RandomForestClassifier" and config.model.params == {"n_estimators": 10}


def test_unknown_key_is_named_with_its_file(write_config):
    path = write_config("model_config.yaml", {"model": {"kind": "forest"}})
    with pytest.raises(ConfigError) as error:
        load_model_config(path)
    message = str(error.value)
    assert str(path) in message
    assert "model.kind: unknown key" in message


def test_wrong_type_names_key_expectation_and_value(write_config):
    path = write_config("model_config.yaml", {"split": {"test_size": "a fifth"}})
    with pytest.raises(ConfigError, match=r"split\.test_size: Input should be a valid number.*'a fifth'"):
        load_model_config(path)


def test_out_of_range_value_is_refused(write_config):
    path = write_config("model_config.yaml", {"split": {"test_size": 1.5}})
    with pytest.raises(ConfigError, match=r"split\.test_size: Input should be less than 1"):
        load_model_config(path)


def test_an_estimator_that_is_not_an_import_path_is_refused(write_config):
    path = write_config("model_config.yaml", {"model": {"estimator": "xgboost"}})
    with pytest.raises(ConfigError, match=r"model\.estimator: String should match pattern"):
        load_model_config(path)


def test_missing_required_key_is_named(write_config):
    path = write_config("feature_config.yaml", raw="feature_set: {name: x, version: 1}\n")
    with pytest.raises(ConfigError, match="features: required key is missing"):
        load_feature_config(path)


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"{missing}: configuration file not found"):
        load_model_config(missing)


def test_invalid_yaml_is_refused(write_config):
    path = write_config("model_config.yaml", raw="model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model_config(path)


def test_top_level_must_be_a_mapping(write_config):
    path = write_config("model_config.yaml", raw="- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_model_config(path)


def test_file_source_needs_a_path(write_config):
    path = write_config("model_config.yaml", {"data": {"source": "file"}})
    with pytest.raises(ConfigError, match="source 'file' needs a path"):
        load_model_config(path)


def test_data_file_must_be_csv_or_parquet(write_config):
    path = write_config("model_config.yaml", {"data": {"source": "file", "path": "data/iris.xlsx"}})
    with pytest.raises(ConfigError, match=r"data\.path: .*expected a \.csv or \.parquet file"):
        load_model_config(path)


def test_relative_data_path_starts_at_the_project_root(write_config):
    path = write_config("model_config.yaml", {"data": {"source": "file", "path": "data/iris.csv"}})
    assert load_model_config(path).data.path == PROJECT_ROOT / "data" / "iris.csv"


def test_feature_listed_twice_is_refused(write_config):
    twice = ["iris_sepal_length_cm_v1", "iris_sepal_length_cm_v1"]
    path = write_config("feature_config.yaml", {"features": twice})
    with pytest.raises(ConfigError, match="features listed twice: iris_sepal_length_cm_v1"):
        load_feature_config(path)


def test_feature_name_off_convention_is_refused(write_config):
    path = write_config("feature_config.yaml", {"features": ["PetalRatio"]})
    with pytest.raises(ConfigError, match=r"\{domain\}_\{feature_name\}_v\{version\}"):
        load_feature_config(path)


def test_default_profile_is_dev_with_embedded_store():
    settings = resolve_settings(environ=NO_OVERRIDES)
    who = load_environment_config().project
    assert settings.profile == "dev"
    assert settings.tracking_uri == f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    assert settings.registry_uri == settings.tracking_uri
    assert settings.artifact_location == (PROJECT_ROOT / "mlartifacts").as_uri()
    experiment = f"/{who.team}/{who.project}/{who.model_name}"
    assert settings.experiment_artifact_location == settings.artifact_location + experiment
    assert settings.experiment_name == experiment
    assert settings.registered_model_name == f"dev_catalog.ml_models.{who.team_code}_{who.project}_{who.model_name}"


def test_profile_comes_from_the_option_before_the_environment_variable():
    assert resolve_settings("prod", environ={"ML_ENV": "staging"}).catalog == "prod_catalog"
    assert resolve_settings(environ={"ML_ENV": "staging"}).catalog == "staging_catalog"


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="profile 'qa' is not defined; expected one of: dev, prod, staging"):
        resolve_settings("qa", environ=NO_OVERRIDES)


def test_environment_variables_override_the_profile():
    settings = resolve_settings(
        "prod",
        environ={
            "MLFLOW_TRACKING_URI": "http://tracking.internal:5000",
            "MLFLOW_REGISTRY_URI": "databricks-uc",
            "UNITY_CATALOG_NAME": "main",
        },
    )
    assert settings.tracking_uri == "http://tracking.internal:5000"
    assert settings.registry_uri == "databricks-uc"
    who = load_environment_config().project
    assert settings.registered_model_name == f"main.ml_models.{who.team_code}_{who.project}_{who.model_name}"
    assert settings.artifact_location is None  # a server chooses its own
    assert settings.experiment_artifact_location is None


def test_registry_defaults_to_the_overridden_tracking_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'x.db'}"
    settings = resolve_settings(environ={"MLFLOW_TRACKING_URI": uri})
    assert settings.registry_uri == uri
    assert settings.artifact_location == (tmp_path / "mlartifacts").as_uri()


def test_catalog_override_must_be_an_identifier():
    with pytest.raises(ConfigError, match="UNITY_CATALOG_NAME: catalog 'Bad-Catalog'"):
        resolve_settings(environ={"UNITY_CATALOG_NAME": "Bad-Catalog"})


def test_default_profile_must_exist(write_config):
    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    del content["profiles"]["dev"]
    path = write_config("environment.yaml", raw=yaml.safe_dump(content))
    with pytest.raises(ConfigError, match="default_profile 'dev' has no entry under profiles"):
        load_environment_config(path)


def test_team_code_may_not_contain_separators(write_config):
    path = write_config("environment.yaml", {"project": {"team_code": "data_sci"}})
    with pytest.raises(ConfigError, match=r"project\.team_code: String should match pattern"):
        load_environment_config(Path(path))


def test_feature_store_is_embedded_in_the_repository_by_default():
    store = resolve_settings(environ=NO_OVERRIDES).feature_store
    assert store.directory == PROJECT_ROOT / "feature_store"
    project = load_environment_config().project.project
    assert (store.project, store.registry, store.offline_store, store.online_store) == (project, None, None, None)


def test_feature_store_directory_can_be_overridden(tmp_path):
    store = resolve_settings(environ={"FEATURE_STORE_DIR": str(tmp_path)}).feature_store
    assert store.directory == tmp_path


def test_a_profile_points_the_feature_store_at_shared_backends(write_config):
    shared = {
        "registry": "postgresql://feast@db.internal:5432/features",
        "offline_store": "postgresql://feast@db.internal:5432/features",
        "online_store": "redis://cache.internal:6379/2",
    }
    path = write_config("environment.yaml", {"profiles": {"prod": {"feature_store": shared}}})
    store = resolve_settings("prod", path, environ=NO_OVERRIDES).feature_store
    assert (store.registry, store.offline_store, store.online_store) == tuple(shared.values())
    assert resolve_settings("dev", path, environ=NO_OVERRIDES).feature_store.online_store is None


@pytest.mark.parametrize(
    ("key", "uri", "expected"),
    [
        ("online_store", "postgresql://db/x", "must be a redis:// or rediss:// URI"),
        ("registry", "redis://cache:6379", "must be a postgresql:// URI"),
        ("offline_store", "mysql://db/x", "must be a postgresql:// URI"),
    ],
)
def test_a_feature_store_backend_of_the_wrong_kind_is_named(write_config, key, uri, expected):
    path = write_config("environment.yaml", {"profiles": {"prod": {"feature_store": {key: uri}}}})
    with pytest.raises(ConfigError, match=rf"profiles\.prod\.feature_store\.{key}: Value error, .*{expected}"):
        load_environment_config(path)


def test_the_readme_copy_step_changes_nothing():
    """README step 2 copies the example over environment.yaml: on a fresh clone that must leave the tree clean."""
    assert (CONFIG_DIR / "environment.yaml").read_bytes() == (CONFIG_DIR / "environment.yaml.example").read_bytes()


def test_the_tracking_client_is_bounded_by_default_and_configurable_per_profile(tmp_path):
    settings = resolve_settings(environ=NO_OVERRIDES)
    assert settings.tracking_client.environment() == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
    }
    assert settings.tracking_client.worst_case_s <= 30
    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    content["profiles"]["dev"]["tracking_client"] = {"max_retries": 0, "request_timeout_s": 3}
    content["profiles"]["dev"]["alias_lock"] = "redis://cache:6379/0"
    path = tmp_path / "environment.yaml"
    path.write_text(yaml.safe_dump(content))
    custom = resolve_settings(path=path, environ=NO_OVERRIDES)
    assert custom.tracking_client.worst_case_s == 3 and custom.alias_lock == "redis://cache:6379/0"
    assert resolve_settings(path=path, environ={"ALIAS_LOCK_URI": "postgresql://l@db/locks"}).alias_lock == (
        "postgresql://l@db/locks"
    )
    content["profiles"]["dev"]["alias_lock"] = "zookeeper://zk:2181"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match="alias_lock must be a postgresql:// or redis://"):
        resolve_settings(path=path, environ=NO_OVERRIDES)
    with pytest.raises(ConfigError, match="ALIAS_LOCK_URI: alias_lock must be"):
        resolve_settings(environ={"ALIAS_LOCK_URI": "etcd://x"})


# --- governance.yaml -----------------------------------------------------------


def test_shipped_governance_config_gives_each_role_a_right_on_everything():
    config = load_governance_config()
    assert set(config.roles) == {
        "data_scientist",
        "ci_staging",
        "release_manager",
        "auditor",
        "serving",
        "alias_guard",
        "monitoring",
    }
    assert all(set(role.experiments) == set(EXPERIMENT_KINDS) for role in config.roles.values())
    assert config.default_permission == "NO_PERMISSIONS"
    assert config.roles["release_manager"].models["production"] == "MANAGE"
    assert config.roles["data_scientist"].models["production"] == "READ"


def test_a_member_in_two_roles_is_refused(write_config):
    path = write_config("governance.yaml", {"roles": {"auditor": {"members": ["alice@example.com"]}}})
    with pytest.raises(ConfigError, match=r"alice@example.com holds two roles \(data_scientist, auditor\)"):
        load_governance_config(path)


def test_an_unknown_permission_is_named_with_its_key(write_config):
    path = write_config("governance.yaml", {"roles": {"auditor": {"models": {"production": "WRITE"}}}})
    with pytest.raises(ConfigError, match=r"roles\.auditor\.models\.production") as refused:
        load_governance_config(path)
    assert "MANAGE" in str(refused.value)


def test_a_role_that_leaves_a_model_unsaid_is_refused(write_config):
    path = write_config("governance.yaml")
    content = yaml.safe_load(path.read_text())
    del content["roles"]["auditor"]["models"]["staging"]
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match="missing: staging"):
        load_governance_config(path)


def test_a_role_that_leaves_the_monitoring_experiment_unsaid_is_refused(write_config):
    path = write_config("governance.yaml")
    content = yaml.safe_load(path.read_text())
    del content["roles"]["auditor"]["experiments"]["monitoring"]
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match=r"roles\.auditor.*missing: monitoring"):
        load_governance_config(path)
