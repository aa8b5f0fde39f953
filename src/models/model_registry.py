"""Registry-side MLflow access: registered models, versions, tags, aliases, locks and alias history.

Names are always three-level (``catalog.schema.model``) and environments are
aliases, never the deprecated stages, so the same calls work on the embedded
SQLite registry, a tracking server and Unity Catalog.

The registry keeps no history of alias moves, so every move is also recorded
as a run in an audit experiment of the tracking backend: durable, shared by
everyone who uses the same backend, and readable with MLflow's own tools.

Loading a model (for the scorer, the validator and Spark) is here too: with
``src.utils.mlflow_utils``, this is the only module that imports MLflow, and
every ``MlflowException`` leaves it as a ``RegistryError``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow import MlflowClient
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException

from src.utils.errors import ProjectError
from src.utils.keys import ModelMetadata
from src.utils.mlflow_utils import access_refused, outage
from src.utils.naming import check_registered_model_name

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel
    from pyspark.sql import SparkSession


class Alias(StrEnum):
    """The environments a version moves through, in order."""

    DEV = "dev"
    STAGING = "staging"
    PRODUCTION = "production"


class RegistryError(ProjectError, RuntimeError):
    """A registry operation failed or was refused; the registry was left as it was."""


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


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias: who moved it, from which version to which, and why."""

    sequence: int
    at: datetime
    model: str
    alias: str
    action: str
    from_version: str | None
    to_version: str | None
    actor: str
    reason: str
    approved_by: str | None
    run_id: str


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, MlflowException) else str(exc)


class RegistryUnreachable(RegistryError, ConnectionError):
    """The registry's server did not answer within the profile's bounds; nothing was changed by this call."""


class RegistryAccessDenied(RegistryError, PermissionError):
    """The server refused the caller (401/403); the message names the permission the call needed."""


