"""The registry lifecycle on a real SQLite store: validate, promote with approval, history, rollback, races, faults.

The lifecycle is a sequence of stages (v1 trained, validated, at staging, at
production; v2 trained, validated, at staging, at production; production
rolled back). Each stage is built once, on a copy of the stage before it, and
every test starts from a fresh copy of the stage it needs: the tests run in
any order, and every refusal is checked to change nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from pipelines.training_pipeline import run_training
from src.data.contract import CONTRACT
from src.features import lifecycle_record
from src.models.alias_history import AliasHistory
from src.models.model_registry import Alias, Registry, RegistryError
from src.models.model_validator import ValidationRefused, validate_version
from src.models.promotion import Approval, PromotionRefused, promote, rollback
from src.models.training_plan import TrainingRequest
from src.utils.config import (
    CONFIG_DIR,
    PROJECT_ROOT,
    Settings,
    load_model_card_config,
    load_model_config,
    model_config_path,
    resolve_settings,
)
from tests.conftest import SUITE_ROLLOUT_P99_MS, free_port, use_store
from tests.pack import MODEL

pytestmark = pytest.mark.integration


AUTHOR = "alice@example.com"


#: Each stage: the stage it starts from, and what it does there.
STAGES: dict[str, tuple[str | None, Callable[[], None]]] = {}


def stage(name: str, after: str | None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(build: Callable[[], None]) -> Callable[[], None]:
        STAGES[name] = (after, build)
        return build

    return register


@stage("v1_trained", after=None)
def _v1_trained() -> None:
    assert _train("1.0.0") == "1"


@stage("v1_validated", after="v1_trained")
def _v1_validated() -> None:
    assert validate_version(resolve_settings(), load_model_config(), version="1").passed


@stage("v1_at_staging", after="v1_validated")
def _v1_at_staging() -> None:
    promote(resolve_settings(), Alias.STAGING, actor=AUTHOR)


@stage("v1_at_production", after="v1_at_staging")
def _v1_at_production() -> None:
    promote(resolve_settings(), Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-1"))


@stage("v2_trained", after="v1_at_production")
def _v2_trained() -> None:
    assert _train("1.1.0") == "2"


@stage("v2_validated", after="v2_trained")
def _v2_validated() -> None:
    assert validate_version(resolve_settings(), load_model_config(), version="2").passed


@stage("v2_at_staging", after="v2_validated")
def _v2_at_staging() -> None:
    promote(resolve_settings(), Alias.STAGING, actor=AUTHOR)


@stage("v2_at_production", after="v2_at_staging")
def _v2_at_production() -> None:
    promote(resolve_settings(), Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-2"))


@stage("rolled_back", after="v2_at_production")
def _rolled_back() -> None:
    rollback(resolve_settings(), Alias.PRODUCTION, actor="carol", reason="INC-7")


class Stages:
    """Builds each stage once per module, on a copy of the one before; hands out fresh copies to tests."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory, self._built = factory, {}

    def root(self, name: str) -> Path:
        if name not in self._built:
            after, build = STAGES[name]
            root = self._factory.mktemp(f"stage-{name}")
            if after is not None:
                shutil.copytree(self.root(after), root, dirs_exist_ok=True)
            with use_store(root):
                build()
            self._built[name] = root
        return self._built[name]

    def copy(self, name: str, destination: Path) -> Path:
        shutil.copytree(self.root(name), destination)
        return destination


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    return Stages(tmp_path_factory)


@dataclass(frozen=True)
class Here:
    """A test's own copy of a stage: its store, and the profile, registry and history pointed at it."""

    uri: str
    settings: Settings
    registry: Registry
    history: AliasHistory


@pytest.fixture
def at(stages, tmp_path):
    """``here = at("v1_validated")``: MLflow points at a fresh copy of that stage for the rest of the test."""
    with ExitStack() as exits:

        def enter(name: str) -> Here:
            uri = exits.enter_context(use_store(stages.copy(name, tmp_path / f"at-{name}")))
            settings = resolve_settings()
            client = MlflowClient(uri, uri)
            return Here(uri, settings, Registry(client), AliasHistory(settings.audit_experiment_name, client))

        yield enter


