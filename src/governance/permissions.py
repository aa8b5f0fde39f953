"""The changes that bring an MLflow server's rights to what ``configs/governance.yaml`` says, and applying them.

``plan`` compares the grants the server holds with the desired ones and
lists the changes: users to create, governed experiments and models to
create (by the admin, so that no member becomes their owner, with MANAGE, by
creating them first), grants to add, change or revoke. A second run plans
nothing. Only the governed resources are touched; admins are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from src.governance.auth_client import AuthClient, UserGrants
from src.governance.policy import Resource, desired_grants, governed
from src.models.alias_history import AliasHistory
from src.models.model_registry import Registry
from src.utils import mlflow_utils
from src.utils.config import GovernanceConfig, Settings
from src.utils.errors import ProjectError

Action = Literal["create user", "create", "grant", "change", "revoke"]


class PermissionsRefused(ProjectError, ValueError):
    """The plan cannot be applied as asked (a member without a password); nothing was changed."""


@dataclass(frozen=True)
class Change:
    """One change to the server's rights."""

    action: Action
    user: str | None = None
    resource: Resource | None = None
    permission: str | None = None
    before: str | None = None

    def describe(self) -> str:
        where = self.resource.describe() if self.resource else ""
        if self.action == "create user":
            return f"create user {self.user}"
        if self.action == "create":
            return f"create {where} (owned by the admin)"
        if self.action == "grant":
            return f"grant {self.permission} on {where} to {self.user}"
        if self.action == "change":
            return f"change {self.user} on {where}: {self.before} -> {self.permission}"
        return f"revoke {self.user}'s {self.before} on {where}"


@dataclass(frozen=True)
class ServerState:
    """What the server holds now: its users and their grants, and the ID of each governed resource (None: absent;
    a registered model is keyed by its name)."""

    users: list[UserGrants]
    ids: Mapping[Resource, str | None]


def _key(resource: Resource, ids: Mapping[Resource, str | None]) -> tuple[str, str] | None:
    """How the server keys a grant on ``resource`` (experiments by ID, models by name); None if it does not exist."""
    if resource.type == "registered_model":
        return (resource.type, resource.name)
    found = ids.get(resource)
    return None if found is None else (resource.type, found)


def plan(config: GovernanceConfig, settings: Settings, state: ServerState) -> list[Change]:
    """Every change, in the order to apply them; empty when the server already matches the config."""
    resources = governed(settings)
    changes = [Change("create", resource=r) for r in resources if r.type == "experiment" and state.ids.get(r) is None]
    changes += [
        Change("create", resource=r) for r in resources if r.type == "registered_model" and not state.ids.get(r)
    ]
    by_name = {user.username: user for user in state.users}
    wanted = desired_grants(config, settings)
    changes += [Change("create user", user=u) for u in sorted({g.user for g in wanted} - by_name.keys())]
    for grant in wanted:
        key = _key(grant.resource, state.ids)
        held = by_name[grant.user].grants.get(key) if grant.user in by_name and key else None
        if held is None:
            changes.append(Change("grant", grant.user, grant.resource, grant.permission))
        elif held != grant.permission:
            changes.append(Change("change", grant.user, grant.resource, grant.permission, before=held))
    desired = {(g.user, g.resource) for g in wanted}
    for user in state.users:
        if user.is_admin:
            continue
        for resource in resources:
            key = _key(resource, state.ids)
            if key in user.grants and (user.username, resource) not in desired:
                changes.append(Change("revoke", user.username, resource, before=user.grants[key]))
    return changes


@dataclass(frozen=True)
class Creators:
    """How the governed resources are created (through the tracking and registry doors)."""

    experiment: Callable[[Resource], str]
    model: Callable[[Resource], None]


def apply(changes: list[Change], client: AuthClient, creators: Creators, ids: Mapping[Resource, str | None],
          passwords: Mapping[str, str]) -> None:  # fmt: skip
    """Make the changes in order; a member to create without a password is refused before any change."""
    lacking = [c.user for c in changes if c.action == "create user" and not passwords.get(c.user or "")]
    if lacking:
        raise PermissionsRefused(
            f"no password for {', '.join(str(u) for u in lacking)}: put one per user in the --passwords file "
            "(YAML, user: password; keep it out of the repository)"
        )
    known = dict(ids)
    for change in changes:
        resource = change.resource
        if change.action == "create" and resource is not None:
            if resource.type == "experiment":
                known[resource] = creators.experiment(resource)
            else:
                creators.model(resource)
                known[resource] = resource.name
        elif change.action == "create user" and change.user:
            client.create_user(change.user, passwords[change.user])
        elif resource is not None and change.user:
            resource_id = resource.name if resource.type == "registered_model" else str(known[resource])
            if change.action in ("change", "revoke"):
                client.revoke(change.user, resource.type, resource_id)
            if change.action in ("grant", "change"):
                client.grant(change.user, resource.type, resource_id, str(change.permission))


def server_state(settings: Settings, client: AuthClient, registry: Registry) -> ServerState:
    """Read the users, their grants and which governed resources exist."""
    ids: dict[Resource, str | None] = {}
    for resource in governed(settings):
        if resource.type == "experiment":
            ids[resource] = mlflow_utils.experiment_id(resource.name)
        else:
            ids[resource] = resource.name if registry.model_exists(resource.name) else None
    return ServerState(users=client.users(), ids=ids)


def creators(settings: Settings, registry: Registry) -> Creators:
    """Create the governed resources as the project does (the experiments tagged, the audit one as the history)."""

    def experiment(resource: Resource) -> str:
        if resource.name == settings.audit_experiment_name:
            return AliasHistory(resource.name).ensure()
        if resource.name == settings.validation_experiment_name:
            return mlflow_utils.ensure_validation_experiment(settings)
        if resource.name == settings.monitoring_experiment_name:
            return mlflow_utils.ensure_monitoring_experiment(settings)
        return mlflow_utils.ensure_project_experiment(settings)

    def model(resource: Resource) -> None:
        registry.ensure_model(resource.name, description=f"{settings.project.use_case} (created by apply_permissions)")

    return Creators(experiment=experiment, model=model)
