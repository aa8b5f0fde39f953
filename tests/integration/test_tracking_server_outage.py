"""The tracking server lost at several points of training, validation and promotion: each command fails within
the profile's bound with one ``error:`` line naming the server and what it left unchanged, the registry is
consistent afterwards, and the same command succeeds once the server is back.

The commands run in-process (their ``main``) with the profile's own client bounds against a real ``mlflow
server``, reached through a TCP gate; a hook closes the gate at the chosen step (connection refused, its open
connections cut: what a client sees of a dead server), so each point is hit exactly, and opening it again is the
server coming back without a restart per test. A server process killed for real, and started again on its store,
is tests/integration/test_tracking_server.py's.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from mlflow import MlflowClient

from scripts import promote_model, validate_model
from src.models import model_validator, train_model, training
from src.models.alias_history import AliasHistory
from src.models.model_registry import Registry
from src.utils.config import PROJECT_ROOT, TrackingClientProfile
from src.utils.processes import ServerProcess, mlflow_server
from tests.conftest import eventually, free_port
from tests.pack import EXPERIMENT, FIRST, LABEL_A, MODEL

pytestmark = [pytest.mark.integration, pytest.mark.system]


#: A command must fail within this (the profile's worst case per request, twice: a request and its cleanup).
BOUND_S = 2 * TrackingClientProfile().worst_case_s


class Gate:
    """A TCP proxy on a port of its own in front of the server. Closed, a connection is refused and every open one
    is cut, as when the server dies; opened again on the same port, the server is back."""

    def __init__(self, upstream: int) -> None:
        self.port, self._upstream = free_port(), upstream
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
            self._listener.close()
            self._listener = None
        with self._lock:
            cut, self._open = self._open, set()
        for connection in cut:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    @property
    def is_open(self) -> bool:
        return self._listener is not None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(("127.0.0.1", self._upstream), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class Outage:
    """This module's server behind its gate, which a hook closes at one step and the test opens again."""

    def __init__(self, root: Path) -> None:
        self.server: ServerProcess = mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root / "artifacts", free_port())
        self.gate = Gate(self.server.port)
        self.killed_at: float | None = None
        # The hook has its own patch, which restart() removes: undoing the test's monkeypatch instead would also
        # undo the fixture's, and put back whatever registry URI an earlier in-process command had left in the
        # environment (MLflow's set_registry_uri writes it there), so the rerun would talk to another store.
        self._hook = pytest.MonkeyPatch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gate.port}"

    def kill(self) -> None:
        """The server is gone for its clients (refused, open connections cut)."""
        self.gate.close()
        self.killed_at = time.monotonic()

    def kill_before(self, owner: object, name: str) -> None:
        """Lose the server just before ``owner.name`` runs."""
        original: Callable[..., object] = getattr(owner, name)

        def killing(*args: object, **kwargs: object) -> object:
            if self.killed_at is None:
                self.kill()
            return original(*args, **kwargs)

        self._hook.setattr(owner, name, killing)

    def restart(self) -> None:
        """Remove the hook (it may not have run: a test can fail before its step) and bring the server back."""
        self._hook.undo()
        if not self.gate.is_open:
            self.gate.open()
        self.killed_at = None


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    """The server, open, with one version trained at @dev: every test starts from a registered model."""
    here = Outage(tmp_path_factory.mktemp("outage"))
    with here.server:
        here.gate.open()
        with pytest.MonkeyPatch.context() as patch:
            for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
                patch.setenv(name, here.url)
            patch.delenv("ML_ENV", raising=False)
            assert _train() == 0
        try:
            yield here
        finally:
            here.gate.close()


@pytest.fixture
def against(outage: Outage, monkeypatch: pytest.MonkeyPatch) -> Outage:
    """Every command of the test talks to the server with the profile's bounds (not the tests' quick ones)."""
    outage.restart()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", outage.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", outage.url)
    for name in ("ML_ENV", "ALIAS_LOCK_URI", *TrackingClientProfile().environment()):
        monkeypatch.delenv(name, raising=False)
    # No sleep between the attempts (a variable set wins over the profile): the attempts, their count in the error
    # and the bound stay the profile's, and MLflow's own defaults (8 attempts, 120 s each) would still fail the bound.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    return outage


def _state(url: str) -> tuple[dict[str, str], list[object]]:
    client = MlflowClient(url, url)
    registry = Registry(client)
    aliases = {}
    if registry.model_exists(MODEL):
        aliases = {a: v.version for a in ("dev", "staging", "production") if (v := registry.version_at(MODEL, a))}
    return aliases, AliasHistory(f"{EXPERIMENT}_registry_audit", client).events()


