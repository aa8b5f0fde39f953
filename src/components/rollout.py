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

from dataclasses import dataclass, field

from src.components.endpoint_checks import release_checks, wait_for_version
from src.data.schema import DataContract
from src.models.model_loading import model_contract
from src.models.model_registry import Alias, Registry
from src.models.promotion import Move, rollback
from src.utils.config import Settings


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