@pytest.fixture(scope="module")
def model_config():
    return load_model_config()


@pytest.fixture(scope="module")
def strict_config(tmp_path_factory):
    content = yaml.safe_load(model_config_path().read_text())
    content["validation"]["thresholds"]["val_accuracy"] = 0.99
    path = tmp_path_factory.mktemp("strict") / "model_config.yaml"
    path.write_text(yaml.safe_dump(content))
    return load_model_config(path)


def _train(version: str) -> str:
    return run_training(TrainingRequest(version=version, author=AUTHOR)).registered.version


def _aliases(registry: Registry) -> dict[str, str | None]:
    found = {alias.value: registry.version_at(MODEL, alias) for alias in Alias}
    return {alias: (info.version if info else None) for alias, info in found.items()}


# --- version 1: validate, promote to staging, then production with approval -------------


def test_first_version_is_trained_at_dev(at):
    here = at("v1_trained")
    assert _aliases(here.registry) == {"dev": "1", "staging": None, "production": None}


def test_unvalidated_version_cannot_be_promoted(at):
    here = at("v1_trained")
    with pytest.raises(PromotionRefused, match=r"has not been validated \(no verdict in the gate's experiment .*\): "
                       r"run scripts/validate_model\.py --version 1"):  # fmt: skip
        promote(here.settings, Alias.STAGING, actor=AUTHOR, registry=here.registry, history=here.history)
    assert _aliases(here.registry)["staging"] is None and here.history.events() == []


def test_validation_passes_and_is_recorded_on_the_version(at, model_config):
    here = at("v1_trained")
    decision = validate_version(here.settings, model_config, alias="dev", registry=here.registry)
    assert decision.passed, decision.report()
    names = {check.name for check in decision.checks}
    assert {"loads", "signature", "input_example", "requirements_pinned", "feature_set", "held_out_data"} <= names
    assert {"metric_val_accuracy", "example_rows", "invariant_to_small_noise", "latency_single_row"} <= names
    assert "data_contract" in names
    assert decision.baseline_version is None  # no champion yet
    tags = here.registry.version(MODEL, "1").tags
    assert tags["validation.status"] == "passed" and tags["validation.run_id"] == decision.run_id
    assert tags["validation.summary"] == f"{len(decision.checks)} of {len(decision.checks)} checks passed"
    assert not [key for key in tags if key.startswith("validation.check.")]  # the checks: the run's decision.json
    run = MlflowClient().get_run(decision.run_id)
    assert run.info.run_name.startswith("v1.0.0_validation_")
    assert run.data.tags["mlflow.note.content"].endswith("against its thresholds (no champion yet)")
    assert run.data.metrics["accuracy_score"] == pytest.approx(decision.metrics["accuracy_score"])
    (evaluated,) = {(i.dataset.name, i.dataset.source) for i in run.inputs.dataset_inputs}  # named, not "dataset"
    (trained_on,) = MlflowClient().get_run(here.registry.version(MODEL, "1").run_id).inputs.dataset_inputs
    assert evaluated == (f"{CONTRACT.name}_held_out", trained_on.dataset.source)  # the rows and where they came from
    artifacts = {f.path for f in MlflowClient().list_artifacts(decision.run_id)}
    assert "validation" in artifacts and "confusion_matrix.png" in artifacts
    assert _aliases(here.registry) == {"dev": "1", "staging": None, "production": None}  # validation moves nothing


def test_production_cannot_skip_staging(at):
    here = at("v1_validated")
    with pytest.raises(PromotionRefused, match="no version holds @staging"):
        promote(here.settings, Alias.PRODUCTION, actor="bob", approval=Approval("bob", "CHG-1"),
                registry=here.registry, history=here.history)  # fmt: skip


def test_promotion_to_staging(at):
    here = at("v1_validated")
    move = promote(here.settings, Alias.STAGING, actor=AUTHOR, registry=here.registry, history=here.history)
    assert (move.from_version, move.to_version, move.changed) == (None, "1", True)
    assert _aliases(here.registry) == {"dev": "1", "staging": "1", "production": None}


