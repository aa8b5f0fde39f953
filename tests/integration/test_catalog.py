"""The feature catalog is generated from the definitions, the lifecycle and the applied store; CI keeps it fresh."""

from __future__ import annotations

import pytest

from src.features import catalog, lifecycle_record
from src.features.catalog import CATALOG, render
from src.features.feature_definitions import DEFINITIONS
from src.features.lifecycle_record import FeatureState, LifecycleStatus, load_states, store_ready
from src.features.store_backend import FeatureStoreError
from src.features.store_repository import apply_and_materialize, feature_service_name
from src.utils.config import load_feature_config, resolve_settings

pytestmark = pytest.mark.integration

LOCAL = LifecycleStatus.LOCAL


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """An embedded store applied from the shipped configuration, selected through $FEATURE_STORE_DIR."""
    directory = tmp_path_factory.mktemp("catalog-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEATURE_STORE_DIR", str(directory))
        patch.delenv("ML_ENV", raising=False)
        apply_and_materialize(resolve_settings().feature_store)
        yield directory


def test_committed_catalog_is_up_to_date(applied):
    assert CATALOG.read_text() == render(), "run `make docs` and commit docs/FEATURE_CATALOG.md"


def test_catalog_lists_every_feature_with_status_store_and_users(applied):
    text = render()
    config, states = load_feature_config(), load_states()
    view, service = f"{resolve_settings().feature_store.project}_features", feature_service_name(config)
    for definition in DEFINITIONS:
        name, used = definition.name, definition.name in config.features
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {states[name].status.value} |" in row and row.endswith("| yes |" if used else "| - |"), row
        section = text.split(f"### `{name}`", 1)[1].split("###", 1)[0]
        if used:
            assert f"- feature view: `{view}`; feature services: `{service}`" in section
        elif name not in store_ready():
            assert "- feature view: not in the store; feature services: none" in section
    assert max(len(line) for line in text.splitlines() if line.startswith("|")) <= 100  # readable at 100 columns


def test_the_catalog_needs_the_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEATURE_STORE_DIR", str(tmp_path / "never-built"))
    assert catalog.main(["--check"]) == 2
    assert "run `make features` first (the catalog reads the store)" in capsys.readouterr().err


def test_a_feature_set_with_a_local_feature_is_not_applied(tmp_path, monkeypatch):
    first = load_feature_config().features[0]
    recorded = lifecycle_record.load_states
    monkeypatch.setattr(lifecycle_record, "load_states", lambda *a: {**recorded(*a), first: FeatureState(LOCAL)})
    store = resolve_settings(environ={"FEATURE_STORE_DIR": str(tmp_path / "store")}).feature_store
    with pytest.raises(FeatureStoreError, match=rf"not ready for the store: {first} \(LOCAL\)"):
        apply_and_materialize(store, load_feature_config())
    assert not (tmp_path / "store").exists()  # refused before anything was written
