"""MLflow registry webhooks: check a delivery's signature, freshness and novelty before acting on it.

MLflow signs ``{delivery_id}.{timestamp}.{payload}`` with HMAC-SHA256 and
sends ``v1,<base64>``. A delivery older than ``WEBHOOK_MAX_AGE_S`` is refused
so a captured one cannot be replayed later, and a delivery ID seen within
that window is refused so it cannot be replayed sooner either. Every check
works on bytes with bounded sizes: no header or body can make it raise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

WEBHOOK_MAX_AGE_S = 300
#: A registry event is a few hundred bytes; the endpoint and the guard's listener read no more than this.
WEBHOOK_MAX_BODY_BYTES = 65_536
#: Longest delivery ID and timestamp accepted (a UUID; seconds since the epoch).
_MAX_ID_CHARS, _MAX_TIMESTAMP_DIGITS = 128, 12
#: How many delivery IDs are remembered at most (the window's deliveries, bounded for a flood).
_MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class Rejection:
    """A delivery not acted on: the HTTP status to answer and why."""

    status: int
    message: str


_UNSIGNED = Rejection(401, "invalid or stale webhook signature")


class WebhookVerifier:
    """Verifies deliveries with one secret and remembers the IDs it accepted within the freshness window."""

    def __init__(
        self, secret: str, *, max_age_s: float = WEBHOOK_MAX_AGE_S, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret, self._max_age_s, self._clock = secret.encode(), max_age_s, clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def problem(self, headers: Mapping[str, str], payload: bytes) -> Rejection | None:
        """Why the delivery is refused (``None``: it is signed, fresh and new; its ID is remembered)."""
        lowered = {key.lower(): value for key, value in headers.items()}
        signature = lowered.get("x-mlflow-signature", "")
        delivery, timestamp = lowered.get("x-mlflow-delivery-id", ""), lowered.get("x-mlflow-timestamp", "")
        if not (signature.startswith("v1,") and 0 < len(delivery) <= _MAX_ID_CHARS):
            return _UNSIGNED
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
            return _UNSIGNED
        now = self._clock()
        if abs(now - int(timestamp)) > self._max_age_s:
            return _UNSIGNED
        signed = b".".join((delivery.encode("utf-8", "surrogateescape"), timestamp.encode(), payload))
        expected = base64.b64encode(hmac.new(self._secret, signed, hashlib.sha256).digest())
        if not hmac.compare_digest(signature.removeprefix("v1,").encode("utf-8", "surrogateescape"), expected):
            return _UNSIGNED
        with self._lock:
            self._forget_before(now - self._max_age_s)
            if delivery in self._seen:
                return Rejection(409, f"delivery {delivery} was received already")
            self._seen[delivery] = now
            if len(self._seen) > _MAX_REMEMBERED:
                self._seen.popitem(last=False)
        return None

    def _forget_before(self, oldest: float) -> None:
        while self._seen and next(iter(self._seen.values())) < oldest:
            self._seen.popitem(last=False)


def verify_webhook(secret: str, headers: Mapping[str, str], payload: bytes, now: float | None = None) -> bool:
    """Whether one delivery is signed with ``secret`` and fresh (no memory of earlier deliveries)."""
    clock = (lambda: now) if now is not None else time.time
    return WebhookVerifier(secret, clock=clock).problem(headers, payload) is None
