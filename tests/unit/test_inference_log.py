"""The inference log: rows queued on the request path, written in batches by its thread, all there after close."""

from __future__ import annotations

import sqlite3

from src.components.inference_log import InferenceLog
from src.data.contract import RAW_FEATURE_COLUMNS, canonical_columns


def test_every_submitted_row_is_written_once_closed(tmp_path):
    log = InferenceLog(tmp_path / "logs" / "inference.db", flush_seconds=0.05, batch_rows=3)
    log.start()
    for version in ("1", "2"):
        log.submit(version, canonical_columns(), ["setosa", "versicolor", "virginica"], latency_ms=0.5)
    log.close()
    with sqlite3.connect(tmp_path / "logs" / "inference.db") as connection:
        rows = connection.execute(f"select model_version, {RAW_FEATURE_COLUMNS[0]}, prediction from inference_log")
        written = sorted(rows.fetchall())
    assert written == sorted(
        (v, float(x), s)
        for v in ("1", "2")
        for x, s in zip(canonical_columns()[RAW_FEATURE_COLUMNS[0]], ["setosa", "versicolor", "virginica"], strict=True)
    )


def test_the_table_has_the_contract_columns(tmp_path):
    InferenceLog(tmp_path / "inference.db")
    with sqlite3.connect(tmp_path / "inference.db") as connection:
        names = [row[1] for row in connection.execute("pragma table_info(inference_log)")]
    assert names == ["ts", "model_version", *RAW_FEATURE_COLUMNS, "prediction", "latency_ms"]
