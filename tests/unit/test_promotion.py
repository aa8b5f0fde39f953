"""The promotion policy as plain functions: forward only, validated only, four-eyes for production."""

from __future__ import annotations

import re

import pytest

from src.models.alias_history import AliasEvent
from src.models.model_registry import Alias, VersionInfo
from src.models.promotion import Approval, Move, PromotionRefused, check_promotion, previous_holder
from src.utils.keys import Tag


def _version(**tags: str) -> VersionInfo:
    return VersionInfo(name="c.s.ds_iris_m", version="3", run_id="r", source="s", tags=tags, aliases=("dev",))


AUTHORED = {Tag.AUTHOR.value: "alice@example.com"}
APPROVED = Approval(approved_by="bob@example.com", reason="CHG-1")
FAILED = "version 3 of c.s.ds_iris_m failed validation (latency_batch) in run r9"


@pytest.mark.parametrize(
    ("target", "tags", "verdict", "approval", "refusal"),
    [
        (Alias.DEV, AUTHORED, None, APPROVED, "@dev is set by training"),
        (Alias.STAGING, AUTHORED, FAILED, APPROVED, FAILED),  # the gate's own record decides, never a tag
        (Alias.PRODUCTION, AUTHORED, None, Approval(reason="CHG-1"), "--approved-by"),
        (Alias.PRODUCTION, AUTHORED, None, Approval(approved_by="bob"), "--reason"),
        (Alias.PRODUCTION, {}, None, APPROVED, "records no author"),
        (Alias.PRODUCTION, AUTHORED, None, Approval(approved_by=" Alice@Example.com ", reason="x"), "four-eyes"),
    ],
    ids=["dev", "failed", "no-approver", "no-reason", "no-author", "self-approval"],
)  # fmt: skip
def test_the_policy_refuses_with_the_reason(target, tags, verdict, approval, refusal):
    with pytest.raises(PromotionRefused, match=re.escape(refusal)):
        check_promotion(target, _version(**tags), approval, verdict)


def test_the_policy_allows_a_validated_version_approved_by_someone_else():
    check_promotion(Alias.STAGING, _version(**AUTHORED), Approval(), None)
    check_promotion(Alias.PRODUCTION, _version(**AUTHORED), APPROVED, None)


def _event(sequence: int, action: str, before: str | None, after: str) -> AliasEvent:
    from datetime import UTC, datetime

    return AliasEvent(sequence, datetime.now(UTC), "m", "production", action, before, after, "a", "r", None, "id")


def test_rollback_steps_back_to_what_the_latest_promotion_replaced():
    events = [_event(1, "promote", None, "1"), _event(2, "promote", "1", "2"), _event(3, "promote", "2", "3")]
    assert previous_holder(events, "3") == "2"
    assert previous_holder([*events, _event(4, "rollback", "3", "2")], "2") == "1"
    assert previous_holder(events[:1], "1") is None


def test_a_move_describes_itself():
    assert Move("m", "staging", "1", "2", "promote", True).describe() == "promote: m@staging version 1 -> version 2"
    assert "nothing to do" in Move("m", "staging", "2", "2", "promote", False).describe()


# --- a promotion cut short is finished by running it again (a real SQLite store) ------------------------------


@pytest.fixture
def store(tmp_path):
    from src.utils.config import resolve_settings
    from tests.conftest import use_store

    with use_store(tmp_path / "store"):
        yield resolve_settings()


def _validated_at_dev(settings) -> str:
    from src.models.model_registry import Registry
    from tests.conftest import gate_verdict, registered_version

    version = registered_version(settings, settings.model_name_for(Alias.DEV))
    gate_verdict(settings, version, passed=True)
    Registry().point_alias(version.name, "dev", version.version)
    return version.version


