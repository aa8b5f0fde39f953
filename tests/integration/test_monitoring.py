"""Monitoring end to end: a real endpoint writes the inference log, ``monitor_model.py`` judges it.

Stationary traffic passes; a pack's numeric input moved by 0.6 standard deviations on 300 requests is found for that
input and no other; labels posted to /feedback give the accuracy; two drifted
passes out of three fire the alert (exit 1) and each pass is a run in the
model's experiment; an endpoint killed under load loses only the
requests it had not yet flushed; and two replicas writing one PostgreSQL log
are judged in one pass, one of them killed under load.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from scripts import monitor_model
from src.data.contract import CONTRACT, load_bundled
from src.models.training_plan import TrainingRequest
from src.utils.config import PROJECT_ROOT, load_model_config
from src.utils.processes import ServerProcess, start_together
from tests.conftest import eventually, free_port, fresh_database, use_store
from tests.pack import EXPERIMENT, MODEL, NUMERIC, ROW_A

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitoring")
    with use_store(root) as uri:
        run_training(TrainingRequest(version="1.0.0", author="alice"))
        yield root, uri


def _endpoint(store, log: Path | str, output: Path | None = None) -> ServerProcess:
    """An endpoint at @dev logging into ``log``: a SQLite file or a PostgreSQL URI (its output beside it, or at
    ``output``)."""
    _, uri = store
    port = free_port()
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "dev", "--port", str(port),
               "--poll-seconds", "60", "--inference-log", str(log)]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    output = output or Path(log).with_suffix(".out")
    return ServerProcess("endpoint", command, "127.0.0.1", port, "/ping", env=env, log=output, cwd=PROJECT_ROOT)


def _post(url: str, path: str, body: object, request_id: str | None = None) -> tuple[int, dict[str, str]]:
    headers = {"Content-Type": "application/json", **({"X-Request-Id": request_id} if request_id else {})}
    request = urllib.request.Request(url + path, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers)


def _traffic(url: str, prefix: str, rows: int, shift: float = 0.0, seed: int = 0) -> list[tuple[str, str]]:
    """``rows`` one-row requests drawn from the bundled data, ``NUMERIC`` moved by ``shift`` of its standard
    deviations; returns (request ID, true label)."""
    data = load_bundled()
    moved = data[NUMERIC.name] + shift * float(data[NUMERIC.name].std())
    data = data.assign(**{NUMERIC.name: moved.clip(upper=NUMERIC.maximum)})
    rng = np.random.default_rng(seed)
    sent = []
    for index in range(rows):
        row = data.iloc[int(rng.integers(0, len(data)))]
        values = {c: None if pd.isna(row[c]) else row[c].item() if hasattr(row[c], "item") else row[c]
                  for c in CONTRACT.input_names}  # fmt: skip
        request_id = f"{prefix}-{index}"
        assert _post(url, "/invocations", {"instances": [values]}, request_id)[0] == 200
        sent.append((request_id, str(row[CONTRACT.target.name])))
    return sent


def _logged(log: Path, table: str = "predictions") -> set[str]:
    if not log.exists():
        return set()
    with sqlite3.connect(log) as connection:
        try:
            return {row[0] for row in connection.execute(f"select request_id from {table}")}
        except sqlite3.OperationalError:  # the writer has not created its tables yet
            return set()


def _flushed(log: Path, request_ids: list[str], table: str = "predictions") -> None:
    """Wait until the endpoint's log writer has committed these requests (it flushes in the background)."""
    eventually(lambda: set(request_ids) <= _logged(log, table), f"{len(request_ids)} requests in the log's {table}")


def _monitor(log: Path, out: Path, *extra: str) -> tuple[int, dict]:
    code = monitor_model.main(["--alias", "dev", "--log", str(log), "--output-dir", str(out), *extra])
    return code, json.loads((out / "result.json").read_text())


def test_drift_is_found_where_it_is_accuracy_comes_from_labels_and_persistent_drift_alerts(store, tmp_path):
    log = tmp_path / "inference.db"
    with _endpoint(store, log) as endpoint:
        steady = _traffic(endpoint.url, "steady", 300)
        _post(endpoint.url, "/feedback", [{"request_id": i, "label": s} for i, s in steady[:100]])
        _flushed(log, [i for i, _ in steady])
        _flushed(log, [i for i, _ in steady[:100]], "feedback")
        code, calm = _monitor(log, tmp_path / "calm", "--last", "300")
        assert code == 0 and calm["status"] == "ok", calm
        (version,) = calm["versions"]
        floor = load_model_config().validation.thresholds["val_accuracy"]
        assert version["labelled"] == 100 and floor <= version["accuracy"] <= 1.0
        _flushed(log, [i for i, _ in _traffic(endpoint.url, "shifted", 300, shift=0.6, seed=1)])
        code, drifted = _monitor(log, tmp_path / "drifted", "--last", "300")
    assert code == 0 and drifted["status"] == "drift" and not drifted["alert"]  # 1 breach of the last 3: no alert yet
    found = {f["name"] for f in drifted["versions"][0]["drift"]["features"] if f["drifted"]}
    assert found & set(CONTRACT.input_names) == {NUMERIC.name}
    code, again = _monitor(log, tmp_path / "again", "--last", "300")
    assert code == 1 and again["alert"]  # 2 of the last 3 windows breached
    report = (tmp_path / "again" / "report.html").read_text()
    assert "ALERT" in report and NUMERIC.name in report
    client = MlflowClient()
    assert not client.search_runs(
        client.get_experiment_by_name(EXPERIMENT).experiment_id, "tags.`monitoring.alias` = 'dev'"
    )  # fmt: skip  (the training table stays training)
    runs = client.search_runs(client.get_experiment_by_name(f"{EXPERIMENT}_monitoring").experiment_id,
                              "tags.`monitoring.alias` = 'dev'", order_by=["attributes.start_time DESC"])  # fmt: skip
    assert [r.data.tags["monitoring.breached"] for r in runs[:3]] == ["true", "true", "false"]
    assert runs[0].data.metrics[f"drift_psi_{NUMERIC.name}"] > 0.2 and runs[0].data.tags["monitoring.alert"] == "true"
    assert runs[0].info.run_name.startswith("v1.0.0_monitoring_")
    assert runs[0].data.tags["mlflow.note.content"].startswith(f"Monitoring of {MODEL}@dev, last 300 requests: 300")


