"""The alias watcher: swap to the alias's new version only if it loads and predicts its contract's example rows."""

from __future__ import annotations

import dataclasses

import pytest

from src.components.alias_watcher import AliasWatcher, ModelSlot, smoke_check
from src.components.scoring import Scorer
from src.components.serving_metrics import Metrics
from src.data.contract import CONTRACT
from src.features.feature_set import resolve_features
from src.models.classifier import build_model
from src.utils.config import load_model_config


def _version(scorer: Scorer, version: str) -> Scorer:
    return Scorer(dataclasses.replace(scorer.handle, version=version), scorer.pipeline, scorer.contract)


@pytest.fixture
def wrong_scorer(memory_scorer, bundled_frame):
    """A model trained on shifted labels: it loads fine and names every class wrongly."""
    classes = CONTRACT.classes
    shifted = bundled_frame[CONTRACT.target.name].map(dict(zip(classes, classes[1:] + classes[:1], strict=True)))
    model = build_model(CONTRACT, resolve_features(memory_scorer.handle.features), load_model_config().model, seed=0)
    model.fit(bundled_frame.loc[:, list(CONTRACT.input_names)], shifted)
    return Scorer(dataclasses.replace(memory_scorer.handle, version="3"), model, CONTRACT)


def _watcher(slot: ModelSlot, target: list[str | None], load) -> AliasWatcher:
    return AliasWatcher(slot, model_name="m", alias="staging", poll_seconds=60, metrics=Metrics(),
                        resolve=lambda: target[0], load=load)  # fmt: skip


def test_smoke_check_passes_a_good_model_and_refuses_a_wrong_one(memory_scorer, wrong_scorer):
    smoke_check(memory_scorer)
    with pytest.raises(ValueError, match="the example rows were predicted"):
        smoke_check(wrong_scorer)


def test_the_watcher_swaps_when_the_alias_moves(memory_scorer):
    slot, target = ModelSlot(_version(memory_scorer, "1")), ["1"]
    watcher = _watcher(slot, target, lambda v: _version(memory_scorer, v))
    assert watcher.check() == "unchanged"
    target[0] = "2"
    assert watcher.check() == "swapped" and slot.scorer.handle.version == "2" and slot.last_reload_error is None


def test_an_alias_that_vanishes_keeps_the_version_and_says_so(memory_scorer):
    """A renamed or deleted model (or an unset alias) is no reason to stop serving, but it is news for /health."""
    slot, target = ModelSlot(_version(memory_scorer, "1")), ["1"]
    watcher = AliasWatcher(slot, model_name="m", alias="production", poll_seconds=60, metrics=Metrics(),
                           resolve=lambda: target[0], load=lambda v: _version(memory_scorer, v),
                           why_missing=lambda: "the model no longer exists under this name")  # fmt: skip
    target[0] = None
    assert watcher.check() == "alias missing" and slot.scorer.handle.version == "1"
    assert slot.alias_error == "m@production points nowhere: the model no longer exists under this name"
    target[0] = "1"
    assert watcher.check() == "unchanged" and slot.alias_error is None


def test_a_version_that_fails_is_never_served_nor_retried(memory_scorer, wrong_scorer):
    slot, target, loads = ModelSlot(_version(memory_scorer, "1")), ["3"], []
    watcher = _watcher(slot, target, lambda v: loads.append(v) or wrong_scorer)
    assert watcher.check() == "failed" and slot.scorer.handle.version == "1"
    assert "version 3" in slot.last_reload_error and "smoke check failed" in slot.last_reload_error
    assert watcher.check() == "failed before" and loads == ["3"]


def test_a_version_that_does_not_load_keeps_the_old_one(memory_scorer):
    slot = ModelSlot(_version(memory_scorer, "1"))

    def broken(version: str) -> Scorer:
        raise OSError(f"model.skops of version {version} is corrupt")

    assert _watcher(slot, ["4"], broken).check() == "failed"
    assert slot.scorer.handle.version == "1" and "corrupt" in slot.last_reload_error


def test_an_unreachable_registry_is_reported_while_the_version_keeps_serving_and_clears_when_it_answers(
    memory_scorer,
):
    slot, answers = ModelSlot(_version(memory_scorer, "1")), ["down", "1", "2"]

    def resolve() -> str | None:
        answer = answers.pop(0)
        if answer == "down":
            raise ConnectionError("tracking server http://mlflow:5000 unreachable (connection refused, 3 attempts)")
        return answer

    metrics = Metrics()
    watcher = AliasWatcher(slot, model_name="m", alias="production", poll_seconds=60, metrics=metrics,
                           resolve=resolve, load=lambda v: _version(memory_scorer, v))  # fmt: skip
    assert watcher.check_safely() == "registry unreachable"
    assert slot.scorer.handle.version == "1" and "unreachable (connection refused" in slot.registry_error
    assert metrics.registry_up._value.get() == 0
    assert watcher.check_safely() == "unchanged" and slot.registry_error is None
    assert metrics.registry_up._value.get() == 1
    assert watcher.check_safely() == "swapped" and slot.scorer.handle.version == "2"


def test_a_version_the_guard_refuses_is_never_loaded_and_is_asked_about_again(memory_scorer):
    slot, target, loads, sanctioned = ModelSlot(_version(memory_scorer, "1")), ["2"], [], {"1"}
    metrics = Metrics()
    watcher = AliasWatcher(slot, model_name="m", alias="production", poll_seconds=60, metrics=metrics,
                           resolve=lambda: target[0], load=lambda v: loads.append(v) or _version(memory_scorer, v),
                           refuse=lambda v: None if v in sanctioned else "no recorded move")  # fmt: skip
    assert watcher.check() == "refused" and watcher.check() == "refused"
    assert loads == [] and slot.scorer.handle.version == "1"
    assert slot.last_reload_error == "version 2 refused by the alias guard: no recorded move"
    assert metrics.reloads("refused")._value.get() == 1  # counted once per refused version
    target[0] = "1"  # the guard put the alias back
    assert watcher.check() == "unchanged" and slot.last_reload_error is None
    sanctioned.add("2")
    target[0] = "2"  # then promoted properly
    assert watcher.check() == "swapped" and loads == ["2"]