def test_promoting_again_changes_nothing(at):
    here = at("v1_at_staging")
    move = promote(here.settings, Alias.STAGING, actor=AUTHOR, registry=here.registry, history=here.history)
    assert not move.changed and "nothing to do" in move.describe()
    assert len(here.history.events()) == 1


@pytest.mark.parametrize(
    ("approval", "message"),
    [
        (Approval(None, "CHG-1"), "needs an approval: --approved-by"),
        (Approval("bob", None), "needs a reason or change ticket"),
        (Approval(AUTHOR.upper(), "CHG-1"), "trained version 1 and cannot approve it"),
    ],
)
def test_production_needs_a_reason_and_someone_else_s_approval(at, approval, message):
    here = at("v1_at_staging")
    with pytest.raises(PromotionRefused, match=message):
        promote(here.settings, Alias.PRODUCTION, actor=AUTHOR, approval=approval, registry=here.registry,
                history=here.history)  # fmt: skip
    assert _aliases(here.registry)["production"] is None and len(here.history.events()) == 1


def test_promotion_to_production_with_approval(at):
    here = at("v1_at_staging")
    move = promote(here.settings, Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-1"),
                   registry=here.registry, history=here.history)  # fmt: skip
    assert move.to_version == "1"
    event = here.history.events(alias="production")[-1]
    assert (event.actor, event.approved_by, event.reason, event.from_version) == ("carol", "bob", "CHG-1", None)


# --- version 2: a failed validation, then a pass against the champion ------------------------


def test_failed_validation_blocks_promotion_and_moves_nothing(at, strict_config, tmp_path, monkeypatch):
    here = at("v2_trained")
    record = tmp_path / "feature_lifecycle.yaml"  # as if a feature of the set had never been registered
    shipped = lifecycle_record.LIFECYCLE_FILE.read_text()
    record.write_text(shipped.replace("status: REGISTERED", "status: REFACTORED", 1))
    monkeypatch.setattr(lifecycle_record, "LIFECYCLE_FILE", record)
    decision = validate_version(here.settings, strict_config, version="2", registry=here.registry)
    assert not decision.passed
    assert decision.failed_checks == ("feature_lifecycle", "metric_val_accuracy")
    governance = next(check for check in decision.checks if check.name == "feature_lifecycle")
    first = next(n for n, s in lifecycle_record.load_states().items() if s.status.value == "REGISTERED")
    assert governance.detail.startswith(f"{first} is REFACTORED; this gate needs REGISTERED")
    assert decision.baseline_version == "1"
    assert here.registry.version(MODEL, "2").tags["validation.status"] == "failed"
    refusal = (
        rf"version 2 of {MODEL} failed validation \(feature_lifecycle,metric_val_accuracy\) in run {decision.run_id}"
    )
    with pytest.raises(PromotionRefused, match=refusal):
        promote(here.settings, Alias.STAGING, actor=AUTHOR, registry=here.registry, history=here.history)
    # An insider with EDIT on the model writes the verdict it wanted: the gate's own record still decides.
    here.registry.set_version_tags(MODEL, "2", {"validation.status": "passed", "validation.failed_checks": ""})
    with pytest.raises(PromotionRefused, match=refusal + r"; its tag validation.status=passed is not the gate's"):
        promote(here.settings, Alias.STAGING, actor=AUTHOR, registry=here.registry, history=here.history)
    assert _aliases(here.registry) == {"dev": "2", "staging": "1", "production": "1"}


def test_validation_compares_with_the_champion(at, model_config):
    here = at("v2_trained")
    decision = validate_version(here.settings, model_config, version="2", registry=here.registry)
    assert decision.passed, decision.report()
    assert decision.baseline_version == "1"
    accuracy = next(c for c in decision.checks if c.name == "metric_val_accuracy")
    champion = MlflowClient().get_run(decision.run_id).data.metrics["champion_accuracy_score"]  # on the same rows
    policy = model_config.validation
    bar = champion - policy.champion.max_regression
    expected = "champion" if bar > policy.thresholds["val_accuracy"] else "floor"  # the higher bound applies
    assert accuracy.detail.endswith(f" >= {max(bar, policy.thresholds['val_accuracy']):.4f} ({expected})")


