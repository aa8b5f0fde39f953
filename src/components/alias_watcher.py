"""Follow an alias: when it points to another version, load it, smoke-check it and swap it in.

The served scorer sits in a ``ModelSlot``; replacing it is one reference
assignment, so a request in flight keeps the version it started with. A new
version that fails to load or to predict its contract's example rows is never
served: the old one stays, and ``/health`` says why. Nor is a version the
alias guard refuses (``refuse``: @staging/@production moved without a
sanctioned move in the alias history); that is asked again at every check,
so the proper promotion of the same version is served at the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from src.components.scoring import Scorer
from src.components.serving_metrics import Metrics
from src.utils.logging import get_logger

logger = get_logger(__name__)


def smoke_check(scorer: Scorer) -> None:
    """Raise unless the scorer predicts each example row of its contract (one per class at least) as its class."""
    contract = scorer.contract
    predicted = scorer.predict_columns(contract.example_columns()).labels.tolist()
    if predicted != list(contract.example_labels):
        raise ValueError(f"smoke check failed: the example rows were predicted {predicted}, "
                         f"expected {list(contract.example_labels)}")  # fmt: skip


@dataclass
class ModelSlot:
    """The scorer being served. Replacing it is one reference assignment: a request keeps the one it took."""

    scorer: Scorer
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_reload_error: str | None = None
    last_checked: datetime | None = None
    #: Why the alias could not be read at the last check (the registry is down, say); None once it answers again.
    registry_error: str | None = None
    #: Why the alias points nowhere at the last check (unset, or its model renamed or deleted); None once it is back.
    alias_error: str | None = None

    def swap(self, scorer: Scorer) -> None:
        self.scorer, self.loaded_at, self.last_reload_error = scorer, datetime.now(UTC), None


class AliasWatcher:
    """Follows the alias: when it points elsewhere, load, smoke-check and swap; on failure keep serving."""

    def __init__(
        self,
        slot: ModelSlot,
        *,
        model_name: str,
        alias: str,
        poll_seconds: float,
        metrics: Metrics,
        resolve: Callable[[], str | None],
        load: Callable[[str], Scorer],
        refuse: Callable[[str], str | None] | None = None,
        why_missing: Callable[[], str] = lambda: "the alias is not set",
    ) -> None:
        self.slot, self.metrics = slot, metrics
        self.model_name, self.alias, self.poll_seconds = model_name, alias, poll_seconds
        self._resolve, self._load, self._refuse, self._why_missing = resolve, load, refuse, why_missing
        self._refused_version: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._failed_version: str | None = None
        self._thread = threading.Thread(target=self._run, name="alias-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poke(self) -> None:
        """Check now (a webhook said the alias moved)."""
        self._wake.set()

    def check(self) -> str:
        """Compare the alias with the served version; reload if it moved. Returns what happened."""
        with self._lock:
            self.slot.last_checked = datetime.now(UTC)
            target = self._resolve()
            current = self.slot.scorer.handle.version
            if target is None:  # keep serving what was sanctioned, and say that the alias points nowhere
                missing = f"{self.model_name}@{self.alias} points nowhere: {self._why_missing()}"
                if missing != self.slot.alias_error:
                    logger.error("still serving version %s, but %s", current, missing)
                self.slot.alias_error = missing
                return "alias missing"
            self.slot.alias_error = None
            if target == current:
                if self._refused_version is not None:  # the alias is back where it belongs
                    self._refused_version = self.slot.last_reload_error = None
                return "unchanged"
            if target == self._failed_version:
                return "failed before"
            reason = self._refuse(target) if self._refuse is not None else None
            if reason is not None:
                if target != self._refused_version:
                    self.metrics.reloads("refused").inc()
                    logger.error("kept version %s: refused to switch to %s: %s", current, target, reason)
                self._refused_version = target
                self.slot.last_reload_error = f"version {target} refused by the alias guard: {reason}"
                return "refused"
            self._refused_version = None
            try:
                scorer = self._load(target)
                smoke_check(scorer)
            except Exception as exc:  # any failure keeps the old version serving
                self._failed_version = target
                self.slot.last_reload_error = f"version {target}: {type(exc).__name__}: {exc}"
                self.metrics.reloads("failed").inc()
                logger.error("kept version %s: could not switch to %s: %s", current, target, exc)
                return "failed"
            self.slot.swap(scorer)
            self._failed_version = None
            self.metrics.serving(self.alias, target)
            self.metrics.reloads("succeeded").inc()
            logger.info("now serving version %s (was %s)", target, current)
            return "swapped"

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            self.check_safely()

    def check_safely(self) -> str:
        """``check``, but a registry that cannot be read is reported (health, metrics), not raised: the
        served version keeps serving, and the next check that reads the alias clears the report."""
        try:
            outcome = self.check()
        except Exception as exc:  # a registry outage must not kill the watcher
            if self.slot.registry_error is None:
                logger.warning(
                    "cannot read the alias (still serving version %s): %s", self.slot.scorer.handle.version, exc
                )
            self.slot.registry_error = f"cannot read the alias: {exc}"
            self.metrics.registry_up.set(0)
            return "registry unreachable"
        if self.slot.registry_error is not None:
            logger.info("the registry answers again")
        self.slot.registry_error = None
        self.metrics.registry_up.set(1)
        return outcome
