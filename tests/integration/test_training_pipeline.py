"""End-to-end training on a temporary SQLite store: everything the seed says a run logs is really in the store.

One module-scoped training run is inspected by most tests (training costs
seconds); the refusal tests use stores of their own and check that nothing
was created.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from pipelines.training_pipeline import MODEL_REQUIREMENTS, run_training
from src.data.contract import CONTRACT, bundled_uri, load_bundled
from src.data.load_data import load_dataset
from src.features.feature_set import get_feature
from src.models.training_plan import TrainingRefused, TrainingRequest
from src.utils.config import (
    PROJECT_ROOT,
    DataConfig,
    load_environment_config,
    load_feature_config,
    load_model_config,
    model_config_path,
)
from tests.conftest import use_store
from tests.pack import EXPERIMENT, LABEL_A, LABEL_B, MODEL, MODEL_SHORT, NUMERIC, ROW_A, ROW_B, above_range

pytestmark = pytest.mark.integration

MODEL_NAME = MODEL
CONFIG = load_model_config()
WHO = load_environment_config().project
FEATURE_SET = f"{load_feature_config().feature_set.name}:v{load_feature_config().feature_set.version}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A store of this module's own, selected through MLFLOW_TRACKING_URI like in CI and on servers."""
    root = tmp_path_factory.mktemp("training-store")
    with use_store(root):
        yield root


@pytest.fixture(scope="module")
def trained(store):
    return run_training(TrainingRequest(version="1.0.0", context="full", build_id="4242", author="alice@example.com"))


@pytest.fixture(scope="module")
def client(trained):
    return MlflowClient()


@pytest.fixture(scope="module")
def run(client, trained):
    return client.get_run(trained.run_id)


@pytest.fixture(scope="module")
def model_dir(trained, client, tmp_path_factory):
    version = client.get_model_version(MODEL_NAME, trained.registered.version)
    return Path(mlflow.artifacts.download_artifacts(version.source, dst_path=str(tmp_path_factory.mktemp("model"))))


def test_run_is_named_by_convention_and_finished(trained, run, client):
    assert trained.run_name == "v1.0.0_full_build_4242"
    assert run.info.run_name == trained.run_name
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT


def test_experiment_keeps_artifacts_beside_the_store(store, run, client):
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.artifact_location == (store / "mlartifacts").as_uri() + EXPERIMENT
    assert experiment.tags["team"] == EXPERIMENT.split("/")[1]  # /{team}/{project}/{model_name}
    assert not (PROJECT_ROOT / "mlruns").exists()


def test_parameters_cover_hyperparameters_data_and_features(run):
    params = run.data.params
    features = load_feature_config().features
    assert params["model.type"] == CONFIG.model.type
    assert params["model.class"] == CONFIG.model.estimator
    assert all(params[f"model.{key}"] == str(value) for key, value in CONFIG.model.params.items())
    assert params["random_seed"] == str(CONFIG.random_seed)
    rows = len(load_bundled())
    assert params["split.test_size"] == str(CONFIG.split.test_size)
    assert params["split.val_rows"] == str(math.ceil(CONFIG.split.test_size * rows))
    assert params["data.source"] == "bundled" and params["data.rows"] == str(rows)
    assert params["data.digest"] == load_dataset(DataConfig()).digest
    assert params["features"] == ",".join(features)
    for feature in map(get_feature, features):
        assert params[f"feature.{feature.domain}_{feature.base_name}"] == f"v{feature.version}"
    feature_set = load_feature_config().feature_set
    assert params["feature_set.name"] == feature_set.name and params["feature_set.version"] == str(feature_set.version)


def test_metrics_cover_training_and_validation(run):
    for split in ("train", "val"):
        for metric in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "log_loss"):
            assert f"{split}_{metric}" in run.data.metrics
    assert run.data.metrics["val_accuracy"] >= CONFIG.validation.thresholds["val_accuracy"]


def test_tags_trace_version_context_build_code_and_author(run):
    tags = run.data.tags
    assert tags["model_version"] == "1.0.0"
    assert tags["training_context"] == "full"
    assert tags["build_id"] == "4242"
    assert tags["author"] == "alice@example.com"
    assert tags["git_dirty"] in {"true", "false"}
    assert tags["mlflow.note.content"].startswith("Training of ") and "1.0.0 (full) by alice@example.com" in tags[
        "mlflow.note.content"]  # the run's description in the UI  # fmt: skip
    assert len(tags["git_sha"]) == 40 or tags["git_sha"] == "unknown"
    assert tags["git_branch"]
    assert tags["env"] == "dev"
    assert tags["feature_set"] == FEATURE_SET


