"""The pack's feature definitions, indexed and checked against its data contract: look a feature up by name.

Training resolves ``configs/feature_config.yaml``'s names here; the lifecycle,
the catalog and the feature store list the definitions from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from src.data.contract import CONTRACT
from src.features.feature_definitions import DEFINITIONS
from src.features.versioned import FeatureDefinition
from src.utils.errors import ProjectError


class UnknownFeatureError(ProjectError, KeyError):
    """A configured feature name is not defined (or not at that version)."""

    def __str__(self) -> str:
        return str(self.args[0])


class DefinitionError(ProjectError, ValueError):
    """A definition does not fit the data contract, or two share a name."""


def index(definitions: Sequence[FeatureDefinition]) -> Mapping[str, FeatureDefinition]:
    """Definitions by versioned name; a name defined twice, or a formula over unknown columns, is refused."""
    found: dict[str, FeatureDefinition] = {}
    problems = []
    for definition in definitions:
        if definition.name in found:
            problems.append(f"{definition.name} is defined twice")
        found[definition.name] = definition
        problems += [f"{definition.name} {problem}" for problem in definition.problems(CONTRACT)]
    if problems:
        raise DefinitionError("src/features/feature_definitions.py: " + "; ".join(problems))
    return found


FEATURES: Mapping[str, FeatureDefinition] = index(DEFINITIONS)


def get_feature(name: str) -> FeatureDefinition:
    """Look a feature up by its versioned name; say which versions exist when it is not found."""
    try:
        return FEATURES[name]
    except KeyError:
        base = name.rsplit("_v", 1)[0]
        versions = sorted(f"v{d.version}" for d in DEFINITIONS if f"{d.domain}_{d.base_name}" == base)
        hint = f"; defined versions: {', '.join(versions)}" if versions else f"; defined: {', '.join(FEATURES)}"
        raise UnknownFeatureError(f"feature {name!r} is not defined in feature_definitions.py{hint}") from None


def resolve_features(names: Sequence[str]) -> tuple[FeatureDefinition, ...]:
    """Resolve configured names to definitions, in the configured order."""
    return tuple(get_feature(name) for name in names)
