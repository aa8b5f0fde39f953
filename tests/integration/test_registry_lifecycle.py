"""The registry lifecycle on a real SQLite store: validate, promote with approval, history, rollback, races, faults.

The tests of this module tell one story in order (pytest runs a module's
tests top to bottom): two versions are trained, validated, promoted and rolled
back, and every refusal along the way is checked to change nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from src.features import lifecycle_record
from src.models.model_registry import Alias, AliasHistory, Registry, RegistryError
from src.models.model_validator import ValidationRefused, validate_version
from src.models.promotion import Approval, PromotionRefused, promote, rollback
from src.models.training_plan import TrainingRequest
from src.utils.config import CONFIG_DIR, PROJECT_ROOT, load_model_config, resolve_settings
from tests.conftest import free_port, use_store

pytestmark = [pytest.mark.integration, pytest.mark.story]  # one lifecycle, step by step (conftest.py)

MODEL = "dev_catalog.ml_models.ds_iris_species_classifier"
AUTHOR = "alice@example.com"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    with use_store(tmp_path_factory.mktemp("lifecycle-store")) as uri:
        yield uri


@pytest.fixture(scope="module")
def settings(store):
    return resolve_settings()


@pytest.fixture(scope="module")
def model_config():
    return load_model_config()


@pytest.fixture(scope="module")
def strict_config(tmp_path_factory):
    content = yaml.safe_load((CONFIG_DIR / "model_config.yaml").read_text())
    content["validation"]["thresholds"]["val_accuracy"] = 0.99
    path = tmp_path_factory.mktemp("strict") / "model_config.yaml"
    path.write_text(yaml.safe_dump(content))
    return load_model_config(path)


@pytest.fixture(scope="module")
def registry(store):
    return Registry(MlflowClient(store, store))


@pytest.fixture(scope="module")
def history(settings, store):
    return AliasHistory(settings.audit_experiment_name, MlflowClient(store, store))


def _train(version: str) -> str:
    return run_training(TrainingRequest(version=version, author=AUTHOR)).registered.version


def _aliases(registry: Registry) -> dict[str, str | None]:
    found = {alias.value: registry.version_at(MODEL, alias) for alias in Alias}
    return {alias: (info.version if info else None) for alias, info in found.items()}


def _script(store: str, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / name), *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- version 1: validate, promote to staging, then production with approval -------------


def test_first_version_is_trained_at_dev(registry):
    assert _train("1.0.0") == "1"
    assert _aliases(registry) == {"dev": "1", "staging": None, "production": None}


def test_unvalidated_version_cannot_be_promoted(settings, registry, history):
    with pytest.raises(PromotionRefused, match=r"has not been validated: run scripts/validate_model\.py --version 1"):
        promote(settings, Alias.STAGING, actor=AUTHOR, registry=registry, history=history)
    assert _aliases(registry)["staging"] is None and history.events() == []


def test_validation_passes_and_is_recorded_on_the_version(settings, model_config, registry):
    decision = validate_version(settings, model_config, alias="dev", registry=registry)
    assert decision.passed, decision.report()
    names = {check.name for check in decision.checks}
    assert {"loads", "signature", "input_example", "requirements_pinned", "feature_set", "held_out_data"} <= names
    assert {"metric_val_accuracy", "canonical_flowers", "invariant_to_measurement_noise", "latency_single_row"} <= names
    assert decision.baseline_version is None  # no champion yet
    tags = registry.version(MODEL, "1").tags
    assert tags["validation.status"] == "passed" and tags["validation.run_id"] == decision.run_id
    assert tags["validation.check.latency_batch"] == "passed"
    run = MlflowClient().get_run(decision.run_id)
    assert run.info.run_name.startswith("v1.0.0_validation_")
    assert run.data.metrics["accuracy_score"] == pytest.approx(decision.metrics["accuracy_score"])
    artifacts = {f.path for f in MlflowClient().list_artifacts(decision.run_id)}
    assert "validation" in artifacts and "confusion_matrix.png" in artifacts
    assert _aliases(registry) == {"dev": "1", "staging": None, "production": None}  # validation moves nothing


def test_production_cannot_skip_staging(settings, registry, history):
    with pytest.raises(PromotionRefused, match="no version holds @staging"):
        promote(
            settings,
            Alias.PRODUCTION,
            actor="bob",
            approval=Approval("bob", "CHG-1"),
            registry=registry,
            history=history,
        )


def test_promotion_to_staging(settings, registry, history):
    move = promote(settings, Alias.STAGING, actor=AUTHOR, registry=registry, history=history)
    assert (move.from_version, move.to_version, move.changed) == (None, "1", True)
    assert _aliases(registry) == {"dev": "1", "staging": "1", "production": None}


def test_promoting_again_changes_nothing(settings, registry, history):
    move = promote(settings, Alias.STAGING, actor=AUTHOR, registry=registry, history=history)
    assert not move.changed and "nothing to do" in move.describe()
    assert len(history.events()) == 1


@pytest.mark.parametrize(
    ("approval", "message"),
    [
        (Approval(None, "CHG-1"), "needs an approval: --approved-by"),
        (Approval("bob", None), "needs a reason or change ticket"),
        (Approval(AUTHOR.upper(), "CHG-1"), "trained version 1 and cannot approve it"),
    ],
)
def test_production_needs_a_reason_and_someone_else_s_approval(settings, registry, history, approval, message):
    with pytest.raises(PromotionRefused, match=message):
        promote(settings, Alias.PRODUCTION, actor=AUTHOR, approval=approval, registry=registry, history=history)
    assert _aliases(registry)["production"] is None and len(history.events()) == 1


def test_promotion_to_production_with_approval(settings, registry, history):
    move = promote(
        settings, Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-1"), registry=registry, history=history
    )
    assert move.to_version == "1"
    event = history.events(alias="production")[-1]
    assert (event.actor, event.approved_by, event.reason, event.from_version) == ("carol", "bob", "CHG-1", None)


# --- version 2: a failed validation, then a pass against the champion ------------------------


def test_failed_validation_blocks_promotion_and_moves_nothing(
    settings, strict_config, registry, history, tmp_path, monkeypatch
):
    assert _train("1.1.0") == "2"
    record = tmp_path / "feature_lifecycle.yaml"  # as if a feature of the set had never been registered
    shipped = lifecycle_record.LIFECYCLE_FILE.read_text()
    record.write_text(shipped.replace("status: REGISTERED", "status: REFACTORED", 1))
    monkeypatch.setattr(lifecycle_record, "LIFECYCLE_FILE", record)
    decision = validate_version(settings, strict_config, version="2", registry=registry)
    assert not decision.passed
    assert decision.failed_checks == ("feature_lifecycle", "metric_val_accuracy")
    governance = next(check for check in decision.checks if check.name == "feature_lifecycle")
    assert governance.detail.startswith("iris_sepal_length_cm_v1 is REFACTORED; this gate needs REGISTERED")
    assert decision.baseline_version == "1"
    assert registry.version(MODEL, "2").tags["validation.status"] == "failed"
    with pytest.raises(
        PromotionRefused, match=r"version 2 failed validation \(feature_lifecycle,metric_val_accuracy\)"
    ):
        promote(settings, Alias.STAGING, actor=AUTHOR, registry=registry, history=history)
    assert _aliases(registry) == {"dev": "2", "staging": "1", "production": "1"}


def test_validation_compares_with_the_champion(settings, model_config, registry):
    decision = validate_version(settings, model_config, version="2", registry=registry)
    assert decision.passed, decision.report()
    assert decision.baseline_version == "1"
    accuracy = next(c for c in decision.checks if c.name == "metric_val_accuracy")
    assert "(champion)" in accuracy.detail or "(floor)" in accuracy.detail
    assert "champion_accuracy_score" in MlflowClient().get_run(decision.run_id).data.metrics


def test_promote_version_two_through_to_production(settings, registry, history):
    promote(settings, Alias.STAGING, actor=AUTHOR, registry=registry, history=history)
    promote(
        settings, Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-2"), registry=registry, history=history
    )
    assert _aliases(registry) == {"dev": "2", "staging": "2", "production": "2"}


def test_history_is_a_chain(history):
    events = history.events()
    assert [(e.alias, e.from_version, e.to_version) for e in events] == [
        ("staging", None, "1"),
        ("production", None, "1"),
        ("staging", "1", "2"),
        ("production", "1", "2"),
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4]


def test_rollback_restores_the_previous_holder_and_is_recorded(settings, registry, history):
    move = rollback(settings, Alias.PRODUCTION, actor="carol", reason="INC-7", registry=registry, history=history)
    assert (move.from_version, move.to_version) == ("2", "1")
    assert _aliases(registry)["production"] == "1"
    last = history.events()[-1]
    assert (last.action, last.from_version, last.to_version, last.reason) == ("rollback", "2", "1", "INC-7")


def test_rollback_past_the_first_holder_is_refused(settings, registry, history):
    with pytest.raises(PromotionRefused, match="first recorded holder"):
        rollback(settings, Alias.PRODUCTION, actor="carol", reason="again", registry=registry, history=history)
    assert _aliases(registry)["production"] == "1" and len(history.events()) == 5


# --- bad input and faults: clear errors, nothing changed ---------------------------------


def test_unknown_version_and_alias_are_clear_errors(settings, model_config, registry):
    with pytest.raises(RegistryError, match="has no version '99'"):
        validate_version(settings, model_config, version="99", registry=registry)
    with pytest.raises(ValidationRefused, match="unknown alias 'qa'"):
        validate_version(settings, model_config, alias="qa", registry=registry)


def test_version_of_another_model_is_not_ours(settings, model_config, registry, store):
    client = MlflowClient(store, store)
    client.create_registered_model("dev_catalog.ml_models.ds_other_model")
    for _ in range(3):
        client.create_model_version("dev_catalog.ml_models.ds_other_model", source=registry.version(MODEL, "1").source)
    with pytest.raises(RegistryError, match=f"{MODEL} has no version '3'"):
        validate_version(settings, model_config, version="3", registry=registry)


@pytest.mark.parametrize(
    ("owner", "step", "message"),
    [
        (Registry, "point_alias", "cannot set alias 'production': backend unavailable"),  # the move itself fails
        (AliasHistory, "confirm", "cannot confirm the move in the audit experiment"),  # moved, then unconfirmed
    ],
)
def test_a_move_that_fails_leaves_alias_and_history_as_they_were(
    settings, registry, history, monkeypatch, owner, step, message
):
    before_aliases, before_events = _aliases(registry), history.events()

    def unavailable(*args, **kwargs):
        raise RegistryError(message)

    monkeypatch.setattr(owner, step, unavailable)
    with pytest.raises(RegistryError, match=message):
        promote(
            settings,
            Alias.PRODUCTION,
            actor="carol",
            approval=Approval("bob", "CHG-3"),
            registry=registry,
            history=history,
        )
    monkeypatch.undo()
    assert _aliases(registry) == before_aliases and history.events() == before_events


def test_tracking_server_down_is_a_clear_error(store):
    down = f"http://127.0.0.1:{free_port()}"
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    done = _script(down, "promote_model.py", "--to", "staging", **quick)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "127.0.0.1" in done.stderr


# --- the command lines, exit codes, and racing promotions ------------------------------------


def test_validate_command_exit_codes(store, tmp_path, capsys):
    from scripts import validate_model  # in-process: the command's main, on this module's store

    assert validate_model.main(["--version", "1"]) == 0
    assert "PASSED" in capsys.readouterr().out
    strict = tmp_path / "strict.yaml"
    content = yaml.safe_load((CONFIG_DIR / "model_config.yaml").read_text())
    content["validation"]["thresholds"]["val_f1_macro"] = 0.999
    strict.write_text(yaml.safe_dump(content))
    assert validate_model.main(["--version", "1", "--config", str(strict)]) == 1
    assert "[FAIL] metric_val_f1_macro" in capsys.readouterr().out
    assert validate_model.main(["--version", "42"]) == 2
    assert "has no version '42'" in capsys.readouterr().err


def test_racing_promotions_leave_one_consistent_move(settings, model_config, registry, history, store):
    assert _train("1.2.0") == "3"
    assert validate_version(settings, model_config, version="3", registry=registry).passed
    before = len(history.events())
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                str(PROJECT_ROOT / "scripts" / "promote_model.py"),
                "--to",
                "staging",
                "--actor",
                f"racer-{index}",
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, "MLFLOW_TRACKING_URI": store, "MLFLOW_REGISTRY_URI": store},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(4)
    ]
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0, 0], outputs
    moved = [out for out, _ in outputs if "-> version 3" in out]
    assert len(moved) == 1, outputs  # exactly one racer moved the alias; the others found it done
    events = history.events()
    assert len(events) == before + 1
    assert (events[-1].alias, events[-1].from_version, events[-1].to_version) == ("staging", "2", "3")
    assert _aliases(registry)["staging"] == "3"


def test_lock_excludes_concurrent_processes(store, registry, tmp_path):
    """Four processes each read a counter tag, wait, and write it + 1 under the lock: none is lost."""
    registry_client = MlflowClient(store, store)
    registry_client.set_registered_model_tag(MODEL, "counter", "0")
    script = tmp_path / "increment.py"
    script.write_text(
        "import sys, time\n"
        "from mlflow import MlflowClient\n"
        "from src.models.model_registry import Registry\n"
        "client = MlflowClient(sys.argv[1], sys.argv[1])\n"
        "registry = Registry(client)\n"
        "for _ in range(3):\n"
        f"    with registry.lock('{MODEL}', 'counter', settle_s=0.1):\n"
        f"        value = int(client.get_registered_model('{MODEL}').tags['counter'])\n"
        "        time.sleep(0.05)\n"
        f"        client.set_registered_model_tag('{MODEL}', 'counter', str(value + 1))\n"
    )
    workers = [
        subprocess.Popen([sys.executable, str(script), store], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], errors
    assert registry_client.get_registered_model(MODEL).tags["counter"] == "12"


def test_history_command_prints_every_move(store):
    done = _script(store, "promote_model.py", "history")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == MODEL
    assert len(lines) == 2 + 6 + 1  # model, header, six moves, current holders
    assert lines[-1] == "now: @dev = v3, @staging = v3, @production = v1"
    assert "rollback" in done.stdout and "approved by bob: CHG-2" in done.stdout


def test_rollback_command_needs_a_reason(store):
    done = _script(store, "promote_model.py", "rollback", "--alias", "production")
    assert done.returncode == 2 and "--reason" in done.stderr


def test_promotion_modes_are_documented_in_the_example():
    text = (Path(CONFIG_DIR) / "environment.yaml.example").read_text()
    assert "promotion_mode: aliases" in text and "catalogs" in text