def test_artifacts_hold_importance_confusion_matrix_and_report(client, run, tmp_path):
    paths = {f.path for f in client.list_artifacts(run.info.run_id, "feature_importance")}
    paths |= {f.path for f in client.list_artifacts(run.info.run_id, "evaluation")}
    assert paths == {
        "feature_importance/feature_importance.csv",
        "feature_importance/feature_importance.png",
        "evaluation/confusion_matrix.png",
        "evaluation/classification_report.txt",
        "evaluation/classification_report.json",
    }
    local = Path(client.download_artifacts(run.info.run_id, "evaluation", str(tmp_path)))
    assert (local / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((local / "classification_report.json").read_text())
    assert set(CONTRACT.classes) <= set(report)


def test_dataset_lineage_is_a_run_input(run):
    (dataset_input,) = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == CONTRACT.name
    assert dataset.digest == run.data.params["data.digest"]
    assert json.loads(dataset.source)["uri"] == bundled_uri()
    assert {tag.key: tag.value for tag in dataset_input.tags}["mlflow.data.context"] == "training"
    schema_columns = {column["name"] for column in json.loads(dataset.schema)["mlflow_colspec"]}
    assert schema_columns == {*CONTRACT.input_names, CONTRACT.target.name}


def test_logged_model_has_full_signature_over_raw_measurements(model_dir):
    info = mlflow.models.Model.load(str(model_dir / "MLmodel"))
    assert info.signature.inputs.input_names() == list(CONTRACT.input_names)
    assert info.signature.outputs is not None
    assert info.metadata["feature_set"] == FEATURE_SET
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    example = json.loads((model_dir / "input_example.json").read_text())
    assert example["columns"] == list(CONTRACT.input_names) and len(example["data"]) == len(CONTRACT.classes)


def test_logged_model_pins_its_requirements(model_dir):
    lines = [line for line in (model_dir / "requirements.txt").read_text().splitlines() if line]
    names = {line.split("==")[0] for line in lines}
    assert names == set(MODEL_REQUIREMENTS)
    assert all("==" in line for line in lines)


def test_logged_model_carries_its_feature_code(model_dir):
    assert (model_dir / "code" / "src" / "features" / "feature_definitions.py").is_file()


def test_version_is_registered_three_level_with_tags_and_dev_alias(trained, client, run):
    assert trained.registered.name == MODEL_NAME
    version = client.get_model_version(MODEL_NAME, trained.registered.version)  # @dev may have moved since
    assert "dev" in trained.registered.alias
    assert version.run_id == run.info.run_id
    assert CONFIG.model.type in version.description
    assert version.tags["owner"] == WHO.owner
    assert version.tags["use_case"]
    assert version.tags["data_lineage"] == f"{bundled_uri()}#digest={run.data.params['data.digest']}"
    assert version.tags["feature_set"] == FEATURE_SET
    assert version.tags["author"] == "alice@example.com"
    model = client.get_registered_model(MODEL_NAME)
    assert model.description.startswith(WHO.use_case[:20])
    assert model.tags["owner"] == WHO.owner


def test_registered_model_serves_from_its_own_code_in_a_fresh_process(trained, store, tmp_path):
    script = (
        "import sys, json, mlflow, pandas as pd\n"
        f"model = mlflow.pyfunc.load_model('models:/{MODEL_NAME}@dev')\n"
        "rows = pd.DataFrame(json.loads(sys.argv[2]), columns=json.loads(sys.argv[1]))\n"
        "print(json.dumps([str(p) for p in model.predict(rows)]))\n"
        "print(sys.modules['src.features.feature_definitions'].__file__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(list(CONTRACT.input_names)), json.dumps([ROW_A, ROW_B])],
        cwd=tmp_path,  # not the project root
        env={**os.environ, "MLFLOW_TRACKING_URI": os.environ["MLFLOW_TRACKING_URI"]},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    predictions, module_file = done.stdout.strip().splitlines()[-2:]
    assert json.loads(predictions) == [LABEL_A, LABEL_B]
    assert str(store) in module_file and "/code/src/features/" in module_file


def test_retraining_is_reproducible_and_moves_dev(trained, client):
    again = run_training(TrainingRequest(version="1.0.1", context="incremental", build_id="4243"))
    assert again.metrics == trained.metrics
    assert int(again.registered.version) > int(trained.registered.version)  # other tests may train too
    assert str(client.get_model_version_by_alias(MODEL_NAME, "dev").version) == again.registered.version


def test_summary_says_where_to_look(trained):
    summary = trained.summary()
    assert trained.run_id in summary and "val_accuracy" in summary
    assert f"models:/{MODEL_NAME}@dev" in summary and "make ui" in summary


# --- refusals: nothing tracked, nothing registered -------------------------------------


def _bad_model_config(tmp_path: Path, **changes: object) -> Path:
    content = yaml.safe_load(model_config_path().read_text())
    content.update(changes)
    path = tmp_path / "model_config.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_config_error_tracks_nothing(store_uri, tmp_path):
    config = _bad_model_config(tmp_path, random_seed=-1)
    with pytest.raises(TrainingRefused, match=r"random_seed: Input should be greater than or equal to 0"):
        run_training(TrainingRequest(version="1.0.0", model_config=config))
    assert not Path(store_uri.removeprefix("sqlite:///")).exists()


def test_bad_data_tracks_nothing(store_uri, tmp_path, bundled_frame):
    data = tmp_path / "data.csv"
    bundled_frame.assign(**{NUMERIC.name: above_range()}).to_csv(data, index=False)
    config = _bad_model_config(tmp_path, data={"source": "file", "path": str(data)})
    with pytest.raises(TrainingRefused, match=f"column '{NUMERIC.name}', row 0: outside the allowed range"):
        run_training(TrainingRequest(version="1.0.0", model_config=config))
    assert not Path(store_uri.removeprefix("sqlite:///")).exists()


def test_experiment_of_another_project_is_refused(store_uri):
    with pytest.raises(TrainingRefused, match="does not belong to this project"):
        run_training(TrainingRequest(version="1.0.0", experiment="/ml-platform/fraud/transaction_scorer"))
    assert not Path(store_uri.removeprefix("sqlite:///")).exists()


def test_failed_alias_leaves_no_half_registered_version(trained, client, monkeypatch):
    before = {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")}
    dev_before = client.get_model_version_by_alias(MODEL_NAME, "dev").version

    def refuse(*args, **kwargs):
        raise MlflowException("alias service unavailable")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    with pytest.raises(TrainingRefused, match=r"cannot set alias 'dev'.*alias service unavailable"):
        run_training(TrainingRequest(version="1.0.2", context="full"))
    monkeypatch.undo()
    assert {v.version for v in client.search_model_versions(f"name='{MODEL_NAME}'")} == before
    assert client.get_model_version_by_alias(MODEL_NAME, "dev").version == dev_before


def test_a_semantic_version_names_one_build(tmp_path, monkeypatch):
    """The same build may register its version again; another build is refused before tracking; auto goes on."""
    from src.models import training
    from src.utils.git_info import GitInfo

    with use_store(tmp_path):
        monkeypatch.setattr(training, "git_info", lambda: GitInfo("a" * 40, "main", dirty=False))
        first = run_training(TrainingRequest(version="1.0.0", author="alice"))
        rerun = run_training(TrainingRequest(version="1.0.0", author="alice"))  # a retried CI job, say
        client = MlflowClient()
        runs = len(client.search_runs([client.get_run(first.run_id).info.experiment_id]))
        monkeypatch.setattr(training, "git_info", lambda: GitInfo("b" * 40, "main", dirty=False))
        with pytest.raises(TrainingRefused) as refused:
            run_training(TrainingRequest(version="1.0.0", author="alice"))
        assert str(refused.value).startswith(
            f"semantic version 1.0.0 is already registered as {MODEL_NAME} version 1, 2, trained from another build"
        )
        assert "--version 1.0.1" in str(refused.value)
        assert len(client.search_runs([client.get_run(first.run_id).info.experiment_id])) == runs
        assert str(client.get_model_version_by_alias(MODEL_NAME, "dev").version) == rerun.registered.version
        following = run_training(TrainingRequest(version="auto", author="alice"))
        assert following.run_name.startswith("v1.0.1_full_")
        version = client.get_model_version(MODEL_NAME, following.registered.version)
        assert version.tags["model_version"] == "1.0.1"
        assert version.tags["build_fingerprint"] == client.get_run(following.run_id).data.tags["build_fingerprint"]


# --- the seed's command line ----------------------------------------------------------


def _train_cli(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    return subprocess.run(
        [sys.executable, "-m", "src.models.train_model", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_seed_command_trains_and_registers(store_uri):
    done = _train_cli(
        store_uri,
        *("--config", "configs/model_config.yaml", "--experiment", EXPERIMENT, "--context", "full"),
        *("--version", "1.0.0"),
    )
    assert done.returncode == 0, done.stderr
    assert f"model:      {MODEL_NAME} version 1 (alias @dev)" in done.stdout
    registry = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    assert str(registry.get_model_version_by_alias(MODEL_NAME, "dev").version) == "1"


def test_command_refuses_bad_version_with_one_clear_line(store_uri):
    done = _train_cli(store_uri, "--version", "one")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: model version 'one' does not follow")
    assert not Path(store_uri.removeprefix("sqlite:///")).exists()


def test_prepared_store_has_mlflow_schema(tmp_path):
    import sqlite3

    from src.utils.tracking_store import prepare_stores

    database = tmp_path / "nested" / "mlflow.db"
    preparation = prepare_stores(f"sqlite:///{database}")
    assert preparation.process is not None
    preparation.wait()
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master where type='table'")}
    assert {"experiments", "runs", "registered_models", "model_versions", "alembic_version"} <= tables


def test_failed_first_version_leaves_no_empty_registered_model(trained, client, monkeypatch):
    monkeypatch.setenv("UNITY_CATALOG_NAME", "fresh_catalog")  # a model that does not exist yet

    def refuse(*args, **kwargs):
        raise MlflowException("version service unavailable")

    monkeypatch.setattr(MlflowClient, "create_model_version", refuse)
    with pytest.raises(TrainingRefused, match=r"cannot register .* version service unavailable"):
        run_training(TrainingRequest(version="1.0.3", context="full"))
    monkeypatch.undo()
    names = {model.name for model in client.search_registered_models()}
    assert f"fresh_catalog.ml_models.{MODEL_SHORT}" not in names
    assert MODEL_NAME in names
