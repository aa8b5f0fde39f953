"""Benchmark: the project's training pipeline vs MLflow's naive quickstart.

Each side runs as a fresh process on its own fresh SQLite store (store
creation, imports and all), alternating so machine noise hits both alike.
Prints both medians and their ratio; the target is a ratio <= 0.6.

Usage: ``python benchmarks/bench_train.py [--rounds N]`` (``make bench-train``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.6


def _timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _project(workdir: Path) -> float:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "LOG_LEVEL": "WARNING"}
    env.pop("MLFLOW_REGISTRY_URI", None)
    command = [sys.executable, "-m", "src.models.train_model", "--version", "1.0.0", "--context", "bench"]
    return _timed(command, env, ROOT)


def _naive(workdir: Path) -> float:
    command = [sys.executable, str(ROOT / "benchmarks" / "naive_quickstart.py"), f"sqlite:///{workdir / 'mlflow.db'}"]
    return _timed(command, dict(os.environ), workdir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {"project pipeline": [], "naive quickstart": []}
    for index in range(rounds):
        for label, run in (("project pipeline", _project), ("naive quickstart", _naive)):
            with tempfile.TemporaryDirectory(prefix="bench-train-") as workdir:
                times[label].append(run(Path(workdir)))
        print(f"round {index + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    medians = {label: statistics.median(values) for label, values in times.items()}
    ratio = medians["project pipeline"] / medians["naive quickstart"]
    for label, median in medians.items():
        print(f"{label:<18} median {median:6.2f} s  (min {min(times[label]):.2f}, max {max(times[label]):.2f})")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"ratio project/naive: {ratio:.2f} ({verdict} the target <= {TARGET_RATIO})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
