"""Promotion policy and its execution: dev -> staging -> production, history kept, rollback possible.

The policy is plain functions over what the registry says about a version:
forward only (a target alias takes the version at the alias before it), only
a version the gate passed (its own record, src/models/verdict.py, never a tag), and production only with an approval and
a reason from someone other than the version's author (four-eyes).

Every move runs under the target alias's lock and is recorded in the alias
history before it is confirmed, so racing promotions leave one consistent
alias and a history whose every ``from`` is the previous ``to``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from src.models import alias_lock
from src.models.alias_history import AliasEvent, AliasHistory
from src.models.alias_lock import AliasLock, Fence
from src.models.approval import NO_APPROVAL, Approval, missing_approval
from src.models.model_registry import Alias, Registry, RegistryError, VersionInfo
from src.models.verdict import Verdicts
from src.utils.config import Settings
from src.utils.errors import ProjectError
from src.utils.keys import Tag

#: Which alias each target takes its version from.
SOURCE_OF: dict[Alias, Alias] = {Alias.STAGING: Alias.DEV, Alias.PRODUCTION: Alias.STAGING}


class PromotionRefused(ProjectError, ValueError):
    """The policy forbids this move; nothing was changed."""


@dataclass(frozen=True)
class Move:
    """The outcome of a promotion or rollback."""

    model: str
    alias: str
    from_version: str | None
    to_version: str | None
    action: str
    changed: bool
    #: What this call found of an earlier move cut short and settled (finished or abandoned), if anything.
    settled: str | None = None

    def describe(self) -> str:
        after = f"version {self.to_version}" if self.to_version else "(unset)"
        tail = f" ({self.settled})" if self.settled else ""
        if not self.changed:
            return f"{self.model}@{self.alias} already points to {after}: nothing to do{tail}"
        before = f"version {self.from_version}" if self.from_version else "(unset)"
        return f"{self.action}: {self.model}@{self.alias} {before} -> {after}{tail}"


def check_promotion(target: Alias, candidate: VersionInfo, approval: Approval, verdict: str | None) -> None:
    """Refuse, with the reason, a move the policy does not allow.

    ``verdict``: why the gate's own record does not pass the candidate (``Verdicts.problem``), ``None`` if it does.
    """
    if target not in SOURCE_OF:
        raise PromotionRefused("@dev is set by training; promote to staging or production")
    if verdict is not None:
        raise PromotionRefused(verdict)
    if target is Alias.PRODUCTION:
        _check_approval(candidate, approval)


def _check_approval(candidate: VersionInfo, approval: Approval) -> None:
    missing = missing_approval(approval)
    if missing or approval.approved_by is None:
        raise PromotionRefused(f"production needs {' and '.join(missing)}")
    author = candidate.tags.get(Tag.AUTHOR)
    if not author:
        raise PromotionRefused(f"version {candidate.version} records no author: four-eyes cannot be checked")
    if approval.approved_by.strip().lower() == author.strip().lower():
        raise PromotionRefused(
            f"{approval.approved_by} trained version {candidate.version} and cannot approve it (four-eyes)"
        )


def promote(
    settings: Settings,
    target: Alias,
    *,
    actor: str,
    approval: Approval = NO_APPROVAL,
    registry: Registry | None = None,
    history: AliasHistory | None = None,
    lock: AliasLock | None = None,
    expected: str | None = None,
    verdicts: Verdicts | None = None,
) -> Move:
    """Move ``target`` to the version now at the alias before it, if the policy allows.

    ``expected``: the version the caller means (the one it trained and validated); if the alias before holds
    another one now (someone trained meanwhile), nothing moves and the refusal says so.
    """
    registry = registry or Registry()
    lock = lock or alias_lock.for_settings(settings, registry)
    history = history or AliasHistory(settings.audit_experiment_name)
    if target not in SOURCE_OF:
        raise PromotionRefused("@dev is set by training; promote to staging or production")
    source = SOURCE_OF[target]
    candidate = registry.version_at(settings.model_name_for(source), source)
    if candidate is None:
        raise PromotionRefused(f"no version holds @{source} of {settings.model_name_for(source)}")
    if expected is not None and candidate.version != str(expected):
        raise PromotionRefused(f"@{source} of {candidate.name} holds version {candidate.version}, not version "
                               f"{expected}: it moved since; nothing was promoted")  # fmt: skip
    check_promotion(target, candidate, approval, (verdicts or Verdicts(settings)).problem(candidate))
    model = settings.model_name_for(target)
    request = _MoveRequest(model, target, candidate, "promote", actor, approval)
    if model == candidate.name:
        return _move(registry, history, lock, request)
    return _promote_across_catalogs(registry, history, lock, request)


def _promote_across_catalogs(registry: Registry, history: AliasHistory, lock: AliasLock, request: _MoveRequest) -> Move:
    """Copy the candidate into the target catalog's model, then move the alias there."""
    model, target, candidate = request.model, request.alias, request.version
    registry.ensure_model(model, description=f"{candidate.name} as promoted to @{target.value}")
    with lock.hold(model, target.value) as fence:
        current = registry.version_at(model, target)
        if current is not None and current.tags.get(Tag.COPIED_FROM) == candidate.uri:
            return Move(model, target.value, current.version, current.version, "promote", changed=False)
        copy = registry.copy_version(candidate, model)
        try:
            registry.set_version_tags(model, copy.version, {Tag.COPIED_FROM: candidate.uri})
            copied = registry.version(model, copy.version)
            return _move_locked(registry, history, fence, dataclasses.replace(request, version=copied))
        except (RegistryError, PromotionRefused):
            registry.delete_version(model, copy.version)  # no copy is left behind without its alias
            raise


