"""A rollout: wait until a live endpoint serves the version its alias now holds, check it there, and roll a failed
production release back.

The endpoint follows its alias by itself (``alias_watcher``): a rollout only
waits for ``/health`` to report the version, then runs the release checks
(``endpoint_checks``) with the example rows of that version's data contract.
A production rollout that fails is rolled back to the previous production
version, recorded in the alias history, and waited for in turn. The outcome
is returned: the CD release hands it on, the command line prints it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from src.components.endpoint_checks import call, release_checks, wait_for_version
from src.data.schema import DataContract
from src.models.model_loading import model_contract
from src.models.model_registry import Alias, Registry
from src.models.promotion import Move, rollback
from src.utils.config import Settings
from src.utils.errors import ProjectError


class CanaryNotServed(ProjectError, RuntimeError):
    """The endpoint does not serve the alias as a canary, or not the expected version of it in time."""


@dataclass(frozen=True)
class RolloutOutcome:
    """What a rollout found: the failures (none when it passed), and the rollback it made, if any."""

    model: str
    version: str
    url: str
    failures: list[str] = field(default_factory=list)
    rolled_back: Move | None = None
    serving_after: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        if self.passed:
            return f"rollout of {self.model} version {self.version} at {self.url}: release checks passed"
        lines = [f"rollout of {self.model} version {self.version} at {self.url}: {len(self.failures)} check(s) failed"]
        if self.rolled_back is not None:
            lines.append(f"rolled back: {self.rolled_back.describe()} (recorded in the alias history)")
            lines.append(f"{self.url} serves version {self.serving_after}")
        return "\n".join(lines)


def roll_out(
    settings: Settings,
    alias: str,
    url: str,
    version: str,
    *,
    actor: str,
    timeout_s: float = 120.0,
    max_p99_ms: float = 100.0,
    roll_back: bool = True,
) -> RolloutOutcome:
    """Wait for ``version`` at ``url``, run the release checks, and roll @production back if they fail."""
    model = settings.model_name_for(alias)
    serving = wait_for_version(url, version, timeout_s)
    if serving != str(version):
        failures = [f"{url} serves version {serving} after {timeout_s:g} s, not {version}"]
    else:
        contract = DataContract.from_dict(model_contract(Registry().version(model, version).uri))
        report = release_checks(url, expected_model=model, alias=alias, version=version, contract=contract,
                                max_p99_ms=max_p99_ms)  # fmt: skip
        failures = report.failures
    if not failures or alias != Alias.PRODUCTION.value or not roll_back:
        return RolloutOutcome(model, str(version), url, failures)
    reason = f"rollout of version {version} failed its release checks: {failures[0]}"
    move = rollback(settings, Alias.PRODUCTION, actor=actor, reason=reason)
    back = wait_for_version(url, move.to_version or "", timeout_s)
    return RolloutOutcome(model, str(version), url, failures, move, back)


def wait_for_challenger(url: str, alias: str, version: str, *, timeout_s: float = 120.0) -> None:
    """Wait until ``url`` serves ``version`` of ``alias`` as its canary challenger (``/health``), or raise saying
    what it serves instead."""
    deadline, seen = time.monotonic() + timeout_s, "no answer"
    while True:
        try:
            status, health = call(f"{url.rstrip('/')}/health", timeout_s=5)
        except OSError as exc:
            status, health, seen = 0, {}, f"unreachable ({exc})"
        challenger = (health.get("traffic") or {}).get("challenger") or {}
        if status == 200:
            if challenger.get("alias") != alias or challenger.get("mode") != "canary":
                raise CanaryNotServed(f"{url} serves no canary of @{alias} (traffic: "
                                      f"{(health.get('traffic') or {}).get('plan', 'the champion alone')}); start it "
                                      f"with --challenger {alias} --canary PERCENT")  # fmt: skip
            workers = challenger.get("workers") or {}
            if challenger.get("version") == str(version) and all(v == str(version) for v in workers.values()):
                return
            seen = f"version {challenger.get('version')}"
        if time.monotonic() >= deadline:
            raise CanaryNotServed(f"{url} serves @{alias} {seen} after {timeout_s:g} s, not version {version}")
        time.sleep(1.0)