def test_promote_version_two_through_to_production(at):
    here = at("v2_validated")
    promote(here.settings, Alias.STAGING, actor=AUTHOR, registry=here.registry, history=here.history)
    promote(here.settings, Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-2"),
            registry=here.registry, history=here.history)  # fmt: skip
    assert _aliases(here.registry) == {"dev": "2", "staging": "2", "production": "2"}


def test_history_is_a_chain(at):
    events = at("v2_at_production").history.events()
    assert [(e.alias, e.from_version, e.to_version) for e in events] == [
        ("staging", None, "1"),
        ("production", None, "1"),
        ("staging", "1", "2"),
        ("production", "1", "2"),
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4]


def test_rollback_restores_the_previous_holder_and_is_recorded(at):
    here = at("v2_at_production")
    move = rollback(here.settings, Alias.PRODUCTION, actor="carol", reason="INC-7", registry=here.registry,
                    history=here.history)  # fmt: skip
    assert (move.from_version, move.to_version) == ("2", "1")
    assert _aliases(here.registry)["production"] == "1"
    last = here.history.events()[-1]
    assert (last.action, last.from_version, last.to_version, last.reason) == ("rollback", "2", "1", "INC-7")


def test_rollback_past_the_first_holder_is_refused(at):
    here = at("rolled_back")
    with pytest.raises(PromotionRefused, match="first recorded holder"):
        rollback(here.settings, Alias.PRODUCTION, actor="carol", reason="again", registry=here.registry,
                 history=here.history)  # fmt: skip
    assert _aliases(here.registry)["production"] == "1" and len(here.history.events()) == 5


# --- bad input and faults: clear errors, nothing changed ---------------------------------


def test_unknown_version_and_alias_are_clear_errors(at, model_config):
    here = at("v1_trained")
    with pytest.raises(RegistryError, match="has no version '99'"):
        validate_version(here.settings, model_config, version="99", registry=here.registry)
    with pytest.raises(ValidationRefused, match="unknown alias 'qa'"):
        validate_version(here.settings, model_config, alias="qa", registry=here.registry)


def test_version_of_another_model_is_not_ours(at, model_config):
    here = at("v1_trained")
    client = MlflowClient(here.uri, here.uri)
    client.create_registered_model("dev_catalog.ml_models.ds_other_model")
    for _ in range(3):
        client.create_model_version(
            "dev_catalog.ml_models.ds_other_model", source=here.registry.version(MODEL, "1").source
        )
    with pytest.raises(RegistryError, match=f"{MODEL} has no version '3'"):
        validate_version(here.settings, model_config, version="3", registry=here.registry)


@pytest.mark.parametrize(
    ("owner", "step", "message"),
    [
        (Registry, "point_alias", "cannot set alias 'production': backend unavailable"),  # the move itself fails
        (AliasHistory, "confirm", "cannot confirm the move in the audit experiment"),  # moved, then unconfirmed
    ],
)
def test_a_move_that_fails_leaves_alias_and_history_as_they_were(at, monkeypatch, owner, step, message):
    here = at("v2_at_staging")
    before_aliases, before_events = _aliases(here.registry), here.history.events()

    def unavailable(*args, **kwargs):
        raise RegistryError(message)

    monkeypatch.setattr(owner, step, unavailable)
    with pytest.raises(RegistryError, match=message):
        promote(here.settings, Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-3"),
                registry=here.registry, history=here.history)  # fmt: skip
    monkeypatch.undo()
    assert _aliases(here.registry) == before_aliases and here.history.events() == before_events


def test_tracking_server_down_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from scripts import promote_model  # in-process: the command's main; use_store puts MLflow's URIs back

    down = f"http://127.0.0.1:{free_port()}"
    with use_store(tmp_path, created=False):
        quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
        for name, value in {"MLFLOW_TRACKING_URI": down, "MLFLOW_REGISTRY_URI": down, **quick}.items():
            monkeypatch.setenv(name, value)
        assert promote_model.main(["--to", "staging"]) == 2
    printed = capsys.readouterr().err
    assert printed.strip().splitlines()[-1].startswith("error: ") and "127.0.0.1" in printed


