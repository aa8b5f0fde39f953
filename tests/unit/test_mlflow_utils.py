"""The tracking door: experiments marked as model training, errors translated, requirements pinned."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from src.utils import mlflow_utils
from src.utils.config import PROJECT_ROOT, resolve_settings
from src.utils.keys import EXPERIMENT_KIND_TRAINING, Tag


def test_experiments_open_as_model_training_in_the_ui(store_uri):
    settings = resolve_settings()
    mlflow_utils.configure_tracking(settings)
    client = mlflow.MlflowClient()
    experiment_id = mlflow_utils.ensure_project_experiment(settings)
    experiment = client.get_experiment(experiment_id)
    assert experiment.tags[Tag.EXPERIMENT_KIND] == EXPERIMENT_KIND_TRAINING
    assert experiment.tags[Tag.TEAM] == settings.project.team
    older = client.create_experiment("/data-science/iris/older")  # made before the tag existed
    assert mlflow_utils.ensure_experiment("/data-science/iris/older", None, {}) == older
    assert client.get_experiment(older).tags[Tag.EXPERIMENT_KIND] == EXPERIMENT_KIND_TRAINING


def test_mlflow_errors_become_backend_errors():
    translated = mlflow_utils.backend_error(MlflowException("boom"))
    assert isinstance(translated, mlflow_utils.BackendError) and str(translated).endswith("boom")
    assert mlflow_utils.backend_error(ValueError("not mlflow")) is None


def test_requirements_are_pinned_to_what_is_installed():
    assert mlflow_utils.pinned_requirements(["numpy"]) == [f"numpy=={metadata.version('numpy')}"]


def test_run_url_points_at_the_server_or_the_ui_command():
    settings = resolve_settings()
    assert mlflow_utils.run_url(settings, "1", "abc").endswith("#/experiments/1/runs/abc?workflowType=machine_learning")


def test_a_sql_table_source_never_records_a_password():
    source = mlflow_utils.SqlTableSource("postgresql://u:secret@db/features?table=t")
    assert "secret" not in str(source.to_dict()) and source._can_resolve("postgresql://db/f?table=t")


def test_a_request_that_never_reached_the_server_is_named_as_an_outage(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    refused = MlflowException(
        "API request to http://mlflow.internal:5000/api/2.0/mlflow/runs/create failed with exception "
        "HTTPConnectionPool(host='mlflow.internal', port=5000): Max retries exceeded with url: /api/2.0/mlflow/"
        'runs/create (Caused by NewConnectionError("...: Failed to establish a new connection: [Errno 111] '
        'Connection refused"))'
    )
    assert mlflow_utils.outage(refused) == (
        "tracking server http://mlflow.internal:5000 unreachable (connection refused, 3 attempts)"
    )
    error = mlflow_utils.backend_error(refused)
    assert isinstance(error, mlflow_utils.BackendUnreachable) and isinstance(error, ConnectionError)
    timed_out = MlflowException("API request to https://h/api failed with exception Read timed out. (read timeout=8)")
    assert mlflow_utils.outage(timed_out) == "tracking server https://h unreachable (timed out, 3 attempts)"
    assert mlflow_utils.outage(MlflowException("RESOURCE_DOES_NOT_EXIST: no such run")) is None
    assert not isinstance(mlflow_utils.backend_error(MlflowException("bad")), ConnectionError)


def test_a_file_a_package_ships_is_named_by_package_and_version_and_loads_anywhere(tmp_path):
    from importlib import metadata, resources

    uri = f"package://scikit-learn@{metadata.version('scikit-learn')}/sklearn/datasets/data/iris.csv"
    source = mlflow_utils.PackageDataSource._resolve(uri)
    assert mlflow_utils.PackageDataSource._can_resolve(uri) and not mlflow_utils.PackageDataSource._can_resolve("x.csv")
    loaded = source.load(str(tmp_path))
    expected = resources.files("sklearn.datasets").joinpath("data", "iris.csv").read_bytes()
    assert Path(loaded).read_bytes() == expected and source.to_dict() == {"uri": uri}


def test_a_rest_call_loads_no_idle_header_plugin():
    """A fresh process (the registry loads its plugins once, on first import): Feast's provider, which only acts in
    Feast's own token scope, is left out, and with it the import of the whole of Feast."""
    probe = (
        "import sys, src.utils.mlflow_utils\n"
        "from mlflow.tracking.request_header import registry\n"
        "registry.resolve_request_headers()\n"
        "print(sorted(type(p).__module__.split('.')[0] for p in registry._request_header_provider_registry))\n"
        "print('feast' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert shown.stdout.split() == ["['mlflow',", "'mlflow']", "False"], shown.stderr
    assert any(point.name == "feast" for point in metadata.entry_points(group="mlflow.request_header_provider"))
