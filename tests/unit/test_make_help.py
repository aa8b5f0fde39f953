"""`make help`: every target under its stage, no line over 100 columns, and a target without a stage refused."""

from __future__ import annotations

import pytest

from scripts import make_help
from src.utils.config import PROJECT_ROOT
from tests.unit.test_workflows import make_targets


def test_every_target_is_listed_once_under_a_stage_in_short_lines():
    text = make_help.render(make_help.grouped((PROJECT_ROOT / "Makefile").read_text()))
    listed = [line.split()[1] for line in text.splitlines() if line.startswith("  make ")]
    assert sorted(listed) == sorted(make_targets()) and len(listed) == len(set(listed))
    assert max(len(line) for line in text.splitlines()) <= make_help.WIDTH
    headers = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headers == [f"{title}:" for title in make_help.STAGES.values()]


def test_a_target_without_a_stage_is_named():
    with pytest.raises(SystemExit, match="target 'orphan' has no stage"):
        make_help.grouped("orphan: ## does something\n")