# --- the command lines, exit codes, and racing promotions ------------------------------------


def test_validate_command_exit_codes(at, tmp_path, capsys):
    from scripts import validate_model  # in-process: the command's main, on this test's store

    at("v1_trained")
    assert validate_model.main(["--version", "1"]) == 0
    assert "PASSED" in capsys.readouterr().out
    strict = tmp_path / "strict.yaml"
    content = yaml.safe_load(model_config_path().read_text())
    content["validation"]["thresholds"]["val_f1_macro"] = 0.999
    strict.write_text(yaml.safe_dump(content))
    assert validate_model.main(["--version", "1", "--config", str(strict)]) == 1
    assert "[FAIL] metric_val_f1_macro" in capsys.readouterr().out
    assert validate_model.main(["--version", "42"]) == 2
    assert "has no version '42'" in capsys.readouterr().err


def test_racing_promotions_leave_one_consistent_move(at, model_config):
    """Four promotion commands race under the store's file lock. Each lock service (PostgreSQL, Redis) serialises
    racing processes in tests/integration/test_alias_lock.py; this is the promotion built on top of one."""
    here = at("v2_at_production")
    assert _train("1.2.0") == "3"
    assert validate_version(here.settings, model_config, version="3", registry=here.registry).passed
    before = len(here.history.events())
    racers = [
        subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "scripts" / "promote_model.py"), "--to", "staging",
             "--actor", f"racer-{index}"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "MLFLOW_TRACKING_URI": here.uri, "MLFLOW_REGISTRY_URI": here.uri,
                 "ALIAS_LOCK_URI": ""},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(4)
    ]  # fmt: skip
    outputs = [racer.communicate(timeout=300) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0, 0], outputs
    moved = [out for out, _ in outputs if "-> version 3" in out]
    assert len(moved) == 1, outputs  # exactly one racer moved the alias; the others found it done
    events = here.history.events()
    assert len(events) == before + 1
    assert (events[-1].alias, events[-1].from_version, events[-1].to_version) == ("staging", "2", "3")
    assert _aliases(here.registry)["staging"] == "3"


def test_lock_excludes_concurrent_processes(at, tmp_path):
    """Four processes each read a counter tag, wait, and write it + 1 under the lock: none is lost."""
    here = at("v1_trained")
    registry_client = MlflowClient(here.uri, here.uri)
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
        subprocess.Popen([sys.executable, str(script), here.uri], cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0], errors
    assert registry_client.get_registered_model(MODEL).tags["counter"] == "12"


def test_history_command_prints_every_move(at, capsys):
    from scripts import promote_model

    at("rolled_back")
    assert promote_model.main(["history"]) == 0
    printed = capsys.readouterr().out
    lines = printed.strip().splitlines()
    assert lines[0] == MODEL
    assert len(lines) == 2 + 5 + 1  # model, header, five moves, current holders
    assert lines[-1] == "now: @dev = v2, @staging = v2, @production = v1"
    assert "rollback" in printed and "approved by bob: CHG-2" in printed


def test_rollback_command_needs_a_reason(capsys):
    from scripts import promote_model

    with pytest.raises(SystemExit) as refused:
        promote_model.main(["rollback", "--alias", "production"])
    assert refused.value.code == 2 and "--reason" in capsys.readouterr().err


def test_promotion_modes_are_documented_in_the_example():
    text = (Path(CONFIG_DIR) / "environment.yaml.example").read_text()
    assert "promotion_mode: aliases" in text and "catalogs" in text


