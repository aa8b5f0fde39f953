"""Servers started and stopped whole: a process group per server, a taken port refused before anything starts."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from src.utils.processes import PortInUse, ServerFailed, ServerProcess, main, port_in_use, start_together
from tests.conftest import free_port


def _http_server(port: int, *, workers: int = 0, extra_port: int | None = None) -> list[str]:
    """A server whose parent forks ``workers`` children that serve too, like gunicorn's."""
    serve = f"python3 -m http.server --bind 127.0.0.1 {extra_port}" if extra_port else "sleep 600"
    body = " & ".join([serve] * workers + [f"exec {sys.executable} -m http.server --bind 127.0.0.1 {port}"])
    return ["sh", "-c", body]


def _wait_until(condition, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_stopping_the_server_stops_its_workers_even_when_the_parent_died_first():
    port, worker_port = free_port(), free_port()
    server = ServerProcess("toy", _http_server(port, workers=1, extra_port=worker_port), "127.0.0.1", port, "/")
    server.start(timeout_s=30)
    assert _wait_until(lambda: port_in_use("127.0.0.1", worker_port))
    os.kill(server.process.pid, signal.SIGKILL)  # the parent only: its worker keeps serving
    assert _wait_until(lambda: not port_in_use("127.0.0.1", port))
    assert port_in_use("127.0.0.1", worker_port)
    server.stop()
    assert _wait_until(lambda: not port_in_use("127.0.0.1", worker_port))
    assert not server.running


def test_a_taken_port_is_refused_before_anything_starts():
    port = free_port()
    with ServerProcess("first", _http_server(port), "127.0.0.1", port, "/") as first:
        second = ServerProcess("mlflow server", _http_server(port), "127.0.0.1", port, "/")
        with pytest.raises(PortInUse, match=rf"cannot start mlflow server: port {port} on 127.0.0.1 is already in use"):
            second.start()
        assert second.process is None and first.running


def test_a_server_that_exits_at_start_is_an_error_naming_its_log(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    server = ServerProcess("broken", ["sh", "-c", "echo no config; exit 3"], "127.0.0.1", port, log=log)
    with pytest.raises(ServerFailed, match=rf"broken exited with code 3 \(its output: {log}\)"):
        server.start(timeout_s=30)
    assert "no config" in log.read_text() and server.process is None


def test_servers_started_together_are_all_up_or_all_stopped(tmp_path):
    ports = [free_port(), free_port()]
    servers = [ServerProcess(f"toy {p}", _http_server(p), "127.0.0.1", p, "/") for p in ports]
    start_together(servers, timeout_s=60)
    assert all(server.running for server in servers) and all(port_in_use("127.0.0.1", p) for p in ports)
    for server in servers:
        server.stop()
    healthy = ServerProcess("healthy", _http_server(ports[0]), "127.0.0.1", ports[0], "/")
    broken = ServerProcess("broken", ["sh", "-c", "exit 3"], "127.0.0.1", ports[1], log=tmp_path / "broken.log")
    with pytest.raises(ServerFailed, match="broken exited with code 3"):
        start_together([healthy, broken], timeout_s=60)
    assert not healthy.running and healthy.process is None  # the one that came up is stopped with the failure


def test_the_command_line_refuses_a_taken_port(capsys):
    port = free_port()
    with ServerProcess("first", _http_server(port), "127.0.0.1", port, "/"):
        assert main(["--port", str(port), "--", "true"]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_the_command_line_runs_the_server_and_returns_its_exit_code():
    assert main(["--port", str(free_port()), "--", "sh", "-c", "exit 4"]) == 4


def test_sigterm_to_the_foreground_runner_stops_the_server_and_its_workers():
    import subprocess

    from src.utils.config import PROJECT_ROOT

    port, worker_port = free_port(), free_port()
    command = [sys.executable, "-m", "src.utils.processes", "--port", str(port), "--"]
    runner = subprocess.Popen([*command, *_http_server(port, workers=1, extra_port=worker_port)], cwd=PROJECT_ROOT)
    try:
        assert _wait_until(lambda: port_in_use("127.0.0.1", port) and port_in_use("127.0.0.1", worker_port), 30)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) != 0
        assert _wait_until(lambda: not port_in_use("127.0.0.1", port) and not port_in_use("127.0.0.1", worker_port))
    finally:
        runner.kill()
