"""Benchmark: the feature store's costs on each backend, and what an online lookup adds to an endpoint request.

For the embedded store (Parquet file source, SQLite online store) and, when
the machine's PostgreSQL and Redis answer, the shared one (PostgreSQL SQL
registry and offline store, Redis online store):

- apply + materialise the bundled rows (``make features``);
- build the point-in-time training set through the feature service (150 rows);
- read one row's features online through the feature service;
- an endpoint request carrying only the entity key vs one carrying the
  measurements (one keep-alive client, sequential requests): the difference
  is what the lookup adds.

Also the cost of ``import feast`` in a fresh interpreter, and a check that the
training pipeline and the endpoint without lookup never import it.

Usage: ``python benchmarks/bench_features.py [--seconds S]`` (``make bench-features``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._model import train_into  # noqa: E402
from benchmarks.bench_serve import COLUMNS, Server, _port, load  # noqa: E402

POSTGRES = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _requests(data: object, key: str) -> tuple[bytes, bytes]:
    """Row 42 of the bundled data asked for by its entity key, and by its inputs."""
    by_key = json.dumps({"inputs": {key: [42]}}).encode()
    row = json.loads(data[COLUMNS].iloc[[41]].to_json(orient="records"))  # type: ignore[index]
    return by_key, json.dumps({"dataframe_records": row}).encode()


def _fresh_process_seconds(code: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def import_costs() -> None:
    baseline = _fresh_process_seconds("import pandas")
    with_feast = _fresh_process_seconds("import pandas, feast")
    print(f"import feast: {with_feast - baseline:.2f} s on top of pandas (fresh interpreter, median of 3)")
    probe = ("import sys, pipelines.training_pipeline, src.components.serving, scripts.deploy_endpoint; "
             "print(sorted(m for m in sys.modules if m == 'feast' or m.startswith('feast.')))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    print(f"feast modules imported by training + endpoint (no lookup): {loaded.stdout.strip()}")


def _timed(call: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


@contextmanager
def _shared_backends() -> Iterator[dict[str, str] | None]:
    """A fresh PostgreSQL database and a project of its own in Redis, or None when either is down."""
    try:
        import psycopg
        import redis

        redis.Redis.from_url(REDIS, socket_timeout=2).ping()
        admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3)
    except Exception as exc:  # the shared backends are optional here
        print(f"shared backends skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        yield None
        return
    name = f"feast_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    database = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield {"project": name, "registry": database, "offline_store": database, "online_store": REDIS}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def bench_backend(label: str, feature_store: dict[str, str], workdir: Path, model_uri: str, seconds: float) -> None:
    from src.data.contract import CONTRACT, load_bundled
    from src.features.store_backend import open_store
    from src.features.store_reads import OnlineLookup, training_inputs
    from src.features.store_repository import apply_and_materialize, feature_service_name
    from src.utils.config import CONFIG_DIR, load_feature_config, resolve_settings

    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    content["profiles"]["dev"]["feature_store"] = {"directory": str(workdir / "store"), **feature_store}
    env_config = workdir / "environment.yaml"
    env_config.write_text(yaml.safe_dump(content))
    store = resolve_settings("dev", env_config, environ={}).feature_store
    config, data = load_feature_config(), load_bundled()
    try:
        apply_ms = _timed(lambda: apply_and_materialize(store, config), 3)
        training_ms = _timed(lambda: training_inputs(data, config, store), 7)
        lookup = OnlineLookup(feature_service_name(config), store)
        online_ms = _timed(lambda: lookup.inputs([42]), 300)
        print(f"{label:<15} apply+materialise {statistics.median(apply_ms):7.0f} ms | point-in-time training set "
              f"(150 rows) {statistics.median(training_ms):6.0f} ms | online 1 row p50 {online_ms[150]:.2f} ms, "
              f"p99 {online_ms[296]:.2f} ms")  # fmt: skip
        env = {**os.environ, "MLFLOW_TRACKING_URI": model_uri, "MLFLOW_REGISTRY_URI": model_uri}
        port = _port()
        server = Server(label, [sys.executable, "scripts/deploy_endpoint.py", "--alias", "dev", "--port", str(port),
                                "--feature-lookup", "--env", "dev", "--env-config", str(env_config),
                                "--inference-log", str(workdir / "log.db")], env, port)  # fmt: skip
        server.start()
        try:
            by_key, by_value = _requests(data, CONTRACT.entity_key)
            values = load(port, by_value, 1, seconds)
            keys = load(port, by_key, 1, seconds)
        finally:
            server.stop()
        assert values[3] == 0 and keys[3] == 0, "non-200 answers during the benchmark"
        print(f"{'':<15} endpoint, measurements: p50 {values[1]:.2f} / p99 {values[2]:.2f} ms ({values[0]:,.0f} req/s)"
              f" | {CONTRACT.entity_key} only: p50 {keys[1]:.2f} / p99 {keys[2]:.2f} ms ({keys[0]:,.0f} req/s)"
              f" -> the lookup adds p50 {keys[1] - values[1]:.2f} ms, p99 {keys[2] - values[2]:.2f} ms")  # fmt: skip
    finally:
        if feature_store.get("online_store"):
            open_store(store).teardown()  # the benchmark's keys leave the shared Redis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per endpoint scenario")
    args = parser.parse_args()
    import_costs()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as directory:
        workdir = Path(directory)
        train_into(workdir)
        model_uri = os.environ["MLFLOW_TRACKING_URI"]
        (workdir / "embedded").mkdir()
        bench_backend("embedded", {}, workdir / "embedded", model_uri, args.seconds)
        with _shared_backends() as shared:
            if shared is not None:
                (workdir / "shared").mkdir()
                bench_backend("postgres+redis", shared, workdir / "shared", model_uri, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
