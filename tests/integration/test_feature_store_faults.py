"""A feature store that is missing or down: a clear error naming it, nothing tracked, no made-up answer.

"Down" is real here: a PostgreSQL URI on a port where nothing listens, and a
Redis server of the test's own that is stopped while the endpoint serves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pandas as pd
import pytest
import redis
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from src.data.contract import CONTRACT
from src.features.store_backend import VIEW_NAME, FeatureStoreUnavailable
from src.features.store_repository import apply_and_materialize, feature_service_name
from src.models.training_plan import TrainingRefused, TrainingRequest
from src.utils.config import PROJECT_ROOT, load_feature_config, resolve_settings
from tests.conftest import eventually, free_port, fresh_database, require_service, use_store
from tests.integration.test_feature_store import _env_config, _post, _serve, _store_feature_config
from tests.pack import FIRST

pytestmark = pytest.mark.integration

SERVICE = feature_service_name(load_feature_config())


def test_training_from_a_store_never_built_tracks_nothing(tmp_path):
    config = _env_config(tmp_path, {"directory": str(tmp_path / "nowhere")})
    request = TrainingRequest(version="1.0.0", env="prod", environment_config=config,
                              feature_config=_store_feature_config(tmp_path))  # fmt: skip
    with (
        use_store(tmp_path / "mlflow", created=False),
        pytest.raises(TrainingRefused, match="run `make features` first"),
    ):
        run_training(request)
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_training_from_a_store_that_is_down_tracks_nothing(tmp_path):
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/features"  # nothing listens there
    config = _env_config(tmp_path, {"registry": down, "offline_store": down})
    request = TrainingRequest(version="1.0.0", env="prod", environment_config=config,
                              feature_config=_store_feature_config(tmp_path))  # fmt: skip
    with use_store(tmp_path / "mlflow", created=False), pytest.raises(TrainingRefused) as refused:
        run_training(request)
    assert "feature store unavailable while reading the registry" in str(refused.value)
    assert down in str(refused.value)
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_make_features_against_a_store_that_is_down_says_so(tmp_path, capsys, caplog):
    from src.features import feature_store  # in-process: the command's main

    down = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/features"
    config = _env_config(tmp_path, {"registry": down, "offline_store": down, "directory": str(tmp_path / "store")})
    assert feature_store.main(["--env", "prod", "--env-config", str(config), "apply"]) == 2
    printed = capsys.readouterr().err
    assert "feature store unavailable while reading the registry" in printed
    assert "postgres:***@127.0.0.1" in printed and "secret" not in printed + caplog.text  # no password in logs


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Redis server of this test's own, which the test may stop."""
    binary = shutil.which("redis-server")

    def installed() -> None:
        if binary is None:
            raise FileNotFoundError("redis-server is not on PATH")

    require_service("the redis-server program", installed)
    assert binary is not None
    port = free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    eventually(answers, "the private redis-server answering", every_s=0.05)
    yield f"redis://127.0.0.1:{port}/0", server
    server.kill()
    server.wait()


def test_endpoint_answers_503_when_the_online_store_goes_down(tmp_path, private_redis):
    """Key-only requests fail with 503 naming the store; requests with measurements are still served."""
    url, redis_server = private_redis
    config = _env_config(tmp_path, {"directory": str(tmp_path / "store"), "online_store": url})
    apply_and_materialize(resolve_settings("prod", config, environ={}).feature_store)
    with use_store(tmp_path / "mlflow") as uri:
        run_training(TrainingRequest(version="1.0.0", author="alice", env="prod", environment_config=config))

    class _Backend:
        env_config = config

    port = free_port()
    server = _serve(uri, _Backend, port, tmp_path / "log.db")  # type: ignore[arg-type]
    try:
        assert _post(port, {"inputs": {CONTRACT.entity_key: [7]}})[0] == 200
        redis_server.kill()
        redis_server.wait()
        status, answer = _post(port, {"inputs": {CONTRACT.entity_key: [7]}})
        assert status == 503 and answer["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "reading online features" in answer["message"] and url in answer["message"]
        assert _post(port, {"instances": [dict(FIRST.values)]})[0] == 200
    finally:
        server.stop()


def test_a_feature_view_missing_from_the_store_is_named_and_nothing_runs(tmp_path):
    """Training is refused and the endpoint does not start: no run, no answer from a store without its view."""
    config = _env_config(tmp_path, {"directory": str(tmp_path / "store")})
    store = resolve_settings("prod", config, environ={}).feature_store
    apply_and_materialize(store).delete_feature_view(VIEW_NAME)
    with use_store(tmp_path / "mlflow") as uri:
        model = run_training(TrainingRequest(version="1.0.0", author="alice", env="prod", environment_config=config))
        request = TrainingRequest(version="1.0.1", env="prod", environment_config=config,
                                  feature_config=_store_feature_config(tmp_path))  # fmt: skip
        with pytest.raises(TrainingRefused, match=rf"feature view {VIEW_NAME} \(of {SERVICE}\) is not"):
            run_training(request)
        assert [r.info.run_id for r in MlflowClient().search_runs([model.experiment_id])] == [model.run_id]
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "dev", "--port", str(free_port()),
               "--feature-lookup", "--env", "prod", "--env-config", str(config)]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"feature view {VIEW_NAME} (of {SERVICE}) is not" in done.stderr


def test_training_rows_without_features_in_the_store_are_named(tmp_path, write_config, bundled_frame):
    """Ten more rows than the store knows: refused, naming the first keys, before anything is tracked."""
    config = _env_config(tmp_path, {"directory": str(tmp_path / "store")})
    apply_and_materialize(resolve_settings("prod", config, environ={}).feature_store)
    data = tmp_path / "more_rows.csv"
    pd.concat([bundled_frame, bundled_frame.head(10)], ignore_index=True).to_csv(data, index=False)
    model_config = write_config("model_config.yaml", {"data": {"source": "file", "path": str(data)}})
    request = TrainingRequest(version="1.0.0", env="prod", environment_config=config, model_config=model_config,
                              feature_config=_store_feature_config(tmp_path))  # fmt: skip
    with use_store(tmp_path / "mlflow", created=False), pytest.raises(TrainingRefused) as refused:
        run_training(request)
    first = [len(bundled_frame) + i for i in range(1, 6)]
    assert f"the store has no features for {CONTRACT.entity_key} {first} (10 rows)" in str(refused.value)
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_make_features_with_the_online_store_down_writes_nothing(tmp_path, postgres_dsn):
    """PostgreSQL answers but Redis does not: refused before the source table is written."""
    import psycopg

    with fresh_database(postgres_dsn, "feast_fault") as database:
        down = f"redis://127.0.0.1:{free_port()}/0"
        config = _env_config(tmp_path, {"project": "iris_fault", "registry": database, "offline_store": database,
                                        "online_store": down, "directory": str(tmp_path / "store")})  # fmt: skip
        with pytest.raises(FeatureStoreUnavailable, match=f"while reaching the online store .*{down}"):
            apply_and_materialize(resolve_settings("prod", config, environ={}).feature_store)
        with psycopg.connect(database) as connection:
            tables = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        assert f"iris_fault_{VIEW_NAME}_source" not in {name for (name,) in tables}