def rollback(
    settings: Settings,
    alias: Alias,
    *,
    actor: str,
    reason: str,
    registry: Registry | None = None,
    history: AliasHistory | None = None,
    lock: AliasLock | None = None,
) -> Move:
    """Point ``alias`` back at the version that held it before the current one."""
    registry = registry or Registry()
    lock = lock or alias_lock.for_settings(settings, registry)
    history = history or AliasHistory(settings.audit_experiment_name)
    if not reason:
        raise PromotionRefused("a rollback needs a reason: --reason TEXT")
    model = settings.model_name_for(alias)
    current = registry.version_at(model, alias)
    if current is None:
        raise PromotionRefused(f"@{alias.value} of {model} is not set: nothing to roll back")
    previous = previous_holder(history.events(model, alias.value), current.version)
    if previous is None:
        raise PromotionRefused(
            f"version {current.version} is the first recorded holder of {model}@{alias.value}: nothing to roll back to"
        )
    request = _MoveRequest(
        model,
        alias,
        registry.version(model, previous),
        "rollback",
        actor,
        Approval(reason=reason),
        expected_current=current.version,
    )
    return _move(registry, history, lock, request)


def previous_holder(events: list[AliasEvent], current_version: str) -> str | None:
    """The version the latest promotion to ``current_version`` replaced (rollbacks step back, not forth)."""
    for event in reversed(events):
        if event.action == "promote" and event.to_version == current_version:
            return event.from_version
    return None


@dataclass(frozen=True)
class _MoveRequest:
    """One alias move to make: point ``alias`` of ``model`` at ``version``."""

    model: str
    alias: Alias
    version: VersionInfo | None  # None: unset the alias (the guard, where no move was ever recorded)
    action: str
    actor: str
    approval: Approval
    expected_current: str | None = None  # for a rollback: refuse if the alias moved since it was read


def revert_locked(
    registry: Registry,
    history: AliasHistory,
    fence: Fence,
    *,
    model: str,
    alias: Alias,
    found: str,
    to_version: str | None,
    actor: str,
    reason: str,
) -> Move:
    """Put an alias that was moved outside this policy back where the history says it is (the alias guard,
    which holds the alias lock); recorded as a ``guard_restore`` move, which a rollback never steps back to."""
    request = _MoveRequest(
        model,
        alias,
        registry.version(model, to_version) if to_version else None,
        "guard_restore",
        actor,
        Approval(reason=reason),
        expected_current=found,
    )
    return _move_locked(registry, history, fence, request)


def settle_open_moves(history: AliasHistory, model: str, alias: str, current: str | None) -> AliasEvent | None:
    """Close the records of moves whose process died (the caller holds the alias lock, so none is live): one
    whose alias write happened (the alias holds its target) is confirmed, the others are abandoned. Returns the
    move confirmed, if any."""
    confirmed = None
    for event in history.open_moves(model, alias):
        if event.to_version == current and confirmed is None:
            history.confirm(event.run_id)
            confirmed = event
        else:
            history.abandon(event.run_id)
    return confirmed


class MoveUnconfirmed(RegistryError):
    """The alias moved but neither its record nor its undo reached the backend: the message says so."""

    left_changes = True


def _move(registry: Registry, history: AliasHistory, lock: AliasLock, request: _MoveRequest) -> Move:
    """Under the alias lock: record, move, confirm; undo the move if it cannot be confirmed."""
    with lock.hold(request.model, request.alias.value) as fence:
        return _move_locked(registry, history, fence, request)


def _move_locked(registry: Registry, history: AliasHistory, fence: Fence, request: _MoveRequest) -> Move:
    """The move itself; the caller holds the alias lock, and the fence is checked just before the alias write."""
    model, alias = request.model, request.alias.value
    target = request.version.version if request.version else None
    current = registry.version_at(model, alias)
    before = current.version if current else None
    settled = settle_open_moves(history, model, alias, before)
    if settled is not None and settled.to_version == before == target:  # the interrupted move was this one
        note = f"finished the move interrupted in audit run {settled.run_id}"
        return Move(model, alias, settled.from_version, target, settled.action, changed=True, settled=note)
    if request.expected_current is not None and before != request.expected_current:
        raise PromotionRefused(f"{model}@{alias} moved to version {before} meanwhile; look again")
    if before == target:
        return Move(model, alias, before, target, request.action, changed=False)
    run_id = history.begin(
        model=model,
        alias=alias,
        action=request.action,
        from_version=before,
        to_version=target,
        actor=request.actor,
        reason=request.approval.reason or "",
        approved_by=request.approval.approved_by,
    )
    try:
        fence.check(f"moving {model}@{alias} to version {target}")
        registry.point_alias(model, alias, target)
    except RegistryError:
        history.abandon(run_id)
        raise
    try:
        history.confirm(run_id)
    except RegistryError as unconfirmed:
        try:
            registry.point_alias(model, alias, before)  # the history must not miss a move
        except RegistryError:
            raise MoveUnconfirmed(
                f"{model}@{alias} now points to version {target}, but the move could not be confirmed in the "
                f"alias history (audit run {run_id}) nor undone: {unconfirmed}; once the server is back, "
                f"check `promote_model.py history` and move it back or promote again"
            ) from unconfirmed
        history.abandon(run_id)
        raise
    return Move(model, alias, before, target, request.action, changed=True)
