"""The rule for a model's semantic version (``--version``): one version names one build.

MLflow numbers registered versions itself (1, 2, 3 ...); the semantic version
(``model_version`` tag, ``v1.2.0_...`` run names) is the team's name for what
was trained. Two registered versions may carry the same semantic version only
when they are the same build: the same commit on a clean tree, the same data
(digest) and the same training configuration. Anything else is refused before
a run is tracked, naming the version that already carries it and the next free
patch version. ``--version auto`` takes that next patch version itself (1.0.0
for a model with none), which is what ``make train`` does by default.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from src.utils.errors import ProjectError
from src.utils.naming import SEMVER_PATTERN

#: ``--version auto``: the next patch after the highest registered semantic version.
AUTO = "auto"
FIRST = "1.0.0"


class VersionTaken(ProjectError, ValueError):
    """The semantic version is already registered for a different build; nothing was tracked."""


@dataclass(frozen=True)
class Build:
    """What a semantic version promises: the code, the data and the configuration it was trained from."""

    git_sha: str
    git_dirty: bool
    data_digest: str
    configuration: Mapping[str, object]

    @property
    def fingerprint(self) -> str:
        """A digest of the build; a dirty tree gets none, since its code cannot be named."""
        if self.git_dirty or self.git_sha == "unknown":
            return ""
        content = json.dumps(
            {"git_sha": self.git_sha, "data": self.data_digest, "config": self.configuration},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(content.encode()).hexdigest()[:16]

    @property
    def tag(self) -> str:
        """The fingerprint as recorded on the run and the version."""
        return self.fingerprint or "none (uncommitted changes)"


@dataclass(frozen=True)
class Registered:
    """A registered version's number, its semantic version and its build fingerprint ('' if unknown)."""

    number: str
    semantic: str
    fingerprint: str


def _key(semantic: str) -> tuple[int, ...]:
    return tuple(int(part) for part in semantic.split("."))


def next_patch(semantic_versions: Iterable[str]) -> str:
    """The patch after the highest well-formed semantic version (``1.0.0`` when there is none)."""
    valid = [v for v in semantic_versions if SEMVER_PATTERN.fullmatch(v)]
    if not valid:
        return FIRST
    major, minor, patch = _key(max(valid, key=_key))
    return f"{major}.{minor}.{patch + 1}"


def resolve(requested: str, build: Build, registered: Iterable[Registered], model_name: str) -> str:
    """The semantic version to train under: ``requested``, or the next patch for ``auto``.

    Raises ``VersionTaken`` when ``requested`` is registered for another build.
    """
    registered = list(registered)
    if requested == AUTO:
        return next_patch(r.semantic for r in registered)
    same = [r for r in registered if r.semantic == requested]
    own = build.fingerprint
    others = [r for r in same if not own or r.fingerprint != own]
    if others:
        why = "this tree has uncommitted changes" if not own else "a different commit, data or configuration"
        numbers = ", ".join(sorted((r.number for r in same), key=int))
        raise VersionTaken(
            f"semantic version {requested} is already registered as {model_name} version {numbers}, "
            f"trained from another build ({why}); train under --version {next_patch(r.semantic for r in registered)}"
            f" (or --version {AUTO}): a semantic version names one build"
        )
    return requested
