"""Shadow scoring: the challenger scores requests the champion answered, off the request path, and is only logged.

The request path appends the body (bytes, as received) and the champion's
labels to a bounded deque: O(1), nothing woken. A thread takes what waits
every ``interval_s``, parses each body against the challenger's own contract
(it may take other inputs than the champion), predicts them all in one call
(one request or a thousand cost about the same for a sub-millisecond model),
and logs each request's answer with ``served`` 0 beside the champion's. What
the challenger refuses is logged as its refusal; when it falls behind by
``max_pending`` requests, new ones are dropped and counted, never queued
without bound. The agreement of the two answers is counted on ``/metrics``;
``make monitor`` compares them row by row from the log.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from src.components.alias_watcher import ModelSlot
from src.components.inference_log import InferenceLog
from src.components.payloads import parse_body
from src.components.scoring import Columns, InputError, OutOfContract, Scorer
from src.components.serving_metrics import Metrics
from src.utils.logging import get_logger

logger = get_logger(__name__)

#: (request ID, body, media type, the champion's labels)
_Shadowed = tuple[str, bytes, str, Sequence[str]]


class ShadowScorer:
    """Scores the champion's requests with the challenger's version in batches, from a background thread."""

    def __init__(
        self,
        slot: ModelSlot,
        alias: str,
        metrics: Metrics,
        log: InferenceLog | None,
        *,
        interval_s: float = 0.02,
        max_pending: int = 10_000,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.slot, self.alias, self.metrics, self.log = slot, alias, metrics, log
        self._queue: deque[_Shadowed] = deque()
        self._interval_s, self._max_pending, self._clock = interval_s, max_pending, clock
        self._queued = self._taken = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Score what waits, then stop."""
        self._closing.set()
        self._thread.join(timeout=10)

    def submit(self, request_id: str, body: bytes, media: str, served: Sequence[str]) -> None:
        """Queue one answered request for the challenger (the request path: O(1))."""
        if self._queued - self._taken >= self._max_pending:
            self.metrics.shadow(self.alias, "dropped").inc()
            return
        self._queued += 1
        self._queue.append((request_id, body, media, served))

    def _run(self) -> None:
        closing = False
        while not closing:
            closing = self._closing.wait(self._interval_s)
            while batch := self._take():
                try:
                    self.score(batch)
                except Exception:  # a challenger that breaks must never take the endpoint down
                    logger.exception("shadow scoring of %d request(s) by @%s failed", len(batch), self.alias)
                    self.metrics.shadow(self.alias, "failed").inc(len(batch))

    def _take(self, limit: int = 1_000) -> list[_Shadowed]:
        taken: list[_Shadowed] = []
        take = self._queue.popleft
        while len(taken) < limit:
            try:
                taken.append(take())
            except IndexError:
                break
        self._taken += len(taken)
        return taken

    def score(self, batch: list[_Shadowed]) -> None:
        """Parse each body for the challenger, predict them in one call, log and count each answer."""
        scorer = self.slot.scorer  # one version for the whole batch, even if a swap happens meanwhile
        started = self._clock()
        parsed: list[tuple[_Shadowed, Columns]] = []
        for item in batch:
            try:
                parsed.append((item, parse_body(item[1], item[2], scorer)))
            except (InputError, OutOfContract) as exc:
                self._refused(item[0], scorer, exc)
        if not parsed:
            return
        try:
            answers = self._predict(scorer, [columns for _, columns in parsed])
        except InputError:  # one request's derived feature is not a number: score them one by one
            kept, answers = [], []
            for item, columns in parsed:
                try:
                    answers.extend(self._predict(scorer, [columns]))
                    kept.append((item, columns))
                except InputError as exc:
                    self._refused(item[0], scorer, exc)
            parsed = kept
        latency_ms = (self._clock() - started) * 1000 / max(len(parsed), 1)  # the batch's time, per request
        agree = disagree = 0
        for ((request_id, _, _, served), columns), (labels, probabilities) in zip(parsed, answers, strict=True):
            same = sum(a == b for a, b in zip(labels, served, strict=False))
            agree, disagree = agree + same, disagree + len(labels) - same
            if self.log is not None:
                self.log.predict(request_id, scorer.handle.version, columns, labels, probabilities, latency_ms,
                                 scorer.classes, alias=self.alias, served=False)  # fmt: skip
        self.metrics.shadow(self.alias, "scored").inc(len(parsed))
        self.metrics.shadow_rows(self.alias, scorer.handle.version, "agree").inc(agree)
        self.metrics.shadow_rows(self.alias, scorer.handle.version, "disagree").inc(disagree)

    @staticmethod
    def _predict(scorer: Scorer, parsed: list[Columns]) -> list[tuple[list[str], np.ndarray]]:
        """Each request's labels and probabilities, from one prediction over all of them."""
        names = list(parsed[0])
        if any(list(columns) != names for columns in parsed):  # not one layout: one call each
            return [answer for columns in parsed for answer in ShadowScorer._predict(scorer, [columns])]
        joined = {name: np.concatenate([columns[name] for columns in parsed]) for name in names}
        predictions = scorer.predict_columns(joined)
        labels, probabilities = predictions.labels.tolist(), predictions.probabilities
        answers, start = [], 0
        for columns in parsed:
            end = start + len(next(iter(columns.values())))
            answers.append((labels[start:end], probabilities[start:end]))
            start = end
        return answers

    def _refused(self, request_id: str, scorer: Scorer, exc: InputError | OutOfContract) -> None:
        self.metrics.shadow(self.alias, "refused").inc()
        if self.log is not None:
            reason = "out_of_contract" if isinstance(exc, OutOfContract) else "bad_input"
            self.log.refuse(request_id, scorer.handle.version, 400, reason, exc.field, alias=self.alias)
