"""The Feast store built from the definitions: point-in-time training rows and online rows equal the builder's.

Every test runs twice, with the same code: on the embedded store (registry
file, Parquet source, SQLite online store) and on shared backends (SQL
registry and offline store in a fresh PostgreSQL database, online store in
the machine's Redis under a project of its own), chosen by the profile's
``feature_store`` in an environment config, as a user would.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from src.data.contract import CONTRACT, load_bundled
from src.features import lifecycle
from src.features.feature_builder import build_features
from src.features.lifecycle import LifecycleStatus, advance, check, load_states, status_lines
from src.features.store_backend import FeatureStoreError, label, open_store
from src.features.store_reads import OnlineLookup, historical_features, input_features, online_features
from src.features.store_repository import (
    FIRST_EVENT,
    TIMESTAMP,
    apply_and_materialize,
    entity_frame,
    feature_service_name,
    registered_features,
)
from src.models.training_plan import TrainingRefused, TrainingRequest
from src.utils.config import CONFIG_DIR, PROJECT_ROOT, FeatureStoreProfile, load_feature_config, resolve_settings
from src.utils.processes import ServerProcess
from tests.conftest import free_port, fresh_database, use_store
from tests.pack import NUMERIC

pytestmark = pytest.mark.integration

SERVICE = feature_service_name(load_feature_config())
ROWS = len(load_bundled())
KEY = CONTRACT.entity_key


def _same(left: object, right: object) -> None:
    """Two columns of values equal, a gap equal to a gap."""
    pd.testing.assert_series_equal(pd.Series(list(left)), pd.Series(list(right)), check_dtype=False, check_names=False)


@dataclass(frozen=True)
class Backend:
    """A feature store and the environment config whose ``prod`` profile selects it."""

    store: FeatureStoreProfile
    env_config: Path

    def request(self, version: str, **changes: object) -> TrainingRequest:
        return TrainingRequest(version=version, author="alice", env="prod", environment_config=self.env_config,
                               **changes)  # type: ignore[arg-type]  # fmt: skip


def _env_config(directory: Path, feature_store: dict[str, str]) -> Path:
    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    content["profiles"]["prod"]["feature_store"] = feature_store
    path = directory / "environment.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.fixture(scope="module", params=["embedded", "postgres+redis"])
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    directory = tmp_path_factory.mktemp("feature-store")
    if request.param == "embedded":
        path = _env_config(directory, {"directory": str(directory / "store")})
        yield Backend(resolve_settings("prod", path, environ={}).feature_store, path)
        return
    postgres_dsn = request.getfixturevalue("postgres_dsn")
    redis_url = request.getfixturevalue("redis_url")
    with fresh_database(postgres_dsn, "feast_test") as database:
        shared = {"project": f"iris_test_{uuid.uuid4().hex[:8]}", "directory": str(directory / "store"),
                  "registry": database, "offline_store": database, "online_store": redis_url}  # fmt: skip
        path = _env_config(directory, shared)
        store = resolve_settings("prod", path, environ={}).feature_store
        try:
            yield Backend(store, path)
        finally:
            open_store(store).teardown()  # this project's online keys leave the shared Redis


@pytest.fixture(scope="module")
def store(backend):
    return apply_and_materialize(backend.store)


@pytest.fixture(scope="module")
def expected():
    data = load_bundled()
    features = build_features(data.drop(columns=CONTRACT.target.name), load_feature_config().features)
    return pd.concat([entity_frame(data), features], axis=1)


def test_historical_features_are_the_builder_s(store, backend, expected):
    config = load_feature_config()
    entities = expected[[CONTRACT.entity_key, TIMESTAMP]]
    rows = historical_features(store, backend.store, config, entities)
    rows = rows.sort_values(CONTRACT.entity_key, ignore_index=True)
    pd.testing.assert_frame_equal(
        rows[list(config.features)], expected[list(config.features)].reset_index(drop=True), check_dtype=False
    )


def test_point_in_time_join_does_not_see_the_future(store, backend, expected):
    """Rows asked about before their event get no features; the others get theirs."""
    config = load_feature_config()
    early = expected[[CONTRACT.entity_key, TIMESTAMP]].head(3).assign(**{TIMESTAMP: FIRST_EVENT - timedelta(days=1)})
    late = expected[[CONTRACT.entity_key, TIMESTAMP]].iloc[3:6]
    rows = historical_features(store, backend.store, config, pd.concat([early, late])).set_index(CONTRACT.entity_key)
    known = expected.set_index(CONTRACT.entity_key).loc[[4, 5, 6], list(config.features)]
    pd.testing.assert_frame_equal(rows.loc[[4, 5, 6], list(config.features)], known, check_dtype=False)  # gaps too
    before = rows.reindex([1, 2, 3])[list(config.features)]  # the file store drops them, others return nulls
    assert before.isna().all().all()


def test_online_features_by_key_are_the_builder_s(store, backend, expected):
    config = load_feature_config()
    rows = online_features(store, backend.store, config, [3, ROWS, 1])
    want = expected.set_index(CONTRACT.entity_key).loc[[3, ROWS, 1], list(config.features)].reset_index(drop=True)
    pd.testing.assert_frame_equal(rows[list(config.features)], want, check_dtype=False)


def test_the_endpoint_s_lookup_reads_what_feast_serves_for_every_row(store, backend):
    """The fast per-request read equals Feast's get_online_features through the service, for every key."""
    config = load_feature_config()
    keys = list(range(1, ROWS + 1))
    fast = OnlineLookup(SERVICE, backend.store).inputs(keys)
    served = online_features(store, backend.store, config, keys)
    for name, column in input_features(config.features).items():
        _same(fast[column], served[name])
    _same(fast[NUMERIC.name], load_bundled()[NUMERIC.name])
    absent = f"{load_feature_config().feature_set.name}_v7"
    with pytest.raises(FeatureStoreError, match=f"{absent} is not in the store"):
        OnlineLookup(absent, backend.store)
    with pytest.raises(KeyError) as unknown:
        OnlineLookup(SERVICE, backend.store).inputs([5, 0, ROWS + 1])
    assert unknown.value.args[0] == [0, ROWS + 1]


