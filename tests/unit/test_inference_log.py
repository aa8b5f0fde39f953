"""The inference log: rows queued on the request path, written in batches by its thread, all there after close."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np

from src.components import inference_log
from src.components.inference_log import FIXED_PREDICTION_COLUMNS, InferenceLog
from src.data.contract import CONTRACT
from src.monitoring import log_sinks
from tests.conftest import eventually
from tests.pack import NUMERIC

EXAMPLES = CONTRACT.example_columns()
LABELS = list(CONTRACT.example_labels)
CLASSES = list(CONTRACT.classes)
PROBABILITIES = np.eye(len(LABELS), len(CLASSES))


def _predict(log: InferenceLog, request_id: str, version: str) -> None:
    log.predict(request_id, version, EXAMPLES, LABELS, PROBABILITIES, latency_ms=0.5, classes=CONTRACT.classes)


def _rows(path, query):
    with sqlite3.connect(path) as connection:
        return connection.execute(query).fetchall()


def test_every_request_row_prediction_refusal_and_label_is_written_once_closed(tmp_path):
    path = tmp_path / "logs" / "inference.db"
    log = InferenceLog(path, model_name="m", alias="production", flush_seconds=0.05)
    log.start()
    for version in ("1", "2"):
        _predict(log, f"req-{version}", version)
    log.refuse("req-3", "2", 400, "out_of_contract", NUMERIC.name)
    log.feedback([("req-1", CLASSES[0]), ("req-2", CLASSES[-1])])
    log.close()
    first = NUMERIC.name
    written = _rows(path, f'select request_id, row, model_version, "{first}", prediction, "probability_{CLASSES[0]}",'
                          " alias from predictions")  # fmt: skip
    assert sorted(written) == sorted(
        (f"req-{v}", float(i), v, float(x), label, float(i == 0), "production")
        for v in ("1", "2")
        for i, (x, label) in enumerate(zip(EXAMPLES[first], LABELS, strict=True))
    )
    assert _rows(path, "select request_id, model_name, status, reason, field from refusals") == [
        ("req-3", "m", 400.0, "out_of_contract", NUMERIC.name)
    ]
    assert sorted(_rows(path, "select request_id, label from feedback")) == [
        ("req-1", CLASSES[0]),
        ("req-2", CLASSES[-1]),
    ]


def test_the_prediction_table_gets_the_served_version_s_inputs_and_classes(tmp_path):
    """The fixed columns at creation; a version's inputs and classes join the table when it first logs (a
    version with another contract adds its own), each value keeping its type."""
    path = tmp_path / "inference.db"
    log = InferenceLog(path, flush_seconds=0.05)
    assert [row[1] for row in _rows(path, "pragma table_info(predictions)")] == list(FIXED_PREDICTION_COLUMNS)
    log.start()
    _predict(log, "r1", "1")
    other = {"toy colour": np.array(["teal"], dtype=object), "toy length": np.array([40.5])}
    log.predict("r2", "2", other, ["toy_a"], np.array([[0.9, 0.1]]), 0.3, classes=("toy_a", "toy_b"))
    log.close()
    names = [row[1] for row in _rows(path, "pragma table_info(predictions)")]
    assert names == [*FIXED_PREDICTION_COLUMNS, *CONTRACT.input_names, *(f"probability_{c}" for c in CLASSES),
                     "toy colour", "toy length", "probability_toy_a", "probability_toy_b"]  # fmt: skip
    query = 'select "toy colour", "toy length", probability_toy_a from predictions where request_id = "r2"'
    assert _rows(path, query) == [("teal", 40.5, 0.9)]


def test_rows_older_than_the_retention_are_swept(tmp_path, monkeypatch):
    path = tmp_path / "inference.db"
    old = (datetime.now(UTC) - timedelta(days=10)).isoformat(timespec="milliseconds")
    with sqlite3.connect(path) as connection:
        log_sinks.create_tables(connection)
        connection.execute("insert into feedback values ('old', ?, 'setosa')", (old,))  # (request_id, ts, label)
    log = InferenceLog(path, retention_days=7, flush_seconds=0.05)
    log.start()
    _predict(log, "new", "1")
    log.feedback([("new", "virginica")])
    log.close()
    assert _rows(path, "select request_id from feedback") == [("new",)]


def test_a_label_for_a_request_the_log_never_served_is_refused_and_counted(tmp_path):
    """Posted labels decide the monitored accuracy: only those of requests the endpoint answered are kept."""
    path = tmp_path / "inference.db"
    log = InferenceLog(path, flush_seconds=0.05)
    log.start()
    _predict(log, "served", "1")
    log.feedback([("served", "setosa"), ("made-up", "virginica"), ("also-made-up", "setosa")])
    log.close()
    assert _rows(path, "select request_id, label from feedback") == [("served", "setosa")]
    assert log.feedback_refused == 2


def test_a_writer_that_falls_behind_drops_and_counts_instead_of_growing(tmp_path):
    # bounded in rows: 7 rows fit, so two 3-row requests do, then nothing of 3 rows more (a 1-row refusal does)
    log = InferenceLog(tmp_path / "inference.db", max_pending_rows=7)  # not started: nothing is taken off the queue
    for index in range(5):
        _predict(log, f"r{index}", "1")
    log.refuse("bad", "1", 400, "out of range", "petal_width_cm")
    log.feedback([("r0", "setosa"), ("r1", "virginica")])
    assert log.dropped == 4
    log.start()
    log.close()
    assert len(_rows(tmp_path / "inference.db", "select distinct request_id from predictions")) == 2
    assert _rows(tmp_path / "inference.db", "select request_id from refusals") == [("bad",)]


def test_a_backlog_is_written_in_bounded_transactions_and_whole_requests(tmp_path, monkeypatch):
    monkeypatch.setattr(inference_log, "WRITE_ROWS", 5)
    log = InferenceLog(tmp_path / "inference.db")  # not started: a backlog builds up
    for index in range(4):
        _predict(log, f"r{index}", "1")
    batch, *others = log._take()  # whole requests until 5 rows are reached: two of three rows
    assert not others and [row[:2] for row in batch.rows] == [(f"r{i}", j) for i in range(2) for j in range(3)]
    log.start()
    log.close()
    assert len(_rows(tmp_path / "inference.db", "select * from predictions")) == 6  # the two requests left
    assert log.dropped == 0


def test_two_writers_of_one_file_add_a_new_version_s_columns_once(tmp_path):
    """Several workers share one file: the second to see a new version's columns finds them there."""
    path = tmp_path / "inference.db"
    first, second = InferenceLog(path, flush_seconds=0.05), InferenceLog(path, flush_seconds=0.05)
    second.start()  # reads the table's columns now: the fixed ones
    first.start()
    _predict(first, "a", "1")
    first.close()
    _predict(second, "b", "1")  # its cache is stale: the columns exist already
    second.close()
    assert sorted(_rows(path, "select request_id, count(*) from predictions group by request_id")) == [
        ("a", 3),
        ("b", 3),
    ]


def test_a_batch_the_file_refuses_is_counted_and_the_writer_keeps_writing(tmp_path, monkeypatch):
    log = InferenceLog(tmp_path / "inference.db", flush_seconds=0.05)
    failing = {"left": 1}
    original = log_sinks._insert

    def insert_once_refused(connection, table, columns, rows):
        if failing["left"]:
            failing["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return original(connection, table, columns, rows)

    monkeypatch.setattr(log_sinks, "_insert", insert_once_refused)
    _predict(log, "lost", "1")
    log.start()
    eventually(lambda: log.dropped == 1, "the refused batch counted")
    _predict(log, "kept", "1")  # the same writer thread, still running
    log.close()
    assert _rows(tmp_path / "inference.db", "select distinct request_id from predictions") == [("kept",)]
