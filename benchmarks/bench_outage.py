"""Benchmark: how long a command takes to fail after its tracking server dies, MLflow's defaults vs the profile's.

A real ``mlflow server`` (SQLite store, served artifacts) is started as a
process group; a command is started against it and the whole group is killed
``--kill-after`` seconds later (training: while it fits, so its first MLflow
call meets a dead server; promotion: before it starts). The time from the kill
to the command's exit is measured, with MLflow's client defaults (7 retries,
exponential backoff, 120 s per request) and with the profile's bounded
``tracking_client`` settings. A command still running after ``--cap`` seconds
is stopped and reported as "> cap".

Usage: ``python benchmarks/bench_outage.py [--cap 300]`` (``make bench-outage``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.utils.config import TrackingClientProfile  # noqa: E402
from src.utils.processes import mlflow_server  # noqa: E402

#: MLflow 3's own client settings: what a user gets without a profile.
MLFLOW_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1.0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
}
COMMANDS = {
    "training": [sys.executable, "-m", "src.models.train_model", "--version", "auto"],
    "promotion": [sys.executable, "scripts/promote_model.py", "--to", "staging"],
}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _measure(what: str, client: dict[str, str], kill_after: float, cap: float) -> tuple[float | None, str]:
    """Seconds from the server's death to the command's exit (``None``: still running at ``cap``), last line."""
    with tempfile.TemporaryDirectory() as workdir:
        port = _free_port()
        server = mlflow_server(f"sqlite:///{workdir}/mlflow.db", Path(workdir) / "artifacts", port).start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
        env |= {**client, "MLFLOW_TRACKING_URI": server.url, "LOG_LEVEL": "WARNING"}
        env.pop("MLFLOW_REGISTRY_URI", None)
        command = subprocess.Popen(
            COMMANDS[what], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if what == "promotion":
            server.kill()
            killed = time.monotonic()
        else:
            time.sleep(kill_after)
            server.kill()
            killed = time.monotonic()
        try:
            _, err = command.communicate(timeout=cap)
            elapsed: float | None = time.monotonic() - killed
        except subprocess.TimeoutExpired:
            command.kill()
            _, err = command.communicate()
            elapsed = None
        lines = [line for line in err.strip().splitlines() if line.strip()]
        return elapsed, (lines[-1] if lines else "")[:400]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=300.0, help="stop waiting for a command after this many s")
    parser.add_argument("--kill-after", type=float, default=3.0, help="seconds into training to kill the server")
    parser.add_argument("--only", choices=["defaults", "profile"], help="measure one side only")
    args = parser.parse_args()
    sides = {"defaults": MLFLOW_DEFAULTS, "profile": TrackingClientProfile().environment()}
    if args.only:
        sides = {args.only: sides[args.only]}
    print(f"profile bound per request: {TrackingClientProfile().worst_case_s:.0f} s")
    for what in COMMANDS:
        for side, client in sides.items():
            elapsed, last = _measure(what, client, args.kill_after, args.cap)
            shown = f"{elapsed:6.1f} s" if elapsed is not None else f"> {args.cap:.0f} s"
            print(f"{what:<10} {side:<9} death -> exit {shown}   {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
