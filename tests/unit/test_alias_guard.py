"""The alias guard's judgement: which recorded moves sanction where an alias points."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from src.governance.alias_guard import (
    NothingSanctioned,
    Records,
    Restored,
    Verdict,
    alert,
    judge,
    refusal,
    sanctioned_version,
    sanctions,
    version_to_score,
)
from src.models.alias_history import AliasEvent
from src.models.model_registry import Alias
from src.utils.config import resolve_settings
from tests.conftest import gate_verdict, registered_version, use_store

VALIDATED = {"1", "2"}  # what the gate passed (src/models/verdict.py): version 3 never did


def _event(sequence: int, action: str, to: str, alias: str = "production", approved_by: str | None = "bob"):
    return AliasEvent(sequence, datetime.now(UTC), "m", alias, action, None, to, "carol", "CHG", approved_by, "r")


def _tags(version: str) -> bool:
    return version in VALIDATED


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (_event(1, "promote", "1"), True),
        (_event(1, "promote", "1", approved_by=None), False),  # production needs an approval
        (_event(1, "promote", "1", alias="staging", approved_by=None), True),
        (_event(1, "promote", "3"), False),  # not validated
        (_event(1, "rollback", "3"), True),  # back to a former holder
        (_event(1, "guard_restore", "1"), True),
        (_event(1, "copy", "1"), False),  # not a move that decides an alias
    ],
)
def test_which_moves_sanction(event, expected):
    assert sanctions(event, _tags) is expected


def test_the_latest_sanctioning_move_decides():
    events = [_event(1, "promote", "1"), _event(2, "promote", "2"), _event(3, "promote", "3")]
    assert sanctioned_version(events, _tags) == "2"  # the last one was never validated
    assert sanctioned_version([], _tags) is None


def test_the_alert_names_the_move_and_the_restore():
    verdict = Verdict("m", "production", "7", "2", "@production points to version 7 without ...")
    body = alert(Restored(verdict, None))
    assert body["text"].startswith("Alias guard: m@production was moved out of band")
    assert body["text"].endswith("put back to version 2")
    assert (body["found_version"], body["restored_version"]) == ("7", "2")


def test_a_renamed_model_is_put_back_under_its_name_and_recorded(tmp_path):
    from mlflow import MlflowClient

    from src.governance.alias_guard import ModelVanished, Records, restore_name
    from src.models.model_registry import Registry
    from src.utils.config import resolve_settings
    from tests.conftest import use_store

    with use_store(tmp_path / "store"):
        settings = resolve_settings()
        model = settings.model_name_for("production")
        Registry().ensure_model(model, description="governed")  # tagged with the name it was created under
        records = Records.of(settings)
        assert restore_name(records, model, "guard") is None  # in place: nothing to do
        MlflowClient().rename_registered_model(model, "dev_catalog.ml_models.elsewhere")
        renamed = restore_name(records, model, "guard")
        assert renamed is not None and renamed.found_as == "dev_catalog.ml_models.elsewhere"
        assert Registry().model_exists(model) and not Registry().model_exists("dev_catalog.ml_models.elsewhere")
        assert [e.action for e in records.history.events(model, "*")] == ["guard_rename"]
        MlflowClient().delete_registered_model(model)
        with pytest.raises(ModelVanished, match="does not exist and no registered model carries"):
            restore_name(records, model, "guard")


@pytest.fixture
def governed(tmp_path):
    """A local store with two versions, both passed by the gate, and the guard's records over it."""
    with use_store(tmp_path / "store"):
        settings = resolve_settings()
        model = settings.model_name_for("production")
        for _ in range(2):
            gate_verdict(settings, registered_version(settings, model), passed=True)
        yield Records.of(settings), model


def _recorded_move(records: Records, model: str, alias: str, to: str) -> None:
    """A promotion as the promotion code leaves it: the move confirmed in the history, the alias on the version."""
    run_id = records.history.begin(model=model, alias=alias, action="promote", from_version=None, to_version=to,
                                   actor="carol", reason="CHG-1", approved_by="bob")  # fmt: skip
    records.registry.point_alias(model, alias, to)
    records.history.confirm(run_id)


def test_an_alias_where_its_recorded_move_put_it_is_served(governed):
    records, model = governed
    _recorded_move(records, model, "production", "1")
    assert judge(records, model, Alias.PRODUCTION).ok
    assert refusal(records, model, "production", "1") is None
    assert version_to_score(records, model, "production", "1").overruled is None


def test_an_alias_moved_out_of_band_is_refused_and_the_sanctioned_version_scored(governed):
    records, model = governed
    _recorded_move(records, model, "production", "1")
    records.registry.point_alias(model, "production", "2")  # MLflow's own call: no record
    verdict = judge(records, model, Alias.PRODUCTION)
    assert (verdict.found, verdict.sanctioned) == ("2", "1")
    assert verdict.problem == ("@production points to version 2 without a recorded, validated and approved move "
                               "in the alias history (it says version 1)")  # fmt: skip
    choice = version_to_score(records, model, "production", "2")
    assert choice.version == "1" and choice.describe(model, "production", "2").startswith(
        f"scoring version 1 instead of {model}@production's version 2: @production points to version 2"
    )


def test_an_alias_unset_out_of_band_is_named_as_unset(governed):
    records, model = governed
    _recorded_move(records, model, "staging", "2")
    records.registry.point_alias(model, "staging", None)
    verdict = judge(records, model, Alias.STAGING)
    assert (verdict.found, verdict.sanctioned) == (None, "2")
    assert verdict.problem.startswith("@staging was unset without a recorded and validated move")


def test_a_guarded_alias_no_move_ever_sanctioned_is_scored_by_no_one(governed):
    records, model = governed
    records.registry.point_alias(model, "production", "2")
    assert refusal(records, model, "production", "2").endswith("(it says no version)")
    with pytest.raises(NothingSanctioned, match="and no version was ever sanctioned there"):
        version_to_score(records, model, "production", "2")


def test_dev_is_not_guarded(governed):
    records, model = governed
    records.registry.point_alias(model, "dev", "2")  # training's alias: it moves with every run
    assert refusal(records, model, "dev", "2") is None
    assert version_to_score(records, model, "dev", "2").version == "2"
