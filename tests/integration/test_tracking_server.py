"""The whole lifecycle against a real ``mlflow server`` on PostgreSQL with served artifacts.

A fresh database per run on the machine's PostgreSQL; the server is started
and stopped here. The same commands as on the embedded store, pointed at the
server by ``MLFLOW_TRACKING_URI`` only: no code path differs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from scripts import promote_model, validate_model
from src.models import train_model
from src.models.alias_history import AliasHistory
from src.models.model_registry import Alias, Registry, RegistryError
from src.models.promotion import Approval, promote
from src.utils.config import resolve_settings
from src.utils.processes import ServerProcess, mlflow_server
from tests.conftest import SERVER_CLIENT, free_port, fresh_database
from tests.pack import MODEL

pytestmark = [pytest.mark.integration, pytest.mark.system]


@dataclass
class TrackingServer:
    """An ``mlflow server`` that can be stopped (as a process group) and started again on the same store."""

    backend_uri: str
    artifacts: Path
    port: int
    process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = mlflow_server(self.backend_uri, self.artifacts, self.port).start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.process = None


@pytest.fixture(scope="module")
def database(postgres_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    with fresh_database(postgres_dsn, "mlflow_test") as uri:
        yield uri


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    running = TrackingServer(database, tmp_path_factory.mktemp("served-artifacts"), free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def env(server: TrackingServer) -> dict[str, str]:
    """The environment of every command: only the tracking URI differs from the embedded default."""
    environment = {k: v for k, v in os.environ.items() if k not in {"MLFLOW_REGISTRY_URI", "ML_ENV"}}
    return {**environment, "MLFLOW_TRACKING_URI": server.url, **SERVER_CLIENT}


def _ok(env: dict[str, str], main: Callable[[list[str]], int], *argv: str) -> str:
    """Run a command's main in-process with ``env``'s tracking settings; what it printed (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        for key in ("MLFLOW_TRACKING_URI", *SERVER_CLIENT):
            patch.setenv(key, env[key])
        for key in ("MLFLOW_REGISTRY_URI", "ML_ENV"):
            patch.delenv(key, raising=False)
        code = main(list(argv))
    assert code == 0, f"{argv}: {err.getvalue()[-2000:]}"
    return out.getvalue()


@pytest.fixture(scope="module")
def lifecycle(env, server) -> dict[str, str]:
    """The whole lifecycle, run once by its commands (their main, in-process) against the server: what each
    step printed."""
    return {
        "train v1": _ok(env, train_model.main, "--version", "1.0.0", "--author", "alice@example.com"),
        "validate v1": _ok(env, validate_model.main, "--alias", "dev"),
        "staging v1": _ok(env, promote_model.main, "--to", "staging", "--actor", "alice@example.com"),
        "production v1": _ok(
            env, promote_model.main, "--to", "production", "--approved-by", "bob", "--reason", "CHG-1"
        ),
        "train v2": _ok(env, train_model.main, "--version", "1.1.0", "--author", "alice@example.com"),
        "validate v2": _ok(env, validate_model.main, "--version", "2"),
        "staging v2": _ok(env, promote_model.main, "--to", "staging"),
        "production v2": _ok(
            env, promote_model.main, "--to", "production", "--approved-by", "bob", "--reason", "CHG-2"
        ),
        "rollback": _ok(env, promote_model.main, "rollback", "--alias", "production", "--reason", "INC-1"),
        "history": _ok(env, promote_model.main, "history"),
    }


def test_lifecycle_runs_unchanged_against_the_server(lifecycle, server):
    assert "PASSED" in lifecycle["validate v1"]
    assert "champion baseline: version 1" in lifecycle["validate v2"]
    assert "-> version 1" in lifecycle["rollback"]
    assert lifecycle["history"].strip().splitlines()[-1] == "now: @dev = v2, @staging = v2, @production = v1"
    client = MlflowClient(server.url, server.url)
    run = client.get_run(client.get_model_version(MODEL, "1").run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # artifacts went through the server
    assert {f.path for f in client.list_artifacts(run.info.run_id, "evaluation")} >= {"evaluation/confusion_matrix.png"}


def test_refusals_exit_non_zero_against_the_server(env, lifecycle, monkeypatch, capsys):
    for key in ("MLFLOW_TRACKING_URI", *SERVER_CLIENT):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    approval = ["--to", "production", "--approved-by", "alice@example.com", "--reason", "x"]
    assert promote_model.main(approval) == 2
    assert "cannot approve it (four-eyes)" in capsys.readouterr().err  # alice trained the version at @staging
    assert validate_model.main(["--version", "77"]) == 2
    assert "has no version '77'" in capsys.readouterr().err


def test_server_going_down_mid_promotion_changes_nothing(env, server, lifecycle, monkeypatch):
    for key in ("MLFLOW_TRACKING_URI", *SERVER_CLIENT):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    settings = resolve_settings()
    client = MlflowClient(server.url, server.url)
    registry, history = Registry(client), AliasHistory(settings.audit_experiment_name, client)
    before = ({a.value: registry.version_at(MODEL, a).version for a in Alias}, history.events())
    original = Registry.point_alias

    def crash_then_move(self, *args, **kwargs):
        server.stop()  # the server dies between recording the move and moving the alias
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Registry, "point_alias", crash_then_move)
    with pytest.raises(RegistryError, match="cannot set alias 'production'"):
        promote(
            settings,
            Alias.PRODUCTION,
            actor="carol",
            approval=Approval("bob", "CHG-3"),
            registry=registry,
            history=history,
        )
    monkeypatch.undo()
    server.start()
    after = ({a.value: registry.version_at(MODEL, a).version for a in Alias}, history.events())
    assert after == before
