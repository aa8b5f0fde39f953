"""A traffic plan: the champion alias, and optionally a challenger that answers a share (canary) or scores in shadow.

``make serve`` follows one alias (the champion, e.g. ``@production``). A plan
may add a challenger alias (``@challenger``, ``@staging``):

- **canary**: ``percent`` of requests are answered by the challenger's
  version; the response says which version answered (``X-Model-Version``,
  ``X-Model-Alias``). A request that carries a routing key (the header
  ``key_header``, ``X-Request-Id`` by default; a client puts its entity key
  there to pin a customer to one version) always goes to the same side, on
  every replica: the key's CRC-32 picks a bucket of 10,000. A request without
  one is routed at random.
- **shadow**: the champion answers every request; ``percent`` of them are
  also scored by the challenger off the request path (``shadow``), its answer
  logged beside the champion's (``served`` 0), never returned.

Both versions follow their aliases (hot swap, the alias guard's rules). The
plan is shown on ``/health``; the inference log and ``/metrics`` label every
request with the alias and version that answered it.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from src.utils.errors import ProjectError

Mode = Literal["canary", "shadow"]
#: Buckets a routing key falls into: a percent is honoured to 0.01.
BUCKETS = 10_000
DEFAULT_KEY_HEADER = "X-Request-Id"


class PlanError(ProjectError, ValueError):
    """A traffic plan that cannot be served (the same alias twice, a percent outside 0..100, ...)."""


@dataclass(frozen=True)
class TrafficPlan:
    """Who answers: the champion alias, and optionally a challenger in canary or shadow at ``percent``."""

    champion: str
    challenger: str | None = None
    mode: Mode = "canary"
    percent: float = 0.0
    key_header: str = DEFAULT_KEY_HEADER

    def __post_init__(self) -> None:
        if self.challenger is None:
            return
        if self.challenger == self.champion:
            raise PlanError(f"the challenger must be another alias than the champion (both @{self.champion})")
        if not 0.0 <= self.percent <= 100.0:
            raise PlanError(f"a {self.mode} percent is between 0 and 100, got {self.percent:g}")
        if not self.key_header or not self.key_header.isascii() or " " in self.key_header:
            raise PlanError(f"the routing key header {self.key_header!r} is not an HTTP header name")

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.champion,) if self.challenger is None else (self.champion, self.challenger)

    def describe(self) -> str:
        if self.challenger is None:
            return f"@{self.champion}"
        share = f"{self.percent:g}%"
        return (f"@{self.champion}, @{self.challenger} in {self.mode} at {share}"
                + (f" (sticky by {self.key_header})" if self.mode == "canary" else ""))  # fmt: skip


def bucket(key: str) -> int:
    """The key's bucket in 0..9,999: the same on every replica and every restart (CRC-32, not ``hash``)."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % BUCKETS


class Router:
    """Decides, per request, whether the challenger takes part: answers it (canary) or scores it too (shadow)."""

    def __init__(self, plan: TrafficPlan, draw: Callable[[], float] = random.random) -> None:
        self.plan = plan
        self._threshold = round(plan.percent * BUCKETS / 100) if plan.challenger is not None else 0
        self._draw = draw

    def picks_challenger(self, key: str | None) -> bool:
        """True for the share of requests the challenger takes: by the key's bucket when there is a key."""
        if self._threshold == 0:
            return False
        if self._threshold >= BUCKETS:
            return True
        if key:
            return bucket(key) < self._threshold
        return self._draw() * BUCKETS < self._threshold
