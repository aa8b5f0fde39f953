"""The feature lifecycle's record: each feature's status (LOCAL ... REGISTERED) in configs/feature_lifecycle.yaml.

Read by the feature store (only REFACTORED or REGISTERED features enter it),
the validator's governance check and the catalog; written only by
``src.features.lifecycle``, whose gates decide a step. Keeping the record apart
from the gates lets the store read it without importing the gates, which
themselves read the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from src.features.feature_definitions import DEFINITIONS
from src.utils.config import CONFIG_DIR, load_yaml
from src.utils.errors import ProjectError

LIFECYCLE_FILE = CONFIG_DIR / "feature_lifecycle.yaml"


class LifecycleStatus(StrEnum):
    """Where a feature stands on its way from a notebook to the feature store."""

    LOCAL = "LOCAL"  # defined by one model's author
    VALIDATED = "VALIDATED"  # tested, deterministic, passes data checks on the reference data
    REFACTORED = "REFACTORED"  # in the shared definitions module, owned, described, named by convention
    REGISTERED = "REGISTERED"  # applied to the feature store and materialised

    def at_least(self, other: LifecycleStatus) -> bool:
        order = list(LifecycleStatus)
        return order.index(self) >= order.index(other)

    @property
    def next(self) -> LifecycleStatus | None:
        order = list(LifecycleStatus)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class LifecycleError(ProjectError, ValueError):
    """A step was refused or the lifecycle record is inconsistent; the record was not changed."""


@dataclass(frozen=True)
class FeatureState:
    """A feature's recorded lifecycle state."""

    status: LifecycleStatus
    fingerprint: str | None = None
    changed_at: str | None = None
    changed_by: str | None = None
    #: For REGISTERED: the feature store the gate found it applied and materialised in.
    registered_in: str | None = None


def load_states(path: Path = LIFECYCLE_FILE) -> dict[str, FeatureState]:
    content = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    states = {}
    for name, entry in (content.get("features") or {}).items():
        try:
            states[name] = FeatureState(
                status=LifecycleStatus(entry["status"]),
                fingerprint=entry.get("fingerprint"),
                changed_at=entry.get("changed_at"),
                changed_by=entry.get("changed_by"),
                registered_in=entry.get("registered_in"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise LifecycleError(f"{path}: feature {name}: invalid entry {entry!r} ({exc})") from None
    return states


def store_ready(path: Path = LIFECYCLE_FILE) -> list[str]:
    """The features that may enter the feature store: REFACTORED or REGISTERED, in definition order."""
    states = load_states(path)
    return [
        d.name for d in DEFINITIONS if d.name in states and states[d.name].status.at_least(LifecycleStatus.REFACTORED)
    ]


def save_states(states: dict[str, FeatureState], path: Path = LIFECYCLE_FILE) -> None:
    """Rewrite the lifecycle file atomically, keeping its header comment."""
    header = "".join(
        line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.startswith("#")
    )
    entries = {
        name: {k: v for k, v in {"status": state.status.value, "fingerprint": state.fingerprint,
                                 "registered_in": state.registered_in, "changed_at": state.changed_at,
                                 "changed_by": state.changed_by}.items() if v}
        for name, state in states.items()
    }  # fmt: skip
    temporary = path.with_suffix(".tmp")
    temporary.write_text(header + yaml.safe_dump({"features": entries}, sort_keys=False), encoding="utf-8")
    temporary.replace(path)