def _fails_within_bound(outage: Outage, command: Callable[[], int], capsys: pytest.CaptureFixture[str]) -> str:
    assert command() == 2
    elapsed = time.monotonic() - (outage.killed_at or 0.0)
    assert outage.killed_at is not None, "the hook never ran: the command did not reach the step"
    assert elapsed < BOUND_S, f"{elapsed:.1f} s from the server's death to the error"
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1
    assert f"tracking server {outage.url} unreachable (connection refused, 3 attempts)" in lines[0]
    return lines[0]


def _train() -> int:
    return train_model.main(["--version", "auto", "--author", "alice@example.com"])


@pytest.mark.parametrize("step", ["_log_model", "_register"])
def test_training_interrupted_fails_fast_moves_nothing_and_reruns(against, monkeypatch, capsys, step):
    before = _state(against.url)
    against.kill_before(training, step)
    line = _fails_within_bound(against, _train, capsys)
    assert line.endswith("@dev did not move (rerun once the server is back)")
    against.restart()
    assert _state(against.url) == before
    assert _train() == 0


def test_validation_interrupted_leaves_the_verdict_unchanged(against, monkeypatch, capsys):
    registry = Registry(MlflowClient(against.url, against.url))
    dev = registry.version_at(MODEL, "dev")
    verdict = dev.tags.get("validation.status")  # another test may have validated it already
    against.kill_before(model_validator, "_record")
    line = _fails_within_bound(against, lambda: validate_model.main(["--alias", "dev"]), capsys)
    assert line.endswith("the version's verdict (validation.status) is unchanged")
    against.restart()
    assert registry.version(MODEL, dev.version).tags.get("validation.status") == verdict
    assert validate_model.main(["--alias", "dev"]) == 0


@pytest.mark.parametrize(("owner", "step"), [(AliasHistory, "begin"), (Registry, "point_alias")])
def test_promotion_interrupted_moves_no_alias(against, monkeypatch, capsys, redis_url, owner, step):
    # The lock lives in Redis, as a shared profile would have it: a tag lease on the dead server could not be
    # released, and the rerun would wait out its 60 s lease.
    monkeypatch.setenv("ALIAS_LOCK_URI", redis_url)
    registry = Registry(MlflowClient(against.url, against.url))
    dev = registry.version_at(MODEL, "dev")
    if dev.tags.get("validation.status") != "passed":
        assert validate_model.main(["--alias", "dev"]) == 0
    before = _state(against.url)
    if before[0].get("staging") == dev.version:  # a version already at staging: train the next one
        assert _train() == 0 and validate_model.main(["--alias", "dev"]) == 0
        before = _state(against.url)
    against.kill_before(owner, step)
    line = _fails_within_bound(against, lambda: promote_model.main(["--to", "staging"]), capsys)
    assert line.endswith("no alias moved")
    against.restart()
    assert _state(against.url) == before
    assert promote_model.main(["--to", "staging"]) == 0


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_endpoint_keeps_serving_while_the_registry_is_down_says_so_and_recovers(against, tmp_path):
    port = free_port()
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "dev", "--port", str(port),
               "--poll-seconds", "1", "--inference-log", str(tmp_path / "log.db")]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": against.url}
    endpoint = ServerProcess("endpoint", command, "127.0.0.1", port, "/ping", env=env, log=tmp_path / "endpoint.log",
                             cwd=PROJECT_ROOT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"instances": [dict(FIRST.values)]}).encode()

    def predicts() -> bool:
        request = urllib.request.Request(f"{base}/invocations", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["predictions"] == [LABEL_A]

    def health() -> dict[str, object]:
        return json.loads(_get(f"{base}/health")[1])

    with endpoint:
        assert health()["status"] == "ok" and predicts()
        against.kill()
        eventually(lambda: health()["status"] == "degraded", "/health saying degraded")
        assert f"tracking server {against.url} unreachable" in str(health()["registry_error"])
        assert predicts()  # the loaded version keeps serving
        assert f'model_registry_reachable{{model="{MODEL}"}} 0.0' in _get(f"{base}/metrics")[1].decode()
        against.restart()
        eventually(lambda: health()["status"] == "ok", "/health saying ok again")
        assert health()["registry_error"] is None
        assert f'model_registry_reachable{{model="{MODEL}"}} 1.0' in _get(f"{base}/metrics")[1].decode()
