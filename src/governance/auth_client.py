"""The door to the MLflow server's basic-auth API: users and their grants, read and written.

The third module that imports MLflow (with ``src.utils.mlflow_utils`` and
``src.models.model_registry``): the auth API is neither tracking nor registry,
and a change of MLflow version touches it here only. It authenticates as
whoever ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` name (an
admin, to change rights), and every ``MlflowException`` leaves it as an
``AccessDenied`` (401/403, naming the permission) or a ``BackendError`` saying what was being done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient
from mlflow.server.auth.routes import LIST_USERS

from src.utils.mlflow_utils import BackendError, BackendUnreachable, access_refused, outage

ResourceType = Literal["experiment", "registered_model"]


@dataclass(frozen=True)
class UserGrants:
    """One user of the server and the grants it holds, keyed by (resource type, resource ID)."""

    username: str
    is_admin: bool
    grants: dict[tuple[str, str], str]


def _failure(doing: str, exc: MlflowException, needs: str) -> BackendError:
    down = outage(exc)
    if down is not None:
        return BackendUnreachable(f"{doing}: {down}")
    refused = access_refused(exc, needs)
    if refused is not None:
        return refused
    return BackendError(f"{doing}: {exc.message}")


class AuthClient:
    """Users and grants on one MLflow server running ``--app-name basic-auth``."""

    ADMIN = "the server's admin rights"

    def __init__(self, tracking_uri: str) -> None:
        self._client = AuthServiceClient(tracking_uri)

    def users(self) -> list[UserGrants]:
        """Every user with the grants of its own (synthetic) role."""
        try:
            found = self._client._request(LIST_USERS, "GET")  # the client has no public wrapper for this route
        except MlflowException as exc:
            raise _failure("cannot list the server's users", exc, self.ADMIN) from exc
        return [
            UserGrants(
                username=user["username"],
                is_admin=bool(user.get("is_admin")),
                grants={
                    (grant["resource_type"], grant["resource_pattern"]): grant["permission"]
                    for role in user.get("roles", [])
                    if role.get("name") == f"__user_{user['id']}__"
                    for grant in role.get("permissions", [])
                },
            )
            for user in found.get("users", [])
        ]

    def create_user(self, username: str, password: str) -> None:
        try:
            self._client.create_user(username, password)
        except MlflowException as exc:
            raise _failure(f"cannot create user {username}", exc, self.ADMIN) from exc

    def grant(self, username: str, resource_type: ResourceType, resource_id: str, permission: str) -> None:
        try:
            self._client.grant_user_permission(username, resource_type, resource_id, permission)
        except MlflowException as exc:
            raise _failure(f"cannot grant {permission} on {resource_type} {resource_id} to {username}", exc,
                           f"MANAGE on {resource_type} {resource_id}") from exc  # fmt: skip

    def revoke(self, username: str, resource_type: ResourceType, resource_id: str) -> None:
        try:
            self._client.revoke_user_permission(username, resource_type, resource_id)
        except MlflowException as exc:
            raise _failure(f"cannot revoke {username}'s right on {resource_type} {resource_id}", exc,
                           f"MANAGE on {resource_type} {resource_id}") from exc  # fmt: skip
