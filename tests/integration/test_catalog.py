"""The feature catalog is generated from the definitions, the lifecycle and the applied store; CI keeps it fresh."""

from __future__ import annotations

import pytest

from src.features import catalog
from src.features.catalog import CATALOG, render
from src.features.feature_set import FEATURES
from src.features.store_backend import FeatureStoreError
from src.features.store_repository import apply_and_materialize
from src.utils.config import load_feature_config, resolve_settings

pytestmark = pytest.mark.integration


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
    for name in FEATURES:
        assert f"| `{name}` |" in text
    row = next(line for line in text.splitlines() if line.startswith("| `iris_petal_ratio_v2` |"))
    assert row == "| `iris_petal_ratio_v2` | REGISTERED | `log(petal_length_cm / petal_width_cm)` | yes |"
    section = text.split("### `iris_petal_ratio_v2`", 1)[1].split("###", 1)[0]
    assert "- feature view: `iris_features`; feature services: `iris_species_features_v1`" in section
    row = next(line for line in text.splitlines() if line.startswith("| `iris_sepal_ratio_v1` |"))
    assert "| LOCAL |" in row and row.endswith("| - |")  # LOCAL: not used
    assert "- feature view: not in the store; feature services: none" in text.split("### `iris_sepal_ratio_v1`")[1]
    assert max(len(line) for line in text.splitlines() if line.startswith("|")) <= 100  # readable at 100 columns


def test_the_catalog_needs_the_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEATURE_STORE_DIR", str(tmp_path / "never-built"))
    assert catalog.main(["--check"]) == 2
    assert "run `make features` first (the catalog reads the store)" in capsys.readouterr().err


def test_a_feature_set_with_a_local_feature_is_not_applied(tmp_path, write_config):
    path = write_config("feature_config.yaml", {"features": [*load_feature_config().features, "iris_sepal_ratio_v1"]})
    store = resolve_settings(environ={"FEATURE_STORE_DIR": str(tmp_path / "store")}).feature_store
    with pytest.raises(FeatureStoreError, match=r"not ready for the store: iris_sepal_ratio_v1 \(LOCAL\)"):
        apply_and_materialize(store, load_feature_config(path))
    assert not (tmp_path / "store").exists()  # refused before anything was written
