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

from collections.abc import Callable
from dataclasses import dataclass

from src.models.alias_history import AliasEvent, AliasHistory
from src.models.alias_lock import AliasLock
from src.models.model_registry import Alias, Registry, RegistryAccessDenied
from src.models.promotion import Move, revert_locked, settle_open_moves
from src.models.verdict import Verdicts
from src.utils.config import Settings
from src.utils.errors import ProjectError
from src.utils.keys import Tag

#: The aliases the guard keeps; @dev is training's and moves with every run.
GUARDED: tuple[Alias, ...] = (Alias.STAGING, Alias.PRODUCTION)
#: Moves of the history that put an alias somewhere on purpose.
SANCTIONING_ACTIONS = ("promote", "rollback", "guard_restore")


@dataclass(frozen=True)
class Records:
    """What decides where a guarded alias may point: the registry, the alias history and the gate's verdicts."""

    registry: Registry
    history: AliasHistory
    verdicts: Verdicts

    @classmethod
    def of(cls, settings: Settings, registry: Registry | None = None) -> Records:
        return cls(registry or Registry(), AliasHistory(settings.audit_experiment_name), Verdicts(settings))


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


def sanctions(event: AliasEvent, validated: Callable[[str], bool]) -> bool:
    """Whether a recorded move may decide where its alias points: a promotion of a version the gate passed
    (``validated``: its own record, never a tag), approved for production; a rollback or a restore (both go back
    to a version that once held the alias so)."""
    if event.action not in SANCTIONING_ACTIONS:
        return False
    if event.action != "promote":
        return True
    if event.alias == Alias.PRODUCTION and not event.approved_by:
        return False
    return event.to_version is not None and validated(event.to_version)


def sanctioned_version(events: list[AliasEvent], validated: Callable[[str], bool]) -> str | None:
    """The version the latest sanctioning move of the history put the alias on (events of one alias, oldest
    first); ``None`` when no move ever sanctioned one."""
    for event in reversed(events):
        if sanctions(event, validated):
            return event.to_version
    return None


def judge(records: Records, model: str, alias: Alias) -> Verdict:
    """Compare the alias with its history."""
    registry = records.registry
    current = registry.version_at(model, alias)
    found = current.version if current else None

    def validated(version: str) -> bool:
        info = current if current and current.version == version else registry.version(model, version)
        return records.verdicts.passed(info)

    sanctioned = sanctioned_version(records.history.events(model, alias.value), validated)
    if found == sanctioned:
        return Verdict(model, alias.value, found, sanctioned, None)
    what = "recorded, validated and approved" if alias == Alias.PRODUCTION else "recorded and validated"
    moved = f"@{alias.value} points to version {found}" if found else f"@{alias.value} was unset"
    expected = f"version {sanctioned}" if sanctioned else "no version"
    problem = f"{moved} without a {what} move in the alias history (it says {expected})"
    return Verdict(model, alias.value, found, sanctioned, problem)


def refusal(records: Records, model: str, alias: str, version: str) -> str | None:
    """Why a consumer must not score ``version`` of ``model@alias`` (None: it may). Unguarded aliases pass."""
    if alias not in {a.value for a in GUARDED}:
        return None
    verdict = judge(records, model, Alias(alias))
    if verdict.sanctioned == version:
        return None
    return verdict.problem or f"version {version} is not where the alias history puts @{alias}"


class NothingSanctioned(ProjectError, RuntimeError):
    """A guarded alias points where no sanctioned move put it, and no version was ever sanctioned there."""


@dataclass(frozen=True)
class Choice:
    """The version a consumer of an alias scores, and why it is not the alias's own (None: it is)."""

    version: str
    overruled: str | None = None

    def describe(self, model: str, alias: str, found: str) -> str:
        """The line every consumer prints when it scores the sanctioned version instead of the alias's."""
        return f"scoring version {self.version} instead of {model}@{alias}'s version {found}: {self.overruled}"


def version_to_score(records: Records, model: str, alias: str, found: str) -> Choice:
    """One rule for the endpoint, batch (Arrow and Spark) and the release checks: the version at a guarded alias
    if a sanctioned move put it there, else the version the history sanctions; none sanctioned is an error."""
    reason = refusal(records, model, alias, found)
    if reason is None:
        return Choice(found)
    sanctioned = judge(records, model, Alias(alias)).sanctioned
    if sanctioned is None:
        raise NothingSanctioned(f"not scoring {model}@{alias}: {reason}, and no version was ever sanctioned there")
    return Choice(sanctioned, reason)


@dataclass(frozen=True)
class Restored:
    """What one guard pass found and did about one alias."""

    verdict: Verdict
    move: Move | None


def enforce(records: Records, lock: AliasLock, model: str, alias: Alias, actor: str) -> Restored:
    """Judge the alias under its lock and, if it was moved out of band, put it back and record that."""
    with lock.hold(model, alias.value) as fence:
        current = records.registry.version_at(model, alias)
        settle_open_moves(records.history, model, alias.value, current.version if current else None)
        verdict = judge(records, model, alias)
        if verdict.ok:
            return Restored(verdict, None)
        move = revert_locked(
            records.registry, records.history, fence, model=model, alias=alias, found=str(verdict.found or ""),
            to_version=verdict.sanctioned, actor=actor, reason=f"alias guard: {verdict.problem}",
        )  # fmt: skip
        return Restored(verdict, move)


class ModelVanished(ProjectError, RuntimeError):
    """The governed model is gone and no model carries its registration tag: only an administrator can help."""


@dataclass(frozen=True)
class Renamed:
    """A governed model found under another name, and put back under its own."""

    model: str
    found_as: str

    def describe(self) -> str:
        return f"{self.model} had been renamed to {self.found_as}: renamed back"

    def alert(self) -> dict[str, object]:
        return {
            "text": f"Alias guard: {self.model} was renamed to {self.found_as} out of band; renamed back",
            "model": self.model,
            "found_as": self.found_as,
        }


def restore_name(records: Records, model: str, actor: str) -> Renamed | None:
    """Put a renamed governed model back under its name (MLflow lets EDIT rename; every consumer, grant and
    record names the model), recorded in the alias history. ``None``: the model is where it should be."""
    registry = records.registry
    try:
        if registry.model_exists(model):
            return None
    except RegistryAccessDenied:  # basic-auth moves a model's grants with a rename: its old name answers 403
        pass
    found_as = registry.renamed_to(model)
    if found_as is None:
        if registry.model_exists(model):  # a 403 here: the guard truly lacks its rights, and says so
            return None
        raise ModelVanished(
            f"{model} does not exist and no registered model carries its {Tag.REGISTERED_AS.value} tag: it was "
            "deleted (MANAGE) or never registered; restore it from a backup or register it again"
        )
    run_id = records.history.begin(
        model=model, alias="*", action="guard_rename", from_version=None, to_version=None, actor=actor,
        reason=f"alias guard: renamed to {found_as} out of band; renamed back", approved_by=None,
    )  # fmt: skip
    try:
        registry.rename_model(found_as, model)
    except Exception:
        records.history.abandon(run_id)
        raise
    records.history.confirm(run_id)
    return Renamed(model, found_as)


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
