"""The gate's verdict as only the gate can write it: the latest finished run of its experiment, never a tag."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from src.models.model_registry import Registry, VersionInfo
from src.models.model_validator import verdict_run
from src.models.verdict import DECISION_FILE, Judged, Verdicts, judged_version
from src.utils import mlflow_utils
from src.utils.config import resolve_settings
from tests.conftest import gate_verdict, registered_version, use_store

MODEL = "dev_catalog.ml_models.ds_proj_model"


@pytest.fixture
def store(tmp_path):
    with use_store(tmp_path / "store"):
        yield resolve_settings()


def test_a_version_the_gate_passed_counts_as_validated(store):
    version = registered_version(store, MODEL)
    gate_verdict(store, version, passed=True)
    assert Verdicts(store).problem(version) is None


def test_a_forged_tag_on_a_failed_version_is_named(store):
    version = registered_version(store, MODEL)
    run_id = gate_verdict(store, version, passed=False)
    Registry().set_version_tags(MODEL, version.version, {"validation.status": "passed", "validation.run_id": run_id})
    problem = Verdicts(store).problem(Registry().version(MODEL, version.version))
    assert problem == (
        f"version {version.version} of {MODEL} failed validation (accuracy_floor) in run {run_id}; "
        "its tag validation.status=passed is not the gate's"
    )


def test_a_tag_without_a_gate_run_is_no_verdict(store):
    version = registered_version(store, MODEL)
    Registry().set_version_tags(MODEL, version.version, {"validation.status": "passed"})
    problem = Verdicts(store).problem(Registry().version(MODEL, version.version))
    assert "has not been validated (no verdict in the gate's experiment" in problem
    assert "; its tag validation.status=passed is not the gate's)" in problem


def test_a_run_outside_the_gates_experiment_does_not_count(store):
    """A data scientist's own run, with the gate's parameters, in the experiment they may write."""
    version = registered_version(store, MODEL)
    with mlflow.start_run(experiment_id=mlflow_utils.ensure_project_experiment(store)):
        mlflow.log_params({"validation.model": MODEL, "validation.version": version.version,
                           "validation.model_run_id": version.run_id, "validation.status": "passed"})  # fmt: skip
    assert "has not been validated (no verdict in the gate's experiment" in Verdicts(store).problem(version)


def test_the_latest_finished_verdict_decides(store):
    version = registered_version(store, MODEL)
    gate_verdict(store, version, passed=True)
    failed = gate_verdict(store, version, passed=False)
    assert Verdicts(store).problem(version).endswith(f"failed validation (accuracy_floor) in run {failed}")
    gate_verdict(store, version, passed=True)
    assert Verdicts(store).problem(version) is None


def test_a_validation_cut_short_leaves_the_verdict_before_it(store):
    version = registered_version(store, MODEL)
    gate_verdict(store, version, passed=True)
    with pytest.raises(KeyboardInterrupt), verdict_run(store, version, None):
        raise KeyboardInterrupt  # the run ends FAILED: it judged nothing
    assert Verdicts(store).problem(version) is None


def test_a_rewritten_decision_is_caught_by_its_digest(store):
    version = registered_version(store, MODEL)
    run_id = gate_verdict(store, version, passed=False)
    artifacts = Path(mlflow.get_run(run_id).info.artifact_uri.removeprefix("file://"))
    decision = artifacts / DECISION_FILE
    decision.write_text(decision.read_text().replace('"passed": false', '"passed": true'))
    problem = Verdicts(store).problem(version)
    assert problem == (
        f"version {version.version} of {MODEL}: validation run {run_id} holds a {DECISION_FILE} "
        "that does not match the digest it logged"
    )


def test_a_verdict_for_another_training_run_does_not_count(store):
    version = registered_version(store, MODEL)
    gate_verdict(store, version, passed=True)
    other = VersionInfo(MODEL, version.version, "another-run", version.source, {}, ())
    assert "judged the model of training run" in Verdicts(store).problem(other)


def test_a_copy_is_judged_by_the_version_it_was_copied_from():
    copy = VersionInfo("prod.m.x", "1", "r", "models:/dev.m.x/7", {}, ())
    assert judged_version(copy) == Judged("dev.m.x", "7")
    by_tag = VersionInfo("prod.m.x", "1", "r", "s3://x", {"promotion.copied_from": "models:/dev.m.x/8"}, ())
    assert judged_version(by_tag) == Judged("dev.m.x", "8")
    itself = VersionInfo("dev.m.x", "3", "r", "runs:/r/model", {}, ())
    assert judged_version(itself) == Judged("dev.m.x", "3")
