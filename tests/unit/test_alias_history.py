"""The alias history on a real SQLite store: a move is a record begun, then confirmed or abandoned; only confirmed
moves are history, in the order they were made."""

from __future__ import annotations

import pytest

from src.models.alias_history import AliasHistory
from tests.conftest import use_store

MODEL = "c.s.m"


@pytest.fixture
def history(tmp_path):
    with use_store(tmp_path / "store"):
        yield AliasHistory("/team/project/model_registry_audit")


def _move(history: AliasHistory, to_version: str, alias: str = "staging", **extra: str) -> str:
    fields = {"model": MODEL, "alias": alias, "action": "promote", "from_version": None, "to_version": to_version,
              "actor": "alice", "reason": "", "approved_by": None, **extra}  # fmt: skip
    return history.begin(**fields)  # type: ignore[arg-type]


def test_confirmed_moves_are_the_history_in_order(history):
    for version in ("1", "2", "3"):
        history.confirm(_move(history, version))
    history.confirm(_move(history, "1", alias="production", approved_by="bob", reason="CHG-1"))
    events = history.events(MODEL)
    assert [(e.sequence, e.alias, e.to_version) for e in events] == [
        (1, "staging", "1"), (2, "staging", "2"), (3, "staging", "3"), (4, "production", "1")]  # fmt: skip
    (production,) = history.events(MODEL, "production")
    assert (production.approved_by, production.reason, production.actor) == ("bob", "CHG-1", "alice")


def test_a_move_begun_but_not_confirmed_is_not_history(history):
    history.confirm(_move(history, "1"))
    history.abandon(_move(history, "2"))
    _move(history, "3")  # interrupted: never confirmed
    assert [e.to_version for e in history.events(MODEL)] == ["1"]
