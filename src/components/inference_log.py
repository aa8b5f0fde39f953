"""The inference log: every served prediction, refusal and feedback label, appended to SQLite off the request path.

``predict``, ``refuse`` and ``feedback`` only queue (O(1) on the request path);
a background thread writes every ``flush_seconds`` or ``batch_rows``, whichever
comes first, one transaction per flush (a request's rows are never split). A
process killed with SIGKILL therefore loses at most the requests answered in
its last ``flush_seconds`` (0.5 s by default); a clean stop writes everything.

Several endpoint processes on one host share one file (WAL mode, a busy
timeout); replicas on other hosts each write their own, and
``scripts/monitor_model.py --log`` reads any number of them. Rows older than
``retention_days`` are deleted by the writer, once an hour.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from src.data.contract import RAW_FEATURE_COLUMNS, SPECIES

PROBABILITY_COLUMNS = tuple(f"probability_{species}" for species in SPECIES)
PREDICTION_COLUMNS = (
    "request_id", "row", "ts", "model_name", "model_version", "alias", *RAW_FEATURE_COLUMNS,
    "prediction", *PROBABILITY_COLUMNS, "latency_ms",
)  # fmt: skip
_TEXT = {"request_id", "ts", "model_name", "model_version", "alias", "prediction", "reason", "field", "species"}
TABLES = {
    "predictions": PREDICTION_COLUMNS,
    "refusals": ("request_id", "ts", "model_name", "model_version", "alias", "status", "reason", "field"),
    "feedback": ("request_id", "ts", "species"),
}
#: Seconds between two retention sweeps.
SWEEP_S = 3600.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def create_tables(connection: sqlite3.Connection) -> None:
    for table, columns in TABLES.items():
        typed = ", ".join(f"{c} {'TEXT' if c in _TEXT else 'REAL'}" for c in columns)
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({typed})")
    connection.execute("CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts)")
    connection.execute("CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id)")


class InferenceLog:
    """Appends served predictions, refusals and feedback to a SQLite file in batches, from a background thread."""

    def __init__(
        self,
        path: Path,
        *,
        model_name: str = "",
        alias: str = "",
        flush_seconds: float = 0.5,
        batch_rows: int = 2000,
        retention_days: float | None = None,
    ) -> None:
        self.path, self.model_name, self.alias = path, model_name, alias
        self._queue: queue.SimpleQueue[tuple[str, list[tuple[object, ...]]] | None] = queue.SimpleQueue()
        self._flush_seconds, self._batch_rows, self._retention_days = flush_seconds, batch_rows, retention_days
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path, timeout=10) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            create_tables(connection)

    def start(self) -> None:
        self._thread.start()

    def predict(
        self, request_id: str, version: str, columns: dict[str, np.ndarray], labels: Sequence[str],
        probabilities: np.ndarray, latency_ms: float,
    ) -> None:  # fmt: skip
        """Queue one answered request (O(1) here: the rows are built on the writer thread)."""
        self._queue.put(("predictions", [(request_id, _now(), version, columns, labels, probabilities, latency_ms)]))

    def refuse(self, request_id: str, version: str, status: int, reason: str, field: str | None) -> None:
        self._queue.put(("refusals", [(request_id, _now(), self.model_name, version, self.alias, status, reason,
                                       field or "")]))  # fmt: skip

    def feedback(self, labels: Sequence[tuple[str, str]]) -> None:
        """Queue true labels (request ID, species) that came back for served requests."""
        now = _now()
        self._queue.put(("feedback", [(request_id, now, species) for request_id, species in labels]))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _expand(self, item: tuple[object, ...]) -> list[tuple[object, ...]]:
        request_id, ts, version, columns, labels, probabilities, latency = item
        values = [columns[c].tolist() for c in RAW_FEATURE_COLUMNS]  # type: ignore[index]
        shares = probabilities.tolist()  # type: ignore[attr-defined]
        return [
            (request_id, index, ts, self.model_name, version, self.alias, *row, label, *share, latency)
            for index, (*row, label, share) in enumerate(zip(*values, labels, shares, strict=True))  # type: ignore[call-overload]
        ]

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=10)
        pending: dict[str, list[tuple[object, ...]]] = {table: [] for table in TABLES}
        last_sweep: float | None
        last_flush, last_sweep, closing = time.monotonic(), None, False
        while not closing:
            try:
                item = self._queue.get(timeout=self._flush_seconds)
                while item is not None:  # take everything queued: the writer never falls behind its interval
                    table, rows = item
                    pending[table].extend(self._expand(rows[0]) if table == "predictions" else rows)
                    item = self._queue.get_nowait()
                closing = True
            except queue.Empty:
                pass
            waiting = sum(len(rows) for rows in pending.values())
            due = time.monotonic() - last_flush >= self._flush_seconds
            if waiting and (closing or due or waiting >= self._batch_rows):
                with connection:
                    for table, rows in pending.items():
                        if rows:
                            marks = ", ".join("?" for _ in TABLES[table])
                            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
                pending, last_flush = {table: [] for table in TABLES}, time.monotonic()
            if self._retention_days is not None and (last_sweep is None or time.monotonic() - last_sweep >= SWEEP_S):
                self._sweep(connection)
                last_sweep = time.monotonic()
        connection.close()

    def _sweep(self, connection: sqlite3.Connection) -> None:
        """Delete what is older than the retention period (all three tables, by their timestamp)."""
        cutoff = (datetime.now(UTC) - timedelta(days=self._retention_days or 0)).isoformat(timespec="milliseconds")
        with connection:
            for table in TABLES:
                connection.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,))
