"""Promotion across catalogs (promotion_mode: catalogs) on a real SQLite registry.

One registered model per environment catalog; promotion copies the version
(copy_model_version) into the next catalog and sets the alias there.
"""

from __future__ import annotations

import pytest
import yaml
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from src.models.alias_history import AliasHistory
from src.models.model_registry import Alias, Registry
from src.models.model_validator import validate_version
from src.models.promotion import Approval, promote, rollback
from src.models.training_plan import TrainingRequest
from src.utils.config import CONFIG_DIR, load_model_config, resolve_settings
from src.utils.keys import Tag
from tests.conftest import use_store
from tests.pack import MODEL_SHORT

pytestmark = pytest.mark.integration

DEV, STAGING, PROD = (f"{c}_catalog.ml_models.{MODEL_SHORT}" for c in ("dev", "staging", "prod"))


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogs")
    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    content["promotion_mode"] = "catalogs"
    env_config = root / "environment.yaml"
    env_config.write_text(yaml.safe_dump(content))
    with use_store(root) as uri:
        settings = resolve_settings(path=env_config)
        client = MlflowClient(uri, uri)
        yield settings, env_config, Registry(client), AliasHistory(settings.audit_experiment_name, client)


@pytest.fixture(scope="module")
def promoted(catalogs):
    """Two versions trained, validated and promoted through the catalogs; the moves and the state right after."""
    settings, env_config, registry, history = catalogs
    moves = []
    for version in ("1.0.0", "1.1.0"):
        trained = run_training(TrainingRequest(version=version, author="alice", environment_config=env_config))
        assert trained.registered.name == DEV
        assert validate_version(
            settings, load_model_config(), version=trained.registered.version, registry=registry
        ).passed
        staged = promote(settings, Alias.STAGING, actor="alice", registry=registry, history=history)
        released = promote(
            settings,
            Alias.PRODUCTION,
            actor="carol",
            approval=Approval("bob", f"CHG-{version}"),
            registry=registry,
            history=history,
        )
        moves.append((staged, released))
    return {
        "moves": moves,
        "staging": registry.version_at(STAGING, Alias.STAGING),
        "production": registry.version_at(PROD, Alias.PRODUCTION),
        "events": history.events(),
    }


def test_each_alias_lives_in_its_catalog(catalogs, promoted):
    registry = catalogs[2]
    assert {(staged.model, released.model) for staged, released in promoted["moves"]} == {(STAGING, PROD)}
    staging_copy, production_copy = promoted["staging"], promoted["production"]
    assert staging_copy.tags[Tag.COPIED_FROM] == f"models:/{DEV}/2"
    assert production_copy.tags[Tag.COPIED_FROM] == f"models:/{STAGING}/{staging_copy.version}"
    assert production_copy.tags["validation.status"] == "passed"  # the verdict travels with the copy
    assert registry.version_at(DEV, Alias.PRODUCTION) is None  # no alias leaks into another catalog
    assert [(e.model, e.alias, e.to_version) for e in promoted["events"] if e.model == PROD] == [
        (PROD, "production", "1"),
        (PROD, "production", "2"),
    ]


def test_rollback_stays_in_the_production_catalog(catalogs, promoted):
    settings, _, registry, history = catalogs
    move = rollback(settings, Alias.PRODUCTION, actor="carol", reason="INC-9", registry=registry, history=history)
    assert (move.model, move.from_version, move.to_version) == (PROD, "2", "1")
