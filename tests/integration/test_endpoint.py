"""The REST endpoint as a real process: payload formats, refusals, metrics, hot-swap under load, failed reloads.

The endpoint is started with ``scripts/deploy_endpoint.py`` on a temporary
store, exactly as a user starts it, and spoken to over HTTP.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import sys
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from src.models.model_registry import Registry
from src.utils.config import PROJECT_ROOT
from src.utils.processes import ServerProcess
from tests.conftest import eventually, free_port, release_to_staging, use_store
from tests.pack import COLUMNS, FIRST, LABEL_A, MODEL, ROW_A

pytestmark = pytest.mark.integration

SECRET = "test-webhook-secret"
MAX_BODY = 20_000


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("endpoint-store")
    with use_store(root) as uri:
        assert release_to_staging("1.0.0") == "1"
        yield root, uri


@pytest.fixture(scope="module")
def endpoint(store):
    root, uri = store
    port = free_port()
    log = root / "inference.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri, "ENDPOINT_WEBHOOK_SECRET": SECRET}
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "staging", "--port", str(port),
               "--poll-seconds", "0.5", "--max-body-bytes", str(MAX_BODY), "--inference-log", str(log)]  # fmt: skip
    server = ServerProcess("endpoint", command, "127.0.0.1", port, "/ping", env=env, log=root / "endpoint.log",
                           cwd=PROJECT_ROOT)  # fmt: skip
    with server:
        yield port, log, uri


def _request(port: int, method: str, path: str, body: bytes | str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _invoke(port: int, payload: object, content_type: str = "application/json") -> tuple[int, dict]:
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    status, raw = _request(port, "POST", "/invocations", body, {"Content-Type": content_type})
    return status, json.loads(raw)


def test_smoke_command(endpoint, store, capsys):
    from scripts import deploy_endpoint  # in-process: the command's main against the endpoint process

    port, _, _ = endpoint
    command = ["smoke", "--url", f"http://127.0.0.1:{port}"]
    assert deploy_endpoint.main([*command, "--alias", "staging"]) == 0
    assert "passed" in capsys.readouterr().out
    assert deploy_endpoint.main([*command, "--alias", "production"]) == 1
    assert "FAIL health" in capsys.readouterr().out


def test_alias_move_swaps_under_load_without_failing_a_request(endpoint):
    port, log, _ = endpoint
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW_A]}})
        while not stop.is_set():
            connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()

    clients = [threading.Thread(target=hammer) for _ in range(4)]
    for client in clients:
        client.start()
    before = json.loads(_request(port, "GET", "/health")[1])["model_version"]
    try:
        eventually(lambda: len(statuses) >= 20, "requests flowing before the move")
        after = release_to_staging("1.1.0")  # staging moves while requests flow
        eventually(lambda: json.loads(_request(port, "GET", "/health")[1])["model_version"] == after,
                   "the endpoint picking up the alias move")  # fmt: skip
        swapped = len(statuses)
        eventually(lambda: len(statuses) >= swapped + 20, "requests answered on the new version")
    finally:
        stop.set()
        for client in clients:
            client.join()
    assert set(statuses) == {200}

    def logged_versions() -> set[str]:
        with sqlite3.connect(log) as connection:
            return {row[0] for row in connection.execute("select distinct model_version from predictions")}

    eventually(lambda: logged_versions() >= {before, after}, "both versions in the inference log (it flushes)")


def test_a_move_that_bypasses_the_gate_is_never_served(endpoint, store, tmp_path):
    """A version set at @staging with the registry's own call (no validation, no recorded move): the alias guard
    keeps the old version serving and says why; a version that cannot load is refused all the same."""
    port, _, uri = endpoint
    client = MlflowClient(uri, uri)
    good = client.get_model_version_by_alias(MODEL, "staging")
    broken = Path(mlflow.artifacts.download_artifacts(good.source, dst_path=str(tmp_path / "broken-model")))
    (broken / "model.skops").write_bytes(b"not a model")  # a version whose model cannot be loaded
    version = client.create_model_version(good.name, source=str(broken), run_id=good.run_id, tags=dict(good.tags))
    Registry(client).point_alias(good.name, "staging", str(version.version))  # a bad move, bypassing the gate
    health = eventually(lambda: (h := json.loads(_request(port, "GET", "/health")[1]))["last_reload_error"] and h,
                        "the refused move reported")  # fmt: skip
    assert health["status"] == "degraded" and health["model_version"] == str(good.version)
    assert f"version {version.version} refused by the alias guard" in health["last_reload_error"]
    assert "without a recorded and validated move in the alias history" in health["last_reload_error"]
    assert _invoke(port, {"instances": [dict(FIRST.values)]}) == (200, {"predictions": [LABEL_A]})
    refused = f'model_reloads_total{{model="{MODEL}",outcome="refused"}} 1.0'
    assert refused in _request(port, "GET", "/metrics")[1].decode()
    Registry(client).point_alias(good.name, "staging", str(good.version))  # put back: nothing left to report
    eventually(lambda: json.loads(_request(port, "GET", "/health")[1])["last_reload_error"] is None,
               "the report cleared once the alias was back")  # fmt: skip