def _failure(doing: str, exc: Exception, needs: str | None = None) -> RegistryError:
    """The error for a failed registry call: what was being done, and the server that did not answer or refused
    the caller, if so (``needs``: the permission the call needs, for a 403)."""
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
            raise _failure(f"cannot read {name} version {version}", exc, f"READ on registered model {name}") from exc
        return self._info(found)

    def version_at(self, name: str, alias: str) -> VersionInfo | None:
        """The version an alias points to, or ``None`` when the alias is not set."""
        try:
            found = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if _missing(exc) or exc.error_code == "INVALID_PARAMETER_VALUE":
                return None
            raise _failure(f"cannot read alias '{alias}' of {name}", exc, f"READ on registered model {name}") from exc
        return self._info(found)

    def model_exists(self, name: str) -> bool:
        try:
            self._client.get_registered_model(name)
        except MlflowException as exc:
            if _missing(exc):
                return False
            raise _failure(f"cannot read {name}", exc, f"READ on registered model {name}") from exc
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
            raise _failure(f"cannot list the versions of {name}", exc, f"READ on registered model {name}") from exc

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
            raise _failure(f"cannot tag {name} version {version}", exc, f"EDIT on registered model {name}") from exc

    def point_alias(self, name: str, alias: str, version: str | None) -> None:
        """Point ``alias`` at ``version``, or remove it when ``version`` is ``None``."""
        try:
            if version is None:
                self._client.delete_registered_model_alias(name, alias)
            else:
                self._client.set_registered_model_alias(name, alias, version)
        except MlflowException as exc:
            right = "EDIT" if version is not None else "MANAGE"  # deleting an alias needs more than setting one
            raise _failure(f"cannot set alias '{alias}' of {name}", exc, f"{right} on registered model {name}") from exc

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
            self._client.create_registered_model(name, description=description)
        except MlflowException as exc:
            if not self.model_exists(name):  # a concurrent first promotion may have created it
                raise _failure(f"cannot create {name}", exc, "the right to create registered models") from exc

    def copy_version(self, source: VersionInfo, destination: str) -> VersionInfo:
        """Copy a version into another registered model (another catalog), tags included."""
        check_registered_model_name(destination)
        try:
            copied = self._client.copy_model_version(source.uri, destination)
            for key, value in source.tags.items():
                self._client.set_model_version_tag(destination, copied.version, key, value)
        except MlflowException as exc:
            raise _failure(
                f"cannot copy {source.uri} to {destination}", exc, f"EDIT on registered model {destination}"
            ) from exc
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
            raise _failure(f"cannot register {model_uri} as {name}", exc, f"EDIT on registered model {name}") from exc
        try:
            client.set_registered_model_alias(name, alias.value, version.version)
        except MlflowException as exc:
            client.delete_model_version(name, version.version)
            raise _failure(
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
            raise _failure(f"cannot read {name}", exc, f"READ on registered model {name}") from exc
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


class AliasHistory:
    """The durable log of alias moves: one run per move in an audit experiment.

    A move is written in two steps around the alias change: the run is
    created RUNNING before, and FINISHED after. Only FINISHED moves are
    history; a move whose alias change failed ends FAILED and is not shown.
    """

    def __init__(self, experiment_name: str, client: MlflowClient | None = None) -> None:
        self._client = client or MlflowClient()
        self._experiment_name = experiment_name
        self._experiment_id: str | None = None

    def ensure(self) -> str:
        """The audit experiment's ID, created if it does not exist yet."""
        return self._experiment()

    def _experiment(self) -> str:
        if self._experiment_id is None:
            try:
                found = self._client.get_experiment_by_name(self._experiment_name)
                self._experiment_id = (
                    found.experiment_id
                    if found is not None
                    else self._client.create_experiment(self._experiment_name, tags={"purpose": "registry audit"})
                )
            except MlflowException as exc:
                raise _failure(
                    "cannot open the audit experiment", exc, f"READ on experiment {self._experiment_name}"
                ) from exc
        return str(self._experiment_id)

    def begin(
        self,
        *,
        model: str,
        alias: str,
        action: str,
        from_version: str | None,
        to_version: str | None,
        actor: str,
        reason: str,
        approved_by: str | None,
    ) -> str:
        """Open the record of a move (before the alias changes); return its run ID."""
        sequence = self._last_sequence(model) + 1
        now = datetime.now(UTC)
        tags = {
            "audit.sequence": f"{sequence:09d}",  # zero-padded: string order is numeric order
            "audit.at": now.isoformat(timespec="seconds"),
            "audit.model": model,
            "audit.alias": alias,
            "audit.action": action,
            "audit.from_version": from_version or "",
            "audit.to_version": to_version or "",
            "audit.actor": actor,
            "audit.reason": reason,
            "audit.approved_by": approved_by or "",
        }
        run_name = f"{action}_{alias}_v{from_version or 'none'}_to_v{to_version or 'none'}"
        try:
            run = self._client.create_run(self._experiment(), tags=tags, run_name=run_name)
        except MlflowException as exc:
            raise _failure(
                "cannot record the move in the audit experiment", exc, f"EDIT on experiment {self._experiment_name}"
            ) from exc
        return str(run.info.run_id)

    def confirm(self, run_id: str) -> None:
        try:
            self._client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        except MlflowException as exc:
            raise _failure(
                "cannot confirm the move in the audit experiment", exc, f"EDIT on experiment {self._experiment_name}"
            ) from exc

    def abandon(self, run_id: str) -> None:
        """Mark a move that did not happen (best effort: it is not history either way)."""
        with suppress(MlflowException):
            self._client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))

    def events(self, model: str | None = None, alias: str | None = None) -> list[AliasEvent]:
        """Confirmed moves, oldest first."""
        filters = ["attributes.status = 'FINISHED'"]
        if model:
            filters.append(f"tags.`audit.model` = '{model}'")
        if alias:
            filters.append(f"tags.`audit.alias` = '{alias}'")
        try:
            runs = self._search(" and ".join(filters))
        except MlflowException as exc:
            raise _failure("cannot read the alias history", exc, f"READ on experiment {self._experiment_name}") from exc
        events = [self._event(run) for run in runs]
        return sorted(events, key=lambda event: (event.model, event.sequence))

    def _search(self, filter_string: str) -> list[object]:
        if self._client.get_experiment_by_name(self._experiment_name) is None:
            return []
        runs: list[object] = []
        token = None
        while True:
            page = self._client.search_runs([self._experiment()], filter_string, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _last_sequence(self, model: str) -> int:
        """The highest sequence number used for ``model`` (any status); called under the alias lock."""
        try:
            if self._client.get_experiment_by_name(self._experiment_name) is None:
                return 0
            runs = self._client.search_runs(
                [self._experiment()],
                f"tags.`audit.model` = '{model}'",
                max_results=1,
                order_by=["tags.`audit.sequence` DESC"],
            )
        except MlflowException as exc:
            raise _failure("cannot read the alias history", exc, f"READ on experiment {self._experiment_name}") from exc
        return int(runs[0].data.tags["audit.sequence"]) if runs else 0

    @staticmethod
    def _event(run: object) -> AliasEvent:
        tags = run.data.tags  # type: ignore[attr-defined]
        return AliasEvent(
            sequence=int(tags["audit.sequence"]),
            at=datetime.fromisoformat(tags["audit.at"]),
            model=tags["audit.model"],
            alias=tags["audit.alias"],
            action=tags["audit.action"],
            from_version=tags["audit.from_version"] or None,
            to_version=tags["audit.to_version"] or None,
            actor=tags["audit.actor"],
            reason=tags["audit.reason"],
            approved_by=tags["audit.approved_by"] or None,
            run_id=run.info.run_id,  # type: ignore[attr-defined]
        )


# --- loading models ----------------------------------------------------------


@dataclass(frozen=True)
class LoadedModel:
    """A model version's native object with what its MLmodel file says about it."""

    native: Any  # the fitted scikit-learn Pipeline
    input_names: tuple[str, ...]
    features: tuple[str, ...]
    feature_set: str | None
    #: The data contract logged with the version (``ModelMetadata.CONTRACT``), as data.
    contract: Mapping[str, Any] | None = None


def load_native_model(uri: str) -> LoadedModel:
    """Load ``uri`` with its flavour (skops, no pickle) and read its signature and metadata."""
    import mlflow.models
    import mlflow.sklearn

    try:
        native = mlflow.sklearn.load_model(uri)
        info = mlflow.models.get_model_info(uri)
    except MlflowException as exc:
        raise _failure(f"cannot load {uri}", exc) from exc
    metadata = info.metadata or {}
    return LoadedModel(
        native=native,
        input_names=tuple(info.signature.inputs.input_names()) if info.signature else (),
        features=tuple(metadata.get(ModelMetadata.FEATURES, ())),
        feature_set=metadata.get(ModelMetadata.FEATURE_SET),
        contract=metadata.get(ModelMetadata.CONTRACT),
    )


def model_contract(uri: str) -> Mapping[str, Any]:
    """The data contract logged with a model version (its MLmodel metadata), without loading the model."""
    import mlflow.models

    try:
        metadata = mlflow.models.get_model_info(uri).metadata or {}
    except MlflowException as exc:
        raise _failure(f"cannot read {uri}", exc) from exc
    contract = metadata.get(ModelMetadata.CONTRACT)
    if contract is None:
        raise RegistryError(f"{uri} carries no data contract (trained before contracts were logged): retrain it")
    return contract  # type: ignore[no-any-return]


def download_model(source: str, destination: Path) -> Path:
    """Copy a version's model directory (its ``source``) under ``destination``; return the local path."""
    import mlflow.artifacts

    try:
        return Path(mlflow.artifacts.download_artifacts(source, dst_path=str(destination)))
    except MlflowException as exc:
        raise _failure(f"cannot download {source}", exc) from exc


def load_pyfunc(path: Path | str, *, check_environment: bool = True) -> PyFuncModel:
    """The model as MLflow's generic pyfunc (what ``mlflow models serve`` and evaluate use).

    ``check_environment=False`` skips MLflow's warning about pins this
    environment does not satisfy, for a caller that checks them itself: the
    warning indexes every installed distribution (~0.9 s on the first load).
    """
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path), suppress_warnings=not check_environment)


def spark_udf(spark: SparkSession, model_uri: str) -> Any:
    """The model as a Spark UDF (``mlflow.pyfunc.spark_udf``) predicting the class, in this environment."""
    import mlflow.pyfunc

    try:
        return mlflow.pyfunc.spark_udf(spark, model_uri=model_uri, result_type="string", env_manager="local")
    except MlflowException as exc:
        raise _failure(f"cannot load {model_uri} on Spark", exc) from exc
