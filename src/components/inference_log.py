"""The inference log: every served prediction appended to SQLite in batches, off the request path.

``submit`` only queues (O(1) on the request path); a background thread
writes every ``flush_seconds`` or ``batch_rows``, whichever comes first.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from src.data.contract import RAW_FEATURE_COLUMNS


class InferenceLog:
    """Appends served predictions to a SQLite table in batches, from a background thread."""

    COLUMNS = ("ts", "model_version", *RAW_FEATURE_COLUMNS, "prediction", "latency_ms")

    def __init__(self, path: Path, flush_seconds: float = 0.5, batch_rows: int = 2000) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[tuple[object, ...] | None] = queue.SimpleQueue()
        self._flush_seconds, self._batch_rows = flush_seconds, batch_rows
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as connection:
            columns = ", ".join(f"{c} {'TEXT' if c in {'ts', 'model_version', 'prediction'} else 'REAL'}"
                                for c in self.COLUMNS)  # fmt: skip
            connection.execute(f"CREATE TABLE IF NOT EXISTS inference_log ({columns})")

    def start(self) -> None:
        self._thread.start()

    def submit(self, version: str, columns: dict[str, object], labels: list[str], latency_ms: float) -> None:
        """Queue one request's rows (O(1) on the request path; written later)."""
        self._queue.put((datetime.now(UTC).isoformat(timespec="milliseconds"), version, columns, labels, latency_ms))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path)
        placeholders = ", ".join("?" for _ in self.COLUMNS)
        pending: list[tuple[object, ...]] = []
        last_flush, closing = time.monotonic(), False
        while not closing:
            try:
                item = self._queue.get(timeout=self._flush_seconds)
                if item is None:
                    closing = True
                else:
                    pending.extend(self._rows(item))
            except queue.Empty:
                pass
            due = time.monotonic() - last_flush >= self._flush_seconds
            if pending and (closing or due or len(pending) >= self._batch_rows):
                with connection:
                    connection.executemany(f"INSERT INTO inference_log VALUES ({placeholders})", pending)
                pending, last_flush = [], time.monotonic()
        connection.close()

    @staticmethod
    def _rows(item: tuple[object, ...]) -> list[tuple[object, ...]]:
        ts, version, columns, labels, latency = item
        values = [columns[c].tolist() for c in RAW_FEATURE_COLUMNS]  # type: ignore[index]
        return [(ts, version, *row, label, latency) for *row, label in zip(*values, labels, strict=True)]  # type: ignore[arg-type]
