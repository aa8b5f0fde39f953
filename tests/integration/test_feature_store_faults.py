"""A feature store that is missing or down: a clear error naming it, nothing tracked, no made-up answer.

"Down" is real here: a PostgreSQL URI on a port where nothing listens, and a
Redis server of the test's own that is stopped while the endpoint serves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from pipelines.training_pipeline import run_training
from pipelines.training_plan import TrainingRefused, TrainingRequest
from src.features.feature_store import apply_and_materialize
from src.utils.config import PROJECT_ROOT, resolve_settings
from tests.conftest import use_store
from tests.integration.test_feature_store import _env_config, _free_port, _post, _serve, _store_feature_config

pytestmark = pytest.mark.integration


def test_training_from_a_store_never_built_tracks_nothing(tmp_path):
    config = _env_config(tmp_path, {"directory": str(tmp_path / "nowhere")})
    request = TrainingRequest(version="1.0.0", env="prod", environment_config=config,
                              feature_config=_store_feature_config(tmp_path))  # fmt: skip
    with use_store(tmp_path / "mlflow"), pytest.raises(TrainingRefused, match="run `make features` first"):
        run_training(request)
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_training_from_a_store_that_is_down_tracks_nothing(tmp_path):
    down = f"postgresql://postgres@127.0.0.1:{_free_port()}/features"  # nothing listens there
    config = _env_config(tmp_path, {"registry": down, "offline_store": down})
    request = TrainingRequest(version="1.0.0", env="prod", environment_config=config,
                              feature_config=_store_feature_config(tmp_path))  # fmt: skip
    with use_store(tmp_path / "mlflow"), pytest.raises(TrainingRefused) as refused:
        run_training(request)
    assert "feature store unavailable while reading the registry" in str(refused.value)
    assert down in str(refused.value)
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_make_features_against_a_store_that_is_down_says_so(tmp_path):
    down = f"postgresql://postgres:secret@127.0.0.1:{_free_port()}/features"
    config = _env_config(tmp_path, {"registry": down, "offline_store": down, "directory": str(tmp_path / "store")})
    command = [sys.executable, "-m", "src.features.feature_store", "--env", "prod", "--env-config", str(config)]
    done = subprocess.run([*command, "apply"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "feature store unavailable while writing the source table" in done.stderr
    assert "postgres:***@127.0.0.1" in done.stderr and "secret" not in done.stderr  # no password in logs


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Redis server of this test's own, which the test may stop."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)  # fmt: skip
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)
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

    port = _free_port()
    server = _serve(uri, _Backend, port, tmp_path / "log.db")  # type: ignore[arg-type]
    try:
        assert _post(port, {"inputs": {"flower_id": [7]}})[0] == 200
        redis_server.kill()
        redis_server.wait()
        status, answer = _post(port, {"inputs": {"flower_id": [7]}})
        assert status == 503 and answer["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert "reading online features" in answer["message"] and url in answer["message"]
        assert _post(port, {"instances": [[5.1, 3.5, 1.4, 0.2]]})[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
