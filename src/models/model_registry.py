"""Registry-side MLflow access: registered models, versions, tags and aliases.

Names are always three-level (``catalog.schema.model``) and environments are
aliases, never the deprecated stages, so the same calls work on the embedded
SQLite registry, a tracking server and Unity Catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from src.utils.naming import check_registered_model_name


class Alias(StrEnum):
    """The environments a version moves through, in order."""

    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"


class RegistryError(RuntimeError):
    """A registry operation failed; the registry was left as it was."""


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version and the alias it was given."""

    name: str
    version: str
    alias: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def _ensure_registered_model(client: MlflowClient, name: str, description: str, tags: Mapping[str, str]) -> None:
    """Create the registered model on first use; keep its description and tags current."""
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(name, tags=dict(tags), description=description)
        return
    client.update_registered_model(name, description=description)
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)


def register_model(
    *,
    name: str,
    model_uri: str,
    run_id: str,
    model_description: str,
    version_description: str,
    model_tags: Mapping[str, str],
    version_tags: Mapping[str, str],
    alias: Alias = Alias.DEV,
) -> RegisteredVersion:
    """Register ``model_uri`` as a new version of ``name`` and point ``alias`` at it.

    The version is created with its tags and description in one call; if the
    alias cannot be set, the version is deleted again, so a failure never
    leaves a half-registered version behind.
    """
    check_registered_model_name(name)
    client = MlflowClient()
    try:
        _ensure_registered_model(client, name, model_description, model_tags)
        version = client.create_model_version(
            name, source=model_uri, run_id=run_id, tags=dict(version_tags), description=version_description
        )
    except MlflowException as exc:
        raise RegistryError(f"cannot register {model_uri} as {name}: {exc.message}") from exc
    try:
        client.set_registered_model_alias(name, alias.value, version.version)
    except MlflowException as exc:
        client.delete_model_version(name, version.version)
        raise RegistryError(f"cannot set alias {alias.value!r} on {name} v{version.version}: {exc.message}") from exc
    return RegisteredVersion(name=name, version=str(version.version), alias=alias.value)
