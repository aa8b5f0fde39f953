"""A rollout against a live in-memory endpoint: the version served is checked with its own contract's rows; a
version that never arrives is a failure naming what is served. (Rolling production back under load:
tests/integration/test_registry_lifecycle.py and test_cd.py.)"""

from __future__ import annotations

import threading

import pytest
import uvicorn

from src.components.alias_watcher import ModelSlot
from src.components.rollout import roll_out
from src.components.scoring import load_scorer
from src.components.serving import ServingConfig, create_app
from src.utils.config import resolve_settings
from tests.conftest import eventually, free_port, use_store


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from pipelines.training_pipeline import run_training
    from src.models.training_plan import TrainingRequest

    with use_store(tmp_path_factory.mktemp("rollout")):
        registered = run_training(TrainingRequest(version="1.0.0", author="alice")).registered
        scorer = load_scorer(registered.name, version=registered.version)
        port = free_port()
        app = create_app(ModelSlot(scorer), ServingConfig(model_name=registered.name, alias="staging"))
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        eventually(lambda: server.started or not thread.is_alive(), "the test endpoint starting")
        assert server.started, "the test endpoint did not start"
        yield f"http://127.0.0.1:{port}", registered
        server.should_exit = True
        thread.join(timeout=30)


def test_the_version_served_passes_its_release_checks(live):
    url, registered = live
    outcome = roll_out(resolve_settings(), "staging", url, registered.version, actor="ci", max_p99_ms=5000)
    assert outcome.passed and outcome.rolled_back is None
    assert outcome.describe().endswith("release checks passed")


def test_a_version_that_never_arrives_is_a_failure_and_staging_is_never_rolled_back(live):
    url, registered = live
    outcome = roll_out(resolve_settings(), "staging", url, "7", actor="ci", timeout_s=0.3)
    assert not outcome.passed and outcome.rolled_back is None
    assert outcome.failures == [f"{url} serves version {registered.version} after 0.3 s, not 7"]
