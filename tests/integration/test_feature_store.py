"""The Feast store built from the definitions: point-in-time training rows and online rows equal the builder's."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from pipelines.training_plan import TrainingRefused, TrainingRequest
from src.data.load_data import RAW_FEATURE_COLUMNS, load_bundled_iris
from src.features import lifecycle
from src.features.feature_builder import build_features
from src.features.feature_store import (
    ENTITY_KEY,
    FIRST_EVENT,
    TIMESTAMP,
    StoreLocation,
    apply_and_materialize,
    entity_frame,
    historical_features,
    online_features,
    registered_features,
)
from src.features.lifecycle import LifecycleStatus, advance, check, load_states
from src.utils.config import CONFIG_DIR, PROJECT_ROOT, load_feature_config
from tests.conftest import use_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def location(tmp_path_factory):
    return StoreLocation(tmp_path_factory.mktemp("feature-store"))


@pytest.fixture(scope="module")
def store(location):
    return apply_and_materialize(location)


@pytest.fixture(scope="module")
def expected():
    iris = load_bundled_iris()
    features = build_features(iris.drop(columns="species"), load_feature_config().features)
    return pd.concat([entity_frame(iris), features], axis=1)


def test_historical_features_are_the_builder_s(store, expected):
    config = load_feature_config()
    entities = expected[[ENTITY_KEY, TIMESTAMP]]
    rows = historical_features(store, config, entities).sort_values(ENTITY_KEY, ignore_index=True)
    pd.testing.assert_frame_equal(
        rows[list(config.features)], expected[list(config.features)].reset_index(drop=True), check_dtype=False
    )


def test_point_in_time_join_does_not_see_the_future(store, expected):
    config = load_feature_config()
    early = expected[[ENTITY_KEY, TIMESTAMP]].head(3).assign(**{TIMESTAMP: FIRST_EVENT - timedelta(days=1)})
    rows = historical_features(store, config, early)
    assert rows[list(config.features)].isna().all().all()  # asked before the flowers were measured


def test_online_features_by_key_are_the_builder_s(store, expected):
    config = load_feature_config()
    rows = online_features(store, config, [3, 150, 1])
    want = expected.set_index(ENTITY_KEY).loc[[3, 150, 1], list(config.features)].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows[list(config.features)], want, check_dtype=False)


def test_applied_features_can_be_registered_and_are_then_fingerprinted(store, location, tmp_path, monkeypatch):
    assert registered_features(location) >= set(load_feature_config().features)
    record = tmp_path / "feature_lifecycle.yaml"
    record.write_text(lifecycle.LIFECYCLE_FILE.read_text())
    monkeypatch.setattr(lifecycle, "STORE", location)
    assert advance("iris_sepal_length_cm_v1", "alice", record)[1] is LifecycleStatus.REGISTERED
    state = load_states(record)["iris_sepal_length_cm_v1"]
    assert state.fingerprint and check(record) == []


def _store_feature_config(tmp_path):
    content = yaml.safe_load((CONFIG_DIR / "feature_config.yaml").read_text())
    content["feature_source"] = "store"
    path = tmp_path / "feature_config.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_training_from_the_store_equals_training_from_local_features(store, location, tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURE_STORE_DIR", str(location.root))
    with use_store(tmp_path / "mlflow"):
        local = run_training(TrainingRequest(version="1.0.0", author="alice"))
        from_store = run_training(
            TrainingRequest(version="1.0.1", author="alice", feature_config=_store_feature_config(tmp_path))
        )
        client = MlflowClient()
        local_params = client.get_run(local.run_id).data.params
        store_params = client.get_run(from_store.run_id).data.params
    assert from_store.metrics == local.metrics
    assert store_params["data.digest"] == local_params["data.digest"]  # the very same training rows
    assert store_params["feature_source"] == "store" and store_params["feature_service"] == "iris_species_features_v1"
    assert store_params["data.uri"].endswith("#feature_service=iris_species_features_v1")


def test_training_from_a_missing_store_tracks_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURE_STORE_DIR", str(tmp_path / "nowhere"))
    with use_store(tmp_path / "mlflow"), pytest.raises(TrainingRefused, match="run `make features` first"):
        run_training(TrainingRequest(version="1.0.0", feature_config=_store_feature_config(tmp_path)))
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def test_endpoint_serves_a_key_only_request_from_the_online_store(store, location, tmp_path, expected):
    """A request with only flower_id gets the same prediction as one with that flower's measurements."""
    with use_store(tmp_path / "mlflow") as uri:
        run_training(TrainingRequest(version="1.0.0", author="alice"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "FEATURE_STORE_DIR": str(location.root),
    }
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "dev", "--port", str(port), "--feature-lookup",
               "--inference-log", str(tmp_path / "log.db")]  # fmt: skip
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def post(payload):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/invocations", json.dumps(payload), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "endpoint did not start"
            try:
                post({"instances": [[5.1, 3.5, 1.4, 0.2]]})
                break
            except OSError:
                time.sleep(0.3)
        keys = [3, 51, 150]
        by_key = post({"dataframe_records": [{"flower_id": key} for key in keys]})
        iris = load_bundled_iris()
        rows = iris.loc[[k - 1 for k in keys], list(RAW_FEATURE_COLUMNS)]
        by_value = post({"dataframe_split": {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}})
        assert by_key[0] == 200 and by_key == by_value
        status, answer = post({"inputs": {"flower_id": [999]}})
        assert status == 404 and "flower_id [999]" in answer["message"]
        status, answer = post({"dataframe_records": [{"flower_id": "three"}]})
        assert status == 400 and answer["field"] == "flower_id"
    finally:
        server.terminate()
        server.wait(timeout=30)