def test_a_production_rollout_that_fails_its_checks_is_rolled_back_and_recorded(at, tmp_path, capsys):
    """v2 at @production, served; its rollout fails a (deliberately impossible) latency check: @production goes
    back to v1, the rollback is in the history, and the endpoint serves v1 again."""
    from scripts import deploy_endpoint
    from src.utils.processes import ServerProcess
    from tests.conftest import free_port

    here = at("v2_at_production")
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": here.uri, "MLFLOW_REGISTRY_URI": here.uri}
    command = [sys.executable, "scripts/deploy_endpoint.py", "--alias", "production", "--port", str(port),
               "--poll-seconds", "0.5", "--no-inference-log"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with ServerProcess("endpoint", command, "127.0.0.1", port, "/ping", env=env, log=tmp_path / "endpoint.log",
                       cwd=PROJECT_ROOT):  # fmt: skip
        rollout = ["rollout", "--alias", "production", "--url", url, "--version", "2"]  # the command, in-process
        assert deploy_endpoint.main([*rollout, "--timeout", "120", "--max-p99-ms", SUITE_ROLLOUT_P99_MS]) == 0
        assert "release checks passed" in capsys.readouterr().out
        assert deploy_endpoint.main([*rollout, "--timeout", "90", "--max-p99-ms", "0.001", "--actor", "cd-bot"]) == 1
        printed = capsys.readouterr().out
        assert "FAIL latency" in printed and f"{url} serves version 1" in printed, printed
    assert _aliases(here.registry)["production"] == "1"
    last = here.history.events()[-1]
    assert (last.action, last.from_version, last.to_version, last.actor) == ("rollback", "2", "1", "cd-bot")
    assert last.reason.startswith("rollout of version 2 failed its release checks: latency")


# --- the model card: logged with each version, rebuilt from the registry ----------------


def test_each_version_logs_its_card_and_its_summary_is_the_description(at):
    here = at("v1_trained")
    info = here.registry.version(MODEL, "1")
    client = MlflowClient(here.uri, here.uri)
    assert {f.path for f in client.list_artifacts(info.run_id, "model_card")} == {
        "model_card/MODEL_CARD.md",
        "model_card/facts.json",
    }
    description = client.get_model_version(MODEL, "1").description
    assert (
        description.startswith("v1.0.0 (full) by alice")
        and f"Intended use: {load_model_card_config().intended_use[0][:20]}" in description
    )


def test_the_card_of_production_shows_the_verdict_the_checks_and_the_history(at, tmp_path, capsys):
    from scripts import model_card

    at("rolled_back")
    card = tmp_path / "MODEL_CARD.md"
    assert model_card.main(["--alias", "production", "--output", str(card)]) == 0
    text = card.read_text()
    assert "| Version | 1 (semantic version 1.0.0) |" in text and "@production" in text
    assert "Verdict: **PASSED**" in text and "- `metric_val_accuracy` passed: " in text
    assert "@production: v2 -> v1 (rollback) by carol: INC-7" in text
    assert "@production: (unset) -> v1 (promote) by carol, approved by bob: CHG-1" in text
    for section in ("Model details", "Intended use", "Out-of-scope uses", "Factors", "Metrics",
                    "Training and evaluation data", "Quantitative analyses", "Features", "Ethical considerations",
                    "Caveats and recommendations", "Alias history"):  # fmt: skip
        assert f"\n## {section}\n" in text


def test_batch_scores_only_the_sanctioned_version_of_a_guarded_alias(at, tmp_path, capsys, caplog):
    """@production moved out of band (the registry's own call, past the gate): batch scores the version the
    alias history sanctions, and says so in the line the endpoint logs. (The Spark engine is handed the same
    scorer: the command loads it once, through the guard's rule, before choosing the engine.)"""
    from pipelines import inference_pipeline
    from src.data.contract import load_bundled

    engine = "arrow"
    here = at("v2_validated")
    here.registry.point_alias(MODEL, "production", "2")  # not promoted: no record, no approval
    source = tmp_path / "in.parquet"
    load_bundled().head(20).drop(columns=[CONTRACT.target.name]).to_parquet(source, index=False)
    target = tmp_path / ("out.parquet" if engine == "arrow" else "out_dir")
    code = inference_pipeline.main(["--alias", "production", "--input", str(source), "--output", str(target),
                                    "--engine", engine])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"{MODEL} version 1 (@production)" in captured.out
    assert f"scoring version 1 instead of {MODEL}@production's version 2" in caplog.text
    scored = pd.read_parquet(target)
    assert set(scored["model_version"].astype(str)) == {"1"}
