"""Unity Catalog readiness: the registry code path only makes calls Unity Catalog supports.

No Unity Catalog server installs here (DESIGN), so this test drives the real
Registry and promotion code against a recording registry client that
implements exactly the Unity Catalog subset of MlflowClient: three-level
names, aliases, tags, copy_model_version. A stage call, or any other method,
does not exist on it and fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from src.models.model_registry import Alias, Registry
from src.models.promotion import Approval, promote
from src.utils.config import resolve_settings
from src.utils.naming import REGISTERED_MODEL_PATTERN

#: MlflowClient registry methods available against Unity Catalog (no stages, no latest-versions).
UNITY_CATALOG_METHODS = {
    "create_registered_model",
    "get_registered_model",
    "update_registered_model",
    "set_registered_model_tag",
    "delete_registered_model",
    "delete_registered_model_tag",
    "create_model_version",
    "get_model_version",
    "delete_model_version",
    "set_model_version_tag",
    "set_registered_model_alias",
    "delete_registered_model_alias",
    "get_model_version_by_alias",
    "copy_model_version",
}


@dataclass
class UnityCatalogRecorder:
    """An in-memory registry speaking only Unity Catalog's subset; records every call."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    models: dict[str, dict] = field(default_factory=dict)

    def __getattr__(self, method: str):
        if method not in UNITY_CATALOG_METHODS:
            raise AssertionError(f"{method} is not available in Unity Catalog")
        return getattr(self, f"_{method}")

    def _record(self, method: str, name: str) -> None:
        assert REGISTERED_MODEL_PATTERN.match(name), f"{method} on a name that is not three-level: {name}"
        self.calls.append((method, name))

    def _model(self, name: str) -> dict:
        if name not in self.models:
            raise MlflowException(f"{name} not found", error_code=RESOURCE_DOES_NOT_EXIST)
        return self.models[name]

    def _get_registered_model(self, name):
        self._record("get_registered_model", name)
        return SimpleNamespace(name=name, tags=dict(self._model(name)["tags"]))

    def _create_registered_model(self, name, tags=None, description=None):
        self._record("create_registered_model", name)
        self.models[name] = {"tags": dict(tags or {}), "versions": {}, "aliases": {}}

    def _update_registered_model(self, name, description=None):
        self._record("update_registered_model", name)

    def _set_registered_model_tag(self, name, key, value):
        self._record("set_registered_model_tag", name)
        self._model(name)["tags"][key] = value

    def _delete_registered_model_tag(self, name, key):
        self._record("delete_registered_model_tag", name)
        self._model(name)["tags"].pop(key, None)

    def _create_model_version(self, name, source, run_id=None, tags=None, description=None, model_id=None):
        self._record("create_model_version", name)
        versions = self._model(name)["versions"]
        version = str(len(versions) + 1)
        versions[version] = {"source": source, "run_id": run_id, "tags": dict(tags or {})}
        return self._version(name, version)

    def _version(self, name, version):
        data = self._model(name)["versions"][version]
        aliases = [a for a, v in self._model(name)["aliases"].items() if v == version]
        return SimpleNamespace(
            name=name,
            version=version,
            run_id=data["run_id"],
            source=data["source"],
            tags=dict(data["tags"]),
            aliases=aliases,
        )

    def _get_model_version(self, name, version):
        self._record("get_model_version", name)
        return self._version(name, str(version))

    def _delete_model_version(self, name, version):
        self._record("delete_model_version", name)
        self._model(name)["versions"].pop(str(version))

    def _set_model_version_tag(self, name, version, key, value):
        self._record("set_model_version_tag", name)
        self._model(name)["versions"][str(version)]["tags"][key] = value

    def _set_registered_model_alias(self, name, alias, version):
        self._record("set_registered_model_alias", name)
        self._model(name)["aliases"][alias] = str(version)

    def _delete_registered_model_alias(self, name, alias):
        self._record("delete_registered_model_alias", name)
        self._model(name)["aliases"].pop(alias, None)

    def _get_model_version_by_alias(self, name, alias):
        self._record("get_model_version_by_alias", name)
        if alias not in self._model(name)["aliases"]:
            raise MlflowException(f"alias {alias} not found", error_code=RESOURCE_DOES_NOT_EXIST)
        return self._version(name, self._model(name)["aliases"][alias])

    def _copy_model_version(self, src_model_uri, dst_name):
        source_name, version = src_model_uri.removeprefix("models:/").rsplit("/", 1)
        self._record("copy_model_version", dst_name)
        data = self._model(source_name)["versions"][version]
        return self._create_model_version(dst_name, source=src_model_uri, run_id=data["run_id"])


class RecordingHistory:
    """Alias history kept in memory (on Databricks it is an experiment of the workspace)."""

    def __init__(self):
        self.moves = []

    def begin(self, **move):
        self.moves.append(move)
        return str(len(self.moves))

    def confirm(self, run_id):
        pass

    def abandon(self, run_id):
        raise AssertionError("no move should be abandoned here")

    def events(self, model=None, alias=None):
        return []

    def open_moves(self, model, alias):
        return []


class GatePassed:
    """The gate's verdict, as read from a Databricks workspace's tracking (unreachable here): passed."""

    def problem(self, version):
        return None


@pytest.fixture
def unity_catalog_settings(write_config, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    monkeypatch.delenv("UNITY_CATALOG_NAME", raising=False)

    def settings(mode: str):
        path = write_config("environment.yaml", {"promotion_mode": mode})
        return resolve_settings("prod", path)

    return settings


def _register(registry: Registry, name: str) -> None:
    registry.register(
        name=name, model_uri="models:/m-123", run_id="r1", model_id="m-123", model_description="d",
        version_description="v", model_tags={"owner": "o"},
        version_tags={"author": "alice", "validation.status": "passed", "features": "x"},
    )  # fmt: skip


@pytest.mark.parametrize("mode", ["aliases", "catalogs"])
def test_register_and_promote_use_only_unity_catalog_calls(unity_catalog_settings, mode):
    settings = unity_catalog_settings(mode)
    assert settings.registry_uri == "databricks-uc"
    client = UnityCatalogRecorder()
    registry = Registry(client)  # type: ignore[arg-type]
    _register(registry, settings.model_name_for(Alias.DEV))
    promote(settings, Alias.STAGING, actor="alice", registry=registry, history=RecordingHistory(),
            verdicts=GatePassed())  # type: ignore[arg-type]  # fmt: skip
    promote(
        settings,
        Alias.PRODUCTION,
        actor="carol",
        approval=Approval("bob", "CHG-1"),
        registry=registry,
        history=RecordingHistory(),
        verdicts=GatePassed(),
    )  # type: ignore[arg-type]
    assert {method for method, _ in client.calls} <= UNITY_CATALOG_METHODS
    production = settings.model_name_for(Alias.PRODUCTION)
    assert client.models[production]["aliases"]["production"]
    if mode == "catalogs":
        name = settings.registered_model_name.split(".")[-1]
        assert production == f"prod_catalog.ml_models.{name}"
        assert settings.model_name_for(Alias.DEV) == f"dev_catalog.ml_models.{name}"
        assert ("copy_model_version", production) in client.calls
    else:
        assert len(client.models) == 1 and "copy_model_version" not in {m for m, _ in client.calls}


def test_a_stage_transition_would_fail_the_check():
    with pytest.raises(AssertionError, match="transition_model_version_stage is not available"):
        UnityCatalogRecorder().transition_model_version_stage  # noqa: B018 - the attribute access is the test