def test_a_small_window_says_insufficient_data(store, tmp_path):
    log = tmp_path / "inference.db"
    with _endpoint(store, log) as endpoint:
        _flushed(log, [i for i, _ in _traffic(endpoint.url, "few", 20, shift=3.0)])
    code, result = _monitor(log, tmp_path / "few")
    assert code == 0 and result["status"] == "insufficient data" and not result["alert"]


def test_no_log_is_a_clear_error(store, tmp_path, capsys):
    assert monitor_model.main(["--alias", "dev", "--log", str(tmp_path / "none*.db")]) == 2
    assert f"no inference log at {tmp_path}/none*.db" in capsys.readouterr().err


def test_an_endpoint_killed_under_load_loses_only_what_it_had_not_flushed(store, tmp_path):
    """A SIGKILL (no shutdown, no final flush) loses only the requests of the batch not yet written: the writer
    commits in the order requests were answered, so each client's logged requests are a prefix of what it was
    answered, and everything answered before the last commit is there."""
    log = tmp_path / "inference.db"
    endpoint = _endpoint(store, log).start()
    answered: dict[int, list[str]] = {n: [] for n in range(4)}
    stop = threading.Event()

    def load(worker: int) -> None:
        body = {"instances": [ROW_A]}
        index = 0
        while not stop.is_set():
            request_id = f"w{worker}-{index}"
            try:
                _post(endpoint.url, "/invocations", body, request_id)
            except OSError:
                return
            answered[worker].append(request_id)
            index += 1

    workers = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    eventually(lambda: len(_logged(log)) >= 50, "a first flush of the log under load")
    eventually(lambda: sum(map(len, answered.values())) >= len(_logged(log)) + 20, "requests answered since")
    os.killpg(endpoint.process.pid, signal.SIGKILL)  # a crash: no shutdown, no final flush
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    endpoint.stop()
    logged = _logged(log)
    for worker, sent in answered.items():
        kept = [request_id in logged for request_id in sent]
        assert kept == sorted(kept, reverse=True), f"client {worker}: a request lost between two logged ones"
    lost = [request_id for sent in answered.values() for request_id in sent if request_id not in logged]
    print(f"answered {sum(map(len, answered.values()))}, logged {len(logged)}, lost {len(lost)} (the unflushed tail)")


def _in_database(uri: str) -> set[str]:
    with psycopg.connect(uri) as connection:
        return {row[0] for row in connection.execute("select request_id from inference_log.predictions")}


@pytest.fixture
def own_store(tmp_path):
    """A store of its own: this test's monitoring pass must not enter the drift history the module's tests judge."""
    root = tmp_path / "own_store"
    root.mkdir()
    with use_store(root) as uri:
        run_training(TrainingRequest(version="1.0.0", author="alice"))
        yield root, uri


def test_two_replicas_share_one_postgresql_log_and_one_pass_judges_both(own_store, tmp_path, postgres_dsn,
                                                                        monkeypatch):  # fmt: skip
    """The shared sink: two endpoint processes write one PostgreSQL log; the profile's INFERENCE_LOG_URI points
    ``monitor_model.py`` at it; one replica killed with SIGKILL under load loses at most its unflushed tail."""
    store = own_store
    with fresh_database(postgres_dsn, "inflog_replicas") as uri:
        replicas = [_endpoint(store, uri, tmp_path / f"replica_{n}.out") for n in range(2)]
        start_together(replicas)
        with replicas[0], replicas[1]:
            sent = {
                n: [i for i, _ in _traffic(replica.url, f"r{n}", 120, seed=n)] for n, replica in enumerate(replicas)
            }
            eventually(lambda: set(sent[0]) | set(sent[1]) <= _in_database(uri), "both replicas' requests written")
            answered: list[str] = []
            stop = threading.Event()

            def load() -> None:
                index = 0
                while not stop.is_set():
                    try:
                        _post(replicas[1].url, "/invocations", {"instances": [ROW_A]}, f"k-{index}")
                    except OSError:
                        return
                    answered.append(f"k-{index}")
                    index += 1

            client = threading.Thread(target=load)
            client.start()
            eventually(lambda: len(answered) >= 200 and {"k-0"} <= _in_database(uri), "load on the second replica")
            os.killpg(replicas[1].process.pid, signal.SIGKILL)
            stop.set()
            client.join(timeout=60)
            logged = _in_database(uri)
            lost = [request_id for request_id in answered if request_id not in logged]
            print(f"killed replica: answered {len(answered)}, lost {len(lost)} (its unflushed tail)")
            assert answered[: len(answered) - len(lost)] == [r for r in answered if r in logged]  # a tail, no gap
            monkeypatch.setenv("INFERENCE_LOG_URI", uri)
            code = monitor_model.main(["--alias", "dev", "--output-dir", str(tmp_path / "shared")])
        result = json.loads((tmp_path / "shared" / "result.json").read_text())
    # judged (the repeated row drifts: one breach, no alert yet), never refused (2)
    assert code == 0 and result["requests"] == 240 + len(answered) - len(lost), result
    assert result["files"] == [uri]
