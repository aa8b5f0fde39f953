"""The endpoint with two workers, a real process: shared metrics, every worker follows the alias, a dead one replaced.

Started as a user starts it (``scripts/deploy_endpoint.py --workers 2``). The
alias poll is a minute, so a swap within the test's waits can only come from
the signed webhook, which reaches one worker and must wake both.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from src.components.endpoint_checks import served_version
from src.utils.config import PROJECT_ROOT, resolve_settings
from src.utils.processes import ServerProcess
from tests.conftest import SUITE_ROLLOUT_P99_MS, eventually, free_port, release_to_staging, signed_webhook, use_store
from tests.pack import MODEL, ROW_A

pytestmark = [pytest.mark.integration, pytest.mark.system]

SECRET = "workers-webhook-secret"
SERVED = f'model="{MODEL}"'
#: The answered requests of every version (``_metric`` sums the samples that start so).
REQUESTS = 'model_requests_total{alias="staging",model="' + MODEL + '",status="200",'
RELOADS = f'model_reloads_total{{{SERVED},outcome="succeeded"}}'
ONE_ROW = json.dumps({"instances": [ROW_A]})


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("workers-store")
    with use_store(root) as uri:
        release_to_staging("1.0.0")
        port = free_port()
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri, "ENDPOINT_WEBHOOK_SECRET": SECRET}
        command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "staging", "--port", str(port),
                   "--workers", "2", "--poll-seconds", "60", "--inference-log", str(root / "inference.db")]  # fmt: skip
        with ServerProcess("endpoint", command, "127.0.0.1", port, "/ping", env=env, log=root / "endpoint.log",
                           cwd=PROJECT_ROOT):  # fmt: skip
            eventually(lambda: len(_health(port).get("workers", {})) == 2, "both workers to start")
            yield port, uri, root / "endpoint.log"


def _get(port: int, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> bytes:
    """One request on a fresh connection, so that requests spread over the workers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status in (200, 202), (response.status, response.read())
        return response.read()
    finally:
        connection.close()


def _health(port: int) -> dict:
    return json.loads(_get(port, "GET", "/health"))


def _metric(port: int, sample: str) -> float:
    """The samples of ``/metrics`` that start with ``sample``, summed (0 before they are first counted)."""
    text = _get(port, "GET", "/metrics").decode()
    return sum(float(found) for found in re.findall(rf"^{re.escape(sample)}\S* (\S+)$", text, re.MULTILINE))


def test_requests_spread_over_both_workers_and_any_worker_reports_them_all(endpoint):
    port, _, _ = endpoint
    answered_by = set()
    for _ in range(200):  # fresh connections: the kernel hands each to whichever worker accepts first
        answered_by.add(_health(port)["worker"])
        if len(answered_by) == 2:
            break
    assert answered_by == set(_health(port)["workers"])
    before = _metric(port, REQUESTS)
    for _ in range(60):
        _get(port, "POST", "/invocations", ONE_ROW)
    assert _metric(port, REQUESTS) - before == 60


def test_a_webhook_to_one_worker_swaps_every_worker_and_the_rollout_sees_all(endpoint):
    port, uri, log = endpoint
    settings = resolve_settings()
    reloads_before = _metric(port, RELOADS)
    version = release_to_staging(f"2.{time.time_ns() % 1_000_000}.0")
    event = {"entity": "model_version_alias", "action": "created",
             "data": {"name": settings.model_name_for("staging"), "alias": "staging", "version": version}}  # fmt: skip
    body, headers = signed_webhook(event, SECRET)
    assert json.loads(_get(port, "POST", "/webhooks/mlflow", body, headers)) == {"accepted": True}
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    rollout = subprocess.run(
        [sys.executable, "scripts/deploy_endpoint.py", "rollout", "--alias", "staging", "--url",
         f"http://127.0.0.1:{port}", "--version", version, "--timeout", "120", "--max-p99-ms", SUITE_ROLLOUT_P99_MS],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rollout.returncode == 0, rollout.stdout + rollout.stderr
    workers = _health(port)["workers"]
    assert len(workers) == 2 and set(workers.values()) == {version}, workers
    assert _metric(port, RELOADS) - reloads_before == 2  # one per worker, each counted in its own process, summed
    served = re.findall(r"^model_version_info\{(.*)\} 1\.0$", _get(port, "GET", "/metrics").decode(), re.M)
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', series)) for series in served]
    assert {series["pid"]: series["version"] for series in labels} == {pid: version for pid in workers}
    assert "Warning" not in log.read_text() and "Traceback" not in log.read_text()  # a swap warns of nothing


def test_a_killed_worker_is_replaced_and_its_version_forgotten(endpoint):
    port, _, _ = endpoint
    workers = _health(port)["workers"]
    victim = int(next(iter(workers)))
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        now = _health(port)["workers"]
        return len(now) == 2 and str(victim) not in now

    eventually(replaced, "the supervisor to replace the killed worker")
    health = _health(port)
    assert served_version(health) == health["model_version"]  # the replacement serves what the alias holds


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_is_one_error_line_before_any_model_loads_and_leaves_nothing(workers, capsys, tmp_path,
                                                                                  monkeypatch):  # fmt: skip
    import tempfile

    from scripts import deploy_endpoint
    from src.components.workers import listening_socket

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a shared directory would be made
    with listening_socket("127.0.0.1", 0) as taken:
        taken.listen()
        port = taken.getsockname()[1]
        code = deploy_endpoint.main(["--alias", "staging", "--port", str(port), "--workers", workers])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert list(tmp_path.iterdir()) == []
