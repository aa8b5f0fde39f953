"""Registry-side MLflow access: registered models, versions, tags, aliases and the registry-tag lease.

Names are always three-level (``catalog.schema.model``) and environments are
aliases, never the deprecated stages, so the same calls work on the embedded
SQLite registry, a tracking server and Unity Catalog.

The history of alias moves is ``src.models.alias_history``; loading a model
(for the scorer, the validator and Spark) is ``src.models.model_loading``.
With ``src.utils.mlflow_utils`` these are the modules that import MLflow, and
every ``MlflowException`` leaves them as a ``RegistryError``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from src.utils.errors import RegistryError
from src.utils.keys import Tag
from src.utils.mlflow_utils import access_refused, outage, store_trouble
from src.utils.naming import check_registered_model_name

if TYPE_CHECKING:
    pass


class Alias(StrEnum):
    """The environments a version moves through, in order."""

    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version and the alias it was given."""

    name: str
    version: str
    alias: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


@dataclass(frozen=True)
class VersionInfo:
    """What the registry knows about one model version."""

    name: str
    version: str
    run_id: str | None
    source: str
    tags: Mapping[str, str]
    aliases: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, MlflowException) else str(exc)


class RegistryUnreachable(RegistryError, ConnectionError):
    """The registry's server did not answer within the profile's bounds; nothing was changed by this call."""


class RegistryAccessDenied(RegistryError, PermissionError):
    """The server refused the caller (401/403); the message names the permission the call needed."""


def failure(doing: str, exc: Exception, needs: str | None = None) -> RegistryError:
    """The error for a failed registry call: what was being done, and the server that did not answer or refused
    the caller, if so (``needs``: the permission the call needs, for a 403)."""
    trouble = store_trouble(exc)
    if trouble is not None:
        kind = RegistryUnreachable if isinstance(trouble, ConnectionError) else RegistryError
        return kind(f"{doing}: {trouble}")
    down = outage(exc)
    if down is not None:
        return RegistryUnreachable(f"{doing}: {down}")
    refused = access_refused(exc, needs)
    if refused is not None:
        return RegistryAccessDenied(f"{doing}: {refused}")
    return RegistryError(f"{doing}: {_message(exc)}")


def _missing(exc: MlflowException) -> bool:
    return exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}


