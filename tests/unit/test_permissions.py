"""Planning and applying rights: what a server lacks becomes changes in order; a matching server plans nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from src.governance.auth_client import UserGrants
from src.governance.permissions import Change, Creators, PermissionsRefused, ServerState, apply, plan
from src.governance.policy import Resource, desired_grants, governed, members
from src.utils.config import load_governance_config, resolve_settings

SETTINGS = resolve_settings(environ={})
CONFIG = load_governance_config()


def _ids(present: bool = True) -> dict[Resource, str | None]:
    found: dict[Resource, str | None] = {}
    for number, resource in enumerate(governed(SETTINGS), start=1):
        found[resource] = (resource.name if resource.type == "registered_model" else str(number)) if present else None
    return found


def _matching_users(ids: dict[Resource, str | None]) -> list[UserGrants]:
    """The users and grants a server that already applied the config would report."""
    by_user: dict[str, dict[tuple[str, str], str]] = {}
    for grant in desired_grants(CONFIG, SETTINGS):
        by_user.setdefault(grant.user, {})[(grant.resource.type, str(ids[grant.resource]))] = grant.permission
    return [UserGrants("admin", True, {})] + [UserGrants(u, False, g) for u, g in by_user.items()]


@dataclass
class RecordingClient:
    """Stands in for the auth API's writes only (the real one is tested against a server in integration)."""

    calls: list[tuple] = field(default_factory=list)

    def create_user(self, username: str, password: str) -> None:
        self.calls.append(("create_user", username))

    def grant(self, username: str, resource_type: str, resource_id: str, permission: str) -> None:
        self.calls.append(("grant", username, resource_type, resource_id, permission))

    def revoke(self, username: str, resource_type: str, resource_id: str) -> None:
        self.calls.append(("revoke", username, resource_type, resource_id))


def test_a_server_that_matches_plans_nothing():
    ids = _ids()
    assert plan(CONFIG, SETTINGS, ServerState(_matching_users(ids), ids)) == []


def test_an_empty_server_gets_resources_then_users_then_grants():
    changes = plan(CONFIG, SETTINGS, ServerState([UserGrants("admin", True, {})], _ids(present=False)))
    actions = [c.action for c in changes]
    assert actions == sorted(actions, key=["create", "create user", "grant"].index)
    assert actions.count("create") == len(governed(SETTINGS))
    assert actions.count("create user") == len(members(CONFIG))
    assert actions.count("grant") == len(desired_grants(CONFIG, SETTINGS))


def test_a_changed_and_a_stray_grant_are_changed_and_revoked():
    ids = _ids()
    users = _matching_users(ids)
    model = ("registered_model", SETTINGS.model_name_for("production"))
    auditor = next(u for u in users if u.username == "auditor@example.com")
    auditor.grants[model] = "MANAGE"
    users.append(UserGrants("mallory", False, {model: "EDIT"}))
    users[0].grants[model] = "MANAGE"  # an admin's grant is never touched
    changes = plan(CONFIG, SETTINGS, ServerState(users, ids))
    assert [c.describe() for c in changes] == [
        f"change auditor@example.com on registered model {model[1]}: MANAGE -> READ",
        f"revoke mallory's EDIT on registered model {model[1]}",
    ]


def test_apply_refuses_a_member_without_a_password_before_any_change():
    client = RecordingClient()
    changes = [Change("grant", "bob", Resource("registered_model", "m"), "READ"), Change("create user", user="eve")]
    with pytest.raises(PermissionsRefused, match="no password for eve"):
        apply(changes, client, Creators(lambda r: "1", lambda r: None), {}, passwords={})  # type: ignore[arg-type]
    assert client.calls == []


def test_apply_grants_on_the_id_of_an_experiment_it_just_created():
    client = RecordingClient()
    experiment = Resource("experiment", "/data-science/iris/x")
    changes = [Change("create", resource=experiment), Change("grant", "bob", experiment, "EDIT"),
               Change("change", "eve", Resource("registered_model", "m"), "READ", before="MANAGE")]  # fmt: skip
    apply(changes, client, Creators(lambda r: "42", lambda r: None), {experiment: None}, {})  # type: ignore[arg-type]
    assert client.calls == [
        ("grant", "bob", "experiment", "42", "EDIT"),
        ("revoke", "eve", "registered_model", "m"),
        ("grant", "eve", "registered_model", "m", "READ"),
    ]