def test_applied_features_can_be_registered_and_are_then_fingerprinted(store, backend, tmp_path, monkeypatch):
    assert registered_features(backend.store) >= set(load_feature_config().features)
    record = tmp_path / "feature_lifecycle.yaml"
    name = load_feature_config().features[0]
    content = yaml.safe_load(lifecycle.LIFECYCLE_FILE.read_text())
    content["features"][name] = {"status": "REFACTORED"}  # one step before the store
    record.write_text(yaml.safe_dump(content))
    monkeypatch.setattr(lifecycle, "registration_store", lambda: backend.store)
    assert advance(name, "alice", record)[1] is LifecycleStatus.REGISTERED
    state = load_states(record)[name]
    assert state.fingerprint and check(record) == []
    assert state.registered_in == label(backend.store)
    header, *lines = status_lines(load_states(record), backend.store)
    assert header.startswith(f"feature store of this profile: {label(backend.store)}: ")
    by_name = {line.split()[0]: line for line in lines}
    assert by_name[name].endswith(f"registered in {label(backend.store)}; in the store here")


def _store_feature_config(tmp_path: Path, **changes: object) -> Path:
    content = yaml.safe_load((CONFIG_DIR / "feature_config.yaml").read_text())
    content.update(feature_source="store", **changes)
    path = tmp_path / "feature_config.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_training_from_the_store_equals_training_from_local_features(store, backend, tmp_path):
    with use_store(tmp_path / "mlflow"):
        local = run_training(backend.request("1.0.0"))
        from_store = run_training(backend.request("1.0.1", feature_config=_store_feature_config(tmp_path)))
        client = MlflowClient()
        local_params = client.get_run(local.run_id).data.params
        store_run = client.get_run(from_store.run_id)
        store_params = store_run.data.params
        source_copy = mlflow.data.get_source(store_run.inputs.dataset_inputs[0].dataset).load(str(tmp_path))
    assert from_store.metrics == local.metrics
    assert store_params["data.digest"] == local_params["data.digest"]  # the very same training rows
    assert store_params["feature_source"] == "store" and store_params["feature_service"] == SERVICE
    assert store_params["data.uri"].endswith(f"#feature_service={SERVICE}")
    assert len(pd.read_parquet(source_copy)) == ROWS  # the lineage points at the store's real source table


def test_a_feature_service_missing_from_the_store_tracks_nothing(store, backend, tmp_path):
    other_set = {"name": load_feature_config().feature_set.name, "version": 9}
    with (
        use_store(tmp_path / "mlflow", created=False),
        pytest.raises(TrainingRefused, match=f"{other_set['name']}_v9 is not in"),
    ):
        run_training(backend.request("1.0.0", feature_config=_store_feature_config(tmp_path, feature_set=other_set)))
    assert not (tmp_path / "mlflow" / "mlflow.db").exists()


def _post(port: int, payload: object) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/invocations", json.dumps(payload), {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def _serve(uri: str, backend: Backend, port: int, log: Path) -> ServerProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "dev", "--port", str(port), "--feature-lookup",
               "--env", "prod", "--env-config", str(backend.env_config), "--inference-log", str(log)]  # fmt: skip
    return ServerProcess("endpoint", command, "127.0.0.1", port, "/ping", env=env,
                         log=log.with_suffix(".out"), cwd=PROJECT_ROOT).start()  # fmt: skip


def test_endpoint_serves_a_key_only_request_from_the_online_store(store, backend, tmp_path):
    """A request with only the entity key gets the same prediction as one with that row's inputs."""
    with use_store(tmp_path / "mlflow") as uri:
        run_training(backend.request("1.0.0"))
    port = free_port()
    server = _serve(uri, backend, port, tmp_path / "log.db")
    try:
        keys = [3, ROWS // 2, ROWS]
        by_key = _post(port, {"dataframe_records": [{KEY: key} for key in keys]})
        rows = load_bundled().loc[[k - 1 for k in keys], list(CONTRACT.input_names)]
        by_value = _post(port, {"dataframe_records": json.loads(rows.to_json(orient="records"))})
        assert by_key[0] == 200 and by_key == by_value
        status, answer = _post(port, {"inputs": {KEY: [ROWS + 849]}})
        assert status == 404 and f"{KEY} [{ROWS + 849}]" in answer["message"]
        status, answer = _post(port, {"dataframe_records": [{KEY: "three"}]})
        assert status == 400 and answer["field"] == KEY
    finally:
        server.stop()


def test_training_and_serving_without_lookup_never_import_feast():
    """``import feast`` costs ~4 s: only the store, store-sourced training and --feature-lookup may pay it."""
    probe = ("import sys, pipelines.training_pipeline, src.components.endpoint, scripts.deploy_endpoint, "
             "src.features.lifecycle; print(sorted(m for m in sys.modules if m.split('.')[0] == 'feast'))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
