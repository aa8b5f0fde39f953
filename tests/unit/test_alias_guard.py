"""The alias guard's judgement: which recorded moves sanction where an alias points."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from src.governance.alias_guard import Restored, Verdict, alert, sanctioned_version, sanctions
from src.models.alias_history import AliasEvent

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
