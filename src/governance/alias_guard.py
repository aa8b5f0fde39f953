"""The alias guard: ``@staging`` and ``@production`` point only where a recorded, sanctioned move put them.

MLflow's EDIT on a registered model covers every alias of it, so in
``aliases`` mode whoever may set ``@dev`` (a data scientist) may also set
``@production`` with MLflow's own client, past the validation gate and the
four-eyes rule. The server cannot stop that; the alias history can expose it.
Only the promotion code and the people with EDIT on the audit experiment
(CI, the release manager: ``configs/governance.yaml``) write that history, so
a move it does not record, or records without its validation (and, for
production, its approval), is out of band. The endpoint's alias watcher
refuses to serve such a version, and ``scripts/guard_aliases.py`` puts the
alias back (under the alias lock, so a promotion between its record and its
confirmation is never mistaken for one), records the restore and alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from src.models.alias_history import AliasEvent, AliasHistory
from src.models.alias_lock import AliasLock
from src.models.model_registry import Alias, Registry
from src.models.promotion import Move, revert_locked
from src.utils.keys import Tag

#: The aliases the guard keeps; @dev is training's and moves with every run.
GUARDED: tuple[Alias, ...] = (Alias.STAGING, Alias.PRODUCTION)
#: Moves of the history that put an alias somewhere on purpose.
SANCTIONING_ACTIONS = ("promote", "rollback", "guard_restore")
PASSED = "passed"


@dataclass(frozen=True)
class Verdict:
    """Where an alias points, where the history says it should, and why they differ (None: they agree)."""

    model: str
    alias: str
    found: str | None
    sanctioned: str | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def sanctions(event: AliasEvent, version_tags: Callable[[str], Mapping[str, str]]) -> bool:
    """Whether a recorded move may decide where its alias points: a promotion of a validated version, approved
    for production; a rollback or a restore (both go back to a version that once held the alias so)."""
    if event.action not in SANCTIONING_ACTIONS:
        return False
    if event.action != "promote":
        return True
    if event.alias == Alias.PRODUCTION and not event.approved_by:
        return False
    return event.to_version is not None and version_tags(event.to_version).get(Tag.VALIDATION_STATUS) == PASSED


def sanctioned_version(events: list[AliasEvent], version_tags: Callable[[str], Mapping[str, str]]) -> str | None:
    """The version the latest sanctioning move of the history put the alias on (events of one alias, oldest
    first); ``None`` when no move ever sanctioned one."""
    for event in reversed(events):
        if sanctions(event, version_tags):
            return event.to_version
    return None


def judge(registry: Registry, history: AliasHistory, model: str, alias: Alias) -> Verdict:
    """Compare the alias with its history."""
    current = registry.version_at(model, alias)
    found = current.version if current else None

    def tags(version: str) -> Mapping[str, str]:
        return current.tags if current and current.version == version else registry.version(model, version).tags

    sanctioned = sanctioned_version(history.events(model, alias.value), tags)
    if found == sanctioned:
        return Verdict(model, alias.value, found, sanctioned, None)
    what = "recorded, validated and approved" if alias == Alias.PRODUCTION else "recorded and validated"
    moved = f"@{alias.value} points to version {found}" if found else f"@{alias.value} was unset"
    expected = f"version {sanctioned}" if sanctioned else "no version"
    problem = f"{moved} without a {what} move in the alias history (it says {expected})"
    return Verdict(model, alias.value, found, sanctioned, problem)


def refusal(registry: Registry, history: AliasHistory, model: str, alias: str, version: str) -> str | None:
    """Why an endpoint must not swap to ``version`` of ``model@alias`` (None: it may). Unguarded aliases pass."""
    if alias not in {a.value for a in GUARDED}:
        return None
    verdict = judge(registry, history, model, Alias(alias))
    if verdict.sanctioned == version:
        return None
    return verdict.problem or f"version {version} is not where the alias history puts @{alias}"


@dataclass(frozen=True)
class Restored:
    """What one guard pass found and did about one alias."""

    verdict: Verdict
    move: Move | None


def enforce(registry: Registry, history: AliasHistory, lock: AliasLock, model: str, alias: Alias,
            actor: str) -> Restored:  # fmt: skip
    """Judge the alias under its lock and, if it was moved out of band, put it back and record that."""
    with lock.hold(model, alias.value) as fence:
        verdict = judge(registry, history, model, alias)
        if verdict.ok:
            return Restored(verdict, None)
        move = revert_locked(
            registry, history, fence, model=model, alias=alias, found=str(verdict.found or ""),
            to_version=verdict.sanctioned, actor=actor, reason=f"alias guard: {verdict.problem}",
        )  # fmt: skip
        return Restored(verdict, move)


def alert(restored: Restored) -> dict[str, object]:
    """The alert body (Slack-compatible ``text`` and the facts)."""
    verdict = restored.verdict
    back = f"version {verdict.sanctioned}" if verdict.sanctioned else "unset"
    return {
        "text": f"Alias guard: {verdict.model}@{verdict.alias} was moved out of band ({verdict.problem}); "
        f"put back to {back}",
        "model": verdict.model,
        "alias": verdict.alias,
        "found_version": verdict.found,
        "restored_version": verdict.sanctioned,
    }
