"""Reading windows out of inference logs: several files, time ranges, last N, and clear errors for bad logs."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from src.components.inference_log import InferenceLog
from src.data.contract import CONTRACT
from src.monitoring.log_reader import LogError, WindowSpec, log_sources, percentiles, read_window
from tests.conftest import fresh_database


def _log(target, requests: int, alias: str = "production", version: str = "1", *, name: str = "",
         model: str = "m") -> None:  # fmt: skip
    name = name or target.stem
    log = InferenceLog(target, model_name=model, alias=alias, flush_seconds=0.01)
    log.start()
    for index in range(requests):
        log.predict(f"{name}-{index}", version, CONTRACT.example_columns(), list(CONTRACT.classes), np.eye(3),
                    latency_ms=1.0, classes=CONTRACT.classes)  # fmt: skip
    log.refuse(f"{name}-bad", version, 400, "out_of_contract", "petal_length_cm")
    log.feedback([(f"{name}-0", "setosa")])
    log.close()


def test_a_window_gathers_every_replica_log_of_the_alias(tmp_path):
    _log(tmp_path / "inference_production_a.db", 4)
    _log(tmp_path / "inference_production_b.db", 2)
    _log(tmp_path / "inference_production_c.db", 3, alias="staging")
    window = read_window([str(tmp_path / "inference_production*.db")], "production", WindowSpec())
    assert len(window.files) == 3 and window.requests == 4 + 2 + 2  # answered + one refusal per file
    assert len(window.predictions) == 3 * 6 and set(window.refusals["reason"]) == {"out_of_contract"}
    assert set(CONTRACT.input_names) <= set(window.predictions.columns)  # the served version's inputs, by name
    assert set(window.feedback["request_id"]) >= {"inference_production_a-0", "inference_production_b-0"}


def test_the_last_n_requests_and_a_time_range(tmp_path):
    _log(tmp_path / "log.db", 5)
    last = read_window([str(tmp_path / "log.db")], "production", WindowSpec(last=2))
    assert last.requests == 2
    future = read_window([str(tmp_path / "log.db")], "production", WindowSpec(since="2999-01-01T00:00:00"))
    assert future.requests == 0 and future.predictions.empty


def test_no_log_is_an_error_naming_where_it_looked(tmp_path):
    with pytest.raises(LogError, match=f"no inference log at {tmp_path}/nothing\\*.db"):
        log_sources([str(tmp_path / "nothing*.db")])


def test_a_file_that_is_not_a_log_and_corrupt_rows_are_errors_naming_the_file(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("create table x (a)")
    with pytest.raises(LogError, match=f"{other} is not a readable inference log"):
        read_window([str(other)], "production", WindowSpec())
    corrupt = tmp_path / "corrupt.db"
    _log(corrupt, 2)
    with sqlite3.connect(corrupt) as connection:
        connection.execute("update predictions set prediction = NULL where request_id = 'corrupt-1'")
    with pytest.raises(LogError, match=rf"{corrupt}: 3 corrupt row\(s\).*'corrupt-1'"):
        read_window([str(corrupt)], "production", WindowSpec())


def test_latency_percentiles():
    assert percentiles(np.arange(1, 101, dtype=float))["latency_p99_ms"] == pytest.approx(99.01)
    assert percentiles(np.array([])) == {}


def test_the_shared_postgresql_log_reads_like_the_files(postgres_dsn):
    """Two replicas (and another model) write one database: the window holds both replicas' requests of this
    model and alias, with the same columns a file gives, and only this model's labels."""
    with fresh_database(postgres_dsn, "inflog_read") as uri:
        _log(uri, 4, name="replica_a")
        _log(uri, 2, name="replica_b")
        _log(uri, 3, alias="staging", name="replica_c")
        _log(uri, 5, name="other_model", model="another")
        window = read_window([uri], "production", WindowSpec(), model_name="m")
        assert window.requests == 4 + 2 + 2 and len(window.predictions) == 6 * len(CONTRACT.classes)
        assert set(CONTRACT.input_names) <= set(window.predictions.columns)
        assert set(window.feedback["request_id"]) == {"replica_a-0", "replica_b-0"}
        assert set(window.predictions["served"]) == {1.0} and window.files == (uri,)
        assert read_window([uri], "production", WindowSpec(last=3), model_name="m").requests == 3


def test_a_database_without_the_log_is_an_error_naming_it(postgres_dsn):
    with fresh_database(postgres_dsn, "inflog_empty") as uri, pytest.raises(LogError, match="holds no inference log"):
        read_window([uri], "production", WindowSpec())
