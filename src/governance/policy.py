"""What ``configs/governance.yaml`` means for one profile: the grant each member should hold on each resource.

Pure functions over the config and the profile's names, so what the server
must enforce can be read (and tested) without a server. In ``aliases`` mode
the three environments share one registered model, and a member gets the
strongest of its three permissions on it: MLflow has no per-alias right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from src.utils.config import PERMISSION_ORDER, GovernanceConfig, Settings

ResourceType = Literal["experiment", "registered_model"]
#: The alias each environment of the config holds.
ENVIRONMENTS: tuple[Literal["dev", "staging", "production"], ...] = ("dev", "staging", "production")


@dataclass(frozen=True, order=True)
class Resource:
    """An experiment (by name) or a registered model (by its three-level name)."""

    type: ResourceType
    name: str

    def describe(self) -> str:
        return f"{self.type.replace('_', ' ')} {self.name}"


@dataclass(frozen=True, order=True)
class Grant:
    """``user`` holds ``permission`` on ``resource``."""

    user: str
    resource: Resource
    permission: str


def stronger(first: str, second: str) -> str:
    """The stronger of two MLflow permissions."""
    return max(first, second, key=PERMISSION_ORDER.index)


def experiments(settings: Settings) -> dict[str, Resource]:
    """The experiments the config names, by kind."""
    return {
        "training": Resource("experiment", settings.experiment_name),
        "validation": Resource("experiment", settings.validation_experiment_name),
        "audit": Resource("experiment", settings.audit_experiment_name),
        "monitoring": Resource("experiment", settings.monitoring_experiment_name),
    }


def models(settings: Settings) -> dict[str, Resource]:
    """The registered model holding each environment's alias (one name for all three in aliases mode)."""
    return {
        environment: Resource("registered_model", settings.model_name_for(environment)) for environment in ENVIRONMENTS
    }


def governed(settings: Settings) -> list[Resource]:
    """Every resource whose rights the config decides, each once."""
    return sorted({*experiments(settings).values(), *models(settings).values()})


def desired_grants(config: GovernanceConfig, settings: Settings) -> list[Grant]:
    """Each member's permission on each governed resource (none where it would only repeat the default)."""
    wanted: dict[tuple[str, Resource], str] = {}
    for role in config.roles.values():
        pairs = [(experiments(settings)[kind], p) for kind, p in role.experiments.items()]
        pairs += [(models(settings)[environment], p) for environment, p in role.models.items()]
        for member in role.members:
            for resource, permission in pairs:
                key = (member, resource)
                wanted[key] = stronger(wanted.get(key, "NO_PERMISSIONS"), permission)
    return sorted(
        Grant(user, resource, permission)
        for (user, resource), permission in wanted.items()
        if permission != config.default_permission
    )


def members(config: GovernanceConfig) -> dict[str, str]:
    """Each member's role."""
    return {member: name for name, role in config.roles.items() for member in role.members}
