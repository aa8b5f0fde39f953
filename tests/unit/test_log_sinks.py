"""The inference log's sinks: the same rows in a SQLite file and in the shared PostgreSQL schema, errors that stop
an endpoint before it serves, two replicas adding a version's columns at once, a dropped connection survived."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import psycopg
import pytest

from src.components.inference_log import InferenceLog
from src.data.contract import CONTRACT
from src.monitoring.log_sinks import SCHEMA, Batch, PostgresSink, SinkError, SqliteSink, open_sink
from tests.conftest import eventually, fresh_database

CLASSES = CONTRACT.classes


def _predict(log: InferenceLog, request_id: str, version: str = "1") -> None:
    examples = CONTRACT.example_columns()
    log.predict(request_id, version, examples, list(CONTRACT.example_labels),
                np.eye(len(CONTRACT.example_labels), len(CLASSES)), latency_ms=0.5, classes=CLASSES)  # fmt: skip


def _postgres_rows(uri: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(uri) as connection:
        return connection.execute(query).fetchall()


def test_both_sinks_hold_the_same_rows(tmp_path, postgres_dsn):
    first = CONTRACT.input_names[0]
    query = (f'select request_id, row, model_version, alias, served, "{first}", prediction, '
             f'"probability_{CLASSES[0]}" from {{table}} order by request_id, row')  # fmt: skip
    with fresh_database(postgres_dsn, "inflog_same") as uri:
        for target in (tmp_path / "log.db", uri):
            log = InferenceLog(target, model_name="m", alias="production", flush_seconds=0.05)
            log.start()
            _predict(log, "a")
            log.predict("b", "2", CONTRACT.example_columns(), list(CONTRACT.example_labels),
                        np.eye(len(CONTRACT.example_labels), len(CLASSES)), 0.5, CLASSES, alias="staging",
                        served=False)  # a shadow's answer  # fmt: skip
            log.feedback([("a", CLASSES[0])])
            log.close()
        with sqlite3.connect(tmp_path / "log.db") as connection:
            in_file = connection.execute(query.format(table="predictions")).fetchall()
        in_database = _postgres_rows(uri, query.format(table=f"{SCHEMA}.predictions"))
        assert [tuple(row) for row in in_database] == in_file
        assert {row[3:5] for row in in_file} == {("production", 1.0), ("staging", 0.0)}
        assert _postgres_rows(uri, f"select request_id, label from {SCHEMA}.feedback") == [("a", CLASSES[0])]


def test_a_sink_that_cannot_be_created_stops_the_endpoint_with_one_line(tmp_path, postgres_dsn):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(SinkError, match="cannot create it"):
        open_sink(tmp_path / "file" / "log.db")
    unknown = postgres_dsn.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(SinkError, match=r"no_such_database.*cannot create its tables"):
        open_sink(unknown)


def test_the_password_is_never_shown():
    assert PostgresSink("postgresql://writer:s3cret@db:5432/logs").describe() == "postgresql://writer@db:5432/logs"
    assert SqliteSink(__import__("pathlib").Path("logs/x.db")).describe() == "logs/x.db"


def test_two_replicas_adding_a_new_version_s_columns_at_once_both_write(postgres_dsn):
    """Two replicas see a version with new inputs at the same moment: the advisory lock serialises the ALTERs."""
    with fresh_database(postgres_dsn, "inflog_race") as uri:
        sinks = [open_sink(uri), open_sink(uri)]
        for sink in sinks:
            sink.open()
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def write(sink: PostgresSink, request_id: str) -> None:
            batch = Batch("predictions", ("request_id", "ts", "alias", "new colour", "new size"),
                          ("text", "time", "text", "text", "number"),
                          [(request_id, "2026-12-03T00:00:00.000+00:00", "production", "teal", 1.5)])  # fmt: skip
            start.wait()
            try:
                sink.write([batch])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(sink, f"r{i}")) for i, sink in enumerate(sinks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for sink in sinks:
            sink.close()
        assert errors == []
        rows = _postgres_rows(uri, f'select request_id, "new colour", "new size" from {SCHEMA}.predictions')
        assert sorted(rows) == [("r0", "teal", 1.5), ("r1", "teal", 1.5)]


def test_a_dropped_connection_loses_one_batch_at_most_and_the_writer_reconnects(postgres_dsn):
    with fresh_database(postgres_dsn, "inflog_drop") as uri:
        log = InferenceLog(uri, model_name="m", alias="production", flush_seconds=0.05)
        log.start()
        _predict(log, "before")
        eventually(lambda: _postgres_rows(uri, f"select count(*) from {SCHEMA}.predictions")[0][0] > 0, "written")
        database = uri.rsplit("/", 1)[1]
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:  # what a failover or a restart does
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
                          "and pid <> pg_backend_pid()", (database,))  # fmt: skip
        _predict(log, "during")
        during = f"select 1 from {SCHEMA}.predictions where request_id = 'during'"
        eventually(lambda: log.dropped + len(_postgres_rows(uri, during)) > 0, "written or counted")
        _predict(log, "after")
        log.close()
        kept = {row[0] for row in _postgres_rows(uri, f"select distinct request_id from {SCHEMA}.predictions")}
        assert {"before", "after"} <= kept and log.dropped <= 1