def test_a_promotion_killed_after_the_alias_moved_is_finished_by_a_rerun(store, monkeypatch):
    from src.models.alias_history import AliasHistory
    from src.models.promotion import promote

    version = _validated_at_dev(store)
    history = AliasHistory(store.audit_experiment_name)

    def killed(self: object, run_id: str) -> None:
        raise KeyboardInterrupt  # the process dies between the alias write and the record's confirmation

    with monkeypatch.context() as patch:
        patch.setattr(AliasHistory, "confirm", killed)
        with pytest.raises(KeyboardInterrupt):
            promote(store, Alias.STAGING, actor="ci")
    assert history.events() == [] and len(history.open_moves(store.model_name_for("staging"), "staging")) == 1
    again = promote(store, Alias.STAGING, actor="ci")
    assert again.changed and again.to_version == version
    assert again.describe().endswith(f"(finished the move interrupted in audit run {history.events()[0].run_id})")
    assert [e.to_version for e in history.events()] == [version]
    assert history.open_moves(store.model_name_for("staging"), "staging") == []


def test_a_promotion_killed_before_the_alias_moved_is_abandoned_and_made_by_a_rerun(store, monkeypatch):
    from src.models.alias_history import AliasHistory
    from src.models.model_registry import Registry
    from src.models.promotion import promote

    version = _validated_at_dev(store)
    history = AliasHistory(store.audit_experiment_name)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Registry, "point_alias", killed)
        with pytest.raises(KeyboardInterrupt):
            promote(store, Alias.STAGING, actor="ci")
    again = promote(store, Alias.STAGING, actor="ci")
    assert again.changed and again.settled is None and [e.to_version for e in history.events()] == [version]
    assert history.open_moves(store.model_name_for("staging"), "staging") == []


# --- across catalogs (promotion_mode: catalogs): the copy carries the author; a failed move leaves no copy -------


@pytest.fixture
def catalogs(tmp_path):
    import yaml

    from src.utils.config import CONFIG_DIR, resolve_settings
    from tests.conftest import use_store

    content = yaml.safe_load((CONFIG_DIR / "environment.yaml").read_text())
    content["promotion_mode"] = "catalogs"
    (tmp_path / "environment.yaml").write_text(yaml.safe_dump(content))
    with use_store(tmp_path / "store"):
        yield resolve_settings(path=tmp_path / "environment.yaml")


def _authored_at_dev(settings, author: str = "alice") -> str:
    from src.models.model_registry import Registry

    version = _validated_at_dev(settings)
    Registry().set_version_tags(settings.model_name_for(Alias.DEV), version, {Tag.AUTHOR.value: author})
    return version


def test_across_catalogs_the_author_travels_with_the_copy_and_cannot_approve_it(catalogs):
    from src.models.model_registry import Registry
    from src.models.promotion import promote

    _authored_at_dev(catalogs)
    staged = promote(catalogs, Alias.STAGING, actor="ci")
    copy = Registry().version(staged.model, staged.to_version)
    assert staged.model != catalogs.model_name_for(Alias.DEV) and copy.tags[Tag.AUTHOR] == "alice"
    with pytest.raises(PromotionRefused, match=re.escape("alice trained version 1 and cannot approve it")):
        promote(catalogs, Alias.PRODUCTION, actor="carol", approval=Approval("alice", "CHG-1"))
    assert not Registry().model_exists(catalogs.model_name_for(Alias.PRODUCTION))  # refused before any copy
    released = promote(catalogs, Alias.PRODUCTION, actor="carol", approval=Approval("bob", "CHG-1"))
    assert Registry().version(released.model, released.to_version).tags[Tag.AUTHOR] == "alice"


@pytest.mark.parametrize("failing", ["set_registered_model_alias", "set_model_version_tag"])
def test_a_move_across_catalogs_that_fails_leaves_no_copy_behind(catalogs, monkeypatch, failing):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from src.models.model_registry import Registry, RegistryError
    from src.models.promotion import promote

    _authored_at_dev(catalogs)

    def refused(*args: object, **kwargs: object) -> None:
        raise MlflowException("PERMISSION_DENIED: no EDIT on this model")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, failing, refused)
        with pytest.raises(RegistryError):
            promote(catalogs, Alias.STAGING, actor="ci")
    assert Registry().versions(catalogs.model_name_for(Alias.STAGING)) == []
    again = promote(catalogs, Alias.STAGING, actor="ci")  # the next try makes the one copy there is
    assert [v.version for v in Registry().versions(again.model)] == [again.to_version]
