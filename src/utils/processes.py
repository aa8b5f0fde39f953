"""Servers started and stopped whole: one process group per server, a free port checked first.

    python -m src.utils.processes --port 5000 -- mlflow server --port 5000 ...   # make server

``mlflow server`` (gunicorn or uvicorn workers) and other servers fork
workers; killing only the parent leaves the workers answering on the port, so
a "restarted" server silently is the old one. Every server the project starts
(make targets, tests, benchmarks, the CD rehearsals) is therefore started in a
process group of its own and stopped as a group, and refuses to start on a
port that something already listens on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

from src.utils.errors import ProjectError

#: Seconds a server group gets to stop on SIGTERM before it is killed.
STOP_GRACE_S = 15.0


class PortInUse(ProjectError, OSError):
    """The port a server should listen on is taken; nothing was started."""


class ServerFailed(ProjectError, RuntimeError):
    """A server exited or did not become healthy in time; its process group was stopped."""


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def require_free_port(host: str, port: int, what: str) -> None:
    """Refuse to start ``what`` on a port another process already serves."""
    if port_in_use(host, port):
        raise PortInUse(
            f"cannot start {what}: port {port} on {host} is already in use; stop what listens there "
            f"(ss -ltnp 'sport = :{port}') or choose another port"
        )


def stop_group(leader: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the leader's process group, then SIGKILL whatever is left of it after ``grace_s``.

    Works after the leader has exited: orphaned workers keep the group ID. The
    leader is reaped on the way, or its zombie would count as a live member.
    """
    pgid = leader.pid
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and (leader.poll() is None or _group_alive(pgid)):
        time.sleep(0.05)
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a group of another user: alive
        return True
    return True


@dataclass
class ServerProcess:
    """A server command run in its own process group, healthy once ``health_url`` answers 200."""

    name: str
    command: Sequence[str]
    host: str
    port: int
    health_path: str = "/health"
    env: Mapping[str, str] | None = None
    log: Path | None = None
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 120.0) -> ServerProcess:
        """Start the group and wait until the server is healthy; stop the group if it is not."""
        self.launch()
        return self.wait_healthy(timeout_s)

    def launch(self) -> ServerProcess:
        """Start the group without waiting (``wait_healthy`` joins it): servers that start side by side."""
        require_free_port(self.host, self.port, self.name)
        output = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                list(self.command),
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log:
                output.close()  # type: ignore[union-attr]
        return self

    def wait_healthy(self, timeout_s: float = 120.0) -> ServerProcess:
        """Wait until the launched server answers its health path; stop the group if it does not."""
        try:
            self._wait_healthy(timeout_s)
        except ServerFailed:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited with code {self.process.returncode}{self._log_hint()}")
            with suppress(OSError), urllib.request.urlopen(self.url + self.health_path, timeout=2) as response:
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise ServerFailed(f"{self.name} did not answer {self.health_path} within {timeout_s:.0f} s{self._log_hint()}")

    def _log_hint(self) -> str:
        return f" (its output: {self.log})" if self.log else ""

    @property
    def running(self) -> bool:
        return self.process is not None and (self.process.poll() is None or _group_alive(self.process.pid))

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the whole group (gracefully, then by force); the port is free afterwards."""
        if self.process is not None:
            stop_group(self.process, grace_s)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole group at once: a crash, for fault tests."""
        self.stop(grace_s=0.0)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def start_together(servers: Sequence[ServerProcess], timeout_s: float = 120.0) -> None:
    """Launch every server, then wait for each: their start-ups overlap. If one fails, all are stopped."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_healthy(timeout_s)
    except BaseException:
        for server in servers:
            server.stop()
        raise


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (for a server about to be started, or a backend that is down)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def mlflow_server_command(
    backend_uri: str, artifacts: Path, port: int, *, host: str = "127.0.0.1", workers: int = 1, auth: bool = False
) -> list[str]:
    """``mlflow server`` with served artifacts; ``auth``: MLflow's basic-auth app (its settings in the environment)."""
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", host, "--port", str(port), "--workers", str(workers),
        *(["--app-name", "basic-auth"] if auth else []),
    ]  # fmt: skip


def mlflow_server(
    backend_uri: str,
    artifacts: Path,
    port: int,
    *,
    host: str = "127.0.0.1",
    workers: int = 1,
    log: Path | None = None,
    auth_environment: Mapping[str, str] | None = None,
) -> ServerProcess:
    """An ``mlflow server`` (as ``make server`` runs it), not yet started; with ``auth_environment`` (from
    ``src.governance.auth_server.server_environment``), the basic-auth app."""
    command = mlflow_server_command(backend_uri, artifacts, port, host=host, workers=workers,
                                    auth=auth_environment is not None)  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(auth_environment or {})}
    return ServerProcess("mlflow server", command, host, port, env=env, log=log)


def run_foreground(command: Sequence[str], host: str, port: int, grace_s: float = STOP_GRACE_S) -> int:
    """Run a server in the foreground, in its own group; Ctrl-C or SIGTERM stops the whole group.

    The signal handler only forwards SIGTERM (a handler must not wait: the
    interrupted ``wait`` holds the process lock); the loop below escalates.
    """
    require_free_port(host, port, command[0])
    process = subprocess.Popen(list(command), start_new_session=True)
    asked_at: list[float] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        asked_at.append(time.monotonic())
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if asked_at and time.monotonic() - asked_at[0] > grace_s:
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
    finally:
        stop_group(process, grace_s=0.0)  # workers the server left behind


def main(argv: Sequence[str] | None = None) -> int:
    from src.utils import cli

    parser = cli.parser(
        "python -m src.utils.processes",
        __doc__,
        example="python -m src.utils.processes --port 5000 -- mlflow server --port 5000",
        profile=False,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="the port the server will listen on")
    parser.add_argument("command", nargs="...", help="-- then the server command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the server command after --")
    try:
        return run_foreground(command, args.host, args.port)
    except PortInUse as exc:
        return cli.refuse(str(exc))


if __name__ == "__main__":
    sys.exit(main())