class Registry:
    """Model registry operations, each either done whole or refused with a RegistryError."""

    def __init__(self, client: MlflowClient | None = None) -> None:
        self._client = client or MlflowClient()

    # --- reading -------------------------------------------------------------

    def version(self, name: str, version: str) -> VersionInfo:
        """One version; a clear error when the model or the version does not exist."""
        try:
            found = self._client.get_model_version(name, str(version))
        except MlflowException as exc:
            if _missing(exc):
                raise RegistryError(f"{name} has no version {version!r}") from None
            raise failure(f"cannot read {name} version {version}", exc, f"READ on registered model {name}") from exc
        return self._info(found)

    def version_at(self, name: str, alias: str) -> VersionInfo | None:
        """The version an alias points to, or ``None`` when the alias is not set."""
        try:
            found = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if _missing(exc) or exc.error_code == "INVALID_PARAMETER_VALUE":
                return None
            raise failure(f"cannot read alias '{alias}' of {name}", exc, f"READ on registered model {name}") from exc
        return self._info(found)

    def model_exists(self, name: str) -> bool:
        try:
            self._client.get_registered_model(name)
        except MlflowException as exc:
            if _missing(exc):
                return False
            raise failure(f"cannot read {name}", exc, f"READ on registered model {name}") from exc
        return True

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name`` (none when the model does not exist), all pages read."""
        found: list[object] = []
        token: str | None = None
        try:
            while True:
                page = self._client.search_model_versions(f"name = '{name}'", max_results=1000, page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    return [self._info(version) for version in found]
        except MlflowException as exc:
            if _missing(exc):
                return []
            raise failure(f"cannot list the versions of {name}", exc, f"READ on registered model {name}") from exc

    def renamed_to(self, name: str) -> str | None:
        """The current name of the model the project registered as ``name``, if it was renamed (else ``None``)."""
        try:
            found = self._client.search_registered_models(f"tags.`{Tag.REGISTERED_AS.value}` = '{name}'")
        except MlflowException as exc:
            raise failure(
                f"cannot search for the model registered as {name}", exc, "READ on registered models"
            ) from exc
        names = sorted(str(model.name) for model in found if model.name != name)
        return names[0] if names else None

    def rename_model(self, name: str, new_name: str) -> None:
        check_registered_model_name(new_name)
        try:
            self._client.rename_registered_model(name, new_name)
        except MlflowException as exc:
            raise failure(f"cannot rename {name} to {new_name}", exc, f"EDIT on registered model {name}") from exc

    @staticmethod
    def _info(found: object) -> VersionInfo:
        return VersionInfo(
            name=found.name,  # type: ignore[attr-defined]
            version=str(found.version),  # type: ignore[attr-defined]
            run_id=found.run_id,  # type: ignore[attr-defined]
            source=found.source,  # type: ignore[attr-defined]
            tags=dict(found.tags or {}),  # type: ignore[attr-defined]
            aliases=tuple(found.aliases or ()),  # type: ignore[attr-defined]
        )

    # --- writing -------------------------------------------------------------

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        try:
            for key, value in tags.items():
                self._client.set_model_version_tag(name, version, key, value)
        except MlflowException as exc:
            raise failure(f"cannot tag {name} version {version}", exc, f"EDIT on registered model {name}") from exc

    def point_alias(self, name: str, alias: str, version: str | None) -> None:
        """Point ``alias`` at ``version``, or remove it when ``version`` is ``None``."""
        try:
            if version is None:
                self._client.delete_registered_model_alias(name, alias)
            else:
                self._client.set_registered_model_alias(name, alias, version)
        except MlflowException as exc:
            right = "EDIT" if version is not None else "MANAGE"  # deleting an alias needs more than setting one
            raise failure(f"cannot set alias '{alias}' of {name}", exc, f"{right} on registered model {name}") from exc

    def delete_version(self, name: str, version: str) -> None:
        """Remove a version (used to undo a copy whose promotion failed)."""
        with suppress(MlflowException):
            self._client.delete_model_version(name, version)

    def ensure_model(self, name: str, description: str) -> None:
        """Create the registered model if it does not exist yet (e.g. a catalog's first promotion)."""
        check_registered_model_name(name)
        if self.model_exists(name):
            return
        try:
            self._client.create_registered_model(name, tags={Tag.REGISTERED_AS: name}, description=description)
        except MlflowException as exc:
            if not self.model_exists(name):  # a concurrent first promotion may have created it
                raise failure(f"cannot create {name}", exc, "the right to create registered models") from exc

    def copy_version(self, source: VersionInfo, destination: str) -> VersionInfo:
        """Copy a version into another registered model (another catalog), tags included."""
        check_registered_model_name(destination)
        right = f"EDIT on registered model {destination}"
        try:
            copied = self._client.copy_model_version(source.uri, destination)
        except MlflowException as exc:
            raise failure(f"cannot copy {source.uri} to {destination}", exc, right) from exc
        try:
            for key, value in source.tags.items():
                self._client.set_model_version_tag(destination, copied.version, key, value)
        except MlflowException as exc:
            self.delete_version(destination, str(copied.version))  # a copy without its author or verdict: none
            raise failure(f"cannot tag the copy of {source.uri} in {destination}", exc, right) from exc
        return self.version(destination, str(copied.version))

    def register(
        self,
        *,
        name: str,
        model_uri: str,
        run_id: str,
        model_id: str | None,
        model_description: str,
        version_description: str,
        model_tags: Mapping[str, str],
        version_tags: Mapping[str, str],
        alias: Alias = Alias.DEV,
    ) -> RegisteredVersion:
        """Register ``model_uri`` as a new version of ``name`` and point ``alias`` at it.

        The version is created with its tags and description in one call; if
        the alias cannot be set, the version is deleted again, and a registered
        model created for a version that failed is deleted too, so a failure
        never leaves a half-registered model behind.
        """
        check_registered_model_name(name)
        client = self._client
        created = False
        try:
            model_tags = {**model_tags, Tag.REGISTERED_AS: name}
            if self.model_exists(name):
                client.update_registered_model(name, description=model_description)
                for key, value in model_tags.items():
                    client.set_registered_model_tag(name, key, value)
            else:
                client.create_registered_model(name, tags=dict(model_tags), description=model_description)
                created = True
            version = client.create_model_version(
                name,
                source=model_uri,
                run_id=run_id,
                tags=dict(version_tags),
                description=version_description,
                model_id=model_id,  # a tracking server requires it for a models:/<model_id> source
            )
        except MlflowException as exc:
            if created:  # a model created for this version must not stay behind empty
                with suppress(MlflowException):
                    client.delete_registered_model(name)
            raise failure(f"cannot register {model_uri} as {name}", exc, f"EDIT on registered model {name}") from exc
        try:
            client.set_registered_model_alias(name, alias.value, version.version)
        except MlflowException as exc:
            client.delete_model_version(name, version.version)
            raise failure(
                f"cannot set alias {alias.value!r} on {name} v{version.version}",
                exc,
                f"EDIT on registered model {name}",
            ) from exc
        return RegisteredVersion(name=name, version=str(version.version), alias=alias.value)

    # --- mutual exclusion ----------------------------------------------------

    @contextmanager
    def lock(
        self, name: str, key: str, *, lease_s: float = 60.0, settle_s: float = 0.25, timeout_s: float = 120.0
    ) -> Iterator[Callable[[], bool]]:
        """Hold an exclusive lease on ``key`` of a registered model; yield a check that it is still ours.

        MLflow offers no compare-and-set, so this is Fischer's algorithm over a
        registered-model tag: write your token when the tag is free or
        expired, wait ``settle_s``, and own the lock only if your token is
        still there. It is safe while every writer's read-to-write gap is
        shorter than ``settle_s`` (a few milliseconds against a local store or
        a nearby server); an expired lease (a crashed holder) is taken over.
        """
        tag = f"lock.{key}"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout_s
        while True:
            holder = self._read_lock(name, tag)
            if (holder is None or holder[1] < time.time()) and self._try_write_tag(
                name, tag, f"{token} {time.time() + lease_s:.3f}"
            ):
                time.sleep(settle_s)
                current = self._read_lock(name, tag)
                if current is not None and current[0] == token:
                    break
            if time.monotonic() > deadline:
                raise RegistryError(f"could not lock {key!r} of {name} within {timeout_s:.0f} s (held by another move)")
            time.sleep(settle_s / 2)

        def held() -> bool:
            current = self._read_lock(name, tag)
            return current is not None and current[0] == token and current[1] > time.time()

        try:
            yield held
        finally:
            # Release only our own lease; if the backend is down, the lease expires on its own
            # and the error that brought us here is the one the caller sees.
            with suppress(RegistryError, MlflowException):
                current = self._read_lock(name, tag)
                if current is not None and current[0] == token:
                    self._client.delete_registered_model_tag(name, tag)

    def _read_lock(self, name: str, tag: str) -> tuple[str, float] | None:
        try:
            value = self._client.get_registered_model(name).tags.get(tag)
        except MlflowException as exc:
            raise failure(f"cannot read {name}", exc, f"READ on registered model {name}") from exc
        if not value:
            return None
        token, _, expiry = value.partition(" ")
        return token, float(expiry or 0)

    def _try_write_tag(self, name: str, key: str, value: str) -> bool:
        """Write a lock tag; ``False`` when a concurrent writer won the race.

        SQL stores insert a new tag without an upsert, so two first writers
        collide on the unique key: one of them gets an error. A failed write
        followed by a successful read is that collision; a failed read means
        the backend is down, and raises.
        """
        try:
            self._client.set_registered_model_tag(name, key, value)
        except MlflowException:
            self._read_lock(name, key)
            return False
        return True
