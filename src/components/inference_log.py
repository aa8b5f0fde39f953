"""The inference log: every served prediction, refusal and feedback label, appended to SQLite off the request path.

``predict``, ``refuse`` and ``feedback`` only append to a deque (O(1) on the
request path, and no thread is woken); a background thread takes everything
every ``flush_seconds`` and writes it in transactions of multi-row inserts of
at most ``WRITE_ROWS`` rows (a request's rows are never split). A process
killed with SIGKILL therefore loses at most the requests answered in its last
``flush_seconds`` (0.5 s by default); a clean stop writes everything. Memory is
bounded in rows, not requests: when ``max_pending_rows`` are waiting, a
request is counted in ``dropped`` instead of queued (one request may carry
thousands of rows).

Several endpoint processes on one host share one file (WAL mode, a busy
timeout); replicas on other hosts each write their own, and
``scripts/monitor_model.py --log`` reads any number of them. Rows older than
``retention_days`` are deleted by the writer, once an hour. A prediction row
holds the served version's inputs, one column each under the contract's
names, and one ``probability_<class>`` per class; a version with other inputs
or classes adds its columns to the table the first time it logs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from src.utils.logging import get_logger

logger = get_logger(__name__)

#: The columns every prediction row has; the inputs (one column each, named as in the contract: numbers REAL,
#: categories TEXT) and one ``probability_<class>`` per class follow, added when a version first logs them.
FIXED_PREDICTION_COLUMNS = ("request_id", "row", "ts", "model_name", "model_version", "alias", "prediction",
                            "latency_ms")  # fmt: skip
_TEXT = {"request_id", "ts", "model_name", "model_version", "alias", "prediction", "reason", "field", "label"}
TABLES = {
    "predictions": FIXED_PREDICTION_COLUMNS,
    "refusals": ("request_id", "ts", "model_name", "model_version", "alias", "status", "reason", "field"),
    "feedback": ("request_id", "ts", "label"),
}
#: Seconds between two retention sweeps.
SWEEP_S = 3600.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def quoted(name: str) -> str:
    """A column name as an SQL identifier (a contract's names and classes are data: quote them)."""
    return '"' + name.replace('"', '""') + '"'


def create_tables(connection: sqlite3.Connection) -> None:
    for table, columns in TABLES.items():
        typed = ", ".join(f"{c} {'TEXT' if c in _TEXT else 'REAL'}" for c in columns)
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({typed})")
    connection.execute("CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts)")
    connection.execute("CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id)")
    # feedback is kept only for requests the log holds: found by this index, not a scan
    connection.execute("CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id)")


def existing_columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


#: Bound values per INSERT statement, at most (SQLite allows 32,766).
VALUES_PER_STATEMENT = 30_000
#: Rows the writer expands into Python tuples and writes in one transaction, at most (plus one request's).
WRITE_ROWS = 50_000


def _insert(connection: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple[object, ...]]) -> None:
    """Insert in multi-row statements: ``executemany`` steps SQLite once per row and releases the GIL each time,
    and the request thread then has to win the GIL back thousands of times per flush (-24% throughput)."""
    width = len(columns)
    names = ", ".join(quoted(c) for c in columns)
    per_statement = max(1, VALUES_PER_STATEMENT // width)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        marks = ", ".join([f"({', '.join('?' * width)})"] * len(chunk))
        connection.execute(f"INSERT INTO {table} ({names}) VALUES {marks}", [v for row in chunk for v in row])


def _insert_feedback(connection: sqlite3.Connection, rows: list[tuple[object, ...]]) -> int:
    """Insert the labels of requests the log served (any process writing this file); return how many were
    refused for naming a request it never served."""
    before = connection.total_changes
    connection.executemany(
        "INSERT INTO feedback (request_id, ts, label) SELECT ?, ?, ? "
        "WHERE EXISTS (SELECT 1 FROM predictions WHERE request_id = ?)",
        [(*row, row[0]) for row in rows],
    )
    return len(rows) - (connection.total_changes - before)


def _add_columns(connection: sqlite3.Connection, names: list[str], known: set[str]) -> None:
    """A version's inputs or classes, first seen: their columns join the table. Another process sharing the file
    may have added them meanwhile (several workers): the table is read again, and a column it added is kept."""
    known |= existing_columns(connection, "predictions")
    for name in names:
        if name in known:
            continue
        try:  # no declared type: each value keeps its own (a number REAL, a category TEXT)
            connection.execute(f"ALTER TABLE predictions ADD COLUMN {quoted(name)}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise
        known.add(name)


class InferenceLog:
    """Appends served predictions, refusals and feedback to a SQLite file in batches, from a background thread."""

    def __init__(
        self,
        path: Path,
        *,
        model_name: str = "",
        alias: str = "",
        flush_seconds: float = 0.5,
        retention_days: float | None = None,
        max_pending_rows: int = 1_000_000,
    ) -> None:
        self.path, self.model_name, self.alias = path, model_name, alias
        # A deque, not a queue: append and popleft are atomic, and nothing wakes the writer per request (a
        # blocking queue's wake-up per request cost ~8% of one-row throughput in thread switches).
        self._queue: deque[tuple[str, int, list[tuple[object, ...]]]] = deque()
        self._closing = threading.Event()
        #: Requests not logged because the writer fell ``max_pending_rows`` behind (memory stays bounded).
        self.dropped = 0
        #: Feedback labels refused at write time: their request ID is not one this log served.
        self.feedback_refused = 0
        self._max_pending_rows = max_pending_rows
        # rows queued (by the request path: the event loop, one thread) and rows taken (by the writer): each has a
        # single writer, so neither loses an update, and their difference is what waits, without a lock
        self._queued_rows = self._taken_rows = 0
        self._flush_seconds, self._retention_days = flush_seconds, retention_days
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path, timeout=10) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            create_tables(connection)

    def start(self) -> None:
        self._thread.start()

    def predict(
        self, request_id: str, version: str, columns: Mapping[str, np.ndarray], labels: Sequence[str],
        probabilities: np.ndarray, latency_ms: float, classes: Sequence[str],
    ) -> None:  # fmt: skip
        """Queue one answered request (O(1) here: the rows are built on the writer thread)."""
        # the time as a float here (~50 ns); the writer formats it
        self._enqueue("predictions", len(labels), [(request_id, time.time(), version, columns, labels,
                                                    probabilities, latency_ms, classes)])  # fmt: skip

    def refuse(self, request_id: str, version: str, status: int, reason: str, field: str | None) -> None:
        self._enqueue("refusals", 1, [(request_id, _now(), self.model_name, version, self.alias, status, reason,
                                       field or "")])  # fmt: skip

    def feedback(self, labels: Sequence[tuple[str, str]]) -> None:
        """Queue true labels (request ID, label) that came back for served requests."""
        now = _now()
        self._enqueue("feedback", len(labels), [(request_id, now, label) for request_id, label in labels])

    def _enqueue(self, table: str, rows: int, item: list[tuple[object, ...]]) -> None:
        if self._queued_rows - self._taken_rows + rows > self._max_pending_rows:
            self.dropped += 1
            return
        self._queued_rows += rows
        self._queue.append((table, rows, item))

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=10)

    def _expand(self, item: tuple[object, ...]) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
        """One answered request as (its columns, its rows): the inputs and classes are the served version's."""
        request_id, at, version, columns, labels, probabilities, latency, classes = item
        ts = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")  # type: ignore[arg-type]
        inputs = tuple(columns)  # type: ignore[call-overload]
        values = [columns[c].tolist() for c in inputs]  # type: ignore[index]
        shares = probabilities.tolist()  # type: ignore[attr-defined]
        layout = (*FIXED_PREDICTION_COLUMNS, *inputs, *(f"probability_{c}" for c in classes))  # type: ignore[attr-defined]
        model, alias = self.model_name, self.alias
        rows = [
            (request_id, index, ts, model, version, alias, label, latency, *row, *share)
            for index, (*row, label, share) in enumerate(zip(*values, labels, shares, strict=True))  # type: ignore[call-overload]
        ]
        return layout, rows

    def _take(self) -> dict[tuple[str, tuple[str, ...]], list[tuple[object, ...]]]:
        """Whole requests off the queue, up to ``WRITE_ROWS`` rows (more only if one request alone has more),
        grouped by table and column layout."""
        pending: dict[tuple[str, tuple[str, ...]], list[tuple[object, ...]]] = {}
        taken = 0
        while taken < WRITE_ROWS:
            try:
                table, count, rows = self._queue.popleft()
            except IndexError:
                break
            if table == "predictions":
                layout, expanded = self._expand(rows[0])
                pending.setdefault((table, layout), []).extend(expanded)
            else:
                pending.setdefault((table, TABLES[table]), []).extend(rows)
            taken += count
            self._taken_rows += count
        return pending

    @staticmethod
    def _write(connection: sqlite3.Connection, pending: dict[tuple[str, tuple[str, ...]], list[tuple[object, ...]]],
               known: set[str]) -> int:  # fmt: skip
        """Write one batch in one transaction; return the feedback labels refused (unknown request IDs)."""
        refused = 0
        with connection:
            for (table, layout), rows in pending.items():
                if table == "feedback":
                    refused += _insert_feedback(connection, rows)
                    continue
                if table == "predictions" and not known.issuperset(layout):
                    _add_columns(connection, [name for name in layout if name not in known], known)
                _insert(connection, table, layout, rows)
        return refused

    def _run(self) -> None:
        """Every ``flush_seconds`` (or at close): write what was queued, ``WRITE_ROWS`` rows per transaction."""
        connection = sqlite3.connect(self.path, timeout=10)
        known = existing_columns(connection, "predictions")
        last_sweep: float | None = None
        closing = False
        while not closing:
            closing = self._closing.wait(self._flush_seconds)
            while pending := self._take():
                try:
                    self.feedback_refused += self._write(connection, pending, known)
                except sqlite3.Error as exc:  # a locked or broken file loses this batch, never the writer
                    self.dropped += len({row[0] for rows in pending.values() for row in rows})  # requests
                    logger.error("inference log %s: a batch of %d row(s) was not written: %s", self.path,
                                 sum(len(rows) for rows in pending.values()), exc)  # fmt: skip
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
