"""The inference log: every served prediction, refusal and feedback label, appended to a sink off the request path.

``predict``, ``refuse`` and ``feedback`` only append to a deque (O(1) on the
request path, and no thread is woken); a background thread takes everything
every ``flush_seconds``, turns it into rows a whole group of requests at a time
(NumPy, not a loop per request: the writer shares the GIL with the event loop)
and hands the sink transactions of at most ``WRITE_ROWS`` rows (a request's
rows are never split). A process killed with SIGKILL therefore loses at most
the requests answered in its last ``flush_seconds`` (0.5 s by default); a
clean stop writes everything. Memory is bounded in rows, not requests: when
``max_pending_rows`` are waiting, a request is counted in ``dropped`` instead
of queued (one request may carry thousands of rows).

The sink (``log_sinks``) is a SQLite file per host (the embedded default;
several workers share it) or the PostgreSQL schema every replica shares (the
profile's ``inference_log``); ``scripts/monitor_model.py`` reads either. Rows
older than ``retention_days`` are deleted by the writer, once an hour. A
prediction row holds the served version's inputs, one column each under the
contract's names, and one ``probability_<class>`` per class; a version with
other inputs or classes adds its columns the first time it logs. Every row
names its alias and version: a champion and its challenger share one log.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from src.monitoring.log_sinks import PREDICTION_COLUMNS, TABLES, Batch, Kind, LogSink, SinkError, open_sink
from src.utils.logging import get_logger

logger = get_logger(__name__)

#: The columns every prediction row starts with (inputs and class probabilities follow).
FIXED_PREDICTION_COLUMNS = tuple(PREDICTION_COLUMNS)
#: Seconds between two retention sweeps.
SWEEP_S = 3600.0
#: Rows the writer turns into tuples and writes in one transaction, at most (plus one request's).
WRITE_ROWS = 50_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


#: A queued answered request is a plain tuple (a NamedTuple costs ~1 us more on the request path):
#: (request_id, epoch seconds, version, alias, served, columns, labels, probabilities, latency_ms, classes).
_Answered = tuple[str, float, str, str, int, Mapping[str, np.ndarray], Sequence[str], np.ndarray, float,
                  Sequence[str]]  # fmt: skip


def _kind(values: np.ndarray) -> Kind:
    return "number" if values.dtype.kind in "biuf" else "text"


def _stamps(epochs: np.ndarray) -> np.ndarray:
    """ISO times (UTC, milliseconds, ``+00:00``) of epoch seconds, in bulk: the format ``_now`` writes."""
    milliseconds = np.floor(epochs * 1000).astype("datetime64[ms]")
    return np.char.add(np.datetime_as_string(milliseconds, unit="ms"), "+00:00")


def _same_layout(group: list[_Answered]) -> list[list[_Answered]]:
    """Split a group of one version, alias and role by input columns and classes (one layout each), in the
    common case of one layout without building a tuple per request."""
    first = group[0]
    names, classes = first[5].keys(), first[9]
    if all(item[5].keys() == names and item[9] is classes for item in group):
        return [group]
    split: dict[tuple[tuple[str, ...], tuple[str, ...]], list[_Answered]] = {}
    for item in group:
        split.setdefault((tuple(item[5]), tuple(item[9])), []).append(item)
    return list(split.values())


class InferenceLog:
    """Appends served predictions, refusals and feedback to a sink in batches, from a background thread."""

    def __init__(
        self,
        target: Path | str,
        *,
        model_name: str = "",
        alias: str = "",
        flush_seconds: float = 0.5,
        retention_days: float | None = None,
        max_pending_rows: int = 1_000_000,
    ) -> None:
        self.sink: LogSink = open_sink(target)  # its tables exist now: a bad target stops the endpoint here
        self.model_name, self.alias = model_name, alias
        #: The registered model behind each alias that logs here, when not ``model_name`` (a challenger in another
        #: catalog, under ``promotion_mode: catalogs``).
        self.model_names: dict[str, str] = {}
        # A deque, not a queue: append and popleft are atomic, and nothing wakes the writer per request (a
        # blocking queue's wake-up per request cost ~8% of one-row throughput in thread switches).
        self._queue: deque[tuple[str, int, object]] = deque()
        self._closing = threading.Event()
        #: Requests not logged because the writer fell ``max_pending_rows`` behind (memory stays bounded) or the
        #: sink refused their batch.
        self.dropped = 0
        #: Feedback labels refused at write time: their request ID is not one this log served.
        self.feedback_refused = 0
        self._max_pending_rows = max_pending_rows
        # rows queued (by the request path: the event loop, one thread) and rows taken (by the writer): each has a
        # single writer, so neither loses an update, and their difference is what waits, without a lock
        self._queued_rows = self._taken_rows = 0
        self._flush_seconds, self._retention_days = flush_seconds, retention_days
        self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def predict(
        self, request_id: str, version: str, columns: Mapping[str, np.ndarray], labels: Sequence[str],
        probabilities: np.ndarray, latency_ms: float, classes: Sequence[str], *, alias: str | None = None,
        served: bool = True,
    ) -> None:  # fmt: skip
        """Queue one answered request (O(1) here: its rows are built on the writer thread). ``alias`` is the
        alias whose version answered (default: the log's); ``served`` False marks a shadow's answer."""
        answered = (request_id, time.time(), version, self.alias if alias is None else alias, int(served), columns,
                    labels, probabilities, latency_ms, classes)  # fmt: skip
        self._enqueue("predictions", len(labels), answered)

    def refuse(
        self, request_id: str, version: str, status: int, reason: str, field: str | None, *, alias: str | None = None
    ) -> None:
        alias = self.alias if alias is None else alias
        row = (request_id, _now(), self.model_names.get(alias, self.model_name), version, alias, status, reason,
               field or "")  # fmt: skip
        self._enqueue("refusals", 1, [row])

    def feedback(self, labels: Sequence[tuple[str, str]]) -> None:
        """Queue true labels (request ID, label) that came back for served requests."""
        now = _now()
        self._enqueue("feedback", len(labels), [(request_id, now, label) for request_id, label in labels])

    def _enqueue(self, table: str, rows: int, item: object) -> None:
        if self._queued_rows - self._taken_rows + rows > self._max_pending_rows:
            self.dropped += 1
            return
        self._queued_rows += rows
        self._queue.append((table, rows, item))

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=10)

    def _rows(self, group: list[_Answered]) -> Batch:
        """Answered requests of one layout (version, alias, role, inputs, classes) as prediction rows, in bulk."""
        first = group[0]
        counts = np.fromiter((len(item[6]) for item in group), dtype=np.int64, count=len(group))
        total = int(counts.sum())
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        stamps = _stamps(np.fromiter((item[1] for item in group), dtype=np.float64, count=len(group)))
        latencies = np.fromiter((item[8] for item in group), dtype=np.float64, count=len(group))
        request_ids = np.array([item[0] for item in group], dtype=object)
        inputs = [np.concatenate([item[5][name] for item in group]) for name in first[5]]
        shares = np.concatenate([item[7] for item in group]).T.tolist()
        version, alias, served = first[2], first[3], first[4]
        rows = list(zip(np.repeat(request_ids, counts).tolist(), (np.arange(total) - starts).tolist(),
                        np.repeat(stamps, counts).tolist(), repeat(self.model_names.get(alias, self.model_name), total),
                        repeat(version, total),
                        repeat(alias, total), chain.from_iterable(item[6] for item in group),
                        np.repeat(latencies, counts).tolist(), repeat(served, total),
                        *(values.tolist() for values in inputs), *shares, strict=True))  # fmt: skip
        columns = (*FIXED_PREDICTION_COLUMNS, *first[5], *(f"probability_{c}" for c in first[9]))
        kinds = (*PREDICTION_COLUMNS.values(), *(_kind(values) for values in inputs), *repeat("number", len(first[9])))
        return Batch("predictions", columns, kinds, rows)  # type: ignore[arg-type]

    def _take(self) -> list[Batch]:
        """Whole requests off the queue, up to ``WRITE_ROWS`` rows (more only if one request alone has more),
        as one batch per table and column layout."""
        answered: dict[tuple[str, str, int], list[_Answered]] = {}
        other: dict[str, list[tuple[object, ...]]] = {}
        taken, take = 0, self._queue.popleft
        while taken < WRITE_ROWS:
            try:
                table, count, item = take()
            except IndexError:
                break
            if table == "predictions":
                answered.setdefault(item[2:5], []).append(item)  # type: ignore[index]
            else:
                other.setdefault(table, []).extend(item)  # type: ignore[call-overload]
            taken += count
        self._taken_rows += taken
        batches = [self._rows(part) for group in answered.values() for part in _same_layout(group)]
        # refusals and feedback after the predictions: a label's request is then in the log when it is checked
        return batches + [Batch(table, tuple(TABLES[table]), tuple(TABLES[table].values()), rows)
                          for table, rows in other.items()]  # fmt: skip

    def _run(self) -> None:
        """Every ``flush_seconds`` (or at close): write what was queued, ``WRITE_ROWS`` rows per transaction."""
        self.sink.open()
        last_sweep: float | None = None
        closing = False
        while not closing:
            closing = self._closing.wait(self._flush_seconds)
            # what was queued by now, and no more: a writer that also took what arrived while it wrote would commit
            # tiny transactions back to back (their fixed cost was ~70 us per one-row request at 2,000 req/s)
            due = self._queued_rows
            while (closing or self._taken_rows < due) and (batches := self._take()):
                try:
                    self.feedback_refused += self.sink.write(batches)
                except SinkError as exc:  # a locked file or a database gone loses this batch, never the writer
                    self.dropped += len({row[0] for batch in batches for row in batch.rows})  # requests
                    logger.error("inference log %s: a batch of %d row(s) was not written: %s", self.sink.describe(),
                                 sum(len(batch.rows) for batch in batches), exc)  # fmt: skip
            if self._retention_days is not None and (last_sweep is None or time.monotonic() - last_sweep >= SWEEP_S):
                cutoff = datetime.now(UTC) - timedelta(days=self._retention_days)
                try:
                    self.sink.sweep(cutoff.isoformat(timespec="milliseconds"))
                except SinkError as exc:
                    logger.error("inference log %s: the retention sweep failed: %s", self.sink.describe(), exc)
                last_sweep = time.monotonic()
        self.sink.close()
